"""Benchmark of the formance-auth Pulumi program on the local stack.

    .venv/bin/python bench/run.py [--sizes 10,100,500] [--out docs/] [--parallel 32]

For each N (N clients, 2 secrets each, 3N resources) on a fresh temp
project/stack/file backend: wall time of `up`, no-op `preview`, `refresh`,
`destroy`; HTTP requests counted by a loopback proxy (bench/proxy.py) between
the provider and the gateway; the provider process's peak RSS; the provider's
own per-call work (FORMANCE_PULUMI_PROFILE); and the floor: the same requests
sent directly with httpx from a thread pool (concurrency 32 and 4).
Raw figures are merged into <out>/benchmarks.json; <out>/benchmarks.md and
<out>/benchmarks.png are rebuilt from all sizes recorded there.
"""

from __future__ import annotations

import argparse
import json
from urllib.parse import urlsplit
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
from formance_provider.auth import REQUESTED_SCOPES  # noqa: E402
from formance_provider.models import ClientFields, SecretFields, expand_client, expand_secret  # noqa: E402

VENV_BIN = REPO / ".venv" / "bin"
PASSPHRASE = "bench-passphrase"
# The local stack's gateway, from .local/formance.json so FORMANCE_LOCAL_GATEWAY_PORT overrides hold.
GATEWAY = "{0.scheme}://{0.netloc}".format(urlsplit(json.loads((REPO / ".local" / "formance.json").read_text())["endpoint"]))
PROVIDER_CONCURRENCY = 4  # ThreadPoolExecutor(max_workers=4) in pulumi/dynamic/__main__.py
OPS = ("up", "preview", "refresh", "destroy")


# ------------------------------------------------------------------ proxy

class Proxy:
    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="formance-bench-proxy-"))
        port_file = self.dir / "port"
        self.proc = subprocess.Popen(
            [sys.executable, str(REPO / "bench" / "proxy.py"), "--upstream", GATEWAY, "--port-file", str(port_file)],
        )
        for _ in range(100):
            if port_file.exists() and port_file.read_text().strip():
                break
            time.sleep(0.05)
        self.base = f"http://127.0.0.1:{port_file.read_text().strip()}"
        self.ctl = httpx.Client(base_url=self.base, timeout=10)

    def label(self, label: str) -> None:
        self.ctl.post(f"/__bench/label/{label}").raise_for_status()

    def stats(self, label: str) -> dict[str, dict[str, float]]:
        return self.ctl.get("/__bench/stats").json().get(label, {})

    def close(self) -> None:
        self.ctl.close()
        self.proc.terminate()
        self.proc.wait(5)
        shutil.rmtree(self.dir, ignore_errors=True)


# ------------------------------------------------------------------ memory

def _status(pid: int) -> dict[str, int]:
    out = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(("VmHWM:", "VmRSS:")):
                out[line.split(":")[0]] = int(line.split()[1])
    except OSError:
        pass
    return out


class PeakSampler(threading.Thread):
    """Every 50 ms: max VmHWM/VmRSS (kB) of the `pulumi.dynamic` provider under ``root``, and of the CLI."""

    def __init__(self, root: int) -> None:
        super().__init__(daemon=True)
        self.root = root
        self.stop = threading.Event()
        self.provider_kb = 0
        self.cli_kb = 0
        self.provider_pids: set[int] = set()

    def _descendants(self) -> list[int]:
        parents: dict[int, int] = {}
        for entry in os.listdir("/proc"):
            if entry.isdigit():
                try:
                    stat = Path(f"/proc/{entry}/stat").read_text()
                    parents[int(entry)] = int(stat.rsplit(")", 1)[1].split()[1])
                except (OSError, IndexError, ValueError):
                    pass
        found, frontier = [], [self.root]
        while frontier:
            pid = frontier.pop()
            kids = [p for p, pp in parents.items() if pp == pid]
            found += kids
            frontier += kids
        return found

    def run(self) -> None:
        while not self.stop.is_set():
            s = _status(self.root)
            self.cli_kb = max([self.cli_kb, *s.values()])
            for pid in self._descendants():
                try:
                    cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
                except OSError:
                    continue
                if b"pulumi.dynamic" in cmd:
                    self.provider_pids.add(pid)
                    self.provider_kb = max([self.provider_kb, *_status(pid).values()])
            self.stop.wait(0.05)


# ------------------------------------------------------------------ project

class Project:
    def __init__(self, n: int, proxy: Proxy, local: dict[str, str], parallel: int) -> None:
        self.n = n
        self.parallel = parallel
        self.tmp = Path(tempfile.mkdtemp(prefix=f"formance-bench-{n}-"))
        self.root = self.tmp / "project"
        (self.root / "stacks").mkdir(parents=True)
        shutil.copy(REPO / "Pulumi.yaml", self.root / "Pulumi.yaml")
        # The committed program (the working tree's __main__.py may hold someone's experiment).
        main = subprocess.run(["git", "show", "HEAD:__main__.py"], cwd=REPO, capture_output=True, text=True)
        (self.root / "__main__.py").write_text(main.stdout if main.returncode == 0 else (REPO / "__main__.py").read_text())
        (self.tmp / "state").mkdir()
        (self.tmp / "home").mkdir()
        self.stack = "bench" + uuid.uuid4().hex[:8]
        env = {k: v for k, v in os.environ.items() if not k.startswith(("FORMANCE_", "PULUMI_"))}
        env.update(
            PATH=f"{VENV_BIN}:{env.get('PATH', '')}",
            PULUMI_HOME=str(self.tmp / "home"),
            PULUMI_BACKEND_URL=f"file://{self.tmp / 'state'}",
            PULUMI_CONFIG_PASSPHRASE=PASSPHRASE,
            PULUMI_SKIP_UPDATE_CHECK="true",
            PULUMI_DISABLE_AUTOMATIC_PLUGIN_ACQUISITION="true",
            FORMANCE_ENDPOINT=proxy.base + "/api/auth",
            FORMANCE_CLIENT_ID=local["clientId"],
            FORMANCE_CLIENT_SECRET=local["clientSecret"],
        )
        self.env = env

    def pulumi(self, *args: str, extra_env: dict[str, str] | None = None, sampler: bool = False) -> tuple[float, int, int]:
        """Run; returns (wall seconds, peak provider kB, peak CLI kB)."""
        started = time.perf_counter()
        proc = subprocess.Popen(
            ["pulumi", *args, "--stack", self.stack, "--non-interactive"],
            cwd=self.root, env={**self.env, **(extra_env or {})},
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        peak = PeakSampler(proc.pid) if sampler else None
        if peak:
            peak.start()
        out, err = proc.communicate(timeout=3600)
        wall = time.perf_counter() - started
        if peak:
            peak.stop.set()
            peak.join()
        if proc.returncode != 0:
            raise RuntimeError(f"pulumi {' '.join(args)} failed ({proc.returncode}):\n{out[-3000:]}\n{err[-3000:]}")
        return wall, (peak.provider_kb if peak else 0), (peak.cli_kb if peak else 0)

    def write_config(self) -> None:
        clients = {f"bench-{i:04d}": {"secrets": {"s1": {}, "s2": {}}} for i in range(self.n)}
        path = self.root / "stacks" / f"Pulumi.{self.stack}.yaml"
        doc = yaml.safe_load(path.read_text()) or {}
        doc.setdefault("config", {})["formance-auth:clients"] = clients
        path.write_text(yaml.safe_dump(doc, sort_keys=False))

    def cleanup(self) -> None:
        shutil.rmtree(self.tmp, ignore_errors=True)


def analyse_profile(path: Path, op_start: float, wall: float) -> dict[str, Any]:
    calls = [json.loads(line) for line in path.read_text().splitlines()] if path.exists() else []
    by_method: dict[str, dict[str, Any]] = {}
    for c in calls:
        by_method.setdefault(c["method"], []).append(c)  # type: ignore[arg-type]
    methods = {}
    for name, cs in sorted(by_method.items()):
        own = sorted((c["total_s"] - c["http_s"]) * 1000 for c in cs)
        in_order = sorted(cs, key=lambda c: c["start"])
        # The first call of a method in a process pays one-off costs (lazy imports, settings, HTTP client).
        steady = sorted((c["total_s"] - c["http_s"]) * 1000 for c in in_order[1:]) or own
        methods[name] = {
            "first_own_ms": (in_order[0]["total_s"] - in_order[0]["http_s"]) * 1000,
            "steady_mean_own_ms": statistics.fmean(steady),
            "median_own_ms": statistics.median(own),
            "max_own_ms": own[-1],
            "calls": len(cs),
            "mean_total_ms": statistics.fmean(c["total_s"] for c in cs) * 1000,
            "mean_http_ms": statistics.fmean(c["http_s"] for c in cs) * 1000,
            "mean_own_ms": statistics.fmean(own),
            "p95_own_ms": own[min(len(own) - 1, int(0.95 * len(own)))],
        }
    # Union of call intervals: wall time during which the provider was busy with at least one call.
    intervals = sorted((c["start"], c["start"] + c["total_s"]) for c in calls)
    union, cur_s, cur_e, max_conc = 0.0, None, None, 0
    events = sorted([(s, 1) for s, _ in intervals] + [(e, -1) for _, e in intervals])
    level = 0
    for _, d in events:
        level += d
        max_conc = max(max_conc, level)
    for s, e in intervals:
        if cur_e is None or s > cur_e:
            if cur_e is not None:
                union += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None:
        union += cur_e - cur_s
    total = sum(c["total_s"] for c in calls)
    http = sum(c["http_s"] for c in calls)
    return {
        "methods": methods,
        "calls": len(calls),
        "sum_total_s": total,
        "sum_http_s": http,
        "busy_s": union,
        "mean_concurrency": total / union if union else 0.0,
        "max_concurrency": max_conc,
        "first_call_after_s": (intervals[0][0] - op_start) if intervals else None,
        "after_last_call_s": (op_start + wall - max(e for _, e in intervals)) if intervals else None,
    }


# ------------------------------------------------------------------ floor

class Floor:
    """The provider's requests, sent directly with httpx from a thread pool through the same proxy."""

    def __init__(self, proxy: Proxy, local: dict[str, str], concurrency: int) -> None:
        self.proxy = proxy
        self.local = local
        self.c = concurrency
        self.http = httpx.Client(base_url=proxy.base + "/api/auth", timeout=60,
                                 limits=httpx.Limits(max_connections=64, max_keepalive_connections=32))
        self.headers: dict[str, str] = {}

    def token(self) -> None:
        r = self.http.post("/oauth/token", data={"grant_type": "client_credentials", "scope": REQUESTED_SCOPES},
                           auth=(self.local["clientId"], self.local["clientSecret"]))
        r.raise_for_status()
        self.headers = {"Authorization": f"Bearer {r.json()['access_token']}"}

    def _run(self, first: list[Any]) -> float:
        """Run tasks; a task may return follow-up tasks (dependencies), submitted to the same pool."""
        started = time.perf_counter()
        pending: list[Any] = []
        lock = threading.Lock()
        with ThreadPoolExecutor(max_workers=self.c) as pool:
            def submit(task: Any) -> None:
                fut = pool.submit(task)
                with lock:
                    pending.append(fut)
                fut.add_done_callback(lambda f: [submit(t) for t in (f.result() or [])])
            for t in first:
                submit(t)
            while True:
                with lock:
                    if all(f.done() for f in pending):
                        break
                time.sleep(0.005)
            for f in pending:
                f.result()
        return time.perf_counter() - started

    def up(self, n: int) -> tuple[float, list[tuple[str, list[str]]]]:
        created: list[tuple[str, list[str]]] = []
        lock = threading.Lock()
        run_id = uuid.uuid4().hex[:6]

        def client_task(i: int):
            def task():
                cid = str(uuid.uuid4())
                body = expand_client(ClientFields.from_props({"name": f"floor-{i}"}), client_id=cid, owner=f"bench-floor/{run_id}/{i}")
                self.http.post("/clients", json=body, headers=self.headers).raise_for_status()
                entry: tuple[str, list[str]] = (cid, [])
                with lock:
                    created.append(entry)
                return [secret_task(cid, entry, s) for s in ("s1", "s2")]
            return task

        def secret_task(cid: str, entry: tuple[str, list[str]], name: str):
            def task():
                body = expand_secret(SecretFields.from_props({"client_id": cid, "name": name}), create_marker=str(uuid.uuid4()))
                r = self.http.post(f"/clients/{cid}/secrets", json=body, headers=self.headers)
                r.raise_for_status()
                with lock:
                    entry[1].append(r.json()["data"]["id"])
                return []
            return task

        started = time.perf_counter()
        self.token()
        self._run([client_task(i) for i in range(n)])
        return time.perf_counter() - started, created

    def refresh(self, created: list[tuple[str, list[str]]], gets_per_client: int) -> float:
        def get(cid: str):
            return lambda: (self.http.get(f"/clients/{cid}", headers=self.headers).raise_for_status(), [])[1]
        started = time.perf_counter()
        self.token()
        self._run([get(cid) for cid, _ in created for _ in range(gets_per_client)])
        return time.perf_counter() - started

    def destroy(self, created: list[tuple[str, list[str]]]) -> float:
        def del_client(cid: str):
            return lambda: (self.http.delete(f"/clients/{cid}", headers=self.headers).raise_for_status(), [])[1]

        def del_secret(cid: str, sid: str, left: list[int], lock: threading.Lock):
            def task():
                self.http.delete(f"/clients/{cid}/secrets/{sid}", headers=self.headers).raise_for_status()
                with lock:
                    left[0] -= 1
                    last = left[0] == 0
                return [del_client(cid)] if last else []
            return task

        tasks = []
        for cid, sids in created:
            left, lock = [len(sids)], threading.Lock()
            tasks += [del_secret(cid, sid, left, lock) for sid in sids] or [del_client(cid)]
        started = time.perf_counter()
        self.token()
        self._run(tasks)
        return time.perf_counter() - started

    def close(self) -> None:
        self.http.close()


# ------------------------------------------------------------------ one size

def bench_size(n: int, proxy: Proxy, local: dict[str, str], parallel: int) -> dict[str, Any]:
    result: dict[str, Any] = {"n": n, "resources": 3 * n, "parallel": parallel,
                              "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "ops": {}, "floor": {}}
    proj = Project(n, proxy, local, parallel)
    created_stack = False
    try:
        proj.pulumi("stack", "init")
        created_stack = True
        proj.write_config()
        commands = {
            "up": ["up", "--yes", "--skip-preview"],
            "preview": ["preview", "--expect-no-changes"],
            "refresh": ["refresh", "--yes", "--skip-preview"],
            "destroy": ["destroy", "--yes", "--skip-preview"],
        }
        for op in OPS:
            label = f"{n}:{op}"
            proxy.label(label)
            profile = proj.tmp / f"profile-{op}.jsonl"
            op_start = time.time()
            wall, prov_kb, cli_kb = proj.pulumi(*commands[op], "--parallel", str(parallel),
                                                extra_env={"FORMANCE_PULUMI_PROFILE": str(profile)}, sampler=True)
            result["ops"][op] = {
                "wall_s": wall,
                "requests": proxy.stats(label),
                "provider_peak_rss_mb": prov_kb / 1024,
                "cli_peak_rss_mb": cli_kb / 1024,
                "profile": analyse_profile(profile, op_start, wall),
            }
            print(f"N={n} {op}: {wall:.2f} s, {sum(int(v['n']) for v in result['ops'][op]['requests'].values())} requests, "
                  f"provider peak RSS {prov_kb / 1024:.0f} MB", flush=True)
            if op == "destroy":
                created_stack = False
        gets = result["ops"]["refresh"]["requests"].get("GET", {}).get("n", 0)
        gets_per_client = max(1, round(gets / n))
        for c in (32, PROVIDER_CONCURRENCY):
            floor = Floor(proxy, local, c)
            try:
                proxy.label(f"{n}:floor{c}:up")
                up_s, created = floor.up(n)
                proxy.label(f"{n}:floor{c}:refresh")
                refresh_s = floor.refresh(created, gets_per_client)
                proxy.label(f"{n}:floor{c}:destroy")
                destroy_s = floor.destroy(created)
            finally:
                floor.close()
            result["floor"][str(c)] = {
                "up_s": up_s, "refresh_s": refresh_s, "destroy_s": destroy_s,
                "requests": {op: proxy.stats(f"{n}:floor{c}:{op}") for op in ("up", "refresh", "destroy")},
            }
            print(f"N={n} floor c={c}: up {up_s:.2f} s, refresh {refresh_s:.2f} s, destroy {destroy_s:.2f} s", flush=True)
        proxy.label("idle")
    finally:
        if created_stack:
            try:
                proj.pulumi("destroy", "--yes", "--skip-preview", "--continue-on-error")
            except RuntimeError as exc:
                print(f"cleanup destroy failed: {exc}", file=sys.stderr)
        proj.cleanup()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="10,100,500")
    parser.add_argument("--out", default="docs/")
    parser.add_argument("--parallel", type=int, default=32, help="pulumi --parallel (default 32)")
    parser.add_argument("--report-only", action="store_true", help="rebuild the report from <out>/benchmarks.json")
    args = parser.parse_args()
    out = (REPO / args.out) if not Path(args.out).is_absolute() else Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    raw_path = out / "benchmarks.json"
    raw: dict[str, Any] = json.loads(raw_path.read_text()) if raw_path.exists() else {}
    if not args.report_only:
        local = json.loads((REPO / ".local" / "formance.json").read_text())
        proxy = Proxy()
        try:
            for n in [int(s) for s in args.sizes.split(",") if s.strip()]:
                raw[str(n)] = bench_size(n, proxy, local, args.parallel)
                raw_path.write_text(json.dumps(raw, indent=1, sort_keys=True))
        finally:
            proxy.close()
    sys.path.insert(0, str(REPO / "bench"))
    from report import write_report

    write_report(raw, out)
    print(f"wrote {out / 'benchmarks.md'}, {out / 'benchmarks.png'}, {raw_path}")


if __name__ == "__main__":
    main()
