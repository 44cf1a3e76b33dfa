"""Per-process state of the provider: settings, the shared API client, the clock.

The provider objects are pickled into state and must stay empty, so what a
process needs lives here, built lazily on first use and shared by the gRPC
threads the engine calls the provider from.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping
from datetime import datetime, timezone
from typing import Any

from .api import AuthAPI
from .errors import SettingsError
from .settings import Settings, load_settings

NOW_ENV = "FORMANCE_PULUMI_NOW"

_lock = threading.Lock()
_config: dict[str, Any] = {}
_api: AuthAPI | None = None


def configure(config: Mapping[str, Any]) -> None:
    """Remember the stack config (called by the engine through ``ResourceProvider.configure``)."""
    global _api
    values = {k: v for k, v in config.items() if k.startswith("formance:")}
    with _lock:
        if values != _config:
            _config.clear()
            _config.update(values)
            _api = None


def settings() -> Settings:
    with _lock:
        config = dict(_config)
    return load_settings(config, os.environ)


def api() -> AuthAPI:
    global _api
    with _lock:
        if _api is None:
            _api = AuthAPI(load_settings(dict(_config), os.environ))
        return _api


def now() -> datetime:
    """The current time, or FORMANCE_PULUMI_NOW so tests and audits control it."""
    raw = os.environ.get(NOW_ENV)
    if not raw:
        return datetime.now(timezone.utc)
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"{NOW_ENV} must be an ISO timestamp such as 2026-12-03T10:00:00Z (got {raw!r})") from None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)


def reset() -> None:
    """Forget everything (tests)."""
    global _api
    with _lock:
        _config.clear()
        _api = None
