"""The hub's rate limits: a spent quota is a wait, not a fault.

The hub meters each client in fixed windows per kind of request ("api" calls, "resolves" of files)
and says where a window stands on its answers (IETF draft ratelimit headers):

    RateLimit: "api";r=<requests left>;t=<seconds to the window's end>
    RateLimit-Policy: "fixed window";"api";q=<quota>;w=<window seconds>

Past the quota it answers 429. `HubRateLimits` reads both headers on every answer (huggingface_hub's
session carries our response hook, on either line's huggingface_hub) and on every 429: when a kind's
quota is spent, every request of that kind waits for the window's end, however long, instead of
firing on into more 429s; the wait is logged once per window with where the open stands. A request
that met a 429 waits and is sent again, so a rate limit never fails a dataset.
"""

from __future__ import annotations

import logging
import math
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass

logger = logging.getLogger(__name__)

_ITEM = re.compile(r'"(?P<name>[^"]+)"\s*((?:;\s*\w+=[^;,]+)*)')
_PARAM = re.compile(r";\s*(\w+)=([^;,]+)")
MARGIN_S = 0.25
"""Slack after a window's end before requests resume (the hub's clock and ours differ a little)."""


@dataclass(frozen=True)
class WindowState:
    """One kind's window as an answer reports it: requests left, seconds to its end, and the policy's
    quota and window length (None when the answer has no `RateLimit-Policy`)."""

    name: str
    remaining: int
    reset_s: float
    quota: int | None = None
    window_s: float | None = None


def _params(text: str) -> dict[str, dict[str, str]]:
    """{policy name: {param: value}} of a structured ratelimit header value."""
    out: dict[str, dict[str, str]] = {}
    for item in _ITEM.finditer(text or ""):
        out.setdefault(item["name"], {}).update(dict(_PARAM.findall(item.group(0))))
    return out


def parse_headers(headers: Mapping[str, str]) -> WindowState | None:
    """The window a `RateLimit` header describes (with its `RateLimit-Policy`), or None without one."""
    lower = {k.lower(): v for k, v in headers.items()}
    state = _params(lower.get("ratelimit", ""))
    policy = {k: v for k, v in _params(lower.get("ratelimit-policy", "")).items() if k != "fixed window"}
    for name, params in state.items():
        if "r" in params and "t" in params:
            pol = policy.get(name, {})
            try:
                return WindowState(
                    name,
                    int(params["r"]),
                    float(params["t"]),
                    int(pol["q"]) if "q" in pol else None,
                    float(pol["w"]) if "w" in pol else None,
                )
            except ValueError:
                return None
    return None


def kind_of(policy: str) -> str:
    """Our kind of request for a hub policy name: "api", "resolves" (any "resolve..." name), or it."""
    return "resolves" if policy.startswith("resolve") else policy


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    value = {k.lower(): v for k, v in headers.items()}.get("retry-after")
    try:
        return max(0.0, float(value)) if value is not None else None
    except ValueError:
        return None


def _duration(seconds: float) -> str:
    seconds = max(0, math.ceil(seconds))
    minutes, secs = divmod(seconds, 60)
    return f"{minutes} min {secs} s" if minutes else f"{secs} s"


class HubRateLimits:
    """Per kind of request, the moment it may be sent again; shared by every thread of the process."""

    def __init__(
        self, clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep
    ):
        self.clock, self.sleep = clock, sleep
        self.lock = threading.Lock()
        self.resume_at: dict[str, float] = {}
        self.said: dict[str, float] = {}  # kind -> the resume time already logged
        self.rate_limited = 0  # 429 answers met
        self.paused_s = 0.0  # wall time some kind of request was held back
        self.progress: Callable[[], str] | None = None

    def observe(self, status: int, headers: Mapping[str, str], kind: str | None = None) -> float | None:
        """Note an answer; returns how long its kind now waits when it spent the quota (or was a 429)."""
        state = parse_headers(headers)
        if status == 429:
            with self.lock:
                self.rate_limited += 1
            wait = state.reset_s if state is not None else retry_after_s(headers)
            return self.pause(
                kind_of(state.name) if state else kind or "api", 1.0 if wait is None else wait, state
            )
        if state is not None and state.remaining <= 0:
            return self.pause(kind_of(state.name), state.reset_s, state)
        return None

    def pause(self, kind: str, seconds: float, state: WindowState | None = None) -> float:
        now = self.clock()
        until = now + seconds + MARGIN_S
        with self.lock:
            held = self.resume_at.get(kind, 0.0)
            if until <= held:
                return held - now
            self.paused_s += until - max(now, held)
            self.resume_at[kind] = until
            say = self.said.get(kind, -1.0) < until - seconds - 2 * MARGIN_S  # once per window
            self.said[kind] = until
        if say:
            logger.warning(self.message(kind, seconds, state))
        return seconds

    def message(self, kind: str, seconds: float, state: WindowState | None) -> str:
        if state is not None and state.quota is not None:
            window = (
                f"{state.window_s / 60:g}-min"
                if state.window_s and state.window_s >= 60
                else (f"{state.window_s:g}-s" if state.window_s else "current")
            )
            where = f"{kind}: {max(state.remaining, 0):,}/{state.quota:,} left in this {window} window"
        else:
            where = kind
        progress = f"; {self.progress()}" if self.progress is not None else ""
        return f"hub rate limit ({where}): resuming in {_duration(seconds)}{progress}"

    def held(self, kind: str) -> float:
        """Seconds until `kind` may be sent (0 when it may now)."""
        with self.lock:
            return max(0.0, self.resume_at.get(kind, 0.0) - self.clock())

    def wait(self, kind: str) -> None:
        """Block until `kind` may be sent."""
        while (left := self.held(kind)) > 0:
            self.sleep(min(left, 1.0))
