"""Pure tests of formance_provider.spec.parse_clients: every malformed input names its key path and rule."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from formance_provider.errors import ValidationError
from formance_provider.spec import ClientEntry, parse_clients

ROOT = Path(__file__).resolve().parents[2]
LONG = "x" * 256


def _secret(**settings):
    return {"app": {"secrets": {"s": settings}}}


MALFORMED = [
    # (id, input, expected substrings)
    ("clients-list", [], ["clients: must be a map", "got a list"]),
    ("clients-int", 5, ["clients: must be a map", "got a int"]),
    ("clients-bad-json-string", "not json", ["clients: must be a map", "got a string"]),
    ("clients-json-list", "[1, 2]", ["clients: must be a map", "got a list"]),
    ("client-value-list", {"app": ["a"]}, ["clients.app: must be a map of client settings (got a list)"]),
    ("client-value-string", {"app": "x"}, ["clients.app: must be a map of client settings (got a str)"]),
    ("unknown-key-did-you-mean", {"app": {"scope": ["a"]}}, ["clients.app.scope: unknown key; did you mean 'scopes'?"]),
    ("unknown-key-case", {"app": {"redirecturis": []}}, ["clients.app.redirecturis: unknown key; did you mean 'redirectUris'?"]),
    ("unknown-key-snake", {"app": {"client_id": "x"}}, ["clients.app.client_id: unknown key; did you mean 'clientId'?"]),
    ("unknown-key-far", {"app": {"zzz": 1}}, ["clients.app.zzz: unknown key; known keys: name, clientId"]),
    ("empty-name", {"app": {"name": ""}}, ["clients.app.name: name must not be empty"]),
    ("over-long-name", {"app": {"name": LONG}}, ["clients.app.name: name must be at most 255"]),
    ("padded-name", {"app": {"name": "app "}}, ["clients.app.name: name must not start or end with whitespace"]),
    ("name-not-string", {"app": {"name": 5}}, ["clients.app.name: must be a string"]),
    ("description-not-string", {"app": {"description": 5}}, ["clients.app.description: must be a string"]),
    ("public-not-bool", {"app": {"public": "yes"}}, ["clients.app.public: must be true or false"]),
    ("trusted-not-bool", {"app": {"trusted": 1.5}}, ["clients.app.trusted: must be true or false"]),
    ("adopt-not-bool", {"app": {"adopt": "yes"}}, ["clients.app.adopt: must be true or false"]),
    ("client-id-padded", {"app": {"clientId": " x"}}, ["clients.app.clientId: must be a non-empty string"]),
    ("client-id-not-string", {"app": {"clientId": 5}}, ["clients.app.clientId: must be a non-empty string"]),
    ("client-id-too-long", {"app": {"clientId": LONG}}, ["clients.app.clientId: must be a non-empty string of at most 255"]),
    ("redirect-relative", {"app": {"redirectUris": ["/cb"]}}, ["clients.app.redirectUris[0]: must be an absolute URI"]),
    ("redirect-fragment", {"app": {"redirectUris": ["https://a.example/ok", "https://a.example/cb#x"]}},
     ["clients.app.redirectUris[1]: must not contain a fragment"]),
    ("redirect-whitespace", {"app": {"redirectUris": ["https://a.example/c b"]}}, ["clients.app.redirectUris[0]: must not contain whitespace"]),
    ("redirect-no-host", {"app": {"redirectUris": ["https:///cb"]}}, ["clients.app.redirectUris[0]: must name a host"]),
    ("redirect-not-list", {"app": {"redirectUris": "https://a.example/cb"}}, ["clients.app.redirectUris: must be a list"]),
    ("post-logout-fragment", {"app": {"postLogoutRedirectUris": ["https://a.example/#f"]}},
     ["clients.app.postLogoutRedirectUris[0]: must not contain a fragment"]),
    ("scope-whitespace", {"app": {"scopes": ["ledger:read", "ledger:read ledger:write"]}},
     ["clients.app.scopes[1]: a scope must not contain whitespace"]),
    ("scope-empty", {"app": {"scopes": [""]}}, ["clients.app.scopes[0]: a scope must not be empty"]),
    ("metadata-int-value", {"app": {"metadata": {"team": 1}}}, ["clients.app.metadata.team: must be a string"]),
    ("metadata-bool-value", {"app": {"metadata": {"team": True}}}, ["clients.app.metadata.team: must be a string"]),
    ("metadata-reserved", {"app": {"metadata": {"formance-pulumi/owner": "me"}}},
     ["clients.app.metadata: metadata key 'formance-pulumi/owner' is reserved"]),
    ("secrets-not-map", {"app": {"secrets": ["s"]}}, ["clients.app.secrets: must be a map of secret names to secret settings (got a list)"]),
    ("secret-value-list", {"app": {"secrets": {"s": [1]}}}, ["clients.app.secrets.s: must be a map of secret settings (got a list)"]),
    ("secret-unknown-key", _secret(rotateAfter=3), ["clients.app.secrets.s.rotateAfter: unknown key; did you mean 'rotateAfterDays'?"]),
    ("keepers-not-map", _secret(keepers=["a"]), ["clients.app.secrets.s.keepers: must be a map of names to values"]),
    ("keepers-string", _secret(keepers="2026"), ["clients.app.secrets.s.keepers: must be a map"]),
    ("keeper-value-list", _secret(keepers={"k": [1]}), ["clients.app.secrets.s.keepers.k"]),
    ("secret-metadata-not-map", _secret(metadata="x"), ["clients.app.secrets.s.metadata: must be a map of strings to strings"]),
    ("secret-metadata-int", _secret(metadata={"k": 1}), ["clients.app.secrets.s.metadata.k: must be a string"]),
    ("secret-metadata-reserved", _secret(metadata={"formance-pulumi/create-id": "1"}),
     ["clients.app.secrets.s.metadata: metadata key 'formance-pulumi/create-id' is reserved"]),
    ("rotate-negative", _secret(rotateAfterDays=-1), ["clients.app.secrets.s.rotateAfterDays: must be at least 1"]),
    ("rotate-zero", _secret(rotateAfterDays=0), ["clients.app.secrets.s.rotateAfterDays: must be at least 1"]),
    ("rotate-string", _secret(rotateAfterDays="30"), ["clients.app.secrets.s.rotateAfterDays: must be a whole number"]),
    ("grace-negative", _secret(graceUpdates=-1), ["clients.app.secrets.s.graceUpdates: must be at least 0"]),
    ("client-key-slash", {"a/b": {}}, ["clients.a/b: client names must not contain '/'"]),
    ("client-key-empty", {"": {}}, ["clients.: client names must be non-empty strings"]),
    ("client-key-padded", {" app": {}}, ["clients. app: client names must not start or end with whitespace"]),
    ("client-key-too-long", {LONG: {}}, ["client names must be at most 255 characters"]),
    ("client-key-int", {5: {}}, ["clients.5: client names must be non-empty strings"]),
    ("secret-key-padded", {"app": {"secrets": {"s ": {}}}}, ["clients.app.secrets.s : secret names must not start or end with whitespace"]),
]


@pytest.mark.parametrize("raw, expected", [c[1:] for c in MALFORMED], ids=[c[0] for c in MALFORMED])
def test_malformed(raw, expected):
    with pytest.raises(ValidationError) as info:
        parse_clients(raw)
    message = str(info.value)
    for substring in expected:
        assert substring in message, message


def test_malformed_table_is_large_enough():
    assert len(MALFORMED) >= 25


def test_every_problem_is_listed_at_once():
    raw = {
        "a": {"scopes": ["x y"], "nmae": "b"},
        "b": {"redirectUris": ["/cb"], "secrets": {"s": {"rotateAfterDays": 0}}},
    }
    with pytest.raises(ValidationError) as info:
        parse_clients(raw)
    lines = str(info.value).splitlines()
    assert any(line.startswith("clients.a.scopes[0]:") for line in lines)
    assert any(line.startswith("clients.a.nmae: unknown key; did you mean 'name'?") for line in lines)
    assert any(line.startswith("clients.b.redirectUris[0]:") for line in lines)
    assert any(line.startswith("clients.b.secrets.s.rotateAfterDays:") for line in lines)


@pytest.mark.parametrize("raw", [None, {}, "null", "{}"])
def test_empty(raw):
    assert parse_clients(raw) == []


def test_dev_stack_example_parses():
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    entries = parse_clients(doc["config"]["formance-auth:clients"])
    assert entries == [
        ClientEntry(
            key="my-backend",
            client_id=None,
            adopt=False,
            inputs={"name": "my-backend", "description": "Payments backend", "scopes": ["ledger:read", "ledger:write"]},
            secrets={
                "default-secret": {},
                "reporting-job": {"metadata": {"owner": "data-team"}, "keepers": {"rotated": "2026-12"}},
            },
        ),
        ClientEntry(
            key="web-dashboard",
            client_id=None,
            adopt=False,
            inputs={"name": "web-dashboard", "public": True, "redirect_uris": ["https://dashboard.example.com/callback"]},
            secrets={},
        ),
    ]


def test_json_text_is_accepted_like_the_map():
    # configure() and Config.get give structured config as JSON text.
    doc = yaml.safe_load((ROOT / "stacks" / "Pulumi.dev.yaml").read_text())
    clients = doc["config"]["formance-auth:clients"]
    assert parse_clients(json.dumps(clients)) == parse_clients(clients)


def test_full_valid_client():
    (entry,) = parse_clients(
        {
            "app": {
                "name": "App",
                "clientId": "my-id",
                "adopt": True,
                "description": "d",
                "trusted": False,
                "postLogoutRedirectUris": ["https://a.example/bye"],
                "metadata": {"k": "v"},
                "secrets": {"s": {"rotateAfterDays": 30, "graceUpdates": 2, "keepers": {"n": 1}}, "t": None},
            }
        }
    )
    assert entry.client_id == "my-id" and entry.adopt is True
    assert entry.inputs == {"name": "App", "description": "d", "trusted": False,
                            "post_logout_redirect_uris": ["https://a.example/bye"], "metadata": {"k": "v"}}
    assert entry.secrets == {"s": {"rotate_after_days": 30, "grace_updates": 2, "keepers": {"n": 1}}, "t": {}}


def test_null_client_value_is_empty_settings():
    (entry,) = parse_clients({"app": None})
    assert entry.inputs == {"name": "app"} and entry.secrets == {}


def test_one_run_lists_problems_of_client_and_secrets_together():
    with pytest.raises(ValidationError) as err:
        parse_clients({"c": {"clientId": "", "secrets": {"s": {"keepers": [1, 2]}}}})
    lines = str(err.value).splitlines()
    assert any(line.startswith("clients.c.clientId:") for line in lines)
    assert any(line.startswith("clients.c.secrets.s.keepers:") for line in lines)


def test_typo_in_the_project_key_is_refused_with_a_suggestion():
    from formance_provider.program import check_project_keys

    with pytest.raises(ValidationError, match=r"formance-auth:client: unknown key; did you mean formance-auth:clients\?"):
        check_project_keys({"formance-auth:client": "{}"}, "formance-auth")
    check_project_keys({"formance-auth:clients": "{}", "formance:endpoint": "x", "other:key": "y"}, "formance-auth")
