"""End-to-end tests of the Python language host (tools/langhost) with the real Pulumi CLI.

Why: the host replaces the official `pulumi-language-python`; these tests drive
`pulumi up/preview/refresh/destroy/stack output` through it with a local file
backend and a tiny program using a `pulumi.dynamic` resource defined in `__main__`.

The host is installed with tools/langhost/install.sh into a throwaway virtualenv
that sees this interpreter's packages, so the test does not depend on (or
modify) the project's .venv wiring.
"""

from __future__ import annotations

import json
import os
import shutil
import site
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Iterator

import pytest

REPO = Path(__file__).resolve().parents[2]
INSTALL = REPO / "tools" / "langhost" / "install.sh"
PULUMI = shutil.which("pulumi")

pytestmark = [
    pytest.mark.skipif(PULUMI is None, reason="the `pulumi` CLI binary is not on PATH"),
    pytest.mark.skipif(shutil.which("go") is None, reason="`go` is needed by install.sh to locate the SDK scripts"),
    pytest.mark.timeout(300),
]

PULUMI_YAML = """\
name: lhtest
runtime:
  name: python
description: language host end-to-end test
"""

MAIN_PY = '''\
import os

import pulumi
from pulumi.dynamic import (
    CreateResult, DiffResult, ReadResult, Resource, ResourceProvider, UpdateResult,
)


class MarkerProvider(ResourceProvider):
    """Writes a marker file per resource, so the test sees create and delete happen."""

    def create(self, props):
        path = os.path.join(props["dir"], "marker-" + props["value"])
        with open(path, "w") as f:
            f.write(props["value"])
        return CreateResult(id_=props["value"], outs={**props, "greeting": "hello " + props["value"]})

    def diff(self, id, olds, news):
        return DiffResult(changes=olds.get("value") != news.get("value"), replaces=["value"])

    def read(self, id, props):
        return ReadResult(id_=id, outs=props)

    def update(self, id, olds, news):
        return UpdateResult(outs={**news, "greeting": "hello " + news["value"]})

    def delete(self, id, props):
        os.remove(os.path.join(props["dir"], "marker-" + props["value"]))


class Marker(Resource):
    greeting: pulumi.Output[str]

    def __init__(self, name, value, directory, opts=None):
        super().__init__(MarkerProvider(), name, {"value": value, "dir": directory, "greeting": None}, opts)


cfg = pulumi.Config()
if cfg.get_bool("fail"):
    raise RuntimeError("boom-from-the-program")

name = cfg.require("name")
token = cfg.require_secret("token")
marker = Marker("m1", name, os.getcwd())

pulumi.export("name", name)
pulumi.export("greeting", marker.greeting)
pulumi.export("token", token)
pulumi.export("token_len", token.apply(len))
pulumi.export("stack", pulumi.get_stack())
pulumi.export("project", pulumi.get_project())
'''


def _make_venv(venv: Path) -> Path:
    """A fast virtualenv (no pip) that sees this interpreter's packages through a .pth file."""
    base_python = getattr(sys, "_base_executable", sys.executable)
    subprocess.run([base_python, "-m", "venv", "--without-pip", str(venv)], check=True)
    purelib = next((venv / "lib").glob("python3*/site-packages"))
    (purelib / "parent_env.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    return venv


@pytest.fixture(scope="module")
def host_venv(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A throwaway virtualenv with the host installed by install.sh."""
    venv = _make_venv(tmp_path_factory.mktemp("hostvenv") / "venv")
    subprocess.run(["sh", str(INSTALL), str(venv), str(REPO)], check=True, capture_output=True)
    return venv


@pytest.fixture(scope="module")
def env(host_venv: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    backend = tmp_path_factory.mktemp("backend")
    home = tmp_path_factory.mktemp("pulumi-home")
    assert PULUMI is not None
    path = os.pathsep.join([str(host_venv / "bin"), str(Path(PULUMI).parent), os.environ.get("PATH", "")])
    e = {k: v for k, v in os.environ.items() if not k.startswith("PULUMI_")}
    e.update(
        PATH=path,
        PULUMI_HOME=str(home),
        PULUMI_SKIP_UPDATE_CHECK="true",
        PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
        PULUMI_BACKEND_URL=f"file://{backend}",
        PULUMI_CONFIG_PASSPHRASE="test",
        NO_COLOR="1",
    )
    e.pop("VIRTUAL_ENV", None)
    return e


def _pulumi(cwd: Path, env: dict[str, str], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    assert PULUMI is not None
    proc = subprocess.run(
        [PULUMI, *args, "--non-interactive", "--color", "never"],
        cwd=cwd, env=env, capture_output=True, text=True, timeout=240,
    )
    if check and proc.returncode != 0:
        pytest.fail(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{proc.stdout}\n{proc.stderr}")
    return proc


def _project(root: Path, env: dict[str, str], stack: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "Pulumi.yaml").write_text(PULUMI_YAML)
    (root / "__main__.py").write_text(MAIN_PY)
    _pulumi(root, env, "stack", "init", stack)
    _pulumi(root, env, "config", "set", "name", "world")
    _pulumi(root, env, "config", "set", "--secret", "token", "s3cr3t-value")
    return root


@pytest.fixture(scope="module")
def deployed(env: dict[str, str], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A stack brought up once for the read-only checks."""
    proj = _project(tmp_path_factory.mktemp("proj") / "p", env, "dev")
    _pulumi(proj, env, "up", "--yes", "--skip-preview")
    yield proj
    _pulumi(proj, env, "destroy", "--yes", "--skip-preview", check=False)


def test_up_creates_resource_and_exports_outputs(deployed: Path, env: dict[str, str]) -> None:
    assert (deployed / "marker-world").read_text() == "world"
    outs = json.loads(_pulumi(deployed, env, "stack", "output", "--json", "--show-secrets").stdout)
    assert outs == {
        "name": "world",
        "greeting": "hello world",
        "token": "s3cr3t-value",
        "token_len": 12,
        "stack": "dev",
        "project": "lhtest",
    }


def test_secret_config_stays_secret(deployed: Path, env: dict[str, str]) -> None:
    outs = json.loads(_pulumi(deployed, env, "stack", "output", "--json").stdout)
    assert outs["token"] == "[secret]"
    assert outs["token_len"] == "[secret]"
    exported = _pulumi(deployed, env, "stack", "export").stdout
    assert "s3cr3t-value" not in exported


def test_preview_expects_no_changes(deployed: Path, env: dict[str, str]) -> None:
    _pulumi(deployed, env, "preview", "--expect-no-changes")


def test_refresh_keeps_state(deployed: Path, env: dict[str, str]) -> None:
    _pulumi(deployed, env, "refresh", "--yes", "--skip-preview")
    _pulumi(deployed, env, "preview", "--expect-no-changes")


def test_program_error_fails_up_with_message(env: dict[str, str], tmp_path: Path) -> None:
    proj = _project(tmp_path / "p", env, "broken")
    _pulumi(proj, env, "config", "set", "fail", "true")
    proc = _pulumi(proj, env, "up", "--yes", "--skip-preview", check=False)
    output = proc.stdout + proc.stderr
    assert proc.returncode != 0, output
    assert "boom-from-the-program" in output
    assert not list(proj.glob("marker-*"))


def test_update_then_destroy(env: dict[str, str], tmp_path: Path) -> None:
    proj = _project(tmp_path / "p", env, "gone")
    _pulumi(proj, env, "up", "--yes", "--skip-preview")
    assert (proj / "marker-world").exists()
    _pulumi(proj, env, "config", "set", "name", "again")
    _pulumi(proj, env, "up", "--yes", "--skip-preview")
    assert (proj / "marker-again").exists() and not (proj / "marker-world").exists()
    _pulumi(proj, env, "destroy", "--yes", "--skip-preview")
    assert not list(proj.glob("marker-*"))
    resources = json.loads(_pulumi(proj, env, "stack", "export").stdout)["deployment"].get("resources") or []
    assert resources == []


def test_runtime_option_virtualenv_selects_the_interpreter(env: dict[str, str], tmp_path: Path) -> None:
    venv = _make_venv(tmp_path / "progvenv")
    proj = tmp_path / "p"
    proj.mkdir()
    (proj / "Pulumi.yaml").write_text(
        PULUMI_YAML.replace("  name: python\n", "  name: python\n  options:\n    virtualenv: ../progvenv\n")
    )
    (proj / "__main__.py").write_text("import sys, pulumi\npulumi.export('prefix', sys.prefix)\n")
    _pulumi(proj, env, "stack", "init", "venv")
    _pulumi(proj, env, "up", "--yes", "--skip-preview")
    outs = json.loads(_pulumi(proj, env, "stack", "output", "--json").stdout)
    assert Path(outs["prefix"]).resolve() == venv.resolve()
