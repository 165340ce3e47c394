"""Webhooks to a real HTTPS receiver: signed, verified, retried, failed."""

from __future__ import annotations

import time
from pathlib import Path

import orjson
import pytest

from mamori.home import Home
from mamori.ledger.canonical import canonical
from mamori.notify.dispatch import Outcome
from mamori.notify.queue import enqueue, list_deliveries
from mamori.notify.signature import verify_signature
from mamori.notify.store import State
from mamori.notify.transports.interface import SendError
from mamori.notify.transports.webhook import classify
from tests.notify.helpers import SUBJECT, alert, audit_events, deliver, outbox_bytes
from tests.notify.servers import Pki, configure, webhook_server, write_secret
from tests.service.svc import free_port

SECRET = b"4f1c7a0e9b2d4c6e8a1f3b5d7c9e0a2b"
PATH = "/hooks/T0123/B0456/path-is-a-credential"


def hook_config(
    home: Home,
    port: int,
    *,
    scheme: str = "https",
    ca: Path | None = None,
    secret: bytes = SECRET,
) -> None:
    path = write_secret(home, "hook", secret + b"\n")
    lines = [
        "[[route]]",
        'name = "hook"',
        'kind = "webhook"',
        f'url = "{scheme}://127.0.0.1:{port}{PATH}"',
        f'secret_file = "{path}"',
        'min_severity = "high"',
    ]
    if ca is not None:
        lines.append(f'ca_file = "{ca}"')
    configure(home, "\n".join(lines) + "\n")


def test_a_signed_post_arrives_and_verifies(home: Home, pki: Pki) -> None:
    with webhook_server(pki.server_context()) as (rx, port):
        hook_config(home, port, ca=pki.ca)
        (delivery_id,) = enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.SENT and r.detail == "HTTP 200"
    (req,) = rx.requests
    assert req.path == PATH
    (d,) = list_deliveries(home)
    assert d.id == delivery_id and d.state is State.SENT and d.result == "HTTP 200"
    h = req.headers
    assert h["Content-Type"] == "application/json"
    assert h["X-Mamori-Delivery"] == d.delivery
    assert h["X-Mamori-Kind"] == "alert"
    ts = h["X-Mamori-Timestamp"]
    assert abs(int(ts) - time.time()) < 60
    assert h["X-Mamori-Signature"].startswith("sha256=")
    # The receiver's side: the raw body and three headers are all it needs.
    now = time.time()
    assert verify_signature(SECRET, ts, req.body, h["X-Mamori-Signature"], now=now)
    assert not verify_signature(
        b"not the key, but long", ts, req.body, h["X-Mamori-Signature"], now=now
    )
    tampered = req.body.replace(b'"critical"', b'"low"')
    assert tampered != req.body
    assert not verify_signature(SECRET, ts, tampered, h["X-Mamori-Signature"], now=now)
    assert not verify_signature(SECRET, ts, req.body, h["X-Mamori-Signature"], now=now + 301)
    doc = orjson.loads(req.body)
    assert req.body == canonical(doc)  # canonical JSON: the bytes are re-derivable
    assert doc["delivery"] == d.delivery and doc["route"] == "hook"
    assert (doc["kind"], doc["severity"], doc["rule"]) == (
        "alert",
        "critical",
        "mamori.auth.bruteforce",
    )
    assert doc["subject"] == SUBJECT
    assert doc["payload"] == {
        "alert": {"id": "a-1", "rule": "mamori.auth.bruteforce", "count": 120}
    }
    assert doc["created"].endswith("Z")
    queued, sent = audit_events(home)
    assert queued["mamori"]["audit"]["target"] == f"https://127.0.0.1:{port}/…"
    assert sent["event"]["action"] == "notify.sent"
    assert sent["mamori"]["audit"]["http_status"] == 200
    # Neither the key nor the URL's path (often a credential) reaches the ledger.
    ledger = outbox_bytes(home)
    assert SECRET not in ledger and b"path-is-a-credential" not in ledger


def test_5xx_is_retried_with_backoff(home: Home, pki: Pki) -> None:
    with webhook_server(pki.server_context()) as (rx, port):
        hook_config(home, port, ca=pki.ca)
        rx.statuses = [500, 503]
        t0 = time.time()
        enqueue(home, alert(), now=t0)
        (r1,) = deliver(home, t0)
        assert deliver(home, t0 + 29) == []
        (r2,) = deliver(home, t0 + 30)
        assert deliver(home, t0 + 89) == []
        (r3,) = deliver(home, t0 + 90)
    assert (r1.outcome, r1.next_at, r1.detail) == (
        Outcome.DEFERRED,
        t0 + 30,
        "the receiver answered HTTP 500",
    )
    assert (r2.outcome, r2.next_at) == (Outcome.DEFERRED, t0 + 90)
    assert (r3.outcome, r3.attempts) == (Outcome.SENT, 3)
    assert len(rx.requests) == 3
    # Every attempt carries the same delivery id and a fresh, valid signature.
    assert len({q.headers["X-Mamori-Delivery"] for q in rx.requests}) == 1
    for q, at in zip(rx.requests, (t0, t0 + 30, t0 + 90), strict=True):
        assert q.headers["X-Mamori-Timestamp"] == str(int(at))
        sig = q.headers["X-Mamori-Signature"]
        assert verify_signature(SECRET, q.headers["X-Mamori-Timestamp"], q.body, sig, now=at)
    assert [e["event"]["action"] for e in audit_events(home)] == [
        "notify.queued",
        "notify.deferred",
        "notify.deferred",
        "notify.sent",
    ]


@pytest.mark.parametrize("status", [408, 429])
def test_408_and_429_are_retried(home: Home, pki: Pki, status: int) -> None:
    with webhook_server(pki.server_context()) as (rx, port):
        hook_config(home, port, ca=pki.ca)
        rx.statuses = [status]
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED


@pytest.mark.parametrize("status", [400, 401, 403, 404, 410, 422])
def test_4xx_fails_permanently(home: Home, pki: Pki, status: int) -> None:
    with webhook_server(pki.server_context()) as (rx, port):
        hook_config(home, port, ca=pki.ca)
        rx.statuses = [status]
        t0 = time.time()
        enqueue(home, alert(), now=t0)
        (r,) = deliver(home, t0)
        assert deliver(home, t0 + 100_000) == []  # never tried again
    assert r.outcome is Outcome.FAILED and r.detail == f"the receiver answered HTTP {status}"
    assert len(rx.requests) == 1
    (d,) = list_deliveries(home)
    assert d.state is State.FAILED and d.done_at is not None
    (failed,) = [e for e in audit_events(home) if e["event"]["action"] == "notify.failed"]
    assert failed["event"]["outcome"] == "failure"
    assert failed["mamori"]["audit"]["permanent"] is True


def test_give_up_after_the_retry_window(home: Home) -> None:
    port = free_port()  # nothing listens: every attempt fails
    hook_config(home, port, scheme="http")
    t0 = time.time()
    enqueue(home, alert(), now=t0)
    seen = []
    at = t0
    for _ in range(10):
        results = deliver(home, at, give_up_s=100)
        if not results:
            break
        (r,) = results
        seen.append((r.outcome, r.next_at))
        if r.next_at is None:
            break
        at = r.next_at
    # 30 s, 60 s, then one last attempt exactly when the window closes.
    assert seen == [
        (Outcome.DEFERRED, t0 + 30),
        (Outcome.DEFERRED, t0 + 90),
        (Outcome.DEFERRED, t0 + 100),
        (Outcome.FAILED, None),
    ]
    (d,) = list_deliveries(home)
    assert d.state is State.FAILED and d.last_error is not None
    assert d.last_error.startswith("gave up after 4 attempts")
    (failed,) = [e for e in audit_events(home) if e["event"]["action"] == "notify.failed"]
    assert failed["mamori"]["audit"]["permanent"] is False


def test_an_untrusted_certificate_is_deferred(home: Home, pki: Pki) -> None:
    with webhook_server(pki.server_context()) as (rx, port):
        hook_config(home, port)  # no ca_file: the test CA is not trusted
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED
    assert "ca_file" in r.detail
    assert rx.requests == []
    assert "path-is-a-credential" not in r.detail


def test_plain_http_on_loopback(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook_config(home, port, scheme="http")
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.SENT and len(rx.requests) == 1


def test_a_short_key_is_refused(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook_config(home, port, scheme="http", secret=b"short")
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED and "shorter than 16 bytes" in r.detail
    assert rx.requests == []


def test_a_missing_key_file_is_deferred_until_fixed(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook_config(home, port, scheme="http")
        (home.root / "secrets" / "hook").unlink()
        t0 = time.time()
        enqueue(home, alert(), now=t0)
        (r,) = deliver(home, t0)
        assert r.outcome is Outcome.DEFERRED and '[route "hook"] secret_file' in r.detail
        write_secret(home, "hook", SECRET)
        (r,) = deliver(home, t0 + 30)
    assert r.outcome is Outcome.SENT and len(rx.requests) == 1


def test_a_route_removed_from_the_config_fails_its_deliveries(home: Home) -> None:
    before = home.config_path.read_text()
    hook_config(home, free_port(), scheme="http")
    enqueue(home, alert())
    home.config_path.write_text(before)
    (r,) = deliver(home)
    assert r.outcome is Outcome.FAILED and "no longer in mamori.toml" in r.detail


def test_classify() -> None:
    assert classify(204, None).fields == {"http_status": 204}
    for status, permanent in ((301, False), (400, True), (408, False), (429, False), (502, False)):
        with pytest.raises(SendError) as info:
            classify(status, None)
        assert info.value.permanent is permanent
    with pytest.raises(SendError) as info:
        classify(429, "120")
    assert info.value.retry_after_s == 120
    with pytest.raises(SendError) as info:
        classify(503, "99999")
    assert info.value.retry_after_s == 3600  # capped
    with pytest.raises(SendError) as info:
        classify(503, "soon")
    assert info.value.retry_after_s is None


def test_retry_after_lengthens_the_wait(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook_config(home, port, scheme="http")
        rx.statuses = [(503, {"Retry-After": "600"}), (429, {"Retry-After": "5"})]
        t0 = time.time()
        enqueue(home, alert(), now=t0)
        (r1,) = deliver(home, t0)
        (r2,) = deliver(home, t0 + 600)
    assert r1.next_at == t0 + 600  # the receiver's 600 s, not our 30 s
    assert r2.next_at == t0 + 600 + 60  # our backoff when the receiver asks for less
