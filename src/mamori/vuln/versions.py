"""Ecosystem-correct version ordering (pure).

OSV's ``ECOSYSTEM`` ranges are ordered by each ecosystem's own rules
(https://ossf.github.io/osv-schema/#affectedrangestype-field), and ``SEMVER`` ranges by
SemVer 2.0. Getting this wrong silently hides vulnerabilities — ``1:1.0`` is newer than ``2.0``
in Debian, ``1.0rc1`` older than ``1.0`` in Python — so each ecosystem gets the comparator of
univers (https://github.com/aboutcode-org/univers), the library DESIGN.md chose for this:

- ``PyPI``: PEP 440 (``univers.versions.PypiVersion``, i.e. ``packaging``).
- ``npm`` and SEMVER ranges: SemVer 2.0 precedence (``univers.versions.SemverVersion``); build
  metadata is ignored, as SemVer 2.0 §10 and npm require.
- ``Debian``, ``Ubuntu``: dpkg ordering with epochs and ``~`` (``univers.versions.DebianVersion``).

Any other ecosystem has no comparator (:func:`scheme_for` returns ``None``): the matcher then
answers "cannot tell", never "not affected". Parsed versions are cached: a scan compares the same
few thousand version strings millions of times.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, Protocol

from univers.versions import DebianVersion, PypiVersion, SemverVersion

from mamori.vuln.components import DEBIAN, NPM, PYPI, UBUNTU
from mamori.vuln.errors import VulnError

_CACHE_SIZE = 1 << 16


class Comparable(Protocol):
    """A parsed version: totally ordered against versions of the same scheme."""

    def __lt__(self, other: Any, /) -> bool: ...
    def __le__(self, other: Any, /) -> bool: ...
    def __gt__(self, other: Any, /) -> bool: ...
    def __ge__(self, other: Any, /) -> bool: ...


class UnparsableVersion(VulnError):
    """A version string that the ecosystem's version scheme cannot read."""

    def __init__(self, version: str, scheme: str) -> None:
        super().__init__(
            f"{version!r} is not a valid {scheme} version",
            hint=(
                "check the inventory source or advisory that produced it; the component is "
                "reported as 'unknown', not as unaffected, until its version can be read"
            ),
        )
        self.version = version
        self.scheme = scheme


@dataclass(frozen=True, slots=True)
class Scheme:
    """A version scheme: its name for people and its cached parser."""

    name: str
    """``PEP 440``, ``SemVer 2.0``, ``dpkg``."""
    key: Callable[[str], Comparable | None]
    """Parse a version to an orderable key; ``None`` when the string is not a valid version.
    Cached, never raises: this is the matcher's hot path."""

    def parse(self, version: str) -> Comparable:
        """Parse `version`, raising :class:`UnparsableVersion` when it is not valid."""
        key = self.key(version) if isinstance(version, str) else None
        if key is None:
            raise UnparsableVersion(str(version), self.name)
        return key


# univers' parsers raise whatever their backends raise (InvalidVersion, ValueError, TypeError,
# AttributeError, IndexError…); any failure means "not a valid version here".
@lru_cache(maxsize=_CACHE_SIZE)
def _pep440(version: str) -> Comparable | None:
    try:
        value: Comparable = PypiVersion(version).value
    except Exception:
        return None
    return value


@lru_cache(maxsize=_CACHE_SIZE)
def _semver(version: str) -> Comparable | None:
    try:
        parsed: Any = SemverVersion(version).value
        # SemVer 2.0 §10: build metadata does not take part in precedence; univers' enhanced
        # key would order 1.0.0+b after 1.0.0, so drop it before comparing.
        value: Comparable = parsed.truncate("prerelease")
    except Exception:
        return None
    return value


@lru_cache(maxsize=_CACHE_SIZE)
def _dpkg(version: str) -> Comparable | None:
    try:
        value: Comparable = DebianVersion(version).value
    except Exception:
        return None
    return value


PEP440 = Scheme("PEP 440", _pep440)
SEMVER = Scheme("SemVer 2.0", _semver)
DPKG = Scheme("dpkg", _dpkg)

_BY_ECOSYSTEM: dict[str, Scheme] = {
    PYPI.casefold(): PEP440,
    NPM.casefold(): SEMVER,
    DEBIAN.casefold(): DPKG,
    UBUNTU.casefold(): DPKG,
}


def base_ecosystem(ecosystem: str) -> str:
    """``Debian:12`` → ``Debian``: the ecosystem without its release suffix."""
    return ecosystem.partition(":")[0]


def scheme_for(ecosystem: str) -> Scheme | None:
    """The version scheme of an OSV ecosystem (a release suffix is ignored), or ``None`` when
    mamori has no comparator for it and so cannot order its versions."""
    return _BY_ECOSYSTEM.get(base_ecosystem(ecosystem).casefold())


def comparator(ecosystem: str) -> Callable[[str], Comparable] | None:
    """A function turning a version of `ecosystem` into an orderable key (raising
    :class:`UnparsableVersion`), or ``None`` when the ecosystem has no comparator."""
    scheme = scheme_for(ecosystem)
    return None if scheme is None else scheme.parse


def supported_ecosystems() -> tuple[str, ...]:
    """The ecosystems whose versions mamori can order."""
    return (PYPI, NPM, DEBIAN, UBUNTU)
