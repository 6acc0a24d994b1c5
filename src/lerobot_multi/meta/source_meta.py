"""One dataset's metadata, read straight from its files (info.json, meta/episodes, tasks, stats).

lerobot's `LeRobotDatasetMetadata` builds HF `datasets` tables (~40-120 ms a dataset); the same files
read with pyarrow and json take a few milliseconds. `SourceMetadata` holds what the mixture needs,
under lerobot's attribute names. A folder the user named is checked for completeness (lerobot would
download the missing pieces into it) and never written to; a dataset without a named folder that is not
complete on disk is downloaded first, by lerobot, then read the same way.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_multi import compat
from lerobot_multi.compat import LANGUAGE_DTYPE, LEROBOT_06, LEROBOT_VERSION
from lerobot_multi.meta.source_v21 import V21, read_v21_parts
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, IncompleteDatasetError, map_sources

logger = logging.getLogger(__name__)
SUPPORTED_CODEBASE_MAJOR = "v3."
DEFAULT_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"


class SourceMetadata:
    """One dataset's metadata under lerobot's names: `info`, `features`, `fps`, `tasks` (a DataFrame
    indexed by task), `subtasks` (or None), `episodes` (a pyarrow Table of meta/episodes without the
    per-episode `stats/*` columns, one row per episode in order), `stats`, the file-path helpers."""

    def __init__(
        self,
        source: DatasetSource,
        info: dict,
        tasks: pa.Table,
        subtasks: pa.Table | None,
        episodes: pa.Table,
        stats: dict | None,
        episode_stats: pa.Table | None = None,
    ):
        self.repo_id, self.root, self.revision = source.repo_id, source.root, source.revision
        self.info, self.episodes, self.stats = info, episodes, stats
        self._episode_stats = episode_stats  # v2.1: from episodes_stats.jsonl; v3.0: read on demand
        self._tables = {"tasks": tasks, "subtasks": subtasks}
        self.task_names, self.task_ids = _names_and_ids(tasks, "task_index")
        self.subtask_names, self.subtask_ids = (
            _names_and_ids(subtasks, "subtask_index") if subtasks is not None else (None, None)
        )

    @property
    def tasks(self) -> pd.DataFrame:
        """lerobot's `meta.tasks`: task_index indexed by the task string."""
        return self._tables["tasks"].to_pandas()

    @property
    def subtasks(self) -> pd.DataFrame | None:
        """lerobot's `meta.subtasks`: subtask_index indexed by the subtask string, or None."""
        table = self._tables["subtasks"]
        return None if table is None else table.to_pandas()

    features = property(lambda self: self.info["features"])
    codebase_version = property(lambda self: str(self.info.get("codebase_version", "")))
    is_v21 = property(lambda self: self.codebase_version == V21)
    fps = property(lambda self: self.info["fps"])
    robot_type = property(lambda self: self.info.get("robot_type"))
    total_episodes = property(lambda self: int(self.info["total_episodes"]))
    total_frames = property(lambda self: int(self.info["total_frames"]))
    data_path = property(lambda self: self.info.get("data_path") or DEFAULT_DATA_PATH)
    video_path = property(lambda self: self.info.get("video_path"))
    chunks_size = property(lambda self: self.info.get("chunks_size"))
    url_root = property(lambda self: f"hf://datasets/{self.repo_id}")

    @property
    def video_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "video"]

    @property
    def image_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] == "image"]

    @property
    def camera_keys(self) -> list[str]:
        return [k for k, ft in self.features.items() if ft["dtype"] in ("video", "image")]

    def column(self, name: str) -> np.ndarray:
        """A meta/episodes column as numpy (row = source episode id)."""
        return self.episodes.column(name).to_numpy()

    def data_files(self, episodes: np.ndarray) -> list[str]:
        """The data files (relative to root) holding `episodes`, each once, in storage order."""
        chunks, files = self.column("data/chunk_index")[episodes], self.column("data/file_index")[episodes]
        pairs = dict.fromkeys(zip(chunks.tolist(), files.tolist()))
        return [self.data_path.format(chunk_index=c, file_index=f) for c, f in pairs]

    def episode_stats(self) -> pa.Table:
        """meta/episodes' per-episode `stats/<key>/<stat>` columns (row = episode id), read on demand:
        they are most of the file and only episode selections and `meta.episodes` need them."""
        if self._episode_stats is not None:
            return self._episode_stats
        tables = []
        for path in _episode_files(self):
            parquet = pq.ParquetFile(path)
            tables.append(
                parquet.read(columns=[n for n in parquet.schema_arrow.names if n.startswith("stats/")])
            )
        return pa.concat_tables(tables, promote_options="permissive")

    def get_data_file_path(self, ep_index: int) -> Path:
        row = self.episodes.slice(ep_index, 1).to_pylist()[0]
        return Path(
            self.data_path.format(chunk_index=row["data/chunk_index"], file_index=row["data/file_index"])
        )

    def get_video_file_path(self, ep_index: int, vid_key: str) -> Path:
        row = self.episodes.slice(ep_index, 1).to_pylist()[0]
        return Path(
            self.video_path.format(
                video_key=vid_key,
                chunk_index=row[f"videos/{vid_key}/chunk_index"],
                file_index=row[f"videos/{vid_key}/file_index"],
            )
        )


def _names_and_ids(table: pa.Table, id_column: str) -> tuple[list[str], np.ndarray]:
    """tasks.parquet / subtasks.parquet are pandas frames indexed by the string, stored as a column."""
    name = next(c for c in table.column_names if c != id_column)
    return table.column(name).to_pylist(), table.column(id_column).to_numpy().astype(np.int64, copy=False)


def read_info(source: DatasetSource) -> dict:
    """meta/info.json, checked: v3, the fields the mixture reads, and their types."""
    info_path = source.root / "meta" / "info.json"
    try:
        info = json.loads(info_path.read_text())
    except json.JSONDecodeError as e:
        raise DatasetSourceError(f"dataset {source.repo_id!r}: {info_path} is not valid JSON ({e})") from e
    if not isinstance(info, dict):
        raise DatasetSourceError(f"dataset {source.repo_id!r}: {info_path} must hold a JSON object")
    version = str(info.get("codebase_version", ""))
    if not (version.startswith(SUPPORTED_CODEBASE_MAJOR) or version == V21):
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: codebase_version is {version or 'missing'!r} in {info_path}; "
            "lerobot-multi reads LeRobot v3.0 and v2.1 datasets (convert older ones to v2.1 with "
            "lerobot 0.3's `lerobot.datasets.v21.convert_dataset_v20_to_v21`, then read them in place or "
            "convert to v3.0 with `convert_dataset_v21_to_v30`)"
        )
    for field in ("fps", "features", "total_episodes", "total_frames"):
        if field not in info:
            raise DatasetSourceError(f"dataset {source.repo_id!r}: field {field!r} missing from {info_path}")

    def bad(field: str, expected: str, value) -> DatasetSourceError:
        return DatasetSourceError(
            f"dataset {source.repo_id!r}: {info_path}: field {field!r} must be {expected}, got {value!r}"
        )

    def is_int(x) -> bool:
        return isinstance(x, int) and not isinstance(x, bool)

    if not isinstance(info["fps"], (int, float)) or isinstance(info["fps"], bool) or info["fps"] <= 0:
        raise bad("fps", "a positive number", info["fps"])
    for field in ("total_episodes", "total_frames"):
        if not is_int(info[field]) or info[field] < 0:
            raise bad(field, "an integer >= 0", info[field])
    if not isinstance(info["features"], dict):
        raise bad("features", "a mapping {key: {dtype, shape, names}}", info["features"])
    for key, ft in info["features"].items():
        if not isinstance(ft, dict) or not isinstance(ft.get("dtype"), str):
            raise bad(f"features.{key}", "a mapping with a string 'dtype'", ft)
        shape = ft.get("shape")
        if not isinstance(shape, (list, tuple)) or not all(is_int(s) and s > 0 for s in shape):
            raise bad(f"features.{key}.shape", "a list of positive integers", shape)
        ft["shape"] = tuple(shape)  # as lerobot's load_info
        if ft["dtype"] == LANGUAGE_DTYPE and not LEROBOT_06:
            # 0.4.4 has neither the column type nor lerobot_collate_fn, which leaves these rows out
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: feature {key!r} is a language column ({info_path}), "
                f"which lerobot {LEROBOT_VERSION} does not read: language columns need lerobot 0.6"
            )
        if _is_depth(ft):
            # lerobot 0.6 dequantizes depth maps to a unit (depth_output_unit); a mixture would decode
            # them as RGB frames, so it refuses them rather than give wrong values
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: feature {key!r} is a depth map ({info_path}); lerobot-multi "
                'does not read depth features yet (README "Semantics and limits")'
            )
    return info


def _is_depth(ft: dict) -> bool:
    """lerobot 0.6's depth-map marker on a feature (`info.is_depth_map`, or the legacy video key)."""
    info, video = ft.get("info") or {}, ft.get("video_info") or {}
    return bool(info.get("is_depth_map") or info.get("video.is_depth_map") or video.get("video.is_depth_map"))


def _episode_files(source: DatasetSource | SourceMetadata) -> list[Path]:
    return sorted((source.root / "meta" / "episodes").glob("*/*.parquet"))


def _read_episodes(source: DatasetSource, info: dict) -> pa.Table:
    """meta/episodes without the `stats/*` columns (read only for episode selections), checked."""
    files = _episode_files(source)
    if not files:
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: {source.root} is incomplete: meta/episodes/ holds no parquet file"
        )
    tables = []
    for path in files:
        try:
            parquet = pq.ParquetFile(path)
            names = [n for n in parquet.schema_arrow.names if not n.startswith("stats/")]
            tables.append(parquet.read(columns=names))
        except Exception as e:
            raise DatasetSourceError(f"dataset {source.repo_id!r}: cannot read {path}: {e}") from e
    table = pa.concat_tables(tables, promote_options="default") if len(tables) > 1 else tables[0]
    ids = table.column("episode_index").to_numpy()
    total = int(info["total_episodes"])
    if len(ids) < total:
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: {source.root} is incomplete: meta/episodes holds {len(ids)} "
            f"episodes but meta/info.json says total_episodes={total}"
        )
    if not np.array_equal(ids, np.arange(len(ids))):
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: meta/episodes must list episodes 0..{len(ids) - 1} in order "
            f"(found {ids[:10].tolist()}...)"
        )
    return table


def selected_episodes(source: DatasetSource, meta: SourceMetadata) -> np.ndarray:
    """The source episode ids a mixture uses from this dataset, in storage order."""
    return np.arange(meta.total_episodes) if source.episodes is None else np.asarray(source.episodes)


def _check_files(source: DatasetSource, meta: SourceMetadata) -> None:
    """The selected episodes' data and video files exist (lerobot would fetch missing ones from the hub).
    Their columns are checked against info.json when a frame store opens them."""
    info, episodes = meta.info, meta.episodes
    rows = selected_episodes(source, meta)
    for rel in meta.data_files(rows):
        if not (source.root / rel).is_file():
            raise IncompleteDatasetError(
                f"dataset {source.repo_id!r}: {source.root} is incomplete: data file {rel} is missing"
            )
    keys = [k for k, ft in info["features"].items() if ft["dtype"] == "video"]
    if not keys or not info.get("video_path"):
        return
    for key in keys:
        chunks = episodes.column(f"videos/{key}/chunk_index").to_numpy()[rows]
        files = episodes.column(f"videos/{key}/file_index").to_numpy()[rows]
        first = {}  # each file once (an episode per file is named in the message)
        for ep, c, f in zip(rows.tolist(), chunks.tolist(), files.tolist()):
            first.setdefault((c, f), ep)
        for (c, f), ep in first.items():
            rel = info["video_path"].format(video_key=key, chunk_index=c, file_index=f)
            if not (source.root / rel).is_file():
                raise IncompleteDatasetError(
                    f"dataset {source.repo_id!r}: episode {ep}: video file {rel} for {key!r} is missing "
                    f"under {source.root}"
                )


def check_episode_selection(source: DatasetSource, total_episodes: int) -> None:
    if source.episodes is None:
        return
    bad = [e for e in source.episodes if e < 0 or e >= total_episodes]
    if bad:
        raise DatasetSourceError(
            f"dataset.episodes[{source.repo_id!r}]: episode ids {bad} out of range; "
            f"this dataset has episodes 0..{total_episodes - 1}"
        )


def read_local_metadata(source: DatasetSource) -> SourceMetadata:
    """Read and check a dataset folder that is on disk; an incomplete one is an error naming the piece."""
    if not source.root.is_dir():
        raise IncompleteDatasetError(f"dataset {source.repo_id!r}: root folder {source.root} does not exist")
    if not (source.root / "meta" / "info.json").is_file():
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: {source.root} is not a LeRobot dataset (meta/info.json missing)"
        )
    info = read_info(source)
    check_episode_selection(source, int(info["total_episodes"]))
    if info["codebase_version"] == V21:
        info, tasks, episodes, episode_stats = read_v21_parts(source, info)
        meta = SourceMetadata(source, info, tasks, None, episodes, None, episode_stats)
        _check_files(source, meta)
        return meta
    tasks_path = source.root / "meta" / "tasks.parquet"
    if not tasks_path.is_file():
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: {source.root} is incomplete: meta/tasks.parquet is missing"
        )
    episodes = _read_episodes(source, info)
    tasks = pq.ParquetFile(tasks_path).read()  # ~4x faster than read_table for one small file
    subtasks_path = source.root / "meta" / "subtasks.parquet"
    subtasks = pq.ParquetFile(subtasks_path).read() if subtasks_path.is_file() else None
    stats_path = source.root / "meta" / "stats.json"
    stats = compat.cast_stats_to_numpy(json.loads(stats_path.read_text())) if stats_path.is_file() else None
    meta = SourceMetadata(source, info, tasks, subtasks, episodes, stats)
    _check_files(source, meta)
    return meta


def load_source_metadata(source: DatasetSource) -> SourceMetadata:
    """One dataset's metadata from its files (module-level: it may run in a spawned process).

    A dataset without a named folder that is not complete on disk is downloaded first, through lerobot
    (`LeRobotDataset` fetches metadata, data and videos from the hub), then read the same way.
    """
    try:
        return read_local_metadata(source)
    except IncompleteDatasetError:
        if source.explicit_root:
            raise
        logger.info("dataset %r is not complete under %s: downloading it", source.repo_id, source.root)
    download(source)
    return read_local_metadata(source)


def download(source: DatasetSource) -> None:
    """Fetch a hub dataset into its cache folder with lerobot's own downloader; a v2.1 dataset, which
    lerobot refuses, with huggingface_hub's snapshot of its v2.1 revision (read in place after)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    try:
        try:
            LeRobotDataset(
                source.repo_id,
                root=source.root,
                episodes=list(source.episodes) if source.episodes is not None else None,
                revision=source.revision,
            )
        except compat.BackwardCompatibilityError:
            from huggingface_hub import snapshot_download

            revision = source.revision or V21
            snapshot_download(source.repo_id, repo_type="dataset", revision=revision, local_dir=source.root)
    except Exception as e:  # lerobot/huggingface_hub raise many types; name the dataset
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: cannot download into {source.root}: {e}"
        ) from e


def load_all_metadata(
    sources: Sequence[DatasetSource], max_workers: int | None = None, open_processes: int | None = None
) -> list[SourceMetadata]:
    """Every dataset's metadata, in the given order (see `sources.map_sources`)."""
    return map_sources(load_source_metadata, sources, max_workers, open_processes)
