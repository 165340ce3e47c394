"""Benign client traffic through the proxy, the firewall in ``monitor`` with the injection
analysis (DB-4): pgbench (initialisation, its built-in scripts, simple and extended protocol),
SQLAlchemy 2 ORM CRUD, psql's describe commands and ordinary SQL. Not one statement may carry an
injection finding (``sqli.*``): each would be a false positive on real client traffic.

The allowlist is empty, so every statement also alerts ``firewall.unknown_fingerprint``: that is
``monitor`` working, not a false positive of the injection analysis, and is not counted.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
import subprocess
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import psycopg
import pytest
from sqlalchemy import (
    JSON,
    Date,
    ForeignKey,
    Numeric,
    String,
    case,
    create_engine,
    delete,
    exists,
    func,
    inspect,
    literal,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy import Enum as SqlEnum
from sqlalchemy.dialects.postgresql import ARRAY, JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import (
    DeclarativeBase,
    Mapped,
    Session,
    joinedload,
    mapped_column,
    relationship,
    selectinload,
)

from mamori.dbguard.settings import FirewallMode
from mamori.home import Home
from tests.dbguard.harness import ProxyRunner, proxy_config
from tests.dbguard.pg import PgCluster


@pytest.fixture
def monitored(pg: PgCluster, guard_home: Home) -> Iterator[ProxyRunner]:
    """A proxy as ``mamori up`` runs it (the analysis, the firewall with the home's allowlist,
    the policies), the firewall in ``monitor`` with an empty allowlist, statement texts logged
    so that a false positive can be shown."""
    cfg = proxy_config(pg, firewall=FirewallMode.MONITOR, log_statement_text=True)
    runner = ProxyRunner(guard_home, [cfg])
    try:
        yield runner
    finally:
        runner.close()


def no_injection_findings(r: ProxyRunner, what: str, *, at_least: int) -> int:
    """Assert that no statement event carries a ``sqli.*`` reason; the number of statements."""
    queries = r.events("query")
    assert len(queries) >= at_least, f"{what}: only {len(queries)} statements seen"
    flagged = [
        (q["db"]["query"]["text"][:300], [c["code"] for c in q["mamori"]["dbguard"]["decision"]["reasons"]])
        for q in queries
        if any(c["code"].startswith("sqli.") for c in q["mamori"]["dbguard"]["decision"]["reasons"])
    ]  # fmt: skip
    assert flagged == [], (
        f"{what}: {len(flagged)} false positives of {len(queries)}: {flagged[:20]}"
    )
    # monitor refuses nothing, and the firewall's part ran on every statement
    assert all(q["mamori"]["dbguard"]["decision"]["verdict"] != "block" for q in queries)
    assert r.events("protocol_anomaly") == []
    distinct = len({q["db"]["query"].get("fingerprint", q["db"]["query"]["text"]) for q in queries})
    print(f"\n{what}: {len(queries)} statements ({distinct} shapes), 0 injection findings")
    return len(queries)


# -- pgbench ------------------------------------------------------------------------------------


def _pgbench(pg: PgCluster, port: int, *args: str) -> str:
    proc = subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", *args, "app"],
        env=pg.env("app", PGAPPNAME="pgbench"),
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode() + proc.stderr.decode()


def test_pgbench(pg: PgCluster, monitored: ProxyRunner) -> None:
    r = monitored
    _pgbench(pg, r.port, "-i", "-s", "1", "-q", "--foreign-keys")
    for mode in ("simple", "extended", "prepared"):
        for script in ((), ("-S",), ("-N",)):
            out = _pgbench(pg, r.port, "-c", "2", "-j", "1", "-T", "1", "-M", mode, "-n", *script)
            assert re.search(r"number of failed transactions: 0", out), out
    no_injection_findings(r, "pgbench", at_least=1000)


# -- SQLAlchemy ORM -----------------------------------------------------------------------------


class Base(DeclarativeBase):
    pass


class Status(enum.Enum):
    open = "open"
    paid = "paid"
    cancelled = "cancelled"


class Customer(Base):
    __tablename__ = "bt_customer"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(80), index=True)
    email: Mapped[str | None] = mapped_column(String(120), unique=True)
    born: Mapped[dt.date | None] = mapped_column(Date)
    tags: Mapped[list[str]] = mapped_column(ARRAY(String), default=list)
    profile: Mapped[dict[str, Any]] = mapped_column(JSONB, default=dict)
    orders: Mapped[list[Order]] = relationship(back_populates="customer", cascade="all")


class Order(Base):
    __tablename__ = "bt_order"
    id: Mapped[int] = mapped_column(primary_key=True)
    customer_id: Mapped[int] = mapped_column(ForeignKey("bt_customer.id"), index=True)
    total: Mapped[Decimal] = mapped_column(Numeric(10, 2))
    status: Mapped[Status] = mapped_column(SqlEnum(Status, name="bt_status"))
    note: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    customer: Mapped[Customer] = relationship(back_populates="orders")


def _orm_work(session: Session) -> None:
    """Create, read (filters, joins, loading strategies, aggregates, unions, CTEs, windows),
    update, upsert and delete, as applications do."""
    customers = [
        Customer(
            name=f"O'Brien {i}" if i % 7 == 0 else f"customer {i}",
            email=f"c{i}@example.com",
            born=dt.date(1970 + i % 40, 1 + i % 12, 1 + i % 28),
            tags=["vip"] if i % 5 == 0 else [],
            profile={"lang": "ja" if i % 2 else "en", "score": i},
            orders=[
                Order(total=Decimal(i * 3 + j) / 4, status=list(Status)[j % 3], note={"j": j})
                for j in range(i % 4)
            ],
        )
        for i in range(60)
    ]
    session.add_all(customers)
    session.commit()

    q = select(Customer)
    session.scalars(q.where(Customer.name.like("customer 1%")).order_by(Customer.id)).all()
    session.scalars(q.where(Customer.name.ilike("%o'brien%"))).all()
    session.scalars(q.where(Customer.id.in_([1, 2, 3]))).all()
    session.scalars(q.where(Customer.id.in_([]))).all()
    session.scalars(q.where(Customer.id.not_in([]))).all()
    session.scalars(q.where(Customer.email.is_(None))).all()
    session.scalars(q.where(Customer.born.between(dt.date(1980, 1, 1), dt.date(1990, 1, 1)))).all()
    session.scalars(q.where(Customer.tags.contains(["vip"]))).all()
    session.scalars(q.where(Customer.profile["lang"].astext == "ja")).all()
    session.scalars(q.where(or_(Customer.name == "x", Customer.email == "y"))).all()
    session.scalars(q.order_by(Customer.name.desc()).limit(10).offset(20)).all()
    session.scalars(q.options(selectinload(Customer.orders)).limit(15)).all()
    session.scalars(q.options(joinedload(Customer.orders)).limit(15)).unique().all()
    session.get(Customer, 5)
    session.execute(
        select(Customer.name, func.count(Order.id), func.coalesce(func.sum(Order.total), 0))
        .outerjoin(Order)
        .group_by(Customer.id)
        .having(func.count(Order.id) > 1)
        .order_by(func.count(Order.id).desc())
    ).all()
    session.execute(
        select(
            Order.id,
            func.row_number().over(partition_by=Order.customer_id, order_by=Order.total.desc()),
            case((Order.total > 10, "big"), else_="small"),
        )
    ).all()
    paid = select(Order.customer_id).where(Order.status == Status.paid).cte("paid")
    session.scalars(select(Customer).where(Customer.id.in_(select(paid.c.customer_id)))).all()
    session.scalars(select(Customer).where(exists().where(Order.customer_id == Customer.id))).all()
    session.execute(
        union_all(
            select(Customer.name.label("label"), literal("customer").label("kind")),
            select(func.cast(Order.id, String), literal("order")),
        )
    ).all()
    session.scalar(select(func.count()).select_from(Customer))

    first = session.get(Customer, 1)
    assert first is not None
    first.name = "renamed"
    first.profile = {**first.profile, "renamed": True}
    session.commit()
    session.execute(
        update(Order).where(Order.status == Status.open).values(status=Status.cancelled)
    )
    session.commit()
    with session.begin_nested():
        session.add(Customer(name="savepoint", email="sp@example.com"))
    session.commit()
    stmt = pg_insert(Customer).values(id=1, name="upserted", email="c1@example.com")
    session.execute(
        stmt.on_conflict_do_update(index_elements=[Customer.id], set_={"name": stmt.excluded.name})
    )
    session.delete(session.get(Customer, 2))
    session.execute(delete(Order).where(Order.total < 1))
    session.commit()


def test_sqlalchemy_orm_crud(pg: PgCluster, monitored: ProxyRunner) -> None:
    url = f"postgresql+psycopg://app:{pg.password('app')}@127.0.0.1:{monitored.port}/app"
    engine = create_engine(url, connect_args={"application_name": "orm-benign"})
    try:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            _orm_work(session)
        found = inspect(engine)
        assert {"bt_customer", "bt_order"} <= set(found.get_table_names())
        found.get_columns("bt_order")
        found.get_foreign_keys("bt_order")
        found.get_indexes("bt_customer")
        Base.metadata.drop_all(engine)
    finally:
        engine.dispose()
    no_injection_findings(monitored, "SQLAlchemy ORM", at_least=60)


# -- psql ---------------------------------------------------------------------------------------

PSQL_SCRIPT = r"""
CREATE TABLE IF NOT EXISTS bt_notes(id serial PRIMARY KEY, body text NOT NULL, at timestamptz DEFAULT now());
CREATE INDEX IF NOT EXISTS bt_notes_at ON bt_notes(at);
CREATE OR REPLACE VIEW bt_recent AS SELECT * FROM bt_notes WHERE at > now() - interval '1 day';
\d
\dt
\dt+
\du
\dg
\l
\dn
\df
\dv
\di
\ds
\dp
\dx
\d bt_notes
\d+ bt_notes
\d bt_recent
\dT
\dD
\db
\dconfig
\sf+ pg_catalog.now
DROP VIEW bt_recent;
DROP TABLE bt_notes;
"""


def test_psql_describe_commands(pg: PgCluster, monitored: ProxyRunner) -> None:
    env = pg.env("app", PGPORT=str(monitored.port), PGAPPNAME="psql-benign")
    proc = subprocess.run(
        ["psql", "-X", "-v", "ON_ERROR_STOP=1"],
        env=env,
        input=PSQL_SCRIPT.encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    no_injection_findings(monitored, "psql describe", at_least=25)


# -- ordinary SQL --------------------------------------------------------------------------------

ORDINARY_SQL = [
    "DROP TABLE IF EXISTS bt_account",
    "CREATE TABLE bt_account(id bigserial PRIMARY KEY, owner text NOT NULL, balance numeric(12,2) NOT NULL DEFAULT 0, opened date NOT NULL DEFAULT current_date, meta jsonb NOT NULL DEFAULT '{}')",
    "INSERT INTO bt_account(owner, balance, meta) SELECT 'owner ' || i, i * 10.5, jsonb_build_object('tier', i % 3) FROM generate_series(1, 200) AS i",
    "-- monthly report\nSELECT date_trunc('month', opened) AS month, count(*), sum(balance) FROM bt_account GROUP BY 1 ORDER BY 1",
    "SELECT owner, balance, rank() OVER (ORDER BY balance DESC) FROM bt_account WHERE balance > 100 ORDER BY balance DESC LIMIT 5",
    "WITH rich AS (SELECT * FROM bt_account WHERE balance > 1000) SELECT count(*) FROM rich",
    "SELECT * FROM bt_account WHERE 1=1 AND owner LIKE 'owner 1%' AND balance >= 0 ORDER BY id",
    "SELECT * FROM bt_account WHERE owner = 'O''Reilly' OR owner = 'owner 3'",
    "SELECT meta->>'tier' AS tier, count(*) FROM bt_account GROUP BY meta->>'tier'",
    "SELECT id FROM bt_account WHERE id = ANY('{1,2,3}'::bigint[])",
    "SELECT coalesce(max(balance), 0), min(opened), avg(balance)::numeric(10,2) FROM bt_account",
    "SELECT a.id, b.id FROM bt_account a JOIN LATERAL (SELECT id FROM bt_account b WHERE b.id > a.id ORDER BY id LIMIT 1) b ON true WHERE a.id < 5",
    "UPDATE bt_account SET balance = balance + 1, meta = meta || '{\"touched\": true}' WHERE id = 7 RETURNING balance",
    "INSERT INTO bt_account(id, owner) VALUES (7, 'dup') ON CONFLICT (id) DO UPDATE SET owner = excluded.owner",
    "DELETE FROM bt_account WHERE opened < current_date - 365",
    "BEGIN; UPDATE bt_account SET balance = balance - 5 WHERE id = 1; UPDATE bt_account SET balance = balance + 5 WHERE id = 2; COMMIT",
    "SET search_path TO public; SELECT current_setting('search_path')",
    "EXPLAIN SELECT * FROM bt_account WHERE id = 3",
    "SELECT now(), current_user, version()",
    "SELECT to_char(opened, 'YYYY-MM-DD'), upper(owner), length(owner) FROM bt_account WHERE owner ILIKE '%ER 1_' ",
    "SELECT CASE WHEN balance > 100 THEN 'high' ELSE 'low' END, count(*) FROM bt_account GROUP BY 1",
    "/* app=billing,route=/accounts */ SELECT id, owner FROM bt_account ORDER BY id LIMIT 20 OFFSET 40",
    "SELECT id FROM bt_account WHERE owner IN (SELECT owner FROM bt_account WHERE balance < 50)",
    "SELECT id FROM bt_account EXCEPT SELECT id FROM bt_account WHERE balance > 10",
    "VACUUM ANALYZE bt_account",
    "DROP TABLE bt_account",
]


def test_ordinary_sql(pg: PgCluster, monitored: ProxyRunner) -> None:
    dsn = pg.dsn("app", port=monitored.port, application_name="sql-benign")
    with psycopg.connect(dsn, autocommit=True) as conn:
        for text in ORDINARY_SQL:
            conn.execute(text)  # simple protocol: no parameters
        conn.execute("SELECT %s::int + %s", [1, 2])  # extended: bound parameters
        conn.execute("SELECT * FROM pg_class WHERE relname = %s", ["pg_type"])
        with conn.cursor(name="walk") as cur, conn.transaction():
            cur.execute("SELECT generate_series(1, %s)", [500])
            cur.fetchall()
    no_injection_findings(monitored, "ordinary SQL", at_least=len(ORDINARY_SQL))
