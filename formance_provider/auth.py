"""Bearer tokens for the clients API: client_credentials or a static (personal) token.

One token source per provider process, shared by every resource and thread.
"""

from __future__ import annotations

import base64
import json
import shlex
import subprocess
import threading
import time
from collections.abc import Callable
from typing import Protocol

import httpx

from .errors import AuthenticationError, PermissionDeniedError, TokenExpiredError, TransportError, UnexpectedResponseError
from .redact import Redactor
from .retry import RETRY_STATUSES, backoff_delay, is_tls_failure, tls_advice
from .settings import TOKEN_COMMAND_ENV, Settings

#: Renew a token this many seconds before it expires.
RENEW_MARGIN = 60.0
REQUESTED_SCOPES = "auth:read auth:write"


def jwt_claims(token: str) -> dict[str, object]:
    """Decode a JWT's payload WITHOUT verifying it: only to explain failures (expiry, scopes)."""
    try:
        payload = token.split(".")[1]
        payload += "=" * (-len(payload) % 4)
        claims = json.loads(base64.urlsafe_b64decode(payload))
        return claims if isinstance(claims, dict) else {}
    except (IndexError, ValueError, TypeError, AttributeError):
        return {}


def jwt_expiry(token: str) -> float | None:
    exp = jwt_claims(token).get("exp")
    try:
        return float(exp) if exp is not None else None  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return None


def jwt_scopes(token: str) -> set[str] | None:
    """Scopes a token claims, or None when it says nothing about them."""
    scope = jwt_claims(token).get("scope")
    if isinstance(scope, str):
        return set(scope.split())
    if isinstance(scope, list):
        return {str(s) for s in scope}
    return None


class TokenSource(Protocol):
    def get(self, http: httpx.Client) -> str: ...

    def renew_after_401(self, http: httpx.Client, rejected: str) -> bool:
        """Drop ``rejected``; return True when a fresh token may be tried."""
        ...


class ClientCredentials:
    """Exchanges the client id and secret for a JWT, cached until shortly before ``exp``."""

    def __init__(
        self,
        settings: Settings,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._settings = settings
        self._redactor = redactor
        self._clock = clock
        self._sleep = sleep
        self._lock = threading.Lock()
        self._token: str | None = None
        self._expires_at = 0.0
        self.requests = 0
        # A failed token request is not repeated by every resource: bad credentials stay bad for
        # the run, an unreachable endpoint is not tried again for a while.
        self._failure: tuple[float, Exception] | None = None

    def get(self, http: httpx.Client) -> str:
        with self._lock:
            if self._token is None or self._clock() >= self._expires_at - RENEW_MARGIN:
                if self._failure is not None and self._clock() < self._failure[0]:
                    raise type(self._failure[1])(str(self._failure[1]))
                try:
                    self._fetch(http)
                except AuthenticationError as exc:
                    self._failure = (float("inf"), exc)
                    raise
                except TransportError as exc:
                    self._failure = (self._clock() + max(30.0, 2 * self._settings.timeout), exc)
                    raise
                self._failure = None
            assert self._token is not None
            return self._token

    def renew_after_401(self, http: httpx.Client, rejected: str) -> bool:
        with self._lock:
            if self._token == rejected:
                self._token = None
        return True

    def _post(self, http: httpx.Client, url: str) -> httpx.Response:
        """Ask for a token, retrying what may pass on a second try (asking twice is harmless)."""
        tries = self._settings.max_retries + 1
        for attempt in range(1, tries + 1):
            self.requests += 1
            try:
                response = http.post(
                    url,
                    data={"grant_type": "client_credentials", "scope": REQUESTED_SCOPES},
                    auth=(self._settings.client_id or "", self._settings.client_secret or ""),
                )
            except httpx.TransportError as exc:
                if is_tls_failure(exc):
                    raise TransportError(tls_advice(url, self._redactor(str(exc)))) from None
                if attempt == tries:
                    raise TransportError(
                        f"Could not reach the token endpoint {url} after {tries} tries: "
                        f"{type(exc).__name__}: {self._redactor(str(exc))}"
                    ) from None
            else:
                if response.status_code not in RETRY_STATUSES or attempt == tries:
                    return response
            self._sleep(backoff_delay(attempt))
        raise AssertionError("unreachable")

    def _fetch(self, http: httpx.Client) -> None:
        url = self._settings.token_url
        response = self._post(http, url)
        if response.status_code in (400, 401):
            raise AuthenticationError(
                f"The token endpoint {url} refused client {self._settings.client_id!r} "
                f"({response.status_code}): check formance:clientId and formance:clientSecret "
                "(or FORMANCE_CLIENT_ID / FORMANCE_CLIENT_SECRET); a secret shown by "
                "`fctl auth clients secrets create` is only valid for that client"
            )
        if response.status_code != 200:
            raise UnexpectedResponseError(
                f"The token endpoint {url} answered {response.status_code}: {self._redactor.excerpt(response.text)}",
                response.status_code,
            )
        try:
            body = response.json()
            token = str(body["access_token"])
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponseError(
                f"The token endpoint {url} answered 200 without an access_token: {self._redactor.excerpt(response.text)}", 200
            ) from None
        self._redactor.add(token)
        granted = set(str(body.get("scope", "")).split()) if "scope" in body else None
        exp = jwt_expiry(token)
        if exp is None:
            exp = self._clock() + float(body.get("expires_in") or 300)
        self._token, self._expires_at = token, exp
        if granted is not None and "auth:write" not in granted and "auth:read" not in granted:
            raise PermissionDeniedError(
                f"Client {self._settings.client_id!r} was granted none of the scopes auth:read, auth:write: "
                "give it those scopes (`fctl auth clients update ... --scopes auth:read --scopes auth:write`)"
            )


class StaticToken:
    """A bearer token given by the user (e.g. a 5-minute personal token), optionally renewable."""

    def __init__(
        self,
        settings: Settings,
        redactor: Redactor,
        clock: Callable[[], float] = time.time,
        run: Callable[[list[str]], str] | None = None,
    ) -> None:
        self._settings = settings
        self._redactor = redactor
        self._clock = clock
        self._run = run or _run_token_command
        self._lock = threading.Lock()
        self._token = settings.token
        if self._token:
            redactor.add(self._token)

    def get(self, http: httpx.Client) -> str:
        with self._lock:
            if self._token is None or self._expired(self._token):
                if self._settings.token_command:
                    self._renew()
                else:
                    exp = jwt_expiry(self._token or "")
                    when = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(exp)) if exp else "an unknown time"
                    raise TokenExpiredError(
                        f"The bearer token in formance:token / FORMANCE_TOKEN expired at {when}. Personal tokens "
                        "last about 5 minutes: get a new one with `export FORMANCE_TOKEN=$(fctl cloud "
                        f"generate-personal-token)` and run again, or set {TOKEN_COMMAND_ENV} so the provider renews it"
                    )
            assert self._token is not None
            return self._token

    def renew_after_401(self, http: httpx.Client, rejected: str) -> bool:
        with self._lock:
            if not self._settings.token_command:
                return False
            if self._token == rejected:
                self._renew()
            return True

    def _expired(self, token: str) -> bool:
        exp = jwt_expiry(token)
        return exp is not None and self._clock() >= exp - 5

    def _renew(self) -> None:
        command = self._settings.token_command or ""
        token = self._run(shlex.split(command)).strip()
        if not token:
            raise AuthenticationError(f"{TOKEN_COMMAND_ENV} printed no token")
        self._redactor.add(token)
        if self._expired(token):
            raise AuthenticationError(f"{TOKEN_COMMAND_ENV} printed a token that has already expired")
        self._token = token


def _run_token_command(argv: list[str]) -> str:
    try:
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise AuthenticationError(f"{TOKEN_COMMAND_ENV} could not be run: {type(exc).__name__}") from None
    if done.returncode != 0:
        raise AuthenticationError(f"{TOKEN_COMMAND_ENV} failed with exit code {done.returncode}")
    return done.stdout


def token_source(settings: Settings, redactor: Redactor) -> TokenSource:
    if settings.client_id:
        return ClientCredentials(settings, redactor)
    return StaticToken(settings, redactor)
