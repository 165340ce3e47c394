"""`mamori incidents …` and `mamori tickets …` end to end: JSON out, --as, clear errors.

In-process through Typer (the adapters to alerts and e-mail replaced by the fakes), and once
as a real process to show that an error is a message and an exit status, never a traceback.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from mamori.cli.incidents import incidents_app
from mamori.cli.tickets import tickets_app
from mamori.errors import MamoriError
from mamori.home import Home
from tests.incidents.conftest import CSIRT_TO, FakeAlerts, Mail, audit_events, configure_csirt

ROOT = typer.Typer()
ROOT.add_typer(incidents_app, name="incidents")
ROOT.add_typer(tickets_app, name="tickets")


@dataclass
class Ran:
    code: int
    out: str
    err: str

    def json(self) -> Any:
        return orjson.loads(self.out)


def cli(home: Home, *args: str) -> Ran:
    """Run a command as `mamori.cli.main.main` would: a MamoriError is a message, status 2."""
    try:
        r = CliRunner().invoke(ROOT, [*args, "--home", str(home.root)], catch_exceptions=False)
    except MamoriError as e:
        return Ran(2, "", e.diagnostics())
    return Ran(r.exit_code, r.stdout, r.stderr)


def ok(home: Home, *args: str) -> Any:
    r = cli(home, *args, "--json")
    assert r.code == 0, r.err
    return r.json()


def test_incident_lifecycle(home: Home, alerts: FakeAlerts, mails: list[Mail]) -> None:
    configure_csirt(home)
    alerts.add("3", title="Brute force", severity="high")
    created = ok(home, "incidents", "create", "--from-alert", "3", "--as", "tanaka")
    iid = created["id"]
    assert created["priority"] == "P2" and created["steps"][0]["actor"] == "tanaka"
    assert (
        ok(home, "incidents", "step", iid, "isolated", "--note", "cut off", "--as", "sato")["stage"]
        == "isolated"
    )
    refused = cli(home, "incidents", "step", iid, "reported", "--as", "sato")
    assert refused.code == 2 and "skip" in refused.err and "--skip-reason" in refused.err
    ok(home, "incidents", "step", iid, "reported", "--skip-reason", "no vendor", "--as", "sato")
    msg = ok(home, "incidents", "csirt", iid, "--kind", "first", "--text", "補足です")
    assert msg["subject"].startswith("【第1報（速報）】") and msg["to"] == [CSIRT_TO]
    assert ok(home, "incidents", "csirt", iid, "--kind", "followup")["number"] == 2
    timers = ok(home, "incidents", "timers", iid)
    assert {t["name"] for t in timers} >= {"response", "resolution"}
    refused = cli(home, "incidents", "close", iid)
    assert refused.code == 2 and "review" in refused.err
    ok(home, "incidents", "countermeasure", "add", iid, "--text", "MFA", "--owner", "infra",
       "--due", "2026-12-31")  # fmt: skip
    rv = ok(home, "incidents", "review", iid, "--cause", "weak password", "--impact", "none",
            "--recurrence", "medium", "--recurrence-reason", "exposed", "--complete")  # fmt: skip
    assert rv["completed"]
    assert ok(home, "incidents", "close", iid)["stage"] == "closed"
    assert ok(home, "incidents", "list") == []
    assert [i["id"] for i in ok(home, "incidents", "list", "--all")] == [iid]
    reopened = ok(home, "incidents", "reopen", iid, "--reason", "seen again")
    assert reopened["stage"] == "isolated"
    shown = ok(home, "incidents", "show", iid)
    assert [m["number"] for m in shown["csirt_messages"]] == [1, 2]
    assert shown["review"]["completed"] and shown["countermeasures"][0]["text"] == "MFA"
    cms = ok(home, "incidents", "countermeasure", "list")
    ok(home, "incidents", "countermeasure", "done", str(cms[0]["id"]))
    assert ok(home, "incidents", "countermeasure", "list", "--overdue") == []
    assert "items" in ok(home, "incidents", "past", iid)
    actors = {e["actor"] for e in audit_events(home, "incident.")}
    assert {"tanaka", "sato"} <= actors
    assert len(mails) == 2
    text = cli(home, "incidents", "show", iid)
    assert text.code == 0 and iid in text.out and "steps:" in text.out


def test_create_update_merge_by_hand(home: Home) -> None:
    a = ok(home, "incidents", "create", "--title", "Outage", "--category", "failure",
           "--urgency", "high", "--impact", "high", "--host", "db-01")  # fmt: skip
    assert a["priority"] == "P1" and a["hosts"] == ["db-01"]
    b = ok(home, "incidents", "create", "--title", "Slow", "--detected-at", "2026-01-05T09:00")
    assert b["detected_at"] == "2026-01-05T00:00:00Z"  # a time without zone: Tokyo
    upd = ok(home, "incidents", "update", a["id"], "--assignee", "suzuki", "--impact", "low")
    assert upd["assignee"] == "suzuki" and upd["priority"] == "P3"
    assert ok(home, "incidents", "update", a["id"], "--unassign")["assignee"] is None
    merged = ok(home, "incidents", "merge", a["id"], b["id"], "--note", "same cause")
    assert merged["detected_at"] == "2026-01-05T00:00:00Z"
    other = ok(home, "incidents", "show", b["id"])
    assert other["merged_into"] == a["id"] and other["stage"] == "closed"


def test_breach_from_the_cli_without_csirt_exits_1(home: Home, mails: list[Mail]) -> None:
    r = cli(home, "incidents", "create", "--title", "名簿の漏えい", "--category", "breach",
            "--what-happened", "誤送信", "--damage", "1件", "--containment", "削除依頼",
            "--recovery", "手順見直し", "--persons-response", "お詫び",
            "--persons-affected", "unknown", "--data-item", "氏名", "--json")  # fmt: skip
    assert r.code == 1
    assert r.json()["breach"]["persons_affected"] is None
    assert "[csirt] to" in r.err and "NOT sent" in r.err
    missing = cli(home, "incidents", "create", "--title", "x", "--category", "breach",
                  "--what-happened", "誤送信")  # fmt: skip
    assert missing.code == 2 and "被害の状況" in missing.err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("incidents", "show", "INC-2026-0404"), "there is no incident INC-2026-0404"),
        (("incidents", "create"), "needs a title or at least one alert"),
        (("incidents", "create", "--title", "x", "--detected-at", "yesterday"), "not a time"),
        (("incidents", "csirt", "INC-2026-0001", "--kind", "first"), "[csirt] to"),
        (
            (
                "incidents",
                "countermeasure",
                "add",
                "INC-2026-0001",
                "--text",
                "t",
                "--owner",
                "o",
                "--due",
                "soon",
            ),
            "not a date",
        ),
        (("incidents", "step", "INC-2026-0001", "detected"), "starts there"),
        (("incidents", "update", "INC-2026-0001", "--assignee", "a", "--unassign"), "not both"),
        (("tickets", "stats", "--month", "November"), "not a month"),
        (("tickets", "show", "TKT-2026-0001"), "there is no ticket"),
    ],
)
def test_clear_errors(home: Home, args: Sequence[str], says: str) -> None:
    ok(home, "incidents", "create", "--title", "exists")
    r = cli(home, *args)
    assert r.code == 2 and says in r.err, r.err


def test_tickets(home: Home) -> None:
    t = ok(home, "tickets", "open", "--category", "request", "--requester", "yamada",
           "--subject", "アカウント追加", "--as", "yamada")  # fmt: skip
    tid = t["id"]
    assert t["status"] == "new" and t["priority"] == "P3"
    ok(home, "tickets", "comment", tid, "承知しました", "--as", "desk")
    ok(home, "tickets", "status", tid, "resolved", "--as", "desk")
    r = cli(home, "tickets", "status", tid, "new")
    assert r.code == 2 and "cannot go from resolved to new" in r.err
    shown = ok(home, "tickets", "show", tid)
    assert shown["first_response_met"] is True and shown["resolution_met"] is True
    assert ok(home, "tickets", "assign", tid, "--assignee", "suzuki")["assignee"] == "suzuki"
    ok(home, "tickets", "status", tid, "closed")
    assert ok(home, "tickets", "list") == []
    assert [x["id"] for x in ok(home, "tickets", "list", "--all")] == [tid]
    month = tid.split("-")[1]
    stats = ok(home, "tickets", "stats", "--month", f"{month}-01")
    assert set(stats) >= {"opened", "by_category", "first_response", "resolution"}
    text = cli(home, "tickets", "list", "--all")
    assert text.code == 0 and tid in text.out


def test_a_lost_audit_event_says_the_change_was_made(
    home: Home, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Regression: the CLI could not tell "done, but its audit event was not recorded" from a
    refusal; it now says the change was made, and exits 2."""
    from mamori import audit
    from mamori.audit import AuditError

    iid = ok(home, "incidents", "create", "--title", "x")["id"]

    def broken(*args: object, **kwargs: object) -> None:
        raise AuditError("the outbox is full", hint="free disk space")

    monkeypatch.setattr(audit, "record", broken)
    for args in (
        ("incidents", "step", iid, "isolated"),
        ("tickets", "open", "--category", "inquiry", "--requester", "r", "--subject", "s"),
    ):
        r = cli(home, *args)
        assert r.code == 2, r.err
        assert r.err.startswith(
            "mamori: the change was made, but its audit event could not be recorded\n"
        ), r.err
        assert "the outbox is full" in r.err and "the change stands" in r.err
    monkeypatch.undo()
    assert ok(home, "incidents", "show", iid)["stage"] == "isolated"
    assert len(ok(home, "tickets", "list")) == 1


def test_crlf_typed_or_pasted_is_kept_as_lf(home: Home) -> None:
    """Regression: a CR in pasted text was refused as a control character."""
    iid = ok(home, "incidents", "create", "--title", "x", "--description", "a\r\nb")["id"]
    assert ok(home, "incidents", "show", iid)["description"] == "a\nb"
    tid = ok(home, "tickets", "open", "--category", "inquiry", "--requester", "r",
             "--subject", "s")["id"]  # fmt: skip
    assert ok(home, "tickets", "comment", tid, "one\r\ntwo")["log"][0]["text"] == "one\ntwo"


def test_countermeasure_done_checks_the_incident(home: Home) -> None:
    a = ok(home, "incidents", "create", "--title", "a")["id"]
    b = ok(home, "incidents", "create", "--title", "b")["id"]
    cm = ok(home, "incidents", "countermeasure", "add", b, "--text", "t", "--owner", "o",
            "--due", "2026-12-31")["id"]  # fmt: skip
    r = cli(home, "incidents", "countermeasure", "done", str(cm), "--incident", a)
    assert r.code == 2 and f"countermeasure {cm} is not one of {a}" in r.err
    done = ok(home, "incidents", "countermeasure", "done", str(cm), "--incident", b)
    assert done["state"] == "done"


def test_a_real_process_prints_no_traceback(home: Home) -> None:
    """Through mamori.cli.main.main (mounting the apps when the lead has not yet)."""
    script = (
        "import sys\n"
        "from mamori.cli import main as m\n"
        "from mamori.cli.incidents import incidents_app\n"
        "from mamori.cli.tickets import tickets_app\n"
        "names = {g.name for g in m.app.registered_groups}\n"
        "if 'incidents' not in names:\n"
        "    m.app.add_typer(incidents_app, name='incidents')\n"
        "    m.app.add_typer(tickets_app, name='tickets')\n"
        "m.main(sys.argv[1:])\n"
    )
    for args, code in (
        (["incidents", "show", "INC-2026-0001"], 2),
        (["incidents", "step", "INC-1", "nowhere"], 2),
        (["tickets", "stats", "--month", "x"], 2),
        (["incidents", "create", "--title", "ok"], 0),
    ):
        proc = subprocess.run(
            [sys.executable, "-c", script, *args, "--home", str(home.root)],
            capture_output=True,
            timeout=60,
            check=False,
        )
        assert b"Traceback" not in proc.stderr, proc.stderr.decode()
        assert proc.returncode == code, proc.stderr.decode()
