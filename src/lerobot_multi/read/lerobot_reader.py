"""The reference reader (`reader="lerobot"`): every sample through lerobot's `LeRobotDataset.__getitem__`.

Each sub-dataset is lerobot's own `LeRobotDataset` (decoding, delta timestamps and padding are
lerobot's); the mixture's `SchemaStep` maps its samples into the mixture's schema and global
numbering, stacked once per dataset of each batch. Slow (see docs/benchmarks.md), kept as the oracle the
fast path is tested against and as a fallback.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import partial

import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi.compat import lerobot_dataset_options, set_lerobot_deltas, with_features
from lerobot_multi.meta.indexing import locate_frames
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, map_sources
from lerobot_multi.read.frame_store import check_episode_column
from lerobot_multi.read.reader import SampleReader
from lerobot_multi.read.schema_step import SchemaStep


def open_lerobot_dataset(
    source: DatasetSource,
    tolerance_s: float,
    video_backend: str,
    return_uint8: bool = False,
    depth_output_unit: str = "mm",
) -> LeRobotDataset:
    """One dataset opened by lerobot (module-level: it may run in a spawned process). Its metadata was
    read and checked first (`source_meta`), so a named folder is complete and lerobot downloads nothing."""
    try:
        return LeRobotDataset(
            source.repo_id,
            root=source.root,
            episodes=list(source.episodes) if source.episodes is not None else None,
            tolerance_s=tolerance_s,
            revision=source.revision,
            video_backend=video_backend,
            **lerobot_dataset_options(return_uint8, depth_output_unit),
        )
    except Exception as e:  # lerobot raises many types; re-raise with the dataset's name
        raise DatasetSourceError(f"dataset {source.repo_id!r} ({source.root}): cannot open data: {e}") from e


class LerobotReader(SampleReader):
    """Samples of a mixture read one by one by lerobot's `LeRobotDataset`s."""

    def __init__(
        self,
        meta,
        tolerance_s: float,
        video_backend: str,
        max_workers: int | None = None,
        open_processes: int | None = None,
        return_uint8: bool = False,
    ):
        unread = {m.repo_id: m.format.name for m in meta.sub_metas if not m.format.lerobot_reads}
        if unread:
            raise DatasetSourceError(
                f"datasets {list(unread)} are LeRobot {'/'.join(sorted(set(unread.values())))}, which lerobot's "
                "LeRobotDataset does not read: use reader='fast' (the default), which reads them in place"
            )
        self.meta = meta
        self.step = SchemaStep(meta, return_uint8=return_uint8)
        opener = partial(
            open_lerobot_dataset,
            tolerance_s=tolerance_s,
            video_backend=video_backend,
            return_uint8=return_uint8,
            depth_output_unit=meta.spec.depth_output_unit,
        )
        self._datasets: list[LeRobotDataset] = map_sources(opener, meta.sources, max_workers, open_processes)
        for i, ds in enumerate(self._datasets):
            column = ds.hf_dataset.with_format("numpy", columns=["episode_index"])["episode_index"]
            check_episode_column(meta.repo_ids[i], np.asarray(column), *meta.frame_episodes(i))
            self._skip_disabled_videos(i, ds)

    @property
    def datasets(self) -> list[LeRobotDataset]:
        return self._datasets

    def _skip_disabled_videos(self, i: int, ds: LeRobotDataset) -> None:
        """lerobot decodes every video key of its meta, disabled cameras too; give the sub-dataset a
        copy of its metadata without them (in memory only)."""
        rid = self.meta.repo_ids[i]
        disabled = [self.meta.source_key(i, k) for k in self.meta.schema.disabled_by_dataset.get(rid, [])]
        videos = [k for k in disabled if ds.meta.features.get(k, {}).get("dtype") == "video"]
        if videos:
            with_features(ds, {k: v for k, v in ds.meta.features.items() if k not in videos})

    def set_windows(
        self,
        indices: Sequence[Mapping[str, list[int]] | None],
        timestamps: Sequence[Mapping[str, list[float]] | None],
    ) -> None:
        """Per dataset, checked windows in frames and seconds under the mixture's key names."""
        for i, ds in enumerate(self._datasets):
            own_ts = own_idx = None
            if indices[i] is not None:
                names = {k: self.meta.source_key(i, k) for k in indices[i]}
                own_ts = {names[k]: list(v) for k, v in timestamps[i].items() if names[k] in ds.meta.features}
                own_idx = {names[k]: list(v) for k, v in indices[i].items() if names[k] in ds.meta.features}
            set_lerobot_deltas(ds, own_ts or None, own_idx or None)
        self.step.set_windows(indices)

    def read(self, indices: Sequence[int], int_scalars: bool = False) -> list[dict]:
        """The samples of global frame `indices` (scalars stay 0-d tensors: `int_scalars` is the fast
        reader's shortcut, and `default_collate` batches both alike)."""
        meta = self.meta
        _, parts, positions, _ = locate_frames(
            meta.episode_starts, meta.episode_datasets, meta.frame_offsets, indices
        )
        items = [self._read(d, p) for d, p in zip(parts.tolist(), positions.tolist())]
        return self.step.samples_of(parts, items)

    def _read(self, ds: int, local: int) -> dict:
        try:
            return self._datasets[ds][local]
        except Exception as e:  # name the dataset, episode and files: a bare decoder error does not
            raise DatasetSourceError(self._read_error(ds, local, e)) from e

    def _read_error(self, ds: int, local: int, error: Exception) -> str:
        sub = self._datasets[ds]
        episode = int(sub.hf_dataset[local]["episode_index"])
        files = [str(sub.meta.get_data_file_path(episode))]
        files += [str(sub.meta.get_video_file_path(episode, k)) for k in sub.meta.video_keys]
        return (
            f"dataset {self.meta.repo_ids[ds]!r}: reading frame {local} of episode {episode} failed "
            f"(files {files} under {sub.root}): {type(error).__name__}: {error}"
        )
