"""`mamori up`: start, listen, stop cleanly, self-audit (SEC-5)."""

from __future__ import annotations

import signal
import socket
import time
from pathlib import Path

from tests.conftest import run
from tests.service.svc import Up, actions, events, running, service_home


def test_starts_fast_prints_listeners_and_stops_with_a_final_checkpoint(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    up = Up(home).wait_ready()
    assert up.started_in < 3.0, f"started in {up.started_in:.2f} s"
    out = up.stdout()
    for name in ("syslog-udp", "syslog-tcp", "syslog-tls", "https"):
        assert f"127.0.0.1:{up.ports[name]}" in out, out
    assert any(rec["msg"] == "listening" for rec in up.logs())
    assert up.stop(signal.SIGTERM) == 0
    acts = actions(home)
    assert acts[0] == "mamori.start"
    assert "ledger.key_used" in acts
    assert acts[-1] == "mamori.stop"
    assert not (home.run_dir / "listen.json").exists()
    verify = run(["ledger", "verify", "--home", str(home.root), "--json"])
    assert verify.returncode == 0, verify.stdout + verify.stderr


def test_sigint_stops_too_and_a_restart_continues_the_same_ledger(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    up = Up(home).wait_ready()
    assert up.stop(signal.SIGINT) == 0
    n = len(events(home))
    with running(home):
        pass
    acts = actions(home)
    assert len(acts) > n
    assert acts[n] == "mamori.start"
    assert "config.changed" not in acts


def test_a_changed_configuration_is_recorded(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    with running(home):
        pass
    home.config_path.write_text(
        home.config_path.read_text().replace("idle_timeout_s = 300", "idle_timeout_s = 120")
    )
    with running(home):
        pass
    changed = [e for e in events(home) if e["event"]["action"] == "config.changed"]
    assert len(changed) == 1
    audit = changed[0]["mamori"]["audit"]
    assert audit["old_sha256"] != audit["new_sha256"]


def test_a_second_instance_is_refused_with_a_clear_message(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    with running(home):
        second = run(["up", "--home", str(home.root)], timeout=30)
        assert second.returncode == 2
        assert b"another mamori process" in second.stderr


def test_a_taken_port_is_named(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        home = service_home(tmp_path / "h", **{"http.port": str(port)})
        proc = run(["up", "--home", str(home.root)], timeout=30)
    assert proc.returncode == 2
    msg = proc.stderr.decode()
    assert f"port {port} is in use" in msg and "[http] port" in msg, msg


def test_a_bad_configuration_is_named_before_anything_starts(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h", **{"spool.policy": '"drop"'})
    proc = run(["up", "--home", str(home.root)], timeout=30)
    assert proc.returncode == 2
    assert b"[spool] policy" in proc.stderr


def test_commands_run_while_it_is_up_are_audited_through_the_outbox(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    with running(home):
        assert (
            run(["tokens", "add", "ci", "--scope", "ingest", "--home", str(home.root)]).returncode
            == 0
        )
        assert run(["ledger", "verify", "--home", str(home.root)]).returncode == 0
        t0 = time.monotonic()
        while time.monotonic() - t0 < 10 and "ledger.verified" not in actions(home):
            time.sleep(0.1)
    acts = actions(home)
    assert acts.count("token.created") == 1
    assert acts.count("ledger.verified") == 1
    verified = next(e for e in events(home) if e["event"]["action"] == "ledger.verified")
    assert verified["event"]["outcome"] == "success"
    assert "mamori_" not in str(events(home)), "a token never reaches the ledger"


def test_the_console_is_served_over_https_by_mamori_up(tmp_path: Path) -> None:
    import ssl

    import httpx

    home = service_home(tmp_path / "h")
    with running(home) as up:
        ctx = ssl.create_default_context(cafile=str(home.root / "tls" / "server.crt"))
        with httpx.Client(base_url=f"https://localhost:{up.ports['https']}", verify=ctx) as client:
            landing = client.get("/")
            signin = client.get("/signin")
            search = client.get("/search")
    assert landing.status_code == 200 and "mamori" in landing.text
    assert "Content-Security-Policy" in landing.headers
    assert signin.status_code == 200 and 'name="password"' in signin.text
    assert search.status_code == 303 and search.headers["location"].startswith("/signin")
