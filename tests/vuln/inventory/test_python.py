"""Python environments (this repository's own .venv), requirements files and lockfiles."""

from __future__ import annotations

import importlib.metadata
import sys
from pathlib import Path

import pytest

from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.collect import Kind, collect, detect
from mamori.vuln.inventory.pyreq import (
    parse_poetry_lock,
    parse_pylock,
    parse_requirements,
    parse_uv_lock,
)
from mamori.vuln.inventory.python import (
    licenses_of,
    normalise,
    parse_metadata,
    read_environment,
    read_interpreter,
)

VENV = Path(sys.prefix)


def test_this_venv_read_directly_and_through_its_interpreter() -> None:
    if Path(sys.base_prefix) == VENV:
        pytest.skip("the tests do not run in a virtual environment")
    direct = {c.name: c for c in read_environment(VENV)}
    ran = {c.name: c for c in read_interpreter(Path(sys.executable))}
    expected = importlib.metadata.version("orjson")
    assert direct["orjson"].version == ran["orjson"].version == expected
    assert direct["orjson"].purl == f"pkg:pypi/orjson@{expected}"
    assert direct["orjson"].ecosystem == "PyPI"
    assert direct.keys() == ran.keys()
    assert {(c.name, c.version) for c in direct.values()} == {
        (c.name, c.version) for c in ran.values()
    }
    # names are PEP 503-normalised
    assert "packageurl-python" in direct and "typing-extensions" in direct


def test_bad_interpreter() -> None:
    with pytest.raises(VulnError):
        read_interpreter(Path("/nonexistent/python3"))
    with pytest.raises(VulnError, match="failed"):
        read_interpreter(Path("/bin/false"))


def test_metadata_and_licences() -> None:
    text = (
        "Metadata-Version: 2.1\nName: Foo_Bar\nVersion: 1.0\n"
        "License: Copyright (c) someone\n  long licence text\n"
        "Classifier: License :: OSI Approved :: MIT License\n"
        "Classifier: License :: OSI Approved :: Apache Software License\n\nbody\n"
    )
    c = parse_metadata(text, "x")
    assert c is not None
    assert (c.name, c.version, c.purl) == ("foo-bar", "1.0", "pkg:pypi/foo-bar@1.0")
    assert c.licenses == ("MIT", "Apache-2.0")
    assert licenses_of("MIT OR Apache-2.0", "BSD", []) == ("MIT OR Apache-2.0",)
    assert licenses_of("", "BSD-3-Clause", []) == ("BSD-3-Clause",)
    assert licenses_of("", "UNKNOWN", []) == ()
    assert parse_metadata("Version: 1\n", "x") is None
    assert normalise("Zope.Interface__x") == "zope-interface-x"


def test_requirements_edge_cases(tmp_path: Path) -> None:
    (tmp_path / "base.txt").write_text("Django==4.2.1  # pinned\n")
    main = tmp_path / "requirements.txt"
    main.write_text(
        "# a comment\n"
        "-r base.txt\n"
        "--index-url https://pypi.example/simple\n"
        "-c constraints.txt\n"
        "requests[socks] == 2.31.0 ; python_version >= '3.8' \\\n"
        "    --hash=sha256:aaaa \\\n"
        "    --hash=sha256:bbbb\n"
        "flask>=2.0,<3\n"
        "numpy\n"
        "attrs===23.1.0\n"
        "pkg @ https://example.org/pkg-1.0.tar.gz\n"
        "-e git+https://example.org/repo.git#egg=Local_Thing\n"
        "./wheels/x-1.0-py3-none-any.whl\n"
        "star==1.*\n"
    )
    comps, problems = collect([main])
    assert problems == []
    got = {c.name: c for c in comps}
    assert got["django"].version == "4.2.1" and got["django"].found_in == str(tmp_path / "base.txt")
    assert got["requests"].version == "2.31.0"
    assert ("marker", "python_version >= '3.8'") in got["requests"].properties
    assert got["flask"].version == "" and ("specifier", ">=2.0,<3") in got["flask"].properties
    assert got["numpy"].version == "" and got["numpy"].purl == "pkg:pypi/numpy"
    assert got["attrs"].version == "23.1.0"
    assert got["pkg"].version == ""
    assert got["local-thing"].version == ""
    assert got["star"].version == ""
    assert set(got) == {
        "django",
        "requests",
        "flask",
        "numpy",
        "attrs",
        "pkg",
        "local-thing",
        "star",
    }


def test_requirements_errors(tmp_path: Path) -> None:
    loop = tmp_path / "requirements.txt"
    loop.write_text("-r requirements.txt\n")
    [], [problem] = collect([loop])
    assert "nested deeper" in problem.reason
    missing = tmp_path / "requirements-missing.txt"
    missing.write_text("-r nowhere.txt\nok==1\n")
    comps, [problem] = collect([missing])
    assert comps == [] and "nowhere.txt" in problem.reason
    with pytest.raises(VulnError, match="not a requirement"):
        parse_requirements("==1.0\n", "r.txt")


UV_LOCK = """\
version = 1
requires-python = ">=3.11"

[[package]]
name = "myproject"
version = "0.1.0"
source = { editable = "." }

[[package]]
name = "Requests"
version = "2.31.0"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "fromgit"
version = "0.2.0"
source = { git = "https://example.org/x.git?rev=abc#abc" }
"""

POETRY_LOCK = """\
[[package]]
name = "certifi"
version = "2024.2.2"
description = "x"
optional = false
python-versions = ">=3.6"
files = [{file = "certifi-2024.2.2.tar.gz", hash = "sha256:00"}]

[[package]]
name = "pytest"
version = "8.0.0"
category = "dev"
source = { type = "git", url = "https://example.org/pytest.git", reference = "main" }

[metadata]
lock-version = "2.0"
"""

PYLOCK = """\
lock-version = "1.0"
created-by = "pip"
requires-python = ">=3.11"

[[packages]]
name = "attrs"
version = "25.1.0"
wheels = [{ name = "attrs-25.1.0-py3-none-any.whl", hashes = { sha256 = "00" } }]

[[packages]]
name = "local"
directory = { path = "." }
"""


def test_lockfiles(tmp_path: Path) -> None:
    uv = {c.name: c for c in parse_uv_lock(UV_LOCK, "uv.lock")}
    assert uv["requests"].version == "2.31.0" and uv["requests"].properties == ()
    assert ("source", "editable:.") in uv["myproject"].properties
    assert uv["fromgit"].properties[0][1].startswith("git:")
    poetry = {c.name: c for c in parse_poetry_lock(POETRY_LOCK, "poetry.lock")}
    assert poetry["certifi"].version == "2024.2.2"
    assert ("scope", "dev") in poetry["pytest"].properties
    pylock = {c.name: c for c in parse_pylock(PYLOCK, "pylock.toml")}
    assert pylock["attrs"].purl == "pkg:pypi/attrs@25.1.0"
    assert pylock["local"].version == "" and ("source", "directory") in pylock["local"].properties
    for name, text in (("uv.lock", UV_LOCK), ("poetry.lock", POETRY_LOCK), ("pylock.toml", PYLOCK)):
        (tmp_path / name).write_text(text)
    comps, problems = collect(sorted(tmp_path.iterdir()))
    assert problems == [] and len(comps) == 3 + 2 + 2


@pytest.mark.parametrize(
    ("parser", "text"),
    [
        (parse_uv_lock, "not = [toml"),
        (parse_uv_lock, "[[package]]\nname = 'x'\n"),  # no lockfile version
        (parse_uv_lock, "version = 1\npackage = 3\n"),
        (parse_poetry_lock, "[[package]]\nversion = '1'\n"),
        (parse_pylock, "lock-version = '2.0'\n"),
        (parse_pylock, "lock-version = '1.0'\n[[packages]]\nname = 'x'\nversion = 1\n"),
    ],
)
def test_bad_lockfiles(parser: object, text: str) -> None:
    with pytest.raises(VulnError):
        parser(text, "lock")  # type: ignore[operator]


def test_detect(tmp_path: Path) -> None:
    assert detect(VENV) is Kind.VENV or Path(sys.base_prefix) == VENV
    assert detect(Path(sys.executable)) is Kind.INTERPRETER
    assert detect(Path("/")) is Kind.ROOT
    for name, kind in [
        ("requirements-dev.txt", Kind.REQUIREMENTS),
        ("uv.lock", Kind.UV_LOCK),
        ("pylock.dev.toml", Kind.PYLOCK),
        ("package-lock.json", Kind.NPM_LOCK),
        ("bom.cdx.json", Kind.SBOM),
        ("x.spdx.json", Kind.SBOM),
        ("bom.xml", Kind.SBOM),
        ("os-release", Kind.OS_RELEASE),
    ]:
        (tmp_path / name).write_text("")
        assert detect(tmp_path / name) is kind, name
    (tmp_path / "mystery").write_text("Package: x\n")
    assert detect(tmp_path / "mystery") is Kind.DPKG_STATUS
    (tmp_path / "other").write_text("hello")
    assert detect(tmp_path / "other") is None
    comps, [p1, p2] = collect([tmp_path / "other", tmp_path / "absent"])
    assert comps == [] and "not a source" in p1.reason and "does not exist" in p2.reason
