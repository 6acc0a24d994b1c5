"""lerobot-multi: train one LeRobot policy on many LeRobot v3.0 datasets, without copying them."""

from __future__ import annotations

from lerobot_multi.condition_step import ConditionProcessorStep
from lerobot_multi.config import MultiDatasetConfig, MultiTrainPipelineConfig
from lerobot_multi.dataset import MultiLeRobotDataset
from lerobot_multi.factory import make_dataset
from lerobot_multi.metadata import MultiDatasetMetadata
from lerobot_multi.normalize import GroupNormalizerProcessorStep, GroupUnnormalizerProcessorStep
from lerobot_multi.sampling import WeightedMixtureSampler
from lerobot_multi.sources import DatasetSourceError
from lerobot_multi.streaming import StreamingMultiLeRobotDataset

__all__ = [
    "ConditionProcessorStep",
    "DatasetSourceError",
    "GroupNormalizerProcessorStep",
    "GroupUnnormalizerProcessorStep",
    "MultiDatasetConfig",
    "MultiDatasetMetadata",
    "MultiLeRobotDataset",
    "MultiTrainPipelineConfig",
    "StreamingMultiLeRobotDataset",
    "WeightedMixtureSampler",
    "make_dataset",
]
__version__ = "0.1.0"
