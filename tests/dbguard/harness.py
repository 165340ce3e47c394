"""Running proxies in tests: start_proxies on an event loop of its own (a background thread),
with a real LedgerSink on a test home, so clients in the test thread (psql, psycopg, asyncpg,
SQLAlchemy, pgbench) talk to it as to a server, and the events are read back from the ledger."""

from __future__ import annotations

import asyncio
import io
import threading
from collections.abc import Coroutine, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from mamori.dbguard.proxy import GuardFactory, ProxyGroup, start_proxies
from mamori.dbguard.settings import Address, DbGuardConfig, TimePolicy, UpstreamTls
from mamori.home import Home
from mamori.service.log import Log
from mamori.service.metrics import Metrics
from mamori.service.sink import LedgerSink
from tests.dbguard.pg import PgCluster, wait_until
from tests.service.svc import events as ledger_events

T = TypeVar("T")


def proxy_config(pg: PgCluster, **settings: Any) -> DbGuardConfig:
    """A [[dbguard]] in front of `pg`: a free port, no upstream TLS, client TLS on, the time
    policy off (tests run at any hour)."""
    base = DbGuardConfig(
        name="test",
        listen=Address("127.0.0.1", 0),
        upstream=Address("127.0.0.1", pg.port),
        upstream_tls=UpstreamTls.DISABLE,
        client_tls=True,
        time_policy=TimePolicy.OFF,
    )
    return replace(base, **settings)


class ProxyRunner:
    """start_proxies in a thread of its own (see the module docstring)."""

    def __init__(
        self,
        home: Home,
        configs: Sequence[DbGuardConfig],
        guard_factory: GuardFactory | None = None,
    ) -> None:
        self.home = home
        self.log_stream = io.StringIO()
        self.log = Log(self.log_stream, component="dbguard-test")
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.sink = LedgerSink(home, metrics=Metrics(), log=self.log)
        self.group: ProxyGroup = self.call(self._start(configs, guard_factory))

    async def _start(
        self, configs: Sequence[DbGuardConfig], guard_factory: GuardFactory | None
    ) -> ProxyGroup:
        await asyncio.to_thread(self.sink.open)
        self.sink.start(asyncio.get_running_loop())
        return await start_proxies(
            self.home, configs, self.sink, log=self.log, guard_factory=guard_factory
        )

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    @property
    def port(self) -> int:
        return self.group.listeners[0].port

    def sessions(self) -> int:
        ctx = self.group.proxies[0].ctx
        return 0 if ctx is None else len(ctx.sessions)

    def settle(self, timeout: float = 20.0) -> None:
        """Wait until every client session has ended and its events are in the ledger."""
        assert wait_until(lambda: self.sessions() == 0, timeout), "sessions still open"

        async def flush() -> None:
            for p in self.group.proxies:
                if p.ctx is not None:
                    await p.ctx.outbox.flush(timeout)

        self.call(flush())

    def events(self, action: str | None = None, *, settle: bool = True) -> list[dict[str, Any]]:
        """The database guard's events in the ledger, in order (optionally one action's)."""
        if settle:
            self.settle()
        out = [
            e
            for e in ledger_events(self.home)
            if e.get("event", {}).get("module") == "dbguard"
            and (action is None or e["event"]["action"] == action)
        ]
        return out

    def queries(self, **match: Any) -> list[dict[str, Any]]:
        """The ``query`` events whose mamori.dbguard fields match `match`."""
        return [
            e
            for e in self.events("query")
            if all(e["mamori"]["dbguard"].get(k) == v for k, v in match.items())
        ]

    def logs(self) -> str:
        return self.log_stream.getvalue()

    def close(self) -> None:
        async def stop() -> None:
            await self.group.close()
            await self.sink.close()

        try:
            self.call(stop())
        finally:
            self.loop.call_soon_threadsafe(self.loop.stop)
            self.thread.join(10)
            self.loop.close()
