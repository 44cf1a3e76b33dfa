"""Pure tests of formance_provider.auth with httpx.MockTransport and an injected clock."""

from __future__ import annotations

import base64
import json

import httpx
import pytest

from formance_provider.auth import RENEW_MARGIN, ClientCredentials, StaticToken, jwt_expiry, token_source
from formance_provider.errors import AuthenticationError, PermissionDeniedError, TransportError, UnexpectedResponseError
from formance_provider.redact import Redactor
from formance_provider.settings import Settings

ENDPOINT = "https://acme.example/api/auth"
CLIENT_SECRET = "very-secret-client-secret"
T0 = 1_800_000_000.0


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def make_jwt(payload: dict) -> str:
    """An unsigned JWT-shaped token: only its payload is ever read by the provider."""
    header = b64url(json.dumps({"alg": "none", "typ": "JWT"}).encode())
    return f"{header}.{b64url(json.dumps(payload).encode())}.sig"


class Clock:
    def __init__(self, now: float = T0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


# ---------------------------------------------------------------- jwt_expiry


@pytest.mark.parametrize(
    "token, expected",
    [
        (make_jwt({"exp": 1234}), 1234.0),
        (make_jwt({"exp": 1234.5, "scope": "auth:read"}), 1234.5),
        (make_jwt({"sub": "x"}), None),
        (make_jwt({"exp": "soon"}), None),
        ("not-a-jwt", None),
        ("", None),
        ("a.!!!.c", None),
        ("a." + b64url(b"[1,2]") + ".c", None),
        ("a." + b64url(b"not json") + ".c", None),
    ],
)
def test_jwt_expiry(token, expected):
    assert jwt_expiry(token) == expected


def test_jwt_expiry_handles_padding_lengths():
    for extra in range(4):
        payload = {"exp": 42, "pad": "x" * extra}
        assert jwt_expiry(make_jwt(payload)) == 42.0


# ---------------------------------------------------------------- ClientCredentials


class TokenServer:
    """A token endpoint that counts requests and hands out JWTs valid ``ttl`` seconds."""

    def __init__(self, clock: Clock, ttl: float = 3600, status: int = 200, body: dict | None = None) -> None:
        self.clock = clock
        self.ttl = ttl
        self.status = status
        self.body = body
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        if self.status != 200:
            return httpx.Response(self.status, json={"error": "invalid_client"})
        if self.body is not None:
            return httpx.Response(200, json=self.body)
        token = make_jwt({"exp": self.clock() + self.ttl, "n": len(self.requests)})
        return httpx.Response(200, json={"access_token": token, "token_type": "Bearer", "expires_in": self.ttl,
                                         "scope": "auth:read auth:write"})


def cc_settings() -> Settings:
    return Settings(endpoint=ENDPOINT, client_id="my-client", client_secret=CLIENT_SECRET)


def make_cc(server_kwargs=None):
    clock = Clock()
    server = TokenServer(clock, **(server_kwargs or {}))
    http = httpx.Client(transport=httpx.MockTransport(server))
    redactor = Redactor([CLIENT_SECRET])
    return ClientCredentials(cc_settings(), redactor, clock=clock), server, http, clock, redactor


def test_client_credentials_request_shape():
    cc, server, http, _, _ = make_cc()
    cc.get(http)
    (req,) = server.requests
    assert str(req.url) == ENDPOINT + "/oauth/token"
    form = dict(x.split("=", 1) for x in req.content.decode().split("&"))
    assert form["grant_type"] == "client_credentials"
    assert "auth%3Aread" in form["scope"] and "auth%3Awrite" in form["scope"]
    expected = "Basic " + base64.b64encode(f"my-client:{CLIENT_SECRET}".encode()).decode()
    assert req.headers["Authorization"] == expected


def test_client_credentials_caches_token():
    cc, server, http, clock, redactor = make_cc()
    first = cc.get(http)
    clock.now += 3600 - RENEW_MARGIN - 1
    assert cc.get(http) == first
    assert len(server.requests) == 1 == cc.requests
    # the token is now known to the redactor
    assert redactor(f"x {first} y") == "x [redacted] y"


def test_client_credentials_renews_near_expiry():
    cc, server, http, clock, _ = make_cc()
    first = cc.get(http)
    clock.now += 3600 - RENEW_MARGIN
    second = cc.get(http)
    assert second != first and len(server.requests) == 2


def test_client_credentials_renews_after_401():
    cc, server, http, _, _ = make_cc()
    first = cc.get(http)
    assert cc.renew_after_401(http, first) is True
    second = cc.get(http)
    assert second != first and len(server.requests) == 2


def test_client_credentials_401_for_stale_token_keeps_new_one():
    cc, server, http, _, _ = make_cc()
    first = cc.get(http)
    cc.renew_after_401(http, first)
    second = cc.get(http)
    # another thread reports the old token: the current one is kept
    cc.renew_after_401(http, first)
    assert cc.get(http) == second and len(server.requests) == 2


def test_client_credentials_uses_expires_in_without_jwt_exp():
    cc, server, http, clock, _ = make_cc({"body": {"access_token": "opaque-token", "expires_in": 120}})
    cc.get(http)
    clock.now += 120 - RENEW_MARGIN - 1
    cc.get(http)
    assert len(server.requests) == 1
    clock.now += 1
    cc.get(http)
    assert len(server.requests) == 2


@pytest.mark.parametrize("status", [400, 401])
def test_token_endpoint_refusal(status):
    cc, _, http, _, _ = make_cc({"status": status})
    with pytest.raises(AuthenticationError) as info:
        cc.get(http)
    message = str(info.value)
    assert "'my-client'" in message and f"({status})" in message and "formance:clientSecret" in message
    assert CLIENT_SECRET not in message


def test_token_endpoint_unexpected_status():
    cc, _, http, _, _ = make_cc({"status": 500})
    with pytest.raises(UnexpectedResponseError) as info:
        cc.get(http)
    assert info.value.status_code == 500 and CLIENT_SECRET not in str(info.value)


def test_token_endpoint_without_access_token_redacts_echo():
    cc, _, http, _, _ = make_cc({"body": {"error": f"bad {CLIENT_SECRET}"}})
    with pytest.raises(UnexpectedResponseError) as info:
        cc.get(http)
    assert "without an access_token" in str(info.value) and CLIENT_SECRET not in str(info.value)


def test_token_without_auth_scopes_is_refused():
    cc, _, http, _, _ = make_cc({"body": {"access_token": make_jwt({"exp": T0 + 3600}), "scope": "ledger:read"}})
    with pytest.raises(PermissionDeniedError, match="auth:read, auth:write"):
        cc.get(http)


def test_token_endpoint_unreachable():
    def fail(request):
        raise httpx.ConnectError(f"refused while sending {CLIENT_SECRET}")

    http = httpx.Client(transport=httpx.MockTransport(fail))
    cc = ClientCredentials(cc_settings(), Redactor([CLIENT_SECRET]), clock=Clock())
    with pytest.raises(TransportError) as info:
        cc.get(http)
    assert "Could not reach the token endpoint" in str(info.value) and CLIENT_SECRET not in str(info.value)


# ---------------------------------------------------------------- StaticToken


def no_http():
    def fail(request):  # a static token never calls the network
        raise AssertionError(f"unexpected request {request.url}")

    return httpx.Client(transport=httpx.MockTransport(fail))


def test_static_token_valid():
    token = make_jwt({"exp": T0 + 300})
    st = StaticToken(Settings(endpoint=ENDPOINT, token=token), Redactor(), clock=Clock())
    assert st.get(no_http()) == token
    assert st.renew_after_401(no_http(), token) is False


def test_static_token_opaque_never_expires_here():
    st = StaticToken(Settings(endpoint=ENDPOINT, token="opaque-token"), Redactor(), clock=Clock())
    assert st.get(no_http()) == "opaque-token"


def test_static_token_expired_message():
    token = make_jwt({"exp": T0 - 10})
    st = StaticToken(Settings(endpoint=ENDPOINT, token=token), Redactor(), clock=Clock())
    with pytest.raises(AuthenticationError) as info:
        st.get(no_http())
    message = str(info.value)
    assert "expired" in message and "fctl cloud generate-personal-token" in message
    assert "FORMANCE_TOKEN_COMMAND" in message
    assert token not in message


def test_static_token_expires_within_5_seconds_margin():
    token = make_jwt({"exp": T0 + 4})
    st = StaticToken(Settings(endpoint=ENDPOINT, token=token), Redactor(), clock=Clock())
    with pytest.raises(AuthenticationError, match="expired"):
        st.get(no_http())


class Runner:
    def __init__(self, outputs):
        self.outputs = list(outputs)
        self.calls: list[list[str]] = []

    def __call__(self, argv):
        self.calls.append(argv)
        return self.outputs.pop(0)


def test_static_token_renews_with_command_when_expired():
    clock = Clock()
    old = make_jwt({"exp": T0 - 10})
    new = make_jwt({"exp": T0 + 300})
    run = Runner([new + "\n"])
    redactor = Redactor()
    settings = Settings(endpoint=ENDPOINT, token=old, token_command="fctl cloud generate-personal-token --profile 'a b'")
    st = StaticToken(settings, redactor, clock=clock, run=run)
    assert st.get(no_http()) == new
    assert run.calls == [["fctl", "cloud", "generate-personal-token", "--profile", "a b"]]
    assert redactor(new) == "[redacted]" and redactor(old) == "[redacted]"
    assert st.get(no_http()) == new and len(run.calls) == 1


def test_static_token_command_only():
    new = make_jwt({"exp": T0 + 300})
    run = Runner([new])
    st = StaticToken(Settings(endpoint=ENDPOINT, token_command="gen"), Redactor(), clock=Clock(), run=run)
    assert st.get(no_http()) == new


def test_static_token_renews_after_401_with_command():
    first, second = make_jwt({"exp": T0 + 300, "n": 1}), make_jwt({"exp": T0 + 300, "n": 2})
    run = Runner([first, second])
    st = StaticToken(Settings(endpoint=ENDPOINT, token_command="gen"), Redactor(), clock=Clock(), run=run)
    assert st.get(no_http()) == first
    assert st.renew_after_401(no_http(), first) is True
    assert st.get(no_http()) == second
    # a stale rejection does not run the command again
    assert st.renew_after_401(no_http(), first) is True
    assert len(run.calls) == 2


@pytest.mark.parametrize(
    "output, match",
    [("", "printed no token"), ("  \n", "printed no token"), (make_jwt({"exp": T0 - 1}), "already expired")],
)
def test_static_token_command_bad_output(output, match):
    st = StaticToken(Settings(endpoint=ENDPOINT, token_command="gen"), Redactor(), clock=Clock(), run=Runner([output]))
    with pytest.raises(AuthenticationError, match=match):
        st.get(no_http())


def test_token_source_choice():
    assert isinstance(token_source(cc_settings(), Redactor()), ClientCredentials)
    assert isinstance(token_source(Settings(endpoint=ENDPOINT, token="t"), Redactor()), StaticToken)
