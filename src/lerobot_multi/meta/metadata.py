"""MultiDatasetMetadata: merged info, episodes, tasks and stats of several datasets, globally indexed.

It stands where lerobot's training path expects a `LeRobotDatasetMetadata` (`make_policy`, the pre/post
processors, `EpisodeAwareSampler`); docs/lerobot-contract.md lists what lerobot reads and the tests
exercise each item. Memory is O(datasets + episodes): nothing here is per frame.
"""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa

from lerobot_multi.compat import LANGUAGE_DTYPE, dataset_info, default_tools
from lerobot_multi.meta.conditioning import Conditioning, build_conditioning, grow_feature, grow_stats
from lerobot_multi.meta.episodes_table import build_episodes_table
from lerobot_multi.meta.indexing import cumulative_offsets
from lerobot_multi.meta.schema import (
    FeatureSchema,
    apply_renames,
    check_fps,
    check_robot_types,
    is_depth,
    mixture_renames,
    reconcile_features,
)
from lerobot_multi.meta.source_meta import SourceMetadata
from lerobot_multi.meta.sources import DatasetSource, MixtureHasNoFolderError
from lerobot_multi.meta.spec import MixtureSpec
from lerobot_multi.meta.stats import (
    Stats,
    aggregate,
    aggregate_by_dimension,
    as_lerobot_dtypes,
    depth_stats_in_unit,
    pad_feature_stats,
    source_stats,
)

if TYPE_CHECKING:
    import datasets

logger = logging.getLogger(__name__)


def _episode_table(meta: SourceMetadata, source: DatasetSource) -> pa.Table:
    """The selected episodes of one dataset, in storage order, with local ids, lengths and tasks."""
    table = meta.episodes.select(["episode_index", "length", "tasks"])
    if source.episodes is not None:
        table = table.take(np.asarray(source.episodes))
    return table


def _with_subtasks(meta: SourceMetadata) -> dict[str, dict]:
    """A dataset's features; `subtask_index` only with its meta/subtasks.parquet (else the index has
    no meaning across datasets: it is then left out, and disabled by the common-feature rule)."""
    if "subtask_index" in meta.features and meta.subtask_names is None:
        logger.warning("Dataset %r has subtask_index but no meta/subtasks.parquet; ignoring it", meta.repo_id)
        return {k: v for k, v in meta.features.items() if k != "subtask_index"}
    return meta.features


def _ints(table: pa.Table, name: str) -> np.ndarray:
    return table.column(name).to_numpy().astype(np.int64, copy=False)


def _merge_names(
    per_dataset: Sequence[tuple[list[str], np.ndarray]], column: str
) -> tuple[pd.DataFrame, list[np.ndarray]]:
    """One table of names (tasks, subtasks) in dataset order, first appearance wins (the rule of
    lerobot's aggregate_datasets), and per dataset its index -> the global index (-1: unused id)."""
    index: dict[str, int] = {}
    for names, _ in per_dataset:
        for name in names:
            index.setdefault(name, len(index))
    table = pd.DataFrame({column: np.arange(len(index))}, index=list(index))
    maps = []
    for names, ids in per_dataset:
        local = np.full(int(ids.max()) + 1 if len(ids) else 0, -1, dtype=np.int64)
        local[ids] = [index[name] for name in names]
        maps.append(local)
    return table, maps


class MultiDatasetMetadata:
    """Merged metadata over `sources` in order: global episode/frame/task indices, common features."""

    # what `on_error: skip` left out: datasets and episodes (quality.py)
    skipped, skipped_episodes = (), ()

    def __init__(self, sources: Sequence[DatasetSource], metas: Sequence[SourceMetadata], spec: MixtureSpec):
        self.spec = spec
        self.sources = list(sources)
        self.sub_metas = list(metas)
        self.repo_ids = [s.repo_id for s in self.sources]
        self.repo_id_to_index = {rid: i for i, rid in enumerate(self.repo_ids)}

        self.rename_map = mixture_renames(spec, sources, metas)
        features = apply_renames(
            {s.repo_id: _with_subtasks(m) for s, m in zip(sources, metas)}, self.rename_map
        )
        self.schema: FeatureSchema = reconcile_features(features, spec.pad_vectors, spec.fill_missing_cameras)
        fps = check_fps({s.repo_id: m.fps for s, m in zip(sources, metas)}, spec.mixed_fps)
        self.fps_by_dataset = [m.fps for m in metas]
        robot_type = check_robot_types(
            {s.repo_id: m.robot_type for s, m in zip(sources, metas)}, spec.normalization_mode
        )

        tables = [_episode_table(m, s) for s, m in zip(sources, metas)]
        self._build_tasks(metas)
        self._build_episodes(tables)

        self._info = self._merged_info(metas, fps, robot_type)
        self._info_view = None
        own_stats = [self._own_stats(i) for i in range(len(self.sources))]
        plain_keys = [k for k in self.schema.features if k not in self.schema.padded]
        self.stats: Stats = aggregate(own_stats, keys=plain_keys)
        for key, sizes in self.schema.padded.items():
            # each dimension from the datasets that have it: padding must not shift the real ones
            per_source = [(st[key], sizes[rid]) for st, rid in zip(own_stats, self.repo_ids)]
            self.stats[key] = aggregate_by_dimension(per_source, self.features[key]["shape"][0])
        as_lerobot_dtypes(self.stats, self.features)
        # per dataset, padded to the mixture's sizes (what per-dataset/per-robot normalization uses)
        self.per_dataset_stats: list[Stats] = [
            {
                k: pad_feature_stats(v, self.features[k]["shape"][0]) if k in self.schema.padded else v
                for k, v in st.items()
            }
            for st in own_stats
        ]
        self.conditioning: Conditioning | None = build_conditioning(
            self, spec.condition_on, spec.condition_feature
        )
        if self.conditioning is not None:
            self._grow_for_conditioning(self.conditioning)

    @property
    def info(self):
        """info.json of the mixture as the installed lerobot gives it (0.6: a `DatasetInfo`, built on
        first access; a spawned DataLoader worker never needs it, nor lerobot's dataset package)."""
        if self._info_view is None:
            self._info_view = dataset_info(self._info)
        return self._info_view

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_info_view": None}

    def _merged_info(self, metas: Sequence[SourceMetadata], fps, robot_type) -> dict:
        """info.json of the mixture: the first dataset's, with the mixture's features, counts, fps and
        robot type, and the largest file sizes (a limit every dataset's files keep)."""
        info = copy.deepcopy(metas[0].info)
        info.update(
            features=self.schema.features,
            fps=fps,
            robot_type=robot_type,
            total_episodes=int(self.episode_offsets[-1]),
            total_frames=int(self.frame_offsets[-1]),
            total_tasks=len(self.tasks),
            splits={"train": f"0:{int(self.episode_offsets[-1])}"},
        )
        for name in ("data_files_size_in_mb", "video_files_size_in_mb"):
            sizes = [m.info[name] for m in metas if m.info.get(name) is not None]
            if sizes:
                info[name] = max(sizes)
        return info

    def _grow_for_conditioning(self, cond: Conditioning) -> None:
        """The condition feature, its global and per-dataset stats, with the one-hot dimensions (the
        mixture's exact values in every dataset's stats: a group's own would be constant)."""
        self._info["features"] = {
            k: grow_feature(ft, cond) if k == cond.key else ft for k, ft in self.schema.features.items()
        }
        cond_stats = cond.stats()
        self.stats = grow_stats(self.stats, cond, cond_stats)
        self.per_dataset_stats = [grow_stats(st, cond, cond_stats) for st in self.per_dataset_stats]

    # --- construction -------------------------------------------------------------------------------
    def _own_stats(self, i: int) -> Stats:
        """Dataset i's stats over its selected episodes, under the mixture's (renamed) keys."""
        source, meta, renames = self.sources[i], self.sub_metas[i], self.rename_map[self.repo_ids[i]]
        keys = [k for k in (self.source_key(i, key) for key in self.schema.features) if k in meta.features]
        stats = source_stats(meta, source.repo_id, source.episodes, keys)
        stats = depth_stats_in_unit(stats, meta.features, self.spec.depth_output_unit, source.repo_id)
        return {renames.get(k, k): v for k, v in stats.items()}

    def source_key(self, dataset_index: int, key: str) -> str | None:
        """A mixture key's name inside dataset `dataset_index` (undoing its rename); None when the
        dataset's own key of that name was renamed to another (it then lacks this mixture key)."""
        renames = self.rename_map[self.repo_ids[dataset_index]]
        for old, new in renames.items():
            if new == key:
                return old
        return None if key in renames else key

    def _build_tasks(self, metas: Sequence[SourceMetadata]) -> None:
        self.tasks, self.task_maps = _merge_names([(m.task_names, m.task_ids) for m in metas], "task_index")
        if "subtask_index" in self.schema.features:  # then every dataset has its subtasks.parquet
            pairs = [(m.subtask_names, m.subtask_ids) for m in metas]
            self.subtasks, self.subtask_maps = _merge_names(pairs, "subtask_index")
        else:
            self.subtasks, self.subtask_maps = None, None

    def _build_episodes(self, tables: Sequence[pa.Table]) -> None:
        counts = [t.num_rows for t in tables]
        ids = [_ints(t, "episode_index") for t in tables]
        own_lengths = [_ints(t, "length") for t in tables]
        self.episode_offsets = cumulative_offsets(counts)
        self.frame_offsets = cumulative_offsets([int(x.sum()) for x in own_lengths])
        # local episode id -> global episode id, -1 where not selected (O(episodes) per dataset)
        self.episode_maps: list[np.ndarray] = []
        for i, (own, m) in enumerate(zip(ids, self.sub_metas)):
            local = np.full(m.total_episodes, -1, dtype=np.int64)
            local[own] = self.episode_offsets[i] + np.arange(len(own))
            self.episode_maps.append(local)
        lengths = np.concatenate(own_lengths)
        to_index = np.cumsum(lengths)
        # global episode -> first global frame, and its dataset: what `locate_frames` searches
        self.episode_starts = to_index - lengths
        self.episode_datasets = np.repeat(np.arange(len(tables), dtype=np.int64), counts)
        self._frame_episodes = list(zip(ids, own_lengths))  # per dataset: source ids and lengths
        self.episode_lengths = lengths
        self.source_episode_ids = np.concatenate(ids)
        self.episode_tasks = [t.select(["tasks"]) for t in tables]
        self._episodes: datasets.Dataset | None = None

    @property
    def episodes(self) -> datasets.Dataset:
        """lerobot's meta/episodes for the selection, every column, globally indexed
        (`episodes_table`); built on first access."""
        if self._episodes is None:
            self._episodes = build_episodes_table(self)
        return self._episodes

    # --- lookups ------------------------------------------------------------------------------------
    def frame_episodes(self, dataset_index: int) -> tuple[np.ndarray, np.ndarray]:
        """Dataset `dataset_index`'s selected source episode ids and their lengths, in storage order."""
        return self._frame_episodes[dataset_index]

    @property
    def frames_by_dataset(self) -> np.ndarray:
        """Each dataset's selected frames, in order."""
        return np.diff(self.frame_offsets)

    def num_frames_of(self, dataset_index: int) -> int:
        return int(self.frame_offsets[dataset_index + 1] - self.frame_offsets[dataset_index])

    def num_episodes_of(self, dataset_index: int) -> int:
        return int(self.episode_offsets[dataset_index + 1] - self.episode_offsets[dataset_index])

    @property
    def delta_overrides(self) -> dict[str, dict[str, list[float]]] | None:
        """{repo_id: {key: seconds}} of the spec's per-dataset `delta_overrides`, or None."""
        given = {
            s.repo_id: {k: list(v) for k, v in s.delta_override.items()}
            for s in self.sources
            if s.delta_override
        }
        return given or None

    # --- what LeRobotDatasetMetadata offers ---------------------------------------------------
    @property
    def repo_id(self) -> str:
        return "+".join(self.repo_ids)

    @property
    def root(self) -> Path:
        """The one folder all datasets read (lerobot's meaning), else `MixtureHasNoFolderError`: lerobot's
        dataset_tools would write into one dataset's folder. `sources[i].root` is each dataset's."""
        if len(roots := list(dict.fromkeys(s.root for s in self.sources))) > 1:
            raise MixtureHasNoFolderError(self.repo_id, roots)
        return roots[0]

    def _same(self, name: str) -> object:
        """A per-dataset value that a mixture has only when every dataset agrees on it."""
        values = [getattr(m, name) for m in self.sub_metas]
        if any(v != values[0] for v in values[1:]):
            listing = ", ".join(f"{rid}: {v!r}" for rid, v in zip(self.repo_ids, values))
            raise ValueError(
                f"meta.{name}: the datasets of this mixture differ ({listing}), so no single value "
                f"exists; read meta.sub_metas[i].{name} for dataset i"
            )
        return values[0]

    data_path = property(lambda self: self._same("data_path"), doc="info.json's data_path, if all agree")
    video_path = property(lambda self: self._same("video_path"), doc="info.json's video_path, if all agree")
    chunks_size = property(
        lambda self: self._same("chunks_size"), doc="info.json's chunks_size, if all agree"
    )
    revision = property(lambda self: self._same("revision"), doc="the revision, if all agree")
    url_root = property(lambda self: self._same("url_root"), doc="hf://datasets/<repo_id>: one dataset only")

    def _episode(self, ep_index: int) -> tuple[int, int]:
        if not 0 <= ep_index < self.total_episodes:
            raise IndexError(f"Episode index {ep_index} out of range. Episodes: {self.total_episodes}")
        return int(self.episode_datasets[ep_index]), int(self.source_episode_ids[ep_index])

    def get_data_file_path(self, ep_index: int) -> Path:
        """Global episode `ep_index`'s data file, absolute (in its own dataset's folder)."""
        i, own = self._episode(ep_index)
        return self.sources[i].root / self.sub_metas[i].get_data_file_path(own)

    def get_video_file_path(self, ep_index: int, vid_key: str) -> Path:
        """Global episode `ep_index`'s video file for the mixture's camera `vid_key`, absolute."""
        i, own = self._episode(ep_index)
        key = self.source_key(i, vid_key)
        if key not in self.sub_metas[i].video_keys:
            raise KeyError(f"dataset {self.repo_ids[i]!r} has no video {vid_key!r} (episode {ep_index})")
        return self.sources[i].root / self.sub_metas[i].get_video_file_path(own, key)

    @property
    def fps(self) -> int:
        return self._info["fps"]

    @property
    def robot_type(self) -> str | None:
        return self._info["robot_type"]

    @property
    def features(self) -> dict[str, dict]:
        return self._info["features"]

    @property
    def disabled_features(self) -> set[str]:
        return self.schema.disabled_features

    @property
    def image_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "image"]

    @property
    def video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "video"]

    @property
    def camera_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] in ("video", "image")]

    @property
    def depth_keys(self) -> list[str]:
        """lerobot 0.6's depth cameras: the mixture's cameras marked as depth maps (a shared key is a
        depth map in every dataset that has it, `schema.reconcile_features`)."""
        return [k for k, ft in self.features.items() if is_depth(ft)]

    @property
    def has_language_columns(self) -> bool:
        """Whether the mixture carries lerobot 0.6's language columns (every dataset has them): lerobot's
        training then collates with `lerobot_collate_fn`."""
        return any(ft["dtype"] == LANGUAGE_DTYPE for ft in self.features.values())

    @property
    def tools(self) -> list[dict]:
        """lerobot 0.6's tool schemas for chat templates over language columns: every dataset's
        (info.json `tools`, else lerobot's default), each distinct schema once, in dataset order."""
        seen: dict[str, dict] = {}
        for m in self.sub_metas:
            for tool in m.info.get("tools") or default_tools():
                seen.setdefault(json.dumps(tool, sort_keys=True), dict(tool))
        return list(seen.values())

    data_files_size_in_mb = property(lambda self: self._info.get("data_files_size_in_mb"))
    video_files_size_in_mb = property(lambda self: self._info.get("video_files_size_in_mb"))

    @property
    def names(self) -> dict:
        return {k: ft["names"] for k, ft in self.features.items()}

    @property
    def shapes(self) -> dict:
        return {k: tuple(ft["shape"]) for k, ft in self.features.items()}

    @property
    def total_episodes(self) -> int:
        return self._info["total_episodes"]

    @property
    def total_frames(self) -> int:
        return self._info["total_frames"]

    @property
    def total_tasks(self) -> int:
        return self._info["total_tasks"]

    def get_task_index(self, task: str) -> int | None:
        return int(self.tasks.loc[task, "task_index"]) if task in self.tasks.index else None

    def __repr__(self) -> str:
        return (
            f"MultiDatasetMetadata(datasets={self.repo_ids}, episodes={self.total_episodes}, "
            f"frames={self.total_frames}, fps={self.fps}, features={list(self.features)})"
        )
