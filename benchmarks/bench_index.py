"""Per-item overhead of MultiLeRobotDataset vs direct sub-dataset access and lerobot's legacy class.

    python benchmarks/bench_index.py [--counts 10 100 1000] [--items 1024] [--rounds 31] [--camera]
    python benchmarks/bench_index.py --open-only [--counts 100 1000]
    python benchmarks/bench_index.py --previous /path/to/old/src   # + the previous version, same run

For N small datasets (lerobot's writer, state/action, 2 episodes each; `--camera` adds a video), reads
the same random global indices through (a) lerobot's LeRobotDataset per repo directly (index
pre-resolved), (b) lerobot_multi's MultiLeRobotDataset (its default, fast reader: below 1 means faster
than lerobot's own reader), (c) lerobot 0.4.4's legacy MultiLeRobotDataset, two ways:

- batch: what torch's DataLoader does per batch of 64 (`__getitems__` where defined, then
  `default_collate`), i.e. the cost in training; "direct/direct" times the floor twice (an A/A
  control: how far a ratio moves on noise alone);
- item: `dataset[i]` one at a time.

Each round runs every variant once in shuffled order; the ratios are per round, reported as the median
(and quartiles) over rounds. Also the time to open each: ours with its defaults (threads),
and lerobot's legacy class. `--previous SRC` measures the same in a child process with a previous
version's src/ and prints its multi/direct ratios and ours over them.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from functools import partial

import numpy as np
from common import paired_ratios, previous_version, small_datasets
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from torch.utils.data import default_collate

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LegacyMultiLeRobotDataset as LegacyMulti
from lerobot_multi.meta.indexing import locate_frames

BATCH = 64


def fetch(dataset, batches) -> None:
    getitems = getattr(dataset, "__getitems__", None)
    for b in batches:
        default_collate(getitems(b) if getitems else [dataset[i] for i in b])


def fetch_direct(subs, resolved_batches) -> None:
    for b in resolved_batches:
        default_collate([subs[d][local] for d, local in b])


def read(dataset, indices) -> None:
    for i in indices:
        dataset[i]


def read_direct(subs, resolved) -> None:
    for d, local in resolved:
        subs[d][local]


def fmt(r: tuple[float, float, float]) -> str:
    return f"{r[0]:.3f} ({r[1]:.3f}-{r[2]:.3f})"


def measure(count: int, items: int, rounds: int, camera: str | None) -> tuple[dict, dict, dict]:
    root, repo_ids = small_datasets(count, camera=camera)
    LeRobotDataset(repo_ids[0], root=root / repo_ids[0], video_backend="pyav")  # one-time imports/caches
    t = time.perf_counter()
    multi = MultiLeRobotDataset(repo_ids, root=root, video_backend="pyav")
    open_multi = time.perf_counter() - t
    t = time.perf_counter()
    legacy = LegacyMulti(repo_ids, root=root, video_backend="pyav")
    open_legacy = time.perf_counter() - t
    idx = np.random.default_rng(0).integers(0, len(multi), size=items).tolist()
    meta = multi.meta
    _, parts, positions, _ = locate_frames(
        meta.episode_starts, meta.episode_datasets, meta.frame_offsets, idx
    )
    resolved = [(int(d), int(p)) for d, p in zip(parts, positions)]
    batches = [idx[k : k + BATCH] for k in range(0, items, BATCH)]
    resolved_batches = [resolved[k : k + BATCH] for k in range(0, items, BATCH)]
    subs = legacy._datasets  # lerobot's own LeRobotDataset per repo
    t0 = time.perf_counter()
    read_direct(subs, resolved)
    direct_us = (time.perf_counter() - t0) / items * 1e6
    batch = paired_ratios(
        {
            "direct": partial(fetch_direct, subs, resolved_batches),
            "direct again": partial(fetch_direct, subs, resolved_batches),  # A/A: the noise floor
            "multi": partial(fetch, multi, batches),
            "legacy": partial(fetch, legacy, batches),
        },
        baseline="direct",
        rounds=rounds,
    )
    item = paired_ratios(
        {
            "direct": partial(read_direct, subs, resolved),
            "multi": partial(read, multi, idx),
            "legacy": partial(read, legacy, idx),
        },
        baseline="direct",
        rounds=rounds,
    )
    return (
        {"count": count, "open": open_multi, "open_legacy": open_legacy, "direct_us": direct_us},
        batch,
        item,
    )


def row(values: dict, batch: dict, item: dict, previous: dict | None) -> str:
    line = (
        f"{values['count']:>8} {values['open']:>8.2f} {values['open_legacy']:>9.2f} {values['direct_us']:>9.1f} "
        f"{fmt(batch['direct again']):>22} {fmt(batch['multi']):>22} {batch['legacy'][0]:>12.3f} "
        f"{fmt(item['multi']):>22} {item['legacy'][0]:>11.3f}"
    )
    if previous is not None:  # the previous version's multi/direct, and ours over it
        prev_batch, prev_item = previous["batch"], previous["item"]
        line += (
            f" {prev_batch:>10.3f} {batch['multi'][0] / prev_batch:>10.2f}"
            f" {prev_item:>10.3f} {item['multi'][0] / prev_item:>10.2f}"
        )
    return line


def measure_opening(count: int) -> str:
    """Opening alone, each way once (legacy first, so ours never reads files warmed by it)."""
    root, repo_ids = small_datasets(count)
    LeRobotDataset(repo_ids[0], root=root / repo_ids[0], video_backend="pyav")
    ways = {
        "legacy": partial(LegacyMulti, repo_ids, root=root, video_backend="pyav"),
        "serial": partial(MultiLeRobotDataset, repo_ids, root=root, max_workers=1, open_processes=0),
        "threads": partial(MultiLeRobotDataset, repo_ids, root=root, max_workers=8, open_processes=0),
        "processes": partial(MultiLeRobotDataset, repo_ids, root=root, open_processes=2),
    }
    seconds = {}
    for name, make in ways.items():
        t = time.perf_counter()
        make()
        seconds[name] = time.perf_counter() - t
    return f"{count:>8} " + " ".join(f"{seconds[k]:>10.2f}" for k in ways)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100, 1000])
    parser.add_argument("--items", type=int, default=1024)
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument(
        "--camera", action="store_true", help="datasets with a 64x64 video camera (decoded per item)"
    )
    parser.add_argument(
        "--open-only", action="store_true", help="time opening only: legacy, serial, 8 threads, 2 processes"
    )
    parser.add_argument(
        "--previous", metavar="SRC", help="a previous version's src/: measured in the same run"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a child run's output
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    cam = "observation.images.top" if args.camera else None
    if args.json:
        out = {}
        for count in args.counts:
            _, batch, item = measure(count, args.items, args.rounds, cam)
            out[str(count)] = {"batch": batch["multi"][0], "item": item["multi"][0]}
        print(json.dumps(out))
        return
    if args.open_only:
        print(f"{'datasets':>8} {'legacy s':>10} {'serial s':>10} {'8 threads':>10} {'2 procs':>10}")
        for count in args.counts:
            print(measure_opening(count), flush=True)
        return
    header = (
        f"{'datasets':>8} {'open s':>8} {'legacy s':>9} {'direct us':>9} "
        f"{'batch direct/direct':>22} {'batch multi/direct':>22} {'legacy/direct':>12} {'item multi/direct':>22} {'legacy/direct':>11}"
    )
    previous = {}
    if args.previous:
        header += f" {'prev batch':>10} {'batch/prev':>10} {'prev item':>10} {'item/prev':>10}"
        argv = ["--counts", *map(str, args.counts), f"--items={args.items}", f"--rounds={args.rounds}"]
        previous = previous_version(args.previous, __file__, argv + (["--camera"] if args.camera else []))
    print(header)
    for count in args.counts:
        print(row(*measure(count, args.items, args.rounds, cam), previous.get(str(count))), flush=True)


if __name__ == "__main__":
    main()
