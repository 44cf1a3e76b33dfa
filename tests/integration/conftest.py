"""Fixtures of the integration tests (``local_stack`` comes from tests/conftest.py).

They run against the local stack of tools/local-stack.sh: a private PostgreSQL, the
STAND-IN auth server of tests/standin_auth (a stand-in for github.com/formancehq/auth,
which cannot be built here) and a Caddy gateway serving it under /api/auth.
"""

from __future__ import annotations

import uuid

import httpx
import pytest

from localstack import fetch_token


@pytest.fixture(scope="session")
def auth_endpoint(local_stack: dict) -> str:
    return local_stack["endpoint"]


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
