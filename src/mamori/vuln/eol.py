"""End-of-life data (SEC-3): endoflife.date's product files, parsed, imported into the home.

Source: https://github.com/endoflife-date/endoflife.date (MIT, endoflife.date contributors).
Each ``products/<product>.md`` starts with a YAML front matter block; its ``releases:`` list holds
one entry per release cycle. Date fields (``eol``, ``eoas``, ``eoes``, ``lts``, ``discontinued``)
are a date or a boolean; this module normalises them to :data:`DateOrFlag`.

The parser (:func:`parse_product`) is pure; :func:`read_folder`, :func:`save` and :func:`load`
are the edges that touch files. See docs/vuln-eol.md.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from mamori.fsutil import write_private
from mamori.vuln.errors import VulnError

_Loader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

DateOrFlag = dt.date | bool | None
"""A lifecycle field: a date; ``True`` (it happened, date unknown); ``False`` (not yet);
``None`` (the data does not say)."""

STORE_FORMAT: Final = 1
STORE_NAME: Final = "eol.json"
_DATE_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}")


@dataclass(frozen=True, slots=True)
class Cycle:
    """One release cycle of a product (``3.11`` of Python, ``12`` of Debian)."""

    cycle: str
    """The cycle's name as endoflife.date spells it (``releaseCycle``)."""
    release_date: dt.date | None = None
    eol: DateOrFlag = None
    """End of life: the last day of (security) support, see :func:`mamori.vuln.eolmap.status`."""
    eoas: DateOrFlag = None
    """End of active support (bug fixes); security fixes may continue until `eol`."""
    lts: DateOrFlag = False
    """Long-term support: ``True``, or the date from which the cycle is LTS."""
    eoes: DateOrFlag = None
    """End of extended (often paid) support, after `eol`."""
    latest: str | None = None
    """The newest version of the cycle."""
    discontinued: DateOrFlag = None
    """Hardware and devices: no longer sold."""
    codename: str | None = None


@dataclass(frozen=True, slots=True)
class Product:
    """One endoflife.date product: its identifiers and its cycles, newest first as published."""

    name: str
    """The file's stem and endoflife.date's id (``python``, ``debian``)."""
    title: str
    category: str
    purls: tuple[str, ...] = ()
    """Package URLs the product declares (``pkg:pypi/django``), without versions."""
    cpes: tuple[str, ...] = ()
    cycles: tuple[Cycle, ...] = ()

    def cycle(self, name: str) -> Cycle | None:
        """The cycle called `name`, if the product has one."""
        return next((c for c in self.cycles if c.cycle == name), None)


@dataclass(frozen=True, slots=True)
class Problem:
    """A product file that was not imported, and why."""

    file: str
    reason: str


@dataclass(frozen=True, slots=True)
class Catalogue:
    """Every product imported, with where the data came from."""

    products: dict[str, Product]
    sha256: str = ""
    """Digest of the data set: sha256 over each file's name and content, in name order."""
    data_date: dt.date | None = None
    """The newest release date or latest-release date in the data: how fresh it is."""
    source: str = ""
    imported_at: str = ""
    problems: tuple[Problem, ...] = field(default=())


# --- parsing (pure) ---------------------------------------------------------------------------


def front_matter(text: str) -> str:
    """The YAML between the first two ``---`` lines; VulnError when there is none."""
    lines = text.lstrip("\ufeff").splitlines()
    if not lines or lines[0].strip() != "---":
        raise VulnError(
            "no front matter: the file does not start with a '---' line",
            hint="an endoflife.date product file starts with YAML between two '---' lines",
        )
    for i, line in enumerate(lines[1:], start=1):
        if line.rstrip() == "---":
            return "\n".join(lines[1:i])
    raise VulnError(
        "the front matter is not closed by a second '---' line",
        hint="add '---' after the YAML block",
    )


def _date_or_flag(value: object, what: str) -> DateOrFlag:
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str) and _DATE_TEXT.fullmatch(value.strip()):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    raise VulnError(f"{what} is {value!r}, not a date (YYYY-MM-DD) or true/false")


def _date(value: object, what: str) -> dt.date | None:
    if isinstance(got := _date_or_flag(value, what), bool):
        raise VulnError(f"{what} is {got!r}, not a date")
    return got


def _text(value: object, what: str) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise VulnError(f"{what} is {value!r}, not text")
    return str(value)


def _cycle(entry: object, index: int) -> Cycle:
    if not isinstance(entry, dict):
        raise VulnError(f"releases[{index}] is not a mapping")
    raw = entry.get("releaseCycle")
    # An unquoted 3.10 is the float 3.1 to YAML: refuse it rather than guess.
    if isinstance(raw, bool) or not isinstance(raw, str | int) or str(raw).strip() == "":
        raise VulnError(f"releases[{index}].releaseCycle is {raw!r}, not quoted text")
    name = str(raw)
    where = f"cycle {name!r}"
    lts = _date_or_flag(entry.get("lts", False), f"{where}: lts")
    return Cycle(
        cycle=name,
        release_date=_date(entry.get("releaseDate"), f"{where}: releaseDate"),
        eol=_date_or_flag(entry.get("eol"), f"{where}: eol"),
        eoas=_date_or_flag(entry.get("eoas"), f"{where}: eoas"),
        lts=False if lts is None else lts,
        eoes=_date_or_flag(entry.get("eoes"), f"{where}: eoes"),
        latest=_text(entry.get("latest"), f"{where}: latest"),
        discontinued=_date_or_flag(entry.get("discontinued"), f"{where}: discontinued"),
        codename=_text(entry.get("codename"), f"{where}: codename"),
    )


def _identifiers(value: object) -> tuple[tuple[str, ...], tuple[str, ...]]:
    if value is None:
        return (), ()
    if not isinstance(value, list):
        raise VulnError("identifiers is not a list")
    purls: list[str] = []
    cpes: list[str] = []
    for item in value:
        if not isinstance(item, dict):
            raise VulnError(f"identifier {item!r} is not a mapping like 'purl: pkg:…'")
        for key, text in item.items():
            if key == "purl" and isinstance(text, str):
                purls.append(text)
            elif key == "cpe" and isinstance(text, str):
                cpes.append(text)
    return tuple(purls), tuple(cpes)


def parse_product(name: str, text: str) -> Product:
    """A product from the text of ``products/<name>.md``; VulnError saying what is wrong.

    Strings (Liquid templates such as ``{{"__LATEST__" | replace:'.',''}}`` included) are kept
    as text; nothing is rendered.
    """
    block = front_matter(text)
    try:
        data = yaml.load(block, Loader=_Loader)  # noqa: S506 - a safe loader (C or Python)
    except yaml.YAMLError as e:
        raise VulnError(
            f"the front matter is not valid YAML: {' '.join(str(e).split())}",
            hint="fix the YAML (quote values that start with '{' or contain ': ')",
        ) from e
    except (RecursionError, ValueError, OverflowError) as e:
        raise VulnError(f"the front matter cannot be read: {e}") from e
    if not isinstance(data, dict):
        raise VulnError("the front matter is not a mapping of keys to values")
    releases = data.get("releases")
    if not isinstance(releases, list) or not releases:
        raise VulnError(
            "the front matter has no 'releases:' list",
            hint="every product lists at least one release cycle",
        )
    cycles = tuple(_cycle(entry, i) for i, entry in enumerate(releases))
    purls, cpes = _identifiers(data.get("identifiers"))
    return Product(
        name=name,
        title=_text(data.get("title"), "title") or name,
        category=_text(data.get("category"), "category") or "",
        purls=purls,
        cpes=cpes,
        cycles=cycles,
    )


def parse_files(
    files: list[tuple[str, bytes]], *, source: str = "", imported_at: str = ""
) -> Catalogue:
    """A catalogue from (file name, content) pairs; each file that fails becomes a Problem."""
    products: dict[str, Product] = {}
    problems: list[Problem] = []
    digest = hashlib.sha256()
    for fname, content in sorted(files):
        digest.update(f"{fname}\0{hashlib.sha256(content).hexdigest()}\n".encode())
        try:
            text = content.decode("utf-8")
        except UnicodeDecodeError as e:
            problems.append(Problem(fname, f"not UTF-8 text: {e.reason} at byte {e.start}"))
            continue
        try:
            products[fname.removesuffix(".md")] = parse_product(fname.removesuffix(".md"), text)
        except VulnError as e:
            problems.append(Problem(fname, e.message))
    return Catalogue(
        products=products,
        sha256=digest.hexdigest(),
        data_date=max(
            (c.release_date for p in products.values() for c in p.cycles if c.release_date),
            default=None,
        ),
        source=source,
        imported_at=imported_at,
        problems=tuple(problems),
    )


# --- the edges: files -------------------------------------------------------------------------


def read_folder(folder: Path) -> Catalogue:
    """Parse every ``*.md`` in `folder` (or in its ``products/``); VulnError when it has none."""
    if (folder / "products").is_dir():
        folder = folder / "products"
    try:
        paths = sorted(p for p in folder.iterdir() if p.suffix == ".md" and p.is_file())
        files = [(p.name, p.read_bytes()) for p in paths]
    except OSError as e:
        raise VulnError(
            f"cannot read the end-of-life data in {folder}: {e.strerror or e}",
            hint="pass the endoflife.date checkout or its products/ folder",
        ) from e
    if not files:
        raise VulnError(
            f"{folder} holds no product files (*.md)",
            hint="pass the endoflife.date checkout or its products/ folder",
        )
    now = dt.datetime.now(dt.UTC).replace(microsecond=0).isoformat()
    return parse_files(files, source=str(folder.absolute()), imported_at=now)


def store_path(home_root: Path) -> Path:
    """Where the imported data lives: ``HOME/vuln/eol.json``."""
    return home_root / "vuln" / STORE_NAME


def _flag_json(value: DateOrFlag) -> str | bool | None:
    return value.isoformat() if isinstance(value, dt.date) else value


def _cycle_json(c: Cycle) -> dict[str, Any]:
    return {
        "cycle": c.cycle,
        "release_date": _flag_json(c.release_date),
        "eol": _flag_json(c.eol),
        "eoas": _flag_json(c.eoas),
        "lts": _flag_json(c.lts),
        "eoes": _flag_json(c.eoes),
        "latest": c.latest,
        "discontinued": _flag_json(c.discontinued),
        "codename": c.codename,
    }


def to_json(cat: Catalogue) -> dict[str, Any]:
    """The catalogue as the JSON document the store holds."""
    return {
        "format": STORE_FORMAT,
        "source": cat.source,
        "sha256": cat.sha256,
        "data_date": _flag_json(cat.data_date),
        "imported_at": cat.imported_at,
        "problems": [{"file": p.file, "reason": p.reason} for p in cat.problems],
        "products": {
            name: {
                "title": p.title,
                "category": p.category,
                "purls": list(p.purls),
                "cpes": list(p.cpes),
                "cycles": [_cycle_json(c) for c in p.cycles],
            }
            for name, p in sorted(cat.products.items())
        },
    }


def _cycle_from_json(c: dict[str, Any]) -> Cycle:
    flags = {k: _date_or_flag(c[k], k) for k in ("eol", "eoas", "lts", "eoes", "discontinued")}
    return Cycle(
        cycle=c["cycle"],
        release_date=_date(c["release_date"], "release_date"),
        latest=c["latest"],
        codename=c["codename"],
        **flags,
    )


def from_json(doc: Any) -> Catalogue:
    """The inverse of :func:`to_json`; VulnError when the document is not one."""
    if not isinstance(doc, dict) or doc.get("format") != STORE_FORMAT:
        raise VulnError("not an end-of-life store of format 1", hint="import the data again")
    try:
        products = {
            name: Product(
                name=name,
                title=p["title"],
                category=p["category"],
                purls=tuple(p["purls"]),
                cpes=tuple(p["cpes"]),
                cycles=tuple(_cycle_from_json(c) for c in p["cycles"]),
            )
            for name, p in doc["products"].items()
        }
        return Catalogue(
            products=products,
            sha256=doc["sha256"],
            data_date=_date(doc["data_date"], "data_date"),
            source=doc["source"],
            imported_at=doc["imported_at"],
            problems=tuple(Problem(p["file"], p["reason"]) for p in doc["problems"]),
        )
    except (KeyError, TypeError, AttributeError, VulnError) as e:
        raise VulnError(
            f"the end-of-life store is damaged: {e!r}", hint="import the data again"
        ) from e


def save(home_root: Path, cat: Catalogue) -> Path:
    """Write the catalogue to ``HOME/vuln/eol.json`` (dir 0700, file 0600), replacing any."""
    path = store_path(home_root)
    try:
        path.parent.mkdir(mode=0o700, exist_ok=True)
        path.parent.chmod(0o700)
        write_private(path, orjson.dumps(to_json(cat)), exclusive=False)
    except OSError as e:
        raise VulnError(
            f"cannot write {path}: {e.strerror or e}",
            hint="check that the home is writable by this user and the disk not full",
        ) from e
    return path


def load(home_root: Path) -> Catalogue:
    """The imported catalogue; VulnError with the import command when there is none."""
    path = store_path(home_root)
    try:
        raw = path.read_bytes()
    except FileNotFoundError as e:
        raise VulnError(
            f"no end-of-life data has been imported ({path} is missing)",
            hint="run `mamori vuln eol import --home HOME PATH-TO-endoflife.date`",
        ) from e
    except OSError as e:
        raise VulnError(f"cannot read {path}: {e.strerror or e}") from e
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise VulnError(f"{path} is not JSON: {e}", hint="import the end-of-life data again") from e
    return from_json(doc)
