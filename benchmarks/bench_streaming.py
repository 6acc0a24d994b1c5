"""Samples/s of StreamingMultiLeRobotDataset vs the map-style MultiLeRobotDataset on the same local data.

    python benchmarks/bench_streaming.py [--count 8] [--lengths 40 30] [--rounds 3] [--chunk 0]
    python benchmarks/bench_streaming.py --previous /path/to/old/src   # + the previous version, same run

For N small datasets written with lerobot's writer (cached), once state/action only and once with a
64x64 video camera, reads one epoch in this process (num_workers=0) through (a) the map-style mixture
in a shuffled order (what `DataLoader(shuffle=True)` asks for) and (b) the streaming mixture (one epoch,
default shares), round-robin in one run (`interleaved`, median of rounds). Prints samples/s of each
and the ratio streaming/map. `--chunk K` adds an action chunk of K frames (delta_timestamps).
`--previous SRC` measures the same in a child process with a previous version's src/ and prints
ours/previous for both mixtures.
"""

from __future__ import annotations

import argparse
import json
import logging
import time

import numpy as np
from common import interleaved, previous_version, small_datasets

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset


def read_map(dataset: MultiLeRobotDataset, order: list[int]) -> None:
    for i in order:
        dataset[i]


def read_stream(dataset: StreamingMultiLeRobotDataset) -> None:
    dataset.seek(0)  # every round reads epoch 0 again: the same frames as the map-style round
    for _ in dataset:
        pass


def measure(count: int, lengths: tuple[int, ...], camera: str | None, rounds: int, chunk: int) -> dict:
    root, repo_ids = small_datasets(count, lengths, camera=camera, tag="stream")
    delta = {"action": [i / 30 for i in range(chunk)]} if chunk else None
    t = time.perf_counter()
    mapped = MultiLeRobotDataset(repo_ids, root=root, delta_timestamps=delta)
    open_map = time.perf_counter() - t
    t = time.perf_counter()
    stream = StreamingMultiLeRobotDataset(repo_ids, root=root, delta_timestamps=delta)
    open_stream = time.perf_counter() - t
    order = np.random.default_rng(0).permutation(len(mapped)).tolist()
    times = interleaved(
        {"map": lambda: read_map(mapped, order), "stream": lambda: read_stream(stream)}, rounds=rounds
    )
    n = len(mapped)
    return {
        "camera": str(camera or "none"),
        "samples": n,
        "open_map": open_map,
        "open_stream": open_stream,
        "map": n / times["map"],
        "stream": n / times["stream"],
    }


def row(r: dict, previous: dict | None) -> str:
    line = (
        f"{r['camera']:<24} {r['samples']:>7} {r['open_map']:>10.2f} {r['open_stream']:>13.2f} "
        f"{r['map']:>11.0f} {r['stream']:>14.0f} {r['stream'] / r['map']:>11.2f}"
    )
    if previous is not None:
        line += f" {previous['stream']:>11.0f} {r['stream'] / previous['stream']:>10.2f} {r['map'] / previous['map']:>10.2f}"
    return line


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[40, 30])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=0)
    parser.add_argument(
        "--previous", metavar="SRC", help="a previous version's src/: measured in the same run"
    )
    parser.add_argument("--json", action="store_true", help=argparse.SUPPRESS)  # a child run's output
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    cameras = (None, "observation.images.top")
    common = [f"--count={args.count}", "--lengths", *map(str, args.lengths), f"--rounds={args.rounds}"]
    common.append(f"--chunk={args.chunk}")
    if args.json:
        print(
            json.dumps(
                [measure(args.count, tuple(args.lengths), c, args.rounds, args.chunk) for c in cameras]
            )
        )
        return
    header = (
        f"{'camera':<24} {'samples':>7} {'open map s':>10} {'open stream s':>13} "
        f"{'map samp/s':>11} {'stream samp/s':>14} {'stream/map':>11}"
    )
    if args.previous:
        header += f" {'prev stream':>11} {'stream/prev':>10} {'map/prev':>10}"
    print(header)
    previous = previous_version(args.previous, __file__, common) if args.previous else [None] * 2
    for camera, prev in zip(cameras, previous):
        print(
            row(measure(args.count, tuple(args.lengths), camera, args.rounds, args.chunk), prev), flush=True
        )


if __name__ == "__main__":
    main()
