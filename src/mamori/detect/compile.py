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

import enum
import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any, assert_never

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
    # Runs once per event: the first three levels (all that ECS events usually have) are
    # loops here rather than calls; deeper objects go to _walk.
    out: dict[str, Any] = {}
    for k, v in event.items():
        if isinstance(v, dict):
            p = f"{k}."
            for k2, v2 in v.items():
                if isinstance(v2, dict):
                    p2 = f"{p}{k2}."
                    for k3, v3 in v2.items():
                        if isinstance(v3, dict):
                            _walk(f"{p2}{k3}.", v3, out)
                        else:
                            out[f"{p2}{k3}"] = v3
                else:
                    out[f"{p}{k2}"] = v2
        else:
            out[f"{k}"] = v
    return out


def _walk(prefix: str, obj: Mapping[str, Any], out: dict[str, Any]) -> None:
    for k, v in obj.items():
        if isinstance(v, dict):
            _walk(f"{prefix}{k}.", v, out)
        else:
            out[f"{prefix}{k}"] = v


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
    parts = _string_parts(s)
    if parts is None:
        placeholder = next(p for p in s.s if not isinstance(p, str | SpecialChars))
        raise DetectError(f"placeholder {placeholder} in a value is not supported")
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


def _string_parts(s: SigmaString) -> list[str | SpecialChars] | None:
    """The text and wildcards of a Sigma string; None when it holds a placeholder."""
    parts: list[str | SpecialChars] = []
    for p in s.s:
        if not isinstance(p, str | SpecialChars):
            return None
        parts.append(p)
    return parts


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


_TEXT_SHAPES: dict[tuple[Any, ...], str] = {
    (): "equals",
    ("s",): "equals",
    (SpecialChars.WILDCARD_MULTI,): "any",
    (SpecialChars.WILDCARD_MULTI, "s", SpecialChars.WILDCARD_MULTI): "contains",
    ("s", SpecialChars.WILDCARD_MULTI): "prefix",
    (SpecialChars.WILDCARD_MULTI, "s"): "suffix",
}


def _text_test(s: SigmaString) -> tuple[str, str] | None:
    """A case-insensitive value of a common shape as (how, lowered text): ``x`` equals,
    ``x*`` prefix, ``*x`` suffix, ``*x*`` contains, ``*`` any. None for other values."""
    if isinstance(s, SigmaCasedString):
        return None
    many = SpecialChars.WILDCARD_MULTI
    shape: list[Any] = []
    text = ""
    for p in s.s:
        if p is many:
            shape.append(p)
        elif isinstance(p, str):
            shape.append("s")
            text = p
        else:
            return None
    how = _TEXT_SHAPES.get(tuple(shape))
    return None if how is None else (how, text.lower())


def _text_pred(name: str, tests: list[tuple[str, str]]) -> Pred:
    """Field `name` matches any of `tests` (see :func:`_text_test`): the value is read and
    lowered once for all of them (a Sigma list of values is an OR over one field)."""
    equals = frozenset(t for how, t in tests if how == "equals")
    prefixes = tuple(t for how, t in tests if how == "prefix")
    suffixes = tuple(t for how, t in tests if how == "suffix")
    contains = tuple(t for how, t in tests if how == "contains")
    anything = any(how == "any" for how, _t in tests)

    def test(x: str) -> bool:
        low = x.lower()
        if low in equals:
            return True
        if prefixes and low.startswith(prefixes):
            return True
        if suffixes and low.endswith(suffixes):
            return True
        for t in contains:
            if t in low:
                return True
        return anything

    general = _on_text(test)

    def text_pred(ev: Event) -> bool:
        v = ev.get(name)
        if type(v) is str:
            return test(v)
        return v is not None and general(v)

    return text_pred


def _or_args(args: list[Any], fields: Mapping[str, str]) -> list[Pred]:
    """The predicates of an OR's arguments, those testing one field against common-shape
    strings merged into one :func:`_text_pred` per field (OR is commutative and the
    predicates pure, so the order does not matter)."""
    groups: dict[str, list[tuple[str, str]]] = {}
    out: list[Pred | str] = []
    for a in args:
        if isinstance(a, ConditionFieldEqualsValueExpression) and isinstance(a.value, SigmaString):
            test = _text_test(a.value)
            if test is not None:
                name = fields.get(a.field, a.field)
                if name not in groups:
                    groups[name] = []
                    out.append(name)
                groups[name].append(test)
                continue
        out.append(compile_condition(a, fields))
    return [_text_pred(p, groups[p]) if isinstance(p, str) else p for p in out]


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
    if isinstance(value, SigmaString):
        test = _text_test(value)
        if test is not None:
            return _text_pred(name, [test])
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
    return _in_keyword_fields(sp)


def _in_keyword_fields(sp: ValuePred) -> Pred:
    """A test of an event: does one of its keyword fields (:data:`KEYWORD_FIELDS`) hold a
    value `sp` accepts?"""

    def keyword(ev: Event) -> bool:
        for f in KEYWORD_FIELDS:
            v = ev.get(f)
            if v is not None and sp(v):
                return True
        return False

    return keyword


def _keywords(args: list[Any]) -> list[list[str | SpecialChars]] | None:
    """The parts of each argument of an OR when there are two or more and every one is a
    case-insensitive keyword (text and wildcards); None otherwise."""
    keywords: list[list[str | SpecialChars]] = []
    for a in args:
        if not isinstance(a, ConditionValueExpression):
            return None
        v = a.value
        if not isinstance(v, SigmaString) or isinstance(v, SigmaCasedString):
            return None
        parts = _string_parts(v)
        if parts is None:
            return None
        keywords.append(parts)
    return keywords if len(keywords) >= 2 else None


def _globs(keywords: list[list[str | SpecialChars]]) -> list[tuple[str, ...]] | None:
    """The lowered text pieces of each keyword when none has a ``?`` wildcard: a keyword then
    matches where its pieces occur in order."""
    if any(SpecialChars.WILDCARD_SINGLE in parts for parts in keywords):
        return None
    return [tuple(p.lower() for p in parts if isinstance(p, str)) for parts in keywords]


def _merged_keywords(args: list[Any]) -> Pred | None:
    """A list of case-insensitive keywords as one regular expression: one search per event
    and field instead of one per keyword (rules list dozens)."""
    keywords = _keywords(args)
    if keywords is None:
        return None
    globs = _globs(keywords)
    if globs is not None:
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
        alts = (_wildcard_regex(parts) for parts in keywords)
        rx = re.compile("|".join(f"(?:{x})" for x in alts), re.IGNORECASE | re.DOTALL)
        sp = _on_text(lambda x: rx.search(x) is not None)
    return _in_keyword_fields(sp)


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
        return _or(_or_args(node.args, fields))
    if isinstance(node, ConditionNOT):
        inner = compile_condition(node.args[0], fields)
        return lambda ev: not inner(ev)
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_pred(node.field, node.value, fields)
    if isinstance(node, ConditionValueExpression):
        return _keyword_pred(node.value)
    raise DetectError(f"condition element {type(node).__name__} is not supported")


# ---- prefilter hints ------------------------------------------------------------------------
# Most rules test a field against a few literal values (EventID: 4624, Image|endswith: /curl), and
# most events match none of them. A hint is a necessary condition of a rule's detection that the
# engine checks with one dictionary lookup per event field for all rules at once, instead of
# running each rule: a rule whose hints an event fails cannot match it. Hints only ever let
# through more events than the rule matches, never fewer; tests/detect/test_stream.py checks the
# engine's matches against plain per-rule evaluation.


class AnchorKind(enum.Enum):
    """How an anchor's text must relate to the field's text, lowered."""

    EQUALS = "equals"
    PREFIX = "prefix"
    SUFFIX = "suffix"
    CONTAINS = "contains"


@dataclass(frozen=True, slots=True)
class Anchor:
    """The field's value, as text and lowered (:func:`value_texts`), equals, starts with, ends
    with or contains :attr:`text` (a list value: one of its elements does)."""

    field: str
    """A flattened event field."""
    kind: AnchorKind
    text: str
    """Lowered; never empty unless :attr:`kind` is EQUALS."""

    def holds(self, value: Any) -> bool:
        """Whether an event value satisfies the anchor (the engine uses an index instead)."""
        for t in value_texts(value):
            match self.kind:
                case AnchorKind.EQUALS:
                    if t == self.text:
                        return True
                case AnchorKind.PREFIX:
                    if t.startswith(self.text):
                        return True
                case AnchorKind.SUFFIX:
                    if t.endswith(self.text):
                        return True
                case AnchorKind.CONTAINS:
                    if self.text in t:
                        return True
                case _:
                    assert_never(self.kind)
        return False


@dataclass(frozen=True, slots=True)
class Hints:
    """Necessary conditions of a detection, for skipping events cheaply."""

    anchors: tuple[frozenset[Anchor], ...] = ()
    """Groups of anchors: the detection can only match an event for which, in every group, one
    of the anchors holds. No group: nothing is known; an empty group: it matches no event."""
    needs: frozenset[str] | None = None
    """The detection can only match an event in which one of these fields is present and not
    null; None when no such set was found."""


NO_HINTS = Hints()
"""Nothing known: the rule must run on every event."""
_NEVER = Hints((frozenset(),), frozenset())
MAX_GROUPS = 3
"""Anchor groups kept per rule (the most selective of an AND's)."""


def value_texts(v: Any) -> list[str]:
    """The lowered texts an event value offers to anchors: a string lowered, a boolean as
    ``true``/``false``, a number as Python writes it (an integral float also as an integer,
    since ``4624.0`` equals the Sigma number ``4624``), every element of a list."""
    if isinstance(v, str):
        return [v.lower()]
    if isinstance(v, bool):
        return ["true" if v else "false"]
    if isinstance(v, int):
        return [str(v)]
    if isinstance(v, float):
        text = str(v)
        return [text, str(int(v))] if v.is_integer() else [text]
    if isinstance(v, list):
        return [t for x in v for t in value_texts(x)]
    return []


def _union(sets: Iterable[frozenset[Any] | None]) -> frozenset[Any] | None:
    out: set[Any] = set()
    for s in sets:
        if s is None:
            return None
        out |= s
    return frozenset(out)


def _group(anchors: frozenset[Anchor] | None) -> tuple[frozenset[Anchor], ...]:
    return () if anchors is None else (anchors,)


def _or_hints(hs: list[Hints]) -> Hints:
    # One group: each branch's best, together. (Keeping every group would need their product.)
    best: list[frozenset[Anchor]] = []
    for h in hs:
        if not h.anchors:
            return Hints((), _union(x.needs for x in hs))
        best.append(min(h.anchors, key=_selectivity))
    return Hints((frozenset().union(*best),), _union(h.needs for h in hs))


_LOOSENESS = {
    AnchorKind.EQUALS: 0,
    AnchorKind.PREFIX: 1,
    AnchorKind.SUFFIX: 1,
    AnchorKind.CONTAINS: 2,
}


def _selectivity(anchors: frozenset[Anchor]) -> tuple[int, int, int, list[tuple[str, str, str]]]:
    """Smaller is better: none at all (the rule matches nothing), then longer texts (``GET``
    and ``3`` are everywhere, ``a.aspx`` is not), then the cheapest to look up (exact values,
    then prefixes and suffixes, then substrings, each of which is searched for), then fewer;
    the texts break ties so that the choice does not depend on hashing."""
    if not anchors:
        return (-100, 0, 0, [])
    loose = max(_LOOSENESS[a.kind] for a in anchors)
    shortest = min(len(a.text) for a in anchors)
    rest = sorted((a.field, a.kind.value, a.text) for a in anchors)
    return (-min(shortest, 6), loose, len(anchors), rest)


def _and_hints(hs: list[Hints]) -> Hints:
    groups = sorted({g for h in hs for g in h.anchors}, key=_selectivity)
    needs = [h.needs for h in hs if h.needs is not None]
    return Hints(tuple(groups[:MAX_GROUPS]), min(needs, key=len) if needs else None)


def _string_anchors(name: str, s: SigmaString) -> frozenset[Anchor] | None:
    """The shapes :func:`_fast_string_pred` handles with plain string operations are anchored
    as they are tested; other values by the longest piece :func:`_regex_anchors` finds."""
    cased = isinstance(s, SigmaCasedString)
    many = SpecialChars.WILDCARD_MULTI
    shape = tuple(p if p is many else "s" if isinstance(p, str) else None for p in s.s)
    kinds: dict[tuple[Any, ...], AnchorKind] = {
        (): AnchorKind.EQUALS,
        ("s",): AnchorKind.EQUALS,
        ("s", many): AnchorKind.PREFIX,
        (many, "s"): AnchorKind.SUFFIX,
        (many, "s", many): AnchorKind.CONTAINS,
    }
    kind = kinds.get(shape)
    if kind is None:
        return _regex_anchors((name,), s)
    text = next((p for p in s.s if isinstance(p, str)), "")
    # A cased value is anchored by its lowered text, which is only sure to be found in the
    # lowered event text when it is ASCII (str.lower is not letter-by-letter beyond ASCII).
    if cased and not text.isascii():
        return None
    if kind is not AnchorKind.EQUALS and not text:
        return None
    return frozenset({Anchor(name, kind, text.lower())})


def _unfolded(c: str) -> bool:
    # Under re.IGNORECASE, "s" also matches "ſ" (U+017F) and "i" matches "İ" and "ı", none of
    # which str.lower() turns into "s" or "i"; every other ASCII character matches only
    # characters that lower to its own lower case (checked over all of Unicode).
    return c.isascii() and c not in "iIsS"


def _regex_anchors(names: tuple[str, ...], s: SigmaString) -> frozenset[Anchor] | None:
    """For a value tested with a regular expression (other wildcard shapes, keywords): the
    longest run of its literal text, of characters :func:`_unfolded` keeps, must occur in the
    lowered text of one of the fields `names`."""
    best = ""
    run: list[str] = []
    for p in (*s.s, None):
        if isinstance(p, str):
            for c in p:
                if _unfolded(c):
                    run.append(c)
                    continue
                best = max(best, "".join(run), key=len)
                run = []
            continue
        if not isinstance(p, SpecialChars) and p is not None:
            return None
        best = max(best, "".join(run), key=len)
        run = []
    if not best:
        return None
    return frozenset(Anchor(n, AnchorKind.CONTAINS, best.lower()) for n in names)


def _keyword_anchors(value: SigmaType) -> frozenset[Anchor] | None:
    """Mirrors :func:`_keyword_pred`."""
    if isinstance(value, SigmaExpansion):
        return _union(_keyword_anchors(v) for v in value.values)
    if isinstance(value, SigmaString):
        return _regex_anchors(KEYWORD_FIELDS, value)
    if isinstance(value, SigmaNumber):
        return _regex_anchors(KEYWORD_FIELDS, SigmaString(str(value.number)))
    return None


def _value_anchors(name: str, value: SigmaType) -> frozenset[Anchor] | None:
    if isinstance(value, SigmaString):
        return _string_anchors(name, value)
    if isinstance(value, SigmaBool):
        return frozenset({Anchor(name, AnchorKind.EQUALS, "true" if value.boolean else "false")})
    if isinstance(value, SigmaNumber):
        # pySigma keeps integral numbers as int (3.0 becomes 3), which value_texts writes as
        # an event's 3 and 3.0 both are.
        return frozenset({Anchor(name, AnchorKind.EQUALS, str(value.number))})
    return None


def _field_hints(field: str, value: SigmaType, fields: Mapping[str, str]) -> Hints:
    name = fields.get(field, field)
    if isinstance(value, SigmaNull):
        return NO_HINTS
    if isinstance(value, SigmaExists):
        return Hints((), frozenset({name})) if value.exists else NO_HINTS
    if isinstance(value, SigmaExpansion):
        return _or_hints([_field_hints(field, v, fields) for v in value.values])
    if isinstance(value, SigmaFieldReference):
        return Hints((), frozenset({name}))
    return Hints(_group(_value_anchors(name, value)), frozenset({name}))


def _keyword_globs(args: list[Any]) -> list[tuple[str, ...]] | None:
    """The lowered pieces of each keyword when :func:`_merged_keywords` searches them with
    ``str.find`` over the lowered text (a list of plain keywords, ``*`` wildcards at most)."""
    keywords = _keywords(args)
    return None if keywords is None else _globs(keywords)


def _keyword_hints(globs: list[tuple[str, ...]]) -> Hints:
    # A keyword matches only if each of its pieces occurs in a keyword field: its longest
    # piece is an anchor on each of those fields.
    anchors: set[Anchor] = set()
    for pieces in globs:
        longest = max(pieces, key=len, default="")
        if not longest:
            return Hints((), frozenset(KEYWORD_FIELDS))
        anchors.update(Anchor(f, AnchorKind.CONTAINS, longest) for f in KEYWORD_FIELDS)
    return Hints((frozenset(anchors),), frozenset(KEYWORD_FIELDS))


def condition_hints(node: Any, fields: Mapping[str, str]) -> Hints:
    """The hints of a postprocessed pySigma condition tree (as :func:`compile_condition`
    takes it)."""
    if node is None:
        return _NEVER
    if isinstance(node, ConditionAND):
        return _and_hints([condition_hints(a, fields) for a in node.args])
    if isinstance(node, ConditionOR):
        globs = _keyword_globs(node.args)
        if globs is not None:
            return _keyword_hints(globs)
        return _or_hints([condition_hints(a, fields) for a in node.args])
    if isinstance(node, ConditionNOT):
        return NO_HINTS
    if isinstance(node, ConditionFieldEqualsValueExpression):
        return _field_hints(node.field, node.value, fields)
    if isinstance(node, ConditionValueExpression):
        return Hints(_group(_keyword_anchors(node.value)), frozenset(KEYWORD_FIELDS))
    return NO_HINTS


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
    hints: Hints = NO_HINTS
    """Necessary conditions of :attr:`match`, for the engine's prefilter."""


def rule_id(rule: SigmaRule) -> str:
    """The id mamori reports a rule by."""
    return str(rule.id) if rule.id else rule.title


def compile_rule(rule: SigmaRule, fields: Mapping[str, str]) -> CompiledRule:
    """Compile a rule's detection; ``fields`` maps Sigma field names (e.g.
    :data:`mamori.detect.ecs.ECS_FIELDS`, or ``{}`` to use the names as written).

    Raises :class:`DetectError` when the rule uses something the evaluator does not support or
    its condition does not parse."""
    try:
        trees = [c.parse() for c in rule.detection.parsed_condition]
        preds = [compile_condition(t, fields) for t in trees]
    except SigmaError as e:
        raise DetectError(str(e)) from e
    hints = _or_hints([condition_hints(t, fields) for t in trees])
    return CompiledRule(rule_id(rule), rule, _or(preds), logsource_condition(rule.logsource), hints)
