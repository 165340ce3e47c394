"""docs/incidents.md cannot drift: its workflow table, its rendered report, its config keys and
its commands are compared with the code. Regenerate the generated parts with
`python -m tests.incidents.test_docs`."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import replace
from pathlib import Path
from zoneinfo import ZoneInfo

import typer

from mamori.cli.incidents import countermeasure_app, incidents_app
from mamori.cli.tickets import tickets_app
from mamori.incidents import settings
from mamori.incidents.csirt import render_report, report_context
from mamori.incidents.model import (
    AlertId,
    AlertRef,
    IncidentId,
    Level,
    Priority,
    ReportKind,
    Stage,
    Step,
    StepKind,
)
from mamori.incidents.settings import DEFAULT_TARGETS, CsirtConfig
from mamori.incidents.workflow import TABLE, Action
from tests.incidents.helpers import incident_at

DOC = Path(__file__).resolve().parents[2] / "docs" / "incidents.md"
T = dt.datetime(2026, 11, 27, 1, 0, tzinfo=dt.UTC)


def workflow_table() -> str:
    head = "| stage \\ action | " + " | ".join(f"`{a.value}`" for a in Action) + " |"
    rule = "|---" * (len(Action) + 1) + "|"
    rows = [
        f"| `{s.value}` {s.ja} | " + " | ".join(TABLE[(s, a)].value for a in Action) + " |"
        for s in Stage
    ]
    return "\n".join([head, rule, *rows])


def example_report() -> str:
    """The second report of a P2 incident, as the CSIRT receives it."""
    inc = incident_at(Stage.DETECTED)
    m = dt.timedelta(minutes=1)
    steps = (
        Step(1, StepKind.DETECTED, Stage.DETECTED, "tanaka", T),
        Step(2, StepKind.REACHED, Stage.ISOLATED, "tanaka", T + 12 * m, "web-01 を隔離"),
        Step(3, StepKind.SKIPPED, Stage.VENDOR_CONTACTED, "tanaka", T + 80 * m, "",
             "自社で復旧可能なため"),
        Step(4, StepKind.REACHED, Stage.RECOVERY_CONFIRMED, "tanaka", T + 80 * m),
    )  # fmt: skip
    alert = AlertRef(AlertId("42"), "a1b2c3d4", "SSH ブルートフォース", "high")
    inc = replace(
        inc,
        id=IncidentId("INC-2026-0007"),
        title="web-01 への SSH ブルートフォース",
        description="web-01 に対する SSH の総当たり攻撃を検知しました。\n"
        "侵入の形跡は確認されていません。",
        urgency=Level.HIGH,
        impact=Level.MEDIUM,
        priority=Priority.P2,
        targets=DEFAULT_TARGETS[Priority.P2],
        occurred_at=T - 7 * m,
        stage=Stage.RECOVERY_CONFIRMED,
        steps=steps,
        alerts=(alert,),
        hosts=("web-01",),
        users=("admin",),
    )
    csirt = CsirtConfig(
        to=("csirt@agency.example.jp",),
        organisation="○○省",
        contractor="△△株式会社 運用保守チーム",
        contact="運用窓口 03-0000-0000 soc@contractor.example.jp",
    )
    ctx = report_context(
        inc, ReportKind.FOLLOWUP, 2, csirt=csirt, zone=ZoneInfo("Asia/Tokyo"),
        now=T + 90 * m, actor="tanaka", extra_text="対象アカウントのパスワードを変更済みです。",
    )  # fmt: skip
    subject, body = render_report(ctx)
    return f"件名: {subject}\n\n{body}"


def test_workflow_table_is_current() -> None:
    assert workflow_table() in DOC.read_text(encoding="utf-8"), (
        "docs/incidents.md: the workflow table is out of date; run "
        "`python -m tests.incidents.test_docs`"
    )


def test_rendered_example_is_current() -> None:
    text = DOC.read_text(encoding="utf-8")
    assert f"```text\n{example_report()}```" in text, (
        "docs/incidents.md: the example report is out of date; run "
        "`python -m tests.incidents.test_docs`"
    )


def test_every_config_key_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    keys = set(re.findall(r"^([a-z_A-Z0-9]+) = ", settings.TEMPLATE, flags=re.M))
    assert keys >= {"breach_report_minutes", "to", "cc", "contractor", "P1", "high"}
    for key in keys:
        assert f"`{key}`" in text, key
    for sub in ("[incidents.priority]", "[incidents.targets]", "[incidents.tickets]", "[csirt]"):
        assert sub in text


def _commands(app: typer.Typer) -> list[str]:
    return [c.name or "" for c in app.registered_commands]


def test_every_command_is_documented() -> None:
    text = DOC.read_text(encoding="utf-8")
    for name in _commands(incidents_app):
        assert f"mamori incidents {name}" in text, name
    for name in _commands(countermeasure_app):
        assert f"mamori incidents countermeasure {name}" in text, name
    for name in _commands(tickets_app):
        assert f"mamori tickets {name}" in text, name


if __name__ == "__main__":
    print(workflow_table())
    print()
    print(example_report())
