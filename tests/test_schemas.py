"""Heterogeneous schemas: per-repo renames, padded vector features, zero-filled missing cameras."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from helpers import run, train_cmd
from lerobot.datasets.lerobot_dataset import LeRobotDataset
from safetensors import safe_open

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset

CAM = "observation.images.top"


def test_rename_before_the_common_filter(data_root):
    plain = MultiLeRobotDataset(["lab/sess_a", "lab/fixedcam"], root=data_root, video_backend="pyav")
    assert CAM in plain.disabled_features and "observation.images.fixed" in plain.disabled_features
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/fixedcam"],
        root=data_root,
        rename_map={"lab/fixedcam": {"observation.images.fixed": CAM}},
        delta_timestamps={CAM: [-1 / 30, 0.0], "action": [0.0, 1 / 30]},
        video_backend="pyav",
    )
    assert ds.disabled_features == set() and ds.camera_keys == [CAM]
    assert ds.delta_timestamps_by_dataset["lab/fixedcam"] == {CAM: [-1 / 30, 0.0], "action": [0.0, 1 / 30]}
    item = ds[29]  # first frame of lab/fixedcam
    assert int(item["dataset_index"]) == 1 and item[CAM].shape == (2, 3, 64, 64)
    assert item[f"{CAM}_is_pad"].tolist() == [True, False]
    assert not any("fixed" in k for k in item)
    ref = LeRobotDataset("lab/fixedcam", root=data_root / "lab/fixedcam", video_backend="pyav")
    torch.testing.assert_close(item[CAM][1], ref[0]["observation.images.fixed"])
    np.testing.assert_allclose(ds.stats[CAM]["count"], [29 + 12])


@pytest.mark.parametrize(
    ("rename_map", "match"),
    [
        ({"lab/nope": {"a": "b"}}, r"rename_map names \['lab/nope'\]"),
        (
            {"lab/fixedcam": {"observation.images.gone": CAM}},
            r"lab/fixedcam has no feature 'observation.images.gone'",
        ),
        (
            {"lab/fixedcam": {"observation.images.fixed": "action"}},
            r"collides with lab/fixedcam's own 'action'",
        ),
        (
            {"lab/fixedcam": {"observation.images.fixed": "x", "action": "x"}},
            r"several keys renamed to \['x'\]",
        ),
        ({"lab/fixedcam": {"index": "idx"}}, "touches lerobot's index columns"),
    ],
)
def test_bad_renames(data_root, rename_map, match):
    with pytest.raises(DatasetSourceError, match=match):
        MultiLeRobotDataset(["lab/sess_a", "lab/fixedcam"], root=data_root, rename_map=rename_map)


def test_pad_vectors_with_masks_and_unshifted_stats(data_root):
    with pytest.raises(DatasetSourceError, match="pad_vectors=true"):
        MultiLeRobotDataset(["lab/sess_a", "lab/wide"], root=data_root)
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/wide"], root=data_root, pad_vectors=True, video_backend="pyav"
    )
    assert ds.features["action"]["shape"] == (14,) or list(ds.features["action"]["shape"]) == [14]
    small, wide = ds[0], ds[len(ds) - 1]
    assert small["action"].shape == wide["action"].shape == (14,)
    assert torch.all(small["action"][6:] == 0)
    assert small["action_pad_mask"].tolist() == [False] * 6 + [True] * 8
    assert wide["action_pad_mask"].tolist() == [False] * 14
    a = np.stack(LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a").hf_dataset["action"])
    w = np.stack(LeRobotDataset("lab/wide", root=data_root / "lab/wide").hf_dataset["action"])
    np.testing.assert_allclose(
        ds.stats["action"]["mean"][:6], np.concatenate([a, w[:, :6]]).mean(0), rtol=1e-5
    )
    np.testing.assert_allclose(
        ds.stats["action"]["mean"][6:], w[:, 6:].mean(0), rtol=1e-5
    )  # not shifted by zeros
    np.testing.assert_allclose(ds.stats["action"]["std"][6:], w[:, 6:].std(0), rtol=1e-4)
    padded = ds.meta.per_dataset_stats[0]["action"]
    assert padded["std"][6:].tolist() == [1.0] * 8 and padded["mean"][6:].tolist() == [0.0] * 8
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=len(ds))))
    assert batch["observation.state_pad_mask"].shape == (len(ds), 14)


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_six_and_fourteen_dof_train_together(data_root, tmp_path):
    out = tmp_path / "pad"
    args = [
        "--dataset.repo_id=[lab/sess_a,lab/wide]",
        f"--dataset.root={data_root}",
        "--dataset.pad_vectors=true",
    ]
    run(train_cmd(*args, "--steps=2", "--num_workers=0", f"--output_dir={out}"), cwd=tmp_path)
    ckpt = out / "checkpoints/last/pretrained_model"
    config = json.loads((ckpt / "config.json").read_text())
    assert config["input_features"]["observation.state"]["shape"] == [14]
    assert config["output_features"]["action"]["shape"] == [14]
    stats = next(ckpt.glob("policy_preprocessor_step_*.safetensors"))
    with safe_open(str(stats), "pt") as f:  # the normalizer's stats span the padded width
        assert f.get_tensor("action.mean").shape == (14,)


def test_fill_missing_cameras(data_root):
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/nocam"], root=data_root, fill_missing_cameras=True, video_backend="pyav"
    )
    assert ds.camera_keys == [CAM] and ds.disabled_features == set()
    with_cam, without = ds[0], ds[len(ds) - 1]
    assert with_cam[f"{CAM}_pad_mask"].item() is False and without[f"{CAM}_pad_mask"].item() is True
    assert without[CAM].shape == (3, 64, 64) and torch.all(without[CAM] == 0)
    np.testing.assert_allclose(ds.stats[CAM]["count"], [29])  # from the dataset that has it


def test_info_shows_groups_renames_padding(data_root, capsys):
    from lerobot_multi.scripts import info

    args = [
        "--dataset.repo_id=[lab/sess_a,lab/wide,lab/fixedcam]",
        f"--dataset.root={data_root}",
        "--dataset.pad_vectors=true",
        "--dataset.normalization_mode=per_dataset",
        "--dataset.rename_map={lab/fixedcam: {observation.images.fixed: observation.images.top}}",
    ]
    assert info.main(args) == 0
    out = capsys.readouterr().out
    assert "padded action to 14 (datasets by size {6: 2, 14: 1})" in out
    assert (
        "lab/fixedcam: observation.images.fixed -> observation.images.top  "
        "(rename_map['lab/fixedcam']['observation.images.fixed'])" in out
    )
    assert (
        "normalization per_dataset: groups {'lab/sess_a': 1, 'lab/wide': 1, 'lab/fixedcam': 1}" in out
        and "disabled features: none" in out
    )
