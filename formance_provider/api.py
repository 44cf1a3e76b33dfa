"""Typed client of the Formance auth service's clients API.

Owns the transport (one pooled httpx client per process), authentication,
retries and the mapping of HTTP answers to this package's exceptions.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from urllib.parse import quote
from collections.abc import Callable, Mapping
from typing import Any

import httpx

from . import profiling
from .auth import TokenSource, jwt_scopes, token_source
from .errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
)
from .models import ObservedClient, flatten_client
from .redact import Redactor
from .retry import BACKOFF_BASE, BACKOFF_CAP, RETRY_AFTER_CAP, RETRY_STATUSES, backoff_delay, is_tls_failure, retry_after, tls_advice
from .settings import Settings
from .version import __version__

log = logging.getLogger("formance_provider.api")

USER_AGENT = f"formance-pulumi/{__version__} httpx/{httpx.__version__}"


class AmbiguousRequestError(TransportError):
    """A non-idempotent request may or may not have been applied by the server."""


def build_http_client(settings: Settings) -> httpx.Client:
    """The process-wide pooled client. ``trust_env`` honours HTTPS_PROXY, NO_PROXY and SSL_CERT_FILE."""
    verify: Any = settings.ca_bundle if settings.ca_bundle else True
    return httpx.Client(
        timeout=httpx.Timeout(settings.timeout, connect=min(10.0, settings.timeout)),
        verify=verify,
        trust_env=True,
        headers={"User-Agent": USER_AGENT},
        limits=httpx.Limits(max_connections=64, max_keepalive_connections=32),
        follow_redirects=False,
    )


class AuthAPI:
    """The clients API of one Formance stack. Thread-safe; share one per process."""

    def __init__(
        self,
        settings: Settings,
        *,
        http: httpx.Client | None = None,
        tokens: TokenSource | None = None,
        redactor: Redactor | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
    ) -> None:
        self.settings = settings
        self.redactor = redactor or Redactor(settings.secrets())
        self.http = http or build_http_client(settings)
        self.tokens = tokens or token_source(settings, self.redactor)
        self._sleep = sleep
        self._rng = rng
        self._stats_lock = threading.Lock()
        self.request_count = 0
        self._last_token: str | None = None  # only read to explain a refusal
        # When a call gave up on an unreachable or hung endpoint, others fail at once for a while
        # instead of each waiting through its own retries (bounded time against a dead gateway).
        self._down: tuple[float, str] | None = None
        self._clock = time.monotonic

    # ------------------------------------------------------------ transport

    def _url(self, path: str) -> str:
        return self.settings.endpoint + path

    def _send(self, method: str, path: str, body: Mapping[str, Any] | None) -> httpx.Response:
        """One attempt, with one token renewal on 401. Raises httpx errors as they come."""
        url = self._url(path)
        for renewal in (False, True):
            if profiling.ENABLED:
                fetch = time.perf_counter()
                token = self.tokens.get(self.http)
                profiling.add_http(time.perf_counter() - fetch)
            else:
                token = self.tokens.get(self.http)
            self._last_token = token
            started = time.perf_counter()
            response = self.http.request(method, url, json=body, headers={"Authorization": f"Bearer {token}"})
            if profiling.ENABLED:
                profiling.add_http(time.perf_counter() - started)
            with self._stats_lock:
                self.request_count += 1
            log.debug("%s %s -> %d in %.1f ms", method, path, response.status_code, (time.perf_counter() - started) * 1000)
            if response.status_code == 401 and not renewal and self.tokens.renew_after_401(self.http, token):
                continue
            return response
        return response

    def request(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool) -> httpx.Response:
        """Send with retries. Non-idempotent calls raise AmbiguousRequestError instead of resending blindly."""
        tries = self.settings.max_retries + 1
        what = f"{method} {self._url(path)}"
        down = self._down
        if down is not None and self._clock() < down[0]:
            raise TransportError(f"{down[1]} (not tried again: an earlier call just gave up on this endpoint)")
        last = ""
        for attempt in range(1, tries + 1):
            try:
                response = self._send(method, path, body)
            except (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout) as exc:
                if is_tls_failure(exc):
                    raise TransportError(self._describe_transport(exc)) from None
                # Nothing reached the server: safe to resend whatever the method.
                last = f"cannot connect ({type(exc).__name__})"
                delay = backoff_delay(attempt, self._rng)
            except httpx.TransportError as exc:
                last = f"{type(exc).__name__} after the request was sent"
                if not idempotent:
                    raise AmbiguousRequestError(f"{what}: {last}") from None
                delay = backoff_delay(attempt, self._rng)
            else:
                self._down = None
                status = response.status_code
                if status not in RETRY_STATUSES:
                    return response
                last = f"{status} {response.reason_phrase}".strip()
                if status != 429 and not idempotent:
                    # A gateway error on a POST: the server may have applied it.
                    raise AmbiguousRequestError(f"{what}: {last}")
                delay = retry_after(response) if status in (429, 503) else None
                if delay is None:
                    delay = backoff_delay(attempt, self._rng)
            if attempt < tries:
                log.info("%s: %s; retry %d of %d in %.2f s", what, last, attempt, tries - 1, delay)
                self._sleep(delay)
        if last.startswith("cannot connect"):
            message = (
                f"Cannot reach the Formance auth service at {self.settings.endpoint} ({last}) after {tries} tries: "
                "check formance:endpoint / FORMANCE_ENDPOINT and that the stack is up"
            )
        else:
            message = f"{what} failed after {tries} tries: {last}"
        if "after the request was sent" in last or last.startswith("cannot connect"):
            self._down = (self._clock() + max(30.0, 2 * self.settings.timeout), message)
        raise TransportError(message)

    def call(self, method: str, path: str, body: Mapping[str, Any] | None = None, *, idempotent: bool, expect: tuple[int, ...]) -> Any:
        """Request, map errors, unwrap ``{"data": ...}``. Returns None for 404 when 404 is expected."""
        try:
            response = self.request(method, path, body, idempotent=idempotent)
        except httpx.TransportError as exc:  # TLS failures and the like
            raise TransportError(self._describe_transport(exc)) from None
        status = response.status_code
        if status in expect:
            if status in (204, 404) or not response.content:
                return None
            return self._data(response)
        self._raise_for(response, method, path)

    def _describe_transport(self, exc: Exception) -> str:
        text = self.redactor(str(exc))
        if is_tls_failure(exc):
            return tls_advice(self.settings.endpoint, text)
        return f"Request to {self.settings.endpoint} failed: {type(exc).__name__}: {text}"

    def _data(self, response: httpx.Response) -> Any:
        try:
            return response.json()["data"]
        except (ValueError, KeyError, TypeError):
            raise UnexpectedResponseError(
                f"{response.request.method} {response.request.url.path} answered {response.status_code} with an "
                f"unexpected body: {self.redactor.excerpt(response.text)}",
                response.status_code,
            ) from None

    def _raise_for(self, response: httpx.Response, method: str, path: str) -> None:
        status = response.status_code
        where = f"{method} {path}"
        need = "auth:read" if method == "GET" else "auth:write"
        # Decoded only here, on the error path, not for every request.
        scopes = jwt_scopes(self._last_token) if self._last_token else None
        # The auth service answers a missing scope with a bare 401, like a bad token:
        # the token's own claims tell the two apart.
        if status in (401, 403) and scopes is not None and need not in scopes and not (need == "auth:read" and "auth:write" in scopes):
            have = " ".join(sorted(scopes)) or "no scope"
            raise PermissionDeniedError(
                f"{where}: missing scope: the provider's token has {have}, and this call needs {need}. "
                "Give the provider's client the auth:read and auth:write scopes (e.g. `fctl auth clients update "
                "<id> --scopes auth:read --scopes auth:write`) and ask for a new token"
            )
        if status == 401:
            raise AuthenticationError(
                f"{where}: the stack refused the provider's token (401). Check the credentials "
                "(formance:clientId/clientSecret or FORMANCE_TOKEN) and that they belong to this stack"
            )
        if status == 403:
            raise PermissionDeniedError(
                f"{where}: missing scope: the token is not allowed to do this (403); the provider's client needs "
                f"the {need} scope (give it auth:read and auth:write)"
            )
        if status == 404:
            raise NotFoundError(f"{where}: not found (404)")
        message = ""
        try:
            body = response.json()
            if isinstance(body, dict):
                message = str(body.get("errorMessage") or body.get("error_description") or body.get("errorCode") or "")
        except ValueError:
            pass
        detail = self.redactor(message)[:300] if message else self.redactor.excerpt(response.text)
        if status == 400:
            raise ValidationError(f"{where}: the server rejected the request (400): {detail}")
        raise UnexpectedResponseError(f"{where}: unexpected answer {status}: {detail}", status)

    # ------------------------------------------------------------ clients

    def list_clients(self) -> list[ObservedClient]:
        data = self.call("GET", "/clients", idempotent=True, expect=(200,))
        return [flatten_client(c) for c in data or []]

    def get_client(self, client_id: str) -> ObservedClient | None:
        data = self.call("GET", f"/clients/{_seg(client_id)}", idempotent=True, expect=(200, 404))
        return flatten_client(data) if data is not None else None

    def create_client(self, body: Mapping[str, Any], *, owner: str | None) -> ObservedClient:
        """POST with a known id. A retry after an ambiguous failure or a duplicate id checks ownership first."""
        client_id = str(body["id"])
        tries = self.settings.max_retries + 1
        last = ""
        for attempt in range(1, tries + 1):
            try:
                response = self.request("POST", "/clients", body, idempotent=False)
            except AmbiguousRequestError as exc:
                last = str(exc).rsplit(": ", 1)[-1]
                existing = self.get_client(client_id)
                if existing is None:
                    self._sleep(backoff_delay(attempt, self._rng))
                    continue
                return self._take_over_own(existing, body, owner)
            if response.status_code == 201:
                return flatten_client(self._data(response))
            if response.status_code == 500:
                existing = self.get_client(client_id)
                if existing is not None:
                    return self._take_over_own(existing, body, owner)
            self._raise_for(response, "POST", "/clients")
        raise TransportError(
            f"POST {self._url('/clients')} kept failing ambiguously after {tries} tries (last: {last}); client {client_id} was not created"
        )

    def _take_over_own(self, existing: ObservedClient, body: Mapping[str, Any], owner: str | None) -> ObservedClient:
        if owner is None or existing.owner != owner:
            raise ConflictError(
                f"A client with id {existing.client_id!r} already exists on the stack and was not created by this "
                "stack and resource. To manage it here, declare it with `adopt: true` (its existing secrets "
                "cannot be adopted: their clear values are gone), or choose another clientId"
            )
        return self.update_client(existing.client_id, body)

    def update_client(self, client_id: str, body: Mapping[str, Any]) -> ObservedClient:
        put_body = {k: v for k, v in body.items() if k != "id"}
        data = self.call("PUT", f"/clients/{_seg(client_id)}", put_body, idempotent=True, expect=(200,))
        return flatten_client(data)

    def delete_client(self, client_id: str) -> None:
        self.call("DELETE", f"/clients/{_seg(client_id)}", idempotent=True, expect=(204, 200, 404))

    # ------------------------------------------------------------ secrets

    def create_secret(self, client_id: str, make_body: Callable[[str], Mapping[str, Any]]) -> dict[str, Any]:
        """POST a secret. ``make_body(marker)`` builds the body with a fresh marker per attempt.

        Secret names are not unique and the call has no idempotency key, so an
        ambiguous failure is never resent blindly: the secret carrying the
        attempt's marker, if the server made it, is deleted first (its clear
        value is lost with the failed answer).
        """
        path = f"/clients/{_seg(client_id)}/secrets"
        tries = self.settings.max_retries + 1
        last = ""
        for attempt in range(1, tries + 1):
            marker = str(uuid.uuid4())
            try:
                response = self.request("POST", path, make_body(marker), idempotent=False)
            except AmbiguousRequestError as exc:
                last = str(exc).rsplit(": ", 1)[-1]
                log.info("%s; cleaning up before a new attempt", exc)
                self._delete_marked_secrets(client_id, marker)
                self._sleep(backoff_delay(attempt, self._rng))
                continue
            if response.status_code in (200, 201):
                try:
                    data = self._data(response)
                except UnexpectedResponseError:
                    # Never excerpt this body: it may hold the new secret's clear value.
                    raise UnexpectedResponseError(
                        f"POST {path} answered {response.status_code} with an unexpected body (not shown: it may "
                        "contain the new secret)",
                        response.status_code,
                    ) from None
                clear = data.get("clear") if isinstance(data, dict) else None
                if not clear or not data.get("id"):
                    raise UnexpectedResponseError(f"POST {path} answered without the secret's id or clear value", response.status_code)
                self.redactor.add(str(clear))
                return data
            if response.status_code == 404:
                raise NotFoundError(f"Client {client_id!r} does not exist on the stack, so no secret can be created for it")
            self._raise_for(response, "POST", path)
        raise TransportError(f"POST {self._url(path)} kept failing ambiguously after {tries} tries (last: {last}); no secret was left behind")

    def _delete_marked_secrets(self, client_id: str, marker: str) -> None:
        client = self.get_client(client_id)
        for secret in client.secrets if client else ():
            if secret.create_marker == marker:
                self.delete_secret(client_id, secret.secret_id)

    def delete_secret(self, client_id: str, secret_id: str) -> bool:
        """Delete; False when the client or secret was already gone."""
        path = f"/clients/{_seg(client_id)}/secrets/{_seg(secret_id)}"
        response = self.request("DELETE", path, idempotent=True)
        if response.status_code in (200, 204):
            return True
        if response.status_code == 404:
            return False
        self._raise_for(response, "DELETE", path)
        return False


def _seg(value: str) -> str:
    """Quote one path segment (ids come from users' stack files)."""
    return quote(value, safe="")
