"""docs/dbguard-policies.md cannot drift from the code: every key, code, kind and command."""

from __future__ import annotations

from pathlib import Path

from typer.main import get_command

from mamori.cli.dbguard_priv import app
from mamori.dbguard import policy
from mamori.dbguard.pgaudit import EVENT_TYPES, FORMATS
from mamori.dbguard.privileges import APPROVED_ACTION, DRIFT_ACTION
from mamori.dbguard.privmodel import ATTRIBUTES, DriftKind

DOC = (Path(__file__).resolve().parents[2] / "docs" / "dbguard-policies.md").read_text(
    encoding="utf-8"
)


def test_every_setting_and_reason_code_is_documented() -> None:
    for key in (
        "rows_per_statement",
        "rows_per_window",
        "rows_window_s",
        "rows_block",
        "time_policy",
        "time_exempt_roles",
        "privileges_dsn",
    ):
        assert f"`{key}`" in DOC, key
    for code in policy.REASON_CODES:
        assert f"`{code}`" in DOC, code
    for tp in policy.TimePolicy:
        assert f"`{tp.value}`" in DOC, tp


def test_every_drift_kind_attribute_action_and_command_is_documented() -> None:
    for kind in DriftKind:
        assert f"`{kind.value}`" in DOC, kind
    for attribute in ATTRIBUTES:
        assert f"`{attribute}`" in DOC, attribute
    for action in (APPROVED_ACTION, DRIFT_ACTION):
        assert f"`{action}`" in DOC, action
    group = get_command(app)
    commands = getattr(group, "commands", {})
    assert set(commands) == {"snapshot", "approve", "diff", "show"}
    for name in commands:
        assert f"mamori dbguard privileges {name}" in DOC or f"`{name}" in DOC, name


def test_every_pgaudit_format_and_class_is_documented() -> None:
    for fmt in FORMATS:
        assert f'format = "{fmt}"' in DOC, fmt
    for cls, event_type in EVENT_TYPES.items():
        assert cls in DOC and f"`{event_type}`" in DOC, cls
