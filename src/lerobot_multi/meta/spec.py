"""MixtureSpec: every option of a mixture, defined and validated in one place.

The map-style mixture, the stream, `lerobot-multi-info`, the manifest and the held-out split all read
a mixture from a `MixtureSpec`, built once from a `MultiDatasetConfig` (`from_config`) or from keyword
arguments (`MixtureSpec(repo_ids=..., ...)`). Adding an option means one field here and one check in
`validate`; `from_config` copies every field the config has, so no consumer lists options again.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, EpisodesSpec, RootSpec, make_sources

NORMALIZATION_MODES = ("global", "per_robot", "per_dataset")
CONDITION_ON = ("none", "dataset", "task", "robot")
READERS = ("fast", "lerobot")
STOP_STRATEGIES = ("restart", "stop")
# spec field -> `MultiDatasetConfig` field, where the names differ
_CONFIG_NAMES = {"repo_ids": "repo_id", "delta_overrides": "delta_timestamps"}


@dataclass(frozen=True)
class MixtureSpec:
    """What a mixture is: its sources and selections, temporal and schema options, shares,
    normalization and conditioning. Reader and stream settings ride along so a config yields one object.

    Field meanings are those of `MultiDatasetConfig` (config.py) and `MultiLeRobotDataset`.
    """

    repo_ids: str | Sequence[str]
    root: RootSpec = None
    episodes: EpisodesSpec = None
    revision: str | None = None
    # shares
    weights: Sequence[float] | Mapping[str, float] | None = None
    temperature: float | None = None
    epoch_size: int | None = None
    # time
    mixed_fps: bool = False
    # {repo_id: {key: seconds}} over the policy's delta timestamps (config: `dataset.delta_timestamps`)
    delta_overrides: Mapping[str, Mapping[str, Sequence[float]]] | None = None
    # schema
    rename_map: Mapping[str, Mapping[str, str]] | None = None
    pad_vectors: bool = False
    fill_missing_cameras: bool = False
    # normalization and conditioning
    normalization_mode: str = "global"
    condition_on: str = "none"
    condition_feature: str | None = None
    # reading
    reader: str = "fast"
    video_backend: str | None = None
    open_processes: int | None = None
    return_uint8: bool = False
    # streaming
    stop_strategy: str = "restart"
    buffer_size: int = 1000

    def __post_init__(self) -> None:
        validate_options(self)

    @classmethod
    def from_config(cls, ds_cfg, **overrides: Any) -> MixtureSpec:
        """The spec of a `MultiDatasetConfig` (any dataset config: fields it lacks keep their default)."""
        values = {}
        for f in dataclasses.fields(cls):
            name = _CONFIG_NAMES.get(f.name, f.name)
            if hasattr(ds_cfg, name):
                values[f.name] = getattr(ds_cfg, name)
        return cls(**(values | overrides))

    def replace(self, **changes: Any) -> MixtureSpec:
        return dataclasses.replace(self, **changes)

    def sources(self) -> list[DatasetSource]:
        """One validated `DatasetSource` per dataset, in the given order."""
        return make_sources(self.repo_ids, self.root, self.episodes, self.revision)

    @property
    def schema_options(self) -> dict[str, Any]:
        """The options `MultiDatasetMetadata` takes."""
        names = ("mixed_fps", "rename_map", "pad_vectors", "fill_missing_cameras")
        names += ("normalization_mode", "condition_on", "condition_feature")
        return {k: getattr(self, k) for k in names}

    @property
    def mixing_requested(self) -> bool:
        """Shares or epoch length other than the plain concatenation's."""
        return any(v is not None for v in (self.weights, self.temperature, self.epoch_size))


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


def validate_options(options: Any) -> None:
    """Check the option values of a spec or a dataset config (attribute access), naming the field."""
    _choice("normalization_mode", getattr(options, "normalization_mode", "global"), NORMALIZATION_MODES)
    _choice("condition_on", getattr(options, "condition_on", "none"), CONDITION_ON)
    _choice("reader", getattr(options, "reader", "fast"), READERS)
    _choice("stop_strategy", getattr(options, "stop_strategy", "restart"), STOP_STRATEGIES)
    repo_ids = getattr(options, "repo_ids", getattr(options, "repo_id", None))
    if isinstance(repo_ids, str) and any(
        getattr(options, k, None) is not None for k in ("weights", "temperature", "epoch_size")
    ):
        raise DatasetSourceError(
            "dataset.weights/temperature/epoch_size need a list of datasets in dataset.repo_id"
        )
    epoch_size = getattr(options, "epoch_size", None)
    if epoch_size is not None and (isinstance(epoch_size, bool) or int(epoch_size) <= 0):
        raise DatasetSourceError(
            f"dataset.epoch_size = {epoch_size!r}: expected a positive number of samples"
        )
    buffer_size = getattr(options, "buffer_size", 1000)
    if int(buffer_size) < 1:
        raise DatasetSourceError(f"dataset.buffer_size = {buffer_size!r}: expected at least 1")


def parse_val_episodes(value) -> float | int | dict[str, list[int]] | None:
    """`dataset.val_episodes`: a fraction in (0, 1), a count >= 1, or {repo_id: [episode ids]}."""
    if value is None or isinstance(value, Mapping):
        return None if value is None else {str(k): [int(e) for e in v] for k, v in value.items()}
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
