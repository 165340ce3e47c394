"""End-user tokens (DB-2): making, checking, recognising the SET, rewriting it."""

from __future__ import annotations

import pytest

from mamori.dbguard.enduser import (
    Change,
    Unverified,
    change_of,
    end_user_token,
    quote_literal,
    rewrite,
    set_statement,
    verify_token,
)

KEY = b"0123456789abcdef0123456789abcdef"
NOW = 1_800_000_000.0


def check(token: str, key: bytes | None = KEY, now: float = NOW) -> tuple[str, bool, object]:
    c = verify_token(token, key, now=now, max_age_s=300)
    return c.user, c.verified, c.problem


def test_a_fresh_token_verifies() -> None:
    token = end_user_token("alice", KEY, NOW)
    user, ts, mac = token.split(":")
    assert (user, ts, len(mac)) == ("alice", "1800000000", 64)
    assert check(token) == ("alice", True, None)
    assert check(token.upper().replace("ALICE", "alice")) == ("alice", True, None)  # hex case
    assert check(end_user_token("a:b", KEY, NOW)) == ("a:b", True, None)  # ':' in a user


@pytest.mark.parametrize(
    ("token", "problem"),
    [
        (end_user_token("alice", KEY, NOW).replace("alice", "alicf"), Unverified.BAD_SIGNATURE),
        (
            end_user_token("alice", b"another key of 32 bytes.........", NOW),
            Unverified.BAD_SIGNATURE,
        ),
        (end_user_token("alice", KEY, NOW - 301), Unverified.EXPIRED),
        (end_user_token("alice", KEY, NOW + 31), Unverified.FUTURE),
        ("alice", Unverified.MALFORMED),
        ("alice:notatime:ff", Unverified.MALFORMED),
        ("alice:1800000000:ｆｆ", Unverified.BAD_SIGNATURE),  # non-ASCII: no exception
        ("alice:99999999999999999:ff", Unverified.MALFORMED),
    ],
)
def test_what_does_not_verify(token: str, problem: Unverified) -> None:
    user, verified, got = check(token)
    assert not verified and got is problem
    assert user.startswith("ali")


def test_no_key_means_unverified() -> None:
    assert check(end_user_token("bob", KEY, NOW), key=None) == ("bob", False, Unverified.NO_KEY)


def test_the_user_name_is_checked() -> None:
    for bad in ("", "a\nb", "x" * 257):
        with pytest.raises(ValueError, match="end user"):
            end_user_token(bad, KEY, NOW)


@pytest.mark.parametrize("user", ["o'brien", "back\\slash", "日本 太郎"])
def test_set_statement_round_trips_through_the_parser(user: str) -> None:
    sql = set_statement(user, KEY, NOW)
    change = change_of(sql)
    assert change is not None and change.value == end_user_token(user, KEY, NOW)
    assert rewrite(sql, change, user) == f"SET mamori.end_user = {quote_literal(user)}"


@pytest.mark.parametrize(
    ("sql", "value"),
    [
        ("SET mamori.end_user = 'a:1:ff'", "a:1:ff"),
        ("set session MAMORI.END_USER to 'a:1:ff'", "a:1:ff"),
        ("SET LOCAL mamori.end_user = alice", "alice"),
        ("SET mamori.end_user = 42", "42"),
        ("SET /* = */ mamori.end_user = 'x' -- trailing", "x"),
    ],
)
def test_sets_are_recognised(sql: str, value: str) -> None:
    change = change_of(sql)
    assert change is not None and change.value == value
    start, end = change.span
    assert sql[start:end].strip("'") == value


@pytest.mark.parametrize(
    "sql",
    ["RESET mamori.end_user", "SET mamori.end_user TO DEFAULT", "RESET ALL", "DISCARD ALL"],
)
def test_resets_are_recognised(sql: str) -> None:
    assert change_of(sql) == Change(None)


@pytest.mark.parametrize(
    "sql",
    [
        "SET search_path = public",
        "SELECT set_config('mamori.end_user', 'x', false)",
        "DISCARD PLANS",
        "RESET work_mem",
        "SELECT 'mamori.end_user'",
        "SET mamori.end_user = 'unterminated",
        "SET mamori.end_user = 'a'; SELECT 1",
    ],
)
def test_everything_else_is_not_a_change(sql: str) -> None:
    assert change_of(sql) is None
