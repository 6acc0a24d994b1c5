"""The private lerobot names lerobot-multi depends on: one test each, failing with a message that names
the name when a lerobot release removes or stops using it (docs/lerobot-lines.md)."""

from __future__ import annotations

import inspect

import pytest
from conftest import SAME

from lerobot_multi.compat import LINE


def test_streaming_calls_make_backtrackable_dataset():
    """stream/source_stream.py overrides `StreamingLeRobotDataset._make_backtrackable_dataset` (windows
    sized to the requested offsets) and `make_frame`: lerobot's `__iter__` must still call both."""
    from lerobot.datasets.streaming_dataset import StreamingLeRobotDataset

    for name in ("_make_backtrackable_dataset", "make_frame"):
        assert hasattr(StreamingLeRobotDataset, name), f"lerobot removed StreamingLeRobotDataset.{name}"
    source = inspect.getsource(StreamingLeRobotDataset.__iter__)
    assert "self._make_backtrackable_dataset(" in source, (
        "StreamingLeRobotDataset.__iter__ no longer calls _make_backtrackable_dataset"
    )
    assert "self.make_frame(" in source, "StreamingLeRobotDataset.__iter__ no longer calls make_frame"


def test_the_stream_loads_its_rows_with_the_modules_load_dataset():
    """stream/source_stream.py gives a remote dataset's stream its files' URLs by replacing the name
    `load_dataset` in `lerobot.datasets.streaming_dataset`: lerobot's `__init__` must still load the
    rows through that module-level name."""
    from lerobot.datasets import streaming_dataset

    import lerobot_multi.stream.source_stream  # noqa: F401 - installs the replacement

    source = inspect.getsource(streaming_dataset.StreamingLeRobotDataset.__init__)
    assert "load_dataset(" in source, "StreamingLeRobotDataset.__init__ no longer calls load_dataset"
    assert streaming_dataset.load_dataset.__name__ == "_load_stream_rows", (
        "lerobot.datasets.streaming_dataset.load_dataset is not the stream's replacement"
    )


@pytest.mark.skipif(not LINE.stream_shard_error, reason="0.4.4's stream ends a shard on StopIteration")
def test_shard_exhausted_error_is_what_the_stream_catches():
    """compat.ShardExhausted is lerobot 0.6's private `_ShardExhaustedError`, which our `make_frame`
    raises at a shard's end because lerobot's `__iter__` catches exactly it."""
    from lerobot.datasets import streaming_dataset

    from lerobot_multi import compat

    assert hasattr(streaming_dataset, "_ShardExhaustedError"), (
        "lerobot removed lerobot.datasets.streaming_dataset._ShardExhaustedError"
    )
    assert compat.ShardExhausted is streaming_dataset._ShardExhaustedError
    source = inspect.getsource(streaming_dataset.StreamingLeRobotDataset.__iter__)
    assert "except _ShardExhaustedError" in source, (
        "StreamingLeRobotDataset.__iter__ no longer catches _ShardExhaustedError"
    )


@pytest.mark.skipif(not LINE.dataset_reader, reason="a line without lerobot's DatasetReader")
def test_dataset_reader_keeps_its_metadata_in_meta(data_root):
    """compat.with_features gives lerobot 0.6's `DatasetReader` new metadata through its private
    `_meta` (it reads video keys from there, not from the dataset)."""
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    from lerobot_multi import compat

    ds = LeRobotDataset(SAME[0], root=data_root / SAME[0])
    assert hasattr(ds.reader, "_meta"), "lerobot's DatasetReader no longer has _meta"
    assert ds.reader._meta is ds.meta
    features = {k: v for k, v in ds.meta.features.items() if k != "action"}
    compat.with_features(ds, features)
    assert ds.reader._meta is ds.meta and "action" not in ds.reader._meta.features


def test_train_wraps_the_loop():
    """The seam's `run_loop` calls `lerobot_train.train.__wrapped__`, the loop under lerobot's CLI
    parser decorator: with an accelerator on 0.4.4 and 0.6.1, with `cfg` alone on lerobot main."""
    from lerobot.scripts import lerobot_train

    loop = getattr(lerobot_train.train, "__wrapped__", None)
    assert loop is not None, "lerobot_train.train has no __wrapped__ (lerobot's parser decorator changed)"
    takes_accelerator = "accelerator" not in LINE.train_config_fields  # main: a config field instead
    expected = ["cfg", "accelerator"] if takes_accelerator else ["cfg"]
    assert list(inspect.signature(loop).parameters) == expected


def test_the_line_describes_the_installed_lerobot():
    """compat.LINE's config facts hold for the installed lerobot: its TrainPipelineConfig has exactly
    this line's own fields of those the lines differ in, and DatasetConfig has eval_split iff the line
    says so."""
    import dataclasses

    from lerobot.configs.default import DatasetConfig
    from lerobot.configs.train import TrainPipelineConfig

    from lerobot_multi.compat import LINES

    names = set(dir(TrainPipelineConfig)) | {f.name for f in dataclasses.fields(TrainPipelineConfig)}
    differing = set().union(*(line.train_config_fields for line in LINES.values()))
    assert differing & names == set(LINE.train_config_fields)
    dataset_fields = {f.name for f in dataclasses.fields(DatasetConfig)}
    assert ("eval_split" in dataset_fields) == LINE.eval_split
    differing = set().union(*(line.dataset_config_fields for line in LINES.values()))
    assert differing & dataset_fields == set(LINE.dataset_config_fields)


def test_the_installed_lerobot_is_a_tested_one():
    """The suite runs on a lerobot a CI line tests (`LerobotLine.tested`); any other version warns at
    import with what is supported."""
    import warnings

    from packaging.version import Version

    from lerobot_multi.compat import LEROBOT_VERSION, UntestedLerobotWarning, line_for

    assert str(LEROBOT_VERSION) in LINE.tested
    for untested, nearest in (("0.4.3", "0.4"), ("0.5.0", "0.6"), ("0.6.3", "main"), ("0.7.0", "main")):
        with pytest.warns(UntestedLerobotWarning, match=r"not tested with the installed lerobot .*0\.6\.1"):
            assert line_for(Version(untested)).name == nearest
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert [line_for(Version(v)).name for v in ("0.4.4", "0.6.1", "0.6.2")] == ["0.4", "0.6", "main"]
