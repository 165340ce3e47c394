"""Export an inventory as CycloneDX 1.6 JSON or SPDX 2.3 JSON (pure, deterministic).

The same components give the same document, but for the serial number / namespace and the
time, which are parameters. What the formats have no field for (ecosystem, where a component
was found, its Debian source package) goes into CycloneDX ``mamori:*`` properties; SPDX keeps
the source package in ``sourceInfo``.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import orjson

from mamori.vuln.components import Component
from mamori.vuln.inventory.model import sort_key
from mamori.vuln.inventory.spdxlic import COMMON_IDS, is_expression

TOOL = "mamori"
PROP = "mamori:"
"""The prefix of mamori's CycloneDX properties (mamori:ecosystem, mamori:found_in, …)."""
CDX_TYPES = frozenset(
    {
        "application", "framework", "library", "container", "platform", "operating-system",
        "device", "device-driver", "firmware", "file", "machine-learning-model", "data",
        "cryptographic-asset",
    }
)  # fmt: skip
"""CycloneDX 1.6 component types; any other kind is exported as ``library``."""
SPDX_PURPOSES = frozenset(
    {
        "APPLICATION", "FRAMEWORK", "LIBRARY", "CONTAINER", "OPERATING-SYSTEM", "DEVICE",
        "FIRMWARE", "SOURCE", "ARCHIVE", "FILE", "INSTALL", "OTHER",
    }
)  # fmt: skip


def _time(when: datetime) -> str:
    return when.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _tool_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("mamori")
    except PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "0"


def cdx_licenses(licenses: Sequence[str]) -> list[dict[str, Any]]:
    """CycloneDX ``licenses``: a listed id as ``license.id``, one expression alone as
    ``expression`` (the schema allows an expression only as the single entry), else names."""
    if len(licenses) == 1 and licenses[0] not in COMMON_IDS and is_expression(licenses[0]):
        return [{"expression": licenses[0]}]
    return [
        {"license": {"id": x}} if x in COMMON_IDS else {"license": {"name": x}} for x in licenses
    ]


def _cdx_properties(c: Component) -> list[dict[str, str]]:
    props = [
        ("ecosystem", c.ecosystem),
        ("found_in", c.found_in),
        ("source_name", c.source_name),
        ("source_version", c.source_version),
        ("distro", c.distro),
    ]
    out = [{"name": PROP + k, "value": v} for k, v in props if v]
    out += [{"name": f"{PROP}property:{k}", "value": v} for k, v in c.properties]
    return out


def to_cyclonedx(
    system: str, components: Sequence[Component], *, serial: uuid.UUID, timestamp: datetime
) -> dict[str, Any]:
    """A CycloneDX 1.6 BOM of `system` (its metadata component) and its components."""
    ordered = sorted(components, key=sort_key)
    purls = Counter(c.purl for c in ordered)
    items = []
    for i, c in enumerate(ordered, 1):
        item: dict[str, Any] = {
            "bom-ref": c.purl if c.purl and purls[c.purl] == 1 else f"component-{i}",
            "type": c.kind if c.kind in CDX_TYPES else "library",
            "name": c.name,
        }
        if c.version:
            item["version"] = c.version
        if c.purl:
            item["purl"] = c.purl
        if c.licenses:
            item["licenses"] = cdx_licenses(c.licenses)
        if props := _cdx_properties(c):
            item["properties"] = props
        items.append(item)
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.6",
        "serialNumber": serial.urn,
        "version": 1,
        "metadata": {
            "timestamp": _time(timestamp),
            "tools": {
                "components": [{"type": "application", "name": TOOL, "version": _tool_version()}]
            },
            "component": {"bom-ref": f"system:{system}", "type": "platform", "name": system},
        },
        "components": items,
    }


def spdx_license(licenses: Sequence[str], refs: dict[str, str]) -> str:
    """One SPDX expression for `licenses` (joined with AND); free-text names become
    ``LicenseRef-`` ids recorded in `refs` (id → text). NOASSERTION when there are none."""
    parts = []
    for text in licenses:
        if is_expression(text):
            parts.append(f"({text})" if len(licenses) > 1 and " " in text else text)
        else:
            ref = next((k for k, v in refs.items() if v == text), "")
            if not ref:
                ref = f"LicenseRef-mamori-{len(refs) + 1}"
                refs[ref] = text
            parts.append(ref)
    return " AND ".join(parts) or "NOASSERTION"


def to_spdx(
    system: str, components: Sequence[Component], *, namespace: uuid.UUID, created: datetime
) -> dict[str, Any]:
    """An SPDX 2.3 document describing every component of `system`.

    ``licenseDeclared`` is what the source states; ``licenseConcluded`` is NOASSERTION, as
    mamori draws no conclusion of its own about a package's licence.
    """
    ordered = sorted(components, key=sort_key)
    refs: dict[str, str] = {}
    packages = []
    for i, c in enumerate(ordered, 1):
        purpose = c.kind.upper()
        pkg: dict[str, Any] = {
            "SPDXID": f"SPDXRef-Package-{i}",
            "name": c.name,
            "downloadLocation": "NOASSERTION",
            "filesAnalyzed": False,
            "licenseConcluded": "NOASSERTION",
            "licenseDeclared": spdx_license(c.licenses, refs),
            "copyrightText": "NOASSERTION",
            "primaryPackagePurpose": purpose if purpose in SPDX_PURPOSES else "LIBRARY",
        }
        if c.version:
            pkg["versionInfo"] = c.version
        if c.purl:
            pkg["externalRefs"] = [
                {
                    "referenceCategory": "PACKAGE-MANAGER",
                    "referenceType": "purl",
                    "referenceLocator": c.purl,
                }
            ]
        if c.source_name or c.source_version:
            pkg["sourceInfo"] = (
                f"built from source package {c.match_name} {c.match_version}".rstrip()
            )
        packages.append(pkg)
    doc: dict[str, Any] = {
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": system,
        "documentNamespace": f"https://spdx.org/spdxdocs/mamori-{system}-{namespace}",
        "creationInfo": {
            "created": _time(created),
            "creators": [f"Tool: {TOOL}-{_tool_version()}"],
        },
        "packages": packages,
        "relationships": [
            {
                "spdxElementId": "SPDXRef-DOCUMENT",
                "relationshipType": "DESCRIBES",
                "relatedSpdxElement": p["SPDXID"],
            }
            for p in packages
        ],
    }
    if refs:
        doc["hasExtractedLicensingInfos"] = [
            {"licenseId": k, "name": v, "extractedText": v} for k, v in refs.items()
        ]
    return doc


def dumps(doc: dict[str, Any]) -> bytes:
    """A document as indented JSON with a final newline."""
    return orjson.dumps(doc, option=orjson.OPT_INDENT_2) + b"\n"
