"""Per-robot / per-dataset normalization: a lerobot processor step with one set of stats per group.

Groups are robot types (`per_robot`) or datasets (`per_dataset`). In training, each sample is
normalized with its group's stats, found through its `dataset_index`; at inference (no
`dataset_index` in the batch) the step uses the group the user names, a robot_type or a repo_id
(a checkpoint with a single group needs no name):

    pre, post = make_pre_post_processors(cfg, pretrained_path=ckpt,
        preprocessor_overrides={"GroupNormalizerProcessorStep": {"group": "koch"}},
        postprocessor_overrides={"GroupUnnormalizerProcessorStep": {"group": "koch"}})

Checkpoints name the steps by class path ("lerobot_multi.normalize.GroupNormalizerProcessorStep"), so
lerobot's pipeline imports them by itself: no `import lerobot_multi` in eval, record or the policy
server. Override keys are therefore the class names. Checkpoints of 0.1.0 name the steps by registry
name ("lerobot_multi_group_normalizer"); this module registers both, and `import lerobot_multi`
imports it in the main process.
`lerobot-multi-export` turns one group into lerobot's stock steps (export.py).

The arithmetic is lerobot's own `NormalizerProcessorStep`/`UnnormalizerProcessorStep`, one per group.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.processor.converters import batch_to_transition
from lerobot.processor.normalize_processor import NormalizerProcessorStep, UnnormalizerProcessorStep
from lerobot.processor.pipeline import ProcessorStep, ProcessorStepRegistry

from lerobot_multi.compat import TransitionKey
from lerobot_multi.deploy.errors import DeployError
from lerobot_multi.meta.spec import group_of_datasets
from lerobot_multi.meta.stats import Stats, aggregate

DATASET_INDEX = "dataset_index"


def group_stats(
    repo_groups: Mapping[str, str], per_dataset_stats: Sequence[Stats], mixture: Stats | None = None
) -> dict[str, Stats]:
    """Aggregate each group's datasets' stats (same rules as the global stats). With the `mixture`'s
    stats, every group has every key they have: a key some of a group's datasets lack (a filled camera)
    from those that have it, one none of them has from the mixture's."""
    out: dict[str, list[Stats]] = {}
    for stats, group in zip(per_dataset_stats, repo_groups.values()):
        out.setdefault(group, []).append(stats)
    if mixture is None:
        return {g: aggregate(s) for g, s in out.items()}
    merged = {g: aggregate(s, keys=[k for k in mixture if any(k in st for st in s)]) for g, s in out.items()}
    for stats in merged.values():
        for key in mixture:
            stats.setdefault(key, {name: np.array(value, copy=True) for name, value in mixture[key].items()})
    return merged


def _features_from_config(features: Mapping[str, Any]) -> dict[str, PolicyFeature]:
    return {
        k: v
        if isinstance(v, PolicyFeature)
        else PolicyFeature(type=FeatureType(v["type"]), shape=tuple(v["shape"]))
        for k, v in features.items()
    }


@dataclass
class GroupNormalization(ProcessorStep):
    """One lerobot (un)normalizer per group; samples are routed by `dataset_index`."""

    features: dict[str, Any]
    norm_map: dict[Any, Any]
    repo_groups: dict[str, str]  # repo_id -> group, in dataset_index order
    stats: dict[str, Stats] | None = None  # group -> stats
    group: str | None = None  # for batches without dataset_index (inference): a group or a repo_id
    eps: float = 1e-8
    device: torch.device | str | None = None
    _steps: dict[str, Any] = field(default_factory=dict, init=False, repr=False)

    base: type = field(default=NormalizerProcessorStep, init=False, repr=False)

    def __post_init__(self) -> None:
        self.features = _features_from_config(self.features)
        self.norm_map = {
            FeatureType(k) if isinstance(k, str) else k: NormalizationMode(v) if isinstance(v, str) else v
            for k, v in self.norm_map.items()
        }
        self.groups = list(dict.fromkeys(self.repo_groups.values()))
        self._dataset_group = torch.tensor([self.groups.index(g) for g in self.repo_groups.values()])
        stats = self.stats or {}
        self._steps = {
            g: self.base(
                features=self.features,
                norm_map=self.norm_map,
                stats=stats.get(g),
                eps=self.eps,
                device=self.device,
            )
            for g in self.groups
        }

    def _resolve(self, name: str | None) -> str:
        if name is None and len(self.groups) == 1:
            return self.groups[0]
        if name in self.groups:
            return name
        if name in self.repo_groups:
            return self.repo_groups[name]
        raise DeployError(
            f"normalization group {name!r} is unknown: name one of the groups {self.groups} or a repo_id of "
            f"{list(self.repo_groups)} with overrides {{{type(self).__name__!r}: {{'group': ...}}}}, or "
            "write a plain lerobot checkpoint for one group with `lerobot-multi-export CHECKPOINT --group "
            "NAME --output DIR`"
        )

    def step_for(self, name: str | None):
        """lerobot's plain (un)normalizer step of group `name` (a group or a repo_id)."""
        return self._steps[self._resolve(name)]

    def __call__(self, transition):
        ids = (transition.get(TransitionKey.COMPLEMENTARY_DATA) or {}).get(DATASET_INDEX)
        if ids is None:
            return self._steps[self._resolve(self.group)](transition)
        sample_group = self._dataset_group.to(torch.as_tensor(ids).device)[
            torch.as_tensor(ids).long().reshape(-1)
        ]
        out = dict(transition)
        obs = dict(transition.get(TransitionKey.OBSERVATION) or {})
        action = transition.get(TransitionKey.ACTION)
        new_obs = {k: v.clone() if isinstance(v, torch.Tensor) else v for k, v in obs.items()}
        new_action = action.clone() if isinstance(action, torch.Tensor) else action
        for gi in sample_group.unique().tolist():
            rows = sample_group == gi
            sub = dict(transition)
            sub[TransitionKey.OBSERVATION] = {
                k: v[rows] if isinstance(v, torch.Tensor) else v for k, v in obs.items()
            }
            sub[TransitionKey.ACTION] = action[rows] if isinstance(action, torch.Tensor) else action
            res = self._steps[self.groups[gi]](sub)
            for k, v in (res.get(TransitionKey.OBSERVATION) or {}).items():
                if isinstance(v, torch.Tensor) and k in new_obs:
                    new_obs[k][rows] = v.to(new_obs[k].dtype)
            if isinstance(new_action, torch.Tensor):
                new_action[rows] = res[TransitionKey.ACTION].to(new_action.dtype)
        out[TransitionKey.OBSERVATION] = new_obs if obs else transition.get(TransitionKey.OBSERVATION)
        out[TransitionKey.ACTION] = new_action
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "features": {k: {"type": f.type.value, "shape": list(f.shape)} for k, f in self.features.items()},
            "norm_map": {k.value: v.value for k, v in self.norm_map.items()},
            "repo_groups": dict(self.repo_groups),
            "group": self.group,
            "eps": self.eps,
        }

    def state_dict(self) -> dict[str, torch.Tensor]:
        return {
            f"{gi}.{k}": v for gi, g in enumerate(self.groups) for k, v in self._steps[g].state_dict().items()
        }

    def load_state_dict(self, state: Mapping[str, torch.Tensor]) -> None:
        for gi, g in enumerate(self.groups):
            prefix = f"{gi}."
            self._steps[g].load_state_dict(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        self.stats = {g: step.stats for g, step in self._steps.items()}  # readable after loading

    def to(self, device=None, dtype=None):
        for step in self._steps.values():
            step.to(device=device, dtype=dtype)
        self._dataset_group = self._dataset_group.to(device) if device is not None else self._dataset_group
        return self

    def transform_features(self, features):
        return features


@dataclass
class GroupNormalizerProcessorStep(GroupNormalization):
    base: type = field(default=NormalizerProcessorStep, init=False, repr=False)


@dataclass
class GroupUnnormalizerProcessorStep(GroupNormalization):
    base: type = field(default=UnnormalizerProcessorStep, init=False, repr=False)


# Saved checkpoints name these classes by path: the path they had before the package's layout moved
# (lerobot_multi/normalize.py re-exports them), so old and new checkpoints name the same, importable one.
for _cls in (GroupNormalizerProcessorStep, GroupUnnormalizerProcessorStep):
    _cls.__module__ = "lerobot_multi.normalize"

# Registered names load 0.1.0's checkpoints. The attribute lerobot's registry sets is removed again, so
# that saving names each step by its class path, which lerobot imports without a registry.
LEGACY_NAMES = {
    GroupNormalizerProcessorStep: "lerobot_multi_group_normalizer",
    GroupUnnormalizerProcessorStep: "lerobot_multi_group_unnormalizer",
}
for _cls, _name in LEGACY_NAMES.items():
    if _name not in ProcessorStepRegistry.list():  # a module run twice (reload) registers once
        ProcessorStepRegistry.register(name=_name)(_cls)
    if "_registry_name" in vars(_cls):
        del _cls._registry_name


def batch_to_transition_with_dataset_index(batch: dict) -> dict:
    """lerobot's batch_to_transition drops `dataset_index`; keep it for per-group normalization."""
    transition = batch_to_transition(batch)
    if DATASET_INDEX in batch:
        comp = dict(transition.get(TransitionKey.COMPLEMENTARY_DATA) or {})
        comp[DATASET_INDEX] = batch[DATASET_INDEX]
        transition[TransitionKey.COMPLEMENTARY_DATA] = comp
    return transition


def install_group_normalization(
    preprocessor, postprocessor, repo_groups: dict[str, str], stats: dict[str, Stats] | None
) -> None:
    """Swap lerobot's (un)normalizer steps for group-aware ones (stats None: keep loaded ones)."""
    for pipeline, plain, grouped in (
        (preprocessor, NormalizerProcessorStep, GroupNormalizerProcessorStep),
        (postprocessor, UnnormalizerProcessorStep, GroupUnnormalizerProcessorStep),
    ):
        for i, step in enumerate(pipeline.steps):
            if isinstance(step, plain):
                pipeline.steps[i] = grouped(
                    features=step.features,
                    norm_map=step.norm_map,
                    repo_groups=repo_groups,
                    stats=stats,
                    eps=step.eps,
                    device=step.device,
                )
    preprocessor.to_transition = batch_to_transition_with_dataset_index


def dataset_group_stats(
    dataset, mode: str, use_imagenet_stats: bool = False
) -> tuple[dict[str, str], dict[str, Stats]]:
    """({repo_id: group}, {group: stats}) of a MultiLeRobotDataset under `mode`."""
    meta = dataset.meta
    repo_groups = group_of_datasets(meta.repo_ids, [m.robot_type for m in meta.sub_metas], mode)
    stats = group_stats(repo_groups, meta.per_dataset_stats, meta.stats)
    cond = meta.conditioning
    if cond is not None:  # the one-hot's stats are the mixture's in every group (conditioning.py)
        for group in stats.values():
            for name, value in group[cond.key].items():
                if name != "count":
                    value[cond.base_width :] = meta.stats[cond.key][name][cond.base_width :]
    if use_imagenet_stats:
        for group in stats.values():
            for key in meta.camera_keys:
                group[key].update({k: meta.stats[key][k] for k in ("mean", "std")})
    return repo_groups, stats


def _saved_step_key(pretrained_path, filename: str, cls: type) -> str | None:
    """The override key of `cls` in a saved pipeline: its class name, or its 0.1.0 registry name."""
    path = Path(pretrained_path) / filename
    if not path.exists():
        return None
    for step in json.loads(path.read_text()).get("steps", []):
        if step.get("class") == f"{cls.__module__}.{cls.__name__}":
            return cls.__name__
        if step.get("registry_name") == LEGACY_NAMES[cls]:
            return LEGACY_NAMES[cls]
    return None


def saved_with_groups(pretrained_path) -> bool:
    """Whether a saved preprocessor already holds group normalizers."""
    return (
        _saved_step_key(pretrained_path, "policy_preprocessor.json", GroupNormalizerProcessorStep) is not None
    )


def translate_overrides(kwargs: dict, stats: dict[str, Stats], pretrained_path) -> dict:
    """lerobot's resume overrides name the plain (un)normalizer steps; point them at ours."""
    out = dict(kwargs)
    for key, plain, filename, grouped in (
        (
            "preprocessor_overrides",
            "normalizer_processor",
            "policy_preprocessor.json",
            GroupNormalizerProcessorStep,
        ),
        (
            "postprocessor_overrides",
            "unnormalizer_processor",
            "policy_postprocessor.json",
            GroupUnnormalizerProcessorStep,
        ),
    ):
        overrides = dict(out.get(key) or {})
        step_key = _saved_step_key(pretrained_path, filename, grouped)
        if plain in overrides and step_key is not None:
            overrides.pop(plain)
            overrides[step_key] = {"stats": stats}
        out[key] = overrides
    return out
