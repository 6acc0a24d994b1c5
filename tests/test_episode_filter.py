"""`episode_filter`: a predicate over a dataset's episode rows (meta/episodes without stats), as lerobot
0.6.1's `LeRobotDataset(episode_filter=...)` takes it, for every dataset or per dataset, intersected
with `episodes`. The oracle on 0.6 is lerobot's own selection on the same folder."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import torch
from conftest import SAME

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset, StreamingMultiLeRobotDataset
from lerobot_multi.compat import LINE


def long_episodes(ep: dict) -> bool:
    return ep["length"] >= 8


@pytest.mark.skipif(not LINE.episode_filter, reason="lerobot 0.4.4's LeRobotDataset has no episode_filter")
@pytest.mark.parametrize("episodes", [None, [0, 2]], ids=["all", "with_episodes"])
def test_selection_equals_lerobots(data_root, episodes):
    from lerobot.datasets.lerobot_dataset import LeRobotDataset

    theirs = LeRobotDataset(
        "lab/sess_a", root=data_root / "lab/sess_a", episodes=episodes, episode_filter=long_episodes
    )
    ours = MultiLeRobotDataset(
        "lab/sess_a", root=data_root / "lab/sess_a", episodes=episodes, episode_filter=long_episodes
    )
    assert ours.selected_episodes == {"lab/sess_a": theirs.episodes}
    assert ours.num_frames == theirs.num_frames
    wanted = [i for i in range(len(ours))]
    for key in ("action", "observation.state", "frame_index"):
        a = torch.stack([torch.as_tensor(ours[i][key]) for i in wanted])
        b = torch.stack([torch.as_tensor(theirs[i][key]) for i in wanted])
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_for_all_and_per_dataset(data_root):
    """One predicate for every dataset, or {repo_id: predicate}; datasets a mapping leaves out keep
    every episode (sess_a [10, 7, 12], sess_b [5, 9, 6, 4], sess_c [8, 11])."""
    every = MultiLeRobotDataset(SAME, root=data_root, episode_filter=long_episodes)
    assert every.selected_episodes == {"lab/sess_a": [0, 2], "lab/sess_b": [1], "lab/sess_c": [0, 1]}
    assert every.num_episodes == 5 and every.num_frames == 10 + 12 + 9 + 8 + 11
    per = MultiLeRobotDataset(
        SAME,
        root=data_root,
        episodes={"lab/sess_a": [1, 2]},
        episode_filter={"lab/sess_a": long_episodes, "lab/sess_b": lambda ep: ep["episode_index"] % 2 == 0},
    )
    assert per.selected_episodes == {"lab/sess_a": [2], "lab/sess_b": [0, 2], "lab/sess_c": None}
    rows = []
    MultiLeRobotDataset(["lab/sess_c"], root=data_root, episode_filter=lambda ep: rows.append(ep) or True)
    assert [r["episode_index"] for r in rows] == [0, 1] and [r["length"] for r in rows] == [8, 11]
    assert rows[0]["tasks"] == ["pick"] and not any(k.startswith("stats/") for k in rows[0])


def test_errors_name_the_dataset(data_root):
    with pytest.raises(DatasetSourceError, match=r"dataset.episode_filter names \['lab/typo'\]"):
        MultiLeRobotDataset(SAME, root=data_root, episode_filter={"lab/typo": long_episodes})
    with pytest.raises(DatasetSourceError, match=r"'lab/sess_b'.*episode_filter did not match any episode"):
        MultiLeRobotDataset(
            SAME, root=data_root, episode_filter={"lab/sess_b": lambda ep: ep["length"] > 100}
        )
    with pytest.raises(DatasetSourceError, match=r"dataset.episode_filter.*callable"):
        MultiLeRobotDataset(SAME, root=data_root, episode_filter="length >= 8")


def test_stream_and_spawned_workers(data_root):
    """A lambda need not pickle: the selection it made does (spawned workers, the stream)."""
    ds = MultiLeRobotDataset(SAME, root=data_root, episode_filter=lambda ep: ep["length"] >= 8)
    assert pickle.loads(pickle.dumps(ds)).selected_episodes == ds.selected_episodes
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2, multiprocessing_context="spawn")
    seen = torch.cat([b["index"] for b in loader])
    assert sorted(seen.tolist()) == list(range(ds.num_frames))
    stream = StreamingMultiLeRobotDataset(SAME, root=data_root, episode_filter=lambda ep: ep["length"] >= 8)
    got = sorted(int(s["index"]) for s in stream)
    assert got == list(range(ds.num_frames))
    assert np.array_equal(stream.meta.frames_by_dataset, ds.meta.frames_by_dataset)
