"""Pure tests of formance_provider.settings.load_settings (config and env passed explicitly)."""

from __future__ import annotations

import pytest

from formance_provider.errors import SettingsError
from formance_provider.settings import DEFAULT_MAX_RETRIES, DEFAULT_TIMEOUT, load_settings, normalise_endpoint

STACK = "https://acme-dev.eu-west-1.formance.cloud"
CREDS = {"formance:clientId": "cid", "formance:clientSecret": "csecret-value"}


def cfg(**kw):
    return {f"formance:{k}": v for k, v in kw.items()}


def test_config_beats_env():
    s = load_settings(
        {"formance:endpoint": "https://config.example", **CREDS, "formance:timeout": "12"},
        {"FORMANCE_ENDPOINT": "https://env.example", "FORMANCE_CLIENT_ID": "env-id", "FORMANCE_CLIENT_SECRET": "env-secret",
         "FORMANCE_TIMEOUT": "99"},
    )
    assert s.endpoint == "https://config.example/api/auth"
    assert (s.client_id, s.client_secret, s.timeout) == ("cid", "csecret-value", 12.0)


def test_env_is_fallback_and_empty_config_falls_through():
    s = load_settings(
        {"formance:endpoint": "", "other:key": "ignored"},
        {"FORMANCE_ENDPOINT": STACK, "FORMANCE_TOKEN": "tok-value", "FORMANCE_MAX_RETRIES": "2"},
    )
    assert s.endpoint == STACK + "/api/auth"
    assert s.token == "tok-value" and s.client_id is None
    assert s.max_retries == 2 and s.timeout == DEFAULT_TIMEOUT


def test_defaults():
    s = load_settings({"formance:endpoint": STACK, **CREDS}, {})
    assert s.timeout == DEFAULT_TIMEOUT and s.max_retries == DEFAULT_MAX_RETRIES and s.insecure is False and s.ca_bundle is None
    assert s.token_url == STACK + "/api/auth/oauth/token"
    assert s.secrets() == ["csecret-value"]


def test_repr_hides_secrets():
    s = load_settings({"formance:endpoint": STACK, **CREDS}, {})
    assert "csecret-value" not in repr(s)
    s2 = load_settings({"formance:endpoint": STACK}, {"FORMANCE_TOKEN": "tok-value-123"})
    assert "tok-value-123" not in repr(s2)


@pytest.mark.parametrize(
    "raw, expected",
    [
        (STACK, STACK + "/api/auth"),
        (STACK + "/", STACK + "/api/auth"),
        (STACK + "/api/auth", STACK + "/api/auth"),
        (STACK + "/api/auth/", STACK + "/api/auth"),
        (STACK + "/api/auth//", STACK + "/api/auth"),
        ("  " + STACK + "  ", STACK + "/api/auth"),
        ("https://gw.example:8443/prefix", "https://gw.example:8443/prefix/api/auth"),
        ("http://127.0.0.1:18080/api/auth", "http://127.0.0.1:18080/api/auth"),
        ("http://localhost:8080", "http://localhost:8080/api/auth"),
        ("http://auth.localhost", "http://auth.localhost/api/auth"),
        ("http://[::1]:8080/", "http://[::1]:8080/api/auth"),
        ("http://127.0.0.2", "http://127.0.0.2/api/auth"),
    ],
)
def test_endpoint_normalisation(raw, expected):
    assert load_settings({"formance:endpoint": raw, **CREDS}, {}).endpoint == expected


@pytest.mark.parametrize("raw", ["http://acme.example", "http://10.0.0.5:8080", "http://localhost.evil.example"])
def test_http_refused_for_non_loopback(raw):
    with pytest.raises(SettingsError, match="clear text") as info:
        load_settings({"formance:endpoint": raw, **CREDS}, {})
    assert "formance:insecure" in str(info.value) and "formance:endpoint" in str(info.value)


@pytest.mark.parametrize("flag", ["true", "1", "yes", "TRUE", True])
def test_http_allowed_when_insecure(flag):
    s = load_settings({"formance:endpoint": "http://acme.example", "formance:insecure": flag, **CREDS}, {})
    assert s.insecure is True and s.endpoint == "http://acme.example/api/auth"


def test_http_refusal_names_env_key_when_from_env():
    with pytest.raises(SettingsError, match="FORMANCE_ENDPOINT uses http://"):
        load_settings(CREDS, {"FORMANCE_ENDPOINT": "http://acme.example"})


def test_insecure_must_be_boolean():
    with pytest.raises(SettingsError, match="formance:insecure must be true or false"):
        load_settings({"formance:endpoint": STACK, "formance:insecure": "maybe", **CREDS}, {})


@pytest.mark.parametrize(
    "raw, match",
    [
        ("acme.formance.cloud", "must be an http"),
        ("ftp://acme.example", "must be an http"),
        ("https://", "must be an http"),
        (STACK + "?x=1", "query or a fragment"),
        (STACK + "#frag", "query or a fragment"),
    ],
)
def test_bad_endpoint(raw, match):
    with pytest.raises(SettingsError, match=match):
        normalise_endpoint(raw)


@pytest.mark.parametrize(
    "config, env, substrings",
    [
        ({}, {}, ["No Formance endpoint", "formance:endpoint", "FORMANCE_ENDPOINT"]),
        (cfg(endpoint=STACK), {}, ["No credentials", "formance:clientId", "formance:clientSecret", "FORMANCE_TOKEN",
                                    "fctl cloud generate-personal-token"]),
        (cfg(endpoint=STACK, clientId="cid"), {}, ["incomplete", "formance:clientSecret / FORMANCE_CLIENT_SECRET is not set"]),
        (cfg(endpoint=STACK, clientSecret="s3cret-xyz"), {}, ["incomplete", "formance:clientId / FORMANCE_CLIENT_ID is not set"]),
        (cfg(endpoint=STACK), {"FORMANCE_CLIENT_ID": "cid"}, ["incomplete", "FORMANCE_CLIENT_SECRET"]),
        ({**cfg(endpoint=STACK), **CREDS}, {"FORMANCE_TOKEN": "tok-value"},
         ["Both client credentials (formance:clientId) and a token (FORMANCE_TOKEN)", "keep one"]),
        ({**cfg(endpoint=STACK, token="tok-value"), **CREDS}, {}, ["Both client credentials", "formance:token"]),
        ({**cfg(endpoint=STACK), **CREDS}, {"FORMANCE_TOKEN_COMMAND": "fctl cloud generate-personal-token"},
         ["Both client credentials", "FORMANCE_TOKEN_COMMAND"]),
        (cfg(endpoint=STACK, tokenCommand="curl evil"), {"FORMANCE_TOKEN": "t"},
         ["formance:tokenCommand is not accepted", "FORMANCE_TOKEN_COMMAND", "pulumi config rm formance:tokenCommand"]),
        (cfg(endpoint=STACK, endpont="x"), {}, ["formance:endpont is not a setting", "did you mean formance:endpoint?"]),
        (cfg(endpoint=STACK, clientSecrett="x"), {}, ["did you mean formance:clientSecret?"]),
        (cfg(endpoint=STACK, zzzzzz="x"), {}, ["formance:zzzzzz is not a setting", "known keys: endpoint"]),
        ({**cfg(endpoint=STACK, caBundle="/nonexistent/ca.pem"), **CREDS}, {}, ["formance:caBundle names '/nonexistent/ca.pem'", "not a readable file"]),
        ({**cfg(endpoint=STACK), **CREDS}, {"FORMANCE_CA_BUNDLE": "/nonexistent/ca.pem"}, ["FORMANCE_CA_BUNDLE names"]),
        ({**cfg(endpoint=STACK, timeout="abc"), **CREDS}, {}, ["formance:timeout must be a number of seconds"]),
        ({**cfg(endpoint=STACK, timeout="0"), **CREDS}, {}, ["formance:timeout must be between 0 and 600"]),
        ({**cfg(endpoint=STACK, timeout="-5"), **CREDS}, {}, ["between 0 and 600"]),
        ({**cfg(endpoint=STACK, timeout="601"), **CREDS}, {}, ["between 0 and 600"]),
        ({**cfg(endpoint=STACK, timeout="nan"), **CREDS}, {}, ["between 0 and 600"]),
        ({**cfg(endpoint=STACK), **CREDS}, {"FORMANCE_TIMEOUT": "inf"}, ["FORMANCE_TIMEOUT must be between 0 and 600"]),
        ({**cfg(endpoint=STACK, maxRetries="x"), **CREDS}, {}, ["formance:maxRetries must be a whole number"]),
        ({**cfg(endpoint=STACK, maxRetries="1.5"), **CREDS}, {}, ["must be a whole number"]),
        ({**cfg(endpoint=STACK, maxRetries="-1"), **CREDS}, {}, ["formance:maxRetries must be between 0 and 20"]),
        ({**cfg(endpoint=STACK, maxRetries="21"), **CREDS}, {}, ["between 0 and 20"]),
    ],
)
def test_errors(config, env, substrings):
    with pytest.raises(SettingsError) as info:
        load_settings(config, env)
    for s in substrings:
        assert s in str(info.value), str(info.value)
    # No error message repeats a secret value it was given.
    for secret in ("csecret-value", "s3cret-xyz", "tok-value"):
        assert secret not in str(info.value)


def test_token_command_from_env_only():
    s = load_settings(cfg(endpoint=STACK), {"FORMANCE_TOKEN_COMMAND": "fctl cloud generate-personal-token"})
    assert s.token_command == "fctl cloud generate-personal-token" and s.token is None


def test_ca_bundle_file_accepted(tmp_path):
    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    s = load_settings({**cfg(endpoint=STACK, caBundle=str(ca)), **CREDS}, {})
    assert s.ca_bundle == str(ca)


@pytest.mark.parametrize("timeout, retries", [("0.5", "0"), ("600", "20"), ("30", "4")])
def test_numeric_bounds_accepted(timeout, retries):
    s = load_settings({**cfg(endpoint=STACK, timeout=timeout, maxRetries=retries), **CREDS}, {})
    assert s.timeout == float(timeout) and s.max_retries == int(retries)


def test_config_endpoint_disagreeing_with_env_endpoint_fails_when_credentials_come_from_env():
    env = {"FORMANCE_ENDPOINT": "https://other.example", "FORMANCE_CLIENT_ID": "id", "FORMANCE_CLIENT_SECRET": "env-secret"}
    with pytest.raises(SettingsError) as err:
        load_settings({"formance:endpoint": STACK}, env)
    assert "formance:endpoint" in str(err.value) and "FORMANCE_ENDPOINT" in str(err.value)
    assert "env-secret" not in str(err.value)
    # The same endpoint written differently is no disagreement.
    assert load_settings({"formance:endpoint": STACK + "/"}, {**env, "FORMANCE_ENDPOINT": STACK + "/api/auth"}).endpoint == STACK + "/api/auth"
