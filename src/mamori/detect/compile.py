"""A Sigma rule's detection compiled into Python closures.

pySigma parses the rule and its condition (``SigmaCondition.parse`` resolves identifiers,
``1 of x*`` selectors and modifiers into a tree of AND/OR/NOT over field = value leaves); this
module turns that tree into closures over a *flattened* event: a dict from dotted ECS paths to
values (:func:`flatten`). Compile once, evaluate many; evaluation does no parsing and no I/O.

Matching follows the Sigma specification (https://sigmahq.io/docs/basics/modifiers.html):
strings match case-insensitively unless ``cased``; ``*`` and ``?`` are wildcards in plain values
(``\\*``, ``\\?`` and ``\\\\`` escape them); a list is OR unless ``all``; ``re`` is a Python regular
expression, unanchored, case-sensitive unless ``|i``; ``null`` matches a missing field or JSON
null. A field whose event value is a list matches when any element does.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from sigma.conditions import (
    ConditionAND,
    ConditionFieldEqualsValueExpression,
    ConditionNOT,
    ConditionOR,
    ConditionValueExpression,
)
from sigma.exceptions import SigmaError
from sigma.rule import SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCasedString,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaFieldReference,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mamori.detect.ecs import LogsourceCondition, logsource_condition
from mamori.detect.errors import DetectError

Event = Mapping[str, Any]
"""A flattened event: dotted field path → value."""
Pred = Callable[[Event], bool]
ValuePred = Callable[[Any], bool]

KEYWORD_FIELDS = ("message", "event.original")
"""Where a field-less (keyword) search looks."""


def flatten(event: Mapping[str, Any]) -> dict[str, Any]:
    """Nested objects become dotted paths (``{"process": {"pid": 1}}`` → ``process.pid``);
    keys that already contain dots are kept as written. Only leaves are kept (lists count as
    leaves)."""
    out: dict[str, Any] = {}

    def walk(prefix: str, obj: Mapping[str, Any]) -> None:
        for k, v in obj.items():
            key = f"{prefix}{k}"
            if isinstance(v, dict):
                walk(key + ".", v)
            else:
                out[key] = v

    walk("", event)
    return out


def _text(v: Any) -> str | None:
    """An event value as text for string matching; None for values that are not scalars."""
    if isinstance(v, str):
        return v
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int | float):
        return str(v)
    return None


def _number(v: Any) -> float | None:
    if isinstance(v, bool):
        return None
    if isinstance(v, int | float):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)
        except ValueError:
            return None
    return None


def _on_text(f: Callable[[str], bool]) -> ValuePred:
    def pred(v: Any) -> bool:
        if isinstance(v, str):
            return f(v)
        if isinstance(v, list):
            return any(pred(x) for x in v)
        t = _text(v)
        return t is not None and f(t)

    return pred


def _string_pred(s: SigmaString, *, search: bool = False) -> Callable[[str], bool]:
    """A test of text against a Sigma string with its wildcards. ``search``: match anywhere
    (keyword searches) rather than the whole value."""
    cased = isinstance(s, SigmaCasedString)
    parts: list[str | SpecialChars] = []
    for p in s.s:
        if not isinstance(p, str | SpecialChars):
            raise DetectError(f"placeholder {p} in a value is not supported")
        parts.append(p)
    if not search:
        fast = _fast_string_pred(parts, cased)
        if fast is not None:
            return fast
    pattern = _wildcard_regex(parts)
    flags = re.DOTALL | (0 if cased else re.IGNORECASE)
    rx = re.compile(pattern, flags)
    if search:
        return lambda x: rx.search(x) is not None
    return lambda x: rx.fullmatch(x) is not None


def _wildcard_regex(parts: list[str | SpecialChars]) -> str:
    many = SpecialChars.WILDCARD_MULTI
    return "".join(
        re.escape(p) if isinstance(p, str) else (".*" if p is many else ".") for p in parts
    )


def _fast_string_pred(parts: list[str | SpecialChars], cased: bool) -> Callable[[str], bool] | None:
    """Plain string operations for the common shapes: ``x``, ``*x*``, ``x*``, ``*x``."""
    many = SpecialChars.WILDCARD_MULTI
    shape = tuple(p if p is many else "s" if isinstance(p, str) else None for p in parts)
    strs = [p for p in parts if isinstance(p, str)]
    t = (strs[0] if cased else strs[0].lower()) if strs else ""
    low: Callable[[str], str] = (lambda x: x) if cased else str.lower
    if shape == ():
        return lambda x: x == ""
    if shape == (many,):
        return lambda x: True
    if shape == ("s",):
        return lambda x: low(x) == t
    if shape == (many, "s", many):
        return lambda x: t in low(x)
    if shape == ("s", many):
        return lambda x: low(x).startswith(t)
    if shape == (many, "s"):
        return lambda x: low(x).endswith(t)
    return None


_COMPARE: dict[Any, Callable[[float, float], bool]] = {
    SigmaCompareExpression.CompareOperators.LT: lambda a, b: a < b,
    SigmaCompareExpression.CompareOperators.LTE: lambda a, b: a <= b,
    SigmaCompareExpression.CompareOperators.GT: lambda a, b: a > b,
    SigmaCompareExpression.CompareOperators.GTE: lambda a, b: a >= b,
}


def _value_pred(value: SigmaType) -> ValuePred:
    """A test of one present, non-null event value against a Sigma value."""
    if isinstance(value, SigmaString):
        return _on_text(_string_pred(value))
    if isinstance(value, SigmaBool):
        b = value.boolean
        return lambda v: v is b or (isinstance(v, str) and v.lower() == ("true" if b else "false"))
    if isinstance(value, SigmaNumber):
        n = value.number
        text = str(n)

        def num(v: Any) -> bool:
            if isinstance(v, list):
                return any(num(x) for x in v)
            if isinstance(v, bool):
                return False
            if isinstance(v, int | float):
                return v == n
            return isinstance(v, str) and v == text

        return num
    if isinstance(value, SigmaRegularExpression):
        flags = 0
        for flag in value.flags:
            flags |= SigmaRegularExpression.sigma_to_python_flags[flag]
        try:
            rx = re.compile(str(value.regexp), flags)
        except re.error as e:
            raise DetectError(f"invalid regular expression {value.regexp}: {e}") from e
        return _on_text(lambda x: rx.search(x) is not None)
    if isinstance(value, SigmaCIDRExpression):
        net = value.network

        def in_net(x: str) -> bool:
            try:
                return ipaddress.ip_address(x) in net
            except ValueError:
                return False

        return _on_text(in_net)
    if isinstance(value, SigmaCompareExpression):
        op = _COMPARE.get(value.op)
        if op is None:
            raise DetectError(f"comparison {value.op.name} is not supported")
        limit = float(value.number.number)

        def cmp(v: Any) -> bool:
            if isinstance(v, list):
                return any(cmp(x) for x in v)
            n = _number(v)
            return n is not None and op(n, limit)

        return cmp
    raise DetectError(f"value type {type(value).__name__} is not supported")


def _field_pred(field: str, value: SigmaType, fields: Mapping[str, str]) -> Pred:
    name = fields.get(field, field)
    if isinstance(value, SigmaNull):
        return lambda ev: ev.get(name) is None
    if isinstance(value, SigmaExists):
        if value.exists:
            return lambda ev: ev.get(name) is not None
        return lambda ev: ev.get(name) is None
    if isinstance(value, SigmaExpansion):
        preds = [_field_pred(field, v, fields) for v in value.values]
        return lambda ev: any(p(ev) for p in preds)
    if isinstance(value, SigmaFieldReference):
        other = fields.get(value.field, value.field)
        starts, ends = value.starts_with, value.ends_with

        def ref(ev: Event) -> bool:
            a, b = _text(ev.get(name)), _text(ev.get(other))
            if a is None or b is None:
                return False
            if starts and ends:
                return b in a
            if starts:
                return a.startswith(b)
            if ends:
                return a.endswith(b)
            return a == b

        return ref
    vp = _value_pred(value)

    def field_pred(ev: Event) -> bool:
        v = ev.get(name)
        return v is not None and vp(v)

    return field_pred


def _keyword_pred(value: SigmaType) -> Pred:
    if isinstance(value, SigmaExpansion):
        preds = [_keyword_pred(v) for v in value.values]
        return lambda ev: any(p(ev) for p in preds)
    if isinstance(value, SigmaString):
        sp = _on_text(_string_pred(value, search=True))
    elif isinstance(value, SigmaNumber):
        sp = _on_text(_string_pred(SigmaString(str(value.number)), search=True))
    else:
        sp = _value_pred(value)

    def keyword(ev: Event) -> bool:
        for f in KEYWORD_FIELDS:
            v = ev.get(f)
            if v is not None and sp(v):
                return True
        return False

    return keyword


def _merged_keywords(args: list[Any]) -> Pred | None:
    """A list of case-insensitive keywords as one regular expression: one search per event
    and field instead of one per keyword (rules list dozens)."""
    alts: list[str] = []
    globs: list[tuple[str, ...]] = []
    for a in args:
        if not isinstance(a, ConditionValueExpression):
            return None
        v = a.value
        if not isinstance(v, SigmaString) or isinstance(v, SigmaCasedString):
            return None
        parts: list[str | SpecialChars] = []
        for p in v.s:
            if not isinstance(p, str | SpecialChars):
                return None
            parts.append(p)
        alts.append(_wildcard_regex(parts))
        if SpecialChars.WILDCARD_SINGLE not in parts:
            globs.append(tuple(p.lower() for p in parts if isinstance(p, str)))
    if len(alts) < 2:
        return None
    if len(globs) == len(alts):
        # Only `*` wildcards: each keyword is literal pieces that must occur in order. Lower the
        # text once and use str.find; a regex with `.*` backtracks badly on long messages.
        pieces = tuple(globs)

        def any_glob(x: str) -> bool:
            low = x.lower()
            for segs in pieces:
                at = 0
                for seg in segs:
                    at = low.find(seg, at)
                    if at < 0:
                        break
                    at += len(seg)
                else:
                    return True
            return False

        sp = _on_text(any_glob)
    else:
        rx = re.compile("|".join(f"(?:{x})" for x in alts), re.IGNORECASE | re.DOTALL)
        sp = _on_text(lambda x: rx.search(x) is not None)

    def keywords(ev: Event) -> bool:
        for f in KEYWORD_FIELDS:
            v = ev.get(f)
            if v is not None and sp(v):
                return True
        return False

    return keywords


def _and(preds: list[Pred]) -> Pred:
    if not preds:
        return lambda ev: True
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ev: a(ev) and b(ev)
    ps = tuple(preds)
    return lambda ev: all(p(ev) for p in ps)


def _or(preds: list[Pred]) -> Pred:
    if not preds:
        return lambda ev: False
    if len(preds) == 1:
        return preds[0]
    if len(preds) == 2:
        a, b = preds
        return lambda ev: a(ev) or b(ev)
    ps = tuple(preds)
    return lambda ev: any(p(ev) for p in ps)


def compile_condition(node: Any, fields: Mapping[str, str]) -> Pred:
    """Compile a postprocessed pySigma condition tree."""
    if node is None:  # a detection left empty
        return lambda ev: False
    if isinstance(node, ConditionAND):
        return _and([compile_condition(a, fields) for a in node.args])
    if isinstance(node, ConditionOR):
        merged = _merged_keywords(node.args)
        if merged is not None:
            return merged
        return _or([compile_condition(a, fields) for a in node.args])
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0], fields)
        return lambda ev: not inner(ev)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_pred(node.field, node.value, fields)
    if isinstance(node, ConditionValueExpression):
        return _keyword_pred(node.value)
    raise DetectError(f"condition element {type(node).__name__} is not supported")


@dataclass(frozen=True)
class CompiledRule:
    """A base rule ready to evaluate."""

    id: str
    """The rule's Sigma ``id`` (its title when it has none)."""
    rule: SigmaRule
    """The parsed rule."""
    match: Pred
    """The detection over a flattened event."""
    logsource: LogsourceCondition | None
    """The ECS condition for the rule's logsource; None when mamori has no mapping."""


def rule_id(rule: SigmaRule) -> str:
    """The id mamori reports a rule by."""
    return str(rule.id) if rule.id else rule.title


def compile_rule(rule: SigmaRule, fields: Mapping[str, str]) -> CompiledRule:
    """Compile a rule's detection; ``fields`` maps Sigma field names (e.g.
    :data:`mamori.detect.ecs.ECS_FIELDS`, or ``{}`` to use the names as written).

    Raises :class:`DetectError` when the rule uses something the evaluator does not support or
    its condition does not parse."""
    try:
        preds = [compile_condition(c.parse(), fields) for c in rule.detection.parsed_condition]
    except SigmaError as e:
        raise DetectError(str(e)) from e
    return CompiledRule(rule_id(rule), rule, _or(preds), logsource_condition(rule.logsource))
