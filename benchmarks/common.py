"""Shared helpers for the benchmark scripts: cached synthetic datasets and interleaved timing."""

from __future__ import annotations

import json
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

from builders import build_dataset  # noqa: E402

CACHE = Path(os.environ.get("LEROBOT_MULTI_BENCH_CACHE", "outputs/bench"))


def small_datasets(
    count: int,
    lengths=(12, 8),
    camera: str | None = None,
    tag: str = "small",
    extra: dict[str, int] | None = None,
) -> tuple[Path, list[str]]:
    """`count` small state/action datasets written with lerobot's writer, cached across runs."""
    root = CACHE / f"{tag}_{lengths}_{camera}".replace(" ", "")
    repo_ids = [f"bench/ds{i:04d}" for i in range(count)]
    for i, rid in enumerate(repo_ids):
        if not (root / rid / "meta" / "info.json").exists():
            build_dataset(
                root / rid,
                rid,
                list(lengths),
                tasks=[f"task {i % 7}"],
                camera=camera,
                seed=i,
                offset=i % 5,
                extra=extra,
            )
    return root, repo_ids


def interleaved(fns: dict[str, Callable[[], None]], rounds: int = 5) -> dict[str, float]:
    """Median seconds per call of each fn, measured round-robin so machine noise hits all alike."""
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[name].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def paired_ratios(
    fns: dict[str, Callable[[], None]], baseline: str, rounds: int = 31, seed: int = 0
) -> dict[str, tuple[float, float, float]]:
    """Each fn's time over `baseline`'s in the same round, as (median, 25th, 75th percentile) over rounds.

    The order is shuffled every round, so drift and warm-up hit every fn alike; ratios of one round
    cancel the machine's slow phases, which medians of separate runs do not.
    """
    rng = random.Random(seed)
    ratios: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(rounds):
        order = list(fns)
        rng.shuffle(order)
        seconds = {}
        for name in order:
            t = time.perf_counter()
            fns[name]()
            seconds[name] = time.perf_counter() - t
        for name in fns:
            ratios[name].append(seconds[name] / seconds[baseline])
    return {k: tuple(float(x) for x in np.percentile(v, [50, 25, 75])) for k, v in ratios.items()}


def previous_version(src: str, script: str, argv: list[str]) -> dict:
    """`script argv --json` run by a previous version (its `src/` first on PYTHONPATH) in a child process
    of this run: the JSON object of its last output line."""
    env = {**os.environ, "PYTHONPATH": str(Path(src).resolve())}
    proc = subprocess.run(
        [sys.executable, script, *argv, "--json"], env=env, capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"the previous version ({src}) failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])
