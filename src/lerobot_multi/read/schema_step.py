"""The mixture's sample step, shared by the fast reader, lerobot's reader and the stream.

One dataset's values (its own key names, ids and vector widths) become the mixture's: renamed keys
(with their `_is_pad` masks), vectors padded to the mixture's size with a `<key>_pad_mask` (True =
padded dimension), zeros and `<key>_pad_mask=True` for cameras a dataset lacks, the global
episode/frame/task/subtask numbering, `dataset_index`, the conditioning one-hot, then per-sample
dicts with task strings and image transforms. Everything is decided once per dataset (`KeyPlan`s) and
applied to whole batch columns: the fast reader gathers them itself; lerobot's reader and the stream
hand over lerobot-style samples, stacked per dataset (`samples`), so one sample is a batch of one.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import torch

from lerobot_multi.compat import LINE
from lerobot_multi.read.frame_store import sample_dtype
from lerobot_multi.read.video import frame_dtype

_GLOBAL_FIELDS = ("index", "episode_index", "task_index", "subtask_index")


@dataclass(frozen=True)
class KeyPlan:
    """How one mixture key is read from one dataset."""

    key: str  # the mixture's name
    source: str | None  # the dataset's name for it; None: a camera this dataset lacks (zeros)
    kind: str  # "data", "image" or "video"
    deltas: np.ndarray | None  # offsets in the dataset's own frames, or None
    width: int | None = None  # the dataset's size of a padded vector feature


class SchemaStep:
    """Batch columns of each dataset into the mixture's samples (`meta`: `MultiDatasetMetadata`).

    `return_uint8`: video frames are raw uint8 (lerobot 0.6's `return_uint8`), and so are a missing camera's
    zeros. `image_transforms` runs per sample and camera, in lerobot's order.
    """

    def __init__(self, meta, return_uint8: bool = False):
        self.meta, self.return_uint8 = meta, return_uint8
        self.image_transforms: Callable | None = None
        self.depth_keys = set(meta.depth_keys)
        self.task_names = list(meta.tasks.index)
        self.subtask_names = None if meta.subtasks is None else list(meta.subtasks.index)
        self._index_base: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(meta.sources)
        self.set_windows([None] * len(meta.sources))

    def set_windows(self, per_dataset: Sequence[Mapping[str, Sequence[int]] | None]) -> None:
        """Each dataset's window offsets in its own frames, keyed by the mixture's names."""
        self.plans = [self._plans(i, deltas) for i, deltas in enumerate(per_dataset)]
        self.masks = [self._masks(i) for i in range(len(per_dataset))]

    def _plans(self, i: int, deltas: Mapping[str, Sequence[int]] | None) -> list[KeyPlan]:
        meta, cond = self.meta, self.meta.conditioning
        rid, own = meta.repo_ids[i], meta.sub_metas[i].features
        plans = []
        for key, ft in meta.features.items():
            source = meta.source_key(i, key)
            window = None if deltas is None or key not in deltas else np.asarray(deltas[key], np.int64)
            kind = ft["dtype"] if ft["dtype"] in ("video", "image") else "data"
            if kind != "data" and source in own:
                kind = own[source]["dtype"]  # a camera may be video here and images elsewhere
            width = cond.base_width if cond is not None and key == cond.key else None
            if key in meta.schema.padded:
                width = meta.schema.padded[key][rid]
            plans.append(KeyPlan(key, source if source in own else None, kind, window, width))
        return plans

    def _masks(self, i: int) -> dict[str, np.ndarray]:
        """The constant `<key>_pad_mask`s of dataset `i`'s samples."""
        meta, cond = self.meta, self.meta.conditioning
        rid, masks = meta.repo_ids[i], {}
        for key, sizes in meta.schema.padded.items():
            full = cond.base_width if cond is not None and key == cond.key else meta.features[key]["shape"][0]
            masks[f"{key}_pad_mask"] = np.arange(full) >= sizes[rid]
            if cond is not None and key == cond.key:  # the one-hot dimensions are never padding
                masks[f"{key}_pad_mask"] = cond.extend_mask(masks[f"{key}_pad_mask"])
        for key, missing in meta.schema.filled.items():
            masks[f"{key}_pad_mask"] = np.array(rid in missing)
        return masks

    def keep_only(self, keys) -> None:
        """Make only `keys` (e.g. the non-visual columns), without the constant pad masks."""
        self.plans = [[p for p in plans if p.key in keys] for plans in self.plans]
        self.masks = [{} for _ in self.masks]

    # --- batch columns ------------------------------------------------------------------------------
    def put(
        self, i: int, plan: KeyPlan, rows: np.ndarray, values, cols: dict, n: int, positions=None
    ) -> None:
        """Dataset `i`'s `values` of `plan.key` for batch `rows`: global ids (`positions`: the frames'
        positions in the dataset's selected frames, for `index`; None: from the dataset's own index),
        padded into the mixture's width."""
        if plan.kind != "data":
            _put(cols, plan.key, rows, values, n)
            return
        if plan.key in _GLOBAL_FIELDS:
            values = self._renumber(i, plan.key, np.asarray(values), positions)
        _put(cols, plan.key, rows, values, n, plan.width, self.meta.features[plan.key])

    def put_pad(self, plan: KeyPlan, rows: np.ndarray, pad, cols: dict, n: int) -> None:
        _put(cols, f"{plan.key}_is_pad", rows, pad, n)

    def put_missing(self, plan: KeyPlan, rows: np.ndarray, cols: dict, n: int) -> None:
        """Zeros for a camera dataset lacks, lerobot's (C, H, W) layout, every window step padding."""
        h, w, c = self.meta.features[plan.key]["shape"]
        uint8 = self.return_uint8 and plan.key in self.meta.video_keys and plan.key not in self.depth_keys
        dtype = frame_dtype(uint8)
        steps = () if plan.deltas is None else (len(plan.deltas),)
        if steps:
            self.put_pad(plan, rows, np.ones((len(rows), *steps), dtype=bool), cols, n)
        _put(cols, plan.key, rows, torch.zeros((len(rows), *steps, c, h, w), dtype=dtype), n)

    def put_masks(self, i: int, rows: np.ndarray, cols: dict, n: int) -> None:
        for key, mask in self.masks[i].items():
            _put(cols, key, rows, np.repeat(mask[None], len(rows), axis=0), n)  # a copy: samples own it

    def finish(self, cols: dict, datasets: np.ndarray) -> dict:
        """`dataset_index`, and the conditioning one-hot after `base_width` (every window step)."""
        cols["dataset_index"] = datasets
        cond = self.meta.conditioning
        if cond is not None:
            hot = cond.one_hot(cond.group_ids(datasets, cols["task_index"]))
            values = cols[cond.key]
            values[..., cond.base_width :] = hot.reshape(len(datasets), *([1] * (values.ndim - 2)), -1)
        return cols

    def _renumber(self, i: int, key: str, values: np.ndarray, positions) -> np.ndarray:
        meta = self.meta
        if key == "index":  # a selected frame's position in the concatenation
            if positions is not None:
                return positions + meta.frame_offsets[i]
            starts, base = self._own_index(i)
            return base[np.searchsorted(starts, values, side="right") - 1] + values
        maps = {
            "episode_index": meta.episode_maps,
            "task_index": meta.task_maps,
            "subtask_index": meta.subtask_maps,
        }
        return maps[key][i][values]

    def _own_index(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        """Dataset `i`'s episode starts in its own index, and per source episode the global index
        minus its own (-1: not selected); episodes are contiguous in both numberings."""
        if self._index_base[i] is None:
            m = self.meta.episode_maps[i]
            own = self.meta.sub_metas[i].column("dataset_from_index").astype(np.int64)
            self._index_base[i] = (
                own,
                np.where(m >= 0, self.meta.episode_starts[np.maximum(m, 0)] - own, -1),
            )
        return self._index_base[i]

    # --- samples ------------------------------------------------------------------------------------
    def split(self, cols: dict, int_scalars: bool = False) -> list[dict]:
        """Batch columns -> per-sample dicts (views), with task strings and image transforms.
        `int_scalars`: see `BatchAssembler.read`."""
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
        columns["task"] = [self.task_names[t] for t in np.asarray(cols["task_index"]).tolist()]
        if self.subtask_names is not None and LINE.subtask_strings:  # as the installed lerobot does
            columns["subtask"] = [self.subtask_names[t] for t in np.asarray(cols["subtask_index"]).tolist()]
        samples = [dict(zip(columns, values)) for values in zip(*columns.values())]
        if self.image_transforms is not None:  # per sample and camera, lerobot's order (same RNG draws)
            cameras = [k for k in self.meta.camera_keys if k not in self.depth_keys]  # as lerobot
            for sample in samples:
                for cam in cameras:
                    sample[cam] = self.image_transforms(sample[cam])
        return samples

    def samples(self, i: int, items: Sequence[Mapping[str, object]]) -> list[dict]:
        """Samples of dataset `i` as lerobot returns them (its own names and ids, `_is_pad` of its
        windows) -> the mixture's samples, through the batch step: one sample is a batch of one. Keys
        the mixture does not have (disabled features, lerobot's own task strings) are left out."""
        n = len(items)
        rows, cols = np.arange(n, dtype=np.int64), {}
        for plan in self.plans[i]:
            if plan.source is None:
                self.put_missing(plan, rows, cols, n)
                continue
            if plan.deltas is not None:
                self.put_pad(plan, rows, _stack([it[f"{plan.source}_is_pad"] for it in items]), cols, n)
            self.put(i, plan, rows, _stack([it[plan.source] for it in items]), cols, n)
        self.put_masks(i, rows, cols, n)
        return self.split(self.finish(cols, np.full(n, i, dtype=np.int64)))

    def samples_of(self, datasets: Sequence[int], items: Sequence[Mapping[str, object]]) -> list[dict]:
        """`samples` for items of several datasets (`datasets[k]`: item k's), in their order: the step
        runs once per dataset among them."""
        datasets = np.asarray(datasets, dtype=np.int64)
        out: list[dict] = [{}] * len(items)
        for d in np.unique(datasets).tolist():
            rows = np.flatnonzero(datasets == d).tolist()
            for r, sample in zip(rows, self.samples(d, [items[r] for r in rows])):
                out[r] = sample
        return out


transforms_of_step = property(
    lambda self: self.step.image_transforms,
    lambda self, value: setattr(self.step, "image_transforms", value),
    doc="The image transforms, held by this object's `SchemaStep` (`self.step`), which applies them.",
)


def _stack(values: list):
    """Samples' values of one key as a batch column (numpy, which `split` turns back into tensors)."""
    first = values[0]
    if isinstance(first, torch.Tensor):
        batch = torch.stack(values) if len(values) > 1 else first[None]
        return batch if batch.dtype == torch.bfloat16 else batch.numpy()
    if isinstance(first, (str, list, dict)) or first is None:  # strings, language rows: as objects
        out = np.empty(len(values), dtype=object)
        for k, value in enumerate(values):  # one by one: numpy would broadcast nested lists
            out[k] = value
        return out
    return np.stack([np.asarray(v) for v in values])


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
