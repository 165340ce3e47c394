"""Import SBOMs (pure): CycloneDX 1.4–1.6 JSON and XML, SPDX 2.3 JSON.

A component's ecosystem comes from its purl's type (pypi, npm, deb with namespace debian or
ubuntu); any other type keeps ecosystem "" and will be reported as unaudited. CycloneDX
``mamori:*`` properties, written by :mod:`.sbom_out`, are read back.
"""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Iterator, Mapping
from typing import Any

from packageurl import PackageURL

from mamori.vuln.components import DEBIAN, NPM, PYPI, UBUNTU, Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.python import normalise
from mamori.vuln.inventory.sbom_out import PROP

MAX_DEPTH = 100
"""Nested CycloneDX components deeper than this are refused (a hostile document)."""
_SOURCE_INFO = re.compile(r"^built from source package (\S+)(?: (\S+))?$")


def from_purl(purl: str) -> tuple[str, str, str, str]:
    """(ecosystem, name, version, distro) of a purl; ("", "", "", "") when it does not parse."""
    try:
        p = PackageURL.from_string(purl)
    except (ValueError, TypeError):
        return ("", "", "", "")
    name = f"{p.namespace}/{p.name}" if p.type == "npm" and p.namespace else p.name
    q = p.qualifiers if isinstance(p.qualifiers, dict) else {}
    distro = str(q.get("distro", "")).replace("-", ":", 1) if p.type == "deb" else ""
    ecosystem = ""
    if p.type == "pypi":
        ecosystem, name = PYPI, normalise(name)
    elif p.type == "npm":
        ecosystem = NPM
    elif p.type == "deb" and p.namespace in ("debian", "ubuntu"):
        ecosystem = DEBIAN if p.namespace == "debian" else UBUNTU
    return (ecosystem, name, p.version or "", distro)


def _component(
    name: str,
    version: str,
    purl: str,
    licenses: tuple[str, ...],
    found_in: str,
    kind: str,
    props: list[tuple[str, str]],
) -> Component:
    ecosystem, purl_name, _, distro = from_purl(purl) if purl else ("", "", "", "")
    mine = {k[len(PROP) :]: v for k, v in props if k.startswith(PROP)}
    return Component(
        name=purl_name if ecosystem in (PYPI, NPM) else name,
        version=version,
        ecosystem=mine.get("ecosystem", ecosystem),
        purl=purl,
        licenses=licenses,
        found_in=mine.get("found_in", found_in),
        kind=kind or "library",
        source_name=mine.get("source_name", ""),
        source_version=mine.get("source_version", ""),
        distro=mine.get("distro", distro),
        properties=tuple(
            (k[len(PROP + "property:") :], v) for k, v in props if k.startswith(PROP + "property:")
        ),
    )


def _text(value: Any, what: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise VulnError(f"{what} is not text")
    return value


# --- CycloneDX JSON ------------------------------------------------------------------------


def _cdx_json_licenses(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if not isinstance(value, list):
        raise VulnError("a component's `licenses` is not an array")
    out = []
    for choice in value:
        if not isinstance(choice, Mapping):
            raise VulnError("a licence choice is not an object")
        if "expression" in choice:
            out.append(_text(choice["expression"], "a licence expression"))
        elif isinstance(lic := choice.get("license"), Mapping):
            out.append(_text(lic.get("id") or lic.get("name"), "a licence id or name"))
    return tuple(x for x in out if x)


def _cdx_json_components(items: Any, found_in: str, depth: int = 0) -> Iterator[Component]:
    if items is None:
        return
    if not isinstance(items, list) or depth > MAX_DEPTH:
        raise VulnError("`components` is not an array (or is nested too deep)")
    for i, c in enumerate(items):
        if not isinstance(c, Mapping):
            raise VulnError(f"component #{i + 1} is not an object")
        name = _text(c.get("name"), f"component #{i + 1}'s name")
        if not name:
            raise VulnError(f"component #{i + 1} has no name")
        props = c.get("properties") or []
        if not isinstance(props, list) or not all(isinstance(p, Mapping) for p in props):
            raise VulnError(f"component {name!r}: `properties` is not an array of objects")
        pairs = [(_text(p.get("name"), "a property name"), str(p.get("value", ""))) for p in props]
        yield _component(
            name,
            _text(c.get("version"), f"{name}'s version"),
            _text(c.get("purl"), f"{name}'s purl"),
            _cdx_json_licenses(c.get("licenses")),
            found_in,
            _text(c.get("type"), f"{name}'s type"),
            pairs,
        )
        yield from _cdx_json_components(c.get("components"), found_in, depth + 1)


def parse_cyclonedx_json(data: bytes | str, found_in: str) -> list[Component]:
    """The components of a CycloneDX JSON BOM, nested ones included (not the metadata
    component: that is the subject of the BOM, not a part of it)."""
    doc = _json(data)
    if not isinstance(doc, Mapping) or doc.get("bomFormat") != "CycloneDX":
        raise VulnError("not a CycloneDX BOM (no bomFormat: CycloneDX)")
    return list(_cdx_json_components(doc.get("components"), found_in))


def _json(data: bytes | str) -> Any:
    try:
        return json.loads(data)
    except (ValueError, RecursionError) as e:
        raise VulnError(f"not JSON: {e}") from e


# --- CycloneDX XML -------------------------------------------------------------------------


def _refuse_dtd(data: bytes) -> None:
    # Entity expansion ("billion laughs") and external entities need a DTD: refuse any.
    head = data.upper()
    if b"<!DOCTYPE" in head or b"<!ENTITY" in head:
        raise VulnError(
            "the XML document has a DOCTYPE or ENTITY declaration, which mamori refuses",
            hint="CycloneDX XML needs neither: remove the declaration, or export JSON",
        )


def parse_cyclonedx_xml(data: bytes | str, found_in: str) -> list[Component]:
    """The components of a CycloneDX XML BOM (schema namespace .../schema/bom/1.x)."""
    raw = data.encode("utf-8") if isinstance(data, str) else data
    _refuse_dtd(raw)
    try:
        root = ET.fromstring(raw)  # noqa: S314 - no DTD (refused above)
    except (ET.ParseError, ValueError) as e:
        raise VulnError(f"not well-formed XML: {e}") from e
    m = re.match(r"^\{(http://cyclonedx\.org/schema/bom/1\.\d+)\}bom$", root.tag)
    if not m:
        raise VulnError(f"not a CycloneDX XML BOM (root element {root.tag[:80]!r})")
    ns = "{" + m[1] + "}"
    return list(_cdx_xml_components(root.find(ns + "components"), ns, found_in))


def _cdx_xml_components(
    parent: ET.Element | None, ns: str, found_in: str, depth: int = 0
) -> Iterator[Component]:
    if parent is None:
        return
    if depth > MAX_DEPTH:
        raise VulnError("components are nested too deep")
    for c in parent.findall(ns + "component"):
        name = (c.findtext(ns + "name") or "").strip()
        if not name:
            raise VulnError("a component has no name")
        licenses: list[str] = []
        for choice in c.findall(ns + "licenses/*"):
            if choice.tag == ns + "expression":
                licenses.append((choice.text or "").strip())
            elif choice.tag == ns + "license":
                licenses.append(
                    (choice.findtext(ns + "id") or choice.findtext(ns + "name") or "").strip()
                )
        props = [
            (p.get("name", ""), p.text or "")
            for p in c.findall(ns + "properties/" + ns + "property")
        ]
        yield _component(
            name,
            (c.findtext(ns + "version") or "").strip(),
            (c.findtext(ns + "purl") or "").strip(),
            tuple(x for x in licenses if x),
            found_in,
            c.get("type", ""),
            props,
        )
        yield from _cdx_xml_components(c.find(ns + "components"), ns, found_in, depth + 1)


# --- SPDX 2.3 JSON -------------------------------------------------------------------------


def _spdx_license(p: Mapping[str, Any], refs: Mapping[str, str]) -> tuple[str, ...]:
    for key in ("licenseDeclared", "licenseConcluded"):
        value = _text(p.get(key), key)
        if value and value not in ("NOASSERTION", "NONE"):
            return (refs.get(value, value),)
    return ()


def parse_spdx_json(data: bytes | str, found_in: str) -> list[Component]:
    """The packages of an SPDX 2.x JSON document: name, versionInfo, the purl external
    reference, licenseDeclared (else licenseConcluded)."""
    doc = _json(data)
    if not isinstance(doc, Mapping) or not str(doc.get("spdxVersion", "")).startswith("SPDX-2"):
        raise VulnError("not an SPDX 2 JSON document (no spdxVersion: SPDX-2.x)")
    infos = doc.get("hasExtractedLicensingInfos") or []
    refs = {
        str(i["licenseId"]): str(i.get("name") or i.get("extractedText") or i["licenseId"])
        for i in (infos if isinstance(infos, list) else [])
        if isinstance(i, Mapping) and "licenseId" in i
    }
    packages = doc.get("packages") or []
    if not isinstance(packages, list):
        raise VulnError("`packages` is not an array")
    out = []
    for i, p in enumerate(packages):
        if not isinstance(p, Mapping):
            raise VulnError(f"package #{i + 1} is not an object")
        name = _text(p.get("name"), f"package #{i + 1}'s name")
        purl = ""
        ext = p.get("externalRefs") or []
        for ref in ext if isinstance(ext, list) else []:
            if (
                isinstance(ref, Mapping)
                and ref.get("referenceType") == "purl"
                and ref.get("referenceCategory") in ("PACKAGE-MANAGER", "PACKAGE_MANAGER")
            ):
                purl = _text(ref.get("referenceLocator"), f"{name}'s purl")
                break
        purpose = _text(p.get("primaryPackagePurpose"), "primaryPackagePurpose").lower()
        comp = _component(
            name,
            _text(p.get("versionInfo"), f"{name}'s versionInfo"),
            purl,
            _spdx_license(p, refs),
            found_in,
            purpose if purpose and purpose not in ("other", "install") else "library",
            [],
        )
        if m := _SOURCE_INFO.match(_text(p.get("sourceInfo"), "sourceInfo")):
            sname, sversion = m[1], m[2] or ""
            comp = _with_source(comp, sname, sversion)
        out.append(comp)
    return out


def _with_source(c: Component, name: str, version: str) -> Component:
    from dataclasses import replace

    return replace(
        c,
        source_name="" if name == c.name else name,
        source_version="" if version == c.version else version,
    )


def parse_sbom(data: bytes, found_in: str) -> list[Component]:
    """Any of the above, by content: XML, CycloneDX JSON or SPDX JSON."""
    if data.lstrip()[:1] == b"<":
        return parse_cyclonedx_xml(data, found_in)
    doc = _json(data)
    if isinstance(doc, Mapping) and "spdxVersion" in doc:
        return parse_spdx_json(data, found_in)
    return parse_cyclonedx_json(data, found_in)
