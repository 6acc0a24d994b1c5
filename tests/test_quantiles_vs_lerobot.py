"""The mixture's quantile stats against the installed lerobot's `aggregate_stats` on the same datasets
(docs/lerobot-lines.md "Statistics"): ours estimate the quantiles of the concatenated frames; lerobot
0.4.4/0.6.1 average the datasets' quantiles by count, and lerobot main keeps an envelope (the least
of the lower quantiles, the greatest of the upper ones), a bound rather than an estimate.

`pytest tests/test_quantiles_vs_lerobot.py -s` prints the table the docs quote."""

from __future__ import annotations

import numpy as np
from lerobot.datasets.compute_stats import aggregate_stats
from lerobot.datasets.lerobot_dataset import LeRobotDataset

from lerobot_multi import MultiLeRobotDataset
from lerobot_multi.compat import LEROBOT_VERSION, LINE

# two robots whose states sit 50 apart (conftest: arm_big is recorded with offset 50)
REPOS = ["lab/arm_small", "lab/arm_big"]
KEY = "observation.state"
LEVELS = {"q01": 0.01, "q10": 0.10, "q50": 0.50, "q90": 0.90, "q99": 0.99}


def _frames(data_root, repo_id: str) -> np.ndarray:
    dataset = LeRobotDataset(repo_id, root=data_root / repo_id)
    return np.asarray(dataset.hf_dataset.with_format("numpy")[KEY], dtype=np.float64)


def test_mixture_quantiles_estimate_what_lerobot_averages_or_bounds(data_root):
    frames = np.concatenate([_frames(data_root, r) for r in REPOS])
    ours = MultiLeRobotDataset(REPOS, root=data_root).meta.stats[KEY]
    metas = [LeRobotDataset(r, root=data_root / r).meta for r in REPOS]
    stock = aggregate_stats([m.stats for m in metas])[KEY]
    rows, ours_err, stock_err = [], [], []
    for key, level in LEVELS.items():
        true = np.quantile(frames, level, axis=0)
        mine, theirs = np.asarray(ours[key], np.float64), np.asarray(stock[key], np.float64)
        ours_err.append(np.abs(mine - true).max())
        stock_err.append(np.abs(theirs - true).max())
        rows.append(f"| {key} | {true[0]:.2f} | {mine[0]:.2f} | {theirs[0]:.2f} |")
        if LINE.name == "main":  # the envelope bounds the mixture's quantile from its side
            assert np.all(theirs <= true + 1e-6) if level <= 0.5 else np.all(theirs >= true - 1e-6), key
    print(f"\nlerobot {LEROBOT_VERSION}: {KEY}[0] of {' + '.join(REPOS)} ({len(frames)} frames)")
    print("| stat | numpy over the frames | lerobot-multi | lerobot's aggregate_stats |")
    print("\n".join(rows))
    print(f"largest error over every dimension: ours {max(ours_err):.2f}, lerobot's {max(stock_err):.2f}")
    # the far-apart middle: lerobot's average lands in the gap, the envelope at one dataset's edge
    assert max(ours_err) < max(stock_err)
    assert max(ours_err) < 5.0  # within the datasets' own spread (their histogram knots)
