"""Subtasks merged as tasks are: one global table, `subtask_index` rewritten, the `subtask` string."""

from __future__ import annotations

import logging
import shutil

import pandas as pd
import torch
from helpers import assert_reads_like
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LINE
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset

PAIR = ["lab/sub_a", "lab/sub_b"]


def test_one_table_and_global_indices(data_root):
    ds = MultiLeRobotDataset(PAIR, root=data_root)
    assert list(ds.meta.subtasks.index) == ["reach", "grasp", "lift"]
    assert ds.meta.subtasks["subtask_index"].tolist() == [0, 1, 2]
    offset = 0
    for rid in PAIR:  # lerobot's own reading of each dataset and its subtask table are the oracle
        own = LeRobotDataset(rid, root=data_root / rid)
        own_names = list(pd.read_parquet(data_root / rid / "meta/subtasks.parquet").index)
        for j in range(len(own)):
            item, theirs = ds[offset + j], own[j]
            name = ds.meta.subtasks.iloc[int(item["subtask_index"])].name
            assert name == own_names[int(theirs["subtask_index"])]
            if LINE.subtask_strings:  # lerobot 0.4.4 adds the string, 0.6 does not
                assert item["subtask"] == theirs["subtask"] == name
            else:
                assert "subtask" not in item and "subtask" not in theirs
        offset += len(own)
    # index 0 meant "reach" in sub_a and "grasp" in sub_b: now one meaning per index
    names = ds.meta.subtasks.index
    pairs = {(int(ds[i]["subtask_index"]), names[int(ds[i]["subtask_index"])]) for i in range(len(ds))}
    assert pairs == {(0, "reach"), (1, "grasp"), (2, "lift")}


def test_fast_reader_equals_lerobot_reader(data_root):
    fast = MultiLeRobotDataset(PAIR, root=data_root, delta_timestamps={"action": [0, 1 / 30]})
    ref = MultiLeRobotDataset(
        PAIR, root=data_root, delta_timestamps={"action": [0, 1 / 30]}, reader="lerobot"
    )
    indices = list(range(len(fast)))
    assert_reads_like(fast, [ref[i] for i in indices], indices, "subtasks")


def test_mixed_with_a_dataset_without_subtasks(data_root, caplog):
    with caplog.at_level(logging.WARNING):
        ds = MultiLeRobotDataset(["lab/sub_a", "lab/nocam"], root=data_root)
    assert "subtask_index" in ds.disabled_features and ds.meta.subtasks is None
    assert "'lab/sub_a' has features ['subtask_index']" in caplog.text
    item = ds[0]
    assert "subtask_index" not in item and "subtask" not in item


def test_subtask_index_without_its_table_is_left_out(data_root, tmp_path, caplog):
    for rid in PAIR:
        shutil.copytree(data_root / rid, tmp_path / rid)
    (tmp_path / "lab/sub_b/meta/subtasks.parquet").unlink()
    with caplog.at_level(logging.WARNING):
        ds = MultiLeRobotDataset(PAIR, root=tmp_path)
    assert "'lab/sub_b' has subtask_index but no meta/subtasks.parquet" in caplog.text
    assert ds.meta.subtasks is None and "subtask" not in ds[0]


def test_streaming_gives_the_same_subtasks(data_root):
    stream = StreamingMultiLeRobotDataset(PAIR, root=data_root, buffer_size=4)
    mapped = MultiLeRobotDataset(PAIR, root=data_root)
    items = list(stream)
    assert len(items) == len(mapped)
    for item in items:
        ref = mapped[int(item["index"])]
        assert item.get("subtask") == ref.get("subtask")
        assert torch.equal(item["subtask_index"], ref["subtask_index"])
    assert stream.meta.subtasks.equals(mapped.meta.subtasks)
