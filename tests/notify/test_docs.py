"""docs/notify.md cannot drift: every setting, kind, audit action and command is in it, and
its receiver's snippet verifies real signatures."""

from __future__ import annotations

import re
import time
from pathlib import Path
from typing import Any

import typer.main

from mamori.cli.notify import app
from mamori.notify import settings
from mamori.notify.kinds import Kind, Security, Severity
from mamori.notify.signature import sign

DOC = (Path(__file__).resolve().parents[2] / "docs" / "notify.md").read_text(encoding="utf-8")
SRC = Path(__file__).resolve().parents[2] / "src" / "mamori" / "notify"


def test_every_setting_is_documented() -> None:
    for key in sorted(settings._SMTP_KEYS | settings._ROUTE_KEYS):
        assert f"| `{key}` |" in DOC, key


def test_every_kind_severity_and_security_is_documented() -> None:
    for value in [*Kind, *Severity, *Security]:
        assert f"`{value.value}`" in DOC or f'"{value.value}"' in DOC, value


def test_every_audit_action_is_documented() -> None:
    used = set()
    for path in SRC.rglob("*.py"):
        used |= set(re.findall(r'"(notify\.[a-z]+)"', path.read_text(encoding="utf-8"))) - {
            "notify.db"
        }
    assert used == {
        "notify.queued",
        "notify.unrouted",
        "notify.sent",
        "notify.deferred",
        "notify.failed",
    }
    for action in used:
        assert f"| `{action}` |" in DOC, action


def test_every_command_is_documented() -> None:
    group = typer.main.get_group(app)
    for name in group.commands:
        assert f"`mamori notify {name}" in DOC, name


def test_the_receiver_snippet_verifies_real_signatures() -> None:
    section = DOC.split("### Verifying a request", 1)[1]
    code = section.split("```python\n", 1)[1].split("```", 1)[0]
    scope: dict[str, Any] = {}
    exec(compile(code, "docs/notify.md", "exec"), scope)
    verify = scope["verify"]
    key = b"0123456789abcdef0123456789abcdef"
    body = '{"subject":"不正ログイン"}'.encode()
    ts = int(time.time())
    headers = {"X-Mamori-Timestamp": str(ts), "X-Mamori-Signature": sign(key, ts, body)}
    assert verify(key, headers, body)
    assert not verify(b"another key of some length", headers, body)
    assert not verify(key, headers, body + b" ")
    old = {"X-Mamori-Timestamp": str(ts - 301), "X-Mamori-Signature": sign(key, ts - 301, body)}
    assert not verify(key, old, body)
    assert not verify(key, {}, body)
