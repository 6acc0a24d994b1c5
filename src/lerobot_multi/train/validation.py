"""Held-out episodes per dataset and the policy's validation loss on them.

`split_episodes` holds out episodes per dataset, deterministically from the seed and the repo_id (so
adding a dataset leaves the others' splits alone): at least one where a dataset has two or more, never
all. Training reads only the rest, so its normalization stats come from the training episodes.

`ValidationSet` is a fixed sample of held-out frames per dataset (the same frames at every validation,
at most `max_batches` batches each), read through a mixture over training + held-out episodes: same
datasets in the same order, so `dataset_index` (per-robot normalization) and the conditioning one-hot
are the training run's. `losses` computes the policy's own loss per dataset, in eval mode and without
gradients, with torch's RNG forked and seeded (diffusion's noise and ACT's latent sample are then the
same every time; ACT keeps its VAE branch, the only one where lerobot computes its loss).
"""

from __future__ import annotations

import json
import logging
import math
import zlib
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import torch
from lerobot.policies.act.configuration_act import ACTConfig

from lerobot_multi.compat import collate_for
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.meta.spec import parse_val_episodes

logger = logging.getLogger(__name__)
METRICS_FILE = "val_metrics.jsonl"


def split_episodes(
    selections: Mapping[str, Sequence[int]], spec, seed: int, keep: Mapping[str, Sequence[int]] | None = None
) -> dict[str, list[int]]:
    """{repo_id: held-out episode ids} out of each dataset's selected `selections`.

    `keep`: splits to reuse as they are (a resumed run's), for the datasets they name.
    """
    spec = parse_val_episodes(spec)
    held: dict[str, list[int]] = {}
    for repo_id, selected in selections.items():
        selected = [int(e) for e in selected]
        if keep is not None and repo_id in keep:
            held[repo_id] = sorted(int(e) for e in keep[repo_id])
            continue
        if isinstance(spec, dict):
            chosen = sorted(spec.get(repo_id, []))
            outside = sorted(set(chosen) - set(selected))
            if outside:
                raise DatasetSourceError(
                    f"dataset {repo_id!r}: dataset.val_episodes holds out episodes {outside} that are not "
                    f"among its selected episodes"
                )
        elif len(selected) < 2:
            chosen = []
            logger.warning(
                "Dataset %r has %d episode(s): none held out for validation", repo_id, len(selected)
            )
        else:
            k = max(1, round(spec * len(selected))) if isinstance(spec, float) else spec
            rng = np.random.default_rng([seed, zlib.crc32(repo_id.encode())])
            chosen = sorted(rng.choice(selected, size=min(k, len(selected) - 1), replace=False).tolist())
        if chosen and len(chosen) >= len(selected):
            raise DatasetSourceError(
                f"dataset {repo_id!r}: dataset.val_episodes holds out all {len(selected)} of its episodes; "
                "keep at least one for training"
            )
        held[repo_id] = chosen
    return held


def split_by_task(
    selections: Mapping[str, Sequence[int]], episode_tasks: Mapping[str, Sequence[str]], fraction: float
) -> dict[str, list[int]]:
    """lerobot 0.6's `dataset.eval_split` within each dataset: per task (an episode's first task), the
    last ceil(n x fraction) of its selected episodes are held out. `episode_tasks[repo_id][e]` is
    episode e's first task."""
    held: dict[str, list[int]] = {}
    for repo_id, selected in selections.items():
        by_task: dict[str, list[int]] = {}
        for e in selected:
            by_task.setdefault(episode_tasks[repo_id][int(e)], []).append(int(e))
        chosen = [e for eps in by_task.values() for e in eps[len(eps) - math.ceil(len(eps) * fraction) :]]
        if len(chosen) >= len(selected):
            raise DatasetSourceError(
                f"dataset {repo_id!r}: dataset.eval_split={fraction} holds out all {len(selected)} of its "
                "episodes (each task keeps none); lower it or select more episodes"
            )
        held[repo_id] = sorted(chosen)
    return held


class HeldOutFrames(torch.utils.data.Subset):
    """The held-out frames of a mixture as lerobot 0.6's eval dataset; `hf_dataset` has their rows,
    which lerobot's `max_eval_samples` reads (`task_index` per frame)."""

    @property
    def hf_dataset(self):
        return self.dataset.hf_dataset.select(self.indices)

    @property
    def meta(self):
        return self.dataset.meta


def held_out_frames(dataset, held_out: Mapping[str, Sequence[int]]) -> dict[str, np.ndarray]:
    """{repo_id: global frame indices of its held-out episodes} in a mixture holding them."""
    episodes = dataset.meta.episodes
    ds_index = np.asarray(episodes["dataset_index"])
    source = np.asarray(episodes["source_episode_index"])
    start = np.asarray(episodes["dataset_from_index"])
    end = np.asarray(episodes["dataset_to_index"])
    out = {}
    for d, repo_id in enumerate(dataset.repo_ids):
        rows = np.flatnonzero((ds_index == d) & np.isin(source, list(held_out.get(repo_id, []))))
        if len(rows):
            out[repo_id] = np.concatenate([np.arange(start[r], end[r]) for r in rows])
    return out


class ValidationSet:
    """A fixed sample of each dataset's held-out frames in a mixture `dataset` (train + held-out)."""

    def __init__(
        self,
        dataset,
        held_out: Mapping[str, Sequence[int]],
        batch_size: int,
        max_batches: int,
        seed: int,
    ):
        self.dataset, self.batch_size = dataset, batch_size
        self.indices: dict[str, np.ndarray] = {}
        for repo_id, frames in held_out_frames(dataset, held_out).items():
            rng = np.random.default_rng([seed, zlib.crc32(repo_id.encode())])
            n = min(len(frames), batch_size * max_batches)
            self.indices[repo_id] = np.sort(rng.choice(frames, size=n, replace=False))

    @property
    def frames(self) -> dict[str, int]:
        return {r: len(v) for r, v in self.indices.items()}

    def all_held_out(self, held_out: Mapping[str, Sequence[int]]) -> HeldOutFrames:
        """Every held-out frame, in dataset order, as one dataset (lerobot 0.6's eval loop reads it)."""
        frames = held_out_frames(self.dataset, held_out).values()
        return HeldOutFrames(self.dataset, np.concatenate(list(frames)).tolist())

    def batches(self, repo_id: str):
        collate = collate_for(self.dataset.meta)
        idx = self.indices[repo_id]
        for a in range(0, len(idx), self.batch_size):
            batch = collate(self.dataset.__getitems__(idx[a : a + self.batch_size].tolist()))
            # uint8 frames (lerobot 0.6's training default) become float as lerobot's loop makes them
            for key in self.dataset.meta.camera_keys:
                if key in batch and batch[key].dtype == torch.uint8:
                    batch[key] = batch[key].to(dtype=torch.float32) / 255.0
            yield batch

    def losses(self, policy, preprocessor, seed: int = 0) -> dict[str, float]:
        """The policy's loss per dataset (frame-weighted mean over its batches)."""
        was_training = policy.training
        policy.eval()
        if isinstance(policy.config, ACTConfig) and policy.config.use_vae:
            # ACT computes its loss only through its VAE encoder (in eval mode lerobot's forward fails
            # on the missing latent stats): keep that branch, with dropout off and a seeded sample.
            policy.model.training = True
        out = {}
        try:
            with torch.no_grad(), torch.random.fork_rng(devices=[]):
                torch.manual_seed(seed)
                for repo_id in self.indices:
                    total, count = 0.0, 0
                    for batch in self.batches(repo_id):
                        n = len(batch["index"])
                        loss, _ = policy.forward(preprocessor(batch))
                        total, count = total + float(loss) * n, count + n
                    out[repo_id] = total / count
        finally:
            policy.train(was_training)
        return out


def append_metrics(
    output_dir: Path, step: int, losses: Mapping[str, float], seconds: float | None = None
) -> dict:
    record = {"step": int(step), "loss": dict(losses), "mean": float(np.mean(list(losses.values())))}
    if seconds is not None:
        record["seconds"] = round(seconds, 4)  # the validation's wall time (first: opening included)
    Path(output_dir).mkdir(parents=True, exist_ok=True)
    with open(Path(output_dir) / METRICS_FILE, "a") as f:
        f.write(json.dumps(record) + "\n")
    return record


def read_metrics(output_dir: Path) -> list[dict]:
    path = Path(output_dir) / METRICS_FILE
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def summary_table(train_frames: Mapping[str, int], val_frames: Mapping[str, int], records: list[dict]) -> str:
    """Per dataset: train frames, held-out frames, first and last validation loss."""
    width = max([len("dataset"), *(len(r) for r in train_frames)])
    lines = [f"{'dataset':<{width}} {'train frames':>12} {'held-out':>9} {'first val':>10} {'last val':>10}"]
    for repo_id, n in train_frames.items():
        seen = [r["loss"][repo_id] for r in records if repo_id in r["loss"]]
        first, last = (f"{seen[0]:.4f}", f"{seen[-1]:.4f}") if seen else ("-", "-")
        lines.append(f"{repo_id:<{width}} {n:>12} {val_frames.get(repo_id, 0):>9} {first:>10} {last:>10}")
    return "\n".join(lines)
