"""lerobot-multi-train: the installed lerobot's own `lerobot-train` (0.4.4 or 0.6), with a dataset
list allowed.

We parse `MultiTrainPipelineConfig` (the same flags; `repo_id` may be a list) and run lerobot's own
training loop (`lerobot_multi.train.training.train`) through the seam of the installed lerobot line
(`lerobot_multi.train.seam`).
"""

# No `from __future__ import annotations`: lerobot's parser reads the real annotation of `_cli`.

from lerobot.configs import parser
from lerobot.utils.import_utils import register_third_party_plugins

from lerobot_multi.config import MultiTrainPipelineConfig
from lerobot_multi.train.training import train


@parser.wrap()
def _cli(cfg: MultiTrainPipelineConfig) -> None:
    train(cfg)


def main() -> None:
    register_third_party_plugins()
    _cli()


if __name__ == "__main__":
    main()
