"""Fixtures shared by every test layer: the local stack and an admin view of it.

The local stack (tools/local-stack.sh) is PostgreSQL + the STAND-IN auth server of
tests/standin_auth (the real github.com/formancehq/auth cannot be built here) +
a Caddy gateway serving it under /api/auth, like a Formance stack.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FORMANCE_JSON = REPO / ".local" / "formance.json"


@pytest.fixture(scope="session")
def local_stack() -> dict:
    """Bring the local stack up (idempotent) and return .local/formance.json."""
    proc = subprocess.run(["bash", str(REPO / "tools" / "local-stack.sh"), "up"], cwd=REPO, capture_output=True, text=True, timeout=900)
    if proc.returncode != 0:
        pytest.fail(f"tools/local-stack.sh up failed:\n{proc.stdout}\n{proc.stderr}")
    return json.loads(FORMANCE_JSON.read_text())


@pytest.fixture(scope="session")
def admin_api(local_stack: dict) -> Iterator["object"]:
    """The provider's own API client, as the bootstrap admin: checks what the server holds."""
    from formance_provider.api import AuthAPI
    from formance_provider.settings import load_settings

    settings = load_settings(
        {"formance:endpoint": local_stack["endpoint"], "formance:clientId": local_stack["clientId"], "formance:clientSecret": local_stack["clientSecret"]},
        {},
    )
    api = AuthAPI(settings)
    yield api
    api.http.close()
