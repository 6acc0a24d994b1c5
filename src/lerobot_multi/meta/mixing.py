"""The mixing arithmetic, written once: shares, apportioning, label draws and stop strategies.

Pure functions over numbers (no I/O, no datasets), used by the map-style sampler
(`mix/sampling.WeightedMixtureSampler`), the stream (`stream/streaming`) and the mixture report
(`inspect/info_table`), so the three cannot disagree on a share or a draw.

A dataset's weight is its share of the samples drawn (not a per-frame weight): with weights
[0.5, 0.5] half of every epoch comes from each dataset whatever their sizes. Without weights,
`temperature` τ gives shares ∝ frames**τ (τ=1: plain concatenation, τ=0: uniform over datasets).

One seed scheme: epoch e's dataset labels come from `label_rng(seed, e)`; the sampler and the stream
draw the same label sequence for the same counts, seed and epoch.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

import numpy as np

from lerobot_multi.meta.sources import DatasetSourceError

LABEL_BLOCK = 8192
_HYPERGEOMETRIC_LIMIT = 10**9
# the domain of a seed: keeps label draws apart from the per-dataset shuffles seeded from the same seed
LABELS, SHUFFLES = 0, 1


def mixture_shares(
    frames: Sequence[int], weights: Sequence[float] | None = None, temperature: float | None = None
) -> np.ndarray:
    """Each dataset's share of the samples: explicit weights (one per dataset, validated by the
    spec), else frames**temperature (default 1: the plain concatenation)."""
    frames = np.asarray(frames, dtype=np.float64)
    if weights is not None:
        if temperature is not None:
            raise DatasetSourceError("dataset.weights and dataset.temperature are exclusive; set one of them")
        values = np.asarray(weights, dtype=np.float64)
        return values / values.sum()
    tau = 1.0 if temperature is None else float(temperature)
    if not math.isfinite(tau) or tau < 0:
        raise DatasetSourceError(f"dataset.temperature = {temperature!r}: expected a finite number >= 0")
    raw = np.power(frames, tau)
    return raw / raw.sum()


def sampling_shares(meta) -> np.ndarray:
    """The shares of a mixture's datasets (`MultiDatasetMetadata`): its sources' weights, else its
    spec's temperature over its selected frames."""
    weights = [s.weight for s in meta.sources]
    return mixture_shares(
        meta.frames_by_dataset, None if weights[0] is None else weights, meta.spec.temperature
    )


def apportion(total: int, shares: np.ndarray) -> np.ndarray:
    """Split `total` slots by `shares` into integers summing to `total` (largest remainder)."""
    exact = np.asarray(shares, dtype=np.float64) * total
    counts = np.floor(exact).astype(np.int64)
    rest = total - int(counts.sum())
    if rest:
        order = np.argsort(-(exact - counts), kind="stable")
        counts[order[:rest]] += 1
    return counts


def label_rng(seed: int, epoch: int) -> np.random.Generator:
    """The generator of epoch `epoch`'s dataset labels (the sampler's and the stream's)."""
    return np.random.default_rng([int(seed), LABELS, int(epoch)])


def shuffle_rng(seed: int, dataset: int, epoch_pass: int) -> np.random.Generator:
    """The generator of dataset `dataset`'s shuffle in pass `epoch_pass` over its frames."""
    return np.random.default_rng([int(seed), SHUFFLES, int(dataset), int(epoch_pass)])


def label_blocks(
    counts: np.ndarray, rng: np.random.Generator, block_size: int = LABEL_BLOCK
) -> Iterator[np.ndarray]:
    """A uniformly random order of the multiset {label d, counts[d] times}, block by block.

    Each block's counts are a multivariate hypergeometric draw from what remains (multinomial while a
    billion or more remain), then shuffled, so memory is O(datasets + block) however long the epoch.
    """
    remaining = np.asarray(counts, dtype=np.int64).copy()
    while (total := int(remaining.sum())) > 0:
        if total < _HYPERGEOMETRIC_LIMIT:
            block = rng.multivariate_hypergeometric(remaining, min(block_size, total))
        else:  # numpy's hypergeometric stops at 1e9; a block is then multinomial (never over what is left)
            block = np.minimum(rng.multinomial(block_size, remaining / total), remaining)
        remaining -= block
        yield rng.permutation(np.repeat(np.arange(len(block)), block))


def epoch_labels(
    counts: np.ndarray, seed: int, epoch: int, block_size: int = LABEL_BLOCK
) -> Iterator[np.ndarray]:
    """Epoch `epoch`'s dataset labels, block by block: `label_blocks` under the one seed scheme."""
    return label_blocks(counts, label_rng(seed, epoch), block_size)


# --- stop strategies: what a dataset's stream does when it runs out within an epoch ----------------
# Each is a pair of functions of the same signature:
#   epoch_length(counts, frames, seed, epoch) -> samples in that epoch
#   start(d, counts, frames, epoch) -> (pass, frames to skip) where dataset d's stream starts the epoch


def _restart_length(counts: np.ndarray, frames: np.ndarray, seed: int, epoch: int) -> int:
    return int(np.asarray(counts).sum())


def _restart_start(d: int, counts: np.ndarray, frames: np.ndarray, epoch: int) -> tuple[int, int]:
    # streams carry over epochs: epoch e has taken e x counts[d] of dataset d before it
    p, skip = divmod(epoch * int(counts[d]), int(frames[d]))
    return int(p), int(skip)


def _stop_length(counts: np.ndarray, frames: np.ndarray, seed: int, epoch: int) -> int:
    """Up to (not including) the first label whose dataset has no frame left this epoch."""
    seen, done = np.zeros(len(frames), dtype=np.int64), 0
    for block in epoch_labels(counts, seed, epoch):
        cuts = [
            done + hits[frames[d] - seen[d]]
            for d in range(len(frames))
            if len(hits := np.flatnonzero(block == d)) > frames[d] - seen[d]
        ]
        if cuts:
            return int(min(cuts))
        seen += np.bincount(block, minlength=len(seen))
        done += len(block)
    return done


def _stop_start(d: int, counts: np.ndarray, frames: np.ndarray, epoch: int) -> tuple[int, int]:
    return epoch, 0  # every stream restarts with the epoch


@dataclass(frozen=True)
class StopStrategy:
    """How an epoch ends and where each dataset's stream starts it."""

    epoch_length: Callable[[np.ndarray, np.ndarray, int, int], int]
    start: Callable[[int, np.ndarray, np.ndarray, int], tuple[int, int]]
    fixed_length: bool  # every epoch holds sum(counts) samples


STOP_STRATEGIES: dict[str, StopStrategy] = {
    # a dataset that runs out starts its next pass: every epoch holds exactly the counts
    "restart": StopStrategy(_restart_length, _restart_start, fixed_length=True),
    # the epoch ends at the first label whose dataset ran out; every stream restarts each epoch
    "stop": StopStrategy(_stop_length, _stop_start, fixed_length=False),
}
