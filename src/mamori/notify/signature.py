"""The webhook signature: HMAC-SHA256 over the timestamp and the body (pure).

The scheme is the one Stripe and GitHub use, so receivers know it:

    X-Mamori-Timestamp: 1767225600
    X-Mamori-Signature: sha256=<hex of HMAC-SHA256(key, b"1767225600." + body)>

The timestamp is inside the signed bytes, so a captured request cannot be replayed later than
the receiver's tolerance (5 minutes by default) with a new timestamp. Keys are compared in
constant time (`hmac.compare_digest`). The header may carry several comma-separated signatures
(`sha256=…,sha256=…`) so that keys can be rotated; one valid signature suffices.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Final

PREFIX: Final = "sha256="
DEFAULT_TOLERANCE_S: Final = 300
MIN_KEY_BYTES: Final = 16
"""Shorter keys are refused: an HMAC is only as strong as its key (RFC 2104 §3)."""


def signed_bytes(timestamp: int, body: bytes) -> bytes:
    """What is signed: the decimal timestamp, a dot, then the body as sent."""
    return f"{timestamp}.".encode("ascii") + body


def sign(secret: bytes, timestamp: int, body: bytes) -> str:
    """The X-Mamori-Signature header value for `body` sent at `timestamp` (unix seconds)."""
    mac = hmac.new(secret, signed_bytes(timestamp, body), hashlib.sha256)
    return PREFIX + mac.hexdigest()


def verify_signature(
    secret: bytes | str,
    timestamp: str | int,
    body: bytes,
    header: str,
    *,
    now: float,
    tolerance_s: int = DEFAULT_TOLERANCE_S,
) -> bool:
    """True when `header` (X-Mamori-Signature) signs `body` at `timestamp`
    (X-Mamori-Timestamp) with `secret`, and `timestamp` is within `tolerance_s` of `now`.

    For receivers: pass the raw request body, before any JSON parsing.
    """
    key = secret.encode("utf-8") if isinstance(secret, str) else secret
    if isinstance(timestamp, str):
        text = timestamp.strip()
        if not text.isascii() or not text.isdigit() or len(text) > 15:
            return False
        ts = int(text)
    else:
        ts = timestamp
    if abs(now - ts) > tolerance_s:
        return False
    expected = sign(key, ts, body).encode("ascii")
    ok = False
    for part in header.split(","):
        candidate = part.strip().encode("utf-8", "replace")
        # Every candidate is compared, in constant time each, so timing says nothing of which.
        ok |= hmac.compare_digest(expected, candidate)
    return ok
