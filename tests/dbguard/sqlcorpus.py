"""The SQL firewall's evaluation corpora: attacks and benign traffic, built deterministically.

Shared by tests/dbguard/test_classify_corpus.py (which asserts) and bench/sqli_eval.py (which
prints the figures).

Attacks: every payload of libinjection's SQLi corpora (../shared/data/sqli/sqli-*.txt,
BSD-3-Clause, URL-decoded as the corpus README says) pasted into the statements of a
vulnerable application (:data:`TEMPLATES`). A pasted payload is

* *effective* when PostgreSQL parses the result and its structure (fingerprint) is not one the
  template has with ordinary values: the payload changed the statement;
* *inert* when the structure did not change (a numeric-context payload inside a quoted string
  is just an odd value: nothing to detect);
* *unparseable* when PostgreSQL's grammar refuses the result (the server would refuse it too).

Benign: statements generated from pgbench's built-in scripts (and what ``pgbench -i`` sends),
SQLAlchemy 2 ORM statements compiled for PostgreSQL (literal values as psycopg2 interpolates
them, or ``$n`` as asyncpg and psycopg 3 send them), the catalog queries behind psql's describe
commands and SQLAlchemy's reflection (captured from the real clients,
tests/dbguard/corpus/catalog_queries.json), ordinary hand-written SQL (reports, builders,
migrations, transactions), and benign values from ../shared/data pasted, properly quoted, into
the same templates: libinjection's false positives, its XSS corpora, and loghub log lines.
Privilege changes are left out: DB-1 alerts on them by design.
"""

from __future__ import annotations

import json
import random
import urllib.parse
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
SHARED = ROOT.parent / "shared" / "data"
SQLI = SHARED / "sqli"
CATALOG_QUERIES = Path(__file__).resolve().parent / "corpus" / "catalog_queries.json"


def corpus_lines(path: Path) -> list[str]:
    """A libinjection corpus file's inputs: comments and blank lines dropped, URL-decoded."""
    out = []
    for line in path.read_text(encoding="utf-8", errors="surrogateescape").splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        out.append(urllib.parse.unquote_plus(line, errors="surrogateescape"))
    return out


def sqli_payloads(root: Path = SQLI) -> list[tuple[str, str]]:
    """(source file, payload) for every distinct payload of the sqli-*.txt corpora."""
    seen: set[str] = set()
    out = []
    for path in sorted(root.glob("sqli-*.txt")):
        for p in corpus_lines(path):
            if p not in seen:
                seen.add(p)
                out.append((path.name, p))
    return out


# ---------------------------------------------------------------- attacks


@dataclass(frozen=True, slots=True)
class Template:
    """A statement a vulnerable application builds by pasting input at ``{p}``."""

    name: str
    sql: str
    quoted: bool
    """The input lands inside a quoted string."""
    ordinary: tuple[str, ...]
    """Inputs the application expects: the structures they give are the template's own."""

    def fill(self, value: str) -> str:
        return self.sql.replace("{p}", value)


TEMPLATES = (
    Template("where_string", "SELECT * FROM users WHERE id = '{p}'", True, ("42", "alice")),
    Template("where_number", "SELECT * FROM users WHERE id = {p}", False, ("42", "-7")),
    Template(
        "login",
        "SELECT id, role FROM users WHERE login = '{p}' AND password_hash = 'b1946ac92492d2347c6235b4d2611184'",
        True,
        ("alice",),
    ),
    Template(
        "like",
        "SELECT id, name, price FROM products WHERE name LIKE '%{p}%' LIMIT 50",
        True,
        ("lamp",),
    ),
    Template(
        "order_by",
        "SELECT id, name, price FROM products ORDER BY {p}",
        False,
        ("name", "price DESC", "2", "id ASC", "name ASC"),
    ),
    Template(
        "insert",
        "INSERT INTO comments (post_id, author, body) VALUES (7, 'guest', '{p}')",
        True,
        ("nice post",),
    ),
    Template("update", "UPDATE users SET display_name = '{p}' WHERE id = 42", True, ("Alice",)),
)


def quote(value: str) -> str:
    """An application that quotes properly: '' for '."""
    return value.replace("'", "''")


# ---------------------------------------------------------------- benign: pgbench


def pgbench(rng: random.Random, transactions: int = 100) -> Iterator[str]:
    """What pgbench sends: its initialisation (as ``pgbench -i`` logs it, PostgreSQL 15), then
    the built-in scripts tpcb-like, simple-update and select-only, each statement its own
    simple Query (``-M simple``, the default) or, for some, with $n (``-M extended``)."""
    yield "drop table if exists pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"
    yield "create table pgbench_tellers(tid int not null,bid int,tbalance int,filler char(84)) with (fillfactor=100)"
    yield "create table pgbench_accounts(aid    int not null,bid int,abalance int,filler char(84)) with (fillfactor=100)"
    yield "create table pgbench_branches(bid int not null,bbalance int,filler char(88)) with (fillfactor=100)"
    yield "create table pgbench_history(tid int,bid int,aid    int,delta int,mtime timestamp,filler char(22))"
    yield "begin"
    yield "truncate table pgbench_accounts, pgbench_branches, pgbench_history, pgbench_tellers"
    yield "insert into pgbench_branches(bid,bbalance) values(1,0)"
    for tid in range(1, 11):
        yield f"insert into pgbench_tellers(tid,bid,tbalance) values ({tid},1,0)"
    yield "copy pgbench_accounts from stdin with (freeze on)"
    yield "commit"
    for t in ("pgbench_branches", "pgbench_tellers", "pgbench_accounts", "pgbench_history"):
        yield f"vacuum analyze {t}"
    for t, k in (
        ("pgbench_branches", "bid"),
        ("pgbench_tellers", "tid"),
        ("pgbench_accounts", "aid"),
    ):
        yield f"alter table {t} add primary key ({k})"
    yield "select count(*) from pgbench_branches"
    yield (
        "select o.n, p.partstrat, pg_catalog.count(i.inhparent) from pg_catalog.pg_class as c "
        "join pg_catalog.pg_namespace as n on (n.oid = c.relnamespace) cross join lateral "
        "(select pg_catalog.array_position(pg_catalog.current_schemas(true), n.nspname)) as o(n) "
        "left join pg_catalog.pg_partitioned_table as p on (p.partrelid = c.oid) left join "
        "pg_catalog.pg_inherits as i on (c.oid = i.inhparent) where c.relname = 'pgbench_accounts' "
        "and o.n is not null group by 1, 2 order by 1 asc limit 1"
    )
    yield "vacuum pgbench_branches"
    yield "vacuum pgbench_tellers"
    yield "truncate pgbench_history"
    for _ in range(transactions):
        scale = rng.choice((1, 10, 100))
        aid, bid = rng.randint(1, 100000 * scale), rng.randint(1, scale)
        tid, delta = rng.randint(1, 10 * scale), rng.randint(-5000, 5000)
        script = rng.choice(("tpcb-like", "tpcb-like", "simple-update", "select-only"))
        if rng.random() < 0.2:
            aid_s, bid_s, tid_s, delta_s = "$2", "$3", "$4", "$1"
        else:
            aid_s, bid_s, tid_s, delta_s = str(aid), str(bid), str(tid), str(delta)
        if script == "select-only":
            yield f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid_s};"
            continue
        yield "BEGIN;"
        yield f"UPDATE pgbench_accounts SET abalance = abalance + {delta_s} WHERE aid = {aid_s};"
        yield f"SELECT abalance FROM pgbench_accounts WHERE aid = {aid_s};"
        if script == "tpcb-like":
            yield f"UPDATE pgbench_tellers SET tbalance = tbalance + {delta_s} WHERE tid = {tid_s};"
            yield f"UPDATE pgbench_branches SET bbalance = bbalance + {delta_s} WHERE bid = {bid_s};"
        yield (
            "INSERT INTO pgbench_history (tid, bid, aid, delta, mtime) "
            f"VALUES ({tid_s}, {bid_s}, {aid_s}, {delta_s}, CURRENT_TIMESTAMP);"
        )
        yield "END;"


# ---------------------------------------------------------------- benign: values


FIRST = ("Alice", "Bob", "Chloé", "Dmitri", "Emeka", "Fatima", "Grace", "Hiro", "Ines", "Jonas",
         "Keiko", "Liam", "Mateo", "Noor", "Olga", "Priya", "Quentin", "Rosa", "Sven", "Tariq")  # fmt: skip
LAST = ("O'Brien", "D'Angelo", "Smith", "García", "Nakamura", "Müller", "Okafor", "Ivanova",
        "Kowalski", "Dubois", "Rossi", "Chen", "Haddad", "Nguyen", "Andersson", "Silva")  # fmt: skip
PRODUCTS = ("Drop-leaf table", "Select Comfort pillow", "Union Jack mug", "1=1 HDMI adapter",
            "Rock 'n' roll poster", "50% off voucher", "Tom & Jerry DVD", "/* vintage */ lamp",
            "--force climbing rope", "C:\\temp USB stick", "O'Reilly SQL Cookbook; 2nd ed.",
            "Sleep mask", "Benchmark stopwatch", "OR gate kit", "Table runner 'Or'", "Insert tool",
            "Where's Wally book", "1' pipe fitting", "Order book", "Group hug plushie")  # fmt: skip
WORDS = ("lamp", "chair", "red", "o'neil", "usb-c", "select", "drop", "or 1", "table", "50%",
         "naïve", "size: 10\"", "a_b", "user@example.com", "--", "/*", "union", "café")  # fmt: skip
STATUSES = ("pending", "paid", "shipped", "cancelled", "refunded")


def person(rng: random.Random) -> tuple[str, str]:
    first, last = rng.choice(FIRST), rng.choice(LAST)
    email = f"{first.lower()}.{last.lower().replace(chr(39), '')}{rng.randint(1, 999)}@example.org"
    return f"{first} {last}", email


def timestamp(rng: random.Random) -> str:
    return (
        f"2025-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d} "
        f"{rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}:{rng.randint(0, 59):02d}"
    )


def catalog_queries(path: Path = CATALOG_QUERIES) -> list[tuple[str, str]]:
    """(source, query) captured from psql and SQLAlchemy (see the file's "about")."""
    doc: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    out = []
    for source in ("psql", "sqlalchemy"):
        out += [(f"catalog.{source}", q) for q in doc[source]["queries"]]
    return out


def shared_values(shared: Path = SHARED) -> Iterator[tuple[str, str]]:
    """(source, value) of benign text from ../shared/data."""
    sqli = shared / "sqli"
    for v in corpus_lines(sqli / "false_positives.txt"):
        yield "values.libinjection_false_positives", v
    for path in sorted(sqli.glob("*xss*.txt")):
        for v in corpus_lines(path):
            yield "values.xss_text", v
    logs = shared / "logs"
    for name in ("OpenSSH", "Apache", "Linux", "HDFS", "Spark", "Zookeeper"):
        path = logs / name / f"{name}_2k.log"
        if path.exists():
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
            for line in lines[:: max(1, len(lines) // 120)]:
                yield f"values.loghub_{name.lower()}", line


@dataclass(frozen=True, slots=True)
class Benign:
    source: str
    sql: str


def benign_corpus(*, seed: int = 4, shared: Path = SHARED) -> list[Benign]:
    """The benign statements (deterministic for a seed)."""
    from tests.dbguard.sqlcorpus_orm import orm_statements
    from tests.dbguard.sqlcorpus_sql import handwritten

    rng = random.Random(seed)
    out = [Benign("pgbench", s) for s in pgbench(rng)]
    out += [Benign(src, s) for src, s in orm_statements(rng, 2600)]
    out += [Benign(src, q) for src, q in catalog_queries()]
    out += [Benign(src, s) for src, s in handwritten(rng, 1600)]
    if shared.exists():
        for src, value in shared_values(shared):
            if "\x00" in value or (not value.isprintable() and _not_utf8(value)):
                continue  # a UTF-8 database cannot hold it: no application can send it
            if src.startswith("values.loghub"):
                out.append(Benign(src, log_insert(rng, src, value)))
                continue
            quoted = [t for t in TEMPLATES if t.quoted]
            for t in quoted if src.endswith("false_positives") else [rng.choice(quoted)]:
                out.append(Benign(src, t.fill(quote(value))))
    return out


def _not_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def log_insert(rng: random.Random, source: str, line: str) -> str:
    host = rng.choice(("web-1", "db-2", "LabSZ", "combo"))
    program = source.removeprefix("values.loghub_")
    return (
        "INSERT INTO log_lines (host, program, message, received_at) VALUES "
        f"('{host}', '{program}', '{quote(line)}', '{timestamp(rng)}') RETURNING id"
    )


def pick(rng: random.Random, makers: list[Callable[[], str]]) -> str:
    return rng.choice(makers)()


# ---------------------------------------------------------------- evaluation


@dataclass(frozen=True, slots=True)
class Attack:
    template: str
    source: str
    payload: str
    sql: str
    state: str
    """``effective``, ``inert`` or ``unparseable`` (see the module's docstring)."""


def attack_corpus(payloads: list[tuple[str, str]] | None = None) -> Iterator[Attack]:
    """Every payload pasted into every template, classified."""
    from pglast import parser

    from mamori.dbguard.analysis import analyse

    if payloads is None:
        payloads = sqli_payloads()
    for t in TEMPLATES:
        own = {parser.fingerprint(t.fill(v)) for v in t.ordinary}
        for source, p in payloads:
            sql = t.fill(p)
            a = analyse(sql)
            if not a.parsed:
                state = "unparseable"
            elif a.fingerprint in own:
                state = "inert"
            else:
                state = "effective"
            yield Attack(t.name, source, p, sql, state)


def evaluate(
    payloads: list[tuple[str, str]] | None = None, benign: list[Benign] | None = None
) -> dict[str, Any]:
    """The figures: detection on attacks, false positives on benign traffic."""
    from collections import Counter

    from mamori.dbguard.analysis import analyse
    from mamori.dbguard.facts import Verdict

    states: Counter[str] = Counter()
    flagged: Counter[str] = Counter()
    blocked: Counter[str] = Counter()
    reasons: Counter[str] = Counter()
    per_template: dict[str, Counter[str]] = {}
    missed: list[str] = []
    for a in attack_corpus(payloads):
        d = analyse(a.sql).decision
        states[a.state] += 1
        c = per_template.setdefault(a.template, Counter())
        c[a.state] += 1
        if d.verdict >= Verdict.ALERT:
            flagged[a.state] += 1
            c[a.state + "_flagged"] += 1
        if d.verdict == Verdict.BLOCK:
            blocked[a.state] += 1
            c[a.state + "_blocked"] += 1
        if a.state == "effective":
            reasons.update({r.code for r in d.reasons})
            if d.verdict == Verdict.ALLOW:
                missed.append(a.sql)
    if benign is None:
        benign = benign_corpus()
    fp: Counter[str] = Counter()
    fp_block: Counter[str] = Counter()
    sources: Counter[str] = Counter()
    fp_reasons: Counter[str] = Counter()
    false_positives: list[dict[str, str]] = []
    fingerprints: set[str] = set()
    for b in benign:
        an = analyse(b.sql)
        sources[b.source] += 1
        fingerprints.add(an.fingerprint)
        if an.decision.verdict >= Verdict.ALERT:
            fp[b.source] += 1
            fp_reasons.update({r.code for r in an.decision.reasons})
            false_positives.append(
                {
                    "source": b.source,
                    "sql": b.sql[:300],
                    "reasons": ",".join(r.code for r in an.decision.reasons),
                }
            )
        if an.decision.verdict == Verdict.BLOCK:
            fp_block[b.source] += 1
    effective = states["effective"]
    attempts = effective + states["unparseable"]
    total_benign = len(benign)

    def rate(n: int, d: int) -> float:
        return round(n / d, 4) if d else 0.0

    return {
        "attacks": {
            "payloads": len(payloads) if payloads is not None else len(sqli_payloads()),
            "templates": [t.name for t in TEMPLATES],
            "statements": sum(states.values()),
            "effective": effective,
            "inert": states["inert"],
            "unparseable": states["unparseable"],
            "detection_rate_effective": rate(flagged["effective"], effective),
            "block_rate_effective": rate(blocked["effective"], effective),
            "detection_rate_with_unparseable": rate(
                flagged["effective"] + flagged["unparseable"], attempts
            ),
            "block_rate_with_unparseable": rate(
                blocked["effective"] + blocked["unparseable"], attempts
            ),
            "inert_flagged": flagged["inert"],
            "per_template": {k: dict(v) for k, v in per_template.items()},
            "reasons_on_effective": dict(reasons.most_common()),
        },
        "benign": {
            "statements": total_benign,
            "distinct_fingerprints": len(fingerprints),
            "sources": dict(sorted(sources.items())),
            "flagged": sum(fp.values()),
            "blocked": sum(fp_block.values()),
            "false_positive_rate": rate(sum(fp.values()), total_benign),
            "false_positive_rate_block": rate(sum(fp_block.values()), total_benign),
            "flagged_by_source": dict(fp),
            "reasons": dict(fp_reasons),
            "examples": false_positives[:20],
        },
        "_missed": missed,
    }
