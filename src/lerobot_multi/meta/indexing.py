"""Index arithmetic of a concatenation: cumulative offsets and binary search. Pure functions."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np


def cumulative_offsets(sizes: Sequence[int] | np.ndarray) -> np.ndarray:
    """[0, s0, s0+s1, ...]: part i covers global indices offsets[i] .. offsets[i+1]-1."""
    return np.concatenate([[0], np.cumsum(np.asarray(sizes, dtype=np.int64))]).astype(np.int64)


def locate_frames(
    episode_starts: np.ndarray, episode_parts: np.ndarray, offsets: np.ndarray, indices: Sequence[int]
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Global frame indices -> (episodes, parts, positions in part, indices), int64 arrays.

    `episode_starts` holds each global episode's first frame (ascending), `episode_parts` its part.
    Negative indices count from the end. Empty episodes are skipped (the last start <= index wins).
    """
    total = int(offsets[-1])
    raw = np.asarray(indices, dtype=np.int64).reshape(-1)
    idx = np.where(raw < 0, raw + total, raw)
    bad = (idx < 0) | (idx >= total)
    if bad.any():
        raise IndexError(f"index {int(raw[bad][0])} out of range for {total} items")
    episodes = np.searchsorted(episode_starts, idx, side="right") - 1
    parts = episode_parts[episodes]
    return episodes, parts, idx - offsets[parts], idx
