"""The shape cache of the SQL analysis (sqltokens.shape): a clean analysis is reused for texts
of the same shape. The promise that makes that safe — texts of one shape are either all clean
or all not — checked on every statement of the evaluation corpora (attacks pasted into the
vulnerable templates, and the benign traffic), against analyses made without the cache."""

from __future__ import annotations

from collections import defaultdict

import pytest

from mamori.dbguard import analysis
from mamori.dbguard.analysis import _analyse, analyse
from mamori.dbguard.facts import Verdict
from mamori.dbguard.sqltokens import ScanError, scan, shape
from tests.conftest import shared_data
from tests.dbguard.sqlcorpus import TEMPLATES, benign_corpus, sqli_payloads


def _key(sql: str) -> str | None:
    if analysis._refusal(sql):  # NUL, not UTF-8: never cached
        return None
    try:
        return shape(sql, scan(sql))
    except ScanError:
        return None


def test_same_statement_other_values_shares_the_clean_analysis() -> None:
    a = analyse("SELECT abalance FROM pgbench_accounts WHERE aid = 91377")
    b = analyse("SELECT abalance FROM pgbench_accounts WHERE aid = 4417")
    assert a.decision.verdict is Verdict.ALLOW
    assert b is a  # one analysis, reused
    assert b.normalized == "SELECT abalance FROM pgbench_accounts WHERE aid = $1"


@pytest.mark.parametrize(
    ("clean", "attack"),
    [
        # a query builder's 1=1 is clean; another constant condition is not
        ("SELECT * FROM t WHERE 1=1 AND id = 5", "SELECT * FROM t WHERE 2=2 AND id = 5"),
        # equal constants compared are a tautology; the order between constants survives
        ("SELECT * FROM t WHERE id = 5 OR id = 6", "SELECT * FROM t WHERE id = 5 OR 6 = 6"),
        ("SELECT * FROM t WHERE a > 3", "SELECT * FROM t WHERE a > 3 OR 3 > 2"),
        ("SELECT * FROM t WHERE name = 'x'", "SELECT * FROM t WHERE name = 'x' OR 'a' = 'a'"),
        # hexadecimal numbers are kept as written
        ("SELECT * FROM t WHERE id = 97", "SELECT * FROM t WHERE id = 0x61"),
        # comments are kept
        ("SELECT * FROM t WHERE id = 5", "SELECT * FROM t WHERE id = 5 --"),
    ],
)
def test_a_clean_shape_never_covers_an_attack(clean: str, attack: str) -> None:
    assert analyse(clean).decision.verdict is Verdict.ALLOW
    assert analyse(attack).decision.verdict is not Verdict.ALLOW, attack
    assert _key(clean) != _key(attack) or _key(attack) is None


def test_the_cache_is_bounded() -> None:
    for i in range(analysis._SHAPES_MAX + 10):
        analyse(f"SELECT c{i} FROM t WHERE id = {i}")
    assert len(analysis._SHAPES) <= analysis._SHAPES_MAX


def test_shapes_are_all_clean_or_all_not_on_the_corpora() -> None:
    shared_data("sqli")
    texts: set[str] = {b.sql for b in benign_corpus()}
    texts.update(t.fill(p) for t in TEMPLATES for _source, p in sqli_payloads())
    groups: dict[str, set[bool]] = defaultdict(set)
    examples: dict[tuple[str, bool], str] = {}
    for sql in texts:
        key = _key(sql)
        if key is None:
            continue
        clean = _analyse(sql, 0).decision.verdict is Verdict.ALLOW
        groups[key].add(clean)
        examples.setdefault((key, clean), sql)
    mixed = [k for k, v in groups.items() if len(v) > 1]
    assert not mixed, [(examples[(k, True)], examples[(k, False)]) for k in mixed[:5]]
    shared = sum(1 for k in groups if len(groups[k]) == 1)
    assert len(groups) < len(texts) and shared > 100  # the corpora do repeat shapes
