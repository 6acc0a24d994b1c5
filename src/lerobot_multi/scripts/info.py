"""lerobot-multi-info: print a mixture (datasets, shares, kept/disabled features) without training.

Takes the same dataset flags as lerobot-multi-train (`--dataset.repo_id='[a,b]'`, `--dataset.root`,
`--dataset.episodes`, `--dataset.weights`, or `--config_path=train.yaml`), plus `--json` and
`--plot=FILE.png` (per-dataset ranges of each action/state dimension and the sample shares).
`--manifest PATH` prints a checkpoint's mixture.json (PATH: the file or its pretrained_model folder).
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path

import draccus

from lerobot_multi.config import MultiTrainPipelineConfig, raise_config_error
from lerobot_multi.inspect.info_table import format_report, mixture_report, open_config_metadata
from lerobot_multi.meta.sources import DatasetSourceError


def parse(argv: list[str]) -> tuple[MultiTrainPipelineConfig, bool, str | None]:
    as_json = "--json" in argv
    plot = next((a.split("=", 1)[1] for a in argv if a.startswith("--plot=")), None)
    args = [a for a in argv if a != "--json" and not a.startswith("--plot=")]
    config_path = next((a.split("=", 1)[1] for a in args if a.startswith("--config_path=")), None)
    args = [a for a in args if not a.startswith("--config_path=")]
    with draccus.config_type("yaml"):
        try:
            cfg = draccus.parse(MultiTrainPipelineConfig, config_path, args=args)
        except Exception as e:
            raise_config_error(e)
            raise
    return cfg, as_json, plot


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    argv = sys.argv[1:] if argv is None else argv
    manifest = next((a.split("=", 1)[1] for a in argv if a.startswith("--manifest=")), None)
    if manifest is None and "--manifest" in argv[:-1]:
        manifest = argv[argv.index("--manifest") + 1]
    if manifest is not None:
        return show_manifest(manifest, "--json" in argv)
    try:
        cfg, as_json, plot = parse(argv)  # the config's own checks (repo ids, options) raise here
        meta = open_config_metadata(cfg.dataset)
        report = mixture_report(meta)
    except DatasetSourceError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(json.dumps(report, indent=2) if as_json else format_report(report))
    if plot:
        from lerobot_multi.inspect.plot import plot_mixture

        shares = [r["share"] for r in report["datasets"]]
        try:
            print(f"plot written to {plot_mixture(meta, shares, plot)}", file=sys.stderr)
        except RuntimeError as e:  # matplotlib missing
            print(f"error: {e}", file=sys.stderr)
            return 2
    return 0


def show_manifest(path: str, as_json: bool) -> int:
    """Print a checkpoint's mixture.json (a file, or a folder holding it)."""
    from lerobot_multi.train.manifest import format_manifest, read_manifest

    try:
        manifest = read_manifest(Path(path))
    except (OSError, ValueError, KeyError) as e:
        print(f"error: cannot read the manifest {path}: {e}", file=sys.stderr)
        return 2
    print(json.dumps(manifest, indent=2) if as_json else format_manifest(manifest))
    return 0


if __name__ == "__main__":
    sys.exit(main())
