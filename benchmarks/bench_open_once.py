"""Config to first training step of lerobot-multi-train with held-out validation, before and after the
run opened its mixture once (lerobot-multi-train builds the held-out split, the training mixture and the
validation mixture; each opened every dataset's metadata and ran the episode checks again).

    python benchmarks/bench_open_once.py --count 510 --before <commit> [--rounds 2]

`--count` small state datasets (lerobot's writer, cached; an environment state for ACT) with the
community recipe's options (examples/community_mix.yaml: temperature, per-robot normalization,
`on_error: skip`, episode checks `short` and `non_finite`, `val_episodes: 0.1`). Each run is a fresh
`lerobot-multi-train` process (ACT, 1 step, no checkpoint) on the installed lerobot; "before" imports
the package from a git worktree of `--before` (PYTHONPATH), "after" from this checkout. Timed: from the
process start to lerobot's "Start offline training" (dataset, policy and optimizer built) and to the
first logged step, and the run's own count of metadata reads and episode checks where it logs one.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import CACHE, small_datasets

OPTIONS = {
    "temperature": 0.5,
    "normalization_mode": "per_robot",
    "on_error": "skip",
    "episode_checks": ["short", "non_finite"],
    "val_episodes": 0.1,
}


def worktree(commit: str) -> Path:
    path = Path(tempfile.gettempdir()) / f"lerobot_multi_{commit[:12]}"
    if not path.exists():
        subprocess.run(["git", "worktree", "add", "--detach", str(path), commit], check=True)
    return path / "src"


def run(config: Path, src: Path, out: Path) -> dict:
    cmd = [
        sys.executable, "-m", "lerobot_multi.scripts.train", f"--config_path={config}", "--policy.type=act",
        "--policy.device=cpu", "--policy.push_to_hub=false", "--policy.pretrained_backbone_weights=null",
        "--policy.dim_model=64", "--policy.n_heads=2", "--policy.dim_feedforward=128", "--policy.chunk_size=5",
        "--policy.n_action_steps=5", "--batch_size=8", "--steps=1", "--log_freq=1", "--num_workers=0",
        "--save_checkpoint=false", "--wandb.enable=false", f"--output_dir={out}",
    ]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "PYTHONPATH": str(src)}
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    marks, log = {}, []
    for line in proc.stdout:
        log.append(line)
        now = time.perf_counter() - t0
        if "Start offline training" in line:
            marks.setdefault("loop_s", now)
        if re.search(r"step:1\b", line):
            marks.setdefault("first_step_s", now)
    if proc.wait() != 0:
        raise RuntimeError("".join(log[-40:]))
    opens = re.search(r"metadata read (\d+) times, episodes checked (\d+) times", "".join(log))
    marks["reads"] = f"{opens.group(1)} reads, {opens.group(2)} checks" if opens else "not logged"
    return marks


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=510)
    parser.add_argument("--before", required=True, help="the commit before the run opened its mixture once")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    root, repo_ids = small_datasets(args.count, extra={"observation.environment_state": 2}, tag="env")
    config = CACHE / f"open_once_{args.count}.yaml"
    config.write_text(yaml.safe_dump({"dataset": {"repo_id": repo_ids, "root": str(root), **OPTIONS}}))
    versions = {"before": worktree(args.before), "after": Path(__file__).resolve().parents[1] / "src"}
    results: dict[str, list[dict]] = {name: [] for name in versions}
    for r in range(args.rounds):  # alternated, so a busy moment hits both
        for name, src in versions.items():
            marks = run(config, src, CACHE / f"open_once_run_{name}_{r}_{time.time_ns()}")
            results[name].append(marks)
            print(f"round {r} {name}: {marks}", flush=True)
    import lerobot

    print(f"\n{args.count} datasets, lerobot {lerobot.__version__}, {args.rounds} rounds (median)")
    for name, runs in results.items():
        loop = statistics.median(m["loop_s"] for m in runs)
        first = statistics.median(m["first_step_s"] for m in runs)
        print(f"{name:>7}: to the loop {loop:6.1f} s, to step 1 {first:6.1f} s; {runs[-1]['reads']}")
    ratio = statistics.median(m["first_step_s"] for m in results["before"]) / statistics.median(
        m["first_step_s"] for m in results["after"]
    )
    print(f"before / after, to step 1: {ratio:.2f}x")


if __name__ == "__main__":
    main()
