"""`classify` and `allowlist` (mamori.cli.dbguard_sql), through Typer's runner."""

from __future__ import annotations

import orjson
from typer.testing import CliRunner

from mamori.cli.dbguard_sql import app
from mamori.dbguard.allowlist import Allowlist
from mamori.dbguard.analysis import analyse
from mamori.home import Home


def lines(output: str) -> list[dict[str, object]]:
    return [orjson.loads(line) for line in output.splitlines() if line.strip()]


def test_classify_one_statement_a_line() -> None:
    given = (
        "SELECT * FROM users WHERE id = 1\n"
        "\n"
        "SELECT * FROM users WHERE id = 1 OR 1=1\n"
        "SELECT * FROM users WHERE id = 1 AND 1=2\n"
        "SELECT * FROM users WHERE id = '1\n"
    )
    result = CliRunner().invoke(app, ["classify"], input=given)
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert [o["verdict"] for o in out] == ["allow", "block", "alert", "alert"]
    assert out[0] == {
        "verdict": "allow",
        "reasons": [],
        "fingerprint": analyse("SELECT * FROM users WHERE id = 1").fingerprint,
        "kinds": ["select"],
    }
    assert out[1]["reasons"] == [
        {
            "code": "sqli.tautology",
            "detail": "OR with a condition that does not depend on the row and is always true",
            "clause": "DB-4",
        }
    ]
    assert out[3]["fingerprint"] == "" and out[3]["kinds"] == []


def test_classify_nul_separated_keeps_newlines_inside_statements() -> None:
    given = b"SELECT a,\n b FROM t\0SELECT 1;\nDROP TABLE t\0\0"
    result = CliRunner().invoke(app, ["classify", "--null", "--json"], input=given)
    assert result.exit_code == 0, result.output
    out = lines(result.output)
    assert len(out) == 2
    assert out[1]["kinds"] == ["select", "ddl"]


def test_classify_invalid_utf8_is_refused_not_a_crash() -> None:
    result = CliRunner().invoke(app, ["classify"], input=b"SELECT '\xff'\n")
    assert result.exit_code == 0, result.output
    [out] = lines(result.output)
    assert out["verdict"] == "alert"
    assert out["reasons"][0]["code"] == "sqli.unparseable"  # type: ignore[index]


def test_allowlist_commands(home: Home) -> None:
    runner = CliRunner()
    at = ["--home", str(home.root)]
    sql = "SELECT id FROM orders WHERE user_id = 42"
    fp = analyse(sql).fingerprint
    approved = runner.invoke(
        app,
        ["allowlist", "approve", "--sql", sql, "--role", "app", "--application", "web",
         "--as", "alice", *at],
    )  # fmt: skip
    assert approved.exit_code == 0, approved.output
    assert fp in approved.output and "approved" in approved.output

    listed = runner.invoke(app, ["allowlist", "list", "--json", *at])
    assert listed.exit_code == 0, listed.output
    [entry] = orjson.loads(listed.output)
    assert entry["fingerprint"] == fp and entry["approved_by"] == "alice"
    assert entry["normalized"] == "SELECT id FROM orders WHERE user_id = $1"
    text = runner.invoke(app, ["allowlist", "list", *at])
    assert fp in text.output and "orders" in text.output

    with Allowlist.open(home) as a:
        assert a.allows("app", "web", fp)

    revoked = runner.invoke(app, ["allowlist", "revoke", fp, "--as", "bob", *at])
    assert revoked.exit_code == 0, revoked.output
    assert "revoked" in revoked.output
    again = runner.invoke(app, ["allowlist", "revoke", fp, *at])
    assert again.exit_code != 0
    assert "is not allowed" in str(again.exception)


def test_approve_refuses_an_unparseable_statement_or_a_mismatch(home: Home) -> None:
    runner = CliRunner()
    at = ["--home", str(home.root)]
    bad = runner.invoke(app, ["allowlist", "approve", "--sql", "SELECT '", *at])
    assert bad.exit_code != 0 and "cannot be approved" in str(bad.exception)
    mismatch = runner.invoke(
        app, ["allowlist", "approve", "0123456789abcdef", "--sql", "SELECT 1", *at]
    )
    assert mismatch.exit_code != 0 and "not 0123456789abcdef" in str(mismatch.exception)
    nothing = runner.invoke(app, ["allowlist", "approve", *at])
    assert nothing.exit_code != 0 and "nothing to approve" in str(nothing.exception)
