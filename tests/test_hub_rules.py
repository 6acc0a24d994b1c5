"""The hub's pure rules, in-process: lerobot's revision rule over tags, per-dataset revisions, the
resume pin, which failures are retried and for how long, and the progress-bar lock race of parallel
opens (tests/test_hub.py runs them end to end against a loopback hub)."""

from __future__ import annotations

import json
import threading
import time

import pytest
from huggingface_hub.utils import tqdm as hub_tqdm
from tqdm.contrib.concurrent import thread_map

from lerobot_multi.compat import CODEBASE_VERSION
from lerobot_multi.meta import http_answers, hub
from lerobot_multi.meta.parallel import hold_progress_bar_locks
from lerobot_multi.meta.sources import DatasetSourceError, revisions_of
from lerobot_multi.train.manifest import pinned_revisions


def test_codebase_version_is_lerobots():
    from lerobot.datasets.lerobot_dataset import CODEBASE_VERSION as lerobots

    assert lerobots == CODEBASE_VERSION


@pytest.mark.parametrize(
    ("tags", "picked"),
    [
        (["v3.0", "v2.1", "main-ish"], "v3.0"),
        (["v2.1", "v2.0"], "v2.1"),  # only older majors: the newest, read in place
        (["v3.0", "v3.1"], "v3.0"),  # a newer minor is not read
    ],
)
def test_pick_version_is_lerobots_rule(tags, picked):
    assert hub.pick_version("org/x", tags) == picked


def test_pick_version_errors_name_the_dataset():
    with pytest.raises(DatasetSourceError, match="'org/x': the repo has no codebase-version tag"):
        hub.pick_version("org/x", ["main", "release"])
    with pytest.raises(DatasetSourceError, match="'org/x': its codebase versions .* are newer"):
        hub.pick_version("org/x", ["v4.0"])


def test_revisions_one_for_all_or_per_dataset():
    ids = ["org/a", "org/b"]
    assert revisions_of(None, ids) == {"org/a": None, "org/b": None}
    assert revisions_of("v2.1", ids) == {"org/a": "v2.1", "org/b": "v2.1"}
    assert revisions_of({"org/b": "a" * 40}, ids) == {"org/a": None, "org/b": "a" * 40}
    with pytest.raises(DatasetSourceError, match=r"dataset.revision names \['org/typo'\]"):
        revisions_of({"org/typo": "main"}, ids)
    with pytest.raises(DatasetSourceError, match=r"dataset.revision\['org/a'\]"):
        revisions_of({"org/a": 3}, ids)


def test_resume_pins_the_recorded_commits_of_unchanged_revisions():
    sha = "b" * 40
    saved = {
        "datasets": [
            {"repo_id": "org/a", "revision": None, "commit": sha},
            {"repo_id": "org/b", "revision": "v2.1", "commit": "c" * 40},
            {"repo_id": "lab/local", "revision": None, "commit": None},
        ]
    }
    ids = ["org/a", "org/b", "lab/local"]
    assert pinned_revisions(None, saved, ids) == {"org/a": sha}  # org/b's revision changed: not pinned
    assert pinned_revisions({"org/b": "v2.1"}, saved, ids) == {"org/a": sha, "org/b": "c" * 40}
    assert pinned_revisions(None, {"datasets": []}, ids) is None


class Answer(Exception):
    def __init__(self, status: int, retry_after: str | None = None, headers: dict | None = None):
        super().__init__(f"HTTP {status}")
        headers = {"Retry-After": retry_after, **(headers or {})}
        self.response = type("R", (), {"status_code": status, "headers": headers})()


def test_which_failures_are_retried():
    assert http_answers.is_transient(Answer(503)) and http_answers.is_transient(Answer(500))
    assert not http_answers.is_transient(
        Answer(429)
    )  # a rate limit: waited out, not a fault (rate_limits.py)
    assert not http_answers.is_transient(Answer(404)) and not http_answers.is_transient(Answer(401))
    assert http_answers.is_transient(
        OSError("Consistency check failed: file should be of size 10 but has size 5")
    )
    assert not http_answers.is_transient(ValueError("bad"))
    assert http_answers.is_transient(json.JSONDecodeError("Unterminated string", "{", 1))
    assert http_answers.retry_after(Answer(429, "2.5"), 0) == 2.5
    assert (
        http_answers.retry_after(Answer(503), 3) == 4.0 and http_answers.retry_after(Answer(503), 10) == 8.0
    )


def test_with_retries_honours_retry_after_and_its_budget():
    calls = []

    def flaky():
        calls.append(time.monotonic())
        if len(calls) < 3:
            raise Answer(503, "0.05")
        return "ok"

    assert hub.with_retries("org/a", "meta/info.json", flaky, budget_s=5) == "ok" and len(calls) == 3
    with pytest.raises(DatasetSourceError, match=r"'org/a': cannot fetch data/x.parquet: HTTP 503 \(gave up"):
        hub.with_retries("org/a", "data/x.parquet", lambda: (_ for _ in ()).throw(Answer(503, "0.05")), 0.2)
    with pytest.raises(DatasetSourceError, match=r"cannot fetch meta/info.json: HTTP 404: HTTP 404"):
        hub.with_retries("org/a", "meta/info.json", lambda: (_ for _ in ()).throw(Answer(404)))


def test_parallel_downloads_keep_the_progress_bar_lock():
    """huggingface_hub's thread_map deletes a tqdm class lock it created while other threads use it;
    with the locks held first, concurrent maps never miss it."""
    hold_progress_bar_locks()
    errors = []

    def work():
        try:
            for _ in range(100):
                thread_map(lambda x: x, range(3), tqdm_class=hub_tqdm, max_workers=2, disable=True)
        except Exception as e:  # the race's AttributeError
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == [] and "_lock" in vars(hub_tqdm)


def test_config_pins_a_commit_per_dataset():
    from lerobot_multi import MixtureSpec, MultiDatasetConfig

    sha = "d" * 40
    cfg = MultiDatasetConfig(repo_id="[org/a,org/b]", revision=f"{{org/b: {sha}}}")
    assert [s.revision for s in MixtureSpec.from_config(cfg).sources()] == [None, sha]
    with pytest.raises(DatasetSourceError, match=r"dataset.revision names \['org/c'\]"):
        MultiDatasetConfig(repo_id="[org/a,org/b]", revision="{org/c: main}")


def test_a_rate_limit_is_waited_out_beyond_the_fault_budget(monkeypatch):
    """Two 429s naming a 30 s window end: the request waits them out (fake clock) though its fault
    budget is 0.1 s, and a fault after them still gets the whole budget."""
    from lerobot_multi.meta.rate_limits import HubRateLimits

    now = [0.0]
    limits = HubRateLimits(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    monkeypatch.setattr(hub, "LIMITS", limits)
    monkeypatch.setattr(hub, "watch_answers", lambda: None)  # no session here: the error path alone
    answers = [Answer(429, headers={"RateLimit": '"api";r=0;t=30'})] * 2 + [Answer(503, "0.01")]

    def call():
        if answers:
            raise answers.pop(0)
        return "ok"

    assert hub.with_retries("org/a", "refs", call, budget_s=0.1, kind="api") == "ok"
    assert now[0] >= 60 and limits.held("api") == 0 and limits.held("resolves") == 0
