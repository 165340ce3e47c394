"""Render a :class:`~mamori.vuln.scan.ScanResult`: JSON, a plain-text table, SARIF 2.1.0 and
CycloneDX 1.6 with ``vulnerabilities`` (pure). Formats and examples: docs/vuln-scan.md."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections import Counter
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import quote

from mamori.vuln.components import Component
from mamori.vuln.eolmap import Status
from mamori.vuln.inventory.sbom_out import _tool_version, to_cyclonedx
from mamori.vuln.scan import DETECTED, Item, ScanResult, Threshold, Unaudited
from mamori.vuln.severity import Label, Rating

FORMAT = "mamori-vuln-scan"
FORMAT_VERSION = 1
SARIF_SCHEMA = (
    "https://docs.oasis-open.org/sarif/sarif/v2.1.0/errata01/os/schemas/sarif-schema-2.1.0.json"
)
FINGERPRINT = "mamoriFinding/v1"


def _iso(t: dt.datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _component(c: Component) -> dict[str, Any]:
    return {
        "name": c.name,
        "version": c.version,
        "ecosystem": c.ecosystem,
        "purl": c.purl,
        "found_in": c.found_in,
        "source_name": c.source_name,
        "source_version": c.source_version,
        "distro": c.distro,
    }


def _rating(r: Rating) -> dict[str, Any]:
    return {"label": r.label.value, "score": r.score, "source": r.source}


def _finding(i: Item, threshold: Threshold) -> dict[str, Any]:
    f = i.finding
    return {
        "purl": f.component.purl,
        "component": _component(f.component),
        "id": f.primary_id,
        "aliases": list(f.aliases),
        "advisory_ids": list(f.advisory_ids),
        "summary": f.summary,
        "severity": _rating(f.severity),
        "fixed": list(f.fixed),
        "state": i.state,
        "fails": i.fails(threshold),
    }


def _unaudited(u: Unaudited) -> dict[str, Any]:
    return {
        "purl": u.component.purl if u.component else None,
        "component": _component(u.component) if u.component else None,
        "source": u.source or None,
        "reason": u.reason,
        "advisory_ids": list(u.advisory_ids),
    }


def summary(result: ScanResult, threshold: Threshold) -> dict[str, Any]:
    """Counts, the exit code and why."""
    eol = Counter(a.status.value for a in result.eol)
    return {
        "components": len(result.components),
        "findings": len(result.findings),
        "failing": len(result.failing(threshold)),
        "unaudited": len(result.unaudited),
        "by_severity": dict(Counter(i.finding.severity.label.value for i in result.findings)),
        "by_state": dict(Counter(i.state for i in result.findings)),
        "eol": dict(eol),
        "fail_on": threshold.value,
        "exit_code": result.exit_code(threshold),
        "undecidable": list(result.undecidable),
    }


def database(result: ScanResult) -> dict[str, Any]:
    db = result.database
    return {
        "records": db.records,
        "data_date": _iso(db.data_date),
        "age_days": None if db.age is None else round(db.age.total_seconds() / 86400, 3),
        "max_age_days": db.max_age_days,
        "stale": db.stale,
        "snapshots": [
            {
                "source": s.source,
                "kind": s.kind,
                "sha256": s.sha256,
                "records": s.records,
                "data_date": _iso(s.data_date),
            }
            for s in db.snapshots
        ],
    }


def to_json(result: ScanResult, threshold: Threshold = Threshold.LOW) -> dict[str, Any]:
    """The scan as one JSON document (``findings``, ``eol``, ``unaudited``, ``summary``,
    ``database``)."""
    return {
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "today": result.today.isoformat(),
        "summary": summary(result, threshold),
        "database": database(result),
        "findings": [_finding(i, threshold) for i in result.findings],
        "eol": [a.to_json() for a in result.eol],
        "eol_data": result.eol_data,
        "warn_days": result.warn_days,
        "unaudited": [_unaudited(u) for u in result.unaudited],
    }


# --- table -----------------------------------------------------------------------------------


def _what(c: Component | None, source: str = "") -> str:
    return source if c is None else f"{c.name} {c.version}".strip()


def verdict_line(result: ScanResult, threshold: Threshold) -> str:
    """One sentence saying the exit code and why."""
    code = result.exit_code(threshold)
    if code == 2:
        why = list(result.undecidable)
        if result.unaudited:
            why.append(f"{len(result.unaudited)} item(s) could not be audited")
        return f"UNDECIDED (exit 2): {'; '.join(why)}"
    if code == 1:
        n = len(result.failing(threshold))
        return f"FAIL (exit 1): {n} finding(s) at or above {threshold.value}"
    return f"CLEAN (exit 0): no undecided finding at or above {threshold.value}"


def to_table(result: ScanResult, threshold: Threshold = Threshold.LOW) -> str:
    """Plain text for a terminal."""
    db = result.database
    age = "no data" if db.age is None else f"{db.age.total_seconds() / 86400:.1f} days old"
    lines = [
        f"scanned {len(result.components)} component(s) on {result.today}; database "
        f"{db.records} records, {age}{' (STALE)' if db.stale else ''}",
    ]
    rows = [("SEVERITY", "ID", "COMPONENT", "FIXED IN", "STATE")]
    for i in result.findings:
        f = i.finding
        sev = f.severity.label.value + (f" {f.severity.score:.1f}" if f.severity.score else "")
        rows.append((sev, f.primary_id, _what(f.component), ", ".join(f.fixed) or "-", i.state))
    if len(rows) > 1:
        widths = [max(len(r[k]) for r in rows) for k in range(4)]
        lines.append("")
        for r in rows:
            cells = "  ".join(x.ljust(w) for x, w in zip(r[:4], widths, strict=True))
            lines.append(f"  {cells}  {r[4]}")
    else:
        lines.append("no findings")
    if result.unaudited:
        lines += ["", f"unaudited ({len(result.unaudited)}):"]
        lines += [f"  {_what(u.component, u.source)}: {u.reason}" for u in result.unaudited]
    shown = [a for a in result.eol if a.status is not Status.NOT_TRACKED]
    if shown:
        lines += ["", f"end of life (warning {result.warn_days} days ahead):"]
        lines += [f"  {a.status.value:<16} {a.sentence()}" for a in shown]
    elif not result.eol_data:
        lines += ["", "end of life: no data imported (mamori vuln eol import)"]
    lines += ["", verdict_line(result, threshold)]
    return "\n".join(lines) + "\n"


# --- SARIF 2.1.0 -----------------------------------------------------------------------------


def _level(label: Label) -> str:
    match label:
        case Label.CRITICAL | Label.HIGH | Label.UNKNOWN:
            return "error"  # unknown: an unrated vulnerability may be critical
        case Label.MEDIUM:
            return "warning"
        case Label.LOW | Label.NONE:
            return "note"
        case _:
            return "error"


def advisory_url(vid: str) -> str:
    if vid.upper().startswith("CVE-"):
        return f"https://nvd.nist.gov/vuln/detail/{vid}"
    if vid.upper().startswith("GHSA-"):
        return f"https://github.com/advisories/{vid}"
    return f"https://osv.dev/vulnerability/{quote(vid)}"


def _uri(found_in: str) -> str:
    if found_in.startswith("/"):
        return PurePosixPath(found_in).as_uri()
    return quote(found_in, safe="/:@!$&'()*+,;=-._~")


def fingerprint(c: Component, vid: str) -> str:
    """Stable across runs and versions: the same vulnerability of the same package."""
    text = "\0".join((c.ecosystem, c.name, c.distro, vid))
    return hashlib.sha256(text.encode()).hexdigest()


def to_sarif(result: ScanResult, threshold: Threshold = Threshold.LOW) -> dict[str, Any]:
    """SARIF 2.1.0: one rule per vulnerability id, one result per component × vulnerability;
    findings triaged not_affected/fixed carry an accepted external suppression."""
    rules: list[dict[str, Any]] = []
    index: dict[str, int] = {}
    results = []
    for i in result.findings:
        f = i.finding
        if f.primary_id not in index:
            index[f.primary_id] = len(rules)
            props: dict[str, Any] = {"tags": ["security", "vulnerability"]}
            if f.severity.score is not None:
                props["security-severity"] = f"{f.severity.score:.1f}"
            rules.append(
                {
                    "id": f.primary_id,
                    "shortDescription": {"text": f.summary or f.primary_id},
                    "helpUri": advisory_url(f.primary_id),
                    "properties": props,
                }
            )
        c = f.component
        fix = f"; fixed in {', '.join(f.fixed)}" if f.fixed else "; no fixed version"
        loc: dict[str, Any] = {
            "logicalLocations": [{"fullyQualifiedName": c.purl or c.name, "kind": "module"}]
        }
        if c.found_in:
            loc["physicalLocation"] = {"artifactLocation": {"uri": _uri(c.found_in)}}
        res: dict[str, Any] = {
            "ruleId": f.primary_id,
            "ruleIndex": index[f.primary_id],
            "level": _level(f.severity.label),
            "message": {
                "text": f"{c.name} {c.version} is affected by {f.primary_id} "
                f"(severity {f.severity.label.value}){fix}; decision: {i.state}"
            },
            "locations": [loc],
            "partialFingerprints": {FINGERPRINT: fingerprint(c, f.primary_id)},
            "properties": {
                "purl": c.purl,
                "aliases": list(f.aliases),
                "fixed": list(f.fixed),
                "state": i.state,
                "severity": f.severity.label.value,
            },
        }
        if i.settled:
            res["suppressions"] = [
                {"kind": "external", "status": "accepted", "justification": i.state}
            ]
        results.append(res)
    notes = [{"level": "error", "message": {"text": why}} for why in result.undecidable]
    notes += [
        {
            "level": "error",
            "message": {"text": f"unaudited {_what(u.component, u.source)}: {u.reason}"},
        }
        for u in result.unaudited
    ]
    driver = {
        "name": "mamori",
        "informationUri": "https://github.com/mamori/mamori",
        "version": _tool_version(),
        "rules": rules,
    }
    invocation = {
        "executionSuccessful": result.exit_code(threshold) != 2,
        "exitCode": result.exit_code(threshold),
        "toolExecutionNotifications": notes,
    }
    return {
        "$schema": SARIF_SCHEMA,
        "version": "2.1.0",
        "runs": [{"tool": {"driver": driver}, "invocations": [invocation], "results": results}],
    }


# --- CycloneDX 1.6 ---------------------------------------------------------------------------

ANALYSIS_STATES = {
    "not_affected": "not_affected",
    "fixed": "resolved",
    "verified": "resolved",
    "affected": "exploitable",
    "under_investigation": "in_triage",
    DETECTED: "in_triage",
}
"""mamori decision state → CycloneDX impact analysis state; any other state → in_triage."""
_METHODS = {"CVSS_V4": "CVSSv4", "CVSS_V3": "CVSSv3", "CVSS_V2": "CVSSv2"}


def _cdx_rating(r: Rating) -> dict[str, Any]:
    out: dict[str, Any] = {"severity": r.label.value, "method": _METHODS.get(r.source, "other")}
    if r.score is not None:
        out["score"] = r.score
    return out


def to_cyclonedx_vex(
    result: ScanResult, system: str, *, serial: uuid.UUID, timestamp: dt.datetime
) -> dict[str, Any]:
    """The inventory as CycloneDX 1.6 (``sbom_out.to_cyclonedx``) with ``vulnerabilities``:
    one entry per vulnerability id and decision state, affecting every component in it."""
    doc = to_cyclonedx(system, result.components, serial=serial, timestamp=timestamp)
    from mamori.vuln.inventory.model import sort_key

    ordered = sorted(result.components, key=sort_key)
    refs = {c: item["bom-ref"] for c, item in zip(ordered, doc["components"], strict=True)}
    groups: dict[tuple[str, str], list[Item]] = {}
    for i in result.findings:
        groups.setdefault((i.finding.primary_id, i.state), []).append(i)
    vulns = []
    for (vid, state), items in sorted(groups.items()):
        first = items[0].finding
        v: dict[str, Any] = {
            "id": vid,
            "source": {"name": _source_name(vid), "url": advisory_url(vid)},
            "ratings": [_cdx_rating(first.severity)],
            "affects": [{"ref": r} for r in dict.fromkeys(refs[i.component] for i in items)],
            "analysis": {"state": ANALYSIS_STATES.get(state, "in_triage")},
        }
        if first.summary:
            v["description"] = first.summary
        if aliases := sorted({a for i in items for a in i.finding.aliases}):
            v["references"] = [
                {"id": a, "source": {"name": _source_name(a), "url": advisory_url(a)}}
                for a in aliases
            ]
        fixed = sorted({x for i in items for x in i.finding.fixed})
        if fixed:
            v["recommendation"] = f"upgrade to a fixed version: {', '.join(fixed)}"
        if state not in ANALYSIS_STATES:
            v["analysis"]["detail"] = f"mamori decision state {state!r}"
        vulns.append(v)
    doc["vulnerabilities"] = vulns
    return doc


def _source_name(vid: str) -> str:
    if vid.upper().startswith("CVE-"):
        return "NVD"
    if vid.upper().startswith("GHSA-"):
        return "GitHub"
    return "OSV"
