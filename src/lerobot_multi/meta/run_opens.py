"""One open per dataset per run: inside `one_open_per_run()`, each dataset's metadata is read once and
each episode checked once, however many mixtures the run opens (lerobot-multi-train opens the held-out
split's, the training mixture and the validation mixture).

Metadata is keyed by where a dataset is read (repo_id, folder, revision, commit); an open of the same
dataset with another episode selection reuses it (the selection's ids are checked again). Episode
check results are kept per dataset and checks, and only episodes not yet checked are checked.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager

from lerobot_multi.meta.source_meta import SourceMetadata, check_episode_selection
from lerobot_multi.meta.sources import DatasetSource


class RunOpens:
    """The run's opened metadata and episode-check results, and how often each was computed."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.metas: dict[tuple, SourceMetadata] = {}
        self.checked: dict[tuple, dict[int, str | None]] = {}
        self.opens = 0  # metadata reads
        self.checks = 0  # episode-check passes over a dataset

    def metadata(self, source: DatasetSource, load: Callable[[DatasetSource], object]):
        key = (
            source.repo_id,
            str(source.root),
            source.explicit_root,
            source.url,
            source.revision,
            source.commit,
        )
        with self.lock:
            known = self.metas.get(key)
        if known is not None:
            check_episode_selection(source, known.total_episodes)
            return known
        meta = load(source)
        if isinstance(meta, SourceMetadata):
            with self.lock:
                self.metas[key] = meta
                self.opens += 1
        return meta

    def failures(
        self,
        key: tuple,
        episodes: Sequence[int],
        check: Callable[[Sequence[int]], dict[int, str]],
    ) -> dict[int, str]:
        """{episode: reason} among `episodes`, checking (with `check`) only those not checked before."""
        with self.lock:
            seen = self.checked.setdefault(key, {})
            todo = [int(e) for e in episodes if int(e) not in seen]
        if todo:
            found = check(todo)
            with self.lock:
                seen.update({e: found.get(e) for e in todo})
                self.checks += 1
        return {int(e): seen[int(e)] for e in episodes if seen[int(e)] is not None}


_RUNS: list[RunOpens] = []


@contextmanager
def one_open_per_run() -> Iterator[RunOpens]:
    """Share metadata and episode checks between every mixture opened inside (this process)."""
    run = RunOpens()
    _RUNS.append(run)
    try:
        yield run
    finally:
        _RUNS.remove(run)


def current_run() -> RunOpens | None:
    return _RUNS[-1] if _RUNS else None
