"""Issue 6: transport faults, server restarts and a killed `pulumi up`, with the real CLI.

Faults are injected by tests/e2e/faultproxy.py between the provider and the local
stack's gateway (FORMANCE_ENDPOINT points at the proxy); the admin view checks the
server directly.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from pulumi_project import REPO, PulumiProject
from faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(600)

CLIENTS = r"^/clients$"
SECRETS = r"^/clients/[^/]+/secrets$"


@pytest.fixture
def proxy(project: PulumiProject, local_stack: dict) -> Iterator[FaultProxy]:
    """A fault proxy; the project's env is pointed back at the gateway before it stops (so destroy works)."""
    saved = dict(project.env)
    with FaultProxy() as p:
        yield p
        project.env = saved


def _via(project: PulumiProject, proxy: FaultProxy, **extra: str) -> None:
    project.env = {**project.env, "FORMANCE_ENDPOINT": proxy.endpoint, **extra}


def _owner_prefix(project: PulumiProject) -> str:
    return f"formance-auth/{project.stack}/"


def server_view(admin_api, project: PulumiProject) -> dict[str, list[tuple[str, str]]]:
    """client id -> sorted (secret name, secret id) for every server client this stack owns."""
    prefix = _owner_prefix(project)
    return {
        c.client_id: sorted((s.name, s.secret_id) for s in c.secrets)
        for c in admin_api.list_clients()
        if (c.owner or "").startswith(prefix)
    }


def state_view(project: PulumiProject) -> dict[str, list[tuple[str, str]]]:
    resources = project.export().get("deployment", {}).get("resources", [])
    view: dict[str, list[tuple[str, str]]] = {
        r["outputs"]["client_id"]: [] for r in resources if r["type"].endswith(":OAuth2Client")
    }
    for r in resources:
        if r["type"].endswith(":ClientSecret"):
            out = r["outputs"]
            view.setdefault(out["client_id"], []).append((out["name"], out["secret_id"]))
    return {k: sorted(v) for k, v in view.items()}


def _declared(n: int, secrets: tuple[str, ...] = ("s1",)) -> dict:
    return {f"c{i:02d}": {"scopes": ["ledger:read"], "secrets": {s: {} for s in secrets}} for i in range(n)}


def _assert_converged(project: PulumiProject, admin_api, declared: dict) -> None:
    server, state = server_view(admin_api, project), state_view(project)
    assert server == state
    assert len(state) == len(declared)
    names = sorted(sorted(s for s, _ in v) for v in state.values())
    assert names == sorted(sorted((c.get("secrets") or {})) for c in declared.values())
    pending = project.export().get("deployment", {}).get("pending_operations") or []
    assert pending == []


def _token(endpoint: str, client_id: str, secret: str) -> httpx.Response:
    return httpx.post(endpoint + "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret), timeout=10)


def test_429_and_503_are_retried_and_every_object_is_made_once(project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    declared = _declared(3, ("s1", "s2"))
    project.write_config(declared)
    _via(project, proxy)
    rules = [
        proxy.add("POST", CLIENTS, "429", times=2, retry_after="0"),
        proxy.add("POST", CLIENTS, "503", times=2),
        proxy.add("POST", SECRETS, "429", times=2, retry_after="1"),
        proxy.add("POST", SECRETS, "503", times=2),
    ]
    project.up()
    assert [r.hits for r in rules] == [2, 2, 2, 2]
    _assert_converged(project, admin_api, declared)
    # Exactly one successful POST per object reached the server.
    forwarded = [(m, p) for m, p, what in proxy.log if what == "forward" and m == "POST"]
    assert sum(1 for _, p in forwarded if p == "/clients") == 3
    assert sum(1 for _, p in forwarded if p.endswith("/secrets")) == 6
    project.preview("--expect-no-changes")


def test_lost_answer_to_secret_create_leaves_no_orphan(project: PulumiProject, proxy: FaultProxy, admin_api, local_stack: dict) -> None:
    declared = {"api": {"scopes": ["ledger:read"], "secrets": {"main": {}}}}
    project.write_config(declared)
    _via(project, proxy)
    rule = proxy.add("POST", SECRETS, "reset_after", times=1)
    project.up()
    assert rule.hits == 1
    assert proxy.count("POST", SECRETS) == 2  # the lost one, then the retry
    assert proxy.count("DELETE", r"/secrets/") == 1  # the marked secret of the lost attempt
    _assert_converged(project, admin_api, declared)
    cred = project.credentials()["api/main"]
    [(name, secret_id)] = next(iter(server_view(admin_api, project).values()))
    assert name == "main" and project.outputs()["clients"]["api"]["secrets"]["main"]["secretId"] == secret_id
    response = _token(local_stack["endpoint"], cred["clientId"], cred["clientSecret"])
    assert response.status_code == 200, response.text


def test_lost_answer_to_client_create_makes_no_duplicate(project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    declared = {"api": {"description": "x", "secrets": {"main": {}}}}
    project.write_config(declared)
    _via(project, proxy)
    rule = proxy.add("POST", CLIENTS, "reset_after", times=1)
    project.up()
    assert rule.hits == 1
    _assert_converged(project, admin_api, declared)
    [client_id] = server_view(admin_api, project)
    assert [c.client_id for c in admin_api.list_clients()].count(client_id) == 1
    assert admin_api.get_client(client_id).fields.description == "x"
    project.preview("--expect-no-changes")


def test_too_many_503_fails_saying_how_many_tries_and_state_matches_server(project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    declared = _declared(2, ("s1",))
    project.write_config(declared)
    _via(project, proxy, FORMANCE_MAX_RETRIES="1")
    proxy.add("POST", SECRETS, "503", times=None)
    proc = project.up(check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "2 tries" in out, out[-3000:]
    assert "503" in out
    # Clients were made and recorded; no secret exists anywhere.
    assert server_view(admin_api, project) == state_view(project)
    assert len(state_view(project)) == 2

    # Answers lost every time: each attempt's secret is cleaned up, none is left behind.
    proxy.clear()
    proxy.add("POST", SECRETS, "reset_after", times=None)
    proc = project.up(check=False)
    assert proc.returncode != 0
    out = proc.stdout + proc.stderr
    assert "2 tries" in out or "no secret was left behind" in out, out[-3000:]
    assert server_view(admin_api, project) == state_view(project)
    assert all(v == [] for v in server_view(admin_api, project).values())

    # And once the faults stop, up converges.
    proxy.clear()
    project.up()
    _assert_converged(project, admin_api, declared)


def test_auth_server_restart_during_up(project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    declared = _declared(20, ("s1",))
    project.write_config(declared)
    _via(project, proxy)
    # Spread the creates over a few seconds so the restart lands in the middle.
    proxy.add("POST", CLIENTS, "delay", times=None, delay=0.3)
    restart: dict[str, subprocess.CompletedProcess[str]] = {}

    def restart_auth() -> None:
        time.sleep(2.5)
        restart["proc"] = subprocess.run(["bash", str(REPO / "tools" / "local-stack.sh"), "restart-auth"], cwd=REPO, capture_output=True, text=True, timeout=300)

    thread = threading.Thread(target=restart_auth)
    thread.start()
    first = project.up(check=False)
    thread.join()
    assert restart["proc"].returncode == 0, restart["proc"].stderr
    if first.returncode != 0:
        project.up()
    _assert_converged(project, admin_api, declared)
    project.preview("--expect-no-changes")


def _state_file(project: PulumiProject) -> Path:
    backend = Path(project.env["PULUMI_BACKEND_URL"].removeprefix("file://"))
    return backend / ".pulumi" / "stacks" / "formance-auth" / f"{project.stack}.json"


def _created_in_checkpoint(path: Path) -> int:
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return 0
    resources = (data.get("checkpoint", {}).get("latest") or {}).get("resources") or []
    return sum(1 for r in resources if r["type"].endswith(":OAuth2Client"))


def _processes_in(root: Path) -> list[int]:
    """Pids of live processes whose working directory is ``root`` (ours: the project is a temp dir)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if Path(os.readlink(entry / "cwd")) == root:
                    pids.append(int(entry.name))
            except OSError:
                pass
    return pids


def test_sigkill_during_up_then_refresh_clear_pending_creates_and_up_converge(project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    declared = _declared(50, ("s1",))
    project.write_config(declared)
    _via(project, proxy)
    proxy.add("POST", CLIENTS, "delay", times=None, delay=0.2)
    proxy.add("POST", SECRETS, "delay", times=None, delay=0.2)
    state = _state_file(project)
    proc = subprocess.Popen(
        ["pulumi", "up", "--yes", "--skip-preview", "--stack", project.stack, "--non-interactive"],
        cwd=project.root, env=project.env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 120
        while _created_in_checkpoint(state) < 5:
            if proc.poll() is not None:
                pytest.fail(f"pulumi up ended ({proc.returncode}) before it could be killed:\n{proc.stdout.read()[-3000:] if proc.stdout else ''}")
            assert time.monotonic() < deadline, "no client recorded in the checkpoint in time"
            time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
    finally:
        if proc.poll() is None:
            proc.wait(timeout=30)
        project.transcript.append(f"$ pulumi up (killed)\n{proc.stdout.read() if proc.stdout else ''}")
    # The CLI starts the language host and the provider plugin in process groups of their own:
    # they survive the kill of the CLI's group. Stop them the way a CI runner's end would.
    orphans = _processes_in(project.root)
    for pid in orphans:
        os.kill(pid, signal.SIGKILL)
    killed_at = _created_in_checkpoint(state)
    assert 0 < killed_at < 50
    exported = project.export()["deployment"]
    assert exported.get("pending_operations"), "expected pending creates after SIGKILL"

    # Recovery: the file backend keeps the dead update's lock; then drop pending creates and converge.
    locked = project.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview", check=False)
    assert locked.returncode != 0 and "locked" in locked.stdout + locked.stderr
    project.run("cancel", "--yes")
    project.run("refresh", "--clear-pending-creates", "--yes", "--skip-preview")
    assert not project.export()["deployment"].get("pending_operations")
    project.up()
    _assert_converged(project, admin_api, declared)
    project.preview("--expect-no-changes")
