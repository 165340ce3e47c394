"""Helpers to measure ledger search: synthetic ECS events from real logs, a ledger, timings.

Events are built from the loghub 2k samples (../shared/data/logs/*/*_2k.log): each line becomes
an ECS event's `message` with its digits varied (so ids and numbers do not repeat as they would
in the 2,000-line samples), plus host, app, user, action, outcome, severity and addresses; one
event in ten has a Japanese message. An entry is about 300 bytes, as in the issue's benchmark.

Use::

    from bench.search_helpers import build_ledger, measure_index, measure_queries, query_mix
    ledger = build_ledger(Path("/tmp/b/ledger.db"), 200_000)
    print(measure_index(ledger, Path("/tmp/b/index")))
    print(measure_queries(ledger, Path("/tmp/b/index"), query_mix(200_000)))

or run it from the repository root (the figures in docs/search.md come from this)::

    PYTHONPATH=. .venv/bin/python bench/search_helpers.py 1000000 /tmp/searchbench

Not a test: nothing here asserts.
"""

from __future__ import annotations

import random
import sqlite3
import statistics
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mamori.ledger.canonical import canonical
from mamori.ledger.search import SearchIndex, search
from mamori.ledger.store import Reader, connect_writer

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z, the first event's received time
REPO = Path(__file__).resolve().parents[1]
LOGS = REPO / ".." / "shared" / "data" / "logs"

HOSTS = [f"web-{i:02d}" for i in range(1, 41)] + [f"db-{i:02d}" for i in range(1, 11)]
USERS = ["alice", "bob", "carol", "root", "admin", "deploy", "田中", "佐藤", "鈴木", "高橋"]
APPS = {
    "Linux": "sshd", "OpenSSH": "sshd", "Apache": "httpd", "Thunderbird": "crond",
    "Mac": "kernel", "HDFS": "hdfs", "Hadoop": "yarn", "Spark": "spark",
    "Zookeeper": "zookeeper", "OpenStack": "nova-api", "BGL": "ras", "HPC": "hpc",
}  # fmt: skip
LEVELS = ["info", "info", "info", "notice", "warning", "err", "debug", "crit"]
JAPANESE = [
    "ユーザー {user} のログインに失敗しました（認証エラー、試行 {n} 回目）",
    "ユーザー {user} がログインしました（接続元 {ip}）",
    "ディスク使用率が {n}% を超えました: /var/log",
    "ファイル /srv/data/{n}.csv へのアクセスが拒否されました",
    "セッションがタイムアウトしました: ユーザー {user}",
    "バックアップ処理が正常に完了しました（{n} 件）",
    "不正なパスワードが {n} 回入力されました。アカウントをロックします",
    "サービス nginx を再起動しました",
    "証明書の有効期限が {n} 日後に切れます",
    "設定ファイルを変更しました（変更者: {user}）",
]
JA_WORDS = ["ロック", "失敗", "拒否", "再起動"]
Query = tuple[str, int | None, int | None]
"""A query and its --since/--until (µs), as `search()` takes them."""


def query_mix(n: int, *, seed: int = 3, start_us: int = T0) -> dict[str, list[Query]]:
    """Selective queries (few hits, each one different) and broad ones, for a ledger of n."""
    rng = random.Random(seed)

    def pick(values: Sequence[str]) -> str:
        return values[rng.randrange(len(values))]

    def ten_minutes() -> Query:
        t = start_us + rng.randrange(max(1, n // 100)) * 1_000_000
        return ("PacketResponder", t, t + 600_000_000)

    def octet() -> int:
        return rng.randrange(256)

    return {
        "sel: src exact": [
            (f"src:10.{octet()}.{octet()}.{octet()}", None, None) for _ in range(60)
        ],
        "sel: ip phrase": [(f'"10.{octet()}.{octet()}"', None, None) for _ in range(60)],
        "sel: 5 fields": [
            (
                f"host:{pick(HOSTS)} user:{pick(USERS)} action:sudo outcome:failure severity:crit",
                None,
                None,
            )
            for _ in range(60)
        ],
        "sel: ja+field": [
            (f"{pick(JA_WORDS)} user:{pick(USERS)} host:{pick(HOSTS)}", None, None)
            for _ in range(60)
        ],
        "sel: word 10min": [ten_minutes() for _ in range(60)],
        "sel: event.code+": [
            (f"event.code:4625 host:{pick(HOSTS)} user:{pick(USERS)}", None, None)
            for _ in range(60)
        ],
        "broad: word": [("INFO", None, None)] * 30,
        "broad: field": [("severity:info", None, None)] * 30,
        "broad: CIDR": [("src:10.0.0.0/8", None, None)] * 30,
        "broad: NOT only": [("-INFO", None, None)] * 30,
        "broad: OR": [("error OR failure OR 失敗", None, None)] * 30,
        "broad: all, 1 day": [("", start_us, start_us + 86_400_000_000)] * 30,
    }


def loghub_lines(logs: Path = LOGS) -> list[tuple[str, str]]:
    """(system, line) for every line of the loghub 2k samples."""
    out: list[tuple[str, str]] = []
    for path in sorted(logs.glob("*/*_2k.log")):
        system = path.parent.name
        for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
            if line.strip():
                out.append((system, line.strip()))
    if not out:
        raise SystemExit(f"no loghub samples under {logs}")
    return out


def _vary_digits(rng: random.Random, line: str) -> str:
    return "".join(
        str(rng.randrange(10)) if c.isdigit() and rng.random() < 0.5 else c for c in line
    )


def make_events(
    n: int, *, seed: int = 1, start_us: int = T0
) -> Iterator[tuple[int, dict[str, Any]]]:
    """n (received µs, ECS event) pairs, one event every 10 ms from `start_us`."""
    rng = random.Random(seed)
    lines = loghub_lines()
    for i in range(n):
        received = start_us + i * 10_000
        user = rng.choice(USERS)
        src = (
            f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}"
            if rng.random() < 0.6
            else f"203.0.113.{rng.randrange(256)}"
        )
        if rng.random() < 0.1:
            system = "Japanese"
            message = rng.choice(JAPANESE).format(user=user, n=rng.randrange(1, 500), ip=src)
            app = rng.choice(["sshd", "auth", "backup"])
        else:
            system, line = lines[rng.randrange(len(lines))]
            message = _vary_digits(rng, line)
            app = APPS[system]
        event: dict[str, Any] = {
            "@timestamp": _rfc3339(received - rng.randrange(5_000_000)),
            "host": {"name": rng.choice(HOSTS)},
            "log": {"syslog": {"appname": app, "severity": {"name": rng.choice(LEVELS)}}},
            "message": message,
            "source": {"ip": src},
        }
        if rng.random() < 0.3:
            event["user"] = {"name": user}
            event["event"] = {
                "action": rng.choice(["login", "logout", "sudo"]),
                "outcome": rng.choice(["success", "failure"]),
            }
        if rng.random() < 0.01:
            event.setdefault("event", {})["code"] = "4625"
        yield received, event


def _rfc3339(us: int) -> str:
    t = time.gmtime(us // 1_000_000)
    return time.strftime("%Y-%m-%dT%H:%M:%S", t) + f".{us % 1_000_000:06d}Z"


def build_ledger(path: Path, n: int, *, seed: int = 1) -> Path:
    """A ledger database at `path` holding n synthetic events and one checkpoint covering them.

    Rows are written directly in the ledger's schema (no Merkle tree: search never reads it).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    conn = connect_writer(path)
    conn.execute("PRAGMA synchronous=OFF")
    conn.close()
    append_events(path, n, seed=seed)
    return path


def append_events(path: Path, k: int, *, seed: int = 1) -> None:
    """Append k synthetic events after the ledger's last one, with a checkpoint over all."""
    conn = connect_writer(path)
    conn.execute("PRAGMA synchronous=OFF")
    size = int(conn.execute("SELECT COALESCE(MAX(idx) + 1, 0) FROM events").fetchone()[0])
    rows: list[tuple[int, int, bytes]] = []
    conn.execute("BEGIN")
    events = make_events(k, seed=seed + size, start_us=T0 + size * 10_000)
    for idx, (received, event) in enumerate(events, start=size):
        entry = {"event": event, "index": idx, "received": _rfc3339(received)}
        rows.append((idx, received, canonical(entry)))
        if len(rows) >= 50_000:
            conn.executemany("INSERT INTO events(idx, received, body) VALUES (?, ?, ?)", rows)
            rows.clear()
    conn.executemany("INSERT INTO events(idx, received, body) VALUES (?, ?, ?)", rows)
    conn.execute(
        "INSERT OR IGNORE INTO checkpoints(tree_size, created, root, note) VALUES (?, ?, ?, ?)",
        (size + k, 0, b"\0" * 32, f"bench.example/mamori\n{size + k}\nAAAA\n"),
    )
    conn.execute("COMMIT")
    conn.close()


@dataclass(frozen=True, slots=True)
class IndexFigures:
    events: int
    seconds: float
    events_per_second: float
    index_bytes: int
    ledger_bytes: int


def _db_bytes(path: Path) -> int:
    return sum(p.stat().st_size for p in path.parent.glob(path.name + "*"))


def measure_index(ledger: Path, index_dir: Path, *, rebuild: bool = True) -> IndexFigures:
    """Index the whole ledger (from scratch with `rebuild`) and report speed and size."""
    with Reader(ledger) as reader, SearchIndex.open(index_dir) as index:
        t0 = time.perf_counter()
        n = index.rebuild(reader) if rebuild else index.catch_up(reader)
        dt = time.perf_counter() - t0
        index.conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    return IndexFigures(
        n, dt, n / dt if dt else 0.0, _db_bytes(index_dir / "search.db"), _db_bytes(ledger)
    )


def measure_queries(
    ledger: Path, index_dir: Path, mix: dict[str, list[Query]], *, limit: int = 100
) -> dict[str, tuple[float, float, float]]:
    """Per query set: (p50 ms, p95 ms, median hits) of the full `search()` call."""
    out: dict[str, tuple[float, float, float]] = {}
    with Reader(ledger) as reader, SearchIndex.open(index_dir) as index:
        index.catch_up(reader)
        for name, queries in mix.items():
            times: list[float] = []
            hits: list[int] = []
            for q, since, until in queries:
                t0 = time.perf_counter()
                found = search(index, reader, q, since_us=since, until_us=until, limit=limit)
                times.append((time.perf_counter() - t0) * 1000)
                hits.append(len(found))
            out[name] = (statistics.median(times), _p95(times), statistics.median(hits))
    return out


def measure_lag(ledger: Path, index_dir: Path, pending: Sequence[int]) -> dict[int, float]:
    """ms of one search when `k` acknowledged events are not indexed yet, for each k."""
    out: dict[int, float] = {}
    for k in pending:
        if k:
            append_events(ledger, k, seed=k)
        with Reader(ledger) as reader, SearchIndex.open(index_dir) as index:
            t0 = time.perf_counter()
            search(index, reader, "webmaster", limit=100)
            out[k] = (time.perf_counter() - t0) * 1000
    return out


def _p95(values: Sequence[float]) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, round(0.95 * (len(s) - 1)))]


def main(argv: list[str]) -> None:
    n = int(argv[1]) if len(argv) > 1 else 200_000
    root = Path(argv[2]) if len(argv) > 2 else Path("/tmp/mamori-searchbench")
    ledger = root / f"ledger-{n}.db"
    if not ledger.exists():
        t0 = time.perf_counter()
        build_ledger(ledger, n)
        print(f"ledger: {n} events in {time.perf_counter() - t0:.1f}s")
    index_dir = root / f"index-{n}"
    fig = measure_index(ledger, index_dir)
    print(
        f"SQLite {sqlite3.sqlite_version}: indexed {fig.events} events in {fig.seconds:.1f}s = "
        f"{fig.events_per_second:,.0f}/s; index {fig.index_bytes / 1e6:.1f} MB, "
        f"ledger {fig.ledger_bytes / 1e6:.1f} MB"
    )
    for name, (p50, p95, hits) in measure_queries(ledger, index_dir, query_mix(n)).items():
        print(f"{name:18} p50 {p50:7.2f} ms  p95 {p95:7.2f} ms  hits (median) {hits:g}")
    for k, ms in measure_lag(ledger, index_dir, [0, 100, 1000, 10_000]).items():
        print(f"search with {k:6} events not yet indexed: {ms:8.1f} ms")


if __name__ == "__main__":
    main(sys.argv)
