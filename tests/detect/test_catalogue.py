"""The built-in rule catalogue: every rule usable, tagged with real clauses, documented."""

from __future__ import annotations

import re
import subprocess
import sys
import tomllib
import uuid

import pytest

from mamori.detect.catalogue import (
    BUILTIN_DIR,
    CLAUSE_TITLES,
    REGENERATE,
    Rule,
    load_builtin,
    quiet_rules,
    render_markdown,
    rule_clauses,
    rule_id,
    title_ja,
)
from mamori.detect.correlation import CorrelationEngine, CorrelationSpec
from mamori.detect.engine import build_engine
from tests.conftest import REPO

LOADED = load_builtin()
RULES: list[Rule] = [*LOADED.rules, *LOADED.correlations]
REQUIREMENTS = REPO.parent / "shared" / "spec" / "requirements.md"
CLAUSE_ID = re.compile(r"[A-Z]+-[0-9]+")


def test_every_rule_loads_and_compiles_with_its_logsource() -> None:
    assert LOADED.problems == []
    built = build_engine(LOADED, match_logsource=True)
    assert built.problems == []
    assert all(r.logsource is not None for r in built.engine.rules)
    specs = [CorrelationSpec.from_sigma(c) for c in LOADED.correlations]
    CorrelationEngine(specs)  # references resolve, no loops, no name twice
    assert len(RULES) == len(list(BUILTIN_DIR.glob("*.yml"))) + sum(
        p.read_text(encoding="utf-8").count("\n---\n") for p in BUILTIN_DIR.glob("*.yml")
    ), "every YAML document in builtin/ is a rule that loaded"


def test_ids_are_unique_uuids_and_names_unique() -> None:
    ids = [rule_id(r) for r in RULES]
    assert len(set(ids)) == len(ids)
    for ident in ids:
        assert str(uuid.UUID(ident)) == ident, f"{ident} is not a UUID in canonical form"
    names = [r.name for r in RULES if r.name]
    assert len(set(names)) == len(names)


@pytest.mark.parametrize("rule", RULES, ids=rule_id)
def test_rule_metadata(rule: object) -> None:
    from sigma.correlations import SigmaCorrelationRule
    from sigma.rule import SigmaRule

    assert isinstance(rule, SigmaRule | SigmaCorrelationRule)
    assert rule.author == "mamori"
    assert str(rule.status) in ("stable", "test")
    assert rule.level is not None
    assert rule.date is not None
    assert rule.description and len(rule.description) > 40
    assert title_ja(rule), "give the rule a Japanese title (title_ja)"
    clauses = rule_clauses(rule)
    assert clauses, "tag the rule with the clauses it serves: clause.<ID>"
    for clause in clauses:
        assert CLAUSE_ID.fullmatch(clause), f"clause tag {clause!r} is not like SEC-5"
        assert clause in CLAUSE_TITLES, f"add a short title for {clause} to CLAUSE_TITLES"
    for tag in rule.tags:
        assert tag.namespace in ("clause", "attack"), f"unexpected tag namespace {tag}"


def test_clauses_exist_in_the_requirements() -> None:
    if not REQUIREMENTS.exists():
        pytest.skip(f"{REQUIREMENTS} is absent (it lives in ../shared/spec beside the repo)")
    text = REQUIREMENTS.read_text(encoding="utf-8")
    known = set(re.findall(r"^\| ([A-Z]+-[0-9]+) \|", text, flags=re.MULTILINE))
    assert known, "no clause table found in the requirements"
    used = {c for r in RULES for c in rule_clauses(r)}
    assert used <= known, f"clauses not in the requirements: {sorted(used - known)}"


def test_only_feeders_are_informational() -> None:
    quiet = quiet_rules(LOADED)
    assert quiet, "the catalogue has feeder rules (generate: false)"
    for r in RULES:
        informational = str(r.level) == "informational"
        assert informational == (rule_id(r) in quiet), (
            f"{r.title}: a rule that alerts needs a level above informational, and a rule "
            "that only feeds correlations is informational"
        )


def test_the_rules_ship_as_package_data() -> None:
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))
    patterns = pyproject["tool"]["setuptools"]["package-data"]["mamori"]
    assert "detect/builtin/*.yml" in patterns
    assert BUILTIN_DIR == REPO / "src" / "mamori" / "detect" / "builtin"


def test_the_catalogue_page_is_current() -> None:
    page = REPO / "docs" / "detection-rules.md"
    current = page.read_text(encoding="utf-8") if page.exists() else ""
    assert current == render_markdown(), f"docs/detection-rules.md is stale: run `{REGENERATE}`"


def test_the_page_names_every_rule_and_clause() -> None:
    page = render_markdown()
    for r in RULES:
        assert f'<a id="rule-{rule_id(r)}"></a>{r.title}' in page
        ja = title_ja(r)
        assert ja is not None and ja in page
    for clause in {c for r in RULES for c in rule_clauses(r)}:
        assert f"### {clause}: {CLAUSE_TITLES[clause]}" in page


def test_the_module_prints_the_page() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "mamori.detect.catalogue"],
        capture_output=True,
        check=True,
        timeout=60,
    )
    assert proc.stdout.decode("utf-8") == render_markdown()
