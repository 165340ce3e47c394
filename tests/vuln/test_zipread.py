"""The fast zip member reader gives what ZipFile.read gives, or leaves the member to it."""

from __future__ import annotations

import io
import zipfile

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.vuln import zipread


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
