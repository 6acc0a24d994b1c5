"""Export one normalization group of a checkpoint as a plain lerobot checkpoint.

A `per_robot`/`per_dataset` checkpoint carries one set of stats per group in lerobot-multi's own steps.
The export replaces each of them by lerobot's stock `NormalizerProcessorStep` /
`UnnormalizerProcessorStep` holding that group's stats (the very objects the group step applies), and
copies the policy's weights and config. Stock lerobot loads the result without lerobot-multi installed,
unless the policy was trained with `condition_on`: its one-hot step stays, fixed to one group (stock
lerobot has no step that appends a constant), and lerobot imports it from the installed package.
"""

from __future__ import annotations

import logging
import shutil
from pathlib import Path

from lerobot.processor import PolicyProcessorPipeline
from lerobot.processor.converters import (
    batch_to_transition,
    policy_action_to_transition,
    transition_to_batch,
    transition_to_policy_action,
)
from lerobot.utils.constants import POLICY_POSTPROCESSOR_DEFAULT_NAME, POLICY_PREPROCESSOR_DEFAULT_NAME

from lerobot_multi.deploy.condition_step import ConditionProcessorStep
from lerobot_multi.deploy.errors import DeployError
from lerobot_multi.deploy.normalize import GroupNormalization

logger = logging.getLogger(__name__)

# lerobot's train_config.json of a lerobot-multi run holds our dataset config, which stock lerobot's
# parser rejects; it only serves resuming, which an export is not for.
NOT_COPIED = ("train_config.json",)


def pretrained_dir(checkpoint: str | Path) -> Path:
    """The folder holding config.json: CHECKPOINT itself or CHECKPOINT/pretrained_model."""
    path = Path(checkpoint)
    for candidate in (path, path / "pretrained_model"):
        if (candidate / "config.json").is_file() and (
            candidate / f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json"
        ).is_file():
            return candidate
    raise DeployError(
        f"checkpoint {str(path)!r}: no config.json with {POLICY_PREPROCESSOR_DEFAULT_NAME}.json in it or in "
        "its pretrained_model/ (give a checkpoint folder such as outputs/train/x/checkpoints/last)"
    )


def _load(src: Path) -> tuple[PolicyProcessorPipeline, PolicyProcessorPipeline]:
    pre = PolicyProcessorPipeline.from_pretrained(
        src,
        config_filename=f"{POLICY_PREPROCESSOR_DEFAULT_NAME}.json",
        to_transition=batch_to_transition,
        to_output=transition_to_batch,
    )
    post = PolicyProcessorPipeline.from_pretrained(
        src,
        config_filename=f"{POLICY_POSTPROCESSOR_DEFAULT_NAME}.json",
        to_transition=policy_action_to_transition,
        to_output=transition_to_policy_action,
    )
    return pre, post


def export_group(
    checkpoint: str | Path, group: str | None, output: str | Path, condition: str | None = None
) -> Path:
    """Write a lerobot checkpoint for normalization `group` (a group name or a repo_id) into `output`.

    With conditioning, the condition step stays (it needs lerobot-multi installed) with its group fixed
    to `condition` (default: `group`, when it names a conditioning group too).
    """
    src, out = pretrained_dir(checkpoint), Path(output)
    if out.exists() and any(out.iterdir()):
        raise DeployError(f"--output {str(out)!r} exists and is not empty; name a new folder")
    pre, post = _load(src)
    replaced, conditioned = 0, False
    for pipeline in (pre, post):
        for i, step in enumerate(pipeline.steps):
            if isinstance(step, GroupNormalization):
                if group is None:
                    raise DeployError(
                        f"checkpoint {str(src)!r} normalizes per group {step.groups}: name one with --group"
                    )
                pipeline.steps[i] = step.step_for(group)
                replaced += 1
            elif isinstance(step, ConditionProcessorStep):
                name = condition if condition is not None else group
                step.select_group(name)  # an unknown group is an error listing the known ones
                conditioned = True
    if not replaced and not conditioned:
        raise DeployError(
            f"checkpoint {str(src)!r} holds no lerobot-multi normalization groups (normalization_mode "
            "'global') and no conditioning: stock lerobot loads it as it is"
        )
    out.mkdir(parents=True, exist_ok=True)
    for path in src.iterdir():
        if (
            path.is_file()
            and path.name not in NOT_COPIED
            and not path.name.startswith(("policy_pre", "policy_post"))
        ):
            shutil.copy2(path, out / path.name)
    pre.save_pretrained(out)
    post.save_pretrained(out)
    logger.info("exported group %r of %s to %s", group, src, out)
    return out
