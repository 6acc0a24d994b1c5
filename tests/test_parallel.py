"""Opening in spawned processes: same datasets as in-process, errors that name the dataset, a fallback."""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil

import numpy as np
import pytest
import torch
from conftest import SAME

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.inspect.info_table import open_metadata
from lerobot_multi.meta.parallel import parallel_map, resolve_processes


class DiesInAChild:
    """Picklable work that kills any spawned process running it (as a crash or an OOM kill would)."""

    def __call__(self, x: int) -> int:
        if multiprocessing.parent_process() is not None:
            os._exit(3)
        return x * 2


def test_process_map_keeps_order_and_falls_back_when_the_pool_breaks(caplog):
    assert parallel_map(abs, [-3, 1, -2, 5, -8], processes=2) == [3, 1, 2, 5, 8]
    with caplog.at_level(logging.WARNING, logger="lerobot_multi.meta.parallel"):
        assert parallel_map(DiesInAChild(), [1, 2, 3], processes=2) == [2, 4, 6]
    assert "opening them in this process instead" in caplog.text


def test_threads_unless_processes_are_asked_for(data_root):
    """Metadata read from files: processes cost more than they save (docs/benchmarks.md)."""
    assert resolve_processes(None, 100_000) == 0 and resolve_processes(2, 3) == 2
    for bad in (-1, 1.5, True):
        with pytest.raises(ValueError, match=rf"open_processes = {bad!r}"):
            resolve_processes(bad, 3)
    before = set(multiprocessing.active_children())
    MultiLeRobotDataset(SAME, root=data_root)  # open_processes=None: threads, no child process
    assert set(multiprocessing.active_children()) == before


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_opening_in_processes_equals_opening_here(data_root, tmp_path):
    kw = dict(root=data_root, episodes={"lab/sess_b": [0, 3]}, video_backend="pyav")
    here = MultiLeRobotDataset(SAME, open_processes=0, **kw)
    spawned = MultiLeRobotDataset(SAME, open_processes=2, **kw)
    assert len(spawned) == len(here) and spawned.meta.episodes[:] == here.meta.episodes[:]
    for i in (0, 28, 29, len(here) - 1):
        a, b = here[i], spawned[i]
        assert a.keys() == b.keys()
        assert all(torch.equal(a[k], b[k]) if isinstance(a[k], torch.Tensor) else a[k] == b[k] for k in a)
    for k, stats in here.meta.stats.items():
        assert all(
            torch.equal(torch.as_tensor(v), torch.as_tensor(spawned.meta.stats[k][s]))
            for s, v in stats.items()
        )

    # a broken dataset fails in its process, and the error still names it
    shutil.copytree(data_root / "lab/sess_a", tmp_path / "lab/sess_a")
    shutil.copytree(data_root / "lab/sess_c", tmp_path / "lab/sess_c")
    meta = next((tmp_path / "lab/sess_c/meta/episodes").glob("*/*.parquet"))
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])
    with pytest.raises(DatasetSourceError, match=r"dataset 'lab/sess_c': cannot read .*parquet"):
        MultiLeRobotDataset(
            ["lab/sess_a", "lab/sess_c"], root=tmp_path, video_backend="pyav", open_processes=2
        )
    with pytest.raises(DatasetSourceError, match="open_processes = -1: expected an integer >= 0"):
        MultiLeRobotDataset(SAME, root=data_root, open_processes=-1)


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_metadata_alone_in_processes(data_root):
    here = open_metadata(SAME, data_root, {"lab/sess_a": [1]}, open_processes=0)
    spawned = open_metadata(SAME, data_root, {"lab/sess_a": [1]}, open_processes=2)
    assert spawned.episodes[:] == here.episodes[:] and spawned.tasks.equals(here.tasks)
    assert all(np.array_equal(v, spawned.stats["action"][s]) for s, v in here.stats["action"].items())
    with pytest.raises(DatasetSourceError, match="open_processes = 'two'"):
        open_metadata(SAME, data_root, open_processes="two")
