"""Ledger benchmark (issue 2): prints one JSON document.

    .venv/bin/python bench/ledger.py [--events 1000000] [--workdir DIR]

Measures, on the same generated input of realistic ~300-byte ECS events:

* append rate of `mamori ledger append` (durable group commit, signed checkpoints), and in the
  same run the baseline: plain SQLite `executemany` of the same rows into a WAL database with
  synchronous=FULL, one transaction per batch of the same size (the ratio is the figure to
  watch: these machines are noisy);
* peak memory (max RSS) of the append process at two input sizes: it must not grow with input;
* verify rate (`mamori ledger verify`, the whole ledger);
* search index build rate, and search latency p50/p95 for a selective and a broad query;
* inclusion-proof time (warm reader, and a cold reader per proof).

Not a test: nothing here asserts. The figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import resource
import shutil
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson

MAMORI = str(Path(sys.executable).parent / "mamori")
BATCH = 8192


def event(i: int, rng: random.Random) -> dict[str, Any]:
    """An sshd-like authentication event in ECS form, about 300 bytes as JSON."""
    user = f"user{rng.randrange(5000)}"
    ip = f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(1, 255)}"
    ok = rng.random() < 0.9
    return {
        "@timestamp": f"2026-11-{1 + i // 86400 % 28:02d}T{i // 3600 % 24:02d}:{i // 60 % 60:02d}:{i % 60:02d}.{i % 1000:03d}Z",
        "host": {"name": f"web-{rng.randrange(40):02d}"},
        "log": {"syslog": {"appname": "sshd", "procid": str(rng.randrange(1000, 65000))}},
        "user": {"name": user},
        "source": {"ip": ip, "port": rng.randrange(1024, 65535)},
        "event": {"action": "ssh_login", "outcome": "success" if ok else "failure"},
        "message": (
            f"{'Accepted publickey' if ok else 'Failed password'} for {user} from {ip} "
            f"port {rng.randrange(1024, 65535)} ssh2"
        ),
    }


def generate(path: Path, n: int) -> float:
    rng = random.Random(42)
    total = 0
    with path.open("wb") as f:
        for i in range(n):
            line = orjson.dumps(event(i, rng)) + b"\n"
            total += len(line)
            f.write(line)
    return total / n


def baseline(path: Path, db: Path) -> float:
    """Plain SQLite executemany of the same lines: events/s."""
    conn = sqlite3.connect(db, isolation_level=None)
    conn.execute("PRAGMA journal_mode=WAL")
    conn.execute("PRAGMA synchronous=FULL")
    conn.execute("CREATE TABLE events(idx INTEGER PRIMARY KEY, body BLOB NOT NULL)")
    t0 = time.perf_counter()
    idx = 0
    with path.open("rb") as f:
        while True:
            rows = [
                (idx + i, line.rstrip(b"\n")) for i, line in enumerate(f.readlines(BATCH * 320))
            ]
            if not rows:
                break
            conn.execute("BEGIN")
            conn.executemany("INSERT INTO events(idx, body) VALUES (?, ?)", rows)
            conn.execute("COMMIT")
            idx += len(rows)
    dt = time.perf_counter() - t0
    conn.close()
    return idx / dt


def run_append(home: Path, path: Path) -> tuple[float, int, dict[str, Any]]:
    """Wall time, peak RSS (KiB) of the append process, and its JSON output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    t0 = time.perf_counter()
    proc = subprocess.run(
        [MAMORI, "ledger", "append", "--home", str(home), str(path)],
        capture_output=True,
        check=True,
    )
    dt = time.perf_counter() - t0
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return dt, max(peak, before), orjson.loads(proc.stdout)


def percentile(values: list[float], p: float) -> float:
    values = sorted(values)
    k = min(len(values) - 1, max(0, round(p / 100 * (len(values) - 1))))
    return values[k]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--events", type=int, default=1_000_000)
    ap.add_argument("--workdir", type=Path, default=None)
    args = ap.parse_args()
    n = args.events
    work = Path(args.workdir or tempfile.mkdtemp(prefix="mamori-bench-"))
    work.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "machine": {
            "cpus": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "sqlite": sqlite3.sqlite_version,
        },
        "events": n,
    }
    data = work / "events.jsonl"
    out["event_bytes_avg"] = round(generate(data, n), 1)

    # Append vs. the plain-SQLite baseline, interleaved twice to even out noise.
    rates, bases = [], []
    for attempt in range(2):
        base_db = work / f"baseline{attempt}.db"
        bases.append(baseline(data, base_db))
        for p in work.glob(f"baseline{attempt}.db*"):
            p.unlink()
        home = work / f"home{attempt}"
        shutil.rmtree(home, ignore_errors=True)
        subprocess.run(
            [MAMORI, "init", "--home", str(home), "--origin", "bench.local/mamori/1"],
            check=True,
            capture_output=True,
        )
        dt, peak, res = run_append(home, data)
        assert res["tree_size"] == n, res
        rates.append(n / dt)
    out["append_events_per_s"] = round(max(rates))
    out["baseline_sqlite_executemany_events_per_s"] = round(max(bases))
    out["append_to_baseline_ratio"] = round(max(rates) / max(bases), 3)
    out["append_peak_rss_mb"] = round(peak / 1024, 1)

    # Peak memory does not grow with input: a tenth of the input, in a fresh home.
    small = work / "small.jsonl"
    with data.open("rb") as src, small.open("wb") as dst:
        for i, line in enumerate(src):
            if i >= n // 10:
                break
            dst.write(line)
    small_home = work / "home-small"
    shutil.rmtree(small_home, ignore_errors=True)
    subprocess.run([MAMORI, "init", "--home", str(small_home)], check=True, capture_output=True)
    probe = subprocess.run(
        [sys.executable, "-c", _RSS_PROBE, MAMORI, str(small_home), str(small)],
        capture_output=True,
        check=True,
    )
    out["append_peak_rss_mb_at_tenth_input"] = round(int(probe.stdout) / 1024, 1)

    home = work / "home1"
    t0 = time.perf_counter()
    v = subprocess.run(
        [MAMORI, "ledger", "verify", "--home", str(home), "--json"], capture_output=True
    )
    dt = time.perf_counter() - t0
    assert v.returncode == 0, v.stdout[:500]
    out["verify_events_per_s"] = round(n / dt)

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from mamori.home import open_home
    from mamori.ledger.proofs import prove_inclusion
    from mamori.ledger.search.index import SearchIndex, search
    from mamori.ledger.store import Reader

    h = open_home(home)
    with Reader(h.ledger_db) as reader, SearchIndex.open(h.index_dir) as index:
        t0 = time.perf_counter()
        index.catch_up(reader)
        dt = time.perf_counter() - t0
        out["index_build_events_per_s"] = round(n / dt)
        rng = random.Random(7)
        # Selective: one user and outcome (a handful of hits); broad: a word in every event.
        queries = {
            "selective": [f"user:user{rng.randrange(5000)} outcome:failure" for _ in range(60)],
            "selective_fulltext": [
                f'"10.{rng.randrange(256)}.{rng.randrange(256)}"' for _ in range(60)
            ],
            "broad": ["ssh2" for _ in range(30)],
        }
        for name, qs in queries.items():
            times, hits = [], []
            for q in qs:
                t0 = time.perf_counter()
                found = search(index, reader, q, limit=100)
                times.append((time.perf_counter() - t0) * 1000)
                hits.append(len(found))
            out[f"search_{name}_ms"] = {
                "p50": round(percentile(times, 50), 2),
                "p95": round(percentile(times, 95), 2),
                "hits_median": statistics.median(hits),
            }
        warm, cold = [], []
        for _ in range(300):
            i = rng.randrange(n)
            t0 = time.perf_counter()
            prove_inclusion(reader, i)
            warm.append((time.perf_counter() - t0) * 1000)
        for _ in range(100):
            i = rng.randrange(n)
            t0 = time.perf_counter()
            with Reader(h.ledger_db) as r2:
                prove_inclusion(r2, i)
            cold.append((time.perf_counter() - t0) * 1000)
        out["inclusion_proof_ms"] = {
            "warm_p50": round(percentile(warm, 50), 3),
            "warm_p95": round(percentile(warm, 95), 3),
            "cold_reader_p50": round(percentile(cold, 50), 3),
        }
    if args.workdir is None:
        shutil.rmtree(work, ignore_errors=True)
    print(orjson.dumps(out, option=orjson.OPT_INDENT_2).decode())


_RSS_PROBE = """
import resource, subprocess, sys
subprocess.run([sys.argv[1], "ledger", "append", "--home", sys.argv[2], sys.argv[3]], check=True, capture_output=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


if __name__ == "__main__":
    main()
