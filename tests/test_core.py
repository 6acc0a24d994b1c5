"""The guide's attributes, DataLoader batches, mixed storage, transforms and the CLI report."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import SAME
from lerobot.datasets.sampler import EpisodeAwareSampler
from torch.utils.data import default_collate

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.scripts import info


def test_guide_attributes(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, video_backend="pyav")
    assert ds.repo_ids == SAME
    assert ds.repo_id_to_index == {"lab/sess_a": 0, "lab/sess_b": 1, "lab/sess_c": 2}
    assert ds.num_episodes == 3 + 4 + 2 == len(ds.meta.episodes)
    assert ds.num_frames == 29 + 24 + 19 == len(ds)
    assert ds.disabled_features == set()
    assert ds.fps == 30 and ds.camera_keys == ["observation.images.top"]
    assert ds.episodes is None and ds.selected_episodes == dict.fromkeys(SAME)
    assert ds.stats is ds.meta.stats
    # guide: Dataset 1 eps 0-2 -> 0-2, Dataset 2 eps 0-3 -> 3-6, Dataset 3 eps 0-1 -> 7-8
    assert ds.meta.episodes["dataset_index"] == [0, 0, 0, 1, 1, 1, 1, 2, 2]
    assert ds.meta.episodes["source_episode_index"] == [0, 1, 2, 0, 1, 2, 3, 0, 1]
    text = repr(ds)
    assert "[1] lab/sess_b: 4 episodes, 24 frames" in text and "72 frames at 30 fps" in text


def test_dataloader_batches_carry_dataset_index(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, video_backend="pyav")
    loader = torch.utils.data.DataLoader(ds, batch_size=len(ds), num_workers=2, shuffle=False)
    batch = next(iter(loader))
    assert batch["dataset_index"].dtype == torch.int64
    expected = np.repeat([0, 1, 2], [29, 24, 19])
    assert batch["dataset_index"].tolist() == expected.tolist()
    assert batch["index"].tolist() == list(range(len(ds)))
    assert batch["episode_index"].max().item() == ds.num_episodes - 1
    assert batch["observation.images.top"].shape == (len(ds), 3, 64, 64)


@pytest.mark.parametrize("reader", ["fast", "lerobot"])
def test_batched_fetch_equals_item_by_item(data_root, reader):
    """DataLoader batches come from `__getitems__`; they must equal collated `ds[i]` exactly."""
    ds = MultiLeRobotDataset(
        SAME,
        root=data_root,
        episodes={"lab/sess_a": [0, 2], "lab/sess_b": [1, 3]},
        delta_timestamps={"action": [0.0, 1 / 30, 2 / 30]},
        video_backend="pyav",
        reader=reader,
    )
    indices = [len(ds) - 1, 0, 5, -1, 17, 3, len(ds) // 2]
    batched = default_collate(ds.__getitems__(indices))
    single = default_collate([ds[i] for i in indices])
    assert batched.keys() == single.keys()
    for key, value in single.items():
        if isinstance(value, torch.Tensor):
            assert batched[key].dtype == value.dtype and torch.equal(batched[key], value), key
        else:
            assert batched[key] == value, key
    assert batched["index"].tolist() == [len(ds) - 1, 0, 5, len(ds) - 1, 17, 3, len(ds) // 2]
    loader = torch.utils.data.DataLoader(ds, batch_size=4, sampler=indices)
    first = next(iter(loader))
    assert torch.equal(first["action"], single["action"][:4])
    with pytest.raises(IndexError, match=f"index {len(ds)} out of range"):
        ds.__getitems__([0, len(ds)])
    with pytest.raises(IndexError, match=f"index {-len(ds) - 1} out of range"):
        ds[-len(ds) - 1]


def test_episode_aware_sampler_unchanged(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, episodes={"lab/sess_b": [1, 2]}, video_backend="pyav")
    sampler = EpisodeAwareSampler(
        ds.meta.episodes["dataset_from_index"],
        ds.meta.episodes["dataset_to_index"],
        episode_indices_to_use=ds.episodes,
        drop_n_last_frames=2,
    )
    indices = list(sampler)
    assert len(indices) == len(ds) - 2 * ds.num_episodes
    for i in indices:
        item = ds[i]
        ep = ds.meta.episodes[int(item["episode_index"])]
        assert ep["dataset_from_index"] <= i < ep["dataset_to_index"] - 2
        assert int(item["frame_index"]) == i - ep["dataset_from_index"]


def test_video_and_image_storage_mix(data_root):
    ds = MultiLeRobotDataset(["lab/sess_a", "lab/images"], root=data_root, video_backend="pyav")
    assert ds.camera_keys == ["observation.images.top"]
    first, last = ds[0], ds[len(ds) - 1]
    assert first["observation.images.top"].shape == last["observation.images.top"].shape == (3, 64, 64)
    assert int(last["dataset_index"]) == 1


def test_image_transforms_apply_to_common_cameras(data_root):
    calls = []

    def flip(img):
        calls.append(img.shape)
        return img.flip(-1)

    plain = MultiLeRobotDataset(SAME, root=data_root, video_backend="pyav")
    ds = MultiLeRobotDataset(SAME, root=data_root, image_transforms=flip, video_backend="pyav")
    torch.testing.assert_close(ds[3]["observation.images.top"], plain[3]["observation.images.top"].flip(-1))
    assert calls == [(3, 64, 64)]


def test_single_dataset_as_list_equals_lerobot(data_root):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    ds = MultiLeRobotDataset(["lab/sess_b"], root=data_root, video_backend="pyav")
    ref = LeRobotDataset("lab/sess_b", root=data_root / "lab/sess_b", video_backend="pyav")
    assert len(ds) == len(ref)
    for i in (0, 7, len(ds) - 1):
        for key in ("observation.state", "action", "index", "episode_index"):
            torch.testing.assert_close(ds[i][key], ref[i][key])


def test_info_cli_table_and_json(data_root, capsys):
    args = [f"--dataset.repo_id=[{','.join(SAME)}]", f"--dataset.root={data_root}"]
    assert info.main(args + ["--dataset.episodes={lab/sess_a: [0, 2]}"]) == 0
    out = capsys.readouterr().out
    assert "lab/sess_a" in out and "2/3" in out and "disabled features: none" in out
    assert info.main(args + ["--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["frames"] for r in report["datasets"]] == [29, 24, 19]
    assert abs(sum(r["share"] for r in report["datasets"]) - 1) < 1e-9


def test_info_cli_reports_errors(data_root, capsys):
    assert info.main(["--dataset.repo_id=[lab/sess_a,lab/fps15]", f"--dataset.root={data_root}"]) == 2
    assert "different fps" in capsys.readouterr().err
    # a list without brackets is one malformed id: the config's own check, reported the same way
    assert info.main(["--dataset.repo_id=lab/sess_a,lab/sess_b", f"--dataset.root={data_root}"]) == 2
    assert (
        "error: dataset.repo_id[0]='lab/sess_a,lab/sess_b' is not a valid dataset id"
        in capsys.readouterr().err
    )


def test_info_cli_weights_and_plot(data_root, tmp_path, capsys):
    png = tmp_path / "mix.png"
    args = [
        f"--dataset.repo_id=[{','.join(SAME)}]",
        f"--dataset.root={data_root}",
        "--dataset.weights=[1,1,2]",
    ]
    assert info.main(args + ["--json", f"--plot={png}"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [r["share"] for r in report["datasets"]] == [0.25, 0.25, 0.5]
    assert report["mixing"]["rule"] == "weights"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
