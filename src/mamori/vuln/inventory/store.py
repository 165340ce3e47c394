"""Inventories kept in the home, one file per system and time:
HOME/vuln/inventories/<system>/<YYYY-MM-DDTHHMMSSZ>.json (directories 0700, files 0600)."""

from __future__ import annotations

import re
from pathlib import Path

import orjson

from mamori.fsutil import HOME_FILE_HINT, failure_reason, write_private
from mamori.home import Home
from mamori.vuln.errors import VulnError
from mamori.vuln.inventory.model import Inventory, stamp

_SYSTEM = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_STAMP = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{6}Z$")


def inventories_dir(home: Home) -> Path:
    return home.root / "vuln" / "inventories"


def check_system(name: str) -> str:
    """`name` if it is a valid system name (letters, digits, ``-``, ``_``, ``.``; not starting
    with a dot or dash, at most 128 characters), else VulnError."""
    if not _SYSTEM.match(name):
        raise VulnError(
            f"{name!r} is not a system name",
            hint="use letters, digits, '-', '_' and '.', starting with a letter or digit",
        )
    return name


def _mkdir(path: Path) -> None:
    for p in reversed([path, *path.parents]):
        if not p.exists():
            p.mkdir(mode=0o700)
    path.chmod(0o700)


def save(home: Home, inventory: Inventory) -> Path:
    """Store `inventory`; refuses to replace one of the same system and second."""
    folder = inventories_dir(home) / check_system(inventory.system)
    path = folder / f"{inventory.stamp}.json"
    data = orjson.dumps(inventory.to_json(), option=orjson.OPT_INDENT_2) + b"\n"
    try:
        _mkdir(folder)
        write_private(path, data)
    except FileExistsError as e:
        raise VulnError(
            f"an inventory of {inventory.system} taken at {inventory.stamp} already exists",
            hint="wait a second and collect again",
        ) from e
    except OSError as e:
        raise VulnError(f"cannot store {path}: {failure_reason(e)}", hint=HOME_FILE_HINT) from e
    return path


def systems(home: Home) -> list[str]:
    """The systems that have at least one inventory, sorted."""
    root = inventories_dir(home)
    if not root.is_dir():
        return []
    return sorted(p.name for p in root.iterdir() if _SYSTEM.match(p.name) and stamps_of(p))


def stamps_of(folder: Path) -> list[str]:
    return sorted(p.stem for p in folder.glob("*.json") if _STAMP.match(p.stem))


def stamps(home: Home, system: str) -> list[str]:
    """A system's inventories, oldest first, as their stamps (2026-05-01T093000Z)."""
    return stamps_of(inventories_dir(home) / check_system(system))


def find(home: Home, system: str, when: str | None = None) -> str:
    """The stamp of the latest inventory of `system`, or of the latest taken at `when`: a
    stamp, or the start of one (``2026-05-01`` = that day; colons are ignored)."""
    taken = stamps(home, system)
    if not taken:
        raise VulnError(
            f"no inventory of {system!r}",
            hint=f"collect one: mamori vuln inventory collect --system {system} SOURCES…",
        )
    if when is None:
        return taken[-1]
    prefix = when.replace(":", "")
    match = [s for s in taken if s.startswith(prefix)]
    if not match:
        raise VulnError(
            f"no inventory of {system!r} taken at {when}",
            hint=f"list them: mamori vuln inventory list --system {system}",
        )
    return match[-1]


def load(home: Home, system: str, when: str | None = None) -> Inventory:
    """An inventory of `system` (see :func:`find` for `when`)."""
    path = inventories_dir(home) / system / f"{find(home, system, when)}.json"
    try:
        doc = orjson.loads(path.read_bytes())
    except OSError as e:
        raise VulnError(f"cannot read {path}: {failure_reason(e)}", hint=HOME_FILE_HINT) from e
    except orjson.JSONDecodeError as e:
        raise VulnError(f"{path} is damaged: {e}") from e
    try:
        return Inventory.from_json(doc)
    except VulnError as e:
        raise VulnError(f"{path}: {e.message}", hint=e.hint) from e


__all__ = ["check_system", "find", "load", "save", "stamp", "stamps", "systems"]
