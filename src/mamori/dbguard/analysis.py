"""The SQL firewall's analysis of one statement text (DB-4), and privilege changes (DB-1), on
PostgreSQL's own grammar (pglast: the server's parser and lexer, compiled in). Pure.

:func:`analyse` gives the statement's fingerprint (its shape, constants ignored), its normalised
text (constants replaced by ``$n``, comments removed: no literal value survives), its kinds, and
the injection analysis's :class:`~mamori.dbguard.facts.Decision`. The firewall
(:mod:`mamori.dbguard.firewall`) adds the allowlist; ``mamori dbguard classify`` prints this
analysis alone.

How the verdict is reached (the reason codes are in :data:`REASONS`):

* a finding strong on its own blocks: an OR with an always-true branch, UNION rows from the
  catalogs added to a query over application data, the server's files, programs or other
  servers (``COPY … PROGRAM``, ``lo_import``, ``pg_read_file``, ``dblink``), a sleep inside a
  statement that reads data;
* a weaker finding alerts: a condition of constants under AND, a comment inside a statement,
  UNION padded with constants, several statements where a query is followed by a write, a
  statement PostgreSQL's grammar refuses;
* two different findings together block (``' AND 1=2 --``);
* DB-1's privilege changes (``priv.*``) alert, whatever else.

A bound parameter (``$1``) is a value the application bound: it cannot change the statement, so
a condition on it never counts as a tautology, whatever ``parameters`` says. The text itself is
analysed in full, as an application can bind some values and paste others.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from pglast import parser

from mamori.dbguard.facts import Decision, Reason, Verdict
from mamori.dbguard.sqltokens import (
    ScanError,
    comment_hits,
    count_statements,
    normalize,
    scan,
    semicolon_spans,
    shape,
)
from mamori.dbguard.sqlwalk import Finding, StatementFacts, follows_quietly, inspect

DB1: Final = "DB-1"
DB4: Final = "DB-4"


@dataclass(frozen=True, slots=True)
class ReasonInfo:
    """What a reason code means, for the documentation and the catalogue test."""

    clause: str
    summary: str


REASONS: Final[Mapping[str, ReasonInfo]] = {
    "sqli.tautology": ReasonInfo(
        DB4, "OR with a branch that does not depend on the row (`OR 1=1`, `OR 'a'='a'`, `OR true`): BLOCK"
    ),
    "sqli.constant_condition": ReasonInfo(
        DB4, "a condition of constants only under AND (`AND 1=2`), or a constant compared with a subquery that does not look at the row (blind injection): ALERT"
    ),
    "sqli.odd_expression": ReasonInfo(
        DB4, "expressions no application writes, and a stray quote or number in the input leaves: constants compared or combined outside a condition (`SET name = '' < ''`, `ORDER BY 1 OR 1=1`), operators on quoted strings (`'abc' / col`, `'' || ''`), a comparison of a comparison, CASE over a constant, a constant sort key, MySQL's `@@variables`: ALERT"
    ),
    "sqli.encoded_literal": ReasonInfo(
        DB4, "hexadecimal integer literals (`0x61646d696e`) or text built from character codes (`CHR(97)||CHR(100)||…`): how injection tools avoid quotes: ALERT"
    ),
    "sqli.union_catalog": ReasonInfo(
        DB4, "UNION adds rows from the system catalogs or server information (`version()`, `current_user`) to a query over application data: BLOCK"
    ),
    "sqli.union_select": ReasonInfo(
        DB4, "UNION adds a SELECT padded with constants (`UNION SELECT 1,2,3`) to a query over application data: ALERT"
    ),
    "sqli.catalog_access": ReasonInfo(
        DB4, "a statement over application data also reads a system catalog (`pg_shadow`, `information_schema.tables`): ALERT"
    ),
    "sqli.stacked": ReasonInfo(
        DB4, "several statements in one simple Query, with another finding (BLOCK) or a query followed by a write, DDL or privilege change (ALERT)"
    ),
    "sqli.comment": ReasonInfo(
        DB4, "a block comment between two tokens of a statement (`UNION/**/SELECT`), an empty or MySQL `/*!` comment, or a `--` comment that cuts off the end of a statement: ALERT"
    ),
    "sqli.timing": ReasonInfo(
        DB4, "`pg_sleep` and other sleeps: BLOCK inside a statement that reads data, ALERT on their own"
    ),
    "sqli.dangerous_function": ReasonInfo(
        DB4, "the server's files, programs or other servers (`lo_import`, `pg_read_file`, `dblink`): BLOCK; administration, SQL from a string, other DBMSs' injection functions: ALERT"
    ),
    "sqli.copy_program": ReasonInfo(DB4, "`COPY … PROGRAM` runs a shell command on the server: BLOCK"),
    "sqli.copy_file": ReasonInfo(DB4, "`COPY` to or from a file on the server: ALERT"),
    "sqli.dangerous_command": ReasonInfo(
        DB4, "`LOAD`, functions in C: BLOCK; `ALTER SYSTEM`, untrusted languages, `CREATE EXTENSION dblink` and the like: ALERT"
    ),
    "sqli.unparseable": ReasonInfo(
        DB4, "PostgreSQL's grammar refuses the text (the server would too): ALERT; the firewall refuses it in `enforce` (fail closed)"
    ),
    "priv.grant": ReasonInfo(DB1, "GRANT of privileges or of role membership: ALERT"),
    "priv.revoke": ReasonInfo(DB1, "REVOKE, DROP OWNED: ALERT"),
    "priv.role_change": ReasonInfo(DB1, "CREATE, ALTER, RENAME or DROP ROLE (and USER, GROUP): ALERT"),
    "priv.default_privileges": ReasonInfo(DB1, "ALTER DEFAULT PRIVILEGES: ALERT"),
    "priv.owner_change": ReasonInfo(DB1, "ALTER … OWNER TO, REASSIGN OWNED: ALERT"),
    "priv.row_security": ReasonInfo(
        DB1, "CREATE, ALTER or DROP POLICY; row-level security turned off: ALERT"
    ),
}  # fmt: skip
"""Every reason code the analysis gives, with its clause."""

STACK_SUSPECT_KINDS: Final = frozenset({"insert", "update", "delete", "merge"})

_CACHE_MAX_TEXT: Final = 8192
_LOCATION = re.compile(r' at or near ".*"', re.DOTALL)


@dataclass(frozen=True, slots=True)
class Analysis:
    """What the analysis makes of one statement text (a simple Query may hold several)."""

    fingerprint: str
    """pglast's fingerprint of the whole text (constants ignored); empty when unparseable."""
    normalized: str
    """The text with constants replaced by ``$n`` and comments removed; empty when even the
    lexer refused it (an unterminated string)."""
    kinds: tuple[str, ...]
    """One kind per statement: ``select``, ``insert``, ``update``, ``delete``, ``copy``,
    ``grant``, ``revoke``, ``create_role``, ``alter_role``, ``drop_role``, ``set``, ``ddl`` …"""
    statements: int
    parse_error: str
    """Why PostgreSQL's grammar refuses the text (no part of the text is quoted), or empty."""
    decision: Decision
    """The injection analysis's verdict and reasons (and DB-1's privilege changes)."""

    @property
    def parsed(self) -> bool:
        return not self.parse_error


def analyse(sql: str, *, parameters: int = 0) -> Analysis:
    """Analyse a statement text; never raises (what cannot be analysed is unparseable).

    A clean analysis is reused for every later text of the same shape (:func:`shape`: the same
    statement with other literal values, as clients that paste values into the text send it,
    e.g. psycopg2 or pgbench's simple protocol). Only clean ones: a text with a finding is
    analysed afresh each time, so its reasons describe it and not an earlier one.
    """
    if len(sql) > _CACHE_MAX_TEXT or _refusal(sql):
        return _analyse(sql, parameters)
    try:
        tokens = scan(sql)
    except ScanError:
        return _analyse(sql, parameters)
    key = shape(sql, tokens)
    hit = _SHAPES.get(key)
    if hit is not None:
        return hit
    result = _analyse(sql, parameters, tokens)
    if result.decision.verdict is Verdict.ALLOW and result.parsed:
        if len(_SHAPES) >= _SHAPES_MAX:
            _SHAPES.clear()
        _SHAPES[key] = result
    return result


_SHAPES: dict[str, Analysis] = {}
_SHAPES_MAX: Final = 8192


def _analyse(sql: str, parameters: int, tokens: tuple[parser.Token, ...] | None = None) -> Analysis:
    del parameters  # bound values never change the statement: nothing to weigh
    refused = _refusal(sql)
    if refused:
        return _unparseable(sql, refused)
    try:
        raws = parser.parse_sql(sql)
        fingerprint = parser.fingerprint(sql)
        if tokens is None:
            tokens = scan(sql)
    except (parser.ParseError, ScanError) as e:
        return _unparseable(sql, _describe(e))
    try:
        facts = [inspect(r.stmt) for r in raws if r.stmt is not None]
    except RecursionError:
        return _unparseable(sql, "nested too deeply to analyse")
    spans = [
        (r.stmt_location or 0, (r.stmt_location or 0) + r.stmt_len if r.stmt_len else len(sql))
        for r in raws
    ]
    findings = [f for fact in facts for f in fact.findings]
    kinds = tuple(fact.kind for fact in facts)
    findings += _comment_findings(sql, tokens, spans, kinds)
    findings += _literal_findings(sql, tokens)
    stacked = _stacked(facts, findings)
    if stacked is not None:
        findings.append(stacked)
    return Analysis(
        fingerprint=fingerprint,
        normalized=normalize(sql, tokens),
        kinds=kinds,
        statements=len(facts),
        parse_error="",
        decision=decide(findings),
    )


def _refusal(sql: str) -> str:
    if "\x00" in sql:
        return "contains a NUL character, which no PostgreSQL statement can"
    try:
        sql.encode("utf-8")
    except UnicodeEncodeError:
        return "not valid UTF-8"
    return ""


def _describe(e: Exception) -> str:
    """The parser's message without the piece of the text it quotes."""
    message = _LOCATION.sub("", str(e.args[0] if e.args else e))
    location = e.args[1] if len(e.args) > 1 and isinstance(e.args[1], int) else None
    return f"{message} at character {location}" if location is not None else message


def _unparseable(sql: str, why: str) -> Analysis:
    findings = [Finding("sqli.unparseable", f"PostgreSQL's grammar refuses it: {why}")]
    normalized = ""
    statements = 1 if sql.strip() else 0
    if not why.startswith(("contains a NUL", "not valid UTF-8")):
        try:
            tokens = scan(sql)
        except ScanError:
            pass
        else:
            normalized = normalize(sql, tokens)
            statements = count_statements(tokens)
            spans = semicolon_spans(tokens, len(sql))
            findings += _comment_findings(sql, tokens, spans, ("select",) * len(spans))
    return Analysis(
        fingerprint="",
        normalized=normalized,
        kinds=(),
        statements=statements,
        parse_error=why,
        decision=decide(findings),
    )


_COMMENTED_KINDS: Final = frozenset({"select", "insert", "update", "delete", "merge"})


def _comment_findings(
    sql: str,
    tokens: tuple[parser.Token, ...],
    spans: list[tuple[int, int]],
    kinds: tuple[str, ...],
) -> list[Finding]:
    out = []
    injectable = bool(kinds) and kinds[0] in _COMMENTED_KINDS
    for hit in comment_hits(sql, tokens, spans):
        quiet = hit.statement < len(kinds) and kinds[hit.statement] not in _COMMENTED_KINDS
        if quiet and not (injectable and hit.statement > 0):
            # DDL and scripts carry comments; injection lands in queries (and what it stacks
            # after one is its own)
            continue
        if hit.style == "line":
            out.append(Finding("sqli.comment", "a -- comment cuts off the end of the statement"))
        else:
            out.append(Finding("sqli.comment", f"a block comment {hit.where} the statement"))
    return out


def _literal_findings(sql: str, tokens: tuple[parser.Token, ...]) -> list[Finding]:
    for t in tokens:
        if t.name in ("ICONST", "FCONST") and sql[t.start : t.start + 2].lower() in (
            "0x",
            "0o",
            "0b",
        ):
            return [
                Finding(
                    "sqli.encoded_literal",
                    "a hexadecimal, octal or binary integer literal (MySQL's way to write text without quotes)",
                )
            ]
    return []


def _stacked(facts: list[StatementFacts], findings: list[Finding]) -> Finding | None:
    if len(facts) < 2:
        return None
    if any(f.code.startswith("sqli.") for f in findings):
        return Finding(
            "sqli.stacked", f"{len(facts)} statements in one message, with another finding"
        )
    body = [f for f in facts if f.kind not in ("transaction", "set")]
    if not body or body[0].kind not in ("select", *STACK_SUSPECT_KINDS):
        return None
    first = body[0].kind
    for fact in body[1:]:
        kind = fact.kind
        if fact.reads_catalog:
            return Finding(
                "sqli.stacked", f"a {first} followed by a statement that reads the catalogs"
            )
        if follows_quietly(kind):
            continue
        if kind in STACK_SUSPECT_KINDS and first != "select":
            continue
        return Finding("sqli.stacked", f"a {first} followed by a {kind} in one message")
    return None


def decide(findings: list[Finding]) -> Decision:
    """The verdict for a statement's findings (see the module's docstring)."""
    if not findings:
        return Decision()
    codes = {f.code for f in findings}
    injection = {c for c in codes if c.startswith("sqli.")}
    block = any(f.block for f in findings) or (bool(injection) and len(codes) >= 2)
    reasons = tuple(Reason(f.code, f.detail, REASONS[f.code].clause) for f in findings)
    return Decision(Verdict.BLOCK if block else Verdict.ALERT, reasons)
