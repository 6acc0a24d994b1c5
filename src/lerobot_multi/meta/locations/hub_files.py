"""Reading a hub repo's files in place by their `resolve` URLs (`hf-resolve://datasets/<repo>@<commit>/
<path>`), for streams: HTTP range requests, which the hub meters as file resolves, never as API calls.

lerobot's stream reads `hf://` paths through `HfFileSystem`, which asks the API for every file's
details and lists the repo's data files: about 7 API calls per dataset, the scarce kind (1,000 per
5 minutes on a free account). A dataset whose commit and metadata are known (a metadata pack, a
recorded mixture, the cache) needs none of them.
"""

from __future__ import annotations

import io
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from types import SimpleNamespace
from typing import TypeVar

import aiohttp
import fsspec
from fsspec.implementations.http import HTTPFileSystem
from huggingface_hub import hf_hub_url
from huggingface_hub.utils import build_hf_headers

from lerobot_multi.meta import hub

T = TypeVar("T")
PROTOCOL = "hf-resolve"
WHOLE_ROWS_BYTES = 64 * 2**20
"""A data (parquet) file up to this size is read whole, in one request (its footer, then its row groups
would take several), and kept in memory (`ROWS`): the map-style mixture's cost of it."""


def resolve_root(repo_id: str, commit: str) -> str:
    """The root of a hub dataset's files at `commit`, read by their resolve URLs."""
    return f"{PROTOCOL}://datasets/{repo_id}@{commit}"


def parts_of(path: str) -> tuple[str, str, str]:
    """(repo_id, commit, file) of an `hf-resolve://` path."""
    head, _, rest = path[len(PROTOCOL) + 3 :].removeprefix("datasets/").partition("@")
    commit, _, rel = rest.partition("/")
    return head, commit, rel


class ResolveFailed(OSError):
    """A resolve URL's failed answer, carried as huggingface_hub's errors carry theirs (`response`),
    so that `hub.with_retries` retries it, or waits out a 429, as any request of the open."""

    def __init__(self, status: int, headers, url: str) -> None:
        super().__init__(f"HTTP {status} for {url}")
        self.response = SimpleNamespace(status_code=status, headers=dict(headers or {}))


def answered(path: str, call: Callable[[], T]) -> T:
    """`call()` (one request for `path`) through `hub.with_retries`: transient faults retried within its
    budget, rate limits waited out; aiohttp's failures in the shape it reads."""
    repo_id, _, rel = parts_of(path)

    def once() -> T:
        try:
            return call()
        except FileNotFoundError as e:  # fsspec's answer to any failed HEAD/GET of `info`
            cause = e.__cause__
            if isinstance(cause, aiohttp.ClientResponseError) and cause.status != 404:
                raise ResolveFailed(cause.status, cause.headers, path) from e
            if isinstance(cause, aiohttp.ClientConnectionError):
                raise ConnectionError(f"{path}: {cause}") from e
            raise
        except aiohttp.ClientResponseError as e:
            raise ResolveFailed(e.status, e.headers, path) from e
        except aiohttp.ClientConnectionError as e:
            raise ConnectionError(f"{path}: {e}") from e

    return hub.with_retries(repo_id, rel, once, kind="resolves")


def prepare(paths: Sequence[str]) -> None:
    """Ask each file's size once, with retries, before a stream globs them (its glob asks again, and
    would take a transient failure for a missing file)."""
    fs = fsspec.filesystem(PROTOCOL)
    for path in paths:
        answered(path, lambda path=path: fs.info(path))


class HubResolveFileSystem(HTTPFileSystem):
    """`hf-resolve://datasets/<repo>@<commit>/<path>`: the file's resolve URL on the hub the process is
    configured for (`HF_ENDPOINT`), with huggingface_hub's headers (its token, where one is set), sent
    to that hub only."""

    protocol = PROTOCOL

    def __init__(self, **storage_options):
        super().__init__(headers=build_hf_headers(), **storage_options)

    async def _info(self, url, **kwargs):
        with _LOCK:
            known = _INFOS.get(url)
        if known is None:
            known = await super()._info(url, **kwargs)
            with _LOCK:
                _INFOS[url] = known
        return known

    async def _exists(self, path, strict=False, **kwargs):
        try:
            await self._info(path)
        except FileNotFoundError:
            return False
        return True

    @classmethod
    def _strip_protocol(cls, path: str) -> str:
        return path  # paths keep their scheme, so no one mistakes them for the hub's own URLs

    def encode_url(self, url: str):
        """Every request's URL: an `hf-resolve://` path becomes its resolve URL (fsspec's HTTP
        filesystem builds each request through this method)."""
        if url.startswith(f"{PROTOCOL}://"):
            repo_id, commit, rel = parts_of(url)
            url = hf_hub_url(repo_id, rel, repo_type="dataset", revision=commit)
        return super().encode_url(url)

    def _open(self, path, mode="rb", block_size=None, autocommit=None, cache_type=None, **kwargs):
        size = answered(path, lambda: self.info(path)).get("size")
        if path.endswith(".parquet") and size is not None and size <= WHOLE_ROWS_BYTES:
            return io.BytesIO(ROWS.get(path, lambda: answered(path, lambda: self.cat_file(path))))
        return super()._open(path, mode, block_size, autocommit, cache_type, size=size, **kwargs)


class RowFiles:
    """Small data files' bytes, kept per process up to `limit` bytes (least recently used out): a
    stream opens a file to read its schema and again for its rows, and again each pass."""

    def __init__(self, limit: int) -> None:
        self.limit, self.files, self.lock = limit, OrderedDict(), threading.Lock()

    def get(self, path: str, fetch) -> bytes:
        with self.lock:
            if path in self.files:
                self.files.move_to_end(path)
                return self.files[path]
        data = fetch()
        with self.lock:
            self.files[path] = data
            while sum(len(d) for d in self.files.values()) > self.limit and len(self.files) > 1:
                self.files.popitem(last=False)
        return data


_LOCK = threading.Lock()
_INFOS: dict[str, dict] = {}  # a commit's files never change: each is asked about once per process
ROWS = RowFiles(4 * WHOLE_ROWS_BYTES)


fsspec.register_implementation(PROTOCOL, HubResolveFileSystem, clobber=True)
