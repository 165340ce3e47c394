"""mamori's configuration: one TOML file in the home, every default written out and explained.

`mamori init` writes :data:`TEMPLATE` with the log's origin filled in. :func:`load` reads it back
and checks every value, naming the key and the fix when one is wrong. A key missing from the
file takes its default, so a config written by an older mamori keeps working.
"""

from __future__ import annotations

import datetime as dt
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mamori.errors import MamoriError

CONFIG_NAME = "mamori.toml"
MIN_RETENTION_DAYS = 365
"""CLD-6: access trails are kept at least one year, whatever the configuration says."""


class ConfigError(MamoriError):
    """The configuration file is missing, unreadable or holds a wrong value."""


TEMPLATE = """\
# mamori configuration. Every setting is written out with its default value.
# Changes take effect the next time a mamori command or service starts.

[ledger]
# The log's origin: the first line of every checkpoint and the name of the signing key.
# Witnesses remember checkpoints by origin, so never change it once the ledger is in use.
origin = "{origin}"
# Group commit: a batch is made durable (one transaction, fsync) when it holds this many events
# or when its first event has waited this many milliseconds, whichever comes first. Every
# commit is followed by a signed checkpoint, so checkpoints come at least once a second while
# events arrive.
batch_max_events = 8192
batch_max_delay_ms = 1000
# Events larger than this (bytes, as received) are kept truncated, flagged `truncated`,
# never dropped.
max_event_bytes = 1048576

[retention]
# Event bodies older than the retention period may be pruned by `mamori ledger retention run`.
# Leaf hashes are kept forever, so the tree and every proof stay valid (SEC-5, CLD-6).
# The period is: from the contract end date plus `margin_days`, or, while no contract end is
# set, `days` after each event was received. It is never shorter than 365 days.
contract_end = ""          # "YYYY-MM-DD", empty while unknown
margin_days = 365
days = 1825
# Legal hold: while true, nothing is pruned, whatever its age.
legal_hold = false

[search]
# Rows returned by `mamori ledger search` when --limit is not given.
default_limit = 100
"""


@dataclass(frozen=True, slots=True)
class LedgerConfig:
    """The `[ledger]` section."""

    origin: str
    batch_max_events: int = 8192
    batch_max_delay_ms: int = 1000
    max_event_bytes: int = 1_048_576


@dataclass(frozen=True, slots=True)
class RetentionConfig:
    """The `[retention]` section."""

    contract_end: dt.date | None = None
    margin_days: int = 365
    days: int = 1825
    legal_hold: bool = False


@dataclass(frozen=True, slots=True)
class SearchConfig:
    """The `[search]` section."""

    default_limit: int = 100


@dataclass(frozen=True, slots=True)
class Config:
    """The whole configuration."""

    ledger: LedgerConfig
    retention: RetentionConfig = field(default_factory=RetentionConfig)
    search: SearchConfig = field(default_factory=SearchConfig)


def render(origin: str) -> str:
    """The config file text for a new home."""
    if '"' in origin or "\\" in origin or "\n" in origin:
        raise ConfigError(f"the origin {origin!r} contains a quote, backslash or newline")
    return TEMPLATE.format(origin=origin)


def load(path: Path) -> Config:
    """Read and check the config file at `path`."""
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError as e:
        raise ConfigError(
            f"no configuration file at {path}",
            hint="run `mamori init --home DIR` to create a home, or point --home at one",
        ) from e
    except (OSError, UnicodeDecodeError) as e:
        raise ConfigError(f"cannot read {path}: {e}") from e
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{path} is not valid TOML: {e}", hint="fix the line it names") from e
    return parse(raw, where=str(path))


def parse(raw: dict[str, Any], *, where: str = "config") -> Config:
    """Check a parsed config mapping and build the typed :class:`Config`."""
    known = {"ledger", "retention", "search"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"{where}: unknown section [{key}]", hint=f"use one of {sorted(known)}"
            )
    led = _section(raw, "ledger", where)
    origin = led.get("origin")
    if not isinstance(origin, str) or not origin or any(c.isspace() for c in origin):
        raise ConfigError(
            f"{where}: [ledger] origin must be a non-empty string without spaces",
            hint="restore the origin printed by `mamori init`",
        )
    ledger = LedgerConfig(
        origin=origin,
        batch_max_events=_int(led, "ledger", "batch_max_events", 8192, 1, 1_000_000, where),
        batch_max_delay_ms=_int(led, "ledger", "batch_max_delay_ms", 1000, 1, 1000, where),
        max_event_bytes=_int(led, "ledger", "max_event_bytes", 1_048_576, 1024, 64 << 20, where),
    )
    _no_extra(
        led,
        "ledger",
        {"origin", "batch_max_events", "batch_max_delay_ms", "max_event_bytes"},
        where,
    )
    ret = _section(raw, "retention", where)
    end_raw = ret.get("contract_end", "")
    contract_end: dt.date | None
    if isinstance(end_raw, dt.date) and not isinstance(end_raw, dt.datetime):
        contract_end = end_raw
    elif end_raw == "":
        contract_end = None
    elif isinstance(end_raw, str):
        try:
            contract_end = dt.date.fromisoformat(end_raw)
        except ValueError as e:
            raise ConfigError(
                f"{where}: [retention] contract_end {end_raw!r} is not a date",
                hint='write it as "YYYY-MM-DD", or "" while unknown',
            ) from e
    else:
        raise ConfigError(f"{where}: [retention] contract_end must be a date string")
    hold = ret.get("legal_hold", False)
    if not isinstance(hold, bool):
        raise ConfigError(f"{where}: [retention] legal_hold must be true or false")
    retention = RetentionConfig(
        contract_end=contract_end,
        margin_days=_int(ret, "retention", "margin_days", 365, 0, 36_500, where),
        days=_int(ret, "retention", "days", 1825, MIN_RETENTION_DAYS, 36_500, where),
        legal_hold=hold,
    )
    _no_extra(ret, "retention", {"contract_end", "margin_days", "days", "legal_hold"}, where)
    se = _section(raw, "search", where)
    search = SearchConfig(
        default_limit=_int(se, "search", "default_limit", 100, 1, 100_000, where),
    )
    _no_extra(se, "search", {"default_limit"}, where)
    return Config(ledger=ledger, retention=retention, search=search)


def _section(raw: dict[str, Any], name: str, where: str) -> dict[str, Any]:
    sec = raw.get(name, {})
    if not isinstance(sec, dict):
        raise ConfigError(f"{where}: [{name}] must be a table")
    return sec


def _no_extra(sec: dict[str, Any], name: str, allowed: set[str], where: str) -> None:
    for key in sec:
        if key not in allowed:
            raise ConfigError(
                f"{where}: unknown key {key!r} in [{name}]", hint=f"use one of {sorted(allowed)}"
            )


def _int(
    sec: dict[str, Any], name: str, key: str, default: int, lo: int, hi: int, where: str
) -> int:
    value = sec.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(
            f"{where}: [{name}] {key} = {value!r} is out of range",
            hint=f"use a whole number from {lo} to {hi} (default {default})",
        )
    return value
