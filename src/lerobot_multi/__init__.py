"""lerobot-multi: train one LeRobot policy on many LeRobot datasets (v3.0 and v2.1), without copying them."""

from __future__ import annotations

import importlib
import multiprocessing

from lerobot_multi.meta.sources import DatasetSourceError

_STEPS = {
    "ConditionProcessorStep": "lerobot_multi.deploy.condition_step",
    "GroupNormalizerProcessorStep": "lerobot_multi.deploy.normalize",
    "GroupUnnormalizerProcessorStep": "lerobot_multi.deploy.normalize",
}
if multiprocessing.current_process().name == "MainProcess":
    # `import lerobot_multi` registers the processor steps' 0.1.0 names (old checkpoints). Not in a
    # child process (a spawned DataLoader worker unpickling a mixture, which happens before
    # `parent_process()` is set): lerobot's processor package costs it seconds; there the steps
    # register when first named (`lerobot_multi.GroupNormalizerProcessorStep`) or when
    # lerobot_multi.deploy / lerobot_multi.normalize is imported.
    from lerobot_multi.deploy.condition_step import ConditionProcessorStep
    from lerobot_multi.deploy.normalize import GroupNormalizerProcessorStep, GroupUnnormalizerProcessorStep

# imported on first use: a spawned DataLoader worker unpickling a mixture imports its own modules,
# not the config's (lerobot's every policy and env) or the stream's
_LAZY = {
    **_STEPS,
    "DeployError": "lerobot_multi.deploy.errors",
    "MixtureHasNoFolderError": "lerobot_multi.meta.sources",
    "MixtureSpec": "lerobot_multi.meta.spec",
    "MultiDatasetConfig": "lerobot_multi.config",
    "MultiTrainPipelineConfig": "lerobot_multi.config",
    "make_dataset": "lerobot_multi.factory",
    "MultiDatasetMetadata": "lerobot_multi.meta.metadata",
    "MultiLeRobotDataset": "lerobot_multi.mix.dataset",
    "WeightedMixtureSampler": "lerobot_multi.mix.sampling",
    "StreamingMultiLeRobotDataset": "lerobot_multi.stream.streaming",
}

__all__ = [
    "ConditionProcessorStep",
    "DatasetSourceError",
    "DeployError",
    "GroupNormalizerProcessorStep",
    "GroupUnnormalizerProcessorStep",
    "MixtureHasNoFolderError",
    "MixtureSpec",
    "MultiDatasetConfig",
    "MultiDatasetMetadata",
    "MultiLeRobotDataset",
    "MultiTrainPipelineConfig",
    "StreamingMultiLeRobotDataset",
    "WeightedMixtureSampler",
    "make_dataset",
]
__version__ = "0.1.0"


def __getattr__(name: str):
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'lerobot_multi' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))
