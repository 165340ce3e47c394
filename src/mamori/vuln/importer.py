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
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import orjson
import yaml

from mamori.gcpause import gc_paused
from mamori.vuln import osvyaml, parallel, zipread
from mamori.vuln.errors import VulnError
from mamori.vuln.store import Counts, InvalidRecord, Prepared, Store, format_time, prepare

OSV_SUFFIXES: Final = (".json", ".yaml", ".yml")
ZIP_PART: Final = 2_000
"""Zip members read per part (a worker's unit of work, and a write)."""
DIR_PART: Final = 250
"""Files of a folder read per part."""
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


T = TypeVar("T")


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


Part = tuple[list[Prepared], list[Problem], list[tuple[str, str]]]
"""A part of a source, read: its valid records, its problems, and for a folder the (relative
path, sha256) of each file read."""

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


def _newest(modified: str) -> dt.datetime | None:
    """A stored ``modified`` as a date; None for ""."""
    if not modified:
        return None
    return dt.datetime.strptime(modified, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=dt.UTC)


def _newest_of(records: list[Prepared]) -> dt.datetime | None:
    return _newest(max((p.modified for p in records), default=""))


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
    loaded.data_date = data_date or _newest_of(loaded.records)
    return loaded


_ZIP_ERRORS: Final = (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, zlib.error)
_ZIP_ERRORS_TOO: Final = (RuntimeError, EOFError, OSError, ValueError)  # RuntimeError: encrypted


def _zip_members(data: bytes, source: str, loaded: Loaded) -> list[zipread.MemberEntry] | None:
    """The OSV members of an archive (too large ones are problems); None when it is not a
    readable zip (a problem too). The directory is read by :func:`zipread.directory` when the
    archive is plain, else by ``ZipFile``."""
    infos: Sequence[zipread.MemberEntry] | None = zipread.directory(data)
    if infos is None:
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                infos = archive.infolist()
        except (zipfile.BadZipFile, OSError, ValueError, EOFError, NotImplementedError) as e:
            # NotImplementedError: a "version needed to extract" newer than zipfile reads.
            loaded.problems.append(Problem(source, "", f"not a readable zip: {e}"))
            return None
    members = []
    for info in infos:
        if info.is_dir() or not info.filename.lower().endswith(OSV_SUFFIXES):
            continue
        if info.file_size > MAX_MEMBER_BYTES:
            loaded.problems.append(
                Problem(source, info.filename, f"larger than {MAX_MEMBER_BYTES} bytes")
            )
            continue
        members.append(info)
    return members


def _zip_part(fixed: tuple[bytes, str], infos: Sequence[zipread.MemberEntry]) -> Part:
    """Read these members of the archive `fixed` = (content, source)."""
    data, source = fixed
    part = Loaded(SourceKind.OSV_ZIP, "")
    view = memoryview(data)
    archive: zipfile.ZipFile | None = None  # only for members zipread leaves to zipfile
    try:
        for info in infos:
            try:
                content = zipread.member(view, info)
                if not content:
                    archive = archive or zipfile.ZipFile(io.BytesIO(data))
                    if isinstance(info, zipread.Entry):  # the same member, as ZipFile reads it
                        content = archive.read(archive.infolist()[info.position])
                    else:
                        assert isinstance(info, zipfile.ZipInfo)
                        content = archive.read(info)
                doc = parse_document(content, info.filename)
            except InvalidRecord as e:
                part.problems.append(Problem(source, info.filename, e.message))
                continue
            except (*_ZIP_ERRORS, *_ZIP_ERRORS_TOO) as e:
                part.problems.append(Problem(source, info.filename, f"unreadable: {e}"))
                continue
            _check(_osv_items(doc), part, source, info.filename)
    finally:
        if archive is not None:
            archive.close()
    return part.records, part.problems, []


def _load_zip(data: bytes, source: str, loaded: Loaded) -> None:
    members = _zip_members(data, source, loaded)
    if members:
        records, problems, _ = _zip_part((data, source), members)
        loaded.records += records
        loaded.problems += problems


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


def _dir_part(fixed: tuple[Path, str], paths: Sequence[Path]) -> Part:
    """Read these files of the folder `fixed` = (root, source); the listing has each file's
    (relative path, sha256)."""
    root, source = fixed
    part = Loaded(SourceKind.OSV_DIR, "")
    listing: list[tuple[str, str]] = []
    for path in paths:
        rel = path.relative_to(root).as_posix()
        try:
            data = path.read_bytes()
        except OSError as e:
            part.problems.append(Problem(source, rel, f"unreadable: {e.strerror or e}"))
            continue
        listing.append((rel, hashlib.sha256(data).hexdigest()))
        try:
            doc = parse_document(data, path.name)
        except InvalidRecord as e:
            part.problems.append(Problem(source, rel, e.message))
            continue
        _check(_osv_items(doc), part, source, rel)
    return part.records, part.problems, listing


def _listing_digest(listing: Iterable[tuple[str, str]]) -> str:
    digest = hashlib.sha256()
    for rel, sha in listing:
        digest.update(f"{rel}\0{sha}\n".encode())
    return digest.hexdigest()


def load_dir(root: Path, *, source: str, data_date: dt.datetime | None = None) -> Loaded:
    """Read every OSV file under `root`. Its sha256 is that of the sorted lines
    ``relative-path NUL sha256-of-file LF``: the same files give the same digest."""
    records, problems, listing = _dir_part((root, source), _walk(root))
    loaded = Loaded(SourceKind.OSV_DIR, _listing_digest(listing), records, problems)
    loaded.data_date = data_date or _newest_of(loaded.records)
    return loaded


def _unreadable(path: Path, e: OSError) -> VulnError:
    return VulnError(
        f"cannot read {path}: {e.strerror or e}",
        hint="give an OSV all.zip, a folder or file of OSV records, or the Debian "
        "tracker's JSON (https://security-tracker.debian.org/tracker/data/json)",
    )


def load_path(path: Path, *, data_date: dt.datetime | None = None) -> Loaded:
    """Read a source of any kind; VulnError when the path cannot be read at all."""
    source = str(path)
    try:
        if path.is_dir():
            return load_dir(path, source=source, data_date=data_date)
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError as e:
        raise _unreadable(path, e) from e
    return load_bytes(data, path.name, source=source, data_date=data_date, downloaded=mtime)


def detect_kind(path: Path) -> SourceKind:
    """What `path` holds (reads it); VulnError when it cannot be read."""
    return load_path(path).kind


def _chunks(items: Sequence[T], size: int) -> list[Sequence[T]]:
    return [items[i : i + size] for i in range(0, len(items), size)]


def _parts(
    path: Path, data_date: dt.datetime | None, workers: int | None
) -> tuple[Loaded, Iterator[Part]]:
    """What `path` is (kind, digest, problems found before any record, the data's date when
    the source states it) and its records, a part at a time; VulnError when it cannot be
    read at all."""
    source = str(path)
    try:
        if path.is_dir():
            chunks = _chunks(_walk(path), DIR_PART)
            head = Loaded(SourceKind.OSV_DIR, "", data_date=data_date)
            return head, parallel.ordered(_dir_part, (path, source), chunks, workers=workers)
        data = path.read_bytes()
        mtime = dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC)
    except OSError as e:
        raise _unreadable(path, e) from e
    if data[:4] in (b"PK\x03\x04", b"PK\x05\x06"):
        head = Loaded(SourceKind.OSV_ZIP, hashlib.sha256(data).hexdigest(), data_date=data_date)
        members = _chunks(_zip_members(data, source, head) or [], ZIP_PART)
        return head, parallel.ordered(_zip_part, (data, source), members, workers=workers)
    loaded = load_bytes(data, path.name, source=source, data_date=data_date, downloaded=mtime)
    head = Loaded(loaded.kind, loaded.sha256, data_date=loaded.data_date)
    return head, iter([(loaded.records, loaded.problems, [])])


def import_path(
    store: Store,
    path: Path,
    *,
    data_date: dt.datetime | None = None,
    workers: int | None = None,
) -> ImportResult:
    """Read `path` and store its valid records in one transaction, with a snapshot row.

    Zips and folders are read in `workers` worker processes (default: the processors there
    are, less one) while this process writes what they have read (:mod:`parallel`)."""
    head, parts = _parts(path, data_date, workers)
    problems = list(head.problems)
    listing: list[tuple[str, str]] = []
    read, newest = 0, ""
    counts, snapshot, date = Counts(), None, head.data_date
    with gc_paused(), store.importing(source=str(path), kind=head.kind.value) as batch:
        for records, part_problems, part_listing in parts:
            problems += part_problems
            listing += part_listing
            if records:
                batch.add(records)
                read += len(records)
                newest = max(newest, max(p.modified for p in records))
        if head.kind is SourceKind.OSV_DIR:
            head.sha256 = _listing_digest(listing)
        date = date or _newest(newest)
        if read:
            counts, snapshot = batch.finish(
                sha256=head.sha256, data_date=date, problems=len(problems)
            )
    return ImportResult(
        source=str(path),
        kind=head.kind,
        sha256=head.sha256,
        read=read,
        counts=counts,
        problems=tuple(problems),
        data_date=date,
        snapshot=snapshot,
    )
