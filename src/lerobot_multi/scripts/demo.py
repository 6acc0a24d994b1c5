"""lerobot-multi-demo: build Meta-World datasets, train ACT on all of them, report success rates.

1. One LeRobot v3.0 dataset per task from Meta-World's scripted experts (cached under --workdir).
2. The mixture report (what `lerobot-multi-info` prints).
3. `lerobot-multi-train` with ACT on the list of datasets (lerobot's own loop, progress bar).
4. Success rate per task on held-out placements, next to an untrained policy with the same config.
"""

from __future__ import annotations

import argparse
import logging
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

logger = logging.getLogger("lerobot_multi.demo")


@dataclass(frozen=True)
class DemoSetting:
    """A named size of the demo: data, model and training budget."""

    episodes_per_task: int
    steps: int
    batch_size: int
    dim_model: int
    chunk_size: int
    n_action_steps: int
    eval_episodes: int
    max_steps: int = 150


SETTINGS = {
    # ~10 minutes on 2 CPU cores, state-only
    "default": DemoSetting(
        episodes_per_task=25,
        steps=3000,
        batch_size=32,
        dim_model=128,
        chunk_size=16,
        n_action_steps=8,
        eval_episodes=10,
    ),
    # for better numbers: more data and ~2.7x the steps (about 25 minutes on 2 CPU cores)
    "long": DemoSetting(
        episodes_per_task=40,
        steps=8000,
        batch_size=32,
        dim_model=128,
        chunk_size=16,
        n_action_steps=8,
        eval_episodes=10,
    ),
    # seconds: for tests and smoke runs
    "tiny": DemoSetting(
        episodes_per_task=2,
        steps=4,
        batch_size=4,
        dim_model=32,
        chunk_size=8,
        n_action_steps=8,
        eval_episodes=1,
        max_steps=20,
    ),
}
TASKS = ["reach-v3", "push-v3", "drawer-open-v3"]


def train_args(
    repo_ids: list[str], root: str, out: Path, s: DemoSetting, image_size: int | None, seed: int
) -> list[str]:
    args = [
        f"--dataset.repo_id=[{','.join(repo_ids)}]",
        f"--dataset.root={root}",
        "--dataset.video_backend=pyav" if image_size else "--dataset.use_imagenet_stats=false",
        "--policy.type=act",
        "--policy.device=cpu",
        "--policy.push_to_hub=false",
        "--policy.pretrained_backbone_weights=null",
        f"--policy.dim_model={s.dim_model}",
        f"--policy.dim_feedforward={4 * s.dim_model}",
        "--policy.n_heads=4" if s.dim_model >= 64 else "--policy.n_heads=2",
        "--policy.n_encoder_layers=2",
        "--policy.n_decoder_layers=1",
        f"--policy.chunk_size={s.chunk_size}",
        f"--policy.n_action_steps={s.n_action_steps}",
        f"--steps={s.steps}",
        f"--batch_size={s.batch_size}",
        f"--save_freq={s.steps}",
        f"--log_freq={max(1, s.steps // 10)}",
        "--num_workers=1",
        f"--seed={seed}",
        "--wandb.enable=false",
        f"--output_dir={out}",
    ]
    return args


def run_demo(workdir: Path, setting: str, tasks: list[str], image_size: int | None, seed: int) -> dict:
    from lerobot.configs.policies import PreTrainedConfig

    from lerobot_multi.demo.evaluate import evaluate_policy, evaluate_untrained, load_policy_bundle
    from lerobot_multi.demo.metaworld_data import generate_demo_suite, split_placements, task_description
    from lerobot_multi.report import format_report, mixture_report, open_metadata

    s = SETTINGS[setting]
    data_dir = workdir / "data" / f"{setting}_img{image_size or 0}_seed{seed}"
    t0 = time.perf_counter()
    roots = generate_demo_suite(data_dir, tasks, s.episodes_per_task, image_size, seed)
    repo_ids = [f"local/metaworld_{t}" for t in tasks]
    root_map = {rid: roots[t] for rid, t in zip(repo_ids, tasks)}
    print(f"\n== datasets ready in {time.perf_counter() - t0:.0f} s under {data_dir}")

    meta = open_metadata(repo_ids, root_map)
    print("\n== mixture\n" + format_report(mixture_report(meta)))

    out = workdir / "runs" / time.strftime("%Y%m%d-%H%M%S")
    root_arg = "{" + ", ".join(f"{rid}: {path}" for rid, path in root_map.items()) + "}"
    cmd = [
        sys.executable,
        "-m",
        "lerobot_multi.scripts.train",
        *train_args(repo_ids, root_arg, out, s, image_size, seed),
    ]
    print(f"\n== training: {' '.join(cmd[2:])}\n", flush=True)
    t0 = time.perf_counter()
    subprocess.run(cmd, check=True)
    train_s = time.perf_counter() - t0
    ckpt = out / "checkpoints" / "last" / "pretrained_model"

    _, held_out = split_placements(s.episodes_per_task)
    held_out = held_out[: s.eval_episodes]
    policy, pre, post = load_policy_bundle(ckpt)
    results = []
    for task in tasks:
        common = dict(
            task_name=task, placements=held_out, max_steps=s.max_steps, image_size=image_size, seed=seed
        )
        trained = evaluate_policy(policy, pre, post, task_string=task_description(task), **common)
        untrained = evaluate_untrained(PreTrainedConfig.from_pretrained(ckpt), meta, **common)
        results.append((task, trained["success_rate"], untrained["success_rate"]))
    print(f"\n== success rate on {len(held_out)} held-out placements per task (max {s.max_steps} steps)")
    print(f"{'task':<18} {'trained':>8} {'untrained':>10}")
    for task, tr, un in results:
        print(f"{task:<18} {tr:>8.0%} {un:>10.0%}")
    print(f"\ntraining took {train_s / 60:.1f} min; checkpoint: {ckpt}")
    return {"checkpoint": str(ckpt), "results": results, "train_seconds": train_s}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--workdir", type=Path, default=Path("outputs/demo"))
    parser.add_argument("--setting", choices=sorted(SETTINGS), default="default")
    parser.add_argument("--tasks", nargs="+", default=TASKS)
    parser.add_argument(
        "--image-size", type=int, default=None, help="add a corner camera (e.g. 64); default state-only"
    )
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    run_demo(args.workdir, args.setting, args.tasks, args.image_size, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
