"""Per-dataset sample adaptation: one dataset's samples into the mixture's schema.

Renames keys (with their `_is_pad` masks), drops disabled features, pads vector features to the
mixture's size with a `<key>_pad_mask` (True = padded dimension), fills cameras a dataset lacks with
zeros and `<key>_pad_mask=True`. Everything is decided once per dataset; per sample it is dict work.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

import torch
import torch.nn.functional as F

from lerobot_multi.compat import SUBTASK_STRINGS
from lerobot_multi.read.video import frame_dtype


@dataclass
class SampleAdapter:
    renames: dict[str, str] = field(default_factory=dict)  # source key -> mixture key
    drop: tuple[str, ...] = ()
    pad: dict[str, int] = field(default_factory=dict)  # key -> zeros to append on the last axis
    masks: dict[str, torch.Tensor] = field(default_factory=dict)  # "<key>_pad_mask" -> constant mask
    fill: dict[str, tuple[int, ...]] = field(default_factory=dict)  # missing camera -> zeros shape
    fill_dtype: dict[str, torch.dtype] = field(default_factory=dict)  # missing camera -> zeros dtype

    @classmethod
    def for_dataset(
        cls, meta, index: int, delta_timestamps: Mapping[str, list] | None, uint8: bool = False
    ) -> SampleAdapter:
        """`uint8`: video frames are raw uint8 (lerobot 0.6's `return_uint8`), and so are their zeros."""
        rid = meta.repo_ids[index]
        schema = meta.schema
        renames = {}
        for old, new in meta.rename_map[rid].items():
            renames[old] = new
            renames[f"{old}_is_pad"] = f"{new}_is_pad"
        disabled = schema.disabled_by_dataset.get(rid, [])
        drop = [*disabled, *(f"{k}_is_pad" for k in disabled)]
        if "subtask_index" in disabled:
            drop.append("subtask")
        pad, masks = {}, {}
        cond = meta.conditioning  # its one-hot comes after renumbering (Conditioning.apply_sample)
        for key, sizes in schema.padded.items():
            full, own = meta.features[key]["shape"][0], sizes[rid]
            if cond is not None and key == cond.key:
                full = cond.base_width
            if own < full:
                pad[key] = full - own
            masks[f"{key}_pad_mask"] = torch.arange(full) >= own
        fill = {}
        for key, missing in schema.filled.items():
            masks[f"{key}_pad_mask"] = torch.tensor(rid in missing)
            if rid in missing:
                h, w, c = meta.features[key]["shape"]
                steps = len((delta_timestamps or {}).get(key, []))
                fill[key] = (steps, c, h, w) if steps else (c, h, w)
        dtypes = {k: frame_dtype(uint8 and k in meta.video_keys) for k in fill}
        return cls(renames, tuple(drop), pad, masks, fill, dtypes)

    @property
    def is_identity(self) -> bool:
        return not (self.renames or self.drop or self.pad or self.masks or self.fill)

    def __call__(self, item: dict) -> dict:
        if self.renames:
            item = {self.renames.get(k, k): v for k, v in item.items()}
        for key in self.drop:
            item.pop(key, None)
        for key, extra in self.pad.items():
            item[key] = F.pad(item[key], (0, extra))
        for key, shape in self.fill.items():
            item[key] = torch.zeros(shape, dtype=self.fill_dtype.get(key, torch.float32))
            if len(shape) == 4:
                item[f"{key}_is_pad"] = torch.ones(shape[0], dtype=torch.bool)
        item.update(self.masks)
        return item


def to_mixture_numbering(meta, d: int, item: dict, episode: int, index: int) -> dict:
    """Dataset `d`'s sample under the mixture's numbering (per sample: lerobot's reader and the
    stream; the fast reader does the same on whole columns): global episode, frame, task and subtask
    ids, `dataset_index`, and the conditioning one-hot."""
    item["episode_index"] = torch.tensor(episode)
    item["index"] = torch.tensor(index)
    item["task_index"] = torch.tensor(int(meta.task_maps[d][int(item["task_index"])]))
    if meta.subtask_maps is not None:
        subtask = int(meta.subtask_maps[d][int(item["subtask_index"])])
        item["subtask_index"] = torch.tensor(subtask)
        if SUBTASK_STRINGS:
            item["subtask"] = meta.subtasks.index[subtask]
    item["dataset_index"] = torch.tensor(d)
    return item if meta.conditioning is None else meta.conditioning.apply_sample(item)
