"""`mamori vuln scan`: match an inventory (a stored system's latest, or an SBOM) against the
offline advisory database and the end-of-life data (SEC-2, SEC-3, CLD-9). See docs/vuln-scan.md.

Exit 0: clean; 1: findings at or above ``--fail-on``; 2: undecided (stale or empty database,
something unaudited) or bad input. Register with ``vuln_app.command("scan")(scan)``.
"""

from __future__ import annotations

import datetime as dt
import enum
import sqlite3
import sys
import uuid
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import orjson
import typer

from mamori.cli.common import HomeOption, fail
from mamori.cli.vuln_common import OutputOption, TodayOption, write_out
from mamori.errors import MamoriError
from mamori.vuln.scan import ScanResult, Threshold

if TYPE_CHECKING:
    from mamori.home import Home
    from mamori.vuln.components import Component


class Format(enum.StrEnum):
    TABLE = "table"
    JSON = "json"
    SARIF = "sarif"
    CYCLONEDX = "cyclonedx"


def covered_ecosystems(db_path: Path) -> set[str]:
    """The base ecosystems (casefolded) the database holds any advisory for. A skip scan over
    the (ecosystem, name, id) index: one probe per distinct ecosystem, not one per row."""
    sql = (
        "WITH RECURSIVE e(x) AS (SELECT min(ecosystem) FROM package UNION ALL"
        " SELECT (SELECT min(ecosystem) FROM package WHERE ecosystem > x) FROM e"
        " WHERE x IS NOT NULL) SELECT x FROM e WHERE x IS NOT NULL"
    )
    conn = sqlite3.connect(f"{db_path.as_uri()}?mode=ro", uri=True)
    try:
        return {str(r[0]).partition(":")[0].casefold() for r in conn.execute(sql)}
    finally:
        conn.close()


def load_decisions(home: Home, system: str) -> Mapping[tuple[str, str, str], str]:
    """The recorded decision states of `system`'s findings (docs/vuln-decisions.md)."""
    from mamori.vuln.decisionstore import current_states

    return current_states(home, system)


def record_observations(home: Home, system: str, result: ScanResult, at: dt.datetime) -> None:
    """Tell the decision store what a complete scan of `system` found: new findings are
    detected (with their fix deadline), fixed ones seen again reopened, fixed ones gone
    verified. Only a decidable scan with nothing unaudited is complete: a finding missing
    from any other proves nothing."""
    from mamori.vuln.decisions import ObservedFinding
    from mamori.vuln.decisionstore import observe
    from mamori.vuln.match import Outcome

    if result.undecidable or result.unaudited:
        return
    seen = [
        ObservedFinding(
            ecosystem=f.component.ecosystem,
            name=f.component.name,
            version=f.component.version,
            purl=f.component.purl,
            vuln_id=f.primary_id,
            aliases=f.aliases,
            severity=f.severity.label.value,
            fixed=f.fixed,
        )
        for f in (item.finding for item in result.findings)
        if f.verdict.outcome is Outcome.AFFECTED
    ]
    observe(home, system, seen, at, cfg=home.config().vuln)


def _inventory(
    home: Home, system: str | None, sbom: Path | None
) -> tuple[str, list[Component], list[tuple[str, str]]]:
    from mamori.vuln.errors import VulnError
    from mamori.vuln.inventory import sbom_in, store

    if system is not None:
        inv = store.load(home, store.check_system(system))
        return system, list(inv.components), [(p.source, p.reason) for p in inv.problems]
    assert sbom is not None
    try:
        data = sbom.read_bytes()
    except OSError as e:
        raise VulnError(f"cannot read the SBOM {sbom}: {e.strerror or e}") from e
    components = sbom_in.parse_sbom(data, str(sbom))
    return sbom.stem, components, []


def scan(
    home: HomeOption = None,
    system: Annotated[
        str | None,
        typer.Option("--system", metavar="NAME", help="Scan this system's latest inventory."),
    ] = None,
    sbom: Annotated[
        Path | None,
        typer.Option("--sbom", metavar="FILE", help="Scan a CycloneDX (JSON, XML) or SPDX SBOM."),
    ] = None,
    fmt: Annotated[Format, typer.Option("--format", help="Output format.")] = Format.TABLE,
    fail_on: Annotated[
        Threshold,
        typer.Option("--fail-on", help="Exit 1 for findings of this severity or worse."),
    ] = Threshold.LOW,
    output: OutputOption = None,
    max_db_age_days: Annotated[
        float | None,
        typer.Option(
            metavar="DAYS",
            min=0,
            help="Older advisory data is stale: exit 2 (default: [vuln] max_db_age_days, 2).",
        ),
    ] = None,
    warn_days: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=0,
            help="Warn when support ends within N days (default: [vuln] eol_warn_days, 180).",
        ),
    ] = None,
    today: TodayOption = None,
) -> None:
    """Scan an inventory for known vulnerabilities and support periods.

    Exit 0: clean; 1: findings at or above --fail-on; 2: undecided (stale or empty database,
    components that could not be audited) or bad input.
    """
    from mamori import audit
    from mamori.home import open_home
    from mamori.vuln import eol, scanout
    from mamori.vuln.scan import Database
    from mamori.vuln.scan import scan as run_scan
    from mamori.vuln.store import Store

    if (system is None) == (sbom is None):
        fail("give exactly one of --system NAME and --sbom FILE")
    try:
        day = dt.date.fromisoformat(today) if today else dt.date.today()
    except ValueError:
        fail(f"--today {today!r} is not a date\n  fix: write it as YYYY-MM-DD")
    now = dt.datetime.combine(day, dt.time(12), dt.UTC) if today else dt.datetime.now(dt.UTC)
    try:
        h = open_home(home)
        settings = h.config().vuln
        max_age = settings.max_db_age_days if max_db_age_days is None else max_db_age_days
        warn = settings.eol_warn_days if warn_days is None else warn_days
        name, components, problems = _inventory(h, system, sbom)
        try:
            catalogue: eol.Catalogue | None = eol.load(h.root)
        except MamoriError:
            catalogue = None  # reported as "no end-of-life data"; does not decide the exit
        decisions = load_decisions(h, name)
        with Store.open_existing(h) as db:
            status = db.status(max_age_days=max_age, now=now)
            result = run_scan(
                components,
                db,
                database=Database.from_status(status, max_age),
                today=day,
                eol_catalogue=catalogue,
                warn_days=warn,
                decisions=decisions,
                ecosystems=covered_ecosystems(db.path),
                problems=problems,
            )
        if system is not None:
            record_observations(h, name, result, now)
    except MamoriError as e:
        fail(e.diagnostics())
    except (sqlite3.Error, OSError) as e:
        fail(f"the scan could not read its data: {e}")
    code = result.exit_code(fail_on)
    doc: Any
    match fmt:
        case Format.TABLE:
            data = scanout.to_table(result, fail_on).encode()
        case Format.JSON:
            doc = scanout.to_json(result, fail_on)
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
        case Format.SARIF:
            doc = scanout.to_sarif(result, fail_on)
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
        case Format.CYCLONEDX:
            doc = scanout.to_cyclonedx_vex(result, name, serial=uuid.uuid4(), timestamp=now)
            data = orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
    try:
        write_out(data, output)
        if output is not None:
            sys.stderr.write(f"mamori: {scanout.verdict_line(result, fail_on)}\n")
        audit.record(
            h,
            "vuln.scanned",
            outcome="success" if code == 0 else "failure",
            fields={
                "system": name if system else None,
                "sbom": str(sbom) if sbom else None,
                "components": len(result.components),
                "findings": len(result.findings),
                "failing": len(result.failing(fail_on)),
                "unaudited": len(result.unaudited),
                "fail_on": fail_on.value,
                "exit_code": code,
            },
        )
    except MamoriError as e:
        fail(e.diagnostics())
    except OSError as e:
        fail(f"cannot write {output}: {e.strerror or e}")
    raise typer.Exit(code)
