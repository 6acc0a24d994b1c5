"""make_dataset(cfg): a string repo_id gives lerobot's dataset, a list gives a MultiLeRobotDataset."""

from __future__ import annotations

import logging
from pprint import pformat

import torch
from lerobot.datasets import factory as lerobot_factory

from lerobot_multi.compat import (
    IMAGENET_STATS,
    LINE,
    ImageTransforms,
    dataset_option,
    policy_delta_timestamps,
    trainable_config,
)
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.meta.spec import MixtureSpec
from lerobot_multi.mix.dataset import MultiLeRobotDataset
from lerobot_multi.read.video import resolve_video_backend
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset

logger = logging.getLogger(__name__)


def apply_imagenet_stats(meta) -> None:
    """lerobot's `use_imagenet_stats`: camera mean/std replaced by ImageNet's (depth cameras keep theirs,
    as lerobot 0.6 does)."""
    depth = set(meta.depth_keys)
    for key in meta.camera_keys:
        if key in depth:
            continue
        for stats_type, stats in IMAGENET_STATS.items():
            meta.stats[key][stats_type] = torch.tensor(stats, dtype=torch.float32)


def make_dataset(cfg):
    """Build the training dataset of a lerobot `TrainPipelineConfig` (or ours).

    `cfg.dataset.repo_id` a string: exactly lerobot's `make_dataset` (with a video decoder that loads).
    A list: the mixture `MixtureSpec.from_config(cfg.dataset)` describes, map-style or streamed, whose
    delta timestamps come from the policy config, resolved against the mixture's features and fps.
    """
    ds_cfg = cfg.dataset
    ds_cfg.video_backend = resolve_video_backend(ds_cfg.video_backend)
    if isinstance(ds_cfg.repo_id, str):
        single_dataset_fields(ds_cfg)
        return lerobot_factory.make_dataset(cfg)
    fill_min_episode_frames(cfg)
    spec = MixtureSpec.from_config(ds_cfg, return_uint8=LINE.training_frames_uint8)
    image_transforms = ImageTransforms(ds_cfg.image_transforms) if ds_cfg.image_transforms.enable else None
    if ds_cfg.streaming:
        dataset = StreamingMultiLeRobotDataset.from_spec(
            spec,
            image_transforms=image_transforms,
            tolerance_s=cfg.tolerance_s,
            seed=cfg.seed or 0,
            infinite=True,  # lerobot's loop cycles the DataLoader: one endless stream keeps epochs apart
            batch_size=cfg.batch_size,
            rank=0,  # StreamAwareAccelerator sets each process's rank (streaming.py)
            world_size=1,
        )
    else:
        dataset = MultiLeRobotDataset.from_spec(
            spec, image_transforms=image_transforms, tolerance_s=cfg.tolerance_s
        )
    set_temporal_context(dataset, trainable_config(cfg), spec, cfg.rename_map)
    return _announce(dataset, ds_cfg)


def single_dataset_fields(ds_cfg) -> None:
    """A single repo_id goes to lerobot's own `make_dataset`: our fields that only some lerobot lines
    have (`exclude_episodes`, `repo_type`) are refused where the installed lerobot would ignore them;
    `exclude_episodes` given per dataset becomes lerobot main's list."""
    given = {
        "exclude_episodes": bool(dataset_option(ds_cfg, "exclude_episodes")),
        "repo_type": dataset_option(ds_cfg, "repo_type", "dataset") != "dataset",
    }
    ignored = [name for name, set_ in given.items() if set_ and name not in LINE.dataset_config_fields]
    if ignored:
        hint = (
            ""
            if ignored[0] == "repo_type"
            else "; give dataset.repo_id as a list or select with dataset.episodes"
        )
        raise DatasetSourceError(
            f"dataset.{ignored[0]} with the single dataset {ds_cfg.repo_id!r}: lerobot {LINE.tested[0]}'s "
            f"make_dataset has no such field and would ignore it{hint}"
        )
    excluded = dataset_option(ds_cfg, "exclude_episodes")
    if isinstance(excluded, dict):  # {repo_id or pattern: ids}: lerobot's field is the list
        sources = MixtureSpec.from_config(ds_cfg).sources()
        ds_cfg.exclude_episodes = list(sources[0].exclude_episodes or [])


def policy_window(policy_cfg) -> int:
    """The frames a policy's window spans: its widest observation, action or reward delta indices."""
    indices = (
        policy_cfg.observation_delta_indices,
        policy_cfg.action_delta_indices,
        policy_cfg.reward_delta_indices,
    )
    return max((max(ix) - min(ix) + 1 for ix in indices if ix), default=1)


def fill_min_episode_frames(cfg) -> None:
    """`dataset.episode_checks: [short]` with no `min_episode_frames`: the policy's window, so that no
    episode the policy cannot fill a window from is trained on."""
    ds_cfg = cfg.dataset  # a MultiDatasetConfig: a list of datasets
    checks = [ds_cfg.episode_checks] if isinstance(ds_cfg.episode_checks, str) else ds_cfg.episode_checks
    if "short" in checks and ds_cfg.min_episode_frames is None:
        ds_cfg.min_episode_frames = policy_window(trainable_config(cfg))
        logger.info("dataset.min_episode_frames = %d (the policy's window)", ds_cfg.min_episode_frames)


def set_temporal_context(dataset, policy_cfg, spec: MixtureSpec, rename_map: dict | None = None) -> None:
    """The policy's delta indices (plus per-repo overrides in seconds) on a map-style or stream mixture.

    lerobot resolves delta indices (frames) to seconds with one fps; with mixed frame rates each dataset
    converts the same indices with its own fps, so a chunk is N of its frames.
    """
    overrides = dataset.meta.delta_overrides or {}
    delta_timestamps = policy_delta_timestamps(policy_cfg, dataset.meta, rename_map)
    if spec.mixed_fps and delta_timestamps is not None:
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
