"""MixtureSpec: every option of a mixture, defined and validated in one place.

The map-style mixture, the stream, `lerobot-multi-info`, the manifest and the held-out split all read
a mixture from a `MixtureSpec`, built once from a `MultiDatasetConfig` (`from_config`) or from keyword
arguments (`MixtureSpec(repo_ids=..., ...)`; the mixtures' constructors take the same keywords). Adding
an option means one field here and one check in `validate_options`; `from_config` copies every field
the config has, so no consumer lists options again. The `{repo_id: x}` options become per-dataset
facts on one `DatasetSource` each (`sources()`, parsed in sources.py); the options that make a
checkpoint's mixture what it is (`identity_options`) go into its manifest.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from lerobot_multi.meta.mixing import STOP_STRATEGIES
from lerobot_multi.meta.quality import EPISODE_CHECKS
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, EpisodesSpec, RootSpec, make_sources

NORMALIZATION_MODES = ("global", "per_robot", "per_dataset")
CONDITION_ON = ("none", "dataset", "task", "robot")
READERS = ("fast", "lerobot")
DEPTH_UNITS = ("mm", "m")
ON_ERROR = ("raise", "skip")
REPO_TYPES = ("dataset", "bucket")
# spec field -> `MultiDatasetConfig` field, where the names differ
CONFIG_NAMES = {"repo_ids": "repo_id", "delta_overrides": "delta_timestamps"}
# a field marked so is part of what a checkpoint was trained on: the manifest records it (manifest.py)
IDENTITY = {"identity": True}


def _identity(default: Any) -> Any:
    return field(default=default, metadata=IDENTITY)


@dataclass(frozen=True)
class MixtureSpec:
    """What a mixture is: its sources and selections, temporal and schema options, shares,
    normalization and conditioning. Reader and stream settings ride along so a config yields one object.

    Field meanings are those of `MultiDatasetConfig` (config.py) and `MultiLeRobotDataset`.
    """

    repo_ids: str | Sequence[str]
    root: RootSpec = None
    episodes: EpisodesSpec = None
    # episode ids left out of `episodes` (all when None), as lerobot main's `DatasetConfig.exclude_episodes`:
    # a list for a single dataset, else {repo_id or pattern: [ids]}
    exclude_episodes: EpisodesSpec = None
    # one revision for every dataset, or {repo_id: revision} (a branch, tag or commit SHA: meta/hub.py)
    revision: str | Mapping[str, str] | None = None
    # lerobot 0.6's kind of hub repo: "dataset"; its streaming-only "bucket" (HF Storage Buckets) is
    # refused by a mixture rather than read as a dataset repo of the same name (docs/lerobot-lines.md)
    repo_type: str = "dataset"
    # shares
    weights: Sequence[float] | Mapping[str, float] | None = None
    temperature: float | None = _identity(None)
    epoch_size: int | None = _identity(None)
    # time
    mixed_fps: bool = _identity(False)
    # {repo_id: {key: seconds}} over the policy's delta timestamps (config: `dataset.delta_timestamps`)
    delta_overrides: Mapping[str, Mapping[str, Sequence[float]]] | None = None
    # schema
    rename_map: Mapping[str, Mapping[str, str]] | None = _identity(None)
    pad_vectors: bool = _identity(False)
    fill_missing_cameras: bool = _identity(False)
    # normalization and conditioning
    normalization_mode: str = _identity("global")
    condition_on: str = _identity("none")
    condition_feature: str | None = _identity(None)
    # held-out episodes (lerobot-multi-train): a fraction, a count or {repo_id: [episode ids]}
    val_episodes: float | int | Mapping[str, Sequence[int]] | None = None
    # lerobot 0.6's predicate over an episode's row (meta/episodes without stats), for every dataset or
    # {repo_id: predicate}, intersected with `episodes`; Python only (a config cannot hold a callable)
    episode_filter: Callable[[dict], bool] | Mapping[str, Callable[[dict], bool]] | None = field(
        default=None, compare=False
    )
    # reading
    reader: str = "fast"
    video_backend: str | None = None
    open_processes: int | None = None
    return_uint8: bool = False
    # lerobot 0.6's unit of depth maps and their stats: "mm" (its default) or "m"
    depth_output_unit: str = "mm"
    # streaming
    stop_strategy: str = "restart"
    buffer_size: int = 1000
    # a dataset that cannot be opened, downloaded or validated: "raise" (stop), or "skip" it and report
    # it, failing when more than `max_skipped` (a share of the datasets) is left out
    on_error: str = "raise"
    max_skipped: float = 0.1
    # episode checks (quality.py): "short" (fewer than `min_episode_frames`), "non_finite", "video_frames"
    episode_checks: Sequence[str] = ()
    min_episode_frames: int | None = None
    # a metadata pack (pack.py: `lerobot-multi-pack`): a path or hf://datasets/<repo>[@rev]/<file>; the
    # datasets' metadata, commits and check results come from it instead of the hub
    metadata_pack: str | None = None

    def __getstate__(self) -> dict:
        # a predicate need not pickle; the sources it selected carry its result
        return {**self.__dict__, "episode_filter": None}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)

    def __post_init__(self) -> None:
        object.__setattr__(self, "val_episodes", parse_val_episodes(self.val_episodes))
        validate_options(self)
        self.sources()  # the per-dataset options name datasets of the mixture, with valid values

    @classmethod
    def from_config(cls, ds_cfg, **overrides: Any) -> MixtureSpec:
        """The spec of a `MultiDatasetConfig` (any dataset config: fields it lacks keep their default)."""
        values = {}
        for f in dataclasses.fields(cls):
            name = CONFIG_NAMES.get(f.name, f.name)
            if hasattr(ds_cfg, name):
                values[f.name] = getattr(ds_cfg, name)
        return cls(**(values | overrides))

    def replace(self, **changes: Any) -> MixtureSpec:
        return dataclasses.replace(self, **changes)

    def sources(self) -> list[DatasetSource]:
        """One validated `DatasetSource` per dataset, in the given order."""
        return make_sources(self)

    @classmethod
    def option_names(cls) -> list[str]:
        """Every option a mixture's constructor takes beyond `repo_ids`."""
        return [f.name for f in dataclasses.fields(cls) if f.name != "repo_ids"]

    def identity_options(self) -> dict[str, Any]:
        """The options that make a trained mixture what it is (recorded in `mixture.json`)."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self) if f.metadata.get("identity")}

    @property
    def mixing_requested(self) -> bool:
        """Shares or epoch length other than the plain concatenation's."""
        return any(v is not None for v in (self.weights, self.temperature, self.epoch_size))


def make_spec(
    repo_ids: str | Sequence[str], root: RootSpec, episodes: EpisodesSpec, options: Mapping
) -> MixtureSpec:
    """A mixture constructor's spec: its leading arguments and its `**options`, each a spec field."""
    unknown = sorted(set(options) - set(MixtureSpec.option_names()))
    if unknown:
        raise TypeError(
            f"unexpected keyword arguments {unknown}: a mixture's options are MixtureSpec's fields "
            f"({', '.join(MixtureSpec.option_names())})"
        )
    return MixtureSpec(repo_ids=repo_ids, root=root, episodes=episodes, **options)


def group_of_datasets(
    repo_ids: Sequence[str], robot_types: Sequence[str | None], mode: str
) -> dict[str, str]:
    """{repo_id: normalization group name} for a normalization mode."""
    _choice("normalization_mode", mode, NORMALIZATION_MODES)
    if mode == "per_dataset":
        return {r: r for r in repo_ids}
    if mode == "per_robot":
        return {r: str(t) for r, t in zip(repo_ids, robot_types)}
    return dict.fromkeys(repo_ids, "all")


def _choice(name: str, value: str, allowed: Sequence[str]) -> None:
    if value not in allowed:
        raise DatasetSourceError(f"dataset.{name} = {value!r}: expected one of {', '.join(allowed)}")


def validate_options(spec: MixtureSpec) -> None:
    """Check a spec's option values, naming the field (per-dataset options: `make_sources`)."""
    _choice("normalization_mode", spec.normalization_mode, NORMALIZATION_MODES)
    _choice("condition_on", spec.condition_on, CONDITION_ON)
    _choice("reader", spec.reader, READERS)
    _choice("stop_strategy", spec.stop_strategy, tuple(STOP_STRATEGIES))
    _choice("depth_output_unit", spec.depth_output_unit, DEPTH_UNITS)
    _choice("on_error", spec.on_error, ON_ERROR)
    _choice("repo_type", spec.repo_type, REPO_TYPES)
    if spec.repo_type == "bucket" and not isinstance(spec.repo_ids, str):
        raise bucket_error()
    if isinstance(spec.max_skipped, bool) or not 0 <= float(spec.max_skipped) <= 1:
        raise DatasetSourceError(f"dataset.max_skipped = {spec.max_skipped!r}: expected a share in [0, 1]")
    checks = [spec.episode_checks] if isinstance(spec.episode_checks, str) else list(spec.episode_checks)
    for check in checks:
        _choice("episode_checks", check, EPISODE_CHECKS)
    object.__setattr__(spec, "episode_checks", tuple(checks))
    least = spec.min_episode_frames
    if least is not None and (
        isinstance(least, bool) or not isinstance(least, (int, np.integer)) or least < 1
    ):
        raise DatasetSourceError(f"dataset.min_episode_frames = {least!r}: expected a whole number >= 1")
    if isinstance(spec.repo_ids, str) and spec.mixing_requested:
        raise DatasetSourceError(
            "dataset.weights/temperature/epoch_size need a list of datasets in dataset.repo_id"
        )
    epoch_size = spec.epoch_size
    if epoch_size is not None and (isinstance(epoch_size, bool) or int(epoch_size) <= 0):
        raise DatasetSourceError(
            f"dataset.epoch_size = {epoch_size!r}: expected a positive number of samples"
        )
    if int(spec.buffer_size) < 1:
        raise DatasetSourceError(f"dataset.buffer_size = {spec.buffer_size!r}: expected at least 1")


def bucket_error() -> DatasetSourceError:
    """`repo_type: bucket` in a mixture: not read (rather than reading dataset repos of the same names)."""
    return DatasetSourceError(
        "dataset.repo_type = 'bucket': a mixture reads dataset repos (and local folders) only; HF Storage "
        "Buckets are not supported by lerobot-multi (a single repo_id as a string is lerobot's own "
        "dataset, which streams a bucket with dataset.streaming=true)"
    )


def parse_val_episodes(value) -> float | int | dict[str, list[int]] | None:
    """`dataset.val_episodes`: a fraction in (0, 1), a count >= 1, or {repo_id: [episode ids]}."""
    if value is None or isinstance(value, Mapping):  # ids are checked per dataset (sources.py)
        return None if value is None else {str(k): v for k, v in value.items()}
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DatasetSourceError(
            f"dataset.val_episodes = {value!r}: expected a fraction (0.1), a count (2) or {{repo_id: [ids]}}"
        )
    if 0 < value < 1:
        return float(value)
    if value >= 1 and float(value).is_integer():
        return int(value)
    raise DatasetSourceError(
        f"dataset.val_episodes = {value!r}: a fraction must be in (0, 1) and a count a whole number >= 1"
    )
