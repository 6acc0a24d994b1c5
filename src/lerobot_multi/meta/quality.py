"""What `dataset.on_error: skip` leaves out of a mixture, and the episode checks that find it.

A dataset is left out when it cannot be opened, downloaded or validated (`SkippedDataset`). An episode
is left out when it fails one of the checks named in `dataset.episode_checks` (`SkippedEpisode`):

- "short": fewer frames than `dataset.min_episode_frames` (lerobot-multi-train sets it, when unset, to
  the frames the policy's window spans; elsewhere it must be given);
- "non_finite": NaN or inf in a feature, read from the per-episode stats lerobot's writer records
  (a NaN or inf frame makes the episode's min, max or mean non-finite): no data file is read;
- "video_frames": a camera's video holds fewer frames over the episode's span than the episode has,
  counted by demuxing the file's packets (no decode, but the videos are read, and fetched from the hub
  first): the one check that costs time, so it runs only when named.

With `on_error: raise` a failed check stops the opening with an error naming the dataset, episode and
check. The run fails when more than `dataset.max_skipped` of the datasets, or of the episodes, is left
out.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)

EPISODE_CHECKS = ("short", "non_finite", "video_frames")
# stats a NaN or inf frame spreads to (lerobot computes them with numpy's NaN-propagating reductions)
FINITE_STATS = ("min", "max", "mean")


@dataclasses.dataclass(frozen=True)
class SkippedDataset:
    """A dataset left out by `on_error: skip`, and why."""

    repo_id: str
    reason: str


@dataclasses.dataclass(frozen=True)
class SkippedEpisode:
    """An episode (the dataset's own id) that failed an episode check, and which."""

    repo_id: str
    episode: int
    reason: str


def short_episodes(lengths: np.ndarray, episodes: np.ndarray, min_frames: int) -> dict[int, str]:
    """{episode: reason} of the episodes with fewer than `min_frames` frames."""
    return {
        int(e): f"short: {int(lengths[e])} frames < dataset.min_episode_frames={min_frames}"
        for e in episodes
        if lengths[e] < min_frames
    }


def non_finite_episodes(stats_rows: Sequence[dict], episodes: np.ndarray) -> dict[int, str]:
    """{episode: reason} of the episodes whose recorded stats hold NaN or inf; `stats_rows[i]` is
    episode `episodes[i]`'s row of `stats/<key>/<stat>` columns."""
    failed = {}
    for ep, row in zip(episodes.tolist(), stats_rows):
        bad = sorted(
            {
                col[len("stats/") :].rsplit("/", 1)[0]
                for col, value in row.items()
                if value is not None
                and col.rsplit("/", 1)[-1] in FINITE_STATS
                and not np.isfinite(np.asarray(value, dtype=np.float64)).all()
            }
        )
        if bad:
            failed[int(ep)] = f"non_finite: NaN or inf in {', '.join(bad)}"
    return failed


def packet_times(path: Path) -> np.ndarray:
    """The presentation times (seconds, sorted) of a video file's first video stream, demuxed, not
    decoded."""
    import av

    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        pts = [p.pts for p in container.demux(stream) if p.pts is not None]
        return np.sort(np.asarray(pts, dtype=np.float64) * float(stream.time_base))


def short_video_episodes(spans: Sequence[tuple[int, str, Path, float, int]], fps: float) -> dict[int, str]:
    """{episode: reason} over (episode, camera, video file, from_timestamp, length): the episodes for
    which a camera's file holds fewer frames in [from, from + length / fps) than the episode has."""
    times: dict[Path, np.ndarray] = {}
    failed: dict[int, str] = {}
    half_frame = 0.5 / fps
    for ep, key, path, start, length in spans:
        if path not in times:
            times[path] = packet_times(path)
        t = times[path]
        held = int(
            np.searchsorted(t, start + length / fps - half_frame) - np.searchsorted(t, start - half_frame)
        )
        if held < length and ep not in failed:
            failed[ep] = f"video_frames: {key} holds {held} of the episode's {length} frames"
    return failed


def check_skipped(skipped: Sequence[SkippedDataset], total: int, max_share: float) -> None:
    """Log each dataset left out; more than `max_share` of them (or all) is an error listing them."""
    for s in skipped:
        logger.warning("dataset %r left out (dataset.on_error=skip): %s", s.repo_id, s.reason)
    if skipped and (len(skipped) > max_share * total or len(skipped) == total):
        listing = "\n  - ".join(f"{s.repo_id}: {s.reason}" for s in skipped)
        raise DatasetSourceError(
            f"{len(skipped)} of {total} datasets could not be opened, more than dataset.max_skipped="
            f"{max_share:g} allows:\n  - {listing}"
        )


def check_skipped_episodes(skipped: Sequence[SkippedEpisode], total: int, max_share: float) -> None:
    """Log the episodes left out, a line per dataset; more than `max_share` of the `total` episodes
    checked is an error."""
    by_dataset: dict[str, list[SkippedEpisode]] = {}
    for s in skipped:
        by_dataset.setdefault(s.repo_id, []).append(s)
    for repo_id, eps in by_dataset.items():
        reasons = "; ".join(f"{s.episode}: {s.reason}" for s in eps[:5]) + (" ..." if len(eps) > 5 else "")
        logger.warning(
            "dataset %r: %d episodes left out (dataset.episode_checks): %s", repo_id, len(eps), reasons
        )
    if skipped and len(skipped) > max_share * total:
        raise DatasetSourceError(
            f"{len(skipped)} of {total} episodes failed dataset.episode_checks, more than "
            f"dataset.max_skipped={max_share:g} allows (first: {skipped[0].repo_id!r} episode "
            f"{skipped[0].episode}: {skipped[0].reason})"
        )
