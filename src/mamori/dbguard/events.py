"""The database guard's ledger events, ECS documents (pure: values in, canonical bytes out).

One event per statement (``event.action: query``), and events for sessions (``connect``,
``disconnect``), failed authentication (``auth_failure``), decisions that did not simply allow
(``decision``), unverified end users (``end_user_unverified``), cancel requests (``cancel``)
and protocol anomalies (``protocol_anomaly``). docs/dbguard.md lists every field.

Literal values never reach an event unless ``log_statement_text = true``: the statement text is
the normalised form (constants replaced by ``$n``, comments removed), and quoted values in
server error messages (``invalid input syntax for type integer: "…"``) are masked.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Mapping
from typing import Any, Final

import orjson

from mamori.dbguard.facts import Decision, Result, Session, Statement, Verdict
from mamori.dbguard.guard import Analysis

MODULE: Final = "dbguard"
DATASET: Final = "mamori.dbguard"
MAX_TEXT: Final = 32768
"""Characters of statement text kept in an event (longer texts are cut and flagged)."""

_VALUE_AFTER_COLON = re.compile(r'(:\s*)"((?:[^"\\]|\\.)*)"')


def clean(text: str) -> str:
    """Wire text made safe for JSON: undecodable bytes (kept as surrogates) become U+FFFD."""
    try:
        text.encode("utf-8")
        return text
    except UnicodeEncodeError:
        return text.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def mask_error(message: str) -> str:
    """A server error message without the values PostgreSQL quotes after a colon
    (``invalid input syntax for type integer: "42x"`` → ``…: "?"``); quoted identifiers
    (``relation "residents" does not exist``) are kept."""
    return _VALUE_AFTER_COLON.sub(r'\1"?"', message)


def timestamp(at: float) -> str:
    iso = dt.datetime.fromtimestamp(at, dt.UTC).isoformat(timespec="microseconds")
    return iso.replace("+00:00", "Z")


def canonical(doc: dict[str, Any]) -> bytes:
    """RFC 8785 bytes of an event built here. These documents hold only strings, integers,
    booleans, lists and objects with ASCII member names, for which orjson's sorted output is
    the canonical form (see :mod:`mamori.ledger.canonical`; tests/dbguard/test_events.py
    checks every builder against it), so the general check is skipped on the hot path."""
    return orjson.dumps(doc, option=orjson.OPT_SORT_KEYS)


def decision_doc(decision: Decision) -> dict[str, Any]:
    return {
        "verdict": decision.verdict.word,
        "reasons": [
            {"code": r.code, "detail": clean(r.detail), "clause": r.clause}
            for r in decision.reasons
        ],
    }


def _base(
    action: str,
    session: Session,
    *,
    proxy: str,
    at: float,
    outcome: str,
    kind: str = "event",
    category: tuple[str, ...] = ("database",),
    types: tuple[str, ...] = (),
) -> dict[str, Any]:
    event: dict[str, Any] = {
        "kind": kind,
        "category": list(category),
        "action": action,
        "module": MODULE,
        "dataset": DATASET,
        "outcome": outcome,
    }
    if types:
        event["type"] = list(types)
    end_user = clean(session.end_user)
    role = clean(session.role)
    doc: dict[str, Any] = {
        "@timestamp": timestamp(at),
        "event": event,
        "db": {"system": "postgresql", "name": clean(session.database), "user": role},
        "user": {"name": end_user if end_user and session.end_user_verified else role},
        "service": {"name": proxy, "type": "postgresql"},
        "mamori": {
            "dbguard": {
                "proxy": proxy,
                "session": session.id,
                "application": clean(session.application),
                "end_user": end_user,
                "end_user_verified": session.end_user_verified,
            }
        },
    }
    if session.client_ip:
        doc["source"] = {"ip": session.client_ip, "port": session.client_port}
    if session.tls:
        tls: dict[str, Any] = {"established": True}
        if session.tls_client:
            tls["client"] = {"subject": clean(session.tls_client)}
        doc["tls"] = tls
    return doc


def _guard(doc: dict[str, Any]) -> dict[str, Any]:
    mamori: dict[str, Any] = doc["mamori"]["dbguard"]
    return mamori


def statement_doc(
    stmt: Statement,
    result: Result,
    analysis: Analysis,
    decision: Decision,
    *,
    proxy: str,
    operation: str,
    log_text: bool,
    extra: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``query`` event of one statement."""
    doc = _base(
        "query",
        stmt.session,
        proxy=proxy,
        at=stmt.at,
        outcome="success" if result.ok else "failure",
        types=("access",),
    )
    doc["event"]["duration"] = max(0, int(result.duration_s * 1e9))
    text = clean(stmt.text) if log_text else clean(analysis.normalized)
    if not text and stmt.text.strip():
        text = f"(statement of {len(stmt.text)} characters the scanner could not read)"
    truncated = len(text) > MAX_TEXT
    query: dict[str, Any] = {"text": text[:MAX_TEXT] + ("…" if truncated else "")}
    if analysis.fingerprint:
        query["fingerprint"] = analysis.fingerprint
    response: dict[str, Any] = {
        "returned_rows": result.rows_returned,
        "affected_rows": result.rows_affected,
    }
    if result.command_tag:
        response["command_tag"] = clean(result.command_tag)
    doc["db"].update({"operation": operation, "query": query, "response": response})
    g = _guard(doc)
    g.update(
        {
            "protocol": stmt.protocol,
            "statements_in_message": stmt.statements_in_message,
            "parameters": stmt.parameters,
            "kinds": list(analysis.kinds),
            "decision": decision_doc(decision),
        }
    )
    if truncated:
        g["text_truncated"] = True
    if analysis.parse_error:
        g["parse_error"] = clean(
            analysis.parse_error if log_text else mask_error(analysis.parse_error)
        )
    if not result.ok:
        g["sqlstate"] = result.sqlstate
        g["error"] = clean(result.error if log_text else mask_error(result.error))
    if result.cancelled_by:
        g["cancelled_by"] = [r.code for r in result.cancelled_by]
    if extra:
        g.update(extra)
    return doc


def statement_event(
    stmt: Statement,
    result: Result,
    analysis: Analysis,
    decision: Decision,
    *,
    proxy: str,
    operation: str,
    log_text: bool,
    extra: Mapping[str, Any] | None = None,
) -> bytes:
    return canonical(
        statement_doc(
            stmt,
            result,
            analysis,
            decision,
            proxy=proxy,
            operation=operation,
            log_text=log_text,
            extra=extra,
        )
    )


def decision_event(
    stmt: Statement,
    analysis: Analysis,
    decision: Decision,
    *,
    proxy: str,
    operation: str,
    log_text: bool,
) -> bytes:
    """An ALERT or BLOCK about a statement, as an alert-kind event of its own."""
    blocked = decision.verdict is Verdict.BLOCK
    doc = _base(
        "decision",
        stmt.session,
        proxy=proxy,
        at=stmt.at,
        outcome="failure" if blocked else "success",
        kind="alert",
        types=("denied",) if blocked else ("info",),
    )
    text = clean(stmt.text) if log_text else clean(analysis.normalized)
    doc["db"].update(
        {
            "operation": operation,
            "query": {"text": text[:MAX_TEXT], "fingerprint": analysis.fingerprint},
        }
    )
    _guard(doc)["decision"] = decision_doc(decision)
    return canonical(doc)


def connect_event(session: Session, *, proxy: str, at: float, protocol: str = "3.0") -> bytes:
    doc = _base(
        "connect",
        session,
        proxy=proxy,
        at=at,
        outcome="success",
        category=("database", "session"),
        types=("start",),
    )
    _guard(doc)["protocol_version"] = protocol
    return canonical(doc)


def connect_failure_event(
    session: Session, *, proxy: str, at: float, sqlstate: str, error: str
) -> bytes:
    """The proxy could not open the session: the server unreachable, TLS refused, ..."""
    doc = _base(
        "connect",
        session,
        proxy=proxy,
        at=at,
        outcome="failure",
        category=("database", "session"),
        types=("start",),
    )
    _guard(doc).update({"sqlstate": sqlstate, "error": clean(error)})
    return canonical(doc)


def auth_failure_event(
    session: Session, *, proxy: str, at: float, sqlstate: str, error: str
) -> bytes:
    """The server refused the client's credentials (28P01, 28000)."""
    doc = _base(
        "auth_failure",
        session,
        proxy=proxy,
        at=at,
        outcome="failure",
        category=("database", "authentication"),
        types=("start", "denied"),
    )
    _guard(doc).update({"sqlstate": sqlstate, "error": clean(error)})
    return canonical(doc)


def disconnect_event(
    session: Session,
    *,
    proxy: str,
    at: float,
    duration_s: float,
    statements: int,
    rows_returned: int,
    reason: str,
) -> bytes:
    doc = _base(
        "disconnect",
        session,
        proxy=proxy,
        at=at,
        outcome="success",
        category=("database", "session"),
        types=("end",),
    )
    doc["event"]["duration"] = max(0, int(duration_s * 1e9))
    _guard(doc).update({"statements": statements, "rows_returned": rows_returned, "reason": reason})
    return canonical(doc)


def end_user_event(session: Session, *, proxy: str, at: float, claimed: str, problem: str) -> bytes:
    """An end user claimed with a token that did not verify (DB-2): alert-worthy."""
    doc = _base(
        "end_user_unverified",
        session,
        proxy=proxy,
        at=at,
        outcome="failure",
        kind="alert",
        category=("database", "iam"),
        types=("user", "denied"),
    )
    _guard(doc).update({"claimed_end_user": clean(claimed), "problem": problem})
    return canonical(doc)


def cancel_event(session: Session, *, proxy: str, at: float, by: str) -> bytes:
    """A cancel request reached a session's statement: ``client`` or ``policy``."""
    doc = _base("cancel", session, proxy=proxy, at=at, outcome="success")
    _guard(doc)["cancelled_by"] = by
    return canonical(doc)


def anomaly_event(session: Session, *, proxy: str, at: float, anomaly: str, detail: str) -> bytes:
    """Something on the wire that should not happen (a row count that does not match the
    server's command tag, a malformed message)."""
    doc = _base(
        "protocol_anomaly", session, proxy=proxy, at=at, outcome="unknown", types=("error",)
    )
    _guard(doc).update({"anomaly": anomaly, "detail": clean(detail)})
    return canonical(doc)
