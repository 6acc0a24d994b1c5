"""Opening a mixture's datasets: every source's metadata (in parallel), its episode filter and checks
resolved, and with `on_error: skip` the datasets and episodes that fail left out (quality.py).
"""

from __future__ import annotations

import dataclasses
import functools
import threading
from collections.abc import Sequence

import numpy as np
import pyarrow as pa

from lerobot_multi.meta import hub
from lerobot_multi.meta.locations import fetch_all, location_of
from lerobot_multi.meta.metadata import MultiDatasetMetadata
from lerobot_multi.meta.pack import MetadataPack
from lerobot_multi.meta.quality import (
    SkippedDataset,
    SkippedEpisode,
    check_skipped,
    check_skipped_episodes,
    non_finite_episodes,
    short_episodes,
    short_video_episodes,
)
from lerobot_multi.meta.run_opens import current_run
from lerobot_multi.meta.source_meta import (
    SourceMetadata,
    fetch_read_files,
    load_source_metadata,
    selected_episodes,
)
from lerobot_multi.meta.sources import DatasetSource, DatasetSourceError, map_sources
from lerobot_multi.meta.spec import MixtureSpec, bucket_error, group_of_datasets
from lerobot_multi.meta.stats import source_stats


def apply_episode_filter(source: DatasetSource, meta: SourceMetadata) -> DatasetSource:
    """The source with its `episode_filter` resolved into `episodes`, as lerobot 0.6's
    `meta.filter_episodes(predicate, candidates=episodes)`: the episodes (among those selected) whose
    row of meta/episodes, without stats, satisfies the predicate."""
    predicate = source.episode_filter
    if predicate is None:
        return source
    candidates = None if source.episodes is None else set(source.episodes)
    chosen = tuple(
        int(row["episode_index"])
        for row in meta.episodes.to_pylist()
        if (candidates is None or row["episode_index"] in candidates) and predicate(row)
    )
    if not chosen:
        among = "" if candidates is None else f" among dataset.episodes {sorted(candidates)}"
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: dataset.episode_filter did not match any episode{among}"
        )
    return dataclasses.replace(source, episodes=chosen, episode_filter=None)


def apply_exclusions(source: DatasetSource, meta: SourceMetadata) -> DatasetSource:
    """The source with `exclude_episodes` taken out of `episodes`, as lerobot main's
    `resolve_episode_indices`, except that an id out of range is an error as in `episodes`."""
    if not source.exclude_episodes:
        return source
    total = meta.total_episodes
    bad = [e for e in source.exclude_episodes if not 0 <= e < total]
    if bad:
        raise DatasetSourceError(
            f"dataset.exclude_episodes[{source.repo_id!r}]: episode ids {bad} out of range; "
            f"this dataset has episodes 0..{total - 1}"
        )
    kept = tuple(int(e) for e in selected_episodes(source, meta))
    if not kept:
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: dataset.exclude_episodes leaves no episode; drop the dataset "
            "from repo_id instead"
        )
    return dataclasses.replace(source, episodes=kept, exclude_episodes=None)


def apply_episode_checks(
    source: DatasetSource, meta: SourceMetadata, spec: MixtureSpec, skip: bool, known: dict | None = None
) -> tuple[DatasetSource, list[SkippedEpisode]]:
    """The source without the episodes that fail `spec.episode_checks` (quality.py), and those episodes;
    without `skip`, the first failure is an error. Every episode failing is the dataset's failure.
    `known`: the failures a metadata pack recorded for these checks (no check runs again)."""
    episodes = selected_episodes(source, meta)
    if known is not None:
        failed = {int(e): known[int(e)] for e in episodes if int(e) in known}
    elif (run := current_run()) is not None:  # checked once per run, whatever the selection
        key = (
            source.repo_id,
            str(meta.root),
            meta.commit,
            tuple(spec.episode_checks),
            spec.min_episode_frames,
        )
        failed = run.failures(
            key, episodes, lambda todo: episode_failures(source, meta, spec, np.asarray(todo))
        )
    else:
        failed = episode_failures(source, meta, spec, episodes)
    if failed and not skip:
        ep = min(failed)
        raise DatasetSourceError(
            f"dataset {source.repo_id!r} episode {ep}: {failed[ep]} (dataset.episode_checks)"
        )
    if len(failed) == len(episodes):
        raise DatasetSourceError(
            f"dataset {source.repo_id!r}: every selected episode failed dataset.episode_checks (first: {failed[min(failed)]})"
        )
    kept = tuple(int(e) for e in episodes if int(e) not in failed)
    out = [SkippedEpisode(source.repo_id, e, failed[e]) for e in sorted(failed)]
    return (dataclasses.replace(source, episodes=kept) if failed else source), out


def episode_failures(
    source: DatasetSource, meta: SourceMetadata, spec: MixtureSpec, episodes
) -> dict[int, str]:
    """{episode: the first check it fails} among `episodes`, for `spec.episode_checks`."""
    checks, failed = spec.episode_checks, {}
    if "short" in checks:
        failed |= short_episodes(meta.column("length"), episodes, int(spec.min_episode_frames))
    if "non_finite" in checks:
        rows = meta.episode_stats().take(pa.array(episodes, pa.int64())).to_pylist()
        failed = non_finite_episodes(rows, episodes) | failed  # an episode keeps its first reason
    if "video_frames" in checks and meta.video_keys and meta.video_path:
        failed = short_videos(source, meta, episodes) | failed
    return failed


def short_videos(source: DatasetSource, meta: SourceMetadata, episodes: np.ndarray) -> dict[int, str]:
    """`quality.short_video_episodes` over every camera of `episodes`, its videos fetched first for a
    remote dataset."""
    if meta.location.fetches:
        files = meta.format.files_for(meta, episodes, meta.video_keys)
        fetch_all(meta.location.fetch_jobs([rel for rel, (_, key) in files.items() if key]))
    lengths = meta.column("length")
    spans = [
        (int(e), key, meta.root / meta.video_file(int(e), key), float(start), int(lengths[e]))
        for key in meta.video_keys
        for e, start in zip(episodes, meta.column(f"videos/{key}/from_timestamp")[episodes])
    ]
    return short_video_episodes(spans, meta.fps)


@functools.lru_cache(maxsize=4)
def load_pack(location: str) -> MetadataPack:
    """A metadata pack read once per process (a run opens its mixture more than once)."""
    return MetadataPack(location)


def load_or_skip(source: DatasetSource) -> SourceMetadata | SkippedDataset:
    """`load_source_metadata`, a failure kept as a `SkippedDataset` (module-level: it may run in a
    spawned process)."""
    try:
        return load_source_metadata(source)
    except Exception as e:  # any failure of one dataset: reported, the rest of the mixture goes on
        return SkippedDataset(source.repo_id, reason_of(e))


def reason_of(error: Exception) -> str:
    """Why a dataset was left out: our errors' message (it names the dataset and field), else the repr."""
    return str(error) if isinstance(error, DatasetSourceError) else repr(error)


def open_sources(spec: MixtureSpec, max_workers: int | None = None):
    """(sources, metadata, skipped datasets, skipped episodes) of a spec: each dataset's metadata, and
    its source completed with what the files say (episode filter and checks resolved in this process,
    format, normalization group); with `on_error: skip` what failed, left out (quality.py)."""
    if spec.repo_type != "dataset":  # a single repo as a mixture (the constructors): not read either
        raise bucket_error()
    sources, skip = spec.sources(), spec.on_error == "skip"
    total, left_out = len(sources), []
    pack = load_pack(spec.metadata_pack) if spec.metadata_pack else None
    if pack is not None:  # what the pack's writer left out is left out again, with its reason
        sources, left_out = pack.prepare(sources, skip)
    if "short" in spec.episode_checks and spec.min_episode_frames is None:
        raise DatasetSourceError(
            "dataset.episode_checks 'short' needs dataset.min_episode_frames (lerobot-multi-train sets it "
            "to the frames the policy's window spans; elsewhere, give it)"
        )
    loaded = load_all_metadata(sources, max_workers, spec.open_processes, skip)
    kept = []
    skipped = [SkippedDataset(r, why) for r, why in left_out] + [
        m for m in loaded if isinstance(m, SkippedDataset)
    ]
    episodes_out: list[SkippedEpisode] = []
    for source, meta in zip(sources, loaded):
        if isinstance(meta, SkippedDataset):
            continue
        try:
            source, out = apply_episode_filter(apply_exclusions(source, meta), meta), []
            if spec.episode_checks:
                known = pack.failed_episodes(source.repo_id, spec) if pack is not None else None
                source, out = apply_episode_checks(source, meta, spec, skip, known)
            if skip:  # what the merge would refuse, refused for this dataset alone
                source_stats(meta, source.repo_id, source.episodes, meta.features)
            kept.append((source, meta))
            episodes_out += out  # a dataset left out whole reports no episodes
        except Exception as e:  # with skip, any failure of one dataset (a video the check fetches too)
            if not skip:
                raise
            skipped.append(SkippedDataset(source.repo_id, reason_of(e)))
    check_skipped(skipped, total, spec.max_skipped)
    checked = sum(len(selected_episodes(s, m)) for s, m in kept) + len(episodes_out)
    check_skipped_episodes(episodes_out, checked, spec.max_skipped)
    metas = [m for _, m in kept]
    groups = group_of_datasets(
        [s.repo_id for s, _ in kept], [m.robot_type for m in metas], spec.normalization_mode
    )
    resolved = [
        dataclasses.replace(
            source,
            index=i,
            root=meta.root,
            commit=meta.commit,
            format=meta.format,
            normalization_group=groups[source.repo_id],
        )
        for i, (source, meta) in enumerate(kept)
    ]
    return resolved, metas, skipped, episodes_out


def load_all_metadata(
    sources: Sequence[DatasetSource],
    max_workers: int | None = None,
    open_processes: int | None = None,
    skip: bool = False,
) -> list[SourceMetadata | SkippedDataset]:
    """Every dataset's metadata, in the given order (see `sources.map_sources`), a failure kept as a
    `SkippedDataset` with `skip`; on `hub.CONNECTIONS` threads when some come from the hub (waiting on
    the network, not the CPU)."""
    remote = any(location_of(s).is_remote for s in sources)
    if max_workers is None and remote:
        max_workers = hub.CONNECTIONS
    load = load_or_skip if skip else load_source_metadata
    run = current_run()
    if run is not None and (open_processes or 0) <= 1:  # threads share the run's opens
        load = functools.partial(run.metadata, load=load)
    if not remote or (open_processes or 0) > 1:  # a count across processes would not add up
        return map_sources(load, sources, max_workers, open_processes)
    counted = CountedLoad(load, len(sources))
    hub.LIMITS.progress = counted.progress  # a rate-limit wait says where the open stands
    try:
        return map_sources(counted, sources, max_workers, open_processes)
    finally:
        hub.LIMITS.progress = None


class CountedLoad:
    """A per-dataset load that counts the datasets it has opened, on threads."""

    def __init__(self, load, total: int) -> None:
        self.load, self.total, self.done = load, total, 0
        self.lock = threading.Lock()

    def __call__(self, source: DatasetSource):
        try:
            return self.load(source)
        finally:
            with self.lock:
                self.done += 1

    def progress(self) -> str:
        return f"{self.done:,}/{self.total:,} datasets open"


def open_mixture_metadata(
    spec: MixtureSpec, max_workers: int | None = None, fetch: bool = True
) -> MultiDatasetMetadata:
    """The merged metadata of `spec`, and what it reads of its hub datasets fetched (not for streams)."""
    sources, metas, skipped, skipped_episodes = open_sources(spec, max_workers)
    meta = MultiDatasetMetadata(sources, metas, spec)
    meta.skipped, meta.skipped_episodes = skipped, skipped_episodes
    if fetch:
        fetch_read_files(meta, every_camera=spec.reader == "lerobot")
    return meta
