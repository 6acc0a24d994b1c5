"""lerobot-multi-report OUTPUT_DIR: draw a lerobot-multi-train run's report into OUTPUT_DIR."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lerobot_multi.train.report import write_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lerobot-multi-report",
        description="Validation loss per dataset, samples drawn vs target shares and the mixture table, "
        "as one PNG (default OUTPUT_DIR/training_report.png).",
    )
    parser.add_argument("output_dir", type=Path, help="a lerobot-multi-train --output_dir")
    parser.add_argument("--output", type=Path, default=None, help="where to write the PNG")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not args.output_dir.is_dir():
        print(f"error: {args.output_dir} is not a directory", file=sys.stderr)
        return 2
    path = write_report(args.output_dir, args.output)
    print(f"report written to {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
