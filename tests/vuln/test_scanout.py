"""Scan renderers (src/mamori/vuln/scanout.py): JSON schema as the issue states it, the table,
SARIF 2.1.0 (structure checked against the parts of the OASIS schema it uses: the official
schema is not available offline) and CycloneDX 1.6 (validated against the official schema)."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import orjson
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.vuln.components import Component
from mamori.vuln.scan import ScanResult, Threshold, scan
from mamori.vuln.scanout import (
    ANALYSIS_STATES,
    FINGERPRINT,
    to_cyclonedx_vex,
    to_json,
    to_sarif,
    to_table,
)

from .inventory.test_sbom import _schema_validator
from .test_scan import FOO_1, FRESH, MEDIUM, TODAY, Lookup, pypi, record

DEB = Component(
    "libssl3",
    "3.0.11-1~deb12u1",
    "Debian",
    "pkg:deb/debian/libssl3@3.0.11-1~deb12u1?distro=debian-12",
    source_name="openssl",
    distro="debian:12",
    found_in="/var/lib/dpkg/status",
)
DSA = record(
    "DEBIAN-CVE-2023-5678",
    "openssl",
    [{"introduced": "0"}, {"fixed": "3.0.11-1~deb12u2"}],
    ecosystem="Debian:12",
    aliases=["CVE-2023-5678"],
    vector=MEDIUM,
)
UNAUDITED = Component("thing", "1.0", "", "pkg:generic/thing@1.0", found_in="sbom.json")


def sample(decisions: dict[tuple[str, str, str], str] | None = None) -> ScanResult:
    comps = [pypi("foo", "1.0"), pypi("foo", "1.2"), DEB, UNAUDITED]
    return scan(comps, Lookup(FOO_1, DSA), database=FRESH, today=TODAY, decisions=decisions or {})


def test_json_has_the_issue_schema() -> None:
    doc = to_json(sample({("PyPI", "foo", "CVE-2026-1"): "not_affected"}), Threshold.LOW)
    orjson.dumps(doc)  # plain JSON
    assert set(doc) >= {"findings", "eol", "unaudited", "summary", "database"}
    f = doc["findings"][1]
    assert f["purl"] == "pkg:pypi/foo@1.0" and f["id"] == "CVE-2026-1"
    assert f["aliases"] == ["PYSEC-1"] and f["fixed"] == ["1.2"]
    assert f["severity"] == {"label": "high", "score": 7.5, "source": "CVSS_V3"}
    assert f["state"] == "not_affected" and f["fails"] is False
    (u,) = doc["unaudited"]
    assert u["purl"] == "pkg:generic/thing@1.0" and "no known ecosystem" in u["reason"]
    s = doc["summary"]
    assert s["findings"] == 2 and s["failing"] == 1 and s["unaudited"] == 1
    assert s["exit_code"] == 2 and s["by_state"] == {"detected": 1, "not_affected": 1}
    assert doc["database"]["records"] == 100 and doc["database"]["stale"] is False


def test_table_lists_findings_unaudited_and_the_verdict() -> None:
    text = to_table(sample(), Threshold.LOW)
    assert "CVE-2026-1" in text and "foo 1.0" in text and "detected" in text
    assert "3.0.11-1~deb12u2" in text
    assert "unaudited (1):\n  thing 1.0: no known ecosystem" in text
    assert text.rstrip().endswith("UNDECIDED (exit 2): 1 item(s) could not be audited")
    clean = scan([pypi("foo", "1.2")], Lookup(FOO_1), database=FRESH, today=TODAY)
    assert "no findings" in to_table(clean) and "CLEAN (exit 0)" in to_table(clean)


# The parts of the SARIF 2.1.0 schema (OASIS, sarif-schema-2.1.0.json) that mamori writes.
_MESSAGE = {"type": "object", "required": ["text"], "properties": {"text": {"type": "string"}}}
SARIF_SUBSET: dict[str, Any] = {
    "type": "object",
    "required": ["version", "runs"],
    "properties": {
        "version": {"const": "2.1.0"},
        "$schema": {"type": "string", "format": "uri"},
        "runs": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["tool"],
                "properties": {
                    "tool": {
                        "type": "object",
                        "required": ["driver"],
                        "properties": {
                            "driver": {
                                "type": "object",
                                "required": ["name"],
                                "properties": {
                                    "name": {"type": "string"},
                                    "rules": {
                                        "type": "array",
                                        "items": {
                                            "type": "object",
                                            "required": ["id"],
                                            "properties": {
                                                "id": {"type": "string"},
                                                "shortDescription": _MESSAGE,
                                                "helpUri": {"type": "string", "format": "uri"},
                                            },
                                        },
                                    },
                                },
                            }
                        },
                    },
                    "invocations": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["executionSuccessful"],
                            "properties": {
                                "executionSuccessful": {"type": "boolean"},
                                "toolExecutionNotifications": {
                                    "type": "array",
                                    "items": {"type": "object", "required": ["message"]},
                                },
                            },
                        },
                    },
                    "results": {
                        "type": "array",
                        "items": {
                            "type": "object",
                            "required": ["message"],
                            "properties": {
                                "ruleId": {"type": "string"},
                                "ruleIndex": {"type": "integer", "minimum": -1},
                                "level": {"enum": ["none", "note", "warning", "error"]},
                                "message": _MESSAGE,
                                "locations": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "properties": {
                                            "physicalLocation": {
                                                "type": "object",
                                                "required": ["artifactLocation"],
                                                "properties": {
                                                    "artifactLocation": {
                                                        "type": "object",
                                                        "required": ["uri"],
                                                        "properties": {
                                                            "uri": {
                                                                "type": "string",
                                                                "format": "uri-reference",
                                                            }
                                                        },
                                                    }
                                                },
                                            }
                                        },
                                    },
                                },
                                "partialFingerprints": {
                                    "type": "object",
                                    "additionalProperties": {"type": "string"},
                                },
                                "suppressions": {
                                    "type": "array",
                                    "items": {
                                        "type": "object",
                                        "required": ["kind"],
                                        "properties": {
                                            "kind": {"enum": ["inSource", "external"]},
                                            "status": {
                                                "enum": ["accepted", "underReview", "rejected"]
                                            },
                                        },
                                    },
                                },
                            },
                        },
                    },
                },
            },
        },
    },
}


def check_sarif(doc: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(
        SARIF_SUBSET, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    errors = sorted(validator.iter_errors(orjson.loads(orjson.dumps(doc))), key=str)
    assert not errors, errors
    (run,) = doc["runs"]
    rules = run["tool"]["driver"]["rules"]
    assert len({r["id"] for r in rules}) == len(rules)  # one rule per vulnerability id
    for res in run["results"]:
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]


def test_sarif_structure() -> None:
    doc = to_sarif(sample({("Debian", "libssl3", "CVE-2023-5678"): "fixed"}), Threshold.LOW)
    check_sarif(doc)
    (run,) = doc["runs"]
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["CVE-2023-5678", "CVE-2026-1"]
    deb, foo = run["results"]
    assert deb["level"] == "warning" and foo["level"] == "error"
    assert deb["suppressions"][0]["justification"] == "fixed" and "suppressions" not in foo
    uri = deb["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
    assert uri == "file:///var/lib/dpkg/status"
    assert foo["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "req.txt"
    assert len(foo["partialFingerprints"][FINGERPRINT]) == 64
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False and "thing 1.0" in str(inv)


def test_sarif_fingerprint_is_stable_across_versions() -> None:
    a = to_sarif(scan([pypi("foo", "1.0")], Lookup(FOO_1), database=FRESH, today=TODAY))
    b = to_sarif(scan([pypi("foo", "1.1")], Lookup(FOO_1), database=FRESH, today=TODAY))
    fp = [d["runs"][0]["results"][0]["partialFingerprints"] for d in (a, b)]
    assert fp[0] == fp[1]


def cdx(result: ScanResult) -> dict[str, Any]:
    when = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
    return to_cyclonedx_vex(result, "web-1", serial=uuid.UUID(int=1), timestamp=when)


def test_cyclonedx_is_valid_with_vulnerabilities() -> None:
    doc = cdx(sample({("PyPI", "foo", "PYSEC-1"): "not_affected"}))
    errors = sorted(_schema_validator().iter_errors(doc), key=str)
    assert not errors, errors
    refs = {c["bom-ref"] for c in doc["components"]}
    vulns = {v["id"]: v for v in doc["vulnerabilities"]}
    assert set(vulns) == {"CVE-2023-5678", "CVE-2026-1"}
    foo = vulns["CVE-2026-1"]
    assert foo["analysis"]["state"] == "not_affected"
    assert foo["affects"] == [{"ref": "pkg:pypi/foo@1.0"}]
    assert foo["ratings"] == [{"severity": "high", "method": "CVSSv3", "score": 7.5}]
    assert foo["source"]["url"] == "https://nvd.nist.gov/vuln/detail/CVE-2026-1"
    assert vulns["CVE-2023-5678"]["analysis"]["state"] == "in_triage"
    assert all(a["ref"] in refs for v in doc["vulnerabilities"] for a in v["affects"])


def test_analysis_states_cover_the_decision_states() -> None:
    assert ANALYSIS_STATES == {
        "not_affected": "not_affected",
        "fixed": "resolved",
        "verified": "resolved",
        "affected": "exploitable",
        "under_investigation": "in_triage",
        "detected": "in_triage",
    }


_STATES = st.one_of(st.sampled_from([*ANALYSIS_STATES, "false_positive"]), st.text(max_size=12))


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    decisions=st.dictionaries(
        st.tuples(
            st.sampled_from(["PyPI", "Debian", "npm"]),
            st.sampled_from(["foo", "libssl3", "openssl", "x"]),
            st.sampled_from(["CVE-2026-1", "PYSEC-1", "CVE-2023-5678", "Y"]),
        ),
        _STATES,
        max_size=6,
    ),
    threshold=st.sampled_from(list(Threshold)),
)
def test_random_decisions_never_break_the_renderers(
    decisions: dict[tuple[str, str, str], str], threshold: Threshold
) -> None:
    result = sample(decisions)
    orjson.dumps(to_json(result, threshold))
    to_table(result, threshold)
    check_sarif(to_sarif(result, threshold))
    doc = cdx(result)
    assert not list(_schema_validator().iter_errors(doc))
