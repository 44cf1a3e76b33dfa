"""Pure tests of formance_provider.api.AuthAPI against an httpx.MockTransport fake server.

The fake server answers from per-route scripts; every request is recorded as
``"METHOD /path"`` so the exact sequence can be asserted. Sleep and jitter are
injected, so no test waits. Every exception raised through ``expect_error`` is
checked to carry neither the client secret nor any token or clear secret value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from formance_provider.api import (
    BACKOFF_BASE,
    BACKOFF_CAP,
    RETRY_AFTER_CAP,
    AmbiguousRequestError,
    AuthAPI,
    backoff_delay,
    retry_after,
)
from formance_provider.errors import (
    AuthenticationError,
    ConflictError,
    NotFoundError,
    PermissionDeniedError,
    TransportError,
    UnexpectedResponseError,
    ValidationError,
)
from formance_provider.models import CREATE_MARKER_KEY, OWNER_KEY, ClientFields, SecretFields, expand_client, expand_secret
from formance_provider.settings import Settings

ENDPOINT = "https://acme.example/api/auth"
CLIENT_SECRET = "provider-client-secret-value"
OWNER = "proj/dev/my-app"

Handler = Callable[[httpx.Request], httpx.Response]


def _jwt(n: int) -> str:
    enc = lambda d: base64.urlsafe_b64encode(json.dumps(d).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{enc({'alg': 'none'})}.{enc({'exp': 4_000_000_000, 'n': n})}.sig"


def client_body(client_id: str = "cid", owner: str | None = OWNER, secrets: list | None = None, **extra: Any) -> dict:
    metadata = {OWNER_KEY: owner} if owner else {}
    return {"id": client_id, "name": "app", "description": "", "public": False, "trusted": False,
            "redirectUris": [], "postLogoutRedirectUris": [], "scopes": [], "metadata": metadata,
            "secrets": secrets or [], **extra}


def ok(data: Any, status: int = 200) -> httpx.Response:
    return httpx.Response(status, json={"data": data})


class FakeServer:
    """Routes ``"METHOD /path"`` (path below /api/auth) to a queue of answers; the last answer repeats."""

    def __init__(self) -> None:
        self.routes: dict[str, list[Handler | httpx.Response | Exception]] = {}
        self.log: list[str] = []
        self.bodies: list[Any] = []
        self.tokens: list[str] = []
        self.clear_values: list[str] = []

    def on(self, route: str, *answers: Handler | httpx.Response | Exception) -> "FakeServer":
        self.routes[route] = list(answers)
        return self

    def __call__(self, request: httpx.Request) -> httpx.Response:
        path = request.url.raw_path.decode().split("?")[0].removeprefix("/api/auth")
        route = f"{request.method} {path}"
        self.log.append(route)
        self.bodies.append(json.loads(request.content) if request.content and route != "POST /oauth/token" else None)
        if route == "POST /oauth/token":
            token = _jwt(len(self.tokens) + 1)
            self.tokens.append(token)
            return httpx.Response(200, json={"access_token": token, "scope": "auth:read auth:write"})
        if route not in self.routes:
            raise AssertionError(f"unexpected request {route}")
        answers = self.routes[route]
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            answer = answer(request)
        return answer


class Harness:
    def __init__(self, max_retries: int = 2) -> None:
        self.server = FakeServer()
        self.sleeps: list[float] = []
        self.errors: list[BaseException] = []
        settings = Settings(endpoint=ENDPOINT, client_id="provider", client_secret=CLIENT_SECRET, max_retries=max_retries)
        self.api = AuthAPI(
            settings,
            http=httpx.Client(transport=httpx.MockTransport(self.server)),
            sleep=self.sleeps.append,
            rng=lambda: 0.5,
        )

    def expect_error(self, exc_type: type[BaseException], fn: Callable[[], Any]) -> str:
        with pytest.raises(exc_type) as info:
            fn()
        self.errors.append(info.value)
        return str(info.value)

    def api_log(self) -> list[str]:
        return [r for r in self.server.log if r != "POST /oauth/token"]


@pytest.fixture
def h():
    harness = Harness()
    yield harness
    # No message raised in a test carries a credential, a token or a clear secret.
    forbidden = [CLIENT_SECRET, *harness.server.tokens, *harness.server.clear_values]
    for exc in harness.errors:
        for value in forbidden:
            assert value not in str(exc), f"{type(exc).__name__} leaks a secret: {exc}"


# ---------------------------------------------------------------- backoff


@pytest.mark.parametrize(
    "attempt, rng, expected",
    [
        (1, 0.0, BACKOFF_BASE * 0.5),
        (1, 1.0, BACKOFF_BASE),
        (2, 1.0, BACKOFF_BASE * 2),
        (3, 0.5, BACKOFF_BASE * 4 * 0.75),
        (6, 1.0, BACKOFF_CAP),
        (7, 1.0, BACKOFF_CAP),
        (60, 1.0, BACKOFF_CAP),
        (60, 0.0, BACKOFF_CAP / 2),
    ],
)
def test_backoff_delay(attempt, rng, expected):
    assert backoff_delay(attempt, lambda: rng) == pytest.approx(expected)


def test_backoff_never_exceeds_cap():
    assert all(backoff_delay(a, lambda: 0.999999) <= BACKOFF_CAP for a in range(1, 200))


@pytest.mark.parametrize(
    "header, expected",
    [
        (None, None),
        ("7", 7.0),
        ("0", 0.0),
        ("-3", 0.0),
        ("3600", RETRY_AFTER_CAP),
        ("Wed, 21 Oct 2015 07:28:10 GMT", 10.0),  # now = 07:28:00
        ("garbage", None),
    ],
)
def test_retry_after(header, expected):
    headers = {"Retry-After": header} if header is not None else {}
    now = lambda: 1445412480.0  # 2015-10-21T07:28:00Z  # noqa: E731
    assert retry_after(httpx.Response(429, headers=headers), now) == expected


# ---------------------------------------------------------------- retries


def test_429_retry_after_is_honoured(h):
    h.server.on("GET /clients/cid", httpx.Response(429, headers={"Retry-After": "7"}), ok(client_body()))
    assert h.api.get_client("cid").client_id == "cid"
    assert h.sleeps == [7.0]
    assert h.server.log == ["POST /oauth/token", "GET /clients/cid", "GET /clients/cid"]


def test_429_on_post_is_retried_not_ambiguous(h):
    h.server.on("POST /clients", httpx.Response(429, headers={"Retry-After": "2"}), ok(client_body(), 201))
    h.api.create_client(expand_client(ClientFields(name="app"), client_id="cid", owner=OWNER), owner=OWNER)
    assert h.sleeps == [2.0]
    assert h.api_log() == ["POST /clients", "POST /clients"]


def test_503_retried_then_success(h):
    h.server.on("GET /clients", httpx.Response(503), httpx.Response(503), ok([client_body()]))
    assert [c.client_id for c in h.api.list_clients()] == ["cid"]
    assert h.sleeps == [backoff_delay(1, lambda: 0.5), backoff_delay(2, lambda: 0.5)]
    assert h.api_log() == ["GET /clients"] * 3


@pytest.mark.parametrize("status", [502, 503, 504, 429])
def test_final_error_says_number_of_tries(h, status):
    h.server.on("GET /clients/cid", httpx.Response(status))
    message = h.expect_error(TransportError, lambda: h.api.get_client("cid"))
    assert "after 3 tries" in message and str(status) in message
    assert len(h.sleeps) == 2 and h.api_log() == ["GET /clients/cid"] * 3


def test_connect_errors_retried_then_clear_message(h):
    h.server.on("GET /clients/cid", httpx.ConnectError("connection refused"))
    message = h.expect_error(TransportError, lambda: h.api.get_client("cid"))
    assert "Cannot reach the Formance auth service" in message and "after 3 tries" in message
    assert "FORMANCE_ENDPOINT" in message
    assert len(h.sleeps) == 2


def test_tls_failure_not_retried(h):
    h.server.on("GET /clients/cid", httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed"))
    message = h.expect_error(TransportError, lambda: h.api.get_client("cid"))
    assert "formance:caBundle" in message and h.sleeps == [] and h.api_log() == ["GET /clients/cid"]


@pytest.mark.parametrize(
    "status, body, exc, substring",
    [
        (400, {"errorCode": "VALIDATION", "errorMessage": "bad redirect uri"}, ValidationError, "rejected the request (400): bad redirect uri"),
        (404, None, NotFoundError, "not found (404)"),
        (403, None, PermissionDeniedError, "missing scope"),
        (409, {"errorMessage": "conflict"}, UnexpectedResponseError, "unexpected answer 409: conflict"),
        (500, {"errorCode": "INTERNAL"}, UnexpectedResponseError, "unexpected answer 500: INTERNAL"),
    ],
)
def test_client_errors_not_retried(h, status, body, exc, substring):
    answer = httpx.Response(status, json=body) if body is not None else httpx.Response(status)
    h.server.on("PUT /clients/cid", answer)
    message = h.expect_error(exc, lambda: h.api.update_client("cid", expand_client(ClientFields(name="app"))))
    assert substring in message
    assert h.sleeps == [] and h.api_log() == ["PUT /clients/cid"]


def test_403_names_the_needed_scope(h):
    h.server.on("GET /clients/cid", httpx.Response(403))
    message = h.expect_error(PermissionDeniedError, lambda: h.api.get_client("cid"))
    assert "missing scope" in message and "auth:read" in message
    h.server.on("DELETE /clients/cid", httpx.Response(403))
    message = h.expect_error(PermissionDeniedError, lambda: h.api.delete_client("cid"))
    assert "auth:write" in message


def test_401_renews_token_once_then_succeeds(h):
    h.server.on("GET /clients/cid", httpx.Response(401), ok(client_body()))
    assert h.api.get_client("cid") is not None
    assert h.server.log == ["POST /oauth/token", "GET /clients/cid", "POST /oauth/token", "GET /clients/cid"]
    assert h.sleeps == []


def test_401_twice_is_authentication_error(h):
    h.server.on("GET /clients/cid", httpx.Response(401))
    message = h.expect_error(AuthenticationError, lambda: h.api.get_client("cid"))
    assert "401" in message
    assert h.server.log == ["POST /oauth/token", "GET /clients/cid", "POST /oauth/token", "GET /clients/cid"]


def test_error_bodies_are_redacted(h):
    h.server.on("PUT /clients/cid", httpx.Response(400, json={"errorMessage": f"secret {CLIENT_SECRET} echoed"}))
    message = h.expect_error(ValidationError, lambda: h.api.update_client("cid", expand_client(ClientFields(name="app"))))
    assert "[redacted]" in message


def test_unexpected_success_body(h):
    h.server.on("GET /clients/cid", httpx.Response(200, text="<html>gateway</html>"))
    message = h.expect_error(UnexpectedResponseError, lambda: h.api.get_client("cid"))
    assert "unexpected body" in message and "gateway" in message


# ---------------------------------------------------------------- 404 semantics


def test_get_404_is_none(h):
    h.server.on("GET /clients/cid", httpx.Response(404))
    assert h.api.get_client("cid") is None


def test_delete_client_404_is_ok(h):
    h.server.on("DELETE /clients/cid", httpx.Response(404))
    assert h.api.delete_client("cid") is None


def test_delete_secret_404_is_false(h):
    h.server.on("DELETE /clients/cid/secrets/sid", httpx.Response(404))
    assert h.api.delete_secret("cid", "sid") is False


def test_path_segments_are_quoted(h):
    h.server.on("GET /clients/a%2Fb%20c", httpx.Response(404))
    assert h.api.get_client("a/b c") is None
    assert h.api_log() == ["GET /clients/a%2Fb%20c"]


def test_create_secret_for_missing_client(h):
    h.server.on("POST /clients/cid/secrets", httpx.Response(404))
    message = h.expect_error(NotFoundError, lambda: h.api.create_secret("cid", lambda m: {"name": "s", "metadata": {}}))
    assert "'cid' does not exist" in message


# ---------------------------------------------------------------- create client


BODY = expand_client(ClientFields(name="app", scopes=["a"]), client_id="cid", owner=OWNER)


def test_duplicate_of_our_own_client_is_taken_over_with_put(h):
    h.server.on("POST /clients", httpx.Response(500, json={"errorCode": "INTERNAL"}))
    h.server.on("GET /clients/cid", ok(client_body(owner=OWNER)))
    h.server.on("PUT /clients/cid", lambda req: ok({**json.loads(req.content), "id": "cid", "secrets": None}))
    observed = h.api.create_client(BODY, owner=OWNER)
    assert observed.client_id == "cid" and observed.owner == OWNER and observed.fields.scopes == ("a",)
    assert h.api_log() == ["POST /clients", "GET /clients/cid", "PUT /clients/cid"]
    put_body = h.server.bodies[-1]
    assert "id" not in put_body and put_body["metadata"][OWNER_KEY] == OWNER
    assert set(put_body) == {"name", "description", "public", "trusted", "redirectUris", "postLogoutRedirectUris", "scopes", "metadata"}


@pytest.mark.parametrize("existing_owner", ["other/stack/res", None])
def test_duplicate_of_foreign_client_is_conflict(h, existing_owner):
    h.server.on("POST /clients", httpx.Response(500, json={"errorCode": "INTERNAL"}))
    h.server.on("GET /clients/cid", ok(client_body(owner=existing_owner)))
    message = h.expect_error(ConflictError, lambda: h.api.create_client(BODY, owner=OWNER))
    assert "adopt: true" in message and "'cid'" in message
    assert h.api_log() == ["POST /clients", "GET /clients/cid"]


def test_500_without_existing_client_is_reported(h):
    h.server.on("POST /clients", httpx.Response(500, json={"errorCode": "INTERNAL"}))
    h.server.on("GET /clients/cid", httpx.Response(404))
    message = h.expect_error(UnexpectedResponseError, lambda: h.api.create_client(BODY, owner=OWNER))
    assert "500" in message


def test_ambiguous_client_create_checks_before_resending(h):
    h.server.on("POST /clients", httpx.ReadTimeout("timed out"), ok(client_body(), 201))
    h.server.on("GET /clients/cid", httpx.Response(404))
    h.api.create_client(BODY, owner=OWNER)
    assert h.api_log() == ["POST /clients", "GET /clients/cid", "POST /clients"]
    assert len(h.sleeps) == 1


def test_ambiguous_client_create_that_succeeded_is_taken_over(h):
    h.server.on("POST /clients", httpx.Response(502))
    h.server.on("GET /clients/cid", ok(client_body(owner=OWNER)))
    h.server.on("PUT /clients/cid", ok(client_body()))
    h.api.create_client(BODY, owner=OWNER)
    assert h.api_log() == ["POST /clients", "GET /clients/cid", "PUT /clients/cid"]
    assert h.sleeps == []


# ---------------------------------------------------------------- create secret


def test_ambiguous_secret_create_deletes_marked_secret_then_retries(h):
    markers: list[str] = []
    clear = "clear-secret-value-0001"
    h.server.clear_values.append(clear)

    def first_post(request: httpx.Request) -> httpx.Response:
        markers.append(json.loads(request.content)["metadata"][CREATE_MARKER_KEY])
        raise httpx.ReadTimeout("read timed out", request=request)

    def second_post(request: httpx.Request) -> httpx.Response:
        markers.append(json.loads(request.content)["metadata"][CREATE_MARKER_KEY])
        return ok({"id": "s2", "name": "s", "lastDigits": clear[-4:], "clear": clear})

    def get_client(request: httpx.Request) -> httpx.Response:
        secrets = [
            {"id": "s0", "name": "s", "lastDigits": "zzzz", "metadata": {CREATE_MARKER_KEY: "someone-else"}},
            {"id": "s1", "name": "s", "lastDigits": "yyyy", "metadata": {CREATE_MARKER_KEY: markers[0]}},
            {"id": "s9", "name": "s", "lastDigits": "xxxx", "metadata": {}},
        ]
        return ok(client_body(secrets=secrets))

    h.server.on("POST /clients/cid/secrets", first_post, second_post)
    h.server.on("GET /clients/cid", get_client)
    h.server.on("DELETE /clients/cid/secrets/s1", httpx.Response(204))
    fields = SecretFields(client_id="cid", name="s", metadata={"team": "x"})
    created = h.api.create_secret("cid", lambda marker: expand_secret(fields, create_marker=marker))
    assert created["id"] == "s2" and created["clear"] == clear
    assert h.server.log == [
        "POST /oauth/token",
        "POST /clients/cid/secrets",
        "GET /clients/cid",
        "DELETE /clients/cid/secrets/s1",
        "POST /clients/cid/secrets",
    ]
    assert len(markers) == 2 and markers[0] != markers[1]
    assert len(h.sleeps) == 1
    # the clear value is now redacted from anything the API reports
    assert h.api.redactor(f"x{clear}x") == "x[redacted]x"


def test_ambiguous_secret_create_not_applied_deletes_nothing(h):
    h.server.on("POST /clients/cid/secrets", httpx.Response(504), ok({"id": "s2", "clear": "clear-value-2"}))
    h.server.clear_values.append("clear-value-2")
    h.server.on("GET /clients/cid", ok(client_body()))
    h.api.create_secret("cid", lambda m: {"name": "s", "metadata": {CREATE_MARKER_KEY: m}})
    assert h.api_log() == ["POST /clients/cid/secrets", "GET /clients/cid", "POST /clients/cid/secrets"]


def test_secret_create_always_ambiguous_gives_up(h):
    h.server.on("POST /clients/cid/secrets", httpx.ReadTimeout("read timed out"))
    h.server.on("GET /clients/cid", ok(client_body()))
    message = h.expect_error(TransportError, lambda: h.api.create_secret("cid", lambda m: {"name": "s", "metadata": {}}))
    assert "kept failing ambiguously" in message and "no secret was left behind" in message
    assert h.api_log() == ["POST /clients/cid/secrets", "GET /clients/cid"] * 3


def test_secret_create_answer_without_clear(h):
    h.server.on("POST /clients/cid/secrets", ok({"id": "s1"}))
    message = h.expect_error(UnexpectedResponseError, lambda: h.api.create_secret("cid", lambda m: {"name": "s"}))
    assert "without the secret's id or clear value" in message


def test_ambiguous_error_type():
    assert issubclass(AmbiguousRequestError, TransportError)


# ---------------------------------------------------------------- happy path


def test_happy_path_one_request_per_object_plus_one_token(h):
    clear = "clear-secret-value-happy"
    h.server.clear_values.append(clear)
    h.server.on("POST /clients", lambda req: ok({**json.loads(req.content), "secrets": None}, 201))
    h.server.on("POST /clients/cid/secrets", ok({"id": "s1", "name": "s", "lastDigits": clear[-4:], "clear": clear}))
    h.server.on("PUT /clients/cid", lambda req: ok({**json.loads(req.content), "id": "cid", "secrets": []}))
    h.server.on("GET /clients/cid", ok(client_body(secrets=[{"id": "s1", "name": "s", "lastDigits": "appy", "metadata": None}])))
    h.server.on("DELETE /clients/cid/secrets/s1", httpx.Response(204))
    h.server.on("DELETE /clients/cid", httpx.Response(204))

    observed = h.api.create_client(BODY, owner=OWNER)
    assert observed.owner == OWNER and observed.fields.metadata == {}
    created = h.api.create_secret("cid", lambda m: expand_secret(SecretFields(client_id="cid", name="s"), create_marker=m))
    assert created["clear"] == clear
    h.api.update_client("cid", expand_client(ClientFields(name="app2"), owner=OWNER))
    assert h.api.get_client("cid").secrets[0].secret_id == "s1"
    assert h.api.delete_secret("cid", "s1") is True
    h.api.delete_client("cid")

    assert h.server.log == [
        "POST /oauth/token",
        "POST /clients",
        "POST /clients/cid/secrets",
        "PUT /clients/cid",
        "GET /clients/cid",
        "DELETE /clients/cid/secrets/s1",
        "DELETE /clients/cid",
    ]
    assert h.api.request_count == 6 and h.sleeps == []
    # every API call carried the one bearer token
    assert len(h.server.tokens) == 1


def test_requests_carry_bearer_token_and_json(h):
    seen: list[httpx.Request] = []

    def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        return ok(client_body())

    h.server.on("PUT /clients/cid", record)
    h.api.update_client("cid", {"id": "cid", "name": "app"})
    (req,) = seen
    assert req.headers["Authorization"] == f"Bearer {h.server.tokens[0]}"
    assert json.loads(req.content) == {"name": "app"}


def test_unwrapped_secret_answer_does_not_leak_clear_value(h):
    # A server (or gateway) answering without the {"data": ...} wrapper must not get the clear value into a message.
    clear = "clear-secret-value-unwrapped"
    h.server.clear_values.append(clear)
    h.server.on("POST /clients/cid/secrets", httpx.Response(200, json={"id": "s1", "clear": clear}))
    message = h.expect_error(UnexpectedResponseError, lambda: h.api.create_secret("cid", lambda m: {"name": "s"}))
    assert "unexpected body (not shown" in message


# ---------------------------------------------------------------- bounded time against a dead endpoint


def test_after_one_call_gives_up_on_a_dead_endpoint_later_calls_fail_at_once(h):
    h.server.on("GET /clients/a", httpx.ConnectError("connection refused"))
    h.expect_error(TransportError, lambda: h.api.get_client("a"))
    sent = len(h.api_log())
    assert sent == 3  # max_retries=2
    message = h.expect_error(TransportError, lambda: h.api.get_client("a"))
    assert len(h.api_log()) == sent
    assert "not tried again" in message


def _token_source(handler, max_retries: int = 1):
    from formance_provider.auth import ClientCredentials
    from formance_provider.redact import Redactor

    settings = Settings(endpoint=ENDPOINT, client_id="provider", client_secret=CLIENT_SECRET, max_retries=max_retries)
    return ClientCredentials(settings, Redactor([CLIENT_SECRET]), sleep=lambda _s: None), httpx.Client(transport=httpx.MockTransport(handler))


def test_a_failed_token_request_is_not_repeated_by_every_resource():
    calls: list[int] = []

    def refuse(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("connection refused")

    tokens, http = _token_source(refuse)
    with pytest.raises(TransportError):
        tokens.get(http)
    assert len(calls) == 2
    with pytest.raises(TransportError):
        tokens.get(http)
    assert len(calls) == 2


def test_bad_credentials_are_not_retried_by_later_calls():
    calls: list[int] = []

    def unauthorized(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(401, json={"error": "invalid_client"})

    tokens, http = _token_source(unauthorized)
    for _ in range(3):
        with pytest.raises(AuthenticationError) as err:
            tokens.get(http)
        assert CLIENT_SECRET not in str(err.value)
    assert len(calls) == 1


def test_tls_failure_of_the_token_endpoint_is_not_retried_and_names_the_ca_setting():
    calls: list[int] = []

    def bad_cert(_request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("[SSL: CERTIFICATE_VERIFY_FAILED] certificate verify failed")

    tokens, http = _token_source(bad_cert, max_retries=4)
    with pytest.raises(TransportError, match="formance:caBundle"):
        tokens.get(http)
    assert len(calls) == 1
