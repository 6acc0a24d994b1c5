"""Per-item overhead of MultiLeRobotDataset vs direct sub-dataset access and lerobot's legacy class.

    python benchmarks/bench_index.py [--counts 10 100 1000] [--items 2000] [--camera]

For N small datasets (lerobot's writer, state/action, 2 episodes each; `--camera` adds a video), reads the same random global
indices through (a) the sub-datasets directly (index pre-resolved, the floor), (b) lerobot_multi's
MultiLeRobotDataset, (c) lerobot 0.4.4's legacy MultiLeRobotDataset, round-robin in one run, and prints
ratios. Also the time to open each.
"""

from __future__ import annotations

import argparse
import logging
import time
from functools import partial

import numpy as np
from common import interleaved, small_datasets
from lerobot.datasets.lerobot_dataset import MultiLeRobotDataset as LegacyMulti

from lerobot_multi import MultiLeRobotDataset


def read(dataset, indices) -> None:
    for i in indices:
        dataset[i]


def read_direct(subs, resolved) -> None:
    for d, local in resolved:
        subs[d][local]


def measure(count: int, items: int, camera: str | None) -> str:
    root, repo_ids = small_datasets(count, camera=camera)
    t = time.perf_counter()
    multi = MultiLeRobotDataset(repo_ids, root=root, video_backend="pyav")
    open_multi = time.perf_counter() - t
    t = time.perf_counter()
    legacy = LegacyMulti(repo_ids, root=root, video_backend="pyav")
    open_legacy = time.perf_counter() - t
    idx = np.random.default_rng(0).integers(0, len(multi), size=items).tolist()
    resolved = [multi.meta.locate(i) for i in idx]
    t = interleaved(
        {
            "direct": partial(read_direct, multi.datasets, resolved),
            "multi": partial(read, multi, idx),
            "legacy": partial(read, legacy, idx),
        },
        rounds=3,
    )
    return (
        f"{count:>8} {open_multi:>12.2f} {open_legacy:>13.2f} {t['direct'] / items * 1e6:>14.1f} "
        f"{t['multi'] / t['direct']:>12.3f} {t['legacy'] / t['direct']:>13.3f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--items", type=int, default=2000)
    parser.add_argument(
        "--camera", action="store_true", help="datasets with a 64x64 video camera (decoded per item)"
    )
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(
        f"{'datasets':>8} {'open multi s':>12} {'open legacy s':>13} {'direct us/item':>14} "
        f"{'multi/direct':>12} {'legacy/direct':>13}"
    )
    for count in args.counts:
        print(measure(count, args.items, "observation.images.top" if args.camera else None), flush=True)


if __name__ == "__main__":
    main()
