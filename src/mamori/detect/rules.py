"""Loading Sigma rules from files and directories.

pySigma parses; this module only reads files and sorts what pySigma gives back into base rules,
correlation rules and problems. A bad rule is reported with its file and reason and does not stop
the others.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sigma.collection import SigmaCollection
from sigma.correlations import SigmaCorrelationRule
from sigma.exceptions import SigmaError, SigmaRuleLocation
from sigma.rule import SigmaRule

RULE_SUFFIXES = (".yml", ".yaml")
"""The file names a directory walk picks up."""


@dataclass(frozen=True)
class LoadProblem:
    """A rule (or a whole file) that could not be used."""

    path: str
    """The file the rule came from."""
    reason: str
    """Why, for a person: pySigma's message, or why the file could not be read."""

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


@dataclass
class LoadResult:
    """What a load produced: the usable rules and what went wrong with the others."""

    rules: list[SigmaRule] = field(default_factory=list)
    """Base (detection) rules, in file order."""
    correlations: list[SigmaCorrelationRule] = field(default_factory=list)
    """Correlation rules, untouched (their rule references are not resolved here)."""
    problems: list[LoadProblem] = field(default_factory=list)
    """Rules or files that could not be used."""
    paths: dict[int, str] = field(default_factory=dict)
    """The file of each loaded rule, keyed by ``id()`` of the rule object."""

    def path_of(self, rule: SigmaRule | SigmaCorrelationRule) -> str:
        """The file a loaded rule came from."""
        return self.paths.get(id(rule), "?")

    def extend(self, other: LoadResult) -> None:
        """Add another result's rules and problems to this one."""
        self.rules.extend(other.rules)
        self.correlations.extend(other.correlations)
        self.problems.extend(other.problems)
        self.paths.update(other.paths)


def rule_files(path: Path) -> Iterator[Path]:
    """The rule files under a path: the path itself when it is a file, else every ``*.yml`` /
    ``*.yaml`` below it in sorted order (so loads are deterministic)."""
    if path.is_dir():
        yield from sorted(p for p in path.rglob("*") if p.suffix in RULE_SUFFIXES and p.is_file())
    else:
        yield path


def _reason(e: BaseException) -> str:
    return str(e).strip() or type(e).__name__


def load_text(text: str, path: str, *, resolve: bool = True) -> LoadResult:
    """Parse one file's text (YAML, possibly several documents) into rules.

    With `resolve`, correlation rules must find the rules they reference in the same text;
    :func:`load_paths` passes False and resolves them across every file it loaded."""
    result = LoadResult()
    try:
        docs = [d for d in yaml.safe_load_all(text) if d is not None]
    except yaml.YAMLError as e:
        result.problems.append(LoadProblem(path, f"not valid YAML: {_reason(e)}"))
        return result
    if not docs:
        result.problems.append(LoadProblem(path, "no rule in the file"))
        return result
    if not all(isinstance(d, dict) for d in docs):
        result.problems.append(LoadProblem(path, "a YAML document is not a mapping"))
        return result
    try:
        collection = SigmaCollection.from_dicts(
            docs,
            collect_errors=True,
            source=SigmaRuleLocation(Path(path)),
            resolve_references=resolve,
        )
    except (SigmaError, ValueError, TypeError, KeyError, AttributeError) as e:
        result.problems.append(LoadProblem(path, _reason(e)))
        return result
    for rule in collection.rules:
        if rule.errors:
            for err in rule.errors:
                result.problems.append(LoadProblem(path, _describe(rule, err)))
            continue
        result.paths[id(rule)] = path
        if isinstance(rule, SigmaCorrelationRule):
            result.correlations.append(rule)
        elif isinstance(rule, SigmaRule):
            result.rules.append(rule)
        else:
            result.rules.append(rule)
    for filt in collection.filters:
        result.problems.append(
            LoadProblem(path, f"{_name(filt)}: Sigma filters are not supported by mamori yet")
        )
    for err in collection.errors:
        if not any(err in r.errors for r in collection.rules):
            result.problems.append(LoadProblem(path, _reason(err)))
    return result


def _name(rule: object) -> str:
    ident = getattr(rule, "id", None)
    title = getattr(rule, "title", None)
    return str(ident or title or "rule")


def _describe(rule: object, err: BaseException) -> str:
    return f"{_name(rule)}: {_reason(err)}"


def load_paths(paths: Iterable[str | Path]) -> LoadResult:
    """Load every rule under each path. Unreadable paths are problems too, never exceptions."""
    result = LoadResult()
    for top in paths:
        top = Path(top)
        if not top.exists():
            result.problems.append(LoadProblem(str(top), "no such file or directory"))
            continue
        for f in rule_files(top):
            try:
                text = f.read_text(encoding="utf-8")
            except (OSError, UnicodeDecodeError) as e:
                result.problems.append(LoadProblem(str(f), f"cannot read: {_reason(e)}"))
                continue
            result.extend(load_text(text, str(f), resolve=False))
    return resolve_references(result)


def resolve_references(result: LoadResult) -> LoadResult:
    """Resolve every correlation's rule references against all the rules loaded, whatever
    file they came from; a correlation referring to a rule that is not there becomes a problem
    naming its file and the missing reference."""
    everything = SigmaCollection([*result.rules, *result.correlations], resolve_references=False)
    kept: list[SigmaCorrelationRule] = []
    for c in result.correlations:
        try:
            c.resolve_rule_references(everything)
        except SigmaError as e:
            result.problems.append(LoadProblem(result.path_of(c), _describe(c, e)))
            continue
        kept.append(c)
    result.correlations = kept
    return result
