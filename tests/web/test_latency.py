"""Acknowledgement latency at 10,000 events/s: 100 requests/s of 100 events (slow test).

The server runs in its own process (as in production), so the client's work does not share
its interpreter. Latency is measured at the client: send to JSON answer, over TLS with
keep-alive connections, so it includes the client's own overhead.
"""

from __future__ import annotations

import asyncio
import os
import ssl
import subprocess
import sys
import time
from pathlib import Path

import httpx
import orjson
import pytest

from tests.web.conftest import INGEST, Cert

REPO = Path(__file__).resolve().parents[2]
RATE = 100  # requests per second
BATCH = 100  # events per request
SECONDS = 5


def _event(i: int) -> dict[str, object]:
    return {
        "@timestamp": "2026-01-01T00:00:00.000000Z",
        "message": f"Failed password for invalid user admin{i} from 192.0.2.{i % 250} port 22 ssh2",
        "host": {"name": "web-01"},
        "process": {"name": "sshd", "pid": 4242},
        "source": {"ip": f"192.0.2.{i % 250}", "port": 50000 + i % 1000},
        "event": {"category": ["authentication"], "outcome": "failure"},
    }


async def _load(port: int, cafile: Path) -> list[float]:
    body = b"\n".join(orjson.dumps(_event(i)) for i in range(BATCH))
    headers = {"Authorization": f"Bearer {INGEST}", "Content-Type": "application/x-ndjson"}
    url = f"https://127.0.0.1:{port}/api/v1/events"
    latencies: list[float] = []
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    context = ssl.create_default_context(cafile=str(cafile))
    async with httpx.AsyncClient(verify=context, limits=limits, timeout=10) as client:

        async def one() -> None:
            started = time.perf_counter()
            r = await client.post(url, content=body, headers=headers)
            latencies.append(time.perf_counter() - started)
            assert r.status_code == 200, r.text

        for _ in range(20):  # warm up: connections, handshakes
            await one()
        latencies.clear()
        tasks = []
        begin = time.perf_counter()
        for n in range(RATE * SECONDS):
            await asyncio.sleep(max(0.0, begin + n / RATE - time.perf_counter()))
            tasks.append(asyncio.create_task(one()))
        await asyncio.gather(*tasks)
    return latencies


def _percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


@pytest.mark.slow
@pytest.mark.parametrize("sink_delay_ms", [0, 5])
def test_p99_under_100ms_at_10k_events_per_second(cert: Cert, sink_delay_ms: int) -> None:
    with subprocess.Popen(
        [
            sys.executable,
            "-m",
            "tests.web.liveserver",
            str(cert.certfile.parent),
            str(sink_delay_ms),
        ],
        cwd=REPO,
        stdout=subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    ) as server:
        try:
            assert server.stdout is not None
            port = int(server.stdout.readline())
            latencies = asyncio.run(_load(port, cert.certfile))
        finally:
            server.terminate()
            assert server.wait(30) == 0
    ms = {p: round(_percentile(latencies, p) * 1000, 1) for p in (50, 90, 99)}
    report = (
        f"sink delay {sink_delay_ms} ms: {len(latencies)} requests of {BATCH} events at "
        f"{RATE}/s: p50 {ms[50]} ms, p90 {ms[90]} ms, p99 {ms[99]} ms, "
        f"max {round(max(latencies) * 1000, 1)} ms"
    )
    print(report)
    assert ms[99] < 100, report
