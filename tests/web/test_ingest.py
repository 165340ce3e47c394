"""mamori.web.ingest: request checks, gzip with a cap, body decoding, provenance (pure)."""

from __future__ import annotations

import gzip
import tracemalloc
import zlib
from typing import Any, get_args

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.web.errors import HttpError
from mamori.web.ingest import (
    BOUNDARY_FORMATS,
    JSON_TYPES,
    LINES_TYPES,
    MAX_LISTED,
    BodyError,
    BodyFormat,
    GzipInflater,
    choose_format,
    decode_body,
    source_address,
    stamp,
    wants_gzip,
)
from tests.boundary_samples import (
    EVE_ALERT,
    EVE_FLOW,
    VPC_ACCEPT,
    VPC_HEADER,
    VPC_REJECT,
    ZEEK_JSON,
    ZEEK_TSV,
)

FORMATS: tuple[BodyFormat, ...] = get_args(BodyFormat)


def _events(result: list[dict[str, Any]] | BodyError) -> list[dict[str, Any]]:
    assert isinstance(result, list), result
    return result


def _error(result: list[dict[str, Any]] | BodyError) -> BodyError:
    assert isinstance(result, BodyError), result
    return result


def _items(result: list[dict[str, Any]] | BodyError) -> list[dict[str, Any]]:
    return [i.as_json() for i in _error(result).items]


def _status(exc: pytest.ExceptionInfo[HttpError]) -> int:
    return exc.value.status


# --- Content-Type, ?format=, Content-Encoding ------------------------------------------------


@pytest.mark.parametrize(
    ("content_type", "fmt", "expected"),
    [
        ("application/json", None, "json"),
        ("Application/JSON; charset=utf-8", None, "json"),
        ("application/x-ndjson", None, "lines"),
        ("application/jsonl", None, "lines"),
        ("application/jsonlines", None, "lines"),
        ("text/plain; charset=UTF-8", None, "lines"),
        ('text/plain; charset="utf-8"', None, "lines"),
        ("text/plain", "zeek", "zeek"),
        ("application/x-ndjson", "suricata", "suricata"),
        ("text/plain", "vpcflow", "vpcflow"),
    ],
)
def test_choose_format(content_type: str, fmt: str | None, expected: str) -> None:
    assert choose_format(content_type, fmt) == expected


@pytest.mark.parametrize(
    ("content_type", "fmt", "status", "named"),
    [
        (None, None, 415, "application/x-ndjson"),
        ("", None, 415, "application/json"),
        ("application/xml", None, 415, "text/plain"),
        ("application/x-www-form-urlencoded", None, 415, "application/json"),  # curl's default
        ("text/plain; charset=latin-1", None, 415, "UTF-8"),
        ("application/json", "zeek", 415, "text/plain"),
        ("text/plain", "syslog", 400, "format=zeek"),
        ("text/plain", "", 400, "vpcflow"),
    ],
)
def test_choose_format_refuses(
    content_type: str | None, fmt: str | None, status: int, named: str
) -> None:
    with pytest.raises(HttpError) as exc:
        choose_format(content_type, fmt)
    assert _status(exc) == status
    assert named in exc.value.message + (exc.value.hint or "")


def test_every_accepted_type_is_named_in_the_415_hint() -> None:
    with pytest.raises(HttpError) as exc:
        choose_format("image/png", None)
    for media in (*JSON_TYPES, *LINES_TYPES):
        assert media in (exc.value.hint or "")


@pytest.mark.parametrize(
    ("value", "expected"),
    [(None, False), ("identity", False), ("gzip", True), ("GZIP", True), ("x-gzip", True)],
)
def test_wants_gzip(value: str | None, expected: bool) -> None:
    assert wants_gzip(value) is expected


@pytest.mark.parametrize("value", ["br", "deflate", "gzip, br", "zstd"])
def test_other_encodings_are_415(value: str) -> None:
    with pytest.raises(HttpError) as exc:
        wants_gzip(value)
    assert _status(exc) == 415
    assert "gzip" in (exc.value.hint or "")


# --- gzip -------------------------------------------------------------------------------------


def _inflate(data: bytes, limit: int, chunk: int = 4096) -> bytes:
    inflater = GzipInflater(limit)
    out = b"".join(inflater.feed(data[i : i + chunk]) for i in range(0, len(data), chunk))
    inflater.finish()
    return out


def test_gzip_round_trip_in_any_chunking() -> None:
    plain = b"".join(b'{"n": %d}\n' % i for i in range(5000))
    packed = gzip.compress(plain)
    for chunk in (1, 7, 4096, len(packed)):
        assert _inflate(packed, len(plain), chunk) == plain


def test_gzip_concatenated_members_are_one_stream() -> None:
    # RFC 1952 §2.2: a gzip file is a series of members; gzip(1) decompresses them all.
    packed = gzip.compress(b'{"a": 1}\n') + gzip.compress(b'{"b": 2}\n')
    assert _inflate(packed, 100, chunk=5) == b'{"a": 1}\n{"b": 2}\n'


def test_gzip_limit_is_exact() -> None:
    plain = b"x" * 1000
    assert _inflate(gzip.compress(plain), 1000) == plain
    with pytest.raises(HttpError) as exc:
        _inflate(gzip.compress(plain), 999)
    assert _status(exc) == 413
    assert "decompressed" in exc.value.message


def test_gzip_bomb_stops_at_the_limit_without_the_memory() -> None:
    # 200 MB of zeros is ~200 kB of gzip; decoding it whole would take 200 MB.
    packer = zlib.compressobj(9, zlib.DEFLATED, 31)
    block = bytes(1 << 20)
    bomb = b"".join(packer.compress(block) for _ in range(200)) + packer.flush()
    assert len(bomb) < 1 << 20
    limit = 1 << 20
    tracemalloc.start()
    try:
        with pytest.raises(HttpError) as exc:
            _inflate(bomb, limit, chunk=65536)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert _status(exc) == 413
    assert peak < 4 * limit, f"peak {peak} bytes while decoding a bomb with a {limit}-byte cap"


@pytest.mark.parametrize(
    "data",
    [
        b"not gzip at all",
        gzip.compress(b'{"a": 1}\n')[:-6],  # truncated inside the trailer
        gzip.compress(b'{"a": 1}\n')[:12],  # truncated inside the deflate stream
        gzip.compress(b'{"a": 1}\n') + b"garbage after the member",
        b"\x1f\x8b\x08\x00" + bytes(6) + b"\xff" * 40,  # a header, then nonsense
    ],
)
def test_corrupt_gzip_is_400(data: bytes) -> None:
    with pytest.raises(HttpError) as exc:
        _inflate(data, 1 << 20)
    assert _status(exc) == 400
    assert "gzip" in exc.value.message


def test_crc_mismatch_is_400() -> None:
    packed = bytearray(gzip.compress(b'{"a": 1}\n'))
    packed[-8] ^= 0xFF  # CRC32 of the member (RFC 1952 §2.3.1)
    with pytest.raises(HttpError) as exc:
        _inflate(bytes(packed), 1 << 20)
    assert _status(exc) == 400


# --- JSON bodies ------------------------------------------------------------------------------


def test_json_array_and_single_object() -> None:
    assert _events(decode_body(b'[{"a": 1}, {"b": [2]}]', "json")) == [{"a": 1}, {"b": [2]}]
    assert _events(decode_body(b' {"a": 1} \n', "json")) == [{"a": 1}]
    assert _events(decode_body(b'\xef\xbb\xbf[{"bom": true}]', "json")) == [{"bom": True}]


@pytest.mark.parametrize("body", [b"[]", b"", b"  \n ", b"\n\n"])
def test_empty_json_batch(body: bytes) -> None:
    err = _error(decode_body(body, "json"))
    assert "empty" in err.message
    assert err.items == ()


def test_json_array_non_objects_are_listed() -> None:
    err = _error(decode_body(b'[{"a": 1}, 2, {"b": 2}, "x", null, [], true]', "json"))
    assert _items(decode_body(b'[{"a": 1}, 2, {"b": 2}, "x", null, [], true]', "json")) == [
        {"position": 1, "reason": "a number is not an event object"},
        {"position": 3, "reason": "a string is not an event object"},
        {"position": 4, "reason": "null is not an event object"},
        {"position": 5, "reason": "an array is not an event object"},
        {"position": 6, "reason": "a boolean is not an event object"},
    ]
    assert err.bad_items == 5
    assert err.total_items == 7
    assert "5 of 7" in err.message


@pytest.mark.parametrize(
    ("body", "position", "reason"),
    [
        (b'[{"a": 1}, {"b": }, {"c": 3}]', 1, "not valid JSON"),
        (b'[{"a": 1}, {"b": 2}, {"c": NaN}]', 2, "not valid JSON"),
        (b'[{"a": 1}, {"b": 1e999}]', 1, "not valid JSON"),
        (b'[{"a": 1}, {"b": "\xff"}]', 1, "not valid UTF-8"),
        (b'[{"a": 1}, {"b": 2},]', 2, "comma"),
        (b'[{"a": 1} {"b": 2}]', 0, "not followed by ',' or ']'"),
        (b'[{"a": 1}, {"b": 2}', 1, "ends after this item"),
        (b'[{"a": 1}, ', 1, "ends inside the array"),
        (b'[{"a": 1}] x', 1, "after the end of the array"),
        (b"[] x", 0, "after the end of the array"),
        (b'{"a": 1}\n{"b": 2}\n', 0, "application/x-ndjson"),
        (b"nope", 0, "not valid JSON"),
        (b'"a string"', 0, "a string is not an event object"),
        (b"[" * 5000, 0, "not valid JSON"),
    ],
)
def test_json_errors_name_the_item(body: bytes, position: int, reason: str) -> None:
    err = _error(decode_body(body, "json"))
    assert err.items, err
    assert err.items[0].position == position, err
    assert reason in err.items[0].reason, err
    assert err.items[0].line is None  # not a line format
    assert "nothing was stored" in err.message
    assert err.hint


# --- JSON Lines -------------------------------------------------------------------------------


def test_json_lines_blank_lines_and_crlf() -> None:
    body = b'\n{"a": 1}\r\n\r\n   \n{"b": 2}\n{"c": 3}'
    assert _events(decode_body(body, "lines")) == [{"a": 1}, {"b": 2}, {"c": 3}]


def test_json_lines_errors_have_position_and_line() -> None:
    body = b'{"a": 1}\n\nnot json\n{"b": 2}\n[1, 2]\n{"c": "\xc3\x28"}\n{"d": 4}\n'
    err = _error(decode_body(body, "lines"))
    assert [i.as_json() for i in err.items] == [
        {"position": 1, "line": 3, "reason": err.items[0].reason},
        {"position": 3, "line": 5, "reason": "an array is not an event object"},
        {"position": 4, "line": 6, "reason": "not valid UTF-8 (byte 8 of the line)"},
    ]
    assert err.items[0].reason.startswith("not valid JSON")
    assert err.bad_items == 3
    assert err.total_items == 6
    assert "3 of 6" in err.message


def test_at_most_100_bad_items_are_listed() -> None:
    body = b"\n".join([b"bad"] * 150 + [b'{"ok": 1}'])
    err = _error(decode_body(body, "lines"))
    assert len(err.items) == MAX_LISTED
    assert err.bad_items == 150
    assert err.items[-1].position == 99
    assert err.http_error().body()["bad_items"] == 150


def test_long_reasons_are_cut() -> None:
    line = b'{"timestamp": "' + b"9" * 5000 + b'", "event_type": "flow"}'
    err = _error(decode_body(line, "suricata"))
    assert len(err.items[0].reason) <= 200


# --- boundary formats -------------------------------------------------------------------------


def test_zeek_tsv_headers_are_not_events() -> None:
    docs = _events(decode_body(ZEEK_TSV.encode(), "zeek"))
    assert [d["zeek"]["session_id"] for d in docs] == ["Pii6cUUq1v4", "nkCxlvNN8pi"]
    assert all(d["event"]["dataset"] == "zeek.conn" for d in docs)


def test_zeek_json_lines() -> None:
    docs = _events(decode_body((ZEEK_JSON + "\n" + ZEEK_JSON + "\n").encode(), "zeek"))
    assert len(docs) == 2
    assert docs[0]["source"]["ip"] == "192.168.1.102"


def test_zeek_bad_line_positions_skip_headers() -> None:
    lines = ZEEK_TSV.splitlines()
    lines.insert(10, "1258531221.486539\tonly-two-fields")  # after 8 headers and 2 rows
    err = _error(decode_body("\n".join(lines).encode(), "zeek"))
    assert [(i.position, i.line) for i in err.items] == [(2, 11)]
    assert "fields" in err.items[0].reason


def test_zeek_data_before_fields_header() -> None:
    row = ZEEK_TSV.splitlines()[8]
    err = _error(decode_body(row.encode(), "zeek"))
    assert "#fields" in err.items[0].reason


def test_suricata_eve() -> None:
    docs = _events(decode_body(f"{EVE_ALERT}\n{EVE_FLOW}\n".encode(), "suricata"))
    assert [d["event"]["kind"] for d in docs] == ["alert", "event"]
    assert docs[0]["rule"]["id"] == "2018358"


def test_suricata_rejected_line() -> None:
    body = f'{EVE_FLOW}\n{{"event_type": "flow"}}\n'.encode()
    assert _items(decode_body(body, "suricata")) == [
        {
            "position": 1,
            "line": 2,
            "reason": "not a Suricata EVE record: 'timestamp' or 'event_type' missing",
        }
    ]


def test_vpcflow_with_and_without_header() -> None:
    docs = _events(decode_body(f"{VPC_HEADER}\n{VPC_ACCEPT}\n{VPC_REJECT}\n".encode(), "vpcflow"))
    assert [d["event"]["outcome"] for d in docs] == ["success", "failure"]
    assert len(_events(decode_body(VPC_ACCEPT.encode(), "vpcflow"))) == 1


def test_vpcflow_bad_record() -> None:
    err = _error(decode_body(f"{VPC_HEADER}\n{VPC_ACCEPT}\n2 too short\n".encode(), "vpcflow"))
    assert [(i.position, i.line) for i in err.items] == [(1, 3)]


def test_headers_only_is_an_empty_batch() -> None:
    header_only = "\n".join(ZEEK_TSV.splitlines()[:8]).encode()
    assert _error(decode_body(header_only, "zeek")).items == ()
    assert "empty" in _error(decode_body(VPC_HEADER.encode(), "vpcflow")).message


# --- fuzz: the decoder never raises, and always says where ------------------------------------


def _check(result: list[dict[str, Any]] | BodyError, body_format: BodyFormat) -> None:
    if isinstance(result, list):
        assert result
        assert all(isinstance(e, dict) for e in result)
        return
    if not result.items:
        assert "empty" in result.message
        return
    assert 0 < len(result.items) <= MAX_LISTED
    assert result.bad_items >= len(result.items)
    positions = [i.position for i in result.items]
    assert all(p >= 0 for p in positions)
    assert positions == sorted(positions)
    for item in result.items:
        assert item.reason
        if body_format in ("lines", *BOUNDARY_FORMATS):
            assert item.line is not None and item.line >= 1
        else:
            assert item.line is None
    orjson.dumps(result.http_error().body())


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=600), st.sampled_from(FORMATS))
def test_fuzz_arbitrary_bytes(body: bytes, body_format: BodyFormat) -> None:
    _check(decode_body(body, body_format), body_format)


_JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**63), 2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=400, deadline=None)
@given(
    st.lists(_JSON_VALUES, max_size=6),
    st.integers(min_value=0, max_value=400),
    st.binary(max_size=3),
    st.sampled_from(["json", "lines"]),
)
def test_fuzz_mutated_json(
    values: list[Any], cut: int, splice: bytes, body_format: BodyFormat
) -> None:
    if body_format == "json":
        body = orjson.dumps(values)
    else:
        body = b"\n".join(orjson.dumps(v) for v in values)
    clean = decode_body(body, body_format)
    _check(clean, body_format)
    if values and all(isinstance(v, dict) for v in values):
        assert _events(clean) == values
    mutated = body[:cut] + splice + body[cut + len(splice) :]
    _check(decode_body(mutated, body_format), body_format)


# --- provenance -------------------------------------------------------------------------------


def test_stamp_merges_and_overwrites_only_the_provenance() -> None:
    event = {
        "message": "x",
        "mamori": {"receiver": "forged", "token": "forged", "note": "kept"},
        "log": {"level": "info", "source": {"address": "10.9.9.9:1", "other": 1}},
        "mamori.token": "forged too",
        "log.source.address": "forged too",
    }
    original = orjson.dumps(event)
    [raw] = stamp([event], receiver="http", token_name="sender-1", address="192.0.2.7:5000")
    assert orjson.dumps(event) == original  # the input is not changed
    assert orjson.loads(raw) == {
        "message": "x",
        "mamori": {"receiver": "http", "token": "sender-1", "note": "kept"},
        "log": {"level": "info", "source": {"address": "192.0.2.7:5000", "other": 1}},
    }
    assert raw.startswith(b'{"log":')  # canonical: members sorted


def test_stamp_replaces_non_objects() -> None:
    [raw] = stamp([{"mamori": "x", "log": 3}], receiver="http", token_name="t", address="a:1")
    assert orjson.loads(raw) == {
        "mamori": {"receiver": "http", "token": "t"},
        "log": {"source": {"address": "a:1"}},
    }


def test_source_address() -> None:
    assert source_address("192.0.2.1", 443) == "192.0.2.1:443"
    assert source_address("::1", 8443) == "[::1]:8443"
    assert source_address("", 0) == ":0"
