"""The tracker's fast field readers (mamori.dbguard.wire) against the full decoder
(mamori.dbguard.protocol): on every generated message they read the same fields, and on random
payloads they accept and refuse exactly what the decoder does — never another exception."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.dbguard import protocol as p
from mamori.dbguard import wire
from tests.dbguard.test_protocol import frontend

_TAGS = st.one_of(
    st.sampled_from(["SELECT 1", "INSERT 0 5", "UPDATE 12", "COPY 3", "FETCH 0", "BEGIN",
                     "CREATE TABLE", "SELECT ²", "MERGE 2", "SELECT 99999999999999999999"]),
    st.text(max_size=30),
)  # fmt: skip


def _payload(msg: Any) -> tuple[int, bytes]:
    data = msg.encode()
    return data[0], data[5:]


@given(frontend)
def test_fields_match_the_decoder(msg: Any) -> None:
    kind, payload = _payload(msg)
    match msg:
        case p.Parse(name, text, types):
            assert wire.parse(payload) == (name, text, types)
        case p.Bind(portal, statement, _f, params, _r):
            assert wire.bind(payload) == (portal, statement, len(params))
        case p.Execute(portal, max_rows):
            assert wire.execute(payload) == (portal, max_rows)
        case p.Describe(what, _name):
            assert wire.describe(payload) == what
        case p.Sync() | p.Flush():
            wire.empty(kind, payload)


@given(_TAGS)
def test_tag_rows_match_command_complete(tag: str) -> None:
    msg = p.CommandComplete(tag)
    _kind, payload = _payload(msg)
    if "\x00" in tag:
        return
    assert wire.command_tag(payload) == tag
    assert wire.tag_rows(tag) == (msg.verb, msg.rows)


def _read(kind: int, payload: bytes) -> None:
    match kind:
        case 0x50:
            wire.parse(payload)
        case 0x42:
            wire.bind(payload)
        case 0x45:
            wire.execute(payload)
        case 0x44:
            wire.describe(payload)
        case _:
            wire.empty(kind, payload)


_READERS = (0x50, 0x42, 0x45, 0x44, 0x53, 0x48)


@given(st.sampled_from(_READERS), st.binary(max_size=64))
@settings(max_examples=4000)
def test_same_acceptance_as_the_decoder_on_random_payloads(kind: int, payload: bytes) -> None:
    try:
        p.decode_frontend(kind, payload)
        decoded = True
    except p.ProtocolError:
        decoded = False
    try:
        _read(kind, payload)
        read = True
    except p.ProtocolError:
        read = False
    assert read == decoded


@given(st.sampled_from([0x43, 0x5A, 0x31, 0x32, 0x33, 0x6E]), st.binary(max_size=32))
@settings(max_examples=2000)
def test_backend_readers_same_acceptance(kind: int, payload: bytes) -> None:
    try:
        p.decode_backend(kind, payload)
        decoded = True
    except p.ProtocolError:
        decoded = False
    try:
        if kind == 0x43:
            wire.command_tag(payload)
        elif kind == 0x5A:
            wire.ready_status(payload)
        else:
            wire.empty(kind, payload)
        read = True
    except p.ProtocolError:
        read = False
    assert read == decoded
