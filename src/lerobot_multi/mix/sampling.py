"""WeightedMixtureSampler: a resumable torch `Sampler` that gives each dataset its share of every epoch.

The arithmetic (shares, apportioning, the label draws and their seeds) is `meta/mixing.py`, shared with
the stream. The sampler is deterministic from (seed, stream position) and keeps O(datasets + episodes)
memory: frames inside a dataset are drawn through a keyed pseudo-random permutation (a Feistel
network), so no per-frame list is ever built, and no 2**24-category limit applies.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence

import numpy as np
import torch

from lerobot_multi.meta.mixing import LABEL_BLOCK, apportion, label_blocks, label_rng
from lerobot_multi.meta.sources import DatasetSourceError

_MASK64 = np.uint64(0xFFFFFFFFFFFFFFFF)
DRAWS = 2
"""The label-draw scheme of the sampler's state: 2 is `mixing.label_rng`, shared with the stream;
1 (states without "draws", written before 0.2) seeded labels by [seed, epoch], and such a state
resumes with those draws (`legacy_label_rng`)."""


def legacy_label_rng(seed: int, epoch: int) -> np.random.Generator:
    """The label generator of sampler states written before the shared seed scheme (draws 1)."""
    return np.random.default_rng([int(seed), int(epoch)])


def _mix(x: np.ndarray) -> np.ndarray:
    """splitmix64 finalizer: a cheap, well-spread hash of uint64 values."""
    with np.errstate(over="ignore"):
        x = (x ^ (x >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        x = (x ^ (x >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        return (x ^ (x >> np.uint64(31))) & _MASK64


def permute(positions: np.ndarray, n: int, key: int) -> np.ndarray:
    """A keyed bijection of [0, n) applied to `positions` (4-round Feistel, cycle-walking)."""
    if n <= 1:
        return positions.copy()
    half = max(1, math.ceil(math.log2(n) / 2))
    mask = np.uint64((1 << half) - 1)
    keys = _mix(np.arange(1, 5, dtype=np.uint64) + np.uint64(key & 0xFFFFFFFFFFFF) * np.uint64(16))
    x = positions.astype(np.uint64)
    todo = np.ones(len(x), dtype=bool)
    while todo.any():  # walk values that land outside [0, n) until they come back in (< 4 steps on average)
        left, right = x[todo] >> np.uint64(half), x[todo] & mask
        for k in keys:
            left, right = right, left ^ (_mix(right ^ k) & mask)
        x[todo] = (left << np.uint64(half)) | right
        todo = x >= np.uint64(n)
    return x.astype(np.int64)


def _stream_key(seed: int, dataset: int, epoch_pass: int) -> int:
    """Key of dataset `dataset`'s permutation in pass `epoch_pass` (all bits of the seed count)."""
    with np.errstate(over="ignore"):
        x = _mix(np.array([seed & 0xFFFFFFFFFFFFFFFF], dtype=np.uint64))
        x = _mix(x + np.uint64(dataset) * np.uint64(0x9E3779B97F4A7C15) + np.uint64(epoch_pass))
    return int(x[0])


class WeightedMixtureSampler(torch.utils.data.Sampler[int]):
    """Draws global frame indices so each dataset gets its share of every epoch.

    Args:
        from_index, to_index: global frame boundaries of each episode (`meta.episodes` columns).
        episode_dataset: dataset index of each episode (episodes of a dataset are contiguous).
        shares: each dataset's share of the samples (sums to 1).
        epoch_size: samples per epoch (default: frames usable after dropping).
        drop_n_first_frames, drop_n_last_frames: as lerobot's EpisodeAwareSampler.
        infinite: iterate epoch after epoch without end (the training loop's mode, so every batch is
            full and the stream position after `step` steps is step x batch size x processes).

    Inside a dataset frames are drawn without replacement until all were used, then reshuffled, so a
    dataset whose share fits its size repeats no frame in an epoch.
    """

    def __init__(
        self,
        from_index: Sequence[int],
        to_index: Sequence[int],
        episode_dataset: Sequence[int],
        shares: Sequence[float],
        epoch_size: int | None = None,
        seed: int = 0,
        drop_n_first_frames: int = 0,
        drop_n_last_frames: int = 0,
        infinite: bool = False,
        block_size: int = LABEL_BLOCK,
    ):
        starts = np.asarray(from_index, dtype=np.int64) + drop_n_first_frames
        usable = np.maximum(0, np.asarray(to_index, dtype=np.int64) - drop_n_last_frames - starts)
        ep_ds = np.asarray(episode_dataset, dtype=np.int64)
        self.shares = np.asarray(shares, dtype=np.float64)
        n_ds = len(self.shares)
        self._starts = starts
        self._usable_offsets = np.concatenate([[0], np.cumsum(usable)])
        self.frames_per_dataset = np.bincount(ep_ds, weights=usable, minlength=n_ds).astype(np.int64)
        first_episode = np.searchsorted(ep_ds, np.arange(n_ds))
        self._dataset_offsets = self._usable_offsets[first_episode]
        empty = np.flatnonzero((self.frames_per_dataset == 0) & (self.shares > 0))
        if len(empty):
            raise DatasetSourceError(
                f"datasets {empty.tolist()} have no frames left to sample after dropping frames"
            )
        self.epoch_size = int(epoch_size if epoch_size is not None else self.frames_per_dataset.sum())
        if self.epoch_size <= 0:
            raise DatasetSourceError(
                f"dataset.epoch_size = {epoch_size!r}: expected a positive number of samples"
            )
        self.counts = apportion(self.epoch_size, self.shares)
        self.seed = int(seed)
        self.infinite = infinite
        self.block_size = block_size
        self.position = 0  # samples of the stream already handed out
        self.draws = DRAWS

    # --- resumption --------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        return {
            "seed": self.seed,
            "epoch_size": self.epoch_size,
            "position": self.position,
            "draws": self.draws,
        }

    def load_state_dict(self, state: Mapping) -> None:
        """Continue a saved stream exactly, with the label draws it was written with."""
        if state["seed"] != self.seed or state["epoch_size"] != self.epoch_size:
            raise ValueError(
                f"sampler state {dict(state)} is for another mixture (seed={self.seed}, epoch_size={self.epoch_size})"
            )
        draws = int(state.get("draws", 1))
        if draws not in (1, DRAWS):
            raise ValueError(
                f"sampler state {dict(state)}: unknown label draws {draws} (this version: 1, {DRAWS})"
            )
        self.position, self.draws = int(state["position"]), draws

    # --- the stream ---------------------------------------------------------------------------------
    def _epoch_blocks(self, epoch: int) -> Iterator[np.ndarray]:
        """Global frame indices of one epoch, block by block (deterministic from seed and epoch)."""
        drawn = self.counts * epoch  # per-dataset draws before this epoch
        rng = label_rng(self.seed, epoch) if self.draws == DRAWS else legacy_label_rng(self.seed, epoch)
        for labels in label_blocks(self.counts, rng, self.block_size):
            yield self._frames(labels, drawn)
            drawn = drawn + np.bincount(labels, minlength=len(self.counts))

    def _frames(self, labels: np.ndarray, drawn: np.ndarray) -> np.ndarray:
        order = np.argsort(labels, kind="stable")
        sorted_labels = labels[order]
        group_start = np.searchsorted(sorted_labels, sorted_labels)
        draw = np.empty(len(labels), dtype=np.int64)
        draw[order] = drawn[sorted_labels] + np.arange(len(labels)) - group_start
        n = self.frames_per_dataset[labels]
        passes, pos = draw // n, draw % n
        out = np.empty(len(labels), dtype=np.int64)
        for d, p in {(int(a), int(b)) for a, b in zip(labels, passes)}:
            sel = (labels == d) & (passes == p)
            out[sel] = permute(pos[sel], int(self.frames_per_dataset[d]), _stream_key(self.seed, d, p))
        gpos = self._dataset_offsets[labels] + out
        episode = np.searchsorted(self._usable_offsets, gpos, side="right") - 1
        return self._starts[episode] + gpos - self._usable_offsets[episode]

    def __iter__(self) -> Iterator[int]:
        while True:
            epoch, skip = divmod(self.position, self.epoch_size)
            for block in self._epoch_blocks(epoch):
                if skip >= len(block):
                    skip -= len(block)
                    continue
                for idx in block[skip:].tolist():
                    self.position += 1
                    yield idx
                skip = 0
            if not self.infinite:
                return

    def __len__(self) -> int:
        return self.epoch_size
