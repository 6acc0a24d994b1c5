"""The demo's success rates over several seeds: `lerobot-multi-demo --seed S` per seed (each records its
own datasets, trains and evaluates on 20 held-out placements per task), then the spread per task.

    PYTHONHASHSEED=0 MUJOCO_GL=egl HF_HUB_OFFLINE=1 python benchmarks/bench_demo_spread.py --seeds 0 1 2

A seed changes the recorded placements' noise draws, the held-out validation episodes, the training
order and the initial weights: the spread is what a user of another seed (or another CPU, whose float
reductions differ) should expect around one run's figure.
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import time
from pathlib import Path

from lerobot_multi.demo.run import TASKS, run_demo


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--setting", default="default")
    parser.add_argument("--workdir", type=Path, default=Path("outputs/demo_spread"))
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    runs = {}
    for seed in args.seeds:
        start = time.perf_counter()
        out = run_demo(args.workdir / f"seed{seed}", args.setting, TASKS, None, seed, "task", False, 1)
        runs[seed] = {"results": out["results"], "minutes": (time.perf_counter() - start) / 60}
        print(json.dumps({"seed": seed, **runs[seed]}), flush=True)
    print(f"\n== success over seeds {args.seeds} (setting {args.setting}, 20 held-out placements per task)")
    column = next(name for name in runs[args.seeds[0]]["results"] if name.startswith("mixture"))
    print(
        f"{'task':<16} "
        + " ".join(f"seed {s:>3}" for s in args.seeds)
        + "    mean   min   max  untrained mean"
    )
    for task in TASKS:
        rates = [runs[s]["results"][column][task] for s in args.seeds]
        untrained = statistics.mean(runs[s]["results"]["untrained"][task] for s in args.seeds)
        print(
            f"{task:<16} " + " ".join(f"{r:>8.0%}" for r in rates)
            + f"  {statistics.mean(rates):>6.0%} {min(rates):>5.0%} {max(rates):>5.0%}  {untrained:>9.0%}"
        )  # fmt: skip


if __name__ == "__main__":
    main()
