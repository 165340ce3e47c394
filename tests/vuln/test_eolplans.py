"""End-of-support plans (SEC-3, eolplans.py and `mamori vuln eol plan|plans`): stored with
their history and an audit event each, the most specific one shown in the support report's
対応方針 column, and bad input refused with a reason."""

from __future__ import annotations

import datetime as dt
import stat
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner, Result

from mamori import audit
from mamori.cli.vuln_eol import app as eol_app
from mamori.cli.vuln_report import gather
from mamori.home import Home
from mamori.vuln import eolplans
from mamori.vuln.eolplans import Subject
from mamori.vuln.errors import VulnError
from mamori.vuln.reportrender import render
from mamori.vuln.reports import PLAN_UNWRITTEN, ReportKind, SupportReport

from .test_reports import NOW, SYSTEM, TODAY, populate

T1 = dt.datetime(2026, 5, 1, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def filled(home: Home) -> Home:
    populate(home)
    return home


def plan_events(home: Home) -> list[dict[str, Any]]:
    events = [orjson.loads(e) for _, e in audit.pending(home, 0, 10_000)]
    return [e for e in events if e["event"]["action"].startswith("vuln.eol_plan_")]


def support(home: Home) -> SupportReport:
    rep = gather(home, SYSTEM, ReportKind.SUPPORT, now=NOW, today=TODAY, warn_days=180)
    assert isinstance(rep, SupportReport)
    return rep


def test_the_most_specific_plan_is_shown(filled: Home) -> None:
    eolplans.set_plan(filled, Subject(SYSTEM, "django"), "Django 5.2 LTS へ移行する",
                      due=None, actor="yamada", at=T1)  # fmt: skip
    eolplans.set_plan(filled, Subject(SYSTEM, "django", "3.2"), "4.2 を経て 5.2 へ更新",
                      due=dt.date(2026, 9, 30), actor="yamada", at=T1)  # fmt: skip
    eolplans.set_plan(filled, Subject(SYSTEM, component="requests"), "定期更新で追従",
                      due=None, actor="sato", at=T1)  # fmt: skip
    rows = {(r.name, r.version): r.plan for r in support(filled).rows}
    assert rows[("django", "3.2.25")] == "4.2 を経て 5.2 へ更新（期限 2026-09-30）"
    assert rows[("django", "9.9")] == "Django 5.2 LTS へ移行する"  # the product's plan
    assert rows[("requests", "2.31.0")] == "定期更新で追従"
    assert rows[("debian", "12.5")] == PLAN_UNWRITTEN
    rep = support(filled)
    html = render(rep, ReportKind.SUPPORT, "html").decode()
    assert "4.2 を経て 5.2 へ更新（期限 2026-09-30）" in html and "定期更新で追従" in html
    assert "4.2 を経て 5.2 へ更新" in render(rep, ReportKind.SUPPORT, "csv").decode("utf-8-sig")
    assert any(s.label.startswith("対応方針") and s.note == "3 件" for s in rep.meta.sources)


def test_every_change_is_audited_and_kept_in_the_history(filled: Home) -> None:
    subject = Subject(SYSTEM, "debian", "12")
    eolplans.set_plan(filled, subject, "trixie へ移行", due=dt.date(2026, 7, 1), actor="a", at=T1)
    eolplans.set_plan(filled, subject, "trixie へ 6 月に移行", due=None, actor="b", at=T1)
    old = eolplans.clear_plan(filled, subject, actor="c", at=T1 + dt.timedelta(days=1))
    assert old.text == "trixie へ 6 月に移行"
    assert eolplans.plans(filled, SYSTEM) == []
    changes = eolplans.history(filled, SYSTEM)
    assert [(c.action, c.text, c.due, c.actor) for c in changes] == [
        ("set", "trixie へ移行", dt.date(2026, 7, 1), "a"),
        ("set", "trixie へ 6 月に移行", None, "b"),
        ("cleared", "trixie へ 6 月に移行", None, "c"),
    ]
    events = plan_events(filled)
    assert [e["event"]["action"] for e in events] == [
        "vuln.eol_plan_set", "vuln.eol_plan_set", "vuln.eol_plan_cleared"
    ]  # fmt: skip
    assert events[0]["mamori"]["audit"]["plan"] == "trixie へ移行"
    assert [c.audit_id for c in changes] == sorted(c.audit_id for c in changes)
    path = filled.root / "vuln" / eolplans.DB_NAME
    assert stat.S_IMODE(path.stat().st_mode) == 0o600


def test_a_plan_whose_audit_event_cannot_be_recorded_is_not_stored(
    filled: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    def broken(*_: Any, **__: Any) -> int:
        raise audit.AuditError("the outbox is full", hint="free some space")

    monkeypatch.setattr(audit, "record", broken)
    with pytest.raises(VulnError, match="the plan was not stored"):
        eolplans.set_plan(filled, Subject(SYSTEM, "debian"), "x", due=None, actor="a", at=T1)
    monkeypatch.undo()
    assert eolplans.plans(filled, SYSTEM) == [] and eolplans.history(filled, SYSTEM) == []


@pytest.mark.parametrize(
    ("subject", "text", "message"),
    [
        (Subject(SYSTEM), "x", "not both or neither"),
        (Subject(SYSTEM, "python", component="x"), "x", "not both or neither"),
        (Subject(SYSTEM, cycle="3.9", component="x"), "x", "a cycle needs its product"),
        (Subject("", "python"), "x", "system"),
        (Subject(SYSTEM, "python"), "   ", "empty"),
        (Subject(SYSTEM, "python"), "a\x00b", "control characters"),
        (Subject(SYSTEM, "python"), "x" * 2001, "longer than 2000"),
    ],
)
def test_bad_plans_are_refused(filled: Home, subject: Subject, text: str, message: str) -> None:
    with pytest.raises(VulnError, match=message):
        eolplans.set_plan(filled, subject, text, due=None, actor="a", at=T1)
    assert eolplans.plans(filled, SYSTEM) == []


# ---------------------------------------------------------------- the commands

app = typer.Typer()
app.add_typer(eol_app, name="eol")


def invoke(home: Home, *args: str) -> Result:
    return CliRunner().invoke(app, ["eol", *args, "--home", str(home.root)],
                              catch_exceptions=False)  # fmt: skip


def test_plan_and_plans_commands(filled: Home) -> None:
    r = invoke(filled, "plan", "--system", SYSTEM, "--product", "django", "--cycle", "3.2",
               "--text", "5.2 へ移行", "--due", "2026-09-30", "--actor", "yamada")  # fmt: skip
    assert r.exit_code == 0, r.output
    assert "django 3.2" in r.stdout and "5.2 へ移行（期限 2026-09-30）" in r.stdout
    r = invoke(filled, "plans", "--system", SYSTEM, "--json")
    assert r.exit_code == 0, r.output
    (doc,) = orjson.loads(r.stdout)
    assert (doc["product"], doc["cycle"], doc["text"], doc["due"], doc["actor"]) == (
        "django", "3.2", "5.2 へ移行", "2026-09-30", "yamada"
    )  # fmt: skip
    r = invoke(filled, "plan", "--system", SYSTEM, "--product", "django", "--cycle", "3.2",
               "--clear", "--actor", "sato")  # fmt: skip
    assert r.exit_code == 0 and "removed the plan" in r.stdout
    r = invoke(filled, "plans", "--system", SYSTEM, "--history")
    assert r.exit_code == 0
    assert [line.split()[1] for line in r.stdout.splitlines()] == ["set", "cleared"]
    r = invoke(filled, "plans", "--system", SYSTEM)
    assert "has no end-of-support plans" in r.stdout


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--product", "djang", "--text", "x"], "did you mean django"),
        (["--product", "django", "--cycle", "9.9", "--text", "x"], "no release cycle '9.9'"),
        (["--product", "django"], "give the plan with --text"),
        (["--product", "django", "--text", "x", "--clear"], "give the plan with --text"),
        (["--product", "django", "--clear", "--due", "2026-01-01"], "--due goes with --text"),
        (["--product", "django", "--text", "x", "--due", "soon"], "is not a date"),
        (["--product", "django", "--clear"], "has no plan for django"),
        (["--text", "x"], "not both or neither"),
    ],
)
def test_bad_plan_commands_exit_2_and_store_nothing(
    filled: Home, args: list[str], message: str
) -> None:
    r = invoke(filled, "plan", "--system", SYSTEM, "--actor", "a", *args)
    assert r.exit_code == 2, r.output
    assert message in r.stderr and "Traceback" not in r.output
    assert eolplans.plans(filled, SYSTEM) == [] and plan_events(filled) == []
