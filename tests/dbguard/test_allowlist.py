"""The allowlist (mamori.dbguard.allowlist): SQLite behind an in-memory set, batched learning,
refresh when another process writes, approvals and revocations audited."""

from __future__ import annotations

import stat
from pathlib import Path

import orjson
import pytest

from mamori import audit
from mamori.dbguard.allowlist import Allowlist
from mamori.dbguard.errors import DbGuardError
from mamori.home import Home


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def audit_events(home: Home) -> list[dict[str, object]]:
    return [orjson.loads(ev) for _, ev in audit.pending(home, 0, 100)]


def test_file_is_private_and_survives_reopening(home: Home) -> None:
    with Allowlist.open(home) as a:
        a.learn("app", "web", "fp1", "SELECT $1", 10.0)
    path = home.root / "dbguard.db"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    with Allowlist.open(home) as b:
        assert b.allows("app", "web", "fp1")
        [e] = b.entries()
        assert (e.role, e.application, e.fingerprint, e.source) == ("app", "web", "fp1", "learn")


def test_learning_is_batched_and_counted(tmp_path: Path) -> None:
    clock = Clock()
    a = Allowlist(tmp_path / "dbguard.db", clock=clock, flush_every=5.0, flush_at=1000)
    other = Allowlist(tmp_path / "dbguard.db", clock=clock)
    a.learn("app", "web", "fp1", "SELECT $1", 10.0)
    a.learn("app", "web", "fp1", "SELECT $1", 12.0)
    assert a.allows("app", "web", "fp1")  # at once, in memory
    assert other.entries() == []  # not written yet
    clock.now = 6.0
    a.learn("app", "web", "fp1", "SELECT $1", 15.0)  # a second has passed: written
    [e] = other.entries()
    assert (e.count, e.first_seen, e.last_seen) == (3, 10.0, 15.0)
    a.close()
    other.close()


def test_flush_at_a_number_of_new_fingerprints(tmp_path: Path) -> None:
    a = Allowlist(tmp_path / "dbguard.db", clock=Clock(), flush_at=3)
    for i in range(3):
        a.learn("app", "", f"fp{i}", "", 1.0)
    with Allowlist(tmp_path / "dbguard.db") as b:
        assert len(b.entries()) == 3
    a.close()


def test_another_process_approval_is_seen_after_refresh(home: Home) -> None:
    clock = Clock()
    proxy = Allowlist(home.root / "dbguard.db", clock=clock, refresh_every=1.0)
    assert not proxy.allows("app", "web", "fp9")
    with Allowlist.open(home) as cli:
        cli.approve("fp9", role="app", application="web", by="alice", normalized="SELECT $1")
    assert not proxy.allows("app", "web", "fp9")  # checked at most once a second
    clock.now = 1.5
    assert proxy.allows("app", "web", "fp9")
    proxy.close()


def test_wildcards(home: Home) -> None:
    with Allowlist.open(home) as a:
        a.approve("fpA", role="app", application="*", by="alice")
        a.approve("fpB", role="*", application="web", by="alice")
        a.approve("fpC", role="*", application="*", by="alice")
        assert a.allows("app", "anything", "fpA") and not a.allows("other", "web", "fpA")
        assert a.allows("anyone", "web", "fpB") and not a.allows("anyone", "cron", "fpB")
        assert a.allows("anyone", "", "fpC")


def test_approve_and_revoke_are_audited_and_revoked_is_not_relearned(home: Home) -> None:
    with Allowlist.open(home) as a:
        a.learn("app", "web", "fp1", "SELECT $1", 1.0)
        e = a.approve("fp1", role="app", application="web", by="alice")
        assert (e.source, e.approved_by, e.normalized, e.count) == (
            "approved",
            "alice",
            "SELECT $1",
            1,
        )
        assert a.revoke("fp1", by="bob") == 1
        assert not a.allows("app", "web", "fp1")
        a.learn("app", "web", "fp1", "SELECT $1", 2.0)
        assert not a.allows("app", "web", "fp1")
        [row] = a.entries()
        assert (row.source, row.approved_by) == ("revoked", "bob")
        assert a.revoke("fp1", by="bob") == 0
        a.approve("fp1", role="app", application="web", by="carol")
        assert a.allows("app", "web", "fp1")
    actions = [ev["event"]["action"] for ev in audit_events(home)]  # type: ignore[index]
    assert actions == [
        "dbguard.allowlist_approved",
        "dbguard.allowlist_revoked",
        "dbguard.allowlist_approved",
    ]
    fields = audit_events(home)[1]["mamori"]["audit"]  # type: ignore[index]
    assert fields == {"fingerprint": "fp1", "role": "*", "application": "*", "by": "bob", "rows": 1}


def test_revoke_for_one_role_only(home: Home) -> None:
    with Allowlist.open(home) as a:
        a.approve("fp1", role="app", application="web", by="alice")
        a.approve("fp1", role="batch", application="web", by="alice")
        assert a.revoke("fp1", role="app", by="alice") == 1
        assert not a.allows("app", "web", "fp1") and a.allows("batch", "web", "fp1")


def test_approval_needs_a_role(home: Home) -> None:
    with Allowlist.open(home) as a, pytest.raises(DbGuardError, match="needs a fingerprint"):
        a.approve("fp1", role="", application="web", by="alice")


def test_unusable_file_is_a_dbguard_error(tmp_path: Path) -> None:
    (tmp_path / "dbguard.db").mkdir()
    with pytest.raises(DbGuardError, match="cannot use the firewall allowlist") as e:
        Allowlist(tmp_path / "dbguard.db")
    assert "writable" in (e.value.hint or "")
