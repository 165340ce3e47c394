"""Collect an inventory from the sources given on the command line: find out what each path
is, read it with the right parser, and carry on past the ones that cannot be read."""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import os
from collections.abc import Sequence
from pathlib import Path
from typing import assert_never

from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory import dpkg, npm, pyreq, python, sbom_in
from mamori.vuln.inventory.model import Problem
from mamori.vuln.inventory.osrelease import OsRelease, os_component, parse_os_release

MAX_FILE = 256 * 1024 * 1024
"""Larger files are refused (a dpkg status file is a few MB; a large SBOM tens)."""


class Kind(enum.Enum):
    """What a source path is."""

    ROOT = "root filesystem"
    VENV = "Python virtual environment"
    INTERPRETER = "Python interpreter"
    DPKG_STATUS = "dpkg status file"
    OS_RELEASE = "os-release file"
    REQUIREMENTS = "pip requirements file"
    PYLOCK = "pylock.toml"
    UV_LOCK = "uv.lock"
    POETRY_LOCK = "poetry.lock"
    NPM_LOCK = "npm lockfile"
    SBOM = "SBOM (CycloneDX or SPDX)"


def detect(path: Path) -> Kind | None:
    """What `path` is, by its name (and, for SBOMs and status files, its first bytes)."""
    name = path.name.lower()
    if path.is_dir():
        if (path / "pyvenv.cfg").is_file():
            return Kind.VENV
        if (path / "var/lib/dpkg/status").is_file() or (path / "etc/os-release").exists():
            return Kind.ROOT
        return None
    if name.startswith("python") and os.access(path, os.X_OK):
        return Kind.INTERPRETER
    if name in ("status", "status-old") and path.parent.name == "dpkg":
        return Kind.DPKG_STATUS
    if name == "os-release":
        return Kind.OS_RELEASE
    if name == "pylock.toml" or (name.startswith("pylock.") and name.endswith(".toml")):
        return Kind.PYLOCK
    by_name = {
        "uv.lock": Kind.UV_LOCK,
        "poetry.lock": Kind.POETRY_LOCK,
        "package-lock.json": Kind.NPM_LOCK,
        "npm-shrinkwrap.json": Kind.NPM_LOCK,
    }
    if name in by_name:
        return by_name[name]
    if name.endswith(".txt") and "requirements" in name:
        return Kind.REQUIREMENTS
    if name.endswith((".json", ".xml")):
        return Kind.SBOM
    head = _head(path)
    if head.startswith(b"Package:"):
        return Kind.DPKG_STATUS
    return None


def _head(path: Path) -> bytes:
    try:
        with path.open("rb") as f:
            return f.read(64)
    except OSError:
        return b""


def read_bytes(path: Path) -> bytes:
    """A source file's bytes; VulnError when it cannot be read or is too large."""
    try:
        if path.stat().st_size > MAX_FILE:
            raise VulnError(f"larger than {MAX_FILE // 2**20} MiB")
        return path.read_bytes()
    except OSError as e:
        raise VulnError(e.strerror or str(e)) from e


def read_text(path: Path) -> str:
    try:
        return read_bytes(path).decode("utf-8")
    except UnicodeDecodeError as e:
        raise VulnError(f"not UTF-8 text: {e}") from e


def _os_release_of(root: Path) -> tuple[OsRelease, str] | None:
    for rel in ("etc/os-release", "usr/lib/os-release"):
        p = root / rel
        if p.is_file():
            return parse_os_release(read_text(p)), str(p)
    return None


def _dpkg_root(status: Path) -> Path:
    # <root>/var/lib/dpkg/status → <root>
    parts = status.resolve().parts
    if parts[-4:-1] == ("var", "lib", "dpkg"):
        return Path(*parts[:-4])
    return status.parent


def _include(ref: str, including: str) -> tuple[str, str]:
    target = Path(including).parent / ref
    try:
        return read_text(target), str(target)
    except VulnError as e:
        raise VulnError(f"-r {ref}: cannot read {target}: {e.message}") from e


def _with_copyright(root: Path, c: Component) -> Component:
    """`c` with the licences of its machine-readable copyright file under `root`, if any."""
    p = root / "usr/share/doc" / c.name / "copyright"
    try:
        text = p.read_text(encoding="utf-8", errors="replace") if p.is_file() else ""
    except OSError:
        return c  # an unreadable copyright file: the licence stays unknown
    lic = dpkg.parse_copyright_licenses(text)
    return dataclasses.replace(c, licenses=lic) if lic else c


def read_source(path: Path, kind: Kind, osr: OsRelease | None) -> list[Component]:
    """Read one source of a known kind. `osr` is the os-release given among the sources, if
    any (else a dpkg database's own root is searched for one). Raises VulnError."""
    found_in = str(path)
    match kind:
        case Kind.ROOT:
            out: list[Component] = []
            own = _os_release_of(path)
            if own:
                out.append(os_component(own[0], own[1]))
            status = path / "var/lib/dpkg/status"
            if status.is_file():
                osr_here = own[0] if own else osr
                packages = dpkg.parse_status(read_text(status), osr_here, f"dpkg:{status}")
                out += [_with_copyright(path, c) for c in packages]
            return out
        case Kind.DPKG_STATUS:
            if osr is None and (own := _os_release_of(_dpkg_root(path))):
                osr = own[0]
            return dpkg.parse_status(read_text(path), osr, f"dpkg:{path}")
        case Kind.OS_RELEASE:
            return [os_component(parse_os_release(read_text(path)), found_in)]
        case Kind.VENV:
            return python.read_environment(path)
        case Kind.INTERPRETER:
            return python.read_interpreter(path)
        case Kind.REQUIREMENTS:
            return pyreq.parse_requirements(read_text(path), found_in, _include)
        case Kind.PYLOCK:
            return pyreq.parse_pylock(read_text(path), found_in)
        case Kind.UV_LOCK:
            return pyreq.parse_uv_lock(read_text(path), found_in)
        case Kind.POETRY_LOCK:
            return pyreq.parse_poetry_lock(read_text(path), found_in)
        case Kind.NPM_LOCK:
            return npm.parse_package_lock(read_bytes(path), found_in)
        case Kind.SBOM:
            return sbom_in.parse_sbom(read_bytes(path), found_in)
        case _:
            assert_never(kind)


def collect(sources: Sequence[Path]) -> tuple[list[Component], list[Problem]]:
    """The components of every source, and a problem for each source that could not be read
    (the others are still read). An os-release among the sources applies to the dpkg status
    files given beside it."""
    components: list[Component] = []
    problems: list[Problem] = []
    kinds: list[tuple[Path, Kind]] = []
    for path in sources:
        if not path.exists():
            problems.append(Problem(str(path), "does not exist"))
        elif (kind := detect(path)) is None:
            problems.append(
                Problem(str(path), "not a source mamori can read (see docs/vuln-inventory.md)")
            )
        else:
            kinds.append((path, kind))
    osr: OsRelease | None = None
    for path, kind in kinds:
        if kind is Kind.OS_RELEASE:
            with contextlib.suppress(VulnError):  # reported when it is read below
                osr = parse_os_release(read_text(path))
    for path, kind in kinds:
        try:
            found = read_source(path, kind, osr)
        except VulnError as e:
            problems.append(Problem(str(path), e.diagnostics()))
            continue
        if kind in (Kind.DPKG_STATUS, Kind.ROOT) and any(
            c.found_in.startswith("dpkg:") and not c.ecosystem for c in found
        ):
            problems.append(
                Problem(
                    str(path),
                    "the distribution is unknown or not one mamori audits (no os-release, or not "
                    "Debian/Ubuntu): its packages will be reported as unaudited",
                )
            )
        components += found
    return components, problems
