"""Installed Python distributions: of an interpreter (asked through importlib.metadata) or of a
virtual environment's site-packages (read directly). Names are PEP 503-normalised."""

from __future__ import annotations

import email.parser
import json
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mamori.vuln.components import PYPI, Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.model import make_purl

TIMEOUT = 60.0
"""Seconds an interpreter may take to list its distributions."""

# Run with -I (isolated: no PYTHON* variables, no user site, no current directory on sys.path),
# so that what is listed is the interpreter's environment, not the caller's.
_PROGRAM = """
import importlib.metadata as m, json, sys
out = []
for d in m.distributions():
    md = d.metadata
    if md is None:
        continue
    out.append({
        "name": md.get("Name") or "",
        "version": md.get("Version") or "",
        "license_expression": md.get("License-Expression") or "",
        "license": md.get("License") or "",
        "classifiers": md.get_all("Classifier") or [],
    })
json.dump(out, sys.stdout)
"""

_CLASSIFIERS = {
    "Apache Software License": "Apache-2.0",
    "MIT License": "MIT",
    "MIT No Attribution License (MIT-0)": "MIT-0",
    "BSD License": "BSD",
    "ISC License (ISCL)": "ISC",
    "Mozilla Public License 2.0 (MPL 2.0)": "MPL-2.0",
    "Python Software Foundation License": "PSF-2.0",
    "GNU General Public License v2 (GPLv2)": "GPL-2.0-only",
    "GNU General Public License v2 or later (GPLv2+)": "GPL-2.0-or-later",
    "GNU General Public License v3 (GPLv3)": "GPL-3.0-only",
    "GNU General Public License v3 or later (GPLv3+)": "GPL-3.0-or-later",
    "GNU Lesser General Public License v2 (LGPLv2)": "LGPL-2.0-only",
    "GNU Lesser General Public License v2 or later (LGPLv2+)": "LGPL-2.0-or-later",
    "GNU Lesser General Public License v3 (LGPLv3)": "LGPL-3.0-only",
    "GNU Lesser General Public License v3 or later (LGPLv3+)": "LGPL-3.0-or-later",
    "GNU Affero General Public License v3": "AGPL-3.0-only",
    "GNU Affero General Public License v3 or later (AGPLv3+)": "AGPL-3.0-or-later",
    "The Unlicense (Unlicense)": "Unlicense",
    "Zero-Clause BSD (0BSD)": "0BSD",
    "zlib/libpng License": "Zlib",
}
"""Trove licence classifiers (the last part) → SPDX id; "BSD License" says no more than BSD."""


def normalise(name: str) -> str:
    """PEP 503 normalised project name: ``Foo_Bar.baz`` → ``foo-bar-baz``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pypi_component(
    name: str,
    version: str,
    found_in: str,
    licenses: Iterable[str] = (),
    properties: Sequence[tuple[str, str]] = (),
) -> Component:
    """A PyPI component with its purl (``pkg:pypi/name@version``)."""
    norm = normalise(name)
    purl = make_purl("pypi", norm, version)
    return Component(
        name=norm,
        version=version,
        ecosystem=PYPI,
        purl=purl,
        licenses=tuple(licenses),
        found_in=found_in,
        properties=tuple(properties),
    )


def licenses_of(expression: str, license_field: str, classifiers: Iterable[str]) -> tuple[str, ...]:
    """The licences a distribution declares: PEP 639 License-Expression, else a one-line
    License field (many hold the whole licence text: ignored), else the trove classifiers."""
    if expression.strip():
        return (expression.strip(),)
    text = license_field.strip()
    if text and "\n" not in text and len(text) <= 80 and text.upper() != "UNKNOWN":
        return (text,)
    out: list[str] = []
    for c in classifiers:
        parts = [p.strip() for p in c.split("::")]
        if parts[0] == "License" and len(parts) > 1 and parts[-1] != "OSI Approved":
            spdx = _CLASSIFIERS.get(parts[-1], parts[-1])
            if spdx not in out:
                out.append(spdx)
    return tuple(out)


def parse_distributions(text: str, found_in: str) -> list[Component]:
    """The JSON the interpreter program prints → components (one per name and version)."""
    try:
        doc = json.loads(text)
    except ValueError as e:
        raise VulnError(f"the interpreter's list of distributions is not JSON: {e}") from e
    if not isinstance(doc, list):
        raise VulnError("the interpreter's list of distributions is not a list")
    seen: dict[tuple[str, str, str], Component] = {}
    for d in doc:
        if not isinstance(d, Mapping):
            raise VulnError("the interpreter's list of distributions holds a non-object")
        comp = _from_fields(d, found_in)
        if comp is not None:
            seen.setdefault(comp.key, comp)
    return list(seen.values())


def _from_fields(d: Mapping[str, Any], found_in: str) -> Component | None:
    name, version = str(d.get("name") or ""), str(d.get("version") or "")
    if not name:
        return None  # a broken .dist-info without metadata: nothing to audit by name
    classifiers = d.get("classifiers") or []
    lic = licenses_of(
        str(d.get("license_expression") or ""),
        str(d.get("license") or ""),
        [str(c) for c in classifiers] if isinstance(classifiers, list) else [],
    )
    return pypi_component(name, version, found_in, lic)


def parse_metadata(text: str, found_in: str) -> Component | None:
    """A METADATA (core metadata, RFC 822 headers) file → a component; None without a Name."""
    msg = email.parser.Parser().parsestr(text, headersonly=True)
    return _from_fields(
        {
            "name": msg.get("Name") or "",
            "version": msg.get("Version") or "",
            "license_expression": msg.get("License-Expression") or "",
            "license": msg.get("License") or "",
            "classifiers": msg.get_all("Classifier") or [],
        },
        found_in,
    )


def read_interpreter(python: Path, timeout: float = TIMEOUT) -> list[Component]:
    """The distributions an interpreter sees, by running it (isolated, no shell, a timeout)."""
    try:
        done = subprocess.run(  # noqa: S603 - a fixed program, the operator's interpreter
            [str(python), "-I", "-c", _PROGRAM],
            capture_output=True,
            timeout=timeout,
            check=False,
        )
    except (OSError, subprocess.SubprocessError) as e:
        raise VulnError(
            f"cannot run {python}: {e}", hint="give the path of a Python interpreter"
        ) from e
    if done.returncode != 0:
        err = done.stderr.decode("utf-8", "replace").strip().splitlines()[-1:] or [""]
        raise VulnError(f"{python} failed (exit {done.returncode}): {err[0]}")
    return parse_distributions(done.stdout.decode("utf-8", "replace"), str(python))


def site_packages(env: Path) -> list[Path]:
    """The site-packages directories of a virtual environment (lib/ and lib64/)."""
    found: list[Path] = []
    for lib in ("lib", "lib64"):
        for sp in sorted((env / lib).glob("python*/site-packages")):
            if sp.is_dir() and sp.resolve() not in [f.resolve() for f in found]:
                found.append(sp)
    return found


def read_environment(env: Path) -> list[Component]:
    """The distributions installed in a virtual environment, from its *.dist-info/METADATA
    (nothing is run). Raises VulnError when it has no site-packages."""
    dirs = site_packages(env)
    if not dirs:
        raise VulnError(f"{env} has no lib/python*/site-packages", hint="is it a virtualenv?")
    seen: dict[tuple[str, str, str], Component] = {}
    for sp in dirs:
        for meta in sorted(sp.glob("*.dist-info/METADATA")):
            try:
                text = meta.read_text(encoding="utf-8", errors="replace")
            except OSError as e:
                raise VulnError(f"cannot read {meta}: {e.strerror}") from e
            comp = parse_metadata(text, str(env))
            if comp is not None:
                seen.setdefault(comp.key, comp)
    return list(seen.values())
