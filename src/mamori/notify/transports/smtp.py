"""E-mail over SMTP (aiosmtplib): STARTTLS or implicit TLS, certificates verified.

Messages are 7-bit clean whatever their language: the mail goes out without SMTPUTF8, so a
Japanese subject becomes RFC 2047 encoded-words (`=?utf-8?b?…?=`) and a non-ASCII body is
sent as UTF-8 in base64 (RFC 2045 §6.8). Each delivery's stable id is its Message-ID, so a
message sent twice (a crash between the server's "250" and our record of it) is recognisably
the same message.
"""

from __future__ import annotations

import datetime as dt
import email.policy
import email.utils
import ssl
from collections.abc import Sequence
from email.message import EmailMessage
from pathlib import Path

import aiosmtplib

from mamori import __version__
from mamori.notify.kinds import Kind, Security, Severity
from mamori.notify.settings import SmtpConfig
from mamori.notify.transports.interface import SendError, Sent, ca_context

# RFC 5322 with CRLF line ends and no raw UTF-8 in headers: encoded-words instead.
POLICY = email.policy.SMTP.clone(utf8=False, max_line_length=78)


def message_id(delivery: str, from_addr: str) -> str:
    """`<DELIVERY@DOMAIN-OF-FROM>`: unique (the delivery id is random) and stable across retries
    (RFC 5322 §3.6.4)."""
    return f"<{delivery}@{from_addr.rpartition('@')[2]}>"


def build_message(
    *,
    from_addr: str,
    to: Sequence[str],
    subject: str,
    body: str,
    delivery: str,
    kind: Kind,
    severity: Severity,
    when: dt.datetime,
) -> EmailMessage:
    """The message to send (pure): headers From, To, Subject, Date, Message-ID, and
    X-Mamori-{Delivery,Kind,Severity}; a text/plain UTF-8 body."""
    msg = EmailMessage(policy=POLICY)
    msg["From"] = from_addr
    msg["To"] = ", ".join(to)
    msg["Subject"] = subject
    msg["Date"] = email.utils.format_datetime(when.astimezone(dt.UTC))
    msg["Message-ID"] = message_id(delivery, from_addr)
    msg["X-Mamori-Delivery"] = delivery
    msg["X-Mamori-Kind"] = kind.value
    msg["X-Mamori-Severity"] = severity.value
    msg["User-Agent"] = f"mamori/{__version__}"
    text = body if body.endswith("\n") else body + "\n"
    # ASCII stays readable as quoted-printable (long lines are folded safely); anything else
    # is base64, the compact choice for Japanese.
    cte = "quoted-printable" if text.isascii() else "base64"
    msg.set_content(text, subtype="plain", charset="utf-8", cte=cte)
    return msg


def tls_context(ca_file: Path | None) -> ssl.SSLContext:
    """A client context that verifies the server's certificate and name; TLS 1.2 or later.
    With `ca_file`, only the CAs in it are trusted (a private CA)."""
    ctx = ca_context(ca_file, "ca_file in mamori.toml")
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    return ctx


async def send(
    smtp: SmtpConfig,
    message: EmailMessage,
    *,
    recipients: Sequence[str],
    password: str | None,
    ca_file: Path | None,
) -> Sent:
    """Send `message` through the configured server; raise :class:`SendError` on failure."""
    ctx = tls_context(ca_file) if smtp.security is not Security.NONE else None
    client = aiosmtplib.SMTP(
        hostname=smtp.host,
        port=smtp.port,
        timeout=smtp.timeout_s,
        use_tls=smtp.security is Security.TLS,
        # True: STARTTLS is required (RFC 3207); a server that does not offer it is refused
        # rather than talked to in clear text. False for implicit TLS and for "none".
        start_tls=smtp.security is Security.STARTTLS,
        tls_context=ctx,
        username=smtp.username or None,
        password=password if smtp.username else None,
    )
    try:
        async with client:
            refused, reply = await client.send_message(message, recipients=list(recipients))
    except aiosmtplib.SMTPRecipientsRefused as e:
        codes = [r.code for r in e.recipients]
        raise SendError(
            "the server refused every recipient: "
            + "; ".join(f"{r.recipient}: {r.code} {r.message}" for r in e.recipients),
            permanent=all(c >= 500 for c in codes),
            hint="check the addresses in the route's `to`",
        ) from e
    except (aiosmtplib.SMTPRecipientRefused, aiosmtplib.SMTPDataError) as e:
        # RFC 5321 §4.2.1: 5yz is a permanent negative reply for this message.
        raise SendError(
            f"the server refused the message: {e.code} {e.message}", permanent=e.code >= 500
        ) from e
    except aiosmtplib.SMTPAuthenticationError as e:
        # Permanent for this password, but the password is ours to fix: keep retrying.
        raise SendError(
            f"the SMTP server refused the login of {smtp.username!r}: {e.code} {e.message}",
            permanent=False,
            hint="check [smtp] username and the password in password_file",
        ) from e
    except aiosmtplib.SMTPResponseException as e:
        raise SendError(f"the SMTP server answered {e.code} {e.message}", permanent=False) from e
    except ssl.SSLCertVerificationError as e:
        raise SendError(
            f"the certificate of {smtp.host} is not trusted: {e.verify_message}",
            permanent=False,
            hint="for a private CA set [smtp] ca_file to its PEM file; the certificate must "
            "name the host in [smtp] host",
        ) from e
    except aiosmtplib.SMTPConnectError as e:
        raise SendError(
            f"cannot reach the SMTP server {smtp.host}:{smtp.port}: {e}", permanent=False
        ) from e
    except aiosmtplib.SMTPException as e:
        raise SendError(f"SMTP with {smtp.host}:{smtp.port} failed: {e}", permanent=False) from e
    except ssl.SSLError as e:
        raise SendError(f"TLS with {smtp.host}:{smtp.port} failed: {e}", permanent=False) from e
    except (OSError, TimeoutError) as e:
        reason = e.strerror if isinstance(e, OSError) and e.strerror else str(e) or type(e).__name__
        raise SendError(
            f"cannot reach the SMTP server {smtp.host}:{smtp.port}: {reason}", permanent=False
        ) from e
    except ValueError as e:  # aiosmtplib refuses an address it cannot put on a command line
        raise SendError(f"the message cannot be sent: {e}", permanent=True) from e
    fields: dict[str, object] = {
        "message_id": str(message["Message-ID"]),
        "smtp_reply": reply,
        "to": list(recipients),
    }
    if refused:
        fields["refused"] = sorted(refused)
    return Sent(detail=f"Message-ID {message['Message-ID']} ({reply})", fields=fields)
