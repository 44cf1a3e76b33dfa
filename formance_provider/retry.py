"""The retry policy shared by the clients API and the token endpoint."""

from __future__ import annotations

import email.utils
import random
import time
from collections.abc import Callable

import httpx

RETRY_STATUSES = frozenset({429, 502, 503, 504})
BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
RETRY_AFTER_CAP = 60.0


def backoff_delay(attempt: int, rng: Callable[[], float] = random.random) -> float:
    """Capped exponential backoff with full jitter (attempt counts from 1)."""
    ceiling = min(BACKOFF_CAP, BACKOFF_BASE * (2 ** (attempt - 1)))
    return ceiling * (0.5 + rng() / 2)


def retry_after(response: httpx.Response, now: Callable[[], float] = time.time) -> float | None:
    """Seconds to wait from a Retry-After header (seconds or HTTP date), capped."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value).timestamp()
        except (TypeError, ValueError):
            return None
        seconds = when - now()
    return max(0.0, min(seconds, RETRY_AFTER_CAP))


def is_tls_failure(exc: BaseException) -> bool:
    """A certificate or TLS error: no second try can pass, so it is never retried."""
    text = str(exc).upper()
    return "CERTIFICATE" in text or "SSL" in text


def tls_advice(url: str, detail: str) -> str:
    return (
        f"TLS verification of {url} failed ({detail}): set formance:caBundle to the "
        "CA that signed the stack's certificate, or SSL_CERT_FILE"
    )
