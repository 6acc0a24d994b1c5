"""A LeRobot v2.1 dataset read in place, as the same `SourceMetadata` a v3.0 dataset gives.

v2.1 (lerobot 0.3.x) keeps one parquet file per episode (`data/chunk-XXX/episode_XXXXXX.parquet`), one
video per episode and camera starting at timestamp 0, and its metadata as JSON lines
(`meta/episodes.jsonl`, `meta/tasks.jsonl`, `meta/episodes_stats.jsonl`). Read here, that becomes a
v3.0-shaped episodes table (episode e lives in "file" e of chunk e // chunks_size, its videos start at
0), v2.1's path templates spelled with v3.0's field names, and stats aggregated from the per-episode
stats exactly as a v3.0 selection's are. Frames and video then go through the same frame stores and
decoder. Nothing is written, converted or cached.
"""

from __future__ import annotations

import copy
import json

import numpy as np
import pyarrow as pa

from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, IncompleteDatasetError

V21 = "v2.1"
# v2.1's path template fields -> v3.0's (episode e is file e of its chunk)
_PATH_FIELDS = {"{episode_chunk": "{chunk_index", "{episode_index": "{file_index"}


def read_jsonl(source: DatasetSource, name: str) -> list[dict]:
    path = source.root / "meta" / name
    if not path.is_file():
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r} (v2.1): {source.root} is incomplete: meta/{name} is missing"
        )
    rows = []
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        try:
            rows.append(json.loads(line))
        except json.JSONDecodeError as e:
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: {path} line {n} is not valid JSON ({e})"
            ) from e
    return rows


def _v30_template(template: str | None) -> str | None:
    if template is None:
        return None
    for old, new in _PATH_FIELDS.items():
        template = template.replace(old, new)
    return template


def _tasks(source: DatasetSource, rows: list[dict]) -> pa.Table:
    ids = [int(r["task_index"]) for r in rows]
    if len(set(ids)) != len(ids):
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: meta/tasks.jsonl lists a task_index twice: {ids}"
        )
    return pa.table({"task": [str(r["task"]) for r in rows], "task_index": pa.array(ids, pa.int64())})


def _episodes(source: DatasetSource, info: dict, rows: list[dict], task_names: set[str]) -> pa.Table:
    """meta/episodes.jsonl as v3.0's episodes table (without stats), checked."""
    total = int(info["total_episodes"])
    ids = [int(r["episode_index"]) for r in rows]
    if len(ids) < total:
        raise IncompleteDatasetError(
            f"dataset {source.repo_id!r} (v2.1): meta/episodes.jsonl lists {len(ids)} episodes but "
            f"meta/info.json says total_episodes={total}"
        )
    if ids != list(range(len(ids))):
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: meta/episodes.jsonl must list episodes 0..{len(ids) - 1} in order "
            f"(found {ids[:10]}...)"
        )
    for r in rows:
        unknown = [t for t in r.get("tasks", []) if t not in task_names]
        if unknown:
            raise DatasetSourceError(
                f"dataset {source.repo_id!r}: episode {r['episode_index']} has tasks {unknown} that "
                "meta/tasks.jsonl does not list"
            )
    lengths = np.asarray([int(r["length"]) for r in rows], dtype=np.int64)
    ends = np.cumsum(lengths)
    episodes = np.arange(len(rows), dtype=np.int64)
    chunks = episodes // int(info.get("chunks_size") or 1000)
    columns = {
        "episode_index": episodes,
        "tasks": pa.array([list(r.get("tasks", [])) for r in rows], pa.list_(pa.string())),
        "length": lengths,
        "dataset_from_index": ends - lengths,
        "dataset_to_index": ends,
        "data/chunk_index": chunks,
        "data/file_index": episodes,
        "meta/episodes/chunk_index": np.zeros(len(rows), dtype=np.int64),
        "meta/episodes/file_index": np.zeros(len(rows), dtype=np.int64),
    }
    for key in (k for k, ft in info["features"].items() if ft["dtype"] == "video"):
        columns[f"videos/{key}/chunk_index"] = chunks
        columns[f"videos/{key}/file_index"] = episodes
        columns[f"videos/{key}/from_timestamp"] = np.zeros(len(rows))
        columns[f"videos/{key}/to_timestamp"] = lengths / float(info["fps"])
    return pa.table(columns)


def _episode_stats(source: DatasetSource, rows: list[dict], total: int, features: dict) -> pa.Table:
    """meta/episodes_stats.jsonl as v3.0's `stats/<key>/<stat>` columns (row = episode id), checked."""
    by_episode = {int(r["episode_index"]): r.get("stats") or {} for r in rows}
    missing = [e for e in range(total) if e not in by_episode]
    if missing:
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: meta/episodes_stats.jsonl has no stats for episodes {missing[:10]}"
        )
    keys = [k for k, ft in features.items() if ft["dtype"] not in ("string",)]
    columns: dict[str, list] = {}
    for e in range(total):
        stats = by_episode[e]
        for key in keys:
            ft_stats = stats.get(key)
            if not ft_stats or any(s not in ft_stats for s in ("min", "max", "mean", "std", "count")):
                raise DatasetSourceError(
                    f"dataset {source.repo_id!r}: meta/episodes_stats.jsonl: episode {e} lacks "
                    f"min/max/mean/std/count for {key!r}"
                )
            for name, value in ft_stats.items():  # nested as v3.0 stores them (images: (3, 1, 1))
                columns.setdefault(f"stats/{key}/{name}", []).append(value)
    return pa.table({name: pa.array(values) for name, values in columns.items()})


def read_v21_parts(source: DatasetSource, info: dict) -> tuple[dict, pa.Table, pa.Table, pa.Table]:
    """(info with v3.0 path templates, tasks, episodes, per-episode stats) of a v2.1 folder."""
    tasks = _tasks(source, read_jsonl(source, "tasks.jsonl"))
    episodes = _episodes(
        source, info, read_jsonl(source, "episodes.jsonl"), set(tasks.column("task").to_pylist())
    )
    stats = _episode_stats(
        source, read_jsonl(source, "episodes_stats.jsonl"), episodes.num_rows, info["features"]
    )
    info = copy.deepcopy(info)
    info["data_path"] = _v30_template(info.get("data_path"))
    info["video_path"] = _v30_template(info.get("video_path"))
    return info, tasks, episodes, stats
