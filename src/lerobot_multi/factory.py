"""make_dataset(cfg): a string repo_id gives lerobot's dataset, a list gives a MultiLeRobotDataset."""

from __future__ import annotations

import logging
from pprint import pformat

import torch
from lerobot.datasets import factory as lerobot_factory
from lerobot.datasets.transforms import ImageTransforms

from lerobot_multi.dataset import MultiLeRobotDataset
from lerobot_multi.streaming import make_streaming_dataset
from lerobot_multi.video import resolve_video_backend

logger = logging.getLogger(__name__)


def apply_imagenet_stats(meta) -> None:
    """lerobot's `use_imagenet_stats`: camera mean/std replaced by ImageNet's."""
    for key in meta.camera_keys:
        for stats_type, stats in lerobot_factory.IMAGENET_STATS.items():
            meta.stats[key][stats_type] = torch.tensor(stats, dtype=torch.float32)


def make_dataset(cfg):
    """Build the training dataset of a lerobot `TrainPipelineConfig` (or ours).

    `cfg.dataset.repo_id` a string: exactly lerobot's `make_dataset` (with a video decoder that loads).
    A list: a `MultiLeRobotDataset` whose delta_timestamps come from the policy config, resolved against
    the mixture's common features and fps (all datasets share the first dataset's fps).
    """
    ds_cfg = cfg.dataset
    ds_cfg.video_backend = resolve_video_backend(ds_cfg.video_backend)
    if isinstance(ds_cfg.repo_id, str):
        return lerobot_factory.make_dataset(cfg)
    image_transforms = ImageTransforms(ds_cfg.image_transforms) if ds_cfg.image_transforms.enable else None
    if ds_cfg.streaming:
        dataset = make_streaming_dataset(cfg, image_transforms)
        _set_temporal_context(dataset, cfg)
        return _announce(dataset, ds_cfg)
    dataset = MultiLeRobotDataset(
        ds_cfg.repo_id,
        root=ds_cfg.root,
        episodes=ds_cfg.episodes,
        image_transforms=image_transforms,
        tolerance_s=cfg.tolerance_s,
        revision=ds_cfg.revision,
        video_backend=ds_cfg.video_backend,
        weights=getattr(ds_cfg, "weights", None),
        temperature=getattr(ds_cfg, "temperature", None),
        mixed_fps=getattr(ds_cfg, "mixed_fps", False),
        rename_map=getattr(ds_cfg, "rename_map", None),
        pad_vectors=getattr(ds_cfg, "pad_vectors", False),
        fill_missing_cameras=getattr(ds_cfg, "fill_missing_cameras", False),
        open_processes=getattr(ds_cfg, "open_processes", None),
        reader=getattr(ds_cfg, "reader", "fast"),
        normalization_mode=getattr(ds_cfg, "normalization_mode", "global"),
        condition_on=getattr(ds_cfg, "condition_on", "none"),
        condition_feature=getattr(ds_cfg, "condition_feature", None),
    )
    _set_temporal_context(dataset, cfg)
    return _announce(dataset, ds_cfg)


def _set_temporal_context(dataset, cfg) -> None:
    """The policy's delta indices (plus per-repo overrides in seconds) on a map-style or stream mixture.

    lerobot resolves delta indices (frames) to seconds with one fps; with mixed frame rates each dataset
    converts the same indices with its own fps, so a chunk is N of its frames.
    """
    ds_cfg = cfg.dataset
    overrides = getattr(ds_cfg, "delta_timestamps", None)
    delta_timestamps = lerobot_factory.resolve_delta_timestamps(cfg.policy, dataset.meta)
    if getattr(ds_cfg, "mixed_fps", False) and delta_timestamps is not None:
        fps = dataset.meta.fps
        dataset.set_delta_indices({k: [round(t * fps) for t in v] for k, v in delta_timestamps.items()})
        if overrides:
            dataset.set_delta_timestamps(None, {**dataset.delta_timestamps_by_dataset, **overrides})
    elif delta_timestamps is not None or overrides:
        dataset.set_delta_timestamps(delta_timestamps, overrides)


def _announce(dataset, ds_cfg):
    """Log the index map and disabled features (as lerobot's dead multi-dataset branch meant to)."""
    logger.info(
        "Multiple datasets were provided. Applied the following index mapping to the provided datasets: %s",
        pformat(dataset.repo_id_to_index, indent=2),
    )
    if dataset.disabled_features:
        logger.info("Disabled features (not in every dataset): %s", sorted(dataset.disabled_features))
    if ds_cfg.use_imagenet_stats:
        apply_imagenet_stats(dataset.meta)
    return dataset
