"""Where checkpoints find the group (un)normalizer steps: their saved class path names this module.

Kept importable forever (the steps live in `lerobot_multi.deploy.normalize`).
"""

from lerobot_multi.deploy.normalize import GroupNormalizerProcessorStep, GroupUnnormalizerProcessorStep

__all__ = ["GroupNormalizerProcessorStep", "GroupUnnormalizerProcessorStep"]
