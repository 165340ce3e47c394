"""Database guard benchmark (the DB-1…DB-4 proxy): prints one JSON document.

    .venv/bin/python bench/dbguard.py [--seconds 20] [--scale 10] [--clients 8] [--threads 2]
                                      [--idle 100] [--profile] [--workdir DIR]

A private PostgreSQL 15 cluster (tests/dbguard/pg.py: SCRAM-SHA-256, fsync off) initialised with
``pgbench -i -s SCALE``, then pgbench's select-only (``-S``) and default TPC-B-like scripts,
``-M simple`` and ``-M extended``, CLIENTS clients on THREADS threads for SECONDS each, against
three targets, interleaved per script and protocol so that drift hits all three alike:

* ``direct``: the server itself;
* ``pgbouncer``: PgBouncer in session mode (bench/pgbouncer.py), SCRAM to the client and to the
  server, as the proxy does;
* ``mamori``: ``mamori dbguard proxy --name bench`` in a process of its own, configured by a
  ``[[dbguard]]`` table in a temporary home: the firewall in ``monitor`` with an allowlist
  learned first from a short pgbench run through a ``learn`` proxy (so that statements are
  looked up, and allowed, as in production), the injection analysis, the row policies
  (defaults) and the time policy (``alert``; the bench's role exempt, as the bench runs at any
  hour — inside business hours it is a per-minute cached lookup), every statement an event in
  the home's ledger.

Per run: TPS (pgbench's, without the initial connection time) and latency average, p50, p95
and p99, derived from pgbench's per-transaction log (``-l``: one line per transaction, its
latency in µs in the third field), all transactions of the run. ``added_p50_us`` is the
proxy's p50 minus the direct p50 for the same script and protocol. With 8 clients on a small
machine the latency is mostly queueing (clients ÷ TPS), so the added latency is also measured
with one client (``single_client``, LATENCY_SECONDS per run), which is the figure the target
refers to.

Memory: VmRSS and VmHWM (/proc/PID/status) of the proxy (just started, and idle after the
runs) and of PgBouncer, then with IDLE connections open (psycopg, one ``SELECT 1`` each, then
idle).

CPU: the proxy process's CPU seconds per run (/proc/PID/stat), split into its main thread (the
event loop: protocol, analysis, firewall) and its other threads (the ledger's writer), and the
same for every PostgreSQL backend and pgbench, to show where a 2-vCPU machine's time goes.

``--profile``: one more select-only extended run against a proxy started under cProfile
(``python -m cProfile … mamori dbguard proxy``: the main thread, i.e. the event loop); its own
time by part and its top functions go into the document under ``profile``.

Not a test: nothing here asserts. The figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import pstats
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson

ROOT = Path(__file__).resolve().parents[1]
SCRIPTS = ("select-only", "tpcb-like")
MODES = ("simple", "extended")
ROLE = "app"


# -- the proxy, in a process of its own -------------------------------------------------------

MAMORI = str(Path(sys.executable).parent / "mamori")


def add_proxy(home: Path, name: str, upstream_port: int, firewall: str) -> int:
    """Append a ``[[dbguard]]`` table to the home's mamori.toml; its port."""
    port = free_port()
    with (home / "mamori.toml").open("a", encoding="utf-8") as f:
        f.write(
            "\n[[dbguard]]\n"
            f'name = "{name}"\n'
            f'listen = "127.0.0.1:{port}"\n'
            f'upstream = "127.0.0.1:{upstream_port}"\n'
            'upstream_tls = "disable"\n'
            "client_tls = false\n"
            f'firewall = "{firewall}"\n'
            'time_policy = "alert"\n'
            f'time_exempt_roles = ["{ROLE}"]\n'
        )
    return port


class ProxyProcess:
    """``mamori dbguard proxy --name NAME`` in a child process (under cProfile if `profile`)."""

    def __init__(self, home: Path, name: str, port: int, log: Path, profile: Path | None) -> None:
        self.port = port
        self.log = log
        cmd = [MAMORI, "dbguard", "proxy", "--home", str(home), "--name", name]
        if profile is not None:
            cmd = [sys.executable, "-m", "cProfile", "-o", str(profile), *cmd]
        with log.open("wb") as out:
            self.proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 60
        while "listening on" not in log.read_text(errors="replace"):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                sys.exit(f"bench/dbguard.py: the proxy did not start:\n{log.read_text()}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(300)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        if self.proc.returncode != 0:
            print(f"proxy exited {self.proc.returncode}:\n{self.log.read_text()}", file=sys.stderr)


# -- measuring --------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def status_kb(pid: int) -> dict[str, int]:
    """VmRSS and VmHWM of a process, in kB."""
    out: dict[str, int] = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            out[key] = int(value.split()[0])
    return out


TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, tid: int | None = None) -> float:
    """utime + stime of a process (all its threads) or of one thread."""
    path = f"/proc/{pid}/task/{tid}/stat" if tid is not None else f"/proc/{pid}/stat"
    try:
        fields = Path(path).read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / TICK


def postgres_cpu(server_pid: int) -> float:
    """CPU seconds of the server's processes (postmaster and every child, backends included,
    the dead ones through cutime/cstime of the postmaster)."""
    total = 0.0
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            stat = (d / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(d.name) == server_pid:
            total += sum(int(x) for x in fields[11:15]) / TICK
        elif int(fields[1]) == server_pid:
            total += (int(fields[11]) + int(fields[12])) / TICK
    return total


def percentile(sorted_values: list[int], q: float) -> float:
    if not sorted_values:
        return 0.0
    k = (len(sorted_values) - 1) * q
    lo = int(k)
    hi = min(lo + 1, len(sorted_values) - 1)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (k - lo)


class Bench:
    def __init__(self, args: argparse.Namespace, pg: Any, workdir: Path) -> None:
        self.args = args
        self.pg = pg
        self.workdir = workdir
        self.runs = 0
        self.server_pid = int((pg.data / "postmaster.pid").read_text().split()[0])

    def pgbench(
        self,
        port: int,
        *,
        script: str,
        mode: str,
        clients: int,
        threads: int,
        seconds: int,
        proxy_pid: int | None = None,
    ) -> dict[str, Any]:
        self.runs += 1
        logdir = self.workdir / f"run{self.runs}"
        logdir.mkdir()
        cmd = [
            "pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", ROLE, "-n",
            "-c", str(clients), "-j", str(threads), "-T", str(seconds), "-M", mode,
            "-l", f"--log-prefix={logdir / 'tx'}",
        ]  # fmt: skip
        if script == "select-only":
            cmd.append("-S")
        cmd.append("app")
        env = self.pg.env(ROLE, PGAPPNAME="pgbench-bench")
        main_tid = proxy_pid
        before = (
            cpu_seconds(proxy_pid) if proxy_pid else 0.0,
            cpu_seconds(proxy_pid, main_tid) if proxy_pid else 0.0,
            postgres_cpu(self.server_pid),
        )
        resource_children()  # what ended before (a proxy stopped) is not pgbench's
        t0 = time.monotonic()
        proc = subprocess.run(cmd, env=env, capture_output=True, timeout=seconds * 5 + 120)
        wall = time.monotonic() - t0
        children = resource_children()
        out = proc.stdout.decode() + proc.stderr.decode()
        if proc.returncode != 0:
            raise RuntimeError(f"pgbench failed ({' '.join(cmd)}):\n{out}")
        tps = float(_find(r"tps = ([\d.]+) \(without initial connection time\)", out))
        latencies: list[int] = []
        for f in logdir.iterdir():
            with f.open() as lines:
                latencies.extend(int(line.split(maxsplit=3)[2]) for line in lines)
        shutil.rmtree(logdir)
        latencies.sort()
        result: dict[str, Any] = {
            "tps": round(tps, 1),
            "transactions": len(latencies),
            "failed": int(_find(r"number of failed transactions: (\d+)", out, "0")),
            "latency_avg_ms": round(statistics.fmean(latencies) / 1000, 3),
            "latency_p50_ms": round(percentile(latencies, 0.50) / 1000, 3),
            "latency_p95_ms": round(percentile(latencies, 0.95) / 1000, 3),
            "latency_p99_ms": round(percentile(latencies, 0.99) / 1000, 3),
        }
        cpu: dict[str, float] = {
            "postgres": postgres_cpu(self.server_pid) - before[2],
            "pgbench": children,
        }
        if proxy_pid:
            total = cpu_seconds(proxy_pid) - before[0]
            main = cpu_seconds(proxy_pid, main_tid) - before[1]
            cpu.update({"proxy_main_thread": main, "proxy_other_threads": total - main})
            # the proxy's CPU per transaction: what a 2-vCPU machine pays for it, whatever
            # the load on the machine did to the TPS
            result["proxy_cpu_us_per_transaction"] = round(total / max(1, len(latencies)) * 1e6, 1)
        result["cpu_cores_used"] = {k: round(v / wall, 2) for k, v in cpu.items()}
        return result


_CHILD_CPU = [0.0]


def resource_children() -> float:
    """CPU seconds of the children that ended since the last call (pgbench)."""
    import resource

    r = resource.getrusage(resource.RUSAGE_CHILDREN)
    total = r.ru_utime + r.ru_stime
    delta = total - _CHILD_CPU[0]
    _CHILD_CPU[0] = total
    return delta


def _find(pattern: str, text: str, default: str | None = None) -> str:
    m = re.search(pattern, text)
    if m is None:
        if default is not None:
            return default
        raise RuntimeError(f"pgbench output without {pattern!r}:\n{text}")
    return m.group(1)


@contextlib.contextmanager
def idle_connections(pg: Any, port: int, n: int) -> Iterator[None]:
    import psycopg

    conns: list[psycopg.Connection[tuple[Any, ...]]] = []
    try:
        for _ in range(n):
            conn = psycopg.connect(
                pg.dsn(ROLE, port=port, application_name="idle-bench"), autocommit=True
            )
            conn.execute("SELECT 1")
            conns.append(conn)
        time.sleep(2)
        yield
    finally:
        for c in conns:
            c.close()


def memory(pg: Any, pid: int, port: int, n: int) -> dict[str, Any]:
    idle = status_kb(pid)
    with idle_connections(pg, port, n):
        loaded = status_kb(pid)
    return {
        "idle_rss_mb": round(idle["VmRSS"] / 1024, 1),
        f"rss_with_{n}_connections_mb": round(loaded["VmRSS"] / 1024, 1),
        "hwm_mb": round(loaded["VmHWM"] / 1024, 1),
        "per_connection_kb": round((loaded["VmRSS"] - idle["VmRSS"]) / n, 1),
    }


def profile_summary(path: Path, n: int = 25) -> dict[str, Any]:
    """The main thread's own time, by part (mamori modules by file, asyncio/uvloop, socket
    calls, the rest) and the top functions."""
    stats = pstats.Stats(str(path)).stats  # type: ignore[attr-defined]
    parts: Counter[str] = Counter()
    rows = []
    for (file, line, fn), (_cc, calls, tt, ct, _callers) in stats.items():
        if "/mamori/" in file:
            part = "mamori/" + file.rsplit("/mamori/", 1)[1]
        elif "asyncio" in file or "uvloop" in file or "selectors" in file:
            part = "asyncio"
        elif file == "~" and any(w in fn for w in ("socket", "send", "recv", "epoll", "poll")):
            part = f"syscall {fn.strip('<>').split()[-1]}"
        elif "pglast" in file or "orjson" in fn:
            part = "pglast/orjson"
        else:
            part = "other"
        parts[part] += tt
        rows.append((tt, ct, calls, f"{Path(file).name}:{line}({fn})"))
    total = sum(parts.values()) or 1.0
    rows.sort(reverse=True)
    return {
        "own_time_by_part": {k: f"{v / total * 100:.1f}%" for k, v in parts.most_common(20)},
        "top_functions": [
            f"{tt / total * 100:5.1f}% own {tt:6.2f}s cum {ct:6.2f}s {calls:>8} calls {where}"
            for tt, ct, calls, where in rows[:n]
        ],
    }


# -- the run ----------------------------------------------------------------------------------


def run(args: argparse.Namespace) -> dict[str, Any]:
    sys.path[:0] = [str(ROOT), str(ROOT / "bench")]
    from tests.dbguard.pg import PgCluster

    from mamori.dbguard.allowlist import Allowlist
    from mamori.home import init
    from pgbouncer import PgBouncer

    workdir = (
        Path(args.workdir) if args.workdir else Path(tempfile.mkdtemp(prefix="dbguard-bench-"))
    )
    workdir.mkdir(parents=True, exist_ok=True)
    pg = PgCluster.create()
    bouncer: PgBouncer | None = None
    proxy: ProxyProcess | None = None
    try:
        b = Bench(args, pg, workdir)
        t0 = time.monotonic()
        subprocess.run(
            ["pgbench", "-h", "127.0.0.1", "-p", str(pg.port), "-U", ROLE, "-i", "-q",
             "-s", str(args.scale), "app"],
            env=pg.env(ROLE), check=True, capture_output=True, timeout=600,
        )  # fmt: skip
        init_s = time.monotonic() - t0
        home = init(workdir / "home", origin="bench.example/mamori/dbguard")

        ports = {
            name: add_proxy(home.root, name, pg.port, firewall)
            for name, firewall in (
                ("learn", "learn"),
                ("bench", "monitor"),
                ("profiled", "monitor"),
            )
        }

        # learn: the allowlist of pgbench's statements (both scripts, both protocols)
        learner = ProxyProcess(home.root, "learn", ports["learn"], workdir / "learn.log", None)
        for script in SCRIPTS:
            for mode in MODES:
                b.pgbench(learner.port, script=script, mode=mode, clients=2, threads=1, seconds=2)
        learner.stop()
        with Allowlist.open(home) as allowlist:
            learned = len(allowlist.entries())

        bouncer = PgBouncer(pg.port, pg.passwords).start()
        proxy = ProxyProcess(home.root, "bench", ports["bench"], workdir / "bench.log", None)
        fresh = status_kb(proxy.pid)["VmRSS"]
        targets = {"direct": (pg.port, None), "pgbouncer": (bouncer.port, bouncer.pid),
                   "mamori": (proxy.port, proxy.pid)}  # fmt: skip

        def one(name: str, script: str, mode: str, clients: int, threads: int, s: int) -> Any:
            port, pid = targets[name]
            return b.pgbench(
                port, script=script, mode=mode, clients=clients, threads=threads, seconds=s,
                proxy_pid=pid,
            )  # fmt: skip

        loaded: dict[str, dict[str, Any]] = {}
        for script in SCRIPTS:
            for mode in MODES:
                key = f"{script} {mode}"
                loaded[key] = {
                    name: one(name, script, mode, args.clients, args.threads, args.seconds)
                    for name in targets
                }
                r = loaded[key]
                r["mamori_to_pgbouncer_tps"] = round(r["mamori"]["tps"] / r["pgbouncer"]["tps"], 3)
                r["mamori_to_direct_tps"] = round(r["mamori"]["tps"] / r["direct"]["tps"], 3)
                r["added_p50_us"] = {
                    n: round((r[n]["latency_p50_ms"] - r["direct"]["latency_p50_ms"]) * 1000)
                    for n in ("pgbouncer", "mamori")
                }
                print(f"{key}: {orjson.dumps(r).decode()}", file=sys.stderr)

        single: dict[str, dict[str, Any]] = {}
        for mode in MODES:
            key = f"select-only {mode}"
            single[key] = {name: one(name, "select-only", mode, 1, 1, args.latency_seconds)
                           for name in targets}  # fmt: skip
            r = single[key]
            r["added_p50_us"] = {
                n: round((r[n]["latency_p50_ms"] - r["direct"]["latency_p50_ms"]) * 1000)
                for n in ("pgbouncer", "mamori")
            }
            print(f"1 client {key}: {orjson.dumps(r).decode()}", file=sys.stderr)

        mem = {
            "mamori": {
                "fresh_rss_mb": round(fresh / 1024, 1),
                **memory(pg, proxy.pid, proxy.port, args.idle),
            },
            "pgbouncer": memory(pg, bouncer.pid, bouncer.port, args.idle),
        }
        proxy.stop()
        proxy = None

        profile: dict[str, Any] = {}
        if args.profile:
            prof = workdir / "proxy.prof"
            log = workdir / "profiled.log"
            proxy = ProxyProcess(home.root, "profiled", ports["profiled"], log, prof)
            profiled = b.pgbench(proxy.port, script="select-only", mode="extended",
                                 clients=args.clients, threads=args.threads,
                                 seconds=args.seconds)  # fmt: skip
            proxy.stop()
            proxy = None
            profile = {"tps_under_cprofile": profiled["tps"], **profile_summary(prof)}
        ledger_events = _ledger_size(home.root)

        ext = loaded["select-only extended"]
        one_client = single["select-only extended"]
        doc: dict[str, Any] = {
            "machine": {
                "cpus": os.cpu_count(),
                "cpu": _cpu_name(),
                "python": platform.python_version(),
                "postgresql": _pg_version(pg),
                "pgbouncer": _pgbouncer_version(),
            },
            "settings": {
                "scale": args.scale,
                "clients": args.clients,
                "threads": args.threads,
                "seconds": args.seconds,
                "latency_seconds": args.latency_seconds,
                "init_s": round(init_s, 1),
            },
            "targets": {
                "select_only_extended_mamori_to_pgbouncer_tps": ext["mamori_to_pgbouncer_tps"],
                "select_only_extended_mamori_to_pgbouncer_tps_target": ">= 1.0",
                "added_p50_us_1_client": one_client["added_p50_us"]["mamori"],
                "added_p50_us_8_clients": ext["added_p50_us"]["mamori"],
                "added_p50_us_target": "< 150",
                f"rss_mb_with_{args.idle}_connections": mem["mamori"][
                    f"rss_with_{args.idle}_connections_mb"
                ],
                "rss_mb_target": "< 200",
            },
            "loaded": loaded,
            "single_client": single,
            "memory": mem,
            "learned_fingerprints": learned,
            "ledger_events": ledger_events,
        }
        if profile:
            doc["profile"] = profile
        return doc
    finally:
        if proxy is not None:
            proxy.stop()
        if bouncer is not None:
            bouncer.stop()
        pg.destroy()
        if not args.workdir:
            shutil.rmtree(workdir, ignore_errors=True)


def _ledger_size(home: Path) -> int:
    """Events in the ledger (the latest checkpoint's tree size)."""
    out = subprocess.run(
        [MAMORI, "ledger", "checkpoint", "--home", str(home)],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    lines = out.stdout.splitlines()
    return int(lines[1]) if len(lines) > 1 and lines[1].isdigit() else -1


def _cpu_name() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or platform.machine()


def _pg_version(pg: Any) -> str:
    return str(pg.sql("SHOW server_version")).strip()


def _pgbouncer_version() -> str:
    out = subprocess.run(["pgbouncer", "--version"], capture_output=True, text=True, check=False)
    return out.stdout.splitlines()[0] if out.stdout else ""


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--seconds", type=int, default=20, help="per loaded run")
    parser.add_argument("--latency-seconds", type=int, default=10, help="per one-client run")
    parser.add_argument("--scale", type=int, default=10)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--idle", type=int, default=100, help="idle connections for memory")
    parser.add_argument("--profile", action="store_true", help="one more run under cProfile")
    parser.add_argument("--workdir", default="", help="keep the files here")
    args = parser.parse_args()
    doc = run(args)
    sys.stdout.write(orjson.dumps(doc, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
