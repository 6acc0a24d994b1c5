"""StreamingMultiLeRobotDataset on real datasets: same samples as the map-style mixture, exact epochs,
shares, disjoint workers/ranks, resumption and delta windows."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
import torch
from conftest import SAME, tree_hash
from helpers import dataset_of

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.config import MultiDatasetConfig
from lerobot_multi.meta.spec import MixtureSpec
from lerobot_multi.stream.streaming import StreamingMultiLeRobotDataset

CHUNK = {"action": [i / 30 for i in range(4)]}
WINDOWS = {**CHUNK, "observation.state": [-2 / 30, 0.0], "observation.images.top": [-1 / 30, 0.0, 1 / 30]}


def keys(items) -> list[tuple[int, int]]:
    return [(int(it["dataset_index"]), int(it["index"])) for it in items]


@pytest.mark.parametrize(
    ("episodes", "delta_timestamps"),
    [(None, None), ({"lab/sess_b": [1, 3], "lab/sess_a": [0, 2]}, WINDOWS)],
)
def test_samples_equal_the_map_style_mixture(data_root, episodes, delta_timestamps):
    stream = StreamingMultiLeRobotDataset(
        SAME, root=data_root, episodes=episodes, delta_timestamps=delta_timestamps, buffer_size=8
    )
    mapped = MultiLeRobotDataset(SAME, root=data_root, episodes=episodes, delta_timestamps=delta_timestamps)
    items = list(stream)
    assert sorted(keys(items)) == [dataset_of(mapped.meta, i)[:1] + (i,) for i in range(len(mapped))]
    for item in items:
        ref = mapped[int(item["index"])]
        assert set(item) == set(ref)
        assert item["task"] == ref["task"]
        for key, value in ref.items():
            if isinstance(value, torch.Tensor):
                assert item[key].dtype == value.dtype and torch.equal(item[key], value), key
    assert stream.meta.episodes["source_episode_index"] == mapped.meta.episodes["source_episode_index"]
    assert stream.num_frames == len(mapped) and stream.num_episodes == mapped.num_episodes
    assert stream.episodes is None and stream.fps == 30 and stream.disabled_features == set()
    assert stream.repo_id_to_index == mapped.repo_id_to_index and stream.features == mapped.features
    for key in ("mean", "std"):
        assert np.allclose(stream.stats["action"][key], mapped.stats["action"][key])


def test_one_epoch_gives_every_frame_once(data_root):
    before = tree_hash(data_root)
    for strategy in ("stop", "restart"):  # default shares: both are one pass over every dataset
        ds = StreamingMultiLeRobotDataset(SAME, root=data_root, stop_strategy=strategy, seed=7)
        got = keys(ds)
        assert len(got) == ds.epoch_length(0) == 72 and len(set(got)) == 72
        assert Counter(d for d, _ in got) == {0: 29, 1: 24, 2: 19}
        assert all(dataset_of(ds.meta, i)[0] == d for d, i in got)
        assert keys(ds) != got  # the next iteration is epoch 1: another order
    shuffled = [i for _, i in got]
    assert shuffled != sorted(shuffled)
    assert tree_hash(data_root) == before  # streaming writes nothing into the datasets


def test_weighted_shares_with_restart(data_root):
    ds = StreamingMultiLeRobotDataset(SAME, root=data_root, weights=[1, 1, 2], infinite=True, seed=1)
    labels = [int(it["dataset_index"]) for _, it in zip(range(1500), ds)]
    assert Counter(labels[:72]) == {0: 18, 1: 18, 2: 36}  # every epoch holds the exact counts
    shares = np.bincount(labels, minlength=3) / len(labels)
    np.testing.assert_allclose(shares, [0.25, 0.25, 0.5], atol=0.01)
    # "stop" ends the epoch when sess_c (19 frames, 36 slots) runs out
    stop = StreamingMultiLeRobotDataset(SAME, root=data_root, weights=[1, 1, 2], stop_strategy="stop")
    got = keys(stop)
    assert len(got) == stop.epoch_length(0) < 72 and len(set(got)) == len(got)
    assert Counter(d for d, _ in got)[2] == 19


def test_workers_and_ranks_read_disjoint_samples(data_root):
    seen = []
    for rank in range(2):
        ds = StreamingMultiLeRobotDataset(SAME, root=data_root, rank=rank, world_size=2, batch_size=4)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
        seen += [(d, i) for b in loader for d, i in zip(b["dataset_index"].tolist(), b["index"].tolist())]
    assert len(seen) == len(set(seen)) == 72
    # one rank: the in-order DataLoader returns exactly the in-process sequence
    ds = StreamingMultiLeRobotDataset(SAME, root=data_root, batch_size=4)
    loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
    assert [i for b in loader for i in b["index"].tolist()] == [i for _, i in keys(ds)]


def test_each_rank_resumes_its_own_share(data_root):
    # what a 2-process run does: rank r takes samples j = r mod 2; resuming after 2 steps of batch 4 on
    # both ranks seeks the whole stream to 16 and each rank continues exactly where it stopped.
    def rank_stream(rank: int, seek: int = 0) -> list[tuple[int, int]]:
        ds = StreamingMultiLeRobotDataset(
            SAME,
            root=data_root,
            weights=[1, 2, 1],
            infinite=True,
            seed=3,
            rank=rank,
            world_size=2,
            batch_size=4,
        )
        ds.seek(seek)
        loader = torch.utils.data.DataLoader(ds, batch_size=4, num_workers=2)
        batches = iter(loader)
        return [
            (d, i)
            for _ in range(12)
            for b in [next(batches)]
            for d, i in zip(b["dataset_index"].tolist(), b["index"].tolist())
        ]

    whole = [
        (int(it["dataset_index"]), int(it["index"]))
        for _, it in zip(
            range(96),
            StreamingMultiLeRobotDataset(SAME, root=data_root, weights=[1, 2, 1], infinite=True, seed=3),
        )
    ]
    ranks = [rank_stream(r) for r in range(2)]
    assert ranks[0] == whole[0::2][:48] and ranks[1] == whole[1::2][:48]  # disjoint, nothing lost
    for r in range(2):
        assert rank_stream(r, seek=16)[:40] == ranks[r][8:]


def test_state_dict_and_seek_resume_the_stream(data_root):
    def make():
        return StreamingMultiLeRobotDataset(SAME, root=data_root, weights=[1, 2, 1], infinite=True, seed=3)

    reference = [(int(it["index"]), it["action"]) for _, it in zip(range(100), make())]
    first = make()
    stream = iter(first)
    head = [int(next(stream)["index"]) for _ in range(80)]
    state = first.state_dict()
    assert state["epoch"] == 1 and state["position"] == 80 - 72 and state["samples_before"] == 72
    resumed = make()
    resumed.load_state_dict(state)
    tail = [(int(it["index"]), it["action"]) for _, it in zip(range(20), resumed)]
    assert head == [i for i, _ in reference[:80]]
    assert [i for i, _ in tail] == [i for i, _ in reference[80:]]
    assert all(torch.equal(a, b) for (_, a), (_, b) in zip(tail, reference[80:]))
    sought = make()
    sought.seek(80)
    assert sought.state_dict() == state
    with pytest.raises(ValueError, match="another mixture"):
        StreamingMultiLeRobotDataset(SAME, root=data_root, seed=4).load_state_dict(state)


def test_action_chunk_shapes_and_padding(data_root):
    ds = StreamingMultiLeRobotDataset(["lab/sess_b"], root=data_root, delta_timestamps=WINDOWS)
    lengths = ds.meta.episodes["length"]
    items = list(ds)
    assert len(items) == 24
    for it in items:
        fi, n = int(it["frame_index"]), lengths[int(it["episode_index"])]
        assert it["action"].shape == (4, 6) and it["observation.state"].shape == (2, 6)
        assert it["observation.images.top"].shape == (3, 3, 64, 64)
        assert it["action_is_pad"].tolist() == [fi + k >= n for k in range(4)]
        assert it["observation.state_is_pad"].tolist() == [fi < 2, False]
        assert it["observation.images.top_is_pad"].tolist() == [fi < 1, False, fi + 1 >= n]
        if fi + 1 >= n:  # padded steps repeat the episode's last action, as LeRobotDataset does
            assert torch.equal(it["action"][1], it["action"][0])


def test_stream_from_spec_and_errors(data_root):
    ds_cfg = MultiDatasetConfig(repo_id=list(SAME), root=str(data_root), weights=[1, 1, 2])
    spec = MixtureSpec.from_config(ds_cfg)
    ds = StreamingMultiLeRobotDataset.from_spec(
        spec, CHUNK, seed=5, infinite=True, batch_size=8, world_size=1
    )
    assert ds.infinite and ds.batch_size == 8 and ds.seed == 5 and ds.world_size == 1
    assert ds.spec is spec
    assert ds.sampling_shares.tolist() == [0.25, 0.25, 0.5]
    assert next(iter(ds))["action"].shape == (4, 6)
    with pytest.raises(DatasetSourceError, match="stop_strategy"):
        StreamingMultiLeRobotDataset(SAME, root=data_root, stop_strategy="first_exhausted")
    with pytest.raises(DatasetSourceError, match="not features common"):
        StreamingMultiLeRobotDataset(SAME, root=data_root, delta_timestamps={"nope": [0.0]})


@pytest.mark.slow  # end-to-end; `make test-slow`
def test_streaming_trains_in_lerobot_loop_and_resumes(data_root, tmp_path):
    import json
    import sys

    from helpers import run, train_cmd

    out = tmp_path / "stream"
    args = [
        f"--dataset.repo_id=[{','.join(SAME)}]",
        f"--dataset.root={data_root}",
        "--dataset.streaming=true",
        "--dataset.weights=[1,1,2]",
    ]
    log = run(
        train_cmd(*args, "--steps=3", "--save_freq=2", "--num_workers=2", f"--output_dir={out}"), cwd=tmp_path
    )
    assert "Multiple datasets were provided" in log.stdout + log.stderr
    state = json.loads((out / "checkpoints/000002/training_state/mixture_stream.json").read_text())
    assert state["position_in_stream"] == 2 * 4
    cfg = out / "checkpoints/last/pretrained_model/train_config.json"
    assert json.loads(cfg.read_text())["dataset"]["streaming"] is True
    log = run(
        [
            sys.executable,
            "-m",
            "lerobot_multi.scripts.train",
            f"--config_path={cfg}",
            "--resume=true",
            "--steps=4",
        ],
        cwd=tmp_path,
    )
    assert "Stream resumed after 12 samples" in log.stdout + log.stderr


def test_streaming_mixed_fps_counts_delta_indices_per_dataset(data_root):
    from lerobot_multi import MultiLeRobotDataset, StreamingMultiLeRobotDataset

    pair = ["lab/sess_a", "lab/fps15"]
    stream = StreamingMultiLeRobotDataset(
        pair, root=data_root, mixed_fps=True, stop_strategy="stop", video_backend="pyav"
    )
    stream.set_delta_indices({"action": [0, 1, 2, 3]})
    mapped = MultiLeRobotDataset(pair, root=data_root, mixed_fps=True, video_backend="pyav")
    mapped.set_delta_indices({"action": [0, 1, 2, 3]})
    seen = 0
    for item in stream:
        ref = mapped[int(item["index"])]
        assert torch.equal(item["action"], ref["action"]) and torch.equal(
            item["action_is_pad"], ref["action_is_pad"]
        )
        seen += 1
    assert seen == len(mapped)
