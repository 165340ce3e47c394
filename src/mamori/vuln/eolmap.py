"""Which endoflife.date product and release cycle a component is, and where it stands (SEC-3).

Mapping, in order (:func:`map_component`):

1. the product whose ``identifiers`` list the component's package URL, compared on type,
   namespace and name (version and qualifiers ignored; for Debian/Ubuntu the source package too);
2. a built-in table (:data:`OS_PRODUCTS`, :data:`PACKAGE_RULES`) for operating systems and the
   runtimes, databases and servers distributions package under their own names
   (``postgresql-15``, ``python3.11``, ``openjdk-17``).

The cycle is the longest cycle name that is a dot-prefix of the upstream version
(:func:`select_cycle`). Every component gets an explicit answer: a cycle with dates,
"no published end of life", "unknown cycle" or "not tracked" — never silence. All pure.
"""

from __future__ import annotations

import datetime as dt
import enum
import re
from dataclasses import dataclass
from typing import Any, Final, assert_never
from urllib.parse import unquote

from mamori.vuln.components import DEBIAN, UBUNTU, Component
from mamori.vuln.eol import Catalogue, Cycle, DateOrFlag, Product
from mamori.vuln.errors import VulnError

WARN_DAYS: Final = 180
"""Default warning window: a cycle whose end of life is this many days away or fewer is ENDING."""

_SEPARATORS: Final = frozenset(".-+~_")

OS_PRODUCTS: Final[dict[str, str]] = {
    "debian": "debian",
    "ubuntu": "ubuntu",
    "alpine": "alpine-linux",
    "rhel": "rhel",
    "centos": "centos",
    "rocky": "rocky-linux",
    "almalinux": "almalinux",
    "fedora": "fedora",
    "amzn": "amazon-linux",
    "sles": "sles",
    "opensuse-leap": "opensuse",
}
"""Operating-system id (``/etc/os-release`` ID, the part of ``distro`` before ':') → product."""

PACKAGE_RULES: Final[tuple[tuple[re.Pattern[str], str], ...]] = tuple(
    (re.compile(pattern), product)
    for pattern, product in (
        # A group, when present, names the cycle (python3.11 → 3.11); else the version decides.
        (r"python(\d+\.\d+)", "python"),
        (r"postgresql-(\d+)", "postgresql"),
        (r"nodejs", "nodejs"),
        # Debian's OpenJDK follows the OpenJDK Updates project, as Temurin does; Oracle's own
        # OpenJDK builds stop after six months and would call every Debian JDK ended.
        (r"openjdk-(\d+)", "eclipse-temurin"),
        (r"nginx", "nginx"),
        (r"redis", "redis"),
        (r"mariadb(?:-(\d+\.\d+))?", "mariadb"),
        (r"mysql-(?:server-)?(\d+\.\d+)", "mysql"),
        (r"openssl", "openssl"),
        (r"php(\d+\.\d+)", "php"),
        (r"ruby(\d+\.\d+)", "ruby"),
        (r"golang-(\d+\.\d+)", "go"),
        (r"apache2", "apache-http-server"),
        (r"tomcat(\d+)", "tomcat"),
        (r"perl", "perl"),
        (r"haproxy", "haproxy"),
        (r"linux", "linux-kernel"),
    )
)
"""Package name (source package for OS packages) → product, for names no product lists."""


class Found(enum.Enum):
    """What mapping a component found."""

    MATCHED = "matched"
    """A product and cycle with a published end of life (a date, or "ended")."""
    NO_PUBLISHED_EOL = "no_published_eol"
    """A product and cycle whose end of life is not published (eol false or absent)."""
    UNKNOWN_CYCLE = "unknown_cycle"
    """The product is tracked, but no cycle fits the component's version."""
    NOT_TRACKED = "not_tracked"
    """No product: endoflife.date does not track it."""


class Status(enum.Enum):
    """Where a component stands on `today`."""

    ENDED = "ended"
    ENDING = "ending"
    SUPPORTED = "supported"
    NO_PUBLISHED_EOL = "no_published_eol"
    UNKNOWN_CYCLE = "unknown_cycle"
    NOT_TRACKED = "not_tracked"


class Phase(enum.Enum):
    """Where a support phase (active, extended) stands on `today`."""

    ENDED = "ended"
    ONGOING = "ongoing"
    NOT_STATED = "not_stated"


@dataclass(frozen=True, slots=True)
class Purl:
    """A package URL, split (https://github.com/package-url/purl-spec)."""

    type: str
    namespace: str
    name: str
    version: str = ""
    qualifiers: tuple[tuple[str, str], ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        """What identifies the package regardless of version: normalised type, namespace, name."""
        name = self.name.lower()
        if self.type == "pypi":  # PEP 503 normalisation
            name = re.sub(r"[-_.]+", "-", name)
        return (self.type, self.namespace.lower(), name)

    def qualifier(self, key: str) -> str:
        return next((v for k, v in self.qualifiers if k == key), "")


def parse_purl(text: str) -> Purl:
    """Split a package URL; VulnError when `text` is not one."""
    if not text.startswith("pkg:"):
        raise VulnError(
            f"{text!r} is not a package URL",
            hint="write it as pkg:TYPE/NAMESPACE/NAME@VERSION, e.g. pkg:pypi/django@4.2.1",
        )
    rest = text[4:].split("#", 1)[0].lstrip("/")
    rest, _, query = rest.partition("?")
    rest, _, version = rest.partition("@")
    parts = [unquote(p) for p in rest.split("/") if p]
    if len(parts) < 2 or not parts[-1]:
        raise VulnError(f"{text!r} has no package name", hint="e.g. pkg:deb/debian/nginx@1.22.1")
    qualifiers = tuple(
        (k.lower(), unquote(v)) for k, _, v in (q.partition("=") for q in query.split("&")) if k
    )
    return Purl(
        type=parts[0].lower(),
        namespace="/".join(parts[1:-1]),
        name=parts[-1],
        version=unquote(version),
        qualifiers=qualifiers,
    )


# --- versions and cycles ----------------------------------------------------------------------


def upstream_version(version: str, *, debian: bool = False) -> str:
    """The upstream part of a version: no epoch (``1:``), no leading ``v``, and for Debian
    and Ubuntu packages no revision (``-0+deb12u1``)."""
    v = version.strip()
    epoch, sep, after = v.partition(":")
    if sep and epoch.isdigit():
        v = after
    if debian and "-" in v:
        v = v.rsplit("-", 1)[0]
    if v[:1] in ("v", "V") and v[1:2].isdigit():
        v = v[1:]
    return v


def select_cycle(version: str, cycles: tuple[Cycle, ...]) -> Cycle | None:
    """The longest cycle whose name is the version or a prefix of it ending at a separator
    (``.-+~_``): 3.11.7 → 3.11 (never 3.1), 10.2 → 10 (never 1.0), 12.5 → 12."""
    best: Cycle | None = None
    for c in cycles:
        name = c.cycle
        fits = version == name or (
            version.startswith(name) and version[len(name) : len(name) + 1] in _SEPARATORS
        )
        if fits and (best is None or len(name) > len(best.cycle)):
            best = c
    return best


# --- mapping ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Mapping:
    """The answer for one component: its product and cycle, or why there is none."""

    component: Component
    found: Found
    product: Product | None = None
    cycle: Cycle | None = None
    via: str = ""
    """How the product was found (``purl pkg:pypi/django``, ``built-in rule …``) or why not."""
    wanted: str = ""
    """The cycle or version that was looked for (for UNKNOWN_CYCLE)."""


def purl_index(cat: Catalogue) -> dict[tuple[str, str, str], str]:
    """Every purl the products declare (its type, namespace, name) → product name."""
    index: dict[tuple[str, str, str], str] = {}
    for name in sorted(cat.products):
        for text in cat.products[name].purls:
            try:
                index.setdefault(parse_purl(text).key, name)
            except VulnError:
                continue  # a malformed identifier in the data cannot match anything
    return index


def _candidates(c: Component) -> list[tuple[str, str, str]]:
    keys: list[tuple[str, str, str]] = []
    if c.purl.startswith("pkg:"):
        try:
            p = parse_purl(c.purl)
        except VulnError:
            return keys
        keys.append(p.key)
        if c.source_name:
            keys.append(Purl(p.type, p.namespace, c.source_name).key)
    return keys


def _is_deb(c: Component) -> bool:
    return c.ecosystem in (DEBIAN, UBUNTU) or c.purl.startswith("pkg:deb/")


def _with_cycle(
    c: Component, product: Product, hint: str, via: str, version: str | None = None
) -> Mapping:
    if version is None:
        version = c.match_version if _is_deb(c) else c.version
    cycle = product.cycle(hint) if hint else None
    wanted = upstream_version(version, debian=_is_deb(c) and c.kind != "operating-system")
    cycle = cycle or select_cycle(wanted, product.cycles)
    if cycle is None:
        return Mapping(c, Found.UNKNOWN_CYCLE, product, None, via, hint or wanted)
    published = cycle.eol is True or isinstance(cycle.eol, dt.date)
    return Mapping(c, Found.MATCHED if published else Found.NO_PUBLISHED_EOL, product, cycle, via)


def map_component(
    c: Component, cat: Catalogue, index: dict[tuple[str, str, str], str] | None = None
) -> Mapping:
    """Map one component (pass :func:`purl_index` when mapping many)."""
    index = purl_index(cat) if index is None else index
    for key in _candidates(c):
        if key in index:
            via = f"purl pkg:{key[0]}/{key[1] + '/' if key[1] else ''}{key[2]}"
            return _with_cycle(c, cat.products[index[key]], "", via)
    if c.kind == "operating-system":
        os_id, _, release = (c.distro or c.name).partition(":")
        product = cat.products.get(OS_PRODUCTS.get(os_id.lower(), ""))
        if product is None:
            return Mapping(c, Found.NOT_TRACKED, via=f"no product for operating system {os_id!r}")
        via = f"built-in operating system {os_id}"
        return _with_cycle(c, product, "", via, c.version or release)
    for pattern, product_name in PACKAGE_RULES:
        m = pattern.fullmatch(c.match_name)
        if m and product_name in cat.products:
            hint = next((g for g in m.groups() if g), "")
            via = f"built-in rule {pattern.pattern} → {product_name}"
            return _with_cycle(c, cat.products[product_name], hint, via)
    return Mapping(c, Found.NOT_TRACKED, via="no product lists this package and no rule names it")


# --- status on a day --------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Assessment:
    """A component's support status on `today`."""

    mapping: Mapping
    status: Status
    eol: DateOrFlag
    days_left: int | None
    """Days from `today` to the end-of-life date: 0 on the last day, negative after."""
    active_support: Phase
    extended_support: Phase

    def sentence(self) -> str:
        """One line for a person, saying the support period or that none is published."""
        m = self.mapping
        what = f"{m.component.name} {m.component.version}".strip()
        title = m.product.title if m.product else ""
        cycle = f"{title} {m.cycle.cycle}" if m.cycle else title
        eol = self.eol.isoformat() if isinstance(self.eol, dt.date) else "date not published"
        match self.status:
            case Status.ENDED:
                return f"{what}: {cycle} ended — last day of support {eol}"
            case Status.ENDING:
                return f"{what}: {cycle} support ends {eol} (in {self.days_left} days)"
            case Status.SUPPORTED:
                return f"{what}: {cycle} supported until {eol}"
            case Status.NO_PUBLISHED_EOL:
                return f"{what}: {cycle} — no published end of life"
            case Status.UNKNOWN_CYCLE:
                return f"{what}: {title} has no release cycle for {m.wanted!r}"
            case Status.NOT_TRACKED:
                return f"{what}: not tracked by endoflife.date ({m.via})"
            case _:
                assert_never(self.status)

    def to_json(self) -> dict[str, Any]:
        m, c = self.mapping, self.mapping.cycle

        def iso(v: DateOrFlag) -> str | bool | None:
            return v.isoformat() if isinstance(v, dt.date) else v

        return {
            "component": {"name": m.component.name, "version": m.component.version},
            "purl": m.component.purl,
            "status": self.status.value,
            "product": m.product.name if m.product else None,
            "cycle": c.cycle if c else None,
            "eol": iso(self.eol),
            "days_left": self.days_left,
            "active_support": {
                "end": iso(c.eoas if c else None),
                "state": self.active_support.value,
            },
            "extended_support": {
                "end": iso(c.eoes if c else None),
                "state": self.extended_support.value,
            },
            "lts": iso(c.lts) if c else None,
            "latest": c.latest if c else None,
            "via": m.via,
            "sentence": self.sentence(),
        }


def phase(end: DateOrFlag, today: dt.date) -> Phase:
    """A support phase ending on `end` (its last day), on `today`."""
    if end is None:
        return Phase.NOT_STATED
    if isinstance(end, bool):
        return Phase.ENDED if end else Phase.ONGOING
    return Phase.ENDED if today > end else Phase.ONGOING


def status(m: Mapping, today: dt.date, warn_days: int = WARN_DAYS) -> Assessment:
    """Classify a mapped component on `today`.

    Boundary: endoflife.date's date is the *last day* of support (its site computes
    ``is_eol = today > eol``, _plugins/product-data-enricher.rb). So on the eol date the
    component is ENDING with 0 days left; the day after it is ENDED. ENDING means
    0 <= days_left <= warn_days.
    """
    if warn_days < 0:
        raise VulnError(f"the warning window is {warn_days} days", hint="use 0 or more days")
    c = m.cycle
    eol = c.eol if c else None
    days: int | None = (eol - today).days if isinstance(eol, dt.date) else None
    active = phase(c.eoas, today) if c else Phase.NOT_STATED
    extended = phase(c.eoes, today) if c else Phase.NOT_STATED
    match m.found:
        case Found.NOT_TRACKED:
            st = Status.NOT_TRACKED
        case Found.UNKNOWN_CYCLE:
            st = Status.UNKNOWN_CYCLE
        case Found.NO_PUBLISHED_EOL:
            st = Status.NO_PUBLISHED_EOL
        case Found.MATCHED:
            if days is None:
                st = Status.ENDED  # eol: true — ended, date not published
            elif days < 0:
                st = Status.ENDED
            elif days <= warn_days:
                st = Status.ENDING
            else:
                st = Status.SUPPORTED
        case _:
            assert_never(m.found)
    return Assessment(m, st, eol, days, active, extended)


def check(
    components: list[Component], cat: Catalogue, today: dt.date, warn_days: int = WARN_DAYS
) -> list[Assessment]:
    """Map and classify each component, in the order given."""
    index = purl_index(cat)
    return [status(map_component(c, cat, index), today, warn_days) for c in components]
