"""Helpers the test modules share: lerobot-multi-train runs, a tiny ACT, sample comparison, index lookup."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.policies.act.configuration_act import ACTConfig
from torch.utils.data import default_collate

TINY_ACT = [
    "--policy.type=act",
    "--policy.device=cpu",
    "--policy.push_to_hub=false",
    "--policy.pretrained_backbone_weights=null",
    "--policy.chunk_size=4",
    "--policy.n_action_steps=4",
    "--policy.dim_model=32",
    "--policy.dim_feedforward=64",
    "--policy.n_heads=2",
    "--policy.n_encoder_layers=1",
    "--policy.n_decoder_layers=1",
    "--batch_size=4",
    "--log_freq=1",
    "--wandb.enable=false",
]


LAUNCH_2 = [
    sys.executable,
    "-m",
    "accelerate.commands.launch",
    "--multi_gpu",  # with no GPU, accelerate starts torch.distributed processes; the script picks gloo on CPU
    "--num_processes=2",
    "--num_machines=1",
    "--mixed_precision=no",
    "--dynamo_backend=no",
    "-m",
    "lerobot_multi.scripts.train",
]


def run(args: list[str], cwd: Path, timeout: int = 3600) -> subprocess.CompletedProcess:
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-5000:]
    return proc


def train_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "lerobot_multi.scripts.train", *TINY_ACT, *args]


def tiny_act() -> ACTConfig:
    return ACTConfig(
        device="cpu",
        pretrained_backbone_weights=None,
        chunk_size=4,
        n_action_steps=4,
        dim_model=32,
        dim_feedforward=64,
        n_heads=2,
        n_encoder_layers=1,
        n_decoder_layers=1,
        push_to_hub=False,
    )


def assert_same(a: dict, b: dict, where) -> None:
    assert set(a) == set(b), (where, set(a) ^ set(b))
    for key, expected in b.items():
        got = a[key]
        if isinstance(expected, torch.Tensor):
            assert isinstance(got, torch.Tensor), (where, key)
            assert (got.dtype, got.shape) == (expected.dtype, expected.shape), (where, key, got, expected)
            assert torch.equal(got, expected), (where, key)
        else:
            assert got == expected, (where, key)


def assert_reads_like(ours, expected: list[dict], indices: list[int], where) -> None:
    """`ours[i]` equals each expected sample, and the batch of `ours.__getitems__` (what the DataLoader
    collates) equals the collated expected samples."""
    for i, item in zip(indices, expected):
        assert_same(ours[i], item, (where, i))
    assert_same(default_collate(ours.__getitems__(indices)), default_collate(expected), (where, "batch"))


def dataset_of(meta, index: int) -> tuple[int, int]:
    """Global frame index -> (dataset index, position in that dataset's selected frames)."""
    d = int(np.searchsorted(meta.frame_offsets, index, side="right") - 1)
    return d, int(index - meta.frame_offsets[d])


V21_FIXTURES = Path(__file__).parent / "fixtures" / "v21"


def convert_v21_copy(repo_id: str, base: Path, source_root: Path = V21_FIXTURES) -> Path:
    """lerobot's own `convert_dataset_v21_to_v30` of a copy of `source_root/repo_id` under `base`
    (offline, no push): the oracle for reading v2.1 in place. Returns the converted folder."""
    import shutil

    from lerobot_multi.compat import LINE

    folder = base / repo_id
    shutil.copytree(source_root / repo_id, folder)
    if LINE.name != "0.4":
        from lerobot.scripts.convert_dataset_v21_to_v30 import convert_dataset

        convert_dataset(repo_id, root=folder, push_to_hub=False)
    else:  # 0.4.4 takes the folder holding <repo_id>/
        from lerobot.datasets.v30.convert_dataset_v21_to_v30 import convert_dataset

        convert_dataset(repo_id, root=base, push_to_hub=False)
    return folder
