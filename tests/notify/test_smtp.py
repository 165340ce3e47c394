"""E-mail through a real SMTP server (aiosmtpd): STARTTLS with AUTH, implicit TLS, plain on
loopback; Japanese subjects and bodies; refusals, retries and restarts."""

from __future__ import annotations

import base64
import datetime as dt
import email.utils
import time
from pathlib import Path

from mamori.home import Home
from mamori.notify.dispatch import Outcome
from mamori.notify.kinds import Kind, Severity
from mamori.notify.queue import enqueue, list_deliveries
from mamori.notify.store import State
from mamori.notify.transports.smtp import build_message
from tests.notify.helpers import BODY, SUBJECT, alert, audit_events, deliver, outbox_bytes
from tests.notify.servers import (
    Authenticator,
    Inbox,
    Pki,
    configure,
    smtp_server,
    write_secret,
)
from tests.service.svc import free_port

PASSWORD = "s3cret-パスワード"


def smtp_config(
    home: Home,
    port: int,
    *,
    security: str = "starttls",
    ca: Path | None = None,
    auth: bool = False,
    to: str = '["soc@example.jp", "cc@example.jp"]',
) -> None:
    lines = [
        "[smtp]",
        'host = "127.0.0.1"',
        f"port = {port}",
        f'security = "{security}"',
        'from = "mamori@example.jp"',
        "timeout_s = 5",
    ]
    if ca is not None:
        lines.append(f'ca_file = "{ca}"')
    if auth:
        path = write_secret(home, "smtp-password", (PASSWORD + "\n").encode())
        lines += ['username = "mamori"', f'password_file = "{path}"']
    lines += ["", "[[route]]", 'name = "soc"', 'kind = "email"', f"to = {to}"]
    configure(home, "\n".join(lines) + "\n")


def test_starttls_with_auth_delivers_japanese_mail(home: Home, pki: Pki) -> None:
    auth = Authenticator("mamori", PASSWORD)
    with smtp_server(starttls=pki.server_context(), auth=auth) as (inbox, port):
        smtp_config(home, port, ca=pki.ca, auth=True)
        (delivery_id,) = enqueue(home, alert())
        results = deliver(home)
    assert [r.outcome for r in results] == [Outcome.SENT], results
    assert auth.attempts == [b"mamori"]
    (env,) = inbox.envelopes
    assert env.mail_from == "mamori@example.jp"
    assert env.rcpt_tos == ["soc@example.jp", "cc@example.jp"]
    (raw,) = inbox.raw()
    assert raw.isascii()  # 7-bit clean: no SMTPUTF8 needed anywhere
    assert b"Subject: =?utf-8?b?" in raw
    (msg,) = inbox.messages()
    assert msg["Subject"] == SUBJECT
    assert msg["From"] == "mamori@example.jp"
    assert msg["To"] == "soc@example.jp, cc@example.jp"
    sent_at = email.utils.parsedate_to_datetime(str(msg["Date"]))
    assert abs(sent_at.timestamp() - time.time()) < 60
    (d,) = list_deliveries(home)
    assert d.id == delivery_id and d.state is State.SENT and d.attempts == 1
    assert msg["Message-ID"] == f"<{d.delivery}@example.jp>"
    assert msg["X-Mamori-Delivery"] == d.delivery
    assert msg["X-Mamori-Kind"] == "alert" and msg["X-Mamori-Severity"] == "critical"
    assert msg.get_content_type() == "text/plain"
    assert msg.get_content_charset() == "utf-8"
    assert msg["Content-Transfer-Encoding"] == "base64"
    # RFC 2046 §4.1.1: text is sent with CRLF line breaks, inside the base64 too.
    assert msg.get_content().replace("\r\n", "\n") == BODY
    # The audit trail: queued, then sent with the Message-ID and the server's reply.
    queued, sent = audit_events(home)
    assert queued["event"]["action"] == "notify.queued"
    assert queued["mamori"]["audit"]["route"] == "soc"
    assert queued["mamori"]["audit"]["target"] == "soc@example.jp, cc@example.jp"
    assert sent["event"]["action"] == "notify.sent" and sent["event"]["outcome"] == "success"
    fields = sent["mamori"]["audit"]
    assert fields["message_id"] == msg["Message-ID"]
    assert fields["smtp_reply"] == "2.0.0 Ok: queued as TEST1"
    assert fields["delivery"] == d.delivery and fields["subject"] == SUBJECT
    # Never a secret in the ledger's events.
    assert PASSWORD.encode() not in outbox_bytes(home)
    assert "パスワード".encode() not in outbox_bytes(home)


def test_plain_smtp_on_loopback(home: Home) -> None:
    with smtp_server() as (inbox, port):
        smtp_config(home, port, security="none")
        enqueue(home, alert(subject="plain ascii subject", body="hello\n"))
        results = deliver(home)
    assert [r.outcome for r in results] == [Outcome.SENT]
    (msg,) = inbox.messages()
    assert msg["Subject"] == "plain ascii subject"
    assert msg.get_content().replace("\r\n", "\n") == "hello\n"


def test_implicit_tls(home: Home, pki: Pki) -> None:
    with smtp_server(implicit_tls=pki.server_context()) as (inbox, port):
        smtp_config(home, port, security="tls", ca=pki.ca)
        enqueue(home, alert())
        results = deliver(home)
    assert [r.outcome for r in results] == [Outcome.SENT], results
    assert inbox.messages()[0]["Subject"] == SUBJECT


def test_an_untrusted_certificate_is_not_talked_to(home: Home, pki: Pki) -> None:
    with smtp_server(starttls=pki.server_context()) as (inbox, port):
        smtp_config(home, port)  # no ca_file: the test CA is not trusted
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED
    assert "not trusted" in r.detail and "ca_file" in r.detail
    assert inbox.envelopes == []


def test_starttls_is_required_not_optional(home: Home, pki: Pki) -> None:
    # A server that offers no STARTTLS (or a man in the middle stripping it): nothing is sent
    # in clear text.
    with smtp_server() as (inbox, port):
        smtp_config(home, port, ca=pki.ca)
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED, r
    assert inbox.envelopes == []


def test_a_wrong_password_is_retried_and_never_shown(home: Home, pki: Pki) -> None:
    auth = Authenticator("mamori", "another password")
    with smtp_server(starttls=pki.server_context(), auth=auth) as (inbox, port):
        smtp_config(home, port, ca=pki.ca, auth=True)
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED
    assert "refused the login of 'mamori'" in r.detail and "password_file" in r.detail
    assert PASSWORD not in r.detail
    assert inbox.envelopes == []
    assert PASSWORD.encode() not in outbox_bytes(home)


def test_a_password_file_others_can_read_is_refused(home: Home, pki: Pki) -> None:
    auth = Authenticator("mamori", PASSWORD)
    with smtp_server(starttls=pki.server_context(), auth=auth) as (inbox, port):
        smtp_config(home, port, ca=pki.ca, auth=True)
        (home.root / "secrets" / "smtp-password").chmod(0o644)
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.DEFERRED
    assert "accessible to others" in r.detail and "chmod 600" in r.detail
    assert auth.attempts == [] and inbox.envelopes == []


def test_server_down_is_retried_with_backoff_and_a_restart_carries_on(home: Home) -> None:
    port = free_port()  # nothing listens here yet
    smtp_config(home, port, security="none")
    t0 = time.time()
    (delivery_id,) = enqueue(home, alert(), now=t0)
    (r,) = deliver(home, t0)
    assert r.outcome is Outcome.DEFERRED and r.attempts == 1
    assert r.next_at == t0 + 30
    assert "cannot reach the SMTP server 127.0.0.1" in r.detail
    assert deliver(home, t0 + 29) == []  # not due yet
    (r,) = deliver(home, t0 + 30)
    assert r.outcome is Outcome.DEFERRED and r.attempts == 2 and r.next_at == t0 + 90
    (d,) = list_deliveries(home)
    assert d.state is State.PENDING and d.attempts == 2 and d.last_error
    # The server comes up; a new dispatcher (a restarted service) delivers the same message.
    with smtp_server(port=port) as (box, _port):
        (r,) = deliver(home, t0 + 90)
    assert r.outcome is Outcome.SENT and r.id == delivery_id and r.attempts == 3
    (msg,) = box.messages()
    assert msg["X-Mamori-Delivery"] == d.delivery  # the same id on every attempt
    deferred = [e for e in audit_events(home) if e["event"]["action"] == "notify.deferred"]
    assert len(deferred) == 2 and all(e["event"]["outcome"] == "failure" for e in deferred)
    assert deferred[0]["mamori"]["audit"]["next_attempt"].startswith(
        dt.datetime.fromtimestamp(t0 + 30, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S")
    )


def test_every_recipient_refused_is_a_permanent_failure(home: Home) -> None:
    box = Inbox(reject_rcpt={"soc@example.jp", "cc@example.jp"})
    with smtp_server(inbox=box) as (_inbox, port):
        smtp_config(home, port, security="none")
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.FAILED and "550" in r.detail
    (failed,) = [e for e in audit_events(home) if e["event"]["action"] == "notify.failed"]
    assert failed["mamori"]["audit"]["permanent"] is True
    assert list_deliveries(home, State.FAILED)[0].attempts == 1


def test_one_recipient_refused_is_reported_the_rest_delivered(home: Home) -> None:
    box = Inbox(reject_rcpt={"cc@example.jp"})
    with smtp_server(inbox=box) as (inbox, port):
        smtp_config(home, port, security="none")
        enqueue(home, alert())
        (r,) = deliver(home)
    assert r.outcome is Outcome.SENT
    assert inbox.envelopes[0].rcpt_tos == ["soc@example.jp"]
    (sent,) = [e for e in audit_events(home) if e["event"]["action"] == "notify.sent"]
    assert sent["mamori"]["audit"]["refused"] == ["cc@example.jp"]


def test_csirt_reports_go_to_exactly_the_addresses_given(home: Home) -> None:
    with smtp_server() as (inbox, port):
        smtp_config(home, port, security="none")
        n = alert(kind=Kind.CSIRT, to=("csirt@example.jp", "ciso@example.jp"))
        (_delivery_id,) = enqueue(home, n)
        (r,) = deliver(home)
    assert r.outcome is Outcome.SENT and r.route is None
    assert inbox.envelopes[0].rcpt_tos == ["csirt@example.jp", "ciso@example.jp"]
    (queued,) = [e for e in audit_events(home) if e["event"]["action"] == "notify.queued"]
    assert queued["mamori"]["audit"]["route"] is None
    assert queued["mamori"]["audit"]["target"] == "csirt@example.jp, ciso@example.jp"


def test_the_message_is_seven_bit_and_folds_long_subjects() -> None:
    msg = build_message(
        from_addr="mamori@example.jp",
        to=["a@example.jp"],
        subject=SUBJECT * 4,
        body="ascii only, " * 20,
        delivery="d" * 32,
        kind=Kind.INCIDENT,
        severity=Severity.HIGH,
        when=dt.datetime(2026, 1, 1, 9, 0, tzinfo=dt.timezone(dt.timedelta(hours=9))),
    )
    raw = msg.as_bytes()
    assert raw.isascii()
    assert all(len(line) <= 78 for line in raw.split(b"\r\n")), raw
    assert msg["Date"] == "Thu, 01 Jan 2026 00:00:00 +0000"
    assert msg["Content-Transfer-Encoding"] == "quoted-printable"
    assert msg.get_content() == "ascii only, " * 20 + "\n"
    header = raw.split(b"\r\n\r\n", 1)[0].decode()
    assert "=?utf-8?b?" in header
    words = [w for w in header.replace("\r\n ", " ").split() if w.startswith("=?utf-8?b?")]
    decoded = "".join(base64.b64decode(w[len("=?utf-8?b?") : -2]).decode("utf-8") for w in words)
    assert decoded.replace("Subject: ", "") == SUBJECT * 4
