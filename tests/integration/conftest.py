"""Shared fixtures for the integration tests.

They run against the local stack of tools/local-stack.sh: a private PostgreSQL, the
STAND-IN auth server of tests/standin_auth (a stand-in for github.com/formancehq/auth,
which cannot be built here) and a Caddy gateway serving it under /api/auth.
"""

from __future__ import annotations

import json
import subprocess
import uuid
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
LOCAL = REPO / ".local"
LOCAL_STACK = REPO / "tools" / "local-stack.sh"
FORMANCE_JSON = LOCAL / "formance.json"


def run_local_stack(command: str, timeout: float = 900) -> subprocess.CompletedProcess:
    """Run tools/local-stack.sh COMMAND; fail the test with its output when it fails."""
    proc = subprocess.run(
        ["bash", str(LOCAL_STACK), command],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    if proc.returncode != 0 and command != "status":
        pytest.fail(f"tools/local-stack.sh {command} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def read_formance_json() -> dict:
    return json.loads(FORMANCE_JSON.read_text())


@pytest.fixture(scope="session")
def local_stack() -> dict:
    """Bring the local stack up (idempotent) and return .local/formance.json:
    {"endpoint": ".../api/auth", "clientId": ..., "clientSecret": ...}."""
    run_local_stack("up")
    return read_formance_json()


@pytest.fixture(scope="session")
def auth_endpoint(local_stack: dict) -> str:
    return local_stack["endpoint"]


def fetch_token(endpoint: str, client_id: str, client_secret: str, scope: str = "auth:read auth:write") -> str:
    """client_credentials token from ENDPOINT/oauth/token (HTTP Basic)."""
    r = httpx.post(
        endpoint + "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        auth=(client_id, client_secret),
        timeout=10,
    )
    assert r.status_code == 200, (r.status_code, r.text)
    return r.json()["access_token"]


@pytest.fixture
def admin_token(local_stack: dict) -> str:
    """A fresh auth:read auth:write token of the bootstrap admin client."""
    return fetch_token(local_stack["endpoint"], local_stack["clientId"], local_stack["clientSecret"])


@pytest.fixture
def admin_client(auth_endpoint: str, admin_token: str):
    """httpx client on the auth service, authenticated as the bootstrap admin."""
    with httpx.Client(
        base_url=auth_endpoint, headers={"Authorization": f"Bearer {admin_token}"}, timeout=10
    ) as client:
        yield client


@pytest.fixture
def unique_id() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"
