"""One dataset's metadata, read straight from its files (info.json, meta/episodes, tasks, stats).

lerobot's `LeRobotDatasetMetadata` builds HF `datasets` tables (~40-120 ms a dataset); the same files
read with pyarrow and json take a few milliseconds. `SourceMetadata` holds what the mixture needs,
under lerobot's attribute names. A folder the user named is checked for completeness (lerobot would
download the missing pieces into it) and never written to; a dataset without a named folder that is not
complete on disk is downloaded first, by lerobot, then read the same way.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_multi.compat import LANGUAGE_DTYPE, LEROBOT_VERSION, LINE
from lerobot_multi.meta.formats import DatasetFormat, MetadataParts, episode_files, format_of
from lerobot_multi.meta.locations import Location, fetch_all, location_of
from lerobot_multi.meta.locations.folder import NamedFolder
from lerobot_multi.meta.schema import is_depth
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, IncompleteDatasetError

logger = logging.getLogger(__name__)
DEFAULT_DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"


class SourceMetadata:
    """One dataset's metadata under lerobot's names: `info`, `features`, `fps`, `tasks` (a DataFrame
    indexed by task), `subtasks` (or None), `episodes` (a pyarrow Table of meta/episodes without the
    per-episode `stats/*` columns, one row per episode in order), `stats`, the file-path helpers, and
    its `format` (formats.py) and `location` (where its files are)."""

    def __init__(self, source: DatasetSource, fmt: DatasetFormat, parts: MetadataParts, location: Location):
        self.repo_id, self.revision = source.repo_id, source.revision
        self.location = location  # where its files are (meta/locations/): read from `location.folder`
        self.root = location.folder
        self.commit: str | None = location.commit  # the hub commit read, None off the hub
        self.format = fmt
        self.info, self.episodes, self.stats = parts.info, parts.episodes, parts.stats
        self._episode_stats = parts.episode_stats  # v2.1: from episodes_stats.jsonl; v3.0: read on demand
        self._tables = {"tasks": parts.tasks, "subtasks": parts.subtasks}
        self.task_names, self.task_ids = _names_and_ids(parts.tasks, "task_index")
        self.subtask_names, self.subtask_ids = (
            _names_and_ids(parts.subtasks, "subtask_index") if parts.subtasks is not None else (None, None)
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
        return list(self.format.files_for(self, np.asarray(episodes), []))

    def episode_stats(self) -> pa.Table:
        """meta/episodes' per-episode `stats/<key>/<stat>` columns (row = episode id), read on demand:
        they are most of the file and only episode selections and `meta.episodes` need them."""
        if self._episode_stats is not None:
            return self._episode_stats
        tables = []
        for path in episode_files(self.root):
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
        return Path(self.video_file(ep_index, vid_key))

    def video_file(self, ep_index: int, vid_key: str) -> str:
        """Episode `ep_index`'s video file for camera `vid_key`, relative to the root."""
        chunk = self.episodes.column(f"videos/{vid_key}/chunk_index")[ep_index].as_py()
        file = self.episodes.column(f"videos/{vid_key}/file_index")[ep_index].as_py()
        return self.video_path.format(video_key=vid_key, chunk_index=chunk, file_index=file)


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
    format_of(str(info.get("codebase_version", "")), source.repo_id, info_path)
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
        if ft["dtype"] == LANGUAGE_DTYPE and not LINE.language_columns:
            # 0.4.4 has neither the column type nor lerobot_collate_fn, which leaves these rows out
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: feature {key!r} is a language column ({info_path}), "
                f"which lerobot {LEROBOT_VERSION} does not read: language columns need lerobot 0.6"
            )
        if is_depth(ft) and not LINE.depth_maps:
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: feature {key!r} is a depth map ({info_path}), which lerobot "
                f"{LEROBOT_VERSION} does not read: depth cameras need lerobot 0.6"
            )
    return info


def selected_episodes(source: DatasetSource, meta: SourceMetadata) -> np.ndarray:
    """The source episode ids a mixture uses from this dataset, in storage order (`exclude_episodes` left
    out)."""
    chosen = np.arange(meta.total_episodes) if source.episodes is None else np.asarray(source.episodes)
    if source.exclude_episodes:
        chosen = chosen[~np.isin(chosen, source.exclude_episodes)]
    return chosen


def check_files_present(
    source: DatasetSource, meta: SourceMetadata, cameras: Sequence[str] | None = None
) -> None:
    """The selected episodes' data files and the videos of `cameras` (None: every camera) exist
    (lerobot would fetch missing ones from the hub). Their columns are checked against info.json when a
    frame store opens them."""
    keys = (meta.video_keys if cameras is None else list(cameras)) if meta.video_path else []
    for rel, (ep, key) in meta.format.files_for(meta, selected_episodes(source, meta), keys).items():
        if (source.root / rel).is_file():
            continue
        if key is None:
            raise IncompleteDatasetError(
                f"dataset {source.repo_id!r}: {source.root} is incomplete: data file {rel} is missing"
            )
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: episode {ep}: video file {rel} for {key!r} is missing under {source.root}"
        )


def holds_every_file(meta: SourceMetadata) -> bool:
    """Every data and video file of the dataset (not only the selection's) is in its folder: a folder
    read in place always counts (a missing file is an error later); a fetched one once fully fetched."""
    if not meta.location.fetches:
        return True
    keys = meta.video_keys if meta.video_path else []
    files = meta.format.files_for(meta, np.arange(meta.total_episodes), keys)
    return all((meta.root / rel).is_file() for rel in files)


def stream_files(location: Location, meta: SourceMetadata) -> list[str]:
    """Every data file of a remote dataset, as the URLs a stream reads in place, in the order lerobot's
    stream globs them (`data/*/*.parquet`)."""
    rels = sorted(meta.data_files(np.arange(meta.total_episodes)))
    return [f"{location.stream_root()}/{rel}" for rel in rels]


def check_episode_selection(source: DatasetSource, total_episodes: int) -> None:
    if source.episodes is None:
        return
    bad = [e for e in source.episodes if e < 0 or e >= total_episodes]
    if bad:
        raise DatasetSourceError(
            f"dataset.episodes[{source.repo_id!r}]: episode ids {bad} out of range; "
            f"this dataset has episodes 0..{total_episodes - 1}"
        )


def read_local_metadata(
    source: DatasetSource, check_files: bool = True, location: Location | None = None
) -> SourceMetadata:
    """Read and check a dataset folder that is on disk (`location.folder`; default: `source.root`, read
    in place); an incomplete one is an error naming the piece. `check_files=False`: the metadata only
    (a fetched dataset's data and videos come later)."""
    location = location or NamedFolder(source.repo_id, source.root, source.commit)
    source = dataclasses.replace(source, root=location.folder, commit=location.commit)
    if not source.root.is_dir():
        raise IncompleteDatasetError(f"dataset {source.repo_id!r}: root folder {source.root} does not exist")
    if not (source.root / "meta" / "info.json").is_file():
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r}: {source.root} is not a LeRobot dataset (meta/info.json missing)"
        )
    info = read_info(source)
    check_episode_selection(source, int(info["total_episodes"]))
    fmt = format_of(str(info["codebase_version"]), source.repo_id, source.root / "meta" / "info.json")
    meta = SourceMetadata(source, fmt, fmt.read_parts(source, info), location)
    if check_files:
        check_files_present(source, meta)
    return meta


def load_source_metadata(source: DatasetSource) -> SourceMetadata:
    """One dataset's metadata from its files (module-level: it may run in a spawned process), wherever
    they are (`location_of`): read in place, or its `meta/` fetched first; a remote dataset's data and
    videos are fetched once the mixture knows what it reads (`fetch_read_files`). A recording lerobot
    reads in place that is incomplete is fetched from the hub instead."""
    location = location_of(source)
    if not location.is_remote:
        try:
            return read_local_metadata(source, location=location.open())
        except IncompleteDatasetError:
            fallback = location.when_incomplete()
            if fallback is None:
                raise
            logger.info("dataset %r is not complete under %s: fetching it", source.repo_id, source.root)
            location = fallback
    return read_local_metadata(source, check_files=False, location=location.open())


def fetch_read_files(mixture, every_camera: bool = False) -> None:
    """Fetch what a mixture (`MultiDatasetMetadata`) reads of its remote datasets, all at once: the
    data files of the selected episodes and the videos of the cameras it keeps (`every_camera`: all,
    for lerobot's reader, which opens them all); then check they are there."""
    plans, jobs = [], []
    for i, (source, meta) in enumerate(zip(mixture.sources, mixture.sub_metas)):
        if not meta.location.fetches:
            continue
        kept = (mixture.source_key(i, key) for key in mixture.schema.features)
        cameras = meta.video_keys if every_camera else [k for k in kept if k in meta.video_keys]
        cameras = cameras if meta.video_path else []
        plans.append((source, meta, cameras))
        jobs += meta.location.fetch_jobs(
            list(meta.format.files_for(meta, selected_episodes(source, meta), cameras))
        )
    if jobs:
        fetch_all(jobs, desc=f"downloading {len(plans)} datasets", progress=True)
    for source, meta, cameras in plans:
        check_files_present(source, meta, cameras)
