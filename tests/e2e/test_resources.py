"""Issue 3: clients and secrets as Pulumi resources, with the real CLI and the local stack."""

from __future__ import annotations

import httpx
import pytest

from pulumi_project import PulumiProject

pytestmark = pytest.mark.timeout(600)

BASE = {
    "my-backend": {
        "description": "Payments backend",
        "scopes": ["ledger:read", "ledger:write"],
        "secrets": {"default-secret": {}, "reporting-job": {"metadata": {"owner": "data-team"}, "keepers": {"rotated": "2026-12"}}},
    },
    "web-dashboard": {"public": True, "redirectUris": ["https://dashboard.example.com/callback"]},
}


def _token(endpoint: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10)


def _secret_ids(outputs: dict) -> dict[str, str]:
    return {f"{k}/{s}": v["secretId"] for k, c in outputs["clients"].items() for s, v in c["secrets"].items()}


def test_up_creates_exactly_what_is_declared_and_is_then_stable(project: PulumiProject, admin_api, local_stack: dict) -> None:
    before = {c.client_id for c in admin_api.list_clients()}
    project.write_config(BASE)
    project.up()
    out = project.outputs()
    clients = out["clients"]
    assert set(clients) == {"my-backend", "web-dashboard"}
    after = {c.client_id for c in admin_api.list_clients()}
    assert after - before == {clients["my-backend"]["clientId"], clients["web-dashboard"]["clientId"]}

    backend = admin_api.get_client(clients["my-backend"]["clientId"])
    assert backend.fields.name == "my-backend"
    assert backend.fields.description == "Payments backend"
    assert backend.fields.scopes == ("ledger:read", "ledger:write")
    assert {s.name for s in backend.secrets} == {"default-secret", "reporting-job"}
    assert {s.secret_id for s in backend.secrets} == set(_secret_ids(out).values())
    reporting = next(s for s in backend.secrets if s.name == "reporting-job")
    assert reporting.metadata == {"owner": "data-team"}
    dashboard = admin_api.get_client(clients["web-dashboard"]["clientId"])
    assert dashboard.fields.public is True
    assert dashboard.fields.redirect_uris == ("https://dashboard.example.com/callback",)

    # Right after up, nothing to do.
    project.preview("--expect-no-changes")

    # A declared credential gets a token; credentials output is a secret.
    assert out["credentials"] == "[secret]"
    creds = project.credentials()
    cred = creds["my-backend/default-secret"]
    assert cred["clientId"] == clients["my-backend"]["clientId"]
    response = _token(local_stack["endpoint"], cred["clientId"], cred["clientSecret"])
    assert response.status_code == 200, response.text

    # No clear secret in the up output nor in the state export without --show-secrets.
    exported = project.run("stack", "export").stdout
    for c in creds.values():
        assert c["clientSecret"] not in exported
        assert c["clientSecret"] not in project.text()

    # destroy leaves the server as before.
    project.run("destroy", "--yes", "--skip-preview")
    assert {c.client_id for c in admin_api.list_clients()} == before


def test_description_change_updates_in_place_and_touches_no_secret(project: PulumiProject, admin_api) -> None:
    project.write_config(BASE)
    project.up()
    ids = _secret_ids(project.outputs())
    changed = {**BASE, "my-backend": {**BASE["my-backend"], "description": "Payments backend v2"}}
    project.write_config(changed)
    preview = project.preview_json()
    ops = {(s["urn"].split("::")[-1], s["op"]) for s in preview["steps"] if s["op"] != "same"}
    assert ops == {("my-backend", "update")}, ops
    project.up()
    assert _secret_ids(project.outputs()) == ids
    client = admin_api.get_client(project.outputs()["clients"]["my-backend"]["clientId"])
    assert client.fields.description == "Payments backend v2"
    assert {s.secret_id for s in client.secrets} == set(ids.values())
    project.preview("--expect-no-changes")


def test_adding_and_removing_a_secret_touches_only_that_secret(project: PulumiProject, admin_api) -> None:
    project.write_config(BASE)
    project.up()
    ids = _secret_ids(project.outputs())
    added = {**BASE, "my-backend": {**BASE["my-backend"], "secrets": {**BASE["my-backend"]["secrets"], "batch": {}}}}
    project.write_config(added)
    preview = project.preview_json()
    ops = {(s["urn"].split("::")[-1], s["op"]) for s in preview["steps"] if s["op"] != "same"}
    assert ops == {("my-backend/batch", "create")}, ops
    project.up()
    ids2 = _secret_ids(project.outputs())
    assert {k: v for k, v in ids2.items() if k != "my-backend/batch"} == ids

    project.write_config(BASE)
    preview = project.preview_json()
    ops = {(s["urn"].split("::")[-1], s["op"]) for s in preview["steps"] if s["op"] != "same"}
    assert ops == {("my-backend/batch", "delete")}, ops
    project.up()
    client = admin_api.get_client(ids2 and project.outputs()["clients"]["my-backend"]["clientId"])
    assert {s.secret_id for s in client.secrets} == set(ids.values())


def test_client_id_change_replaces_the_client(project: PulumiProject, admin_api) -> None:
    project.write_config({"app": {"clientId": f"{project.stack}-app-1", "secrets": {"s": {}}}})
    project.up()
    project.write_config({"app": {"clientId": f"{project.stack}-app-2", "secrets": {"s": {}}}})
    preview = project.preview_json()
    ops = {(s["urn"].split("::")[-1], s["op"]) for s in preview["steps"] if s["op"] not in ("same",)}
    assert ("app", "replace") in ops or ("app", "create-replacement") in ops, ops
    project.up()
    assert admin_api.get_client(f"{project.stack}-app-1") is None
    new = admin_api.get_client(f"{project.stack}-app-2")
    assert new is not None and len(new.secrets) == 1
    assert project.outputs()["clients"]["app"]["clientId"] == f"{project.stack}-app-2"


def test_keeper_bump_rotates_new_before_old(project: PulumiProject, admin_api, local_stack: dict) -> None:
    clients = {"app": {"secrets": {"s": {"keepers": {"rotated": "1"}}}}}
    project.write_config(clients)
    project.up()
    old_id = _secret_ids(project.outputs())["app/s"]
    old_secret = project.credentials()["app/s"]["clientSecret"]
    project.write_config({"app": {"secrets": {"s": {"keepers": {"rotated": "2"}}}}})
    project.up()
    out = project.outputs()
    new_id = _secret_ids(out)["app/s"]
    assert new_id != old_id
    client = admin_api.get_client(out["clients"]["app"]["clientId"])
    assert [s.secret_id for s in client.secrets] == [new_id]
    cred = project.credentials()["app/s"]
    assert _token(local_stack["endpoint"], cred["clientId"], cred["clientSecret"]).status_code == 200
    assert _token(local_stack["endpoint"], cred["clientId"], old_secret).status_code == 401
    text = project.text()
    # create-replacement is logged before delete-replaced
    assert text.find("replaced") >= 0


def test_refresh_keeps_credentials(project: PulumiProject) -> None:
    project.write_config({"app": {"secrets": {"s": {}}}})
    project.up()
    before = project.credentials()
    project.run("refresh", "--yes", "--skip-preview")
    assert project.credentials() == before
    project.preview("--expect-no-changes")
