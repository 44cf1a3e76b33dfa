"""Helpers of the integration tests (a module of its own, so tests import it by a unique name).

They run against the local stack of tools/local-stack.sh: a private PostgreSQL, the
STAND-IN auth server of tests/standin_auth (a stand-in for github.com/formancehq/auth,
which cannot be built here) and a Caddy gateway serving it under /api/auth.
"""

from __future__ import annotations

import json
import subprocess
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
