"""Validation's cost as a fraction of training time (lerobot-multi-train, ACT, CPU by default).

    python benchmarks/bench_validation.py [--steps 200] [--val-freq 100] [--device cpu]

Three state-only datasets of real-recording shapes (14-dof state and action, a 6-d environment state,
30 fps, 50 episodes of 300 frames each, lerobot's writer, cached), `dataset.val_episodes=0.1`. One run, validating every
`--val-freq` steps; lerobot's logged update+data time gives the step time and `val_metrics.jsonl` each
validation's wall time. Prints the fraction validation adds at lerobot's default checkpoint frequency
(the default val_freq: save_freq = 20,000) and at shorter intervals.
"""

from __future__ import annotations

import argparse
import json
import re
import subprocess
import sys
from pathlib import Path

from common import CACHE, build_dataset

REPOS = ["bench/val_a", "bench/val_b", "bench/val_c"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--val-freq", type=int, default=100)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    root = CACHE / "validation_env"
    for i, rid in enumerate(REPOS):
        if not (root / rid / "meta/info.json").exists():
            build_dataset(
                root / rid, rid, [300] * 50, camera=None, state_dim=14, action_dim=14, seed=i, offset=i,
                extra={"observation.environment_state": 6},  # ACT needs an image or an environment state
            )  # fmt: skip
    out = CACHE / "validation_run"
    if out.exists():
        import shutil

        shutil.rmtree(out)
    cmd = [
        sys.executable, "-m", "lerobot_multi.scripts.train", f"--dataset.repo_id=[{','.join(REPOS)}]",
        f"--dataset.root={root}", "--dataset.val_episodes=0.1", f"--dataset.val_freq={args.val_freq}",
        "--policy.type=act", f"--policy.device={args.device}", "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null", "--policy.chunk_size=100", "--policy.n_action_steps=100",
        f"--batch_size={args.batch_size}", f"--steps={args.steps}", f"--log_freq={args.steps // 4}",
        f"--save_freq={args.steps}", "--num_workers=1", "--wandb.enable=false", f"--output_dir={out}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-4000:])
    log = proc.stdout + proc.stderr
    windows = re.findall(r"updt_s:([\d.]+) data_s:([\d.]+)", log)[1:]  # the first window is warm-up
    step_s = sum(float(u) + float(d) for u, d in windows) / len(windows)
    records = [json.loads(line) for line in (out / "val_metrics.jsonl").read_text().splitlines()]
    first, later = records[0]["seconds"], [r["seconds"] for r in records[1:]]
    val_s = sum(later) / len(later) if later else first
    frames = 3 * 4 * args.batch_size
    print(f"step: {step_s * 1000:.1f} ms (batch {args.batch_size}, ACT chunk 100, {args.device})")
    print(
        f"validation: {val_s:.2f} s ({frames} held-out samples, 3 datasets x 4 batches); first {first:.2f} s"
    )
    for freq in (20_000, 5_000, 1_000, 100):
        print(f"  every {freq:>6} steps: {val_s / (freq * step_s):.2%} of training time")
    print(f"(command: {' '.join(Path(c).name if i == 0 else c for i, c in enumerate(cmd))})")


if __name__ == "__main__":
    main()
