"""Scale and soak: 1,000 datasets through lerobot-multi-train, and flat memory over 200k reads.

    python benchmarks/bench_scale.py [--count 1000] [--soak-items 200000] [--skip-train]

(1) `lerobot-multi-train` (ACT, 3 steps) on `--count` small datasets written with lerobot's writer
(cached): wall time and the mixture's size. (2) Soak: a DataLoader with 2 workers reads `--soak-items`
samples from a 100-dataset mixture; prints the resident memory (main process + workers) every 10% so a
leak shows as growth.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time

import psutil
import torch
import yaml
from common import CACHE, small_datasets

from lerobot_multi import MultiLeRobotDataset


def rss_mb(proc: psutil.Process) -> float:
    procs = [proc, *proc.children(recursive=True)]
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 1e6


def train(count: int) -> None:
    # ACT wants an image or an environment state (and its VAE reads observation.state): both present
    root, repo_ids = small_datasets(count, extra={"observation.environment_state": 2}, tag="env")
    config = CACHE / f"scale_{count}.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"repo_id": repo_ids, "root": str(root)}}))
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    cmd = [
        sys.executable, "-m", "lerobot_multi.scripts.train", f"--config_path={config}", "--policy.type=act", "--policy.device=cpu", "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null", "--policy.dim_model=64", "--policy.n_heads=2",
        "--policy.dim_feedforward=128", "--policy.chunk_size=5", "--policy.n_action_steps=5",
        "--batch_size=8", "--steps=3", "--num_workers=0", "--save_checkpoint=false",
        f"--output_dir={CACHE / f'scale_run_{time.time_ns()}'}",
    ]  # fmt: skip
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    log = proc.stdout + proc.stderr
    frames = next(line for line in log.splitlines() if "dataset.num_frames=" in line).split(
        "dataset.num_frames="
    )[1]
    print(
        f"lerobot-multi-train, {count} datasets ({frames} frames), ACT 3 steps: {time.perf_counter() - t0:.0f} s wall"
    )


def soak(items: int) -> None:
    root, repo_ids = small_datasets(100)
    ds = MultiLeRobotDataset(repo_ids, root=root)
    sampler = torch.utils.data.RandomSampler(ds, replacement=True, num_samples=items)
    loader = torch.utils.data.DataLoader(ds, batch_size=50, sampler=sampler, num_workers=2)
    me = psutil.Process()
    seen, step = 0, items // 10
    t0 = time.perf_counter()
    print(f"soak: {items} reads, 100 datasets, 2 workers")
    for batch in loader:
        seen += len(batch["index"])
        if seen % step < len(batch["index"]):
            print(
                f"  {seen:>7} reads  {time.perf_counter() - t0:6.1f} s  RSS {rss_mb(me):7.1f} MB", flush=True
            )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1000)
    parser.add_argument("--soak-items", type=int, default=200_000)
    parser.add_argument("--skip-train", action="store_true")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    if not args.skip_train:
        train(args.count)
    soak(args.soak_items)


if __name__ == "__main__":
    main()
