"""Unit tests of the language host's pure helpers (argument and environment building)."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path
from types import ModuleType

import pytest

HOST_PATH = Path(__file__).resolve().parents[2] / "tools" / "langhost" / "pulumi_language_python.py"


def _load_host() -> ModuleType:
    """Load the host by path: tools/ is not a package, and must not become one."""
    spec = importlib.util.spec_from_file_location("pulumi_language_python", HOST_PATH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses need the module registered
    spec.loader.exec_module(module)
    return module


lh = _load_host()


def _spec(**overrides: object) -> "lh.RunSpec":
    values: dict[str, object] = dict(
        project="proj",
        stack="dev",
        pwd="/p",
        program="/p",
        args=(),
        config={"proj:name": "x", "proj:token": "s3cr3t"},
        config_secret_keys=("proj:token",),
        dry_run=True,
        parallel=16,
        monitor_address="127.0.0.1:1",
        engine_address="127.0.0.1:2",
    )
    values.update(overrides)
    return lh.RunSpec(**values)


@pytest.mark.parametrize(
    ("argv", "engine", "tracing", "verbose", "logtostderr"),
    [
        (["127.0.0.1:5000"], "127.0.0.1:5000", "", 0, False),
        (["--logtostderr", "-v=9", "127.0.0.1:5000"], "127.0.0.1:5000", "", 9, True),
        (["--tracing", "http://t", "127.0.0.1:5000"], "127.0.0.1:5000", "http://t", 0, False),
        (["-tracing=http://t", "127.0.0.1:5000"], "127.0.0.1:5000", "http://t", 0, False),
        ([], "", "", 0, False),
    ],
)
def test_parse_host_args(argv: list[str], engine: str, tracing: str, verbose: int, logtostderr: bool) -> None:
    args = lh.parse_host_args(argv)
    assert (args.engine_address, args.tracing, args.verbose, args.logtostderr) == (
        engine,
        tracing,
        verbose,
        logtostderr,
    )


def test_parse_host_args_keeps_unknown_flags_without_failing() -> None:
    args = lh.parse_host_args(["-virtualenv=venv", "--whatever", "127.0.0.1:7"])
    assert args.engine_address == "127.0.0.1:7"
    assert args.extra == ("-virtualenv=venv", "--whatever")


def test_build_exec_command_passes_every_flag_the_exec_script_reads() -> None:
    cmd = lh.build_exec_command(
        "/venv/bin/python",
        "/venv/bin/pulumi-language-python-exec",
        _spec(organization="org", root_directory="/p", tracing="http://t", args=("a", "b")),
    )
    assert cmd[:3] == ["/venv/bin/python", "-u", "/venv/bin/pulumi-language-python-exec"]
    flags = dict(zip(cmd[3:-3:2], cmd[4:-3:2]))
    assert flags == {
        "--monitor": "127.0.0.1:1",
        "--engine": "127.0.0.1:2",
        "--project": "proj",
        "--stack": "dev",
        "--pwd": "/p",
        "--dry_run": "true",
        "--parallel": "16",
        "--root_directory": "/p",
        "--organization": "org",
        "--tracing": "http://t",
    }
    assert cmd[-3:] == ["/p", "a", "b"]


def test_build_exec_command_omits_empty_optional_flags() -> None:
    cmd = lh.build_exec_command("py", "exec", _spec(dry_run=False, parallel=0))
    assert "--organization" not in cmd and "--tracing" not in cmd and "--root_directory" not in cmd
    assert cmd[cmd.index("--dry_run") + 1] == "false"
    assert cmd[cmd.index("--parallel") + 1] == "0"
    assert cmd[-1] == "/p"


def test_build_env_sets_config_and_secret_keys_as_json() -> None:
    env = lh.build_env({"PATH": "/usr/bin", "PYTHONHOME": "/x"}, _spec(), None)
    assert json.loads(env["PULUMI_CONFIG"]) == {"proj:name": "x", "proj:token": "s3cr3t"}
    assert json.loads(env["PULUMI_CONFIG_SECRET_KEYS"]) == ["proj:token"]
    assert env["PATH"] == "/usr/bin"
    assert "VIRTUAL_ENV" not in env


def test_build_env_with_virtualenv_prepends_its_bin(tmp_path: Path) -> None:
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "python").write_text("")
    env = lh.build_env({"PATH": "/usr/bin", "PYTHONHOME": "/x"}, _spec(), str(tmp_path))
    assert env["PATH"].split(os.pathsep)[:2] == [str(tmp_path / "bin"), "/usr/bin"]
    assert env["VIRTUAL_ENV"] == str(tmp_path)
    assert "PYTHONHOME" not in env


def test_resolve_virtualenv_relative_to_project_root() -> None:
    assert lh.resolve_virtualenv({"virtualenv": "venv"}, "/proj") == "/proj/venv"
    assert lh.resolve_virtualenv({"virtualenv": "/abs/venv/"}, "/proj") == "/abs/venv"
    assert lh.resolve_virtualenv({}, "/proj") is None
    assert lh.resolve_virtualenv({"toolchain": "pip"}, "/proj") is None


def test_program_path_prefers_program_info() -> None:
    assert lh.program_path("/proj/src", ".", "ignored", "/proj") == "/proj/src"
    assert lh.program_path("/proj", "main.py", "", "/proj") == "/proj/main.py"
    assert lh.program_path("", "", "app", "/proj") == "/proj/app"
    assert lh.program_path("", "", "", "/proj") == "/proj"


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        (0, ("", False)),
        (32, ("", True)),
        (1, ("Program exited with non-zero exit code: 1", False)),
        (-9, ("Program was terminated by signal 9", False)),
    ],
)
def test_interpret_exit(code: int, expected: tuple[str, bool]) -> None:
    assert lh.interpret_exit(code) == expected


def test_find_exec_script_next_to_interpreter(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("PULUMI_LANGUAGE_PYTHON_EXEC", raising=False)
    script = tmp_path / lh.EXEC_NAME
    script.write_text("")
    found = lh.find_exec_script(python=str(tmp_path / "python"), here=str(tmp_path / "nowhere"), path="")
    assert found == str(script)
    assert lh.find_exec_script(python="/nonexistent/python", here="/nonexistent", path="") is None
