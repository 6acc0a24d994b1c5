"""Reading LeRobot v2.1 in place vs the same frames as v3.0, side by side in one run.

    python benchmarks/bench_v21.py --writer-python /path/to/venv-with-lerobot-0.3.3/bin/python

The v2.1 datasets are written by lerobot 0.3.3's own writer (in the Python given, once, cached under
outputs/bench/v21), and their v3.0 twins are lerobot's own `convert_dataset_v21_to_v30` of a copy: the
same frames in both layouts. Measured with the installed lerobot-multi:
- state-only reads (26-dof, episodes of 300-400 frames, 50 episodes): DataLoader samples/s at batch 64,
  shuffled, with and without ACT's 100-step chunk, v2.1 / v3.0 (goal: within 1.2x);
- time to the first batch for 100 small datasets (2 episodes of 12 and 8 frames), v2.1 and v3.0, in a
  fresh process each.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import textwrap
import time
from functools import partial
from pathlib import Path

import torch
from common import CACHE, paired_ratios
from helpers import convert_v21_copy
from torch.utils.data import DataLoader

from lerobot_multi import MultiLeRobotDataset

ROOT = CACHE / "v21"
CHUNK = {"action": [i / 30 for i in range(100)]}

WRITER = textwrap.dedent(
    """
    import sys
    from pathlib import Path
    import numpy as np
    from lerobot.datasets.lerobot_dataset import LeRobotDataset
    out, kind = Path(sys.argv[1]), sys.argv[2]
    def write(root, repo_id, lengths, dof, seed):
        feats = {k: {"dtype": "float32", "shape": (dof,), "names": None} for k in ("observation.state", "action")}
        ds = LeRobotDataset.create(repo_id=repo_id, fps=30, root=root, robot_type="g1", features=feats,
                                   use_videos=False, image_writer_threads=0)
        rng = np.random.default_rng(seed)
        for n in lengths:
            walk = np.cumsum(rng.normal(size=(n, dof)) * 0.05, axis=0).astype(np.float32)
            for t in range(n):
                ds.add_frame({"observation.state": walk[t], "action": walk[min(t + 1, n - 1)]}, task="pick")
            ds.save_episode()
    if kind == "large":
        rng = np.random.default_rng(0)
        write(out / "v21/large", "v21/large", rng.integers(300, 401, 50).tolist(), 26, 0)
    else:
        for i in range(100):
            write(out / f"v21s/ds{i:03d}", f"v21s/ds{i:03d}", [12, 8], 6, i)
    """
)


def convert(repo_id: str, src_root: Path, dst_root: Path) -> None:
    """The v3.0 twin of a v2.1 dataset: lerobot's converter on a copy (tests/helpers.py), once."""
    if not (dst_root / repo_id / "meta/info.json").exists():
        convert_v21_copy(repo_id, dst_root, src_root)
        shutil.rmtree(dst_root / f"{repo_id}_old", ignore_errors=True)


def build(writer_python: str) -> None:
    for kind, marker in (("large", "v21/large"), ("small", "v21s/ds099")):
        if not (ROOT / "as_v21" / marker / "meta/info.json").exists():
            subprocess.run([writer_python, "-c", WRITER, str(ROOT / "as_v21"), kind], check=True)
    convert("v21/large", ROOT / "as_v21", ROOT / "as_v30")
    for i in range(100):
        convert(f"v21s/ds{i:03d}", ROOT / "as_v21", ROOT / "as_v30")


def read_batches(ds, batches: int = 30) -> None:
    """A fixed amount of reading: `batches` shuffled DataLoader batches of 64 (no workers)."""
    it = iter(DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0)))
    for _ in range(batches):
        next(it)


def rate(ds, batches: int = 30) -> float:
    loader = DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    for _ in range(batches):
        next(it)
    return batches * 64 / (time.perf_counter() - t)


def first_batch(root: Path, repo_ids: list[str]) -> float:
    code = "\n".join(
        [
            "import json, time, torch",
            "from torch.utils.data import DataLoader",
            "from lerobot_multi import MultiLeRobotDataset",
            "t = time.perf_counter()",
            f"ds = MultiLeRobotDataset({repo_ids!r}, root={str(root)!r})",
            "next(iter(DataLoader(ds, batch_size=64, shuffle=True, generator=torch.Generator().manual_seed(0))))",
            "print(json.dumps(time.perf_counter() - t))",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return float(proc.stdout.strip().splitlines()[-1])


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--writer-python", required=True, help="a Python with lerobot==0.3.3 (writes v2.1)")
    p.add_argument("--rounds", type=int, default=5)
    args = p.parse_args()
    build(args.writer_python)
    for name, delta in (("state", None), ("state_chunk", CHUNK)):
        readers = {
            fmt: MultiLeRobotDataset(["v21/large"], root=ROOT / f"as_{fmt}", delta_timestamps=delta)
            for fmt in ("v30", "v21")
        }
        ratios = paired_ratios(
            {fmt: partial(read_batches, ds) for fmt, ds in readers.items()},
            baseline="v30",
            rounds=args.rounds,
        )
        v30 = rate(readers["v30"])
        print(
            f"{name:<12} v3.0 {v30:9.0f} samples/s  v2.1 time / v3.0 time: median {ratios['v21'][0]:.3f} "
            f"(quartiles {ratios['v21'][1]:.3f}-{ratios['v21'][2]:.3f}), {args.rounds} rounds",
            flush=True,
        )
    small = [f"v21s/ds{i:03d}" for i in range(100)]
    times = {fmt: min(first_batch(ROOT / f"as_{fmt}", small) for _ in range(3)) for fmt in ("v30", "v21")}
    print(
        f"first batch, 100 small datasets (best of 3): v3.0 {times['v30']:.2f} s  v2.1 {times['v21']:.2f} s  "
        f"v2.1/v3.0 {times['v21'] / times['v30']:.2f}x"
    )
    print(json.dumps(times))


if __name__ == "__main__":
    main()
