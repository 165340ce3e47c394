"""A real ledger database for search tests, written row by row in the ledger's schema.

The rows follow the entry format (canonical JSON of event, index and received time); the
Merkle tree and signatures are left out because search never reads them. A checkpoint row
covers what was appended, since the index only follows acknowledged (checkpointed) entries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest

from mamori.ledger.canonical import canonical
from mamori.ledger.search import SearchIndex
from mamori.ledger.store import Reader, connect_writer

T0 = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z in µs
ORIGIN = "test.example/mamori/0001"
REPO = Path(__file__).resolve().parents[3]
LOGS = REPO / ".." / "shared" / "data" / "logs"


def rfc3339(us: int) -> str:
    when = dt.datetime(1970, 1, 1, tzinfo=dt.UTC) + dt.timedelta(microseconds=us)
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Ledger:
    """A ledger database the tests append to, checkpoint and prune."""

    def __init__(self, path: Path, origin: str = ORIGIN) -> None:
        self.path = path
        self.origin = origin
        path.parent.mkdir(parents=True, exist_ok=True)
        self.conn = connect_writer(path)
        self.conn.execute("PRAGMA synchronous=OFF")
        self.size = 0

    def append(
        self,
        events: Sequence[dict[str, Any]],
        *,
        start_us: int | None = None,
        step_us: int = 1_000_000,
        checkpoint: bool = True,
    ) -> list[int]:
        """Append events received `step_us` apart; return their indices."""
        first = self.size
        base = T0 + first * step_us if start_us is None else start_us
        rows = []
        for k, event in enumerate(events):
            idx = first + k
            received = base + k * step_us
            body = canonical({"event": event, "index": idx, "received": rfc3339(received)})
            rows.append((idx, received, body))
        self.conn.execute("BEGIN")
        self.conn.executemany("INSERT INTO events(idx, received, body) VALUES (?, ?, ?)", rows)
        self.size += len(rows)
        if checkpoint:
            self._checkpoint()
        self.conn.execute("COMMIT")
        return list(range(first, self.size))

    def checkpoint(self) -> None:
        self.conn.execute("BEGIN")
        self._checkpoint()
        self.conn.execute("COMMIT")

    def _checkpoint(self) -> None:
        self.conn.execute(
            "INSERT OR IGNORE INTO checkpoints(tree_size, created, root, note) VALUES (?, ?, ?, ?)",
            (self.size, T0, b"\0" * 32, f"{self.origin}\n{self.size}\nAAAA\n\n— sig\n"),
        )

    def prune(
        self, first: int, last: int, *, record: bool = True, keep: Sequence[int] = ()
    ) -> None:
        """Retention: drop the bodies first..last but `keep`; with `record`, list the range."""
        self.conn.execute("BEGIN")
        kept = {*keep}
        self.conn.executemany(
            "UPDATE events SET body = NULL WHERE idx = ?",
            [(i,) for i in range(first, last + 1) if i not in kept],
        )
        if record:
            self.conn.execute(
                "INSERT INTO pruned(first, last, event_idx) VALUES (?, ?, ?)", (first, last, 0)
            )
        self.conn.execute("COMMIT")

    def reader(self) -> Reader:
        return Reader(self.path)

    def close(self) -> None:
        self.conn.close()


@pytest.fixture
def ledger(tmp_path: Path) -> Iterator[Ledger]:
    led = Ledger(tmp_path / "ledger" / "ledger.db")
    yield led
    led.close()


@pytest.fixture
def index(tmp_path: Path) -> Iterator[SearchIndex]:
    with SearchIndex.open(tmp_path / "index") as ix:
        yield ix


def ecs(
    message: str,
    *,
    host: str = "web-01",
    app: str = "sshd",
    user: str | None = None,
    action: str | None = None,
    outcome: str | None = None,
    severity: str = "info",
    src: str | None = None,
    dst: str | None = None,
    ts: int | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A small ECS event."""
    event: dict[str, Any] = {
        "message": message,
        "host": {"name": host},
        "log": {"syslog": {"appname": app, "severity": {"name": severity}}},
    }
    if ts is not None:
        event["@timestamp"] = rfc3339(ts)
    if user is not None:
        event["user"] = {"name": user}
    if action is not None or outcome is not None:
        event["event"] = {
            k: v for k, v in (("action", action), ("outcome", outcome)) if v is not None
        }
    if src is not None:
        event["source"] = {"ip": src}
    if dst is not None:
        event["destination"] = {"ip": dst}
    event.update(extra)
    return event
