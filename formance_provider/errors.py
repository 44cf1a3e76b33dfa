"""Exceptions raised by the provider.

Every message is written for the person running ``pulumi up``: it says what
happened and what to do. None of them may carry a secret or a token, so the
constructors only ever receive already-redacted text.
"""

from __future__ import annotations


class FormanceError(Exception):
    """Base class of every error this package raises on purpose."""


class SettingsError(FormanceError):
    """Missing, contradictory or invalid provider settings (found before any request)."""


class ValidationError(FormanceError):
    """User input that breaks a rule; the message names the key path and the rule."""


class AuthenticationError(FormanceError):
    """The stack refused the provider's credentials or token."""


class TokenExpiredError(AuthenticationError):
    """A static bearer token has expired and cannot be renewed here."""


class PermissionDeniedError(FormanceError):
    """The token is valid but lacks a scope the call needs (403)."""


class NotFoundError(FormanceError):
    """The object does not exist on the server (404)."""


class ConflictError(FormanceError):
    """An object with that id already exists and is not ours to take over."""


class TransportError(FormanceError):
    """The endpoint could not be reached, or kept failing after the retries."""


class UnexpectedResponseError(FormanceError):
    """The server answered something the provider does not understand."""

    def __init__(self, message: str, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code
