"""A community mix under the hub's rate limits (loopback hub, tests/hub_proxy.FixedWindows with the hub's
headers), side by side in one run on the installed lerobot line:

- from scratch: an empty cache, the recipe's options (examples/community_mix.yaml), config -> first
  batch;
- from a recorded mixture: the first run's commits and meta/ files (its `mixture.json` rows), as
  `--resume=true` on a fresh node reads them: no refs, no tree listing;
- from a pack: `lerobot-multi-pack`'s file on disk (written once, timed apart), an empty cache;
- stock lerobot, one by one (`LeRobotDataset(repo_id)` and its first sample), under the same limiter:
  what it loses to 429s (or any failure) is counted.

Each in a fresh process with its own cache: wall seconds, API calls and resolves (per dataset), 429s
answered, seconds some request was held back by the limiter (ours), and the peak RSS.

The free account's quotas (1,000 API calls and 5,000 resolves per 300 s) are scaled with the window
by one factor (`--scale 10`: 100 and 500 per 30 s): the rate stays the free account's, so an open
that is API-bound takes as long per dataset as it would on the hub.

    python benchmarks/bench_rate_limits.py --count 300 --scale 10
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
from pathlib import Path

import yaml
from bench_community import mix_config, publish_mix, run_python
from loopback_hub import LoopbackHub

FREE = {"api": 1000, "resolves": 5000, "window_s": 300.0}
CLIENT = r"""
import json, resource, sys, time
args = json.loads(sys.argv[1])
t0 = time.perf_counter()
import torch
from torch.utils.data import DataLoader
out = {}
if args["who"] == "stock":
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    failed = 0
    for rid in args["ids"]:
        try:
            LeRobotDataset(rid)[0]
        except Exception:  # a 429 it gave up on, v2.1, a broken info.json
            failed += 1
    out["failed"] = f"{failed} datasets"
else:
    from lerobot_multi import MultiDatasetConfig, MultiLeRobotDataset
    from lerobot_multi.meta import hub
    from lerobot_multi.meta.locations.hub_cache import remember_listings
    from lerobot_multi.meta.spec import MixtureSpec
    from lerobot_multi.train.manifest import build_manifest, pinned_revisions, recorded_listings
    cfg = MultiDatasetConfig(**args["dataset"])
    if args.get("recorded"):
        saved = json.loads(open(args["recorded"]).read())
        cfg.revision = pinned_revisions(cfg.revision, saved, cfg.repo_id)
        remember_listings(recorded_listings(saved))
    if args.get("pack"):
        from lerobot_multi.meta.pack import write_pack
        t_pack = time.perf_counter()
        write_pack(MixtureSpec.from_config(cfg), args["pack"])
        out["pack_s"] = time.perf_counter() - t_pack
    else:
        ds = MultiLeRobotDataset.from_spec(MixtureSpec.from_config(cfg))
        next(iter(DataLoader(ds, batch_size=8, shuffle=True, num_workers=0)))
        out["failed"] = f"{len(ds.meta.skipped)} datasets, {len(ds.meta.skipped_episodes)} episodes"
        if args.get("record"):
            open(args["record"], "w").write(json.dumps(build_manifest(ds, None)))
    out["held_s"] = hub.LIMITS.paused_s
out["wall_s"] = time.perf_counter() - t0
out["max_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps(out))
"""


def run(hub: LoopbackHub, home: Path, args: dict, limits: dict) -> dict:
    """One client under a fresh limiter (its windows start at its first request)."""
    result, _ = run_python(
        hub,
        home,
        CLIENT,
        [json.dumps(args)],
        0.0,
        lambda proxy: proxy.limit(limits["api"], limits["resolves"], limits["window_s"]),
    )
    result["said"] = len([line for line in result.pop("stderr") if "hub rate limit" in line])
    counts, n = dict(hub.proxy.counts), len(args["ids"])
    return result | {
        "api": counts.get("api", 0) / n,
        "resolves": counts.get("resolve", 0) / n,
        "429": counts.get("429", 0),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--count", type=int, default=300)
    parser.add_argument("--scale", type=float, default=10.0, help="divide the window and quotas by this")
    parser.add_argument("--stock", action=argparse.BooleanOptionalAction, default=True)
    args = parser.parse_args()
    from lerobot_multi.compat import LEROBOT_VERSION

    limits = {k: (v / args.scale if k == "window_s" else int(v / args.scale)) for k, v in FREE.items()}
    print(
        f"lerobot {LEROBOT_VERSION}, Python {sys.version.split()[0]}, loopback hub; free account / "
        f"{args.scale:g}: {limits['api']} API calls and {limits['resolves']} resolves per {limits['window_s']:g} s"
    )
    work = Path(tempfile.mkdtemp(prefix="bench_rate_limits_"))
    hub = LoopbackHub(work / "hub").start()
    try:
        ids = publish_mix(hub, args.count)
        dataset = mix_config(ids)
        (work / "config.yaml").write_text(yaml.safe_dump({"dataset": dataset}))
        base = {"who": "ours", "ids": ids, "dataset": dataset}
        recorded, pack = work / "mixture.json", work / "mix.pack"
        rows = [("from scratch", run(hub, work / "scratch", base | {"record": str(recorded)}, limits))]
        rows.append(
            (
                "from a recorded mixture",
                run(hub, work / "recorded", base | {"recorded": str(recorded)}, limits),
            )
        )
        writing = run(hub, work / "scratch", base | {"pack": str(pack)}, limits)  # the warm cache: no request
        packed = dict(dataset, metadata_pack=str(pack))
        rows.append(("from a pack", run(hub, work / "packed", base | {"dataset": packed}, limits)))
        if args.stock:
            rows.append(("stock, one by one", run(hub, work / "stock", {"who": "stock", "ids": ids}, limits)))
        print(
            f"  {len(ids)} datasets; the pack: {pack.stat().st_size / 1e6:.1f} MB, written in {writing['pack_s']:.1f} s"
        )
        for name, r in rows:
            held = f"  held back {r['held_s']:6.1f} s, said {r['said']}x" if "held_s" in r else ""
            print(
                f"  {name:<24} {r['wall_s']:8.1f} s  API/dataset {r['api']:4.2f}  resolves/dataset "
                f"{r['resolves']:5.2f}  429s {r['429']:4d}{held}  max RSS {r['max_rss_mb']:5.0f} MB  "
                f"left out / failed: {r['failed']}"
            )
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
