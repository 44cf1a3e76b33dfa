"""Opt-in profiling of provider calls (used by ``bench/run.py``).

With ``FORMANCE_PULUMI_PROFILE=<file>`` set in the provider process, every
decorated provider method appends one JSON line to that file:
``{"method", "start", "total_s", "http_s"}``, where ``http_s`` is the time the
calling thread spent waiting on HTTP (token fetches included). Unset, the
decorator returns the method unchanged and ``ENABLED`` is False, so the hook
costs nothing.
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

PROFILE_ENV = "FORMANCE_PULUMI_PROFILE"

_path = os.environ.get(PROFILE_ENV) or None
ENABLED = _path is not None
_local = threading.local()
_write_lock = threading.Lock()

F = TypeVar("F", bound=Callable[..., Any])


def add_http(seconds: float) -> None:
    """Count ``seconds`` of HTTP wait against the current thread's provider call."""
    _local.http_s = getattr(_local, "http_s", 0.0) + seconds


def profiled(fn: F) -> F:
    if not ENABLED:
        return fn
    name = fn.__qualname__

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        _local.http_s = 0.0
        start = time.time()
        began = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            total = time.perf_counter() - began
            line = json.dumps({"method": name, "start": start, "total_s": total, "http_s": _local.http_s})
            with _write_lock, open(_path, "a", encoding="utf-8") as out:  # type: ignore[arg-type]
                out.write(line + "\n")

    return wrapper  # type: ignore[return-value]
