"""The hub's rate limits against the loopback hub with a fixed-window limiter (hub_proxy.FixedWindows,
the hub's headers on every answer): a spent quota is waited out, said once, and never leaves a dataset
out; successful answers pace the open. Windows are scaled down: 4 s for the hub's 300 s."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
import torch
from builders import build_dataset
from loopback_hub import OLAH, LoopbackHub
from test_hub import CLIENT, CLIENT_TIMEOUT_S, assert_lerobots_samples, client

from lerobot_multi.meta.hub import CONNECTIONS
from lerobot_multi.meta.rate_limits import HubRateLimits, parse_headers

pytestmark = pytest.mark.skipif(not OLAH.exists(), reason=f"no olah at {OLAH}: run `make hub-venv`")
IDS = [f"rl/s{i:02d}" for i in range(10)]
WINDOW_S = 4.0


@pytest.fixture(scope="module")
def limited_hub(tmp_path_factory):
    work = tmp_path_factory.mktemp("limited_hub")
    server = LoopbackHub(work).start()
    for i, repo_id in enumerate(IDS):
        server.publish(
            build_dataset(work / "built" / repo_id, repo_id, [4 + i % 3], camera=None, seed=i), repo_id
        )
    yield server
    server.stop()


def test_headers_parse_as_the_hub_sends_them():
    state = parse_headers(
        {"RateLimit": '"api";r=0;t=55', "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'}
    )
    assert (state.name, state.remaining, state.reset_s, state.quota, state.window_s) == (
        "api",
        0,
        55,
        1000,
        300,
    )
    assert parse_headers({"Content-Type": "application/json"}) is None
    said, now = [], [100.0]
    limits = HubRateLimits(clock=lambda: now[0], sleep=lambda s: now.__setitem__(0, now[0] + s))
    limits.progress = lambda: "1,204/3,230 datasets open"
    limits.message = lambda *a, f=limits.message: said.append(f(*a)) or said[-1]
    assert limits.observe(200, {"RateLimit": '"api";r=3;t=100'}) is None  # quota left: no wait
    limits.observe(
        429, {"RateLimit": '"api";r=0;t=134', "RateLimit-Policy": '"fixed window";"api";q=1000;w=300'}
    )
    limits.observe(429, {"RateLimit": '"api";r=0;t=133'})  # the same window: no second message
    assert said == [
        "hub rate limit (api: 0/1,000 left in this 5-min window): resuming in 2 min 14 s; 1,204/3,230 datasets open"
    ]
    assert limits.held("resolves") == 0 and limits.held("api") > 133
    limits.wait("api")
    assert now[0] >= 234 and limits.rate_limited == 2


def test_twice_the_api_quota_opens_whole_with_one_wait_said(limited_hub, tmp_path):
    """20 API calls (refs + meta/ listing each) against 10 a window: the open waits for the next window
    instead of leaving datasets out (on_error: skip would), says so once, and reads stock's samples."""
    hub = limited_hub
    hub.proxy.reset()
    hub.proxy.limit(api=10, resolves=1000, window_s=WINDOW_S)
    home = tmp_path / "home"
    home.mkdir()
    out = home / "result.pt"
    args = {"repo_ids": IDS, "options": {"on_error": "skip", "max_skipped": 0.5}}
    run = subprocess.run(
        [sys.executable, str(CLIENT), "mixture", str(out), json.dumps(args)],
        env=hub.client_env(home),
        capture_output=True,
        text=True,
        timeout=CLIENT_TIMEOUT_S,
    )
    assert run.returncode == 0, run.stderr[-4000:]
    ours = torch.load(out, weights_only=False)
    assert "error" not in ours, ours.get("error")
    assert ours["manifest"].get("skipped", []) == [] and len(ours["commits"]) == len(IDS)
    said = [line for line in run.stderr.splitlines() if "hub rate limit" in line]
    assert said and "(api: 0/10 left in this 4-s window): resuming in" in said[0], run.stderr[-3000:]
    assert "datasets open" in said[0]
    assert len(said) <= 2, said  # once per window waited, not once per request
    assert hub.proxy.counts["api"] - hub.proxy.counts["429_api"] == 2 * len(IDS)
    assert hub.proxy.counts["429"] <= CONNECTIONS, dict(hub.proxy.counts)  # paced, no burst
    assert ours["limits"]["paused_s"] >= 1.0
    hub.proxy.reset()  # stock lerobot, unmetered, is the oracle
    stock = client(hub, tmp_path / "stock", "stock", {"repo_ids": IDS})
    for i, theirs in enumerate(stock["datasets"]):
        lo, hi = ours["offsets"][i], ours["offsets"][i + 1]
        assert_lerobots_samples(ours["samples"][lo:hi], theirs["samples"], offset=lo)
