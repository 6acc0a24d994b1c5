"""Weighted sampling cost: draws/s and per-item read cost with weights on vs off.

    python benchmarks/bench_sampler.py [--frames 1000000] [--items 3000]

(1) draws/s of WeightedMixtureSampler (weights on) vs lerobot's EpisodeAwareSampler (shuffle) and
torch's RandomSampler (weights off) over the same episode boundaries (3 datasets of very different
sizes, 1M frames); (2) reading MultiLeRobotDataset items in the weighted order vs a uniform random
order (10 small datasets written with lerobot's writer). Round-robin, ratios from one run.
"""

from __future__ import annotations

import argparse
import logging
from functools import partial
from itertools import islice

import numpy as np
import torch
from common import interleaved, small_datasets
from lerobot.datasets.sampler import EpisodeAwareSampler

from lerobot_multi import MultiLeRobotDataset, WeightedMixtureSampler


def bounds(total: int):
    sizes = [total // 100, total // 10, total - total // 100 - total // 10]  # 1% / 10% / 89%
    frm, to, ds, c = [], [], [], 0
    for d, n in enumerate(sizes):
        for _ in range(n // 50):
            frm.append(c)
            to.append(c + 50)
            ds.append(d)
            c += 50
    return frm, to, ds


def drain(sampler, n: int) -> None:
    for _ in islice(iter(sampler), n):
        pass


def read(dataset, order) -> None:
    for i in order:
        dataset[int(i)]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--frames", type=int, default=1_000_000)
    parser.add_argument("--items", type=int, default=3000)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    frm, to, ds = bounds(args.frames)
    weighted = WeightedMixtureSampler(frm, to, ds, np.array([1 / 3] * 3), seed=0)
    episode_aware = EpisodeAwareSampler(frm, to, shuffle=True)
    random = torch.utils.data.RandomSampler(range(to[-1]))
    n = to[-1]
    t = interleaved(
        {
            "weighted": partial(drain, weighted, n),
            "episode_aware": partial(drain, episode_aware, n),
            "random": partial(drain, random, n),
        },
        rounds=3,
    )
    print(f"draws/s over {n} frames ({len(frm)} episodes, 3 datasets at 1/10/89%):")
    for k, v in t.items():
        print(f"  {k:<14} {n / v:>12,.0f}   ({v / t['random']:.2f}x RandomSampler's time)")

    root, repo_ids = small_datasets(10)
    multi = MultiLeRobotDataset(repo_ids, root=root)
    eps = multi.meta.episodes
    sampler = WeightedMixtureSampler(
        eps["dataset_from_index"],
        eps["dataset_to_index"],
        eps["dataset_index"],
        np.full(10, 0.1),
        seed=0,
        infinite=True,
    )
    weighted_order = list(islice(iter(sampler), args.items))
    assert len(weighted_order) == args.items
    uniform_order = np.random.default_rng(0).integers(0, len(multi), size=args.items).tolist()
    t = interleaved(
        {
            "weights on": partial(read, multi, weighted_order),
            "weights off": partial(read, multi, uniform_order),
        },
        rounds=3,
    )
    per = {k: v / args.items * 1e6 for k, v in t.items()}
    print(
        f"per item ({args.items} reads, 10 datasets): weights on {per['weights on']:.1f} us, "
        f"off {per['weights off']:.1f} us, ratio {t['weights on'] / t['weights off']:.3f}"
    )


if __name__ == "__main__":
    main()
