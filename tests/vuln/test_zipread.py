"""The fast zip member reader gives what ZipFile.read gives, or leaves the member to it."""

from __future__ import annotations

import io
import struct
import warnings
import zipfile
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln import zipread
from mamori.vuln.importer import import_path
from mamori.vuln.store import Store


def _zip(members: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", method) as zf:
        for name, content in members.items():
            zf.writestr(name, content)
    return buf.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    members=st.dictionaries(
        st.text(alphabet="abcé日.-_", min_size=1, max_size=12), st.binary(max_size=300), max_size=5
    ),
    method=st.sampled_from([zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2]),
)
def test_same_content_as_zipfile(members: dict[str, bytes], method: int) -> None:
    data = _zip(members, method)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        for info in zf.infolist():
            fast = zipread.member(data, info)
            if method == zipfile.ZIP_BZIP2:
                assert fast is None
            else:
                assert fast == zf.read(info)


def test_a_bad_crc_is_left_to_zipfile() -> None:
    data = bytearray(_zip({"a.json": b'{"id": "A"}' * 20}))
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
    info.CRC ^= 1
    assert zipread.member(bytes(data), info) is None


def test_a_header_that_disagrees_with_the_directory_is_left_to_zipfile() -> None:
    data = bytearray(_zip({"a.json": b"{}"}))
    data[30] = ord("b")  # the local header's file name
    with zipfile.ZipFile(io.BytesIO(bytes(data))) as zf:
        info = zf.infolist()[0]
        assert zipread.member(bytes(data), info) is None
        with pytest.raises(zipfile.BadZipFile):
            zf.read(info)


def test_a_truncated_archive_is_left_to_zipfile() -> None:
    data = _zip({"a.json": b"x" * 1000}, zipfile.ZIP_STORED)
    with zipfile.ZipFile(io.BytesIO(data)) as zf:
        info = zf.infolist()[0]
    assert zipread.member(data[:200], info) is None


# ---------------------------------------------------------------- the central directory

_FIELDS = ("filename", "flag_bits", "compress_type", "CRC", "compress_size", "file_size",
           "header_offset")  # fmt: skip


def _as_zipfile_reads(data: bytes) -> list[tuple[object, ...]] | None:
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as zf:
            return [tuple(getattr(i, f) for f in _FIELDS) for i in zf.infolist()]
    except Exception:
        return None


def _agrees(data: bytes) -> list[zipread.Entry] | None:
    """directory() either leaves the archive to ZipFile, or reads exactly what it reads."""
    fast = zipread.directory(data)
    if fast is not None:
        expected = _as_zipfile_reads(data)
        assert expected is not None, "read an archive ZipFile refuses"
        assert [tuple(getattr(e, f) for f in _FIELDS) for e in fast] == expected
        assert [e.position for e in fast] == list(range(len(fast)))
    return fast


def _zip_with(members: dict[str, bytes], comment: bytes = b"", extra: bytes = b"") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in members.items():
            info = zipfile.ZipInfo(name)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.extra = extra
            zf.writestr(info, content)
        zf.comment = comment
    return buf.getvalue()


@settings(max_examples=200, deadline=None)
@given(
    members=st.dictionaries(
        st.text(alphabet="abcé日.-_/", min_size=1, max_size=12), st.binary(max_size=200), max_size=6
    ),
    comment=st.binary(max_size=40),
    extra=st.sampled_from([b"", b"UT\x05\x00\x03\x00\x00\x00\x00", b"\x01\x00\x00\x00"]),
)
def test_directory_reads_what_zipfile_reads(
    members: dict[str, bytes], comment: bytes, extra: bytes
) -> None:
    data = _zip_with(members, comment, extra)
    fast = _agrees(data)
    if extra.startswith(b"\x01\x00") and members:
        assert fast is None  # a ZIP64 block: ZipFile decides
    elif not comment:
        assert fast is not None and len(fast) == len(members)


@settings(max_examples=300, deadline=None)
@given(
    members=st.dictionaries(
        st.text(alphabet="ab.", min_size=1, max_size=5),
        st.binary(max_size=50),
        min_size=1,
        max_size=4,
    ),
    flips=st.lists(
        st.tuples(st.integers(min_value=1, max_value=400), st.integers(0, 255)),
        min_size=1,
        max_size=4,
    ),
)
def test_fuzz_a_damaged_directory_is_read_as_zipfile_reads_it_or_left_to_it(
    members: dict[str, bytes], flips: list[tuple[int, int]]
) -> None:
    data = bytearray(_zip_with(members))
    for back, value in flips:
        data[max(0, len(data) - back)] = value  # the directory and end record are at the end
    _agrees(bytes(data))
    _agrees(bytes(data[: len(data) // 2]))


def test_what_the_directory_leaves_to_zipfile() -> None:
    plain = _zip_with({"a.json": b"{}"})
    assert zipread.directory(plain) is not None
    assert zipread.directory(b"x" * 10) is None
    assert zipread.directory(b"prefix" + plain) is None  # offsets shifted: ZipFile adjusts
    newer = bytearray(plain)
    struct.pack_into("<H", newer, newer.find(b"PK\x01\x02") + 6, 64)  # version needed 6.4
    assert zipread.directory(bytes(newer)) is None
    named = bytearray(plain)
    at = named.find(b"PK\x01\x02") + 46
    named[at : at + 1] = b"\0"  # ZipFile cuts the name at a NUL
    assert zipread.directory(bytes(named)) is None


def test_zip_of_a_version_zipfile_refuses_is_a_problem_not_a_crash(tmp_path: Path) -> None:
    # Bug pinned: ZipFile raises NotImplementedError for a "version needed to extract" above
    # 6.3, and the importer let it escape as a traceback.
    data = bytearray(_zip_with({"A.json": b'{"id": "A", "modified": "2026-01-01T00:00:00Z"}'}))
    struct.pack_into("<H", data, data.find(b"PK\x01\x02") + 6, 64)
    path = tmp_path / "new.zip"
    path.write_bytes(bytes(data))
    with Store(tmp_path / "a.db") as store:
        result = import_path(store, path, workers=0)
    assert result.read == 0
    (problem,) = result.problems
    assert "not a readable zip: zip file version 6.4" in problem.reason


def test_a_member_zipread_cannot_read_is_read_by_zipfile_at_the_same_position(
    tmp_path: Path,
) -> None:
    # Two members with one name (the second wins in ZipFile.getinfo): the fallback must read
    # each at its own position, not by name.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_BZIP2) as zf:  # bzip2: zipread leaves it
        zf.writestr("A.json", b'{"id": "A-1", "modified": "2026-01-01T00:00:00Z"}')
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "Duplicate name"
            zf.writestr("A.json", b'{"id": "A-2", "modified": "2026-01-01T00:00:00Z"}')
    path = tmp_path / "dup.zip"
    path.write_bytes(buf.getvalue())
    assert zipread.directory(buf.getvalue()) is not None
    with Store(tmp_path / "b.db") as store:
        result = import_path(store, path, workers=0)
        assert result.read == 2 and store.get("A-1") is not None and store.get("A-2") is not None


def test_over_65535_members_the_zip64_end_records_are_read() -> None:
    # The npm export has more members than a plain end record counts: ZIP64 end records.
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        for i in range(66_000):
            zf.writestr(f"{i}.json", b"{}")
    data = buf.getvalue()
    assert b"PK\x06\x06" in data[-200:]  # it does have them
    fast = _agrees(data)
    assert fast is not None and len(fast) == 66_000
    assert _agrees(data[:-98] + data[-98:].replace(b"PK\x06\x06", b"PK\x06\x05")) is None
