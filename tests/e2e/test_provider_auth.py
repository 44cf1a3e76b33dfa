"""Issue 4: how the provider authenticates, with the real CLI against the local stack."""

from __future__ import annotations

import base64
import json
import sys
import time

import httpx
import pytest

from pulumi_project import PulumiProject

pytestmark = pytest.mark.timeout(600)

CLIENTS = {"app": {"scopes": ["ledger:read"], "secrets": {"s": {}}}}


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def forged_jwt(exp: float) -> str:
    """A JWT-shaped token the server will refuse (bad signature), with the ``exp`` we choose."""
    return f"{_b64({'alg': 'RS256', 'typ': 'JWT'})}.{_b64({'exp': int(exp), 'scope': 'auth:read auth:write'})}.c2lnbmF0dXJl"


def admin_token(local_stack: dict, scope: str = "auth:read auth:write") -> str:
    r = httpx.post(local_stack["endpoint"] + "/oauth/token", data={"grant_type": "client_credentials", "scope": scope},
                   auth=(local_stack["clientId"], local_stack["clientSecret"]), timeout=10)
    assert r.status_code == 200, r.text
    return r.json()["access_token"]


NO_CREDS = {"FORMANCE_CLIENT_ID": "", "FORMANCE_CLIENT_SECRET": ""}


def _ours(admin_api, project: PulumiProject) -> list:
    return [c for c in admin_api.list_clients() if (c.owner or "").startswith(f"formance-auth/{project.stack}/")]


def test_client_credentials_from_stack_config(project: PulumiProject, local_stack: dict, admin_api) -> None:
    project.run("config", "set", "formance:clientId", local_stack["clientId"])
    project.run("config", "set", "--secret", "formance:clientSecret", local_stack["clientSecret"])
    project.write_config(CLIENTS)
    proc = project.up(env=NO_CREDS)
    assert len(_ours(admin_api, project)) == 1, proc.stdout + proc.stderr
    stack_file = (project.root / "stacks" / f"Pulumi.{project.stack}.yaml").read_text()
    assert local_stack["clientSecret"] not in stack_file


def test_static_bearer_token(project: PulumiProject, local_stack: dict, admin_api) -> None:
    project.write_config(CLIENTS)
    token = admin_token(local_stack)
    project.up(env={**NO_CREDS, "FORMANCE_TOKEN": token})
    assert len(_ours(admin_api, project)) == 1
    assert token not in project.text()


def test_token_without_write_scope_fails_with_scope_message_and_creates_nothing(project: PulumiProject, local_stack: dict, admin_api) -> None:
    reader_id = f"{project.stack}-reader"
    admin_api.create_client({"id": reader_id, "name": reader_id, "scopes": ["auth:read"]}, owner=None)
    try:
        secret = admin_api.create_secret(reader_id, lambda m: {"name": "s", "metadata": {}})["clear"]
        project.write_config(CLIENTS)
        proc = project.up(check=False, env={"FORMANCE_CLIENT_ID": reader_id, "FORMANCE_CLIENT_SECRET": secret})
        assert proc.returncode != 0
        assert "missing scope" in proc.stdout + proc.stderr
        assert "auth:write" in proc.stdout + proc.stderr
        assert secret not in project.text()
        assert _ours(admin_api, project) == []
    finally:
        admin_api.delete_client(reader_id)


def test_wrong_secret_fails_clearly(project: PulumiProject, local_stack: dict, admin_api) -> None:
    project.write_config(CLIENTS)
    wrong = "not-the-secret-0123456789"
    proc = project.up(check=False, env={"FORMANCE_CLIENT_SECRET": wrong})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "refused client" in out and local_stack["clientId"] in out
    assert wrong not in out
    assert _ours(admin_api, project) == []


def test_expired_token_fails_with_renewal_message(project: PulumiProject, admin_api) -> None:
    project.write_config(CLIENTS)
    proc = project.up(check=False, env={**NO_CREDS, "FORMANCE_TOKEN": forged_jwt(time.time() - 60)})
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "expired" in out and "fctl cloud generate-personal-token" in out
    assert _ours(admin_api, project) == []


def test_expired_token_is_renewed_by_token_command(project: PulumiProject, local_stack: dict, admin_api, tmp_path) -> None:
    fresh = admin_token(local_stack)
    script = tmp_path / "token.py"
    script.write_text(f"print({fresh!r})\n")
    project.write_config(CLIENTS)
    project.up(env={**NO_CREDS, "FORMANCE_TOKEN": forged_jwt(time.time() - 60), "FORMANCE_TOKEN_COMMAND": f"{sys.executable} {script}"})
    assert len(_ours(admin_api, project)) == 1
    assert fresh not in project.text()


def test_token_renewed_after_a_401_mid_run(project: PulumiProject, local_stack: dict, admin_api, tmp_path) -> None:
    """A token the server refuses (401) is renewed once through the token command, and the run goes on."""
    fresh = admin_token(local_stack)
    script = tmp_path / "token.py"
    script.write_text(f"print({fresh!r})\n")
    project.write_config(CLIENTS)
    project.up(env={**NO_CREDS, "FORMANCE_TOKEN": forged_jwt(time.time() + 3600), "FORMANCE_TOKEN_COMMAND": f"{sys.executable} {script}"})
    assert len(_ours(admin_api, project)) == 1


def test_token_command_in_stack_file_is_refused(project: PulumiProject, admin_api) -> None:
    project.write_config(CLIENTS, **{"formance:tokenCommand": "touch /tmp/pwned-by-pr"})
    proc = project.preview(check=False)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "formance:tokenCommand is not accepted from stack config" in out
    assert _ours(admin_api, project) == []


def test_missing_credentials_fail_at_preview_naming_the_keys(project: PulumiProject) -> None:
    project.write_config(CLIENTS)
    proc = project.preview(check=False, env=NO_CREDS)
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "formance:clientId" in out and "FORMANCE_TOKEN" in out


def test_provider_blob_holds_no_credentials(project: PulumiProject, local_stack: dict) -> None:
    project.write_config(CLIENTS)
    project.up()
    exported = project.export(show_secrets=True)
    blobs = [r["inputs"]["__provider"] for r in exported["deployment"]["resources"] if "__provider" in r.get("inputs", {})]
    assert blobs
    for blob in blobs:
        raw = base64.b64decode(blob) if isinstance(blob, str) else base64.b64decode(blob.get("plaintext", "").strip('"'))
        assert local_stack["clientSecret"].encode() not in raw
        assert b"eyJ" not in raw  # no JWT
        assert b"formance_provider.provider" in raw  # pickled by reference
