"""Checks shared by every section of `mamori.toml`: each names the section, the key and the fix.

Packages that own a section (`[detect]`, `[alerts]`, `[incidents]`, ...) parse it with these in a
`settings` module of their own; :mod:`mamori.config` puts the sections together.
"""

from __future__ import annotations

from typing import Any

from mamori.errors import MamoriError

__all__ = ["ConfigError", "boolean", "integer", "no_extra", "section", "string", "strings"]


class ConfigError(MamoriError):
    """The configuration file is missing, unreadable or holds a wrong value."""


def string(sec: dict[str, Any], name: str, key: str, default: str, where: str) -> str:
    value = sec.get(key, default)
    if not isinstance(value, str):
        raise ConfigError(
            f"{where}: [{name}] {key} must be a string", hint=f'e.g. {key} = "{default}"'
        )
    return value


def boolean(sec: dict[str, Any], name: str, key: str, default: bool, where: str) -> bool:
    value = sec.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(
            f"{where}: [{name}] {key} must be true or false",
            hint=f"e.g. {key} = {str(default).lower()}",
        )
    return value


def section(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return sec


def no_extra(sec: dict[str, Any], name: str, allowed: set[str], where: str) -> None:
    for key in sec:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r} in [{name}]", hint=f"use one of {sorted(allowed)}"
            )


def integer(
    sec: dict[str, Any], name: str, key: str, default: int, lo: int, hi: int, where: str
) -> int:
    value = sec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(
            f"{where}: [{name}] {key} = {value!r} is out of range",
            hint=f"use a whole number from {lo} to {hi} (default {default})",
        )
    return value


def strings(sec: dict[str, Any], name: str, key: str, where: str) -> tuple[str, ...]:
    """A list of strings (default empty)."""
    value = sec.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(
            f"{where}: [{name}] {key} must be a list of strings", hint=f'e.g. {key} = ["..."]'
        )
    return tuple(value)
