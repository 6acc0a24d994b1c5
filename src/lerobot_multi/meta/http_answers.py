"""What a failed hub request says: its HTTP answer, whether another try may succeed, and how long to
wait before it (used by `hub.with_retries`)."""

from __future__ import annotations

RETRY_STATUSES = frozenset({408, 425, 500, 502, 503, 504})
"""Answers worth another try within the fault budget (a 429 is a rate limit: rate_limits.py)."""


def response_of(error: BaseException):
    """The HTTP response an error carries (huggingface_hub's, requests' and httpx's errors keep it as
    `response`), or None."""
    return vars(error).get("response")


def response_of_chain(error: BaseException | None):
    """The HTTP response of a failure, or of the failure that caused it (huggingface_hub wraps some)."""
    for _ in range(4):
        if error is None:
            return None
        response = response_of(error)
        if response is not None:
            return response
        error = error.__cause__
    return None


def http_status(error: BaseException | None) -> int | None:
    response = response_of_chain(error)
    return None if response is None else response.status_code


def is_transient(error: BaseException) -> bool:
    """5xx/408/425 answers, dropped or cut connections (a file, or an API answer's JSON, cut short),
    timeouts: worth another try."""
    status = http_status(error)
    if status is not None:
        return status in RETRY_STATUSES
    names = {c.__name__ for c in type(error).__mro__}
    transient = {
        "ConnectionError", "ChunkedEncodingError", "Timeout", "TransportError", "RemoteProtocolError",
        "LocalEntryNotFoundError", "ProtocolError", "IncompleteRead", "ConnectTimeout", "ReadTimeout",
        "JSONDecodeError",  # an API answer cut short
    }  # fmt: skip
    if names & transient:
        return True
    return isinstance(error, OSError) and "Consistency check failed" in str(error)


def retry_after(error: BaseException, attempt: int) -> float:
    """The server's `Retry-After` (seconds) when it gives one, else exponential backoff (0.5 s .. 8 s)."""
    response = response_of(error)
    value = None if response is None else response.headers.get("Retry-After")
    try:
        return max(0.0, float(value)) if value is not None else min(8.0, 0.5 * 2**attempt)
    except ValueError:
        return min(8.0, 0.5 * 2**attempt)


def describe(error: BaseException) -> str:
    status = http_status(error)
    return f"HTTP {status}" if status else type(error).__name__
