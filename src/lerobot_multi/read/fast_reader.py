"""Batch assembly: global frame indices -> lerobot's samples, vectorized over the batch.

Per batch: one search finds each frame's episode and dataset; per dataset present, each key is one
numpy gather (delta windows clamped to the episode, `<key>_is_pad` from the same arithmetic as
lerobot's `_get_query_indices`), video frames are decoded file by file (`video.VideoFrames`), renames,
vector padding (`<key>_pad_mask`), filled cameras and the global episode/frame/task numbering are
applied on whole columns by `schema_step.SchemaStep` (the step lerobot's reader and the stream use).
One array per key is made for the batch and split into per-sample views at the end, so
`default_collate` stacks them back into the same batch.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path

import numpy as np
import torch

from lerobot_multi.meta.indexing import locate_frames
from lerobot_multi.meta.source_meta import selected_episodes
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.read.depth import depth_cameras
from lerobot_multi.read.frame_store import FrameStore
from lerobot_multi.read.reader import SampleReader
from lerobot_multi.read.schema_step import SchemaStep
from lerobot_multi.read.video import VideoFrames


class SourceFrames:
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
        self.depth = depth_cameras(sub.features, meta.spec.depth_output_unit)
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
        self.step = SchemaStep(meta, return_uint8=return_uint8)
        self.image_transforms = image_transforms
        self.videos = VideoFrames(video_backend, tolerance_s, return_uint8=return_uint8)
        self.frames = [SourceFrames(meta, i, self.videos) for i in range(len(meta.sources))]
        self.source_episodes = meta.source_episode_ids
        self.lengths = meta.episode_lengths

    def keep_only(self, keys) -> None:
        """Assemble only `keys` (e.g. the non-visual columns), without the constant pad masks."""
        self.step.keep_only(keys)

    def set_windows(
        self,
        per_dataset: Sequence[dict[str, list[int]] | None],
        timestamps: Sequence[Mapping[str, list[float]] | None] | None = None,
    ) -> None:
        """Each dataset's window offsets in its own frames, keyed by the mixture's names (`timestamps`,
        the same windows in seconds, are what lerobot's reader needs)."""
        self.step.set_windows(per_dataset)

    # --- one batch ----------------------------------------------------------------------------------
    def read(self, indices: Sequence[int], int_scalars: bool = False) -> list[dict]:
        """The samples of global frame `indices`. `int_scalars`: scalar fields as Python ints (int64
        ones: the indices, frame_index) and numpy float32 scalars (timestamp), which `default_collate`
        turns into the same batch tensors for a fraction of the cost of a 0-d tensor per sample (~1 us
        each to make, and again to stack)."""
        return self.step.split(self.columns(indices), int_scalars)

    def columns(self, indices: Sequence[int]) -> dict[str, np.ndarray | torch.Tensor]:
        """The batch of global frame `indices` as one array per key (`dataset_index` included)."""
        meta = self.meta
        ep, d, pos, _ = locate_frames(meta.episode_starts, meta.episode_datasets, meta.frame_offsets, indices)
        start = meta.episode_starts[ep] - meta.frame_offsets[d]
        cols: dict[str, np.ndarray | torch.Tensor] = {}
        videos: list[tuple] = []  # video reads, decoded together at the end (file by file)
        n = len(d)
        for i in [int(d[0])] if n and (d == d[0]).all() else np.unique(d).tolist():
            rows = np.flatnonzero(d == i)
            s = start[rows]
            self._read(i, rows, pos[rows], s, s + self.lengths[ep[rows]], ep[rows], cols, n, videos)
        self._decode(videos, cols, n)
        return self.step.finish(cols, d)

    def _read(self, i, rows, pos, start, end, episodes, cols, n, videos: list) -> None:
        src, step = self.frames[i], self.step
        arrays = src.arrays()
        for plan in step.plans[i]:
            if plan.source is None:
                step.put_missing(plan, rows, cols, n)
                continue
            q = pos
            if plan.deltas is not None:  # lerobot's `_get_query_indices`: clamped, padded outside
                wanted = pos[:, None] + plan.deltas[None, :]
                q = np.clip(wanted, start[:, None], end[:, None] - 1)
                step.put_pad(plan, rows, (wanted < start[:, None]) | (wanted >= end[:, None]), cols, n)
            if plan.kind == "data":
                step.put(i, plan, rows, arrays[plan.source][q], cols, n, positions=q)
            elif plan.kind == "image":
                images = src.store.image(plan.source, q)
                depth = src.depth.get(plan.source)
                step.put(i, plan, rows, images if depth is None else depth.convert(images), cols, n)
            else:
                ts = arrays["timestamp"][q if q.ndim == 2 else q[:, None]]
                source_episodes = self.source_episodes[episodes]
                for path, local, windows in src.video_requests(plan.source, source_episodes, ts):
                    videos.append((i, plan, rows[local], source_episodes[local], path, windows))
        step.put_masks(i, rows, cols, n)

    def _decode(self, videos: list[tuple], cols: dict, n: int) -> None:
        results = self.videos.decode_many(
            [(path, windows, self.frames[i].depth.get(plan.source)) for i, plan, *_, path, windows in videos]
        )
        for (i, plan, rows, episodes, path, windows), frames in zip(videos, results):
            if isinstance(frames, Exception):
                raise DatasetSourceError(
                    f"dataset {self.meta.repo_ids[i]!r}: episode(s) {sorted(set(episodes.tolist()))}, "
                    f"{plan.source!r}: reading {path} failed: {type(frames).__name__}: {frames}"
                ) from frames
            frames = frames.reshape(len(rows), len(windows[0]), *frames.shape[1:])
            if plan.deltas is None or frames.shape[1] == 1:
                frames = frames[:, 0]  # lerobot's `frames.squeeze(0)`
            self.step.put(i, plan, rows, frames, cols, n)
