"""mamori.ingest.normalise: syslog enrichment, key=value and message patterns, batches,
followed-file formats."""

from __future__ import annotations

import base64
import ipaddress
import pickle
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.config import TAIL_FORMATS
from mamori.ingest import normalise
from mamori.ingest.errors import IngestError
from mamori.ingest.framing import Frame
from mamori.ingest.normalise import (
    KV_FIELDS,
    MESSAGE_PATTERNS,
    OUTCOME_WORDS,
    LineNormaliser,
    Source,
    SyslogBatch,
    normalise_syslog_batch,
    syslog_doc,
    syslog_event,
    zone,
)
from mamori.ingest.syslog import parse, to_ecs
from mamori.ledger.canonical import canonical
from tests.conftest import REPO, shared_data

RECEIVED = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
TCP = Source("syslog-tcp", "192.0.2.7:40000", None)
RFC5424 = (
    b"<86>1 2024-01-02T03:04:05.123456+01:00 bastion.example.com sshd 4242 AUTH "
    b'[meta@32473 iut="3" eventSource="Application" eventID="1011"][origin ip="10.0.0.9"] '
    b"action=login user=alice src=10.0.0.1 spt=51234 dst=10.0.0.2 dpt=22 outcome=success "
    b'session=7f3a9c proto=ssh2 msg="interactive session opened for alice"'
)


def event(data: bytes, source: Source = TCP, **kw: Any) -> dict[str, Any]:
    raw = syslog_event(data, source, RECEIVED, UTC, **kw)
    assert raw == canonical(orjson.loads(raw))  # always canonical bytes
    value = orjson.loads(raw)
    assert isinstance(value, dict)
    return value


def msg(app: str, text: str) -> bytes:
    return f"<38>Jun 14 15:16:01 host {app}[99]: {text}".encode()


# --- Source ----------------------------------------------------------------------------------


def test_source_is_hashable_and_picklable() -> None:
    s = Source("syslog-udp", "[2001:db8::1]:514", "fw-1")
    assert pickle.loads(pickle.dumps(s)) == s
    assert {s: 1}[Source("syslog-udp", "[2001:db8::1]:514", "fw-1")] == 1


# --- enrichment ------------------------------------------------------------------------------


def test_enrichment_fields() -> None:
    doc = event(RFC5424, Source("syslog-tls", "192.0.2.7:40000", "bastion"))
    assert doc == {
        **to_ecs(parse(RFC5424), received=RECEIVED),
        "event": {
            "original": RFC5424.decode(),
            "severity": 6,
            "action": "login",
            "outcome": "success",
        },
        "log": {
            "syslog": doc["log"]["syslog"],
            "source": {"address": "192.0.2.7:40000"},
        },
        "mamori": {
            **to_ecs(parse(RFC5424))["mamori"],
            "receiver": "syslog-tls",
            "device": "bastion",
        },
        "user": {"name": "alice"},
        "source": {"ip": "10.0.0.1", "port": 51234},
        "destination": {"ip": "10.0.0.2", "port": 22},
    }


def test_no_address_no_device_and_received_as_timestamp() -> None:
    doc = event(b"<13>no timestamp here", Source("http", None, None))
    assert "source" not in doc["log"] and "device" not in doc["mamori"]
    assert doc["mamori"]["receiver"] == "http"
    assert doc["@timestamp"] == "2024-06-20T12:00:00Z"
    assert doc["event"]["severity"] == 5


def test_truncated_and_frame_error() -> None:
    doc = event(b"<13>Jun 14 15:16:01 h t: abc", truncated_from=70000, frame_error="bad prefix")
    assert doc["mamori"]["truncated"] == {"original_bytes": 70000}
    assert doc["mamori"]["frame_error"] == "bad prefix"
    assert doc["event"]["original"] == "<13>Jun 14 15:16:01 h t: abc"  # the kept prefix


def test_rfc3164_uses_the_given_zone() -> None:
    tokyo = timezone(timedelta(hours=9))
    raw = syslog_event(b"<13>Jun 20 21:00:00 h t: x", TCP, RECEIVED, tokyo)
    assert orjson.loads(raw)["@timestamp"] == "2024-06-20T12:00:00Z"


def test_timestamp_beyond_utc_range_does_not_raise() -> None:
    # Regression: to_ecs raised OverflowError for a valid RFC 5424 time of year 1 with a
    # positive offset (no UTC equivalent); now it counts as no timestamp.
    for raw in (
        b"<14>1 0001-01-01T00:00:00+01:00 h a - - - m",
        b"<14>1 9999-12-31T23:59:59-01:00 h a - - - m",
        b"<13>0001-01-01T00:30:00+01:00 h t: m",
    ):
        assert event(raw)["@timestamp"] == "2024-06-20T12:00:00Z"


# --- key=value -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "keys", "kind"),
    KV_FIELDS,
    ids=[p for p, _, _ in KV_FIELDS],
)
def test_every_kv_key_maps(path: str, keys: tuple[str, ...], kind: str) -> None:
    value = {"text": "v1", "ip": "2001:DB8:0:0:0:0:0:1", "port": "8080", "outcome": "Denied"}[kind]
    expected: Any = {"text": "v1", "ip": "2001:db8::1", "port": 8080, "outcome": "failure"}[kind]
    parent, leaf = path.split(".")
    for key in keys:
        doc = event(msg("app", f"{key}={value} other=1"))
        assert doc[parent][leaf] == expected, key


def test_kv_precedence_and_invalid_values() -> None:
    doc = event(msg("app", "rhost=host.example src=10.1.1.1 user= usr=bob username=carol"))
    assert doc["source"] == {"ip": "10.1.1.1"}  # rhost is not an IP: the next key counts
    assert doc["user"] == {"name": "bob"}  # empty user: usr comes next, before username
    doc = event(msg("app", "src=999.1.1.1 spt=70000 dpt=-1 outcome=maybe act=drop"))
    assert "source" not in doc and "destination" not in doc
    assert doc["event"]["action"] == "drop" and "outcome" not in doc["event"]
    assert doc["mamori"]["kv"]["src"] == "999.1.1.1"  # still kept as sent
    doc = event(msg("app", "src=010.0.0.1 dst=fe80::1%eth0 User=x user=y"))
    assert "source" not in doc  # leading zeros are not an IP address (ipaddress agrees)
    assert doc["destination"] == {"ip": "fe80::1%eth0"}
    assert doc["user"] == {"name": "y"}  # keys are case-sensitive


_ADDRESSY = st.one_of(
    st.lists(
        st.integers(0, 300).map(str) | st.sampled_from(["01", "00", "", "a", "٣"]),
        min_size=1,
        max_size=5,
    ).map(".".join),
    st.text(alphabet="0123456789abcdefABCDEF:.%", max_size=45),
)


@given(_ADDRESSY)
def test_ip_fast_path_agrees_with_ipaddress(value: str) -> None:
    try:
        expected: str | None = str(ipaddress.ip_address(value))
    except ValueError:
        expected = None
    assert normalise._ip(value) == expected


@pytest.mark.parametrize("word", sorted(OUTCOME_WORDS))
def test_outcome_words(word: str) -> None:
    doc = event(msg("app", f"result={word.upper()} n=1"))
    assert doc["event"]["outcome"] == OUTCOME_WORDS[word]


def test_not_clearly_kv_maps_nothing() -> None:
    doc = event(msg("app", "user=alice said a=b=c"))
    assert "kv" not in doc["mamori"] and "user" not in doc


# --- message patterns ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("app", "text", "expected"),
    [
        (
            "sshd",
            "Accepted publickey for alice from 2001:db8::7 port 50022 ssh2: ED25519 SHA256:abc",
            {
                "user.name": "alice",
                "source.ip": "2001:db8::7",
                "source.port": 50022,
                "event.action": "ssh_login",
                "event.outcome": "success",
            },
        ),
        (
            "sshd-session",
            "Failed password for invalid user admin from 10.0.0.1 port 22 ssh2",
            {"user.name": "admin", "event.action": "ssh_login", "event.outcome": "failure"},
        ),
        (
            "sshd",
            "Failed password for invalid user  from 10.0.0.1 port 22 ssh2",
            {"user.name": None, "source.ip": "10.0.0.1", "event.outcome": "failure"},
        ),
        (
            "sshd",
            "Invalid user oracle from 5.6.7.8 port 4242",
            {
                "user.name": "oracle",
                "source.port": 4242,
                "event.action": "ssh_invalid_user",
                "event.outcome": "failure",
            },
        ),
        (
            "sshd",
            "Connection closed by authenticating user root 1.2.3.4 port 5 [preauth]",
            {"user.name": "root", "source.ip": "1.2.3.4", "event.action": "ssh_disconnected"},
        ),
        (
            "sshd",
            "Connection closed by 212.47.254.145 [preauth]",
            {"user.name": None, "source.ip": "212.47.254.145", "event.type": ["end"]},
        ),
        (
            "sshd",
            "Disconnected from user alice 10.0.0.1 port 5555",
            {"user.name": "alice", "event.action": "ssh_disconnected", "event.outcome": None},
        ),
        (
            "sshd",
            "pam_unix(sshd:auth): authentication failure; logname= uid=0 euid=0 tty=ssh "
            "ruser= rhost=5.36.59.76  user=root",
            {
                "user.name": "root",
                "source.ip": "5.36.59.76",
                "event.action": "authentication_failure",
                "event.outcome": "failure",
            },
        ),
        (
            "sshd(pam_unix)",
            "authentication failure; logname= uid=0 euid=0 tty=NODEVssh ruser= rhost=h.example ",
            {"user.name": None, "source.ip": None, "event.action": "authentication_failure"},
        ),
        (
            "su(pam_unix)",
            "session opened for user news by (uid=0)",
            {
                "user.name": "news",
                "event.action": "session_opened",
                "event.category": ["session"],
                "event.type": ["start"],
            },
        ),
        (
            "systemd-logind",
            "pam_unix(systemd-user:session): session closed for user alice",
            {"user.name": "alice", "event.action": "session_closed", "event.category": ["session"]},
        ),
        (
            "sudo",
            "   alice : TTY=pts/0 ; PWD=/home/alice ; USER=root ; COMMAND=/usr/bin/id -u",
            {
                "user.name": "alice",
                "user.effective.name": "root",
                "process.command_line": "/usr/bin/id -u",
                "event.action": "sudo",
                "event.outcome": "success",
            },
        ),
        (
            "sudo",
            "bob : 3 incorrect password attempts ; TTY=pts/1 ; PWD=/tmp ; USER=root ; "
            "ENV=A=1 ; COMMAND=/bin/sh -c x=1",
            {
                "user.name": "bob",
                "event.outcome": "failure",
                "event.reason": "3 incorrect password attempts",
                "process.command_line": "/bin/sh -c x=1",
            },
        ),
        (
            "sudo",
            "carol : PWD=/ ; USER=postgres ; COMMAND=/usr/bin/psql",
            {"user.name": "carol", "user.effective.name": "postgres", "event.outcome": "success"},
        ),
        (
            "su",
            "(to root) alice on pts/0",
            {"user.name": "alice", "user.effective.name": "root", "event.outcome": "success"},
        ),
        ("su", "FAILED SU (to root) alice on pts/0", {"event.outcome": "failure"}),
        ("su", "Successful su for root by alice", {"user.name": "alice", "event.action": "su"}),
        ("su", "FAILED su for root by mallory", {"event.outcome": "failure"}),
        ("su", "- pts/3 eve:root", {"user.name": "eve", "event.outcome": "failure"}),
        ("su", "+ pts/3 alice:root", {"user.effective.name": "root", "event.outcome": "success"}),
    ],
)
def test_message_patterns(app: str, text: str, expected: dict[str, Any]) -> None:
    doc = event(msg(app, text))
    for path, value in expected.items():
        node: Any = doc
        for part in path.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        assert node == value, path
    if "event.category" not in expected:
        assert doc["event"]["category"] == ["authentication"]


def test_patterns_only_apply_to_their_program() -> None:
    doc = event(msg("cron", "Failed password for root from 10.0.0.1 port 22 ssh2"))
    assert "user" not in doc and "action" not in doc["event"]
    doc = event(b"<38>Failed password for root from 10.0.0.1 port 22 ssh2")  # no program
    assert "user" not in doc


def test_pattern_overrides_kv() -> None:
    doc = event(msg("sshd", "pam_unix(sshd:auth): authentication failure; rhost=10.0.0.1 user=x"))
    assert doc["event"]["action"] == "authentication_failure"
    assert doc["user"] == {"name": "x"}


def test_real_openssh_lines() -> None:
    path = shared_data("logs", "OpenSSH", "OpenSSH_2k.log")
    lines = path.read_bytes().splitlines()
    counts = {"failed": 0, "accepted": 0, "invalid": 0, "pam": 0}
    for line in lines:
        doc = event(b"<38>" + line, Source("tail", str(path)))
        text = line.decode()
        if re.search(r"sshd\[\d+\]: Failed (password|none) for ", text):
            counts["failed"] += 1
            assert doc["event"]["outcome"] == "failure", text
            assert doc["event"]["action"] == "ssh_login"
            assert doc["user"]["name"], text
            assert doc["source"]["ip"] == text.split(" from ")[1].split()[0], text
            assert 0 <= doc["source"]["port"] <= 65535
        elif "Accepted password for" in text:
            counts["accepted"] += 1
            assert doc["event"]["outcome"] == "success" and doc["user"]["name"]
        elif re.search(r"sshd\[\d+\]: Invalid user ", text):
            counts["invalid"] += 1
            assert doc["event"]["action"] == "ssh_invalid_user", text
            assert doc["source"]["ip"], text
        elif "authentication failure;" in text and "pam_unix" in text:
            counts["pam"] += 1
            assert doc["event"]["action"] == "authentication_failure"
            rhost = text.split("rhost=")[1].split()[0]
            if re.fullmatch(r"[\d.]+", rhost):
                assert doc["source"]["ip"] == rhost
            if " user=" in text:
                assert doc["user"]["name"] == text.split(" user=")[1].split()[0]
        else:
            continue
        assert doc["event"]["category"] == ["authentication"]
    assert counts["failed"] >= 500 and counts["accepted"] >= 1 and counts["invalid"] >= 100
    assert counts["pam"] >= 400


def test_real_linux_pam_lines() -> None:
    path = shared_data("logs", "Linux", "Linux_2k.log")
    seen = set()
    for line in path.read_bytes().splitlines():
        doc = event(line)
        if "(pam_unix)" in line.decode(errors="replace"):
            action = doc["event"].get("action")
            seen.add(action)
            if action in ("session_opened", "session_closed"):
                assert doc["user"]["name"]
    assert {"authentication_failure", "session_opened", "session_closed"} <= seen


# --- canonical bytes -------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [b"<13>", b"<165>1 ", b"- ", b"[x@1 a=\"", b"\"]", b"\\", b"=", b" ", b"k=v", b'q="a b"',
     b"Oct 11 22:14:15 ", b"host ", b"sshd[1]: ", b"sudo: ", b"\xff", "日本".encode(), b"\x00",
     b"Failed password for ", b"from 1.2.3.4 port 22", b"user=root", b"2003-10-11T22:14:15Z ",
     b"99999999999999999999999 ", b"\t", b"\n"]
)  # fmt: skip
_MESSY = st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=30).map(b"".join))


@settings(max_examples=1500, deadline=None)
@given(_MESSY, st.datetimes(timezones=st.just(UTC)), st.sampled_from([UTC, "Asia/Tokyo"]))
def test_syslog_event_never_raises_and_is_canonical(
    data: bytes, received: datetime, tz: Any
) -> None:
    zone_ = zone(tz) if isinstance(tz, str) else tz
    raw = syslog_event(data, TCP, received, zone_, truncated_from=None)
    doc = syslog_doc(data, TCP, received, zone_)
    assert raw == canonical(doc)  # the orjson fast path agrees with RFC 8785


def test_huge_pid_goes_through_the_reference_serialiser() -> None:
    data = b"<14>1 - h app 123456789012345678901234567890 - - x"
    raw = syslog_event(data, TCP, RECEIVED, UTC)  # orjson refuses integers beyond 64 bits
    assert raw == canonical(syslog_doc(data, TCP, RECEIVED, UTC))
    assert b'"pid":123456789012345678901234567890' in raw


# --- batches ---------------------------------------------------------------------------------


def test_batch_is_picklable_and_keeps_order() -> None:
    sources = [Source("syslog-udp", "192.0.2.1:514"), Source("syslog-udp", "192.0.2.2:514", "r1")]
    frames = [Frame(b"<13>first"), Frame(b"<13>second", 9000, "oops"), Frame(b"<13>third")]
    batch = SyslogBatch(frames, [0, 1, 0], sources, 1_718_884_800_123_456, "UTC")
    batch = pickle.loads(pickle.dumps(batch))
    out = normalise_syslog_batch(batch)
    received = datetime(2024, 6, 20, 12, 0, 0, 123456, tzinfo=UTC)
    assert out == [
        syslog_event(b"<13>first", sources[0], received, UTC),
        syslog_event(
            b"<13>second", sources[1], received, UTC, truncated_from=9000, frame_error="oops"
        ),
        syslog_event(b"<13>third", sources[0], received, UTC),
    ]
    docs = [orjson.loads(e) for e in out]
    assert [d["message"] for d in docs] == ["first", "second", "third"]
    assert docs[0]["@timestamp"] == "2024-06-20T12:00:00.123456Z"
    assert docs[1]["mamori"]["device"] == "r1"


def test_batch_keeps_a_frame_whose_normalisation_fails(monkeypatch: pytest.MonkeyPatch) -> None:
    def boom(*_: object, **__: object) -> bytes:
        raise RuntimeError("a bug")

    monkeypatch.setattr(normalise, "syslog_event", boom)
    batch = SyslogBatch([Frame(b"<13>x\xff")], [0], [TCP], 0, "UTC")
    (raw,) = normalise_syslog_batch(batch)
    doc = orjson.loads(raw)
    assert doc["event"]["action"] == "ingest.rejected"
    assert "RuntimeError: a bug" in doc["error"]["message"]
    assert base64.b64decode(doc["mamori"]["ingest"]["raw"]) == b"<13>x\xff"
    assert doc["mamori"]["receiver"] == "syslog-tcp"


def test_zones() -> None:
    assert zone("UTC").utcoffset(RECEIVED) == timedelta(0)
    assert zone("Asia/Tokyo").utcoffset(RECEIVED) == timedelta(hours=9)
    assert zone("Asia/Tokyo") is zone("Asia/Tokyo")  # cached
    local = zone("local")
    assert local.utcoffset(datetime(2024, 1, 1)) is not None
    with pytest.raises(IngestError):
        zone("Mars/Olympus_Mons")


def test_batch_with_an_unknown_zone_still_normalises() -> None:
    batch = SyslogBatch([Frame(b"<13>Jun 20 12:00:00 h t: x")], [0], [TCP], 0, "Nowhere/Land")
    (raw,) = normalise_syslog_batch(batch)
    assert orjson.loads(raw)["message"] == "x"


# --- followed files --------------------------------------------------------------------------

TAIL = Source("tail", "/var/log/x.log")


def line_event(n: LineNormaliser, line: bytes, **kw: Any) -> dict[str, Any] | None:
    raw = n.event(line, RECEIVED, **kw)
    if raw is None:
        return None
    assert raw == canonical(orjson.loads(raw))
    value = orjson.loads(raw)
    assert isinstance(value, dict)
    return value


def test_line_normaliser_knows_every_tail_format() -> None:
    for fmt in TAIL_FORMATS:
        LineNormaliser(fmt, TAIL, UTC)
    with pytest.raises(IngestError):
        LineNormaliser("xml", TAIL, UTC)


def test_tail_syslog() -> None:
    n = LineNormaliser("syslog", TAIL, UTC)
    doc = line_event(n, b"Jun 14 15:16:01 combo sshd[1]: Invalid user bob from 10.0.0.9")
    assert doc is not None
    assert doc["log"]["file"] == {"path": "/var/log/x.log"}
    assert doc["log"]["source"] == {"address": "/var/log/x.log"}
    assert doc["mamori"]["receiver"] == "tail"
    assert doc["event"]["action"] == "ssh_invalid_user"
    doc = line_event(n, b"x" * 10, truncated_from=99)
    assert doc is not None and doc["mamori"]["truncated"] == {"original_bytes": 99}
    assert line_event(n, b"") is None and line_event(n, b"  \r") is None


def test_tail_json() -> None:
    n = LineNormaliser("json", TAIL, UTC)
    doc = line_event(n, b'{"message": "hi", "mamori": {"receiver": "forged", "x": 1}, "n": 1.5}')
    assert doc == {
        "message": "hi",
        "n": 1.5,
        "mamori": {"receiver": "tail", "x": 1},
        "log": {"file": {"path": "/var/log/x.log"}},
    }
    # The sender's log.file.path stays; ours goes beside it.
    doc = line_event(n, b'{"log": {"file": {"path": "/elsewhere"}}}')
    assert doc is not None
    assert doc["log"]["file"]["path"] == "/elsewhere"
    assert doc["mamori"]["tail"] == {"path": "/var/log/x.log"}
    doc = line_event(n, b'{"log": "text", "mamori": 3}')
    assert doc is not None and doc["log"] == "text" and doc["mamori"]["receiver"] == "tail"


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        (b"[1, 2]", "a JSON array, not an object"),
        (b'"s"', "a JSON string, not an object"),
        (b"7", "a JSON number, not an object"),
        (b"null", "a JSON null, not an object"),
        (b"{broken", "not valid JSON"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
    ],
)
def test_tail_json_rejected_keeps_the_line(line: bytes, reason: str) -> None:
    doc = line_event(LineNormaliser("json", TAIL, UTC), line)
    assert doc is not None
    assert doc["event"] == {
        "action": "ingest.rejected",
        "kind": "pipeline_error",
        "dataset": "mamori.ingest",
    }
    assert doc["error"]["message"].startswith(reason)
    assert base64.b64decode(doc["mamori"]["ingest"]["raw"]) == line
    assert doc["mamori"]["receiver"] == "tail"
    assert doc["log"]["file"]["path"] == "/var/log/x.log"


def test_tail_json_truncated_is_rejected_with_its_length() -> None:
    doc = line_event(LineNormaliser("json", TAIL, UTC), b'{"a": "xxx', truncated_from=70000)
    assert doc is not None
    assert doc["mamori"]["ingest"]["truncated"] is True
    assert doc["mamori"]["ingest"]["original_bytes"] == 70000


def test_tail_text() -> None:
    doc = line_event(LineNormaliser("text", TAIL, UTC), b"plain \xff line\r")
    assert doc == {
        "@timestamp": "2024-06-20T12:00:00.000000Z",
        "message": "plain \ufffd line",
        "event": {"original": "plain \\xff line\r"},
        "log": {"file": {"path": "/var/log/x.log"}},
        "mamori": {"receiver": "tail"},
    }


ZEEK_HEADER = [
    b"#separator \\x09",
    b"#set_separator\t,",
    b"#empty_field\t(empty)",
    b"#unset_field\t-",
    b"#path\tconn",
    b"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto",
    b"#types\ttime\tstring\taddr\tport\taddr\tport\tenum",
]
ZEEK_ROW = b"1591367999.305988\tC5bLoe2Mvxqhawzqqd\t192.168.4.76\t46378\t31.3.245.133\t80\ttcp"


def test_tail_zeek_tsv_json_reset_and_prime() -> None:
    n = LineNormaliser("zeek", TAIL, UTC)
    rejected = line_event(n, ZEEK_ROW)
    assert rejected is not None and rejected["event"]["action"] == "ingest.rejected"
    assert "before any #fields" in rejected["error"]["message"]
    assert all(line_event(n, h) is None for h in ZEEK_HEADER)
    doc = line_event(n, ZEEK_ROW)
    assert doc is not None and doc["source"] == {"ip": "192.168.4.76", "port": 46378}
    assert doc["log"]["file"]["path"] == "/var/log/x.log" and doc["mamori"]["receiver"] == "tail"
    n.reset()
    again = line_event(n, ZEEK_ROW)
    assert again is not None and again["event"]["action"] == "ingest.rejected"
    n.prime([*ZEEK_HEADER, ZEEK_ROW])
    again = line_event(n, ZEEK_ROW)
    assert again is not None and again["source"]["port"] == 46378
    doc = line_event(
        n, b'{"ts":1591367999.305988,"uid":"C5","id.orig_h":"10.0.0.1","id.orig_p":1,"proto":"tcp"}'
    )
    assert doc is not None and doc["source"]["ip"] == "10.0.0.1"


def test_tail_suricata_and_vpcflow() -> None:
    doc = line_event(
        LineNormaliser("suricata", TAIL, UTC),
        b'{"timestamp":"2017-04-07T22:24:37.251547+0100","event_type":"alert","src_ip":"10.0.0.1",'
        b'"src_port":1,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP",'
        b'"alert":{"signature_id":1,"signature":"x","severity":2}}',
    )
    assert doc is not None and doc["rule"]["id"] == "1" and doc["mamori"]["receiver"] == "tail"
    bad = line_event(LineNormaliser("suricata", TAIL, UTC), b"{}", truncated_from=5)
    assert bad is not None and bad["mamori"]["ingest"]["original_bytes"] == 5
    n = LineNormaliser("vpcflow", TAIL, UTC)
    assert line_event(n, b"version account-id srcaddr dstaddr action log-status") is None
    doc = line_event(n, b"2 123456789010 10.0.0.1 10.0.0.2 ACCEPT OK")
    assert doc is not None and doc["event"]["outcome"] == "success"
    n.reset()
    doc = line_event(n, b"2 123456789010 10.0.0.1 10.0.0.2 ACCEPT OK")
    assert doc is not None and doc["event"]["action"] == "ingest.rejected"


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(TAIL_FORMATS), st.lists(_MESSY, max_size=5), st.none() | st.integers(1, 9))
def test_line_normaliser_never_raises(fmt: str, lines: list[bytes], cut: int | None) -> None:
    n = LineNormaliser(fmt, TAIL, UTC)
    for line in lines:
        raw = n.event(line, RECEIVED, truncated_from=cut)
        if raw is not None:
            assert orjson.loads(raw)["mamori"]["receiver"] == "tail"


# --- the documentation -----------------------------------------------------------------------


def test_docs_name_every_key_pattern_and_action() -> None:
    doc = (REPO / "docs" / "ingest-normalise.md").read_text(encoding="utf-8")
    for path, keys, _ in KV_FIELDS:
        assert f"`{path}`" in doc, path
        for key in keys:
            assert f"`{key}`" in doc, key
    for word in OUTCOME_WORDS:
        assert f"`{word}`" in doc, word
    for app, patterns in MESSAGE_PATTERNS.items():
        assert f"`{app}`" in doc, app
        for p in patterns:
            assert f"`{p.action}`" in doc, p.action
    for fmt in TAIL_FORMATS:
        assert f"`{fmt}`" in doc, fmt
    for note in ("rotated", "truncated", "gap", "missing", "unreadable", "started"):
        assert f"`tail.{note}`" in doc, note
