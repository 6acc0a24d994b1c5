"""lerobot-multi-train: lerobot 0.4.4's own `lerobot-train`, with a dataset list allowed.

The seam: lerobot's training script calls the module-level name `make_dataset`, and parses its
config as `TrainPipelineConfig`. We parse `MultiTrainPipelineConfig` (the same flags, `repo_id` may be a
list) and run lerobot's unwrapped `train` function with our `make_dataset` in that name's place. The
loop, checkpoints, resume and accelerate handling stay lerobot's.
"""

# No `from __future__ import annotations`: lerobot's parser reads the real annotation of `_cli`.

import logging
from contextlib import contextmanager

from lerobot.configs import parser
from lerobot.scripts import lerobot_train
from lerobot.utils.import_utils import register_third_party_plugins

from lerobot_multi.config import MultiTrainPipelineConfig
from lerobot_multi.factory import make_dataset

logger = logging.getLogger(__name__)


@contextmanager
def multi_dataset_seam():
    """Route lerobot_train's dataset creation through lerobot_multi.make_dataset, then restore it."""
    original = lerobot_train.make_dataset
    lerobot_train.make_dataset = make_dataset
    try:
        yield
    finally:
        lerobot_train.make_dataset = original


def train(cfg: MultiTrainPipelineConfig, accelerator=None) -> None:
    """Run lerobot's training loop on `cfg` (a single dataset or a list)."""
    with multi_dataset_seam():
        # `lerobot_train.train` is wrapped by lerobot's CLI parser, which would re-parse sys.argv as a
        # plain TrainPipelineConfig; `__wrapped__` is the loop itself.
        lerobot_train.train.__wrapped__(cfg, accelerator=accelerator)


@parser.wrap()
def _cli(cfg: MultiTrainPipelineConfig) -> None:
    train(cfg)


def main() -> None:
    register_third_party_plugins()
    _cli()


if __name__ == "__main__":
    main()
