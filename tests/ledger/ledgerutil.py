"""Helpers for tests that need a ledger with events in it."""

from __future__ import annotations

import sqlite3
from contextlib import closing

from mamori.home import Home
from mamori.ledger.entries import prepare_value
from mamori.ledger.store import Reader
from mamori.ledger.writer import Sequencer


def sample_event(i: int) -> dict[str, object]:
    return {
        "@timestamp": f"2026-11-27T01:{i // 60 % 60:02d}:{i % 60:02d}Z",
        "host": {"name": f"web-{i % 3:02d}"},
        "user": {"name": f"user{i % 5}"},
        "event": {"action": "login", "outcome": "failure" if i % 4 == 0 else "success"},
        "source": {"ip": f"192.0.2.{i % 200}"},
        "message": f"login attempt {i} ログイン",
    }


def fill(home: Home, batches: list[int]) -> int:
    """Append events in batches of the given sizes (one checkpoint each); returns the size."""
    n = 0
    with Sequencer(home) as seq:
        for b in batches:
            seq.commit([prepare_value(sample_event(n + i)) for i in range(b)])
            n += b
    return n


def tamper(home: Home, *statements: tuple[str, tuple[object, ...]]) -> None:
    """Change the database directly, as an attacker with file access would: triggers dropped."""
    with closing(sqlite3.connect(home.ledger_db)) as conn:
        conn.execute("DROP TRIGGER IF EXISTS events_no_delete")
        conn.execute("DROP TRIGGER IF EXISTS events_only_prune")
        conn.execute("DROP TRIGGER IF EXISTS checkpoints_no_update")
        conn.execute("DROP TRIGGER IF EXISTS checkpoints_no_delete")
        for sql, params in statements:
            conn.execute(sql, params)
        conn.commit()


def body_at(reader: Reader, index: int) -> bytes | None:
    """The stored entry bytes of an index that must exist (None when pruned)."""
    row = reader.entry(index)
    assert row is not None, f"no row {index}"
    return row[1]
