"""lerobot-multi-demo: build Meta-World datasets, train ACT on all of them, report success rates.

The steps are `lerobot_multi.demo.run`'s (its docstring lists them).
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from lerobot_multi.demo import run as pipeline
from lerobot_multi.demo.run import SETTINGS, TASKS, run_demo


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=pipeline.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument(
        "--image-size", type=int, default=None, help="add a corner camera (e.g. 64); default state-only"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--condition-on",
        choices=["task", "dataset", "none"],
        default="task",
        help="one-hot conditioning of the mixture (default task)",
    )
    parser.add_argument(
        "--compare",
        action="store_true",
        help="also train each task's dataset alone and the unconditioned mixture (same budget each)",
    )
    parser.add_argument(
        "--jobs",
        type=int,
        default=1,
        help="trainings run side by side (with --compare), sharing the CPU threads; logs go to files",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be >= 1")
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_demo(
        args.workdir, args.setting, args.tasks, args.image_size, args.seed, args.condition_on,
        args.compare, args.jobs,
    )  # fmt: skip
    return 0


if __name__ == "__main__":
    sys.exit(main())
