"""lerobot-multi-export CHECKPOINT --group NAME --output DIR: one group as a plain lerobot checkpoint."""

from __future__ import annotations

import argparse
import logging
import sys

from lerobot_multi.deploy.errors import DeployError
from lerobot_multi.deploy.export import export_group
from lerobot_multi.meta.sources import DatasetSourceError


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    parser = argparse.ArgumentParser(
        prog="lerobot-multi-export",
        description="Write a plain lerobot checkpoint (stock normalizer/unnormalizer with one group's "
        "stats) from a per_robot or per_dataset checkpoint.",
    )
    parser.add_argument("checkpoint", help="checkpoint folder, or its pretrained_model/ folder")
    parser.add_argument("--group", help="a normalization group (robot_type) or a repo_id")
    parser.add_argument(
        "--condition", help="the conditioning group (a task, repo_id or robot_type; default: --group)"
    )
    parser.add_argument("--output", required=True, help="new folder for the plain checkpoint")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    try:
        out = export_group(args.checkpoint, args.group, args.output, args.condition)
    except (DatasetSourceError, DeployError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"lerobot checkpoint for group {args.group or args.condition!r} written to {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
