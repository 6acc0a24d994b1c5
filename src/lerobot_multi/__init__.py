"""lerobot-multi: train one LeRobot policy on many LeRobot v3.0 datasets, without copying them."""

from __future__ import annotations

from lerobot_multi.config import MultiDatasetConfig, MultiTrainPipelineConfig
from lerobot_multi.deploy.condition_step import ConditionProcessorStep
from lerobot_multi.deploy.normalize import GroupNormalizerProcessorStep, GroupUnnormalizerProcessorStep
from lerobot_multi.factory import make_dataset
from lerobot_multi.meta.metadata import MultiDatasetMetadata
from lerobot_multi.meta.sources import DatasetSourceError
from lerobot_multi.mix.dataset import MultiLeRobotDataset
from lerobot_multi.mix.sampling import WeightedMixtureSampler
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset

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
