"""Every bad input: a clear error (or warning) naming the dataset and the field; nothing on disk changed."""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from conftest import SAME, tree_hash

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset


def open_multi(repo_ids, root, **kw):
    return MultiLeRobotDataset(repo_ids, root=root, video_backend="pyav", **kw)


@pytest.fixture(autouse=True)
def disk_unchanged(data_root):
    before = tree_hash(data_root)
    yield
    assert tree_hash(data_root) == before


def test_empty_list(data_root):
    with pytest.raises(DatasetSourceError, match=r"dataset.repo_id: the list of datasets is empty"):
        open_multi([], data_root)


def test_same_repo_twice(data_root):
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_a' is listed twice \(positions 0 and 2\)"):
        open_multi(["lab/sess_a", "lab/sess_b", "lab/sess_a"], data_root)


def test_missing_folder_is_not_created(data_root, tmp_path):
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/ghost': root folder .* does not exist"):
        open_multi(["lab/sess_a", "lab/ghost"], data_root)
    assert not (data_root / "lab/ghost").exists()
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/ghost'"):
        open_multi(
            ["lab/sess_a", "lab/ghost"], {"lab/sess_a": data_root / "lab/sess_a", "lab/ghost": tmp_path / "x"}
        )
    assert not (tmp_path / "x").exists()


def test_folder_without_info_json(data_root, tmp_path):
    (tmp_path / "lab/empty").mkdir(parents=True)
    roots = {"lab/sess_a": data_root / "lab/sess_a", "lab/empty": tmp_path / "lab/empty"}
    with pytest.raises(
        DatasetSourceError,
        match=r"dataset 'lab/empty': .* is not a LeRobot dataset \(meta/info.json missing\)",
    ):
        open_multi(["lab/sess_a", "lab/empty"], roots)
    assert list((tmp_path / "lab/empty").iterdir()) == []


def test_old_codebase_version(copy_of):
    root, ds = copy_of("lab/sess_b")
    info = json.loads((ds / "meta/info.json").read_text())
    info["codebase_version"] = "v2.0"
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_b': codebase_version is 'v2.0'"):
        open_multi(["lab/sess_b"], root)
    # read as v2.1 (tests/test_v21.py), a v3.0 folder that says v2.1 lacks v2.1's metadata files
    info["codebase_version"] = "v2.1"
    (ds / "meta/info.json").write_text(json.dumps(info))
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_b' \(v2.1\).*meta/tasks.jsonl is missing"):
        open_multi(["lab/sess_b"], root)


def test_corrupt_info_json(copy_of):
    root, ds = copy_of("lab/sess_c")
    (ds / "meta/info.json").write_text('{"codebase_version": "v3.0", "fps": ')
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_c': .*info.json is not valid JSON"):
        open_multi(["lab/sess_c"], root)


def test_episodes_for_unknown_repo(data_root):
    with pytest.raises(DatasetSourceError, match=r"dataset.episodes names \['lab/nope'\]"):
        open_multi(SAME, data_root, episodes={"lab/nope": [0]})


@pytest.mark.parametrize("bad", [[0, 9], [-1]])
def test_episode_ids_out_of_range(data_root, bad):
    with pytest.raises(
        DatasetSourceError, match=r"dataset.episodes\['lab/sess_c'\]: episode ids \[-?\d\] out of range"
    ):
        open_multi(SAME, data_root, episodes={"lab/sess_c": bad})


def test_plain_episode_list_with_several_datasets(data_root):
    with pytest.raises(DatasetSourceError, match="ambiguous"):
        open_multi(SAME, data_root, episodes=[0, 1])


def test_no_common_keys(data_root):
    with pytest.raises(
        DatasetSourceError, match=r"No keys common to all datasets.*lab/other: \['joint_targets'"
    ):
        open_multi(["lab/sess_a", "lab/other"], data_root)


def test_shape_conflict_names_both_datasets(data_root):
    with pytest.raises(
        DatasetSourceError,
        match=r"'observation.state': lab/sess_a has .*shape=\(6,\), lab/wide has .*shape=\(14,\)",
    ):
        open_multi(["lab/sess_a", "lab/wide"], data_root)


def test_dtype_conflict(copy_of, data_root):
    root, ds = copy_of("lab/sess_c")
    info = json.loads((ds / "meta/info.json").read_text())
    info["features"]["action"]["dtype"] = "float64"
    (ds / "meta/info.json").write_text(json.dumps(info))
    shutil.copytree(data_root / "lab/sess_a", root / "lab/sess_a")
    with pytest.raises(
        DatasetSourceError, match=r"'action': lab/sess_a has dtype=float32 .* lab/sess_c has dtype=float64"
    ):
        open_multi(["lab/sess_a", "lab/sess_c"], root)


def test_fps_mismatch_lists_each(data_root):
    with pytest.raises(DatasetSourceError, match=r"different fps \(lab/sess_a: 30, lab/fps15: 15\)"):
        open_multi(["lab/sess_a", "lab/fps15"], data_root)


@pytest.mark.parametrize("rid", ["../escape", "/abs/path", "lab/../../x", "a/b/c", "bad id!", ""])
def test_repo_id_that_escapes(data_root, rid):
    with pytest.raises(DatasetSourceError, match=r"dataset.repo_id\[1\]"):
        open_multi(["lab/sess_a", rid], data_root)


def test_disabled_feature_warns_naming_dataset(data_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = open_multi(["lab/sess_a", "lab/extra"], data_root)
    assert ds.disabled_features == {"observation.extra"}
    assert "'lab/extra' has features ['observation.extra']" in caplog.text
    assert "observation.extra" not in ds[len(ds) - 1]


def test_missing_camera_is_disabled_and_not_returned(data_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = open_multi(["lab/sess_a", "lab/nocam"], data_root)
    assert ds.disabled_features == {"observation.images.top"}
    assert ds.camera_keys == []
    assert "observation.images.top" not in ds[0]


def test_robot_type_mismatch_warns(data_root, caplog):
    with caplog.at_level(logging.WARNING):
        open_multi(["lab/sess_a", "lab/extra"], data_root)
    assert "different robot types (lab/sess_a: so100, lab/extra: koch)" in caplog.text
