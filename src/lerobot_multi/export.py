"""Export one normalization group of a checkpoint as a plain lerobot checkpoint.

A `per_robot`/`per_dataset` checkpoint carries one set of stats per group in lerobot-multi's own steps.
The export replaces each of them by lerobot's stock `NormalizerProcessorStep` /
`UnnormalizerProcessorStep` holding that group's stats (the very objects the group step applies), and
copies the policy's weights and config. Stock lerobot loads the result without lerobot-multi installed.
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

from lerobot_multi.normalize import _GroupNormalization
from lerobot_multi.sources import DatasetSourceError

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
    raise DatasetSourceError(
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


def export_group(checkpoint: str | Path, group: str, output: str | Path) -> Path:
    """Write a plain lerobot checkpoint for `group` (a group name or a repo_id) into `output`."""
    src, out = pretrained_dir(checkpoint), Path(output)
    if out.exists() and any(out.iterdir()):
        raise DatasetSourceError(f"--output {str(out)!r} exists and is not empty; name a new folder")
    pre, post = _load(src)
    replaced = 0
    for pipeline in (pre, post):
        for i, step in enumerate(pipeline.steps):
            if isinstance(step, _GroupNormalization):
                pipeline.steps[i] = step._steps[step._resolve(group)]
                replaced += 1
    if not replaced:
        raise DatasetSourceError(
            f"checkpoint {str(src)!r} holds no lerobot-multi normalization groups (normalization_mode "
            "'global'): stock lerobot loads it as it is"
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
