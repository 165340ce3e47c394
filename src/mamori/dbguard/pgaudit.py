"""pgaudit lines in PostgreSQL's logs as the database guard's statement events (DB-2, DB-3).

For deployments that cannot put the proxy in the path: the ``[[tail]]`` formats
``pglog-csv`` and ``pglog-json`` read the server's csvlog / jsonlog files
(:mod:`mamori.dbguard.pglog`). A message ``AUDIT: SESSION,1,1,READ,SELECT,TABLE,public.t,
<statement>,<parameter>[,<rows>]`` (pgaudit's format, https://github.com/pgaudit/pgaudit
README "Format"; the rows field only with ``pgaudit.log_rows``, pgaudit 1.7+) becomes a
statement event shaped as the proxy's:

* ``event.category: [database]``, ``event.action: query``, ``event.module: dbguard``,
  ``event.dataset: mamori.pgaudit``, ``event.type`` by pgaudit's class;
* ``db.name``, ``db.user`` and ``user.name`` (the role), ``source.ip``/``source.port`` (the
  log's remote host, when an address), ``db.operation`` (pgaudit's command, the command tag);
* ``db.query.text``: the statement normalised as the proxy does, by PostgreSQL's own lexer
  (pglast): every constant replaced by ``$n``, comments removed; text the lexer refuses has
  no ``db.query.text`` at all (its literals could be secrets);
* ``db.statement.fingerprint`` and ``db.query.fingerprint`` (where the proxy puts it):
  pglast's fingerprint (the same for the same statement shape), when PostgreSQL's parser
  accepts the statement (``postgresql.audit.statement_parsed``);
* ``db.response.returned_rows`` for ``READ`` entries, ``db.response.affected_rows`` for
  ``WRITE`` ones, when pgaudit logs rows (``pgaudit.log_rows``);
* pgaudit's own fields under ``postgresql.audit.*``; parameter values are never kept.

Every other log message becomes an ordinary event (``event.dataset: mamori.pglog``) with
``log.level``, the message, and the session's fields; a few well-known ones (connections,
failed password authentication, disconnections) get ``event.action`` and a category.
"""

from __future__ import annotations

import base64
import datetime as dt
import re
from dataclasses import dataclass
from typing import Any, Final

import orjson

from mamori.dbguard.pglog import (
    CSV_COLUMNS,
    Assembled,
    CsvAssembler,
    Fragment,
    LogRecord,
    from_csv,
    from_json,
    parse_time,
    rfc3339,
    split_csv,
)
from mamori.ingest.boundary import Rejected

Doc = dict[str, Any]

FORMATS: Final = ("pglog-csv", "pglog-json")
"""The ``[[tail]]`` formats this module reads."""
AUDIT_PREFIX: Final = "AUDIT: "
REDACTED: Final = "<REDACTED>"
EVENT_TYPES: Final = {
    "READ": "access",
    "WRITE": "change",
    "FUNCTION": "access",
    "ROLE": "change",
    "DDL": "change",
    "MISC": "info",
    "MISC_SET": "info",
}
"""pgaudit class → ``event.type``."""
_MESSAGE_COLUMN: Final = CSV_COLUMNS.index("message") + 1
_ABSENT: Final = frozenset({"<not logged>", "<previously logged>", "<none>", ""})


@dataclass(frozen=True, slots=True)
class AuditEntry:
    """One pgaudit entry (the message after ``AUDIT: ``)."""

    audit_type: str
    """``SESSION`` or ``OBJECT``."""
    statement_id: int
    substatement_id: int
    audit_class: str
    """``READ``, ``WRITE``, ``FUNCTION``, ``ROLE``, ``DDL``, ``MISC``, ``MISC_SET``."""
    command: str
    object_type: str
    object_name: str
    statement: str
    """As logged: the client's text, or ``<previously logged>`` / ``<not logged>``."""
    parameters_logged: bool
    rows: int | None
    """Rows retrieved or affected (``pgaudit.log_rows``), else None."""


def parse_audit(message: str) -> AuditEntry | None:
    """The entry a log message holds; None when it is not a pgaudit entry."""
    if not message.startswith(AUDIT_PREFIX):
        return None
    fields = split_csv(message[len(AUDIT_PREFIX) :], lenient=True)
    if fields is None or len(fields) < 8 or fields[0] not in ("SESSION", "OBJECT"):
        return None
    if not (fields[1].isdigit() and fields[2].isdigit()):
        return None
    rows: int | None = None
    if len(fields) >= 10 and fields[9].isdigit() and len(fields[9]) < 20:
        rows = int(fields[9])
    return AuditEntry(
        audit_type=fields[0],
        statement_id=int(fields[1][:19]),
        substatement_id=int(fields[2][:19]),
        audit_class=fields[3],
        command=fields[4],
        object_type=fields[5],
        object_name=fields[6],
        statement=fields[7],
        parameters_logged=len(fields) >= 9 and fields[8] != "<not logged>",
        rows=rows,
    )


@dataclass(frozen=True, slots=True)
class QueryFields:
    """A statement as events carry it: never its literal values."""

    normalised: str
    """Every constant replaced by ``$n``, comments removed (PostgreSQL's lexer, as the proxy
    does: :func:`mamori.dbguard.sqltokens.normalize`); empty when the lexer refused it."""
    fingerprint: str
    """pglast's fingerprint; empty when PostgreSQL's parser refused the statement."""


def query_fields(text: str) -> QueryFields:
    """The normalised text and fingerprint of a logged statement, as the proxy computes them.
    Nothing for ``<not logged>``/``<previously logged>`` or text the lexer refuses."""
    if text in _ABSENT or "\x00" in text:
        return QueryFields("", "")
    from pglast import parser

    from mamori.dbguard import sqltokens

    # pgaudit writes a role's password as <REDACTED> (CREATE/ALTER ROLE … PASSWORD): a literal
    # there scans and parses, and becomes $n like any other.
    text = text.replace(REDACTED, "''")
    try:
        normalised = sqltokens.normalize(text, sqltokens.scan(text))
    except Exception:  # the lexer refused it (ScanError), or worse: keep nothing of it
        return QueryFields("", "")
    try:
        fingerprint: str = parser.fingerprint(text)
    except Exception:  # a statement PostgreSQL's grammar refuses: no fingerprint
        fingerprint = ""
    return QueryFields(normalised, fingerprint)


# --- events ------------------------------------------------------------------------------------


def _ip(host: str) -> str | None:
    import ipaddress

    if not host or host.startswith("[") or len(host) > 64:
        return None
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


_INT: Final = re.compile(r"-?[0-9]{1,18}\Z")


def _int(text: str) -> int | None:
    return int(text) if _INT.match(text) else None


def _base(rec: LogRecord, received: dt.datetime, tz: dt.tzinfo) -> Doc:
    when = parse_time(rec.time, tz)
    doc: Doc = {"@timestamp": rfc3339(when or received)}
    session: Doc = {}
    for key, value in (
        ("session_id", rec.session_id),
        ("session_line_number", _int(rec.line_num)),
        ("command_tag", rec.command_tag),
        ("virtual_transaction_id", rec.vxid),
        ("transaction_id", _int(rec.txid)),
        ("application_name", rec.application),
        ("backend_type", rec.backend_type),
        ("query_id", _int(rec.query_id)),
    ):
        if value not in ("", None, 0):
            session[key] = value
    if when is None and rec.time:
        session["timestamp"] = rec.time[:64]
    doc["postgresql"] = {"log": session}
    if rec.severity:
        doc["log"] = {"level": rec.severity.lower()[:16]}
    if rec.user:
        doc["user"] = {"name": rec.user}
    db: Doc = {"system": "postgresql"}
    if rec.database:
        db["name"] = rec.database
    if rec.user:
        db["user"] = rec.user
    doc["db"] = db
    ip = _ip(rec.remote_host)
    if ip is not None:
        source: Doc = {"ip": ip}
        port = _int(rec.remote_port)
        if port is not None and 0 <= port <= 65535:
            source["port"] = port
        doc["source"] = source
    elif rec.remote_host and rec.remote_host != "[local]":
        doc["source"] = {"domain": rec.remote_host[:255]}
    pid = _int(rec.pid)
    if pid is not None and pid >= 0:
        doc["process"] = {"pid": pid}
    return doc


def audit_doc(rec: LogRecord, entry: AuditEntry, received: dt.datetime, tz: dt.tzinfo) -> Doc:
    """The statement event of one pgaudit entry (see the module docstring)."""
    doc = _base(rec, received, tz)
    event_type = EVENT_TYPES.get(entry.audit_class, "info")
    doc["event"] = {
        "kind": "event",
        "category": ["database"],
        "type": [event_type],
        "action": "query",
        "module": "dbguard",
        "dataset": "mamori.pgaudit",
    }
    db = doc["db"]
    if entry.command:
        db["operation"] = entry.command
    query = query_fields(entry.statement)
    audit: Doc = {
        "type": entry.audit_type,
        "statement_id": entry.statement_id,
        "substatement_id": entry.substatement_id,
        "class": entry.audit_class,
        "command": entry.command,
        "parameters_logged": entry.parameters_logged,
    }
    if query.normalised:
        db["query"] = {"text": query.normalised}
    if query.fingerprint:
        # db.query.fingerprint is where the proxy's events (events.py) carry it.
        db.setdefault("query", {})["fingerprint"] = query.fingerprint
        db["statement"] = {"fingerprint": query.fingerprint}
    if entry.statement in ("<previously logged>", "<not logged>"):
        audit["statement"] = entry.statement
    else:
        audit["statement_parsed"] = bool(query.fingerprint)
    if entry.object_type:
        audit["object_type"] = entry.object_type
    if entry.object_name:
        audit["object_name"] = entry.object_name
    if entry.rows is not None:
        audit["rows"] = entry.rows
        if entry.audit_class == "READ":
            db["response"] = {"returned_rows": entry.rows}
        elif entry.audit_class == "WRITE":
            db["response"] = {"affected_rows": entry.rows}
    doc["postgresql"]["audit"] = audit
    return doc


_KNOWN: Final = (
    (
        re.compile(r"connection authorized: user=(?P<user>\S+)"),
        "connection_authorized",
        "session",
        "start",
        "success",
    ),
    (
        re.compile(r"password authentication failed for user \"(?P<user>.*)\"\Z"),
        "authentication_failure",
        "authentication",
        "start",
        "failure",
    ),
    (
        re.compile(r"connection received: host="),
        "connection_received",
        "network",
        "connection",
        None,
    ),
    (
        re.compile(r"disconnection: session time: "),
        "disconnection",
        "session",
        "end",
        None,
    ),
)


def log_doc(rec: LogRecord, received: dt.datetime, tz: dt.tzinfo) -> Doc:
    """The ordinary event of a server log message that is not a pgaudit entry."""
    doc = _base(rec, received, tz)
    event: Doc = {"kind": "event", "module": "postgresql", "dataset": "mamori.pglog"}
    doc["event"] = event
    doc["message"] = rec.message
    pg = doc["postgresql"]["log"]
    for key, value in (
        ("sql_state_code", rec.sqlstate),
        ("detail", rec.detail),
        ("hint", rec.hint),
        ("context", rec.context),
        ("location", rec.location),
    ):
        if value and value != "00000":
            pg[key] = value
    for key, text in (("query", rec.query), ("internal_query", rec.internal_query)):
        # The statement an error is about, normalised as statement events are (literals out).
        if text:
            query = query_fields(text)
            if query.normalised:
                pg[key] = query.normalised
            if query.fingerprint:
                pg[f"{key}_fingerprint"] = query.fingerprint
    if rec.severity in ("ERROR", "FATAL", "PANIC"):
        doc["error"] = {"message": rec.message}
        if rec.sqlstate:
            doc["error"]["code"] = rec.sqlstate
    for regex, action, category, kind, outcome in _KNOWN:
        m = regex.match(rec.message)
        if m is None:
            continue
        event["action"] = action
        event["category"] = [category]
        event["type"] = [kind]
        if outcome is not None:
            event["outcome"] = outcome
        user = m.groupdict().get("user")
        if user:
            doc["user"] = {"name": user}
        break
    return doc


def record_doc(rec: LogRecord, received: dt.datetime, tz: dt.tzinfo) -> Doc:
    """The event of one log record: a statement event for a pgaudit entry, else ordinary."""
    entry = parse_audit(rec.message)
    if entry is not None:
        return audit_doc(rec, entry, received, tz)
    return log_doc(rec, received, tz)


# --- the reader the tail uses ------------------------------------------------------------------


class PgLogReader:
    """Reads the lines of one csvlog or jsonlog file (see :class:`mamori.ingest.normalise.
    LineNormaliser`, formats ``pglog-csv`` and ``pglog-json``).

    csvlog records may span lines: lines are held until the record is whole (the event comes
    with its last line). Never raises on bad input.
    """

    def __init__(self, fmt: str, tz: dt.tzinfo) -> None:
        if fmt not in FORMATS:
            raise ValueError(f"not a PostgreSQL log format: {fmt!r}")
        self.fmt = fmt
        self.tz = tz
        self._csv = CsvAssembler()
        self._stranded = b""

    @property
    def held_bytes(self) -> int:
        """Bytes of an unfinished csvlog record held (see :attr:`CsvAssembler.held_bytes`)."""
        return self._csv.held_bytes

    def reset(self) -> None:
        """The next line starts another file. A record left unfinished by the last file is
        not lost: its bytes ride on the next event (``postgresql.log.stranded``), or on the
        next rejected line."""
        if self._csv.holding:
            self._stranded = self._csv.take()

    def feed(
        self, line: bytes, received: dt.datetime, truncated_from: int | None = None
    ) -> tuple[bytes, Doc | Rejected | None]:
        """`(raw, result)`: the event of the record `line` completes (or a rejection with the
        bytes it concerns, `raw`), or None while a csvlog record goes on."""
        try:
            raw, result = self._feed(line, received, truncated_from)
        except Exception as e:  # a bug must not lose the line
            raw, result = line, Rejected(f"PostgreSQL log line not read ({type(e).__name__})")
        if self._stranded and result is not None:
            stranded, self._stranded = self._stranded, b""
            if isinstance(result, Rejected):
                return stranded + b"\n" + raw, Rejected(
                    "the previous file ended inside a csvlog record; then: " + result.reason
                )
            log = result.setdefault("postgresql", {}).setdefault("log", {})
            log["stranded"] = {
                "raw": base64.b64encode(stranded).decode("ascii"),
                "raw_bytes": len(stranded),
                "reason": "the previous file ended inside a csvlog record",
            }
        return raw, result

    def _feed(
        self, line: bytes, received: dt.datetime, truncated_from: int | None
    ) -> tuple[bytes, Doc | Rejected | None]:
        if self.fmt == "pglog-json":
            return line, self._json(line, received, truncated_from)
        got = self._csv.feed(line, cut=truncated_from is not None)
        if got is None:
            return line, None
        if isinstance(got, Fragment):
            return got.raw, Rejected(got.reason)
        return got.raw, self._csv_record(got, received)

    def _json(
        self, line: bytes, received: dt.datetime, truncated_from: int | None
    ) -> Doc | Rejected:
        if truncated_from is not None:
            return Rejected(
                f"jsonlog line of {truncated_from} bytes exceeds the size limit; kept truncated"
            )
        try:
            value = orjson.loads(line)
        except orjson.JSONDecodeError as e:
            return Rejected(f"not a jsonlog record: not valid JSON ({e})")
        if not isinstance(value, dict):
            return Rejected("not a jsonlog record: not a JSON object")
        rec = from_json(value)
        if rec is None:
            return Rejected("not a jsonlog record: 'timestamp' or 'message' missing")
        return record_doc(rec, received, self.tz)

    def _csv_record(self, got: Assembled, received: dt.datetime) -> Doc | Rejected:
        text = got.raw.decode("utf-8", "replace")
        fields = split_csv(text, lenient=got.cut)
        if fields is None:
            return Rejected("not a csvlog record: not valid CSV")
        if got.cut and len(fields) >= _MESSAGE_COLUMN:
            # Cut in (or after) its message: who, where and what are there; the rest is not.
            fields += [""] * (len(CSV_COLUMNS) - len(fields))
        rec = from_csv(fields)
        if rec is None:
            return Rejected(f"not a csvlog record: {len(fields)} fields, fewer than 23")
        return record_doc(rec, received, self.tz)
