"""Pure tests of formance_provider.models: normalisation, validation, expand/flatten."""

from __future__ import annotations

import pytest
from pydantic import ValidationError as PydanticValidationError

from formance_provider.models import (
    CLIENT_FIELD_NAMES,
    CREATE_MARKER_KEY,
    OWNER_KEY,
    ClientFields,
    SecretFields,
    describe_validation_error,
    expand_client,
    expand_secret,
    flatten_client,
    flatten_secret,
)

# ---------------------------------------------------------------- ClientFields normalisation


@pytest.mark.parametrize(
    "props, field, expected",
    [
        ({"name": "a", "description": None}, "description", ""),
        ({"name": "a"}, "description", ""),
        ({"name": "a", "public": None}, "public", False),
        ({"name": "a", "trusted": None}, "trusted", False),
        ({"name": "a", "redirect_uris": None}, "redirect_uris", ()),
        ({"name": "a", "redirect_uris": []}, "redirect_uris", ()),
        ({"name": "a", "post_logout_redirect_uris": None}, "post_logout_redirect_uris", ()),
        ({"name": "a", "scopes": None}, "scopes", ()),
        ({"name": "a", "scopes": []}, "scopes", ()),
        ({"name": "a", "metadata": None}, "metadata", {}),
        ({"name": "a", "scopes": ["b", "a", "b", "c"]}, "scopes", ("a", "b", "c")),
        # redirect URIs keep their order (the server stores a list)
        (
            {"name": "a", "redirect_uris": ["https://z.example/cb", "https://a.example/cb"]},
            "redirect_uris",
            ("https://z.example/cb", "https://a.example/cb"),
        ),
        ({"name": "a", "metadata": {"z": "1", "a": "2"}}, "metadata", {"a": "2", "z": "1"}),
    ],
)
def test_client_fields_normalise(props, field, expected):
    fields = ClientFields.from_props(props)
    assert getattr(fields, field) == expected


def test_client_fields_metadata_sorted_keys():
    fields = ClientFields.from_props({"name": "a", "metadata": {"z": "1", "a": "2"}})
    assert list(fields.metadata) == ["a", "z"]


def test_null_empty_and_missing_give_equal_models():
    a = ClientFields.from_props({"name": "n"})
    b = ClientFields.from_props(
        {"name": "n", "description": None, "public": None, "trusted": None, "redirect_uris": None,
         "post_logout_redirect_uris": None, "scopes": None, "metadata": None}
    )
    c = ClientFields.from_props(
        {"name": "n", "description": "", "public": False, "trusted": False, "redirect_uris": [],
         "post_logout_redirect_uris": [], "scopes": [], "metadata": {}}
    )
    assert a == b == c


def test_from_props_ignores_state_only_keys():
    fields = ClientFields.from_props({"name": "n", "client_id": "x", "adopt": True, "owner": "p/s/r", "__provider": "..."})
    assert fields.name == "n"


def test_to_props_round_trip():
    props = {"name": "n", "description": "d", "public": True, "trusted": False,
             "redirect_uris": ["https://a.example/cb"], "post_logout_redirect_uris": ["https://a.example/bye"],
             "scopes": ["x", "y"], "metadata": {"k": "v"}}
    assert ClientFields.from_props(props).to_props() == props


def test_secret_fields_normalise():
    s = SecretFields.from_props({"client_id": "c", "name": "n", "metadata": None, "keepers": None, "grace_updates": None})
    assert s.metadata == {} and s.keepers == {} and s.grace_updates == 0 and s.rotate_after_days is None
    s2 = SecretFields.from_props({"client_id": "c", "name": "n", "keepers": {"b": 1, "a": "x"}})
    assert list(s2.keepers) == ["a", "b"]


# ---------------------------------------------------------------- validation rules

LONG = "x" * 256


@pytest.mark.parametrize(
    "props, substring",
    [
        ({"name": ""}, "must not be empty"),
        ({"name": "   "}, "must not be empty"),
        ({"name": " app"}, "whitespace"),
        ({"name": "app\t"}, "whitespace"),
        ({"name": LONG}, "at most 255"),
        ({"name": 5}, "valid string"),
        ({"name": "a", "description": "d" * 2049}, "at most 2048"),
        ({"name": "a", "public": "yes"}, "valid boolean"),
        ({"name": "a", "redirect_uris": ["/callback"]}, "absolute URI"),
        ({"name": "a", "redirect_uris": ["app.example.com/cb"]}, "absolute URI"),
        ({"name": "a", "redirect_uris": ["https:///cb"]}, "must name a host"),
        ({"name": "a", "redirect_uris": ["https://a.example/cb#frag"]}, "fragment"),
        ({"name": "a", "redirect_uris": ["https://a.example/cb#"]}, "fragment"),
        ({"name": "a", "redirect_uris": ["https://a.example/c b"]}, "whitespace"),
        ({"name": "a", "redirect_uris": [" https://a.example/cb"]}, "whitespace"),
        ({"name": "a", "redirect_uris": ["https://a.example/" + "p" * 2048]}, "at most 2048"),
        ({"name": "a", "post_logout_redirect_uris": ["relative/path"]}, "absolute URI"),
        ({"name": "a", "redirect_uris": "https://a.example/cb"}, "tuple"),
        ({"name": "a", "scopes": ["ledger:read ledger:write"]}, "whitespace"),
        ({"name": "a", "scopes": [""]}, "must not be empty"),
        ({"name": "a", "scopes": ["s" * 256]}, "at most 255"),
        ({"name": "a", "scopes": [1]}, "valid string"),
        ({"name": "a", "metadata": {"k": 1}}, "valid string"),
        ({"name": "a", "metadata": {"k": True}}, "valid string"),
        ({"name": "a", "metadata": {"k": None}}, "valid string"),
        ({"name": "a", "metadata": {"formance-pulumi/owner": "me"}}, "reserved"),
        ({"name": "a", "metadata": {"formance-pulumi/x": "me"}}, "reserved"),
        ({"name": "a", "metadata": {"": "v"}}, "must not be empty"),
        ({"name": "a", "metadata": {"k" * 256: "v"}}, "longer than 255"),
        ({"name": "a", "metadata": {"k": "v" * 4097}}, "longer than 4096"),
        ({"name": "a", "unknown": 1}, "Extra inputs"),
    ],
)
def test_client_fields_rejects(props, substring):
    with pytest.raises(PydanticValidationError) as info:
        ClientFields(**props)
    assert substring in str(info.value)


@pytest.mark.parametrize(
    "uri",
    ["https://a.example/cb", "http://localhost:3000/cb", "com.example.app:/oauth2redirect", "myapp://callback", "urn:ietf:wg:oauth:2.0:oob"],
)
def test_redirect_uri_accepted(uri):
    assert ClientFields(name="a", redirect_uris=[uri]).redirect_uris == (uri,)


@pytest.mark.parametrize(
    "props, substring",
    [
        ({"client_id": "", "name": "n"}, "client_id must not be empty"),
        ({"client_id": "c", "name": ""}, "name must not be empty"),
        ({"client_id": "c", "name": " n"}, "whitespace"),
        ({"client_id": "c", "name": "n", "metadata": {"k": 2}}, "valid string"),
        ({"client_id": "c", "name": "n", "metadata": {"formance-pulumi/create-id": "x"}}, "reserved"),
        ({"client_id": "c", "name": "n", "keepers": {"k": [1]}}, "keepers.k"),
        ({"client_id": "c", "name": "n", "keepers": "x"}, "valid dictionary"),
        ({"client_id": "c", "name": "n", "rotate_after_days": -1}, "greater than or equal to 1"),
        ({"client_id": "c", "name": "n", "rotate_after_days": 0}, "greater than or equal to 1"),
        ({"client_id": "c", "name": "n", "rotate_after_days": "30"}, "valid integer"),
        ({"client_id": "c", "name": "n", "rotate_after_days": True}, "valid integer"),
        ({"client_id": "c", "name": "n", "grace_updates": -1}, "greater than or equal to 0"),
        ({"client_id": "c", "name": "n", "grace_updates": 1.5}, "valid integer"),
    ],
)
def test_secret_fields_rejects(props, substring):
    with pytest.raises(PydanticValidationError) as info:
        SecretFields(**props)
    assert substring in str(info.value)


def test_secret_fields_accepts_keeper_scalars():
    s = SecretFields(client_id="c", name="n", keepers={"a": "x", "b": 1, "c": 1.5, "d": True}, rotate_after_days=1, grace_updates=2)
    assert s.keepers == {"a": "x", "b": 1, "c": 1.5, "d": True}


# ---------------------------------------------------------------- describe_validation_error


@pytest.mark.parametrize(
    "props, prefix, expected",
    [
        ({"name": "a", "scopes": ["ok", "bad scope"]}, "clients.app", "clients.app.scopes[1]: a scope must not contain whitespace"),
        ({"name": "a", "redirect_uris": ["https://a.example/#x"]}, "clients.app", "clients.app.redirect_uris[0]: must not contain a fragment"),
        ({"name": ""}, "", "name: name must not be empty"),
        ({"name": "a", "metadata": {"k": 1}}, "c", "c.metadata.k: must be a string"),
        ({"name": "a", "bogus": 1}, "clients.app", "clients.app.bogus: unknown key"),
    ],
)
def test_describe_validation_error(props, prefix, expected):
    with pytest.raises(PydanticValidationError) as info:
        ClientFields(**props)
    lines = describe_validation_error(info.value, prefix)
    assert any(line.startswith(expected) for line in lines), lines
    assert not any("Value error, " in line for line in lines)


def test_describe_lists_every_problem():
    with pytest.raises(PydanticValidationError) as info:
        ClientFields(name="", scopes=["a b"], redirect_uris=["x"])
    assert len(describe_validation_error(info.value)) == 3


# ---------------------------------------------------------------- expand


FULL = ClientFields(
    name="n", description="d", public=True, trusted=True, redirect_uris=["https://a.example/cb"],
    post_logout_redirect_uris=["https://a.example/bye"], scopes=["b", "a"], metadata={"k": "v"},
)
EIGHT = {"name", "description", "public", "trusted", "redirectUris", "postLogoutRedirectUris", "scopes", "metadata"}


def test_expand_client_put_body_has_all_eight_fields_even_when_empty():
    body = expand_client(ClientFields(name="n"))
    assert set(body) == EIGHT
    assert body == {"name": "n", "description": "", "public": False, "trusted": False, "redirectUris": [],
                    "postLogoutRedirectUris": [], "scopes": [], "metadata": {}}


def test_expand_client_post_body_with_id_and_owner():
    body = expand_client(FULL, client_id="cid", owner="proj/stack/res")
    assert set(body) == EIGHT | {"id"}
    assert body["id"] == "cid"
    assert body["metadata"] == {"k": "v", OWNER_KEY: "proj/stack/res"}
    assert body["scopes"] == ["a", "b"]
    # the model itself is not mutated
    assert OWNER_KEY not in FULL.metadata


def test_expand_client_without_owner_has_no_marker():
    assert OWNER_KEY not in expand_client(FULL)["metadata"]


def test_expand_secret():
    fields = SecretFields(client_id="c", name="s", metadata={"team": "data"}, keepers={"k": 1})
    assert expand_secret(fields, create_marker="m-1") == {"name": "s", "metadata": {"team": "data", CREATE_MARKER_KEY: "m-1"}}
    assert CREATE_MARKER_KEY not in fields.metadata


# ---------------------------------------------------------------- flatten

BASE = {"id": "cid", "name": "n", "description": "d", "public": False, "trusted": False}


def test_flatten_client_null_echo_equals_get_empty():
    post_echo = {**BASE, "redirectUris": None, "postLogoutRedirectUris": None, "scopes": None, "metadata": None, "secrets": None}
    get_view = {**BASE, "redirectUris": [], "postLogoutRedirectUris": [], "scopes": [], "metadata": {}, "secrets": []}
    missing = dict(BASE)
    a, b, c = flatten_client(post_echo), flatten_client(get_view), flatten_client(missing)
    assert a == b == c
    assert a.fields == ClientFields(name="n", description="d")


def test_flatten_client_hides_reserved_and_extracts_owner():
    raw = {**BASE, "scopes": ["z", "a", "z"], "redirectUris": ["https://b/cb", "https://a/cb"],
           "metadata": {"team": "x", OWNER_KEY: "p/s/r", "formance-pulumi/other": "y"},
           "secrets": [{"id": "s1", "name": "sec", "lastDigits": "abcd", "metadata": {CREATE_MARKER_KEY: "m1", "k": "v"}}]}
    observed = flatten_client(raw)
    assert observed.client_id == "cid"
    assert observed.owner == "p/s/r"
    assert observed.fields.metadata == {"team": "x"}
    assert observed.fields.scopes == ("a", "z")
    assert observed.fields.redirect_uris == ("https://b/cb", "https://a/cb")
    (secret,) = observed.secrets
    assert secret.secret_id == "s1" and secret.last_digits == "abcd"
    assert secret.create_marker == "m1" and secret.metadata == {"k": "v"}


def test_flatten_equals_from_props_of_expanded_body():
    body = expand_client(FULL, client_id="cid", owner="p/s/r")
    assert flatten_client(body).fields == FULL


def test_flatten_secret_without_metadata():
    s = flatten_secret({"id": "s", "name": None, "metadata": None})
    assert s.metadata == {} and s.create_marker is None and s.name == "" and s.last_digits == ""


def test_client_field_names_are_the_eight():
    assert CLIENT_FIELD_NAMES == ("name", "description", "public", "trusted", "redirect_uris",
                                  "post_logout_redirect_uris", "scopes", "metadata")
