"""Retention: bodies past the cut-off pruned with a signed event; verify tells it from tampering."""

from __future__ import annotations

import datetime as dt

import orjson
import pytest

from mamori.config import RetentionConfig
from mamori.home import Home
from mamori.ledger.proofs import prove_inclusion
from mamori.ledger.retention import cutoff, run
from mamori.ledger.store import Reader
from tests.conftest import run as cli
from tests.ledger.ledgerutil import body_at, fill, tamper
from tests.ledger.test_verify import check, kinds

NOW = dt.datetime(2026, 11, 27, tzinfo=dt.UTC)


def test_cutoff_never_below_a_year_and_respects_contract_and_hold() -> None:
    def us(t: dt.datetime) -> int:
        return int(t.timestamp() * 1_000_000)

    assert cutoff(RetentionConfig(days=400), NOW)[0] == us(NOW - dt.timedelta(days=400))
    # days below 365 cannot be configured, and the floor holds whatever the config object says
    assert cutoff(RetentionConfig(days=30), NOW)[0] == us(NOW - dt.timedelta(days=365))
    assert cutoff(RetentionConfig(legal_hold=True), NOW)[0] is None
    during = RetentionConfig(contract_end=dt.date(2026, 3, 31), margin_days=365)
    assert cutoff(during, NOW)[0] is None
    after = RetentionConfig(contract_end=dt.date(2024, 3, 31), margin_days=365)
    assert cutoff(after, NOW)[0] == us(NOW - dt.timedelta(days=365))


def test_pruning_keeps_the_tree_and_proofs_valid(home: Home) -> None:
    fill(home, [300, 200])
    with Reader(home.ledger_db) as r:
        before = prove_inclusion(r, 10)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(days=2000)
    plan = run(home, later)
    assert (plan.first, plan.last) == (0, 499)
    report = check(home)
    assert report.ok, report.problems
    assert report.leaves_pruned == 500
    with Reader(home.ledger_db) as r:
        assert body_at(r, 10) is None
        assert r.tree_size() == 501
        # The old proof still verifies against the same checkpoint: leaf hashes were kept.
        assert prove_inclusion(r, 10, 500).hashes == before.hashes
        announced = orjson.loads(body_at(r, 500) or b"")["event"]
    assert announced["event"]["action"] == "ledger.pruned"
    assert announced["mamori"]["retention"]["first"] == 0
    assert announced["mamori"]["retention"]["last"] == 499
    # A second run prunes what came since, but never the earlier ledger.pruned event.
    fill(home, [10])
    again = run(home, later)
    assert (again.first, again.last) == (500, 510)
    with Reader(home.ledger_db) as r:
        assert body_at(r, 500) is not None
        assert all(body_at(r, i) is None for i in range(501, 511))
    report = check(home)
    assert report.ok, report.problems
    assert report.leaves_pruned == 510


def test_nothing_pruned_before_the_cutoff_or_under_hold(home: Home) -> None:
    fill(home, [10])
    assert run(home, dt.datetime.now(dt.UTC)).last is None
    cfg = home.config_path.read_text().replace("legal_hold = false", "legal_hold = true")
    home.config_path.write_text(cfg)
    assert run(home, dt.datetime.now(dt.UTC) + dt.timedelta(days=5000)).last is None
    with Reader(home.ledger_db) as r:
        assert all(body is not None for _, _, body in r.entries())


def test_body_removed_without_retention_is_missing(home: Home) -> None:
    fill(home, [20])
    tamper(home, ("UPDATE events SET body = NULL WHERE idx = ?", (7,)))
    assert kinds(check(home)) == [(7, "missing")]


def test_pruned_range_without_its_signed_event_is_bad_prune(home: Home) -> None:
    fill(home, [20])
    tamper(
        home,
        ("INSERT INTO pruned(first, last, event_idx) VALUES (0, 5, 19)", ()),
        ("UPDATE events SET body = NULL WHERE idx <= 5", ()),
    )
    found = kinds(check(home))
    assert (19, "bad-prune") in found
    assert (0, "missing") in found


def test_retention_cli(home: Home) -> None:
    fill(home, [5])
    status = cli(["ledger", "retention", "status", "--home", str(home.root)])
    assert status.returncode == 0
    doc = orjson.loads(status.stdout)
    assert doc["count"] == 0 and "1825 days" in doc["reason"]
    ran = cli(["ledger", "retention", "run", "--home", str(home.root)])
    assert orjson.loads(ran.stdout)["count"] == 0


@pytest.mark.parametrize("days", [364, 0])
def test_config_refuses_retention_below_a_year(home: Home, days: int) -> None:
    cfg = home.config_path.read_text().replace("days = 1825", f"days = {days}")
    home.config_path.write_text(cfg)
    proc = cli(["ledger", "retention", "status", "--home", str(home.root)])
    assert proc.returncode == 2
    assert b"days" in proc.stderr and b"365" in proc.stderr
