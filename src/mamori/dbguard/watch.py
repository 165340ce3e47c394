"""The privilege-drift check `mamori up` runs for each ``[[dbguard]]`` with a
``privileges_dsn`` (DB-1): every ``privileges_interval_s``, :func:`mamori.dbguard.privileges.check`
in a worker thread, so that grants made on the server directly — not through the proxy — are
found too. Drifts become ``dbguard.privilege_drift`` audit events (the DB-1 rules alert on them);
a check that cannot run is logged and recorded once per distinct problem, not every interval.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

from mamori import audit
from mamori.dbguard import privileges
from mamori.dbguard.errors import DbGuardError
from mamori.dbguard.settings import DbGuardConfig
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.service.log import Log

UNAVAILABLE_ACTION = "dbguard.privileges_unavailable"


Check = Callable[[Home, str], privileges.CheckResult]


async def watch_privileges(
    home: Home,
    cfg: DbGuardConfig,
    *,
    log: Log,
    stop: asyncio.Event,
    check: Check = privileges.check,
    interval_s: float | None = None,
) -> None:
    """Until `stop`: check `cfg`'s server against its baseline, then wait the interval
    (`interval_s`, else ``cfg.privileges_interval_s``)."""
    every = cfg.privileges_interval_s if interval_s is None else interval_s
    said = ""
    while not stop.is_set():
        try:
            result = await asyncio.to_thread(check, home, cfg.privileges_dsn)
        except DbGuardError as e:
            if e.message != said:
                log.warning(
                    "dbguard: privilege check failed",
                    proxy=cfg.name,
                    error=e.message,
                    hint=e.hint or "",
                )
                with contextlib.suppress(MamoriError, OSError):
                    audit.record(
                        home,
                        UNAVAILABLE_ACTION,
                        outcome="failure",
                        fields={"proxy": cfg.name, "error": e.message},
                    )
            said = e.message
        except Exception as e:  # a bug must not stop the service: say it, try again later
            log.error("dbguard: privilege check crashed", proxy=cfg.name, error=repr(e))
        else:
            if said:
                log.info("dbguard: privilege check works again", proxy=cfg.name)
            said = ""
            if result.recorded:
                log.warning(
                    "dbguard: privileges drifted from the approved baseline",
                    proxy=cfg.name,
                    target=result.current.target,
                    new_drifts=len(result.recorded),
                    drifts=len(result.drifts),
                )
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), every)
