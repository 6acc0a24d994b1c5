"""A community pretraining mix on a loopback hub (tests/loopback_hub.py), side by side in one run, on
the installed lerobot line:

- open: N community-shaped state-only datasets (tests/community.py: 6- and 14-dof, 15/25/30 fps, v2.1
  beside v3.0, free-text and empty tasks, 2% flawed: a NaN frame, a two-frame episode, an info.json
  without fps), with the recipe's options (examples/community_mix.yaml: padding, mixed fps, per-robot
  normalization, temperature, `on_error: skip`, episode checks), from the config to the first batch,
  cold cache then warm; against stock lerobot opening the same datasets one by one
  (`LeRobotDataset(repo_id)` and its first sample; what it cannot open is counted and skipped);
- info: `lerobot-multi-info --config_path=<the config>` (its `main`) in a fresh process, cold and warm
  cache; timed from the call, the process's wall time (imports included) beside it.

Seconds, API calls and file resolves per dataset, and the peak memory (max RSS) of the process.

    python benchmarks/bench_community.py --count 500 --latency-ms 0 50

Each client is a fresh process (the hub's settings are read at import) with its own cache.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import CACHE
from community import FLAWED, Shape, build_mix, community_ids  # tests/, put on the path by common
from loopback_hub import LoopbackHub

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "community_mix.yaml"
CLIENT = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
import torch
from torch.utils.data import DataLoader
failed = 0
if args["who"] == "stock":
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    t0 = time.perf_counter()
    for rid in args["ids"]:
        try:
            LeRobotDataset(rid)[0]
        except Exception:  # v2.1, a broken info.json: stock cannot open them
            failed += 1
    failed = f"{failed} datasets"
else:
    from lerobot_multi import MultiDatasetConfig, MultiLeRobotDataset
    from lerobot_multi.meta.spec import MixtureSpec
    t0 = time.perf_counter()
    cfg = MultiDatasetConfig(**args["dataset"])
    ds = MultiLeRobotDataset.from_spec(MixtureSpec.from_config(cfg))
    next(iter(DataLoader(ds, batch_size=8, shuffle=True, num_workers=0)))
    failed = f"{len(ds.meta.skipped)} datasets, {len(ds.meta.skipped_episodes)} episodes"
print(json.dumps({"first_batch_s": time.perf_counter() - t0, "failed": failed,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

INFO = r"""
import json, resource, sys, time
from lerobot_multi.scripts.info import main
t0 = time.perf_counter()
assert main(sys.argv[1:]) == 0
print(json.dumps({"main_s": time.perf_counter() - t0,
                  "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def mix_config(ids: list[str]) -> dict:
    """The recipe's dataset options over `ids` (state-only: no cameras to check)."""
    dataset = yaml.safe_load(RECIPE.read_text())["dataset"] | {"repo_id": ids, "min_episode_frames": 4}
    dataset["episode_checks"] = ["short", "non_finite"]
    dataset["max_skipped"] = 0.1
    dataset.pop("val_episodes")
    return dataset


def publish_mix(hub: LoopbackHub, count: int) -> list[str]:
    pairs = community_ids(count)
    flawed = [(f"community/flaw{i:04d}_{s.flaw}", s) for i, s in enumerate(_flaws(count))]
    root = CACHE / "community_state"
    ids = build_mix(root, pairs + flawed, state_only=True)
    for rid in ids:
        if not (hub.mirrors / "datasets" / rid / ".git").is_dir():
            hub.publish(root / rid, rid, tag="v2.1" if "_v21_" in rid else "v3.0")
    return ids


def _flaws(count: int) -> list[Shape]:
    kinds = [s for _, s in FLAWED if s.flaw in ("nan", "short_episode", "broken")]
    return [kinds[i % len(kinds)] for i in range(max(1, count // 50))]


def run_python(
    hub: LoopbackHub, home: Path, code: str, args: list[str], latency_s: float, setup=None
) -> tuple[dict, float]:
    """(the last JSON line `python -c code *args` prints, with its stderr lines under "stderr"; its wall
    seconds), as a client of the hub with its own cache; the proxy's counts start from zero, and
    `setup(proxy)` (a rate limiter, say) runs before it starts."""
    hub.proxy.reset()
    hub.proxy.latency_s = latency_s
    if setup is not None:
        setup(hub.proxy)
    t = time.perf_counter()
    run = subprocess.run(
        [sys.executable, "-c", code, *args],
        env=hub.client_env(home),
        capture_output=True,
        text=True,
        timeout=7200,
    )
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    result = json.loads(run.stdout.strip().splitlines()[-1])
    return result | {"stderr": run.stderr.splitlines()}, time.perf_counter() - t


def client(hub: LoopbackHub, home: Path, args: dict, latency_s: float) -> dict:
    result, _ = run_python(hub, home, CLIENT, [json.dumps(args)], latency_s)
    return result | per_dataset(hub, len(args["ids"]))


def info(hub: LoopbackHub, home: Path, config: Path, n: int, latency_s: float) -> dict:
    """lerobot-multi-info's `main` in a fresh process, timed from the call; the process's wall time
    (imports included) beside it."""
    result, wall = run_python(hub, home, INFO, [f"--config_path={config}"], latency_s)
    timing = {"first_batch_s": result["main_s"], "process_s": wall, "max_rss_mb": result["max_rss_mb"]}
    return timing | per_dataset(hub, n)


def per_dataset(hub: LoopbackHub, n: int) -> dict:
    counts = dict(hub.proxy.counts)
    return {"api": counts.get("api", 0) / n, "resolves": counts.get("resolve", 0) / n}


def bench(hub: LoopbackHub, ids: list[str], latency_ms: float, work: Path, stock_max: int) -> None:
    s, dataset = latency_ms / 1000, mix_config(ids)
    config = work / "config.yaml"
    config.parent.mkdir(parents=True, exist_ok=True)
    config.write_text(yaml.safe_dump({"dataset": dataset}))
    rows = [
        (
            "config -> first batch, cold",
            client(hub, work / "ours", {"who": "ours", "ids": ids, "dataset": dataset}, s),
        ),
        (
            "config -> first batch, warm",
            client(hub, work / "ours", {"who": "ours", "ids": ids, "dataset": dataset}, s),
        ),
        ("lerobot-multi-info, cold", info(hub, work / "info", config, len(ids), s)),
        ("lerobot-multi-info, warm", info(hub, work / "info", config, len(ids), s)),
    ]
    if len(ids) <= stock_max:
        rows.append(("stock, one by one", client(hub, work / "stock", {"who": "stock", "ids": ids}, s)))
    for name, r in rows:
        failed = f"  left out / failed: {r['failed']}" if "failed" in r else ""
        failed += f"  (process {r['process_s']:.2f} s, imports included)" if "process_s" in r else ""
        print(
            f"  {len(ids):>4} datasets {latency_ms:>3.0f} ms  {name:<28} {r['first_batch_s']:7.2f} s  "
            f"API/dataset {r['api']:4.1f}  resolves/dataset {r['resolves']:5.1f}  "
            f"max RSS {r['max_rss_mb']:6.0f} MB{failed}"
        )
    if len(rows) == 5:
        print(
            f"  {'':>25} stock / cold config -> first batch: {rows[4][1]['first_batch_s'] / rows[0][1]['first_batch_s']:.1f}x"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--latency-ms", type=float, nargs="+", default=[0, 50])
    parser.add_argument("--stock-max", type=int, default=1000, help="run stock lerobot up to this many")
    args = parser.parse_args()
    from lerobot_multi.compat import LEROBOT_VERSION

    print(f"lerobot {LEROBOT_VERSION}, Python {sys.version.split()[0]}, loopback hub (olah + proxy)")
    work = Path(tempfile.mkdtemp(prefix="bench_community_"))
    hub = LoopbackHub(work / "hub").start()
    try:
        t = time.perf_counter()
        ids = publish_mix(hub, args.count)
        print(f"  {len(ids)} community-shaped datasets published in {time.perf_counter() - t:.0f} s")
        for latency in args.latency_ms:
            bench(hub, ids, latency, work / f"run_{latency:g}", args.stock_max)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
