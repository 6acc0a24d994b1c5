"""The hub over HTTP: which commit a revision names, a repo's `meta/` listing, downloading one file, and
the retries and rate-limit waits of every request.

A revision (lerobot's rule: the newest codebase-version tag lerobot reads, or what the user gives)
resolves to a commit SHA with one API call. Where files go, and which to fetch, is the locations'
business (meta/locations/).
"""

from __future__ import annotations

import logging
import re
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TypeVar

from huggingface_hub import HfApi, constants, hf_hub_download
from huggingface_hub.hf_api import RepoFile

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
READ_VERSION = compat.tag_version(compat.CODEBASE_VERSION)


def is_offline() -> bool:
    return bool(constants.HF_HUB_OFFLINE)


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


# --- files ----------------------------------------------------------------------------------------
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


def download(repo_id: str, rel: str, commit: str, where: dict) -> int:
    """One file of a dataset repo at `commit`, where `where` (huggingface_hub's `cache_dir` or
    `local_dir`) says, retried; returns its size. huggingface_hub writes it under a temporary name and
    moves it in place when whole."""
    path = with_retries(
        repo_id,
        rel,
        lambda: hf_hub_download(repo_id, rel, repo_type="dataset", revision=commit, **where),
        kind="resolves",
    )
    return Path(path).stat().st_size


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
