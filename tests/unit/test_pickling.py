"""The providers pickle by reference, carry no secrets, and load in a fresh process; importing has no side effects."""

from __future__ import annotations

import base64
import os
import pickletools
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from formance_provider import runtime
from formance_provider.provider import ClientProvider, SecretProvider

ROOT = Path(__file__).resolve().parents[2]
SECRET = "pickle-test-client-secret-value"
TOKEN = "pickle-test-bearer-token-value"


@pytest.fixture
def configured_runtime(monkeypatch):
    """A process whose runtime holds settings with a secret, as during `pulumi up`."""
    for key in list(os.environ):
        if key.startswith("FORMANCE_"):
            monkeypatch.delenv(key)
    runtime.reset()
    runtime.configure({"formance:endpoint": "https://acme.example", "formance:clientId": "cid", "formance:clientSecret": SECRET})
    runtime.settings()  # resolved once, like check() does
    api = runtime.api()  # builds the pooled client and token source; sends nothing
    api.redactor.add(TOKEN)
    yield
    runtime.reset()


def _globals(pickled: bytes) -> list[str]:
    """The module/name pairs a pickle refers to (STACK_GLOBAL after two string pushes)."""
    strings: list[str] = []
    refs: list[str] = []
    for op, arg, _ in pickletools.genops(pickled):
        if op.name in ("SHORT_BINUNICODE", "BINUNICODE", "UNICODE"):
            strings.append(arg)
        elif op.name == "STACK_GLOBAL":
            refs.append(f"{strings[-2]}.{strings[-1]}")
        elif op.name == "GLOBAL":
            refs.append(arg.replace(" ", "."))
    return refs


@pytest.mark.parametrize("cls", [ClientProvider, SecretProvider])
def test_serialised_provider_is_by_reference_and_secret_free(cls, configured_runtime):
    encoded = serialize_provider(cls())
    raw = base64.b64decode(encoded)
    for value in (SECRET, TOKEN, "cid", "acme.example"):
        assert value.encode() not in raw
    refs = _globals(raw)
    assert f"formance_provider.provider.{cls.__name__}" in refs, refs
    # by value, dill would embed the class body (its code objects and a type constructor)
    assert not any("_create_type" in r or "_create_code" in r or "_create_function" in r for r in refs), refs
    assert len(raw) < 300, len(raw)


@pytest.mark.parametrize("cls", [ClientProvider, SecretProvider])
def test_serialisation_is_deterministic(cls):
    assert serialize_provider(cls()) == serialize_provider(cls())


def test_provider_instances_are_empty():
    assert vars(ClientProvider()) == {} and vars(SecretProvider()) == {}


def test_loads_in_a_fresh_process(configured_runtime):
    payloads = [serialize_provider(ClientProvider()), serialize_provider(SecretProvider())]
    code = textwrap.dedent(
        """
        import base64, sys, dill
        for text in sys.argv[1:]:
            p = dill.loads(base64.b64decode(text))
            print(type(p).__module__, type(p).__name__, vars(p))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FORMANCE_")}
    done = subprocess.run(
        [sys.executable, "-c", code, *payloads], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "formance_provider.provider ClientProvider {}",
        "formance_provider.provider SecretProvider {}",
    ]


def test_import_has_no_side_effects(tmp_path):
    """Import the package in a fresh process under an audit hook: no network, no processes, no file writes, no threads."""
    code = textwrap.dedent(
        """
        import os, sys, threading
        # dependencies first: their own import-time behaviour is not ours to test
        import dill, httpx, pydantic, yaml, pulumi, pulumi.dynamic
        events = []
        def hook(event, args):
            if event.startswith(("socket.", "subprocess.", "os.system", "os.exec", "os.spawn", "os.posix_spawn", "os.fork")):
                events.append(event)
            elif event in ("os.mkdir", "os.remove", "os.rename", "os.unlink", "shutil.rmtree", "os.chmod"):
                events.append(event)
            elif event == "open" and isinstance(args[1], str) and any(c in args[1] for c in "wax+"):
                events.append(f"open {args[0]!r} {args[1]}")
        threads = threading.active_count()
        sys.addaudithook(hook)
        import formance_provider, formance_provider.provider, formance_provider.resources
        import formance_provider.api, formance_provider.runtime, formance_provider.spec, formance_provider.models
        import formance_provider.settings, formance_provider.auth, formance_provider.diffing, formance_provider.redact
        assert formance_provider.runtime._api is None and formance_provider.runtime._config == {}
        print(events, threading.active_count() - threads)
        """
    )
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPATH": str(ROOT)}
    done = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[] 0"
    assert list(tmp_path.iterdir()) == []
