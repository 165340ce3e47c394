"""The periodic privilege check of `mamori up` (mamori.dbguard.watch), its failures: said once
per distinct problem (log and ledger), never a crash, and it recovers."""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import orjson

from mamori import audit
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.privileges import CheckResult
from mamori.dbguard.settings import Address, DbGuardConfig
from mamori.dbguard.watch import UNAVAILABLE_ACTION, watch_privileges
from mamori.home import Home, init
from mamori.service.log import Log

CFG = DbGuardConfig(
    "main",
    Address("127.0.0.1", 0),
    Address("127.0.0.1", 5432),
    privileges_dsn="host=db.internal",
    privileges_interval_s=10,
)


def test_failures_are_said_once_and_the_watch_goes_on(tmp_path: Path) -> None:
    home: Home = init(tmp_path / "home", origin="test.example/mamori/watch")
    calls: list[str] = []
    problems = [
        DbGuardError("cannot connect to x", hint="start it"),
        DbGuardError("cannot connect to x", hint="start it"),
        RuntimeError("a bug"),
        DbGuardError("no approved baseline", hint="approve one"),
    ]

    def check(h: Home, dsn: str) -> CheckResult:
        calls.append(dsn)
        if len(calls) > len(problems):
            stop.set()
            raise DbGuardError("no approved baseline", hint="approve one")
        raise problems[len(calls) - 1]

    stream = io.StringIO()
    stop = asyncio.Event()

    async def main() -> None:
        await asyncio.wait_for(
            watch_privileges(home, CFG, log=Log(stream), stop=stop, check=check, interval_s=0.01),
            10,
        )

    asyncio.run(main())
    assert calls and set(calls) == {"host=db.internal"}
    lines = [orjson.loads(x) for x in stream.getvalue().splitlines()]
    said = [(x["msg"], x.get("error")) for x in lines]
    assert said == [
        ("dbguard: privilege check failed", "cannot connect to x"),  # said once, not twice
        ("dbguard: privilege check crashed", "RuntimeError('a bug')"),
        ("dbguard: privilege check failed", "no approved baseline"),
    ]
    recorded = [orjson.loads(ev) for _i, ev in audit.pending(home, 0, 100)]
    unavailable = [e for e in recorded if e["event"]["action"] == UNAVAILABLE_ACTION]
    assert [e["mamori"]["audit"]["error"] for e in unavailable] == [
        "cannot connect to x",
        "no approved baseline",
    ]
