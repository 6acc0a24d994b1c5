"""Smoke run on any supported Python (CI runs it alone on 3.13, `make smoke-313`): open a mixture, two
training steps. Marked slow: on 3.11/3.12 the default suite trains the same way (test_train.py)."""

from __future__ import annotations

import json
import sys

import pytest
import torch
from conftest import SAME
from helpers import run, train_cmd

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LEROBOT_VERSION


@pytest.mark.slow
def test_open_a_mixture_and_train_two_steps(data_root, tmp_path):
    ds = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps={"action": [0.0, 1 / 30]})
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=4, shuffle=True)))
    assert batch["action"].shape == (4, 2, 6) and batch["dataset_index"].dtype == torch.int64
    out = tmp_path / "out"
    args = [
        f"--dataset.repo_id=[{','.join(SAME)}]",
        f"--dataset.root={data_root}",
        "--dataset.weights=[1,1,2]",
    ]
    run(train_cmd(*args, "--steps=2", "--save_freq=2", f"--output_dir={out}"), cwd=tmp_path)
    saved = out / "checkpoints/000002"
    assert json.loads((saved / "training_state/mixture_sampler.json").read_text())["position"] == 2 * 4
    assert (saved / "pretrained_model/mixture.json").exists()
    print(f"python {sys.version.split()[0]}, lerobot {LEROBOT_VERSION}")
