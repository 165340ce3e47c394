"""asyncpg, SQLAlchemy 2 (ORM) and pgbench through the proxy."""

from __future__ import annotations

import asyncio
import re
import subprocess
from collections.abc import Callable

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import ForeignKey, String, create_engine, func, select
from sqlalchemy.orm import DeclarativeBase, Mapped, Session, mapped_column, relationship

from tests.dbguard.harness import ProxyRunner
from tests.dbguard.pg import PgCluster


def test_asyncpg_prepared_binary_and_cursor_prefetch(
    pg: PgCluster, run_proxy: Callable[..., ProxyRunner]
) -> None:
    r = run_proxy()

    async def work() -> tuple[int, int, int]:
        conn = await asyncpg.connect(
            host="127.0.0.1",
            port=r.port,
            user="app",
            password=pg.password("app"),
            database="app",
            ssl=False,
            server_settings={"application_name": "asyncpg-test"},
        )
        try:
            stmt = await conn.prepare("SELECT $1::int * 2, $2::text")
            doubled = [await stmt.fetchrow(i, "secret-bind") for i in range(5)]
            assert [row[0] for row in doubled] == [0, 2, 4, 6, 8]
            many = await conn.fetch("SELECT * FROM generate_series(1, 12345)")
            streamed = 0
            async with conn.transaction():
                cursor = conn.cursor("SELECT * FROM generate_series(1, 12345)", prefetch=1000)
                async for _row in cursor:
                    streamed += 1
            return len(doubled), len(many), streamed
        finally:
            await conn.close()

    assert asyncio.run(work()) == (5, 12345, 12345)
    queries = r.queries(application="asyncpg-test")
    binds = [q for q in queries if "$2::text" in q["db"]["query"]["text"]]
    assert len(binds) == 5 and {q["mamori"]["dbguard"]["parameters"] for q in binds} == {2}
    series = [
        q for q in queries if q["db"]["query"]["text"].startswith("SELECT * FROM generate_series")
    ]
    # fetch: one Execute; the cursor: 13 Executes of 1000 rows on one portal (PortalSuspended),
    # one statement with the rows summed.
    assert [q["db"]["response"]["returned_rows"] for q in series] == [12345, 12345]
    assert "secret-bind" not in str(r.events())
    assert r.events("protocol_anomaly") == []


class Base(DeclarativeBase):
    pass


class Ward(Base):
    __tablename__ = "ward"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    residents: Mapped[list[Resident]] = relationship(back_populates="ward")


class Resident(Base):
    __tablename__ = "resident"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(50))
    ward_id: Mapped[int] = mapped_column(ForeignKey("ward.id"))
    ward: Mapped[Ward] = relationship(back_populates="residents")


def test_sqlalchemy_orm(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy()
    url = f"postgresql+psycopg://app:{pg.password('app')}@127.0.0.1:{r.port}/app"
    engine = create_engine(url, connect_args={"application_name": "orm-test"})
    try:
        Base.metadata.drop_all(engine)
        Base.metadata.create_all(engine)
        with Session(engine) as session:
            north = Ward(name="North")
            session.add_all([Resident(name=f"person {i}", ward=north) for i in range(250)])
            session.commit()
        with Session(engine) as session:
            count = session.scalar(select(func.count()).select_from(Resident))
            rows = session.scalars(select(Resident).where(Resident.name.like("person 1%"))).all()
        assert count == 250
        assert len(rows) == 111
    finally:
        engine.dispose()
    queries = r.queries(application="orm-test")
    inserts = [q for q in queries if q["db"]["operation"] == "INSERT"]
    assert sum(q["db"]["response"]["affected_rows"] for q in inserts) == 251
    selects = [q for q in queries if "resident.name LIKE" in q["db"]["query"]["text"]]
    assert selects[-1]["db"]["response"]["returned_rows"] == 111
    assert "person 1%" not in str(r.events())


def _pgbench(pg: PgCluster, port: int, *args: str) -> str:
    proc = subprocess.run(
        ["pgbench", "-h", "127.0.0.1", "-p", str(port), "-U", "app", *args, "app"],
        env=pg.env("app"),
        capture_output=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr.decode()
    return proc.stdout.decode() + proc.stderr.decode()


def test_pgbench_init_and_runs(pg: PgCluster, run_proxy: Callable[..., ProxyRunner]) -> None:
    r = run_proxy()
    _pgbench(pg, r.port, "-i", "-s", "1", "-q")
    totals: dict[str, int] = {}
    for mode in ("simple", "extended", "prepared"):
        out = _pgbench(pg, r.port, "-c", "4", "-j", "2", "-T", "2", "-M", mode, "-n")
        m = re.search(r"number of transactions actually processed: (\d+)", out)
        assert m, out
        totals[mode] = int(m.group(1))
    queries = r.events("query")
    # pgbench's TPC-B-like script: 7 statements per transaction (BEGIN … END)
    updates = [q for q in queries if q["db"]["operation"] == "UPDATE"]
    assert len(updates) >= 3 * sum(totals.values())
    assert all(q["event"]["outcome"] == "success" for q in updates)
    copies = [q for q in queries if q["db"]["operation"] == "COPY"]
    assert copies and copies[0]["db"]["response"]["affected_rows"] == 100000
    assert r.events("protocol_anomaly") == []
