"""The streaming line splitter: same lines whatever the chunking, bounded memory for huge lines."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ledger.lines import Line, LineSplitter


def split_all(data: bytes, cuts: list[int], limit: int) -> list[Line]:
    s = LineSplitter(limit)
    out: list[Line] = []
    pos = 0
    for cut in sorted(set(c % (len(data) + 1) for c in cuts)):
        out.extend(s.feed(data[pos:cut]))
        pos = cut
    out.extend(s.feed(data[pos:]))
    last = s.finish()
    if last is not None:
        out.append(last)
    return out


def reference(data: bytes, limit: int) -> list[Line]:
    out = []
    parts = data.split(b"\n")
    if parts and parts[-1] == b"":
        parts.pop()
    for n, raw in enumerate(parts, start=1):
        if len(raw) > limit:
            out.append(Line(n, raw[:limit], truncated_from=len(raw)))
            continue
        line = raw[:-1] if raw.endswith(b"\r") else raw
        if line.strip():
            out.append(Line(n, line))
    return out


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300), st.lists(st.integers(0, 400), max_size=8), st.integers(1, 40))
def test_any_chunking_gives_the_reference_lines(data: bytes, cuts: list[int], limit: int) -> None:
    assert split_all(data, cuts, limit) == reference(data, limit)


def test_huge_line_is_truncated_and_flagged_not_dropped() -> None:
    s = LineSplitter(10)
    lines = list(s.feed(b"x" * 1000)) + list(s.feed(b"y" * 1000 + b"\nok\n"))
    assert lines == [Line(1, b"x" * 10, truncated_from=2000), Line(2, b"ok")]
    # Memory stays bounded: the buffer never holds more than the limit.
    assert len(s._buf) == 0


def test_crlf_blank_lines_and_missing_final_newline() -> None:
    s = LineSplitter(100)
    lines = list(s.feed(b'{"a":1}\r\n\n   \n{"b":2}'))
    last = s.finish()
    assert lines == [Line(1, b'{"a":1}')]
    assert last == Line(4, b'{"b":2}')
