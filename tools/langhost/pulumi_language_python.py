#!/usr/bin/env python3
"""A small Pulumi language host for Python programs (``pulumi-language-python``).

Why: the official Go language host cannot be fetched from the module proxy this
project can reach, so this re-implements the part of the ``LanguageRuntime``
gRPC service that ``pulumi preview/up/refresh/destroy`` need, on top of the
generated stubs shipped with the Pulumi Python SDK.

Contract with the engine (pulumi v3.276, ``sdk/go/common/resource/plugin``):

* it starts the plugin as ``pulumi-language-python [--logtostderr] [-v=N]
  [--tracing ENDPOINT] ENGINE_ADDRESS`` (the engine address is always last),
  with the project directory as working directory;
* it reads one line from stdout, the port, then probes the gRPC server; after
  that, stdout/stderr lines of the process are shown to the user;
* ``Run`` returns ``error`` (shown by the engine) or ``bail`` (an error was
  already shown, e.g. the program exited with code 32).

The program itself is run by Pulumi's own ``pulumi-language-python-exec``
script, found next to the Python interpreter running this host (the venv's
``bin``), next to this file, or on PATH.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
from concurrent import futures
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping, Optional, Sequence

EXEC_NAME = "pulumi-language-python-exec"
# Exit code the exec script uses after it has already reported the error to the user.
EXIT_CODE_USER_ERROR_SHOWN = 32


@dataclass(frozen=True)
class HostArgs:
    """Command line of the host, as the engine builds it (see module docstring)."""

    engine_address: str = ""
    tracing: str = ""
    verbose: int = 0
    logtostderr: bool = False
    extra: tuple[str, ...] = field(default_factory=tuple)


def parse_host_args(argv: Sequence[str]) -> HostArgs:
    """Parse the engine's flags leniently: unknown flags must never stop the host."""
    tracing = ""
    verbose = 0
    logtostderr = False
    extra: list[str] = []
    positionals: list[str] = []
    i = 0
    while i < len(argv):
        arg = argv[i]
        name, _, value = arg.lstrip("-").partition("=")
        if not arg.startswith("-") or arg == "-":
            positionals.append(arg)
        elif name == "tracing":
            if not value and "=" not in arg and i + 1 < len(argv):
                i += 1
                value = argv[i]
            tracing = value
        elif name == "v":
            try:
                verbose = int(value) if value else 1
            except ValueError:
                verbose = 0
        elif name == "logtostderr":
            logtostderr = value.lower() not in ("false", "0")
        else:
            extra.append(arg)
        i += 1
    # The engine passes its address as the last positional argument.
    engine = positionals[-1] if positionals else ""
    return HostArgs(engine, tracing, verbose, logtostderr, tuple(extra))


def resolve_virtualenv(options: Mapping[str, Any], root_directory: str) -> Optional[str]:
    """Return the absolute virtualenv named by ``runtime.options.virtualenv``, if any.

    Relative paths are relative to the project root (where Pulumi.yaml lives),
    as the official host does.
    """
    venv = options.get("virtualenv")
    if not isinstance(venv, str) or not venv.strip():
        return None
    venv = os.path.expanduser(venv.strip())
    if not os.path.isabs(venv):
        venv = os.path.join(root_directory or os.getcwd(), venv)
    return os.path.normpath(venv)


def venv_python(venv: str) -> str:
    """Interpreter path inside a virtualenv (POSIX and Windows layouts)."""
    for rel in (("bin", "python"), ("Scripts", "python.exe")):
        candidate = os.path.join(venv, *rel)
        if os.path.isfile(candidate):
            return candidate
    return os.path.join(venv, "bin", "python")


def find_exec_script(
    python: str = sys.executable,
    here: str = os.path.dirname(os.path.abspath(__file__)),
    path: Optional[str] = None,
) -> Optional[str]:
    """Locate ``pulumi-language-python-exec``.

    Why these places: the install script puts it in the venv ``bin`` next to the
    host wrapper, which is also where ``sys.executable`` lives when the wrapper
    execs the venv python. ``PULUMI_LANGUAGE_PYTHON_EXEC`` overrides for tests.
    """
    override = os.environ.get("PULUMI_LANGUAGE_PYTHON_EXEC")
    if override:
        return override if os.path.isfile(override) else None
    for directory in (os.path.dirname(python), here):
        candidate = os.path.join(directory, EXEC_NAME)
        if os.path.isfile(candidate):
            return candidate
    return shutil.which(EXEC_NAME, path=path)


def program_path(program_directory: str, entry_point: str, legacy_program: str, pwd: str) -> str:
    """The path handed to the exec script (a directory runs its ``__main__.py``)."""
    if program_directory:
        return os.path.normpath(os.path.join(program_directory, entry_point or "."))
    if legacy_program:
        return os.path.normpath(os.path.join(pwd or os.getcwd(), legacy_program))
    return pwd or os.getcwd()


@dataclass(frozen=True)
class RunSpec:
    """Everything needed to start the user's program, independent of gRPC types."""

    project: str
    stack: str
    pwd: str
    program: str
    args: tuple[str, ...]
    config: Mapping[str, str]
    config_secret_keys: tuple[str, ...]
    dry_run: bool
    parallel: int
    monitor_address: str
    engine_address: str
    organization: str = ""
    root_directory: str = ""
    tracing: str = ""


def build_exec_command(python: str, exec_script: str, spec: RunSpec) -> list[str]:
    """Argument vector for ``pulumi-language-python-exec`` (flags it parses with argparse)."""
    cmd = [
        python,
        "-u",
        exec_script,
        "--monitor",
        spec.monitor_address,
        "--engine",
        spec.engine_address,
        "--project",
        spec.project,
        "--stack",
        spec.stack,
        "--pwd",
        spec.pwd,
        "--dry_run",
        "true" if spec.dry_run else "false",
        # The exec script calls int() on it unconditionally: always pass it.
        "--parallel",
        str(spec.parallel),
    ]
    if spec.root_directory:
        cmd += ["--root_directory", spec.root_directory]
    if spec.organization:
        cmd += ["--organization", spec.organization]
    if spec.tracing:
        cmd += ["--tracing", spec.tracing]
    cmd.append(spec.program)
    cmd.extend(spec.args)
    return cmd


def build_env(base: Mapping[str, str], spec: RunSpec, virtualenv: Optional[str]) -> dict[str, str]:
    """Environment of the program: the SDK reads config from these variables.

    ``PULUMI_CONFIG`` is a JSON object of ``"project:key" -> string`` and
    ``PULUMI_CONFIG_SECRET_KEYS`` a JSON list of the keys that are secret
    (``pulumi/runtime/config.py``).
    """
    env = dict(base)
    env["PULUMI_CONFIG"] = json.dumps(dict(spec.config))
    env["PULUMI_CONFIG_SECRET_KEYS"] = json.dumps(list(spec.config_secret_keys))
    env["PYTHONUNBUFFERED"] = "1"
    if virtualenv:
        bindir = os.path.dirname(venv_python(virtualenv))
        env["VIRTUAL_ENV"] = virtualenv
        env["PATH"] = bindir + os.pathsep + env.get("PATH", "")
        env.pop("PYTHONHOME", None)
    return env


def interpret_exit(code: int) -> tuple[str, bool]:
    """Map the program's exit code to the ``RunResponse`` (error, bail) pair."""
    if code == 0:
        return "", False
    if code == EXIT_CODE_USER_ERROR_SHOWN:
        return "", True
    if code < 0:
        return f"Program was terminated by signal {-code}", False
    return f"Program exited with non-zero exit code: {code}", False


def sdk_version() -> str:
    """Version reported by GetPluginInfo: the Pulumi Python SDK this host runs with."""
    try:
        from importlib.metadata import version

        return version("pulumi")
    except Exception:  # noqa: BLE001 - a missing version must not break the host
        return "0.0.0"


# --- gRPC service -------------------------------------------------------------------------

def _serve(args: HostArgs) -> None:
    """Start the gRPC server, print the port and block until told to stop."""
    import grpc
    from google.protobuf import empty_pb2, json_format
    from pulumi.runtime.proto import language_pb2, language_pb2_grpc, plugin_pb2

    def options_of(info: Any) -> dict[str, Any]:
        if info is None or not info.HasField("options"):
            return {}
        return json_format.MessageToDict(info.options)

    def python_for(info: Any) -> tuple[str, Optional[str]]:
        venv = resolve_virtualenv(options_of(info), info.root_directory if info else "")
        return (venv_python(venv) if venv else sys.executable), venv

    class LanguageHost(language_pb2_grpc.LanguageRuntimeServicer):
        """Implements the LanguageRuntime calls the engine makes for preview/up/refresh/destroy."""

        def __init__(self, host_args: HostArgs) -> None:
            self.engine_address = host_args.engine_address
            self.tracing = host_args.tracing
            self._children: set[subprocess.Popen[bytes]] = set()
            self._lock = threading.Lock()

        def Handshake(self, request: Any, context: Any) -> Any:
            # Only used when the engine attaches to an already running host.
            if request.engine_address:
                self.engine_address = request.engine_address
            return language_pb2.LanguageHandshakeResponse()

        def GetPluginInfo(self, request: Any, context: Any) -> Any:
            return plugin_pb2.PluginInfo(version=sdk_version())

        def GetRequiredPlugins(self, request: Any, context: Any) -> Any:
            # Dynamic providers need no downloaded plugin; the engine finds
            # pulumi-resource-pulumi-python on PATH when a resource needs it.
            return language_pb2.GetRequiredPluginsResponse()

        def GetRequiredPackages(self, request: Any, context: Any) -> Any:
            return language_pb2.GetRequiredPackagesResponse()

        def RuntimeOptionsPrompts(self, request: Any, context: Any) -> Any:
            return language_pb2.RuntimeOptionsResponse()

        def About(self, request: Any, context: Any) -> Any:
            python, _ = python_for(request.info if request.HasField("info") else None)
            version = ""
            try:
                out = subprocess.run(
                    [python, "-c", "import platform; print(platform.python_version())"],
                    capture_output=True, text=True, timeout=30, check=False,
                )
                version = out.stdout.strip()
            except OSError:
                pass
            return language_pb2.AboutResponse(executable=python, version=version)

        def GetProgramDependencies(self, request: Any, context: Any) -> Any:
            python, _ = python_for(request.info if request.HasField("info") else None)
            code = (
                "import json, importlib.metadata as m;"
                "print(json.dumps(sorted({d.metadata['Name']: d.version"
                " for d in m.distributions() if d.metadata['Name']}.items())))"
            )
            deps = []
            try:
                out = subprocess.run(
                    [python, "-c", code], capture_output=True, text=True, timeout=60, check=True
                )
                for name, version in json.loads(out.stdout):
                    deps.append(language_pb2.DependencyInfo(name=name, version=version))
            except (OSError, subprocess.SubprocessError, ValueError) as exc:
                context.abort(grpc.StatusCode.INTERNAL, f"listing dependencies failed: {exc}")
            return language_pb2.GetProgramDependenciesResponse(dependencies=deps)

        def InstallDependencies(self, request: Any, context: Any) -> Iterator[Any]:
            """Create the configured virtualenv and pip-install requirements.txt, if both apply."""
            info = request.info if request.HasField("info") else None
            root = (info.root_directory if info else "") or request.directory
            venv = resolve_virtualenv(options_of(info), root)
            reqs = os.path.join(root, "requirements.txt")
            if not venv or not os.path.isfile(reqs):
                yield language_pb2.InstallDependenciesResponse(
                    stdout=b"No virtualenv option or requirements.txt: nothing to install.\n"
                )
                return
            steps = []
            if not os.path.isfile(venv_python(venv)):
                steps.append([sys.executable, "-m", "venv", venv])
            steps.append([venv_python(venv), "-m", "pip", "install", "-r", reqs])
            for step in steps:
                proc = subprocess.Popen(step, cwd=root, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
                assert proc.stdout is not None
                for line in proc.stdout:
                    yield language_pb2.InstallDependenciesResponse(stdout=line)
                if proc.wait() != 0:
                    context.abort(grpc.StatusCode.INTERNAL, f"{' '.join(step)} failed")

        def Cancel(self, request: Any, context: Any) -> Any:
            self.kill_children()
            return empty_pb2.Empty()

        def Run(self, request: Any, context: Any) -> Any:
            info = request.info if request.HasField("info") else None
            python, venv = python_for(info)
            if venv and not os.path.isfile(python):
                return language_pb2.RunResponse(
                    error=f"The 'virtualenv' option in Pulumi.yaml is set to {venv!r}, "
                    f"but {python!r} does not exist."
                )
            exec_script = find_exec_script()
            if exec_script is None:
                return language_pb2.RunResponse(
                    error=f"{EXEC_NAME} not found next to {sys.executable} nor on PATH"
                )
            pwd = request.pwd or os.getcwd()
            spec = RunSpec(
                project=request.project,
                stack=request.stack,
                pwd=pwd,
                program=program_path(
                    info.program_directory if info else "",
                    info.entry_point if info else "",
                    request.program,
                    pwd,
                ),
                args=tuple(request.args),
                config=dict(request.config),
                config_secret_keys=tuple(request.configSecretKeys),
                dry_run=request.dryRun,
                parallel=request.parallel,
                monitor_address=request.monitor_address,
                engine_address=self.engine_address,
                organization=request.organization,
                root_directory=info.root_directory if info else "",
                tracing=self.tracing,
            )
            cmd = build_exec_command(python, exec_script, spec)
            env = build_env(os.environ, spec, venv)
            try:
                # stdout/stderr are inherited: the engine shows them to the user.
                proc = subprocess.Popen(cmd, cwd=pwd, env=env, stdin=subprocess.DEVNULL)
            except OSError as exc:
                return language_pb2.RunResponse(error=f"failed to start {python}: {exc}")
            with self._lock:
                self._children.add(proc)
            # If the engine gives up on the call (Ctrl-C, timeout), stop the program too.
            context.add_callback(lambda: proc.poll() is None and proc.terminate())
            try:
                code = proc.wait()
            finally:
                with self._lock:
                    self._children.discard(proc)
            error, bail = interpret_exit(code)
            return language_pb2.RunResponse(error=error, bail=bail)

        def kill_children(self) -> None:
            with self._lock:
                children = list(self._children)
            for child in children:
                if child.poll() is None:
                    child.terminate()

    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=8),
        options=[
            ("grpc.max_receive_message_length", 400 * 1024 * 1024),
            ("grpc.max_send_message_length", 400 * 1024 * 1024),
        ],
    )
    host = LanguageHost(args)
    language_pb2_grpc.add_LanguageRuntimeServicer_to_server(host, server)
    port = server.add_insecure_port("127.0.0.1:0")
    if port == 0:
        print("could not bind a port on 127.0.0.1", file=sys.stderr)
        sys.exit(1)
    server.start()
    # The engine reads exactly one line from stdout: the port.
    sys.stdout.write(f"{port}\n")
    sys.stdout.flush()

    stop = threading.Event()

    def on_signal(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    while not stop.wait(3600):
        pass
    host.kill_children()
    server.stop(grace=1).wait()


def main(argv: Optional[Sequence[str]] = None) -> None:
    """Entry point: ``pulumi-language-python [flags] ENGINE_ADDRESS``."""
    args = parse_host_args(list(sys.argv[1:] if argv is None else argv))
    _serve(args)


if __name__ == "__main__":
    main()
