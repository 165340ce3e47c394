"""A server process for the latency test: ``python -m tests.web.liveserver CERTDIR [DELAY_MS]``.

Serves the application with a list-backed sink (answering after DELAY_MS, like a durable
write) on 127.0.0.1, prints the port on stdout, and stops on SIGTERM, as `mamori up` would.
"""

from __future__ import annotations

import asyncio
import signal
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from mamori.service.contracts import Ack
from mamori.service.metrics import Metrics
from mamori.web import serve_http
from tests.web.conftest import FakeSink, FakeSources, listening_socket, make_app


class _CountingSink(FakeSink):
    """Keeps a count, not the events (the test sends many)."""

    async def submit(
        self,
        events: Sequence[bytes],
        *,
        receiver: str,
        marks: Mapping[str, str] | None = None,
    ) -> Ack:
        ack = await super().submit(events, receiver=receiver, marks=marks)
        self.events.clear()
        return ack


async def main(certdir: Path, delay_ms: float) -> None:
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    sock = listening_socket()
    print(sock.getsockname()[1], flush=True)
    app = make_app(_CountingSink(delay=delay_ms / 1000), FakeSources(), Metrics())
    await serve_http(
        app, sock, certfile=certdir / "server.crt", keyfile=certdir / "server.key", stop=stop
    )


if __name__ == "__main__":
    asyncio.run(main(Path(sys.argv[1]), float(sys.argv[2]) if len(sys.argv) > 2 else 0.0))
