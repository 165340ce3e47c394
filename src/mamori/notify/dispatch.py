"""Sending queued deliveries, with retries, each outcome an audit event.

:meth:`Dispatcher.deliver_due` sends every delivery that is due: claimed first (so two
dispatchers never send one at once), then sent, then recorded. Outcomes:

* sent: `notify.sent` (route, kind, subject, Message-ID and the server's reply, or the HTTP
  status);
* a failure worth retrying (network, 5xx, 408, 429, TLS, a missing secret file): retried after
  30 s, doubling to at most 1 h (or the receiver's Retry-After, if longer), `notify.deferred`;
* a permanent failure (an HTTP 4xx answer, every recipient refused with 5yz, the route gone
  from mamori.toml), or a delivery still failing 24 h after it was queued: `notify.failed`.

The queue is HOME/notify.db, so deliveries survive restarts: a new Dispatcher carries on.
:meth:`Dispatcher.run` is the service's loop: a pass every second, or sooner on :meth:`wake`.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Any, Final, Protocol, assert_never

import orjson

from mamori import audit
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Transport
from mamori.notify.secretfile import read_secret
from mamori.notify.settings import NotifyConfig, Route
from mamori.notify.signature import MIN_KEY_BYTES
from mamori.notify.store import Delivery, DeliveryStore
from mamori.notify.transports import smtp, webhook
from mamori.notify.transports.interface import SendError, Sent

BACKOFF_BASE_S: Final = 30.0
BACKOFF_MAX_S: Final = 3600.0
GIVE_UP_S: Final = 86_400.0
WEBHOOK_TIMEOUT_S: Final = 30.0
LEASE_S: Final = 900.0
"""How long a claim holds: longer than any attempt may take (SMTP: 6 × timeout_s ≤ 720 s)."""


class Log(Protocol):
    """What the dispatcher logs to (mamori.service.log.Log fits)."""

    def info(self, msg: str, **fields: Any) -> None: ...
    def warning(self, msg: str, **fields: Any) -> None: ...
    def error(self, msg: str, **fields: Any) -> None: ...


class Outcome(StrEnum):
    """How one attempt ended."""

    SENT = "sent"
    DEFERRED = "deferred"
    """Failed; tried again at `next_at`."""
    FAILED = "failed"
    """Failed for good."""


@dataclass(frozen=True, slots=True)
class DeliveryResult:
    """One attempt at one delivery."""

    id: int
    delivery: str
    route: str | None
    transport: Transport
    kind: Kind
    subject: str
    outcome: Outcome
    detail: str
    """Sent: Message-ID and reply, or HTTP status; otherwise the error."""
    attempts: int
    next_at: float | None = None
    """Deferred: when the next attempt is due (unix seconds)."""

    @classmethod
    def of(
        cls, d: Delivery, outcome: Outcome, detail: str, next_at: float | None = None
    ) -> DeliveryResult:
        """The result of an attempt at `d` (as claimed: its attempts count this one)."""
        return cls(
            id=d.id,
            delivery=d.delivery,
            route=d.route,
            transport=d.transport,
            kind=d.kind,
            subject=d.subject,
            outcome=outcome,
            detail=detail,
            attempts=d.attempts,
            next_at=next_at,
        )

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "delivery": self.delivery,
            "route": self.route,
            "transport": self.transport.value,
            "kind": self.kind.value,
            "subject": self.subject,
            "outcome": self.outcome.value,
            "detail": self.detail,
            "attempts": self.attempts,
            "next_at": self.next_at,
        }


def backoff_s(attempts: int, base_s: float = BACKOFF_BASE_S, max_s: float = BACKOFF_MAX_S) -> float:
    """The wait after the `attempts`-th failed attempt: base, doubling, capped."""
    return float(min(base_s * 2 ** min(max(attempts - 1, 0), 32), max_s))


class Dispatcher:
    """Sends the deliveries queued in HOME/notify.db."""

    def __init__(
        self,
        home: Home,
        config: NotifyConfig | None = None,
        *,
        log: Log | None = None,
        backoff_base_s: float = BACKOFF_BASE_S,
        backoff_max_s: float = BACKOFF_MAX_S,
        give_up_s: float = GIVE_UP_S,
        poll_s: float = 1.0,
        batch: int = 100,
        concurrency: int = 8,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.home = home
        self.config = config if config is not None else home.config().notify
        self.log = log
        self.store = DeliveryStore(home.root)
        self.backoff_base_s = backoff_base_s
        self.backoff_max_s = backoff_max_s
        self.give_up_s = give_up_s
        self.poll_s = poll_s
        self.batch = batch
        self.concurrency = concurrency
        self.clock = clock
        self._wake = asyncio.Event()

    def wake(self) -> None:
        """Start a pass now instead of at the next poll (call it on the loop's thread, e.g.
        after :func:`~mamori.notify.queue.enqueue`; from another thread use
        `loop.call_soon_threadsafe(dispatcher.wake)`)."""
        self._wake.set()

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver what is due every `poll_s` seconds or on :meth:`wake`, until `stop` is set.
        A failing pass is logged and the loop goes on: notifications never stop the service."""
        while not stop.is_set():
            self._wake.clear()
            try:
                if len(await self.deliver_due()) >= self.batch:
                    continue  # more may be due: no pause
            except MamoriError as e:
                self._log("error", "notification pass failed", error=e.diagnostics())
            except Exception as e:  # a bug must not end delivery for the service's lifetime
                self._log("error", "notification pass failed unexpectedly", error=repr(e))
            waits = {
                asyncio.ensure_future(stop.wait()),
                asyncio.ensure_future(self._wake.wait()),
            }
            try:
                await asyncio.wait(waits, timeout=self.poll_s, return_when=asyncio.FIRST_COMPLETED)
            finally:
                for w in waits:
                    w.cancel()

    async def deliver_due(
        self, now: float | None = None, *, only: Collection[int] | None = None
    ) -> list[DeliveryResult]:
        """Attempt every delivery due at `now` (default: the clock), up to `batch` of them,
        at most `concurrency` at once; with `only`, just those ids. Results by id."""
        at = self.clock() if now is None else now
        due = await asyncio.to_thread(self.store.due, at, self.batch, only)
        claimed: list[Delivery] = []
        for d in due:
            c = await asyncio.to_thread(self.store.claim, d.id, at, at + LEASE_S)
            if c is not None:
                claimed.append(c)
        gate = asyncio.Semaphore(self.concurrency)

        async def one(d: Delivery) -> DeliveryResult:
            async with gate:
                return await self._attempt(d, at)

        results = await asyncio.gather(*(one(d) for d in claimed))
        return sorted(results, key=lambda r: r.id)

    # -- one attempt ----------------------------------------------------------------------------

    async def _attempt(self, d: Delivery, now: float) -> DeliveryResult:
        try:
            sent = await self._send(d, now)
        except asyncio.CancelledError:
            # Stopping: hand the claim back so the next start retries at once.
            await asyncio.shield(asyncio.to_thread(self.store.release, d.id))
            raise
        except SendError as e:
            return await self._failed(d, now, e.diagnostics(), e.permanent, e.retry_after_s)
        except NotifyError as e:  # a secret file or CA file problem: the operator can fix it
            return await self._failed(d, now, e.diagnostics(), False, None)
        except TimeoutError:
            return await self._failed(d, now, "the attempt timed out", False, None)
        except Exception as e:  # a bug: keep the delivery, say so, and retry later
            self._log("error", "unexpected error sending a notification", error=repr(e))
            return await self._failed(d, now, f"unexpected error: {e!r}", False, None)
        return await self._sent(d, now, sent)

    async def _send(self, d: Delivery, now: float) -> Sent:
        route: Route | None = None
        if d.route is not None:
            route = self.config.route(d.route)
            if route is None:
                raise SendError(
                    f"the route {d.route!r} is no longer in mamori.toml", permanent=True
                )
        transport = route.transport if route is not None else d.transport
        match transport:
            case Transport.EMAIL:
                return await self._send_email(d, route, now)
            case Transport.WEBHOOK:
                assert route is not None  # a webhook delivery always has its route
                return await self._send_webhook(d, route, now)
            case _ as unreachable:
                assert_never(unreachable)

    async def _send_email(self, d: Delivery, route: Route | None, now: float) -> Sent:
        cfg = self.config.smtp
        if cfg is None:
            raise NotifyError(
                "there is no [smtp] section to send e-mail through",
                hint="add [smtp] to mamori.toml and restart; the delivery is kept meanwhile",
            )
        to = route.to if route is not None else d.recipients
        password: str | None = None
        if cfg.username:
            raw = await asyncio.to_thread(
                read_secret, self.home.path(cfg.password_file), "[smtp] password_file"
            )
            try:
                password = raw.decode("utf-8")
            except UnicodeDecodeError as e:
                raise NotifyError("[smtp] password_file does not hold UTF-8 text") from e
        message = smtp.build_message(
            from_addr=cfg.from_addr,
            to=to,
            subject=d.subject,
            body=d.body,
            delivery=d.delivery,
            kind=d.kind,
            severity=d.severity,
            when=dt.datetime.fromtimestamp(now, dt.UTC),
        )
        return await asyncio.wait_for(
            smtp.send(
                cfg,
                message,
                recipients=to,
                password=password,
                ca_file=self._optional_path(cfg.ca_file),
            ),
            timeout=cfg.timeout_s * 6,
        )

    async def _send_webhook(self, d: Delivery, route: Route, now: float) -> Sent:
        setting = f'[route "{route.name}"] secret_file'
        secret = await asyncio.to_thread(read_secret, self.home.path(route.secret_file), setting)
        if len(secret) < MIN_KEY_BYTES:
            raise NotifyError(
                f"the webhook key in {self.home.path(route.secret_file)} ({setting}) is shorter "
                f"than {MIN_KEY_BYTES} bytes",
                hint="make a new one with `openssl rand -hex 32` and give it to the receiver too",
            )
        body = webhook.body_bytes(webhook_document(d))
        ts = int(now)
        hdrs = webhook.headers(
            secret, timestamp=ts, body=body, delivery=d.delivery, kind=d.kind.value
        )
        return await asyncio.wait_for(
            webhook.post(
                route.url,
                body,
                hdrs,
                timeout_s=WEBHOOK_TIMEOUT_S,
                ca_file=self._optional_path(route.ca_file),
            ),
            timeout=WEBHOOK_TIMEOUT_S * 2,
        )

    def _optional_path(self, configured: str) -> Path | None:
        return self.home.path(configured) if configured else None

    # -- outcomes -------------------------------------------------------------------------------

    def _fields(self, d: Delivery) -> dict[str, Any]:
        return {
            "id": d.id,
            "delivery": d.delivery,
            "route": d.route,
            "transport": d.transport.value,
            "kind": d.kind.value,
            "subject": d.subject,
            "attempts": d.attempts,
        }

    async def _sent(self, d: Delivery, now: float, sent: Sent) -> DeliveryResult:
        await self._record("notify.sent", "success", {**self._fields(d), **sent.fields})
        await asyncio.to_thread(self.store.mark_sent, d.id, now, sent.detail)
        self._log("info", "notification sent", id=d.id, route=d.route, detail=sent.detail)
        return DeliveryResult.of(d, Outcome.SENT, sent.detail)

    async def _failed(
        self,
        d: Delivery,
        now: float,
        error: str,
        permanent: bool,
        retry_after_s: float | None,
    ) -> DeliveryResult:
        age = now - d.created
        if permanent or age >= self.give_up_s:
            reason = error if permanent else f"gave up after {d.attempts} attempts: {error}"
            fields = {**self._fields(d), "error": error, "permanent": permanent}
            await self._record("notify.failed", "failure", fields)
            await asyncio.to_thread(self.store.mark_failed, d.id, now, reason)
            self._log("error", "notification failed", id=d.id, route=d.route, error=error)
            return DeliveryResult.of(d, Outcome.FAILED, reason)
        wait = backoff_s(d.attempts, self.backoff_base_s, self.backoff_max_s)
        if retry_after_s is not None:
            wait = min(max(wait, retry_after_s), self.backoff_max_s)
        # One last attempt exactly when the 24 hours are up.
        next_at = min(now + wait, d.created + self.give_up_s)
        fields = {
            **self._fields(d),
            "error": error,
            "next_attempt": dt.datetime.fromtimestamp(next_at, dt.UTC).isoformat(),
        }
        await self._record("notify.deferred", "failure", fields)
        await asyncio.to_thread(self.store.mark_retry, d.id, next_at, error)
        self._log("warning", "notification deferred", id=d.id, route=d.route, error=error)
        return DeliveryResult.of(d, Outcome.DEFERRED, error, next_at)

    async def _record(self, action: str, outcome: str, fields: dict[str, Any]) -> None:
        # Recorded before the row is updated: a crash in between sends again and records
        # again, rather than leaving an action without its event.
        try:
            await asyncio.to_thread(audit.record, self.home, action, outcome=outcome, fields=fields)
        except MamoriError as e:
            self._log(
                "error",
                "cannot record a notification's audit event",
                action=action,
                error=e.diagnostics(),
            )

    def _log(self, level: str, msg: str, **fields: Any) -> None:
        if self.log is None:
            return
        match level:
            case "info":
                self.log.info(msg, **fields)
            case "warning":
                self.log.warning(msg, **fields)
            case _:
                self.log.error(msg, **fields)


def webhook_document(d: Delivery) -> dict[str, Any]:
    """The JSON a webhook receives (see docs/notify.md)."""
    return {
        "delivery": d.delivery,
        "route": d.route,
        "kind": d.kind.value,
        "severity": d.severity.value,
        "rule": d.rule,
        "subject": d.subject,
        "body": d.body,
        "payload": orjson.loads(d.payload),
        "created": dt.datetime.fromtimestamp(d.created, dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
    }
