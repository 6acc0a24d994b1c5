"""The virtual mixture against lerobot's own physical merge (aggregate_datasets) and numpy."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from conftest import SAME, tree_hash
from lerobot.datasets.aggregate import aggregate_datasets
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset

DELTA = {"action": [0.0, 1 / 30, 2 / 30, 3 / 30], "observation.state": [-1 / 30, 0.0]}


@pytest.fixture(scope="module")
def merged(data_root, tmp_path_factory):
    out = tmp_path_factory.mktemp("merged") / "lab/merged"
    aggregate_datasets(SAME, "lab/merged", roots=[data_root / r for r in SAME], aggr_root=out)
    return out


@pytest.mark.parametrize("delta", [None, DELTA], ids=["plain", "delta_timestamps"])
def test_same_frames_as_physical_merge(data_root, merged, delta):
    before = tree_hash(data_root)
    multi = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps=delta, video_backend="pyav")
    ref = LeRobotDataset("lab/merged", root=merged, delta_timestamps=delta, video_backend="pyav")
    assert len(multi) == len(ref) == multi.num_frames
    assert multi.num_episodes == ref.num_episodes
    ep_sizes = [ref.meta.episodes[i]["length"] for i in range(ref.num_episodes)]
    assert multi.meta.episodes["length"] == ep_sizes
    assert multi.meta.episodes["dataset_from_index"] == ref.meta.episodes["dataset_from_index"]
    assert multi.meta.episodes["dataset_to_index"] == ref.meta.episodes["dataset_to_index"]
    assert list(multi.meta.tasks.index) == list(ref.meta.tasks.index)
    offsets = np.cumsum([0] + [LeRobotDataset(r, root=data_root / r).num_frames for r in SAME])
    for i in range(len(multi)):
        a, b = multi[i], ref[i]
        assert int(a["dataset_index"]) == int(np.searchsorted(offsets, i, side="right") - 1)
        for key in ("episode_index", "index", "task_index", "frame_index"):
            assert int(a[key]) == int(b[key]), (i, key)
        assert a["task"] == b["task"]
        for key in ("observation.state", "action", "timestamp"):
            torch.testing.assert_close(a[key], b[key])
        torch.testing.assert_close(
            a["observation.images.top"], b["observation.images.top"], atol=0.02, rtol=0
        )
        if delta:
            for key in DELTA:
                assert torch.equal(a[f"{key}_is_pad"], b[f"{key}_is_pad"])
    assert tree_hash(data_root) == before


def test_stats_match_physical_merge(data_root, merged):
    multi = MultiLeRobotDataset(SAME, root=data_root, video_backend="pyav")
    ref = LeRobotDataset("lab/merged", root=merged)
    for key in ("observation.state", "action", "observation.images.top"):
        for stat in ("min", "max", "mean", "std", "count"):
            np.testing.assert_allclose(
                multi.stats[key][stat], ref.meta.stats[key][stat], rtol=1e-5, atol=1e-6
            )


def test_stats_equal_numpy_over_frames(data_root):
    multi = MultiLeRobotDataset(SAME, root=data_root, video_backend="pyav")
    for key in ("observation.state", "action"):
        values = np.concatenate(
            [np.stack(LeRobotDataset(r, root=data_root / r).hf_dataset[key]) for r in SAME]
        )
        np.testing.assert_allclose(multi.stats[key]["mean"], values.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(multi.stats[key]["std"], values.std(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(multi.stats[key]["min"], values.min(0), rtol=1e-6)
        np.testing.assert_allclose(multi.stats[key]["max"], values.max(0), rtol=1e-6)


def test_filtered_stats_equal_numpy_over_selected_frames(data_root):
    episodes = {"lab/sess_a": [2, 0], "lab/sess_b": [1, 3], "lab/sess_c": None}
    multi = MultiLeRobotDataset(SAME, root=data_root, episodes=episodes, video_backend="pyav")
    assert multi.num_episodes == 2 + 2 + 2
    assert multi.meta.episodes["source_episode_index"] == [0, 2, 1, 3, 0, 1]
    for key in ("observation.state", "action"):
        values = []
        for rid, sel in episodes.items():
            full = LeRobotDataset(rid, root=data_root / rid)
            eps = np.array(full.hf_dataset["episode_index"])
            rows = np.stack(full.hf_dataset[key])
            values.append(rows if sel is None else rows[np.isin(eps, sel)])
        values = np.concatenate(values)
        assert int(multi.stats[key]["count"][0]) == len(values) == len(multi)
        np.testing.assert_allclose(multi.stats[key]["mean"], values.mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(multi.stats[key]["std"], values.std(0), rtol=1e-4, atol=1e-6)
        np.testing.assert_allclose(multi.stats[key]["min"], values.min(0))
        np.testing.assert_allclose(multi.stats[key]["max"], values.max(0))
    # frames follow the selection: global episode 1 is sess_a's episode 2
    item = multi[int(multi.meta.episodes[1]["dataset_from_index"])]
    assert int(item["episode_index"]) == 1 and int(item["frame_index"]) == 0


@pytest.mark.parametrize("episodes", [None, {"lab/sess_a": [0, 2]}], ids=["all", "selection"])
def test_stats_dtypes_as_lerobot(data_root, episodes):
    """An int64 count and integer min/max for integer features, as lerobot's own stats."""
    from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata

    multi = MultiLeRobotDataset(SAME, root=data_root, episodes=episodes)
    ref = LeRobotDatasetMetadata("lab/sess_a", root=data_root / "lab/sess_a").stats
    for key, stats in multi.stats.items():
        for name, value in stats.items():
            expected = np.asarray(ref[key][name])
            assert np.asarray(value).dtype == expected.dtype, (key, name)
    assert multi.stats["frame_index"]["max"].tolist() == [11]
