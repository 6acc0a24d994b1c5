"""One lerobot-multi-train run's mixture state: held-out split, manifest check on resume, and the watch.

`open_training_mixture` builds the training dataset of a run config the way lerobot's loop asks for
it (`make_dataset(cfg)`), after holding out `dataset.val_episodes`, and compares the mixture with the
resumed checkpoint's `mixture.json`. The config the user wrote is left as it was (it is what lerobot
saves as train_config.json): the split lives in the manifest.
"""

from __future__ import annotations

import copy
import functools
import logging
from dataclasses import dataclass, field
from pathlib import Path

from lerobot_multi import compat
from lerobot_multi.compat import load_training_step
from lerobot_multi.factory import fill_min_episode_frames
from lerobot_multi.meta.locations.hub_cache import remember_listings
from lerobot_multi.meta.opening import open_sources
from lerobot_multi.meta.sources import DatasetSourceError, normalize_repo_ids
from lerobot_multi.meta.spec import MixtureSpec
from lerobot_multi.train.manifest import (
    MANIFEST_FILE,
    build_manifest,
    compare,
    pinned_revisions,
    read_manifest,
    recorded_listings,
)
from lerobot_multi.train.validation import ValidationSet, split_by_task, split_episodes
from lerobot_multi.train.watch import TrainingWatch

logger = logging.getLogger(__name__)


@dataclass
class RunState:
    held_out: dict[str, list[int]] | None = None
    manifest: dict = field(default_factory=dict)
    mixture_changed: bool = False  # resumed on a changed mixture (allowed): samplers restart
    watch: TrainingWatch | None = None
    eval_dataset: object | None = None  # lerobot 0.6's eval dataset (`dataset.eval_split`): held-out frames


def _saved_manifest(cfg) -> dict | None:
    if not (cfg.resume and cfg.checkpoint_path is not None):
        return None
    path = Path(cfg.checkpoint_path) / "pretrained_model" / MANIFEST_FILE
    if not path.exists():
        logger.warning("No %s in %s: the resumed mixture is not checked", MANIFEST_FILE, path.parent)
        return None
    return read_manifest(path)


def _selections(ds_cfg) -> tuple[dict[str, list[int]], dict[str, list[str]], float | int | dict, list]:
    """Each dataset's selected episodes (those passing `episode_checks`), every episode's first task,
    `val_episodes` (a fraction, a count, or the held-out ids each source names), and the episodes that
    failed the checks: its info.json and meta/episodes alone, no merged
    metadata (stats aggregation would be done again by the training dataset)."""
    spec = MixtureSpec.from_config(ds_cfg)
    sources, metas, _, failed = open_sources(spec)
    selections, tasks = {}, {}
    for s, m in zip(sources, metas):
        selections[s.repo_id] = list(s.episodes) if s.episodes is not None else list(range(m.total_episodes))
        tasks[s.repo_id] = [t[0] if len(t) else "" for t in m.episodes.column("tasks").to_pylist()]
    val = spec.val_episodes
    if isinstance(val, dict):
        val = {s.repo_id: list(s.val_episodes) for s in sources if s.val_episodes is not None}
    return selections, tasks, val, failed


def _held_out(ds_cfg, seed: int, saved: dict | None) -> tuple[dict | None, dict | None]:
    """(selections, held-out episodes) from `dataset.val_episodes` or lerobot 0.6's `dataset.eval_split`
    (per task within each dataset); a resumed run keeps its checkpoint's split."""
    eval_split = compat.eval_split(ds_cfg)
    if eval_split and ds_cfg.val_episodes is not None:
        raise DatasetSourceError(
            "dataset.eval_split and dataset.val_episodes both hold out episodes; give one of them"
        )
    if ds_cfg.val_episodes is None and not eval_split:
        return None, None
    selections, tasks, val_episodes, failed = _selections(ds_cfg)
    keep = {d["repo_id"]: d["held_out"] for d in saved["datasets"]} if saved else None
    if eval_split:
        held = split_by_task(selections, tasks, eval_split)
        held.update({r: sorted(v) for r, v in (keep or {}).items() if r in held})
    else:
        held = split_episodes(selections, val_episodes, seed, keep)
    for s in failed:  # held out from the passing episodes; the mixtures check and report the others
        selections[s.repo_id].append(s.episode)
    return selections, held


def open_training_mixture(run_cfg, make) -> tuple[object, RunState]:
    """(training dataset, run state) for `run_cfg` with a dataset list; `make` is `make_dataset`."""
    ds_cfg, state = run_cfg.dataset, RunState()
    fill_min_episode_frames(run_cfg)  # the held-out split sees the episodes training keeps
    saved = _saved_manifest(run_cfg)
    if saved is not None:  # read the hub commits and meta/ files the checkpoint was trained on: no API call
        ds_cfg.revision = pinned_revisions(ds_cfg.revision, saved, normalize_repo_ids(ds_cfg.repo_id))
        remember_listings(recorded_listings(saved))
    selections, state.held_out = _held_out(ds_cfg, run_cfg.seed or 0, saved)
    if state.held_out is not None:
        train_episodes = {r: sorted(set(sel) - set(state.held_out[r])) for r, sel in selections.items()}
        original = ds_cfg.episodes
        ds_cfg.episodes = train_episodes
        try:
            dataset = make(run_cfg)
        finally:
            ds_cfg.episodes = original
    else:
        dataset = make(run_cfg)
    state.manifest = build_manifest(dataset, state.held_out)
    if saved is not None:
        diff = compare(saved, state.manifest)
        if diff and not ds_cfg.allow_mixture_change:
            raise DatasetSourceError(
                "the mixture differs from the resumed checkpoint's mixture.json:\n  - "
                + "\n  - ".join(diff)
                + "\nResume with --dataset.allow_mixture_change=true to accept it (the sampler restarts)"
            )
        if diff:
            logger.warning(
                "The mixture changed since the checkpoint (%s); the sample stream restarts, held-out "
                "episodes are kept for the datasets that remain",
                "; ".join(diff),
            )
            state.mixture_changed = True
    step = 0
    if run_cfg.resume and run_cfg.checkpoint_path is not None:
        step = load_training_step(Path(run_cfg.checkpoint_path) / "training_state")
    factory = None
    held_frames = None
    if state.held_out is not None and any(state.held_out.values()):
        factory = functools.cache(lambda: _validation_set(run_cfg, make, selections, state.held_out))
        held_frames = _held_out_frames(dataset, state.held_out)
        if compat.eval_split(ds_cfg):
            state.eval_dataset = factory().all_held_out(state.held_out)
    state.watch = TrainingWatch(run_cfg, dataset, dataset.sampling_shares, step, factory, held_frames)
    return dataset, state


def _held_out_frames(dataset, held_out: dict[str, list[int]]) -> dict[str, int]:
    out = {}
    for sub, source in zip(dataset.meta.sub_metas, dataset.meta.sources):
        lengths = sub.column("length")
        out[source.repo_id] = int(sum(int(lengths[e]) for e in held_out.get(source.repo_id, [])))
    return out


def _validation_set(run_cfg, make, selections: dict, held_out: dict) -> ValidationSet:
    """Held-out frames read through a map-style mixture of training + held-out episodes (no image
    augmentation): the same datasets in the same order, so dataset_index and one-hots are training's."""
    val_cfg = copy.deepcopy(run_cfg)
    val_cfg.dataset.episodes = selections
    val_cfg.dataset.streaming = False
    val_cfg.dataset.image_transforms.enable = False
    dataset = make(val_cfg)
    return ValidationSet(
        dataset, held_out, run_cfg.batch_size, run_cfg.dataset.val_batches, run_cfg.seed or 0
    )
