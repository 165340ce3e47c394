"""Preparing input lines: objects kept canonical, everything else kept as ingest.rejected."""

from __future__ import annotations

import base64

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.entries import entry_event, entry_index, format_received, make_entry, prepare


def test_object_is_canonicalised() -> None:
    p = prepare(b'{ "b": 1, "a": [true, null] }')
    assert p.rejected is None
    assert p.event == b'{"a":[true,null],"b":1}'


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "not valid JSON"),
        (b"[1,2]", "a JSON array, not an object"),
        (b'"text"', "a JSON string, not an object"),
        (b"42", "a JSON number, not an object"),
        (b"null", "a JSON null, not an object"),
        (b'{"a": "\xff\xfe"}', "not valid UTF-8"),
        (b'{"a": 1', "not valid JSON"),
    ],
)
def test_unusable_input_is_kept_as_rejected_event(raw: bytes, reason: str) -> None:
    p = prepare(raw, line=7)
    assert p.rejected is not None and reason in p.rejected
    event = orjson.loads(p.event)
    assert event["event"]["action"] == "ingest.rejected"
    assert base64.b64decode(event["mamori"]["ingest"]["raw"]) == raw
    assert event["mamori"]["ingest"]["line"] == 7


def test_truncated_input_is_flagged() -> None:
    p = prepare(b'{"a": "xxxx', line=3, truncated_from=5_000_000)
    event = orjson.loads(p.event)
    assert event["mamori"]["ingest"]["truncated"] is True
    assert event["mamori"]["ingest"]["original_bytes"] == 5_000_000
    assert base64.b64decode(event["mamori"]["ingest"]["raw"]) == b'{"a": "xxxx'


def test_entry_carries_index_and_time_and_is_canonical() -> None:
    event = b'{"message":"x,\\"index\\":5,\\"received\\":\\""}'
    entry = make_entry(event, 12, format_received(1_795_000_000_123_456))
    assert entry_index(entry) == 12
    assert orjson.loads(entry)["received"] == "2026-11-18T11:06:40.123456Z"
    assert entry_event(entry) == {"message": 'x,"index":5,"received":"'}


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_prepare_never_raises_and_always_yields_an_object(raw: bytes) -> None:
    p = prepare(raw)
    assert isinstance(orjson.loads(p.event), dict)
