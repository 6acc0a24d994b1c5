"""Conditioning on the mixture: a one-hot over groups (datasets, tasks or robots) appended to a vector.

lerobot's ACT and diffusion take no task input; trained on several tasks they must guess the task from
the observation. `condition_on` appends a one-hot over the groups to one vector feature
(`condition_feature`) of every sample, so the policy sees which group a frame comes from:

- `meta.features[key]` grows by one dimension per group (names `cond.<group>`), so `make_policy` sizes
  the policy by itself;
- the appended dimensions' stats are exact, from the frames per group (mean p, std sqrt(p(1-p)),
  min/max/quantiles of a 0/1 column). Every normalization group uses the mixture's values for them:
  within one group a one-hot may be constant, and normalizing it by its own stats would erase it;
- at inference, `ConditionProcessorStep` (condition_step.py) appends the same one-hot from the
  observation's `task` string or a named group.

The arithmetic lives here as pure functions of group ids, shared by the fast reader, lerobot's reader
and the stream.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pyarrow.parquet as pq
import torch

from lerobot_multi.meta.sources import DatasetSourceError

ENV_STATE, STATE = "observation.environment_state", "observation.state"


@dataclass
class Conditioning:
    """Which group each frame belongs to, and where its one-hot goes."""

    mode: str  # "dataset", "task" or "robot"
    key: str  # the vector feature that carries the one-hot
    base_width: int  # its size before the one-hot (the padded size under pad_vectors)
    groups: list[str]
    dataset_group: np.ndarray | None  # dataset -> group (modes dataset, robot)
    task_group: np.ndarray | None  # global task index -> group (mode task)
    frames: np.ndarray  # frames per group over the selected episodes

    @property
    def names(self) -> list[str]:
        return [f"cond.{g}" for g in self.groups]

    def group_ids(self, dataset_index, task_index) -> np.ndarray:
        """Group of each frame, from its `dataset_index` and global `task_index`."""
        if self.task_group is not None:
            return self.task_group[np.asarray(task_index, dtype=np.int64)]
        return self.dataset_group[np.asarray(dataset_index, dtype=np.int64)]

    def one_hot(self, gids: np.ndarray) -> np.ndarray:
        return np.eye(len(self.groups), dtype=np.float32)[np.asarray(gids, dtype=np.int64)]

    def append(self, values, gids):
        """`values` (..., base_width) with each row's one-hot appended on the last axis (windows: every step)."""
        hot = torch.from_numpy(self.one_hot(gids)).to(values.dtype)  # (n, G) or (G,)
        while hot.dim() < values.dim():
            hot = hot.unsqueeze(-2)
        return torch.cat([values, hot.expand(*values.shape[:-1], hot.shape[-1])], dim=-1)

    def extend_mask(self, mask):
        """A `<key>_pad_mask` over base_width, extended: the one-hot dimensions are never padding."""
        if isinstance(mask, torch.Tensor):
            return torch.cat([mask, torch.zeros((*mask.shape[:-1], len(self.groups)), dtype=torch.bool)], -1)
        return np.concatenate([mask, np.zeros((*mask.shape[:-1], len(self.groups)), dtype=bool)], -1)

    def stats(self) -> dict[str, np.ndarray]:
        """Exact stats of the one-hot columns over the selected frames."""
        p = self.frames / max(int(self.frames.sum()), 1)
        out = {
            "min": (p >= 1).astype(np.float64),  # 0 unless one group holds every frame
            "max": (p > 0).astype(np.float64),
            "mean": p,
            "std": np.sqrt(p * (1 - p)),
            "count": np.array([int(self.frames.sum())]),
        }
        for q in (1, 10, 50, 90, 99):  # a 0/1 column's quantile: 1 once the zeros (1 - p) are passed
            out[f"q{q:02d}"] = (1 - p < q / 100).astype(np.float64)
        return out


def default_feature(features: dict) -> str:
    return ENV_STATE if ENV_STATE in features else STATE


def _frames_per_task(meta, i: int) -> np.ndarray:
    """Frames per global task in dataset i's selected episodes (exact: an episode with several tasks
    is counted from its data's task_index column)."""
    out = np.zeros(len(meta.tasks), dtype=np.int64)
    sub = meta.sub_metas[i]
    local = dict(zip(sub.task_names, np.asarray(sub.task_ids).tolist()))
    ids, lengths = meta.frame_episodes(i)
    multi = []
    for ep, tasks, n in zip(
        ids.tolist(), meta.episode_tasks[i].column("tasks").to_pylist(), lengths.tolist()
    ):
        if len(tasks) == 1:
            out[meta.task_maps[i][local[tasks[0]]]] += n
        else:
            multi.append(ep)
    if multi:
        files = [str(meta.sources[i].root / f) for f in sub.data_files(np.array(multi))]
        table = pq.read_table(files, columns=["episode_index", "task_index"])
        rows = np.isin(table.column("episode_index").to_numpy(), multi)
        np.add.at(out, meta.task_maps[i][table.column("task_index").to_numpy()[rows]], 1)
    return out


def build_conditioning(meta, mode: str, key: str | None) -> Conditioning | None:
    """The conditioning of a mixture (`MultiDatasetMetadata`, before its features grow); `mode` is one
    of `spec.CONDITION_ON`, checked by the spec."""
    if mode == "none":
        return None
    features = meta.features
    key = key or default_feature(features)
    ft = features.get(key)
    if ft is None or len(ft["shape"]) != 1 or not ft["dtype"].startswith("float"):
        raise DatasetSourceError(
            f"dataset.condition_feature = {key!r}: expected a 1-D float feature common to every dataset; "
            f"vector features here: {[k for k, f in features.items() if len(f['shape']) == 1 and f['dtype'].startswith('float')]}"
        )
    per_dataset = np.array([meta.num_frames_of(i) for i in range(len(meta.repo_ids))])
    if mode == "task":
        groups = list(meta.tasks.index)
        frames = sum(
            (_frames_per_task(meta, i) for i in range(len(meta.repo_ids))), np.zeros(len(groups), np.int64)
        )
        return Conditioning(mode, key, ft["shape"][0], groups, None, np.arange(len(groups)), frames)
    names = [r if mode == "dataset" else str(m.robot_type) for r, m in zip(meta.repo_ids, meta.sub_metas)]
    groups = list(dict.fromkeys(names))
    dataset_group = np.array([groups.index(n) for n in names])
    frames = np.bincount(dataset_group, weights=per_dataset, minlength=len(groups)).astype(np.int64)
    return Conditioning(mode, key, ft["shape"][0], groups, dataset_group, None, frames)


def grow_feature(ft: dict, cond: Conditioning) -> dict:
    """The feature spec with the one-hot dimensions (shape and names)."""
    out = dict(ft)
    out["shape"] = (cond.base_width + len(cond.groups),)  # a tuple, as lerobot's load_info gives shapes
    names = ft.get("names")
    if isinstance(names, dict) and len(names) == 1:
        ((axis, values),) = names.items()
        out["names"] = {axis: [*values, *cond.names]}
    elif isinstance(names, Sequence) and not isinstance(names, str) and len(names) == cond.base_width:
        out["names"] = [*names, *cond.names]
    else:  # none, or padded to a size the names do not cover
        out["names"] = [*(f"{cond.key}.{j}" for j in range(cond.base_width)), *cond.names]
    return out


def grow_stats(stats: dict, cond: Conditioning, cond_stats: dict) -> dict:
    """A stats dict with the one-hot dimensions appended to the feature's per-dimension stats."""
    own = stats[cond.key]
    grown = {}
    for name, value in own.items():
        value = np.asarray(value)
        if name == "count":
            grown[name] = value
        else:
            grown[name] = np.concatenate([value.astype(np.float64), cond_stats[name]]).astype(value.dtype)
    return {**stats, cond.key: grown}
