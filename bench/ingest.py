"""Collection-service benchmark (issue 3): prints one JSON document.

    .venv/bin/python bench/ingest.py [--messages 2000000] [--workdir DIR] [--skip-rsyslog]

Measures, on the same generated stream of ~300-byte RFC 5424 syslog messages, octet-counted
(RFC 6587) over one TCP connection:

* end-to-end rate of `mamori up`: from the first byte sent until every message is a signed,
  durable ledger event (polled from the ledger database);
* in the same run, the baseline: Debian's rsyslogd receiving the same stream with imtcp and
  writing it to a file with omfile (no parsing beyond framing, no fsync) — the ratio is the
  figure to watch (these machines are noisy);
* HTTPS acknowledgement latency p50/p99 of POST /api/v1/events at 10,000 events/s
  (100 requests/s of 100 events, open loop), each answered only once durable;
* peak memory (VmHWM) of `mamori up` and its normalisation workers, and the RSS after a UDP
  flood of as many datagrams as the machine can send for a few seconds.

Not a test: nothing here asserts. The figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import platform
import random
import shutil
import signal
import socket
import sqlite3
import ssl
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import orjson

MAMORI = str(Path(sys.executable).parent / "mamori")


def messages(n: int, seed: int = 7) -> list[bytes]:
    """~300-byte RFC 5424 messages, sshd-like, with structured data and key=value pairs."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        user = f"user{rng.randrange(5000)}"
        ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
        ok = rng.random() < 0.9
        text = (
            f"{'Accepted publickey' if ok else 'Failed password'} for {user} from {ip} "
            f"port {rng.randrange(1024, 65535)} ssh2"
        )
        msg = (
            f"<38>1 2026-11-27T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}."
            f"{i % 1000:03d}+09:00 web-{rng.randrange(40):02d}.example.go.jp sshd "
            f'{rng.randrange(1000, 65000)} - [meta@32473 seq="{i}" zone="dmz"] {text} '
            f"session=s{rng.randrange(10**9):09d} tty=ssh"
        ).encode()
        pad = max(0, 300 - len(msg))
        out.append(msg + b" " + b"." * pad if pad else msg)
    return out


def octet_stream(msgs: list[bytes]) -> list[bytes]:
    """The messages framed and cut into 1 MiB chunks for sendall."""
    chunks, cur, size = [], [], 0
    for m in msgs:
        frame = b"%d %s" % (len(m), m)
        cur.append(frame)
        size += len(frame)
        if size >= 1 << 20:
            chunks.append(b"".join(cur))
            cur, size = [], 0
    if cur:
        chunks.append(b"".join(cur))
    return chunks


def send_tcp(port: int, chunks: list[bytes]) -> None:
    with socket.create_connection(("127.0.0.1", port)) as s:
        for c in chunks:
            s.sendall(c)
        s.shutdown(socket.SHUT_WR)
        s.settimeout(600)
        with contextlib.suppress(OSError):
            s.recv(1)


def vm(pid: int, key: str) -> int:
    """A /proc/PID/status value in kB (VmHWM: peak RSS, VmRSS: current)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        return 0
    return 0


def children(pid: int) -> list[int]:
    try:
        text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    except OSError:
        return []
    return [int(x) for x in text.split()]


def init_home(root: Path) -> Path:
    home = root / "home"
    subprocess.run(
        [MAMORI, "init", "--home", str(home), "--origin", "bench.example/mamori/ingest"],
        check=True,
        capture_output=True,
    )
    cfg = home / "mamori.toml"
    text = (
        cfg.read_text()
        .replace("port = 5514", "port = 0")
        .replace("tls_port = 6514", "tls_port = 0")
    )
    cfg.write_text(text.replace("port = 8443", "port = 0"))
    return home


def start_up(home: Path) -> tuple[subprocess.Popen[bytes], dict[str, int]]:
    err = (home.parent / "up.err").open("wb")
    proc = subprocess.Popen(
        [MAMORI, "up", "--home", str(home)], stdout=subprocess.DEVNULL, stderr=err
    )
    listen = home / "run" / "listen.json"
    t0 = time.monotonic()
    while time.monotonic() - t0 < 30:
        if listen.exists():
            doc = orjson.loads(listen.read_bytes())
            if doc["pid"] == proc.pid:
                return proc, doc["ports"]
        if proc.poll() is not None:
            raise SystemExit(f"mamori up exited: {(home.parent / 'up.err').read_text()}")
        time.sleep(0.05)
    raise SystemExit("mamori up did not start")


def ledger_size(db: Path) -> int:
    conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True)
    try:
        row = conn.execute("SELECT MAX(tree_size) FROM checkpoints").fetchone()
        return int(row[0] or 0)
    finally:
        conn.close()


def bench_mamori(root: Path, chunks: list[bytes], n: int) -> dict[str, Any]:
    home = init_home(root / "mamori")
    proc, ports = start_up(home)
    db = home / "ledger" / "ledger.db"
    base = ledger_size(db)
    peak_workers = 0
    t0 = time.perf_counter()
    sent_at: list[float] = []

    def send() -> None:
        send_tcp(ports["syslog-tcp"], chunks)
        sent_at.append(time.perf_counter() - t0)

    sender = threading.Thread(target=send)
    sender.start()
    while True:
        time.sleep(0.25)
        peak_workers = max([peak_workers, *(vm(c, "VmRSS") for c in children(proc.pid))])
        if ledger_size(db) - base >= n:
            break
        if time.perf_counter() - t0 > 3600:
            break
    elapsed = time.perf_counter() - t0
    stored = ledger_size(db) - base
    rss_after = vm(proc.pid, "VmRSS")
    hwm = vm(proc.pid, "VmHWM")
    http = bench_http(home, ports["https"])
    flood = udp_flood(ports["syslog-udp"], proc.pid)
    hwm_final = vm(proc.pid, "VmHWM")
    proc.send_signal(signal.SIGTERM)
    rc = proc.wait(120)
    sender.join(10)
    return {
        "events": stored,
        "seconds": round(elapsed, 2),
        "events_per_s": round(stored / elapsed),
        # the sender is done once mamori has read everything (back-pressure holds it before)
        "sender_seconds": round(sent_at[0], 2) if sent_at else None,
        "peak_rss_mb_main": round(hwm / 1024, 1),
        "peak_rss_mb_main_incl_http_and_flood": round(hwm_final / 1024, 1),
        "rss_mb_after_stream": round(rss_after / 1024, 1),
        "peak_rss_mb_one_worker": round(peak_workers / 1024, 1),
        "http": http,
        "udp_flood": flood,
        "exit_code": rc,
    }


def bench_http(
    home: Path, port: int, rate_events: int = 10_000, per_request: int = 100, seconds: float = 10.0
) -> dict[str, Any]:
    import httpx

    token = (
        subprocess.run(
            [
                MAMORI,
                "tokens",
                "add",
                f"bench{time.time_ns()}",
                "--scope",
                "ingest",
                "--home",
                str(home),
            ],
            check=True,
            capture_output=True,
            text=True,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    body = orjson.dumps(
        [
            {"message": f"http bench {i}", "event": {"action": "bench"}, "pad": "x" * 200}
            for i in range(per_request)
        ]
    )
    interval = per_request / rate_events
    total = int(seconds / interval)
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    start = time.perf_counter() + 0.5
    next_slot = [0]

    def worker() -> None:
        nonlocal errors
        with httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=str(home / "tls" / "server.crt")),
            headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
            timeout=30,
        ) as client:
            while True:
                with lock:
                    k = next_slot[0]
                    next_slot[0] += 1
                if k >= total:
                    return
                due = start + k * interval
                delay = due - time.perf_counter()
                if delay > 0:
                    time.sleep(delay)
                t = time.perf_counter()
                r = client.post("/api/v1/events", content=body)
                # latency from the scheduled time (open loop: queueing delay counts)
                lat = time.perf_counter() - min(t, due) if delay <= 0 else time.perf_counter() - t
                with lock:
                    if r.status_code != 200:
                        errors += 1
                    latencies.append(lat)

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    latencies.sort()
    return {
        "target_events_per_s": rate_events,
        "events_per_request": per_request,
        "requests": len(latencies),
        "achieved_events_per_s": round(len(latencies) * per_request / elapsed),
        "errors": errors,
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99) - 1] * 1000, 2),
        "max_ms": round(latencies[-1] * 1000, 2),
    }


def udp_flood(port: int, pid: int, seconds: float = 5.0) -> dict[str, Any]:
    msg = messages(1, seed=99)[0]
    sent = 0
    peak = 0
    t0 = time.perf_counter()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        while time.perf_counter() - t0 < seconds:
            for _ in range(1000):
                s.sendto(msg, ("127.0.0.1", port))
            sent += 1000
            peak = max(peak, vm(pid, "VmRSS"))
    return {"datagrams_sent": sent, "seconds": seconds, "peak_rss_mb_during": round(peak / 1024, 1)}


def bench_rsyslog(root: Path, chunks: list[bytes], msgs: list[bytes]) -> dict[str, Any]:
    binary = shutil.which("rsyslogd") or "/usr/sbin/rsyslogd"
    if not Path(binary).exists():
        return {"skipped": "rsyslogd is not installed (apt-get install rsyslog)"}
    work = root / "rsyslog"
    (work / "work").mkdir(parents=True)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    out = work / "out.log"
    conf = work / "rsyslog.conf"
    conf.write_text(
        f"""
global(workDirectory="{work / "work"}")
module(load="imtcp" MaxSessions="10")
template(name="raw" type="string" string="%rawmsg%\\n")
input(type="imtcp" address="127.0.0.1" port="{port}" ruleset="out")
ruleset(name="out") {{ action(type="omfile" file="{out}" template="raw") }}
"""
    )
    proc = subprocess.Popen(
        [binary, "-n", "-f", str(conf), "-i", str(work / "pid")],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    t0 = time.monotonic()
    while time.monotonic() - t0 < 15:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                break
        time.sleep(0.05)
    expected = sum(len(m) + 1 for m in msgs)
    t0 = time.perf_counter()
    sender = threading.Thread(target=send_tcp, args=(port, chunks))
    sender.start()
    while True:
        time.sleep(0.05)
        size = out.stat().st_size if out.exists() else 0
        if size >= expected or time.perf_counter() - t0 > 1800:
            break
    elapsed = time.perf_counter() - t0
    proc.terminate()
    proc.wait(30)
    sender.join(10)
    lines = sum(1 for _ in out.open("rb"))
    return {
        "events": lines,
        "seconds": round(elapsed, 2),
        "events_per_s": round(lines / elapsed),
        "version": subprocess.run(
            [binary, "-v"], capture_output=True, text=True
        ).stdout.splitlines()[0],
    }


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--messages", type=int, default=2_000_000)
    ap.add_argument("--workdir", type=Path, default=None)
    ap.add_argument("--skip-rsyslog", action="store_true")
    args = ap.parse_args()
    root = Path(tempfile.mkdtemp(prefix="mamori-bench-ingest-", dir=args.workdir))
    try:
        msgs = messages(args.messages)
        chunks = octet_stream(msgs)
        result: dict[str, Any] = {
            "benchmark": "ingest",
            "machine": {
                "cpus": os.cpu_count(),
                "platform": platform.platform(),
                "python": platform.python_version(),
            },
            "messages": args.messages,
            "mean_message_bytes": round(sum(len(m) for m in msgs) / len(msgs), 1),
        }
        if not args.skip_rsyslog:
            result["rsyslog"] = bench_rsyslog(root, chunks, msgs)
        result["mamori"] = bench_mamori(root, chunks, args.messages)
        rs = result.get("rsyslog", {})
        if rs.get("events_per_s"):
            result["ratio_mamori_to_rsyslog"] = round(
                result["mamori"]["events_per_s"] / rs["events_per_s"], 3
            )
        print(orjson.dumps(result, option=orjson.OPT_INDENT_2).decode())
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
