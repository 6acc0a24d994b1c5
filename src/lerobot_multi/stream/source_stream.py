"""One dataset's stream: the installed lerobot's StreamingLeRobotDataset with the fixes a mixture needs.

It keeps lerobot's metadata and parquet loading, shard interleaving, shuffle and look-back/look-ahead
buffers, and replaces `make_frame` / `_make_backtrackable_dataset` (private: tests/test_lerobot_private.py
checks lerobot still calls it), see docs/streaming.md for what lerobot's own stream gets wrong for a
mixture: unapplied episode selection, video timestamps, window clamping, ...
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Sequence

import datasets
import numpy as np
import torch
from lerobot.datasets import streaming_dataset
from lerobot.datasets.streaming_dataset import StreamingLeRobotDataset

from lerobot_multi.compat import LANGUAGE_DTYPE, Backtrackable, ShardExhausted
from lerobot_multi.meta.locations import Location
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError
from lerobot_multi.read.depth import depth_cameras
from lerobot_multi.read.frame_store import decode_image
from lerobot_multi.read.video import decode_with_lerobot

_ROW_BATCH = 256  # rows converted from Arrow at once: per-row conversion would dominate reading


class _StreamFiles(threading.local):
    files: Sequence[str] | None = None  # the parquet URLs a remote dataset's stream reads, while it opens


_DATA_FILES = _StreamFiles()
_LOAD_DATASET = streaming_dataset.load_dataset


def _load_stream_rows(*args, **kwargs):
    """lerobot's stream globs `data/*/*.parquet` under its root; a remote dataset's stream reads its
    files' URLs instead (in place, by byte ranges), the rest as lerobot asked."""
    files = _DATA_FILES.files
    if files is None:
        return _LOAD_DATASET(*args, **kwargs)
    return _LOAD_DATASET(
        "parquet", data_files=list(files), split="train", streaming=kwargs.get("streaming", True)
    )


streaming_dataset.load_dataset = _load_stream_rows


def _open_stream(stream: StreamingLeRobotDataset, files: Sequence[str] | None, **kwargs) -> None:
    _DATA_FILES.files = files
    try:
        StreamingLeRobotDataset.__init__(stream, **kwargs)
    finally:
        _DATA_FILES.files = None


def _image(value: dict) -> torch.Tensor:
    """An undecoded image cell, as LeRobotDataset returns it (`frame_store.decode_image`)."""
    return decode_image(value)


def _python(value):
    """A cell of the numpy-formatted stream (nested object arrays, numpy scalars) as plain Python."""
    if isinstance(value, np.ndarray):
        return [_python(v) for v in value.tolist()] if value.dtype == object else value.tolist()
    if isinstance(value, dict):
        return {k: _python(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_python(v) for v in value]
    return value.item() if isinstance(value, np.generic) else value


class SourceStream(StreamingLeRobotDataset):
    """One dataset's stream: lerobot's shard interleaving and shuffle buffer, over lazy rows.

    lerobot's `make_frame` converts and decodes every row as it enters the buffer; here it yields
    `(row, neighbours)` and `materialize` does that work only for the samples this process keeps.
    Rows come from `IterableDataset.iter`, which, unlike `__iter__`, does not split shards across
    DataLoader workers by itself (the mixture splits samples instead).
    """

    def __init__(
        self,
        source: DatasetSource,
        tolerance_s: float,
        buffer_size: int,
        video_backend: str,
        return_uint8: bool = False,
        depth_output_unit: str = "mm",
        remote: Location | None = None,
        data_files: Sequence[str] | None = None,
    ):
        """`remote`: where the dataset's files are read in place when `source.root` holds only its
        metadata (a hub repo at the commit it was read at, a store), `data_files` their parquet URLs in
        lerobot's glob order (`data/*/*.parquet`)."""
        self.return_uint8 = return_uint8
        if remote is not None:
            remote.prepare_stream(data_files or [])
        _open_stream(
            self,
            data_files,
            repo_id=source.repo_id,
            root=source.root,
            tolerance_s=tolerance_s,
            revision=source.revision,
            buffer_size=buffer_size,
        )
        self.remote_root = None if remote is None else remote.stream_root()
        self.depth = depth_cameras(self.meta.features, depth_output_unit)
        # lerobot's stream stores `episodes` but does not filter rows by it: `_rows` does
        self.selected = None if source.episodes is None else np.asarray(source.episodes)
        episodes = self.meta.episodes
        self.lengths = np.asarray(episodes["length"], dtype=np.int64)
        self.starts = np.asarray(episodes["dataset_from_index"], dtype=np.int64)
        self.from_ts = {k: np.asarray(episodes[f"videos/{k}/from_timestamp"]) for k in self.meta.video_keys}
        # image columns stay PNG bytes until a sample is kept (HF would decode every row it reads)
        self.images = [k for k in self.meta.image_keys if k in (self.hf_dataset.features or {})]
        for key in self.images:
            self.hf_dataset = self.hf_dataset.cast_column(key, datasets.Image(decode=False))
        self.cameras = self.meta.camera_keys  # the ones to return; the mixture narrows this
        # language rows and strings: Python objects, as LeRobotDataset returns them
        self.objects = {
            k for k, ft in self.meta.features.items() if ft["dtype"] in (LANGUAGE_DTYPE, "string")
        }
        self.video_backend = video_backend
        self.set_delta_indices(None)

    def set_delta_indices(self, delta_indices: dict[str, list[int]] | None) -> None:
        self.delta_indices = delta_indices
        self.offsets = sorted({d for v in (delta_indices or {}).values() for d in v} - {0})

    # --- lerobot hooks ------------------------------------------------------------------------------
    def _make_backtrackable_dataset(self, dataset) -> Backtrackable:
        # windows sized to the requested offsets (lerobot's are fixed at 100 frames)
        back, ahead = -min([0, *self.offsets]), max([1, *self.offsets])
        return Backtrackable(self._rows(dataset), history=back + 1, lookahead=ahead)

    def _rows(self, dataset) -> Iterator[dict]:
        for batch in dataset.with_format("numpy").iter(batch_size=_ROW_BATCH):
            keep = np.arange(len(batch["index"]))
            if self.selected is not None:
                keep = keep[np.isin(batch["episode_index"], self.selected)]
            for i in keep.tolist():
                yield {k: v[i] for k, v in batch.items()}

    def make_frame(self, rows: Backtrackable) -> Iterator[tuple[dict, dict]]:
        try:
            row = next(rows)
        except StopIteration as e:  # the shard's end, as the installed lerobot's stream expects it
            raise ShardExhausted from e
        near = {}
        if self.offsets:
            # the frames the window needs, clamped to the episode like LeRobotDataset; rows of one
            # episode are contiguous inside a shard, so they are in the Backtrackable's reach
            fi, n = int(row["frame_index"]), int(self.lengths[row["episode_index"]])
            for c in {min(max(d, -fi), n - 1 - fi) for d in self.offsets} - {0}:
                near[c] = rows.peek_back(-c) if c < 0 else rows.peek_ahead(c)
                if near[c]["episode_index"] != row["episode_index"]:
                    raise DatasetSourceError(f"dataset {self.repo_id!r}: episode rows are not contiguous")
        yield row, near

    # --- one sample ---------------------------------------------------------------------------------
    def materialize(self, row: dict, near: dict) -> dict:
        # numpy values as they come: the mixture's schema step stacks them into batch tensors
        item = {k: _python(v) if k in self.objects else v for k, v in row.items() if k not in self.images}
        ep, fi = int(row["episode_index"]), int(row["frame_index"])
        n, windows = int(self.lengths[ep]), {}
        for key, deltas in (self.delta_indices or {}).items():
            clamped = [min(max(d, -fi), n - 1 - fi) for d in deltas]
            windows[key] = [near[c] if c else row for c in clamped]
            item[f"{key}_is_pad"] = torch.BoolTensor([c != d for c, d in zip(clamped, deltas)])
            if key not in self.cameras:
                item[key] = torch.from_numpy(np.stack([r[key] for r in windows[key]]))
        root = self.root if self.remote_root is None else self.remote_root
        for key in self.cameras:
            window = windows.get(key)
            depth = self.depth.get(key)
            if key in self.images:  # stacked when windowed, as LeRobotDataset returns them
                item[key] = (
                    _image(row[key]) if window is None else torch.stack([_image(r[key]) for r in window])
                )
                item[key] = item[key] if depth is None else depth.convert(item[key])
                continue
            # from_timestamp + timestamp, as LeRobotDataset (lerobot's stream uses index / fps, which
            # is wrong once a dataset's videos span several files)
            ts = [float(self.from_ts[key][ep]) + float(r["timestamp"]) for r in window or [row]]
            path = f"{root}/{self.meta.get_video_file_path(ep, key)}"
            if depth is not None:
                frames = depth.decode(path, ts, self.tolerance_s)
            else:
                frames = decode_with_lerobot(
                    path, ts, self.tolerance_s, self.video_backend, self.return_uint8
                )
            item[key] = frames.squeeze(0)
        item["task"] = self.meta.tasks.iloc[int(row["task_index"])].name
        return item
