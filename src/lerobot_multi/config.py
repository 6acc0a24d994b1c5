"""Config classes: lerobot's DatasetConfig / TrainPipelineConfig, with a dataset list allowed.

They parse the guide's YAML verbatim (draccus `--config_path` or `from_yaml`), the CLI forms
`--dataset.repo_id='[a,b]'` and `dataset.repo_id="['a','b']"`, and round-trip through the
`train_config.json` that lerobot saves with each checkpoint.
"""

from __future__ import annotations

import builtins
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import draccus
import lerobot.envs  # noqa: F401  registers env config choices for draccus
import lerobot.policies  # noqa: F401  registers policy config choices (`policy.type: act`)
import yaml
from draccus.argparsing import ArgumentParser
from lerobot.configs.default import DatasetConfig
from lerobot.configs.train import TrainPipelineConfig

from lerobot_multi import compat
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.meta.spec import MixtureSpec, parse_val_episodes


def _parse_listish(value: Any, field: str) -> Any:
    """A CLI string such as "[a,b]" or "{'a': [0, 1]}" becomes the list/dict it spells (YAML, safely)."""
    if isinstance(value, str) and value.strip()[:1] in "[{":
        try:
            return yaml.safe_load(value)
        except yaml.YAMLError as e:
            raise DatasetSourceError(f"dataset.{field}: cannot parse {value!r} as a list/mapping: {e}") from e
    return value


@dataclass
class MultiDatasetConfig(DatasetConfig):
    """lerobot's dataset config, where `repo_id` may be a list and `episodes` a per-repo mapping.

    `root` may be a folder holding `<repo_id>/` sub-folders or a mapping `{repo_id: folder}`.
    """

    repo_id: str | list[str]
    root: str | dict[str, str] | None = None
    episodes: list[int] | dict[str, list[int] | None] | None = None
    # Episode ids left out of `episodes` (lerobot main's field, on every line here): a list for one
    # dataset, else {repo_id or pattern: [ids]}; an id out of range is an error, as in `episodes`.
    exclude_episodes: list[int] | dict[str, list[int] | None] | None = None
    # lerobot 0.6's repo kind ("dataset"; "bucket" only with a single repo_id: lerobot's own dataset)
    repo_type: str = "dataset"
    # a branch, tag or commit SHA for every dataset, or {repo_id: revision} (README "Hub datasets")
    revision: str | dict[str, str] | None = None
    # Mixing (docs/mixing.md): each dataset's share of the samples drawn, as a list aligned with
    # repo_id or {repo_id: weight}; or temperature τ (shares ∝ frames**τ); samples per epoch.
    weights: list[float] | dict[str, float] | None = None
    temperature: float | None = None
    epoch_size: int | None = None
    # Mixed frame rates (docs/mixing.md): allow different fps; the policy's delta indices are then
    # resolved per dataset with its own fps. `delta_timestamps` overrides them per repo, in seconds.
    mixed_fps: bool = False
    # Normalization stats per group (docs/mixing.md): global | per_robot (robot_type) | per_dataset.
    normalization_mode: str = "global"
    # Conditioning (docs/mixing.md): a one-hot over datasets, tasks or robots appended to a vector
    # feature (default observation.environment_state where every dataset has it, else observation.state).
    condition_on: str = "none"
    condition_feature: str | None = None
    # Heterogeneous schemas (docs/mixing.md): per-repo key renames {repo_id: {old: new}}, applied
    # before the common-feature filter; zero-padding of vector features; zero-filled missing cameras.
    rename_map: dict[str, dict[str, str]] | None = None
    pad_vectors: bool = False
    fill_missing_cameras: bool = False
    # Streaming (`streaming: true` with a list, docs/streaming.md): what a dataset does when its stream
    # runs out ("restart" it: exact shares; "stop" the epoch) and lerobot's shuffle buffer per dataset.
    stop_strategy: str = "restart"
    buffer_size: int = 1000
    delta_timestamps: dict[str, dict[str, list[float]]] | None = None
    # Processes that open the datasets (README "Limits"): None, 0 or 1 = threads (faster from files).
    open_processes: int | None = None
    # Sample reader (README "Reading"): "fast" (columnar stores, batched decoding) or "lerobot"
    # (each sample through lerobot's LeRobotDataset, the reference); both give the same samples.
    reader: str = "fast"
    # Held-out validation (README "Watching a run"): a fraction (0.1), a count (2) or {repo_id: [ids]}
    # of each dataset's episodes kept out of training; the policy's loss on them every `val_freq` steps
    # (default: save_freq) on at most `val_batches` fixed batches per dataset.
    val_episodes: float | dict[str, list[int]] | None = None
    val_freq: int | None = None
    val_batches: int = 4
    # Resume from a checkpoint trained on a different mixture (mixture.json differs): restart the sampler.
    allow_mixture_change: bool = False
    # lerobot 0.6's unit of depth maps and their stats ("mm" or "m"; declared here for the 0.4.4 line too,
    # whose DatasetConfig lacks it and which reads no depth)
    depth_output_unit: str = "mm"
    # A dataset that cannot be opened, downloaded or validated (README "Hub datasets"): "raise", or
    # "skip" it with a report (log, lerobot-multi-info, mixture.json), failing past `max_skipped`.
    on_error: str = "raise"
    max_skipped: float = 0.1
    # Episodes left out (with on_error: skip) or refused (raise) when they fail these checks
    # (docs/community.md "Leaving out what is broken"): "short" (fewer than `min_episode_frames`; unset,
    # the frames the policy's window spans), "non_finite", "video_frames" (demuxes the videos).
    episode_checks: list[str] = field(default_factory=list)
    min_episode_frames: int | None = None
    # A metadata pack written by lerobot-multi-pack (docs/reading.md "Metadata packs"): a path or
    # hf://datasets/<owner>/<repo>[@<revision>]/<file>; every dataset's metadata, commit and episode-check
    # results come from it, so opening makes no API call and fetches only data and video files.
    metadata_pack: str | None = None

    def __post_init__(self) -> None:
        self.repo_id = _parse_listish(self.repo_id, "repo_id")
        self.episodes = _parse_listish(self.episodes, "episodes")
        self.exclude_episodes = _parse_listish(self.exclude_episodes, "exclude_episodes")
        self.root = _parse_listish(self.root, "root")
        self.revision = _parse_listish(self.revision, "revision")
        self.episode_checks = _parse_listish(self.episode_checks, "episode_checks")
        self.weights = _parse_listish(self.weights, "weights")
        self.delta_timestamps = _parse_listish(self.delta_timestamps, "delta_timestamps")
        self.rename_map = _parse_listish(self.rename_map, "rename_map")
        self.val_episodes = parse_val_episodes(_parse_listish(self.val_episodes, "val_episodes"))
        if isinstance(self.repo_id, list):
            bad = [r for r in self.repo_id if not isinstance(r, str)]
            if bad:
                raise DatasetSourceError(f"dataset.repo_id: every entry must be a string, got {bad}")
        elif not isinstance(self.repo_id, str):
            raise DatasetSourceError(
                f"dataset.repo_id: expected a string or a list of strings, got {self.repo_id!r}"
            )
        MixtureSpec.from_config(self)  # every option checked where it is defined (meta/spec.py, sources.py)
        if isinstance(self.episodes, dict):
            self.episodes = {str(k): v for k, v in self.episodes.items()}
        if isinstance(self.exclude_episodes, dict):
            self.exclude_episodes = {str(k): v for k, v in self.exclude_episodes.items()}


@dataclass
class MultiTrainPipelineConfig(TrainPipelineConfig):
    """lerobot's TrainPipelineConfig with a `MultiDatasetConfig`: same flags as `lerobot-train`."""

    dataset: MultiDatasetConfig

    def validate(self) -> None:
        # lerobot's validate() refuses a list repo_id outright (and only reads it for RA-BC paths);
        # show it a string for the duration of the call and keep everything else lerobot's.
        repo_id = self.dataset.repo_id
        if isinstance(repo_id, list):
            if compat.train_option(self, "use_rabc", False) and not compat.train_option(
                self, "rabc_progress_path"
            ):
                raise DatasetSourceError(
                    "use_rabc with several datasets needs an explicit rabc_progress_path"
                )
            if compat.train_option(self, "sample_weighting") is not None:
                # lerobot 0.6's SampleWeighter reads one dataset's root and repo_id (RA-BC progress)
                raise DatasetSourceError(
                    "sample_weighting with several datasets: not supported (lerobot's SampleWeighter "
                    "reads one dataset); use dataset.weights / temperature for the mixture's shares"
                )
            self.dataset.repo_id = repo_id[0] if repo_id else ""
        try:
            super().validate()
        finally:
            self.dataset.repo_id = repo_id

    @classmethod
    def from_yaml(
        cls: builtins.type[MultiTrainPipelineConfig], path: str | Path, args: list[str] | None = None
    ):
        """Parse a YAML training config (the guide's `TrainPipelineConfig.from_yaml`)."""
        with draccus.config_type("yaml"), _PARSER_LOCK:
            try:
                return _parser_for(cls, path).parse_args(args or [])
            except Exception as e:
                raise_config_error(e)
                raise


_PARSERS: dict[tuple, ArgumentParser] = {}
_PARSER_LOCK = threading.Lock()


def _parser_for(cls: type, path: str | Path) -> ArgumentParser:
    """`draccus.parse`'s parser, built once per config class and set of registered policy and env
    types and reused: building it walks every policy and env config (2.6 s on lerobot 0.4.4)."""
    from lerobot.configs.policies import PreTrainedConfig
    from lerobot.envs.configs import EnvConfig

    key = (
        cls,
        tuple(sorted(PreTrainedConfig.get_known_choices())),
        tuple(sorted(EnvConfig.get_known_choices())),
    )
    if key not in _PARSERS:
        _PARSERS[key] = ArgumentParser(config_class=cls)
    parser = _PARSERS[key]
    parser.config_path = str(path)  # what draccus.parse passes at construction, read at parse time
    return parser


def raise_config_error(error: BaseException) -> None:
    """draccus reports "Couldn't instantiate class ..." and chains our message; surface ours."""
    cause = error
    while cause is not None and not isinstance(cause, DatasetSourceError):
        cause = cause.__cause__ or cause.__context__
    if cause is not None:
        raise DatasetSourceError(str(cause)) from error
