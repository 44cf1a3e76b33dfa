"""Helpers of the end-to-end tests: the real ``pulumi`` CLI on a temporary project,
stack and file backend, against the local stack.

A module of its own (not conftest) so tests import it by a unique name."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO = Path(__file__).resolve().parents[2]
VENV_BIN = REPO / ".venv" / "bin"
PASSPHRASE = "e2e-test-passphrase"


class PulumiProject:
    """A copy of the repo's Pulumi project in a temp dir, with its own stack and backend.

    Every command's output is kept in ``transcript`` so tests can scan it for secrets.
    """

    def __init__(self, root: Path, env: dict[str, str], stack: str) -> None:
        self.root = root
        self.env = env
        self.stack = stack
        self.transcript: list[str] = []
        self.clients: dict[str, Any] = {}
        self.extra_config: dict[str, Any] = {}

    # -------------------------------------------------------------- files
    def write_config(self, clients: dict[str, Any] | None = None, **extra: Any) -> None:
        if clients is not None:
            self.clients = clients
        self.extra_config.update(extra)
        path = self.root / "stacks" / f"Pulumi.{self.stack}.yaml"
        existing = yaml.safe_load(path.read_text()) if path.exists() else {}
        existing = existing or {}
        config = dict(existing.get("config") or {})  # keeps the salt and `pulumi config set` values
        config["formance-auth:clients"] = self.clients
        config.update(self.extra_config)
        existing["config"] = config
        path.write_text(yaml.safe_dump(existing, sort_keys=False))

    # -------------------------------------------------------------- commands
    def run(self, *args: str, check: bool = True, env: dict[str, str] | None = None, timeout: float = 600) -> subprocess.CompletedProcess[str]:
        full_env = {**self.env, **(env or {})}
        proc = subprocess.run(
            ["pulumi", *args, "--stack", self.stack, "--non-interactive"],
            cwd=self.root, env=full_env, capture_output=True, text=True, timeout=timeout,
        )
        self.transcript.append(f"$ pulumi {' '.join(args)}\n{proc.stdout}\n{proc.stderr}")
        if check and proc.returncode != 0:
            raise AssertionError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}")
        return proc

    def up(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run("up", "--yes", "--skip-preview", *args, **kw)

    def preview(self, *args: str, **kw: Any) -> subprocess.CompletedProcess[str]:
        return self.run("preview", *args, **kw)

    def preview_json(self, *args: str, **kw: Any) -> dict[str, Any]:
        return json.loads(self.run("preview", "--json", *args, **kw).stdout)

    def outputs(self, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "output", "--json"] + (["--show-secrets"] if show_secrets else [])
        proc = self.run(*args)
        if show_secrets:  # keep the clear values out of the transcript that tests scan
            self.transcript[-1] = "$ pulumi stack output --show-secrets (redacted from transcript)"
        return json.loads(proc.stdout)

    def export(self, show_secrets: bool = False) -> dict[str, Any]:
        args = ["stack", "export"] + (["--show-secrets"] if show_secrets else [])
        proc = self.run(*args)
        if show_secrets:
            self.transcript[-1] = "$ pulumi stack export --show-secrets (redacted from transcript)"
        return json.loads(proc.stdout)

    def resources(self, type_suffix: str) -> list[dict[str, Any]]:
        return [r for r in self.export().get("deployment", {}).get("resources", []) if r["type"].endswith(type_suffix)]

    def credentials(self) -> dict[str, Any]:
        return self.outputs(show_secrets=True).get("credentials", {})

    def text(self) -> str:
        return "\n".join(self.transcript)


def _base_env(local_stack: dict, home: Path, backend: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FORMANCE_", "PULUMI_"))}
    env.update(
        PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
        PULUMI_HOME=str(home),
        PULUMI_BACKEND_URL=f"file://{backend}",
        PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        FORMANCE_ENDPOINT=local_stack["endpoint"],
        FORMANCE_CLIENT_ID=local_stack["clientId"],
        FORMANCE_CLIENT_SECRET=local_stack["clientSecret"],
    )
    return env

def make_project(local_stack: dict, pulumi_home: Path, base: Path, *, prefix: str = "t", endpoint: str | None = None) -> PulumiProject:
    """A copy of the repo's project under ``base`` with a new stack on its own file backend."""
    root = base / "project"
    (root / "stacks").mkdir(parents=True)
    shutil.copy(REPO / "Pulumi.yaml", root / "Pulumi.yaml")
    shutil.copy(REPO / "__main__.py", root / "__main__.py")
    backend = base / "state"
    backend.mkdir()
    env = _base_env(local_stack, pulumi_home, backend)
    if endpoint:
        env["FORMANCE_ENDPOINT"] = endpoint
    proj = PulumiProject(root, env, prefix + uuid.uuid4().hex[:10])
    proj.run("stack", "init")
    proj.write_config({})
    return proj


def server_client_ids(admin_api: Any) -> set[str]:
    return {c.client_id for c in admin_api.list_clients()}
