"""VEX exports of a system's decisions (pure): OpenVEX 0.2.0 and CycloneDX 1.6.

OpenVEX: https://github.com/openvex/spec/blob/main/OPENVEX-SPEC.md (v0.2.0). CycloneDX:
https://cyclonedx.org/docs/1.6/json/#vulnerabilities_items_analysis. mamori's states map to
OpenVEX statuses as docs/vuln-decisions.md#vex-exports says: ``detected`` (not yet triaged) is
``under_investigation``, ``verified`` is ``fixed``. OpenVEX statuses map to CycloneDX's analysis
as the OpenVEX spec's "Status" and "Justification" equivalence tables do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from collections.abc import Sequence
from typing import Any, Final, assert_never

from mamori.vuln.decisions import Justification, Record, State

OPENVEX_CONTEXT: Final = "https://openvex.dev/ns/v0.2.0"
_NS: Final = uuid.UUID("6d616d6f-7269-4f76-a578-000000000001")
"""Namespace of the documents' uuid5 ids ("mamori" in its first bytes)."""


def openvex_status(state: State) -> str:
    """The OpenVEX status of a mamori state."""
    match state:
        case State.DETECTED | State.UNDER_INVESTIGATION:
            return "under_investigation"
        case State.NOT_AFFECTED:
            return "not_affected"
        case State.AFFECTED:
            return "affected"
        case State.FIXED | State.VERIFIED:
            return "fixed"
        case _:
            assert_never(state)


CYCLONEDX_STATE: Final = {
    "under_investigation": "in_triage",
    "not_affected": "not_affected",
    "affected": "exploitable",
    "fixed": "resolved",
}
"""OpenVEX status → CycloneDX ``analysis.state``."""

CYCLONEDX_JUSTIFICATION: Final = {
    Justification.COMPONENT_NOT_PRESENT: "code_not_present",
    Justification.VULNERABLE_CODE_NOT_PRESENT: "code_not_present",
    Justification.VULNERABLE_CODE_NOT_IN_EXECUTE_PATH: "code_not_reachable",
    Justification.VULNERABLE_CODE_CANNOT_BE_CONTROLLED_BY_ADVERSARY: "requires_environment",
    Justification.INLINE_MITIGATIONS_ALREADY_EXIST: "protected_by_mitigating_control",
}
"""OpenVEX justification → CycloneDX ``analysis.justification``."""


def _product(r: Record) -> str:
    """The product's id: its package URL, or (without one) a generic one made of its name."""
    return r.purl or f"pkg:generic/{r.name}@{r.version}"


def _stamp(t: dt.datetime) -> str:
    return t.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _doc_id(system: str, records: Sequence[Record], at: dt.datetime) -> uuid.UUID:
    digest = hashlib.sha256()
    for r in records:
        digest.update(repr((r.key, r.state.value, r.updated_at.isoformat())).encode())
    return uuid.uuid5(_NS, f"{system}\n{_stamp(at)}\n{digest.hexdigest()}")


def fix_detail(r: Record) -> str:
    if r.fix is None:
        return ""
    text = f"fixed in {r.fix.version} on {r.fix.date}, approved by {r.fix.approver}"
    return text + (" (verified by a rescan)" if r.state is State.VERIFIED else "")


def openvex(
    system: str, records: Sequence[Record], *, author: str, at: dt.datetime, version: int = 1
) -> dict[str, Any]:
    """An OpenVEX 0.2.0 document with one statement per finding."""
    statements = []
    for r in records:
        status = openvex_status(r.state)
        st: dict[str, Any] = {
            "vulnerability": {
                "name": r.vuln,
                **({"aliases": list(r.aliases)} if r.aliases else {}),
            },
            "products": [{"@id": _product(r)}],
            "status": status,
            "timestamp": _stamp(r.updated_at),
        }
        if status == "not_affected":
            st["justification"] = r.justification
            if r.statement:
                st["impact_statement"] = r.statement
        elif status == "affected":
            st["action_statement"] = r.statement
        elif status == "fixed":
            st["status_notes"] = fix_detail(r)
        elif r.statement:
            st["status_notes"] = r.statement
        statements.append(st)
    return {
        "@context": OPENVEX_CONTEXT,
        "@id": f"urn:uuid:{_doc_id(system, records, at)}",
        "author": author,
        "timestamp": _stamp(at),
        "version": version,
        "tooling": "mamori",
        "statements": statements,
    }


def cyclonedx(system: str, records: Sequence[Record], *, at: dt.datetime) -> dict[str, Any]:
    """A CycloneDX 1.6 BOM of the findings' components and their ``vulnerabilities`` with
    ``analysis`` (a VEX BOM)."""
    components: dict[str, dict[str, Any]] = {}
    vulns = []
    for r in records:
        ref = _product(r)
        components.setdefault(
            ref,
            {"type": "library", "bom-ref": ref, "name": r.name, "version": r.version}
            | ({"purl": r.purl} if r.purl else {}),
        )
        status = openvex_status(r.state)
        analysis: dict[str, Any] = {"state": CYCLONEDX_STATE[status]}
        if r.state is State.NOT_AFFECTED:
            analysis["justification"] = CYCLONEDX_JUSTIFICATION[Justification(r.justification)]
        if r.state is State.AFFECTED and r.fixed_versions:
            analysis["response"] = ["update"]
        detail = fix_detail(r) or r.statement
        if r.state is State.NOT_AFFECTED:
            detail = f"{r.justification}: {r.statement}" if r.statement else r.justification
        if detail:
            analysis["detail"] = detail
        analysis["lastUpdated"] = _stamp(r.updated_at)
        vuln: dict[str, Any] = {
            "bom-ref": f"{r.vuln}/{ref}",
            "id": r.vuln,
            "ratings": [{"severity": r.severity}],
            "analysis": analysis,
            "affects": [{"ref": ref}],
        }
        if r.aliases:
            vuln["references"] = [{"id": a, "source": {"name": _source(a)}} for a in r.aliases]
        vulns.append(vuln)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": f"urn:uuid:{_doc_id(system, records, at)}",
        "version": 1,
        "metadata": {
            "timestamp": _stamp(at),
            "tools": {"components": [{"type": "application", "name": "mamori"}]},
            "component": {"type": "application", "bom-ref": f"system:{system}", "name": system},
        },
        "components": list(components.values()),
        "vulnerabilities": vulns,
    }


def _source(vuln_id: str) -> str:
    """The database an id comes from, by its prefix (CVE, GHSA, PYSEC, DSA, …)."""
    return vuln_id.split("-", 1)[0] if "-" in vuln_id else "OSV"
