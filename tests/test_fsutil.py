"""The SQLite helpers of fsutil.py that the decision and plan stores share: private files,
errors that name the database, and transactions whose audit event may outlive a failed
commit."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from mamori.errors import MamoriError
from mamori.fsutil import immediate_transaction, private_sqlite_session

SCHEMA = """
CREATE TABLE IF NOT EXISTS parent(id INTEGER PRIMARY KEY);
CREATE TABLE IF NOT EXISTS child(
    id INTEGER PRIMARY KEY,
    parent INTEGER REFERENCES parent(id) DEFERRABLE INITIALLY DEFERRED
);
"""


class StoreError(MamoriError):
    pass


def test_the_session_creates_private_files_and_names_the_database(tmp_path: Path) -> None:
    path = tmp_path / "deep" / "x.db"
    with private_sqlite_session(path, SCHEMA, StoreError, "the test database") as conn:
        conn.execute("INSERT INTO parent VALUES (1)")
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    raised = pytest.raises(StoreError, match=f"cannot use the test database {path}: no such")
    with raised, private_sqlite_session(path, SCHEMA, StoreError, "the test database") as conn:
        conn.execute("SELECT * FROM nope")
    (tmp_path / "dir.db").mkdir()
    raised = pytest.raises(StoreError, match="cannot use the test database")
    with (
        raised,
        private_sqlite_session(tmp_path / "dir.db", SCHEMA, StoreError, "the test database"),
    ):
        pass


def test_a_failing_body_rolls_back_and_a_failing_commit_says_so(tmp_path: Path) -> None:
    def unstored(e: sqlite3.Error) -> StoreError:
        return StoreError(f"recorded but not stored: {e}")

    with private_sqlite_session(tmp_path / "t.db", SCHEMA, StoreError, "db") as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        with pytest.raises(RuntimeError), immediate_transaction(conn, unstored):
            conn.execute("INSERT INTO parent VALUES (1)")
            raise RuntimeError("the audit event could not be recorded")
        assert conn.execute("SELECT count(*) FROM parent").fetchone() == (0,)
        # A deferred foreign key is checked at COMMIT: the commit itself fails.
        failed = pytest.raises(StoreError, match="recorded but not stored: FOREIGN KEY")
        with failed, immediate_transaction(conn, unstored):
            conn.execute("INSERT INTO child VALUES (1, 42)")
        assert not conn.in_transaction  # rolled back, not left open
        assert conn.execute("SELECT count(*) FROM child").fetchone() == (0,)
        with immediate_transaction(conn, unstored):
            conn.execute("INSERT INTO parent VALUES (2)")
        assert conn.execute("SELECT id FROM parent").fetchall() == [(2,)]


def test_without_unstored_a_refused_commit_raises_the_sqlite_error(tmp_path: Path) -> None:
    with private_sqlite_session(tmp_path / "t.db", SCHEMA, StoreError, "db") as conn:
        conn.execute("PRAGMA foreign_keys = ON")
        failed = pytest.raises(sqlite3.IntegrityError, match="FOREIGN KEY")
        with failed, immediate_transaction(conn):
            conn.execute("INSERT INTO child VALUES (1, 42)")
        assert not conn.in_transaction
