"""Every lerobot name whose home differs between the supported lines, imported in one place.

lerobot 0.4.4 (Python 3.10/3.11) and lerobot 0.6 (Python >= 3.12) moved a handful of helpers between
modules (docs/lerobot-lines.md has the table). The rest of the package imports these names from here,
and every other lerobot name straight from lerobot, where both lines spell it the same.
"""

from __future__ import annotations

import copy
import dataclasses
import importlib
from importlib.metadata import version

import torch
from packaging.version import Version

LEROBOT_VERSION = Version(version("lerobot"))
LEROBOT_06 = Version("0.5") <= LEROBOT_VERSION
"""True on the current line (0.5 reshaped datasets and training; 0.6 is what is tested)."""
INTEGER_STATS_ARE_INTS = not LEROBOT_06
"""0.4.4's metadata gives integer features integer min/max stats; 0.6's keeps them float64."""
SUBTASK_STRINGS = not LEROBOT_06
"""0.4.4's `LeRobotDataset` adds a `subtask` string beside `subtask_index`; 0.6's reads no subtasks."""
LANGUAGE_DTYPE = "language"
"""0.6's language columns (`language_persistent`, `language_events`): per frame, a list of message
rows, passed through by `LeRobotDataset` and left out of the batch by `lerobot_collate_fn`."""

# name -> (module, attribute) on each line, imported on first use: most live under lerobot.datasets,
# whose package import costs seconds, which a spawned DataLoader worker should not pay
_MOVED_06 = {
    "check_delta_timestamps": ("lerobot.datasets.feature_utils", "check_delta_timestamps"),
    "get_delta_indices": ("lerobot.datasets.feature_utils", "get_delta_indices"),
    "get_hf_features_from_features": ("lerobot.datasets.feature_utils", "get_hf_features_from_features"),
    "cast_stats_to_numpy": ("lerobot.datasets.io_utils", "cast_stats_to_numpy"),
    "hf_transform_to_torch": ("lerobot.datasets.io_utils", "hf_transform_to_torch"),
    "LegacyMultiLeRobotDataset": ("lerobot.datasets.multi_dataset", "MultiLeRobotDataset"),
    "Backtrackable": ("lerobot.datasets.streaming_dataset", "Backtrackable"),
    # private in lerobot, but it is what 0.6's stream catches to end a shard: ours must raise it
    "ShardExhausted": ("lerobot.datasets.streaming_dataset", "_ShardExhaustedError"),
    "BackwardCompatibilityError": ("lerobot.datasets.utils", "BackwardCompatibilityError"),
    "TransitionKey": ("lerobot.lerobot_types", "TransitionKey"),
    "ImageTransforms": ("lerobot.transforms", "ImageTransforms"),
    "IMAGENET_STATS": ("lerobot.utils.constants", "IMAGENET_STATS"),
    "dataset_to_policy_features": ("lerobot.utils.feature_utils", "dataset_to_policy_features"),
}
_MOVED_044 = {
    "BackwardCompatibilityError": ("lerobot.datasets.backward_compatibility", "BackwardCompatibilityError"),
    "IMAGENET_STATS": ("lerobot.datasets.factory", "IMAGENET_STATS"),
    "LegacyMultiLeRobotDataset": ("lerobot.datasets.lerobot_dataset", "MultiLeRobotDataset"),
    "ImageTransforms": ("lerobot.datasets.transforms", "ImageTransforms"),
    **{
        name: ("lerobot.datasets.utils", name)
        for name in (
            "Backtrackable",
            "cast_stats_to_numpy",
            "check_delta_timestamps",
            "dataset_to_policy_features",
            "get_delta_indices",
            "get_hf_features_from_features",
            "hf_transform_to_torch",
        )
    },
    "TransitionKey": ("lerobot.processor.core", "TransitionKey"),
    "ShardExhausted": ("builtins", "StopIteration"),  # 0.4.4's stream catches what a generator makes of it
}
_MOVED = _MOVED_06 if LEROBOT_06 else _MOVED_044


def __getattr__(name: str):
    if name in _MOVED:
        module, attribute = _MOVED[name]
        value = getattr(importlib.import_module(module), attribute)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lerobot_multi.compat' has no attribute {name!r}")


__all__ = [
    "INTEGER_STATS_ARE_INTS",
    "LEROBOT_06",
    "SUBTASK_STRINGS",
    "LEROBOT_VERSION",
    "load_training_step",
    "trainable_config",
    "training_frames_uint8",
    "set_lerobot_deltas",
    "lerobot_delta_indices",
    "with_features",
    "lerobot_dataset_options",
    "video_codec_options",
    "collate_for",
    "LANGUAGE_DTYPE",
    *_MOVED,  # imported on first use (__getattr__)
]


def load_training_step(training_state_dir):
    """lerobot's step of a checkpoint's training_state/ (imported on use: 0.6's train_utils imports
    every policy, which a DataLoader worker never needs)."""
    if LEROBOT_06:
        from lerobot.common.train_utils import load_training_step as load
    else:
        from lerobot.utils.train_utils import load_training_step as load
    return load(training_state_dir)


def trainable_config(cfg):
    """The config whose delta indices shape the samples: 0.6's `cfg.trainable_config` (a policy or a
    reward model), 0.4.4's `cfg.policy`."""
    return getattr(cfg, "trainable_config", None) or cfg.policy


def training_frames_uint8(ds_cfg) -> bool:
    """Whether lerobot's own `make_dataset` hands training uint8 camera frames: 0.6's always does
    (`return_uint8=True`; `lerobot_train` converts them to float in the main process), 0.4.4's never."""
    return LEROBOT_06


def lerobot_delta_indices(dataset) -> dict | None:
    """An open `LeRobotDataset`'s window offsets in frames."""
    return (dataset.reader if LEROBOT_06 else dataset).delta_indices


def set_lerobot_deltas(dataset, delta_timestamps, delta_indices) -> None:
    """Re-window an open `LeRobotDataset` (0.6 keeps the windows on its `DatasetReader`)."""
    dataset.delta_timestamps = delta_timestamps
    target = dataset.reader if LEROBOT_06 else dataset
    target.delta_indices = delta_indices


def with_features(dataset, features: dict) -> None:
    """Give an open `LeRobotDataset` a copy of its metadata with `features` (in memory only): 0.6's
    `meta.info` is a `DatasetInfo` dataclass, and its reader holds the metadata too."""
    meta = copy.copy(dataset.meta)
    if LEROBOT_06:
        meta.info = dataclasses.replace(meta.info, features=features)
        dataset.reader._meta = meta  # the reader reads video keys from its own reference
    else:
        meta.info = {**meta.info, "features": features}
    dataset.meta = meta


def lerobot_dataset_options(return_uint8: bool) -> dict:
    """`LeRobotDataset` keyword arguments that exist only on one line."""
    if LEROBOT_06:
        return {"return_uint8": return_uint8}
    if return_uint8:
        raise ValueError("return_uint8 needs lerobot >= 0.5 for reader='lerobot' (0.4.4 has no such option)")
    return {}


def collate_for(meta):
    """The collate lerobot's training uses for a dataset with this metadata: 0.6's
    `lerobot_collate_fn` (it leaves language rows out of the batch) when it has language columns,
    else torch's `default_collate`."""
    if LEROBOT_06 and meta.has_language_columns:
        from lerobot.utils.collate import lerobot_collate_fn

        return lerobot_collate_fn
    return torch.utils.data.default_collate


def video_codec_options(vcodec: str) -> dict:
    """`LeRobotDataset.create` keyword arguments that pick the video codec (0.6: an encoder config)."""
    if LEROBOT_06:
        from lerobot.configs.video import RGBEncoderConfig

        return {"rgb_encoder": RGBEncoderConfig(vcodec=vcodec)}
    return {"vcodec": vcodec}
