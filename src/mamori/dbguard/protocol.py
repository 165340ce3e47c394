"""PostgreSQL frontend/backend protocol 3.0: framing, decoding and encoding (pure, no I/O).

Every message after the startup phase is a type byte, an Int32 length that counts itself but not
the type byte, and a payload (PostgreSQL 15 docs §55.7 "Message Formats"). The startup phase has
no type byte: an Int32 length, an Int32 code (protocol version or a request code), a payload.

Nothing here trusts its input. A length below 4 or above the limit the caller gives, a payload
shorter than its fields say, trailing bytes after the last field: each is a
:class:`ProtocolError`, and no other exception leaves this module for any input (the fuzz tests
in tests/dbguard/test_protocol.py check it). Text fields are decoded with ``surrogateescape`` so
that a message decoded and encoded again is the same bytes, whatever the client sent.

Authentication responses (``p``: password, SASL, GSS) are opaque here on purpose: the proxy
passes them through and never decodes a password; only the SASL mechanism name and the GS2
header are looked at, by :func:`sasl_initial`.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final

from mamori.dbguard.errors import DbGuardError

SERVER_MESSAGE_LIMIT: Final = 1 << 30
"""1 GiB: a backend message longer than this is a protocol error (PostgreSQL's own limit on a
field value is 1 GB)."""
CLIENT_MESSAGE_LIMIT: Final = 64 << 20
"""Default limit on a frontend message ([[dbguard]] max_client_message_bytes)."""
STARTUP_LIMIT: Final = 10_000
"""PostgreSQL's MAX_STARTUP_PACKET_LENGTH (src/include/libpq/pqcomm.h)."""

PROTOCOL_3_0: Final = 196608
CANCEL_CODE: Final = 80877102
SSL_CODE: Final = 80877103
GSSENC_CODE: Final = 80877104

SCRAM_PLUS: Final = "SCRAM-SHA-256-PLUS"
AUTH_OK: Final = 0
AUTH_SASL: Final = 10

_I16 = struct.Struct("!h")
_I32 = struct.Struct("!i")
_HDR = struct.Struct("!ci")


class ProtocolError(DbGuardError):
    """Bytes that are not a well-formed message of PostgreSQL's protocol 3.0."""

    sqlstate = "08P01"
    """protocol_violation: what the proxy answers the peer that sent them."""


# -- framing ----------------------------------------------------------------------------------


def frame(buf: bytes | bytearray, start: int, limit: int) -> tuple[int, int, int] | None:
    """The message at ``buf[start:]``: (type byte, payload start, end), or None when it is not
    complete yet. Raises ProtocolError for a length below 4 or above `limit`."""
    if len(buf) - start < 5:
        return None
    kind = buf[start]
    (length,) = _I32.unpack_from(buf, start + 1)
    if length < 4 or length > limit:
        raise ProtocolError(
            f"a message of type {_show(kind)} claims {length} bytes (limit {limit})"
        )
    end = start + 1 + length
    if end > len(buf):
        return None
    return kind, start + 5, end


def header(kind: bytes, payload_len: int) -> bytes:
    """The 5-byte header of a message of `payload_len` payload bytes."""
    return _HDR.pack(kind, payload_len + 4)


def message(kind: bytes, payload: bytes = b"") -> bytes:
    return _HDR.pack(kind, len(payload) + 4) + payload


def _show(kind: int) -> str:
    return repr(chr(kind)) if 0x20 < kind < 0x7F else f"0x{kind:02x}"


class _Reader:
    """Reads the fields of one payload; any shortfall or leftover is a ProtocolError."""

    __slots__ = ("buf", "enc", "pos", "what")

    def __init__(self, buf: bytes, what: str, enc: str = "utf-8") -> None:
        self.buf = buf
        self.pos = 0
        self.what = what
        self.enc = enc

    def _need(self, n: int) -> None:
        if n < 0 or self.pos + n > len(self.buf):
            raise ProtocolError(f"{self.what} is truncated")

    def i16(self) -> int:
        self._need(2)
        (v,) = _I16.unpack_from(self.buf, self.pos)
        self.pos += 2
        return int(v)

    def i32(self) -> int:
        self._need(4)
        (v,) = _I32.unpack_from(self.buf, self.pos)
        self.pos += 4
        return int(v)

    def byte(self) -> int:
        self._need(1)
        v = self.buf[self.pos]
        self.pos += 1
        return v

    def raw(self, n: int) -> bytes:
        self._need(n)
        v = self.buf[self.pos : self.pos + n]
        self.pos += n
        return v

    def cstr(self) -> str:
        end = self.buf.find(b"\x00", self.pos)
        if end < 0:
            raise ProtocolError(f"{self.what} has a string without its terminator")
        v = self.buf[self.pos : end]
        self.pos = end + 1
        return decode_text(v, self.enc)

    def rest(self) -> bytes:
        v = self.buf[self.pos :]
        self.pos = len(self.buf)
        return v

    def count(self) -> int:
        n = self.i16()
        if n < 0:
            raise ProtocolError(f"{self.what} has a negative count")
        return n

    def value(self) -> bytes | None:
        n = self.i32()
        if n == -1:
            return None
        if n < 0:
            raise ProtocolError(f"{self.what} has a negative length")
        return self.raw(n)

    def done(self) -> None:
        if self.pos != len(self.buf):
            raise ProtocolError(f"{self.what} has {len(self.buf) - self.pos} bytes too many")


class _Writer:
    __slots__ = ("enc", "parts")

    def __init__(self, enc: str = "utf-8") -> None:
        self.parts: list[bytes] = []
        self.enc = enc

    def i16(self, v: int) -> _Writer:
        self.parts.append(_I16.pack(v))
        return self

    def i32(self, v: int) -> _Writer:
        self.parts.append(_I32.pack(v))
        return self

    def raw(self, v: bytes) -> _Writer:
        self.parts.append(v)
        return self

    def cstr(self, v: str) -> _Writer:
        self.parts.append(encode_text(v, self.enc) + b"\x00")
        return self

    def value(self, v: bytes | None) -> _Writer:
        if v is None:
            return self.i32(-1)
        return self.i32(len(v)).raw(v)

    def bytes(self) -> bytes:
        return b"".join(self.parts)


def decode_text(raw: bytes, enc: str = "utf-8") -> str:
    """Bytes as text in the session's encoding; undecodable bytes survive a round trip."""
    try:
        return raw.decode(enc, "surrogateescape")
    except LookupError:  # an encoding name Python does not know: keep the bytes
        return raw.decode("latin-1")


def encode_text(text: str, enc: str = "utf-8") -> bytes:
    try:
        return text.encode(enc, "surrogateescape")
    except LookupError:
        return text.encode("latin-1", "replace")
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape")


# PostgreSQL's encoding names (src/common/encnames.c) → Python codecs.
_CODECS: Final = {
    "UTF8": "utf-8",
    "SQL_ASCII": "latin-1",
    "EUC_JP": "euc_jp",
    "EUC_JIS_2004": "euc_jis_2004",
    "SJIS": "cp932",
    "SHIFT_JIS_2004": "shift_jis_2004",
    "EUC_CN": "gb2312",
    "EUC_KR": "euc_kr",
    "GBK": "gbk",
    "GB18030": "gb18030",
    "BIG5": "big5",
    "UHC": "cp949",
    "KOI8R": "koi8_r",
    "KOI8U": "koi8_u",
    "LATIN1": "latin-1",
}


def codec(pg_encoding: str) -> str:
    """The Python codec of a PostgreSQL ``client_encoding`` value (latin-1 when unknown)."""
    name = pg_encoding.upper().replace("-", "").replace("_", "") if pg_encoding else "UTF8"
    for k, v in _CODECS.items():
        if k.replace("_", "") == name:
            return v
    if name.startswith("LATIN") and name[5:].isdigit():
        return {"1": "latin-1", "9": "iso8859_15", "10": "iso8859_16"}.get(
            name[5:], f"iso8859_{int(name[5:]) + 1}"
        )
    if name.startswith("WIN") and name[3:].isdigit():
        return f"cp{name[3:]}"
    if name.startswith("ISO8859") and name[7:].isdigit():
        return f"iso8859_{name[7:]}"
    return "latin-1"


# -- the startup phase ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class StartupMessage:
    """Protocol version and parameters (``user``, ``database``, ``application_name``, ...)."""

    params: tuple[tuple[str, str], ...]
    version: int = PROTOCOL_3_0

    def get(self, name: str, default: str = "") -> str:
        for k, v in self.params:
            if k == name:
                return v
        return default

    def encode(self) -> bytes:
        w = _Writer().i32(self.version)
        for k, v in self.params:
            w.cstr(k).cstr(v)
        body = w.raw(b"\x00").bytes()
        return _I32.pack(len(body) + 4) + body


@dataclass(frozen=True, slots=True)
class SSLRequest:
    def encode(self) -> bytes:
        return _I32.pack(8) + _I32.pack(SSL_CODE)


@dataclass(frozen=True, slots=True)
class GSSENCRequest:
    def encode(self) -> bytes:
        return _I32.pack(8) + _I32.pack(GSSENC_CODE)


@dataclass(frozen=True, slots=True)
class CancelRequest:
    """Sent on a new connection: cancel what the backend with this key is running."""

    pid: int
    key: bytes

    def encode(self) -> bytes:
        return (
            _I32.pack(12 + len(self.key)) + _I32.pack(CANCEL_CODE) + _I32.pack(self.pid) + self.key
        )


StartupPacket = StartupMessage | SSLRequest | GSSENCRequest | CancelRequest


def startup_length(head: bytes) -> int:
    """The total length of a startup packet from its first 4 bytes (8 to STARTUP_LIMIT)."""
    if len(head) != 4:
        raise ProtocolError("the startup packet is truncated")
    (n,) = _I32.unpack(head)
    if n < 8 or n > STARTUP_LIMIT:
        raise ProtocolError(f"a startup packet of {n} bytes is invalid")
    return int(n)


def decode_startup(body: bytes) -> StartupPacket:
    """A startup packet without its length word."""
    r = _Reader(body, "the startup packet")
    code = r.i32()
    if code == SSL_CODE:
        r.done()
        return SSLRequest()
    if code == GSSENC_CODE:
        r.done()
        return GSSENCRequest()
    if code == CANCEL_CODE:
        pid = r.i32()
        key = r.rest()
        if not 4 <= len(key) <= 256:
            raise ProtocolError("a cancel request's key must be 4 to 256 bytes")
        return CancelRequest(pid, key)
    if code >> 16 != 3:
        raise ProtocolError(
            f"unsupported frontend protocol {code >> 16}.{code & 0xFFFF}: "
            "the server and the proxy speak 3.0"
        )
    params: list[tuple[str, str]] = []
    while True:
        if r.pos >= len(body):
            raise ProtocolError("the startup packet's parameters are not terminated")
        if body[r.pos] == 0:
            r.pos += 1
            break
        params.append((r.cstr(), r.cstr()))
    r.done()
    return StartupMessage(tuple(params), code)


# -- frontend messages ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Query:
    text: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"Q", _Writer(enc).cstr(self.text).bytes())


@dataclass(frozen=True, slots=True)
class Parse:
    name: str
    text: str
    param_types: tuple[int, ...] = ()

    def encode(self, enc: str = "utf-8") -> bytes:
        w = _Writer(enc).cstr(self.name).cstr(self.text).i16(len(self.param_types))
        for t in self.param_types:
            w.i32(t)
        return message(b"P", w.bytes())


@dataclass(frozen=True, slots=True)
class Bind:
    portal: str
    statement: str
    param_formats: tuple[int, ...] = ()
    params: tuple[bytes | None, ...] = ()
    """Values as sent (text or binary): never logged, never decoded."""
    result_formats: tuple[int, ...] = ()

    def encode(self, enc: str = "utf-8") -> bytes:
        w = _Writer(enc).cstr(self.portal).cstr(self.statement).i16(len(self.param_formats))
        for f in self.param_formats:
            w.i16(f)
        w.i16(len(self.params))
        for p in self.params:
            w.value(p)
        w.i16(len(self.result_formats))
        for f in self.result_formats:
            w.i16(f)
        return message(b"B", w.bytes())


@dataclass(frozen=True, slots=True)
class Describe:
    what: str
    """``S`` (prepared statement) or ``P`` (portal)."""
    name: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"D", self.what.encode("ascii") + _Writer(enc).cstr(self.name).bytes())


@dataclass(frozen=True, slots=True)
class Execute:
    portal: str
    max_rows: int = 0
    """0: all rows; else at most this many, then PortalSuspended."""

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"E", _Writer(enc).cstr(self.portal).i32(self.max_rows).bytes())


@dataclass(frozen=True, slots=True)
class Close:
    what: str
    """``S`` (prepared statement) or ``P`` (portal)."""
    name: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"C", self.what.encode("ascii") + _Writer(enc).cstr(self.name).bytes())


@dataclass(frozen=True, slots=True)
class Sync:
    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"S")


@dataclass(frozen=True, slots=True)
class Flush:
    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"H")


@dataclass(frozen=True, slots=True)
class Terminate:
    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"X")


@dataclass(frozen=True, slots=True)
class CopyData:
    data: bytes

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"d", self.data)


@dataclass(frozen=True, slots=True)
class CopyDone:
    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"c")


@dataclass(frozen=True, slots=True)
class CopyFail:
    reason: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"f", _Writer(enc).cstr(self.reason).bytes())


@dataclass(frozen=True, slots=True)
class FunctionCall:
    """The fast-path interface: call a function by OID (libpq's large objects use it)."""

    oid: int
    arg_formats: tuple[int, ...] = ()
    args: tuple[bytes | None, ...] = ()
    result_format: int = 0

    def encode(self, enc: str = "utf-8") -> bytes:
        w = _Writer(enc).i32(self.oid).i16(len(self.arg_formats))
        for f in self.arg_formats:
            w.i16(f)
        w.i16(len(self.args))
        for a in self.args:
            w.value(a)
        w.i16(self.result_format)
        return message(b"F", w.bytes())


@dataclass(frozen=True, slots=True)
class AuthResponse:
    """``p``: PasswordMessage, SASLInitialResponse, SASLResponse or GSSResponse; opaque, so
    nothing of a password is ever decoded or logged (its repr shows the length only)."""

    data: bytes = field(repr=False)

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"p", self.data)


FrontendMessage = (
    Query
    | Parse
    | Bind
    | Describe
    | Execute
    | Close
    | Sync
    | Flush
    | Terminate
    | CopyData
    | CopyDone
    | CopyFail
    | FunctionCall
    | AuthResponse
)


def _formats(r: _Reader) -> tuple[int, ...]:
    return tuple(r.i16() for _ in range(r.count()))


def _values(r: _Reader) -> tuple[bytes | None, ...]:
    return tuple(r.value() for _ in range(r.count()))


def _describe_kind(r: _Reader, what: str) -> str:
    k = r.byte()
    if k not in (0x53, 0x50):  # S, P
        raise ProtocolError(f"{what} must name a statement (S) or a portal (P)")
    return chr(k)


def decode_frontend(kind: int, payload: bytes, enc: str = "utf-8") -> FrontendMessage:
    """One frontend message (after the startup phase) from its type byte and payload."""
    msg: FrontendMessage
    match kind:
        case 0x51:  # Q
            r = _Reader(payload, "Query", enc)
            msg = Query(r.cstr())
        case 0x50:  # P
            r = _Reader(payload, "Parse", enc)
            name, text = r.cstr(), r.cstr()
            msg = Parse(name, text, tuple(r.i32() for _ in range(r.count())))
        case 0x42:  # B
            r = _Reader(payload, "Bind", enc)
            portal, stmt = r.cstr(), r.cstr()
            msg = Bind(portal, stmt, _formats(r), _values(r), _formats(r))
        case 0x44:  # D
            r = _Reader(payload, "Describe", enc)
            msg = Describe(_describe_kind(r, "Describe"), r.cstr())
        case 0x45:  # E
            r = _Reader(payload, "Execute", enc)
            msg = Execute(r.cstr(), r.i32())
        case 0x43:  # C
            r = _Reader(payload, "Close", enc)
            msg = Close(_describe_kind(r, "Close"), r.cstr())
        case 0x53:  # S
            r = _Reader(payload, "Sync")
            msg = Sync()
        case 0x48:  # H
            r = _Reader(payload, "Flush")
            msg = Flush()
        case 0x58:  # X
            r = _Reader(payload, "Terminate")
            msg = Terminate()
        case 0x64:  # d
            return CopyData(bytes(payload))
        case 0x63:  # c
            r = _Reader(payload, "CopyDone")
            msg = CopyDone()
        case 0x66:  # f
            r = _Reader(payload, "CopyFail", enc)
            msg = CopyFail(r.cstr())
        case 0x46:  # F
            r = _Reader(payload, "FunctionCall", enc)
            oid = r.i32()
            fmts = _formats(r)
            msg = FunctionCall(oid, fmts, _values(r), r.i16())
        case 0x70:  # p
            return AuthResponse(bytes(payload))
        case _:
            raise ProtocolError(f"unknown frontend message type {_show(kind)}")
    r.done()
    return msg


@dataclass(frozen=True, slots=True)
class SaslInitial:
    """What a SASLInitialResponse says, without its secret parts."""

    mechanism: str
    gs2_flag: str
    """The GS2 channel-binding flag (RFC 5802 §7): ``n`` (client does not support channel
    binding), ``y`` (supports it, thinks the server does not), ``p`` (uses it); "" if none."""


def sasl_initial(data: bytes) -> SaslInitial:
    """The mechanism and GS2 flag of a SASLInitialResponse (the payload of a ``p``)."""
    r = _Reader(data, "SASLInitialResponse")
    mech = r.cstr()
    initial = r.value()
    r.done()
    flag = chr(initial[0]) if initial else ""
    return SaslInitial(mech, flag)


# -- backend messages -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Authentication:
    """``R``: 0 ok, 3 cleartext, 5 MD5, 7 GSS, 8 GSS continue, 9 SSPI, 10 SASL, 11 SASL
    continue, 12 SASL final."""

    code: int
    data: bytes = field(default=b"", repr=False)

    @property
    def mechanisms(self) -> tuple[str, ...]:
        """The SASL mechanisms offered (code 10)."""
        if self.code != AUTH_SASL:
            return ()
        return tuple(decode_text(m) for m in self.data.split(b"\x00") if m)

    @property
    def expects_response(self) -> bool:
        """True when the client answers with a ``p`` message."""
        return self.code in (3, 5, 7, 8, 9, 10, 11)

    def without(self, mechanism: str) -> Authentication:
        """A SASL offer without `mechanism` (to hide SCRAM-SHA-256-PLUS; see docs/dbguard.md)."""
        kept = [m for m in self.mechanisms if m != mechanism]
        return Authentication(self.code, b"".join(encode_text(m) + b"\x00" for m in kept) + b"\x00")

    def encode(self) -> bytes:
        return message(b"R", _I32.pack(self.code) + self.data)


@dataclass(frozen=True, slots=True)
class BackendKeyData:
    pid: int
    key: bytes = field(repr=False)

    def encode(self) -> bytes:
        return message(b"K", _I32.pack(self.pid) + self.key)


@dataclass(frozen=True, slots=True)
class ParameterStatus:
    name: str
    value: str

    def encode(self) -> bytes:
        return message(b"S", _Writer().cstr(self.name).cstr(self.value).bytes())


@dataclass(frozen=True, slots=True)
class ReadyForQuery:
    status: str
    """``I`` idle, ``T`` in a transaction block, ``E`` in a failed transaction block."""

    def encode(self) -> bytes:
        return message(b"Z", self.status.encode("ascii"))


@dataclass(frozen=True, slots=True)
class Column:
    name: str
    table_oid: int = 0
    attnum: int = 0
    type_oid: int = 25
    typlen: int = -1
    typmod: int = -1
    format: int = 0


@dataclass(frozen=True, slots=True)
class RowDescription:
    columns: tuple[Column, ...]

    def encode(self, enc: str = "utf-8") -> bytes:
        w = _Writer(enc).i16(len(self.columns))
        for c in self.columns:
            w.cstr(c.name).i32(c.table_oid).i16(c.attnum).i32(c.type_oid).i16(c.typlen)
            w.i32(c.typmod).i16(c.format)
        return message(b"T", w.bytes())


@dataclass(frozen=True, slots=True)
class DataRow:
    values: tuple[bytes | None, ...] = field(repr=False)

    def encode(self) -> bytes:
        w = _Writer().i16(len(self.values))
        for v in self.values:
            w.value(v)
        return message(b"D", w.bytes())


@dataclass(frozen=True, slots=True)
class CommandComplete:
    tag: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(b"C", _Writer(enc).cstr(self.tag).bytes())

    @property
    def verb(self) -> str:
        """``SELECT``, ``INSERT``, ``FETCH``, ``COPY``, ... (the tag without its counts)."""
        words = self.tag.split()
        while words and words[-1].isdigit():
            words.pop()
        return " ".join(words)

    @property
    def rows(self) -> int | None:
        """The row count the tag ends with, if it has one (``INSERT 0 5`` → 5)."""
        last = self.tag.rsplit(" ", 1)[-1]
        if last.isdigit() and last.isascii() and " " in self.tag and len(last) <= 19:
            return int(last)
        return None


@dataclass(frozen=True, slots=True)
class EmptyQueryResponse:
    def encode(self) -> bytes:
        return message(b"I")


@dataclass(frozen=True, slots=True)
class PortalSuspended:
    def encode(self) -> bytes:
        return message(b"s")


@dataclass(frozen=True, slots=True)
class ParseComplete:
    def encode(self) -> bytes:
        return message(b"1")


@dataclass(frozen=True, slots=True)
class BindComplete:
    def encode(self) -> bytes:
        return message(b"2")


@dataclass(frozen=True, slots=True)
class CloseComplete:
    def encode(self) -> bytes:
        return message(b"3")


@dataclass(frozen=True, slots=True)
class NoData:
    def encode(self) -> bytes:
        return message(b"n")


@dataclass(frozen=True, slots=True)
class ParameterDescription:
    type_oids: tuple[int, ...]

    def encode(self) -> bytes:
        w = _Writer().i16(len(self.type_oids))
        for t in self.type_oids:
            w.i32(t)
        return message(b"t", w.bytes())


@dataclass(frozen=True, slots=True)
class ErrorResponse:
    """``E`` (error) or ``N`` (notice, when `notice`): fields by their one-letter codes
    (§55.8 "Error and Notice Message Fields"): S severity, V severity (not localised), C
    SQLSTATE, M message, D detail, H hint, P position, ..."""

    fields: tuple[tuple[str, str], ...]
    notice: bool = False

    def get(self, code: str) -> str:
        for k, v in self.fields:
            if k == code:
                return v
        return ""

    @property
    def sqlstate(self) -> str:
        return self.get("C")

    @property
    def severity(self) -> str:
        return self.get("V") or self.get("S")

    @property
    def fatal(self) -> bool:
        return self.severity in ("FATAL", "PANIC")

    def encode(self, enc: str = "utf-8") -> bytes:
        w = _Writer(enc)
        for k, v in self.fields:
            w.raw(k.encode("ascii")).cstr(v)
        return message(b"N" if self.notice else b"E", w.raw(b"\x00").bytes())


@dataclass(frozen=True, slots=True)
class NotificationResponse:
    pid: int
    channel: str
    payload: str

    def encode(self, enc: str = "utf-8") -> bytes:
        return message(
            b"A", _Writer(enc).i32(self.pid).cstr(self.channel).cstr(self.payload).bytes()
        )


@dataclass(frozen=True, slots=True)
class CopyResponse:
    """``G`` CopyInResponse, ``H`` CopyOutResponse, ``W`` CopyBothResponse."""

    direction: str
    """``in``, ``out`` or ``both``."""
    format: int
    """0 text (text or csv), 1 binary."""
    column_formats: tuple[int, ...]

    def encode(self) -> bytes:
        w = _Writer().raw(bytes([self.format])).i16(len(self.column_formats))
        for f in self.column_formats:
            w.i16(f)
        return message(_COPY_KINDS[self.direction], w.bytes())


_COPY_KINDS: Final = {"in": b"G", "out": b"H", "both": b"W"}


@dataclass(frozen=True, slots=True)
class FunctionCallResponse:
    value: bytes | None = field(repr=False)

    def encode(self) -> bytes:
        return message(b"V", _Writer().value(self.value).bytes())


@dataclass(frozen=True, slots=True)
class NegotiateProtocolVersion:
    newest_minor: int
    unrecognised: tuple[str, ...]

    def encode(self) -> bytes:
        w = _Writer().i32(self.newest_minor).i32(len(self.unrecognised))
        for o in self.unrecognised:
            w.cstr(o)
        return message(b"v", w.bytes())


BackendMessage = (
    Authentication
    | BackendKeyData
    | ParameterStatus
    | ReadyForQuery
    | RowDescription
    | DataRow
    | CommandComplete
    | EmptyQueryResponse
    | PortalSuspended
    | ParseComplete
    | BindComplete
    | CloseComplete
    | NoData
    | ParameterDescription
    | ErrorResponse
    | NotificationResponse
    | CopyResponse
    | CopyData
    | CopyDone
    | FunctionCallResponse
    | NegotiateProtocolVersion
)

_EMPTY: Final[Mapping[int, tuple[str, type]]] = {
    0x49: ("EmptyQueryResponse", EmptyQueryResponse),
    0x73: ("PortalSuspended", PortalSuspended),
    0x31: ("ParseComplete", ParseComplete),
    0x32: ("BindComplete", BindComplete),
    0x33: ("CloseComplete", CloseComplete),
    0x6E: ("NoData", NoData),
    0x63: ("CopyDone", CopyDone),
}


def _error_fields(r: _Reader) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    while True:
        code = r.byte()
        if code == 0:
            return tuple(out)
        out.append((chr(code), r.cstr()))


def decode_backend(kind: int, payload: bytes, enc: str = "utf-8") -> BackendMessage:
    """One backend message from its type byte and payload."""
    msg: BackendMessage
    if kind in _EMPTY:
        what, cls = _EMPTY[kind]
        _Reader(payload, what).done()
        made: BackendMessage = cls()
        return made
    match kind:
        case 0x52:  # R
            r = _Reader(payload, "Authentication")
            return Authentication(r.i32(), r.rest())
        case 0x4B:  # K
            r = _Reader(payload, "BackendKeyData")
            pid, key = r.i32(), r.rest()
            if not 4 <= len(key) <= 256:
                raise ProtocolError("BackendKeyData's key must be 4 to 256 bytes")
            return BackendKeyData(pid, key)
        case 0x53:  # S
            r = _Reader(payload, "ParameterStatus", enc)
            msg = ParameterStatus(r.cstr(), r.cstr())
        case 0x5A:  # Z
            r = _Reader(payload, "ReadyForQuery")
            status = chr(r.byte())
            if status not in "ITE":
                raise ProtocolError(f"ReadyForQuery with an unknown status {status!r}")
            msg = ReadyForQuery(status)
        case 0x54:  # T
            r = _Reader(payload, "RowDescription", enc)
            cols = [
                Column(r.cstr(), r.i32(), r.i16(), r.i32(), r.i16(), r.i32(), r.i16())
                for _ in range(r.count())
            ]
            msg = RowDescription(tuple(cols))
        case 0x44:  # D
            r = _Reader(payload, "DataRow")
            msg = DataRow(_values(r))
        case 0x43:  # C
            r = _Reader(payload, "CommandComplete", enc)
            msg = CommandComplete(r.cstr())
        case 0x74:  # t
            r = _Reader(payload, "ParameterDescription")
            msg = ParameterDescription(tuple(r.i32() for _ in range(r.count())))
        case 0x45 | 0x4E:  # E, N
            r = _Reader(payload, "ErrorResponse" if kind == 0x45 else "NoticeResponse", enc)
            msg = ErrorResponse(_error_fields(r), notice=kind == 0x4E)
        case 0x41:  # A
            r = _Reader(payload, "NotificationResponse", enc)
            msg = NotificationResponse(r.i32(), r.cstr(), r.cstr())
        case 0x47 | 0x48 | 0x57:  # G, H, W
            r = _Reader(payload, "CopyResponse")
            fmt = r.byte()
            direction = {0x47: "in", 0x48: "out", 0x57: "both"}[kind]
            msg = CopyResponse(direction, fmt, _formats(r))
        case 0x64:  # d
            return CopyData(bytes(payload))
        case 0x56:  # V
            r = _Reader(payload, "FunctionCallResponse")
            msg = FunctionCallResponse(r.value())
        case 0x76:  # v
            r = _Reader(payload, "NegotiateProtocolVersion")
            minor = r.i32()
            n = r.i32()
            if n < 0 or n > len(payload):
                raise ProtocolError("NegotiateProtocolVersion has a bad count")
            msg = NegotiateProtocolVersion(minor, tuple(r.cstr() for _ in range(n)))
        case _:
            raise ProtocolError(f"unknown backend message type {_show(kind)}")
    r.done()
    return msg


# -- what the proxy itself says ---------------------------------------------------------------


def error_response(
    sqlstate: str,
    text: str,
    *,
    hint: str = "",
    detail: str = "",
    severity: str = "ERROR",
    enc: str = "utf-8",
) -> bytes:
    """An ErrorResponse as a server would send it (both S and V severity fields)."""
    fields: list[tuple[str, str]] = [("S", severity), ("V", severity), ("C", sqlstate)]
    fields.append(("M", text))
    if detail:
        fields.append(("D", detail))
    if hint:
        fields.append(("H", hint))
    return ErrorResponse(tuple(fields)).encode(enc)


def ready_for_query(status: str) -> bytes:
    return ReadyForQuery(status).encode()


def cancel_request(pid: int, key: bytes) -> bytes:
    return CancelRequest(pid, key).encode()


def iter_messages(
    buf: bytes | bytearray, limit: int = SERVER_MESSAGE_LIMIT
) -> Iterable[tuple[int, bytes]]:
    """Every complete message of `buf` as (type, payload); a trailing partial message is an
    error here (tests and tools use this; the proxy frames incrementally with :func:`frame`)."""
    pos = 0
    while pos < len(buf):
        got = frame(buf, pos, limit)
        if got is None:
            raise ProtocolError("the data ends inside a message")
        kind, start, end = got
        yield kind, bytes(buf[start:end])
        pos = end
