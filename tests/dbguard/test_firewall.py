"""The firewall (mamori.dbguard.firewall): modes per role and application, over a real
allowlist in a temporary file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from mamori.dbguard.allowlist import Allowlist
from mamori.dbguard.analysis import analyse
from mamori.dbguard.facts import Decision, Reason, Session, Statement, Verdict
from mamori.dbguard.firewall import (
    FIREWALL_REASONS,
    SQLSTATE_REFUSED,
    Firewall,
    Mode,
    mode_table,
    refusal,
)
from mamori.dbguard.settings import Address, DbGuardConfig, FirewallMode, FirewallRule

DOCS = Path(__file__).resolve().parents[2] / "docs" / "dbguard-firewall.md"

ORDINARY = "SELECT id, name FROM users WHERE id = 42"
SAME_SHAPE = "SELECT id, name FROM users WHERE id = 7"
OTHER = "SELECT id, email FROM users WHERE email = 'a@example.org'"
TAUTOLOGY = "SELECT id, name FROM users WHERE id = 42 OR 1=1"
CONSTANT = "SELECT id, name FROM users WHERE id = 42 AND 1=2"
BROKEN = "SELECT id, name FROM users WHERE id = '42"
GRANT = "GRANT ALL ON users TO mallory"


@pytest.fixture
def allowlist(tmp_path: Path) -> Iterator[Allowlist]:
    a = Allowlist(tmp_path / "dbguard.db")
    yield a
    a.close()


def stmt(text: str, role: str = "app", application: str = "web") -> Statement:
    session = Session(id="s1", database="shop", role=role, application=application)
    return Statement(session=session, text=text, protocol="simple", at=1_700_000_000.0)


def decide(fw: Firewall, text: str, role: str = "app", application: str = "web") -> Decision:
    return fw.decide(stmt(text, role, application), analyse(text))


def codes(d: Decision) -> list[str]:
    return [r.code for r in d.reasons]


def firewall(mode: Mode, allowlist: Allowlist) -> Firewall:
    return Firewall(mode_table(mode, []), allowlist)


def test_every_mode_is_handled(allowlist: Allowlist) -> None:
    assert [m.value for m in Mode] == ["off", "learn", "monitor", "enforce"]
    for mode in Mode:
        decide(firewall(mode, allowlist), ORDINARY)  # assert_never would raise


def test_learn_records_and_allows(allowlist: Allowlist) -> None:
    fw = firewall(Mode.LEARN, allowlist)
    assert decide(fw, ORDINARY) == Decision()
    assert allowlist.allows("app", "web", analyse(SAME_SHAPE).fingerprint)
    assert not allowlist.allows("app", "cron", analyse(ORDINARY).fingerprint)
    [entry] = allowlist.entries()
    assert (entry.source, entry.count, entry.normalized) == (
        "learn",
        1,
        "SELECT id, name FROM users WHERE id = $1",
    )


def test_learn_reports_findings_as_alerts_and_does_not_learn_a_block(allowlist: Allowlist) -> None:
    fw = firewall(Mode.LEARN, allowlist)
    d = decide(fw, TAUTOLOGY)
    assert d.verdict == Verdict.ALERT
    assert codes(d) == ["sqli.tautology", "firewall.not_learned"]
    assert not allowlist.allows("app", "web", analyse(TAUTOLOGY).fingerprint)
    alert = decide(fw, CONSTANT)
    assert alert.verdict == Verdict.ALERT and codes(alert) == ["sqli.constant_condition"]
    assert allowlist.allows("app", "web", analyse(CONSTANT).fingerprint)
    broken = decide(fw, BROKEN)
    assert broken.verdict == Verdict.ALERT and codes(broken) == ["sqli.unparseable"]
    assert len(allowlist.entries()) == 1


def test_monitor_alerts_on_unknown_and_blocks_nothing(allowlist: Allowlist) -> None:
    firewall(Mode.LEARN, allowlist)
    decide(firewall(Mode.LEARN, allowlist), ORDINARY)
    fw = firewall(Mode.MONITOR, allowlist)
    assert decide(fw, SAME_SHAPE) == Decision()
    unknown = decide(fw, OTHER)
    assert unknown.verdict == Verdict.ALERT
    assert codes(unknown) == ["firewall.unknown_fingerprint"]
    assert "role 'app'" in unknown.reasons[0].detail
    attack = decide(fw, TAUTOLOGY)
    assert attack.verdict == Verdict.ALERT
    assert codes(attack) == ["sqli.tautology", "firewall.unknown_fingerprint"]
    assert decide(fw, BROKEN).verdict == Verdict.ALERT


def test_enforce_blocks_unknown_and_unparseable(allowlist: Allowlist) -> None:
    decide(firewall(Mode.LEARN, allowlist), ORDINARY)
    fw = firewall(Mode.ENFORCE, allowlist)
    assert decide(fw, SAME_SHAPE) == Decision()
    unknown = decide(fw, OTHER)
    assert unknown.verdict == Verdict.BLOCK and codes(unknown) == ["firewall.unknown_fingerprint"]
    broken = decide(fw, BROKEN)
    assert broken.verdict == Verdict.BLOCK
    assert codes(broken) == ["sqli.unparseable", "firewall.unparseable"]
    other_app = decide(fw, SAME_SHAPE, application="cron")
    assert other_app.verdict == Verdict.BLOCK


def test_enforce_blocks_an_injection_even_when_its_shape_is_allowed(allowlist: Allowlist) -> None:
    fp = analyse(TAUTOLOGY).fingerprint
    allowlist.approve(fp, role="app", application="web", by="alice")
    fw = firewall(Mode.ENFORCE, allowlist)
    d = decide(fw, TAUTOLOGY)
    assert d.verdict == Verdict.BLOCK and codes(d) == ["sqli.tautology"]
    allowlist.approve(analyse(CONSTANT).fingerprint, role="app", application="web", by="alice")
    assert decide(fw, CONSTANT).verdict == Verdict.ALERT


def test_off_still_alerts_on_privilege_changes(allowlist: Allowlist) -> None:
    fw = firewall(Mode.OFF, allowlist)
    assert decide(fw, TAUTOLOGY) == Decision()
    d = decide(fw, GRANT)
    assert d.verdict == Verdict.ALERT and codes(d) == ["priv.grant"]
    assert allowlist.entries() == []


def test_privilege_changes_alert_even_when_learned(allowlist: Allowlist) -> None:
    assert decide(firewall(Mode.LEARN, allowlist), GRANT).verdict == Verdict.ALERT
    d = decide(firewall(Mode.ENFORCE, allowlist), GRANT)
    assert d.verdict == Verdict.ALERT and codes(d) == ["priv.grant"]


def test_the_settings_mode_function_serves_as_mode_for(allowlist: Allowlist) -> None:
    cfg = DbGuardConfig(
        name="shop",
        listen=Address("127.0.0.1", 6432),
        upstream=Address("127.0.0.1", 5432),
        firewall=FirewallMode.MONITOR,
        firewall_rules=(FirewallRule(FirewallMode.ENFORCE, role="app", application="web*"),),
    )
    fw = Firewall(cfg.firewall_mode, allowlist)
    assert Mode is FirewallMode
    assert decide(fw, OTHER, "app", "web-1").verdict == Verdict.BLOCK
    assert decide(fw, OTHER, "app", "psql").verdict == Verdict.ALERT


def test_mode_table_first_matching_rule_wins() -> None:
    mode_for = mode_table(
        Mode.MONITOR,
        [
            ("app", "web*", Mode.ENFORCE),
            ("app", "*", Mode.LEARN),
            ("dba_*", "*", Mode.OFF),
        ],
    )
    assert mode_for("app", "web-1") is Mode.ENFORCE
    assert mode_for("app", "psql") is Mode.LEARN
    assert mode_for("app", "") is Mode.LEARN
    assert mode_for("dba_alice", "psql") is Mode.OFF
    assert mode_for("App", "web-1") is Mode.MONITOR  # globs are case-sensitive
    assert mode_for("reporting", "metabase") is Mode.MONITOR
    assert mode_table(Mode.ENFORCE, [])("anyone", "") is Mode.ENFORCE


def test_refusal_names_codes_not_details() -> None:
    d = Decision(Verdict.BLOCK, (Reason("sqli.tautology", "OR with 1=1 on users", "DB-4"),))
    sqlstate, message = refusal(d)
    assert sqlstate == SQLSTATE_REFUSED == "42501"
    assert "sqli.tautology" in message and "users" not in message


def test_every_firewall_reason_is_documented() -> None:
    text = DOCS.read_text(encoding="utf-8")
    for code in FIREWALL_REASONS:
        assert f"`{code}`" in text, code


def test_weigh_caps_whole_message_findings_by_mode(allowlist: Allowlist) -> None:
    """``sqli.stacked`` is found on a whole simple Query (Guard.message); the firewall weighs
    it in the mode of the role and application, and learns nothing from it."""
    found = Decision(Verdict.BLOCK, (Reason("sqli.stacked", "x", "DB-4"),))
    whole = stmt("SELECT * FROM users; SELECT pg_sleep(5)")
    assert firewall(Mode.OFF, allowlist).weigh(whole, found) == Decision()
    for mode in (Mode.LEARN, Mode.MONITOR):
        assert firewall(mode, allowlist).weigh(whole, found).verdict is Verdict.ALERT
    assert firewall(Mode.ENFORCE, allowlist).weigh(whole, found) == found
    assert allowlist.entries() == []
