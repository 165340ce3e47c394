"""Importing advisories into the :mod:`mamori.vuln.store`, offline. See docs/vuln-database.md.

Sources, told apart by their content (not trusted names):

* an OSV export (``all.zip`` of one ecosystem: a zip of OSV ``.json`` files);
* a folder of OSV ``.json`` / ``.yaml`` / ``.yml`` files, walked recursively (links not
  followed, names starting with ``.`` skipped);
* one OSV file: a record, a list of records, or ``{"vulns": [...]}`` (the OSV API's answer);
* the Debian Security Tracker's JSON (https://security-tracker.debian.org/tracker/data/json),
  converted into OSV records by :func:`convert_tracker`.

A malformed record or file is a :class:`Problem` (which file, which zip member, why) and the
rest is imported; only a source that cannot be opened at all raises :class:`VulnError`.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import io
import os
import zipfile
import zlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

import orjson
import yaml

from mamori.vuln import osvyaml, zipread
from mamori.vuln.errors import VulnError
from mamori.vuln.store import Counts, InvalidRecord, Prepared, Store, format_time, prepare

OSV_SUFFIXES: Final = (".json", ".yaml", ".yml")
MAX_MEMBER_BYTES: Final = 64 * 1024 * 1024
"""A zip member larger than this once inflated is refused (a zip bomb, not an advisory)."""
TRACKER_URL: Final = "https://security-tracker.debian.org/tracker/"

DEBIAN_RELEASES: Final = {
    "jessie": "8",
    "stretch": "9",
    "buster": "10",
    "bullseye": "11",
    "bookworm": "12",
    "trixie": "13",
    "forky": "14",
    "duke": "15",
    "sid": "unstable",
}
"""Debian codenames to OSV's ``Debian:<version>``; sid is ``Debian:unstable`` (OSV has no name
for it). A codename not listed is kept as written (``Debian:<codename>``)."""


class SourceKind(enum.Enum):
    """What a path holds."""

    OSV_ZIP = "osv-zip"
    OSV_DIR = "osv-dir"
    OSV_FILE = "osv-file"
    DEBIAN_TRACKER = "debian-tracker"


@dataclass(frozen=True, slots=True)
class Problem:
    """A record or file that was refused; the rest of its source was imported."""

    source: str
    """The path given to the import."""
    member: str
    """The file inside a folder, the zip member, or ``package/CVE`` in the Debian tracker;
    "" for the source itself."""
    reason: str

    def __str__(self) -> str:
        where = f"{self.source}: {self.member}" if self.member else self.source
        return f"{where}: {self.reason}"


@dataclass(slots=True)
class Loaded:
    """A source read and checked, not yet stored."""

    kind: SourceKind
    sha256: str
    records: list[Prepared] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    data_date: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class ImportResult:
    """What importing one source did."""

    source: str
    kind: SourceKind
    sha256: str
    read: int
    """Valid records read (problems not included)."""
    counts: Counts
    problems: tuple[Problem, ...]
    data_date: dt.datetime | None
    snapshot: int | None
    """The snapshot row's id; None when nothing valid was read (nothing was written)."""


_PARSE_ERRORS: Final = (yaml.YAMLError, ValueError, TypeError, RecursionError, OverflowError)


def parse_document(data: bytes, name: str) -> Any:
    """A file's content as Python values: YAML by its suffix, else JSON; InvalidRecord says
    why not."""
    try:
        if name.lower().endswith((".yaml", ".yml")):
            return osvyaml.load(data)
        return orjson.loads(data)
    except _PARSE_ERRORS as e:
        what = "YAML" if name.lower().endswith((".yaml", ".yml")) else "JSON"
        reason = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise InvalidRecord(f"not {what}: {reason[:200]}") from e


def _osv_items(doc: Any) -> list[Any]:
    """The records of an OSV document: one, a list, or the OSV API's ``{"vulns": [...]}``."""
    if isinstance(doc, list):
        return doc
    if isinstance(doc, dict) and "id" not in doc and isinstance(doc.get("vulns"), list):
        return list(doc["vulns"])
    return [doc]


def is_tracker(doc: Any) -> bool:
    """Whether a JSON document is the Debian tracker's: {package: {issue: {"releases": …}}}."""
    if not isinstance(doc, dict) or not doc or {"id", "affected", "vulns"} & doc.keys():
        return False
    for issues in list(doc.values())[:3]:
        if not isinstance(issues, dict):
            return False
        for entry in list(issues.values())[:3]:
            if not isinstance(entry, dict) or not {"releases", "description", "scope"} & set(entry):
                return False
    return True


def debian_ecosystem(codename: str) -> str:
    """``bookworm`` → ``Debian:12``; see :data:`DEBIAN_RELEASES`."""
    return f"Debian:{DEBIAN_RELEASES.get(codename, codename)}"


def _release_entry(package: str, codename: str, release: dict[str, Any]) -> dict[str, Any] | None:
    """One ``affected[]`` entry, or None when that release was never affected."""
    status = release.get("status")
    fixed = release.get("fixed_version")
    fixed = fixed if isinstance(fixed, str) and fixed else None
    if status == "resolved" and fixed == "0":
        return None  # the tracker's way of saying "this release never had the bug"
    specific: dict[str, Any] = {"status": status if isinstance(status, str) else "undetermined"}
    for key in ("urgency", "nodsa", "nodsa_reason"):
        if isinstance(release.get(key), str):
            specific[key] = release[key]
    if fixed is not None:
        specific["fixed_version"] = fixed
    entry: dict[str, Any] = {
        "package": {"ecosystem": debian_ecosystem(codename), "name": package},
        "database_specific": specific,
    }
    if status == "resolved" and fixed is not None:
        events: list[dict[str, str]] = [{"introduced": "0"}, {"fixed": fixed}]
    elif status == "open":
        events = [{"introduced": "0"}]
    else:
        # undetermined, or resolved without a version: no range, so that the matcher can only
        # say "unknown" (database_specific.status), never "not affected".
        return entry
    entry["ranges"] = [{"type": "ECOSYSTEM", "events": events}]
    return entry


def convert_tracker(
    doc: dict[str, Any], *, modified: dt.datetime, source: str
) -> tuple[list[dict[str, Any]], list[Problem]]:
    """The tracker's issues as OSV records, one per issue (``DEBIAN-CVE-…``, ``DEBIAN-TEMP-…``),
    with an ``affected[]`` entry per (source package, release) that was ever affected; every
    record's ``modified`` is `modified` (the tracker states no dates of its own)."""
    stamp = format_time(modified)
    records: dict[str, dict[str, Any]] = {}
    problems: list[Problem] = []
    for package, issues in doc.items():
        if not isinstance(issues, dict):
            problems.append(Problem(source, package, "not an object of issues"))
            continue
        for issue, entry in issues.items():
            releases = entry.get("releases", {}) if isinstance(entry, dict) else None
            if not isinstance(releases, dict):
                problems.append(Problem(source, f"{package}/{issue}", "no object of releases"))
                continue
            assert isinstance(entry, dict)
            record = records.get(issue)
            if record is None:
                record = records[issue] = {
                    "id": f"DEBIAN-{issue}",
                    "modified": stamp,
                    "aliases": [issue] if issue.startswith("CVE-") else [],
                    "details": _text(entry.get("description")),
                    "affected": [],
                    "references": [{"type": "ADVISORY", "url": TRACKER_URL + issue}],
                    "database_specific": {"source": TRACKER_URL},
                }
            for codename, release in releases.items():
                if not isinstance(release, dict):
                    problems.append(
                        Problem(source, f"{package}/{issue}/{codename}", "not an object")
                    )
                    continue
                affected = _release_entry(package, codename, release)
                if affected is None:
                    continue
                for key in ("scope", "debianbug"):
                    if isinstance(entry.get(key), str | int):
                        affected["database_specific"][key] = entry[key]
                record["affected"].append(affected)
    return list(records.values()), problems


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _check(items: Iterable[Any], loaded: Loaded, source: str, member: str) -> None:
    for item in items:
        try:
            loaded.records.append(prepare(item))
        except InvalidRecord as e:
            rid = item.get("id") if isinstance(item, dict) else None
            rid = rid if isinstance(rid, str) else ""
            label = f"{member} ({rid})" if rid and member else member or rid
            loaded.problems.append(Problem(source, label, e.message))


def _newest(records: list[Prepared]) -> dt.datetime | None:
    if not records:
        return None
    newest = max(p.modified for p in records)
    return dt.datetime.strptime(newest, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def load_bytes(
    data: bytes,
    name: str,
    *,
    source: str,
    data_date: dt.datetime | None = None,
    downloaded: dt.datetime | None = None,
) -> Loaded:
    """Read one file's content: an OSV zip, an OSV file, or the Debian tracker (by content).

    `data_date` overrides the data's date; `downloaded` (the file's mtime) dates the Debian
    tracker, which carries no date, when `data_date` is not given.
    """
    digest = hashlib.sha256(data).hexdigest()
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        loaded = Loaded(SourceKind.OSV_ZIP, digest)
        _load_zip(data, source, loaded)
    else:
        try:
            doc = parse_document(data, name)
        except InvalidRecord as e:
            return Loaded(SourceKind.OSV_FILE, digest, problems=[Problem(source, "", e.message)])
        if is_tracker(doc):
            date = data_date or downloaded or dt.datetime.now(dt.UTC)
            records, problems = convert_tracker(doc, modified=date, source=source)
            loaded = Loaded(SourceKind.DEBIAN_TRACKER, digest, problems=problems)
            _check(records, loaded, source, "")
            loaded.data_date = date
            return loaded
        loaded = Loaded(SourceKind.OSV_FILE, digest)
        _check(_osv_items(doc), loaded, source, "")
    loaded.data_date = data_date or _newest(loaded.records)
    return loaded


_ZIP_ERRORS: Final = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error)
_ZIP_ERRORS_TOO: Final = (RuntimeError, EOFError, OSError, ValueError)  # RuntimeError: encrypted


def _load_zip(data: bytes, source: str, loaded: Loaded) -> None:
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        infos = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError, EOFError) as e:
        loaded.problems.append(Problem(source, "", f"not a readable zip: {e}"))
        return
    view = memoryview(data)
    with archive:
        for info in infos:
            if info.is_dir() or not info.filename.lower().endswith(OSV_SUFFIXES):
                continue
            if info.file_size > MAX_MEMBER_BYTES:
                loaded.problems.append(
                    Problem(source, info.filename, f"larger than {MAX_MEMBER_BYTES} bytes")
                )
                continue
            try:
                content = zipread.member(view, info) or archive.read(info)
                doc = parse_document(content, info.filename)
            except InvalidRecord as e:
                loaded.problems.append(Problem(source, info.filename, e.message))
                continue
            except (*_ZIP_ERRORS, *_ZIP_ERRORS_TOO) as e:
                loaded.problems.append(Problem(source, info.filename, f"unreadable: {e}"))
                continue
            _check(_osv_items(doc), loaded, source, info.filename)


def _walk(root: Path) -> list[Path]:
    found: list[Path] = []
    for folder, dirs, files in os.walk(root):  # does not follow links to folders
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        found.extend(
            Path(folder) / f
            for f in sorted(files)
            if not f.startswith(".") and f.lower().endswith(OSV_SUFFIXES)
        )
    return found


def load_dir(root: Path, *, source: str, data_date: dt.datetime | None = None) -> Loaded:
    """Read every OSV file under `root`. Its sha256 is that of the sorted lines
    ``relative-path NUL sha256-of-file LF``: the same files give the same digest."""
    loaded = Loaded(SourceKind.OSV_DIR, "")
    listing = hashlib.sha256()
    for path in _walk(root):
        rel = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()
        except OSError as e:
            loaded.problems.append(Problem(source, rel, f"unreadable: {e.strerror or e}"))
            continue
        listing.update(f"{rel}\0{hashlib.sha256(data).hexdigest()}\n".encode())
        try:
            doc = parse_document(data, path.name)
        except InvalidRecord as e:
            loaded.problems.append(Problem(source, rel, e.message))
            continue
        _check(_osv_items(doc), loaded, source, rel)
    loaded.sha256 = listing.hexdigest()
    loaded.data_date = data_date or _newest(loaded.records)
    return loaded


def load_path(path: Path, *, data_date: dt.datetime | None = None) -> Loaded:
    """Read a source of any kind; VulnError when the path cannot be read at all."""
    source = str(path)
    try:
        if path.is_dir():
            return load_dir(path, source=source, data_date=data_date)
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError as e:
        raise VulnError(
            f"cannot read {path}: {e.strerror or e}",
            hint="give an OSV all.zip, a folder or file of OSV records, or the Debian "
            "tracker's JSON (https://security-tracker.debian.org/tracker/data/json)",
        ) from e
    return load_bytes(data, path.name, source=source, data_date=data_date, downloaded=mtime)


def detect_kind(path: Path) -> SourceKind:
    """What `path` holds (reads it); VulnError when it cannot be read."""
    return load_path(path).kind


def import_path(store: Store, path: Path, *, data_date: dt.datetime | None = None) -> ImportResult:
    """Read `path` and store its valid records in one transaction, with a snapshot row."""
    loaded = load_path(path, data_date=data_date)
    counts, snapshot = Counts(), None
    if loaded.records:
        counts, snapshot = store.write(
            loaded.records,
            source=str(path),
            kind=loaded.kind.value,
            sha256=loaded.sha256,
            data_date=loaded.data_date,
            problems=len(loaded.problems),
        )
    return ImportResult(
        source=str(path),
        kind=loaded.kind,
        sha256=loaded.sha256,
        read=len(loaded.records),
        counts=counts,
        problems=tuple(loaded.problems),
        data_date=loaded.data_date,
        snapshot=snapshot,
    )
