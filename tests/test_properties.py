"""Property tests: the index arithmetic and the stats aggregation against brute force / numpy."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from lerobot.datasets.compute_stats import get_feature_stats

from lerobot_multi.meta.indexing import cumulative_offsets, locate_frames
from lerobot_multi.meta.stats import aggregate

sizes = st.lists(st.integers(min_value=0, max_value=50), min_size=1, max_size=40).filter(lambda s: sum(s) > 0)


@given(st.lists(st.lists(st.integers(0, 6), min_size=1, max_size=5), min_size=1, max_size=8), st.data())
def test_locate_frames_matches_brute_force(parts, data):
    """parts[p] = episode lengths of part p (empty episodes allowed)."""
    lengths = [n for part in parts for n in part]
    if sum(lengths) == 0:
        return
    starts = cumulative_offsets(lengths)[:-1]
    episode_parts = np.repeat(np.arange(len(parts)), [len(p) for p in parts])
    offsets = cumulative_offsets([sum(p) for p in parts])
    expected = [
        (e, int(episode_parts[e]), g - int(offsets[episode_parts[e]]), g)
        for e, n in enumerate(lengths)
        for g in range(int(starts[e]), int(starts[e]) + n)
    ]
    total = sum(lengths)
    indices = data.draw(st.lists(st.integers(-total, total - 1), max_size=20))
    got = locate_frames(starts, episode_parts, offsets, indices)
    assert list(zip(*got)) == [expected[i % total] for i in indices]
    bad = data.draw(st.one_of(st.integers(total, total + 5), st.integers(-total - 5, -total - 1)))
    try:
        locate_frames(starts, episode_parts, offsets, [0, bad])
    except IndexError:
        return
    raise AssertionError("out-of-range index accepted")


groups = st.lists(
    st.tuples(st.integers(min_value=2, max_value=200), st.floats(-50, 50), st.floats(0.01, 20)),
    min_size=1,
    max_size=6,
)


def _stats(values: np.ndarray) -> dict:
    return {"x": get_feature_stats(values, axis=0, keepdims=values.ndim == 1)}


@settings(max_examples=60, deadline=None)
@given(groups, st.integers(0, 2**31 - 1))
def test_aggregate_equals_numpy_over_concatenation(spec, seed):
    rng = np.random.default_rng(seed)
    parts = [rng.normal(loc, scale, size=(n, 3)) for n, loc, scale in spec]
    merged = aggregate([_stats(p) for p in parts])["x"]
    allv = np.concatenate(parts)
    np.testing.assert_allclose(merged["mean"], allv.mean(0), rtol=1e-9, atol=1e-9)
    # lerobot computes a source's variance as E[x^2] - E[x]^2: absolute error ~ eps * x^2 / std
    np.testing.assert_allclose(merged["std"], allv.std(0), rtol=1e-7, atol=1e-8 * (1 + np.abs(allv).max()))
    np.testing.assert_array_equal(merged["min"], allv.min(0))
    np.testing.assert_array_equal(merged["max"], allv.max(0))
    assert int(merged["count"][0]) == len(allv)
    qs = [merged[k] for k in ("q01", "q10", "q50", "q90", "q99")]
    tol = 1e-6 * (1 + np.abs(allv).max())  # lerobot's own histogram quantiles carry float noise
    for lo, hi in zip(qs, qs[1:]):
        assert np.all(lo <= hi + tol)  # monotone in the level
    assert np.all(qs[0] >= merged["min"] - tol) and np.all(qs[-1] <= merged["max"] + tol)


@settings(max_examples=30, deadline=None)
@given(st.integers(0, 2**31 - 1))
def test_mixture_quantiles_track_true_quantiles(seed):
    """Far-apart sources: lerobot's count-weighted average of medians lands in the gap; ours does not."""
    rng = np.random.default_rng(seed)
    a, b = rng.normal(0, 1, size=(3000, 1)), rng.normal(100, 1, size=(1000, 1))
    merged = aggregate([_stats(a), _stats(b)])["x"]
    allv = np.concatenate([a, b])
    for key, q in (("q10", 0.10), ("q50", 0.50), ("q90", 0.90)):
        true = np.quantile(allv, q, axis=0)
        # error bounded by the spread between neighbouring knots of the sources (~1 unit here)
        np.testing.assert_allclose(merged[key], true, atol=1.5)


def test_single_source_keeps_its_quantiles():
    v = np.random.default_rng(0).normal(size=(500, 2))
    s = _stats(v)
    merged = aggregate([s])["x"]
    for k in ("q01", "q50", "q99"):
        np.testing.assert_array_equal(merged[k], s["x"][k])
