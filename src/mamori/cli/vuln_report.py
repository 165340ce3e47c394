"""`mamori vuln report`: the Japanese reports for the agency, as HTML or CSV: the support
periods (SEC-3), the vulnerability countermeasures (CLD-9), the licence list (IP-4). See
docs/vuln-reports.md. Register with ``vuln_app.command("report")(report)``.

Every report made is an audit event ``vuln.report_generated`` with the sha256 of the bytes
handed over, recorded *before* they are written: a report the ledger does not know of is never
handed out (the ledger may hold an event for a report whose writing then failed).
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING, Annotated

import typer

from mamori.cli.common import HomeOption, fail
from mamori.cli.vuln_common import OutputOption, TodayOption, write_out
from mamori.errors import MamoriError
from mamori.vuln.reports import ReportKind

if TYPE_CHECKING:
    from mamori.home import Home
    from mamori.vuln.decisions import Key, Record
    from mamori.vuln.reports import Report, Source


class OutFormat(enum.StrEnum):
    HTML = "html"
    CSV = "csv"


def gather(
    home: Home, system: str, kind: ReportKind, *, now: dt.datetime, today: dt.date, warn_days: int
) -> Report:
    """Read what `kind` needs from the home and build the report: the system's latest
    inventory (always: its date and sha256 head every report), the end-of-life catalogue
    (support), the decision store and the advisory database (countermeasures, history).
    VulnError when a part is missing (no inventory, no end-of-life data)."""
    from mamori.vuln import decisionstore, eol, eolplans, reports
    from mamori.vuln.errors import VulnError
    from mamori.vuln.inventory import store as inventories

    inventories.check_system(system)
    if now.tzinfo is None:
        raise VulnError("the report's time must carry its zone", hint="pass an aware time")
    stamp = inventories.find(home, system)
    path = inventories.inventories_dir(home) / system / f"{stamp}.json"
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError as e:
        raise VulnError(f"cannot read {path}: {e.strerror or e}") from e
    inventory = inventories.load(home, system, stamp)
    inv = reports.Source("インベントリ（構成要素一覧）", f"{system} {path.name}",
                         inventory.taken_at, inventory.taken_at, digest,
                         f"{len(inventory.components)} 件")  # fmt: skip

    def meta(*extra: Source) -> reports.Meta:
        return reports.Meta(system, now, today, (inv, *extra))

    match kind:
        case ReportKind.SUPPORT:
            cat = eol.load(home.root)
            plans = eolplans.plans(home, system)
            latest_plan = max((p.updated_at for p in plans), default=None)
            planned = reports.Source("対応方針（plans.db）", system, latest_plan, latest_plan,
                                     note=f"{len(plans)} 件")  # fmt: skip
            m = meta(reports.catalogue_source(cat), planned)
            return reports.support_report(inventory, cat, meta=m, warn_days=warn_days, plans=plans)
        case ReportKind.COUNTERMEASURES | ReportKind.HISTORY:
            records = decisionstore.findings(home, system)
            histories = {r.key: decisionstore.history(home, system, r.key) for r in records}
            scores, db_sources = advisory_scores(home, records)
            latest = max((r.updated_at for r in records), default=None)
            decided = reports.Source("脆弱性対応記録（decisions.db）", system, latest, latest,
                                     note=f"{len(records)} 件")  # fmt: skip
            m = meta(decided, *db_sources)
            return reports.countermeasure_report(records, histories, scores, meta=m)
        case ReportKind.LICENCES:
            return reports.licence_report(inventory, meta=meta())


def advisory_scores(
    home: Home, records: Sequence[Record]
) -> tuple[dict[Key, float | None], tuple[Source, ...]]:
    """The CVSS base score of each finding (the worst rating among the advisories that name its
    id or an alias, kept only when its label is the stored one), and the database's imports as
    sources (the newest of each source). No database: no scores, and a source saying so."""
    from mamori.vuln import osv, severity
    from mamori.vuln.errors import VulnError
    from mamori.vuln.reports import Source
    from mamori.vuln.store import Store, normalise_name

    if not (home.root / "vuln" / "advisories.db").exists():
        return {}, (Source("脆弱性データベース", "未取り込み", None, None),)
    scores: dict[Key, float | None] = {}
    with Store.open_existing(home) as db:
        snaps = {(s.source, s.kind): s for s in reversed(db.snapshots())}  # newest wins
        for r in records:
            docs = {d["id"]: d for i in (r.vuln, *r.aliases) for d in db.by_alias(i)}
            ratings = []
            for doc in docs.values():
                try:
                    adv = osv.parse(doc, str(doc["id"]))
                except VulnError:
                    continue  # a record the matcher refuses too: no score from it
                name = normalise_name(r.ecosystem, r.name)
                entry = next((a for a in adv.affected if a.base_ecosystem == r.ecosystem
                              and normalise_name(r.ecosystem, a.name) == name), None)  # fmt: skip
                ratings.append(severity.rate(adv, entry))
            best = severity.worst(ratings)
            scores[r.key] = best.score if best.label.value == r.severity else None
    sources = tuple(
        Source(
            f"脆弱性データベース（{s.kind}）",
            s.source,
            s.data_date,
            s.imported_at,
            s.sha256,
            f"{s.records} 件",
        )
        for s in sorted(snaps.values(), key=lambda s: s.id, reverse=True)
    )
    return scores, sources


def report(
    home: HomeOption = None,
    system: Annotated[
        str, typer.Option("--system", metavar="NAME", help="The system to report on.")
    ] = "",
    kind: Annotated[
        ReportKind | None,
        typer.Option(
            "--kind",
            help="support (SEC-3), countermeasures (CLD-9), licences (IP-4), or history "
            "(the countermeasures' transitions, CSV only).",
        ),
    ] = None,
    fmt: Annotated[OutFormat, typer.Option("--format", help="Output format.")] = OutFormat.HTML,
    output: OutputOption = None,
    today: TodayOption = None,
    warn_days: Annotated[
        int | None,
        typer.Option(
            metavar="N",
            min=0,
            help="Support ending within N days is 終了間近 (default: [vuln] eol_warn_days).",
        ),
    ] = None,
) -> None:
    """Write a Japanese report for the agency (HTML or CSV).

    Exit 0: written (and recorded as the audit event vuln.report_generated); 2: bad input or
    missing data (no inventory, no end-of-life data), nothing written.
    """
    from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

    from mamori import audit
    from mamori.home import open_home
    from mamori.vuln import reportrender

    if not system:
        fail("give the system: --system NAME")
    if kind is None:
        fail("give the report: --kind support|countermeasures|licences|history")
    try:
        day = dt.date.fromisoformat(today) if today else None
    except ValueError:
        fail(f"--today {today!r} is not a date\n  fix: write it as YYYY-MM-DD")
    try:
        h = open_home(home)
        cfg = h.config()
        try:
            zone: dt.tzinfo = ZoneInfo(cfg.calendar.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            zone = dt.UTC  # the configuration check names a bad zone; the report still states it
        now = dt.datetime.now(zone).replace(microsecond=0)
        warn = cfg.vuln.eol_warn_days if warn_days is None else warn_days
        rep = gather(h, system, kind, now=now, today=day or now.date(), warn_days=warn)
        data = reportrender.render(rep, kind, fmt.value)
        digest = hashlib.sha256(data).hexdigest()
        audit.record(
            h,
            "vuln.report_generated",
            fields={
                "system": system,
                "kind": kind.value,
                "format": fmt.value,
                "sha256": digest,
                "bytes": len(data),
                "today": rep.meta.today.isoformat(),
                "output": str(output) if output else None,
            },
        )
    except MamoriError as e:
        fail(e.diagnostics())
    write_out(data, output)
    if output is not None:
        sys.stderr.write(f"mamori: wrote {output} (sha256 {digest})\n")
