"""SmolVLA's training step on a community mix against the same step on one dataset, and whether the data
path keeps up: the training DataLoader alone (0 and 2 workers) against steps/s x batch size.

    python benchmarks/bench_vla.py [--steps 20] [--batch-size 8]     # needs the vla extra (make test-vla)

Data: community-shaped datasets (tests/community.py: SO-100 laptop/phone, SO-100 front/wrist, ALOHA
14-dof cam_high/cam_left_wrist at 25 fps) with two 480x640 cameras (lerobot's writer, its default
codec), 3 episodes of 300 frames each, cached. The mix uses the recipe's options
(examples/community_mix.yaml: rules, filled cameras, padding, mixed fps, per-robot normalization);
"one dataset" is stock lerobot's path on its first dataset (`--dataset.repo_id=<one id>`). lerobot's
`data_s` is the wait for the next batch plus the preprocessor (tokenizer, normalization). SmolVLA has
the tiny random backbone of the tests (tests/tiny_vlm.py, 64x64 inputs), so the step here is far
cheaper than the real 450M-parameter model's: the data path has to keep up with a faster step than in
real training. Times come from lerobot's own logged `updt_s` / `data_s` (the second logged window).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml
from common import CACHE
from community import Shape, build_mix  # tests/, put on the path by common
from tiny_vlm import build_tiny_vlm

RECIPE = Path(__file__).resolve().parents[1] / "examples" / "community_mix.yaml"
SHAPES = [
    ("bench/so100_laptop_phone", Shape(lengths=(300,) * 3)),
    ("bench/so100_front_wrist", Shape(cameras=("front", "wrist"), lengths=(300,) * 3)),
    (
        "bench/aloha",
        Shape(robot_type="aloha", dof=14, fps=25, cameras=("cam_high", "cam_left_wrist"), lengths=(300,) * 3),
    ),
]
SMOLVLA = [
    "--policy.type=smolvla", "--policy.load_vlm_weights=false", "--policy.num_vlm_layers=4",
    "--policy.resize_imgs_with_padding=[64,64]", "--policy.device=cpu", "--policy.push_to_hub=false",
    "--wandb.enable=false", "--save_checkpoint=false",
]  # fmt: skip
LOADER = r"""
import sys, time, json
import torch
from lerobot_multi.config import MultiTrainPipelineConfig
from lerobot_multi.factory import make_dataset
config, batches, workers, batch_size, args = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5:]
cfg = MultiTrainPipelineConfig.from_yaml(config, args)
dataset = make_dataset(cfg)
loader = torch.utils.data.DataLoader(dataset, batch_size=batch_size, shuffle=True, num_workers=workers,
                                     persistent_workers=False, drop_last=True)
it = iter(loader)
next(it)
t = time.perf_counter()
n = 0
for _ in range(batches):
    n += len(next(it)["index"])
print(json.dumps({"samples_per_s": n / (time.perf_counter() - t)}))
"""


def write_configs(root: Path, ids: list[str], work: Path) -> dict[str, Path]:
    mix = yaml.safe_load(RECIPE.read_text())["dataset"] | {"repo_id": ids, "root": str(root)}
    mix["episode_checks"] = ["short", "non_finite"]  # the videos are whole; no demux at each open
    mix.pop("val_episodes")
    one = {"repo_id": ids[0], "root": str(root / ids[0])}
    paths = {}
    for name, dataset in (("mix", mix), ("one", one)):
        paths[name] = work / f"{name}.yaml"
        paths[name].write_text(yaml.safe_dump({"dataset": dataset}))
    return paths


def train(
    config: Path, backbone: Path, steps: int, batch_size: int, workers: int, out: Path
) -> tuple[float, float]:
    """(update seconds, data seconds) a step, from lerobot's log."""
    cmd = [
        sys.executable, "-m", "lerobot_multi.scripts.train", f"--config_path={config}", *SMOLVLA,
        f"--policy.vlm_model_name={backbone}", f"--steps={steps}", f"--log_freq={steps // 2}",
        f"--batch_size={batch_size}", f"--num_workers={workers}", f"--output_dir={out}",
    ]  # fmt: skip
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-4000:])
    updt, data = (
        float(x) for x in re.findall(r"updt_s:([\d.]+) data_s:([\d.]+)", proc.stdout + proc.stderr)[-1]
    )
    return updt, data


def loader_rate(config: Path, backbone: Path, batches: int, workers: int, batch_size: int) -> float:
    args = [*SMOLVLA, f"--policy.vlm_model_name={backbone}", f"--batch_size={batch_size}"]
    cmd = [sys.executable, "-c", LOADER, str(config), str(batches), str(workers), str(batch_size), *args]
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(proc.stderr[-4000:])
    return float(re.findall(r'"samples_per_s": ([\d.]+)', proc.stdout)[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--batch-size", type=int, default=8)
    parser.add_argument("--batches", type=int, default=20, help="loader batches timed")
    args = parser.parse_args()
    from lerobot_multi.compat import LEROBOT_VERSION

    print(f"lerobot {LEROBOT_VERSION}, Python {sys.version.split()[0]}, CPU, batch {args.batch_size}")
    root = CACHE / "vla_community"
    t = time.perf_counter()
    ids = build_mix(root, SHAPES, image_size=(480, 640))
    backbone = build_tiny_vlm(CACHE / f"tiny_smolvlm_{LEROBOT_VERSION}")
    print(f"  data ready in {time.perf_counter() - t:.0f} s")
    work = CACHE / "vla_runs"
    work.mkdir(parents=True, exist_ok=True)
    configs = write_configs(root, ids, work)
    for name, config in configs.items():
        label = "mix of 3 (recipe options)" if name == "mix" else "one dataset (stock lerobot)"
        for workers in (0, 2):
            out = Path(tempfile.mkdtemp(prefix=f"bench_vla_{name}_")) / "run"  # lerobot wants a new folder
            updt, data = train(config, backbone, args.steps, args.batch_size, workers, out)
            shutil.rmtree(out.parent, ignore_errors=True)
            rate = loader_rate(config, backbone, args.batches, workers, args.batch_size)
            trained = args.batch_size / (updt + data)
            print(
                f"  {label:<28} num_workers={workers}: update {updt:.3f} s + data wait {data:.3f} s a step "
                f"= {trained:6.1f} samples/s trained (update alone: {args.batch_size / updt:6.1f}); "
                f"loader alone {rate:6.1f} samples/s = {rate * updt / args.batch_size:.1f}x the update"
            )


if __name__ == "__main__":
    main()
