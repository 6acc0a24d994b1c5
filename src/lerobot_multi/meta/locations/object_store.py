"""A dataset in an object store or any fsspec filesystem (`s3://bucket/prefix/lab/so100_a`, `gs://...`,
`file://...`).

Map-style reads fetch what they read into a local cache keyed by the URL (`HF_LEROBOT_HOME/stores/
<protocol>/<bucket>/<prefix>`), each file with the object version it was fetched at (its ETag, else
size and modification time): a changed object is fetched again, an unchanged one never, and offline
(`HF_HUB_OFFLINE=1`) the cache is read as it is. Streams read the objects in place (fsspec byte
ranges). Credentials and endpoints come from the filesystem's usual environment and config files
(for S3: `AWS_ACCESS_KEY_ID`, `AWS_PROFILE`, `~/.aws/`, `AWS_ENDPOINT_URL`), never from a config of ours.
Nothing is ever written to a store.
"""

from __future__ import annotations

import functools
import json
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import fsspec
import fsspec.core
from fsspec.registry import known_implementations
from lerobot.utils.constants import HF_LEROBOT_HOME

from lerobot_multi.meta import hub
from lerobot_multi.meta.locations.base import Job, Location, fetch_all
from lerobot_multi.meta.sources import DatasetSourceError

STORE_CACHE = HF_LEROBOT_HOME / "stores"
_RECORDS = ".lerobot-multi"  # inside a cached dataset: the store's listing and each file's version


def cache_folder(url: str) -> Path:
    """The local folder a store dataset's files are fetched into, keyed by its URL."""
    protocol, path = url.split("://", 1)
    parts = [p for p in path.split("/") if p not in ("", ".", "..")]
    return STORE_CACHE.joinpath(protocol, *parts)


def filesystem(repo_id: str, url: str) -> fsspec.AbstractFileSystem:
    """The fsspec filesystem of `url` (fsspec keeps one per protocol and process), or an error naming the
    package to install when no driver for it is."""
    protocol = url.split("://", 1)[0]
    try:
        return fsspec.filesystem(protocol)
    except (ImportError, ValueError) as e:
        known = known_implementations.get(protocol)
        hint = f": {known['err']}" if known else " (no fsspec filesystem has this name)"
        raise DatasetSourceError(
            f"dataset {repo_id!r}: dataset.root {url!r}: cannot read '{protocol}://'{hint}"
        ) from e


def object_version(info: dict) -> str:
    """What changes when an object does: its ETag where the store gives one, else size and mtime."""
    for key in ("ETag", "etag", "md5Hash", "crc32c"):
        if info.get(key):
            return str(info[key]).strip('"')
    return f"{info.get('size')}-{info.get('mtime') or info.get('LastModified') or info.get('updated')}"


def store_error(repo_id: str, url: str, error: BaseException, rel: str | None = None) -> DatasetSourceError:
    """A store's failure as an error naming the dataset and the field (no credential is ever printed:
    the drivers' messages name none)."""
    name = type(error).__name__
    if name in ("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"):
        why = "no credentials found (for S3: AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE or ~/.aws/credentials)"
    elif isinstance(error, FileNotFoundError):
        why = "no such bucket or prefix"
    elif isinstance(error, PermissionError):
        why = "access denied"
    else:
        why = f"{name}: {error}"
    what = f"cannot fetch {rel} from " if rel else ""
    return DatasetSourceError(f"dataset {repo_id!r}: {what}dataset.root {url!r}: {why}")


@dataclass(frozen=True)
class StoreLocation(Location):
    """A dataset under an fsspec URL, fetched file by file into `cache_folder(url)`."""

    url: str = ""
    listing: dict[str, str] | None = field(default=None, compare=False, repr=False)
    is_remote: ClassVar[bool] = True

    @classmethod
    def of(cls, repo_id: str, url: str) -> StoreLocation:
        return cls(repo_id=repo_id, folder=cache_folder(url), url=url.rstrip("/"))

    def open(self) -> StoreLocation:
        """The store's listing (one request, or the recorded one offline), and `meta/` fetched where its
        objects changed; info.json last, so its presence says the metadata is whole."""
        listing = self.recorded_listing() if hub.is_offline() else self.list_objects()
        located = StoreLocation(self.repo_id, self.folder, None, self.url, listing)
        meta = sorted(rel for rel in listing if rel.startswith("meta/"))
        if "meta/info.json" not in meta:
            raise DatasetSourceError(
                f"dataset {self.repo_id!r}: dataset.root {self.url!r} holds no meta/info.json: not a "
                "LeRobot dataset"
            )
        fetch_all(located.fetch_jobs([r for r in meta if r != "meta/info.json"]))
        fetch_all(located.fetch_jobs(["meta/info.json"]), 1)
        if not hub.is_offline():
            located.write_record("listing.json", json.dumps(listing))
        return located

    def list_objects(self) -> dict[str, str]:
        """{path under the dataset: object version} of every object under the URL."""
        fs = filesystem(self.repo_id, self.url)
        try:
            found = fs.find(self.url, detail=True)
        except Exception as e:  # each driver raises its own types
            raise store_error(self.repo_id, self.url, e) from e
        base = fsspec.core.strip_protocol(self.url).rstrip("/") + "/"
        listing = {p[len(base) :]: object_version(i) for p, i in found.items() if p.startswith(base)}
        if not listing:
            raise store_error(self.repo_id, self.url, FileNotFoundError(self.url))
        return listing

    def recorded_listing(self) -> dict[str, str]:
        path = self.folder / _RECORDS / "listing.json"
        if not path.is_file():
            raise DatasetSourceError(
                f"dataset {self.repo_id!r}: dataset.root {self.url!r} is not in the local cache "
                f"({self.folder}) and HF_HUB_OFFLINE=1 forbids reading the store"
            )
        return json.loads(path.read_text())

    def current_listing(self) -> dict[str, str]:
        return self.listing if self.listing is not None else self.recorded_listing()

    def fetch_jobs(self, rels: Sequence[str]) -> list[Job]:
        listing = self.current_listing()
        absent = [rel for rel in rels if rel not in listing]
        if absent:
            raise DatasetSourceError(
                f"dataset {self.repo_id!r}: dataset.root {self.url!r} has no {absent[0]} "
                f"({len(absent)} files missing)"
            )
        stale = [rel for rel in rels if self.fetched_version(rel) != listing[rel]]
        if stale and hub.is_offline():
            raise DatasetSourceError(
                f"dataset {self.repo_id!r}: {stale[0]} of {self.url!r} is not in the local cache "
                f"({self.folder}) and HF_HUB_OFFLINE=1 forbids reading the store ({len(stale)} files missing)"
            )
        return [functools.partial(self.fetch_one, rel, listing[rel]) for rel in stale]

    def fetched_version(self, rel: str) -> str | None:
        record = self.folder / _RECORDS / "versions" / rel
        if not (self.folder / rel).is_file() or not record.is_file():
            return None
        return record.read_text()

    def fetch_one(self, rel: str, version: str) -> int:
        """One object into the cache under a temporary name, moved in place when whole, then its
        version recorded."""
        fs, target = filesystem(self.repo_id, self.url), self.folder / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        partial = target.with_name(f"{target.name}.{os.getpid()}.{threading.get_ident()}.partial")
        try:
            fs.get_file(f"{self.url}/{rel}", str(partial))
        except Exception as e:  # each driver raises its own types
            partial.unlink(missing_ok=True)
            raise store_error(self.repo_id, self.url, e, rel) from e
        partial.replace(target)
        self.write_record(f"versions/{rel}", version)
        return target.stat().st_size

    def write_record(self, rel: str, text: str) -> None:
        path = self.folder / _RECORDS / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f"{path.name}.{os.getpid()}.{threading.get_ident()}.partial")
        partial.write_text(text)
        partial.replace(path)

    def stream_root(self) -> str:
        return self.url
