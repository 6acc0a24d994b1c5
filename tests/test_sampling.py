"""Weighted sampling across datasets: shares, no repeats, episode-aware dropping, resume, ranks."""

from __future__ import annotations

import numpy as np
import pytest
from accelerate.data_loader import BatchSamplerShard
from conftest import SAME
from helpers import dataset_of as frame_dataset
from hypothesis import given, settings
from hypothesis import strategies as st
from lerobot.datasets.sampler import EpisodeAwareSampler
from torch.utils.data import BatchSampler

from lerobot_multi import DatasetSourceError, MultiLeRobotDataset
from lerobot_multi.meta.mixing import apportion, mixture_shares
from lerobot_multi.meta.sources import normalize_weights
from lerobot_multi.mix.sampling import WeightedMixtureSampler, permute


def bounds(episode_lengths: list[list[int]]):
    frm, to, ds, c = [], [], [], 0
    for d, lengths in enumerate(episode_lengths):
        for n in lengths:
            frm.append(c)
            to.append(c + n)
            ds.append(d)
            c += n
    return frm, to, ds


def dataset_of(idx: np.ndarray, episode_lengths) -> np.ndarray:
    offsets = np.cumsum([0] + [sum(x) for x in episode_lengths])
    return np.searchsorted(offsets, idx, side="right") - 1


SIZES = [[50] * 2, [30] * 100, [7] * 3000]  # 100, 3000 and 21000 frames


def test_shares_within_one_percent_over_100k_draws():
    shares = np.array([0.5, 0.3, 0.2])
    sampler = WeightedMixtureSampler(*bounds(SIZES), shares=shares, epoch_size=100_000, seed=7)
    idx = np.fromiter(iter(sampler), dtype=np.int64)
    assert len(idx) == 100_000
    empirical = np.bincount(dataset_of(idx, SIZES), minlength=3) / len(idx)
    np.testing.assert_allclose(empirical, shares, atol=0.01)
    # the largest dataset's share (20k draws) fits its 21k frames: no frame twice in the epoch
    big = idx[dataset_of(idx, SIZES) == 2]
    assert len(np.unique(big)) == len(big)
    # the smallest is used up many times over: every frame drawn, evenly (pass after pass)
    small = np.bincount(idx[dataset_of(idx, SIZES) == 0], minlength=100)
    assert small.min() >= 499 and small.max() <= 500


def test_temperature_and_weights_arithmetic():
    frames = [100, 3000, 21000]
    np.testing.assert_allclose(mixture_shares(frames), np.array(frames) / 24100)
    np.testing.assert_allclose(mixture_shares(frames, temperature=0.0), [1 / 3] * 3)
    sq = np.sqrt(frames)
    np.testing.assert_allclose(mixture_shares(frames, temperature=0.5), sq / sq.sum())
    np.testing.assert_allclose(
        mixture_shares(frames, list(normalize_weights({"a": 1, "b": 1, "c": 2}, "abc").values())),
        [0.25, 0.25, 0.5],
    )
    assert apportion(10, np.array([1 / 3] * 3)).tolist() == [4, 3, 3]


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0, 2.0], "has 2 entries for 3 datasets"),
        ({"a": 1, "b": 1, "zz": 1}, r"names \['zz'\]"),
        ({"a": 1, "b": 1}, r"no weight for \['c'\]"),
        ([1, 0, 1], r"weights\['b'\] = 0"),
        ([1, -2, 1], r"weights\['b'\] = -2"),
        ([1, float("nan"), 1], r"weights\['b'\] = nan"),
        ([1, float("inf"), 1], r"weights\['b'\] = inf"),
    ],
)
def test_bad_weights(weights, match):
    with pytest.raises(DatasetSourceError, match=match):
        normalize_weights(weights, ["a", "b", "c"])


def test_bad_temperature_and_both():
    with pytest.raises(DatasetSourceError, match="temperature = -1"):
        mixture_shares([1, 2], temperature=-1)
    with pytest.raises(DatasetSourceError, match="exclusive"):
        mixture_shares([1, 2], np.array([1.0, 1.0]), temperature=0.5)


@settings(max_examples=40, deadline=None)
@given(st.integers(1, 5000), st.integers(0, 2**32 - 1))
def test_permute_is_a_bijection(n, key):
    assert sorted(permute(np.arange(n), n, key).tolist()) == list(range(n))


def test_episode_aware_dropping_matches_lerobot():
    lengths = [[12, 9, 3], [20, 6]]
    frm, to, ds = bounds(lengths)
    reference = sorted(EpisodeAwareSampler(frm, to, drop_n_first_frames=1, drop_n_last_frames=4))
    usable = [max(0, b - a - 5) for a, b in zip(frm, to)]
    shares = np.bincount(ds, weights=usable) / sum(usable)
    sampler = WeightedMixtureSampler(frm, to, ds, shares, seed=1, drop_n_first_frames=1, drop_n_last_frames=4)
    assert len(sampler) == len(reference)
    assert sorted(sampler) == reference  # one epoch = exactly lerobot's frames, each once


def test_deterministic_and_resumes_sample_exactly():
    args = (*bounds(SIZES), np.array([0.2, 0.3, 0.5]))
    full = list(WeightedMixtureSampler(*args, epoch_size=5000, seed=3, infinite=False))
    assert full == list(WeightedMixtureSampler(*args, epoch_size=5000, seed=3))
    assert full != list(WeightedMixtureSampler(*args, epoch_size=5000, seed=4))
    first = WeightedMixtureSampler(*args, epoch_size=5000, seed=3)
    it = iter(first)
    head = [next(it) for _ in range(1234)]
    resumed = WeightedMixtureSampler(*args, epoch_size=5000, seed=3)
    resumed.load_state_dict(first.state_dict())
    assert head + list(resumed) == full
    # epochs differ but each follows the same shares; infinite mode crosses epochs seamlessly
    stream = WeightedMixtureSampler(*args, epoch_size=5000, seed=3, infinite=True)
    it = iter(stream)
    two = [next(it) for _ in range(10_000)]
    assert two[:5000] == full and two[5000:] != full
    with pytest.raises(ValueError, match="another mixture"):
        WeightedMixtureSampler(*args, epoch_size=4000, seed=3).load_state_dict(first.state_dict())


def test_two_ranks_get_disjoint_slices_covering_the_stream():
    args = (*bounds(SIZES), np.array([0.2, 0.3, 0.5]))
    stream = list(WeightedMixtureSampler(*args, epoch_size=4096, seed=5))
    ranks = []
    for rank in range(2):
        batches = BatchSamplerShard(
            BatchSampler(WeightedMixtureSampler(*args, epoch_size=4096, seed=5), 16, False),
            num_processes=2,
            process_index=rank,
        )
        ranks.append([list(b) for b in batches])
    positions = [[i * 2 + r for i in range(len(ranks[r]))] for r in range(2)]
    # rank r takes global batches r, r+2, ...: together exactly the one global order, no overlap
    for r in range(2):
        assert [b for b in ranks[r]] == [stream[p * 16 : (p + 1) * 16] for p in positions[r]]
    merged = sorted(x for r in ranks for b in r for x in b)
    assert merged == sorted(stream)


def test_memory_is_per_episode_not_per_frame():
    """Building the sampler over 60 million frames and drawing from it allocates a few MB at most:
    one int64 per frame alone would be 480 MB (traced allocations, numpy's included)."""
    import tracemalloc

    sizes = [[10**7] * 3, [10**7] * 2, [5 * 10**6] * 2]
    tracemalloc.start()
    try:
        sampler = WeightedMixtureSampler(*bounds(sizes), shares=np.array([0.5, 0.3, 0.2]), epoch_size=10**9)
        drawn = [i for i, _ in zip(sampler, range(20_000))]
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert len(set(drawn)) == len(drawn) and max(drawn) < 6 * 10**7
    assert peak < 16 * 2**20, f"peak {peak / 2**20:.1f} MB"


def test_real_mixture_shares(data_root):
    ds = MultiLeRobotDataset(
        SAME, root=data_root, weights={"lab/sess_a": 1, "lab/sess_b": 1, "lab/sess_c": 2}
    )
    np.testing.assert_allclose(ds.sampling_shares, [0.25, 0.25, 0.5])
    eps = ds.meta.episodes
    sampler = WeightedMixtureSampler(
        eps["dataset_from_index"],
        eps["dataset_to_index"],
        eps["dataset_index"],
        ds.sampling_shares,
        epoch_size=20_000,
    )
    idx = np.fromiter(iter(sampler), dtype=np.int64)
    got = np.bincount([frame_dataset(ds.meta, int(i))[0] for i in idx[:4000]], minlength=3) / 4000
    np.testing.assert_allclose(got, [0.25, 0.25, 0.5], atol=0.01)
    assert int(ds[int(idx[0])]["dataset_index"]) == frame_dataset(ds.meta, int(idx[0]))[0]
    default = MultiLeRobotDataset(SAME, root=data_root)
    np.testing.assert_allclose(default.sampling_shares, np.array([29, 24, 19]) / 72)


def test_a_state_saved_before_the_shared_draws_resumes_with_its_draws():
    """A sampler state without "draws" (written before the sampler took the stream's seed scheme)
    continues exactly the stream it was written with: labels seeded by [seed, epoch]."""
    from lerobot_multi.meta.mixing import label_blocks
    from lerobot_multi.mix.sampling import legacy_label_rng

    shares = np.array([0.5, 0.3, 0.2])
    old = WeightedMixtureSampler(*bounds(SIZES), shares=shares, epoch_size=500, seed=7)
    assert old.state_dict()["draws"] == 2
    old.load_state_dict({"seed": 7, "epoch_size": 500, "position": 123})
    assert old.draws == 1
    resumed = [i for i, _ in zip(old, range(200))]
    # the same stream from its start, with the old label generator
    replay = WeightedMixtureSampler(*bounds(SIZES), shares=shares, epoch_size=500, seed=7)
    replay.draws = 1
    full = [i for i, _ in zip(replay, range(323))]
    assert resumed == full[123:]
    # the label sequences, pinned to their seeds: [seed, epoch] before, [seed, 0, epoch] now (the stream's)
    offsets = np.cumsum([0] + [sum(x) for x in SIZES])

    def labels(indices):
        return (np.searchsorted(offsets, indices, side="right") - 1).tolist()

    def drawn(rng):
        return np.concatenate(list(label_blocks(replay.counts, rng)))[:323].tolist()

    assert legacy_label_rng(7, 0).random() == np.random.default_rng([7, 0]).random()
    assert labels(full) == drawn(np.random.default_rng([7, 0]))
    fresh = WeightedMixtureSampler(*bounds(SIZES), shares=shares, epoch_size=500, seed=7)
    assert labels([i for i, _ in zip(fresh, range(323))]) == drawn(np.random.default_rng([7, 0, 0]))
    with pytest.raises(ValueError, match="unknown label draws 9"):
        fresh.load_state_dict({"seed": 7, "epoch_size": 500, "position": 0, "draws": 9})
