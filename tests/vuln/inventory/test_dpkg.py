"""dpkg status files and os-release: this machine's, and crafted stanzas."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.dpkg import (
    parse_copyright_licenses,
    parse_status,
    stanzas,
)
from mamori.vuln.inventory.osrelease import OsRelease, os_component, parse_os_release

STATUS = Path("/var/lib/dpkg/status")
BOOKWORM = OsRelease(id="debian", version_id="12", version_codename="bookworm")


def test_this_machines_dpkg_database() -> None:
    if not STATUS.exists():
        pytest.skip("no dpkg database on this machine")
    osr = parse_os_release(Path("/etc/os-release").read_text())
    comps = {c.name: c for c in parse_status(STATUS.read_text(), osr)}
    assert "bash" in comps and "libssl3" in comps
    bash, ssl = comps["bash"], comps["libssl3"]
    assert bash.ecosystem == osr.ecosystem == "Debian"
    assert bash.match_name == "bash"
    assert ssl.source_name == "openssl" and ssl.match_name == "openssl"
    assert ssl.distro == f"debian:{osr.version_id}"
    assert ssl.purl.startswith(f"pkg:deb/debian/libssl3@{ssl.version}")
    assert f"distro=debian-{osr.version_id}" in ssl.purl
    assert dict(ssl.properties)["arch"] == ssl.purl.split("arch=")[1].split("&")[0]


def test_this_machine_agrees_with_dpkg_query() -> None:
    """Every package dpkg-query reports installed, with its version, and nothing else."""
    if not STATUS.exists() or shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg on this machine")
    out = subprocess.run(
        ["dpkg-query", "-W", "-f", "${db:Status-Status} ${Package} ${Version}\\n"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = {
        (name, version)
        for status, name, version in (line.split(" ", 2) for line in out.splitlines())
        if status == "installed"
    }
    assert {(c.name, c.version) for c in parse_status(STATUS.read_text(), None)} == expected


CRAFTED = """\
Package: foo
Status: install ok installed
Architecture: amd64
Version: 1:2.3-4
Source: foo-src (2.3-3)
Description: a package
 with a long description
 .
 over several lines

Package: gone
Status: deinstall ok config-files
Version: 1.0-1
Architecture: all

Package: held
Status: hold ok installed
Version: 2.0-1
Architecture: all
Source: held

Package: half
Status: install reinstreq half-installed
Version: 3.0-1
"""


def test_crafted_stanzas() -> None:
    comps = {c.name: c for c in parse_status(CRAFTED, BOOKWORM, "dpkg:test")}
    assert set(comps) == {"foo", "held"}
    foo = comps["foo"]
    assert foo.version == "1:2.3-4"
    assert foo.source_name == "foo-src" and foo.source_version == "2.3-3"
    assert foo.match_version == "2.3-3"
    assert foo.purl == "pkg:deb/debian/foo@1:2.3-4?arch=amd64&distro=debian-12"
    assert foo.found_in == "dpkg:test"
    held = comps["held"]
    assert held.source_name == "" and held.source_version == "" and held.match_name == "held"


def test_continuation_lines_are_joined() -> None:
    [first, *_] = stanzas(CRAFTED)
    assert first["Description"] == "a package\nwith a long description\n.\nover several lines"


def test_without_os_release_the_packages_are_unaudited() -> None:
    [foo, _] = parse_status(CRAFTED, None)
    assert foo.ecosystem == "" and foo.distro == ""
    assert foo.purl == "pkg:deb/foo@1:2.3-4?arch=amd64"


def test_ubuntu() -> None:
    osr = parse_os_release('ID=ubuntu\nVERSION_ID="22.04"\n')
    [foo, _] = parse_status(CRAFTED, osr)
    assert foo.ecosystem == "Ubuntu" and foo.distro == "ubuntu:22.04"
    assert foo.purl.startswith("pkg:deb/ubuntu/foo@")


@pytest.mark.parametrize(
    "text",
    [
        "not a status file\n",
        " continuation first\n",
        "Package: x\nStatus: install ok installed\n",  # no Version
        "Package: x\nStatus: install ok installed\nVersion: 1\nSource: (bad\n",
    ],
)
def test_malformed(text: str) -> None:
    with pytest.raises(VulnError):
        parse_status(text, BOOKWORM)


def test_os_release_quoting_and_component() -> None:
    osr = parse_os_release(
        '# comment\nPRETTY_NAME="Debian GNU/Linux 12 (bookworm)"\nID=debian\n'
        'VERSION_ID=\'12\'\nVERSION_CODENAME=bookworm\nNAME="A \\"quoted\\" name"\ngarbage\n'
    )
    assert (osr.id, osr.version_id, osr.distro, osr.purl_distro) == (
        "debian",
        "12",
        "debian:12",
        "debian-12",
    )
    c = os_component(osr, "/etc/os-release")
    assert (c.kind, c.name, c.version, c.ecosystem) == ("operating-system", "debian", "12", "")
    assert parse_os_release("").id == "linux"
    sid = parse_os_release("ID=debian\nVERSION_CODENAME=trixie\n")
    assert sid.distro == "debian:trixie"
    assert parse_os_release("ID=linuxmint\nVERSION_ID=21\n").ecosystem == ""


def test_dep5_copyright() -> None:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n\n"
        "Files: *\nLicense: GPL-2+\n\nFiles: x\nLicense: MIT\n\nLicense: GPL-2+\n text\n"
    )
    assert parse_copyright_licenses(text) == ("GPL-2+", "MIT")
    assert parse_copyright_licenses("free-form text\nLicense: MIT\n") == ()
