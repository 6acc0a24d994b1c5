"""`ConditionProcessorStep`: the conditioning one-hot at inference, as a lerobot processor step.

Training samples already carry the one-hot (the dataset appends it; the step lets a vector of the full
size pass). At inference the observation has the feature's own size: the step appends the one-hot of
the group named by the `group` override, or else by the observation's `task` string (lerobot's
`predict_action` and robot clients pass it), before the normalizer, exactly as in training. The step
is saved with the policy's preprocessor by class path, so lerobot loads it by itself:

    pre, post = make_pre_post_processors(cfg, pretrained_path=ckpt,
        preprocessor_overrides={"ConditionProcessorStep": {"group": "push-v3"}})
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from lerobot.processor.pipeline import ProcessorStep, ProcessorStepRegistry

from lerobot_multi.compat import TransitionKey
from lerobot_multi.deploy.errors import DeployError


@dataclass
class ConditionProcessorStep(ProcessorStep):
    """Append a one-hot over `groups` to observation `key` (zero-padded to `base_width` first)."""

    key: str
    base_width: int
    groups: list[str]
    mode: str = "task"
    aliases: dict[str, str] = field(default_factory=dict)  # other names of a group: repo_ids, tasks
    group: str | None = None  # a group (or alias) for every observation; None: from `task`

    def _gid(self, name: str | None) -> int:
        resolved = self.aliases.get(name, name)
        if resolved in self.groups:
            return self.groups.index(resolved)
        raise DeployError(
            f"conditioning group {name!r} is unknown (condition_on={self.mode}): name one of the groups "
            f"{self.groups}"
            + (f" or {sorted(self.aliases)}" if self.aliases else "")
            + " as the observation's "
            "task or with overrides {'ConditionProcessorStep': {'group': ...}}"
        )

    def select_group(self, name: str) -> None:
        """Fix the group every observation is conditioned on (an unknown name is an error)."""
        self._gid(name)
        self.group = name

    def __call__(self, transition):
        obs = transition.get(TransitionKey.OBSERVATION) or {}
        value = obs.get(self.key)
        if not isinstance(value, torch.Tensor):
            return transition
        width, full = value.shape[-1], self.base_width + len(self.groups)
        if width == full:  # a training batch: the dataset appended it
            return transition
        if width > self.base_width:
            raise DeployError(
                f"observation {self.key!r} has {width} dimensions: expected {self.base_width} (or {full} "
                "with the conditioning one-hot)"
            )
        if self.group is not None:
            names = [self.group]
        else:
            task = (transition.get(TransitionKey.COMPLEMENTARY_DATA) or {}).get("task")
            names = [task] if isinstance(task, str) or task is None else list(task)
        gids = torch.tensor([self._gid(n) for n in names], device=value.device)
        hot = torch.nn.functional.one_hot(gids, len(self.groups)).to(value.dtype)
        rows = value.shape[:-1]  # (batch, ...) at inference
        hot = hot.reshape(-1, *([1] * (len(rows) - 1)), len(self.groups)) if len(names) > 1 else hot[0]
        padded = torch.nn.functional.pad(value, (0, self.base_width - width))
        out = dict(transition)
        out[TransitionKey.OBSERVATION] = {
            **obs,
            self.key: torch.cat([padded, hot.expand(*rows, len(self.groups))], dim=-1),
        }
        return out

    def get_config(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "base_width": self.base_width,
            "groups": list(self.groups),
            "mode": self.mode,
            "aliases": dict(self.aliases),
            "group": self.group,
        }

    def transform_features(self, features):
        return features


# saved by its class path from before the layout moved (lerobot_multi/condition_step.py re-exports it)
ConditionProcessorStep.__module__ = "lerobot_multi.condition_step"
if "lerobot_multi_condition" not in ProcessorStepRegistry.list():  # a module run twice registers once
    ProcessorStepRegistry.register(name="lerobot_multi_condition")(ConditionProcessorStep)
if "_registry_name" in vars(ConditionProcessorStep):  # saved by class path: lerobot imports it by itself
    del ConditionProcessorStep._registry_name


def condition_step(meta) -> ConditionProcessorStep | None:
    """The inference step of a mixture's conditioning (None without conditioning)."""
    cond = meta.conditioning
    if cond is None:
        return None
    aliases: dict[str, str] = {}
    if cond.mode != "task":
        for i, rid in enumerate(meta.repo_ids):
            aliases[rid] = cond.groups[cond.dataset_group[i]]
        # a task names a group when all its frames come from that group
        owner: dict[str, set[str]] = {}
        for i, rid in enumerate(meta.repo_ids):
            for task in meta.sub_metas[i].task_names:
                owner.setdefault(task, set()).add(aliases[rid])
        aliases.update({t: next(iter(g)) for t, g in owner.items() if len(g) == 1})
    aliases = {k: v for k, v in aliases.items() if k != v}
    return ConditionProcessorStep(cond.key, cond.base_width, list(cond.groups), cond.mode, aliases)


def add_condition_step(preprocessor, meta) -> None:
    """Insert the mixture's condition step before the (group) normalizer, unless the pipeline has one."""
    step = condition_step(meta)
    if step is None or any(isinstance(s, ConditionProcessorStep) for s in preprocessor.steps):
        return
    from lerobot.processor.normalize_processor import NormalizerProcessorStep

    from lerobot_multi.deploy.normalize import GroupNormalizerProcessorStep

    normalizers = (NormalizerProcessorStep, GroupNormalizerProcessorStep)
    at = next(
        (i for i, s in enumerate(preprocessor.steps) if isinstance(s, normalizers)), len(preprocessor.steps)
    )
    preprocessor.steps.insert(at, step)
