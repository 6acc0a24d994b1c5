"""What lerobot's tools read from a dataset and its `meta`, on a mixture: meta/episodes' columns, the
file-path helpers, per-dataset values, dataset attributes, and plain inputs of numpy types."""

from __future__ import annotations

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import SAME
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.compat import get_hf_features_from_features, lerobot_delta_indices

CAM = "observation.images.top"


def raw_episodes(root):
    return pq.read_table(next((root / "meta/episodes").glob("*/*.parquet"))).to_pylist()


def test_meta_episodes_has_every_column_of_lerobots_table(data_root):
    ds = MultiLeRobotDataset(["lab/sess_b", "lab/fixedcam"], root=data_root, episodes={"lab/sess_b": [1, 3]},
                             rename_map={"lab/fixedcam": {"observation.images.fixed": CAM}})  # fmt: skip
    table = ds.meta.episodes
    own_b, own_f = raw_episodes(data_root / "lab/sess_b"), raw_episodes(data_root / "lab/fixedcam")
    expected = {k.replace("observation.images.fixed", CAM) for k in own_f[0]} | set(own_b[0])
    assert expected <= set(table.column_names)
    rows = table.to_list()
    assert [r["episode_index"] for r in rows] == [0, 1, 2, 3]
    assert [r["source_episode_index"] for r in rows] == [1, 3, 0, 1]
    for row, own in zip(rows, [own_b[1], own_b[3], own_f[0], own_f[1]]):
        for key, value in own.items():
            key = key.replace("observation.images.fixed", CAM)
            if key in ("episode_index", "dataset_from_index", "dataset_to_index"):
                continue  # global numbering
            assert row[key] == value, key
    assert rows[1]["dataset_to_index"] == rows[2]["dataset_from_index"] == 9 + 4
    assert table[0][f"videos/{CAM}/from_timestamp"] == own_b[1][f"videos/{CAM}/from_timestamp"]


def test_file_path_helpers_resolve_to_each_dataset(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root, episodes={"lab/sess_a": [2]})
    for ep in range(ds.num_episodes):
        d = ds.meta.episodes[ep]["dataset_index"]
        own = LeRobotDataset(SAME[d], root=data_root / SAME[d])
        source_ep = ds.meta.episodes[ep]["source_episode_index"]
        data, video = ds.meta.get_data_file_path(ep), ds.meta.get_video_file_path(ep, CAM)
        assert data == data_root / SAME[d] / own.meta.get_data_file_path(source_ep) and data.is_file()
        assert video == data_root / SAME[d] / own.meta.get_video_file_path(source_ep, CAM) and video.is_file()
        assert ds.sources[d].root / video == video  # lerobot's `root / path` idiom, per dataset
    with pytest.raises(IndexError, match="out of range"):
        ds.meta.get_data_file_path(ds.num_episodes)


def test_per_dataset_values_when_all_agree_else_a_clear_error(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root)
    own = LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a").meta
    assert (ds.meta.data_path, ds.meta.video_path, ds.meta.chunks_size) == (
        own.data_path,
        own.video_path,
        own.chunks_size,
    )
    assert ds.revision is None and ds.meta.revision is None
    with pytest.raises(
        ValueError, match=r"meta.url_root: the datasets of this mixture differ \(lab/sess_a: "
    ):
        _ = ds.meta.url_root
    assert MultiLeRobotDataset(["lab/sess_a"], root=data_root).meta.url_root == "hf://datasets/lab/sess_a"


def test_dataset_attributes_lerobots_tools_read(data_root):
    dt = {"action": [0, 1 / 30]}
    ds = MultiLeRobotDataset(SAME, root=data_root, delta_timestamps=dt)
    ref = LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a", delta_timestamps=dt)
    assert ds.repo_id == "lab/sess_a+lab/sess_b+lab/sess_c" and ds.repo_ids == SAME
    assert ds.episodes is None and not hasattr(ds, "root")  # several folders: tests/test_lerobot_tools.py
    assert ds.delta_indices == lerobot_delta_indices(ref)
    assert ds.hf_features == get_hf_features_from_features(ref.features)
    assert len(ds.hf_dataset) == len(ds)  # rows: tests/test_lerobot_tools.py
    mixed = MultiLeRobotDataset(["lab/sess_a", "lab/fps15"], root=data_root, mixed_fps=True)
    mixed.set_delta_indices({"action": [0, 1]})
    assert mixed.delta_indices == {"action": [0, 1]}
    mixed.set_delta_timestamps({"action": [0, 2 / 30]}, {"lab/fps15": {"action": [0, 1 / 15]}})
    with pytest.raises(ValueError, match="delta_indices differ across datasets"):
        _ = mixed.delta_indices


def test_numpy_inputs_are_plain_inputs(data_root):
    ds = MultiLeRobotDataset(
        ["lab/sess_a", "lab/sess_b"],
        root=data_root,
        episodes={"lab/sess_a": np.array([2, 0]), "lab/sess_b": [np.int64(1)]},
        weights=np.array([1, 3]),
    )
    assert ds.selected_episodes == {"lab/sess_a": [0, 2], "lab/sess_b": [1]}
    assert np.allclose(ds.sampling_shares, [0.25, 0.75])


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(root=["a", "b"]), r"dataset.root: expected a folder .* got list"),
        (
            dict(delta_timestamps={"action": 0.5}),
            r"delta_timestamps\['action'\] = 0.5: expected a list .*\[0.5\]",
        ),
    ],
)
def test_bad_input_types(data_root, kwargs, message):
    kwargs.setdefault("root", data_root)
    with pytest.raises(DatasetSourceError, match=message):
        MultiLeRobotDataset(SAME, **kwargs)


def test_one_dataset_root_is_its_folder(data_root):
    """lerobot's meaning of `root` for one repo_id: the dataset's own folder (its tests read root/data)."""
    folder = data_root / "lab/sess_a"
    for ds in (
        MultiLeRobotDataset("lab/sess_a", root=folder),
        MultiLeRobotDataset(["lab/sess_a"], root=data_root),
    ):
        assert ds.root == folder and (ds.root / "data").is_dir()
    assert len(MultiLeRobotDataset("lab/sess_a", root=folder)) == len(
        LeRobotDataset("lab/sess_a", root=folder)
    )
