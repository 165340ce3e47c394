"""Tests for mamori.ledger.search.query: the query syntax, its errors, compiling, times."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.ledger.errors import LedgerError
from mamori.ledger.search import SearchIndex
from mamori.ledger.search import fields as F
from mamori.ledger.search import index as I
from mamori.ledger.search.query import (
    MAX_DEPTH,
    MAX_QUERY_CHARS,
    MAX_TERMS,
    And,
    FieldIs,
    IpIn,
    Node,
    Not,
    Or,
    QueryError,
    Words,
    condition_sql,
    field_filter,
    fts_expression,
    parse,
    parse_time,
    plan,
)
from tests.ledger.search.conftest import Ledger, ecs


def w(text: str, pos: int, prefix: bool = False) -> Words:
    return Words(text, prefix, pos)


def ip(text: str) -> bytes:
    key = F.ip_key(text)
    assert key is not None
    return key


# ---------------------------------------------------------------------------- parsing


def test_empty_query_matches_everything() -> None:
    assert parse("") is None
    assert parse("  \t\n ") is None


def test_bare_words_are_anded() -> None:
    assert parse("sshd failed") == And((w("sshd", 0), w("failed", 5)))


def test_phrases_escapes_and_prefixes() -> None:
    assert parse('"session opened"') == w("session opened", 0)
    assert parse(r'"say \"hi\" \\ ok"') == w('say "hi" \\ ok', 0)
    assert parse("auth*") == w("auth", 0, prefix=True)
    assert parse('"session op"*') == w("session op", 0, prefix=True)


@pytest.mark.parametrize(
    ("query", "tree"),
    [
        # OR binds tighter than AND (implicit or written), as in Splunk and Google
        ("a b OR c", And((w("a", 0), Or((w("b", 2), w("c", 7)))))),
        ("a OR b c", And((Or((w("a", 0), w("b", 5))), w("c", 7)))),
        ("a AND b OR c", And((w("a", 0), Or((w("b", 6), w("c", 11)))))),
        ("a OR b OR c", Or((w("a", 0), w("b", 5), w("c", 10)))),
        # NOT binds tighter than OR
        ("NOT a OR b", Or((Not(w("a", 4)), w("b", 9)))),
        ("-a b", And((Not(w("a", 1)), w("b", 3)))),
        # parentheses group
        ("(a b) OR c", Or((And((w("a", 1), w("b", 3))), w("c", 9)))),
        ("-(a OR b)", Not(Or((w("a", 2), w("b", 7))))),
        # double negation cancels; lower-case operators are words
        ("NOT -a", w("a", 5)),
        ("a or b", And((w("a", 0), w("or", 2), w("b", 5)))),
        ('"OR"', w("OR", 0)),
        ("a-b", w("a-b", 0)),
    ],
)
def test_precedence_and_grouping(query: str, tree: Node) -> None:
    assert parse(query) == tree


def test_japanese_words_and_phrases() -> None:
    assert parse("ログイン 失敗") == And((w("ログイン", 0), w("失敗", 5)))
    assert parse("「ログインに失敗」") == w("「ログインに失敗」", 0)
    assert parse('"ユーザー 田中"') == w("ユーザー 田中", 0)
    assert parse("user:田中 失敗") == And((FieldIs("user", "田中", 5), w("失敗", 8)))


def test_fields() -> None:
    assert parse("host:web-01") == FieldIs("host", "web-01", 5)
    assert parse("HOST:Web-01") == FieldIs("host", "web-01", 5)  # known fields fold case
    assert parse('host:"web 01"') == FieldIs("host", "web 01", 5)
    assert parse("severity:ERROR") == FieldIs("severity", "err", 9)
    assert parse("outcome:Failure") == FieldIs("outcome", "failure", 8)
    assert parse("app:ｓｓｈｄ") == FieldIs("app", "sshd", 4)  # NFKC
    assert parse("event.code:4625") == FieldIs("=event.code", "4625", 11)
    assert parse("user.name:Alice") == FieldIs("=user.name", "Alice", 10)  # exact
    assert parse("tags:prod") == FieldIs("=tags", "prod", 5)
    assert parse("-host:db-01") == Not(FieldIs("host", "db-01", 6))


def test_address_fields() -> None:
    assert parse("ip:10.0.0.0/8") == IpIn(0, ip("10.0.0.0"), ip("10.255.255.255"), 3)
    assert parse("ip:10.1.2.3/8") == IpIn(0, ip("10.0.0.0"), ip("10.255.255.255"), 3)
    assert parse("src:192.0.2.1") == IpIn(1, ip("192.0.2.1"), ip("192.0.2.1"), 4)
    assert parse("source.ip:192.0.2.1") == IpIn(1, ip("192.0.2.1"), ip("192.0.2.1"), 10)
    assert parse("dst:2001:db8::/32") == IpIn(
        2, ip("2001:db8::"), ip("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff"), 4
    )
    assert parse("destination.ip:::1") == IpIn(2, ip("::1"), ip("::1"), 15)


@pytest.mark.parametrize(
    "word",
    [
        "http://example.com/x",  # not a field name: text
        "12:30:45",
        "status:200",
        "fe80::1",
        "org.apache.hadoop.MRAppMaster:",  # a logger name followed by a space
        "C:\\Windows",
    ],
)
def test_words_with_colons_that_are_not_fields(word: str) -> None:
    assert parse(word) == w(word, 0)


def test_field_filter_is_the_same_as_in_the_query() -> None:
    assert field_filter("host", "Web-01") == FieldIs("host", "web-01", 5)
    assert field_filter("ip", "10.0.0.0/8") == parse("ip:10.0.0.0/8")
    assert field_filter("event.code", "4625") == FieldIs("=event.code", "4625", 11)
    with pytest.raises(QueryError, match="unknown field 'hots'"):
        field_filter("hots", "x")
    with pytest.raises(QueryError, match="needs a name"):
        field_filter("", "x")
    with pytest.raises(QueryError, match="has no value"):
        field_filter("host", "")


# ---------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("query", "position", "problem"),
    [
        ('foo "bar', 4, "never closed"),
        ("(a b", 0, "never closed"),
        ("a (b", 2, "never closed"),
        ("a b)", 3, "no matching"),
        (")", 0, "no matching"),
        ("()", 0, "empty parentheses"),
        ("a OR", 2, "needs a term on its right"),
        ("a OR )", 2, "needs a term on its right"),
        ("OR a", 0, "needs a term on its left"),
        ("a AND OR b", 2, "needs a term on its right"),
        ("NOT", 0, "needs a term on its right"),
        ("a NOT OR b", 2, "needs a term on its right"),
        ("a - b", 2, "'-' must be followed"),
        ("a -", 2, "'-' must be followed"),
        ("(a -)", 3, "'-' must be followed"),
        ("*", 0, "'*' may only end a word"),
        ("fo*o", 2, "'*' may only end a word"),
        ("a **", 2, "'*' may only end a word"),
        ("host:web*", 8, "'*' cannot be used in a field value"),
        ('host:"web"*', 10, "'*' cannot be used in a field value"),
        ("host:", 0, "has no value"),
        ("a user: b", 2, "has no value"),
        ("ip:10.0.0.300", 3, "not an IP address"),
        ("src:10.0.0.0/33", 4, "not an IP address"),
        ("dst:web-01", 4, "not an IP address"),
        ("@timestamp:2024", 11, "cannot be matched exactly"),
        ('"" a', 0, "empty phrase"),
        ("a 。", 2, "no letter or digit"),
        ('x "---"', 2, "no letter or digit"),
        ("a\x00b", 1, "control character"),
        ("a \ud800", 2, "not valid Unicode"),
    ],
)
def test_errors_name_the_position_and_the_problem(query: str, position: int, problem: str) -> None:
    with pytest.raises(QueryError) as info:
        parse(query)
    err = info.value
    assert isinstance(err, LedgerError)
    assert err.position == position
    assert err.query == query
    assert problem in err.message
    assert f"column {position + 1}" in err.message


def test_limits_are_errors_not_crashes() -> None:
    with pytest.raises(QueryError, match="nests deeper"):
        parse("(" * (MAX_DEPTH + 1) + "a" + ")" * (MAX_DEPTH + 1))
    with pytest.raises(QueryError, match="nests deeper"):
        parse("NOT " * (MAX_DEPTH + 1) + "a")
    with pytest.raises(QueryError, match="longer than"):
        parse("a" * (MAX_QUERY_CHARS + 1))
    with pytest.raises(QueryError, match="more than"):
        parse(" ".join(["a"] * (MAX_TERMS + 1)))
    assert parse("(" * MAX_DEPTH + "a" + ")" * MAX_DEPTH) == w("a", MAX_DEPTH)


def test_error_hints_say_what_to_do() -> None:
    with pytest.raises(QueryError) as info:
        parse("a OR")
    assert info.value.hint is not None and "quotes" in info.value.hint
    with pytest.raises(QueryError) as info:
        parse("@timestamp:x")
    assert info.value.hint is not None and "--since" in info.value.hint


# ---------------------------------------------------------------------------- compiling

_QUOTED = re.compile(r'"(?:[^"]|"")*"')
_SYNTAX = re.compile(r"^(?:\s|[tk]:|AND|OR|NOT|\(|\)|\*)*$")


def user_text_is_quoted(match: str) -> bool:
    """Outside its double-quoted strings, the MATCH holds only mamori's own syntax."""
    return _SYNTAX.match(_QUOTED.sub(" ", match)) is not None


def test_fts_expression_quotes_user_text() -> None:
    assert fts_expression(w('say "hi"', 0)) == 't:"say ""hi"""'
    assert fts_expression(w("auth", 0, prefix=True)) == 't:"auth"*'
    assert fts_expression(w("失", 0)) == 't:" 失 "*'  # a single CJK character is a prefix
    token = F.field_token("host", "web-01")
    assert fts_expression(FieldIs("host", "web-01", 0)) == f'k:"{token}"'
    assert user_text_is_quoted(fts_expression(w('") OR NOT (k:"', 0)))


def test_plan_splits_fts_and_sql_parts() -> None:
    p = plan(parse("a -b ip:10.0.0.0/8"))
    assert p.match == '((t:"a") NOT (t:"b"))'
    assert p.rest == (IpIn(0, ip("10.0.0.0"), ip("10.255.255.255"), 8),)
    # FTS5 cannot select "all but": a lone NOT is left to SQL
    p = plan(parse("-a"))
    assert p.match is None and p.rest == (Not(w("a", 1)),)
    # an OR over an address range and a word is SQL's
    p = plan(parse("a OR ip:10.0.0.1"))
    assert p.match is None and len(p.rest) == 1
    assert plan(None).match is None and plan(None).rest == ()


def test_condition_sql_collects_narrow_sets_and_probes_broad_ones() -> None:
    node = parse("ip:10.0.0.0/8 OR -a")
    assert node is not None
    narrow, params = condition_sql(node, "d.idx", lambda n: False)
    assert "d.idx IN (SELECT p.idx FROM search_ip AS p" in narrow
    assert "NOT (d.idx IN (SELECT f.rowid FROM search_fts AS f" in narrow
    assert params == (ip("10.0.0.0"), ip("10.255.255.255"), 't:"a"')
    broad, params2 = condition_sql(node, "+o.rowid", lambda n: True)
    assert (
        "EXISTS (SELECT 1 FROM search_ip AS p INDEXED BY search_ip_idx WHERE p.idx = +o.rowid"
        in broad
    )
    assert (
        "NOT (EXISTS (SELECT 1 FROM search_fts AS f WHERE f.search_fts MATCH ? AND f.rowid = +o.rowid"
        in broad
    )
    assert params2 == params
    with pytest.raises(ValueError, match="not an id column"):
        condition_sql(node, "1); DROP TABLE x; --", lambda n: False)


# ---------------------------------------------------------------------------- fuzzing

QUERYISH = st.lists(
    st.one_of(
        st.sampled_from(
            [
                "a",
                "web",
                "失敗",
                "ログ",
                "失",
                "OR",
                "AND",
                "NOT",
                "-",
                "(",
                ")",
                '"',
                "*",
                ":",
                "host:",
                "ip:",
                "src:",
                "event.code:",
                "10.0.0.0/8",
                "::1",
                '\\"',
                "\\",
                "user:田中",
                "a*",
                "「",
                "。",
                "'",
                ";",
                "--",
                "%",
                "_",
                "\t",
                "é",
            ]
        ),
        st.text(max_size=5),
    ),
    max_size=12,
).map(lambda parts: " ".join(parts) if len(parts) % 2 else "".join(parts))


@pytest.fixture(scope="module")
def fuzz_index(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[SearchIndex, Ledger]]:
    root: Path = tmp_path_factory.mktemp("fuzz")
    led = Ledger(root / "ledger.db")
    led.append(
        [
            ecs("a web 失敗", src="10.0.0.1", user="田中"),
            ecs("ログイン", dst="::1") | {"event": {"code": "4625"}},
            ecs("other"),
        ]
    )
    with led.reader() as reader, SearchIndex.open(root / "index") as ix:
        ix.catch_up(reader)
        yield ix, led
    led.close()


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(st.text(max_size=40), QUERYISH), st.booleans())
def test_fuzz_any_text_is_a_query_sqlite_accepts_or_a_query_error(
    fuzz_index: tuple[SearchIndex, Ledger], text: str, narrow: bool
) -> None:
    ix, _ = fuzz_index
    try:
        node = parse(text)
    except QueryError as e:
        assert e.position is None or 0 <= e.position <= len(text)
        return
    p = plan(node)
    if p.match is not None:
        assert user_text_is_quoted(p.match)
    old = I.NARROW
    I.NARROW = 1_000_000 if narrow else 1  # exercise both the collecting and probing plans
    try:
        ix.find(node, limit=10)
        ix.find(node, since_us=0, until_us=2**62, limit=10)
    finally:
        I.NARROW = old


# ---------------------------------------------------------------------------- times

NOW = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z


@pytest.mark.parametrize(
    ("text", "us"),
    [
        ("2024-05-01T00:00:00Z", NOW),
        ("2024-05-01t00:00:00z", NOW),
        ("2024-05-01 09:00:00+09:00", NOW),
        ("2024-05-01T00:00:00.5Z", NOW + 500_000),
        ("2024-05-01T00:00:00.123456789Z", NOW + 123_456),
        ("2024-05-01", NOW),  # a date is 00:00 UTC
        ("now", NOW),
        ("30s", NOW - 30_000_000),
        ("15m", NOW - 15 * 60_000_000),
        ("2h", NOW - 2 * 3_600_000_000),
        ("7d", NOW - 7 * 86_400_000_000),
        ("2w", NOW - 14 * 86_400_000_000),
        (" 2 h ", NOW - 2 * 3_600_000_000),
    ],
)
def test_parse_time(text: str, us: int) -> None:
    assert parse_time(text, NOW) == us


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("2024-05-01T09:00:00", "no time zone"),
        ("2024-02-30", "not a valid date"),
        ("2024-05-01T25:00:00Z", "not a valid date"),
        ("yesterday", "not understood"),
        ("-5m", "not understood"),
        ("", "not understood"),
        ("999999999w", "outside the years"),
    ],
)
def test_parse_time_errors(text: str, problem: str) -> None:
    with pytest.raises(QueryError, match=problem):
        parse_time(text, NOW)


def test_times_without_zone_get_a_hint_with_jst() -> None:
    with pytest.raises(QueryError) as info:
        parse_time("2024-05-01T09:00:00", NOW)
    assert info.value.hint is not None and "+09:00" in info.value.hint


@settings(max_examples=200, deadline=None)
@given(
    st.one_of(
        st.sampled_from(["host", "ip", "src", "user", "event.code", "@timestamp"]), st.text()
    ),
    st.text(),
)
def test_fuzz_field_options_are_filters_or_query_errors(
    fuzz_index: tuple[SearchIndex, Ledger], name: str, value: str
) -> None:
    ix, _ = fuzz_index
    try:
        node = field_filter(name, value)
    except QueryError:
        return
    ix.find(node, limit=5)
