"""Webhooks: an HMAC-signed JSON POST over verified TLS (httpx).

The body is canonical JSON (RFC 8785, :func:`mamori.ledger.canonical.canonical`), so the bytes
signed are the bytes a receiver can re-derive. Headers (see :mod:`mamori.notify.signature`):

    Content-Type: application/json
    X-Mamori-Delivery: <the delivery's stable id: the same on every retry>
    X-Mamori-Timestamp: <unix seconds>
    X-Mamori-Signature: sha256=<hex HMAC-SHA256(key, f"{timestamp}.".encode() + body)>

A 2xx answer is a delivery. 4xx answers are permanent failures, except 408 (Request Timeout)
and 429 (Too Many Requests), which are retried like 5xx answers and network errors
(RFC 9110 §15.5, §15.6; RFC 6585 §4). Redirects are not followed: the signature was made
for this receiver. The URL is never logged or recorded whole: it may carry a credential.
"""

from __future__ import annotations

import email.utils
import ssl
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import httpx

from mamori import __version__
from mamori.ledger.canonical import canonical
from mamori.notify.settings import redact_url
from mamori.notify.signature import sign
from mamori.notify.transports.interface import SendError, Sent, ca_context

RETRYABLE_4XX: Final = frozenset({408, 429})
MAX_RETRY_AFTER_S: Final = 3600.0


def body_bytes(document: Mapping[str, Any]) -> bytes:
    """The request body: the canonical JSON of `document`."""
    return canonical(dict(document))


def headers(
    secret: bytes, *, timestamp: int, body: bytes, delivery: str, kind: str
) -> dict[str, str]:
    """The request's headers, signature included (pure)."""
    return {
        "Content-Type": "application/json",
        "User-Agent": f"mamori/{__version__}",
        "X-Mamori-Delivery": delivery,
        "X-Mamori-Kind": kind,
        "X-Mamori-Timestamp": str(timestamp),
        "X-Mamori-Signature": sign(secret, timestamp, body),
    }


def classify(status: int, retry_after: str | None) -> Sent:
    """A 2xx status is :class:`Sent`; any other raises :class:`SendError`, permanent for 4xx
    other than 408 and 429."""
    if 200 <= status < 300:
        return Sent(detail=f"HTTP {status}", fields={"http_status": status})
    permanent = 400 <= status < 500 and status not in RETRYABLE_4XX
    raise SendError(
        f"the receiver answered HTTP {status}",
        permanent=permanent,
        retry_after_s=None if permanent else _retry_after(retry_after),
    )


def _retry_after(value: str | None) -> float | None:
    """Retry-After as seconds (RFC 9110 §10.2.3: delay-seconds or an HTTP-date), capped."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER_S)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return min(max(when.timestamp() - time.time(), 0.0), MAX_RETRY_AFTER_S)


async def post(
    url: str,
    body: bytes,
    request_headers: Mapping[str, str],
    *,
    timeout_s: float,
    ca_file: Path | None,
) -> Sent:
    """POST `body` to `url`; :class:`Sent` on 2xx, :class:`SendError` otherwise."""
    shown = redact_url(url)
    verify: ssl.SSLContext | bool = True
    if ca_file is not None:
        verify = ca_context(ca_file, "the route's ca_file")
    try:
        async with (
            httpx.AsyncClient(verify=verify, timeout=timeout_s, follow_redirects=False) as client,
            client.stream("POST", url, content=body, headers=dict(request_headers)) as resp,
        ):
            # The answer's body is not read: only its status matters, whatever its size.
            status = resp.status_code
            retry_after = resp.headers.get("Retry-After")
    except httpx.HTTPError as e:
        # httpx's messages can quote the URL; keep only its origin.
        reason = str(e).replace(url, shown) or type(e).__name__
        hint = None
        if _is_cert_error(e):
            hint = "for a private CA set the route's ca_file to its PEM file"
        raise SendError(f"POST to {shown} failed: {reason}", permanent=False, hint=hint) from e
    return classify(status, retry_after)


def _is_cert_error(e: BaseException) -> bool:
    seen: BaseException | None = e
    while seen is not None:
        if isinstance(seen, ssl.SSLCertVerificationError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False
