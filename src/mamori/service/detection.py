"""Live detection inside `mamori up`: every appended entry runs through the rules.

The ledger writer wakes :class:`DetectionLoop` after each commit (and it looks anyway once a
second). A step reads the entries after the live cursor in a worker thread, evaluates them
(:mod:`mamori.detect.live`), hands the detections to alerting (`handle`), then stores the
cursor. Detection runs behind the writer, never in its way: under a burst it lags, and the lag
is exported as ``mamori_detect_lag_events``. Periodic jobs (alert escalation, notification
delivery) run from the same loop so they never overlap themselves.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from mamori.config import Config
from mamori.detect.detection import Detection
from mamori.detect.live import LIVE, Cursors, LedgerDetector, build_detector
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.ledger.store import Reader
from mamori.service.log import Log
from mamori.service.metrics import Metrics

Handler = Callable[[list[Detection]], None]
"""Takes the detections of a step (runs in a worker thread)."""


@dataclass
class Periodic:
    """A job run every `every_s` seconds from the detection loop."""

    name: str
    every_s: float
    job: Callable[[], Awaitable[None]]
    last: float = 0.0


class DetectionLoop:
    """Reads the ledger behind the writer and feeds detections to alerting."""

    STEP_LIMIT = 20_000

    def __init__(
        self,
        home: Home,
        cfg: Config,
        *,
        log: Log,
        metrics: Metrics,
        handle: Handler,
        periodic: Sequence[Periodic] = (),
    ) -> None:
        self.home = home
        self.cfg = cfg
        self.log = log
        self.metrics = metrics
        self.handle = handle
        self.periodic = list(periodic)
        self._wake = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self.cursors = Cursors(home)
        built = build_detector(home, cfg)
        for p in built.problems:
            log.warning("a detection rule cannot be used", problem=str(p))
        self.run_state = LedgerDetector(
            built.detector, self.cursors.get(LIVE), warm_up_s=built.max_timespan_s
        )
        self.rules = built.rules
        self._pending: list[Detection] = []
        log.info(
            "live detection on",
            rules=built.rules,
            unusable=len(built.problems),
            next_index=self.run_state.next_index,
        )

    def wake(self) -> None:
        """Called from the writer thread after a commit."""
        loop = self._loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self._wake.set)

    def _step(self) -> int:
        with Reader(self.home.ledger_db) as reader:
            end = reader.tree_size()
            if self.run_state.next_index >= end:
                self.metrics.detect_lag.set(0)
                return 0
            step = self.run_state.step(reader, limit=self.STEP_LIMIT, end=end)
        self._pending.extend(step.detections)
        if self._pending:
            # Kept until alerting takes them: a failing store delays alerts, never loses them;
            # the cursor stays behind them meanwhile, so a restart replays them too.
            self.handle(self._pending)
            self.metrics.detections.inc(len(self._pending))
            self._pending = []
        self.cursors.put(step.next_index, LIVE)
        self.metrics.detect_events.inc(step.read)
        self.metrics.detect_lag.set(max(0, end - step.next_index))
        return step.read

    async def run(self, stop: asyncio.Event) -> None:
        """Until `stop`: evaluate what was appended, run the periodic jobs."""
        self._loop = asyncio.get_running_loop()
        try:
            while not stop.is_set():
                try:
                    read = await asyncio.to_thread(self._step)
                except MamoriError as e:
                    self.log.error("live detection step failed", error=e.message)
                    read = 0
                except Exception as e:  # never let detection take the service down
                    self.log.error("live detection step failed", error=repr(e))
                    read = 0
                await self._run_periodic()
                if read >= self.STEP_LIMIT:
                    continue  # behind: go on at once
                self._wake.clear()
                waiter = asyncio.ensure_future(self._wake.wait())
                stopper = asyncio.ensure_future(stop.wait())
                await asyncio.wait({waiter, stopper}, timeout=1.0, return_when="FIRST_COMPLETED")
                for f in (waiter, stopper):
                    f.cancel()
        finally:
            self._loop = None
            self.cursors.close()

    async def _run_periodic(self) -> None:
        now = time.monotonic()
        for p in self.periodic:
            if now - p.last < p.every_s:
                continue
            p.last = now
            try:
                await p.job()
            except MamoriError as e:
                self.log.error(f"{p.name} failed", error=e.message)
            except Exception as e:
                self.log.error(f"{p.name} failed", error=repr(e))


def start_operations(
    home: Home,
    cfg: Config,
    *,
    log: Log,
    metrics: Metrics,
    stop: asyncio.Event,
) -> tuple[list[asyncio.Task[None]], Callable[[], None] | None]:
    """The operations side of `mamori up`: notification delivery, live detection feeding
    alerting, alert escalation (every 30 s), incident timers (every 60 s), missed vulnerability
    fix deadlines (every 10 min, ``vuln.deadline_missed``) and the database guard's
    privilege-drift checks (``[[dbguard]] privileges_dsn``).

    Returns the tasks and the function the ledger writer calls after each commit.
    """
    import datetime as dt

    from mamori.alerts.store import AlertStore
    from mamori.incidents.service import note_breaches
    from mamori.incidents.store import IncidentStore
    from mamori.notify.dispatch import Dispatcher

    loop = asyncio.get_running_loop()
    notifier = Dispatcher(home, cfg.notify, log=log)
    tasks = [loop.create_task(notifier.run(stop))]
    watched = [g for g in cfg.dbguard if g.privileges_dsn]
    if watched:  # DB-1: grants made on the server directly are found too
        from mamori.dbguard.watch import watch_privileges

        for g in watched:
            tasks.append(loop.create_task(watch_privileges(home, g, log=log, stop=stop)))

    def wake_notifier() -> None:
        loop.call_soon_threadsafe(notifier.wake)

    def handle(found: list[Detection]) -> None:
        with AlertStore.open(home, cfg.alerts) as store:
            changes = store.ingest(found)
        if any(c.notified for c in changes):
            wake_notifier()

    def escalate() -> None:
        with AlertStore.open(home, cfg.alerts) as store:
            if store.escalate_due():
                wake_notifier()

    def incident_timers() -> None:
        with IncidentStore.open(home) as store:
            if note_breaches(store, dt.datetime.now(dt.UTC)):
                wake_notifier()

    async def in_thread(job: Callable[[], None]) -> None:
        await asyncio.to_thread(job)

    def vuln_deadlines() -> None:
        from mamori.vuln.decisionstore import DB_NAME, check_deadlines

        if (home.root / "vuln" / DB_NAME).exists():  # no decisions yet: nothing can be late
            check_deadlines(home, dt.datetime.now(dt.UTC))

    periodic = [
        Periodic("alert escalation", 30.0, lambda: in_thread(escalate)),
        Periodic("incident timers", 60.0, lambda: in_thread(incident_timers)),
        Periodic("vulnerability fix deadlines", 600.0, lambda: in_thread(vuln_deadlines)),
    ]
    if not cfg.detect.enabled:
        log.info("live detection off ([detect] enabled = false)")
        tasks.append(loop.create_task(_periodic_only(periodic, stop)))
        return tasks, None
    try:
        detection = DetectionLoop(
            home, cfg, log=log, metrics=metrics, handle=handle, periodic=periodic
        )
    except Exception as e:
        # Keeping the logs (SEC-5) comes first: ingest goes on without live detection, and the
        # failure is on the ledger for whoever reads it.
        why = e.message if isinstance(e, MamoriError) else repr(e)
        log.error("live detection could not start", error=why)
        from mamori import audit

        with contextlib.suppress(MamoriError, OSError):
            audit.record(home, "detect.unavailable", outcome="failure", fields={"error": why})
        tasks.append(loop.create_task(_periodic_only(periodic, stop)))
        return tasks, None
    tasks.append(loop.create_task(detection.run(stop)))
    return tasks, detection.wake


async def _periodic_only(periodic: Sequence[Periodic], stop: asyncio.Event) -> None:
    while not stop.is_set():
        for p in periodic:
            if time.monotonic() - p.last >= p.every_s:
                p.last = time.monotonic()
                with contextlib.suppress(Exception):
                    await p.job()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 1.0)
