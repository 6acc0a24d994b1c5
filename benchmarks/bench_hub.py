"""Hub datasets on a loopback hub (tests/loopback_hub.py: olah behind the counting proxy), side by side
in one run, on the installed lerobot line:

- open: N small datasets at 0 ms and at an added latency per request, from the constructor to the
  first batch: lerobot-multi's mixture (first open, then cached) against stock lerobot opening the same
  datasets one by one (`LeRobotDataset(repo_id)` in a loop, first batch of their ConcatDataset);
  seconds, and requests per dataset by kind (API call, file resolve);
- faults: the same open with a share of requests failing transiently (503, 429, cut bodies); the time
  the faults added;
- stream: a streaming mixture of hub ids: bytes on disk after S samples against the datasets' size,
  samples/s against the map-style mixture of the same repos.

    python benchmarks/bench_hub.py --counts 10 100 --latency-ms 0 50 --faults 0.01 --stream 1000

Each client runs in a fresh process with a fresh cache (the hub's settings are read at import); times
are measured inside it, from before the constructor.
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

from common import CACHE, small_datasets
from loopback_hub import LoopbackHub  # tests/, put on the path by common

CLIENT = r"""
import json, sys, time
t0 = time.perf_counter()
import torch
from torch.utils.data import ConcatDataset, DataLoader
args = json.loads(sys.argv[1])
ids = args["ids"]
if args["who"] == "stock":
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    t0 = time.perf_counter()
    ds = ConcatDataset([LeRobotDataset(r) for r in ids])
elif args["who"] == "stream":
    from lerobot_multi import StreamingMultiLeRobotDataset
    t0 = time.perf_counter()
    ds = StreamingMultiLeRobotDataset(ids)
else:
    from lerobot_multi import MultiLeRobotDataset
    t0 = time.perf_counter()
    ds = MultiLeRobotDataset(ids)
loader = iter(DataLoader(ds, batch_size=8, num_workers=0))
next(loader)
first = time.perf_counter() - t0
n, t1 = 8, time.perf_counter()
while n < args.get("samples", 0):
    try:
        n += len(next(loader)["index"])
    except StopIteration:  # the next epoch
        loader = iter(DataLoader(ds, batch_size=8, num_workers=0))
rate = (n - 8) / (time.perf_counter() - t1) if args.get("samples") else None
print(json.dumps({"first_batch_s": first, "samples_per_s": rate}))
"""


def run_client(hub: LoopbackHub, home: Path, args: dict) -> dict:
    env = hub.client_env(home)
    run = subprocess.run(
        [sys.executable, "-c", CLIENT, json.dumps(args)],
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    if run.returncode != 0:
        raise RuntimeError(run.stderr[-3000:])
    return json.loads(run.stdout.strip().splitlines()[-1])


def measured(hub: LoopbackHub, home: Path, args: dict, latency_s: float) -> dict:
    hub.proxy.reset()
    hub.proxy.latency_s = latency_s
    result = run_client(hub, home, args)
    n = len(args["ids"])
    counts = dict(hub.proxy.counts)
    result.update(
        api_per_dataset=counts.get("api", 0) / n,
        resolves_per_dataset=counts.get("resolve", 0) / n,
        mb=counts.get("bytes", 0) / 1e6,
    )
    return result


def publish_all(hub: LoopbackHub, count: int, camera: str | None, lengths) -> list[str]:
    root, ids = small_datasets(count, lengths=lengths, camera=camera, tag="hub" if camera else "small")
    for rid in ids:
        if not (hub.mirrors / "datasets" / rid / ".git").is_dir():
            hub.publish(root / rid, rid)
    return ids


def bench_open(hub: LoopbackHub, ids: list[str], latency_ms: float, work: Path, stock_max: int) -> None:
    s = latency_ms / 1000
    ours = measured(hub, work / "ours", {"who": "ours", "ids": ids}, s)
    cached = measured(hub, work / "ours", {"who": "ours", "ids": ids}, s)
    rows = [("lerobot-multi", ours), ("  cached", cached)]
    if len(ids) > stock_max:
        print(f"  (stock lerobot skipped above {stock_max} datasets: --stock-max)")
    else:
        rows.append(("stock lerobot", measured(hub, work / "stock", {"who": "stock", "ids": ids}, s)))
    for name, r in rows:
        print(
            f"  {len(ids):>4} datasets {latency_ms:>3.0f} ms  {name:<14} {r['first_batch_s']:7.2f} s  "
            f"API/dataset {r['api_per_dataset']:4.1f}  resolves/dataset {r['resolves_per_dataset']:5.1f}"
        )
    if len(rows) == 3:
        ratio = rows[2][1]["first_batch_s"] / ours["first_batch_s"]
        print(f"  {'':>25} stock / lerobot-multi: {ratio:.1f}x")


def bench_faults(hub: LoopbackHub, ids: list[str], rate: float, work: Path) -> None:
    clean = measured(hub, work / "clean", {"who": "ours", "ids": ids}, 0.0)
    hub.proxy.reset()
    hub.proxy.random_faults(rate, ("503", "429", "cut", "cut_nolength", "drop"), seed=1)
    t = time.perf_counter()
    faulty = run_client(hub, work / "faulty", {"who": "ours", "ids": ids})
    print(
        f"  {len(ids)} datasets, {rate:.0%} of requests failing: {hub.proxy.counts['faults']} faults injected, "
        f"first batch {faulty['first_batch_s']:.2f} s against {clean['first_batch_s']:.2f} s clean "
        f"(+{faulty['first_batch_s'] - clean['first_batch_s']:.2f} s; client {time.perf_counter() - t:.1f} s)"
    )


def bench_stream(hub: LoopbackHub, samples: int, work: Path) -> None:
    ids = publish_all(hub, 8, "observation.images.top", (40, 30, 40, 30))
    stream = measured(hub, work / "stream", {"who": "stream", "ids": ids, "samples": samples}, 0.0)
    mapped = measured(hub, work / "map", {"who": "ours", "ids": ids, "samples": samples}, 0.0)

    def size(root: Path, frames: bool) -> float:
        files = [p for p in root.rglob("*") if p.is_file() and ".git" not in p.parts]
        return (
            sum(
                p.stat().st_size
                for p in files
                if (p.suffix in (".parquet", ".mp4") and "meta" not in p.parts) == frames
            )
            / 1e6
        )

    repos = [hub.mirrors / "datasets" / rid for rid in ids]
    print(
        f"  stream of {len(ids)} hub datasets ({sum(size(r, True) for r in repos):.2f} MB of data and video, "
        f"{sum(size(r, False) for r in repos):.2f} MB else), {samples} samples: on disk after, "
        f"{size(work / 'stream', True):.2f} MB of data and video, {size(work / 'stream', False):.2f} MB else "
        f"(metadata, caches); {stream['samples_per_s']:.0f} samples/s against the map-style mixture's "
        f"{mapped['samples_per_s']:.0f} ({stream['samples_per_s'] / mapped['samples_per_s']:.2f}x)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[10, 100])
    parser.add_argument(
        "--latency-ms", type=float, nargs="*", default=[0, 50], help="none: skip the open runs"
    )
    parser.add_argument("--faults", type=float, default=0.01, help="share of requests failing (0: skip)")
    parser.add_argument("--stream", type=int, default=1000, help="samples streamed (0: skip)")
    parser.add_argument(
        "--stock-max", type=int, default=100, help="run stock lerobot up to this many datasets"
    )
    args = parser.parse_args()
    from lerobot_multi.compat import LEROBOT_VERSION

    print(f"lerobot {LEROBOT_VERSION}, Python {sys.version.split()[0]}, loopback hub (olah + proxy)")
    work = Path(tempfile.mkdtemp(prefix="bench_hub_", dir=CACHE.parent if CACHE.parent.exists() else None))
    hub = LoopbackHub(work / "hub").start()
    try:
        for count in args.counts:
            ids = publish_all(hub, count, None, (12, 8))
            for latency in args.latency_ms:
                bench_open(hub, ids, latency, work / f"open_{count}_{latency:g}", args.stock_max)
        if args.faults:
            bench_faults(hub, publish_all(hub, max(args.counts), None, (12, 8)), args.faults, work / "faults")
        if args.stream:
            bench_stream(hub, args.stream, work)
    finally:
        hub.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
