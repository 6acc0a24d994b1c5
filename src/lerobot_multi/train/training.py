"""`train(cfg)`: lerobot's own training loop on a single dataset or a mixture, through the seam of the
installed lerobot line (seam.py)."""

from __future__ import annotations

import logging

from accelerate import PartialState

from lerobot_multi.meta.run_opens import one_open_per_run
from lerobot_multi.train.report import write_report
from lerobot_multi.train.seam import seam_class

logger = logging.getLogger(__name__)


def train(cfg, accelerator=None) -> None:
    """Run lerobot's training loop on `cfg` (a single dataset or a list). `accelerator`: an
    `accelerate.Accelerator` for lines whose loop takes one (0.4.4, 0.6.1); lerobot main builds its own
    from `cfg.accelerator` / `cfg.parallelism`."""
    with one_open_per_run() as opens, seam_class()(cfg) as seam:
        seam.run_loop(cfg, accelerator)
    if seam.state is None:
        return
    # the held-out split, training and validation mixtures shared them
    logger.info("Dataset metadata read %d times, episodes checked %d times", opens.opens, opens.checks)
    if PartialState().is_main_process:
        seam.state.watch.finish()
        logger.info("Training report written to %s", write_report(cfg.output_dir))
