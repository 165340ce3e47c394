"""`mamori notify routes|test|flush|list`, through the Typer sub-app the CLI mounts."""

from __future__ import annotations

import time

import orjson
import pytest
from typer.testing import CliRunner

from mamori.cli.notify import _print_result, app
from mamori.home import Home
from mamori.notify.dispatch import DeliveryResult, Outcome
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Transport
from mamori.notify.queue import enqueue
from tests.notify.helpers import actions, alert
from tests.notify.servers import configure, smtp_server, webhook_server, write_secret
from tests.service.svc import free_port

SECRET = b"0123456789abcdef0123456789abcdef"


def invoke(home: Home, *args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--home", str(home.root)])
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout, result.stderr


def routes(home: Home, hook_port: int, smtp_port: int) -> None:
    path = write_secret(home, "hook", SECRET)
    configure(
        home,
        f"""
[smtp]
host = "127.0.0.1"
port = {smtp_port}
security = "none"
from = "mamori@example.jp"

[[route]]
name = "mail"
kind = "email"
to = ["soc@example.jp"]
rules = ["mamori.auth.*"]

[[route]]
name = "hook"
kind = "webhook"
url = "http://127.0.0.1:{hook_port}/secret-token-in-path"
secret_file = "{path}"
min_severity = "critical"
kinds = ["breach", "csirt"]
""",
    )


def test_routes(home: Home) -> None:
    routes(home, 9, 25)
    code, out, _ = invoke(home, "routes", "--json")
    assert code == 0
    assert orjson.loads(out) == [
        {
            "name": "mail",
            "kind": "email",
            "target": "soc@example.jp",
            "min_severity": "high",
            "rules": ["mamori.auth.*"],
            "kinds": ["alert", "escalation", "incident", "breach", "ticket"],
        },
        {
            "name": "hook",
            "kind": "webhook",
            "target": "http://127.0.0.1:9/…",
            "min_severity": "critical",
            "rules": [],
            "kinds": ["breach", "csirt"],
        },
    ]
    code, out, _ = invoke(home, "routes")
    assert code == 0 and "mail" in out and "http://127.0.0.1:9/…" in out
    assert "secret-token-in-path" not in out and SECRET.decode() not in out


def test_routes_when_none(home: Home) -> None:
    code, out, err = invoke(home, "routes")
    assert code == 0 and out == "" and "no routes" in err


def test_test_sends_now(home: Home) -> None:
    with webhook_server(None) as (rx, hook_port), smtp_server() as (inbox, smtp_port):
        routes(home, hook_port, smtp_port)
        code, out, _ = invoke(home, "test", "hook", "--json")
        assert code == 0, out
        result = orjson.loads(out)
        assert result["outcome"] == "sent" and result["detail"] == "HTTP 200"
        assert result["route"] == "hook" and result["kind"] == "breach"
        code, out, _ = invoke(home, "test", "mail")
    assert code == 0 and out.startswith("sent      #2 via mail: Message-ID <")
    assert len(rx.requests) == 1
    assert orjson.loads(rx.requests[0].body)["payload"] == {"test": True}
    (msg,) = inbox.messages()
    assert "テスト通知" in str(msg["Subject"])
    assert actions(home) == ["notify.queued", "notify.sent", "notify.queued", "notify.sent"]


def test_test_reports_a_failure_with_exit_status_1(home: Home) -> None:
    routes(home, free_port(), free_port())
    code, out, _ = invoke(home, "test", "mail")
    assert code == 1
    assert out.startswith("deferred  #1 via mail (attempt 1, next ")
    assert "cannot reach the SMTP server" in out


def test_test_an_unknown_route(home: Home) -> None:
    with pytest.raises(NotifyError, match="there is no route 'nope'") as info:
        invoke(home, "test", "nope")
    assert "mamori notify routes" in (info.value.hint or "")


def test_flush_and_list(home: Home) -> None:
    with webhook_server(None) as (_rx, hook_port):
        routes(home, hook_port, free_port())
        enqueue(home, alert(rule="mamori.auth.bruteforce"))  # mail (server down)
        enqueue(home, alert(kind=Kind.BREACH))  # mail and hook
        code, out, _ = invoke(home, "flush", "--json")
        assert code == 1  # something failed
        results = orjson.loads(out)
        assert sorted((r["route"], r["outcome"]) for r in results) == [
            ("hook", "sent"),
            ("mail", "deferred"),
            ("mail", "deferred"),
        ]
        code, out, err = invoke(home, "flush")
        assert code == 0 and out == "" and "nothing is due" in err
    code, out, _ = invoke(home, "list", "--state", "pending", "--json")
    pending = orjson.loads(out)
    assert [d["route"] for d in pending] == ["mail", "mail"]
    assert all(d["attempts"] == 1 and d["next_at"] > time.time() for d in pending)
    code, out, _ = invoke(home, "list")
    lines = out.splitlines()
    assert lines[0].split() == ["ID", "STATE", "TRIES", "CREATED", "ROUTE", "KIND", "SUBJECT"]
    assert "sent" in out and "pending" in out and "HTTP 200" in out
    assert "cannot reach the SMTP server" in out and "(next attempt " in out
    code, _, err = invoke(home, "list", "--state", "failed")
    assert code == 0 and "no deliveries" in err
    code, _, _ = invoke(home, "list", "--state", "bogus")
    assert code == 2


@pytest.mark.parametrize("outcome", list(Outcome))
def test_every_outcome_prints(outcome: Outcome, capsys: pytest.CaptureFixture[str]) -> None:
    result = DeliveryResult(
        id=7,
        delivery="d",
        route=None,
        transport=Transport.EMAIL,
        kind=Kind.CSIRT,
        subject="s",
        outcome=outcome,
        detail="why",
        attempts=1,
        next_at=0.0 if outcome is Outcome.DEFERRED else None,
    )
    _print_result(result)
    out = capsys.readouterr().out
    assert out.startswith(f"{outcome.value} ") and "#7 via direct e-mail" in out and "why" in out
