"""MultiLeRobotDataset: several LeRobot v3.0 datasets read as one, without copying them.

Each sub-dataset is lerobot's own `LeRobotDataset` (decoding, delta timestamps, padding stay lerobot's).
This class maps a global frame index to (dataset, local position) by binary search over cumulative
frame offsets, then rewrites the sample's indices into the mixture's global numbering.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping, Sequence
from functools import partial

import numpy as np
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.utils import check_delta_timestamps, get_delta_indices

from lerobot_multi.adapt import SampleAdapter
from lerobot_multi.indexing import episode_of, locate_frames
from lerobot_multi.metadata import MultiDatasetMetadata
from lerobot_multi.sampling import mixture_shares, normalize_weights
from lerobot_multi.schema import check_same_lengths, select_delta_timestamps
from lerobot_multi.sources import (
    DatasetSource,
    DatasetSourceError,
    EpisodesSpec,
    RootSpec,
    check_after_open,
    check_before_open,
    make_sources,
    map_sources,
)
from lerobot_multi.video import resolve_video_backend

logger = logging.getLogger(__name__)


def open_source(source: DatasetSource, tolerance_s: float, video_backend: str) -> LeRobotDataset:
    """One dataset, opened by lerobot's LeRobotDataset between our cheap checks (module-level: it may
    run in a spawned process)."""
    info = check_before_open(source)
    try:
        ds = LeRobotDataset(
            source.repo_id,
            root=source.root,
            episodes=list(source.episodes) if source.episodes is not None else None,
            tolerance_s=tolerance_s,
            revision=source.revision,
            video_backend=video_backend,
        )
    except Exception as e:  # lerobot raises many types; re-raise with the dataset's name
        raise DatasetSourceError(f"dataset {source.repo_id!r} ({source.root}): cannot open data: {e}") from e
    check_after_open(source, info, ds.meta.total_episodes)
    return ds


# `ds[i]` reuses one 0-d tensor per episode up to this many episodes (~70 MB); above, it builds one
CACHED_EPISODE_TENSORS = 100_000


def _scalar(value: int) -> torch.Tensor:
    # through numpy: torch.tensor(int) costs ~3 us, a few % of a small state-only read
    return torch.from_numpy(np.array(value, dtype=np.int64))


class MultiLeRobotDataset(torch.utils.data.Dataset):
    """Concatenation of LeRobot datasets with global episode/frame/task indices and `dataset_index`.

    Args:
        repo_ids: dataset ids, numbered in this order (`repo_id_to_index`).
        root: None (each under `HF_LEROBOT_HOME/<repo_id>`, downloaded by lerobot if absent), a folder
            holding `<repo_id>/` sub-folders, or a mapping `{repo_id: dataset_folder}`.
        episodes: `{repo_id: [episode ids] | None}` (a plain list only for a single dataset).
        delta_timestamps: `{key: [seconds]}` applied to every dataset (see `set_delta_timestamps` for
            per-dataset overrides and `set_delta_indices` for offsets in frames).
        image_transforms: applied to each camera frame of the common camera keys.
        mixed_fps: allow datasets of different frame rates (`meta.fps` is then the first dataset's).
        rename_map: `{repo_id: {old_key: new_key}}`, applied before the common-feature filter.
        pad_vectors: keep 1-D float features of different sizes, zero-padded to the largest, with a
            `<key>_pad_mask` (True = padded dimension) in every sample.
        fill_missing_cameras: keep cameras some datasets lack; theirs are zeros, `<key>_pad_mask` True.
        weights / temperature: each dataset's share of the samples drawn (`sampling_shares`), used by
            `WeightedMixtureSampler`; by default shares are proportional to frames (concatenation).
        max_workers: threads that open datasets (they overlap file and hub I/O); None: one per core.
        open_processes: spawned processes that open datasets instead (they overlap the Python work
            too); None: one per core from 200 datasets up (`parallel.auto_processes`); 0 or 1: threads.
            A script using them needs an `if __name__ == "__main__":` guard, as for DataLoader workers.

    Samples carry lerobot's keys for the features common to all datasets, with `episode_index`,
    `index` and `task_index` global, the `task` string, and `dataset_index`.
    """

    def __init__(
        self,
        repo_ids: str | Sequence[str],
        root: RootSpec = None,
        episodes: EpisodesSpec = None,
        delta_timestamps: Mapping[str, Sequence[float]] | None = None,
        image_transforms: Callable | None = None,
        tolerance_s: float = 1e-4,
        revision: str | None = None,
        video_backend: str | None = None,
        weights: Sequence[float] | Mapping[str, float] | None = None,
        temperature: float | None = None,
        mixed_fps: bool = False,
        rename_map: Mapping[str, Mapping[str, str]] | None = None,
        pad_vectors: bool = False,
        fill_missing_cameras: bool = False,
        max_workers: int | None = None,
        open_processes: int | None = None,
    ):
        super().__init__()
        self.sources: list[DatasetSource] = make_sources(repo_ids, root, episodes, revision)
        self.tolerance_s = tolerance_s
        self.video_backend = resolve_video_backend(video_backend)
        opener = partial(open_source, tolerance_s=tolerance_s, video_backend=self.video_backend)
        self._datasets = map_sources(opener, self.sources, max_workers, open_processes)
        # lerobot's LeRobotDataset loads each dataset's metadata itself: merge those, not a second copy
        self.meta = MultiDatasetMetadata(
            self.sources,
            [ds.meta for ds in self._datasets],
            mixed_fps=mixed_fps,
            rename_map=rename_map,
            pad_vectors=pad_vectors,
            fill_missing_cameras=fill_missing_cameras,
        )
        for i, ds in enumerate(self._datasets):
            column = ds.hf_dataset.with_format("numpy", columns=["episode_index"])["episode_index"]
            self.meta.check_loaded_episodes(i, np.asarray(column))
            self._skip_disabled_videos(i, ds)
        frames = [self.meta.num_frames_of(i) for i in range(len(self.sources))]
        self.sampling_shares = mixture_shares(frames, normalize_weights(weights, self.repo_ids), temperature)
        self.delta_timestamps: dict[str, list[float]] | None = None
        self.delta_timestamps_by_dataset: dict[str, dict[str, list[float]] | None] = {}
        self.image_transforms = image_transforms
        self._init_lookups()
        self.set_delta_timestamps(delta_timestamps)

    def set_delta_timestamps(
        self,
        delta_timestamps: Mapping[str, Sequence[float]] | None,
        per_dataset: Mapping[str, Mapping[str, Sequence[float]]] | None = None,
    ) -> None:
        """(Re)configure temporal context on every sub-dataset, as LeRobotDataset's constructor does.

        `delta_timestamps` (seconds) applies to every dataset; `per_dataset` ({repo_id: {key: seconds}})
        overrides it for the datasets it names. Lets `make_dataset` resolve the policy's delta indices
        against the merged metadata first.
        """
        unknown = [r for r in (per_dataset or {}) if r not in self.repo_id_to_index]
        if unknown:
            raise DatasetSourceError(
                f"per-dataset delta_timestamps name {unknown}, not in repo_id {self.repo_ids}"
            )
        resolved = {
            rid: select_delta_timestamps(
                (per_dataset or {}).get(rid, delta_timestamps), self.meta.features, rid
            )
            for rid in self.repo_ids
        }
        check_same_lengths(resolved)
        self.delta_timestamps = select_delta_timestamps(
            delta_timestamps, self.meta.features, self.repo_ids[0]
        )
        self.delta_timestamps_by_dataset = resolved
        for i, (rid, ds) in enumerate(zip(self.repo_ids, self._datasets)):
            # the sub-dataset knows its own key names: undo renames, skip cameras it lacks
            own = None
            if resolved[rid] is not None:
                own = {self.meta.source_key(i, k): v for k, v in resolved[rid].items()}
                own = {k: v for k, v in own.items() if k in ds.meta.features} or None
            ds.delta_timestamps, ds.delta_indices = own, None
            if own is not None:
                try:
                    check_delta_timestamps(own, ds.fps, ds.tolerance_s)
                except ValueError as e:
                    raise DatasetSourceError(f"dataset {rid!r} ({ds.fps} fps): delta_timestamps: {e}") from e
                ds.delta_indices = get_delta_indices(own, ds.fps)
        adapters = [SampleAdapter.for_dataset(self.meta, i, resolved[r]) for i, r in enumerate(self.repo_ids)]
        self._adapters = [None if a.is_identity else a for a in adapters]

    def set_delta_indices(self, delta_indices: Mapping[str, Sequence[int]] | None) -> None:
        """Temporal context in frames: each dataset converts them to seconds with its own fps."""
        if delta_indices is None:
            return self.set_delta_timestamps(None)
        per_dataset = {
            rid: {k: [i / fps for i in idx] for k, idx in delta_indices.items()}
            for rid, fps in zip(self.repo_ids, self.meta.fps_by_dataset)
        }
        return self.set_delta_timestamps(None, per_dataset)

    # --- construction -------------------------------------------------------------------------------
    def _skip_disabled_videos(self, i: int, ds: LeRobotDataset) -> None:
        """lerobot decodes every video key of its meta, disabled cameras too; give the sub-dataset a
        copy of its metadata without them (in memory only: disk and `meta.sub_metas` are untouched)."""
        disabled = [
            self.meta.source_key(i, k) for k in self.meta.schema.disabled_by_dataset.get(self.repo_ids[i], [])
        ]
        videos = [k for k in disabled if ds.meta.features.get(k, {}).get("dtype") == "video"]
        if videos:
            ds.meta = copy.copy(ds.meta)
            ds.meta.info = {
                **ds.meta.info,
                "features": {k: v for k, v in ds.meta.features.items() if k not in videos},
            }

    # --- the guide's attributes ---------------------------------------------------------------------
    @property
    def repo_ids(self) -> list[str]:
        return self.meta.repo_ids

    @property
    def repo_id_to_index(self) -> dict[str, int]:
        return self.meta.repo_id_to_index

    @property
    def disabled_features(self) -> set[str]:
        return self.meta.disabled_features

    @property
    def datasets(self) -> tuple[LeRobotDataset, ...]:
        return tuple(self._datasets)

    @property
    def num_frames(self) -> int:
        return self.meta.total_frames

    @property
    def num_episodes(self) -> int:
        return self.meta.total_episodes

    @property
    def episodes(self) -> None:
        """Global episode ids in use, lerobot-style: None, since `meta.episodes` holds only the selection.

        The per-dataset selection in source ids is `selected_episodes`.
        """
        return None

    @property
    def selected_episodes(self) -> dict[str, list[int] | None]:
        return {s.repo_id: list(s.episodes) if s.episodes is not None else None for s in self.sources}

    @property
    def fps(self) -> int:
        return self.meta.fps

    @property
    def features(self) -> dict[str, dict]:
        return self.meta.features

    @property
    def camera_keys(self) -> list[str]:
        return self.meta.camera_keys

    @property
    def stats(self):
        return self.meta.stats

    def __len__(self) -> int:
        return self.num_frames

    def _init_lookups(self) -> None:
        """Per-sample bookkeeping, precomputed: O(episodes + tasks) lists and 0-d tensors."""
        meta = self.meta
        # lists for `ds[i]`: bisect and indexing on lists beat numpy for one index
        self._offsets_list = meta.frame_offsets.tolist()
        self._episode_starts_list = meta.episode_starts.tolist()
        self._episode_datasets_list = meta.episode_datasets.tolist()
        self._task_ids = [m.tolist() for m in meta.task_maps]  # per dataset: source task id -> global
        # a dataset with a single task needs no per-frame task lookup
        self._only_task = [ids[0] if len(ids) == 1 else None for ids in self._task_ids]
        # reused 0-d tensors for `ds[i]` (~700 bytes each: episodes only up to a bound)
        self._dataset_tensors = [torch.tensor(i) for i in range(len(self._datasets))]
        self._task_tensors = [torch.tensor(g) for g in range(len(meta.tasks))]
        self._episode_tensors = (
            [torch.tensor(g) for g in range(meta.total_episodes)]
            if meta.total_episodes <= CACHED_EPISODE_TENSORS
            else None
        )

    def __getitem__(self, idx: int) -> dict:
        idx = int(idx)
        total = self._offsets_list[-1]
        if not -total <= idx < total:
            raise IndexError(f"index {idx} out of range for {total} items")
        if idx < 0:
            idx += total
        episode = episode_of(self._episode_starts_list, idx)
        ds = self._episode_datasets_list[episode]
        local = idx - self._offsets_list[ds]
        item = self._read(ds, local)
        task = self._only_task[ds]
        if task is None:
            task = self._task_ids[ds][item["task_index"].item()]
        cached = self._episode_tensors
        item["episode_index"] = cached[episode] if cached is not None else _scalar(episode)
        item["task_index"] = self._task_tensors[task]
        item["index"] = _scalar(idx)
        item["dataset_index"] = self._dataset_tensors[ds]
        return item

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """The samples of `indices`, as torch's DataLoader fetches a batch (it calls this when defined).

        Same samples as `[self[i] for i in indices]`, except that `episode_index`, `task_index`, `index`
        and `dataset_index` are Python ints: `default_collate` turns them into the same int64 batch
        tensors in one op each, where building and stacking 0-d tensors costs ~1-4 us per sample.
        """
        episodes, parts, positions, globals_ = locate_frames(
            self.meta.episode_starts, self.meta.episode_datasets, self.meta.frame_offsets, indices
        )
        only_task, task_ids = self._only_task, self._task_ids
        items = []
        for episode, ds, local, idx in zip(episodes, parts, positions, globals_):
            item = self._read(ds, local)
            task = only_task[ds]
            item["episode_index"] = episode
            item["task_index"] = task_ids[ds][item["task_index"].item()] if task is None else task
            item["index"] = idx
            item["dataset_index"] = ds
            items.append(item)
        return items

    def _read(self, ds: int, local: int) -> dict:
        """Sub-dataset `ds`'s frame `local`, adapted to the mixture's schema and transformed."""
        try:
            item = self._datasets[ds][local]
        except Exception as e:  # name the dataset, episode and files: a bare decoder error does not
            raise DatasetSourceError(self._read_error(ds, local, e)) from e
        adapter = self._adapters[ds]
        if adapter is not None:
            item = adapter(item)
        if self.image_transforms is not None:
            for cam in self.meta.camera_keys:
                item[cam] = self.image_transforms(item[cam])
        return item

    def _read_error(self, ds: int, local: int, error: Exception) -> str:
        sub = self._datasets[ds]
        episode = int(sub.hf_dataset[local]["episode_index"])
        files = [str(sub.meta.get_data_file_path(episode))]
        files += [str(sub.meta.get_video_file_path(episode, k)) for k in sub.meta.video_keys]
        return (
            f"dataset {self.repo_ids[ds]!r}: reading frame {local} of episode {episode} failed "
            f"(files {files} under {sub.root}): {type(error).__name__}: {error}"
        )

    def __repr__(self) -> str:
        rows = "\n".join(
            f"    [{i}] {rid}: {self.meta.num_episodes_of(i)} episodes, {self.meta.num_frames_of(i)} frames"
            for i, rid in enumerate(self.repo_ids)
        )
        return (
            f"{type(self).__name__}(\n{rows}\n"
            f"    total: {self.num_episodes} episodes, {self.num_frames} frames at {self.fps} fps\n"
            f"    features: {list(self.features)}\n"
            f"    disabled features: {sorted(self.disabled_features)}\n)"
        )
