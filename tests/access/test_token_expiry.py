"""API token expiry and the `read` scope: 90 days by default, none only when asked for."""

from __future__ import annotations

import datetime as dt
import sqlite3

import orjson
import pytest

from mamori.access import (
    DEFAULT_EXPIRY_DAYS,
    AccessError,
    TokenInfo,
    TokenVerifier,
    add_token,
    list_tokens,
    revoke_token,
)
from mamori.access.tokens import token_hash
from mamori.home import Home
from tests.conftest import run

T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
DAY = dt.timedelta(days=1)


def test_new_tokens_expire_after_90_days(home: Home) -> None:
    assert DEFAULT_EXPIRY_DAYS == 90
    token = add_token(home, "sender", "ingest", now=T0)
    (rec,) = list_tokens(home)
    assert (rec.created, rec.expires) == ("2026-11-27T09:00:00Z", "2027-02-25T09:00:00Z")
    v = TokenVerifier(home)
    end = T0 + 90 * DAY
    assert v.verify(token, "ingest", now=end - dt.timedelta(seconds=1)) == TokenInfo(
        "sender", "ingest"
    )
    assert v.verify(token, "ingest", now=end) is None
    assert v.verify(token, "ingest", now=end + 400 * DAY) is None
    assert not rec.expired(end - DAY) and rec.expired(end)
    assert rec.as_json(end)["expired"] is True and rec.as_json(T0)["expired"] is False
    v.close()


def test_expiry_is_checked_at_the_current_time_by_default(home: Home) -> None:
    now = dt.datetime.now(dt.UTC)
    fresh = add_token(home, "fresh", "read", expires_days=1)
    stale = add_token(home, "stale", "read", expires_days=1, now=now - 2 * DAY)
    v = TokenVerifier(home)
    assert v.verify(fresh, "read") == TokenInfo("fresh", "read")
    assert v.verify(stale, "read") is None
    assert [r.expired() for r in list_tokens(home)] == [False, True]
    v.close()


def test_no_expiry_only_when_asked(home: Home) -> None:
    token = add_token(home, "forever", "metrics", expires_days=None, now=T0)
    (rec,) = list_tokens(home)
    assert rec.expires is None and not rec.expired(T0 + 100_000 * DAY)
    v = TokenVerifier(home)
    assert v.verify(token, "metrics", now=T0 + 10_000 * DAY) is not None
    v.close()


@pytest.mark.parametrize("days", [0, -1, 3651, 10**9])
def test_lifetimes_out_of_range_are_refused(home: Home, days: int) -> None:
    with pytest.raises(AccessError) as info:
        add_token(home, "x", "ingest", expires_days=days)
    assert "lifetime is 1 to 3650 days" in info.value.message
    assert info.value.hint is not None and "--no-expiry" in info.value.hint
    assert list_tokens(home) == []


def test_tokens_from_before_expiry_existed_never_expire(home: Home) -> None:
    # A token row without an expiry row, as every home made before expiry existed has.
    token = "mamori_" + "B" * 43
    conn = sqlite3.connect(home.access_db)
    conn.execute(
        "INSERT INTO tokens(name, scope, hash, created) VALUES ('old', 'ingest', ?, ?)",
        (token_hash(token), "2026-01-01T00:00:00Z"),
    )
    conn.commit()
    conn.close()
    (rec,) = list_tokens(home)
    assert rec.expires is None
    v = TokenVerifier(home)
    assert v.verify(token, "ingest", now=T0 + 1000 * DAY) == TokenInfo("old", "ingest")
    v.close()


def test_revoked_record_keeps_its_expiry(home: Home) -> None:
    add_token(home, "sender", "read", now=T0)
    r = revoke_token(home, "sender")
    assert r.expires == "2027-02-25T09:00:00Z" and r.revoked_at is not None


def test_read_scope_is_its_own(home: Home) -> None:
    token = add_token(home, "automation", "read")
    v = TokenVerifier(home)
    assert v.verify(token, "read") == TokenInfo("automation", "read")
    assert v.verify(token, "ingest") is None and v.verify(token, "metrics") is None
    v.close()


def test_cli_expiry_options(home: Home) -> None:
    h = ["--home", str(home.root)]
    default = run(["tokens", "add", "a", "--scope", "ingest", *h])
    assert default.returncode == 0, default.stderr
    assert b"expires 20" in default.stderr
    days = run(["tokens", "add", "b", "--scope", "read", "--expires-days", "7", *h])
    assert days.returncode == 0, days.stderr
    never = run(["tokens", "add", "c", "--scope", "metrics", "--no-expiry", *h])
    assert never.returncode == 0 and b"never expires" in never.stderr
    zero = run(["tokens", "add", "d", "--scope", "ingest", "--expires-days", "0", *h])
    assert zero.returncode == 2 and b"--no-expiry" in zero.stderr and zero.stdout == b""
    both = run(
        ["tokens", "add", "e", "--scope", "ingest", "--expires-days", "7", "--no-expiry", *h]
    )
    assert both.returncode == 2 and b"not both" in both.stderr and both.stdout == b""

    docs = orjson.loads(run(["tokens", "list", "--json", *h]).stdout)
    by_name = {d["name"]: d for d in docs}
    assert set(by_name) == {"a", "b", "c"}
    now = dt.datetime.now(dt.UTC)
    for name, lifetime in (("a", 90), ("b", 7)):
        expires = dt.datetime.fromisoformat(by_name[name]["expires"])
        assert abs(expires - (now + lifetime * DAY)) < dt.timedelta(minutes=5)
        assert by_name[name]["expired"] is False
    assert by_name["c"]["expires"] is None
    table = run(["tokens", "list", *h]).stdout.decode()
    assert "EXPIRES" in table and "never" in table
