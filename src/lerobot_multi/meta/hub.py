"""Hub datasets: where the installed lerobot keeps them, which commit a revision names, and fetching only
the files a mixture reads, with retries.

A dataset without a named folder lives where lerobot keeps it (`compat.LINE.hub_cache`): on 0.6 in
huggingface_hub's snapshot cache under `HF_LEROBOT_HOME/hub` (one folder per commit, so revisions sit
side by side), on 0.4.4 in `HF_LEROBOT_HOME/<repo_id>`. Its revision (lerobot's rule: the newest
codebase-version tag lerobot reads, or what the user gives) resolves to a commit SHA once, with one
API call, and the SHA is kept in the cache (`refs/<revision>`, as huggingface_hub keeps it), so a
cached, offline or resumed open makes no request. Metadata comes first (one tree listing of `meta/`,
info.json written last, so its presence says the metadata is whole); the data and video files follow
once the mixture knows which episodes and cameras it reads (`fetch_files`).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.hf_api import RepoFile
from huggingface_hub.utils import are_progress_bars_disabled
from lerobot.utils.constants import HF_LEROBOT_HOME

from lerobot_multi import compat
from lerobot_multi.meta.http_answers import (
    describe,
    http_status,
    is_transient,
    response_of_chain,
    retry_after,
)
from lerobot_multi.meta.rate_limits import HubRateLimits, parse_headers
from lerobot_multi.meta.sources import DatasetSourceError

logger = logging.getLogger(__name__)
T = TypeVar("T")

COMMIT = re.compile(r"^[0-9a-f]{40}$")
CONNECTIONS = 16
"""Requests to the hub at once, over all datasets and threads (a link to the hub is latency-bound)."""
_SLOTS = threading.BoundedSemaphore(CONNECTIONS)
RETRY_SECONDS = 120.0
"""How long one request is retried (5xx, dropped or cut connections) before the open fails; a rate
limit (429) is waited out whatever it takes (rate_limits.py)."""
RATE_LIMIT_MAX_S = 3600.0
"""How long one request waits out rate limits in all before it is an error (a server that never
lets it through); the hub's windows last 300 s."""
LIMITS = HubRateLimits()
"""The hub's rate-limit windows as its answers report them, shared by every request of the process."""
_HOOK_LOCK = threading.Lock()
_LISTINGS: dict[tuple[str, str], list[str]] = {}
"""(repo_id, commit) -> its meta/ files, known from a recorded mixture: fetched without a tree listing."""
READ_VERSION = compat.tag_version(compat.CODEBASE_VERSION)


def is_offline() -> bool:
    return bool(constants.HF_HUB_OFFLINE)


def cache_dir(repo_id: str) -> Path:
    """huggingface_hub's cache folder of a dataset repo in lerobot 0.6's cache (`HF_LEROBOT_HOME/hub`)."""
    return HF_LEROBOT_HOME / "hub" / f"datasets--{repo_id.replace('/', '--')}"


def folder_of(repo_id: str, commit: str) -> Path:
    """Where the installed lerobot keeps `repo_id` at `commit`."""
    if compat.LINE.hub_cache == "snapshot":
        return cache_dir(repo_id) / "snapshots" / commit
    return HF_LEROBOT_HOME / repo_id


def is_local_folder(folder: Path) -> bool:
    """`HF_LEROBOT_HOME/<repo_id>` holds a dataset lerobot reads in place: on 0.4.4 any (its download
    folder too); on 0.6 one not written by a `local_dir` download (0.6 fetches those into its cache)."""
    if not (folder / "meta" / "info.json").is_file():
        return False
    return compat.LINE.hub_cache == "folder" or not (folder / ".cache" / "huggingface" / "download").exists()


# --- revisions ------------------------------------------------------------------------------------
def pick_version(repo_id: str, tags: Sequence[str]) -> str:
    """lerobot's rule (`get_safe_version` for the installed codebase version) over a repo's tags: the
    installed version, else the newest same-major one not newer; a repo with only older majors gives
    its newest (v2.1 is read in place); only newer ones is an error."""
    versions = {v: tag for tag in tags if (v := compat.tag_version(tag)) is not None}
    if not versions:
        raise DatasetSourceError(
            f"dataset {repo_id!r}: the repo has no codebase-version tag (v3.0, v2.1): it is not a "
            "LeRobot dataset, or give dataset.revision (a branch, tag or commit)"
        )
    same = [v for v in versions if v.major == READ_VERSION.major and v <= READ_VERSION]
    older = [v for v in versions if v.major < READ_VERSION.major]
    if same or older:
        return versions[max(same or older)]
    raise DatasetSourceError(
        f"dataset {repo_id!r}: its codebase versions {sorted(versions.values())} are newer than "
        f"lerobot {compat.LEROBOT_VERSION} reads ({compat.CODEBASE_VERSION})"
    )


def resolve_revision(repo_id: str, revision: str | None) -> tuple[str, str]:
    """(the revision's name, its commit) from the hub: one API call, retried."""
    refs = with_retries(
        repo_id, "refs", lambda: HfApi().list_repo_refs(repo_id, repo_type="dataset"), kind="api"
    )
    tags = {t.name: t.target_commit for t in refs.tags}
    branches = {b.name: b.target_commit for b in refs.branches}
    if revision in tags or revision in branches:
        return revision, tags.get(revision) or branches[revision]
    if revision is None or _is_version(revision):  # lerobot's rule, as for a missing version tag
        name = pick_version(repo_id, list(tags))
        return name, tags[name]
    raise DatasetSourceError(
        f"dataset {repo_id!r}: revision {revision!r} is not a branch or tag of the repo "
        f"(branches {sorted(branches)}, tags {sorted(tags)})"
    )


def _is_version(name: str) -> bool:
    return compat.tag_version(name) is not None


def is_cached(repo_id: str, commit: str, rel: str) -> bool:
    """`rel` at `commit` is in lerobot's cache. The 0.4.4 folder holds one revision: a file there is
    this commit's when huggingface_hub's download record says so."""
    path = folder_of(repo_id, commit) / rel
    if compat.LINE.hub_cache == "snapshot" or not path.is_file():
        return path.is_file()
    return recorded_commit(repo_id, rel) == commit


def download_record(repo_id: str, rel: str) -> Path | None:
    """huggingface_hub's download record of a file of lerobot 0.4.4's folder (None on 0.6's cache)."""
    if compat.LINE.hub_cache != "folder":
        return None
    return HF_LEROBOT_HOME / repo_id / ".cache" / "huggingface" / "download" / f"{rel}.metadata"


def recorded_commit(repo_id: str, rel: str) -> str | None:
    """The commit huggingface_hub's download record gives a file of lerobot 0.4.4's folder (the first
    line of `.cache/huggingface/download/<rel>.metadata`), or None."""
    record = download_record(repo_id, rel)
    return record.read_text().split("\n", 1)[0].strip() if record and record.is_file() else None


def pinned_elsewhere(repo_id: str, revision: str | None) -> bool:
    """A commit is asked for, and lerobot 0.4.4's folder for this dataset holds another one."""
    held = cached_commit(repo_id, None) if compat.LINE.hub_cache == "folder" else None
    return revision is not None and COMMIT.match(revision) is not None and held not in (None, revision)


def cached_commit(repo_id: str, revision: str | None) -> str | None:
    """The commit lerobot's cache holds for `revision` (None: lerobot's codebase-version rule over the
    cached tags), or None when it holds none."""
    if compat.LINE.hub_cache == "folder":
        return recorded_commit(repo_id, "meta/info.json")
    refs = cache_dir(repo_id) / "refs"
    if revision is None:
        names = [p.name for p in refs.glob("*") if p.is_file() and _is_version(p.name)]
        if not names:
            return None
        revision = pick_version(repo_id, names)
    path = refs / revision
    return path.read_text().strip() if path.is_file() else None


def remember_commit(repo_id: str, revision: str, commit: str) -> None:
    """Keep `revision -> commit` in lerobot 0.6's cache, as huggingface_hub does (`refs/<revision>`)."""
    if compat.LINE.hub_cache != "snapshot" or revision == commit:
        return
    path = cache_dir(repo_id) / "refs" / revision
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(commit)
    except OSError as e:  # a read-only shared cache: the next open resolves the revision again
        logger.warning("dataset %r: cannot record %s -> %s in %s: %s", repo_id, revision, commit, path, e)


def commit_of(repo_id: str, revision: str | None) -> str:
    """The commit a dataset is read at: a given SHA; the cached one for this revision; or, online, the
    hub's (then cached)."""
    if revision is not None and COMMIT.match(revision):
        return revision
    cached = cached_commit(repo_id, revision)
    if cached is not None and is_cached(repo_id, cached, "meta/info.json"):
        return cached
    if is_offline():
        raise DatasetSourceError(
            f"dataset {repo_id!r}: not in lerobot's cache ({folder_of(repo_id, '<commit>')}) at revision "
            f"{revision or compat.CODEBASE_VERSION!r}, and HF_HUB_OFFLINE=1 forbids downloading it"
        )
    name, commit = resolve_revision(repo_id, revision)
    remember_commit(repo_id, name, commit)
    return commit


# --- files ----------------------------------------------------------------------------------------
def remember_listings(listings: dict[tuple[str, str], list[str]]) -> None:
    """Metadata files a recorded mixture names per (repo_id, commit) (a commit's files never change):
    `fetch_metadata` fetches them without listing the repo's tree (an API call)."""
    _LISTINGS.update({key: list(files) for key, files in listings.items()})


def fetch_metadata(repo_id: str, commit: str) -> Path:
    """The dataset's `meta/` at `commit` in lerobot's cache (one tree listing and its files, unless
    cached); returns the dataset's folder. info.json is fetched last: present, the metadata is whole."""
    folder = folder_of(repo_id, commit)
    if is_cached(repo_id, commit, "meta/info.json"):
        return folder
    if is_offline():
        raise DatasetSourceError(
            f"dataset {repo_id!r}: metadata at {commit} is not in lerobot's cache ({folder}) and "
            "HF_HUB_OFFLINE=1 forbids downloading it"
        )
    files = _LISTINGS.get((repo_id, commit)) or list_metadata(repo_id, commit)
    if "meta/info.json" not in files:
        raise DatasetSourceError(f"dataset {repo_id!r}: no meta/info.json at {commit}: not a LeRobot dataset")
    files = [f for f in files if f != "meta/info.json"]
    fetch_files([(repo_id, commit, f) for f in files])
    fetch_files([(repo_id, commit, "meta/info.json")])
    return folder


def list_metadata(repo_id: str, commit: str) -> list[str]:
    """The repo's `meta/` files at `commit`: one tree listing (an API call)."""
    listing = with_retries(
        repo_id,
        "meta/ listing",
        lambda: list(
            HfApi().list_repo_tree(
                repo_id, path_in_repo="meta", recursive=True, revision=commit, repo_type="dataset"
            )
        ),
        kind="api",
    )
    return sorted(e.path for e in listing if isinstance(e, RepoFile))


def fetch_files(wanted: Sequence[tuple[str, str, str]], progress: bool = False) -> int:
    """Download the (repo_id, commit, file) not yet in lerobot's cache, on `CONNECTIONS` threads;
    returns the bytes fetched. A file is written under a temporary name and moved in place when whole
    (huggingface_hub), so a failed run leaves no partial file behind."""
    missing = [w for w in wanted if not is_cached(*w)]
    if not missing:
        return 0
    if is_offline():
        repo_id, commit, rel = missing[0]
        raise DatasetSourceError(
            f"dataset {repo_id!r}: {rel} at {commit} is not in lerobot's cache and HF_HUB_OFFLINE=1 "
            f"forbids downloading it ({len(missing)} files missing)"
        )
    bar = _progress(missing) if progress and not are_progress_bars_disabled() else None
    fetched = 0
    with ThreadPoolExecutor(max_workers=min(CONNECTIONS, len(missing))) as pool:
        for size in pool.map(fetch_file, missing):
            fetched += size
            if bar is not None:
                bar.update(1)
                bar.set_postfix_str(f"{fetched / 1e6:.1f} MB")
    if bar is not None:
        bar.close()
    return fetched


def fetch_file(item: tuple[str, str, str]) -> int:
    repo_id, commit, rel = item
    where = (
        {"cache_dir": HF_LEROBOT_HOME / "hub"}
        if compat.LINE.hub_cache == "snapshot"
        else {"local_dir": HF_LEROBOT_HOME / repo_id}
    )
    path = with_retries(
        repo_id,
        rel,
        lambda: hf_hub_download(repo_id, rel, repo_type="dataset", revision=commit, **where),
        kind="resolves",
    )
    return Path(path).stat().st_size


def _progress(missing: Sequence[tuple[str, str, str]]):
    from tqdm.auto import tqdm

    datasets = len({m[0] for m in missing})
    return tqdm(total=len(missing), unit="file", desc=f"downloading {datasets} datasets")


# --- retries --------------------------------------------------------------------------------------
def observe_answer(response, *args, **kwargs) -> None:
    """huggingface_hub's session hook: every answer's ratelimit headers reach `LIMITS`."""
    LIMITS.observe(response.status_code, response.headers)


def watch_answers() -> None:
    with _HOOK_LOCK:
        compat.watch_hub_answers(observe_answer)


def with_retries(
    repo_id: str, what: str, call: Callable[[], T], budget_s: float | None = None, kind: str = "resolves"
) -> T:
    """`call()`, a request of `kind` ("api" or "resolves"): sent once that kind's rate-limit window
    allows it, sent again after a 429 once the window the hub names ends (any number of times), and
    retried on transient failures for up to `budget_s` (RETRY_SECONDS); a failure that is not
    transient, or outlasts the budget, is a `DatasetSourceError` naming the dataset, the file and the
    HTTP status."""
    budget = RETRY_SECONDS if budget_s is None else budget_s
    start = first = time.monotonic()
    attempt = 0
    while True:
        LIMITS.wait(kind)
        watch_answers()
        try:
            with _SLOTS:
                return call()
        except DatasetSourceError:
            raise
        except Exception as e:  # huggingface_hub, requests and httpx raise many types
            if http_status(e) == 429:
                wait_out_rate_limit(repo_id, what, e, kind, time.monotonic() - first)
                start, attempt = time.monotonic(), attempt + 1
                continue
            wait, spent = retry_after(e, attempt), time.monotonic() - start
            if not is_transient(e) or spent + wait > budget:
                raise fetch_error(repo_id, what, e, attempt, spent) from e
            logger.info("dataset %r: %s: %s; retrying in %.1f s", repo_id, what, describe(e), wait)
            time.sleep(wait)
            attempt += 1


def wait_out_rate_limit(repo_id: str, what: str, error: BaseException, kind: str, waited_s: float) -> None:
    """After a 429: `kind` waits for the end of the window the answer names (the session hook has
    usually paused it already); an error only once one request has waited `RATE_LIMIT_MAX_S`."""
    if waited_s >= RATE_LIMIT_MAX_S:
        raise DatasetSourceError(
            f"dataset {repo_id!r}: cannot fetch {what}: HTTP 429 for {waited_s:.0f} s, longer than "
            f"a request waits out rate limits ({RATE_LIMIT_MAX_S:g} s): {error}"
        ) from error
    if LIMITS.held(kind) <= 0:
        response = response_of_chain(error)
        state = parse_headers(response.headers) if response is not None else None
        LIMITS.pause(kind, state.reset_s if state else retry_after(error, 0), state)


def fetch_error(
    repo_id: str, what: str, error: BaseException, attempt: int, spent: float
) -> DatasetSourceError:
    tries = f" (gave up after {attempt + 1} tries in {spent:.1f} s)" if is_transient(error) else ""
    return DatasetSourceError(f"dataset {repo_id!r}: cannot fetch {what}: {describe(error)}{tries}: {error}")
