"""mamori.ingest.framing: RFC 6587 octet counting and LF framing, streaming."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ingest.framing import Frame, FrameDecoder, OctetCountingDecoder
from mamori.ingest.syslog import parse


def octet(msg: bytes) -> bytes:
    return str(len(msg)).encode() + b" " + msg


def run(stream: bytes, cuts: list[int], max_frame: int = 64) -> list[Frame]:
    d = FrameDecoder(max_frame)
    out: list[Frame] = []
    last = 0
    for cut in sorted(set(cuts)):
        out += d.feed(stream[last:cut])
        last = cut
    out += d.feed(stream[last:])
    out += d.finish()
    return out


def test_octet_counting_frames_may_contain_lf() -> None:
    a = b"<34>1 - h a - - - line one\nline two"
    b = b"<13>Oct 11 22:14:15 h t: x"
    d = OctetCountingDecoder()
    assert d.feed(octet(a) + octet(b)) == [Frame(a), Frame(b)]
    assert d.finish() == []


def test_lf_framing_strips_cr_and_skips_blank_lines() -> None:
    d = FrameDecoder()
    assert d.feed(b"<13>one\r\n\n\n<14>two\n<15>thr") == [Frame(b"<13>one"), Frame(b"<14>two")]
    assert d.finish() == [Frame(b"<15>thr")]
    assert d.finish() == []


def test_mixed_framings_on_one_connection() -> None:
    d = FrameDecoder()
    stream = octet(b"<1>a b") + b"<2>lf\n" + octet(b"<3>c") + b"\n" + b"<4>d\n"
    assert d.feed(stream) == [Frame(b"<1>a b"), Frame(b"<2>lf"), Frame(b"<3>c"), Frame(b"<4>d")]


def test_octet_frame_split_byte_by_byte() -> None:
    msg = b"<165>1 2003-10-11T22:14:15.003Z host app - - - hi"
    d = FrameDecoder()
    frames: list[Frame] = []
    for byte in octet(msg) * 3:
        frames += d.feed(bytes([byte]))
    assert frames == [Frame(msg)] * 3


def test_overlong_octet_frame_truncated_and_flagged() -> None:
    d = FrameDecoder(max_frame=8)
    big = b"<1>" + b"x" * 100
    frames = d.feed(octet(big)[:50]) + d.feed(octet(big)[50:] + octet(b"<2>ok"))
    assert frames == [Frame(big[:8], truncated_from=103), Frame(b"<2>ok")]
    assert len(d._cur) <= 8


def test_overlong_lf_frame_truncated_and_flagged() -> None:
    d = FrameDecoder(max_frame=4)
    assert d.feed(b"<1>abcdef\r\n<2>a\r\n<3>ab\r\n") == [
        Frame(b"<1>a", truncated_from=9),
        Frame(b"<2>a"),  # exactly the limit, its CR dropped: not truncated
        Frame(b"<3>a", truncated_from=5),
    ]


def test_memory_bounded_under_a_flood() -> None:
    d = FrameDecoder(max_frame=1024)
    for _ in range(200):
        assert d.feed(b"<" + b"a" * 65536) == []
        assert len(d._cur) <= 1024
    [frame] = d.feed(b"\n")
    assert frame.truncated_from == 200 * 65537 and len(frame.data) == 1024


@pytest.mark.parametrize(
    ("stream", "expected"),
    [
        (
            b"012 abc\n<1>x\n",
            [Frame(b"012 abc", error="bad octet-count prefix b'0' + b'1'"), Frame(b"<1>x")],
        ),
        (b"0 x\n", [Frame(b"0 x", error="bad octet-count prefix b'0' + b' '")]),
        (b"12a bc\n", [Frame(b"12a bc", error="bad octet-count prefix b'12' + b'a'")]),
        (
            b"12345678901 x\n",
            [Frame(b"12345678901 x", error="bad octet-count prefix b'1234567890' + b'1'")],
        ),
        (
            b"2024-01-01 rfc3164-ish\n",
            [Frame(b"2024-01-01 rfc3164-ish", error="bad octet-count prefix b'2024' + b'-'")],
        ),
    ],
)
def test_bad_length_prefix_kept_as_error_frame(stream: bytes, expected: list[Frame]) -> None:
    d = FrameDecoder()
    assert d.feed(stream) + d.finish() == expected


def test_finish_reports_incomplete_octet_frames() -> None:
    d = FrameDecoder()
    assert d.feed(b"10 <1>ab") == []
    assert d.finish() == [
        Frame(b"<1>ab", error="stream ended 5 bytes short of a 10-byte frame (5 received)")
    ]
    assert d.feed(b"123") == []
    assert d.finish() == [Frame(b"123", error="stream ended inside an octet count")]


def test_max_frame_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        FrameDecoder(0)


_MSGS = st.lists(
    st.one_of(
        st.binary(min_size=1, max_size=120).map(lambda b: b"<13>" + b),
        st.binary(max_size=120),
    ),
    min_size=1,
    max_size=12,
)


@st.composite
def _streams(draw: st.DrawFn) -> bytes:
    parts: list[bytes] = []
    for msg in draw(_MSGS):
        if draw(st.booleans()):
            parts.append(octet(msg))
        else:
            parts.append(msg.replace(b"\n", b" ") + draw(st.sampled_from([b"\n", b"\r\n"])))
    return b"".join(parts)


@settings(max_examples=400, deadline=None)
@given(
    _streams(), st.lists(st.integers(min_value=0, max_value=2000), max_size=20), st.integers(1, 200)
)
def test_chunking_does_not_change_frames(stream: bytes, cuts: list[int], max_frame: int) -> None:
    whole = run(stream, [], max_frame)
    assert run(stream, cuts, max_frame) == whole
    # ...and so parsing the frames gives the same messages.
    assert [parse(f.data) for f in run(stream, cuts, max_frame)] == [parse(f.data) for f in whole]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.binary(max_size=200).map(lambda b: b"<" + b.replace(b"\n", b" ")),
        min_size=1,
        max_size=10,
    )
)
def test_well_formed_octet_stream_round_trips(msgs: list[bytes]) -> None:
    stream = b"".join(octet(m) for m in msgs)
    assert run(stream, [len(stream) // 2], max_frame=1000) == [Frame(m) for m in msgs]
    lf = b"".join(m.rstrip(b"\r") + b"\n" for m in msgs)
    assert run(lf, [len(lf) // 3], max_frame=1000) == [Frame(m.rstrip(b"\r")) for m in msgs]


@settings(max_examples=1000, deadline=None)
@given(st.binary(max_size=400), st.lists(st.integers(0, 400), max_size=10), st.integers(1, 64))
def test_decoder_never_raises_and_stays_bounded(
    data: bytes, cuts: list[int], max_frame: int
) -> None:
    frames = run(data, cuts, max_frame)
    for f in frames:
        assert len(f.data) <= max(max_frame, 10)
        assert f.truncated_from is None or f.truncated_from > max_frame
    assert frames == run(data, [], max_frame)
