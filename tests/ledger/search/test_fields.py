"""Tests for mamori.ledger.search.fields: what the index keeps of one event."""

from __future__ import annotations

import re
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mamori.ledger.search import fields as F

RECEIVED = 1_714_521_600_000_000  # 2024-05-01T00:00:00Z
_TOKEN = re.compile(r"[^\W_]+")


def tokens(event: dict[str, Any]) -> set[str]:
    return set(F.extract(event, RECEIVED).tokens.split())


def test_leaves_nested_and_dotted_keys_give_the_same_paths() -> None:
    nested = {"host": {"name": "a", "ip": ["10.0.0.1", "10.0.0.2"]}, "n": 1}
    dotted = {"host.name": "a", "host.ip": ["10.0.0.1", "10.0.0.2"], "n": 1}
    mixed = {"host": {"name": "a"}, "host.ip": ["10.0.0.1", "10.0.0.2"], "n": 1}
    expected = [("host.name", "a"), ("host.ip", "10.0.0.1"), ("host.ip", "10.0.0.2"), ("n", 1)]
    assert F.leaves(nested) == expected
    assert F.leaves(dotted) == expected
    assert sorted(F.leaves(mixed)) == sorted(expected)


def test_leaves_descends_lists_of_objects_and_stops_at_the_depth_bound() -> None:
    event = {"a": [{"b": 1}, {"b": [2, [3]]}]}
    assert F.leaves(event) == [("a.b", 1), ("a.b", 2), ("a.b", 3)]
    deep: dict[str, Any] = {"v": "leaf"}
    for _ in range(F.MAX_DEPTH + 5):
        deep = {"x": deep}
    assert F.leaves(deep) == []  # no RecursionError, nothing beyond the bound


def test_known_fields_are_found_nested_or_dotted() -> None:
    for event in (
        {"host": {"name": "Web-01"}, "user": {"name": "alice"}, "process": {"name": "sshd"}},
        {"host.name": "Web-01", "user.name": "alice", "process.name": "sshd"},
    ):
        found = tokens(event)
        assert F.field_token("host", "web-01") in found  # normalised: case folded
        assert F.field_token("user", "alice") in found
        assert F.field_token("app", "sshd") in found
        # and the exact, case-sensitive token of each path
        assert F.field_token("=host.name", "Web-01") in found
        assert F.field_token("=host.name", "web-01") not in found


@pytest.mark.parametrize(
    ("path", "value"),
    [
        ("host.hostname", "db-02"),
        ("log.syslog.appname", "cron"),
        ("service.name", "cron"),
        ("event.action", "user-login"),
        ("event.outcome", "FAILURE"),
    ],
)
def test_every_alias_of_a_short_name_is_read(path: str, value: str) -> None:
    kind = {
        "host.hostname": "host",
        "log.syslog.appname": "app",
        "service.name": "app",
        "event.action": "action",
        "event.outcome": "outcome",
    }[path]
    assert F.field_token(kind, value.lower()) in tokens({path: value})


def test_app_collects_every_source_of_the_application_name() -> None:
    found = tokens({"process.name": "sshd", "service.name": "ssh", "log.syslog.appname": "auth"})
    assert {F.field_token("app", v) for v in ("sshd", "ssh", "auth")} <= found


@pytest.mark.parametrize(
    ("event", "name"),
    [
        ({"log.level": "ERROR"}, "err"),
        ({"log.level": "warn"}, "warning"),
        ({"log.syslog.severity.name": "crit"}, "crit"),
        ({"log.syslog.severity.code": 3}, "err"),
        ({"event.severity": "Critical"}, "crit"),
        ({"event.severity": 3}, "3"),  # a number whose meaning depends on the source
        ({"log.level": "ＥＲＲＯＲ"}, "err"),  # full-width, NFKC
    ],
)
def test_severity_is_normalised_to_rfc5424_keywords(event: dict[str, Any], name: str) -> None:
    assert F.field_token("severity", name) in tokens(event)


def test_severity_code_outside_syslog_range_gives_no_severity() -> None:
    found = tokens({"log.syslog.severity.code": 9})
    assert not any(F.field_token("severity", v) in found for v in ("9", "debug", "emerg"))


def test_generic_tokens_use_json_text_for_non_strings() -> None:
    found = tokens({"event.code": 4625, "ok": True, "none": None, "ratio": 0.5, "big": 1e21})
    assert F.field_token("=event.code", "4625") in found
    assert F.field_token("=ok", "true") in found
    assert F.field_token("=none", "null") in found
    assert F.field_token("=ratio", "0.5") in found
    assert F.field_token("=big", "1e+21") in found


def test_time_from_timestamp_or_received() -> None:
    assert F.extract({"@timestamp": "2024-05-01T09:00:00+09:00"}, 0).time_us == RECEIVED
    assert F.extract({"@timestamp": "2024-05-01T00:00:00.5Z"}, 0).time_us == RECEIVED + 500_000
    # nanoseconds are cut to µs; no zone means UTC (ECS @timestamp is UTC)
    assert F.extract({"@timestamp": "2024-05-01T00:00:00.123456789Z"}, 0).time_us == (
        RECEIVED + 123_456
    )
    assert F.extract({"@timestamp": "2024-05-01T00:00:00"}, 0).time_us == RECEIVED
    assert F.extract({"@timestamp": "yesterday"}, 42).time_us == 42
    assert F.extract({"@timestamp": 1714521600}, 42).time_us == 42
    assert F.extract({"message": "x"}, 42).time_us == 42
    assert F.extract({"@timestamp": "2024-05-01T00:00:00Z"}, 0).time_us == F.parse_timestamp(
        "2024-05-01 00:00:00z"
    )


def test_addresses_by_role() -> None:
    ex = F.extract(
        {
            "source": {"ip": "10.1.2.3"},
            "client.ip": "2001:db8::1",
            "destination": {"ip": "192.0.2.7"},
            "server": {"ip": "not an address"},
            "host": {"ip": "10.9.9.9"},  # not a source or destination
        },
        0,
    )
    assert set(ex.ips) == {
        (F.ROLE_SOURCE, F.ip_key("10.1.2.3")),
        (F.ROLE_SOURCE, F.ip_key("2001:db8::1")),
        (F.ROLE_DESTINATION, F.ip_key("192.0.2.7")),
    }


def test_ip_keys_sort_by_address_and_map_ipv4() -> None:
    a, b, c = (F.ip_key(x) for x in ("10.0.0.1", "10.0.0.255", "10.0.1.0"))
    assert a is not None and b is not None and c is not None
    assert a < b < c
    assert a == bytes(10) + b"\xff\xff\x0a\x00\x00\x01"
    assert F.ip_key("fe80::1%eth0") == F.ip_key("fe80::1")
    assert F.ip_key("010.0.0.1") is None  # leading zeros are ambiguous (octal): refused
    assert F.ip_key("example.com") is None


def test_text_is_the_message_first_then_other_strings_without_timestamps() -> None:
    ex = F.extract(
        {
            "@timestamp": "2024-05-01T00:00:00Z",
            "event": {"created": "2024-05-01T00:00:01Z", "code": 4625},
            "host": {"name": "web-01"},
            "message": "login failed",
            "user": {"name": "web-01"},  # duplicate string: indexed once
        },
        0,
    )
    assert ex.text == "login failed\nweb-01"


def test_text_is_bounded() -> None:
    ex = F.extract({"message": "a " * F.MAX_TEXT_CHARS, "other": "zzz"}, 0)
    assert len(ex.text) == F.MAX_TEXT_CHARS
    assert "zzz" not in ex.text


def test_field_tokens_are_bounded_but_text_is_kept() -> None:
    event = {f"f{i:04d}": f"v{i}" for i in range(F.MAX_FIELDS + 10)}
    ex = F.extract(event, 0)
    assert F.field_token("=f0000", "v0") in ex.tokens.split()
    assert F.field_token(f"=f{F.MAX_FIELDS + 5:04d}", f"v{F.MAX_FIELDS + 5}") not in ex.tokens
    assert f"v{F.MAX_FIELDS + 5}" in ex.text


def test_analyze_leaves_ascii_alone_and_bigrams_cjk_runs() -> None:
    assert F.analyze("Invalid user root") == "Invalid user root"
    assert F.analyze("ログイン失敗").split() == ["ログ", "グイ", "イン", "ン失", "失敗", "敗"]
    assert F.analyze("a失b").split() == ["a", "失", "b"]
    # NFKC: half-width katakana and full-width letters are folded first
    assert F.analyze("ﾛｸﾞｲﾝ ＡＢＣ").split() == ["ログ", "グイ", "イン", "ン", "ABC"]
    # the katakana middle dot separates runs
    assert F.analyze("データ・ベース").split() == ["デー", "ータ", "タ", "・", "ベー", "ース", "ス"]


@pytest.mark.parametrize(
    ("text", "analysed", "prefix"),
    [
        ("失敗", "失敗", False),  # the indexed run may go on: no trailing 敗
        ("失", "失", True),  # 失 starts a bigram or ends a run: a prefix
        ("ログイン alice", "ログ グイ イン ン alice", False),  # the run ends at the space
        ("alice 失", "alice 失", True),
        ("失。", "失 。", False),
        ("web", "web", False),
    ],
)
def test_query_tokens(text: str, analysed: str, prefix: bool) -> None:
    got, got_prefix = F.query_tokens(text)
    assert (got.split(), got_prefix) == (analysed.split(), prefix)


# CJK only: ASCII words match whole words (unicode61), not substrings, by design.
@given(st.text(alphabet="ログイン失敗認証エラー 、", min_size=1, max_size=12), st.data())
def test_a_query_substring_is_a_phrase_of_the_indexed_tokens(
    text: str, data: st.DataObject
) -> None:
    """Any substring of indexed text, analysed as a query, is found among the indexed tokens."""
    i = data.draw(st.integers(0, len(text) - 1))
    j = data.draw(st.integers(i + 1, len(text)))
    needle = text[i:j]
    indexed = _TOKEN.findall(F.analyze(text))  # unicode61: punctuation separates, is no token
    query, prefix = F.query_tokens(needle)
    q = _TOKEN.findall(query)
    if not q:
        return
    for start in range(len(indexed) - len(q) + 1):
        window = indexed[start : start + len(q)]
        if window[:-1] == q[:-1] and (
            window[-1].startswith(q[-1]) if prefix else window[-1] == q[-1]
        ):
            return
    raise AssertionError(f"{needle!r} not found in {indexed!r} as {q!r} prefix={prefix}")


def test_has_token() -> None:
    assert F.has_token("a")
    assert F.has_token("失")
    assert F.has_token("１")
    assert not F.has_token("---")
    assert not F.has_token("。、")


def test_field_token_is_stable_and_distinguishes_kind_and_value() -> None:
    assert F.field_token("host", "a") == F.field_token("host", "a")
    assert len(F.field_token("host", "a")) == 16
    assert F.field_token("host", "a") != F.field_token("user", "a")
    assert F.field_token("=user.name", "a") != F.field_token("user", "a")
