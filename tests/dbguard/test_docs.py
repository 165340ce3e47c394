"""docs/dbguard.md cannot drift: every setting, event action and anomaly is described."""

from __future__ import annotations

import re
from pathlib import Path

from mamori.dbguard import settings

DOC = (Path(__file__).resolve().parents[2] / "docs" / "dbguard.md").read_text(encoding="utf-8")
SRC = Path(__file__).resolve().parents[2] / "src" / "mamori" / "dbguard"


def test_every_setting_is_documented() -> None:
    for key in sorted(settings._KEYS):
        assert f"`{key}`" in DOC or f"[[dbguard.{key}]]" in DOC, key


def test_every_event_action_is_documented() -> None:
    source = (SRC / "events.py").read_text(encoding="utf-8")
    actions = set(re.findall(r'_base\(\s*"([a-z_]+)"', source))
    assert {"query", "decision", "connect", "disconnect", "auth_failure"} <= actions
    for action in sorted(actions):
        assert f"| `{action}` |" in DOC, action


def test_every_anomaly_is_documented() -> None:
    found: set[str] = set()
    for name in ("tracker.py", "session.py"):
        text = (SRC / name).read_text(encoding="utf-8")
        found |= set(re.findall(r'_anomaly\(\s*"([a-z_]+)"', text))
        found |= set(re.findall(r'_note\("([a-z_]+)"', text))
    assert "row_count_mismatch" in found
    for anomaly in sorted(found):
        assert f"`{anomaly}`" in DOC, anomaly
