"""Every parser, fed anything: components or VulnError, never another exception."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.diff import diff
from mamori.vuln.inventory.dpkg import parse_status
from mamori.vuln.inventory.model import Inventory
from mamori.vuln.inventory.npm import parse_package_lock
from mamori.vuln.inventory.osrelease import OsRelease, parse_os_release
from mamori.vuln.inventory.pyreq import (
    parse_poetry_lock,
    parse_pylock,
    parse_requirements,
    parse_uv_lock,
)
from mamori.vuln.inventory.python import parse_distributions, parse_metadata
from mamori.vuln.inventory.sbom_in import (
    parse_cyclonedx_json,
    parse_cyclonedx_xml,
    parse_sbom,
    parse_spdx_json,
)
from mamori.vuln.inventory.spdxlic import is_expression

FUZZ = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# JSON values, biased towards the keys the parsers look for
KEYS = st.sampled_from(
    [
        "bomFormat", "specVersion", "components", "name", "version", "purl", "licenses",
        "license", "id", "expression", "properties", "value", "type", "spdxVersion",
        "packages", "versionInfo", "externalRefs", "referenceType", "referenceCategory",
        "referenceLocator", "licenseDeclared", "licenseConcluded", "sourceInfo",
        "hasExtractedLicensingInfos", "licenseId", "lockfileVersion", "dependencies", "dev",
        "link", "node_modules/a", "", "primaryPackagePurpose",
    ]
)  # fmt: skip
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.text(max_size=20)
    | st.sampled_from(
        [
            "CycloneDX",
            "SPDX-2.3",
            "purl",
            "PACKAGE-MANAGER",
            "pkg:npm/%40a/b@1",
            "pkg:deb/debian/x@1",
        ]
    )
)
JSON = st.recursive(
    SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(KEYS | st.text(), inner, max_size=5)
    ),
    max_leaves=30,
)


def _ok(parse: Callable[[], Any]) -> None:
    with contextlib.suppress(VulnError):
        parse()


@pytest.mark.parametrize(
    "parse",
    [parse_cyclonedx_json, parse_spdx_json, parse_package_lock, parse_sbom, parse_distributions],
)
@FUZZ
@given(doc=JSON)
def test_json_parsers(parse: Callable[..., object], doc: object) -> None:
    data = json.dumps(doc).encode()
    _ok(lambda: parse(data if parse is not parse_distributions else data.decode(), "f"))


@pytest.mark.parametrize("base", [{"bomFormat": "CycloneDX"}, {"spdxVersion": "SPDX-2.3"}])
@FUZZ
@given(body=st.dictionaries(KEYS, JSON, max_size=4))
def test_sbom_shaped_documents(base: dict[str, Any], body: dict[str, Any]) -> None:
    _ok(lambda: parse_sbom(json.dumps({**body, **base}).encode(), "f"))


@FUZZ
@given(data=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_bytes_parsers(data: bytes) -> None:
    for parse in (parse_cyclonedx_xml, parse_sbom, parse_package_lock):
        _ok(lambda p=parse: p(data, "f"))  # type: ignore[misc]


XML_PARTS = st.sampled_from(
    [
        '<bom xmlns="http://cyclonedx.org/schema/bom/1.6">', "</bom>", "<components>",
        "</components>", '<component type="library">', "</component>", "<name>a</name>",
        "<version>1</version>", "<purl>pkg:pypi/a@1</purl>", "<purl>pkg:</purl>", "<licenses>",
        "</licenses>", "<license><id>MIT</id></license>", "<expression>MIT</expression>",
        "<properties>", '<property name="mamori:ecosystem">x</property>', "</properties>",
        "&amp;", "<!DOCTYPE x>", "text",
    ]
)  # fmt: skip


@FUZZ
@given(parts=st.lists(XML_PARTS, max_size=20))
def test_cyclonedx_xml(parts: list[str]) -> None:
    _ok(lambda: parse_cyclonedx_xml("".join(parts).encode(), "f"))


STATUS_LINES = st.sampled_from(
    [
        "Package: a", "Package: b", "Status: install ok installed", "Status: hold ok installed",
        "Status: deinstall ok config-files", "Version: 1:2.0-1", "Version: ", "Source: s",
        "Source: s (1.0)", "Source: (x", "Architecture: amd64", " continuation", "\t.", "",
        "garbage", ":", "Key:value",
    ]
)  # fmt: skip


@FUZZ
@given(lines=st.lists(STATUS_LINES | st.text(max_size=30), max_size=30))
def test_dpkg_status(lines: list[str]) -> None:
    text = "\n".join(lines)
    for osr in (None, OsRelease(id="debian", version_id="12")):
        _ok(lambda o=osr: parse_status(text, o))  # type: ignore[misc]
    parse_os_release(text)  # never fails: unknown lines are ignored
    parse_metadata(text, "f")


REQ_LINES = st.sampled_from(
    [
        "a==1", "b>=1,<2", "c[x]==2 ; python_version<'3'", "-r other.txt", "--hash=sha256:00",
        "d==1 \\", "  --hash=sha256:11", "# comment", "-e .#egg=e", "-c c.txt", "f @ https://x/y",
        "==1", "./x.whl", "-r", "g===1.0", "h==1.*", "\\",
    ]
)  # fmt: skip


@FUZZ
@given(lines=st.lists(REQ_LINES | st.text(max_size=30), max_size=20))
def test_requirements(lines: list[str]) -> None:
    text = "\n".join(lines)
    _ok(lambda: parse_requirements(text, "r.txt", lambda ref, _: (text, ref)))


TOML_LINES = st.sampled_from(
    [
        "version = 1", 'lock-version = "1.0"', "[[package]]", "[[packages]]", 'name = "a"',
        "name = 3", 'version = "1.0"', "version = [1]", 'source = { registry = "x" }',
        'source = { git = "x" }', 'source = { type = "git", url = "u" }', 'category = "dev"',
        "source = 3", 'directory = { path = "." }', "package = 1", "packages = 2", "[metadata]",
        "= broken",
    ]
)  # fmt: skip


@FUZZ
@given(lines=st.lists(TOML_LINES, max_size=15))
def test_python_lockfiles(lines: list[str]) -> None:
    text = "\n".join(lines)
    for parse in (parse_uv_lock, parse_poetry_lock, parse_pylock):
        _ok(lambda p=parse: p(text, "f"))  # type: ignore[misc]


NAMES = st.text(max_size=12) | st.sampled_from(["/", "@s/", "@/x", "a/b/c", "-", "%", "a@1"])


@FUZZ
@given(name=NAMES, version=NAMES)
def test_odd_names_and_versions(name: str, version: str) -> None:
    """Whatever a lockfile or status file calls a package, a purl is made or VulnError."""
    lock = {"lockfileVersion": 3, "packages": {"x": {"name": name, "version": version}}}
    _ok(lambda: parse_package_lock(json.dumps(lock), "f"))
    _ok(
        lambda: parse_package_lock(
            json.dumps({"lockfileVersion": 1, "dependencies": {name: {"version": version}}}), "f"
        )
    )
    status = f"Package: {name}\nStatus: install ok installed\nVersion: {version}\n"
    _ok(lambda: parse_status(status, OsRelease(id="debian", version_id="12")))
    _ok(lambda: parse_distributions(json.dumps([{"name": name, "version": version}]), "f"))
    _ok(
        lambda: parse_sbom(
            json.dumps(
                {
                    "bomFormat": "CycloneDX",
                    "components": [{"name": "n", "purl": f"pkg:{name}/{version}"}],
                }
            ).encode(),
            "f",
        )
    )


@FUZZ
@given(text=st.text(max_size=80))
def test_licence_expressions(text: str) -> None:
    assert is_expression(text) in (True, False)


@FUZZ
@given(doc=JSON)
def test_stored_inventories(doc: object) -> None:
    _ok(lambda: Inventory.from_json(doc))
    _ok(lambda: Inventory.from_json({"format": "mamori-inventory", "version": 1, **_obj(doc)}))


def _obj(doc: object) -> dict[str, Any]:
    return doc if isinstance(doc, dict) else {"components": doc}


def test_diff_of_fuzzed_inventories() -> None:
    # the parsers' output is always diffable
    from .test_sbom import sample

    comps = sample()
    assert not diff(comps, list(reversed(comps)))
