"""Hub datasets in lerobot's cache: where the installed lerobot keeps them (`CacheLayout`), a hub repo
fetched into it (`HubRepo`), and a recording lerobot reads in place under `HF_LEROBOT_HOME/<repo_id>`
(`RecordingFolder`).

On lerobot 0.6 a hub dataset lives in huggingface_hub's snapshot cache under `HF_LEROBOT_HOME/hub` (one
folder per commit, so revisions sit side by side); on 0.4.4 in `HF_LEROBOT_HOME/<repo_id>`, one
revision at a time, each file's commit in huggingface_hub's download record. A revision resolves to a
commit once (meta/hub.py) and is kept in the cache (`refs/<revision>`), so a cached, offline or
resumed open makes no request. Metadata comes first (one tree listing of `meta/`, info.json last, so
its presence says the metadata is whole); the data and video files follow once the mixture knows what
it reads.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from lerobot.utils.constants import HF_LEROBOT_HOME

from lerobot_multi import compat
from lerobot_multi.meta import hub
from lerobot_multi.meta.locations.base import Job, Location, fetch_all
from lerobot_multi.meta.locations.hub_files import prepare, resolve_root
from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)
_LISTINGS: dict[tuple[str, str], list[str]] = {}
"""(repo_id, commit) -> its meta/ files, known from a recorded mixture: fetched without a tree listing."""


class CacheLayout:
    """lerobot 0.6's cache: huggingface_hub's snapshot cache under `HF_LEROBOT_HOME/hub`."""

    def repo_dir(self, repo_id: str) -> Path:
        return HF_LEROBOT_HOME / "hub" / f"datasets--{repo_id.replace('/', '--')}"

    def folder(self, repo_id: str, commit: str) -> Path:
        return self.repo_dir(repo_id) / "snapshots" / commit

    def download_args(self, repo_id: str) -> dict:
        return {"cache_dir": HF_LEROBOT_HOME / "hub"}

    def is_cached(self, repo_id: str, commit: str, rel: str) -> bool:
        return (self.folder(repo_id, commit) / rel).is_file()

    def download_record(self, repo_id: str, rel: str) -> Path | None:
        """huggingface_hub's record of a downloaded file, where the layout keeps one."""
        return None

    def is_recording(self, folder: Path) -> bool:
        """`HF_LEROBOT_HOME/<repo_id>` holds a dataset lerobot reads in place (0.6: one not written by a
        `local_dir` download, which 0.6 fetches into its cache)."""
        meta = folder / "meta" / "info.json"
        return meta.is_file() and not (folder / ".cache" / "huggingface" / "download").exists()

    def cached_commit(self, repo_id: str, revision: str | None) -> str | None:
        """The commit the cache holds for `revision` (None: lerobot's codebase-version rule over the
        cached tags), or None."""
        refs = self.repo_dir(repo_id) / "refs"
        if revision is None:
            names = [p.name for p in refs.glob("*") if p.is_file() and compat.tag_version(p.name)]
            if not names:
                return None
            revision = hub.pick_version(repo_id, names)
        path = refs / revision
        return path.read_text().strip() if path.is_file() else None

    def remember(self, repo_id: str, revision: str, commit: str) -> None:
        """Keep `revision -> commit` as huggingface_hub does (`refs/<revision>`)."""
        if revision == commit:
            return
        path = self.repo_dir(repo_id) / "refs" / revision
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(commit)
        except OSError as e:  # a read-only shared cache: the next open resolves the revision again
            logger.warning("dataset %r: cannot record %s -> %s in %s: %s", repo_id, revision, commit, path, e)

    def pinned_elsewhere(self, repo_id: str, revision: str | None) -> bool:
        """A commit is asked for, and the one folder of this dataset holds another (0.4.4 only)."""
        return False


class DownloadFolder(CacheLayout):
    """lerobot 0.4.4's cache: `HF_LEROBOT_HOME/<repo_id>`, one revision at a time, each file's commit in
    huggingface_hub's download record (`.cache/huggingface/download/<rel>.metadata`)."""

    def folder(self, repo_id: str, commit: str) -> Path:
        return HF_LEROBOT_HOME / repo_id

    def download_args(self, repo_id: str) -> dict:
        return {"local_dir": HF_LEROBOT_HOME / repo_id}

    def is_cached(self, repo_id: str, commit: str, rel: str) -> bool:
        return (self.folder(repo_id, commit) / rel).is_file() and self.recorded_commit(repo_id, rel) == commit

    def download_record(self, repo_id: str, rel: str) -> Path | None:
        return HF_LEROBOT_HOME / repo_id / ".cache" / "huggingface" / "download" / f"{rel}.metadata"

    def recorded_commit(self, repo_id: str, rel: str) -> str | None:
        record = self.download_record(repo_id, rel)
        return record.read_text().split("\n", 1)[0].strip() if record and record.is_file() else None

    def is_recording(self, folder: Path) -> bool:
        return (folder / "meta" / "info.json").is_file()  # lerobot 0.4.4 reads its download folder too

    def cached_commit(self, repo_id: str, revision: str | None) -> str | None:
        return self.recorded_commit(repo_id, "meta/info.json")

    def remember(self, repo_id: str, revision: str, commit: str) -> None:
        """The download records keep each file's commit."""

    def pinned_elsewhere(self, repo_id: str, revision: str | None) -> bool:
        held = self.cached_commit(repo_id, None)
        return (
            revision is not None and hub.COMMIT.match(revision) is not None and held not in (None, revision)
        )


LAYOUTS = {"snapshot": CacheLayout(), "folder": DownloadFolder()}
LAYOUT = LAYOUTS[compat.LINE.hub_cache]
"""The installed lerobot's cache."""


def remember_listings(listings: dict[tuple[str, str], list[str]]) -> None:
    """Metadata files a recorded mixture names per (repo_id, commit) (a commit's files never change):
    `HubRepo.open` fetches them without listing the repo's tree (an API call)."""
    _LISTINGS.update({key: list(files) for key, files in listings.items()})


@dataclass(frozen=True)
class HubRepo(Location):
    """A hub dataset repo, fetched into lerobot's cache at one commit (`revision`: lerobot's rule when
    None; `commit`, once known, pins it)."""

    revision: str | None = None
    is_remote: ClassVar[bool] = True

    @classmethod
    def of(cls, repo_id: str, revision: str | None, commit: str | None = None) -> HubRepo:
        folder = LAYOUT.folder(repo_id, commit or "<commit>")
        return cls(repo_id=repo_id, folder=folder, commit=commit, revision=revision)

    def open(self) -> HubRepo:
        commit = self.commit or self.resolve_commit()
        located = HubRepo.of(self.repo_id, self.revision, commit)
        if not LAYOUT.is_cached(self.repo_id, commit, "meta/info.json"):
            located.fetch_metadata()
        return located

    def resolve_commit(self) -> str:
        """A given SHA; the cached one for this revision; or, online, the hub's (then cached)."""
        repo_id, revision = self.repo_id, self.revision
        if revision is not None and hub.COMMIT.match(revision):
            return revision
        cached = LAYOUT.cached_commit(repo_id, revision)
        if cached is not None and LAYOUT.is_cached(repo_id, cached, "meta/info.json"):
            return cached
        if hub.is_offline():
            raise DatasetSourceError(
                f"dataset {repo_id!r}: not in lerobot's cache ({self.folder}) at revision "
                f"{revision or compat.CODEBASE_VERSION!r}, and HF_HUB_OFFLINE=1 forbids downloading it"
            )
        name, commit = hub.resolve_revision(repo_id, revision)
        LAYOUT.remember(repo_id, name, commit)
        return commit

    def fetch_metadata(self) -> None:
        """`meta/` at the commit (one tree listing unless a recorded mixture names the files), info.json
        last: present, the metadata is whole."""
        repo_id, commit = self.repo_id, self.commit
        if hub.is_offline():
            raise DatasetSourceError(
                f"dataset {repo_id!r}: metadata at {commit} is not in lerobot's cache ({self.folder}) and "
                "HF_HUB_OFFLINE=1 forbids downloading it"
            )
        files = _LISTINGS.get((repo_id, commit)) or hub.list_metadata(repo_id, commit)
        if "meta/info.json" not in files:
            raise DatasetSourceError(
                f"dataset {repo_id!r}: no meta/info.json at {commit}: not a LeRobot dataset"
            )
        fetch_all(self.fetch_jobs([f for f in files if f != "meta/info.json"]))
        fetch_all(self.fetch_jobs(["meta/info.json"]), 1)

    def fetch_jobs(self, rels: Sequence[str]) -> list[Job]:
        missing = [rel for rel in rels if not LAYOUT.is_cached(self.repo_id, self.commit, rel)]
        if missing and hub.is_offline():
            raise DatasetSourceError(
                f"dataset {self.repo_id!r}: {missing[0]} at {self.commit} is not in lerobot's cache and "
                f"HF_HUB_OFFLINE=1 forbids downloading it ({len(missing)} files missing)"
            )
        where = LAYOUT.download_args(self.repo_id)
        return [functools.partial(hub.download, self.repo_id, rel, self.commit, where) for rel in missing]

    def stream_root(self) -> str:
        return resolve_root(self.repo_id, self.commit)

    def prepare_stream(self, files: Sequence[str]) -> None:
        """Each data file's size asked once, retried and rate-limit paced as the open's requests."""
        prepare(files)


@dataclass(frozen=True)
class RecordingFolder(Location):
    """A dataset at `HF_LEROBOT_HOME/<repo_id>` that lerobot reads in place: a local recording, or on
    0.4.4 its download folder (`commit`: the one its download records name). Incomplete, it is fetched
    from the hub instead (`when_incomplete`)."""

    revision: str | None = None

    @property
    def fetches(self) -> bool:
        """lerobot 0.4.4's download folder fetches the files a read lacks, at its commit."""
        return self.commit is not None and LAYOUT.folder(self.repo_id, self.commit) == self.folder

    def when_incomplete(self) -> HubRepo:
        return HubRepo.of(self.repo_id, self.revision)

    def open(self) -> RecordingFolder:
        return self.with_commit(LAYOUT.cached_commit(self.repo_id, self.revision))

    def fetch_jobs(self, rels: Sequence[str]) -> list[Job]:
        if not self.fetches:
            return []
        return HubRepo.of(self.repo_id, self.revision, self.commit).fetch_jobs(rels)
