"""ACT training on a mixture vs the same frames physically merged by lerobot's aggregate_datasets.

    python benchmarks/bench_train.py [--steps 60] [--rounds 2] [--device cpu]

Builds 3 video datasets (lerobot's writer, cached), merges them with `aggregate_datasets` (timed, bytes
written counted), then alternates `lerobot-multi-train` runs on the list and on the merged dataset
(lerobot's own loop, same seed and config) and reads lerobot's logged update/data times. Prints
steps/s and the ratio, time to first batch, and bytes written.
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
from common import CACHE, build_dataset
from lerobot.datasets.aggregate import aggregate_datasets

REPOS = ["bench/room_a", "bench/room_b", "bench/room_c"]
LENGTHS = {"bench/room_a": [60] * 6, "bench/room_b": [45] * 8, "bench/room_c": [80] * 4}


def folder_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def run_train(
    dataset_args: list[str], out: Path, steps: int, device: str, batch_size: int, workers: int
) -> tuple[float, float, float]:
    """(steps/s from lerobot's logged update+data time, seconds from dataset creation to the loop's
    start (dataset, policy and optimizer built), wall seconds)."""
    cmd = [
        sys.executable, "-m", "lerobot_multi.scripts.train", *dataset_args,
        "--policy.type=act", f"--policy.device={device}", "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null", "--policy.chunk_size=10", "--policy.n_action_steps=10",
        f"--batch_size={batch_size}", f"--steps={steps}", f"--log_freq={steps // 2}", "--save_checkpoint=false",
        f"--num_workers={workers}", "--dataset.video_backend=pyav", "--wandb.enable=false", f"--output_dir={out}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"training failed:\n{proc.stderr[-4000:]}")
    wall = time.perf_counter() - t0
    log = proc.stdout + proc.stderr
    # the second logged window excludes warm-up
    updt, data = (float(x) for x in re.findall(r"updt_s:([\d.]+) data_s:([\d.]+)", log)[-1])
    first = re.search(r"(\d\d:\d\d:\d\d) ot_train.py:\d+ Creating dataset", log).group(1)
    start = re.search(r"(\d\d:\d\d:\d\d) ot_train.py:\d+ Start offline training", log).group(1)
    to_s = lambda hms: sum(int(v) * m for v, m in zip(hms.split(":"), (3600, 60, 1)))  # noqa: E731
    return 1.0 / (updt + data), float(to_s(start) - to_s(first)), wall


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument(
        "--camera-dtype", choices=["video", "image"], default="video", help="image: no video decoder needed"
    )
    args = parser.parse_args()
    root = CACHE / f"train_{args.camera_dtype}"
    for i, rid in enumerate(REPOS):
        if not (root / rid / "meta/info.json").exists():
            build_dataset(
                root / rid,
                rid,
                LENGTHS[rid],
                tasks=[f"task {i}"],
                seed=i,
                offset=i,
                camera_dtype=args.camera_dtype,
            )
    merged = CACHE / f"train_merged_{args.camera_dtype}" / "bench/merged"
    shutil.rmtree(merged.parent, ignore_errors=True)
    t0 = time.perf_counter()
    aggregate_datasets(REPOS, "bench/merged", roots=[root / r for r in REPOS], aggr_root=merged)
    merge_s = time.perf_counter() - t0
    multi_args = [f"--dataset.repo_id=[{','.join(REPOS)}]", f"--dataset.root={root}"]
    merged_args = ["--dataset.repo_id=bench/merged", f"--dataset.root={merged}"]
    results: dict[str, list[tuple[float, float, float]]] = {"multi": [], "merged": []}
    runs = CACHE / "train_runs"
    shutil.rmtree(runs, ignore_errors=True)
    for r in range(args.rounds):
        for name, ds_args in (("multi", multi_args), ("merged", merged_args)):
            results[name].append(
                run_train(
                    ds_args, runs / f"{name}{r}", args.steps, args.device, args.batch_size, args.workers
                )
            )
    med = {k: np.median(np.array(v), axis=0) for k, v in results.items()}
    print(
        f"frames: {sum(sum(v) for v in LENGTHS.values())}, ACT batch {args.batch_size}, {args.workers} workers, {args.steps} steps, device {args.device}"
    )
    print(f"{'':>8} {'steps/s':>8} {'to loop s':>12} {'wall s':>7}")
    for k, (sps, first, wall) in med.items():
        print(f"{k:>8} {sps:>8.2f} {first:>12.1f} {wall:>7.1f}")
    print(f"steps/s ratio multi/merged: {med['multi'][0] / med['merged'][0]:.3f}")
    print(
        f"merge (aggregate_datasets): {merge_s:.1f} s, {folder_bytes(merged) / 1e6:.2f} MB written; multi: 0 bytes written"
    )
    print(
        f"time to the loop's start incl. merge: merged {med['merged'][1] + merge_s:.1f} s vs multi {med['multi'][1]:.1f} s"
    )


if __name__ == "__main__":
    main()
