"""End-to-end: tools/pipeline-local.sh (the CI workflow's steps) against the local stack.

Skipped when the local stack is not up (no .local/formance.json, or its endpoint's
/_healthcheck does not answer 200). Start it with ``bash tools/local-stack.sh up``.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
from pathlib import Path

import httpx
import pytest

REPO = Path(__file__).resolve().parents[2]
SCRIPT = REPO / "tools" / "pipeline-local.sh"
LOCAL_JSON = REPO / ".local" / "formance.json"


def _local_stack() -> dict[str, str]:
    if not LOCAL_JSON.is_file():
        pytest.skip("local stack not set up (.local/formance.json missing): run bash tools/local-stack.sh up")
    data = json.loads(LOCAL_JSON.read_text())
    try:
        ok = httpx.get(data["endpoint"].rstrip("/") + "/_healthcheck", timeout=5).status_code == 200
    except httpx.HTTPError:
        ok = False
    if not ok:
        pytest.skip(f"local stack endpoint {data['endpoint']} is not healthy: run bash tools/local-stack.sh up")
    return data


@pytest.fixture
def local_stack() -> dict[str, str]:
    return _local_stack()


def run_pipeline(tmp_path: Path, *configs: str, **env: str) -> subprocess.CompletedProcess[str]:
    files = []
    for i, text in enumerate(configs):
        path = tmp_path / f"clients-{i}.yaml"
        path.write_text(text)
        files.append(str(path))
    out = tmp_path / "out"
    full_env = {k: v for k, v in os.environ.items() if not k.startswith(("PULUMI_", "FORMANCE_"))}
    full_env.update(TMPDIR=str(tmp_path), PIPELINE_OUT=str(out), **env)
    return subprocess.run(["bash", str(SCRIPT), *files], capture_output=True, text=True, env=full_env, timeout=600, cwd=tmp_path)


def _assert_no_secret(text: str, local: dict[str, str]) -> None:
    assert local["clientSecret"] not in text


def _temp_dirs_left(tmp_path: Path) -> list[Path]:
    return list(tmp_path.glob("formance-pipeline.*"))


BASE = """
pl-backend:
  scopes: ['ledger:read']
  secrets:
    main: {}
pl-web:
  public: true
  redirectUris: ['https://pl.example.com/cb']
"""
SAFE_CHANGE = """
pl-backend:
  scopes: ['ledger:read', 'ledger:write']
  secrets:
    main:
      keepers: {rotated: "2027-01"}
pl-web:
  public: true
  redirectUris: ['https://pl.example.com/cb']
"""
DESTRUCTIVE = """
pl-backend:
  scopes: ['ledger:read']
  secrets:
    main: {}
"""


def test_default_pipeline_passes(local_stack: dict[str, str], tmp_path: Path) -> None:
    result = run_pipeline(tmp_path)
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    for step in ("pulumi preview --json", "formance-pulumi review", "pulumi up", "refresh --preview-only --expect-no-changes", "pipeline passed"):
        assert step in log
    review = (tmp_path / "out" / "review-1.md").read_text()
    assert "clients: 2 created" in review and "secrets: 2 created" in review
    _assert_no_secret(log + review, local_stack)
    assert not _temp_dirs_left(tmp_path), "temp project/backend not cleaned up"


def test_safe_change_then_unapproved_destructive_change(local_stack: dict[str, str], tmp_path: Path) -> None:
    result = run_pipeline(tmp_path, BASE, SAFE_CHANGE, DESTRUCTIVE)
    log = result.stdout + result.stderr
    assert result.returncode == 3, log
    safe = (tmp_path / "out" / "review-2.md").read_text()
    assert "scopes: added `ledger:write`" in safe and "reason: keeper changed" in safe
    destructive = (tmp_path / "out" / "review-3.md").read_text()
    assert "### Destructive changes" in destructive and "`pl-web`" in destructive
    assert "need approval" in result.stderr
    assert "== round 3: pulumi up" not in log
    assert re.search(r"cleanup: destroy stack", log)
    _assert_no_secret(log, local_stack)
    assert not _temp_dirs_left(tmp_path)


def test_approved_destructive_change(local_stack: dict[str, str], tmp_path: Path) -> None:
    result = run_pipeline(tmp_path, BASE, DESTRUCTIVE, PIPELINE_APPROVE="1")
    log = result.stdout + result.stderr
    assert result.returncode == 0, log
    assert "destructive changes approved" in log and "pipeline passed" in log
    assert not _temp_dirs_left(tmp_path)
