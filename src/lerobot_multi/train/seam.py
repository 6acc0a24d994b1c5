"""The seam into lerobot's training script: one class per lerobot line, one method per name it routes.

lerobot's `train()` looks up module-level names of `lerobot.scripts.lerobot_train` at call time. For
one run, a seam replaces the names in its `ROUTES` by its methods of the same name and puts them back
afterwards; everything else (loop, accelerate, logging, checkpoint format) stays lerobot's. What the
run builds (mixture, run state, sampler, preprocessor) is explicit state on the seam object.

Shared by both lines (`TrainSeam`):
- `save_checkpoint`: lerobot's, plus the sampler/stream position in `training_state/` and the mixture
  manifest in `pretrained_model/mixture.json` (manifest.py; checked on `--resume`, run_mixture.py);
- `make_pre_post_processors`: lerobot's, with group-aware (un)normalizers for per_robot/per_dataset
  and the conditioning step;
- `cycle`: lerobot's, re-restoring the RNG after the DataLoader's first seed draw on resume, and
  counting the samples drawn per dataset;
- `update_policy`: lerobot's, then the run's watch (realized shares, held-out validation: watch.py).
Per line: how the dataset and the sampler are asked for (`Lerobot044Seam`, `Lerobot06Seam`), and how a
stream keeps accelerate from re-sharding it. `seam_class()` picks the class for the installed lerobot.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import accelerate
import torch
from accelerate import Accelerator, PartialState
from lerobot.datasets.sampler import EpisodeAwareSampler
from lerobot.scripts import lerobot_train
from lerobot.utils.random_utils import load_rng_state

from lerobot_multi import compat
from lerobot_multi.deploy.condition_step import add_condition_step
from lerobot_multi.deploy.normalize import (
    dataset_group_stats,
    install_group_normalization,
    saved_with_groups,
    translate_overrides,
)
from lerobot_multi.factory import make_dataset
from lerobot_multi.mix.dataset import MultiLeRobotDataset
from lerobot_multi.mix.sampling import WeightedMixtureSampler
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset
from lerobot_multi.train.manifest import write_manifest
from lerobot_multi.train.run_mixture import open_training_mixture

logger = logging.getLogger(__name__)

SAMPLER_STATE = "mixture_sampler.json"
STREAM_STATE = "mixture_stream.json"


def num_processes() -> int:
    return PartialState().num_processes


def build_sampler(
    dataset: MultiLeRobotDataset,
    cfg,
    drop_n_first_frames: int = 0,
    drop_n_last_frames: int = 0,
    restart: bool = False,
) -> WeightedMixtureSampler:
    """The training stream for `dataset` under `cfg`, positioned after the resumed step if any."""
    episodes = dataset.meta.episodes
    sampler = WeightedMixtureSampler(
        episodes["dataset_from_index"],
        episodes["dataset_to_index"],
        episodes["dataset_index"],
        shares=dataset.sampling_shares,
        epoch_size=dataset.spec.epoch_size,
        seed=cfg.seed or 0,
        drop_n_first_frames=drop_n_first_frames,
        drop_n_last_frames=drop_n_last_frames,
        infinite=True,
    )
    if cfg.resume and cfg.checkpoint_path is not None and not restart:
        state_file = Path(cfg.checkpoint_path) / "training_state" / SAMPLER_STATE
        if state_file.exists():
            sampler.load_state_dict(json.loads(state_file.read_text()))
            logger.info("Mixture sampler resumed at stream position %d", sampler.position)
        else:
            logger.warning(
                "No %s in %s: the sample stream restarts from its beginning", SAMPLER_STATE, state_file.parent
            )
    return sampler


def resume_stream(dataset: StreamingMultiLeRobotDataset, cfg) -> None:
    """On --resume, continue the stream after the samples the checkpoint's steps consumed."""
    if not (cfg.resume and cfg.checkpoint_path is not None):
        return
    path = Path(cfg.checkpoint_path) / "training_state" / STREAM_STATE
    if not path.exists():
        logger.warning("No %s in %s: the stream restarts from its beginning", STREAM_STATE, path.parent)
        return
    state = json.loads(path.read_text())
    dataset.load_state_dict(state)  # checks it is the same mixture
    dataset.seek(state["position_in_stream"])
    logger.info("Stream resumed after %d samples", state["position_in_stream"])


class StreamAwareAccelerator(Accelerator):
    """accelerate's Accelerator; a streaming mixture's DataLoader gets its rank instead of a wrapper.

    Each rank then streams its own share (sample j of the stream goes to rank j % processes); batches
    reach the device through the policy's preprocessor, as without accelerate.
    """

    def prepare_data_loader(self, data_loader, device_placement=None, slice_fn_for_dispatch=None):
        dataset = data_loader.dataset
        if isinstance(dataset, StreamingMultiLeRobotDataset):
            dataset.rank, dataset.world_size = self.process_index, self.num_processes
            return data_loader
        return super().prepare_data_loader(data_loader, device_placement, slice_fn_for_dispatch)


class TrainSeam:
    """Routes lerobot_train's names through lerobot_multi for one run (a context manager)."""

    ROUTES: tuple[str, ...] = ()

    def __init__(self, cfg) -> None:
        self.cfg = cfg
        self.dataset = None  # the mixture (None for a single dataset)
        self.state = None  # run_mixture.RunState
        self.sampler: WeightedMixtureSampler | None = None
        self.preprocessor = None
        self._original: dict[str, object] = {}

    def __enter__(self) -> TrainSeam:
        for name in self.ROUTES:
            self._original[name] = getattr(lerobot_train, name)
            setattr(lerobot_train, name, getattr(self, name))
        return self

    def __exit__(self, *exc) -> None:
        for name, value in self._original.items():
            setattr(lerobot_train, name, value)
        self._original.clear()

    def lerobot(self, name: str):
        """lerobot's own object for a routed name."""
        return self._original[name]

    def run_loop(self, cfg, accelerator=None) -> None:
        """lerobot's training loop on `cfg`. `lerobot_train.train` is wrapped by lerobot's CLI parser,
        which would re-parse sys.argv as a plain TrainPipelineConfig; `__wrapped__` is the loop itself."""
        lerobot_train.train.__wrapped__(cfg, accelerator=accelerator)

    # --- the mixture --------------------------------------------------------------------------------
    def open_mixture(self, run_cfg):
        """The training dataset of `run_cfg` (lerobot's for a single repo_id), with the run's state."""
        if not isinstance(run_cfg.dataset.repo_id, list):
            return make_dataset(run_cfg)
        dataset, state = open_training_mixture(run_cfg, make_dataset)
        self.dataset, self.state = dataset, state
        if isinstance(dataset, StreamingMultiLeRobotDataset) and not state.mixture_changed:
            resume_stream(dataset, run_cfg)
        return dataset

    def weighted(self) -> bool:
        return isinstance(self.dataset, MultiLeRobotDataset) and self.dataset.spec.mixing_requested

    def weighted_sampler(self, drop_n_first_frames: int, drop_n_last_frames: int) -> WeightedMixtureSampler:
        restart = self.state.mixture_changed
        self.sampler = build_sampler(self.dataset, self.cfg, drop_n_first_frames, drop_n_last_frames, restart)
        return self.sampler

    # --- routed on both lines -----------------------------------------------------------------------
    def save_checkpoint(self, checkpoint_dir: Path, step: int, cfg, *args, **kwargs) -> None:
        self.lerobot("save_checkpoint")(checkpoint_dir, step, cfg, *args, **kwargs)
        training_state = Path(checkpoint_dir) / "training_state"
        if self.state is not None:
            write_manifest(Path(checkpoint_dir) / "pretrained_model", self.state.manifest)
        position = step * cfg.batch_size * num_processes()
        if isinstance(self.dataset, StreamingMultiLeRobotDataset):
            state = self.dataset.state_dict() | {"position_in_stream": position}
            (training_state / STREAM_STATE).write_text(json.dumps(state, indent=2))
        if self.sampler is not None:
            # the DataLoader prefetches, so the sampler's own counter runs ahead of training; the loop
            # consumes exactly one full batch per step and process, which fixes the true position.
            state = self.sampler.state_dict() | {"position": position}
            state["shares"] = self.sampler.shares.tolist()
            (training_state / SAMPLER_STATE).write_text(json.dumps(state, indent=2))

    def make_pre_post_processors(self, policy_cfg, pretrained_path=None, **kwargs):
        make = self.lerobot("make_pre_post_processors")
        dataset = self.dataset
        if dataset is None:
            return make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
        mode = dataset.spec.normalization_mode
        if mode == "global":
            pre, post = make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
        else:
            repo_groups, stats = dataset_group_stats(dataset, mode, self.cfg.dataset.use_imagenet_stats)
            if pretrained_path is not None and saved_with_groups(pretrained_path):
                # lerobot refreshes the plain normalizers' stats by override; ours carry one set per group
                kwargs = translate_overrides(kwargs, stats, pretrained_path)
                pre, post = make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
                install_group_normalization(pre, post, repo_groups, None)
            else:
                pre, post = make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
                install_group_normalization(pre, post, repo_groups, stats)
            logger.info("Normalization %s: groups %s", mode, sorted(set(repo_groups.values())))
        add_condition_step(pre, dataset.meta)
        self.preprocessor = pre
        return pre, post

    def cycle(self, iterable):
        # lerobot restores the RNG state before the loop, but the DataLoader's first batch draws a base
        # seed from torch's RNG (an uninterrupted run made that draw at step 1); restore it again after
        # that draw so a resumed run's dropout and VAE noise match (exact when the stream is ours).
        cfg = self.cfg
        iterator = iter(iterable)
        if cfg.resume and cfg.checkpoint_path is not None and self.sampler is not None:
            first = next(iterator)
            load_rng_state(Path(cfg.checkpoint_path) / "training_state")
            self._watch_batch(first)
            yield first
        while True:
            for batch in iterator:
                self._watch_batch(batch)
                yield batch
            iterator = iter(iterable)

    def update_policy(self, *args, **kwargs):
        result = self.lerobot("update_policy")(*args, **kwargs)
        if self.state is not None:
            loss = float(result[0].loss.val)  # lerobot's MetricsTracker: this update's loss
            self.state.watch.after_update(args[1], kwargs.get("accelerator"), self.preprocessor, loss)
        return result

    def _watch_batch(self, batch) -> None:
        if self.state is not None:
            self.state.watch.on_batch(batch)


class Lerobot044Seam(TrainSeam):
    """lerobot 0.4.4: `make_dataset`, the sampler built for policies with `drop_n_last_frames`, and a
    module-level `Accelerator`."""

    ROUTES = (
        "make_dataset",
        "EpisodeAwareSampler",
        "save_checkpoint",
        "make_pre_post_processors",
        "cycle",
        "Accelerator",
        "update_policy",
    )
    Accelerator = StreamAwareAccelerator

    def __init__(self, cfg) -> None:
        super().__init__(cfg)
        self._declared_drop: list[object] = []

    def __exit__(self, *exc) -> None:
        super().__exit__(*exc)
        for policy_cfg in self._declared_drop:
            del policy_cfg.drop_n_last_frames
        self._declared_drop.clear()

    def make_dataset(self, run_cfg):
        dataset = self.open_mixture(run_cfg)
        # lerobot only builds a sampler for policies that declare drop_n_last_frames (diffusion);
        # for the others (ACT) declare "drop none" so the weighted sampler is used for them too.
        if self.weighted() and not hasattr(run_cfg.policy, "drop_n_last_frames"):
            run_cfg.policy.drop_n_last_frames = 0
            self._declared_drop.append(run_cfg.policy)
        return dataset

    def EpisodeAwareSampler(  # noqa: N802  the name lerobot_train looks up
        self,
        from_index,
        to_index,
        episode_indices_to_use=None,
        drop_n_first_frames=0,
        drop_n_last_frames=0,
        shuffle=False,
    ):
        if isinstance(self.dataset, torch.utils.data.IterableDataset):
            return None  # a stream orders itself; DataLoader refuses a sampler with an IterableDataset
        if self.weighted():
            return self.weighted_sampler(drop_n_first_frames, drop_n_last_frames)
        return EpisodeAwareSampler(
            from_index, to_index, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle
        )


class Lerobot06Seam(TrainSeam):
    """lerobot 0.6: `make_train_eval_datasets`, a sampler for every map-style dataset (resumed through
    `compute_sampler_state`), and an `Accelerator` imported inside `train()`."""

    ROUTES = (
        "make_train_eval_datasets",
        "EpisodeAwareSampler",
        "compute_sampler_state",
        "save_checkpoint",
        "make_pre_post_processors",
        "cycle",
        "update_policy",
    )

    def __enter__(self) -> TrainSeam:
        super().__enter__()
        # 0.6's train() does `from accelerate import Accelerator` when it runs: route that name there
        self._accelerator = accelerate.Accelerator
        accelerate.Accelerator = StreamAwareAccelerator
        return self

    def __exit__(self, *exc) -> None:
        accelerate.Accelerator = self._accelerator
        super().__exit__(*exc)

    def make_train_eval_datasets(self, run_cfg):
        if not isinstance(run_cfg.dataset.repo_id, list):
            return self.lerobot("make_train_eval_datasets")(run_cfg)
        dataset = self.open_mixture(run_cfg)  # eval_split: held out per task within each dataset
        return dataset, self.state.eval_dataset

    def EpisodeAwareSampler(self, *args, drop_n_first_frames=0, drop_n_last_frames=0, **kwargs):  # noqa: N802
        if self.weighted():
            return self.weighted_sampler(drop_n_first_frames, drop_n_last_frames)
        return EpisodeAwareSampler(
            *args, drop_n_first_frames=drop_n_first_frames, drop_n_last_frames=drop_n_last_frames, **kwargs
        )

    def compute_sampler_state(self, step: int, num_frames: int, batch_size: int, processes: int) -> dict:
        if self.sampler is not None:  # ours resumed from its own file (build_sampler): keep it there
            state = self.sampler.state_dict()
            epoch, start = divmod(state["position"], self.sampler.epoch_size)
            return state | {"epoch": epoch, "start_index": start}  # the keys lerobot logs
        return self.lerobot("compute_sampler_state")(step, num_frames, batch_size, processes)


class LerobotMainSeam(Lerobot06Seam):
    """lerobot main (0.6.2 unreleased): 0.6's names (`make_dataloaders` asks for the sampler by the
    same module-level names); `train(cfg)` builds its accelerator from `cfg.accelerator` and
    `cfg.parallelism` (`lerobot.distributed.make_accelerator`, which imports `accelerate.Accelerator`
    when it runs) and takes none."""

    def run_loop(self, cfg, accelerator=None) -> None:
        if accelerator is not None:
            raise TypeError(
                "lerobot main's train(cfg) takes no accelerator: configure it with --accelerator.* and "
                "--parallelism.* (cfg.accelerator, cfg.parallelism)"
            )
        lerobot_train.train.__wrapped__(cfg)


SEAMS: dict[str, type[TrainSeam]] = {"0.4": Lerobot044Seam, "0.6": Lerobot06Seam, "main": LerobotMainSeam}
"""One seam per lerobot line (`compat.LINES`)."""


def seam_class() -> type[TrainSeam]:
    """The seam for the installed lerobot line."""
    return SEAMS[compat.LINE.name]
