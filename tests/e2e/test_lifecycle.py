"""Issue 5: the lifecycle around the resources, with the real CLI on the local stack.

Drift and refresh, adoption, the import generator, secret rotation (keepers,
age, grace), resource options from a user's own program, and provider upgrades
(the provider pickled into state is loaded by reference).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from datetime import datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, Iterator

import httpx
import pytest
import yaml

from pulumi_project import REPO, VENV_BIN, PulumiProject

from formance_provider.models import expand_client

pytestmark = pytest.mark.timeout(600)

# The committed stack program; the repo's __main__.py may be a scratch copy while others work.
PROGRAM = "from formance_provider.program import run\n\nrun()\n"


@pytest.fixture
def proj(project: PulumiProject) -> PulumiProject:
    (project.root / "__main__.py").write_text(PROGRAM)
    return project


# ---------------------------------------------------------------- helpers


def _token(endpoint: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10)


def _ops(preview: dict[str, Any]) -> set[tuple[str, str]]:
    return {(s["urn"].split("::")[-1], s["op"]) for s in preview["steps"] if s["op"] not in ("same", "refresh")}


def _state(project: PulumiProject, name: str) -> dict[str, Any]:
    for r in project.export().get("deployment", {}).get("resources", []):
        if r["urn"].endswith("::" + name) and "formance" in r["type"]:
            return r
    raise KeyError(name)


def _has(project: PulumiProject, name: str) -> bool:
    try:
        _state(project, name)
        return True
    except KeyError:
        return False


def _put(admin_api: Any, client_id: str, **changes: Any) -> None:
    """Edit a client outside Pulumi (PUT of all fields, owner marker kept)."""
    current = admin_api.get_client(client_id)
    fields = current.fields.model_copy(update=changes)
    admin_api.update_client(client_id, expand_client(fields, owner=current.owner))


class CountingProxy:
    """A loopback HTTP proxy in front of the local stack that records every request the provider makes."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.rstrip("/")
        self.log: list[tuple[str, str, int]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *_a: Any) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length", "connection", "accept-encoding")}
                with httpx.Client(timeout=30) as http:
                    resp = http.request(self.command, proxy.upstream + self.path, content=body, headers=headers)
                proxy.log.append((self.command, self.path, resp.status_code))
                self.send_response(resp.status_code)
                for k, v in resp.headers.items():
                    if k.lower() not in ("content-length", "transfer-encoding", "connection", "content-encoding"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(resp.content)))
                self.end_headers()
                self.wfile.write(resp.content)

            do_GET = do_POST = do_PUT = do_DELETE = do_PATCH = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def endpoint(self, suffix: str) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}{suffix}"

    def calls(self, method: str, path_contains: str = "") -> list[tuple[str, str, int]]:
        return [c for c in self.log if c[0] == method and path_contains in c[1] and "/oauth/" not in c[1]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(local_stack: dict) -> Iterator[tuple[CountingProxy, dict[str, str]]]:
    endpoint = local_stack["endpoint"]
    root, _, suffix = endpoint.partition("/api/")
    p = CountingProxy(root)
    yield p, {"FORMANCE_ENDPOINT": p.endpoint("/api/" + suffix)}
    p.close()


# ---------------------------------------------------------------- 1. drift


def test_drift_is_refreshed_then_reverted(proj: PulumiProject, admin_api) -> None:
    cid = f"{proj.stack}-drift"
    proj.write_config({"app": {"clientId": cid, "description": "declared", "scopes": ["ledger:read"], "secrets": {"s": {}}}})
    proj.up()
    _put(admin_api, cid, description="edited by hand", scopes=("ledger:read", "ledger:write"),
         redirect_uris=("https://drift.example.com/cb",), metadata={"team": "ops"})

    # preview --refresh sees the drift as an update of the client only.
    assert _ops(proj.preview_json("--refresh")) == {("app", "update")}

    proj.run("refresh", "--yes", "--skip-preview")
    outs = _state(proj, "app")["outputs"]
    assert outs["description"] == "edited by hand"
    assert outs["scopes"] == ["ledger:read", "ledger:write"]
    assert outs["redirect_uris"] == ["https://drift.example.com/cb"]
    assert outs["metadata"] == {"team": "ops"}
    assert _ops(proj.preview_json()) == {("app", "update")}

    proj.up()
    got = admin_api.get_client(cid)
    assert got.fields.description == "declared"
    assert got.fields.scopes == ("ledger:read",)
    assert got.fields.redirect_uris == ()
    assert got.fields.metadata == {}
    assert len(got.secrets) == 1
    proj.preview("--expect-no-changes")


def test_deleted_secret_and_client_are_dropped_by_refresh_and_recreated(proj: PulumiProject, admin_api, local_stack: dict) -> None:
    cid = f"{proj.stack}-gone"
    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {}}}})
    proj.up()
    old_secret_id = _state(proj, "app/s")["outputs"]["secret_id"]

    # A secret deleted outside: refresh drops it, up creates a new one.
    assert admin_api.delete_secret(cid, old_secret_id)
    proj.run("refresh", "--yes", "--skip-preview")
    assert not _has(proj, "app/s") and _has(proj, "app")
    proj.up()
    new_secret_id = _state(proj, "app/s")["outputs"]["secret_id"]
    assert new_secret_id != old_secret_id
    assert [s.secret_id for s in admin_api.get_client(cid).secrets] == [new_secret_id]
    old_clear = proj.credentials()["app/s"]["clientSecret"]

    # A client deleted outside: refresh drops it and its secret; up recreates both.
    admin_api.delete_client(cid)
    proj.run("refresh", "--yes", "--skip-preview")
    assert not _has(proj, "app") and not _has(proj, "app/s")
    assert _ops(proj.preview_json()) == {("app", "create"), ("app/s", "create")}
    proj.up()
    got = admin_api.get_client(cid)
    assert got is not None and len(got.secrets) == 1
    cred = proj.credentials()["app/s"]
    assert cred["clientSecret"] != old_clear
    assert _token(local_stack["endpoint"], cid, cred["clientSecret"]).status_code == 200
    proj.preview("--expect-no-changes")


# ---------------------------------------------------------------- 2. adopt


def test_adopt_takes_over_with_put_and_never_posts(proj: PulumiProject, admin_api, proxy) -> None:
    counter, env = proxy
    cid = f"{proj.stack}-adopted"
    admin_api.create_client({"id": cid, "name": "legacy", "description": "made by hand", "scopes": ["a"], "metadata": {"k": "v"}}, owner=None)
    try:
        proj.write_config({"app": {"clientId": cid, "adopt": True, "name": "legacy", "description": "managed", "scopes": ["b"], "secrets": {"s": {}}}})
        proj.up(env=env)
        assert not [c for c in counter.log if c[0] == "POST" and c[1].rstrip("/").endswith("/clients")], counter.log
        assert [c[2] for c in counter.calls("PUT", f"/clients/{cid}")] == [200]
        got = admin_api.get_client(cid)
        assert (got.fields.description, got.fields.scopes, got.fields.metadata) == ("managed", ("b",), {})
        assert len(got.secrets) == 1
        proj.preview("--expect-no-changes", env=env)
    finally:
        admin_api.delete_client(cid)


def test_adopt_of_a_missing_client_fails_clearly(proj: PulumiProject, admin_api) -> None:
    cid = f"{proj.stack}-nowhere"
    proj.write_config({"app": {"clientId": cid, "adopt": True}})
    proc = proj.up(check=False)
    assert proc.returncode != 0
    assert "adopt: true is set for client" in proc.stdout + proc.stderr
    assert "no client with that id exists" in proc.stdout + proc.stderr
    assert admin_api.get_client(cid) is None


def test_existing_id_without_adopt_fails_and_changes_nothing(proj: PulumiProject, admin_api, proxy) -> None:
    counter, env = proxy
    cid = f"{proj.stack}-taken"
    admin_api.create_client({"id": cid, "name": "theirs", "description": "keep me", "scopes": ["x"]}, owner=None)
    try:
        before = admin_api.get_client(cid)
        proj.write_config({"app": {"clientId": cid, "description": "mine", "secrets": {"s": {}}}})
        proc = proj.up(check=False, env=env)
        assert proc.returncode != 0
        assert "adopt: true" in proc.stdout + proc.stderr
        assert admin_api.get_client(cid) == before
        assert not counter.calls("PUT") and not counter.calls("DELETE"), counter.log
        assert not _has(proj, "app")
    finally:
        admin_api.delete_client(cid)


# ---------------------------------------------------------------- 3. import generator


def test_import_output_pasted_into_a_new_stack_is_stable(proj: PulumiProject, admin_api, local_stack: dict) -> None:
    ids = [f"{proj.stack}-imp-{n}" for n in (1, 2)]
    admin_api.create_client({"id": ids[0], "name": f"{proj.stack} api", "description": "d", "scopes": ["s:r", "s:w"],
                             "redirectUris": ["https://a.example.com/cb"], "metadata": {"team": "x"}}, owner=None)
    admin_api.create_client({"id": ids[1], "name": f"{proj.stack}-ui", "public": True, "postLogoutRedirectUris": ["https://b.example.com/"]}, owner=None)
    admin_api.create_secret(ids[0], lambda marker: {"name": "old", "metadata": {}})
    try:
        env = {**proj.env}
        cmd = [str(VENV_BIN / "formance-pulumi"), "import"] + [a for i in ids for a in ("--client-id", i)]
        gen = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=60)
        assert gen.returncode == 0, gen.stderr
        assert "adopt: true" in gen.stdout and "1 existing secret" in gen.stdout
        block = yaml.safe_load(gen.stdout)["formance-auth:clients"]
        assert {c["clientId"] for c in block.values()} == set(ids)
        assert all(c["adopt"] is True for c in block.values())
        # --name-prefix selects the same two (names start with the stack name).
        gen2 = subprocess.run([str(VENV_BIN / "formance-pulumi"), "import", "--name-prefix", proj.stack], env=env, capture_output=True, text=True, timeout=60)
        assert yaml.safe_load(gen2.stdout)["formance-auth:clients"] == block
        bad = subprocess.run([str(VENV_BIN / "formance-pulumi"), "import", "--client-id", "no-such-client-" + proj.stack], env=env, capture_output=True, text=True, timeout=60)
        assert bad.returncode == 1 and "no client with id" in bad.stderr

        # Paste verbatim into the stack file.
        path = proj.root / "stacks" / f"Pulumi.{proj.stack}.yaml"
        doc = yaml.safe_load(path.read_text())
        doc["config"]["formance-auth:clients"] = block
        path.write_text(yaml.safe_dump(doc, sort_keys=False))
        ops = _ops(proj.preview_json())
        assert {op for _, op in ops} == {"create"}, ops  # adoption: no replace, no delete
        before = {i: admin_api.get_client(i).fields for i in ids}
        proj.up()
        for i in ids:
            after = admin_api.get_client(i)
            assert after.fields == before[i]
        proj.preview("--expect-no-changes")
    finally:
        for i in ids:
            admin_api.delete_client(i)


# ---------------------------------------------------------------- 4. rotation


def test_keeper_bump_creates_new_before_deleting_old(proj: PulumiProject, admin_api, local_stack: dict, proxy) -> None:
    counter, env = proxy
    cid = f"{proj.stack}-rot"
    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {"keepers": {"v": 1}}}}})
    proj.up(env=env)
    old = proj.credentials()["app/s"]["clientSecret"]
    old_id = _state(proj, "app/s")["outputs"]["secret_id"]
    counter.log.clear()
    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {"keepers": {"v": 2}}}}})
    proj.up(env=env)
    seq = [(m, p) for m, p, _ in counter.log if m in ("POST", "DELETE") and "/secrets" in p]
    assert [m for m, _ in seq] == ["POST", "DELETE"], counter.log
    assert seq[1][1].endswith(f"/secrets/{old_id}")
    new = proj.credentials()["app/s"]["clientSecret"]
    assert _token(local_stack["endpoint"], cid, new).status_code == 200
    assert _token(local_stack["endpoint"], cid, old).status_code == 401


def test_rotate_after_days_rotates_once(proj: PulumiProject, admin_api, local_stack: dict) -> None:
    cid = f"{proj.stack}-age"
    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {"rotateAfterDays": 90}}}})
    proj.up()
    created = datetime.fromisoformat(_state(proj, "app/s")["outputs"]["created_at"])
    old_id = _state(proj, "app/s")["outputs"]["secret_id"]
    proj.preview("--expect-no-changes", env={"FORMANCE_PULUMI_NOW": (created + timedelta(days=89)).isoformat()})

    later = {"FORMANCE_PULUMI_NOW": (created + timedelta(days=91)).isoformat()}
    ops = _ops(proj.preview_json(env=later))
    assert ops & {("app/s", "replace"), ("app/s", "create-replacement")} and not any(n == "app" for n, _ in ops), ops
    proj.up(env=later)
    state = _state(proj, "app/s")["outputs"]
    assert state["secret_id"] != old_id
    assert datetime.fromisoformat(state["created_at"]) == created + timedelta(days=91)
    assert [s.secret_id for s in admin_api.get_client(cid).secrets] == [state["secret_id"]]
    proj.preview("--expect-no-changes", env=later)
    cred = proj.credentials()["app/s"]
    assert _token(local_stack["endpoint"], cid, cred["clientSecret"]).status_code == 200


def test_grace_updates_keeps_the_old_secret_one_more_up(proj: PulumiProject, admin_api, local_stack: dict) -> None:
    cid = f"{proj.stack}-grace"
    ep = local_stack["endpoint"]
    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {"graceUpdates": 1, "keepers": {"v": 1}}}}})
    proj.up()
    old = proj.credentials()["app/s"]["clientSecret"]
    old_id = _state(proj, "app/s")["outputs"]["secret_id"]

    proj.write_config({"app": {"clientId": cid, "secrets": {"s": {"graceUpdates": 1, "keepers": {"v": 2}}}}})
    proj.up()
    new = proj.credentials()["app/s"]["clientSecret"]
    new_id = _state(proj, "app/s")["outputs"]["secret_id"]
    assert new != old and new_id != old_id
    assert {s.secret_id for s in admin_api.get_client(cid).secrets} == {old_id, new_id}
    assert _token(ep, cid, old).status_code == 200
    assert _token(ep, cid, new).status_code == 200

    assert _ops(proj.preview_json()) == {("app/s", "update")}
    proj.up()
    assert [s.secret_id for s in admin_api.get_client(cid).secrets] == [new_id]
    assert _token(ep, cid, old).status_code == 401
    assert _token(ep, cid, new).status_code == 200
    proj.preview("--expect-no-changes")


# ---------------------------------------------------------------- 5. resource options from a user's program

USER_PROGRAM = textwrap.dedent(
    """
    import json, pathlib
    import pulumi
    from formance_provider import ClientSecret, OAuth2Client

    spec = json.loads(pathlib.Path("scenario.json").read_text())
    for c in spec:
        opts = pulumi.ResourceOptions(
            protect=c.get("protect", False),
            retain_on_delete=c.get("retain", False),
            ignore_changes=c.get("ignore"),
            aliases=[pulumi.Alias(name=a) for a in c.get("aliases", [])],
        )
        client = OAuth2Client(c["name"], name=c["id"], client_id=c["id"], description=c.get("description"), opts=opts)
        if c.get("secret"):
            ClientSecret(c["name"] + "-secret", client_id=client.client_id, name="s",
                         opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name=a + "-secret") for a in c.get("aliases", [])]))
    """
)


def _scenario(project: PulumiProject, clients: list[dict[str, Any]]) -> None:
    (project.root / "scenario.json").write_text(json.dumps(clients))


def test_resource_options_from_a_users_program(project: PulumiProject, admin_api) -> None:
    (project.root / "__main__.py").write_text(USER_PROGRAM)
    s = project.stack
    ids = {k: f"{s}-{k}" for k in ("prot", "kept", "ign", "ali")}
    base = [
        {"name": "prot", "id": ids["prot"], "protect": True},
        {"name": "kept", "id": ids["kept"], "retain": True},
        {"name": "ign", "id": ids["ign"], "description": "one", "ignore": ["description"]},
        {"name": "ali", "id": ids["ali"], "secret": True},
    ]
    _scenario(project, base)
    try:
        project.up()
        # ignore_changes: a new description is not applied.
        changed = [dict(c) for c in base]
        changed[2]["description"] = "two"
        # alias: rename the logical names (client and its secret), keep the client_id.
        changed[3] = {"name": "ali-renamed", "id": ids["ali"], "aliases": ["ali"], "secret": True}
        _scenario(project, changed)
        preview = project.preview_json()
        assert _ops(preview) == set(), _ops(preview)
        secret_id = _state(project, "ali-secret")["outputs"]["secret_id"]
        project.up()
        assert admin_api.get_client(ids["ign"]).fields.description == "one"
        assert admin_api.get_client(ids["ali"]) is not None
        assert _state(project, "ali-renamed-secret")["outputs"]["secret_id"] == secret_id
        assert [x.secret_id for x in admin_api.get_client(ids["ali"]).secrets] == [secret_id]

        # protect: destroy is refused and nothing is deleted.
        proc = project.run("destroy", "--yes", "--skip-preview", check=False)
        assert proc.returncode != 0 and "protect" in (proc.stdout + proc.stderr).lower()
        assert admin_api.get_client(ids["prot"]) is not None
        # Unprotect, then destroy: retain_on_delete keeps "kept" on the server.
        changed[0]["protect"] = False
        _scenario(project, changed)
        project.up()
        project.run("destroy", "--yes", "--skip-preview")
        assert admin_api.get_client(ids["kept"]) is not None
        for k in ("prot", "ign", "ali"):
            assert admin_api.get_client(ids[k]) is None, k
    finally:
        for i in ids.values():
            admin_api.delete_client(i)


# ---------------------------------------------------------------- 6. upgrades


def test_pickled_provider_loads_and_works_in_a_fresh_process(local_stack: dict) -> None:
    from pulumi.dynamic.dynamic import serialize_provider

    from formance_provider.provider import ClientProvider, SecretProvider

    blobs = {"client": serialize_provider(ClientProvider()), "secret": serialize_provider(SecretProvider())}
    for blob in blobs.values():
        raw = base64.b64decode(blob)
        # By reference: the class path, not the code.
        assert b"formance_provider.provider" in raw and len(raw) < 400, raw
    script = textwrap.dedent(
        """
        import base64, json, sys, dill
        blobs = json.loads(sys.stdin.read())
        c = dill.loads(base64.b64decode(blobs["client"]))
        s = dill.loads(base64.b64decode(blobs["secret"]))
        olds = {"client_id": "x", "name": "n", "description": "a", "scopes": ["b", "a"]}
        same = c.diff("x", olds, {"client_id": "x", "name": "n", "description": "a", "scopes": ["a", "b"]})
        upd = c.diff("x", olds, {"client_id": "x", "name": "n", "description": "b"})
        rep = c.diff("x", olds, {"client_id": "y", "name": "n"})
        chk = c.check({}, {"client_id": "x", "name": "n", "scopes": ["has space"]})
        sold = {"client_id": "x", "name": "s", "keepers": {"v": 1}, "created_at": "2026-01-01T00:00:00+00:00"}
        rot = s.diff("i", sold, {"client_id": "x", "name": "s", "keepers": {"v": 2}})
        print(json.dumps({
            "cls": [type(c).__module__ + "." + type(c).__name__, type(s).__module__ + "." + type(s).__name__],
            "same": same.changes, "upd": upd.changes, "rep": list(rep.replaces),
            "chk": [f.property for f in chk.failures], "rot": list(rot.replaces),
        }))
        """
    )
    env = {"PATH": f"{VENV_BIN}:/usr/bin:/bin", "FORMANCE_ENDPOINT": local_stack["endpoint"],
           "FORMANCE_CLIENT_ID": local_stack["clientId"], "FORMANCE_CLIENT_SECRET": local_stack["clientSecret"]}
    proc = subprocess.run([str(VENV_BIN / "python"), "-c", script], input=json.dumps(blobs), env=env, cwd="/", capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout.strip().splitlines()[-1])
    assert got["cls"] == ["formance_provider.provider.ClientProvider", "formance_provider.provider.SecretProvider"]
    assert got == {**got, "same": False, "upd": True, "rep": ["client_id"], "chk": ["scopes"], "rot": ["keepers"]}


def test_state_survives_a_package_upgrade(proj: PulumiProject, admin_api, tmp_path: Path) -> None:
    cid = f"{proj.stack}-upg"
    proj.write_config({"app": {"clientId": cid, "description": "v1", "secrets": {"s": {}}}})
    proj.up()
    # The provider stored in state is a by-reference pickle of the stable class paths.
    state = proj.export(show_secrets=True)
    for r in state["deployment"]["resources"]:
        if "formance" in r["type"]:
            blob = r["inputs"]["__provider"]
            blob = json.loads(blob["plaintext"]) if isinstance(blob, dict) else blob  # a Pulumi secret
            raw = base64.b64decode(blob)
            assert b"formance_provider.provider" in raw and len(raw) < 400

    # "Upgrade": a modified copy of the package shadows the installed one for every later command.
    newpkg = tmp_path / "upgraded"
    shutil.copytree(REPO / "formance_provider", newpkg / "formance_provider", ignore=shutil.ignore_patterns("__pycache__"))
    marker = tmp_path / "new-code-ran"
    (newpkg / "formance_provider" / "version.py").write_text('__version__ = "99.0.0"\n')
    with open(newpkg / "formance_provider" / "provider.py", "a") as f:
        f.write(
            "\n\nclass _Upgraded:\n    pass\n\n"
            "_orig_read = ClientProvider.read\n\n"
            "def _read(self, id_, props):\n"
            f"    open({str(marker)!r}, 'a').write('read\\n')\n"
            "    return _orig_read(self, id_, props)\n\n"
            "ClientProvider.read = _read\n"
            "_orig_delete = ClientProvider.delete\n\n"
            "def _delete(self, id_, props):\n"
            f"    open({str(marker)!r}, 'a').write('delete\\n')\n"
            "    return _orig_delete(self, id_, props)\n\n"
            "ClientProvider.delete = _delete\n"
        )
    env = {"PYTHONPATH": str(newpkg)}
    _put(admin_api, cid, description="drifted")
    proj.run("refresh", "--yes", "--skip-preview", env=env)
    assert _state(proj, "app")["outputs"]["description"] == "drifted"
    proj.write_config({"app": {"clientId": cid, "description": "v2", "secrets": {"s": {}}}})
    proj.up(env=env)
    assert admin_api.get_client(cid).fields.description == "v2"
    proj.preview("--expect-no-changes", env=env)
    proj.run("destroy", "--yes", "--skip-preview", env=env)
    assert admin_api.get_client(cid) is None
    assert marker.read_text().split() == ["read", "delete"]
