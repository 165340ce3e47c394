"""File tail through `mamori up`: rotation, kill -9 and restart — no line lost, none repeated.
Network-boundary logs (CLD-7) through the tail and through HTTPS with curl."""

from __future__ import annotations

import shutil
import subprocess
import time
from pathlib import Path

import pytest

from mamori.home import Home
from tests.service.svc import Up, events, ingest_token, running, service_home

ZEEK_TSV = """#separator \\x09
#set_separator\t,
#empty_field\t(empty)
#unset_field\t-
#path\tconn
#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents
#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]
1700000000.000000\tCabc1\t10.0.0.5\t51000\t203.0.113.9\t443\ttcp\tssl\t1.5\t1200\t5400\tSF\tT\tF\t0\tShADadFf\t12\t1800\t10\t5900\t-
1700000001.000000\tCabc2\t10.0.0.6\t51001\t198.51.100.7\t22\ttcp\tssh\t30.0\t3000\t4000\tSF\tT\tF\t0\tShADadFf\t40\t5000\t38\t6000\t-
"""


def _lines(home: Home, path: Path) -> list[str]:
    return [
        str(e["message"])
        for e in events(home)
        if e.get("log", {}).get("file", {}).get("path") == str(path)
        and "message" in e
        and not str(e.get("event", {}).get("action", "")).startswith("tail.")
    ]


def _wait(predicate: object, timeout: float = 20.0) -> None:
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.1)


def test_tail_survives_rotation_and_kill_9_without_loss_or_repeat(tmp_path: Path) -> None:
    log = tmp_path / "app.log"
    home = service_home(tmp_path / "h", extra=f'\n[[tail]]\npath = "{log}"\nformat = "syslog"\n')
    written: list[str] = []

    def write(n: int) -> None:
        with log.open("a") as f:
            for _ in range(n):
                line = f"Nov 27 10:00:00 web01 app[1]: line {len(written):05d}"
                f.write(line + "\n")
                written.append(f"line {len(written):05d}")

    write(100)
    up = Up(home).wait_ready()
    _wait(lambda: len(_lines(home, log)) >= 100)
    write(200)
    time.sleep(0.3)
    up.kill()  # mid-stream, maybe mid-batch
    write(50)
    with running(home):
        _wait(lambda: len(_lines(home, log)) >= 350)
        log.rename(tmp_path / "app.log.1")  # logrotate's default: rename, then a new file
        write(30)  # into the new file
        _wait(lambda: len(_lines(home, log)) >= 380)
    got = [m.split(": ", 1)[-1] if ": " in m else m for m in _lines(home, log)]
    assert got == written, f"{len(got)} lines stored for {len(written)} written"


def test_zeek_conn_log_through_the_tail(tmp_path: Path) -> None:
    conn = tmp_path / "conn.log"
    conn.write_text(ZEEK_TSV)
    home = service_home(tmp_path / "h", extra=f'\n[[tail]]\npath = "{conn}"\nformat = "zeek"\n')
    with running(home):
        _wait(lambda: sum(1 for e in events(home) if e.get("destination", {}).get("ip")) >= 2)
    flows = [e for e in events(home) if e.get("destination", {}).get("ip")]
    assert [f["destination"]["ip"] for f in flows] == ["203.0.113.9", "198.51.100.7"]
    assert flows[0]["source"]["ip"] == "10.0.0.5"
    assert flows[1]["destination"]["port"] == 22


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl is not installed")
def test_curl_posts_suricata_eve_and_reads_metrics(tmp_path: Path) -> None:
    home = service_home(tmp_path / "h")
    token = ingest_token(home, "curl")
    metrics_token = ingest_token(home, "prom", scope="metrics")
    eve = tmp_path / "eve.json"
    eve.write_text(
        '{"timestamp":"2026-11-27T10:00:00.000000+0900","event_type":"alert","src_ip":"192.0.2.10",'
        '"src_port":4444,"dest_ip":"10.0.0.5","dest_port":80,"proto":"TCP","alert":{"action":"allowed",'
        '"gid":1,"signature_id":2019401,"rev":3,"signature":"ET POLICY test","category":"Misc","severity":2}}\n'
    )
    with running(home) as up:
        base = f"https://localhost:{up.ports['https']}"
        cacert = str(home.root / "tls" / "server.crt")
        post = subprocess.run(
            [
                "curl",
                "-sS",
                "--fail-with-body",
                "--cacert",
                cacert,
                "-H",
                f"Authorization: Bearer {token}",
                "-H",
                "Content-Type: application/x-ndjson",
                "--data-binary",
                f"@{eve}",
                f"{base}/api/v1/events?format=suricata",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert post.returncode == 0, post.stdout + post.stderr
        assert '"accepted":1' in post.stdout.replace(" ", "")
        metrics = subprocess.run(
            [
                "curl",
                "-sS",
                "--fail-with-body",
                "--cacert",
                cacert,
                "-H",
                f"Authorization: Bearer {metrics_token}",
                f"{base}/metrics",
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert metrics.returncode == 0, metrics.stderr
        text = metrics.stdout
        assert 'mamori_events_appended_total{receiver="http"} 1.0' in text
        assert "mamori_checkpoint_age_seconds" in text and "mamori_spool_bytes" in text
        assert "mamori_writer_lag_seconds" in text
        assert token not in text and metrics_token not in text
    alerts = [e for e in events(home) if e.get("mamori", {}).get("receiver") == "http"]
    assert len(alerts) == 1
    assert alerts[0]["source"]["ip"] == "192.0.2.10"
    assert alerts[0]["rule"]["id"] == "2019401" or alerts[0]["rule"]["id"] == 2019401
