"""Issue 6: no secret in anything the CLI prints or stores unencrypted.

Clear client secrets (current and rotated-out), the provider's admin client secret
and bearer tokens (anything JWT-shaped) must not appear in: CLI text and --json
output, `stack export` without --show-secrets, the engine's and provider's logs
at -v=9, the pickled ``__provider`` blob of each resource, and error messages.
"""

from __future__ import annotations

import base64
import json
import re
import uuid

import httpx
import pytest

from pulumi_project import PulumiProject

pytestmark = pytest.mark.timeout(600)

JWT = re.compile(r"eyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}")

DECLARED = {
    "svc": {"scopes": ["ledger:read"], "secrets": {"a": {}, "b": {"keepers": {"v": 1}}}},
    "web": {"public": True, "redirectUris": ["https://app.example.com/cb"]},
}


def _plain(value):
    """A decrypted export value: plaintext, or the engine's secret envelope with ``plaintext``."""
    if isinstance(value, dict) and "plaintext" in value:
        return json.loads(value["plaintext"])
    return value


def _scan(name: str, text: str | bytes, secrets: list[str]) -> None:
    blob = text if isinstance(text, str) else text.decode("latin-1")
    for i, secret in enumerate(secrets):
        assert secret not in blob, f"secret #{i} appears in {name}"
    match = JWT.search(blob)
    assert match is None, f"a JWT-like string appears in {name}: {match.group(0)[:12]}..."


def test_no_secret_anywhere(project: PulumiProject, admin_api, local_stack: dict) -> None:
    endpoint = local_stack["endpoint"]
    admin_token = httpx.post(endpoint + "/oauth/token", data={"grant_type": "client_credentials"},
                             auth=(local_stack["clientId"], local_stack["clientSecret"]), timeout=10).json()["access_token"]
    assert JWT.search(admin_token)  # the pattern does catch real tokens of this server

    project.write_config(DECLARED)
    texts: dict[str, str] = {}
    texts["up --json"] = project.run("up", "--yes", "--skip-preview", "--json").stdout
    first = project.credentials()
    # Rotate svc/b (keepers change), with the engine's and the provider's logs at -v=9.
    rotated = {**DECLARED, "svc": {**DECLARED["svc"], "secrets": {"a": {}, "b": {"keepers": {"v": 2}}}}}
    project.write_config(rotated)
    texts["preview --json"] = project.run("preview", "--json").stdout
    verbose = project.run("up", "--yes", "--skip-preview", "--logtostderr", "-v=9")
    texts["up -v=9 stderr"] = verbose.stderr
    project.run("refresh", "--yes", "--skip-preview")
    texts["refresh --json"] = project.run("refresh", "--yes", "--skip-preview", "--json").stdout
    second = project.credentials()
    assert first["svc/b"]["clientSecret"] != second["svc/b"]["clientSecret"]
    clear = sorted({c["clientSecret"] for c in [*first.values(), *second.values()]})
    assert len(clear) == 3
    secrets = [*clear, local_stack["clientSecret"], admin_token]

    texts["stack export"] = project.run("stack", "export").stdout
    texts["stack output --json"] = project.run("stack", "output", "--json").stdout

    # The pickled provider of each resource, decrypted.
    state = project.export(show_secrets=True)
    blobs = [r["outputs"].get("__provider") or r["inputs"].get("__provider") for r in state["deployment"]["resources"] if "dynamic" in r["type"]]
    assert blobs and all(blobs)
    for i, blob in enumerate(blobs):
        raw = base64.b64decode(_plain(blob))
        assert raw  # a dill pickle
        _scan(f"__provider blob #{i}", raw, secrets)

    # An error from the server side: a client id that belongs to someone else.
    foreign = "hygiene-" + uuid.uuid4().hex[:8]
    admin_api.create_client({"id": foreign, "name": foreign}, owner=None)
    try:
        project.write_config({**rotated, "thief": {"clientId": foreign, "secrets": {"x": {}}}})
        failed = project.up(check=False)
        assert failed.returncode != 0
        texts["failed up"] = failed.stdout + failed.stderr
        assert "already exists" in texts["failed up"]
    finally:
        admin_api.delete_client(foreign)
        project.write_config(rotated)

    for name, text in {**texts, "transcript": project.text()}.items():
        _scan(name, text, secrets)
