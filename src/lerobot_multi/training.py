"""The seam into lerobot 0.4.4's training script (`lerobot.scripts.lerobot_train`).

lerobot's `train()` looks up module-level names that we route for the duration of a run:
- `make_dataset`: ours, so a list of repo_ids gives a MultiLeRobotDataset (or a stream);
- `EpisodeAwareSampler`: with weights/temperature/epoch_size, our WeightedMixtureSampler (same
  episode-aware frame dropping), resumed at the checkpoint's position; None for a stream;
- `make_pre_post_processors`: lerobot's, with group-aware (un)normalizers for per_robot/per_dataset;
- `save_checkpoint`: lerobot's, plus the sampler/stream position in `training_state/` and the mixture
  manifest in `pretrained_model/mixture.json` (manifest.py; checked on `--resume`, run_state.py);
- `cycle`: lerobot's, re-restoring the RNG after the DataLoader's first seed draw on resume, and
  counting the samples drawn per dataset;
- `update_policy`: lerobot's, then the run's watch (realized shares, held-out validation: watch.py);
- `Accelerator`: accelerate's, except that a streaming mixture's DataLoader is not re-sharded: the
  stream splits itself by rank (accelerate would read on process 0 and dispatch, which fails on task
  strings, or make every process read everything).
Everything else (loop, accelerate, logging, checkpoint format) stays lerobot's.
"""

from __future__ import annotations

import json
import logging
from contextlib import contextmanager
from pathlib import Path

import torch
from accelerate import Accelerator, PartialState
from lerobot.datasets.sampler import EpisodeAwareSampler
from lerobot.scripts import lerobot_train
from lerobot.utils.random_utils import load_rng_state

from lerobot_multi.condition_step import add_condition_step
from lerobot_multi.dataset import MultiLeRobotDataset
from lerobot_multi.factory import make_dataset
from lerobot_multi.manifest import write_manifest
from lerobot_multi.normalize import (
    dataset_group_stats,
    install_group_normalization,
    saved_with_groups,
    translate_overrides,
)
from lerobot_multi.run_state import open_training_mixture
from lerobot_multi.sampling import WeightedMixtureSampler
from lerobot_multi.streaming import StreamingMultiLeRobotDataset

logger = logging.getLogger(__name__)

SAMPLER_STATE = "mixture_sampler.json"
STREAM_STATE = "mixture_stream.json"


def mixing_requested(ds_cfg) -> bool:
    return any(getattr(ds_cfg, k, None) is not None for k in ("weights", "temperature", "epoch_size"))


def _num_processes() -> int:
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
        epoch_size=cfg.dataset.epoch_size,
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


@contextmanager
def lerobot_train_seam(cfg):
    """Route lerobot_train's dataset, sampler and checkpoint names through lerobot_multi for one run."""
    made: dict[str, object] = {}
    added_drop_attr = []
    original = {
        name: getattr(lerobot_train, name)
        for name in (
            "make_dataset",
            "EpisodeAwareSampler",
            "save_checkpoint",
            "make_pre_post_processors",
            "cycle",
            "Accelerator",
            "update_policy",
        )
    }

    def _make_dataset(run_cfg):
        if not isinstance(run_cfg.dataset.repo_id, list):
            return make_dataset(run_cfg)
        dataset, state = open_training_mixture(run_cfg, make_dataset)
        made["dataset"], made["state"] = dataset, state
        if isinstance(dataset, StreamingMultiLeRobotDataset) and not state.mixture_changed:
            resume_stream(dataset, run_cfg)
        # lerobot only builds a sampler for policies that declare drop_n_last_frames (diffusion);
        # for the others (ACT) declare "drop none" so the weighted sampler is used for them too.
        if (
            isinstance(dataset, MultiLeRobotDataset)
            and mixing_requested(run_cfg.dataset)
            and not hasattr(run_cfg.policy, "drop_n_last_frames")
        ):
            run_cfg.policy.drop_n_last_frames = 0
            added_drop_attr.append(run_cfg.policy)
        return dataset

    def _sampler(
        from_index,
        to_index,
        episode_indices_to_use=None,
        drop_n_first_frames=0,
        drop_n_last_frames=0,
        shuffle=False,
    ):
        dataset = made.get("dataset")
        if isinstance(dataset, torch.utils.data.IterableDataset):
            return None  # a stream orders itself; DataLoader refuses a sampler with an IterableDataset
        if isinstance(dataset, MultiLeRobotDataset) and mixing_requested(cfg.dataset):
            restart = made["state"].mixture_changed
            sampler = build_sampler(dataset, cfg, drop_n_first_frames, drop_n_last_frames, restart)
            made["sampler"] = sampler
            return sampler
        return EpisodeAwareSampler(
            from_index, to_index, episode_indices_to_use, drop_n_first_frames, drop_n_last_frames, shuffle
        )

    def _save_checkpoint(checkpoint_dir: Path, step: int, cfg, *args, **kwargs):
        original["save_checkpoint"](checkpoint_dir, step, cfg, *args, **kwargs)
        if "state" in made:
            write_manifest(Path(checkpoint_dir) / "pretrained_model", made["state"].manifest)
        position = step * cfg.batch_size * _num_processes()
        if isinstance(made.get("dataset"), StreamingMultiLeRobotDataset):
            state = made["dataset"].state_dict() | {"position_in_stream": position}
            (Path(checkpoint_dir) / "training_state" / STREAM_STATE).write_text(json.dumps(state, indent=2))
        sampler = made.get("sampler")
        if isinstance(sampler, WeightedMixtureSampler):
            # the DataLoader prefetches, so the sampler's own counter runs ahead of training; the loop
            # consumes exactly one full batch per step and process, which fixes the true position.
            state = sampler.state_dict() | {"position": position}
            path = Path(checkpoint_dir) / "training_state" / SAMPLER_STATE
            path.write_text(json.dumps(state | {"shares": sampler.shares.tolist()}, indent=2))

    def _make_processors(policy_cfg, pretrained_path=None, **kwargs):
        dataset = made.get("dataset")
        make = original["make_pre_post_processors"]
        if not isinstance(dataset, (MultiLeRobotDataset, StreamingMultiLeRobotDataset)):
            return make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
        mode = getattr(cfg.dataset, "normalization_mode", "global")
        if mode == "global":
            pre, post = make(policy_cfg, pretrained_path=pretrained_path, **kwargs)
        else:
            repo_groups, stats = dataset_group_stats(dataset, mode, cfg.dataset.use_imagenet_stats)
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
        made["preprocessor"] = pre
        return pre, post

    def _cycle(iterable):
        # lerobot restores the RNG state before the loop, but the DataLoader's first batch draws a base
        # seed from torch's RNG (an uninterrupted run made that draw at step 1); restore it again after
        # that draw so a resumed run's dropout and VAE noise match (exact when the stream is ours).
        iterator = iter(iterable)
        if (
            cfg.resume
            and cfg.checkpoint_path is not None
            and isinstance(made.get("sampler"), WeightedMixtureSampler)
        ):
            first = next(iterator)
            load_rng_state(Path(cfg.checkpoint_path) / "training_state")
            watch_batch(first)
            yield first
        while True:
            for batch in iterator:
                watch_batch(batch)
                yield batch
            iterator = iter(iterable)

    def watch_batch(batch) -> None:
        if "state" in made:
            made["state"].watch.on_batch(batch)

    def _update_policy(*args, **kwargs):
        result = original["update_policy"](*args, **kwargs)
        if "state" in made:
            made["state"].watch.after_update(args[1], kwargs.get("accelerator"), made.get("preprocessor"))
        return result

    lerobot_train.cycle = _cycle
    lerobot_train.Accelerator = StreamAwareAccelerator
    lerobot_train.update_policy = _update_policy
    lerobot_train.make_dataset = _make_dataset
    lerobot_train.make_pre_post_processors = _make_processors
    lerobot_train.EpisodeAwareSampler = _sampler
    lerobot_train.save_checkpoint = _save_checkpoint
    try:
        yield made
    finally:
        for name, value in original.items():
            setattr(lerobot_train, name, value)
        for policy_cfg in added_drop_attr:
            del policy_cfg.drop_n_last_frames


def train(cfg, accelerator=None) -> None:
    """Run lerobot's training loop on `cfg` (a single dataset or a list)."""
    with lerobot_train_seam(cfg) as made:
        # `lerobot_train.train` is wrapped by lerobot's CLI parser, which would re-parse sys.argv as a
        # plain TrainPipelineConfig; `__wrapped__` is the loop itself.
        lerobot_train.train.__wrapped__(cfg, accelerator=accelerator)
    if "state" in made and PartialState().is_main_process:
        made["state"].watch.finish()
        try:
            from lerobot_multi.training_report import write_report

            logger.info("Training report written to %s", write_report(cfg.output_dir))
        except ImportError:  # matplotlib missing: `lerobot-multi-report` says so when asked
            logger.info("matplotlib is not installed: no training report")
