"""The import generator's output, without a server."""

from __future__ import annotations

import yaml

from formance_provider.importer import render
from formance_provider.models import OWNER_KEY, flatten_client


def _client(cid: str, name: str, owner: str | None = None, **extra) -> object:
    metadata = {OWNER_KEY: owner} if owner else {}
    return flatten_client({"id": cid, "name": name, "metadata": {**metadata, **extra.pop("metadata", {})}, **extra})


def test_render_declares_each_client_with_adopt_and_its_fields():
    out = render([_client("id-1", "backend", scopes=["b", "a"], description="d", metadata={"team": "x"})])
    block = yaml.safe_load(out)["formance-auth:clients"]
    assert block == {"backend": {"clientId": "id-1", "adopt": True, "name": "backend", "description": "d",
                                 "scopes": ["a", "b"], "metadata": {"team": "x"}}}
    assert OWNER_KEY not in out


def test_managed_clients_are_listed_as_skipped_not_declared():
    managed = _client("id-2", "other", owner="formance-auth/prod/other")
    out = render([], skipped=[managed])
    assert yaml.safe_load(out)["formance-auth:clients"] == {}
    assert "Skipped other (id-2): already managed by the Pulumi stack formance-auth/prod/other" in out


def test_same_names_get_distinct_keys():
    block = yaml.safe_load(render([_client("a", "app"), _client("b", "app")]))["formance-auth:clients"]
    assert sorted(block) == ["app", "app-2"]
