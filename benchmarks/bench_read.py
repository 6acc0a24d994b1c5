"""Read throughput of the fast reader vs lerobot's LeRobotDataset, its legacy multi class and the floor.

    python benchmarks/bench_read.py                      # the four read cases, 0 and 2 workers
    python benchmarks/bench_read.py --cases state_chunk --workers 0 --batches 4
    python benchmarks/bench_read.py --first-batch --counts 10 100 1000
    python benchmarks/bench_read.py --rss
    python benchmarks/bench_read.py --train --steps 30
    python benchmarks/bench_read.py --uint8 --context spawn       # lerobot 0.6's training defaults
    python benchmarks/bench_read.py --previous /path/to/old/src   # + the previous version, same run
    python benchmarks/bench_read.py --first-batch --first-batch-workers 2 --context spawn --previous SRC

Datasets are written once with lerobot's writer (cached under outputs/bench/read), in the shapes of real
recordings: 26-dof state and action at 30 fps, episodes of 300-400 frames; state-only (50 episodes),
one 64x64 camera (30 episodes), two 480x640 cameras (10 episodes, once AV1 and once h264).

Every read case is DataLoader samples/s at batch 64 over shuffled indices (the first batch, which
starts workers and opens files, is not timed), side by side in one run, for: ours (reader "fast"),
ours with reader "lerobot" (the previous read path), lerobot's `LeRobotDataset` and lerobot's legacy
`MultiLeRobotDataset`, all on the same folder. The floor is a numpy gather of the same windows from
arrays in memory (state cases) or torchcodec decoding the same frames in file order (video cases).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import re
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import torch
from common import CACHE, small_datasets
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from lerobot.datasets.video_utils import _default_decoder_cache
from torch.utils.data import DataLoader

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LEROBOT_VERSION, lerobot_dataset_options, video_codec_options
from lerobot_multi.compat import LegacyMultiLeRobotDataset as LegacyMulti

BATCH = 64
FPS = 30
DOF = 26
ROOT = CACHE / "read"
CASES = {
    # name: (repo_id, episodes, camera shape or None, cameras, vcodec, delta_timestamps)
    "state_chunk": ("read/state", 50, None, 0, None, {"action": [i / FPS for i in range(100)]}),
    "state": ("read/state", 50, None, 0, None, None),
    "video64_chunk": (
        "read/video64",
        30,
        (64, 64),
        1,
        "libsvtav1",
        {"action": [i / FPS for i in range(100)]},
    ),
    "video480_av1": ("read/video480_av1", 10, (480, 640), 2, "libsvtav1", None),
    "video480_h264": ("read/video480_h264", 10, (480, 640), 2, "h264", None),
}


def build(repo_id: str, episodes: int, shape, cameras: int, vcodec: str | None) -> Path:
    """A dataset with real-recording shapes; camera frames are smooth moving patterns plus noise, so
    the codec does real work (flat frames would decode unrealistically fast)."""
    root = ROOT / repo_id
    if (root / "meta" / "info.json").exists():
        return root
    features = {
        "observation.state": {"dtype": "float32", "shape": (DOF,), "names": [f"s{i}" for i in range(DOF)]},
        "action": {"dtype": "float32", "shape": (DOF,), "names": [f"a{i}" for i in range(DOF)]},
    }
    keys = [f"observation.images.cam{c}" for c in range(cameras)]
    for key in keys:
        features[key] = {"dtype": "video", "shape": (*shape, 3), "names": ["height", "width", "channels"]}
    ds = LeRobotDataset.create(
        repo_id, FPS, root=root, robot_type="g1", features=features, use_videos=bool(keys),
        image_writer_threads=4, **video_codec_options(vcodec or "libsvtav1"),
    )  # fmt: skip
    rng = np.random.default_rng(0)
    if keys:
        yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    for ep in range(episodes):
        length = int(rng.integers(300, 401))
        walk = np.cumsum(rng.normal(size=(length, DOF)) * 0.05, axis=0).astype(np.float32)
        for t in range(length):
            frame = {"observation.state": walk[t], "action": walk[min(t + 1, length - 1)], "task": "pick"}
            for c, key in enumerate(keys):
                phase = (t + 7 * ep + 31 * c) / 20
                img = 127 + 100 * np.sin(xx / 23 + phase) * np.cos(yy / 17 - phase)
                img = img[..., None] + rng.integers(-8, 9, size=(*shape, 1))
                frame[key] = np.clip(np.repeat(img, 3, axis=2) + [0, 20 * c, -20 * c], 0, 255).astype(
                    np.uint8
                )
            ds.add_frame(frame)
        ds.save_episode()
    ds.finalize()
    return root


UINT8 = False  # --uint8: video frames as uint8 (lerobot 0.6's `return_uint8`, its training default)
CONTEXT: str | None = None  # --context: the DataLoader workers' start method (0.6's default: spawn)


def open_reader(kind: str, repo_id: str, delta) -> torch.utils.data.Dataset:
    if kind == "ours":
        kw = {"return_uint8": True} if UINT8 else {}  # a previous version may not know the option
        return MultiLeRobotDataset([repo_id], root=ROOT, delta_timestamps=delta, **kw)
    if kind == "ours_lerobot_reader":
        return MultiLeRobotDataset([repo_id], root=ROOT, delta_timestamps=delta, reader="lerobot")
    if kind == "lerobot":
        return LeRobotDataset(
            repo_id, root=ROOT / repo_id, delta_timestamps=delta, **lerobot_dataset_options(UINT8)
        )
    if kind == "legacy":
        return LegacyMulti([repo_id], root=ROOT, delta_timestamps=delta)
    raise ValueError(kind)


def loader_rate(dataset, workers: int, batches: int, budget_s: float = 12.0) -> float:
    """Samples/s over `batches` shuffled batches after the first (untimed) one, or fewer (at least 2)
    when they take longer than `budget_s` (lerobot's reader with an action chunk)."""
    # lerobot's module-level torchcodec decoder cache must not cross into forked workers (lerobot's own
    # `_query_videos` note): a previous in-process run fills it
    _default_decoder_cache.clear()
    gen = torch.Generator().manual_seed(0)
    context = CONTEXT if workers else None
    loader = DataLoader(
        dataset,
        batch_size=BATCH,
        shuffle=True,
        num_workers=workers,
        generator=gen,
        multiprocessing_context=context,
    )
    it = iter(loader)
    next(it)
    t = time.perf_counter()
    done = 0
    while done < batches and (done < 2 or time.perf_counter() - t < budget_s):
        next(it)
        done += 1
    rate = done * BATCH / (time.perf_counter() - t)
    del it
    return rate


class SameBatch(torch.utils.data.Dataset):
    """The DataLoader's own cost: `__getitems__` hands back one prepared batch of samples (collate and,
    with workers, the transfer of every tensor to the main process remain)."""

    def __init__(self, samples: list[dict], length: int):
        self.samples, self.length = samples, length

    def __len__(self) -> int:
        return self.length

    def __getitems__(self, indices):
        return self.samples[: len(indices)]


def state_floor(repo_id: str, delta, batches: int) -> float:
    """Samples/s of a numpy gather, from arrays in memory, of every key a sample holds (the window of
    `delta` with its `_is_pad`, the index fields, the task string), as batch tensors."""
    ds = LeRobotDataset(repo_id, root=ROOT / repo_id)
    cols = ds.hf_dataset.with_format("numpy")
    arrays = {k: np.stack(cols[k]) for k in ds.hf_dataset.column_names}
    arrays = {
        k: v.astype(np.float32) if v.dtype.kind == "f" else v.astype(np.int64) for k, v in arrays.items()
    }
    ep = arrays["episode_index"]
    starts = np.asarray(ds.meta.episodes["dataset_from_index"])[ep]
    ends = np.asarray(ds.meta.episodes["dataset_to_index"])[ep]
    tasks = list(ds.meta.tasks.index)
    offsets = {k: np.round(np.asarray(v) * FPS).astype(np.int64) for k, v in (delta or {}).items()}
    rng = np.random.default_rng(0)
    t = time.perf_counter()
    for _ in range(batches):
        idx = rng.integers(0, len(ep), BATCH)
        out = {}
        for key, values in arrays.items():
            if key in offsets:
                want = idx[:, None] + offsets[key]
                q = np.clip(want, starts[idx, None], ends[idx, None] - 1)
                out[key] = torch.from_numpy(values[q])
                out[f"{key}_is_pad"] = torch.from_numpy(
                    (want < starts[idx, None]) | (want >= ends[idx, None])
                )
            else:
                out[key] = torch.from_numpy(values[idx])
        out["dataset_index"] = torch.zeros(BATCH, dtype=torch.int64)
        out["task"] = [tasks[i] for i in out["task_index"].tolist()]
    return batches * BATCH / (time.perf_counter() - t)


def video_floor(repo_id: str, batches: int) -> float:
    """Samples/s of torchcodec decoding the frames `batches` random samples need, in file order."""
    from torchcodec.decoders import VideoDecoder

    ds = LeRobotDataset(repo_id, root=ROOT / repo_id)
    rng = np.random.default_rng(0)
    idx = np.sort(rng.integers(0, ds.num_frames, batches * BATCH))
    t = time.perf_counter()
    for key in ds.meta.video_keys:
        path = ds.root / ds.meta.get_video_file_path(0, key)  # one file per camera at these sizes
        decoder = VideoDecoder(str(path), seek_mode="approximate")
        decoder.get_frames_at(indices=idx.tolist())
    return len(idx) / (time.perf_counter() - t)


def previous_rate(prev_src: str, case: str, workers: int, batches: int) -> float:
    """`ours` as the previous version reads it (its src/ first on PYTHONPATH), in a child process that
    imports nothing of this version: the same DataLoader loop as `loader_rate`."""
    repo_id, *_, delta = CASES[case]
    context = CONTEXT if workers else None
    code = "\n".join(
        [
            "import time, torch",
            "from torch.utils.data import DataLoader",
            "from lerobot_multi import MultiLeRobotDataset",
            "if __name__ == '__main__':",
            f"    ds = MultiLeRobotDataset([{repo_id!r}], root={str(ROOT)!r}, delta_timestamps={delta!r})",
            "    g = torch.Generator().manual_seed(0)",
            f"    it = iter(DataLoader(ds, batch_size={BATCH}, shuffle=True, num_workers={workers}, "
            f"generator=g, multiprocessing_context={context!r}))",
            "    next(it)",
            "    t, done = time.perf_counter(), 0",
            f"    while done < {batches} and (done < 2 or time.perf_counter() - t < 12.0):",
            "        next(it)",
            "        done += 1",
            f"    print(done * {BATCH} / (time.perf_counter() - t))",
        ]
    )
    env = {**os.environ, "PYTHONPATH": prev_src}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return float(proc.stdout.strip().splitlines()[-1])


def video_floor_random(repo_id: str, batches: int) -> float:
    """Samples/s of torchcodec decoding each random batch's frames in the batch's (random) order, one
    call per batch and camera, decoders kept open: the raw decode cost of what a shuffled loader asks."""
    from torchcodec.decoders import VideoDecoder

    ds = LeRobotDataset(repo_id, root=ROOT / repo_id)
    decoders = [
        VideoDecoder(str(ds.root / ds.meta.get_video_file_path(0, key)), seek_mode="approximate")
        for key in ds.meta.video_keys
    ]
    rng = np.random.default_rng(1)
    t = time.perf_counter()
    for _ in range(batches):
        idx = rng.integers(0, ds.num_frames, BATCH).tolist()
        for decoder in decoders:
            decoder.get_frames_at(indices=idx)
    return batches * BATCH / (time.perf_counter() - t)


def run_cases(names: list[str], workers: list[int], batches: int, prev_src: str | None = None) -> None:
    print(
        f"lerobot {LEROBOT_VERSION}, frames {'uint8' if UINT8 else 'float32'}, workers start {CONTEXT or 'default'}"
    )
    rows = []
    for name in names:
        repo_id, episodes, shape, cameras, vcodec, delta = CASES[name]
        build(repo_id, episodes, shape, cameras, vcodec)
        # the floor is the best of 3 (it is what the hardware allows)
        floor = max(
            state_floor(repo_id, delta, 200) if cameras == 0 else video_floor(repo_id, min(batches, 8))
            for _ in range(3)
        )
        random_floor = video_floor_random(repo_id, min(batches, 8)) if cameras else None
        ours = open_reader("ours", repo_id, delta)
        same = SameBatch(ours.__getitems__(list(range(BATCH))), len(ours))
        for w in workers:
            rates = {"dataloader_only": loader_rate(same, w, batches)}
            for kind in ("ours", "ours_lerobot_reader", "lerobot", "legacy"):
                rates[kind] = loader_rate(open_reader(kind, repo_id, delta), w, batches)
            if prev_src:
                rates["previous"] = previous_rate(prev_src, name, w, batches)
            rows.append((name, w, rates, floor))
            print(
                f"{name:<14} workers={w}  ours {rates['ours']:9.0f}/s  lerobot {rates['lerobot']:7.0f}/s  "
                f"legacy {rates['legacy']:7.0f}/s  prev (reader=lerobot) {rates['ours_lerobot_reader']:7.0f}/s  "
                f"| ours/lerobot {rates['ours'] / rates['lerobot']:6.1f}x  ours/legacy "
                f"{rates['ours'] / rates['legacy']:6.1f}x  floor/ours {floor / rates['ours']:5.2f}x "
                f"(floor {floor:.0f}/s)  DataLoader alone {rates['dataloader_only']:.0f}/s"
                + (f"  ours/previous {rates['ours'] / rates['previous']:5.2f}x" if prev_src else "")
                + (
                    f"  random-order floor {random_floor:.0f}/s ({random_floor / rates['ours']:.2f}x ours)"
                    if random_floor
                    else ""
                ),
                flush=True,
            )
    print(json.dumps([{"case": n, "workers": w, **r, "floor": f} for n, w, r, f in rows]))


def _first_batch_seconds(make: str, repo_ids, root, workers: int, env=None) -> float:
    """One fresh process: seconds from the constructor call to the first shuffled batch of 64."""
    code = "\n".join(
        [
            "import json, time, torch",
            "from torch.utils.data import DataLoader",
            "if __name__ == '__main__':",  # previous versions open many datasets in processes
            f"    {make}",  # imports (torch, lerobot: ~4 s) are the same for all: not timed
            "    import lerobot.datasets.lerobot_dataset",  # what each version imports, before or on use
            "    t = time.perf_counter()",
            f"    ds = M({repo_ids!r}, root={str(root)!r})",
            "    g = torch.Generator().manual_seed(0)",
            f"    kw = dict(num_workers={workers}, multiprocessing_context={CONTEXT if workers else None!r})",
            "    next(iter(DataLoader(ds, batch_size=64, shuffle=True, generator=g, **kw)))",
            "    print(json.dumps(time.perf_counter() - t))",
        ]
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-3000:])
    return float(proc.stdout.strip().splitlines()[-1])


def first_batch(counts: list[int], workers: int = 0, previous: str | None = None) -> None:
    """Seconds from the constructor call to the first shuffled batch of 64, per count of small datasets
    (in a fresh process each, after the imports). Without workers lerobot's legacy multi class is the
    comparison; with workers (it would take minutes at 1,000), lerobot's `LeRobotDataset` on one of the
    same datasets, the least a worker of lerobot's own costs."""
    ours = "from lerobot_multi import MultiLeRobotDataset as M"
    env = {**os.environ, "PYTHONPATH": previous} if previous else None
    if workers:
        root, repo_ids = small_datasets(1)
        one = _first_batch_seconds(
            "from lerobot.datasets.lerobot_dataset import LeRobotDataset as L\n"
            "    M = lambda ids, root: L(ids[0], root=root + '/' + ids[0])",
            repo_ids,
            root,
            workers,
        )
        print(f"lerobot's LeRobotDataset, one dataset, {workers} {CONTEXT} workers: {one:6.2f} s", flush=True)
    for count in counts:
        root, repo_ids = small_datasets(count)
        out = {"ours": _first_batch_seconds(ours, repo_ids, root, workers)}
        if previous:
            out["previous"] = _first_batch_seconds(ours, repo_ids, root, workers, env)
        if not workers:
            make = "from lerobot_multi.compat import LegacyMultiLeRobotDataset as M"
            out["legacy"] = _first_batch_seconds(make, repo_ids, root, workers)
        line = "  ".join(f"{k} {v:6.2f} s ({1000 * v / count:5.1f} ms/dataset)" for k, v in out.items())
        ratios = "  ".join(f"{k}/ours {v / out['ours']:.2f}x" for k, v in out.items() if k != "ours")
        print(f"{count:>5} datasets, {workers} {CONTEXT or ''} workers: {line}  {ratios}", flush=True)


def peak_rss(kind: str, case: str, batches: int) -> None:
    repo_id, *_, delta = CASES[case]
    ds = open_reader(kind, repo_id, delta)
    me = psutil.Process()
    loader = DataLoader(
        ds, batch_size=BATCH, shuffle=True, num_workers=2, generator=torch.Generator().manual_seed(0)
    )
    peak = {"rss": 0, "pss": 0, "uss": 0}  # forked workers share pages: RSS counts them in each one
    for i, _ in enumerate(loader):
        infos = [p.memory_full_info() for p in [me, *me.children(recursive=True)]]
        for k in peak:
            peak[k] = max(peak[k], sum(getattr(m, k) for m in infos))
        if i >= batches:
            break
    print(json.dumps({k: v / 2**20 for k, v in peak.items()}))


def rss(batches: int) -> None:
    for case in ("state_chunk", "video64_chunk"):
        build(*CASES[case][:5])
        out = {}
        for kind in ("ours", "lerobot"):
            cmd = [sys.executable, __file__, "--rss-one", kind, case, "--batches", str(batches)]
            proc = subprocess.run(cmd, capture_output=True, text=True)
            if proc.returncode != 0:
                raise RuntimeError(proc.stderr[-3000:])
            out[kind] = json.loads(proc.stdout.strip().splitlines()[-1])
        print(
            f"peak memory, main + 2 workers, {case}: "
            + ", ".join(
                f"{m.upper()} ours {out['ours'][m]:.0f} MB / lerobot {out['lerobot'][m]:.0f} MB"
                for m in out["ours"]
            )
        )


def train(steps: int, batch_size: int, workers: int) -> None:
    """`lerobot-multi-train` ACT (chunk 100) on the 64x64-camera dataset, reader fast vs lerobot:
    steps/s and lerobot's logged data time (its last log window, after warm-up)."""
    repo_id, episodes, shape, cameras, vcodec, _ = CASES["video64_chunk"]
    build(repo_id, episodes, shape, cameras, vcodec)
    for reader in ("lerobot", "fast"):
        out = CACHE / "read_train" / reader
        cmd = [
            sys.executable, "-m", "lerobot_multi.scripts.train", f"--dataset.repo_id=[{repo_id}]",
            f"--dataset.root={ROOT}", f"--dataset.reader={reader}", "--policy.type=act", "--policy.device=cpu",
            "--policy.push_to_hub=false", "--policy.pretrained_backbone_weights=null",
            "--policy.chunk_size=100", "--policy.n_action_steps=100", f"--batch_size={batch_size}",
            f"--steps={steps}", f"--log_freq={steps // 2}", "--save_checkpoint=false", f"--num_workers={workers}",
            "--wandb.enable=false", f"--output_dir={out}",
        ]  # fmt: skip
        subprocess.run(["rm", "-rf", str(out)], check=True)
        proc = subprocess.run(cmd, capture_output=True, text=True)
        if proc.returncode != 0:
            raise RuntimeError(proc.stderr[-3000:])
        updt, data = (
            float(x) for x in re.findall(r"updt_s:([\d.]+) data_s:([\d.]+)", proc.stdout + proc.stderr)[-1]
        )
        print(
            f"train ACT chunk 100, batch {batch_size}, {workers} workers, reader {reader:<8}: "
            f"{1 / (updt + data):.2f} steps/s, data_s {data:.3f}, updt_s {updt:.3f}",
            flush=True,
        )


def main() -> None:
    logging.basicConfig(level=logging.WARNING)
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", nargs="+", default=list(CASES), choices=list(CASES))
    p.add_argument("--workers", nargs="+", type=int, default=[0, 2])
    p.add_argument("--batches", type=int, default=40)
    p.add_argument("--first-batch", action="store_true")
    p.add_argument("--counts", nargs="+", type=int, default=[10, 100, 1000])
    p.add_argument("--rss", action="store_true")
    p.add_argument("--rss-one", nargs=2, metavar=("KIND", "CASE"))
    p.add_argument("--train", action="store_true")
    p.add_argument("--steps", type=int, default=40)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--uint8", action="store_true", help="uint8 video frames (lerobot 0.6's training default)")
    p.add_argument("--context", choices=["fork", "spawn", "forkserver"], default=None)
    p.add_argument("--previous", metavar="SRC", help="a previous version's src/: measured in the same run")
    p.add_argument("--first-batch-workers", type=int, default=0)
    args = p.parse_args()
    global UINT8, CONTEXT
    UINT8, CONTEXT = args.uint8, args.context
    if args.rss_one:
        return peak_rss(*args.rss_one, args.batches)
    if args.rss:
        return rss(args.batches)
    if args.train:
        return train(args.steps, args.batch_size, 2)
    if args.first_batch:
        return first_batch(args.counts, args.first_batch_workers, args.previous)
    run_cases(args.cases, args.workers, args.batches, args.previous)


if __name__ == "__main__":
    main()
