"""mamori.ingest.syslog: RFC 5424 and RFC 3164 parsing, ECS mapping, fuzzing."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ingest.syslog import SyslogMessage, parse, parse_kv, to_ecs

BOM = b"\xef\xbb\xbf"
RECEIVED = datetime(2024, 6, 20, 12, 0, tzinfo=UTC)
SHARED_DATA = Path(__file__).resolve().parents[2].parent / "shared" / "data"

# --- RFC 5424 §6.5 ---------------------------------------------------------------------------


def test_rfc5424_example_1() -> None:
    raw = (
        b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - "
        + BOM
        + b"'su root' failed for lonvick on /dev/pts/8"
    )
    m = parse(raw)
    assert m == SyslogMessage(
        facility=4,
        severity=2,
        format="rfc5424",
        raw=raw,
        message="'su root' failed for lonvick on /dev/pts/8",
        version=1,
        timestamp=datetime(2003, 10, 11, 22, 14, 15, 3000, tzinfo=UTC),
        hostname="mymachine.example.com",
        app_name="su",
        procid=None,
        msgid="ID47",
        structured_data={},
    )
    assert (m.facility_name, m.severity_name, m.priority) == ("auth", "Critical", 34)


def test_rfc5424_example_2() -> None:
    raw = (
        b"<165>1 2003-08-24T05:14:15.000003-07:00 192.0.2.1 myproc 8710 - - "
        b"%% It's time to make the do-nuts."
    )
    m = parse(raw)
    assert m.format == "rfc5424"
    assert (m.facility, m.severity, m.facility_name, m.severity_name) == (20, 5, "local4", "Notice")
    assert m.timestamp == datetime(2003, 8, 24, 5, 14, 15, 3, tzinfo=timezone(timedelta(hours=-7)))
    assert m.timestamp is not None and m.timestamp.utcoffset() == timedelta(hours=-7)
    assert (m.hostname, m.app_name, m.procid, m.msgid) == ("192.0.2.1", "myproc", "8710", None)
    assert m.structured_data == {}
    assert m.message == "%% It's time to make the do-nuts."
    ecs = to_ecs(m)
    assert ecs["@timestamp"] == "2003-08-24T12:14:15.000003Z"
    assert ecs["process"] == {"name": "myproc", "pid": 8710}


SD_3 = b'[exampleSDID@32473 iut="3" eventSource="Application" eventID="1011"]'


def test_rfc5424_example_3() -> None:
    raw = (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        + SD_3
        + b" "
        + BOM
        + b"An application event log entry..."
    )
    m = parse(raw)
    assert m.format == "rfc5424"
    assert (m.hostname, m.app_name, m.procid, m.msgid) == (
        "mymachine.example.com",
        "evntslog",
        None,
        "ID47",
    )
    assert m.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"}
    }
    assert m.message == "An application event log entry..."


def test_rfc5424_example_4_multiple_sd_elements_no_msg() -> None:
    raw = (
        b"<165>1 2003-10-11T22:14:15.003Z mymachine.example.com evntslog - ID47 "
        + SD_3
        + b'[examplePriority@32473 class="high"]'
    )
    m = parse(raw)
    assert m.format == "rfc5424"
    assert m.structured_data == {
        "exampleSDID@32473": {"iut": "3", "eventSource": "Application", "eventID": "1011"},
        "examplePriority@32473": {"class": "high"},
    }
    assert m.message == ""
    ecs = to_ecs(m)
    assert ecs["log"]["syslog"]["structured_data"] == m.structured_data
    assert ecs["log"]["syslog"]["version"] == "1"


def test_rfc5424_all_nil() -> None:
    m = parse(b"<14>1 - - - - - -")
    assert m.format == "rfc5424"
    assert (m.timestamp, m.hostname, m.app_name, m.procid, m.msgid) == (None,) * 5
    assert m.structured_data == {} and m.message == ""
    ecs = to_ecs(m, received=RECEIVED)
    assert ecs["@timestamp"] == "2024-06-20T12:00:00Z"
    assert "host" not in ecs and "process" not in ecs


def test_rfc5424_sd_escapes() -> None:
    raw = rb'<14>1 - h a - - [x@1 a="q\"b\\s\]e" b="lit\n" c=""] m'
    m = parse(raw)
    assert m.format == "rfc5424"
    # \" \\ \] are escapes; a backslash before anything else stays (RFC 5424 §6.3.3).
    assert m.structured_data == {"x@1": {"a": 'q"b\\s]e', "b": "lit\\n", "c": ""}}
    assert m.message == "m"


def test_rfc5424_sd_value_utf8_and_bracket_in_message() -> None:
    m = parse('<14>1 - h a - - [x@1 who="日本"] ] and = in msg'.encode())
    assert m.structured_data == {"x@1": {"who": "日本"}}
    assert m.message == "] and = in msg"


@pytest.mark.parametrize(
    "raw",
    [
        b'<14>1 - h a - - [x@1 a="unterminated] m',
        b"<14>1 - h a - - [x@1 a=3] m",
        b"<14>1 - h a - - [] m",
        b"<14>1 - h a - -x",
        b"<14>1 2003-10-11 22:14:15Z h a - - - m",
        b"<14>1 2003-02-30T22:14:15Z h a - - - m",
        b"<14>1 - h a - -",
    ],
)
def test_rfc5424_grammar_violations_are_unparsed(raw: bytes) -> None:
    m = parse(raw)
    assert m.format == "unparsed"
    assert (m.facility, m.severity) == (1, 6)  # the PRI is still read
    assert m.raw == raw and m.message == raw.decode()


def test_invalid_utf8_message_is_replaced_and_flagged() -> None:
    raw = b"<14>1 - h a - - - bad \xff\xfe byte"
    m = parse(raw)
    assert m.format == "rfc5424"
    assert m.message == "bad \ufffd\ufffd byte"
    assert m.message_invalid_utf8
    ecs = to_ecs(m)
    assert ecs["event"]["original"].endswith("bad \\xff\\xfe byte")
    assert ecs["mamori"]["syslog"]["message_invalid_utf8"] is True
    assert not parse(b"<14>1 - h a - - - fine").message_invalid_utf8


# --- RFC 3164 --------------------------------------------------------------------------------


def test_rfc3164_example_1() -> None:
    raw = b"<34>Oct 11 22:14:15 mymachine su: 'su root' failed for lonvick on /dev/pts/8"
    m = parse(raw, received=RECEIVED)
    assert m.format == "rfc3164"
    assert (m.facility, m.severity, m.version) == (4, 2, None)
    assert m.timestamp == datetime(2023, 10, 11, 22, 14, 15, tzinfo=UTC)  # nearest: last year
    assert (m.hostname, m.app_name, m.procid) == ("mymachine", "su", None)
    assert m.message == "'su root' failed for lonvick on /dev/pts/8"


def test_rfc3164_example_2_no_pri_defaults_to_13() -> None:
    m = parse(b"Use the BFG!")
    assert m.format == "unparsed"
    assert (m.facility, m.severity, m.priority) == (1, 5, 13)
    assert m.message == "Use the BFG!"
    # ...and the relayed form of it from the same example:
    m = parse(b"<13>Feb  5 17:32:18 10.0.0.99 Use the BFG!", received=RECEIVED)
    assert m.format == "rfc3164"
    assert m.timestamp == datetime(2024, 2, 5, 17, 32, 18, tzinfo=UTC)
    assert (m.hostname, m.app_name, m.message) == ("10.0.0.99", None, "Use the BFG!")


def test_rfc3164_example_3() -> None:
    raw = (
        b"<165>Aug 24 05:34:00 CST 1987 mymachine myproc[10]: %% It's time to make the do-nuts."
        b"  %%  Ingredients: Mix=OK, Jump=OK, Cook=OK"
    )
    m = parse(raw, received=RECEIVED)
    # As the RFC says, "CST" is read as the HOSTNAME and the rest is CONTENT.
    assert m.format == "rfc3164"
    assert (m.facility, m.severity) == (20, 5)
    assert m.timestamp == datetime(2023, 8, 24, 5, 34, tzinfo=UTC)
    assert m.hostname == "CST"
    assert m.app_name is None
    assert m.message.startswith("1987 mymachine myproc[10]: %%")


def test_rfc3164_example_4_bad_timestamp_is_all_content() -> None:
    raw = b"<0>1990 Oct 22 10:52:01 TZ-6 scapegoat.dmz.example.org 10.1.2.3 sched[0]: That's All Folks!"
    m = parse(raw)
    assert m.format == "rfc3164"
    assert (m.facility, m.severity, m.timestamp, m.hostname) == (0, 0, None, None)
    assert m.message == raw[3:].decode()


def test_rfc3164_single_digit_day_and_no_pri() -> None:
    m = parse(b"Jul  7 08:06:15 combo kernel: hello", received=RECEIVED)
    assert m.format == "rfc3164"
    assert (m.facility, m.severity) == (1, 5)
    assert m.timestamp == datetime(2023, 7, 7, 8, 6, 15, tzinfo=UTC)  # July is after June 20
    assert (m.hostname, m.app_name, m.message) == ("combo", "kernel", "hello")


def test_rfc3164_without_hostname() -> None:
    m = parse(b"<13>Jun 14 15:16:01 sshd[42]: Accepted", received=RECEIVED)
    assert (m.hostname, m.app_name, m.procid, m.message) == (None, "sshd", "42", "Accepted")


@pytest.mark.parametrize(
    ("received", "expected_year"),
    [
        (datetime(2025, 1, 1, 0, 0, 5, tzinfo=UTC), 2024),  # Dec 31 late, received in January
        (datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC), 2024),
        (datetime(2024, 6, 1, tzinfo=UTC), 2023),
    ],
)
def test_rfc3164_year_rollover_december(received: datetime, expected_year: int) -> None:
    m = parse(b"<13>Dec 31 23:59:58 h t: x", received=received)
    assert m.timestamp == datetime(expected_year, 12, 31, 23, 59, 58, tzinfo=UTC)


def test_rfc3164_year_rollover_january() -> None:
    # A sender whose clock is slightly ahead, across New Year.
    m = parse(
        b"<13>Jan  1 00:00:02 h t: x", received=datetime(2024, 12, 31, 23, 59, 59, tzinfo=UTC)
    )
    assert m.timestamp == datetime(2025, 1, 1, 0, 0, 2, tzinfo=UTC)


def test_rfc3164_default_tz_and_naive_received() -> None:
    tz = timezone(timedelta(hours=9))
    m = parse(b"<13>Mar  3 10:00:00 h t: x", received=datetime(2024, 3, 3, 12), default_tz=tz)
    assert m.timestamp == datetime(2024, 3, 3, 10, tzinfo=tz)
    assert to_ecs(m)["@timestamp"] == "2024-03-03T01:00:00Z"


def test_rfc3164_feb_29_only_in_leap_years() -> None:
    m = parse(b"<13>Feb 29 10:00:00 h t: x", received=datetime(2025, 3, 1, tzinfo=UTC))
    assert m.timestamp == datetime(2024, 2, 29, 10, tzinfo=UTC)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (
            b"<30>2024-05-06T07:08:09.123456+02:00 web01 nginx[77]: GET /",
            datetime(2024, 5, 6, 7, 8, 9, 123456, tzinfo=timezone(timedelta(hours=2))),
        ),
        (b"<30>2024-05-06T07:08:09Z web01 nginx: GET /", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
        (b"<30>2024-05-06T07:08:09 web01 nginx: GET /", datetime(2024, 5, 6, 7, 8, 9, tzinfo=UTC)),
    ],
)
def test_rfc3164_layout_with_iso_timestamp(raw: bytes, expected: datetime) -> None:
    m = parse(raw)
    assert m.format == "rfc3164"
    assert m.timestamp == expected
    assert (m.hostname, m.app_name, m.message) == ("web01", "nginx", "GET /")


def test_bom_stripped_and_trailing_newline_dropped() -> None:
    m = parse(b"<13>Jun 14 15:16:01 h t: " + BOM + b"caf\xc3\xa9\r\n\x00", received=RECEIVED)
    assert m.message == "café"
    assert m.raw.endswith(b"\r\n\x00")


def test_invalid_pri_is_content() -> None:
    for raw in (b"<192>Jun 14 15:16:01 h t: x", b"<013>x", b"<>x", b"<abc>x"):
        m = parse(raw, received=RECEIVED)
        assert m.priority == 13
    m = parse(b"<192>Jun 14 15:16:01 h t: x", received=RECEIVED)
    assert m.format == "unparsed" and m.message == "<192>Jun 14 15:16:01 h t: x"


# --- ECS -------------------------------------------------------------------------------------


def test_to_ecs_full_mapping() -> None:
    raw = b'<86>1 2024-01-02T03:04:05.5+01:00 bastion sshd 4242 AUTH [meta@1 k="v"] user=alice src=10.0.0.1 action="log in"'
    ecs = to_ecs(parse(raw))
    assert ecs == {
        "@timestamp": "2024-01-02T02:04:05.5Z",
        "host": {"hostname": "bastion", "name": "bastion"},
        "log": {
            "syslog": {
                "facility": {"code": 10, "name": "authpriv"},
                "severity": {"code": 6, "name": "Informational"},
                "priority": 86,
                "version": "1",
                "appname": "sshd",
                "procid": "4242",
                "msgid": "AUTH",
                "structured_data": {"meta@1": {"k": "v"}},
            }
        },
        "process": {"name": "sshd", "pid": 4242},
        "event": {"original": raw.decode()},
        "message": 'user=alice src=10.0.0.1 action="log in"',
        "mamori": {
            "syslog": {"format": "rfc5424"},
            "kv": {"user": "alice", "src": "10.0.0.1", "action": "log in"},
        },
    }


def test_to_ecs_non_numeric_procid_is_not_a_pid() -> None:
    ecs = to_ecs(parse(b"<14>1 - h app worker-3 - - x"))
    assert ecs["process"] == {"name": "app"}
    assert ecs["log"]["syslog"]["procid"] == "worker-3"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a=1 b=2", {"a": "1", "b": "2"}),
        ("Ingredients: Mix=OK, Jump=OK, Cook=OK", {"Mix": "OK", "Jump": "OK", "Cook": "OK"}),
        ('msg="a \\"q\\" b" n=1', {"msg": 'a "q" b', "n": "1"}),
        ("failure; logname= uid=0", {"logname": "", "uid": "0"}),
        ("only=one", None),  # one pair is not clearly key=value
        ("a=1 a=2", None),  # a key twice
        ("a=1 b=2 see http://x/?q=1", None),  # an '=' outside the pairs
        ("x == y and a=1 b=2", None),
        ("token=abc== b=2", None),
        ("plain text", None),
    ],
)
def test_parse_kv_rule(text: str, expected: dict[str, str] | None) -> None:
    assert parse_kv(text) == expected


# --- real-world lines ------------------------------------------------------------------------

_LINE = re.compile(
    r"^([A-Z][a-z]{2}) +(\d{1,2}) (\d\d:\d\d:\d\d) (\S+) ([^\s\[:]+)(?:\[(\d+)\])?: "
)


def _real_lines(name: str) -> list[str]:
    path = SHARED_DATA / "logs" / name / f"{name}_2k.log"
    if not path.exists():
        pytest.skip(
            f"real-world data set {path} is absent (it lives in ../shared/data beside the repo)"
        )
    return path.read_text(encoding="utf-8", errors="replace").splitlines()


@pytest.mark.parametrize("name", ["Linux", "OpenSSH"])
def test_real_syslog_lines(name: str) -> None:
    lines = _real_lines(name)
    assert len(lines) >= 1000
    checked = 0
    for i, line in enumerate(lines):
        pri = (4 * 8 + i % 8) if i % 2 else (10 * 8 + 6)
        raw = f"<{pri}>{line}".encode()
        m = parse(raw, received=datetime(2005, 12, 31, tzinfo=UTC))
        assert m.format == "rfc3164", line
        assert m.priority == pri
        assert m.timestamp is not None and m.timestamp.strftime("%b") == line[:3]
        assert m.timestamp.day == int(line[4:6]) and m.timestamp.strftime("%H:%M:%S") == line[7:15]
        assert m.hostname == line.split()[3]
        expected = _LINE.match(line)
        if expected is not None:
            checked += 1
            assert (m.app_name, m.procid) == (expected.group(5), expected.group(6)), line
            assert m.message == line[expected.end() :].rstrip("\r\n\x00"), line
            ecs = to_ecs(m)
            assert ecs["host"]["name"] == expected.group(4)
            assert ecs["event"]["original"] == f"<{pri}>{line}"
            if expected.group(6):
                assert ecs["process"]["pid"] == int(expected.group(6))
    assert checked >= 0.95 * len(lines)


def test_real_linux_kv_line() -> None:
    lines = [line for line in _real_lines("Linux") if "rhost=" in line and "uid=" in line]
    assert lines
    ecs = to_ecs(parse(b"<86>" + lines[0].encode()))
    assert ecs["mamori"]["kv"]["uid"] == "0"
    assert re.fullmatch(r"[\d.]+|[\w.\-]+", ecs["mamori"]["kv"]["rhost"])


# --- fuzz ------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        b"<",
        b">",
        b"<13>",
        b"<165>1 ",
        b"1 ",
        b"-",
        b" ",
        b"[",
        b"]",
        b'"',
        b"\\",
        b"=",
        b"x@1",
        b"2003-10-11T22:14:15.003Z",
        b"Oct 11 22:14:15",
        b"Feb 29 ",
        b"\xef\xbb\xbf",
        b"\xff",
        b"host",
        b"tag[1]:",
        b": ",
        b"\n",
        b"\x00",
        b"99999",
        b"a=1",
    ]
)
_MESSY = st.one_of(st.binary(max_size=300), st.lists(_PIECES, max_size=30).map(b"".join))


@settings(max_examples=1500, deadline=None)
@given(_MESSY, st.datetimes(timezones=st.just(UTC)))
def test_parse_never_raises(data: bytes, received: datetime) -> None:
    m = parse(data, received=received)
    assert m.raw == data
    assert 0 <= m.facility < 24 and 0 <= m.severity < 8
    assert m.timestamp is None or m.timestamp.tzinfo is not None
    ecs = to_ecs(m)
    assert ecs["message"] == m.message
    assert isinstance(ecs["event"]["original"], str)
