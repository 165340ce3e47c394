"""The built-in Sigma rule catalogue (`src/mamori/detect/builtin/`) and its documentation page.

:func:`load_builtin` loads the rules the live engine runs unless ``[detect] builtin = false``;
:func:`render_markdown` writes docs/detection-rules.md from the rules themselves, so the page
cannot drift from them (a test compares the two)::

    python -m mamori.detect.catalogue > docs/detection-rules.md

A rule serves the contract clauses named by its tags ``clause.<ID>`` (e.g. ``clause.SEC-5``);
ATT&CK tags are ``attack.<tactic>`` and ``attack.t<number>``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any, Final

from sigma.correlations import SigmaCorrelationCondition, SigmaCorrelationRule
from sigma.rule import SigmaRule, SigmaRuleBase

from mamori.detect.correlation import CorrelationEngine, CorrelationSpec
from mamori.detect.ecs import logsource_condition
from mamori.detect.errors import DetectError
from mamori.detect.rules import LoadResult, load_paths

BUILTIN_DIR: Final = Path(__file__).resolve().parent / "builtin"
"""Where the built-in rules are (shipped as package data)."""

REGENERATE: Final = "python -m mamori.detect.catalogue > docs/detection-rules.md"
"""The command that rewrites the catalogue page."""

CLAUSE_FAMILIES: Final = (
    "SEC", "APP", "WEB", "CLD", "DB", "SUB", "CONF", "LAW", "IP", "SECRET", "OPS", "FLT",
)  # fmt: skip
"""Clause families in the order of the requirements (../shared/spec/requirements.md)."""

CLAUSE_TITLES: Final[Mapping[str, str]] = {
    "SEC-5": "usage records and exceptional events kept, misuse detected, logs protected",
    "APP-7": "no connection from unauthorised terminals, servers or network devices",
    "CLD-7": "communications monitored at the internet boundary",
    "DB-1": "administrator privileges managed, inappropriate grants detected",
    "DB-3": "misuse by users who hold access rights: bulk retrieval, unnatural times",
    "SEC-2": "no component with a known vulnerability; prompt fixes",
    "CLD-9": "the agency can confirm what was done about each vulnerability",
}
"""A short title for each clause the catalogue serves (a test checks none is missing)."""

Rule = SigmaRule | SigmaCorrelationRule

_TECHNIQUE = re.compile(r"t([0-9]{4})(?:\.([0-9]{3}))?")


def load_builtin() -> LoadResult:
    """The built-in rules, loaded as any rule directory is (problems are reported, not
    raised; the tests keep the catalogue free of them)."""
    return load_paths([BUILTIN_DIR])


def rule_clauses(rule: SigmaRuleBase) -> tuple[str, ...]:
    """The clause IDs of a rule's ``clause.<ID>`` tags, in tag order."""
    return tuple(t.name for t in rule.tags if t.namespace == "clause")


def rule_id(rule: SigmaRuleBase) -> str:
    """The id mamori reports a rule by (its Sigma id, else its name or title)."""
    return str(rule.id) if rule.id else (rule.name or rule.title)


def title_ja(rule: SigmaRuleBase) -> str | None:
    """The rule's Japanese title (the custom attribute ``title_ja``), if it has one."""
    value = rule.custom_attributes.get("title_ja")
    return value if isinstance(value, str) and value else None


def quiet_rules(loaded: LoadResult) -> set[str]:
    """Ids of the rules that only feed correlations with ``generate: false`` (no alert of
    their own), judged as the correlation engine judges them."""
    specs: list[CorrelationSpec] = []
    for c in loaded.correlations:
        try:
            specs.append(CorrelationSpec.from_sigma(c))
        except DetectError:
            continue
    engine = CorrelationEngine(specs)
    out: set[str] = set()
    rules: list[Rule] = [*loaded.rules, *loaded.correlations]
    for rule in rules:
        refs = [r for r in (rule_id(rule), rule.name) if r]
        if any(not engine.is_standalone(r) for r in refs):
            out.add(rule_id(rule))
    return out


def _clause_key(clause: str) -> tuple[int, str, int]:
    family, _, number = clause.partition("-")
    rank = CLAUSE_FAMILIES.index(family) if family in CLAUSE_FAMILIES else len(CLAUSE_FAMILIES)
    return (rank, family, int(number) if number.isdigit() else 0)


def _ordered(loaded: LoadResult) -> list[Rule]:
    """Every rule, by file, base rules before correlations, each in file order."""
    rules: list[Rule] = [*loaded.rules, *loaded.correlations]
    files = sorted({loaded.path_of(r) for r in rules})
    return [r for f in files for r in rules if loaded.path_of(r) == f]


def _anchor(rule: SigmaRuleBase) -> str:
    return f"rule-{rule_id(rule)}"


def _code(value: Any) -> str:
    text = "true" if value is True else "false" if value is False else str(value)
    return f"`{text}`"


def _values(values: Any, joiner: str = " or ") -> str:
    items = values if isinstance(values, list) else [values]
    if len(items) > 1 and joiner == " or ":
        return "one of (" + ", ".join(_code(v) for v in items) + ")"
    if len(items) > 1 and joiner == " and ":
        return "each of (" + ", ".join(_code(v) for v in items) + ")"
    return joiner.join(_code(v) for v in items)


_OPERATORS: Final = {"gt": ">", "gte": "≥", "lt": "<", "lte": "≤", "eq": "=", "neq": "≠"}


def _item(key: str, values: Any) -> str:
    """One detection item (`field|modifier...: value(s)`) for a person."""
    field, *mods = key.split("|")
    name = f"`{field}`"
    joiner = " and " if "all" in mods else " or "
    mods = [m for m in mods if m != "all"]
    if mods == ["exists"]:
        return f"{name} is present" if values is True else f"{name} is absent"
    if mods == ["cidr"]:
        return f"{name} in ({_values(values, ', ')})"
    if len(mods) == 1 and mods[0] in _OPERATORS:
        return f"{name} {_OPERATORS[mods[0]]} {_values(values, joiner)}"
    if len(mods) == 1 and mods[0] in ("contains", "startswith", "endswith"):
        verb = {"contains": "contains", "startswith": "starts with", "endswith": "ends with"}
        return f"{name} {verb[mods[0]]} {_values(values, joiner)}"
    if mods == ["re"]:
        return f"{name} matches {_values(values, joiner)}"
    if mods:
        return f"`{key}` is {_values(values, joiner)}"
    if values is None:
        return f"{name} is absent"
    return f"{name} is {_values(values, joiner)}"


def _search(definition: Any) -> str:
    """A search identifier's definition for a person."""
    if isinstance(definition, Mapping):
        return " and ".join(_item(str(k), v) for k, v in definition.items())
    if isinstance(definition, list) and all(isinstance(d, Mapping) for d in definition):
        return " or ".join(f"({_search(d)})" for d in definition)
    return f"the message contains {_values(definition)}"


def _base_lines(rule: SigmaRule) -> list[str]:
    detection: Mapping[str, Any] = rule.to_dict()["detection"]
    conditions = detection["condition"]
    conds = conditions if isinstance(conditions, list) else [conditions]
    out = [f"- **Condition:** {' or '.join(f'`{c}`' for c in conds)}, where"]
    out += [f"  - `{k}`: {_search(v)}" for k, v in detection.items() if k != "condition"]
    return out


def _correlation_lines(rule: SigmaCorrelationRule, titles: Mapping[str, Rule]) -> list[str]:
    refs = []
    references = rule.rules or []
    for ref in references:
        target = titles.get(ref.reference)
        label = f"[{target.title}](#{_anchor(target)})" if target else f"`{ref.reference}`"
        refs.append(label)
    cond = rule.condition
    kind = str(rule.type)
    if not isinstance(cond, SigmaCorrelationCondition):
        what = "an extended condition mamori does not evaluate"
    elif kind.startswith("temporal") and cond.count == len(references):
        what = "all of them" + (", in this order" if kind == "temporal_ordered" else "")
    else:
        counted = f"distinct `{cond.fieldref}`" if cond.fieldref else "matches"
        what = f"{counted} {_OPERATORS[cond.op.name.lower()]} {cond.count}"
    group = ", ".join(f"`{g}`" for g in rule.group_by or []) or "none"
    out = [
        f"- **Correlation:** `{rule.type}` over {', '.join(refs)}",
        f"  - group-by {group}; timespan `{rule.timespan.spec}`; condition {what}",
    ]
    for alias in rule.aliases:
        mapping = ", ".join(f"`{k.reference}` → `{v}`" for k, v in alias.mapping.items())
        out.append(f"  - alias `{alias.alias}`: {mapping}")
    return out


def _attack(tags: Iterable[str]) -> str:
    out: list[str] = []
    for tag in tags:
        m = _TECHNIQUE.fullmatch(tag)
        if m is None:
            out.append(tag.replace("_", " "))
            continue
        path = m.group(1) + (f"/{m.group(2)}" if m.group(2) else "")
        out.append(f"[{tag.upper()}](https://attack.mitre.org/techniques/T{path}/)")
    return ", ".join(out)


def _logsource(rule: SigmaRule) -> str:
    ls = rule.logsource
    parts = [f"{k}: {v}" for k, v in (("product", ls.product), ("category", ls.category),
                                      ("service", ls.service)) if v]  # fmt: skip
    cond = logsource_condition(ls)
    ecs = f"`{cond.description}`" if cond else "**no ECS mapping: applies to no event**"
    return f"`{', '.join(parts)}` → {ecs}"


def _rule_section(
    rule: Rule, loaded: LoadResult, titles: Mapping[str, Rule], quiet: set[str]
) -> list[str]:
    ja = title_ja(rule)
    out = [f'### <a id="{_anchor(rule)}"></a>{rule.title}', ""]
    if ja:
        out += [ja, ""]
    if rule.description:
        out += [rule.description, ""]
    kind = "correlation" if isinstance(rule, SigmaCorrelationRule) else "base rule"
    alert = "feeds correlations only, no alert of its own" if rule_id(rule) in quiet else "alerts"
    out += [
        f"- **id** `{rule_id(rule)}` · **level** {rule.level} · **status** {rule.status} · "
        f"{kind}, {alert} · file `{Path(loaded.path_of(rule)).name}`",
        f"- **Clauses:** {', '.join(rule_clauses(rule))}",
    ]
    if isinstance(rule, SigmaRule):
        out.append(f"- **Logsource:** {_logsource(rule)}")
        out += _base_lines(rule)
    else:
        out += _correlation_lines(rule, titles)
    attack = [t.name for t in rule.tags if t.namespace == "attack"]
    if attack:
        out.append(f"- **ATT&CK:** {_attack(attack)}")
    if isinstance(rule, SigmaRule) and rule.fields:
        out.append(f"- **Fields of interest:** {', '.join(f'`{f}`' for f in rule.fields)}")
    if rule.falsepositives:
        out.append(f"- **False positives:** {'; '.join(rule.falsepositives)}")
    return [*out, ""]


def _clause_sections(rules: Sequence[Rule], quiet: set[str]) -> list[str]:
    clauses = sorted({c for r in rules for c in rule_clauses(r)}, key=_clause_key)
    out: list[str] = []
    for clause in clauses:
        title = CLAUSE_TITLES.get(clause)
        out += [f"### {clause}" + (f": {title}" if title else ""), ""]
        out += ["| Rule | Level | Kind |", "| --- | --- | --- |"]
        for r in rules:
            if clause not in rule_clauses(r):
                continue
            kind = f"correlation ({r.type})" if isinstance(r, SigmaCorrelationRule) else "base"
            if rule_id(r) in quiet:
                kind += ", feeds correlations only"
            out.append(f"| [{r.title}](#{_anchor(r)}) | {r.level} | {kind} |")
        out.append("")
    return out


def render_markdown(loaded: LoadResult | None = None) -> str:
    """docs/detection-rules.md: the catalogue by clause, then every rule in detail."""
    loaded = load_builtin() if loaded is None else loaded
    rules = _ordered(loaded)
    quiet = quiet_rules(loaded)
    titles: dict[str, Rule] = {}
    for r in rules:
        titles[rule_id(r)] = r
        if r.name:
            titles[r.name] = r
    alerting = sum(1 for r in rules if rule_id(r) not in quiet)
    out = [
        "# Built-in detection rules",
        "",
        f"<!-- Generated from src/mamori/detect/builtin/ by `{REGENERATE}`; do not edit. -->",
        "",
        f"mamori ships {len(rules)} Sigma rules in `src/mamori/detect/builtin/`: {alerting} "
        f"raise alerts, {len(rules) - alerting} only feed correlations (`generate: false`). "
        "They run in the live engine with their logsources applied unless "
        "`[detect] builtin = false`; `[detect] rules` adds your own files or directories "
        "(docs/detection.md). Severity is the rule's `level`; the clauses come from its "
        "`clause.<ID>` tags. Before rules run, events are enriched with "
        "`mamori.calendar.*` (DB-3) and `mamori.net.denied` (CLD-7).",
        "",
        "To try a copy of a rule offline: `mamori detect test --rules FILE.yml --events "
        "EVENTS.jsonl --match-logsource`. It does not enrich events: for the DB-3 and "
        "denied-network rules, give events that already carry `mamori.calendar.*` or "
        "`mamori.net.denied`.",
        "",
        "## By clause",
        "",
        *_clause_sections(rules, quiet),
        "## Rules",
        "",
    ]
    for rule in rules:
        out += _rule_section(rule, loaded, titles, quiet)
    return "\n".join(out).rstrip("\n") + "\n"


def main() -> None:
    """Print the catalogue page (``python -m mamori.detect.catalogue``)."""
    sys.stdout.write(render_markdown())


if __name__ == "__main__":
    main()
