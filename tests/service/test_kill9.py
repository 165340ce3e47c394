"""kill -9 of `mamori up` under load, repeated: nothing acknowledged is lost (SEC-5)."""

from __future__ import annotations

import itertools
import threading
import time
from pathlib import Path

import httpx

from tests.conftest import run
from tests.service.svc import Client, Up, events, ingest_token, service_home


def test_kill_9_under_http_load_loses_nothing_acknowledged(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    token = ingest_token(home)
    acked: list[int] = []
    counter = itertools.count()
    for _round in range(3):
        up = Up(home).wait_ready()
        stop = threading.Event()

        def load(port: int = up.ports["https"], stop: threading.Event = stop) -> None:
            client = Client(home, port, token)
            try:
                while not stop.is_set():
                    base = next(counter) * 50
                    items = [{"message": f"load {base + i}", "seq": base + i} for i in range(50)]
                    try:
                        r = client.post(items)
                    except httpx.HTTPError:
                        return  # the server died mid-request: not acknowledged
                    if r.status_code == 200:
                        acked.extend(range(base, base + 50))
            finally:
                client.close()

        threads = [threading.Thread(target=load) for _ in range(3)]
        for t in threads:
            t.start()
        time.sleep(1.5)
        up.kill()
        stop.set()
        for t in threads:
            t.join(30)
    with_ledger = [e["seq"] for e in events(home) if "seq" in e]
    assert acked, "the load never got an acknowledgement"
    missing = set(acked) - set(with_ledger)
    assert not missing, f"{len(missing)} acknowledged events lost"
    assert len(with_ledger) == len(set(with_ledger)), "no event stored twice"
    verify = run(["ledger", "verify", "--home", str(home.root)])
    assert verify.returncode == 0, verify.stdout + verify.stderr
