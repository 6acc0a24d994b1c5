"""Batch assembly: global frame indices -> lerobot's samples, vectorized over the batch.

Per batch: one search finds each frame's episode and dataset; per dataset present, each key is one
numpy gather (delta windows clamped to the episode, `<key>_is_pad` from the same arithmetic as
lerobot's `_get_query_indices`), video frames are decoded file by file (`video.VideoFrames`), renames,
vector padding (`<key>_pad_mask`), filled cameras and the global episode/frame/task numbering are
applied on whole columns. One array per key is made for the batch and split into per-sample views at
the end, so `default_collate` stacks them back into the same batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from lerobot_multi.compat import SUBTASK_STRINGS
from lerobot_multi.meta.source_meta import selected_episodes
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.read.frame_store import FrameStore, sample_dtype
from lerobot_multi.read.reader import SampleReader
from lerobot_multi.read.video import VideoFrames, frame_dtype

_GLOBAL_FIELDS = ("index", "episode_index", "task_index", "subtask_index")


@dataclass(frozen=True)
class KeyPlan:
    """How one mixture key is read from one dataset."""

    key: str  # the mixture's name
    source: str | None  # the dataset's name for it; None: a camera this dataset lacks (zeros)
    kind: str  # "data", "image" or "video"
    deltas: np.ndarray | None  # offsets in the dataset's own frames, or None
    width: int | None = None  # the dataset's size of a padded vector feature


class SourceReader:
    """Dataset `i`'s frames: its lazily opened `FrameStore`, and its videos' files and start times."""

    def __init__(self, meta, i: int, videos: VideoFrames):
        sub, source = meta.sub_metas[i], meta.sources[i]
        self.repo_id, self.root, self.sub = source.repo_id, source.root, sub
        selected = selected_episodes(source, sub)
        source_ids, lengths = meta.frame_episodes(i)
        wanted = {meta.source_key(i, k) for k in meta.features} | {"timestamp", "episode_index"}
        columns = {k: ft for k, ft in sub.features.items() if k in wanted and ft["dtype"] != "video"}
        self.store = FrameStore(
            self.repo_id,
            self.root,
            sub.data_files(selected),
            columns,
            None if source.episodes is None else selected,
            source_ids,
            lengths,
            declared=[k for k, ft in sub.features.items() if ft["dtype"] != "video"],
            file_of=sub.get_data_file_path,
        )
        self.videos = videos
        self._from_ts: dict[str, np.ndarray] = {}
        self._paths: dict[tuple[str, int], Path] = {}

    def arrays(self) -> dict[str, np.ndarray]:
        return self.store.open().arrays

    def from_timestamps(self, key: str) -> np.ndarray:
        if key not in self._from_ts:
            self._from_ts[key] = self.sub.column(f"videos/{key}/from_timestamp").astype(np.float64)
        return self._from_ts[key]

    def video_file(self, key: str, episode: int) -> Path:
        path = self._paths.get((key, episode))
        if path is None:
            path = self._paths[(key, episode)] = self.root / self.sub.get_video_file_path(episode, key)
        return path

    def video_requests(self, key: str, episodes: np.ndarray, timestamps: np.ndarray) -> list[tuple]:
        """What `key` needs at `timestamps` (rows x window, seconds in each episode): per file, its rows
        and their query windows, shifted by the episode's `from_timestamp` as lerobot does."""
        shifted = self.from_timestamps(key)[episodes][:, None] + timestamps.astype(np.float64)
        files = [self.video_file(key, int(e)) for e in episodes]
        requests = []
        for path in dict.fromkeys(files):
            rows = np.array([r for r, f in enumerate(files) if f == path])
            requests.append((path, rows, [shifted[r] for r in rows]))
        return requests


class BatchAssembler(SampleReader):
    """Samples of a mixture (`MultiDatasetMetadata`) for global frame indices, lerobot's keys and values."""

    def __init__(
        self,
        meta,
        tolerance_s: float,
        video_backend: str,
        image_transforms: Callable | None = None,
        return_uint8: bool = False,
    ):
        self.meta = meta
        self.image_transforms = image_transforms
        self.videos = VideoFrames(video_backend, tolerance_s, uint8=return_uint8)
        self.readers = [SourceReader(meta, i, self.videos) for i in range(len(meta.sources))]
        self.task_names = list(meta.tasks.index)
        self.subtask_names = None if meta.subtasks is None else list(meta.subtasks.index)
        self.source_episodes = meta.source_episode_ids
        self.lengths = meta.episode_lengths
        self.set_windows([None] * len(meta.sources))

    def keep_only(self, keys) -> None:
        """Assemble only `keys` (e.g. the non-visual columns), without the constant pad masks."""
        self.plans = [[p for p in plans if p.key in keys] for plans in self.plans]
        self.masks = [{} for _ in self.masks]

    def set_windows(
        self,
        per_dataset: Sequence[dict[str, list[int]] | None],
        timestamps: Sequence[Mapping[str, list[float]] | None] | None = None,
    ) -> None:
        """Each dataset's window offsets in its own frames, keyed by the mixture's names (`timestamps`,
        the same windows in seconds, are what lerobot's reader needs)."""
        meta, schema, cond = self.meta, self.meta.schema, self.meta.conditioning
        self.plans: list[list[KeyPlan]] = []
        self.masks: list[dict[str, np.ndarray]] = []
        for i, deltas in enumerate(per_dataset):
            rid, own = meta.repo_ids[i], meta.sub_metas[i].features
            plans, masks = [], {}
            for key, ft in meta.features.items():
                source = meta.source_key(i, key)
                window = None if deltas is None or key not in deltas else np.asarray(deltas[key], np.int64)
                kind = ft["dtype"] if ft["dtype"] in ("video", "image") else "data"
                if kind != "data" and source in own:
                    kind = own[source]["dtype"]  # a camera may be video here and images elsewhere
                width = None
                if cond is not None and key == cond.key:  # read into the first base_width dims
                    width = cond.base_width
                if key in schema.padded:
                    width = schema.padded[key][rid]
                    full = cond.base_width if cond is not None and key == cond.key else ft["shape"][0]
                    masks[f"{key}_pad_mask"] = np.arange(full) >= width
                    if cond is not None and key == cond.key:
                        masks[f"{key}_pad_mask"] = cond.extend_mask(masks[f"{key}_pad_mask"])
                if key in schema.filled:
                    masks[f"{key}_pad_mask"] = np.array(rid in schema.filled[key])
                plans.append(KeyPlan(key, source if source in own else None, kind, window, width))
            self.plans.append(plans)
            self.masks.append(masks)

    # --- one batch ----------------------------------------------------------------------------------
    def read(self, indices: Sequence[int], int_scalars: bool = False) -> list[dict]:
        """The samples of global frame `indices`. `int_scalars`: scalar fields as Python ints (int64
        ones: the indices, frame_index) and numpy float32 scalars (timestamp), which `default_collate`
        turns into the same batch tensors for a fraction of the cost of a 0-d tensor per sample (~1 us
        each to make, and again to stack)."""
        return self._split(self.columns(indices), int_scalars)

    def columns(self, indices: Sequence[int]) -> dict[str, np.ndarray | torch.Tensor]:
        """The batch of global frame `indices` as one array per key (`dataset_index` included)."""
        meta = self.meta
        total = int(meta.frame_offsets[-1])
        raw = np.asarray(indices, dtype=np.int64).reshape(-1)
        g = np.where(raw < 0, raw + total, raw)
        bad = (g < 0) | (g >= total)
        if bad.any():
            raise IndexError(f"index {int(raw[bad][0])} out of range for {total} items")
        ep = np.searchsorted(meta.episode_starts, g, side="right") - 1
        d = meta.episode_datasets[ep]
        base = meta.frame_offsets[d]
        start = meta.episode_starts[ep] - base
        cols: dict[str, np.ndarray | torch.Tensor] = {}
        videos: list[tuple] = []  # video reads, decoded together at the end (file by file)
        n = len(g)
        for i in [int(d[0])] if (d == d[0]).all() else np.unique(d).tolist():
            rows = np.flatnonzero(d == i)
            s = start[rows]
            self._read(
                i, rows, g[rows] - base[rows], s, s + self.lengths[ep[rows]], ep[rows], cols, n, videos
            )
        self._decode(videos, cols, n)
        cols["dataset_index"] = d
        cond = meta.conditioning
        if cond is not None:  # the one-hot in the dimensions after base_width (every window step)
            hot = cond.one_hot(cond.group_ids(d, cols["task_index"]))
            values = cols[cond.key]
            values[..., cond.base_width :] = hot.reshape(n, *([1] * (values.ndim - 2)), -1)
        return cols

    def _read(self, i, rows, pos, start, end, episodes, cols, n, videos: list) -> None:
        reader, meta = self.readers[i], self.meta
        arrays = reader.arrays()
        for plan in self.plans[i]:
            q = pos
            if plan.deltas is not None:
                wanted = pos[:, None] + plan.deltas[None, :]
                q = np.clip(wanted, start[:, None], end[:, None] - 1)
                pad = (wanted < start[:, None]) | (wanted >= end[:, None]) | (plan.source is None)
                _put(cols, f"{plan.key}_is_pad", rows, pad, n)
            if plan.source is None:  # a camera this dataset lacks: zeros, lerobot's (C, H, W) layout
                h, w, c = meta.features[plan.key]["shape"]
                dtype = frame_dtype(self.videos.uint8 and plan.key in meta.video_keys)
                _put(cols, plan.key, rows, torch.zeros((len(rows), *q.shape[1:], c, h, w), dtype=dtype), n)
            elif plan.kind == "data":
                values = arrays[plan.source][q]
                if plan.key in _GLOBAL_FIELDS:
                    values = self._renumber(i, plan.key, values, q)
                _put(cols, plan.key, rows, values, n, plan.width, meta.features[plan.key])
            elif plan.kind == "image":
                _put(cols, plan.key, rows, reader.store.image(plan.source, q), n)
            else:
                ts = arrays["timestamp"][q if q.ndim == 2 else q[:, None]]
                source_episodes = self.source_episodes[episodes]
                for path, local, windows in reader.video_requests(plan.source, source_episodes, ts):
                    videos.append((i, plan, rows[local], source_episodes[local], path, windows))
        for key, mask in self.masks[i].items():
            _put(cols, key, rows, np.repeat(mask[None], len(rows), axis=0), n)  # a copy: samples own it

    def _decode(self, videos: list[tuple], cols: dict, n: int) -> None:
        results = self.videos.decode_many([(path, windows) for *_, path, windows in videos])
        for (i, plan, rows, episodes, path, windows), frames in zip(videos, results):
            if isinstance(frames, Exception):
                raise DatasetSourceError(
                    f"dataset {self.meta.repo_ids[i]!r}: episode(s) {sorted(set(episodes.tolist()))}, "
                    f"{plan.source!r}: reading {path} failed: {type(frames).__name__}: {frames}"
                ) from frames
            frames = frames.reshape(len(rows), len(windows[0]), *frames.shape[1:])
            if plan.deltas is None or frames.shape[1] == 1:
                frames = frames[:, 0]  # lerobot's `frames.squeeze(0)`
            _put(cols, plan.key, rows, frames, n)

    def _renumber(self, i: int, key: str, values: np.ndarray, positions: np.ndarray) -> np.ndarray:
        meta = self.meta
        if key == "index":  # a selected frame's position in the concatenation
            return positions + meta.frame_offsets[i]
        maps = {
            "episode_index": meta.episode_maps,
            "task_index": meta.task_maps,
            "subtask_index": meta.subtask_maps,
        }
        return maps[key][i][values]

    def _split(self, cols: dict, int_scalars: bool) -> list[dict]:
        columns = {}
        for key, value in cols.items():
            if isinstance(value, np.ndarray) and (
                value.dtype == object or (int_scalars and value.ndim == 1 and value.dtype == np.int64)
            ):
                columns[key] = value.tolist()
            elif (
                int_scalars
                and isinstance(value, np.ndarray)
                and value.ndim == 1
                and value.dtype == np.float32
            ):
                columns[key] = list(value)  # numpy float32 scalars: default_collate keeps float32
            else:
                tensor = torch.from_numpy(value) if isinstance(value, np.ndarray) else value
                columns[key] = tensor.unbind(0)
        columns["task"] = [self.task_names[t] for t in cols["task_index"].tolist()]
        if self.subtask_names is not None and SUBTASK_STRINGS:  # as the installed lerobot does
            columns["subtask"] = [self.subtask_names[t] for t in cols["subtask_index"].tolist()]
        samples = [dict(zip(columns, values)) for values in zip(*columns.values())]
        if self.image_transforms is not None:  # per sample and camera, lerobot's order (same RNG draws)
            cameras = self.meta.camera_keys
            for sample in samples:
                for cam in cameras:
                    sample[cam] = self.image_transforms(sample[cam])
        return samples


def _put(cols: dict, key: str, rows: np.ndarray, values, n: int, width: int | None = None, ft=None) -> None:
    """Write one dataset's rows of a batch column, allocating it (zeros) on first write."""
    out = cols.get(key)
    if out is None and width is None and len(rows) == n:  # the whole batch from one dataset: no copy
        cols[key] = values if isinstance(values, torch.Tensor) else np.ascontiguousarray(values)
        return
    if out is None:
        if isinstance(values, torch.Tensor):
            out = torch.zeros((n, *values.shape[1:]), dtype=values.dtype)
        else:
            shape = values.shape[1:]
            if width is not None:  # padded to the mixture's size on the last axis
                shape = (*shape[:-1], ft["shape"][0])
            dtype = values.dtype if ft is None else sample_dtype(ft["dtype"]) or np.dtype(object)
            out = np.zeros((n, *shape), dtype=dtype)
        cols[key] = out
    if isinstance(out, torch.Tensor):
        rows = torch.from_numpy(rows)
        if not isinstance(values, torch.Tensor):
            values = torch.from_numpy(np.ascontiguousarray(values))
    elif isinstance(values, torch.Tensor):
        values = values.numpy()
    if width is not None:
        out[rows, ..., :width] = values
    else:
        out[rows] = values
