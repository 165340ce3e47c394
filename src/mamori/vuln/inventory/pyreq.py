"""Python requirements and lockfiles (pure): requirements.txt, pylock.toml (PEP 751), uv.lock,
poetry.lock. A requirement that is not pinned to one version gets version "" (unaudited)."""

from __future__ import annotations

import re
import tomllib
from collections.abc import Callable, Mapping
from typing import Any

from mamori.vuln.components import Component
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.python import pypi_component

Include = Callable[[str, str], tuple[str, str]]
"""Reads a ``-r`` include: (reference as written, the including file) → (text, its path)."""

MAX_INCLUDE_DEPTH = 10

_REQ = re.compile(
    r"^(?P<name>[A-Za-z0-9](?:[A-Za-z0-9._-]*[A-Za-z0-9])?)\s*(?P<extras>\[[^\]]*\])?\s*(?P<spec>.*)$"
)
_PINNED = re.compile(r"^={2,3}\s*(?P<version>[^\s,;*]+)$")
_COMMENT = re.compile(r"(^|\s)#.*$")
_REQ_OPTION = re.compile(r"\s--?[a-zA-Z][\w-]*(?:[=\s]\S+)?")
_EGG = re.compile(r"[#&]egg=(?P<name>[A-Za-z0-9][A-Za-z0-9._-]*)")
_INCLUDE = re.compile(r"^(?:-r|--requirement)(?:\s*=\s*|\s+|(?=\S))(?P<ref>\S+)$")


def _logical_lines(text: str) -> list[tuple[int, str]]:
    """Lines with ``\\`` continuations joined and comments removed, with their line numbers."""
    out: list[tuple[int, str]] = []
    buf, start = "", 0
    for number, raw in enumerate(text.splitlines(), 1):
        if not buf:
            start = number
        if raw.endswith("\\"):
            buf += raw[:-1] + " "
            continue
        line = _COMMENT.sub("", buf + raw).strip()
        buf = ""
        if line:
            out.append((start, line))
    if buf and (line := _COMMENT.sub("", buf).strip()):
        out.append((start, line))
    return out


def parse_requirements(
    text: str, found_in: str, include: Include | None = None, *, _depth: int = 0
) -> list[Component]:
    """The requirements of a pip requirements file.

    ``name==1.2`` (or ``===``) is pinned; any other specifier, a URL (``name @ https://…``) or
    an editable (``-e …#egg=name``) gives version "" with the specifier kept in properties.
    Markers are kept, not evaluated (the target interpreter is unknown). ``-r`` includes are
    read through `include`; ``-c`` constraints and other options are not requirements.
    """
    if _depth > MAX_INCLUDE_DEPTH:
        raise VulnError(f"{found_in}: -r includes nested deeper than {MAX_INCLUDE_DEPTH} levels")
    out: list[Component] = []
    for number, line in _logical_lines(text):
        where = f"{found_in}:{number}"
        if line.startswith("-"):
            if m := _INCLUDE.match(line):
                if include is None:
                    raise VulnError(f"{where}: cannot follow -r {m['ref']} here")
                sub_text, sub_found = include(m["ref"], found_in)
                out += parse_requirements(sub_text, sub_found, include, _depth=_depth + 1)
            elif line.startswith(("-e", "--editable")) and (egg := _EGG.search(line)):
                out.append(pypi_component(egg["name"], "", found_in, (), [("requirement", line)]))
            continue  # -c, -i, --hash on its own line, --pre, …: not requirements
        requirement, _, marker = line.partition(";")
        requirement = _REQ_OPTION.sub("", " " + requirement).strip()
        m = _REQ.match(requirement)
        if not m:
            if "/" in requirement or requirement.endswith((".whl", ".zip", ".tar.gz")):
                continue  # a bare path or URL: no project name to audit by
            raise VulnError(f"{where}: not a requirement: {line[:80]!r}")
        spec = m["spec"].strip()
        props: list[tuple[str, str]] = []
        version = ""
        if pinned := _PINNED.match(spec):
            version = pinned["version"]
        elif spec:
            props.append(("specifier", spec))
        if marker.strip():
            props.append(("marker", _REQ_OPTION.sub("", " " + marker).strip()))
        out.append(pypi_component(m["name"], version, found_in, (), props))
    return out


def _load_toml(text: str, what: str) -> dict[str, Any]:
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise VulnError(f"{what} is not valid TOML: {e}") from e


def _packages(doc: Mapping[str, Any], key: str, what: str) -> list[Mapping[str, Any]]:
    packages = doc.get(key, [])
    if not isinstance(packages, list) or not all(isinstance(p, Mapping) for p in packages):
        raise VulnError(f"{what}: `{key}` is not an array of tables")
    return packages


def _name_version(p: Mapping[str, Any], i: int, what: str) -> tuple[str, str]:
    name, version = p.get("name"), p.get("version", "")
    if not isinstance(name, str) or not name or not isinstance(version, str):
        raise VulnError(f"{what}: package #{i + 1} has no name or a version that is not text")
    return name, version


def _source_of(p: Mapping[str, Any], keys: tuple[str, ...]) -> list[tuple[str, str]]:
    source = p.get("source")
    if isinstance(source, Mapping):
        for k in keys:
            if k in source and k not in ("registry", "index"):
                return [("source", f"{k}:{source[k]}")]
    for k in keys:
        if k in p and k not in ("registry", "index"):
            return [("source", k)]
    return []


def parse_pylock(text: str, found_in: str) -> list[Component]:
    """pylock.toml (PEP 751): ``[[packages]]`` with name and (optional) version."""
    doc = _load_toml(text, found_in)
    lock_version = str(doc.get("lock-version", ""))
    if not lock_version.startswith("1"):
        raise VulnError(f"{found_in}: lock-version {lock_version!r} is not PEP 751's 1.x")
    out = []
    for i, p in enumerate(_packages(doc, "packages", found_in)):
        name, version = _name_version(p, i, found_in)
        props = _source_of(p, ("vcs", "directory", "archive"))
        out.append(pypi_component(name, version, found_in, (), props))
    return out


def parse_uv_lock(text: str, found_in: str) -> list[Component]:
    """uv.lock: ``[[package]]`` name, version, source (registry, git, path, editable, …)."""
    doc = _load_toml(text, found_in)
    if "version" not in doc:
        raise VulnError(f"{found_in}: no lockfile `version`: is this a uv.lock?")
    out = []
    for i, p in enumerate(_packages(doc, "package", found_in)):
        name, version = _name_version(p, i, found_in)
        keys = ("registry", "git", "url", "path", "directory", "editable", "virtual")
        out.append(pypi_component(name, version, found_in, (), _source_of(p, keys)))
    return out


def parse_poetry_lock(text: str, found_in: str) -> list[Component]:
    """poetry.lock: ``[[package]]`` name, version, optional source {type, url}."""
    doc = _load_toml(text, found_in)
    out = []
    for i, p in enumerate(_packages(doc, "package", found_in)):
        name, version = _name_version(p, i, found_in)
        props: list[tuple[str, str]] = []
        source = p.get("source")
        if isinstance(source, Mapping) and source.get("type") not in (None, "legacy"):
            props.append(("source", f"{source.get('type')}:{source.get('url', '')}"))
        if isinstance(p.get("category"), str):
            props.append(("scope", str(p["category"])))
        out.append(pypi_component(name, version, found_in, (), props))
    return out
