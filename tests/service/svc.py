"""Running the real `mamori up` in tests: a home with free ports, start, stop, read back."""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson

from mamori.home import Home, init
from mamori.ledger.entries import entry_event
from mamori.ledger.store import Reader
from tests.conftest import MAMORI


def service_home(root: Path, *, extra: str = "", **settings: str) -> Home:
    """A new home whose receivers all listen on free ports (port 0), plus config changes.

    `settings` replace whole lines: key "syslog.udp" = "false" sets that key in that section.
    """
    home = init(root, origin="test.example/mamori/svc")
    text = home.config_path.read_text()
    text = text.replace("port = 5514", "port = 0").replace("tls_port = 6514", "tls_port = 0")
    text = text.replace("port = 8443", "port = 0")
    for dotted, value in settings.items():
        section, key = dotted.split(".", 1)
        head = f"\n[{section}]\n"
        start = text.index(head)
        end = text.find("\n[", start + len(head))
        end = len(text) if end < 0 else end
        body = text[start:end]
        new, n = re.subn(rf"(?m)^{re.escape(key)} = .*$", f"{key} = {value}", body)
        if n == 0:
            new = body.rstrip("\n") + f"\n{key} = {value}\n"
        text = text[:start] + new + text[end:]
    home.config_path.write_text(text + extra)
    return home


class Up:
    """A `mamori up` child process."""

    def __init__(self, home: Home, *, env: dict[str, str] | None = None) -> None:
        self.home = home
        self.listen = home.run_dir / "listen.json"
        self.stdout_path = home.root.parent / f"up-{time.monotonic_ns()}.out"
        self.stderr_path = home.root.parent / f"up-{time.monotonic_ns()}.err"
        full_env = dict(os.environ)
        full_env.pop("MAMORI_HOME", None)
        if env:
            full_env.update(env)
        with self.stdout_path.open("wb") as out, self.stderr_path.open("wb") as err:
            self.proc = subprocess.Popen(
                [MAMORI, "up", "--home", str(home.root)], stdout=out, stderr=err, env=full_env
            )
        self.ports: dict[str, int] = {}
        self.started_in = 0.0

    def wait_ready(self, timeout: float = 20.0) -> Up:
        t0 = time.monotonic()
        while time.monotonic() - t0 < timeout:
            if self.proc.poll() is not None:
                raise AssertionError(f"mamori up exited {self.proc.returncode}: {self.stderr()}")
            if "ready in" in self.stdout():
                doc = orjson.loads(self.listen.read_bytes())
                if doc["pid"] == self.proc.pid:
                    self.ports = doc["ports"]
                    self.started_in = time.monotonic() - t0
                    return self
            time.sleep(0.02)
        raise AssertionError(f"mamori up not ready in {timeout} s: {self.stderr()}")

    def stdout(self) -> str:
        return self.stdout_path.read_text(errors="replace")

    def stderr(self) -> str:
        return self.stderr_path.read_text(errors="replace")

    def logs(self) -> list[dict[str, Any]]:
        out = []
        for line in self.stderr().splitlines():
            if line.startswith("{"):
                out.append(orjson.loads(line))
        return out

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 60.0) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        rc = self.proc.wait(timeout)
        assert "Traceback" not in self.stderr(), self.stderr()
        return rc

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
        self.proc.wait(30)


@contextmanager
def running(home: Home) -> Iterator[Up]:
    up = Up(home).wait_ready()
    try:
        yield up
    finally:
        if up.proc.poll() is None:
            rc = up.stop()
            assert rc == 0, up.stderr()


def events(home: Home) -> list[dict[str, Any]]:
    """Every event in the ledger, in order."""
    with Reader(home.ledger_db) as r:
        return [entry_event(body) for _i, _r, body in r.entries() if body is not None]


def actions(home: Home) -> list[str]:
    return [str(e.get("event", {}).get("action", "")) for e in events(home)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def ingest_token(home: Home, name: str = "test", scope: str = "ingest") -> str:
    """A new API token, made with the real CLI."""
    from tests.conftest import run

    proc = run(["tokens", "add", name, "--scope", scope, "--home", str(home.root)])
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.decode().strip().splitlines()[-1]


class Client:
    """HTTPS client of POST /api/v1/events, trusting the home's self-signed certificate."""

    def __init__(self, home: Home, port: int, token: str) -> None:
        import httpx

        self.http = httpx.Client(
            base_url=f"https://127.0.0.1:{port}",
            verify=ssl.create_default_context(cafile=str(home.root / "tls" / "server.crt")),
            headers={"Authorization": f"Bearer {token}"},
            timeout=60.0,
        )

    def post(self, items: list[dict[str, Any]]) -> Any:
        return self.http.post(
            "/api/v1/events",
            content=orjson.dumps(items),
            headers={"Content-Type": "application/json"},
        )

    def close(self) -> None:
        self.http.close()
