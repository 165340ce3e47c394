"""The built-in rule catalogue over the events mamori really produces, through the live path.

Every event is made by the code that makes it in production wherever that code exists: the
syslog receiver's normaliser on real sshd/sudo/su/PAM lines, the followed-file normaliser on
Zeek conn.log, Suricata EVE and VPC flow lines, the console's sign-in and account functions
(their audit events read back from the outbox), the device gate, the ledger sink with its
storage failing, the verification's self-audit. Only the database guard's events are written
by hand (the guard does not exist yet; database.yml states the fields it assumes).

The path is the live engine's: load_builtin → build_engine(match_logsource=True) → Enricher
(Japanese business calendar, denied networks) → Engine.matching → correlation_matches, with
base rules that only feed `generate: false` correlations kept quiet. For each rule there is an
event (or a series) that raises it and a near miss — the same thing with one detail changed —
that does not.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import io
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori import audit
from mamori.access import add_user, set_role, sign_in
from mamori.audit import Identity, audit_doc
from mamori.detect.calendar import BusinessCalendar
from mamori.detect.catalogue import load_builtin, rule_id
from mamori.detect.engine import Match, build_engine, correlation_matches, detect_test, event_time
from mamori.detect.enrich import Enricher
from mamori.home import Home
from mamori.ingest.normalise import LineNormaliser, Source, syslog_event
from mamori.ingest.tail import _note_event
from mamori.ledger.errors import LedgerError
from mamori.ledger.writer import Sequencer
from mamori.service import sink as sink_module
from mamori.service.gate import SourceGate
from mamori.service.log import Log
from mamori.service.metrics import Metrics
from mamori.service.sink import LedgerSink, _Loss, _loss_event
from tests.boundary_samples import EVE_ALERT, ZEEK_HEADER
from tests.conftest import run, shared_data
from tests.service.svc import events as ledger_events

# --- the rules, by id ---------------------------------------------------------------------------

REMOTE_FAILURE = "fa363647-04b3-4751-ae01-7ef43387a898"
CONSOLE_FAILURE = "7d8b9f62-f0b2-4c7a-b18f-24bd9601ac78"
FAILURES_FROM_ADDRESS = "07443f88-3337-48ac-83ab-4e7b4f75b68f"
FAILURES_FOR_ACCOUNT = "89585267-7aab-4108-bc21-2bfc41a68a08"
SSH_ACCEPTED = "4cda87b0-0235-4fa3-a793-1cbf525e489b"
FAILURE_BURST = "3b9f1503-b6b7-4544-8f1e-f5eb19ae58cb"
LOGIN_AFTER_FAILURES = "13e308d4-b42b-45f9-afbd-bb980d4f33db"
SUDO_SU_REFUSED = "c45695f1-7b6a-4199-86b0-d9ec8458c83a"
ACCOUNT_LOCKED = "8a4dc57e-250c-498d-b584-a35816d7cbd4"
ADMIN_GRANTED = "e374306b-7f58-4604-99f9-93448d9484b0"
ROLE_GRANTED = "dea26e14-1bb7-4234-b410-23fd8a7e7cf7"
LONG_TOKEN = "5f1c8e2a-9b47-4c1e-a6d3-2e8f0b7c4d91"
DB_PRIVILEGE_WIDENED = "3b0f3d55-6a0e-4c1e-9a3e-7f2d8c4b9e10"
DB_SUPERUSER_CLASS = "9c4e2a71-0d5b-4f8e-b3a6-1e7c5d2f8a34"
UNREGISTERED_DEVICE = "a13c581c-b4db-4ff7-874c-40ce85cf5630"
STORE_UNAVAILABLE = "5578a389-30b1-4b9e-95c2-0377c8fd4d10"
INGEST_LOSS = "95307719-22e8-40ce-b565-5179663bb1e5"
VERIFY_FAILED = "a99505df-044d-426d-91f0-0acaeee2a094"
TAIL_GAP = "55b063a1-4e47-448f-b9f6-88f0e669f1be"
SERVICE_STOPPED = "25c09f12-8e64-4f72-9965-6e03afb7f0f1"
DENIED_AUTH = "4ef09ac9-11bd-477d-807c-6d07fb90875e"
DENIED_CONNECTION = "7edfd5a3-cf33-4d09-9369-673333bbc7a0"
BOUNDARY_CONNECTION = "8c54b1ec-4f35-4af0-a494-0c34b7f8302c"
PORT_SCAN = "3ad72476-c49f-47fd-871f-cf6218e135cc"
LARGE_OUTBOUND = "add5b25e-df71-4c2d-a222-cff8295e16c4"
SURICATA_HIGH = "47f8fed7-7c90-48f2-aab7-c6274843a2cd"
DB_OUTSIDE_HOURS = "5663b7c8-8cf0-4fa1-af7c-0bf502ea0d09"
DB_HOLIDAY = "4f0d1997-4be6-46f8-bf86-37e51cb5e4be"
DB_YEAR_END = "db1145b3-67cb-440a-8419-96d836f5e94d"
DB_MANY_ROWS = "06802b68-b359-4b52-a4bb-a045cd88aefe"
VULN_DEADLINE_MISSED = "3080a003-af82-4ad9-b09a-7ce4b345f076"
VULN_CRITICAL_DETECTED = "e689ed66-b772-4795-94d5-fc477936f3cc"
VULN_REOPENED = "ff455b4c-5e9f-4711-b6eb-c9cae2350463"

ALL_RULES = frozenset(
    {
        LONG_TOKEN,
        DB_PRIVILEGE_WIDENED,
        DB_SUPERUSER_CLASS,
        REMOTE_FAILURE, CONSOLE_FAILURE, FAILURES_FROM_ADDRESS, FAILURES_FOR_ACCOUNT,
        SSH_ACCEPTED, FAILURE_BURST, LOGIN_AFTER_FAILURES, SUDO_SU_REFUSED, ACCOUNT_LOCKED,
        ADMIN_GRANTED, ROLE_GRANTED, UNREGISTERED_DEVICE, STORE_UNAVAILABLE, INGEST_LOSS,
        VERIFY_FAILED, TAIL_GAP, SERVICE_STOPPED, DENIED_AUTH, DENIED_CONNECTION,
        BOUNDARY_CONNECTION, PORT_SCAN, LARGE_OUTBOUND, SURICATA_HIGH, DB_OUTSIDE_HOURS,
        DB_HOLIDAY, DB_YEAR_END, DB_MANY_ROWS,
        VULN_DEADLINE_MISSED, VULN_CRITICAL_DETECTED, VULN_REOPENED,
    }
)  # fmt: skip
"""Every rule this module tests: the catalogue must be exactly these."""

# --- the live path ------------------------------------------------------------------------------

Event = dict[str, Any]

DENIED_NETWORKS = ("203.0.113.0/24", "2001:db8:bad::/48")
LOADED = load_builtin()
BUILT = build_engine(LOADED, match_logsource=True)
ENRICHER = Enricher(BusinessCalendar(), DENIED_NETWORKS)

T0 = dt.datetime(2026, 6, 15, 1, 0, tzinfo=dt.UTC)
"""Monday 15 June 2026, 10:00 in Tokyo: an ordinary business hour."""
JST = dt.timezone(dt.timedelta(hours=9))


def enriched(events: Iterable[Mapping[str, Any]]) -> list[Event]:
    return [ENRICHER.enrich(ev, event_time(ev)) for ev in events]


def live(events: Sequence[Mapping[str, Any]]) -> list[Match]:
    """The alerts the live engine raises for `events` (fed in order): base-rule matches other
    than the quiet feeders, then correlation matches."""
    per_event = [(i, ev, BUILT.engine.matching(ev)) for i, ev in enumerate(enriched(events))]
    corr, refused, quiet = correlation_matches(BUILT.correlations, per_event)
    assert refused == []
    base = [Match(r.id, (i,)) for i, _ev, rules in per_event for r in rules if r.id not in quiet]
    return base + corr


def fired(events: Sequence[Mapping[str, Any]]) -> set[str]:
    """The ids of the rules that alert over `events`."""
    return {m.rule for m in live(events)}


def matched(event: Mapping[str, Any]) -> set[str]:
    """The ids of the base rules one event matches, feeders included."""
    return {r.id for r in BUILT.engine.matching(enriched([event])[0])}


def retime(event: Mapping[str, Any], seconds: float) -> Event:
    """`event` at T0 + `seconds` (only its @timestamp changed)."""
    when = T0 + dt.timedelta(seconds=seconds)
    return {**event, "@timestamp": when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")}


def changed(event: Mapping[str, Any], path: str, value: Any) -> Event:
    """A deep copy of `event` with one dotted field set to `value`."""
    out: Event = orjson.loads(orjson.dumps(event))
    *parents, leaf = path.split(".")
    node = out
    for name in parents:
        node = node.setdefault(name, {})
    node[leaf] = value
    return out


# --- the producers ------------------------------------------------------------------------------

SYSLOG = Source("syslog-tls", "192.0.2.10:51514", "web1")
RECEIVED = T0 + dt.timedelta(hours=1)
MAMORI_HOST = Identity(host="mamori1", pid=4242, user="mamori")


def syslog(app: str, text: str, *, at: float = 0.0, host: str = "web1") -> Event:
    """What the syslog receivers store for one RFC 5424 message from `app` on `host`."""
    when = (T0 + dt.timedelta(seconds=at)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    line = f"<38>1 {when} {host} {app} 4242 - - {text}".encode()
    event: Event = orjson.loads(syslog_event(line, SYSLOG, RECEIVED, dt.UTC))
    return event


def failed_ssh(ip: str, *, at: float = 0.0, user: str = "root", host: str = "web1") -> Event:
    return syslog("sshd", f"Failed password for {user} from {ip} port 50022 ssh2", at=at, host=host)


def accepted_ssh(ip: str, *, at: float = 0.0, user: str = "alice") -> Event:
    return syslog("sshd", f"Accepted publickey for {user} from {ip} port 50100 ssh2", at=at)


def own(action: str, *, outcome: str = "success", **fields: Any) -> Event:
    """One of mamori's own audit events, as :func:`mamori.audit.audit_doc` makes it."""
    return audit_doc(action, when=T0, identity=MAMORI_HOST, outcome=outcome, fields=fields)


class Outbox:
    """Reads back the audit events the console and CLI functions record in a home's outbox."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self.after = 0

    def take(self) -> list[Event]:
        rows = audit.pending(self.home, self.after, 10_000)
        if rows:
            self.after = rows[-1][0]
        return [orjson.loads(ev) for _i, ev in rows]


def tail(fmt: str, path: str, lines: Iterable[str]) -> list[Event]:
    """What a `[[tail]]` of `fmt` stores for `lines` (header lines give no event)."""
    normaliser = LineNormaliser(fmt, Source("tail", path), dt.UTC)
    out: list[Event] = []
    for line in lines:
        raw = normaliser.event(line.encode(), RECEIVED)
        if raw is not None:
            out.append(orjson.loads(raw))
    return out


def zeek_row(
    orig: str,
    resp: str,
    resp_p: int,
    *,
    at: float = 0.0,
    proto: str = "tcp",
    orig_bytes: int = 0,
    resp_bytes: int = 0,
    state: str = "S0",
) -> str:
    """A conn.log row in the documented 20-field layout (tests/boundary_samples.py)."""
    ts = f"{(T0 + dt.timedelta(seconds=at)).timestamp():.6f}"
    return "\t".join(
        [ts, f"C{resp_p}x{int(at * 1000)}", orig, "49152", resp, str(resp_p), proto, "-",
         "0.000412", str(orig_bytes), str(resp_bytes), state, "-", "0", "S", "1", "44", "0",
         "0", "(empty)"]
    )  # fmt: skip


def zeek(*rows: str) -> list[Event]:
    return tail("zeek", "/var/log/zeek/conn.log", [*ZEEK_HEADER, *rows])


def eve_flow(
    src: str,
    dst: str,
    dport: int,
    *,
    at: float = 0.0,
    to_server: int = 1200,
    to_client: int = 5400,
    proto: str = "TCP",
) -> str:
    when = (T0 + dt.timedelta(seconds=at)).strftime("%Y-%m-%dT%H:%M:%S.%f+0000")
    return json.dumps(
        {
            "timestamp": when,
            "flow_id": 1000 + dport,
            "event_type": "flow",
            "src_ip": src,
            "src_port": 49152,
            "dest_ip": dst,
            "dest_port": dport,
            "proto": proto,
            "flow": {
                "pkts_toserver": 10,
                "pkts_toclient": 10,
                "bytes_toserver": to_server,
                "bytes_toclient": to_client,
                "start": when,
                "end": when,
                "age": 0,
                "state": "closed",
                "reason": "timeout",
                "alerted": False,
            },
        }
    )


def suricata(*lines: str) -> list[Event]:
    return tail("suricata", "/var/log/suricata/eve.json", lines)


def vpc_line(
    src: str, dst: str, dport: int, *, at: float = 0.0, nbytes: int = 4249, action: str = "ACCEPT"
) -> str:
    start = int((T0 + dt.timedelta(seconds=at)).timestamp())
    return (
        f"2 123456789010 eni-1235b8ca123456789 {src} {dst} 49152 {dport} 6 20 {nbytes} "
        f"{start} {start + 60} {action} OK"
    )


def vpc(*lines: str) -> list[Event]:
    return tail("vpcflow", "/var/log/vpc/flow.log", lines)


def db_query(local: dt.datetime, *, rows: int = 12, action: str = "query") -> Event:
    """A database guard event as database.yml assumes it (the guard is the next issue)."""
    when = local.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "@timestamp": when,
        "event": {
            "kind": "event",
            "category": ["database"],
            "action": action,
            "outcome": "success",
        },
        "user": {"name": "app_reader"},
        "source": {"ip": "10.0.2.15"},
        "db": {
            "query": {"text": "SELECT * FROM residents WHERE ward = $1"},
            "response": {"returned_rows": rows},
        },
    }


# --- the catalogue as a whole -------------------------------------------------------------------


def test_the_catalogue_loads_and_every_rule_is_tested_here() -> None:
    assert LOADED.problems == [] and BUILT.problems == []
    ids = {rule_id(r) for r in LOADED.rules} | {rule_id(r) for r in LOADED.correlations}
    assert ids == ALL_RULES, "a built-in rule was added or removed: add its tests here"


def test_feeders_never_alert_on_their_own() -> None:
    events = [
        failed_ssh("198.51.100.7"),
        accepted_ssh("198.51.100.7", at=1),
        *zeek(zeek_row("198.51.100.7", "10.0.0.5", 22, at=2)),
    ]
    assert {REMOTE_FAILURE, SSH_ACCEPTED, BOUNDARY_CONNECTION} <= set().union(
        *(matched(e) for e in events)
    )
    assert fired(events) == set()


def test_detect_test_agrees_with_the_live_path() -> None:
    events = enriched(
        [failed_ssh("198.51.100.7", at=i) for i in range(5)]
        + [own("ledger.verified", outcome="failure", tree_size=9, problems=1)]
    )
    run = detect_test(LOADED, list(enumerate(events)), match_logsource=True)
    assert run.problems == []
    assert sorted((m.rule, m.events) for m in run.matches) == sorted(
        (m.rule, m.events) for m in live(events)
    )


# --- single events: one that raises the rule, one near miss that does not ------------------------


@dataclass(frozen=True)
class Case:
    rule: str
    hit: Callable[[], Event]
    miss: Callable[[], Event]
    also: frozenset[str] = frozenset()
    """Other rules the hit raises too."""


SINGLE: dict[str, Case] = {
    "sudo: 3 incorrect password attempts": Case(
        SUDO_SU_REFUSED,
        lambda: syslog(
            "sudo",
            "alice : 3 incorrect password attempts ; TTY=pts/0 ; PWD=/home/alice ; "
            "USER=root ; COMMAND=/bin/bash",
        ),
        lambda: syslog(
            "sudo", "alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/bin/bash"
        ),
    ),
    "sudo: not in sudoers": Case(
        SUDO_SU_REFUSED,
        lambda: syslog(
            "sudo",
            "mallory : user NOT in sudoers ; TTY=pts/1 ; PWD=/tmp ; USER=root ; "
            "COMMAND=/usr/bin/id",
        ),
        lambda: syslog("sudo", "mallory : TTY=pts/1 ; PWD=/tmp ; USER=root ; COMMAND=/usr/bin/id"),
    ),
    "su: FAILED SU": Case(
        SUDO_SU_REFUSED,
        lambda: syslog("su", "FAILED SU (to root) alice on pts/0"),
        lambda: syslog("su", "(to root) alice on pts/0"),
    ),
    "ssh failure from a denied network": Case(
        DENIED_AUTH,
        lambda: failed_ssh("203.0.113.9"),
        lambda: failed_ssh("198.51.100.9"),
    ),
    "ssh login from a denied network (IPv6)": Case(
        DENIED_AUTH,
        lambda: accepted_ssh("2001:db8:bad::1"),
        lambda: accepted_ssh("2001:db8:600d::1"),
    ),
    "zeek: connection to a denied network": Case(
        DENIED_CONNECTION,
        lambda: zeek(zeek_row("10.0.0.5", "203.0.113.80", 443, state="SF"))[0],
        lambda: zeek(zeek_row("10.0.0.5", "198.51.100.80", 443, state="SF"))[0],
    ),
    "vpc: rejected flow from a denied network": Case(
        DENIED_CONNECTION,
        lambda: vpc(vpc_line("203.0.113.7", "10.0.1.5", 22, action="REJECT"))[0],
        lambda: vpc(vpc_line("198.51.100.7", "10.0.1.5", 22, action="REJECT"))[0],
    ),
    "suricata: alert touching a denied network": Case(
        DENIED_CONNECTION,
        lambda: suricata(EVE_ALERT.replace("209.53.113.5", "203.0.113.5"))[0],
        lambda: suricata(EVE_ALERT)[0],
    ),
    "suricata: severity 1 alert": Case(
        SURICATA_HIGH,
        lambda: suricata(EVE_ALERT.replace('"severity":2', '"severity":1'))[0],
        lambda: suricata(EVE_ALERT)[0],  # the documented sample: severity 2
    ),
    "zeek: 1 GiB sent out by an inside host": Case(
        LARGE_OUTBOUND,
        lambda: zeek(zeek_row("10.0.0.5", "198.51.100.80", 443, orig_bytes=2**30, state="SF"))[0],
        lambda: zeek(zeek_row("10.0.0.5", "198.51.100.80", 443, orig_bytes=2**30 - 1))[0],
    ),
    "zeek: 1 GiB between two inside hosts": Case(
        LARGE_OUTBOUND,
        lambda: zeek(zeek_row("10.0.0.5", "198.51.100.80", 443, orig_bytes=5 * 2**30))[0],
        lambda: zeek(zeek_row("10.0.0.5", "10.0.9.80", 443, orig_bytes=5 * 2**30))[0],
    ),
    "zeek: 1 GiB served to an outside client": Case(
        LARGE_OUTBOUND,
        lambda: zeek(zeek_row("198.51.100.80", "172.16.4.5", 443, resp_bytes=3 * 2**30))[0],
        lambda: zeek(zeek_row("198.51.100.80", "172.16.4.5", 443, orig_bytes=3 * 2**30))[0],
    ),
    "suricata: 1 GiB flow to the internet": Case(
        LARGE_OUTBOUND,
        lambda: suricata(eve_flow("192.168.2.14", "198.51.100.80", 443, to_server=2**31))[0],
        lambda: suricata(eve_flow("192.168.2.14", "198.51.100.80", 443, to_client=2**31))[0],
    ),
    "vpc: accepted 1 GiB to the internet": Case(
        LARGE_OUTBOUND,
        lambda: vpc(vpc_line("10.0.1.5", "198.51.100.80", 443, nbytes=2**30))[0],
        lambda: vpc(vpc_line("10.0.1.5", "198.51.100.80", 443, nbytes=2**30, action="REJECT"))[0],
    ),
    "mamori service stopped": Case(
        SERVICE_STOPPED,
        lambda: own("mamori.stop", reason="SIGTERM", pid=4242),
        lambda: own("mamori.start", version="0", pid=4242),
    ),
    "ingest loss (forged by a sender: not mamori's)": Case(
        INGEST_LOSS,
        lambda: orjson.loads(_loss_event("syslog-udp", _Loss(120, 1.0e9, 1.0e9 + 5, {"a": 120}))),
        lambda: changed(
            orjson.loads(_loss_event("syslog-udp", _Loss(120, 1.0e9, 1.0e9 + 5, {"a": 120}))),
            "mamori.receiver",
            "tail",
        ),
    ),
    "followed file: gap": Case(
        TAIL_GAP,
        lambda: orjson.loads(_note_event("gap", "/var/log/auth.log", RECEIVED, None)),
        lambda: orjson.loads(_note_event("truncated", "/var/log/auth.log", RECEIVED, None)),
    ),
    "followed file: unreadable": Case(
        TAIL_GAP,
        lambda: orjson.loads(_note_event("unreadable", "/var/log/x", RECEIVED, "EACCES")),
        lambda: orjson.loads(_note_event("rotated", "/var/log/x", RECEIVED, None)),
    ),
    "database: 10,000 rows": Case(
        DB_MANY_ROWS,
        lambda: db_query(dt.datetime(2026, 6, 15, 10, 0, tzinfo=JST), rows=10_000),
        lambda: db_query(dt.datetime(2026, 6, 15, 10, 0, tzinfo=JST), rows=9_999),
    ),
}


@pytest.mark.parametrize("name", SINGLE)
def test_single_event_hits_and_near_miss(name: str) -> None:
    case = SINGLE[name]
    assert fired([case.hit()]) == {case.rule, *case.also}
    assert case.rule not in fired([case.miss()])


# --- mamori's own audit events from the code that records them ----------------------------------


def test_console_failures_from_one_address_and_the_lockout(home: Home) -> None:
    outbox = Outbox(home)
    add_user(home, "alice", "operator")
    outbox.take()
    for _ in range(4):
        sign_in(home, "alice", "not the password", source="198.51.100.7")
    four = outbox.take()
    assert [e["event"]["action"] for e in four] == ["user.sign_in_failed"] * 4
    assert all(matched(e) == {CONSOLE_FAILURE} for e in four)
    assert fired(four) == set()
    sign_in(home, "alice", "not the password", source="198.51.100.7")
    fifth = outbox.take()
    assert [e["event"]["action"] for e in fifth] == ["user.sign_in_failed", "user.locked"]
    assert fired(four + fifth) == {FAILURES_FROM_ADDRESS, ACCOUNT_LOCKED}
    # The same lockout forged by a log sender (stamped with its receiver) is not mamori's.
    assert fired([changed(fifth[1], "mamori.receiver", "syslog-tcp")]) == set()


def test_console_and_ssh_failures_from_one_address_count_together(home: Home) -> None:
    outbox = Outbox(home)
    for _ in range(2):
        sign_in(home, "nobody", "guess", source="198.51.100.7")  # an unknown account
    console = [retime(e, 10 + i) for i, e in enumerate(outbox.take())]
    ssh = [failed_ssh("198.51.100.7", at=20 + i, user=u) for i, u in enumerate("abc")]
    assert fired(ssh + console) == {FAILURES_FROM_ADDRESS}
    assert fired([*ssh, changed(console[-1], "mamori.audit.source", "198.51.100.8")]) == set()


@pytest.mark.parametrize(
    ("args", "alerts"),
    [
        (["--no-expiry"], True),
        (["--expires-days", "366"], True),
        (["--expires-days", "365"], False),
        ([], False),  # the default, 90 days
    ],
)
def test_long_lived_tokens(home: Home, args: list[str], alerts: bool) -> None:
    outbox = Outbox(home)
    p = run(["tokens", "add", "sender", "--scope", "ingest", "--home", str(home.root), *args])
    assert p.returncode == 0, p.stderr
    (created,) = outbox.take()
    assert created["event"]["action"] == "token.created"
    assert fired([created]) == ({LONG_TOKEN} if alerts else set())


def test_database_privilege_drift(home: Home) -> None:
    """Events from the real producer: `privileges.check` against an approved baseline (the
    server's snapshots given as values instead of read over a connection)."""
    from mamori.dbguard.privileges import approve, check
    from mamori.dbguard.privmodel import Grant, Role, Snapshot

    def snap(roles: dict[str, set[str]], grants: set[Grant] = set()) -> Snapshot:  # noqa: B006
        return Snapshot(
            target="shop@127.0.0.1:5432",
            server_version="15.19",
            taken_at="2026-11-27T00:00:00Z",
            roles=frozenset(Role(n, frozenset(a)) for n, a in roles.items()),
            memberships=frozenset(),
            grants=frozenset(grants),
            default_grants=frozenset(),
        )

    outbox = Outbox(home)
    approve(home, snap({"app": {"LOGIN"}, "clerk": {"LOGIN"}}), "admin")
    outbox.take()
    select = Grant("table", "public.customers", "clerk", "SELECT", "owner")
    check(
        home, "dbname=shop", take=lambda _c: snap({"app": {"LOGIN"}, "clerk": {"LOGIN"}}, {select})
    )
    assert fired(outbox.take()) == {DB_PRIVILEGE_WIDENED}
    check(
        home,
        "dbname=shop",
        take=lambda _c: snap({"app": {"LOGIN", "SUPERUSER"}, "clerk": {"LOGIN"}}),
    )
    events = outbox.take()
    # the SELECT grant went away (revoked: not widening), SUPERUSER came: the critical rule only
    assert fired(events) == {DB_SUPERUSER_CLASS}
    assert fired([changed(e, "mamori.audit.privilege", "CREATEDB") for e in events]) == {
        DB_PRIVILEGE_WIDENED
    }
    assert (
        fired([changed(e, "event.action", "dbguard.privileges_approved") for e in events]) == set()
    )


def test_role_grants(home: Home) -> None:
    outbox = Outbox(home)
    add_user(home, "bob", "operator", actor="admin")
    created = outbox.take()
    assert [e["event"]["action"] for e in created] == ["user.created", "role.granted"]
    assert fired(created) == {ROLE_GRANTED}
    set_role(home, "bob", "admin", actor="admin")
    promoted = outbox.take()
    assert fired(promoted) == {ADMIN_GRANTED}
    set_role(home, "bob", "auditor", actor="admin")
    assert fired(outbox.take()) == {ROLE_GRANTED}
    add_user(home, "carol", "admin")
    assert fired(outbox.take()) == {ADMIN_GRANTED}
    # near misses: the same event with another action
    assert fired([changed(promoted[0], "event.action", "user.disabled")]) == set()


def test_vulnerability_decisions(home: Home) -> None:
    """Events from the real producer: the decision store, fed a scan's findings."""
    from mamori.vuln.decisionstore import ObservedFinding, check_deadlines, mark_fixed, observe

    def finding(severity: str) -> ObservedFinding:
        return ObservedFinding("PyPI", "requests", "2.30.0", "pkg:pypi/requests@2.30.0",
                               f"CVE-2024-{severity}", (), severity, ("2.31.0",))  # fmt: skip

    outbox = Outbox(home)
    critical, high = finding("critical"), finding("high")
    observe(home, "web1", [critical, high], T0)
    detected = outbox.take()
    assert [e["mamori"]["audit"]["severity"] for e in detected] == ["critical", "high"]
    assert fired(detected) == {VULN_CRITICAL_DETECTED}  # the high one is the near miss
    # 7 days for critical: met through its last day, missed the day after
    assert check_deadlines(home, T0 + dt.timedelta(days=7)) == []
    assert fired(outbox.take()) == set()
    check_deadlines(home, T0 + dt.timedelta(days=8))
    missed = outbox.take()
    assert fired(missed) == {VULN_DEADLINE_MISSED}
    assert fired([changed(missed[0], "event.action", "vuln.finding_affected")]) == set()
    mark_fixed(home, "web1", critical.key, version="2.31.0", date=T0.date(), approver="sato")
    assert fired(outbox.take()) == set()  # vuln.finding_fixed
    observe(home, "web1", [critical], T0 + dt.timedelta(days=9))
    reopened = outbox.take()
    assert [e["event"]["action"] for e in reopened] == ["vuln.finding_reopened"]
    assert fired(reopened) == {VULN_REOPENED}
    assert fired([changed(reopened[0], "event.action", "vuln.finding_verified")]) == set()


class _Registry:
    empty = False

    def match(self, ip: str | None, fingerprint: str | None) -> None:
        return None


class _Sink:
    def __init__(self) -> None:
        self.events: list[Event] = []

    def offer(self, events: list[bytes], *, receiver: str) -> bool:
        self.events += [orjson.loads(e) for e in events]
        return True


@pytest.mark.parametrize("require_registered", [True, False])
def test_unregistered_device(require_registered: bool) -> None:
    sink = _Sink()
    gate = SourceGate(_Registry(), sink, Metrics(), require_registered=require_registered)
    allowed, _ = gate.check("syslog-tls", "198.51.100.20", "ab" * 32)
    assert allowed is not require_registered
    (event,) = sink.events
    assert event["mamori"]["audit"]["refused"] is require_registered
    assert fired([event]) == {UNREGISTERED_DEVICE}
    assert fired([changed(event, "event.action", "device.added")]) == set()


def test_unregistered_device_refused_certificate() -> None:
    sink = _Sink()
    gate = SourceGate(_Registry(), sink, Metrics(), require_registered=False)
    gate.refused_certificate("syslog-tls", "198.51.100.21", "no certificate")
    assert fired(sink.events) == {UNREGISTERED_DEVICE}


def test_ledger_verification(home: Home) -> None:
    from mamori.cli.ledger import _record_verification

    outbox = Outbox(home)
    _record_verification(home, False, 120, 3)
    _record_verification(home, True, 120, 0)
    failed, passed = outbox.take()
    assert failed["event"]["outcome"] == "failure"
    assert fired([failed]) == {VERIFY_FAILED}
    assert fired([passed]) == set()


def test_storage_failure_switches_to_the_spool(home: Home, monkeypatch: pytest.MonkeyPatch) -> None:
    """The real sink with its ledger commits failing: the ledger.store_unavailable event it
    spools reaches the ledger on recovery and raises the rule; ledger.store_recovered does not."""
    broken = False
    real = Sequencer.commit

    def commit(seq: Sequencer, evs: Any, **kw: Any) -> Any:
        if broken:
            raise LedgerError("database or disk is full (injected)")
        return real(seq, evs, **kw)

    monkeypatch.setattr(Sequencer, "commit", commit)
    monkeypatch.setattr(sink_module, "RETRY_INTERVAL_S", 0.05)

    async def main() -> None:
        nonlocal broken
        sink = LedgerSink(home, metrics=Metrics(), log=Log(io.StringIO()))
        sink.open()
        sink.start(asyncio.get_running_loop())
        await sink.submit([b'{"message":"before"}'], receiver="t")
        broken = True
        assert (await sink.submit([b'{"message":"during"}'], receiver="t")).spooled
        broken = False
        for _ in range(200):
            if not sink.spooling:
                break
            await asyncio.sleep(0.02)
        await sink.close()

    asyncio.run(main())
    stored = {e["event"]["action"]: e for e in ledger_events(home) if "event" in e}
    assert fired([stored["ledger.store_unavailable"]]) == {STORE_UNAVAILABLE}
    assert fired([stored["ledger.store_recovered"]]) == set()


# --- authentication failures over time ----------------------------------------------------------


def test_five_ssh_failures_from_one_address_within_five_minutes() -> None:
    users = ["root", "admin", "oracle", "test", "ubuntu"]
    burst = [failed_ssh("198.51.100.7", at=i * 60, user=u) for i, u in enumerate(users)]
    assert fired(burst) == {FAILURES_FROM_ADDRESS}
    assert fired(burst[:4]) == set()
    spread = [failed_ssh("198.51.100.7", at=i * 75.25, user=u) for i, u in enumerate(users)]
    assert fired(spread) == set()  # the first and the fifth are 301 s apart


def test_five_failures_for_one_account_on_one_host_from_many_addresses() -> None:
    ips = [f"198.51.100.{n}" for n in range(10, 15)]
    spray = [failed_ssh(ip, at=i * 30) for i, ip in enumerate(ips)]
    assert fired(spray) == {FAILURES_FOR_ACCOUNT}
    hosts = [failed_ssh(ip, at=i * 30, host=f"web{i}") for i, ip in enumerate(ips)]
    assert fired(hosts) == set()


def test_pam_failures_count_unless_sshd_wrote_its_own_line() -> None:
    pam = "pam_unix({}:auth): authentication failure; logname= uid=0 euid=0 tty={} ruser= rhost=198.51.100.7  user=bob"
    ftp = [syslog("vsftpd", pam.format("vsftpd", "ftp"), at=i) for i in range(5)]
    assert all(matched(e) == {REMOTE_FAILURE} for e in ftp)
    assert fired(ftp) == {FAILURES_FROM_ADDRESS, FAILURES_FOR_ACCOUNT}
    # sshd writes both lines for one attempt: four attempts are eight lines, not a burst
    sshd = [
        e
        for i in range(4)
        for e in (
            syslog("sshd", pam.format("sshd", "ssh"), at=i),
            failed_ssh("198.51.100.7", at=i, user="bob"),
        )
    ]
    assert fired(sshd) == set()
    # without an address (a local login) nothing is counted by address
    local = [
        syslog(
            "login",
            "pam_unix(login:auth): authentication failure; logname= uid=0 euid=0 tty=tty1 ruser= rhost=  user=bob",
            at=i,
        )
        for i in range(5)
    ]
    assert all(REMOTE_FAILURE not in matched(e) for e in local)


def test_old_sshd_pam_unix_program_name_counts() -> None:
    line = "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=218.188.2.4  user=root"
    old = [syslog("sshd(pam_unix)", line, at=i) for i in range(5)]
    assert fired(old) == {FAILURES_FROM_ADDRESS, FAILURES_FOR_ACCOUNT}


def test_login_accepted_after_a_burst_of_failures() -> None:
    burst = [failed_ssh("198.51.100.7", at=i * 10, user="root") for i in range(5)]
    after = accepted_ssh("198.51.100.7", at=300, user="root")
    assert fired([*burst, after]) == {
        FAILURES_FROM_ADDRESS,
        FAILURES_FOR_ACCOUNT,
        LOGIN_AFTER_FAILURES,
    }
    matches = [m for m in live([*burst, after]) if m.rule == LOGIN_AFTER_FAILURES]
    assert [m.events for m in matches] == [(0, 1, 2, 3, 4, 5)]
    # near misses: another address; a success before the failures; a success too late
    assert LOGIN_AFTER_FAILURES not in fired([*burst, accepted_ssh("198.51.100.8", at=300)])
    before = accepted_ssh("198.51.100.7", at=0)
    later = [failed_ssh("198.51.100.7", at=1 + i * 10) for i in range(5)]
    assert LOGIN_AFTER_FAILURES not in fired([before, *later])
    assert LOGIN_AFTER_FAILURES not in fired([*burst, accepted_ssh("198.51.100.7", at=40 + 601)])


@pytest.mark.parametrize(
    ("log", "attacker"),
    [
        # OpenSSH 7: "Failed password" lines, pam_unix(sshd:auth) beside them (not counted twice)
        (("OpenSSH", "OpenSSH_2k.log"), "183.62.140.253"),
        # Red Hat 2005: sshd(pam_unix) lines only
        (("Linux", "Linux_2k.log"), "150.183.249.110"),
    ],
)
def test_loghub_logs(log: tuple[str, str], attacker: str) -> None:
    """Real logs of Loghub as a followed file: the brute force raises the by-address and
    by-account alerts, and nothing else fires (nobody logs in after a burst, no sudo or su is
    refused)."""
    path = shared_data("logs", *log)
    normaliser = LineNormaliser("syslog", Source("tail", "/var/log/auth.log"), dt.UTC)
    received = dt.datetime(2026, 12, 31, tzinfo=dt.UTC)
    events = []
    for line in Path(path).read_bytes().splitlines():
        raw = normaliser.event(line, received)
        if raw is not None:
            events.append(orjson.loads(raw))
    matches = live(events)
    assert {m.rule for m in matches} == {FAILURES_FROM_ADDRESS, FAILURES_FOR_ACCOUNT}
    sources = {
        events[m.events[0]]["source"]["ip"] for m in matches if m.rule == FAILURES_FROM_ADDRESS
    }
    assert attacker in sources


# --- the boundary -------------------------------------------------------------------------------


def test_port_scan_over_zeek() -> None:
    rows = [zeek_row("198.51.100.66", "10.0.0.5", 1000 + n, at=n * 2.5) for n in range(21)]
    events = zeek(*rows)
    assert all(matched(e) == {BOUNDARY_CONNECTION} for e in events)
    assert fired(events) == {PORT_SCAN}
    assert fired(events[:20]) == set()  # 20 distinct ports is not more than 20
    same_port = zeek(*[zeek_row("198.51.100.66", "10.0.0.5", 22, at=n) for n in range(40)])
    assert fired(same_port) == set()
    slow = zeek(*[zeek_row("198.51.100.66", "10.0.0.5", 1000 + n, at=n * 3.05) for n in range(21)])
    assert fired(slow) == set()  # the first and the 21st are 61 s apart


def test_port_scan_over_suricata_flows_and_rejected_vpc_records() -> None:
    flows = suricata(*[eve_flow("198.51.100.66", "10.0.0.5", 2000 + n, at=n) for n in range(21)])
    assert fired(flows) == {PORT_SCAN}
    udp = suricata(
        *[eve_flow("198.51.100.66", "10.0.0.5", 2000 + n, at=n, proto="ICMP") for n in range(21)]
    )
    assert fired(udp) == set()  # not TCP or UDP
    rejected = vpc(
        *[vpc_line("198.51.100.66", "10.0.1.5", 3000 + n, action="REJECT") for n in range(21)]
    )
    assert fired(rejected) == {PORT_SCAN}
    accepted = vpc(*[vpc_line("10.0.1.5", "198.51.100.66", 40000 + n) for n in range(21)])
    assert fired(accepted) == set()  # replies to many clients' ephemeral ports


# --- data access and the business calendar (DB-3) ------------------------------------------------


def _at(y: int, m: int, d: int, hh: int = 10, mm: int = 0) -> dt.datetime:
    return dt.datetime(y, m, d, hh, mm, tzinfo=JST)


CALENDAR = [
    (_at(2026, 1, 1), DB_HOLIDAY, "元日"),
    (_at(2026, 5, 4), DB_HOLIDAY, "みどりの日"),
    (_at(2026, 5, 5), DB_HOLIDAY, "こどもの日"),
    (_at(2026, 5, 6), DB_HOLIDAY, "振替休日"),
    (_at(2026, 9, 21), DB_HOLIDAY, "敬老の日"),
    (_at(2026, 9, 22), DB_HOLIDAY, "国民の休日"),
    (_at(2026, 9, 23), DB_HOLIDAY, "秋分の日"),
    (_at(2026, 12, 29), DB_YEAR_END, None),
    (_at(2026, 12, 30), DB_YEAR_END, None),
    (_at(2026, 12, 31, 23, 59), DB_YEAR_END, None),
    (_at(2027, 1, 1), DB_HOLIDAY, "元日"),
    (_at(2027, 1, 2), DB_YEAR_END, None),
    (_at(2027, 1, 3), DB_YEAR_END, None),
    (_at(2026, 6, 14), DB_OUTSIDE_HOURS, None),  # a Sunday
    (_at(2026, 6, 13, 11), DB_OUTSIDE_HOURS, None),  # a Saturday
    (_at(2026, 6, 15, 19, 1), DB_OUTSIDE_HOURS, None),
    (_at(2026, 6, 15, 18, 0), DB_OUTSIDE_HOURS, None),  # closing time is outside
    (_at(2026, 6, 15, 8, 59), DB_OUTSIDE_HOURS, None),
    (_at(2026, 6, 16, 3, 0), DB_OUTSIDE_HOURS, None),
    (_at(2026, 6, 15, 10, 0), None, None),
    (_at(2026, 6, 15, 9, 0), None, None),  # opening time is inside
    (_at(2026, 6, 15, 17, 59), None, None),
    (_at(2027, 1, 4), None, None),  # the first working day of 2027
]


@pytest.mark.parametrize(("local", "rule", "holiday"), CALENDAR, ids=lambda v: str(v))
def test_database_query_by_the_calendar(
    local: dt.datetime, rule: str | None, holiday: str | None
) -> None:
    event = db_query(local)
    assert fired([event]) == ({rule} if rule else set())
    assert enriched([event])[0]["mamori"]["calendar"].get("holiday") == holiday
    # near misses: the same moment, but not a query, or not a database event
    assert fired([db_query(local, action="connect")]) == set()
    assert fired([changed(event, "event.category", ["network"])]) == set()
