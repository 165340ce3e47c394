"""OSV records from YAML, with numbers and dates kept as text (pure). See docs/vuln-database.md.

OSV has no numeric field: an unquoted version ``1.10`` must not become the float 1.1, nor
``introduced: 0`` the integer 0. :func:`load` gives exactly what PyYAML's safe loader gives when
every plain scalar except null and the booleans resolves to a string (:class:`OsvLoader`).

PyYAML's C loader parses a PyPA advisory in ~0.5 ms. When ``yaml_rs`` (a Rust YAML 1.2
parser) is installed it is tried first (~3× faster here, checks included), and its answer is
used only when it cannot differ from PyYAML's: where a node can start there is no tag (``!``),
anchor (``&``) or block scalar (``|``, ``>``); there are no merge keys (``<<``), tabs, document
markers, directives or byte-order mark, and no characters that YAML 1.1 and 1.2 read differently
(``\\x85``, U+2028, U+2029, non-printable characters); and the result is an object or a list of
objects, lists and strings only, none of which reads as null or a YAML 1.1 boolean (``yes``,
``Off``, ``~``, ``""``…). Anything else — every error included — is read again by PyYAML, which
decides.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from typing import Any, Final

import yaml

yaml_rs: Any
"""The fast parser's module, or None when it is not installed."""
try:  # optional: the fast path
    import yaml_rs as _yaml_rs

    yaml_rs = _yaml_rs
except ImportError:  # pragma: no cover - depends on the environment
    yaml_rs = None

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_STR, _NULL, _BOOL = (f"tag:yaml.org,2002:{t}" for t in ("str", "null", "bool"))
_NULLS: Final = frozenset({"", "~", "null", "Null", "NULL"})
_TRUE: Final = frozenset({"true", "yes", "on"})
_FALSE: Final = frozenset({"false", "no", "off"})


class OsvLoader(_Loader):  # type: ignore[misc]
    """YAML's safe loader, except that numbers and dates stay text."""

    def resolve(self, kind: type[yaml.Node], value: str, implicit: tuple[bool, bool]) -> str:
        # Replaces the regex table of yaml.resolver.Resolver (a third of the parse time).
        if kind is yaml.ScalarNode:
            if implicit[0] and (value in _NULLS):
                return _NULL
            if implicit[0] and value.lower() in _TRUE | _FALSE:
                return _BOOL
            return _STR
        if kind is yaml.SequenceNode:
            return "tag:yaml.org,2002:seq"
        return "tag:yaml.org,2002:map"


# Text the fast parser is not given: tags, anchors (PyYAML shares aliased values; yaml_rs
# copies them), block scalars and ">" starting a plain scalar (PyYAML and yaml_rs differ on edge
# cases: an empty block scalar, ">" in a flow) — each only where a node can start, after
# whitespace or one of "[{,:" —, tabs (YAML 1.2 allows more of them as separators), merge keys,
# several documents or directives, a BOM, and characters outside YAML 1.1's printable set or
# that 1.1 reads as line breaks and 1.2 does not.
_MARKS: Final = ("\t", "<<", "\ufeff", "\n---", "\n...", "\n%", "\r---", "\r...", "\r%")
_INDICATOR: Final = re.compile(r"[|>!&]")
_NODE_START: Final = frozenset(" \t\n\r[{,:")
_CONTROL: Final = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]")
_NOT_PRINTABLE: Final = re.compile(
    r"[^\t\n\r\x20-\x7e\xa0-\u2027\u202a-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]"
)


def _plain_text(text: str) -> bool:
    """Whether yaml_rs may read `text` (see the module)."""
    if text.startswith(("---", "...", "%")) or any(m in text for m in _MARKS):
        return False
    for found in _INDICATOR.finditer(text):
        at = found.start()
        if at == 0 or text[at - 1] in _NODE_START:
            return False
    if text.isascii():
        return _CONTROL.search(text) is None
    return _NOT_PRINTABLE.search(text) is None


_AMBIGUOUS: Final = frozenset(
    "".join(cased)
    for word in ("", "~", "null", *_TRUE, *_FALSE)
    for cased in itertools.product(*({c.lower(), c.upper()} for c in word))
)
"""Strings that PyYAML may have read, unquoted, as null or a boolean: every spelling of
``null``, ``~``, the empty string and the YAML 1.1 booleans, whatever their case."""


def _only_text(value: object) -> bool:
    """Whether `value` is objects, lists and strings only, no string null- or bool-like."""
    stack: list[Any] = [value]
    while stack:
        item = stack.pop()
        children: Iterable[Any]
        if type(item) is dict:
            for key in item:
                if type(key) is not str or key in _AMBIGUOUS:
                    return False
            children = item.values()
        elif type(item) is list:
            children = item
        else:
            return False
        for child in children:
            if type(child) is str:
                if child in _AMBIGUOUS:
                    return False
            else:
                stack.append(child)  # an object or a list, or anything else: refused above
    return True


def _fast(data: bytes) -> Any:
    """yaml_rs' reading of `data`, or None when PyYAML must decide."""
    if yaml_rs is None:
        return None
    try:
        text = data.decode("utf-8")
        if not _plain_text(text):
            return None
        doc = yaml_rs.loads(text, parse_datetime=False)
    except Exception:
        return None
    # An OSV document is an object or a list; PyYAML refuses some top-level scalars (a block
    # scalar without a document start) that yaml_rs reads.
    return doc if isinstance(doc, dict | list) and _only_text(doc) else None


def load(data: bytes) -> Any:
    """One YAML document as Python values, numbers and dates as text. Raises what PyYAML
    raises (yaml.YAMLError, ValueError…) for text it refuses."""
    doc = _fast(data)
    if doc is not None:
        return doc
    return yaml.load(data, Loader=OsvLoader)  # noqa: S506 (a safe loader)
