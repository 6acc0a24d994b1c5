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

import fsspec
from fsspec.implementations.http import HTTPFileSystem
from huggingface_hub import hf_hub_url
from huggingface_hub.utils import build_hf_headers

PROTOCOL = "hf-resolve"
WHOLE_ROWS_BYTES = 64 * 2**20
"""A data (parquet) file up to this size is read whole, in one request (its footer, then its row groups
would take several), and kept in memory (`ROWS`): the map-style mixture's cost of it."""


def resolve_root(repo_id: str, commit: str) -> str:
    """The root of a hub dataset's files at `commit`, read by their resolve URLs."""
    return f"{PROTOCOL}://datasets/{repo_id}@{commit}"


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
            head, _, rest = url[len(PROTOCOL) + 3 :].removeprefix("datasets/").partition("@")
            commit, _, rel = rest.partition("/")
            url = hf_hub_url(head, rel, repo_type="dataset", revision=commit)
        return super().encode_url(url)

    def _open(self, path, mode="rb", block_size=None, autocommit=None, cache_type=None, **kwargs):
        size = self.info(path).get("size")
        if path.endswith(".parquet") and size is not None and size <= WHOLE_ROWS_BYTES:
            return io.BytesIO(ROWS.get(path, lambda: self.cat_file(path)))
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
