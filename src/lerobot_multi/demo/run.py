"""The demo's pipeline (`lerobot-multi-demo`): build Meta-World datasets, train ACT on all of them,
report success rates.

1. One LeRobot v3.0 dataset per task from Meta-World's scripted experts (cached under --workdir).
2. The mixture report (what `lerobot-multi-info` prints).
3. `lerobot-multi-train` with ACT on the list of datasets (lerobot's own loop, progress bar), with a
   one-hot of the task appended to the environment state (`condition_on: task`, default).
4. Success rate per task on held-out placements, next to an untrained policy with the same config.
   `--compare` also trains each task's dataset alone and the unconditioned mixture.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
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
    eval_episodes: int
    max_steps: int = 150
    # recorded episodes per task held out of training: the run's per-dataset validation loss
    val_episodes: int = 5
    # std of the Gaussian perturbation of the executed hand motion while recording (the expert's
    # action is what is stored): demonstrations of recovering, see record_expert_episode
    execution_noise: float = 0.2
    # ACT's preset (1e-5) is meant for ~100k steps from a pretrained backbone; from scratch in a few
    # thousand CPU steps it leaves even a task trained alone underfit (docs/demo.md)
    lr: float = 3e-4
    # ACT's VAE models the multimodality of human demonstrations; a scripted expert is a function of
    # the observation, and without the VAE's encoder a step is ~2.5x faster on CPU (docs/demo.md)
    use_vae: bool = False
    # ACT's temporal ensembling (its paper's 0.01; needs n_action_steps=1): every step re-plans and
    # averages the overlapping chunks, which steadies the slow final approach (docs/demo.md)
    temporal_ensemble_coeff: float | None = 0.01
    n_action_steps: int = 1  # ensembling acts one step per prediction; without it, e.g. chunk_size // 2


SETTINGS = {
    # ~10 minutes on 2 CPU cores, state-only
    "default": DemoSetting(
        episodes_per_task=100,
        steps=9000,
        batch_size=32,
        dim_model=128,
        chunk_size=16,
        eval_episodes=20,
    ),
    # more data and ~1.8x the samples of the default (13-15 min per training with --jobs 2, 2 CPU cores)
    "long": DemoSetting(
        episodes_per_task=150,
        steps=8000,
        batch_size=64,
        dim_model=128,
        chunk_size=16,
        eval_episodes=20,
    ),
    # seconds: for tests and smoke runs
    "tiny": DemoSetting(
        episodes_per_task=2,
        steps=4,
        batch_size=4,
        dim_model=32,
        chunk_size=8,
        eval_episodes=1,
        max_steps=20,
        val_episodes=1,
    ),
}
TASKS = ["reach-v3", "push-v3", "drawer-open-v3"]


def train_args(
    repo_ids: list[str],
    root: str,
    out: Path,
    s: DemoSetting,
    image_size: int | None,
    seed: int,
    condition_on: str = "none",
) -> list[str]:
    args = [
        f"--dataset.repo_id=[{','.join(repo_ids)}]",
        f"--dataset.root={root}",
        f"--dataset.condition_on={condition_on}",
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
        f"--policy.optimizer_lr={s.lr}",
        f"--policy.use_vae={str(s.use_vae).lower()}",
        f"--steps={s.steps}",
        f"--batch_size={s.batch_size}",
        f"--save_freq={s.steps}",
        f"--log_freq={max(1, s.steps // 10)}",
        f"--dataset.val_episodes={s.val_episodes}",
        f"--dataset.val_freq={max(1, s.steps // 10)}",
        "--num_workers=1",
        f"--seed={seed}",
        "--wandb.enable=false",
        f"--output_dir={out}",
    ]
    if s.temporal_ensemble_coeff is not None:
        args.append(f"--policy.temporal_ensemble_coeff={s.temporal_ensemble_coeff}")
    return args


@dataclass
class Run:
    """One training run of the demo and where it is evaluated."""

    name: str  # a column of the results table
    tasks: list[str]  # trained on these tasks' datasets
    condition_on: str = "none"


def train(run: Run, ctx: dict) -> Path:
    """Train `run` with lerobot-multi-train; returns its last checkpoint's pretrained_model directory.

    With ctx["jobs"] > 1 runs train side by side, each with its share of the CPU threads and its
    console output in `<run dir>.log`.
    """
    s, root_map, jobs = ctx["setting"], ctx["root_map"], ctx["jobs"]
    repo_ids = [f"local/metaworld_{t}" for t in run.tasks]
    slug = run.name.replace(", condition_on=", "-").replace(" ", "-")
    out = ctx["workdir"] / "runs" / f"{time.strftime('%Y%m%d-%H%M%S')}-{slug}"
    root_arg = "{" + ", ".join(f"{rid}: {root_map[rid]}" for rid in repo_ids) + "}"
    args = train_args(repo_ids, root_arg, out, s, ctx["image_size"], ctx["seed"], run.condition_on)
    cmd = [sys.executable, "-m", "lerobot_multi.scripts.train", *args]
    print(f"\n== training [{run.name}]: {' '.join(cmd[2:])}\n", flush=True)
    t0 = time.perf_counter()
    # the same numbers on every run: a fixed thread count (float reductions depend on it) and no
    # hash randomization deciding any order of strings in the training process
    threads = str(max(1, (os.cpu_count() or 1) // jobs))
    env = {**os.environ, "OMP_NUM_THREADS": threads, "MKL_NUM_THREADS": threads, "PYTHONHASHSEED": "0"}
    if jobs == 1:
        subprocess.run(cmd, check=True, env=env)
    else:
        log = out.with_name(out.name + ".log")
        log.parent.mkdir(parents=True, exist_ok=True)
        with log.open("w") as f:
            subprocess.run(cmd, check=True, env=env, stdout=f, stderr=subprocess.STDOUT)
        print(f"== trained [{run.name}] in {(time.perf_counter() - t0) / 60:.1f} min (log {log})", flush=True)
    ctx["train_seconds"][run.name] = time.perf_counter() - t0
    return out / "checkpoints" / "last" / "pretrained_model"


def evaluate(run: Run, ckpt: Path, ctx: dict) -> dict[str, float]:
    """Success rate per task of `run`'s checkpoint on the held-out placements."""
    from lerobot_multi.demo.evaluate import evaluate_policy, load_policy_bundle
    from lerobot_multi.demo.sim import task_description

    policy, pre, post = load_policy_bundle(ckpt)
    return {
        task: evaluate_policy(
            policy, pre, post, task_string=task_description(task), task_name=task, **ctx["eval"]
        )["success_rate"]
        for task in run.tasks
    }


def _print_table(tasks: list[str], columns: dict[str, dict[str, float]]) -> None:
    """Success rate per task (rows) and run (columns)."""
    widths = [max(10, len(name)) for name in columns]
    print(f"{'task':<18} " + " ".join(f"{name:>{w}}" for name, w in zip(columns, widths)))
    for task in tasks:
        print(f"{task:<18} " + " ".join(f"{col[task]:>{w}.0%}" for col, w in zip(columns.values(), widths)))


def run_demo(
    workdir: Path,
    setting: str,
    tasks: list[str],
    image_size: int | None,
    seed: int,
    condition_on: str = "task",
    compare: bool = False,
    jobs: int = 1,
) -> dict:
    from lerobot.configs.policies import PreTrainedConfig

    from lerobot_multi.demo.evaluate import evaluate_untrained
    from lerobot_multi.demo.metaworld_data import generate_demo_suite
    from lerobot_multi.demo.sim import split_placements, task_description
    from lerobot_multi.inspect.info_table import format_report, mixture_report, open_metadata

    s = SETTINGS[setting]
    data_dir = workdir / "data" / f"{setting}_img{image_size or 0}_seed{seed}"
    t0 = time.perf_counter()
    roots = generate_demo_suite(
        data_dir, tasks, s.episodes_per_task, image_size, seed,
        execution_noise=s.execution_noise, num_eval=s.eval_episodes,
    )  # fmt: skip
    root_map = {f"local/metaworld_{t}": roots[t] for t in tasks}
    print(f"\n== datasets ready in {time.perf_counter() - t0:.0f} s under {data_dir}")

    meta = open_metadata(list(root_map), root_map, condition_on=condition_on)
    print("\n== mixture\n" + format_report(mixture_report(meta)))

    _, held_out = split_placements(s.episodes_per_task, s.eval_episodes)
    common = dict(placements=held_out, max_steps=s.max_steps, image_size=image_size, seed=seed)
    ctx = dict(
        setting=s, root_map=root_map, workdir=workdir, image_size=image_size, seed=seed, eval=common,
        train_seconds={}, jobs=jobs,
    )  # fmt: skip
    main_run = Run(f"mixture, condition_on={condition_on}", tasks, condition_on)
    runs = [main_run]
    if compare:  # the single-dataset ceilings and the unconditioned mixture, same config and budget
        runs = [Run(f"{t} alone", [t]) for t in tasks] + [Run("mixture, condition_on=none", tasks)] + runs
    with ThreadPoolExecutor(max_workers=jobs) as pool:  # threads only wait on the subprocesses
        checkpoints = dict(zip([r.name for r in runs], pool.map(lambda r: train(r, ctx), runs)))
    columns = {run.name: evaluate(run, checkpoints[run.name], ctx) for run in runs}
    ckpt = checkpoints[main_run.name]
    cfg = PreTrainedConfig.from_pretrained(ckpt)
    columns["untrained"] = {
        t: evaluate_untrained(cfg, meta, task_name=t, task_string=task_description(t), **common)[
            "success_rate"
        ]
        for t in tasks
    }
    if compare:  # one column for the single-dataset runs
        alone = {t: columns.pop(f"{t} alone")[t] for t in tasks}
        columns = {"dataset alone": alone, **columns}
    print(f"\n== success rate on {len(held_out)} held-out placements per task (max {s.max_steps} steps)")
    _print_table(tasks, columns)
    minutes = ", ".join(f"{name} {sec / 60:.1f}" for name, sec in ctx["train_seconds"].items())
    print(f"\ntraining minutes: {minutes}; checkpoint: {ckpt}")
    return {"checkpoint": str(ckpt), "results": columns, "train_seconds": ctx["train_seconds"]}
