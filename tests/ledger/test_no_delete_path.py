"""SEC-5: no code path updates or deletes an event, anywhere (issue 2, item 13).

Scans mamori's own source for SQL that changes the events or checkpoints tables. The only
allowed statement is retention's pruning of bodies to NULL, which the schema's trigger also
limits to exactly that.
"""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src" / "mamori"
LEDGER_TABLES = r"(events|checkpoints|tiles|pruned|cosignatures)\b"
CHANGE = re.compile(
    rf"\b(UPDATE\s+{LEDGER_TABLES}|DELETE\s+FROM\s+{LEDGER_TABLES}|DROP\s+TABLE\s+(IF\s+EXISTS\s+)?{LEDGER_TABLES})",
    re.I,
)
ALLOWED = {
    (
        "ledger/retention.py",
        "UPDATE events SET body = NULL WHERE idx BETWEEN ? AND ? AND idx NOT IN (SELECT event_idx FROM pruned)",
    )
}


def test_only_retention_changes_events() -> None:
    found = set()
    for path in SRC.rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        # Join adjacent string literals the way Python would, roughly: one statement per match.
        flat = re.sub(r'"\s*\n\s*"', "", text)
        for m in CHANGE.finditer(flat):
            line_end = flat.find('"', m.start())
            found.add((str(path.relative_to(SRC)), flat[m.start() : line_end]))
    assert found == ALLOWED, found


def test_schema_triggers_guard_the_tables() -> None:
    schema = (SRC / "ledger" / "store.py").read_text(encoding="utf-8")
    for trigger in (
        "events_no_delete",
        "events_only_prune",
        "checkpoints_no_update",
        "checkpoints_no_delete",
    ):
        assert f"CREATE TRIGGER IF NOT EXISTS {trigger}" in schema
