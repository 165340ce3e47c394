"""The firewall's evaluation (DB-4): libinjection's SQLi corpora pasted into a vulnerable
application's statements, against benign traffic (pgbench, SQLAlchemy, psql, hand-written SQL,
benign values from ../shared/data). See tests/dbguard/sqlcorpus.py for how both are built and
bench/sqli_eval.py for the figures; docs/dbguard-firewall.md gives them.

The floors are what the analysis reaches today, rounded down: a change that loses detection, or
raises the false-positive rate above 0.1 %, fails here.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import shared_data
from tests.dbguard.sqlcorpus import benign_corpus, evaluate, sqli_payloads

DETECTION_FLOOR = 0.975
"""Effective attack statements (parsed, structure changed) that alert or block: 98.3 % measured."""
BLOCK_FLOOR = 0.74
"""… that block: 75.7 % measured."""
DETECTION_WITH_UNPARSEABLE_FLOOR = 0.99
"""Effective and unparseable attack statements together: 99.7 % measured."""
MAX_FALSE_POSITIVE_RATE = 0.001


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    root = shared_data("sqli")
    return evaluate(sqli_payloads(root), benign_corpus(shared=root.parent))


def test_false_positive_rate(figures: dict[str, Any]) -> None:
    benign = figures["benign"]
    assert benign["statements"] >= 5000
    assert benign["false_positive_rate"] <= MAX_FALSE_POSITIVE_RATE, benign["examples"]


def test_detection_rate(figures: dict[str, Any]) -> None:
    attacks = figures["attacks"]
    assert attacks["effective"] >= 6000
    assert attacks["detection_rate_effective"] >= DETECTION_FLOOR, figures["_missed"][:20]
    assert attacks["block_rate_effective"] >= BLOCK_FLOOR
    assert attacks["detection_rate_with_unparseable"] >= DETECTION_WITH_UNPARSEABLE_FLOOR


def test_benign_corpus_covers_every_source() -> None:
    sources = {b.source.split(".")[0] for b in benign_corpus(shared=shared_data())}
    assert sources == {"pgbench", "orm", "catalog", "sql", "values"}
