"""SQL firewall evaluation (DB-4): prints one JSON document.

    .venv/bin/python bench/sqli_eval.py [--seed 4] [--missed 20]

Attacks: every distinct payload of libinjection's SQLi corpora (../shared/data/sqli/sqli-*.txt,
BSD-3-Clause, URL-decoded) pasted into seven statements of a vulnerable application (a quoted
and a numeric WHERE, a login, a LIKE, an ORDER BY, an INSERT and an UPDATE). Each result is
*effective* (PostgreSQL parses it and its structure is not one the template has with ordinary
values), *inert* (the payload stayed a value: nothing to detect) or *unparseable* (the server
would refuse it too; ``enforce`` refuses it, fail closed). A statement is detected when the
injection analysis alone (no allowlist, as ``mamori dbguard classify``) says alert or block.

Benign: pgbench (initialisation and its built-in scripts), SQLAlchemy 2 ORM statements compiled
for PostgreSQL (literal values or $n), psql's describe queries and SQLAlchemy's reflection
queries (captured from the real clients), hand-written SQL (reports, builders, migrations,
transactions, …), and benign values from ../shared/data (libinjection's false positives, its
XSS corpora, loghub log lines) properly quoted into the same statements. A benign statement that
alerts or blocks is a false positive.

Also measured: the analysis's speed, uncached (every text new) and cached (an application's
texts again). Not a test: tests/dbguard/test_classify_corpus.py asserts the floors. The figures
go to docs/dbguard-firewall.md.
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

import orjson

ROOT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seed", type=int, default=4, help="the benign corpus's seed")
    parser.add_argument("--missed", type=int, default=0, help="print this many missed attacks")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT))
    from tests.dbguard.sqlcorpus import SQLI, benign_corpus, evaluate, sqli_payloads

    from mamori.dbguard import analysis

    if not SQLI.exists():
        sys.exit(
            f"bench/sqli_eval.py: {SQLI} is absent (it lives in ../shared/data beside the repo)"
        )
    t0 = time.perf_counter()
    payloads = sqli_payloads()
    benign = benign_corpus(seed=args.seed)
    figures = evaluate(payloads, benign)
    elapsed = time.perf_counter() - t0
    missed = figures.pop("_missed")

    texts = [b.sql for b in benign]
    t1 = time.perf_counter()
    for text in texts:
        analysis._analyse(text, 0)
    uncached = (time.perf_counter() - t1) / len(texts)
    hot = texts[:2000]
    for text in hot:  # warm the cache: an application's texts come again
        analysis.analyse(text)
    t2 = time.perf_counter()
    for _ in range(5):
        for text in hot:
            analysis.analyse(text)
    cached = (time.perf_counter() - t2) / (5 * len(hot))

    figures["speed"] = {
        "analyse_uncached_us": round(uncached * 1e6, 1),
        "analyse_cached_us": round(cached * 1e6, 2),
        "evaluation_s": round(elapsed, 1),
    }
    figures["machine"] = {
        "python": platform.python_version(),
        "cpu": platform.processor() or platform.machine(),
    }
    if args.missed:
        figures["missed_examples"] = missed[: args.missed]
    sys.stdout.write(orjson.dumps(figures, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
