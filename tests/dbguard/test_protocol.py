"""The wire protocol module: round trips of every message, limits, and fuzzing (arbitrary
bytes raise ProtocolError or nothing)."""

from __future__ import annotations

import contextlib
import struct
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.dbguard import protocol as p
from mamori.dbguard.facts import Session
from mamori.dbguard.guard import Guard
from mamori.dbguard.settings import Address, DbGuardConfig
from mamori.dbguard.tracker import Tracker

_chars = st.characters(blacklist_characters="\x00", blacklist_categories=["Cs"])
text = st.text(_chars, max_size=40)
i16 = st.integers(-(2**15), 2**15 - 1)
i32 = st.integers(-(2**31), 2**31 - 1)
value = st.one_of(st.none(), st.binary(max_size=40))
key = st.binary(min_size=4, max_size=32)

frontend = st.one_of(
    st.builds(p.Query, text),
    st.builds(p.Parse, text, text, st.tuples(i32, i32) | st.just(())),
    st.builds(
        p.Bind,
        text,
        text,
        st.lists(i16, max_size=3).map(tuple),
        st.lists(value, max_size=3).map(tuple),
        st.lists(i16, max_size=3).map(tuple),
    ),
    st.builds(p.Describe, st.sampled_from("SP"), text),
    st.builds(p.Execute, text, i32),
    st.builds(p.Close, st.sampled_from("SP"), text),
    st.builds(p.Sync),
    st.builds(p.Flush),
    st.builds(p.Terminate),
    st.builds(p.CopyData, st.binary(max_size=40)),
    st.builds(p.CopyDone),
    st.builds(p.CopyFail, text),
    st.builds(
        p.FunctionCall,
        i32,
        st.lists(i16, max_size=3).map(tuple),
        st.lists(value, max_size=3).map(tuple),
        i16,
    ),
    st.builds(p.AuthResponse, st.binary(max_size=40)),
)

backend = st.one_of(
    st.builds(p.Authentication, i32, st.binary(max_size=20)),
    st.builds(p.BackendKeyData, i32, key),
    st.builds(p.ParameterStatus, text, text),
    st.builds(p.ReadyForQuery, st.sampled_from("ITE")),
    st.builds(
        p.RowDescription,
        st.lists(st.builds(p.Column, text, i32, i16, i32, i16, i32, i16), max_size=3).map(tuple),
    ),
    st.builds(p.DataRow, st.lists(value, max_size=4).map(tuple)),
    st.builds(p.CommandComplete, text),
    st.builds(p.EmptyQueryResponse),
    st.builds(p.PortalSuspended),
    st.builds(p.ParseComplete),
    st.builds(p.BindComplete),
    st.builds(p.CloseComplete),
    st.builds(p.NoData),
    st.builds(p.ParameterDescription, st.lists(i32, max_size=4).map(tuple)),
    st.builds(
        p.ErrorResponse,
        st.lists(st.tuples(st.sampled_from("SVCMDHPqW"), text), max_size=4).map(tuple),
        st.booleans(),
    ),
    st.builds(p.NotificationResponse, i32, text, text),
    st.builds(
        p.CopyResponse,
        st.sampled_from(["in", "out", "both"]),
        st.integers(0, 1),
        st.lists(i16, max_size=3).map(tuple),
    ),
    st.builds(p.CopyData, st.binary(max_size=40)),
    st.builds(p.CopyDone),
    st.builds(p.FunctionCallResponse, value),
    st.builds(p.NegotiateProtocolVersion, i32, st.lists(text, max_size=3).map(tuple)),
)


def _one(data: bytes) -> tuple[int, bytes]:
    got = p.frame(data, 0, p.SERVER_MESSAGE_LIMIT)
    assert got is not None
    kind, start, end = got
    assert end == len(data)
    return kind, data[start:end]


@given(frontend)
def test_frontend_round_trip(msg: Any) -> None:
    data = msg.encode()
    kind, payload = _one(data)
    assert p.decode_frontend(kind, payload) == msg


@given(backend)
def test_backend_round_trip(msg: Any) -> None:
    data = msg.encode()
    kind, payload = _one(data)
    assert p.decode_backend(kind, payload) == msg


name = st.text(_chars, min_size=1, max_size=20)


@given(st.lists(st.tuples(name, text), max_size=4).map(tuple))
def test_startup_round_trip(params: tuple[tuple[str, str], ...]) -> None:
    data = p.StartupMessage(params).encode()
    assert p.startup_length(data[:4]) == len(data)
    assert p.decode_startup(data[4:]) == p.StartupMessage(params)


@given(i32, key)
def test_cancel_request_round_trip(pid: int, k: bytes) -> None:
    data = p.cancel_request(pid, k)
    assert p.startup_length(data[:4]) == len(data) == 12 + len(k)
    assert p.decode_startup(data[4:]) == p.CancelRequest(pid, k)


def test_requests() -> None:
    assert p.decode_startup(p.SSLRequest().encode()[4:]) == p.SSLRequest()
    assert p.decode_startup(p.GSSENCRequest().encode()[4:]) == p.GSSENCRequest()
    with pytest.raises(p.ProtocolError, match=r"unsupported frontend protocol 2\.0"):
        p.decode_startup(struct.pack("!i", 2 << 16))
    with pytest.raises(p.ProtocolError):
        p.startup_length(struct.pack("!i", 10_001))
    with pytest.raises(p.ProtocolError):
        p.startup_length(struct.pack("!i", 7))


@given(st.integers(0, 255), st.binary(max_size=64))
@settings(max_examples=3000)
def test_fuzz_decoders_raise_only_protocol_errors(kind: int, payload: bytes) -> None:
    for decode in (p.decode_frontend, p.decode_backend):
        with contextlib.suppress(p.ProtocolError):
            decode(kind, payload)
    for fn in (p.sasl_initial, p.decode_startup):
        with contextlib.suppress(p.ProtocolError):
            fn(payload)


@given(st.binary(max_size=200), st.integers(4, 1 << 20))
def test_fuzz_framing(data: bytes, limit: int) -> None:
    pos = 0
    try:
        while (got := p.frame(data, pos, limit)) is not None:
            kind, start, end = got
            assert 0 <= kind <= 255 and start == pos + 5 and end - pos - 1 <= limit
            pos = end
    except p.ProtocolError:
        pass


def test_length_limits() -> None:
    with pytest.raises(p.ProtocolError, match="limit 100"):
        p.frame(b"Q" + struct.pack("!i", 101) + b"x" * 97, 0, 100)
    with pytest.raises(p.ProtocolError):
        p.frame(b"Q" + struct.pack("!i", 3), 0, 100)
    assert p.frame(b"Q\x00\x00\x00", 0, 100) is None  # not complete yet
    big = b"D" + struct.pack("!i", p.SERVER_MESSAGE_LIMIT + 1)
    with pytest.raises(p.ProtocolError):
        p.frame(big, 0, p.SERVER_MESSAGE_LIMIT)


def _tracker() -> Tracker:
    cfg = DbGuardConfig("t", Address("127.0.0.1", 0), Address("127.0.0.1", 5432))
    return Tracker(Session("s", "db", "role"), Guard(cfg))


@given(st.binary(max_size=300))
@settings(max_examples=1000)
def test_fuzz_tracker_server_side(data: bytes) -> None:
    t = _tracker()
    try:
        t.back(data)
        t.back(data)
    except p.ProtocolError:
        pass


@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), max_size=6))
@settings(max_examples=1000)
def test_fuzz_tracker_client_side(messages: list[tuple[int, bytes]]) -> None:
    t = _tracker()
    for kind, payload in messages:
        raw = bytes([kind]) + struct.pack("!i", len(payload) + 4) + payload
        with contextlib.suppress(p.ProtocolError):
            t.front(kind, payload, raw)


def test_error_response_encoding() -> None:
    data = p.error_response("42501", "refused", hint="ask", detail="why")
    kind, payload = _one(data)
    err = p.decode_backend(kind, payload)
    assert isinstance(err, p.ErrorResponse)
    assert err.sqlstate == "42501" and err.severity == "ERROR" and not err.fatal
    assert (err.get("M"), err.get("H"), err.get("D")) == ("refused", "ask", "why")
    fatal = p.decode_backend(*_one(p.error_response("08006", "gone", severity="FATAL")))
    assert isinstance(fatal, p.ErrorResponse) and fatal.fatal


def test_scram_plus_is_hidden() -> None:
    offer = p.Authentication(10, b"SCRAM-SHA-256-PLUS\x00SCRAM-SHA-256\x00\x00")
    assert offer.mechanisms == ("SCRAM-SHA-256-PLUS", "SCRAM-SHA-256")
    hidden = offer.without(p.SCRAM_PLUS)
    assert hidden.mechanisms == ("SCRAM-SHA-256",)
    assert hidden.encode() == p.Authentication(10, b"SCRAM-SHA-256\x00\x00").encode()
    first = b"SCRAM-SHA-256\x00" + struct.pack("!i", 9) + b"y,,n=,r=x"
    assert p.sasl_initial(first) == p.SaslInitial("SCRAM-SHA-256", "y")
    assert "data" not in repr(p.AuthResponse(b"secret"))  # passwords never in a repr


@pytest.mark.parametrize(
    ("tag", "verb", "rows"),
    [
        ("SELECT 12", "SELECT", 12),
        ("INSERT 0 5", "INSERT", 5),
        ("FETCH 0", "FETCH", 0),
        ("CREATE TABLE", "CREATE TABLE", None),
        ("COPY 3", "COPY", 3),
        ("SELECT", "SELECT", None),
    ],
)
def test_command_tags(tag: str, verb: str, rows: int | None) -> None:
    cc = p.CommandComplete(tag)
    assert (cc.verb, cc.rows) == (verb, rows)


def test_codecs() -> None:
    assert p.codec("UTF8") == "utf-8"
    assert p.codec("EUC_JP") == "euc_jp"
    assert p.codec("SJIS") == "cp932"
    assert p.codec("LATIN2") == "iso8859_3" or p.codec("LATIN2").startswith("iso8859")
    assert p.codec("WIN1252") == "cp1252"
    assert p.codec("nonsense") == "latin-1"
    jp = "住民".encode("euc_jp")
    assert p.decode_text(jp, "euc_jp") == "住民"
    assert p.encode_text(p.decode_text(b"\xff\xfe", "utf-8"), "utf-8") == b"\xff\xfe"


@given(st.binary(max_size=64).filter(lambda b: b"\x00" not in b))
def test_any_bytes_survive_a_text_round_trip(raw: bytes) -> None:
    for enc in ("utf-8", "euc_jp", "latin-1"):
        assert p.encode_text(p.decode_text(raw, enc), enc) == raw
    # cp932 maps some characters twice (NEC and IBM rows): the text survives, not the bytes
    once = p.decode_text(raw, "cp932")
    assert p.decode_text(p.encode_text(once, "cp932"), "cp932") == once
    query = b"Q" + struct.pack("!i", len(raw) + 5) + raw + b"\x00"
    msg = p.decode_frontend(*_one(query))
    assert msg.encode() == query
