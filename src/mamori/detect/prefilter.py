"""The engine's prefilter: the rules' hints (:class:`~mamori.detect.compile.Hints`) as per-field
lookup tables (exact texts, prefixes and suffixes by length, substrings with one combined
regular expression), so that an event is run only through the rules it may match.

Takes values, does no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, assert_never

from mamori.detect.compile import AnchorKind, CompiledRule, value_texts

_Hits = list[tuple[int, int]]
"""Positions of rules with the bit of the anchor group that holds."""
_Table = dict[str, _Hits]
"""Lowered text → the rules (and groups) anchored on it."""


@dataclass(frozen=True, slots=True)
class _Ends:
    """A field's prefix (or suffix) anchors: by text length, and all at once for a quick
    rejection with one ``str.startswith``/``str.endswith`` call."""

    every: tuple[str, ...]
    by_length: tuple[tuple[int, _Table], ...]


@dataclass(frozen=True, slots=True)
class _Parts:
    """A field's substring anchors; with many, one regular expression over all of them (a
    trie, so that the engine looks at each character once) rejects most texts quickly."""

    any_of: re.Pattern[str] | None
    each: tuple[tuple[str, _Hits], ...]


_TRIE_FROM = 8
"""Substring anchors on a field from which a trie expression beats testing each in turn."""


def _trie_regex(words: Iterable[str]) -> str:
    """One regular expression matching exactly `words`, sharing their common prefixes."""
    trie: dict[str, Any] = {}
    for w in words:
        node = trie
        for ch in w:
            node = node.setdefault(ch, {})
        node[""] = {}

    def build(node: dict[str, Any]) -> str:
        chain = ""  # a run without branches is a loop, not recursion (texts may be long)
        while "" not in node and len(node) == 1:
            ch = next(iter(node))
            chain += re.escape(ch)
            node = node[ch]
        alts = [re.escape(ch) + build(node[ch]) for ch in sorted(node) if ch]
        if not alts:
            return chain
        body = alts[0] if len(alts) == 1 else "(?:" + "|".join(alts) + ")"
        return chain + (f"(?:{body})?" if "" in node else body)

    return build(trie)


def _ends(tables: dict[int, _Table]) -> _Ends:
    return _Ends(
        tuple(sorted(t for table in tables.values() for t in table)),
        tuple(sorted(tables.items())),
    )


def _parts(table: _Table) -> _Parts:
    each = tuple(sorted(table.items()))
    rx: re.Pattern[str] | None = None
    if len(each) >= _TRIE_FROM:
        try:
            rx = re.compile(_trie_regex(table))
        except (RecursionError, re.error):  # texts nested too deep: test each in turn
            rx = None
    return _Parts(rx, each)


_Probe = tuple[_Table | None, _Ends | None, _Ends | None, _Parts | None]
"""The anchors on one field: exact texts, prefixes, suffixes, substrings."""


class Prefilter:
    """The rules' hints (:class:`~mamori.detect.compile.Hints`) as indexes: which rules an event
    may match, found with a few lookups per event field instead of running every rule. Every
    rule an event matches is a candidate; most candidates do match."""

    def __init__(self, rules: Sequence[CompiledRule]) -> None:
        always: list[int] = []
        equals: dict[str, _Table] = {}
        prefix: dict[str, dict[int, _Table]] = {}
        suffix: dict[str, dict[int, _Table]] = {}
        contains: dict[str, _Table] = {}
        present: dict[str, list[int]] = {}
        full: dict[int, int] = {}
        for i, r in enumerate(rules):
            hints = r.hints
            if hints.anchors:
                full[i] = (1 << len(hints.anchors)) - 1
                for bit, a in ((1 << g, a) for g, group in enumerate(hints.anchors) for a in group):
                    match a.kind:
                        case AnchorKind.EQUALS:
                            table = equals.setdefault(a.field, {})
                        case AnchorKind.PREFIX:
                            table = prefix.setdefault(a.field, {}).setdefault(len(a.text), {})
                        case AnchorKind.SUFFIX:
                            table = suffix.setdefault(a.field, {}).setdefault(len(a.text), {})
                        case AnchorKind.CONTAINS:
                            table = contains.setdefault(a.field, {})
                        case _:
                            assert_never(a.kind)
                    table.setdefault(a.text, []).append((i, bit))
            elif hints.needs is not None:
                for f in hints.needs:
                    present.setdefault(f, []).append(i)
            else:
                always.append(i)
        self.always = frozenset(always)
        self.full = full
        """Per anchored rule, the bits of all its groups."""
        self.probes: dict[str, _Probe] = {
            f: (
                equals.get(f),
                _ends(prefix[f]) if f in prefix else None,
                _ends(suffix[f]) if f in suffix else None,
                _parts(contains[f]) if f in contains else None,
            )
            for f in sorted(set(equals) | set(prefix) | set(suffix) | set(contains))
        }
        self.probed = frozenset(self.probes)
        self.present = tuple(sorted(present.items()))

    def candidates(self, flat: Mapping[str, Any]) -> list[int]:
        """Positions of the rules `flat` may match, in rule order."""
        masks: dict[int, int] = {}
        probes = self.probes
        for f in self.probed.intersection(flat):
            v = flat[f]
            if v is None:
                continue
            equals, prefix, suffix, contains = probes[f]
            for t in (v.lower(),) if type(v) is str else value_texts(v):
                hits: list[_Hits] = []
                if equals is not None and t in equals:
                    hits.append(equals[t])
                if prefix is not None and t.startswith(prefix.every):
                    hits.extend(tb[t[:n]] for n, tb in prefix.by_length if t[:n] in tb)
                if suffix is not None and t.endswith(suffix.every):
                    hits.extend(tb[t[-n:]] for n, tb in suffix.by_length if t[-n:] in tb)
                if contains is not None and (
                    contains.any_of is None or contains.any_of.search(t) is not None
                ):
                    hits.extend(hit for part, hit in contains.each if part in t)
                for hit in hits:
                    for i, bit in hit:
                        masks[i] = masks.get(i, 0) | bit
        if not masks and not self.always and not self.present:
            return []
        full = self.full
        found = {i for i, m in masks.items() if m == full[i]}
        found.update(self.always)
        for f, positions in self.present:
            if flat.get(f) is not None:
                found.update(positions)
        return sorted(found)
