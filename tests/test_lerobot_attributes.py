"""What lerobot code reads off a dataset and its metadata, on a mixture: `meta.info` as the installed
lerobot gives it (0.6: a `DatasetInfo`), `meta.tools`, the file sizes, `select_columns`,
`depth_output_unit`. The oracle is lerobot's own `LeRobotDataset` on the same folder."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
from conftest import SAME
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LINE


def test_meta_info_is_lerobots_type_with_the_mixtures_values(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root)
    theirs = LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a")
    assert type(ds.meta.info) is type(theirs.meta.info)
    info = ds.meta.info
    if LINE.info_dataclass:  # read as lerobot 0.6's tools read it: attributes
        values = {f.name: getattr(info, f.name) for f in dataclasses.fields(info)}
    else:
        values = info
    assert values["fps"] == 30 and values["total_episodes"] == 3 + 4 + 2 == ds.num_episodes
    assert values["total_frames"] == ds.num_frames and values["total_tasks"] == len(ds.meta.tasks)
    assert list(values["features"]) == list(ds.features) and values["robot_type"] == ds.meta.robot_type
    assert values["codebase_version"] == theirs.meta.info["codebase_version"]


def test_single_dataset_attributes_equal_lerobots(data_root):
    ours = MultiLeRobotDataset("lab/sess_b", root=data_root / "lab/sess_b")
    theirs = LeRobotDataset("lab/sess_b", root=data_root / "lab/sess_b")
    for name in ("data_files_size_in_mb", "video_files_size_in_mb"):
        assert getattr(ours.meta, name) == theirs.meta.info[name]
    if LINE.language_columns:
        assert ours.meta.tools == theirs.meta.tools
        assert ours.depth_output_unit == theirs.depth_output_unit
        assert ours.meta.depth_keys == theirs.meta.depth_keys == []
        theirs_cols = theirs.select_columns(["action", "index"])
    else:
        theirs_cols = theirs.hf_dataset.select_columns(["action", "index"])
    cols = ours.select_columns(["action", "index"])
    assert cols.column_names == ["action", "index"]
    np.testing.assert_array_equal(np.asarray(cols["action"]), np.asarray(theirs_cols["action"]))


@pytest.mark.skipif(not LINE.language_columns, reason="tool schemas: lerobot 0.6 line")
def test_tools_of_a_mixture_are_each_schema_once(data_root):
    ds = MultiLeRobotDataset(SAME, root=data_root)
    theirs = LeRobotDataset("lab/sess_a", root=data_root / "lab/sess_a")
    assert ds.meta.tools == theirs.meta.tools  # none declared: lerobot's default, once


def test_reader_answers_lerobots_reader_names(data_root):
    """lerobot 0.6's `DatasetReader` names on `dataset.reader`: counts, `get_item`, and the files the
    mixture reads (each dataset's, absolute)."""
    ds = MultiLeRobotDataset(SAME, root=data_root, episodes={"lab/sess_b": [1, 3]})
    reader = ds.reader
    assert (reader.num_frames, reader.num_episodes) == (ds.num_frames, ds.num_episodes)
    item = reader.get_item(5)
    assert int(item["index"]) == 5 and set(item) == set(ds[5])
    paths = reader.get_episodes_file_paths()
    assert len(paths) == len(set(paths)) and all(p.startswith(str(data_root)) for p in paths)
    for rid in SAME:
        assert any(f"{rid}/data/" in p for p in paths) and any(f"{rid}/videos/" in p for p in paths)
    assert all((data_root / p).is_file() for p in paths)
