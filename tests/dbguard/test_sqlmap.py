"""The SQL firewall against sqlmap (DB-4): the deliberately vulnerable application of
tests/dbguard/vulnapp.py, its database traffic through the proxy, attacked by sqlmap (the Debian
package) on each endpoint.

1. ``learn``: ordinary requests (:func:`vulnapp.benign_paths`); their fingerprints become the
   allowlist of each endpoint's ``application_name``.
2. ``monitor``: sqlmap finds the injection (the traffic passes), and every statement its requests
   produced that differs in structure from the endpoint's benign statements (a fingerprint not
   learned, or none: unparseable) is an attack statement. Measured: the fraction that alerted
   (the firewall: allowlist and injection analysis), and the fraction the injection analysis
   alone flagged (a ``sqli.*`` reason) — the figure the allowlist does not help with.
3. ``enforce``: sqlmap again; it must confirm no technique (boolean, error, UNION, stacked,
   time-based), and every ordinary request, before and after, must be answered.

Set ``MAMORI_SQLMAP_SUMMARY=FILE`` to append each endpoint's figures to FILE (JSON lines).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from mamori.dbguard import analysis
from mamori.dbguard.allowlist import Allowlist
from mamori.dbguard.settings import FirewallMode
from mamori.home import Home, init
from tests.dbguard.harness import ProxyRunner, proxy_config
from tests.dbguard.pg import PgCluster
from tests.dbguard.vulnapp import ENDPOINTS, PARAMETER, SCHEMA, VulnApp, benign_paths

pytestmark = [
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.skipif(shutil.which("sqlmap") is None, reason="sqlmap is not installed"),
]

START_VALUE = {"item": "1", "search": "pen", "sort": "name"}
TECHNIQUES = (
    "boolean-based blind",
    "error-based",
    "UNION query",
    "stacked queries",
    "time-based blind",
)
SQLMAP_OPTIONS = (
    "--batch",
    "--technique=BEUSTQ",
    "--level=3",
    "--risk=2",
    "--time-sec=1",
    "--flush-session",
    "--disable-coloring",
    "--threads=1",
    # after finding it, exploit it: more (and more varied) attack statements to measure
    "--banner",
    "--current-user",
    "--dump",
    "-T",
    "vuln_users",
)


@dataclass(frozen=True)
class SqlmapRun:
    techniques: tuple[str, ...]
    """The techniques sqlmap confirmed (its "Type:" lines), in its order."""
    output: str


def run_sqlmap(url: str, endpoint: str, workdir: Path) -> SqlmapRun:
    workdir.mkdir(parents=True, exist_ok=True)
    target = f"{url}/{endpoint}?{PARAMETER[endpoint]}={START_VALUE[endpoint]}"
    proc = subprocess.run(
        ["sqlmap", "-u", target, "-p", PARAMETER[endpoint], *SQLMAP_OPTIONS,
         "--output-dir", str(workdir / "out")],
        env=dict(os.environ, HOME=str(workdir)),  # sqlmap's history and cache stay here
        capture_output=True,
        text=True,
        timeout=1500,
        check=False,
    )  # fmt: skip
    out = proc.stdout + proc.stderr
    (workdir / "sqlmap.log").write_text(out)
    found: list[str] = []
    _, marker, block = out.partition("identified the following injection point(s)")
    if marker:
        block = block.split("\n---\n", 2)[1] if block.count("\n---\n") >= 2 else block
        found = re.findall(r"^\s+Type: (.+?)\s*$", block, re.MULTILINE)
    return SqlmapRun(tuple(found), out)


class Phase:
    """A proxy as ``mamori up`` runs it (the firewall in one mode with the home's allowlist,
    statement texts logged) with the application in front of it; :meth:`finish` stops the
    application and returns the phase's statement events."""

    def __init__(self, pg: PgCluster, home: Home, mode: FirewallMode) -> None:
        cfg = proxy_config(pg, firewall=mode, log_statement_text=True, client_tls=False)
        self.runner = ProxyRunner(home, [cfg])
        self.start = len(self.runner.events(settle=False))
        port = self.runner.port
        self.app = VulnApp(
            lambda name: pg.dsn(
                "app", port=port, application_name=name, options="-c statement_timeout=20000"
            )
        ).start()

    def finish(self) -> list[dict[str, Any]]:
        self.app.close()
        return [e for e in self.runner.events()[self.start :] if e["event"]["action"] == "query"]

    def close(self) -> None:
        self.runner.close()  # the allowlist is written when the proxies close


@contextlib.contextmanager
def phase(pg: PgCluster, home: Home, mode: FirewallMode) -> Iterator[Phase]:
    p = Phase(pg, home, mode)
    try:
        yield p
    finally:
        with contextlib.suppress(Exception):
            p.app.close()
        p.close()


def get(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=30) as resp:
            resp.read()
            return int(resp.status)
    except urllib.error.HTTPError as e:
        return int(e.code)


def ordinary_requests(app: VulnApp) -> Counter[int]:
    return Counter(get(app.url + path) for path in benign_paths())


def codes(event: dict[str, Any]) -> list[str]:
    return [r["code"] for r in event["mamori"]["dbguard"]["decision"]["reasons"]]


def report(summary: dict[str, Any]) -> None:
    text = json.dumps(summary, ensure_ascii=False)
    print("\n" + text)
    target = os.environ.get("MAMORI_SQLMAP_SUMMARY")
    if target:
        with Path(target).open("a", encoding="utf-8") as f:
            f.write(text + "\n")


# -- fixtures ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def home(pg: PgCluster, tmp_path_factory: pytest.TempPathFactory) -> Home:
    """The application's tables, and a home whose allowlist learned the ordinary requests."""
    pg.sql(SCHEMA, role="app")
    h = init(tmp_path_factory.mktemp("sqlmap") / "home", origin="test.example/mamori/dbguard")
    with phase(pg, h, FirewallMode.LEARN) as p:
        for _ in range(2):
            assert ordinary_requests(p.app) == Counter({200: len(benign_paths())})
        events = p.finish()
    assert [e for e in events if any(c.startswith("sqli.") for c in codes(e))] == []
    return h


@pytest.fixture(scope="module")
def learned(home: Home) -> dict[str, set[str]]:
    """Each endpoint's allowed fingerprints."""
    with Allowlist.open(home) as allowlist:
        return {
            e: {x.fingerprint for x in allowlist.entries(application=f"vulnapp-{e}")}
            for e in ENDPOINTS
        }


# -- the tests -----------------------------------------------------------------------------------


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_monitor_sees_the_attack(
    pg: PgCluster, home: Home, learned: dict[str, set[str]], endpoint: str, tmp_path: Path
) -> None:
    benign = learned[endpoint]
    assert benign, "learn recorded nothing"
    with phase(pg, home, FirewallMode.MONITOR) as p:
        run = run_sqlmap(p.app.url, endpoint, tmp_path)
        served = dict(p.app.served.counts)
        events = p.finish()
    assert run.techniques, f"sqlmap found no injection through the proxy:\n{run.output[-3000:]}"
    assert "hunter2" in run.output, "sqlmap could not dump vuln_users through the proxy"
    mine = [e for e in events if e["mamori"]["dbguard"]["application"] == f"vulnapp-{endpoint}"]
    assert all(e["mamori"]["dbguard"]["decision"]["verdict"] != "block" for e in mine)
    # An attack statement: a shape the ordinary requests never had, or any statement of a
    # stacked message (the application sends one statement at a time). Regression: the first
    # half of a stacked attack (`… WHERE id = 1; SELECT pg_sleep(5)`) has an ordinary shape
    # and was counted as benign traffic once sqli.stacked began to be found through the proxy.
    attacks = [
        e
        for e in mine
        if e["db"]["query"].get("fingerprint") not in benign
        or e["mamori"]["dbguard"]["statements_in_message"] > 1
    ]
    assert len(attacks) >= 20, f"only {len(attacks)} attack statements"
    alerted = [e for e in attacks if e["mamori"]["dbguard"]["decision"]["verdict"] == "alert"]
    flagged = [e for e in attacks if any(c.startswith("sqli.") for c in codes(e))]
    alone = Counter(
        analysis.analyse(e["db"]["query"]["text"]).decision.verdict.word for e in attacks
    )
    missed = Counter(e["db"]["query"]["text"][:160] for e in attacks if e not in flagged)
    reasons = Counter(c for e in flagged for c in set(codes(e)) if c.startswith("sqli."))
    benign_alerts = [
        e for e in mine if e not in attacks and any(c.startswith("sqli.") for c in codes(e))
    ]
    report(
        {
            "endpoint": endpoint,
            "mode": "monitor",
            "sqlmap_techniques": list(run.techniques),
            "http": {f"{k[0]} {k[1]}": v for k, v in sorted(served.items())},
            "statements": len(mine),
            "attack_statements": len(attacks),
            "attack_shapes": len({e["db"]["query"].get("fingerprint", e["db"]["query"]["text"]) for e in attacks}),
            "firewall_detection_rate": round(len(alerted) / len(attacks), 4),
            "analysis_detection_rate": round(len(flagged) / len(attacks), 4),
            "analysis_alone_verdicts": dict(alone),
            "analysis_reasons": dict(reasons.most_common()),
            "benign_statements_with_sqli_reason": len(benign_alerts),
            "analysis_missed": [f"{n}× {t}" for t, n in missed.most_common(25)],
        }
    )  # fmt: skip
    # the allowlist alerts on every shape it did not learn
    assert len(alerted) == len(attacks)
    # the injection analysis on its own, without the allowlist. Known misses (2026-11-27):
    # sqlmap's DBMS probes `AND (SELECT QUARTER(NULL)) IS NULL` (13 on /item), MySQL's
    # `ORDER BY name AND MAKE_SET(…)` and `… AND 1=2# x` (`#` is XOR in PostgreSQL)
    assert len(flagged) / len(attacks) >= 0.75
    assert benign_alerts == []


@pytest.mark.parametrize("endpoint", ENDPOINTS)
def test_enforce_stops_the_attack(
    pg: PgCluster, home: Home, learned: dict[str, set[str]], endpoint: str, tmp_path: Path
) -> None:
    benign = learned[endpoint]
    ok = Counter({200: len(benign_paths())})
    with phase(pg, home, FirewallMode.ENFORCE) as p:
        assert ordinary_requests(p.app) == ok
        run = run_sqlmap(p.app.url, endpoint, tmp_path)
        assert ordinary_requests(p.app) == ok, "an ordinary request was refused after the attack"
        events = p.finish()
    mine = [e for e in events if e["mamori"]["dbguard"]["application"] == f"vulnapp-{endpoint}"]
    # An attack statement: a shape the ordinary requests never had, or any statement of a
    # stacked message (the application sends one statement at a time). Regression: the first
    # half of a stacked attack (`… WHERE id = 1; SELECT pg_sleep(5)`) has an ordinary shape
    # and was counted as benign traffic once sqli.stacked began to be found through the proxy.
    attacks = [
        e
        for e in mine
        if e["db"]["query"].get("fingerprint") not in benign
        or e["mamori"]["dbguard"]["statements_in_message"] > 1
    ]
    # refused by the proxy: its own 42501 (a statement stacked behind a refused one is refused
    # with its message, whatever its own verdict)
    executed = [
        e["db"]["query"]["text"][:160]
        for e in attacks
        if e["mamori"]["dbguard"].get("sqlstate") != "42501"
    ]
    report(
        {
            "endpoint": endpoint,
            "mode": "enforce",
            "sqlmap_techniques": list(run.techniques),
            "statements": len(mine),
            "attack_statements": len(attacks),
            "attack_statements_not_refused": executed[:25],
        }
    )
    assert executed == []
    assert "hunter2" not in run.output
    for technique in ("UNION query", "stacked queries", "time-based blind"):
        assert technique not in run.techniques, run.output[-3000:]
    assert run.techniques == (), f"sqlmap still confirmed {run.techniques}"
    assert "do not appear to be injectable" in run.output
