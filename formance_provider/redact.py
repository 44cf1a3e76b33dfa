"""Removes known secret values from any text before it leaves the provider."""

from __future__ import annotations

import threading
from collections.abc import Iterable

EXCERPT_LENGTH = 200
MASK = "[redacted]"


class Redactor:
    """A thread-safe set of sensitive strings; calling it masks them in a text."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        self._lock = threading.Lock()
        self._values: set[str] = set()
        for value in values:
            self.add(value)

    def add(self, value: str | None) -> None:
        if value and len(value) >= 4:
            with self._lock:
                self._values.add(value)

    def __call__(self, text: str) -> str:
        with self._lock:
            values = sorted(self._values, key=len, reverse=True)
        for value in values:
            text = text.replace(value, MASK)
        return text

    def excerpt(self, text: str) -> str:
        """A short, single-line, redacted excerpt of a response body for an error message."""
        # Redact before cutting, so a secret cut in half cannot slip through.
        short = " ".join(self(text).split())
        if len(short) > EXCERPT_LENGTH:
            short = short[:EXCERPT_LENGTH] + "..."
        return repr(short) if short else "(empty body)"
