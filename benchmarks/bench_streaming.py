"""Samples/s of StreamingMultiLeRobotDataset vs the map-style MultiLeRobotDataset on the same local data.

    python benchmarks/bench_streaming.py [--count 8] [--lengths 40 30] [--rounds 3] [--chunk 0]

For N small datasets written with lerobot's writer (cached), once state/action only and once with a
64x64 video camera, reads one epoch in this process (num_workers=0) through (a) the map-style mixture
in a shuffled order (what `DataLoader(shuffle=True)` asks for) and (b) the streaming mixture (one epoch,
default shares), round-robin in one run (`interleaved`, median of rounds). Prints samples/s of each
and the ratio streaming/map. `--chunk K` adds an action chunk of K frames (delta_timestamps).
"""

from __future__ import annotations

import argparse
import logging
import time

import numpy as np
from common import interleaved, small_datasets

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset


def read_map(dataset: MultiLeRobotDataset, order: list[int]) -> None:
    for i in order:
        dataset[i]


def read_stream(dataset: StreamingMultiLeRobotDataset) -> None:
    dataset.seek(0)  # every round reads epoch 0 again: the same frames as the map-style round
    for _ in dataset:
        pass


def measure(count: int, lengths: tuple[int, ...], camera: str | None, rounds: int, chunk: int) -> str:
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
    map_rate, stream_rate = n / times["map"], n / times["stream"]
    return (
        f"{str(camera or 'none'):<24} {n:>7} {open_map:>10.2f} {open_stream:>13.2f} "
        f"{map_rate:>11.0f} {stream_rate:>14.0f} {stream_rate / map_rate:>13.2f}"
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=8)
    parser.add_argument("--lengths", type=int, nargs="+", default=[40, 30])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--chunk", type=int, default=0)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    print(
        f"{'camera':<24} {'samples':>7} {'open map s':>10} {'open stream s':>13} "
        f"{'map samp/s':>11} {'stream samp/s':>14} {'stream/map':>13}"
    )
    for camera in (None, "observation.images.top"):
        print(measure(args.count, tuple(args.lengths), camera, args.rounds, args.chunk), flush=True)


if __name__ == "__main__":
    main()
