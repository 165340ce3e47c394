"""`mamori notify …`: the routes, a test message, delivering what is due, the queue.

Each command calls one function of :mod:`mamori.notify`; every delivery's queueing and outcome
is recorded as an audit event (notify.queued, notify.sent, notify.deferred, notify.failed).
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sys
import time
from typing import Annotated, Any, assert_never

import typer

from mamori.cli.common import HomeOption, print_json
from mamori.home import Home, open_home
from mamori.notify.dispatch import DeliveryResult, Dispatcher, Outcome
from mamori.notify.errors import NotifyError
from mamori.notify.kinds import Severity
from mamori.notify.model import Notification
from mamori.notify.queue import enqueue, list_deliveries
from mamori.notify.settings import Route
from mamori.notify.store import State

app = typer.Typer(
    help="Notifications: e-mail and signed webhooks along the routes configured in mamori.toml.",
    no_args_is_help=True,
)

JsonOption = Annotated[bool, typer.Option("--json", help="Print JSON.")]

TEST_WAIT_S = 60.0
"""How long `notify test` waits for a running service that took the delivery first."""


def _route_json(r: Route) -> dict[str, Any]:
    return {
        "name": r.name,
        "kind": r.transport.value,
        "target": r.target(),
        "min_severity": r.min_severity.value,
        "rules": list(r.rules),
        "kinds": [k.value for k in r.kinds],
    }


@app.command("routes")
def routes(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """List the routes: name, kind, where they go (a webhook's URL shown up to its host),
    the lowest severity, the rules and the kinds they take. Never a secret."""
    cfg = open_home(home).config().notify
    if json_out:
        print_json([_route_json(r) for r in cfg.routes])
        return
    if not cfg.routes:
        sys.stderr.write("no routes; add [[route]] tables to mamori.toml (see docs/notify.md)\n")
        return
    print(f"{'NAME':<20} {'KIND':<8} {'MIN':<13} {'KINDS':<40} {'RULES':<20} TARGET")
    for r in cfg.routes:
        kinds = ",".join(k.value for k in r.kinds)
        rules = ",".join(r.rules) or "*"
        print(
            f"{r.name:<20} {r.transport.value:<8} {r.min_severity.value:<13} {kinds:<40} "
            f"{rules:<20} {r.target()}"
        )


def send_test(h: Home, route: str) -> DeliveryResult:
    """Queue a test notification to `route` and deliver it now; its outcome."""
    cfg = h.config().notify
    r = cfg.route(route)
    if r is None:
        raise NotifyError(
            f"there is no route {route!r}",
            hint="list them with `mamori notify routes`",
        )
    n = Notification(
        kind=r.kinds[0],
        subject="mamori: test notification / テスト通知",
        body=(
            f"This is a test of the route {r.name!r}, sent by `mamori notify test`.\n"
            f"これは通知経路 {r.name!r} のテストです。\n"
        ),
        payload={"test": True},
        severity=Severity.CRITICAL,
    )
    (delivery_id,) = enqueue(h, n, config=cfg, route=r.name)
    dispatcher = Dispatcher(h, cfg)
    results = asyncio.run(dispatcher.deliver_due(only=[delivery_id]))
    if results:
        return results[0]
    # A running `mamori up` took it first: wait for its outcome.
    deadline = time.monotonic() + TEST_WAIT_S
    while time.monotonic() < deadline:
        d = dispatcher.store.get(delivery_id)
        if d is not None and (d.claimed_until is None and d.attempts > 0):
            outcome = {
                State.SENT: Outcome.SENT,
                State.FAILED: Outcome.FAILED,
                State.PENDING: Outcome.DEFERRED,
            }[d.state]
            return DeliveryResult(
                id=d.id,
                delivery=d.delivery,
                route=d.route,
                transport=d.transport,
                kind=d.kind,
                subject=d.subject,
                outcome=outcome,
                detail=(d.result if d.state is State.SENT else d.last_error) or "",
                attempts=d.attempts,
                next_at=d.next_at if d.state is State.PENDING else None,
            )
        time.sleep(0.2)
    raise NotifyError(
        f"the test delivery {delivery_id} was taken by a running service and has no outcome "
        f"after {TEST_WAIT_S:.0f} s",
        hint="see `mamori notify list` for its state",
    )


@app.command("test")
def test(
    route: Annotated[str, typer.Argument(help="The route's name (see `mamori notify routes`).")],
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """Send a test notification along ROUTE now and print the outcome; exit status 1 unless
    it was delivered. A failed attempt stays queued and is retried like any other."""
    result = send_test(open_home(home), route)
    if json_out:
        print_json(result.as_json())
    else:
        _print_result(result)
    if result.outcome is not Outcome.SENT:
        raise typer.Exit(1)


@app.command("flush")
def flush(home: HomeOption = None, json_out: JsonOption = False) -> None:
    """Deliver every notification that is due now (for use without `mamori up`, e.g. from
    cron); prints each attempt's outcome. Exit status 1 when any attempt failed."""
    h = open_home(home)
    results: list[DeliveryResult] = []
    dispatcher = Dispatcher(h)
    while True:  # a pass takes at most `batch` deliveries: go on until none is due
        batch = asyncio.run(dispatcher.deliver_due())
        results.extend(batch)
        if len(batch) < dispatcher.batch:
            break
    if json_out:
        print_json([r.as_json() for r in results])
    elif not results:
        sys.stderr.write("nothing is due\n")
    else:
        for r in results:
            _print_result(r)
    if any(r.outcome is not Outcome.SENT for r in results):
        raise typer.Exit(1)


@app.command("list")
def list_(
    state: Annotated[
        State | None, typer.Option(help="Only deliveries in this state.", case_sensitive=False)
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000, help="At most this many.")] = 100,
    home: HomeOption = None,
    json_out: JsonOption = False,
) -> None:
    """List deliveries, newest first: state, attempts, route, kind, subject, and the result
    or the last error."""
    deliveries = list_deliveries(open_home(home), state, limit)
    if json_out:
        print_json([d.as_json() for d in deliveries])
        return
    if not deliveries:
        sys.stderr.write("no deliveries\n")
        return
    print(f"{'ID':>6} {'STATE':<8} {'TRIES':>5} {'CREATED':<20} {'ROUTE':<16} {'KIND':<10} SUBJECT")
    for d in deliveries:
        route = d.route or ("to:" + ",".join(d.recipients))
        print(
            f"{d.id:>6} {d.state.value:<8} {d.attempts:>5} {_time(d.created):<20} "
            f"{route:<16} {d.kind.value:<10} {d.subject}"
        )
        if d.state is State.SENT and d.result:
            print(f"{'':>6} {d.result}")
        elif d.last_error:
            when = f" (next attempt {_time(d.next_at)})" if d.state is State.PENDING else ""
            print(f"{'':>6} {d.last_error.splitlines()[0]}{when}")


def _time(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def _print_result(r: DeliveryResult) -> None:
    where = r.route or "direct e-mail"
    match r.outcome:
        case Outcome.SENT:
            print(f"sent      #{r.id} via {where}: {r.detail}")
        case Outcome.DEFERRED:
            nxt = _time(r.next_at) if r.next_at is not None else "later"
            print(f"deferred  #{r.id} via {where} (attempt {r.attempts}, next {nxt}): {r.detail}")
        case Outcome.FAILED:
            print(f"failed    #{r.id} via {where} (attempt {r.attempts}): {r.detail}")
        case _ as unreachable:
            assert_never(unreachable)
