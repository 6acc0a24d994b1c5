"""Where checkpoints find the condition step: its saved class path names this module.

Kept importable forever (the step lives in `lerobot_multi.deploy.condition_step`).
"""

from lerobot_multi.deploy.condition_step import ConditionProcessorStep

__all__ = ["ConditionProcessorStep"]
