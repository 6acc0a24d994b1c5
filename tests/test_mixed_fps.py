"""Mixed frame rates: each dataset resolves the policy's delta indices with its own fps."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset, MultiTrainPipelineConfig, make_dataset

PAIR = ["lab/sess_a", "lab/fps15"]  # 30 fps (episodes 10, 7, 12 frames) and 15 fps (one of 6 frames)


def test_default_refuses_and_names_the_option(data_root):
    with pytest.raises(DatasetSourceError, match=r"lab/sess_a: 30, lab/fps15: 15.*dataset.mixed_fps=true"):
        MultiLeRobotDataset(PAIR, root=data_root)


def test_delta_indices_counted_in_each_datasets_frames(data_root):
    ds = MultiLeRobotDataset(PAIR, root=data_root, mixed_fps=True, video_backend="pyav")
    ds.set_delta_indices({"action": [0, 1, 2, 3], "observation.state": [-1, 0]})
    assert ds.delta_timestamps_by_dataset["lab/sess_a"]["action"] == [0, 1 / 30, 2 / 30, 3 / 30]
    assert ds.delta_timestamps_by_dataset["lab/fps15"]["action"] == [0, 1 / 15, 2 / 15, 3 / 15]
    slow = np.stack(LeRobotDataset("lab/fps15", root=data_root / "lab/fps15").hf_dataset["action"])
    start = ds.meta.episodes[3]["dataset_from_index"]  # the 15 fps episode
    item = ds[start + 3]
    assert int(item["dataset_index"]) == 1 and int(item["frame_index"]) == 3
    np.testing.assert_allclose(item["action"].numpy(), slow[[3, 4, 5, 5]])
    assert item["action_is_pad"].tolist() == [False, False, False, True]
    assert ds[start]["observation.state_is_pad"].tolist() == [True, False]
    fast = np.stack(LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a").hf_dataset["action"])
    np.testing.assert_allclose(ds[8]["action"].numpy(), fast[[8, 9, 9, 9]])
    assert ds[8]["action_is_pad"].tolist() == [False, False, True, True]
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    assert batch["action"].shape == (len(ds), 4, 6)
    assert ds.meta.fps == 30 and ds.meta.fps_by_dataset == [30, 15]


def test_make_dataset_resolves_act_chunk_per_dataset(data_root, tmp_path):
    path = tmp_path / "cfg.yaml"
    path.write_text(
        f"dataset:\n  repo_id: [lab/sess_a, lab/fps15]\n  root: {data_root}\n  mixed_fps: true\n  video_backend: pyav\n"
        "  delta_timestamps:\n    lab/fps15:\n      action: [0.0, 0.1333333333, 0.2666666667, 0.4]\n"
        "policy:\n  type: act\n  device: cpu\n  chunk_size: 4\n  n_action_steps: 4\n  pretrained_backbone_weights: null\n"
    )
    ds = make_dataset(MultiTrainPipelineConfig.from_yaml(path))
    assert ds.delta_indices_by_dataset["lab/sess_a"]["action"] == [0, 1, 2, 3]
    assert ds.delta_indices_by_dataset["lab/fps15"]["action"] == [
        0,
        2,
        4,
        6,
    ]  # the explicit per-repo override
    assert ds[len(ds) - 6]["action"].shape == (4, 6)


def test_offsets_must_have_the_same_length_everywhere(data_root):
    ds = MultiLeRobotDataset(PAIR, root=data_root, mixed_fps=True, video_backend="pyav")
    with pytest.raises(
        DatasetSourceError,
        match=r"delta_timestamps\['action'\] has 2 offsets for lab/sess_a but 3 for lab/fps15",
    ):
        ds.set_delta_timestamps({"action": [0, 1 / 30]}, {"lab/fps15": {"action": [0, 1 / 15, 2 / 15]}})
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/fps15' \(15 fps\): delta_timestamps"):
        ds.set_delta_timestamps({"action": [0, 1 / 30]})  # 1/30 s is no frame of a 15 fps dataset
