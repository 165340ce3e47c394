"""`mamori up`: the collection service."""

from __future__ import annotations

import asyncio

from mamori.cli.common import HomeOption


def up(home: HomeOption = None) -> None:
    """Run mamori: syslog (UDP, TCP, TLS), HTTPS ingest, file tails and the ledger writer.

    Prints where it listens and logs JSON lines on stderr. SIGTERM or Ctrl-C stops it cleanly:
    no new input is taken, everything received is made durable, a final checkpoint is signed,
    and it exits 0.
    """
    from mamori.home import open_home
    from mamori.service.app import run

    h = open_home(home)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency on Linux
        code = asyncio.run(run(h))
    else:
        code = uvloop.run(run(h))
    raise SystemExit(code)
