"""TOTP second factor (RFC 6238): the codes authenticator apps show, checked with replay refused.

SHA-1, 30-second steps, 6 digits: the parameters every authenticator app supports (RFC 6238
§4 and its reference implementation; Google Authenticator ignores any others). A code is
accepted for the current step and one step either side (§5.2: clocks drift, people type
slowly), and only for a step later than the last one accepted for that account, so a code
seen over a shoulder or in a log cannot be used again (§5.2: "the verifier MUST NOT accept the
second attempt of the same OTP").

Everything here is pure: the secret, the code and the time are given. Enrolment QR codes are
drawn locally as SVG (segno): the secret never leaves mamori, not even to draw a picture.
"""

from __future__ import annotations

import datetime as dt
import hmac
import re
from dataclasses import dataclass, field
from typing import Final

import pyotp
import segno

ISSUER: Final = "mamori"
"""The issuer shown by authenticator apps."""
DIGITS: Final = 6
STEP_SECONDS: Final = 30
WINDOW: Final = 1
"""Steps accepted either side of the current one."""
SECRET_BYTES: Final = 20
"""160-bit secrets, as RFC 4226 §4 recommends (32 base32 characters)."""

_CODE = re.compile(r"[0-9]{6}")
_SEPARATORS = re.compile(r"[\s-]")


@dataclass(frozen=True, slots=True)
class Enrolment:
    """What a person needs to add mamori to an authenticator app."""

    secret: str = field(repr=False)
    """Base32, for typing in by hand."""
    uri: str = field(repr=False)
    """otpauth://totp/mamori:NAME?secret=…&issuer=mamori…"""
    qr_svg: str = field(repr=False)
    """The URI as a QR code, an inline <svg> element."""


def new_secret() -> str:
    """A new random secret, base32 without padding."""
    return pyotp.random_base32(length=SECRET_BYTES * 8 // 5)


def _totp(secret: str, name: str | None = None) -> pyotp.TOTP:
    return pyotp.TOTP(
        secret, digits=DIGITS, interval=STEP_SECONDS, name=name, issuer=ISSUER, digest=None
    )


def step_at(now: dt.datetime) -> int:
    """The RFC 6238 §4.2 time step T = floor(unix time / 30)."""
    return int(now.timestamp()) // STEP_SECONDS


def code_at(secret: str, now: dt.datetime) -> str:
    """The code an authenticator app shows at `now`."""
    return _totp(secret).generate_otp(step_at(now))


def parse_code(text: str | None) -> str | None:
    """A code as six ASCII digits, spaces and dashes removed ("123 456"); None otherwise."""
    if text is None or len(text) > 32:
        return None
    s = _SEPARATORS.sub("", text)
    return s if _CODE.fullmatch(s) else None


def verify(secret: str, code: str | None, now: dt.datetime, last_step: int | None) -> int | None:
    """The step `code` belongs to when it is valid at `now` and later than `last_step`.

    None for a wrong, malformed or missing code, and for a replay: a code of `last_step` or an
    earlier step, even one still inside the window.
    """
    c = parse_code(code)
    if c is None:
        return None
    totp = _totp(secret)
    current = step_at(now)
    matched: int | None = None
    # Every candidate is computed and compared in constant time, so timing does not say which
    # step matched.
    for step in range(current - WINDOW, current + WINDOW + 1):
        if hmac.compare_digest(totp.generate_otp(step), c) and matched is None:
            matched = step
    if matched is None or (last_step is not None and matched <= last_step):
        return None
    return matched


def provisioning_uri(secret: str, name: str) -> str:
    """The otpauth:// URI authenticator apps read (issuer "mamori", account `name`)."""
    return _totp(secret, name).provisioning_uri()


def qr_svg(uri: str) -> str:
    """`uri` as a QR code: an inline <svg> element, made here, with no network access."""
    # Error correction M (15 %): survives a smudged screen; scale 4 px per module.
    return str(segno.make(uri, error="m").svg_inline(scale=4, title="TOTP enrolment"))


def enrolment(name: str, secret: str | None = None) -> Enrolment:
    """A new enrolment for the account `name` (a new secret unless one is given)."""
    s = secret or new_secret()
    uri = provisioning_uri(s, name)
    return Enrolment(secret=s, uri=uri, qr_svg=qr_svg(uri))
