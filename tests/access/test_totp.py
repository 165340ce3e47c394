"""TOTP (RFC 6238): the reference vectors, the ±1 step window, replay refusal, enrolment."""

from __future__ import annotations

import base64
import datetime as dt
import re
from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mamori.access import totp

# RFC 6238 Appendix B: the SHA-1 seed is the ASCII string "12345678901234567890".
RFC_SECRET = base64.b32encode(b"12345678901234567890").decode("ascii")
T0 = dt.datetime(2026, 11, 27, 9, 0, 0, tzinfo=dt.UTC)
SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


def at(seconds: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(seconds, dt.UTC)


@pytest.mark.parametrize(
    ("unix", "eight_digits"),
    [
        (59, "94287082"),
        (1111111109, "07081804"),
        (1111111111, "14050471"),
        (1234567890, "89005924"),
        (2000000000, "69279037"),
        (20000000000, "65353130"),
    ],
)
def test_rfc_6238_vectors(unix: int, eight_digits: str) -> None:
    # Six digits are the eight-digit value mod 10^6 (RFC 4226 §5.3): its last six.
    now = at(unix)
    assert totp.code_at(RFC_SECRET, now) == eight_digits[-6:]
    assert totp.verify(RFC_SECRET, eight_digits[-6:], now, None) == unix // 30


def test_window_is_one_step_either_side() -> None:
    step = totp.step_at(T0)
    for offset in (-1, 0, 1):
        code = totp.code_at(SECRET, T0 + dt.timedelta(seconds=30 * offset))
        assert totp.verify(SECRET, code, T0, None) == step + offset
    for offset in (-3, -2, 2, 3):
        code = totp.code_at(SECRET, T0 + dt.timedelta(seconds=30 * offset))
        if code not in {
            totp.code_at(SECRET, T0 + dt.timedelta(seconds=30 * o)) for o in (-1, 0, 1)
        }:
            assert totp.verify(SECRET, code, T0, None) is None


def test_replay_of_the_same_step_is_refused() -> None:
    code = totp.code_at(SECRET, T0)
    step = totp.verify(SECRET, code, T0, None)
    assert step is not None
    assert totp.verify(SECRET, code, T0, step) is None
    assert totp.verify(SECRET, code, T0 + dt.timedelta(seconds=20), step) is None


def test_an_earlier_step_is_refused_after_a_later_one() -> None:
    later = totp.verify(SECRET, totp.code_at(SECRET, T0 + dt.timedelta(seconds=30)), T0, None)
    assert later == totp.step_at(T0) + 1
    # The current step's code is still inside the window, but older than the one used.
    assert totp.verify(SECRET, totp.code_at(SECRET, T0), T0, later) is None
    # The next step's code is accepted once it comes.
    nxt = T0 + dt.timedelta(seconds=60)
    assert totp.verify(SECRET, totp.code_at(SECRET, nxt), nxt, later) == later + 1


@pytest.mark.parametrize(
    "code", [None, "", "12345", "1234567", "abcdef", "１２３４５６", "12345\n", "0x1234", " " * 40]
)
def test_malformed_codes_are_refused(code: str | None) -> None:
    assert totp.verify(SECRET, code, T0, None) is None


def test_codes_may_be_typed_with_spaces_or_a_dash() -> None:
    code = totp.code_at(SECRET, T0)
    for typed in (f"{code[:3]} {code[3:]}", f"{code[:3]}-{code[3:]}", f" {code} "):
        assert totp.verify(SECRET, typed, T0, None) == totp.step_at(T0)


@given(st.text(max_size=40))
def test_parse_code_never_raises_and_gives_six_ascii_digits(text: str) -> None:
    parsed = totp.parse_code(text)
    assert parsed is None or re.fullmatch(r"[0-9]{6}", parsed)


@given(st.integers(0, 999_999), st.sampled_from(["", " ", "-", "  "]))
def test_parse_code_accepts_every_six_digit_code(n: int, sep: str) -> None:
    code = f"{n:06d}"
    assert totp.parse_code(code[:3] + sep + code[3:]) == code


def test_new_secrets_are_160_bits_of_base32_and_differ() -> None:
    secrets = {totp.new_secret() for _ in range(50)}
    assert len(secrets) == 50
    for s in secrets:
        assert re.fullmatch(r"[A-Z2-7]{32}", s)
        assert len(base64.b32decode(s)) == 20


def test_enrolment_uri_and_local_qr_code() -> None:
    e = totp.enrolment("tanaka")
    assert e.secret not in repr(e)
    parts = urlsplit(e.uri)
    assert (parts.scheme, parts.netloc, parts.path) == ("otpauth", "totp", "/mamori:tanaka")
    query = parse_qs(parts.query)
    assert query["secret"] == [e.secret] and query["issuer"] == ["mamori"]
    # Defaults every app assumes: SHA-1, 6 digits, 30 s (pyotp leaves them out when default).
    assert query.get("algorithm", ["SHA1"]) == ["SHA1"]
    assert query.get("digits", ["6"]) == ["6"] and query.get("period", ["30"]) == ["30"]
    svg = e.qr_svg
    assert svg.startswith("<svg") and svg.rstrip().endswith("</svg>")
    # Drawn here: nothing to fetch, no script, no link.
    for forbidden in ("<script", "href", "<image", "<foreignObject", "url("):
        assert forbidden not in svg
    assert e.secret not in svg  # the secret is in the modules of the code, not in text


def test_enrolment_with_a_given_secret_is_deterministic() -> None:
    assert totp.enrolment("a", SECRET) == totp.enrolment("a", SECRET)
