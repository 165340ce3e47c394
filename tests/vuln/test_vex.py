"""VEX exports: OpenVEX 0.2.0 (structure) and CycloneDX 1.6 (the official schema, offline)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
from referencing import Registry, Resource

from mamori.vuln.decisions import Fix, Justification, Record, State
from mamori.vuln.vex import CYCLONEDX_JUSTIFICATION, cyclonedx, openvex, openvex_status

AT = dt.datetime(2026, 6, 10, 0, 0, tzinfo=dt.UTC)


def rec(state: State, vuln: str, **kw: Any) -> Record:
    base: dict[str, Any] = dict(
        system="web1", ecosystem="PyPI", name="requests", vuln=vuln, version="2.30.0",
        purl="pkg:pypi/requests@2.30.0", aliases=("GHSA-9wx4-h78v-vm56",), severity="medium",
        fixed_versions=("2.32.0",), state=state, detected_at=AT, deadline=dt.date(2026, 9, 8),
        updated_at=AT, justification="", statement="", fix=None, missed="",
    )  # fmt: skip
    base.update(kw)
    return Record(**base)


RECORDS = [
    rec(State.DETECTED, "CVE-2024-1"),
    rec(State.UNDER_INVESTIGATION, "CVE-2024-2", statement="asking the vendor"),
    rec(State.NOT_AFFECTED, "CVE-2024-3", justification="vulnerable_code_not_in_execute_path",
        statement="verify=False is never used"),
    rec(State.AFFECTED, "CVE-2024-4", statement="upgrade to 2.32.0 on 2026-07-01"),
    rec(State.FIXED, "CVE-2024-5", fix=Fix("2.32.0", dt.date(2026, 6, 9), "sato")),
    rec(State.VERIFIED, "CVE-2024-6", fix=Fix("2.32.0", dt.date(2026, 6, 9), "sato"), purl="",
        aliases=()),
]  # fmt: skip


def test_openvex_document() -> None:
    doc = openvex("web1", RECORDS, author="ops@example.jp", at=AT)
    assert doc["@context"] == "https://openvex.dev/ns/v0.2.0"
    assert doc["@id"].startswith("urn:uuid:")
    assert (doc["author"], doc["timestamp"], doc["version"]) == ("ops@example.jp",
                                                                "2026-06-10T00:00:00Z", 1)  # fmt: skip
    statuses = [s["status"] for s in doc["statements"]]
    assert statuses == ["under_investigation", "under_investigation", "not_affected", "affected",
                        "fixed", "fixed"]  # fmt: skip
    for s in doc["statements"]:
        assert set(s) <= {
            "vulnerability",
            "products",
            "status",
            "justification",
            "impact_statement",
            "action_statement",
            "status_notes",
            "timestamp",
        }
        assert s["vulnerability"]["name"].startswith("CVE-")
        assert s["products"] and all("@id" in p for p in s["products"])
        # OpenVEX v0.2.0: not_affected MUST have a justification or impact statement,
        # affected MUST have an action statement
        if s["status"] == "not_affected":
            assert s["justification"] in {j.value for j in Justification}
        if s["status"] == "affected":
            assert s["action_statement"]
    na = doc["statements"][2]
    assert na["impact_statement"] == "verify=False is never used"
    assert doc["statements"][0]["vulnerability"]["aliases"] == ["GHSA-9wx4-h78v-vm56"]
    assert doc["statements"][5]["products"] == [{"@id": "pkg:generic/requests@2.30.0"}]
    assert "approved by sato" in doc["statements"][4]["status_notes"]
    # the same decisions give the same document id
    assert openvex("web1", RECORDS, author="x", at=AT)["@id"] == doc["@id"]


def _validator() -> Any:
    import cyclonedx.schema

    res = Path(cyclonedx.schema.__file__).parent / "_res"
    registry: Registry[Any] = Registry()
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        resource = Resource.from_contents(json.loads((res / name).read_text()))
        registry = registry.with_resource(f"http://cyclonedx.org/schema/{name}", resource)
    schema = json.loads((res / "bom-1.6.SNAPSHOT.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def test_cyclonedx_vex_is_valid_1_6() -> None:
    doc = cyclonedx("web1", RECORDS, at=AT)
    errors = sorted(_validator().iter_errors(doc), key=str)
    assert errors == []
    states = [v["analysis"]["state"] for v in doc["vulnerabilities"]]
    assert states == ["in_triage", "in_triage", "not_affected", "exploitable", "resolved",
                      "resolved"]  # fmt: skip
    na = doc["vulnerabilities"][2]["analysis"]
    assert na["justification"] == "code_not_reachable"
    assert doc["vulnerabilities"][3]["analysis"]["response"] == ["update"]
    assert len(doc["components"]) == 2  # one purl, one generic


def test_every_justification_maps_to_a_cyclonedx_one() -> None:
    schema = json.loads(
        (Path(__import__("cyclonedx.schema").schema.__file__).parent / "_res"
         / "bom-1.6.SNAPSHOT.schema.json").read_text()
    )  # fmt: skip
    allowed = set(schema["definitions"]["impactAnalysisJustification"]["enum"])
    assert set(CYCLONEDX_JUSTIFICATION) == set(Justification)
    assert set(CYCLONEDX_JUSTIFICATION.values()) <= allowed
    for state in State:
        assert openvex_status(state) in {"under_investigation", "not_affected", "affected", "fixed"}
    for j in Justification:
        doc = cyclonedx("w", [rec(State.NOT_AFFECTED, "CVE-1", justification=j.value)], at=AT)
        assert _validator().is_valid(doc)
