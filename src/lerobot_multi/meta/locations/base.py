"""The interface of a place a dataset's files live (`Location`), and fetching what a read needs from
many of them at once."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from huggingface_hub.utils import are_progress_bars_disabled

from lerobot_multi.meta import hub

Job = Callable[[], int]
"""One file to fetch: returns its size in bytes."""


@dataclass(frozen=True)
class Location:
    """Where one dataset's files are. Readers read `folder` on this machine; a remote location fetches
    into it what a read needs (`fetch_jobs`). `commit`: the hub commit read (None off the hub).

    Subclasses say how a location opens (`open`: the metadata present in `folder`), which of a read's
    files still need fetching, and what a stream reads in place (`stream_root`)."""

    repo_id: str
    folder: Path
    commit: str | None = None
    is_remote: ClassVar[bool] = False
    """Its files are elsewhere, and `open` fetches its metadata into `folder`."""

    @property
    def fetches(self) -> bool:
        """Whether reads fetch files into `folder` (never a folder the user named)."""
        return self.is_remote

    def open(self) -> Location:
        """This location with its metadata (`meta/`) in `folder`: remote ones resolve their version and
        fetch it; in place, nothing to do."""
        return self

    def when_incomplete(self) -> Location | None:
        """Where to read a dataset whose folder, read in place, lacks a file: None, it is an error."""
        return None

    def fetch_jobs(self, rels: Sequence[str]) -> list[Job]:
        """The downloads that put `rels` (paths relative to the dataset's root) in `folder`; none in place
        (a missing file is the reader's error)."""
        return []

    def stream_root(self) -> str:
        """Where a stream reads the dataset's files in place: `folder` here; for remote ones a URL that
        fsspec opens (lerobot's video decoder does)."""
        return str(self.folder)

    def prepare_stream(self, files: Sequence[str]) -> None:
        """Before a stream reads `files` (URLs under `stream_root()`) in place: nothing, here."""

    def with_commit(self, commit: str | None) -> Location:
        return dataclasses.replace(self, commit=commit)


def fetch_all(
    jobs: Sequence[Job], workers: int = hub.CONNECTIONS, desc: str = "", progress: bool = False
) -> int:
    """Run every download of a mixture's read on `workers` threads (the links are latency-bound);
    returns the bytes fetched. A file is written under a temporary name and moved in place when whole,
    so a failed run leaves no partial file behind."""
    if not jobs:
        return 0
    bar = None
    if progress and not are_progress_bars_disabled():
        from tqdm.auto import tqdm

        bar = tqdm(total=len(jobs), unit="file", desc=desc or "downloading")
    fetched = 0
    with ThreadPoolExecutor(max_workers=min(workers, len(jobs))) as pool:
        for size in pool.map(lambda job: job(), jobs):
            fetched += size
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{fetched / 1e6:.1f} MB")
    if bar is not None:
        bar.close()
    return fetched
