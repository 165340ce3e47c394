"""Detection benchmark (issue 5): prints one JSON document.

    .venv/bin/python bench/detect.py [--events 200000] [--seed 5] [--skip-sqlite]

100 rules: 90 Sigma base rules picked deterministically from ../shared/data/sigma (evenly spaced,
in path order, among the rules of five logsources mamori maps: Windows security, Linux
process_creation, Linux auditd, proxy and webserver) and 10 correlation rules written here
(event_count, value_count, temporal, temporal_ordered; group-by and timespans) over some of them.

Events: N realistic ECS events generated from a seed across those logsources (plus sshd logins
and network flows no selected rule is about), ~3% of them crafted from a rule's detection so that
it fires (the crafted values are laid over an ordinary event, which the rule's filters may
still reject), all serialised with the ledger's canonical JSON — the bytes the live stream reads.
Windows event_data fields that mamori's ECS table does not map are written at the top level,
under the Sigma name the rules use.

Measured, in the same run:

* mamori, live: the events appended to a real ledger, then read back by the live engine's
  :class:`~mamori.detect.live.LedgerDetector` (rows, entry envelope, enrichment, rules);
* mamori: :meth:`StreamDetector.feed` over the bytes (JSON parsing, logsource conditions,
  base rules, correlations), then ``flush()``; once without enrichment and once with the
  calendar and denied-network enrichment the live engine always runs; and, for comparison,
  the base rules alone without the engine's prefilter (every rule of the event's logsource
  run on it, as the engine did before);
* the baseline: the same 90 base rules converted with pySigma's SQLite backend (through
  mamori's ECS pipeline, so both read the same field names), the events flattened into one
  SQLite table, every query run; the 10 correlations converted and run too where the backend
  can. The SQLite queries carry no logsource condition (the backend has none) and its
  correlations group the whole table, without sliding windows, so match counts differ.

Not a test: nothing here asserts. The figures go to docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import random
import re
import sqlite3
import sys
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson
import yaml
from sigma.backends.sqlite.sqlite import sqliteBackend
from sigma.collection import SigmaCollection
from sigma.conditions import ConditionAND
from sigma.exceptions import SigmaError
from sigma.rule import SigmaDetection, SigmaDetectionItem, SigmaRule
from sigma.types import (
    SigmaBool,
    SigmaCIDRExpression,
    SigmaCompareExpression,
    SigmaExists,
    SigmaExpansion,
    SigmaNull,
    SigmaNumber,
    SigmaRegularExpression,
    SigmaString,
    SigmaType,
    SpecialChars,
)

from mamori.detect.calendar import BusinessCalendar
from mamori.detect.compile import compile_rule, flatten
from mamori.detect.detection import Detection
from mamori.detect.ecs import ECS_FIELDS, ecs_pipeline
from mamori.detect.engine import build_engine, event_time
from mamori.detect.enrich import Enricher
from mamori.detect.rules import LoadResult, load_paths, load_text
from mamori.detect.stream import StreamDetector
from mamori.ledger.canonical import canonical

REPO = Path(__file__).resolve().parents[1]
SIGMA = REPO / ".." / "shared" / "data" / "sigma"

Logsource = tuple[str | None, str | None, str | None]
WINDOWS: Logsource = ("windows", None, "security")
LINUX_PROC: Logsource = ("linux", "process_creation", None)
AUDITD: Logsource = ("linux", None, "auditd")
PROXY: Logsource = (None, "proxy", None)
WEB: Logsource = (None, "webserver", None)
PICK: dict[Logsource, int] = {WINDOWS: 30, LINUX_PROC: 30, AUDITD: 10, PROXY: 10, WEB: 10}
"""How many base rules of each logsource."""

CRAFTED = 0.03
"""Share of events crafted to hit a rule."""
HOT = 6
"""Crafted hits share this many hosts, users and addresses, so correlations see groups grow."""

# ---- rules ---------------------------------------------------------------------------------


def key(rule: SigmaRule) -> Logsource:
    ls = rule.logsource
    return (ls.product, ls.category, ls.service)


def pick_rules(loaded: LoadResult) -> list[SigmaRule]:
    """Evenly spaced rules of each logsource, in path order."""
    out: list[SigmaRule] = []
    for ls, n in PICK.items():
        pool = sorted((r for r in loaded.rules if key(r) == ls), key=loaded.path_of)
        step = len(pool) / n
        out += [pool[int(i * step)] for i in range(n)]
    return out


def correlation_yaml(hits: dict[Logsource, list[str]]) -> str:
    """The 10 correlation rules, over rules the generator can hit."""
    w, lp, a, p, b = (hits[k] for k in (WINDOWS, LINUX_PROC, AUDITD, PROXY, WEB))

    # title, level, type, rules, group-by, timespan, condition (None: none), generate
    specs: list[tuple[str, str, str, list[str], str, str, dict[str, Any] | None, bool]] = [
        ("Burst on one Windows host", "high", "event_count", [w[0]], "host.name", "10m",
         {"gte": 5}, True),
        ("One user keeps running it", "medium", "event_count", [lp[0]], "user.name", "1h",
         {"gte": 10}, False),
        ("Two Linux rules, many times", "high", "event_count", [lp[1], lp[2]], "host.name",
         "30m", {"gte": 8}, True),
        ("Many users on one Windows host", "high", "value_count", [w[1]], "host.name", "15m",
         {"gte": 3, "field": "user.name"}, False),
        ("One client, many URLs", "medium", "value_count", [p[0]], "source.ip", "5m",
         {"gte": 3, "field": "url.original"}, True),
        ("Both Linux rules on a host", "high", "temporal", [lp[3], lp[4]], "host.name", "10m",
         None, False),
        ("Both Windows rules on a host", "critical", "temporal", [w[2], w[3]], "host.name", "1h",
         None, True),
        ("auditd then process", "critical", "temporal_ordered", [a[0], lp[5]], "host.name",
         "10m", None, False),
        ("Proxy then web server", "high", "temporal_ordered", [p[1], b[0]], "source.ip", "5m",
         None, True),
        ("Rare web hit per client", "low", "event_count", [b[1]], "source.ip", "1h", {"lt": 3},
         True),
    ]  # fmt: skip
    docs = []
    for n, (title, level, kind, rules, group_by, timespan, condition, generate) in enumerate(
        specs, 1
    ):
        corr: dict[str, Any] = {
            "type": kind,
            "rules": rules,
            "group-by": [group_by],
            "timespan": timespan,
        }
        if condition is not None:
            corr["condition"] = condition
        if generate:
            corr["generate"] = True
        docs.append(
            {
                "title": title,
                "id": str(uuid.uuid5(uuid.NAMESPACE_URL, f"mamori-bench-correlation-{n}")),
                "name": f"bench_correlation_{n}",
                "level": level,
                "tags": [f"clause.BENCH-{n}"],
                "correlation": corr,
            }
        )
    return yaml.safe_dump_all(docs, sort_keys=False)


# ---- crafting hits -------------------------------------------------------------------------

OMIT = object()


def _gen(v: SigmaType) -> Any:
    """A value satisfying one Sigma value (OMIT: leave the field out)."""
    if isinstance(v, SigmaExpansion):
        return _gen(v.values[0])
    if isinstance(v, SigmaString):
        return "".join(
            p if isinstance(p, str) else "" if p is SpecialChars.WILDCARD_MULTI else "x"
            for p in v.s
        )
    if isinstance(v, SigmaBool):
        return v.boolean
    if isinstance(v, SigmaNumber):
        return v.number
    if isinstance(v, SigmaRegularExpression):
        return re.sub(r"[\\^$.*+?()\[\]{}|]", "", str(v.regexp))
    if isinstance(v, SigmaCIDRExpression):
        return str(v.network.network_address + 1)
    if isinstance(v, SigmaCompareExpression):
        n = v.number.number
        return n + 1 if v.op.name.startswith("GT") else n - 1
    if isinstance(v, SigmaNull):
        return OMIT
    if isinstance(v, SigmaExists):
        return "present" if v.exists else OMIT
    return "x"


def _items(d: SigmaDetection | SigmaDetectionItem) -> list[SigmaDetectionItem]:
    if isinstance(d, SigmaDetectionItem):
        return [d]
    return [i for x in d.detection_items for i in _items(x)]


def _overlay(d: SigmaDetection, out: dict[str, Any]) -> None:
    for item in _items(d):
        name = ECS_FIELDS.get(item.field, item.field) if item.field else "message"
        if not item.value:
            out[name] = OMIT
            continue
        vals = item.value if item.value_linking is ConditionAND else item.value[:1]
        for v in vals:
            g = _gen(v)
            prev = out.get(name)
            if isinstance(prev, str) and isinstance(g, str):
                g = prev + g
            out[name] = g


def overlays(rule: SigmaRule) -> Iterator[dict[str, Any]]:
    """Flat ECS overlays that may make the rule fire: all selections, then each alone."""
    dets = rule.detection.detections
    positive = {n: d for n, d in dets.items() if not n.startswith("filter")}
    every: dict[str, Any] = {}
    for d in positive.values():
        _overlay(d, every)
    yield every
    for d in positive.values():
        one: dict[str, Any] = {}
        _overlay(d, one)
        yield one


def lay(event: dict[str, Any], flat: dict[str, Any]) -> dict[str, Any]:
    """`event` with flat dotted values laid over it (OMIT removes)."""
    out: dict[str, Any] = orjson.loads(orjson.dumps(event))
    for path, v in flat.items():
        parts = path.split(".") if not path.startswith("@") else [path]
        node = out
        for p in parts[:-1]:
            nxt = node.get(p)
            if not isinstance(nxt, dict):
                nxt = node[p] = {}
            node = nxt
        if v is OMIT:
            node.pop(parts[-1], None)
        else:
            node[parts[-1]] = v
    return out


# ---- events --------------------------------------------------------------------------------

LINUX_CMDS = [
    ("/usr/bin/ls", "ls -la /var/log"),
    ("/usr/bin/grep", "grep -r ERROR /var/log/app"),
    ("/usr/bin/python3", "python3 /opt/app/manage.py runjob nightly"),
    ("/usr/bin/git", "git pull --ff-only origin main"),
    ("/bin/bash", "bash -c /usr/local/bin/backup.sh"),
    ("/usr/bin/systemctl", "systemctl status nginx"),
    ("/usr/bin/ps", "ps aux"),
    ("/usr/bin/cat", "cat /etc/os-release"),
    ("/usr/sbin/cron", "/usr/sbin/CRON -f"),
    ("/usr/bin/rsync", "rsync -a /srv/data/ backup01:/srv/data/"),
    ("/usr/bin/find", "find /tmp -mtime +7 -delete"),
    ("/usr/bin/sudo", "sudo -u postgres psql -c 'select 1'"),
    ("/usr/bin/awk", "awk -F: '{print $1}' /etc/passwd"),
    ("/usr/bin/tar", "tar czf /backup/home.tgz /home"),
    ("/usr/bin/ssh", "ssh -o BatchMode=yes deploy@app02 uptime"),
]
UAS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0.0.0 Safari/537.36",
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4) AppleWebKit/605.1.15 (KHTML, like Gecko) "
    "Version/17.4 Safari/605.1.15",
    "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0",
    "Microsoft-CryptoAPI/10.0",
    "Windows-Update-Agent/10.0.10011.16384 Client-Protocol/2.50",
]
DOMAINS = ["www.example.co.jp", "intranet.corp.example", "cdn.example.net", "api.example.com"]
PATHS = ["/", "/index.html", "/login", "/api/v1/items", "/static/app.js", "/img/logo.png"]
WIN_CODES = [
    "4624",
    "4624",
    "4624",
    "4625",
    "4634",
    "4672",
    "4688",
    "4663",
    "5140",
    "5145",
    "4662",
    "5136",
    "4697",
    "4720",
    "4738",
    "4768",
    "4769",
    "4776",
    "4698",
    "1102",
]


class Gen:
    """Deterministic events; `hot` picks identities from the small pool crafted hits use."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)
        self.t_us = 1_772_409_600_000_000  # 2026-03-02T00:00:00Z

    def ts(self) -> str:
        self.t_us += self.rng.randrange(10_000)
        s, us = divmod(self.t_us, 1_000_000)
        return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s)) + f".{us:06d}Z"

    def ident(self, hot: bool) -> tuple[str, str, str]:
        r = self.rng
        if hot:
            i = r.randrange(HOT)
            return f"host-{i:03d}", f"user{i}", f"192.0.2.{10 + r.randrange(HOT)}"
        return (
            f"host-{r.randrange(300):03d}",
            f"user{r.randrange(2000)}",
            f"10.{r.randrange(256)}.{r.randrange(256)}.{r.randrange(1, 255)}",
        )

    def linux_process(self, hot: bool = False) -> dict[str, Any]:
        r = self.rng
        host, user, _ip = self.ident(hot)
        exe, cmd = r.choice(LINUX_CMDS)
        return {
            "@timestamp": self.ts(),
            "event": {"category": ["process"], "type": ["start"], "kind": "event"},
            "host": {"name": host, "os": {"type": "linux"}},
            "user": {"name": user, "id": str(1000 + r.randrange(2000))},
            "process": {
                "executable": exe,
                "name": exe.rsplit("/", 1)[1],
                "command_line": cmd,
                "pid": r.randrange(1000, 400000),
                "working_directory": f"/home/{user}",
                "parent": {"executable": "/bin/bash", "command_line": "-bash", "pid": 999},
            },
            "mamori": {"receiver": "http"},
        }

    def windows(self, hot: bool = False) -> dict[str, Any]:
        r = self.rng
        host, user, ip = self.ident(hot)
        code = r.choice(WIN_CODES)
        ev: dict[str, Any] = {
            "@timestamp": self.ts(),
            "event": {
                "code": code,
                "provider": "Microsoft-Windows-Security-Auditing",
                "kind": "event",
                "outcome": "failure" if code == "4625" else "success",
            },
            "winlog": {"channel": "Security", "event_id": code, "computer_name": host},
            "host": {"name": f"{host}.corp.example"},
            "user": {"name": user, "domain": "CORP"},
            "mamori": {"receiver": "http"},
        }
        if code in ("4624", "4625", "4776"):
            ev["source"] = {"ip": ip}
            ev["winlog"]["logon"] = {"type": r.choice(["2", "3", "3", "10"])}
            ev["AuthenticationPackageName"] = r.choice(["NTLM", "Kerberos", "Negotiate"])
            ev["LogonProcessName"] = r.choice(["NtLmSsp ", "User32 ", "Kerberos"])
            ev["WorkstationName"] = f"WS{r.randrange(900):04d}"
        elif code in ("4663", "5140", "5145"):
            ev["file"] = {"path": r.choice(["C:\\Users\\Public\\report.xlsx", "\\Device\\x"])}
            ev["ObjectType"] = "File"
            ev["ProcessName"] = "C:\\Windows\\explorer.exe"
            ev["AccessList"] = "%%4416"
            ev["AccessMask"] = "0x1"
            ev["ShareName"] = r.choice(["\\\\*\\IPC$", "\\\\*\\share"])
            ev["RelativeTargetName"] = r.choice(["srvsvc", "docs\\plan.docx"])
        elif code in ("4662", "5136"):
            ev["ObjectType"] = "%{19195a5b-6da0-11d0-afd3-00c04fd930c9}"
            ev["AttributeLDAPDisplayName"] = r.choice(["description", "member", "info"])
            ev["AttributeValue"] = "updated by the help desk"
            ev["ObjectClass"] = "user"
            ev["AccessMask"] = "0x100"
        elif code in ("4697", "4698"):
            ev["service"] = {"name": r.choice(["Spooler", "BackupAgent", "Updater"])}
            ev["ServiceFileName"] = "C:\\Program Files\\Vendor\\agent.exe -service"
            ev["TaskName"] = "\\Vendor\\Update"
        elif code == "4688":
            ev["process"] = {
                "executable": "C:\\Windows\\System32\\svchost.exe",
                "command_line": "svchost.exe -k netsvcs -p",
            }
        elif code in ("4768", "4769"):
            ev["TicketEncryptionType"] = "0x12"
            ev["ServiceName"] = "krbtgt"
        return ev

    def auditd(self, hot: bool = False) -> dict[str, Any]:
        r = self.rng
        host, user, _ip = self.ident(hot)
        kind = r.choice(["SYSCALL", "EXECVE", "PATH", "USER_CMD", "CWD"])
        ev: dict[str, Any] = {
            "@timestamp": self.ts(),
            "event": {"module": "auditd", "kind": "event"},
            "host": {"name": host},
            "user": {"name": user},
            "auditd": {"type": kind},
            "mamori": {"receiver": "syslog-tcp"},
        }
        if kind == "EXECVE":
            exe, cmd = r.choice(LINUX_CMDS)
            for i, a in enumerate(cmd.split()[:4]):
                ev[f"a{i}"] = a
            ev["argc"] = min(4, len(cmd.split()))
        elif kind == "SYSCALL":
            exe, _cmd = r.choice(LINUX_CMDS)
            ev["SYSCALL"] = r.choice(["execve", "openat", "connect"])
            ev["process"] = {"executable": exe, "name": exe.rsplit("/", 1)[1]}
            ev["key"] = "exec"
        elif kind == "PATH":
            ev["file"] = {"path": r.choice(["/etc/hosts", "/var/log/syslog", "/tmp/x.txt"])}
            ev["nametype"] = "NORMAL"
        return ev

    def http(self, web: bool, hot: bool = False) -> dict[str, Any]:
        r = self.rng
        host, user, ip = self.ident(hot)
        domain, path = r.choice(DOMAINS), r.choice(PATHS)
        query = r.choice(["", "", "id=42", "q=report&page=2"])
        method = r.choice(["GET", "GET", "GET", "POST", "HEAD"])
        status = r.choice([200, 200, 200, 304, 404, 302])
        ua = r.choice(UAS)
        url = f"https://{domain}{path}" + (f"?{query}" if query else "")
        ev: dict[str, Any] = {
            "@timestamp": self.ts(),
            "event": {"category": ["web"], "kind": "event"},
            "source": {"ip": ip},
            "url": {"original": url, "domain": domain, "path": path},
            "http": {"request": {"method": method}, "response": {"status_code": status}},
            "user_agent": {"original": ua},
            "mamori": {"receiver": "syslog-udp"},
        }
        if query:
            ev["url"]["query"] = query
        if "." in path:
            ev["url"]["extension"] = path.rsplit(".", 1)[1]
        if web:
            ev["event"]["dataset"] = "nginx.access"
            ev["host"] = {"name": host}
            ev["message"] = (
                f'{ip} - - [02/Mar/2026:00:00:00 +0000] "{method} {path}'
                f'{"?" + query if query else ""} HTTP/1.1" {status} 512 "-" "{ua}"'
            )
        else:
            ev["event"]["dataset"] = "squid.access"
            ev["destination"] = {"ip": f"203.0.113.{r.randrange(1, 255)}", "port": 443}
            ev["user"] = {"name": user}
        return ev

    def other(self) -> dict[str, Any]:
        r = self.rng
        host, user, ip = self.ident(False)
        if r.random() < 0.5:
            ok = r.random() < 0.9
            return {
                "@timestamp": self.ts(),
                "event": {
                    "category": ["authentication"],
                    "outcome": "success" if ok else "failure",
                },
                "log": {"syslog": {"appname": "sshd", "hostname": host}},
                "host": {"name": host},
                "source": {"ip": ip},
                "user": {"name": user},
                "message": f"{'Accepted publickey' if ok else 'Failed password'} for {user} "
                f"from {ip} port {r.randrange(1024, 65535)} ssh2",
                "mamori": {"receiver": "syslog-udp"},
            }
        return {
            "@timestamp": self.ts(),
            "event": {"category": ["network"], "type": ["connection"]},
            "source": {"ip": ip, "port": r.randrange(1024, 65535)},
            "destination": {"ip": f"203.0.113.{r.randrange(1, 255)}", "port": 443},
            "network": {"transport": "tcp", "bytes": r.randrange(100, 100000)},
            "host": {"name": host},
            "mamori": {"receiver": "netflow"},
        }

    def base(self, ls: Logsource, hot: bool) -> dict[str, Any]:
        if ls == WINDOWS:
            return self.windows(hot)
        if ls == LINUX_PROC:
            return self.linux_process(hot)
        if ls == AUDITD:
            return self.auditd(hot)
        return self.http(ls == WEB, hot)


def hit_templates(rules: list[SigmaRule]) -> dict[str, tuple[Logsource, dict[str, Any]]]:
    """For each rule a flat overlay that makes it fire over an ordinary event of its logsource."""
    probe = Gen(0)
    out: dict[str, tuple[Logsource, dict[str, Any]]] = {}
    for rule in rules:
        compiled = compile_rule(rule, ECS_FIELDS)
        assert compiled.logsource is not None
        for ov in overlays(rule):
            tries = [lay(probe.base(key(rule), True), ov) for _ in range(4)]
            ok = sum(compiled.logsource.test(f) and compiled.match(f) for f in map(flatten, tries))
            if ok >= 3:
                out[str(rule.id)] = (key(rule), ov)
                break
    return out


def events(
    n: int, seed: int, templates: dict[str, tuple[Logsource, dict[str, Any]]], favoured: list[str]
) -> tuple[list[bytes], int]:
    """The serialised events and how many were crafted."""
    g = Gen(seed)
    r = g.rng
    ids = sorted(templates)
    mix: list[tuple[float, Callable[[], dict[str, Any]]]] = [
        (0.30, g.linux_process),
        (0.25, g.windows),
        (0.15, g.auditd),
        (0.10, lambda: g.http(False)),
        (0.10, lambda: g.http(True)),
        (0.10, g.other),
    ]
    out: list[bytes] = []
    crafted = 0
    for _ in range(n):
        if r.random() < CRAFTED:
            rid = r.choice(favoured) if r.random() < 0.6 else r.choice(ids)
            ls, ov = templates[rid]
            ev = lay(g.base(ls, True), ov)
            crafted += 1
        else:
            ev = _pick(mix, r.random())()
        out.append(canonical(ev))
    return out, crafted


def _pick(mix: list[tuple[float, Callable[[], dict[str, Any]]]], x: float) -> Callable[[], Any]:
    for share, make in mix:
        if x < share:
            return make
        x -= share
    return mix[-1][1]


# ---- measuring -----------------------------------------------------------------------------


def run_mamori(
    loaded: LoadResult, blobs: list[bytes], enricher: Enricher | None = None
) -> dict[str, Any]:
    detector, problems = StreamDetector.from_load(loaded, enricher=enricher)
    kinds: Counter[str] = Counter()
    start = time.perf_counter()
    for i, raw in enumerate(blobs):
        _count(kinds, detector.feed(i, raw))
    _count(kinds, detector.flush())
    elapsed = time.perf_counter() - start
    st = detector.stats
    return {
        **_speed(elapsed, len(blobs)),
        "base_detections": kinds["base"],
        "correlation_detections": kinds["correlation"],
        "events_matched": st.matched,
        "late": st.late,
        "problems": [str(p) for p in problems],
    }


def run_ledger(loaded: LoadResult, blobs: list[bytes], enricher: Enricher) -> dict[str, Any]:
    """The live path itself: the events appended to a real ledger (a temporary home), then read
    back by :class:`LedgerDetector` as `mamori up` does (SQLite rows, the entry envelope,
    receive-time capping, enrichment, rules, correlations). Only the reading is timed."""
    import tempfile

    from mamori.detect.live import LedgerDetector
    from mamori.home import init
    from mamori.ledger.store import Reader
    from mamori.ledger.writer import Sequencer

    with tempfile.TemporaryDirectory(prefix="mamori-bench-detect-") as tmp:
        home = init(Path(tmp) / "home", origin="bench.example/mamori/detect")
        with Sequencer(home) as seq:
            for i in range(0, len(blobs), 8192):
                seq.commit(blobs[i : i + 8192])
        detector, problems = StreamDetector.from_load(loaded, enricher=enricher)
        run = LedgerDetector(detector, 0, warm=True)
        kinds: Counter[str] = Counter()
        start = time.perf_counter()
        with Reader(home.ledger_db) as reader:
            end = reader.tree_size()
            while run.next_index < end:
                _count(kinds, run.step(reader, end=end).detections)
        _count(kinds, run.finish())
        elapsed = time.perf_counter() - start
    return {
        **_speed(elapsed, len(blobs)),
        "base_detections": kinds["base"],
        "correlation_detections": kinds["correlation"],
        "future_timestamps_capped": detector.stats.future,
        "problems": [str(p) for p in problems],
    }


def run_plain(loaded: LoadResult, blobs: list[bytes]) -> dict[str, Any]:
    """The base rules alone, each run on every event of its logsource (no prefilter): what
    the engine did before the prefilter, for comparison."""
    engine = build_engine(loaded, match_logsource=True).engine
    matches = 0
    start = time.perf_counter()
    for raw in blobs:
        ev = orjson.loads(raw)
        event_time(ev)
        matches += len(engine.matching_plain(flatten(ev)))
    elapsed = time.perf_counter() - start
    return {**_speed(elapsed, len(blobs)), "base_matches": matches}


def _count(kinds: Counter[str], detections: Iterable[Detection]) -> None:
    """Count base and correlation detections."""
    for d in detections:
        kinds["correlation" if d.correlation else "base"] += 1


def _speed(elapsed: float, events: int) -> dict[str, Any]:
    return {"seconds": round(elapsed, 3), "events_per_s": round(events / elapsed)}


def _sql_value(v: Any) -> Any:
    if isinstance(v, list | dict):
        return orjson.dumps(v).decode()
    return v


def _regexp(pattern: str, value: Any) -> bool:
    return value is not None and re.search(pattern, str(value)) is not None


def run_sqlite(
    rules: list[SigmaRule], correlations: str, files: dict[str, str], blobs: list[bytes]
) -> dict[str, Any]:
    backend = sqliteBackend(ecs_pipeline())
    queries: list[tuple[str, str]] = []
    refused: list[str] = []
    for rule in rules:
        path = files[str(rule.id)]
        try:
            qs = backend.convert(SigmaCollection.from_yaml(Path(path).read_text()))
        except (SigmaError, NotImplementedError, TypeError) as e:
            refused.append(f"{Path(path).name} {rule.id}: {str(e).splitlines()[0]}")
            continue
        queries.append((str(rule.id), str(qs[0])))
    by_id = {str(r.id): r for r in rules}
    corr_queries: list[tuple[str, str]] = []
    corr_refused: list[str] = []
    for doc in yaml.safe_load_all(correlations):
        refs = [by_id[x] for x in doc["correlation"]["rules"]]
        texts = [Path(files[str(r.id)]).read_text() for r in refs]
        try:
            qs = backend.convert(
                SigmaCollection.from_yaml("\n---\n".join([*texts, yaml.safe_dump(doc)]))
            )
        except (SigmaError, NotImplementedError, TypeError) as e:
            corr_refused.append(
                f"{doc['title']} ({doc['correlation']['type']}): {str(e).splitlines()[0]}"
            )
            continue
        corr_queries.append((doc["title"], str(qs[-1])))

    start = time.perf_counter()
    flats = [flatten(orjson.loads(b)) for b in blobs]
    columns: dict[str, str] = {}
    for rule in rules:  # a column for every field a rule names, present in events or not
        for d in rule.detection.detections.values():
            for item in _items(d):
                if item.field:
                    name = ECS_FIELDS.get(item.field, item.field)
                    columns.setdefault(name.lower(), name)
    for f in flats:
        for k in f:
            columns.setdefault(k.lower(), k)
    names = sorted(columns.values())
    db = sqlite3.connect(":memory:")
    db.create_function("regexp", 2, _regexp, deterministic=True)
    cols = ", ".join('"' + c.replace('"', '""') + '"' for c in [*names, "timestamp"])
    db.execute(f"CREATE TABLE logs ({cols})")
    marks = ", ".join("?" for _ in range(len(names) + 1))
    db.executemany(
        f"INSERT INTO logs VALUES ({marks})",
        ([*(_sql_value(f.get(c)) for c in names), f.get("@timestamp")] for f in flats),
    )
    db.commit()
    load = time.perf_counter() - start

    start = time.perf_counter()
    rows = 0
    failed: list[str] = []
    for rid, q in queries:
        sql = q.replace("<TABLE_NAME>", "logs")
        try:
            rows += len(db.execute(sql).fetchall())
        except sqlite3.Error as e:
            failed.append(f"{rid}: {e}")
    query = time.perf_counter() - start
    start = time.perf_counter()
    corr_rows = 0
    for title, q in corr_queries:
        try:
            corr_rows += len(db.execute(q).fetchall())
        except sqlite3.Error as e:
            failed.append(f"{title}: {e}")
    corr_query = time.perf_counter() - start
    n = len(blobs)
    return {
        "rules_converted": len(queries),
        "rules_refused": refused,
        "load_seconds": round(load, 3),
        "query_seconds": round(query, 3),
        "events_per_s_with_load": round(n / (load + query)),
        "events_per_s_queries_only": round(n / query),
        "matching_rows": rows,
        "correlations_converted": len(corr_queries),
        "correlations_refused": corr_refused,
        "correlation_query_seconds": round(corr_query, 3),
        "correlation_rows": corr_rows,
        "queries_failed_in_sqlite": failed,
    }


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--skip-sqlite", action="store_true")
    args = ap.parse_args()

    every = load_paths([SIGMA / "rules"])
    rules = pick_rules(every)
    templates = hit_templates(rules)
    hits: dict[Logsource, list[str]] = {ls: [] for ls in PICK}
    for r in rules:  # correlations over rules with field names only (SQLite refuses keywords)
        if str(r.id) in templates and all(
            i.field for d in r.detection.detections.values() for i in _items(d)
        ):
            hits[key(r)].append(str(r.id))
    corr_text = correlation_yaml(hits)
    # pySigma resolves a correlation's references within one collection: one text for all.
    texts = [Path(every.path_of(r)).read_text() for r in rules]
    loaded = load_text("\n---\n".join([*texts, corr_text]), "bench-rules.yml")
    files = {str(r.id): every.path_of(r) for r in rules}
    favoured = sorted({ref.reference for c in loaded.correlations for ref in c.rules or ()})
    t = time.perf_counter()
    blobs, crafted = events(args.events, args.seed, templates, favoured)
    gen_s = time.perf_counter() - t

    mamori = run_mamori(loaded, blobs)
    enriched = run_mamori(loaded, blobs, Enricher(BusinessCalendar()))
    from_ledger = run_ledger(loaded, blobs, Enricher(BusinessCalendar()))
    plain = run_plain(loaded, blobs)
    report: dict[str, Any] = {
        "machine": {
            "nproc": os.cpu_count(),
            "cpu": _cpu_model(),
            "python": platform.python_version(),
            "platform": platform.platform(),
        },
        "rules": {
            "base": len(rules),
            "by_logsource": {"/".join(str(x) for x in ls): n for ls, n in PICK.items()},
            "correlations": len(loaded.correlations),
            "base_rules_with_crafted_hits": len(templates),
        },
        "events": {
            "count": len(blobs),
            "crafted": crafted,
            "mean_bytes": round(sum(map(len, blobs)) / len(blobs)),
            "generate_seconds": round(gen_s, 1),
        },
        "mamori": mamori,
        "mamori_with_enrichment": enriched,
        "mamori_live_from_ledger": from_ledger,
        "mamori_base_rules_without_prefilter": plain,
    }
    if not args.skip_sqlite:
        sq = run_sqlite(rules, corr_text, files, blobs)
        report["sqlite"] = sq
        report["ratio_mamori_over_sqlite"] = {
            "with_load": round(mamori["events_per_s"] / sq["events_per_s_with_load"], 2),
            "queries_only": round(mamori["events_per_s"] / sq["events_per_s_queries_only"], 2),
        }
    sys.stdout.write(orjson.dumps(report, option=orjson.OPT_INDENT_2).decode() + "\n")


if __name__ == "__main__":
    main()
