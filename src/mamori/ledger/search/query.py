"""mamori's search syntax: parsed into a tree, compiled to FTS5 and parameterised SQL (pure).

The syntax is documented, with examples, in docs/search.md. In short::

    sshd failed                 both words (AND)
    "session opened"            a phrase
    failed OR failure           either (OR binds tighter than AND, as in Splunk and Google)
    NOT cron   -cron            not
    (a OR b) c                  grouping
    auth*                       a word starting with `auth`
    host:web-01 user:alice app:sshd action:login outcome:failure severity:err
    ip:10.0.0.0/8  src:1.2.3.4  dst:2001:db8::/32
    event.code:4625             any other ECS field, exact value

No user text ever reaches SQLite as syntax: words and phrases become double-quoted FTS5 strings
(quotes doubled, FTS5 §3.1), field values become index tokens (a hash, see
:func:`mamori.ledger.search.fields.field_token`), addresses and times become bound parameters.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass

from mamori.ledger.errors import LedgerError
from mamori.ledger.search import fields as F

MAX_QUERY_CHARS = 4_096
MAX_TERMS = 256
MAX_DEPTH = 32

ROLE_ANY = 0

_SHORT_FIELDS = {name: name for name in F.KNOWN_FIELDS}
_IP_FIELDS = {
    "ip": ROLE_ANY,
    "src": F.ROLE_SOURCE,
    "source.ip": F.ROLE_SOURCE,
    "dst": F.ROLE_DESTINATION,
    "destination.ip": F.ROLE_DESTINATION,
}
_UNDOTTED_ECS = frozenset({"message", "tags", F.TIME_FIELD})
_PATH = re.compile(r"[A-Za-z_@][A-Za-z0-9_@-]*(?:\.[A-Za-z0-9_@-]+)*")
_OPERATORS = {"OR": "or", "AND": "and", "NOT": "not"}
_WORD_END = frozenset('()"')


class QueryError(LedgerError):
    """A search query, field filter or time that cannot be understood; says where and why."""

    def __init__(
        self,
        message: str,
        *,
        query: str | None = None,
        position: int | None = None,
        hint: str | None = None,
    ) -> None:
        where = "" if position is None else f" (at column {position + 1})"
        super().__init__(message + where, hint=hint)
        self.query = query
        """The text that was being parsed."""
        self.position = position
        """0-based offset of the problem in :attr:`query`, when there is one."""


# ---------------------------------------------------------------------------- the tree


@dataclass(frozen=True, slots=True)
class Words:
    """A word or phrase to find in the text; `prefix`: the last word may continue."""

    text: str
    prefix: bool
    position: int


@dataclass(frozen=True, slots=True)
class FieldIs:
    """A field holding exactly a value. `kind` is a short name (`host`) or `=` + ECS path."""

    kind: str
    value: str
    position: int


@dataclass(frozen=True, slots=True)
class IpIn:
    """A source (role 1), destination (2) or either (0) address within [low, high]."""

    role: int
    low: bytes
    high: bytes
    position: int


@dataclass(frozen=True, slots=True)
class Not:
    """Events the child does not match."""

    child: Node


@dataclass(frozen=True, slots=True)
class And:
    """Events every child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Or:
    """Events some child matches."""

    children: tuple[Node, ...]


Node = Words | FieldIs | IpIn | Not | And | Or


# ---------------------------------------------------------------------------- lexing


@dataclass(frozen=True, slots=True)
class _Tok:
    kind: str  # word | phrase | field | lparen | rparen | or | and | not
    text: str
    position: int
    prefix: bool = False
    name: str = ""
    value_position: int = 0


def _check_characters(query: str) -> None:
    for i, ch in enumerate(query):
        cat = unicodedata.category(ch)
        if cat == "Cs":
            raise QueryError("the query is not valid Unicode", query=query, position=i)
        if cat == "Cc" and not ch.isspace():
            raise QueryError(
                f"the query contains the control character U+{ord(ch):04X}",
                query=query,
                position=i,
                hint="remove it; control characters cannot be searched for",
            )


def _read_phrase(query: str, start: int) -> tuple[str, int]:
    """The unescaped content of the phrase opening at `start`, and the offset after it."""
    out: list[str] = []
    i = start + 1
    n = len(query)
    while i < n:
        ch = query[i]
        if ch == "\\" and i + 1 < n and query[i + 1] in '"\\':
            out.append(query[i + 1])
            i += 2
            continue
        if ch == '"':
            return "".join(out), i + 1
        out.append(ch)
        i += 1
    raise QueryError(
        "this quote is never closed",
        query=query,
        position=start,
        hint='end the phrase with " (write \\" for a quote inside it)',
    )


def _is_field_name(name: str) -> bool:
    low = name.lower()
    if low in _SHORT_FIELDS or low in _IP_FIELDS:
        return True
    return _PATH.fullmatch(name) is not None and ("." in name or name in _UNDOTTED_ECS)


def _lex(query: str) -> list[_Tok]:
    toks: list[_Tok] = []
    i = 0
    n = len(query)
    while i < n:
        ch = query[i]
        if ch.isspace():
            i += 1
        elif ch == "(":
            toks.append(_Tok("lparen", ch, i))
            i += 1
        elif ch == ")":
            toks.append(_Tok("rparen", ch, i))
            i += 1
        elif ch == '"':
            text, end = _read_phrase(query, i)
            prefix = end < n and query[end] == "*"
            toks.append(_Tok("phrase", text, i, prefix=prefix))
            i = end + 1 if prefix else end
        elif ch == "-":
            if i + 1 >= n or query[i + 1].isspace() or query[i + 1] == ")":
                raise QueryError(
                    "'-' must be followed by what to exclude",
                    query=query,
                    position=i,
                    hint='write -word, -"a phrase", -field:value or -(…); quote "-" to search for it',
                )
            toks.append(_Tok("not", ch, i))
            i += 1
        else:
            j = i
            while j < n and not query[j].isspace() and query[j] not in _WORD_END:
                j += 1
            toks.append(_word_token(query, i, j))
            i = j
            last = toks[-1]
            if last.kind == "field" and not last.text and i < n and query[i] == '"':
                text, end = _read_phrase(query, i)
                toks[-1] = _Tok("field", text, last.position, name=last.name, value_position=i)
                if end < n and query[end] == "*":
                    _no_field_prefix(query, end)
                i = end
            elif last.kind == "field" and not last.text:
                raise QueryError(
                    f"the field {last.name!r} has no value",
                    query=query,
                    position=last.position,
                    hint=f'write {last.name}:value or {last.name}:"a value with spaces"',
                )
    return toks


def _no_field_prefix(query: str, position: int) -> None:
    raise QueryError(
        "field values match exactly; '*' cannot be used in a field value",
        query=query,
        position=position,
        hint="drop the '*', or search the value as text: a word like web* matches any field",
    )


def _word_token(query: str, start: int, end: int) -> _Tok:
    word = query[start:end]
    if word in _OPERATORS:
        return _Tok(_OPERATORS[word], word, start)
    colon = word.find(":")
    if colon > 0 and _is_field_name(word[:colon]):
        name, value = word[:colon], word[colon + 1 :]
        known = name.lower() in _SHORT_FIELDS or name.lower() in _IP_FIELDS
        if value or known or (end < len(query) and query[end] == '"'):
            if value.endswith("*"):
                _no_field_prefix(query, start + len(word) - 1)
            return _Tok("field", value, start, name=name, value_position=start + colon + 1)
        # `org.example.Class:` followed by a space is a logger name copied from a log line.
    prefix = word.endswith("*")
    body = word[:-1] if prefix else word
    star = body.find("*")
    if star >= 0 or not body:
        raise QueryError(
            "'*' may only end a word (prefix search)",
            query=query,
            position=start + (star if star >= 0 else 0),
            hint='write auth* for words starting with "auth"; quote the text to search for a "*"',
        )
    return _Tok("word", body, start, prefix=prefix)


# ---------------------------------------------------------------------------- parsing


class _Parser:
    """Recursive descent. Precedence, tightest first: ( ), NOT/-, OR, AND (explicit or implied)."""

    def __init__(self, query: str, toks: list[_Tok]) -> None:
        self.query = query
        self.toks = toks
        self.i = 0
        self.depth = 0
        self.terms = 0

    def error(self, message: str, position: int, hint: str | None = None) -> QueryError:
        return QueryError(message, query=self.query, position=position, hint=hint)

    def peek(self) -> _Tok | None:
        return self.toks[self.i] if self.i < len(self.toks) else None

    def parse(self) -> Node:
        node = self.and_expr()
        tok = self.peek()
        if tok is not None:  # only a stray ')' stops and_expr early
            raise self.error("this ')' has no matching '('", tok.position)
        return node

    def and_expr(self) -> Node:
        items = [self.or_expr()]
        while (tok := self.peek()) is not None and tok.kind != "rparen":
            if tok.kind == "and":
                self.i += 1
                self.need_operand(tok)
            items.append(self.or_expr())
        return _join(And, items)

    def or_expr(self) -> Node:
        items = [self.unary()]
        while (tok := self.peek()) is not None and tok.kind == "or":
            self.i += 1
            self.need_operand(tok)
            items.append(self.unary())
        return _join(Or, items)

    def need_operand(self, op: _Tok) -> None:
        nxt = self.peek()
        if nxt is None or nxt.kind in ("rparen", "or", "and"):
            raise self.error(
                f"{op.text} needs a term on its right",
                op.position,
                hint=f'to search for the word "{op.text}", put it in quotes',
            )

    def unary(self) -> Node:
        tok = self.peek()
        if tok is None:
            end = len(self.query.rstrip())
            raise self.error("the query ends where a term was expected", end)
        if tok.kind == "not":
            self.i += 1
            self.enter(tok)
            if self.peek() is None or self.toks[self.i].kind in ("rparen", "or", "and"):
                raise self.error(
                    f"{tok.text} needs a term on its right",
                    tok.position,
                    hint='put a word, "phrase", field:value or (…) after it; '
                    'quote "NOT" or "-" to search for it',
                )
            child = self.unary()
            self.depth -= 1
            return child.child if isinstance(child, Not) else Not(child)
        if tok.kind == "lparen":
            self.i += 1
            self.enter(tok)
            nxt = self.peek()
            if nxt is not None and nxt.kind == "rparen":
                raise self.error(
                    "empty parentheses",
                    tok.position,
                    hint="put a term inside, or quote text that contains parentheses",
                )
            if nxt is None:
                raise self.error("this '(' is never closed", tok.position, hint="add a ')'")
            node = self.and_expr()
            close = self.peek()
            if close is None:
                raise self.error("this '(' is never closed", tok.position, hint="add a ')'")
            self.i += 1
            self.depth -= 1
            return node
        if tok.kind == "rparen":
            raise self.error("this ')' has no matching '('", tok.position)
        if tok.kind in ("or", "and"):
            raise self.error(
                f"{tok.text} needs a term on its left",
                tok.position,
                hint=f'to search for the word "{tok.text}", put it in quotes',
            )
        self.i += 1
        self.terms += 1
        if self.terms > MAX_TERMS:
            raise self.error(f"the query has more than {MAX_TERMS} terms", tok.position)
        if tok.kind == "field":
            return _field_node(tok.name, tok.text, self.query, tok.value_position)
        return _words_node(tok.text, tok.prefix, self.query, tok.position)

    def enter(self, tok: _Tok) -> None:
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise self.error(f"the query nests deeper than {MAX_DEPTH} levels", tok.position)


def _join(kind: type[And] | type[Or], items: list[Node]) -> Node:
    if len(items) == 1:
        return items[0]
    flat: list[Node] = []
    for item in items:
        flat.extend(item.children if isinstance(item, kind) else (item,))
    return kind(tuple(flat))


def _words_node(text: str, prefix: bool, query: str, position: int) -> Words:
    if not text:
        raise QueryError("empty phrase", query=query, position=position, hint='remove the ""')
    if not F.has_token(text):
        raise QueryError(
            f"{text!r} has no letter or digit to search for",
            query=query,
            position=position,
            hint="words are made of letters and digits; punctuation alone cannot be searched",
        )
    return Words(text, prefix, position)


def _field_node(name: str, value: str, query: str, position: int) -> Node:
    """The node for `name:value`; `position` is where the value starts in `query`."""
    low = name.lower()
    if not value:
        raise QueryError(f"the field {name!r} has no value", query=query, position=position)
    if low in _IP_FIELDS:
        low_key, high_key = _ip_range(value, query, position)
        return IpIn(_IP_FIELDS[low], low_key, high_key, position)
    if low in _SHORT_FIELDS:
        return FieldIs(low, F.known_value(low, value), position)
    if name == F.TIME_FIELD:
        raise QueryError(
            "@timestamp cannot be matched exactly",
            query=query,
            position=position,
            hint="select a time range with --since and --until",
        )
    if _PATH.fullmatch(name) is None or ("." not in name and name not in _UNDOTTED_ECS):
        known = ", ".join([*_SHORT_FIELDS, *_IP_FIELDS])
        raise QueryError(
            f"unknown field {name!r}",
            query=query,
            position=max(0, position - len(name) - 1),
            hint=f"use one of {known}, or a dotted ECS field such as event.code",
        )
    return FieldIs("=" + name, value, position)


def _ip_range(value: str, query: str, position: int) -> tuple[bytes, bytes]:
    try:
        if "/" in value:
            net = ipaddress.ip_network(value, strict=False)
            return F.ipv6_bytes(net.network_address), F.ipv6_bytes(net.broadcast_address)
        addr = ipaddress.ip_address(value)
    except ValueError as e:
        raise QueryError(
            f"{value!r} is not an IP address or CIDR range",
            query=query,
            position=position,
            hint="write an address (10.0.0.1, 2001:db8::1) or a range (10.0.0.0/8)",
        ) from e
    key = F.ipv6_bytes(addr)
    return key, key


def parse(query: str) -> Node | None:
    """The query's tree; None for a query with no terms (every event matches)."""
    if len(query) > MAX_QUERY_CHARS:
        raise QueryError(
            f"the query is longer than {MAX_QUERY_CHARS} characters",
            query=query,
            position=MAX_QUERY_CHARS,
        )
    _check_characters(query)
    toks = _lex(query)
    if not toks:
        return None
    return _Parser(query, toks).parse()


def field_filter(name: str, value: str) -> Node:
    """The node for a `--field name=value` option: the same as `name:value` in a query."""
    text = f"{name}={value}"
    _check_characters(text)
    if not name:
        raise QueryError("--field needs a name before '='", query=text, position=0)
    return _field_node(name, value, text, len(name) + 1)


def combine(nodes: list[Node | None]) -> Node | None:
    """The AND of the given nodes, ignoring None (match everything)."""
    present = [n for n in nodes if n is not None]
    if not present:
        return None
    return _join(And, present)


# ---------------------------------------------------------------------------- compiling

Param = bytes | int | str


@dataclass(frozen=True, slots=True)
class Plan:
    """A query split for SQLite: one FTS5 expression and the conjuncts FTS5 cannot evaluate.

    An event matches when it matches `match` (when there is one) and every node in `rest`.
    """

    match: str | None
    """FTS5 expression for every conjunct FTS5 can evaluate, NOTs included; None: no such."""
    rest: tuple[Node, ...]
    """Conjuncts left for SQL: address ranges, and what holds them or stands alone under NOT."""


def _fts_string(text: str, prefix: bool) -> str:
    analysed, single_cjk_end = F.query_tokens(text)
    quoted = '"' + analysed.replace('"', '""') + '"'  # FTS5 §3.1: "" inside a string is "
    return quoted + "*" if prefix or single_cjk_end else quoted


def fts_ok(node: Node) -> bool:
    """Whether FTS5 alone can say which events the node matches (no addresses, no bare NOT)."""
    if isinstance(node, Words | FieldIs):
        return True
    if isinstance(node, Or):
        return all(fts_ok(c) for c in node.children)
    if isinstance(node, And):
        positive = False
        for c in node.children:
            if fts_ok(c):
                positive = True
            elif not (isinstance(c, Not) and fts_ok(c.child)):
                return False
        return positive
    return False


def fts_expression(node: Node) -> str:
    """The FTS5 expression for a node for which :func:`fts_ok` holds."""
    if isinstance(node, Words):
        return "t:" + _fts_string(node.text, node.prefix)
    if isinstance(node, FieldIs):
        return 'k:"' + F.field_token(node.kind, node.value) + '"'
    if isinstance(node, Or):
        return "(" + " OR ".join(fts_expression(c) for c in node.children) + ")"
    if isinstance(node, And):
        pos = [fts_expression(c) for c in node.children if not isinstance(c, Not)]
        neg = [fts_expression(c.child) for c in node.children if isinstance(c, Not)]
        expr = "(" + " AND ".join(pos) + ")"
        # FTS5's NOT is binary (a NOT b): the excluded terms hang off the positive part.
        return f"({expr} NOT ({' OR '.join(neg)}))" if neg else expr
    raise AssertionError(f"not an FTS5 node: {node!r}")


def plan(node: Node | None) -> Plan:
    """Split a query into its FTS5 part and the rest (see :class:`Plan`)."""
    if node is None:
        return Plan(None, ())
    conjuncts = node.children if isinstance(node, And) else (node,)
    positive: list[Node] = []
    negative: list[Node] = []
    rest: list[Node] = []
    for c in conjuncts:
        if fts_ok(c):
            positive.append(c)
        elif isinstance(c, Not) and fts_ok(c.child):
            negative.append(c)
        else:
            rest.append(c)
    if not positive:  # FTS5 cannot select "all but": these become NOT conditions in SQL
        return Plan(None, (*negative, *rest))
    return Plan(fts_expression(_join(And, [*positive, *negative])), tuple(rest))


def is_set(node: Node) -> bool:
    """Whether the node is one lookup: an FTS5 expression or an address range."""
    return fts_ok(node) or isinstance(node, IpIn)


# Every table in a subquery has its own alias: the outer query reads search_fts too, and an
# unqualified name inside a subquery would bind to the subquery's own table.
_FTS_MEMBERS = "SELECT f.rowid FROM search_fts AS f WHERE f.search_fts MATCH ?"
_IP_MEMBERS = "SELECT p.idx FROM search_ip AS p WHERE p.ip BETWEEN ? AND ?"


def members_sql(node: Node) -> tuple[str, tuple[Param, ...]]:
    """SELECT of the ledger indices a set node (see :func:`is_set`) matches."""
    if fts_ok(node):
        return _FTS_MEMBERS, (fts_expression(node),)
    if isinstance(node, IpIn):
        if node.role == ROLE_ANY:
            return _IP_MEMBERS, (node.low, node.high)
        return _IP_MEMBERS + " AND p.role = ?", (node.low, node.high, node.role)
    raise AssertionError(f"not a set node: {node!r}")


def _probe_sql(node: Node, id_col: str) -> tuple[str, tuple[Param, ...]]:
    """A test of one row against a set node, for sets too large to collect first."""
    if fts_ok(node):
        probe = "EXISTS (SELECT 1 FROM search_fts AS f WHERE f.search_fts MATCH ? AND f.rowid = "
        return probe + id_col + ")", (fts_expression(node),)
    if isinstance(node, IpIn):
        probe = "EXISTS (SELECT 1 FROM search_ip AS p INDEXED BY search_ip_idx WHERE p.idx = "
        if node.role == ROLE_ANY:
            return probe + id_col + " AND p.ip BETWEEN ? AND ?)", (node.low, node.high)
        return (
            probe + id_col + " AND p.ip BETWEEN ? AND ? AND p.role = ?)",
            (node.low, node.high, node.role),
        )
    raise AssertionError(f"not a set node: {node!r}")


ID_COLUMNS = frozenset({"+o.rowid", "d.idx"})
"""What a condition may test: the index of the outer FTS5 row `o` or of the doc row `d`.

The unary + keeps SQLite from handing the test to FTS5 as a rowid constraint; with OR it
would otherwise try to plan each branch as its own FTS5 scan, which a MATCH cannot join
("unable to use function MATCH in the requested context")."""


def condition_sql(
    node: Node, id_col: str, broad: Callable[[Node], bool]
) -> tuple[str, tuple[Param, ...]]:
    """An SQL condition on the column `id_col` (a name chosen by the caller, never user text).

    A set node becomes `id IN (…)`, collected once, or, when `broad(node)` says it holds too
    many events for that, an EXISTS probe per row. Parameters are returned in order.
    """
    if id_col not in ID_COLUMNS:
        raise ValueError(f"not an id column: {id_col!r}")
    if is_set(node):
        if broad(node):
            return _probe_sql(node, id_col)
        sub, params = members_sql(node)
        return f"{id_col} IN ({sub})", params
    if isinstance(node, Not):
        sql, params = condition_sql(node.child, id_col, broad)
        return f"NOT ({sql})", params
    if isinstance(node, And | Or):
        op = " AND " if isinstance(node, And) else " OR "
        parts = [condition_sql(c, id_col, broad) for c in node.children]
        return (
            "(" + op.join(sql for sql, _ in parts) + ")",
            tuple(p for _, params in parts for p in params),
        )
    raise AssertionError(f"unexpected node {node!r}")


# ---------------------------------------------------------------------------- times

_RELATIVE = re.compile(r"(\d{1,9})\s*([smhdw])")
_UNITS_US = {"s": 1_000_000, "m": 60_000_000, "h": 3_600_000_000, "d": 86_400_000_000}
_UNITS_US["w"] = 7 * _UNITS_US["d"]
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
_DATETIME = re.compile(
    r"(\d{4}-\d{2}-\d{2})[Tt ](\d{2}:\d{2}:\d{2})(\.\d+)?([Zz]|[+-]\d{2}:\d{2})?"
)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def parse_time(text: str, now_us: int) -> int:
    """A --since/--until value as µs since the epoch, UTC.

    Accepts an RFC 3339 date-time, which must carry its zone (``2024-05-01T09:00:00+09:00``,
    ``…Z``); a date ``YYYY-MM-DD``, meaning 00:00 UTC that day; ``now``; or a time ago:
    ``30s``, ``15m``, ``2h``, ``7d``, ``2w``.
    """
    s = text.strip()
    rel = _RELATIVE.fullmatch(s)
    if rel is not None:
        return check_time(now_us - int(rel.group(1)) * _UNITS_US[rel.group(2)], text)
    if s == "now":
        return check_time(now_us, text)
    when: dt.datetime | None = None
    try:
        if _DATE.fullmatch(s):
            when = dt.datetime.fromisoformat(s).replace(tzinfo=dt.UTC)
        elif (m := _DATETIME.fullmatch(s)) is not None:
            if m.group(4) is None:
                raise QueryError(
                    f"the time {text!r} has no time zone",
                    hint=f"add Z for UTC or an offset such as +09:00 (JST): {s}+09:00",
                )
            frac = (m.group(3) or "")[:7]  # µs precision; RFC 3339 allows more digits
            zone = "+00:00" if m.group(4) in "Zz" else m.group(4)
            when = dt.datetime.fromisoformat(f"{m.group(1)}T{m.group(2)}{frac}{zone}")
    except ValueError as e:
        raise QueryError(f"the time {text!r} is not a valid date or time: {e}") from e
    if when is None:
        raise QueryError(
            f"the time {text!r} is not understood",
            hint="write 2024-05-01T09:00:00+09:00, 2024-05-01T00:00:00Z, 2024-05-01 (UTC), "
            "or a time ago: 30s, 15m, 2h, 7d, 2w",
        )
    return check_time((when - _EPOCH) // dt.timedelta(microseconds=1), text)


MIN_TIME_US = (dt.datetime(1, 1, 1, tzinfo=dt.UTC) - _EPOCH) // dt.timedelta(microseconds=1)
MAX_TIME_US = (dt.datetime(9999, 12, 31, 23, 59, 59, 999999, tzinfo=dt.UTC) - _EPOCH) // (
    dt.timedelta(microseconds=1)
)


def check_time(us: int, what: object) -> int:
    """`us` if it lies in years 1..9999 (what datetime and RFC 3339 can write), else an error."""
    if not MIN_TIME_US <= us <= MAX_TIME_US:
        raise QueryError(f"the time {what!r} is outside the years 1 to 9999")
    return us
