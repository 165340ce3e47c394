"""Reading the members of an OSV export zip with less overhead than ``ZipFile.read``.

An OSV ``all.zip`` holds one small deflated ``.json`` per record (~100,000 for PyPI or npm).
``ZipFile.read`` costs ~25 µs a member in Python (a ``ZipExtFile`` per member, buffered reads)
besides inflating it; :func:`member` inflates the member straight from the archive's bytes
(~5 µs). It does only the common case — stored or deflated, not encrypted, the local header
agreeing with the central directory, the inflated size and CRC-32 as the directory says — and
returns None for anything else, so that the caller falls back to ``ZipFile.read``, which
decides and reports exactly as before.
"""

from __future__ import annotations

import struct
import zipfile
import zlib
from typing import Final

_LOCAL: Final = struct.Struct("<4s2xHH8xII2H")
"""Local file header (APPNOTE.TXT §4.3.7): signature, flags, method, (time, date, CRC) skipped,
compressed and uncompressed sizes, name and extra lengths."""
_SIGNATURE: Final = b"PK\x03\x04"
_ENCRYPTED: Final = 0x1
_UTF8: Final = 0x800


def member(data: bytes | memoryview, info: zipfile.ZipInfo) -> bytes | None:
    """The inflated content of `info` from the whole archive `data`, or None when it is not the
    plain case (see the module) and ``ZipFile.read`` must decide."""
    if info.flag_bits & _ENCRYPTED or info.compress_type not in (
        zipfile.ZIP_STORED,
        zipfile.ZIP_DEFLATED,
    ):
        return None
    start = info.header_offset
    try:
        sig, _flags, _method, _csize, _usize, name_len, extra_len = _LOCAL.unpack_from(data, start)
    except struct.error:
        return None
    name_at = start + _LOCAL.size
    encoding = "utf-8" if info.flag_bits & _UTF8 else "cp437"
    try:
        expected_name = info.orig_filename.encode(encoding)
    except UnicodeEncodeError:
        return None
    if sig != _SIGNATURE or bytes(data[name_at : name_at + name_len]) != expected_name:
        return None
    begin = name_at + name_len + extra_len
    raw = data[begin : begin + info.compress_size]
    if len(raw) != info.compress_size:
        return None
    if info.compress_type == zipfile.ZIP_STORED:
        out = bytes(raw)
    else:
        inflater = zlib.decompressobj(-15)
        try:
            out = inflater.decompress(raw, info.file_size + 1)
        except zlib.error:
            return None
        if not inflater.eof:
            return None
    if len(out) != info.file_size or zlib.crc32(out) != info.CRC:
        return None
    return out
