"""One object per LeRobot dataset format (v3.0, v2.1): how its metadata is read, which files hold a
selection, and which of lerobot's readers can read it.

`format_of(info)` picks the object from info.json's `codebase_version`; `SourceMetadata.format` keeps
it, and every consumer asks it instead of branching on a version string. Both formats give the same
`MetadataParts` (a v3.0-shaped episodes table, path templates with v3.0's field names), so frame
stores, decoding and stats run one way for both.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from lerobot_multi import compat
from lerobot_multi.meta.source_v21 import V21, read_v21_parts
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, IncompleteDatasetError

if TYPE_CHECKING:
    from lerobot_multi.meta.source_meta import SourceMetadata


@dataclass
class MetadataParts:
    """A dataset's metadata as read from its files, in v3.0's shapes."""

    info: dict
    tasks: pa.Table
    subtasks: pa.Table | None
    episodes: pa.Table  # meta/episodes without the per-episode `stats/*` columns
    stats: dict | None  # meta/stats.json (None where the format keeps per-episode stats only)
    episode_stats: pa.Table | None = None  # per-episode stats read eagerly (v2.1), else on demand


class DatasetFormat:
    """A dataset format: subclasses say how it is laid out."""

    name: str = ""
    lerobot_reads: bool = True
    """lerobot's `LeRobotDataset` (the "lerobot" reader) opens it."""
    lerobot_streams: bool = True
    """lerobot's `StreamingLeRobotDataset` (the streaming mixture) opens it."""
    episode_stats_only: bool = False
    """Its stats are per episode only: a dataset's stats are aggregated from them."""

    def read_parts(self, source: DatasetSource, info: dict) -> MetadataParts:
        raise NotImplementedError

    def metadata_files(self, root: Path) -> list[Path]:
        """The files its metadata is read from (the manifest fingerprints them), in a fixed order."""
        raise NotImplementedError

    def files_for(
        self, meta: SourceMetadata, episodes: np.ndarray, video_keys: list[str]
    ) -> dict[str, tuple[int, str | None]]:
        """The data and video files (relative to the root) that hold `episodes`: {file: (the first
        episode it holds, its camera key or None for a data file)}, data files first."""
        files: dict[str, tuple[int, str | None]] = {}
        for key, template, prefix in [
            (None, meta.data_path, "data"),
            *((k, meta.video_path, f"videos/{k}") for k in video_keys),
        ]:
            chunks = meta.column(f"{prefix}/chunk_index")[episodes].tolist()
            numbers = meta.column(f"{prefix}/file_index")[episodes].tolist()
            first: dict[tuple[int, int], int] = {}
            for ep, c, f in zip(episodes.tolist(), chunks, numbers):
                first.setdefault((c, f), ep)
            for (c, f), ep in first.items():
                rel = template.format(video_key=key, chunk_index=c, file_index=f)
                files[rel] = (ep, key)
        return files

    def __repr__(self) -> str:
        return f"<LeRobot dataset format {self.name}>"


class V30Format(DatasetFormat):
    """v3.0: parquet metadata (meta/episodes/*, tasks.parquet, stats.json), many episodes a file."""

    name = "v3.0"

    def read_parts(self, source: DatasetSource, info: dict) -> MetadataParts:
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
        stats = (
            compat.cast_stats_to_numpy(json.loads(stats_path.read_text())) if stats_path.is_file() else None
        )
        return MetadataParts(info, tasks, subtasks, episodes, stats)

    def metadata_files(self, root: Path) -> list[Path]:
        return [
            root / "meta/info.json",
            root / "meta/stats.json",
            root / "meta/tasks.parquet",
            *episode_files(root),
        ]


class V21Format(DatasetFormat):
    """v2.1 (lerobot 0.3): JSON-lines metadata, one parquet file and one video per episode; read in
    place as v3.0's shapes (source_v21.py). lerobot 0.4.4 and 0.6 read v3.0 only."""

    name = V21
    lerobot_reads = False
    lerobot_streams = False
    episode_stats_only = True

    def read_parts(self, source: DatasetSource, info: dict) -> MetadataParts:
        info, tasks, episodes, episode_stats = read_v21_parts(source, info)
        return MetadataParts(info, tasks, None, episodes, None, episode_stats)

    def metadata_files(self, root: Path) -> list[Path]:
        names = ("info.json", "stats.json", "episodes.jsonl", "tasks.jsonl", "episodes_stats.jsonl")
        return [root / "meta" / n for n in names]


V30_FORMAT, V21_FORMAT = V30Format(), V21Format()
FORMATS: dict[str, DatasetFormat] = {"v3.0": V30_FORMAT, V21: V21_FORMAT}


def format_of(version: str, repo_id: str, where: Path) -> DatasetFormat:
    """The format of a dataset whose info.json (`where`) says `codebase_version: version`."""
    if version.startswith("v3."):
        return V30_FORMAT
    if version in FORMATS:
        return FORMATS[version]
    raise DatasetSourceError(
        f"dataset {repo_id!r}: codebase_version is {version or 'missing'!r} in {where}; "
        "lerobot-multi reads LeRobot v3.0 and v2.1 datasets (convert older ones to v2.1 with "
        "lerobot 0.3's `lerobot.datasets.v21.convert_dataset_v20_to_v21`, then read them in place or "
        "convert to v3.0 with `convert_dataset_v21_to_v30`)"
    )


def folder_format(root: Path) -> DatasetFormat:
    """The format of the dataset folder `root` (from its info.json)."""
    info_path = Path(root) / "meta" / "info.json"
    info = json.loads(info_path.read_text())
    return format_of(str(info.get("codebase_version", "")), Path(root).name, info_path)


def episode_files(root: Path) -> list[Path]:
    """v3.0's meta/episodes parquet files, in order."""
    return sorted((Path(root) / "meta" / "episodes").glob("*/*.parquet"))


def _read_episodes(source: DatasetSource, info: dict) -> pa.Table:
    """meta/episodes without the `stats/*` columns (read only for episode selections), checked."""
    files = episode_files(source.root)
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
