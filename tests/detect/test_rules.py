"""Loading: bad rules are reported with file and reason and do not stop the others."""

from __future__ import annotations

from pathlib import Path

from sigma.correlations import SigmaCorrelationRule

from mamori.detect.engine import build_engine
from mamori.detect.rules import load_paths
from tests.conftest import shared_data

GOOD = """title: good
id: 00000000-0000-0000-0000-00000000000a
logsource: {product: linux}
detection:
  sel: {a: x}
  condition: sel
"""
CORRELATION = """title: many
id: 00000000-0000-0000-0000-00000000000c
correlation:
  type: event_count
  rules: [00000000-0000-0000-0000-00000000000a]
  group-by: [a]
  timespan: 5m
  condition: {gte: 3}
"""


def test_directory_multi_document_and_problems(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.yml").write_text(GOOD + "---\n" + CORRELATION)
    (tmp_path / "broken.yaml").write_text("title: [unclosed\n")
    (tmp_path / "nodetection.yml").write_text("title: x\nlogsource: {product: linux}\n")
    (tmp_path / "badcond.yml").write_text(GOOD.replace("condition: sel", "condition: nosuch"))
    (tmp_path / "notes.txt").write_text("ignored")
    loaded = load_paths([tmp_path, tmp_path / "missing"])
    assert [str(r.id) for r in loaded.rules] == [
        "00000000-0000-0000-0000-00000000000a",
        "00000000-0000-0000-0000-00000000000a",
    ]
    assert len(loaded.correlations) == 1
    assert isinstance(loaded.correlations[0], SigmaCorrelationRule)
    paths = sorted(Path(p.path).name for p in loaded.problems)
    assert paths == ["broken.yaml", "missing", "nodetection.yml"]
    assert all(p.reason for p in loaded.problems)
    # the bad condition is found at compile time, with its file
    built = build_engine(loaded)
    later = [p for p in built.problems if p not in loaded.problems]
    assert len(later) == 1 and later[0].path.endswith("badcond.yml")
    assert "nosuch" in later[0].reason
    assert len(built.engine.rules) == 1


def test_every_shared_sigma_rule_loads_and_compiles() -> None:
    loaded = load_paths([shared_data("sigma", "rules")])
    built = build_engine(loaded)
    assert built.problems == []
    assert len(built.engine.rules) == 453


def test_a_correlation_finds_rules_in_other_files(tmp_path: Path) -> None:
    """Regression: pySigma resolves references within one collection, so a correlation kept
    in its own file (as SigmaHQ keeps them) used to fail with "rule not found"."""
    (tmp_path / "a-base.yml").write_text(GOOD)
    (tmp_path / "b-corr.yml").write_text(CORRELATION)
    loaded = load_paths([tmp_path])
    assert loaded.problems == []
    assert [str(c.id) for c in loaded.correlations] == ["00000000-0000-0000-0000-00000000000c"]
    refs = loaded.correlations[0].rules
    assert refs is not None and refs[0].rule is loaded.rules[0]


def test_a_correlation_missing_its_rule_is_a_problem_naming_the_file(tmp_path: Path) -> None:
    (tmp_path / "corr.yml").write_text(CORRELATION)
    loaded = load_paths([tmp_path])
    assert loaded.correlations == []
    assert len(loaded.problems) == 1
    problem = loaded.problems[0]
    assert problem.path == str(tmp_path / "corr.yml")
    assert "00000000-0000-0000-0000-00000000000a" in problem.reason
