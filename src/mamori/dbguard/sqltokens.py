"""The scanner's view of SQL (PostgreSQL's own lexer, through ``pglast.parser.scan``): the
normalised text and the comments that sit inside a statement. Pure.

The scanner knows what the parser does not keep: comments. It also splits constants from
keywords exactly as the server will, so the normalised text never carries a literal value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from pglast import parser

CONSTANT_TOKENS: Final = frozenset({"SCONST", "USCONST", "ICONST", "FCONST", "BCONST", "XCONST"})
"""String (plain, E'', dollar-quoted), Unicode-escaped string, integer, numeric, bit and hex
string constants: what the normalised text replaces with placeholders."""

COMMENT_TOKENS: Final = frozenset({"C_COMMENT", "SQL_COMMENT"})

SEMICOLON: Final = "ASCII_59"


class ScanError(ValueError):
    """The lexer refused the text (an unterminated string or comment, a bad escape)."""


def scan(sql: str) -> tuple[parser.Token, ...]:
    """The tokens of `sql`, comments included (offsets are character offsets, `end`
    inclusive). Raises :class:`ScanError`."""
    try:
        return tuple(parser.scan(sql))
    except parser.ParseError as e:
        raise ScanError(str(e)) from e


def normalize(sql: str, tokens: Sequence[parser.Token]) -> str:
    """`sql` with every constant replaced by ``$n`` and comments removed.

    Placeholders are numbered after the highest ``$n`` already in the text (as
    pg_stat_statements does), and the space between two tokens, comments included, becomes one
    space. Quoted identifiers are kept as written.
    """
    highest = 0
    for t in tokens:
        if t.name == "PARAM":
            digits = sql[t.start + 1 : t.end + 1]
            if digits.isdigit():
                highest = max(highest, int(digits))
    out: list[str] = []
    last_end = -1
    n = highest
    for t in tokens:
        if t.name in COMMENT_TOKENS:
            continue
        if out and t.start > last_end + 1:
            out.append(" ")
        if t.name in CONSTANT_TOKENS:
            n += 1
            out.append(f"${n}")
        else:
            out.append(sql[t.start : t.end + 1])
        last_end = t.end
    return "".join(out)


def count_statements(tokens: Sequence[parser.Token]) -> int:
    """How many non-empty statements the semicolons separate (for text the parser refused)."""
    count = 0
    pending = False
    for t in tokens:
        if t.name == SEMICOLON:
            count += pending
            pending = False
        elif t.name not in COMMENT_TOKENS:
            pending = True
    return count + pending


@dataclass(frozen=True, slots=True)
class CommentHit:
    """A comment where injected SQL puts one."""

    where: str
    """``inside`` (between two tokens of one statement) or ``trailing`` (ends the statement)."""
    style: str
    """``block`` (``/* */``) or ``line`` (``--``)."""
    statement: int
    """The index of the statement it belongs to."""


def comment_hits(
    sql: str, tokens: Sequence[parser.Token], spans: Sequence[tuple[int, int]]
) -> list[CommentHit]:
    """The comments that count as a signal, statement by statement.

    `spans` are the statements' ``[start, end)`` character ranges (from the parser; a
    statement's range starts at its first token and runs to its ``;``, so a comment before a
    statement is never in its range).

    Not counted, because ordinary clients write them:

    * a comment before the statement (sqlcommenter and ORM tags, Hibernate's
      ``/* HQL */``, pg_stat_statements labels);
    * a block comment after the last token (sqlcommenter, Rails' marginalia), unless it is
      empty (``/**/``) or MySQL's executable comment (``/*!``), which no client writes;
    * a ``--`` comment with tokens after it: a line comment always runs to the end of the line,
      so tokens after it are on later lines: a statement formatted over several lines;
    * a hint for pg_hint_plan (``/*+ … */``).

    Counted: a block comment between two tokens of the statement (``UNION/**/SELECT``), and a
    ``--`` comment after the last token, which is how an injection cuts off the rest of the
    statement it lands in (``admin'--``).
    """
    hits: list[CommentHit] = []
    for index, (start, end) in enumerate(spans):
        inner = [t for t in tokens if start <= t.start < end]
        words = [i for i, t in enumerate(inner) if t.name not in COMMENT_TOKENS]
        if not words:
            continue
        first, last = words[0], words[-1]
        for i, t in enumerate(inner):
            if t.name not in COMMENT_TOKENS or i < first:
                continue
            text = sql[t.start : t.end + 1]
            if t.name == "C_COMMENT":
                if text.startswith("/*+"):
                    continue
                odd = text.startswith("/*!") or not text[2:-2].strip()
                if i < last:
                    hits.append(CommentHit("inside", "block", index))
                elif odd:
                    hits.append(CommentHit("trailing", "block", index))
            elif i > last:
                hits.append(CommentHit("trailing", "line", index))
    return hits


def semicolon_spans(tokens: Sequence[parser.Token], length: int) -> list[tuple[int, int]]:
    """Statement ranges by semicolons, each from its first non-comment token (for text the
    parser refused; the parser's own ranges are better when there are any)."""
    spans: list[tuple[int, int]] = []
    start: int | None = None
    for t in tokens:
        if t.name == SEMICOLON:
            if start is not None:
                spans.append((start, t.start))
            start = None
        elif start is None and t.name not in COMMENT_TOKENS:
            start = t.start
    if start is not None:
        spans.append((start, length))
    return spans


_NUMERIC: Final = frozenset({"ICONST", "FCONST"})


def shape(sql: str, tokens: Sequence[parser.Token]) -> str:
    """The statement with its constants abstracted just enough that every statement of the
    same shape gets the same analysis — a key for reusing a *clean* analysis across the
    literal values an application pastes into otherwise identical statements.

    Kept: every non-constant token as written, comments included; the numbers 0 and 1 (the
    analysis treats ``1=1`` at the top of a WHERE as a query builder's) and numbers not written
    in decimal (``0x61``: how injection avoids quotes); constants of other kinds as written
    (bit strings). Abstracted: other numbers to their rank among the statement's distinct
    numbers, strings to their rank among its distinct strings — so equality and order between
    constants, which decide what a condition of constants is, survive, and values do not.
    ``tests/dbguard/test_shape.py`` checks the promise on the SQL corpora.
    """
    numbers: set[str] = set()
    strings: set[str] = set()
    for t in tokens:
        name = t.name
        if name in _NUMERIC:
            numbers.add(sql[t.start : t.end + 1])
        elif name in ("SCONST", "USCONST"):
            strings.add(sql[t.start : t.end + 1])
    num_rank: dict[str, int] = {}
    if numbers:
        try:
            values = {text: _number(text) for text in numbers}
        except ValueError:  # not a decimal: keep every number as written
            values = {}
        ranks = {v: i for i, v in enumerate(sorted(set(values.values())))}
        num_rank = {text: ranks[v] for text, v in values.items()}
    str_rank = {text: i for i, text in enumerate(sorted(strings))}
    out: list[str] = []
    for t in tokens:
        text = sql[t.start : t.end + 1]
        name = t.name
        if name in _NUMERIC and text not in ("0", "1") and text in num_rank:
            out.append(f"\x00N{num_rank[text]}")
        elif name in ("SCONST", "USCONST"):
            out.append(f"\x00S{str_rank[text]}")
        else:
            out.append(text)
    return "\x01".join(out)


def _number(text: str) -> Decimal:
    lowered = text.lower()
    if lowered.startswith(("0x", "0o", "0b")) or "_" in text:
        raise ValueError(text)
    try:
        return Decimal(text)
    except InvalidOperation as e:
        raise ValueError(text) from e
