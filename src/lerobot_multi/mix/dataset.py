"""MultiLeRobotDataset: several LeRobot datasets (v3.0 and v2.1) read as one, without copying them.

Metadata comes straight from each dataset's files (`source_meta`), merged with global episode, frame
and task numbering (`metadata`). Samples come from one of two readers with the same output: "fast"
(default), which assembles whole batches from columnar frame stores and batched video decoding
(`fast_reader`), and "lerobot", which reads each sample with lerobot's own `LeRobotDataset`
(`lerobot_reader`), the reference the fast one is tested against.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import torch

from lerobot_multi import compat
from lerobot_multi.meta.metadata import MultiDatasetMetadata
from lerobot_multi.meta.mixing import sampling_shares
from lerobot_multi.meta.opening import open_mixture_metadata
from lerobot_multi.meta.schema import resolve_windows
from lerobot_multi.meta.sources import DatasetSource, EpisodesSpec, RootSpec
from lerobot_multi.meta.spec import MixtureSpec, make_spec
from lerobot_multi.read.fast_reader import BatchAssembler
from lerobot_multi.read.video import resolve_video_backend

if TYPE_CHECKING:  # imported on use: a DataLoader worker of the fast reader imports no LeRobotDataset
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_multi.read.lerobot_reader import LerobotReader

logger = logging.getLogger(__name__)


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
        max_workers: threads that open datasets (they overlap file and hub I/O); None: one per core.
        **options: any other `MixtureSpec` field (meta/spec.py, where each is defined and checked):
            revision, video_backend, weights / temperature / epoch_size (each dataset's share of the
            samples drawn, `sampling_shares`, used by `WeightedMixtureSampler`; by default shares are
            proportional to frames), mixed_fps, delta_overrides, rename_map ({repo_id: {old: new}},
            before the common-feature filter), pad_vectors (1-D float features zero-padded to the
            largest, with a `<key>_pad_mask`), fill_missing_cameras (zeros and a `<key>_pad_mask`),
            normalization_mode, condition_on / condition_feature (a one-hot over datasets, tasks or
            robots appended to a vector feature), val_episodes, reader ("fast", default: columnar frame
            stores and batched decoding; "lerobot": each sample through lerobot's `LeRobotDataset`;
            same samples), open_processes (spawned processes open the datasets instead of threads:
            they cost ~4 s to start; a script using them needs an `if __name__ == "__main__":` guard),
            return_uint8 (uint8 video frames, as lerobot 0.6's training reads them).

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
        *,
        max_workers: int | None = None,
        **options: Any,
    ):
        super().__init__()
        spec = make_spec(repo_ids, root, episodes, options)
        self._open(spec, delta_timestamps, image_transforms, tolerance_s, max_workers, overrides=True)

    @classmethod
    def from_spec(
        cls,
        spec: MixtureSpec,
        delta_timestamps: Mapping[str, Sequence[float]] | None = None,
        image_transforms: Callable | None = None,
        tolerance_s: float = 1e-4,
        max_workers: int | None = None,
    ) -> MultiLeRobotDataset:
        """The mixture `spec` describes (`MixtureSpec.from_config(cfg.dataset)` for a config). Its
        per-dataset `delta_overrides` apply over `delta_timestamps`; without those, over the windows
        set next (`set_delta_timestamps`, or the policy's in `make_dataset`)."""
        dataset = cls.__new__(cls)
        torch.utils.data.Dataset.__init__(dataset)
        overrides = delta_timestamps is not None
        dataset._open(spec, delta_timestamps, image_transforms, tolerance_s, max_workers, overrides)
        return dataset

    def _open(self, spec, delta_timestamps, image_transforms, tolerance_s, max_workers, overrides) -> None:
        self.spec = spec
        self.tolerance_s = tolerance_s
        self._hf_table = None
        self.meta: MultiDatasetMetadata = open_mixture_metadata(spec, max_workers)
        self.sources: list[DatasetSource] = self.meta.sources
        # finding out whether torchcodec loads maps its FFmpeg libraries (~30 MB): only with videos
        backend = spec.video_backend
        self.video_backend = resolve_video_backend(backend) if self.meta.video_keys else backend
        self.sampling_shares = sampling_shares(self.meta)
        if spec.reader == "lerobot":
            from lerobot_multi.read.lerobot_reader import LerobotReader

            self._reader = LerobotReader(
                self.meta,
                tolerance_s,
                self.video_backend,
                max_workers,
                spec.open_processes,
                spec.return_uint8,
            )
        else:
            self._reader = BatchAssembler(
                self.meta, tolerance_s, self.video_backend, return_uint8=spec.return_uint8
            )
        self.image_transforms = image_transforms
        self.delta_timestamps: dict[str, list[float]] | None = None
        self.delta_timestamps_by_dataset: dict[str, dict[str, list[float]] | None] = {}
        self.delta_indices_by_dataset: dict[str, dict[str, list[int]] | None] = {}
        self.set_delta_timestamps(delta_timestamps, self.meta.delta_overrides if overrides else None)

    @property
    def reader(self) -> BatchAssembler | LerobotReader:
        """The sample reader (lerobot 0.6's `dataset.reader`; which one: `spec.reader`)."""
        return self._reader

    def set_image_transforms(self, image_transforms: Callable | None) -> None:
        """lerobot 0.6's setter: the transform applied to each camera frame from now on."""
        self.image_transforms = image_transforms

    def clear_image_transforms(self) -> None:
        self.image_transforms = None

    def select_columns(self, column_names: str | list[str]):
        """lerobot 0.6's `select_columns`: those columns of `hf_dataset` (an HF `datasets.Dataset`)."""
        return self.hf_dataset.select_columns(column_names)

    @property
    def depth_output_unit(self) -> str:
        """lerobot 0.6's unit of depth maps and their stats: "mm" (default) or "m" (`spec`)."""
        return self.spec.depth_output_unit

    def get_raw_item(self, idx: int) -> dict:
        """lerobot 0.6's raw row: the non-visual columns of frame `idx`, no windows, no transforms."""
        return self.hf_dataset[idx]

    @property
    def image_transforms(self) -> Callable | None:
        """Applied to each sample's camera tensors (the mixture's camera keys), as lerobot does."""
        return self._reader.image_transforms

    @image_transforms.setter
    def image_transforms(self, value: Callable | None) -> None:
        self._reader.image_transforms = value

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
        shown, resolved, indices = resolve_windows(self.meta, delta_timestamps, per_dataset, self.tolerance_s)
        self.delta_timestamps, self.delta_timestamps_by_dataset = shown, resolved
        self.delta_indices_by_dataset = dict(zip(self.repo_ids, indices))
        self._reader.set_windows(indices, [resolved[r] for r in self.repo_ids])

    def set_delta_indices(self, delta_indices: Mapping[str, Sequence[int]] | None) -> None:
        """Temporal context in frames: each dataset converts them to seconds with its own fps."""
        if delta_indices is None:
            return self.set_delta_timestamps(None)
        per_dataset = {
            rid: {k: [i / fps for i in idx] for k, idx in delta_indices.items()}
            for rid, fps in zip(self.repo_ids, self.meta.fps_by_dataset)
        }
        return self.set_delta_timestamps(None, per_dataset)

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
        """lerobot's `LeRobotDataset` per source (reader="lerobot" only: the fast reader opens none)."""
        return tuple(self._reader.datasets)

    @property
    def repo_id(self) -> str:
        """The ids joined with "+" (`meta.repo_id`): a name for logs and outputs; `repo_ids` lists them."""
        return self.meta.repo_id

    @property
    def root(self):
        """`meta.root`: the one folder all datasets read, else `MixtureHasNoFolderError`."""
        return self.meta.root

    @property
    def revision(self) -> str | None:
        return self.meta.revision

    @property
    def delta_indices(self) -> dict[str, list[int]] | None:
        """lerobot's `delta_indices` (frames per key): one dict when every dataset has the same (with
        `mixed_fps` they may not: then `delta_indices_by_dataset`)."""
        values = list(self.delta_indices_by_dataset.values())
        if any(v != values[0] for v in values[1:]):
            raise ValueError(
                f"delta_indices differ across datasets (mixed frame rates): {self.delta_indices_by_dataset}; "
                "read delta_indices_by_dataset"
            )
        return values[0]

    @property
    def hf_features(self):
        """The HF `datasets.Features` of the mixture's non-video features, as lerobot builds them."""
        return compat.get_hf_features_from_features(self.features)

    @property
    def hf_dataset(self):
        """The mixture's non-visual columns as one in-memory HF `datasets.Dataset` (row i = frame i,
        global indices, `dataset_index`), for lerobot tools that read rows; built on first access."""
        if self._hf_table is None:
            from lerobot_multi.read.hf_table import build_hf_table

            self._hf_table = build_hf_table(self.meta, self.tolerance_s, self.video_backend)
        return self._hf_table

    # lerobot's map from a frame's `index` to its hf_dataset row; the mixture's rows are its indices
    _absolute_to_relative_idx = None
    absolute_to_relative_idx = None  # lerobot 0.6's public name for it

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_hf_table": None}  # DataLoader workers need no copy of the table

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

    def __getitem__(self, idx: int | slice) -> dict | list[dict]:
        """Frame `idx` (lerobot's sample), or for a slice the list of its frames (as lerobot 0.6)."""
        if isinstance(idx, slice):
            indices = list(range(*idx.indices(len(self))))
            return self._reader.read(indices) if indices else []
        return self._reader.read([int(idx)])[0]

    def __getitems__(self, indices: Sequence[int]) -> list[dict]:
        """The samples of `indices`, as torch's DataLoader fetches a batch (it calls this when defined),
        assembled for the whole batch at once. `default_collate` makes the same batch of them as of
        `[self[i] for i in indices]`; scalar fields are Python ints (`index`, `episode_index`,
        `frame_index`, `task_index`, `dataset_index`) and numpy float32 scalars (`timestamp`) here,
        which it turns into the same int64 and float32 tensors at a fraction of the cost of one 0-d
        tensor per sample."""
        return self._reader.read(indices, int_scalars=True)

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
