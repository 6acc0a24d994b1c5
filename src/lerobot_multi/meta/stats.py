"""Aggregating normalization statistics across datasets (and across selected episodes).

min/max/mean/std/count come from lerobot's own `aggregate_stats` (min of mins, max of maxes,
count-weighted mean, pooled std = within-dataset variance plus between-dataset spread). lerobot
averages quantiles by count, which is not a quantile of the mixture; here each source's quantiles
(with its min and max) are read as knots of a piecewise-linear CDF, the count-weighted mixture CDF is
formed and inverted. That is exact when every source is uniform between its knots and otherwise an
approximation whose error is bounded by the gap between neighbouring knots.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable, Mapping, Sequence

import numpy as np
import pyarrow as pa

from lerobot_multi.compat import LINE
from lerobot_multi.meta.schema import depth_unit, is_depth
from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)
Stats = dict[str, dict[str, np.ndarray]]
_QUANTILE_KEY = re.compile(r"^q(\d+)$")


def quantile_keys(ft_stats: Mapping[str, np.ndarray]) -> list[str]:
    return sorted((k for k in ft_stats if _QUANTILE_KEY.match(k)), key=lambda k: int(k[1:]))


def _mixture_quantiles(
    stats_list: Sequence[Mapping[str, np.ndarray]], qkeys: list[str]
) -> dict[str, np.ndarray]:
    """Invert the count-weighted mixture of piecewise-linear CDFs built from each source's knots."""
    levels = np.array([0.0] + [int(k[1:]) / 100 for k in qkeys] + [1.0])
    counts = np.array([float(np.asarray(s["count"]).reshape(-1)[0]) for s in stats_list])
    weights = counts / counts.sum()
    shape = np.asarray(stats_list[0][qkeys[0]]).shape
    # knots[i, j, e]: source i, level j, element e
    knots = np.stack(
        [
            np.stack([np.asarray(s[k], dtype=np.float64).reshape(-1) for k in ["min", *qkeys, "max"]])
            for s in stats_list
        ]
    )
    knots = np.maximum.accumulate(knots, axis=1)  # guard against slightly non-monotone inputs
    out = np.empty((len(qkeys), knots.shape[2]))
    for e in range(knots.shape[2]):
        xs = np.unique(knots[:, :, e])
        cdf = sum(w * np.interp(xs, knots[i, :, e], levels) for i, w in enumerate(weights))
        # a flat stretch of the CDF (a gap between sources) maps to its left end, like np.quantile
        cdf, first = np.unique(cdf, return_index=True)
        out[:, e] = np.interp(levels[1:-1], cdf, xs[first]) if len(cdf) > 1 else xs[0]
    return {k: out[j].reshape(shape).astype(np.float64) for j, k in enumerate(qkeys)}


def aggregate(stats_list: Sequence[Stats], keys: Iterable[str] | None = None) -> Stats:
    """Merge per-source stats into one set for `keys` (default: keys every source has)."""
    stats_list = [s for s in stats_list if s]
    if not stats_list:
        return {}
    # a list in the first dataset's key order, not a set: hash randomization must not order the stats
    wanted = [k for k in stats_list[0] if all(k in s for s in stats_list)] if keys is None else list(keys)
    trimmed = [{k: s[k] for k in wanted if k in s} for s in stats_list]
    from lerobot.datasets.compute_stats import aggregate_stats  # on use: lerobot.datasets is heavy

    merged = aggregate_stats(trimmed)
    for key in merged:
        per_source = [s[key] for s in trimmed if key in s]
        qkeys = [k for k in quantile_keys(per_source[0]) if all(k in s for s in per_source)]
        if len(per_source) > 1 and qkeys:
            merged[key].update(_mixture_quantiles(per_source, qkeys))
        elif len(per_source) == 1:
            merged[key].update({k: np.asarray(per_source[0][k]) for k in qkeys})
    return merged


def load_episode_stats(meta, repo_id: str, episodes: Sequence[int]) -> list[Stats]:
    """Per-episode stats that v3 stores as `stats/<key>/<stat>` columns in meta/episodes (v2.1's
    episodes_stats.jsonl in the same columns)."""
    table = meta.episode_stats()
    wanted = sorted(set(episodes))
    missing = [e for e in wanted if e >= table.num_rows]
    if missing:
        raise DatasetSourceError(
            f"dataset {repo_id!r}: no per-episode stats in meta/episodes for episodes {missing}"
        )
    out = []
    for row in table.take(pa.array(wanted, pa.int64())).to_pylist():
        ep_stats: Stats = {}
        for col, value in row.items():
            key, stat = col[len("stats/") :].rsplit("/", 1)
            if value is not None:
                ep_stats.setdefault(key, {})[stat] = np.asarray(value, dtype=np.float64)
        out.append(ep_stats)
    return out


def check_finite(stats: Stats, repo_id: str) -> None:
    """NaN or inf in stats would silently poison every normalized batch (one test per feature: this
    runs for every dataset at open)."""
    for key, ft in stats.items():
        values = [np.asarray(v, dtype=np.float64).reshape(-1) for v in ft.values()]
        if np.isfinite(np.concatenate(values)).all():
            continue
        name = next(n for n, v in zip(ft, values) if not np.isfinite(v).all())
        raise DatasetSourceError(
            f"dataset {repo_id!r}: stats for {key!r}/{name} contain NaN or inf (recompute meta/stats.json)"
        )


def as_lerobot_dtypes(stats: Stats, features: Mapping[str, dict]) -> Stats:
    """The installed lerobot's stats dtypes: an int64 `count`, and on 0.4.4 integer min/max for integer
    features (per-episode stats and aggregation produce floats)."""
    for key, ft in stats.items():
        if "count" in ft:
            ft["count"] = np.asarray(ft["count"]).astype(np.int64)
        integer = str(features.get(key, {}).get("dtype", "")).startswith(("int", "uint"))
        if integer and LINE.integer_stats_are_ints:
            for name in ("min", "max"):
                if name in ft:
                    ft[name] = np.rint(np.asarray(ft[name])).astype(np.int64)
    return stats


def source_stats(meta, repo_id: str, episodes: Sequence[int] | None, keys: Iterable[str]) -> Stats:
    """One dataset's stats over its selected episodes (whole-dataset stats.json when all are used)."""
    keys = list(keys)
    if episodes is None and meta.format.episode_stats_only:
        episodes = range(meta.total_episodes)  # e.g. v2.1: episodes_stats.jsonl, no usable stats.json
    if episodes is None:
        if meta.stats is None:
            raise DatasetSourceError(f"dataset {repo_id!r}: meta/stats.json is missing")
        stats = {k: v for k, v in meta.stats.items() if k in keys}
    else:
        stats = aggregate(load_episode_stats(meta, repo_id, episodes), keys=keys)
    check_finite(stats, repo_id)
    return as_lerobot_dtypes(stats, meta.features)


def pad_feature_stats(ft: Mapping[str, np.ndarray], size: int) -> dict[str, np.ndarray]:
    """Pad a vector feature's stats to `size` so padded zeros normalize to 0 in every lerobot mode.

    mean 0 / std 1 (MEAN_STD), min -1 / max 1 (MIN_MAX), q<50 -1, q50 0, q>50 1 (QUANTILES): no
    division by zero, no effect on the real dimensions.
    """
    out = {}
    for name, value in ft.items():
        arr = np.asarray(value, dtype=np.float64)
        if name == "count" or arr.ndim != 1 or arr.shape[0] >= size:
            out[name] = arr
            continue
        level = int(name[1:]) if _QUANTILE_KEY.match(name) else None
        fill = {"mean": 0.0, "std": 1.0, "min": -1.0, "max": 1.0}.get(name)
        if fill is None:
            fill = 0.0 if level in (None, 50) else (-1.0 if level < 50 else 1.0)
        out[name] = np.concatenate([arr, np.full(size - arr.shape[0], fill)])
    return out


def aggregate_by_dimension(
    per_source: Sequence[tuple[Mapping[str, np.ndarray], int]], size: int
) -> dict[str, np.ndarray]:
    """Stats of a padded vector feature: dimension j aggregated over the sources that have it."""
    columns = []
    for j in range(size):
        having = [
            {"x": {k: (np.asarray(v)[j : j + 1] if k != "count" else np.asarray(v)) for k, v in st.items()}}
            for st, n in per_source
            if n > j
        ]
        columns.append(aggregate(having)["x"])
    out = {k: np.concatenate([c[k] for c in columns]) for k in columns[0] if k != "count"}
    out["count"] = np.asarray([sum(int(np.asarray(st["count"]).reshape(-1)[0]) for st, _ in per_source)])
    return out


MM_PER_METRE = 1000.0


def depth_stats_in_unit(stats: Stats, features: Mapping[str, dict], output_unit: str, repo_id: str) -> Stats:
    """lerobot 0.6's `rescale_depth_stats` for one dataset: each depth feature's stats from the unit it
    was recorded in (`info.depth_unit`) to `output_unit`, every stat but `count` scaled; a depth feature
    without a recorded unit stays as it is, with lerobot's warning."""
    out = dict(stats)
    for key, ft in features.items():
        if not is_depth(ft) or key not in stats:
            continue
        stored = depth_unit(ft)
        if stored is None:
            logger.warning(
                "Dataset %r: depth feature %r has no recorded 'depth_unit'; its maps and stats are used as "
                "they are, with no conversion to %r",
                repo_id,
                key,
                output_unit,
            )
        elif stored != output_unit:
            factor = MM_PER_METRE if stored == "m" else 1.0 / MM_PER_METRE
            out[key] = {s: v if s == "count" else np.asarray(v) * factor for s, v in stats[key].items()}
    return out
