"""SBOM export and import: CycloneDX 1.6 (validated against the official schema) and SPDX 2.3
round trips, CycloneDX XML, foreign documents, refused XML."""

from __future__ import annotations

import json
import sys
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import pytest
from referencing import Registry, Resource

from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.dpkg import parse_status
from mamori.vuln.inventory.npm import parse_package_lock
from mamori.vuln.inventory.osrelease import OsRelease, os_component
from mamori.vuln.inventory.python import pypi_component, read_environment
from mamori.vuln.inventory.sbom_in import (
    from_purl,
    parse_cyclonedx_json,
    parse_cyclonedx_xml,
    parse_sbom,
    parse_spdx_json,
)
from mamori.vuln.inventory.sbom_out import dumps, to_cyclonedx, to_spdx
from mamori.vuln.inventory.spdxlic import COMMON_IDS, is_expression

from .test_dpkg import CRAFTED
from .test_npm import V3

SERIAL = uuid.UUID("12345678-1234-5678-1234-567812345678")
WHEN = datetime(2026, 5, 1, 9, 30, tzinfo=UTC)
DEBIAN12 = OsRelease(id="debian", version_id="12", pretty_name="Debian 12")


def sample() -> list[Component]:
    comps = parse_status(CRAFTED, DEBIAN12, "dpkg:status")
    comps += parse_package_lock(json.dumps(V3), "package-lock.json")
    comps.append(os_component(DEBIAN12, "/etc/os-release"))
    comps += [
        pypi_component("Dual", "1.0", "req.txt", ("MIT", "Apache-2.0")),
        pypi_component("expr", "2.0", "req.txt", ("MIT OR Apache-2.0",)),
        pypi_component("odd", "3.0", "req.txt", ("BSD License, see file",)),
        pypi_component("refd", "3.0", "req.txt", ("LicenseRef-foo",)),
        pypi_component("unpinned", "", "req.txt", (), (("specifier", ">=1"),)),
    ]
    if sys.prefix != sys.base_prefix:
        comps += read_environment(Path(sys.prefix))
    return comps


def _schema_validator() -> Any:
    import cyclonedx.schema

    res = Path(cyclonedx.schema.__file__).parent / "_res"
    registry: Registry[Any] = Registry()
    for name in ("spdx.SNAPSHOT.schema.json", "jsf-0.82.SNAPSHOT.schema.json"):
        resource = Resource.from_contents(json.loads((res / name).read_text()))
        # the bom schema's $id is http://cyclonedx.org/schema/bom-1.6.schema.json: its relative
        # $refs resolve against that, to these files' names (offline, no download)
        registry = registry.with_resource(f"http://cyclonedx.org/schema/{name}", resource)
    schema = json.loads((res / "bom-1.6.SNAPSHOT.schema.json").read_text())
    cls = jsonschema.validators.validator_for(schema)
    return cls(schema, registry=registry, format_checker=cls.FORMAT_CHECKER)


def _essentials(comps: list[Component]) -> set[tuple[str, str, str, tuple[str, ...]]]:
    return {(c.name, c.version, c.purl, c.licenses) for c in comps}


def test_cyclonedx_is_valid_and_round_trips() -> None:
    comps = sample()
    doc = to_cyclonedx("web-1", comps, serial=SERIAL, timestamp=WHEN)
    errors = sorted(_schema_validator().iter_errors(doc), key=str)
    assert errors == [], errors[:3]
    assert doc["serialNumber"] == f"urn:uuid:{SERIAL}"
    assert doc["metadata"]["timestamp"] == "2026-05-01T09:30:00Z"
    data = dumps(doc)
    back = parse_cyclonedx_json(data, "bom.json")
    assert _essentials(back) == _essentials(comps)
    # mamori's properties bring back everything else, too
    assert set(back) == set(comps)
    assert parse_sbom(data, "bom.json") == back


def test_cyclonedx_schema_rejects_a_broken_bom() -> None:
    doc = to_cyclonedx("web-1", sample()[:2], serial=SERIAL, timestamp=WHEN)
    doc["components"][0]["type"] = "no-such-type"
    assert list(_schema_validator().iter_errors(doc))


def test_export_is_deterministic() -> None:
    comps = sample()
    a = dumps(to_cyclonedx("s", comps, serial=SERIAL, timestamp=WHEN))
    b = dumps(to_cyclonedx("s", list(reversed(comps)), serial=SERIAL, timestamp=WHEN))
    assert a == b
    c = dumps(to_spdx("s", comps, namespace=SERIAL, created=WHEN))
    d = dumps(to_spdx("s", list(reversed(comps)), namespace=SERIAL, created=WHEN))
    assert c == d


def test_spdx_round_trip() -> None:
    comps = sample()
    doc = to_spdx("web-1", comps, namespace=SERIAL, created=WHEN)
    assert doc["spdxVersion"] == "SPDX-2.3"
    ids = {p["SPDXID"] for p in doc["packages"]}
    assert {r["relatedSpdxElement"] for r in doc["relationships"]} == ids
    assert all(p["licenseConcluded"] == "NOASSERTION" for p in doc["packages"])
    back = parse_spdx_json(dumps(doc), "x.spdx.json")
    # SPDX has one licence expression per package: several licences come back ANDed
    expected = {
        (c.name, c.version, c.purl, (" AND ".join(c.licenses),) if c.licenses else ())
        for c in comps
    }
    assert _essentials(back) == expected
    foo = next(c for c in back if c.name == "foo")
    assert (foo.ecosystem, foo.source_name, foo.source_version, foo.distro) == (
        "Debian",
        "foo-src",
        "2.3-3",
        "debian:12",
    )
    odd = next(c for c in back if c.name == "odd")
    assert odd.licenses == ("BSD License, see file",)


CDX_XML = """<?xml version="1.0" encoding="UTF-8"?>
<bom xmlns="http://cyclonedx.org/schema/bom/1.5" version="1">
  <components>
    <component type="application" bom-ref="a">
      <name>app</name><version>1.0</version>
      <licenses><expression>MIT OR Apache-2.0</expression></licenses>
      <components>
        <component type="library">
          <name>Django</name><version>4.2.1</version><purl>pkg:pypi/Django@4.2.1</purl>
          <licenses><license><id>BSD-3-Clause</id></license></licenses>
        </component>
      </components>
    </component>
    <component type="library">
      <name>core</name><version>7.0.0</version><purl>pkg:npm/%40babel/core@7.0.0</purl>
      <licenses><license><name>Custom</name></license></licenses>
    </component>
    <component type="library">
      <name>guava</name><version>32.0</version><purl>pkg:maven/com.google/guava@32.0</purl>
    </component>
  </components>
</bom>
"""


def test_cyclonedx_xml_nested() -> None:
    comps = {c.name: c for c in parse_cyclonedx_xml(CDX_XML.encode(), "bom.xml")}
    assert set(comps) == {"app", "django", "@babel/core", "guava"}
    assert comps["app"].kind == "application" and comps["app"].ecosystem == ""
    assert comps["app"].licenses == ("MIT OR Apache-2.0",)
    assert comps["django"].ecosystem == "PyPI" and comps["django"].licenses == ("BSD-3-Clause",)
    assert comps["@babel/core"].ecosystem == "npm" and comps["@babel/core"].licenses == ("Custom",)
    assert comps["guava"].ecosystem == ""  # not an ecosystem mamori audits: unaudited
    assert parse_sbom(CDX_XML.encode(), "bom.xml") == list(comps.values())


@pytest.mark.parametrize(
    "text",
    [
        '<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">]><bom/>',
        '<!ENTITY x SYSTEM "file:///etc/passwd">',
    ],
)
def test_xml_with_a_dtd_is_refused(text: str) -> None:
    with pytest.raises(VulnError, match="DOCTYPE or ENTITY"):
        parse_cyclonedx_xml(text.encode(), "bom.xml")


def test_foreign_json_documents() -> None:
    cdx = {
        "bomFormat": "CycloneDX",
        "specVersion": "1.4",
        "metadata": {"component": {"name": "me", "type": "application"}},
        "components": [
            {
                "name": "lodash",
                "version": "4.17.20",
                "purl": "pkg:npm/lodash@4.17.20",
                "licenses": [{"license": {"id": "MIT"}}],
                "components": [{"name": "inner", "version": "1", "type": "library"}],
            }
        ],
    }
    comps = parse_cyclonedx_json(json.dumps(cdx), "x")
    assert [(c.name, c.ecosystem, c.licenses) for c in comps] == [
        ("lodash", "npm", ("MIT",)),
        ("inner", "", ()),
    ]
    spdx = {
        "spdxVersion": "SPDX-2.2",
        "packages": [
            {
                "name": "openssl",
                "versionInfo": "3.0.11-1~deb12u2",
                "licenseConcluded": "Apache-2.0",
                "licenseDeclared": "NOASSERTION",
                "externalRefs": [
                    {
                        "referenceCategory": "PACKAGE_MANAGER",
                        "referenceType": "purl",
                        "referenceLocator": "pkg:deb/debian/openssl@3.0.11-1~deb12u2?distro=debian-12",
                    }
                ],
            },
            {"name": "nopurl", "versionInfo": "1"},
        ],
    }
    a, b = parse_spdx_json(json.dumps(spdx), "x")
    assert (a.ecosystem, a.distro, a.licenses) == ("Debian", "debian:12", ("Apache-2.0",))
    assert (b.ecosystem, b.purl) == ("", "")


@pytest.mark.parametrize(
    "doc",
    [
        b"{",
        b'{"bomFormat": "SomethingElse"}',
        b'{"bomFormat": "CycloneDX", "components": {}}',
        b'{"bomFormat": "CycloneDX", "components": [{"version": "1"}]}',
        b'{"bomFormat": "CycloneDX", "components": [{"name": 3}]}',
        b'{"bomFormat": "CycloneDX", "components": [{"name": "a", "licenses": 3}]}',
        b'{"spdxVersion": "SPDX-2.3", "packages": [{"name": "a", "versionInfo": 1}]}',
        b"<bom>not cyclonedx</bom>",
        b"<unclosed",
    ],
)
def test_malformed_sboms(doc: bytes) -> None:
    with pytest.raises(VulnError):
        parse_sbom(doc, "x")


def test_purls_and_licences() -> None:
    assert from_purl("pkg:pypi/Foo_Bar@1.0") == ("PyPI", "foo-bar", "1.0", "")
    assert from_purl("pkg:deb/ubuntu/x@1?distro=ubuntu-22.04") == (
        "Ubuntu",
        "x",
        "1",
        "ubuntu:22.04",
    )
    assert from_purl("not a purl") == ("", "", "", "")
    assert is_expression("MIT") and is_expression("(MIT OR Apache-2.0) AND BSD-3-Clause")
    assert is_expression("GPL-2.0-or-later WITH Classpath-exception-2.0")
    assert (
        not is_expression("BSD License") and not is_expression("MIT OR") and not is_expression("")
    )


def test_common_ids_are_on_cyclonedx_spdx_list() -> None:
    import cyclonedx.schema

    res = Path(cyclonedx.schema.__file__).parent / "_res" / "spdx.SNAPSHOT.schema.json"
    assert set(json.loads(res.read_text())["enum"]) >= COMMON_IDS
