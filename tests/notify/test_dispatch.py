"""The delivery queue and the dispatcher: claims, the service loop, stopping, the audit trail."""

from __future__ import annotations

import asyncio
import socket
import stat
import time

import pytest

from mamori.home import Home
from mamori.notify.dispatch import DeliveryResult, Dispatcher, Outcome, backoff_s
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Kind, Severity
from mamori.notify.queue import enqueue, list_deliveries
from mamori.notify.store import DB_NAME, State
from tests.notify.helpers import actions, alert, audit_events, deliver
from tests.notify.servers import configure, webhook_server, write_secret

SECRET = b"0123456789abcdef0123456789abcdef"


def hook(home: Home, port: int, name: str = "hook", extra: str = "") -> None:
    path = write_secret(home, name, SECRET)
    configure(
        home,
        f'[[route]]\nname = "{name}"\nkind = "webhook"\n'
        f'url = "http://127.0.0.1:{port}/in"\nsecret_file = "{path}"\n{extra}',
    )


def test_backoff_doubles_from_30_s_to_an_hour() -> None:
    assert [backoff_s(n) for n in range(1, 10)] == [
        30,
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
        3600,
    ]
    assert backoff_s(10_000) == 3600


def test_one_delivery_per_route_that_takes_it(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook(home, port, "a")
        hook(home, port, "b", 'min_severity = "critical"\n')
        hook(home, port, "c", 'kinds = ["incident"]\n')
        ids = enqueue(home, alert(severity=Severity.CRITICAL))
        assert len(ids) == 2
        assert len(enqueue(home, alert(severity=Severity.HIGH))) == 1
        results = deliver(home)
    assert [r.route for r in results] == ["a", "b", "a"]
    assert all(r.outcome is Outcome.SENT for r in results)
    assert len(rx.requests) == 3
    assert len({q.headers["X-Mamori-Delivery"] for q in rx.requests}) == 3


def test_a_notification_no_route_takes_is_recorded(home: Home) -> None:
    hook(home, 9, extra='min_severity = "critical"\n')
    assert enqueue(home, alert(severity=Severity.LOW)) == []
    (ev,) = audit_events(home)
    assert ev["event"]["action"] == "notify.unrouted" and ev["event"]["outcome"] == "unknown"
    assert ev["mamori"]["audit"]["severity"] == "low"
    assert list_deliveries(home) == []


def test_enqueue_refuses_what_it_cannot_send(home: Home) -> None:
    with pytest.raises(NotifyError, match=r"no \[smtp\] section"):
        enqueue(home, alert(kind=Kind.CSIRT, to=("csirt@example.jp",)))
    with pytest.raises(NotifyError, match="there is no route 'nope'"):
        enqueue(home, alert(), route="nope")
    bad = alert()
    object.__setattr__(bad, "payload", {"when": object()})
    with pytest.raises(NotifyError, match="not JSON"):
        enqueue(home, bad)
    assert list_deliveries(home) == [] and actions(home) == []


def test_the_queue_is_private(home: Home) -> None:
    hook(home, 9)
    enqueue(home, alert())
    for path in home.root.glob(DB_NAME + "*"):
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path


def test_two_dispatchers_never_send_one_delivery_twice(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook(home, port)
        for _ in range(5):
            enqueue(home, alert())

        async def both() -> list[list[DeliveryResult]]:
            a, b = Dispatcher(home), Dispatcher(home)
            return list(await asyncio.gather(a.deliver_due(), b.deliver_due()))

        ra, rb = asyncio.run(both())
    assert len(ra) + len(rb) == 5
    assert len(rx.requests) == 5
    assert {q.headers["X-Mamori-Delivery"] for q in rx.requests} == {
        d.delivery for d in list_deliveries(home)
    }
    assert all(d.state is State.SENT and d.attempts == 1 for d in list_deliveries(home))


def test_the_service_loop_delivers_and_stops(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook(home, port)

        async def service() -> None:
            stop = asyncio.Event()
            dispatcher = Dispatcher(home, poll_s=30.0)  # only a wake() makes it look sooner
            task = asyncio.create_task(dispatcher.run(stop))
            await asyncio.sleep(0.05)
            await asyncio.to_thread(enqueue, home, alert())
            dispatcher.wake()
            for _ in range(200):
                if rx.requests:
                    break
                await asyncio.sleep(0.02)
            stop.set()
            await asyncio.wait_for(task, 5)

        t0 = time.monotonic()
        asyncio.run(service())
        assert time.monotonic() - t0 < 5
    assert len(rx.requests) == 1
    assert list_deliveries(home)[0].state is State.SENT


def test_the_service_loop_survives_a_broken_queue(home: Home) -> None:
    hook(home, 9)
    (home.root / DB_NAME).mkdir()  # the queue cannot be opened

    class Log:
        def __init__(self) -> None:
            self.errors: list[str] = []

        def info(self, msg: str, **fields: object) -> None:
            pass

        def warning(self, msg: str, **fields: object) -> None:
            pass

        def error(self, msg: str, **fields: object) -> None:
            self.errors.append(msg)

    log = Log()

    async def service() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(Dispatcher(home, log=log, poll_s=0.01).run(stop))
        await asyncio.sleep(0.1)
        stop.set()
        await asyncio.wait_for(task, 5)

    asyncio.run(service())
    assert log.errors and set(log.errors) == {"notification pass failed"}


def test_stopping_mid_send_gives_the_claim_back(home: Home) -> None:
    # A receiver that accepts the connection and never answers.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        port = silent.getsockname()[1]
        hook(home, port)
        enqueue(home, alert())

        async def stop_mid_send() -> None:
            task = asyncio.create_task(Dispatcher(home).deliver_due())
            await asyncio.sleep(0.3)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task

        asyncio.run(stop_mid_send())
    (d,) = list_deliveries(home)
    assert d.state is State.PENDING and d.attempts == 1 and d.claimed_until is None
    assert Dispatcher(home).store.due(time.time(), 10) != []  # due again at once


def test_a_pass_takes_at_most_a_batch(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook(home, port)
        for _ in range(5):
            enqueue(home, alert())
        assert len(deliver(home, batch=2)) == 2
        assert len(deliver(home, batch=10)) == 3
    assert len(rx.requests) == 5


def test_list_by_state(home: Home) -> None:
    with webhook_server(None) as (rx, port):
        hook(home, port)
        rx.statuses = [400, 500]
        enqueue(home, alert(subject="one"))
        enqueue(home, alert(subject="two"))
        enqueue(home, alert(subject="three"))
        deliver(home, concurrency=1)  # in order: one, two, three
    assert [d.subject for d in list_deliveries(home)] == ["three", "two", "one"]
    assert [d.subject for d in list_deliveries(home, State.FAILED)] == ["one"]
    assert [d.subject for d in list_deliveries(home, State.PENDING)] == ["two"]
    assert [d.subject for d in list_deliveries(home, State.SENT)] == ["three"]
    j = list_deliveries(home, State.PENDING)[0].as_json()
    assert j["state"] == "pending" and j["next_at"] is not None and "body" not in j
