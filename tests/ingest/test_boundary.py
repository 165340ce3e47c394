"""mamori.ingest.boundary: Zeek conn.log, Suricata EVE and AWS VPC flow logs to ECS."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mamori.ingest.boundary import (
    VPC_DEFAULT_FIELDS,
    Rejected,
    VPCFlowReader,
    ZeekTSVReader,
    detect,
    parse_line,
    parse_suricata_eve,
    parse_vpc_flow,
    parse_zeek_json,
)


def _doc(result: Any) -> dict[str, Any]:
    assert isinstance(result, dict), result
    return result


def _rejected(result: Any) -> str:
    assert isinstance(result, Rejected), result
    assert result.reason
    return result.reason


# --- Zeek conn.log, TSV ----------------------------------------------------------------------
# The header and first rows of the conn.log sample in Zeek's "Zeek Log Formats" and Tenzir's
# zeek-tsv docs (Zeek 2.x layout).

from tests.boundary_samples import ZEEK_HEADER, ZEEK_ROW_1, ZEEK_ROW_2, T  # noqa: E402


def _reader() -> ZeekTSVReader:
    reader = ZeekTSVReader()
    for line in ZEEK_HEADER:
        assert reader.feed_line(line) is None
    return reader


def test_zeek_tsv_documented_sample() -> None:
    reader = _reader()
    assert reader.path == "conn"
    assert len(reader.fields) == 20
    doc = _doc(reader.feed_line(ZEEK_ROW_1 + "\n"))
    assert doc["@timestamp"] == "2009-11-18T08:00:21.486539Z"
    assert doc["zeek"]["session_id"] == "Pii6cUUq1v4"
    assert doc["source"] == {"ip": "192.168.1.102", "port": 68, "bytes": 301, "packets": 1}
    assert doc["destination"] == {"ip": "192.168.1.1", "port": 67, "bytes": 300, "packets": 1}
    assert doc["network"] == {"transport": "udp"}  # service unset: no network.protocol
    assert doc["event"]["duration"] == 163_820_000
    assert doc["event"]["kind"] == "event"
    assert doc["event"]["category"] == ["network"]
    assert doc["event"]["dataset"] == "zeek.conn"
    assert doc["event"]["original"] == ZEEK_ROW_1
    assert doc["zeek"]["connection"]["state"] == "SF"
    assert "local_orig" not in doc["zeek"]["connection"]  # unset
    doc2 = _doc(reader.feed_line(ZEEK_ROW_2.encode()))
    assert doc2["network"]["protocol"] == "dns"
    assert doc2["event"]["duration"] == 3_780_125_000
    assert doc2["destination"]["bytes"] == 0
    assert doc2["zeek"]["connection"]["state"] == "S0"


def test_zeek_tsv_unset_everywhere_optional() -> None:
    reader = _reader()
    row = T.join(["1258531221.5", "CxYz", *["-"] * 18])
    doc = _doc(reader.feed_line(row))
    assert doc["@timestamp"] == "2009-11-18T08:00:21.500000Z"
    assert "source" not in doc and "destination" not in doc
    assert "duration" not in doc["event"]


def test_zeek_tsv_unset_ts_is_rejected() -> None:
    reader = _reader()
    row = T.join(["-", "CxYz", *["-"] * 18])
    assert "'ts'" in _rejected(reader.feed_line(row))


def test_zeek_tsv_ipv6_and_escapes() -> None:
    reader = _reader()
    row = T.join(
        [
            "1300475167.096535",
            r"CmES5u32sYpV7JYN\x09x",  # an escaped separator inside a value
            "fe80::217:f2ff:fed7:cf65",
            "5353",
            "ff02::fb",
            "5353",
            "udp",
            "dns",
            "-",
            "-",
            "-",
            "S0",
            "F",
            "0",
            "D",
            "1",
            "199",
            "0",
            "0",
            "(empty)",
        ]
    )
    doc = _doc(reader.feed_line(row))
    assert doc["zeek"]["session_id"] == "CmES5u32sYpV7JYN\tx"
    assert doc["source"]["ip"] == "fe80::217:f2ff:fed7:cf65"
    assert doc["destination"] == {"ip": "ff02::fb", "port": 5353, "packets": 0}
    assert doc["@timestamp"] == "2011-03-18T19:06:07.096535Z"


def test_zeek_tsv_other_separator() -> None:
    reader = ZeekTSVReader()
    assert reader.feed_line(r"#separator \x2c") is None
    assert reader.feed_line("#fields,ts,uid,id.orig_h,proto") is None
    assert reader.feed_line("#types,time,string,addr,enum") is None
    doc = _doc(reader.feed_line("1.0,Cabc,2001:db8::1,tcp"))
    assert doc["source"]["ip"] == "2001:db8::1"
    assert doc["@timestamp"] == "1970-01-01T00:00:01.000000Z"


def test_zeek_tsv_bad_lines() -> None:
    assert "#fields" in _rejected(ZeekTSVReader().feed_line(ZEEK_ROW_1))
    reader = _reader()
    assert "fields" in _rejected(reader.feed_line("1258531221.486539\tonly-two"))
    bad_ip = ZEEK_ROW_1.replace("192.168.1.102", "999.1.1.1")
    assert "id.orig_h" in _rejected(reader.feed_line(bad_ip))
    bad_port = ZEEK_ROW_1.replace("\t68\t", "\t70000\t")
    assert "id.orig_p" in _rejected(reader.feed_line(bad_port))
    bad_duration = ZEEK_ROW_1.replace("0.163820", "soon")
    assert "duration" in _rejected(reader.feed_line(bad_duration))
    bad_ts = ZEEK_ROW_1.replace("1258531221.486539", "1e999")
    assert "ts" in _rejected(reader.feed_line(bad_ts))
    assert reader.feed_line("") is None
    assert reader.feed_line("#close\t2014-05-23-18-02-35") is None


def test_zeek_tsv_other_path_rejected() -> None:
    reader = _reader()
    reader.feed_line("#path\tdns")
    assert "conn" in _rejected(reader.feed_line(ZEEK_ROW_1))


# --- Zeek conn.log, JSON ---------------------------------------------------------------------
# The shape of the conn.log JSON record in Zeek's "Zeek JSON Format Logs" section.

ZEEK_JSON = (
    '{"ts":1591367999.430166,"uid":"C5bLoe2Mvxqhawzqqd","id.orig_h":"192.168.4.76",'
    '"id.orig_p":46378,"id.resp_h":"31.3.245.133","id.resp_p":80,"proto":"tcp",'
    '"service":"http","duration":0.25411510467529297,"orig_bytes":77,"resp_bytes":295,'
    '"conn_state":"SF","missed_bytes":0,"history":"ShADadFf","orig_pkts":6,'
    '"orig_ip_bytes":397,"resp_pkts":4,"resp_ip_bytes":511}'
)


def test_zeek_json_documented_sample() -> None:
    doc = _doc(parse_zeek_json(ZEEK_JSON.encode()))
    assert doc["@timestamp"] == "2020-06-05T14:39:59.430166Z"
    assert doc["zeek"]["session_id"] == "C5bLoe2Mvxqhawzqqd"
    assert doc["source"] == {"ip": "192.168.4.76", "port": 46378, "bytes": 77, "packets": 6}
    assert doc["destination"]["ip"] == "31.3.245.133"
    assert doc["destination"]["port"] == 80
    assert doc["destination"]["bytes"] == 295
    assert doc["network"] == {"transport": "tcp", "protocol": "http"}
    assert doc["event"]["duration"] == 254_115_104
    assert doc["zeek"]["connection"]["state"] == "SF"
    assert doc["event"]["dataset"] == "zeek.conn"


def test_zeek_json_iso_timestamp_ipv6_and_missing_fields() -> None:
    line = json.dumps(
        {
            "ts": "2020-06-05T14:39:59.430166Z",
            "uid": "Cx",
            "id.orig_h": "2001:DB8:0:0::1",
            "id.orig_p": 1,
            "id.resp_h": "2001:db8::2",
            "id.resp_p": 443,
            "proto": "tcp",
            "service": ["ssl", "http"],
        }
    )
    doc = _doc(parse_zeek_json(line))
    assert doc["@timestamp"] == "2020-06-05T14:39:59.430166Z"
    assert doc["source"]["ip"] == "2001:db8::1"  # normalised
    assert doc["network"]["protocol"] == "ssl,http"
    assert "bytes" not in doc["source"]


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("not json", "JSON"),
        ("[1, 2]", "object"),
        ('{"ts": 1.0}', "uid"),
        ('{"ts": "yesterday", "uid": "C"}', "ts"),
        ('{"ts": 1.0, "uid": "C", "id.orig_h": 17}', "id.orig_h"),
        ('{"ts": 1.0, "uid": "C", "orig_bytes": -1}', "orig_bytes"),
        ('{"ts": 1.0, "uid": "C", "duration": "NaN"}', "duration"),
    ],
)
def test_zeek_json_bad_lines(line: str, needle: str) -> None:
    assert needle in _rejected(parse_zeek_json(line))


# --- Suricata EVE ----------------------------------------------------------------------------
# The alert example at the top of Suricata's "Eve JSON Format" page (7.0), and the shapes of
# its flow, dns, http and tls examples.

EVE_ALERT = (
    '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,'
    '"pcap_cnt":53381,"event_type":"alert","src_ip":"192.168.2.14","src_port":50096,'
    '"dest_ip":"209.53.113.5","dest_port":80,"proto":"TCP","metadata":{"flowbits":'
    '["http.dottedquadhost"]},"tx_id":4,"alert":{"action":"allowed","gid":1,'
    '"signature_id":2018358,"rev":10,"signature":"ET HUNTING GENERIC SUSPICIOUS POST to '
    'Dotted Quad with Fake Browser 1","category":"Potentially Bad Traffic","severity":2},'
    '"app_proto":"http"}'
)
EVE_FLOW = (
    '{"timestamp":"2017-04-07T22:24:37.251547+0100","flow_id":586497171462735,'
    '"event_type":"flow","src_ip":"192.168.2.14","src_port":50096,"dest_ip":"209.53.113.5",'
    '"dest_port":80,"proto":"TCP","app_proto":"http","flow":{"pkts_toserver":8,'
    '"pkts_toclient":6,"bytes_toserver":1032,"bytes_toclient":12542,'
    '"start":"2017-04-07T22:24:37.251547+0100","end":"2017-04-07T22:24:37.561231+0100",'
    '"age":0,"state":"closed","reason":"shutdown","alerted":true}}'
)
EVE_DNS = (
    '{"timestamp":"2009-11-24T21:27:09.534255","event_type":"dns","src_ip":"192.168.2.7",'
    '"src_port":53,"dest_ip":"x.x.250.50","dest_port":23242,"proto":"UDP","dns":{'
    '"type":"answer","id":45444,"rrname":"www.suricata.io","rrtype":"CNAME",'
    '"ttl":3324,"rdata":"suricata.io"}}'
)
EVE_HTTP = (
    '{"timestamp":"2009-11-24T21:27:09.534255","event_type":"http","src_ip":"2001:db8::7",'
    '"src_port":38906,"dest_ip":"2001:db8::50","dest_port":80,"proto":"TCP","http":{'
    '"hostname":"www.digip.org","url":"/jansson/releases/jansson-2.6.tar.bz2",'
    '"http_user_agent":"Wget/1.13.4 (linux-gnu)","http_content_type":"application/x-bzip2",'
    '"http_method":"GET","protocol":"HTTP/1.1","status":200,"length":447339}}'
)
EVE_TLS = (
    '{"timestamp":"2016-09-27T09:58:29.580313+0200","event_type":"tls","src_ip":"10.0.0.1",'
    '"src_port":49310,"dest_ip":"93.184.216.34","dest_port":443,"proto":"TCP","tls":{'
    '"subject":"CN=www.example.org","issuerdn":"CN=DigiCert SHA2","version":"TLS 1.2",'
    '"sni":"www.example.org","ja3":{"hash":"e7d705a3286e19ea42f587b344ee6865"}}}'
)


def test_eve_alert_documented_sample() -> None:
    doc = _doc(parse_suricata_eve(EVE_ALERT))
    assert doc["@timestamp"] == "2017-04-07T21:24:37.251547Z"
    assert doc["source"] == {"ip": "192.168.2.14", "port": 50096}
    assert doc["destination"] == {"ip": "209.53.113.5", "port": 80}
    assert doc["network"] == {"transport": "tcp", "protocol": "http"}
    assert doc["rule"] == {
        "name": "ET HUNTING GENERIC SUSPICIOUS POST to Dotted Quad with Fake Browser 1",
        "id": "2018358",
        "category": "Potentially Bad Traffic",
        "version": "10",
    }
    assert doc["event"]["severity"] == 2
    assert doc["event"]["kind"] == "alert"
    assert doc["event"]["type"] == ["allowed"]
    assert "network" in doc["event"]["category"]
    assert doc["event"]["dataset"] == "suricata.eve"
    assert doc["suricata"]["eve"]["flow_id"] == 586497171462735


def test_eve_flow() -> None:
    doc = _doc(parse_suricata_eve(EVE_FLOW))
    assert doc["event"]["kind"] == "event"
    assert doc["event"]["category"] == ["network"]
    assert doc["source"]["bytes"] == 1032
    assert doc["destination"]["bytes"] == 12542
    assert doc["source"]["packets"] == 8
    assert doc["destination"]["packets"] == 6
    assert "rule" not in doc


def test_eve_dns_naive_timestamp_is_utc_and_bad_ip_rejected() -> None:
    # The docs' "x.x.250.50" placeholder is not an address: rejected, with the field named.
    assert "dest_ip" in _rejected(parse_suricata_eve(EVE_DNS))
    doc = _doc(parse_suricata_eve(EVE_DNS.replace("x.x.250.50", "192.0.2.50")))
    assert doc["@timestamp"] == "2009-11-24T21:27:09.534255Z"
    assert doc["dns"] == {
        "type": "answer",
        "id": 45444,
        "question": {"name": "www.suricata.io", "type": "CNAME"},
    }


def test_eve_http_ipv6() -> None:
    doc = _doc(parse_suricata_eve(EVE_HTTP))
    assert doc["source"]["ip"] == "2001:db8::7"
    assert doc["url"] == {
        "domain": "www.digip.org",
        "original": "/jansson/releases/jansson-2.6.tar.bz2",
    }
    assert doc["http"]["request"]["method"] == "GET"
    assert doc["http"]["response"]["status_code"] == 200
    assert doc["user_agent"]["original"] == "Wget/1.13.4 (linux-gnu)"


def test_eve_tls() -> None:
    doc = _doc(parse_suricata_eve(EVE_TLS))
    assert doc["@timestamp"] == "2016-09-27T07:58:29.580313Z"
    assert doc["tls"]["version"] == "1.2"
    assert doc["tls"]["version_protocol"] == "tls"
    assert doc["tls"]["client"] == {
        "server_name": "www.example.org",
        "ja3": "e7d705a3286e19ea42f587b344ee6865",
    }


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("{", "JSON"),
        ('{"event_type": "alert"}', "timestamp"),
        ('{"timestamp": "2020-01-01T00:00:00Z", "event_type": "alert"}', "alert"),
        ('{"timestamp": "not a time", "event_type": "flow"}', "timestamp"),
        (
            '{"timestamp": "2020-01-01T00:00:00Z", "event_type": "flow", "src_port": 70000}',
            "src_port",
        ),
        ('{"timestamp": "2020-01-01T00:00:00Z", "event_type": "flow", "src_ip": "::g"}', "src_ip"),
    ],
)
def test_eve_bad_lines(line: str, needle: str) -> None:
    assert needle in _rejected(parse_suricata_eve(line))


def test_eve_wrongly_typed_sections_are_ignored() -> None:
    line = '{"timestamp":"2020-01-01T00:00:00Z","event_type":"dns","dns":[1],"flow":"x"}'
    doc = _doc(parse_suricata_eve(line))
    assert "dns" not in doc and "source" not in doc


# --- AWS VPC flow logs -----------------------------------------------------------------------
# From the AWS VPC User Guide, "Flow log record examples".

VPC_ACCEPT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 "
    "1418530010 1418530070 ACCEPT OK"
)
VPC_REJECT = (
    "2 123456789010 eni-1235b8ca123456789 172.31.9.69 172.31.9.12 49761 3389 6 20 4249 "
    "1418530010 1418530070 REJECT OK"
)
VPC_NODATA = "2 123456789010 eni-1235b8ca123456789 - - - - - - - 1431280876 1431280934 - NODATA"
VPC_SKIPDATA = "2 123456789010 eni-11111111aaaaaaaaa - - - - - - - 1431280876 1431280934 - SKIPDATA"


def test_vpc_accept() -> None:
    doc = _doc(parse_vpc_flow(VPC_ACCEPT))
    assert doc["@timestamp"] == "2014-12-14T04:06:50.000000Z"
    assert doc["event"]["start"] == "2014-12-14T04:06:50.000000Z"
    assert doc["event"]["end"] == "2014-12-14T04:07:50.000000Z"
    assert doc["source"] == {"ip": "172.31.16.139", "port": 20641}
    assert doc["destination"] == {"ip": "172.31.16.21", "port": 22}
    assert doc["network"] == {
        "iana_number": "6",
        "transport": "tcp",
        "packets": 20,
        "bytes": 4249,
    }
    assert doc["event"]["outcome"] == "success"
    assert "allowed" in doc["event"]["type"]
    assert doc["event"]["dataset"] == "aws.vpcflow"
    assert doc["event"]["category"] == ["network"]
    assert doc["cloud"] == {"account": {"id": "123456789010"}, "provider": "aws"}
    assert doc["aws"]["vpcflow"]["interface_id"] == "eni-1235b8ca123456789"
    assert doc["aws"]["vpcflow"]["log_status"] == "OK"


def test_vpc_reject() -> None:
    doc = _doc(parse_vpc_flow(VPC_REJECT.encode()))
    assert doc["event"]["outcome"] == "failure"
    assert "denied" in doc["event"]["type"]
    assert doc["destination"]["port"] == 3389


@pytest.mark.parametrize("line", [VPC_NODATA, VPC_SKIPDATA])
def test_vpc_nodata_skipdata(line: str) -> None:
    doc = _doc(parse_vpc_flow(line))
    assert "source" not in doc and "network" not in doc
    assert "outcome" not in doc["event"]
    assert doc["aws"]["vpcflow"]["log_status"] == line.rsplit(" ", 1)[1]
    assert doc["@timestamp"] == "2015-05-10T18:01:16.000000Z"


@pytest.mark.parametrize(("number", "name"), [("1", "icmp"), ("17", "udp"), ("58", "ipv6-icmp")])
def test_vpc_protocol_names(number: str, name: str) -> None:
    line = VPC_ACCEPT.replace(" 6 20 ", f" {number} 20 ")
    assert _doc(parse_vpc_flow(line))["network"]["transport"] == name


def test_vpc_unknown_protocol_number_kept() -> None:
    line = VPC_ACCEPT.replace(" 6 20 ", " 200 20 ")
    network = _doc(parse_vpc_flow(line))["network"]
    assert network["iana_number"] == "200" and "transport" not in network


def test_vpc_ipv6() -> None:
    line = VPC_ACCEPT.replace("172.31.16.139", "2001:db8:1234:a100:8d6e:3477:df66:f105")
    doc = _doc(parse_vpc_flow(line))
    assert doc["source"]["ip"] == "2001:db8:1234:a100:8d6e:3477:df66:f105"


def test_vpc_custom_format_header() -> None:
    reader = VPCFlowReader()
    assert reader.feed_line("version vpc-id subnet-id srcaddr dstaddr action log-status") is None
    doc = _doc(
        reader.feed_line(
            "3 vpc-abcdefab012345678 subnet-aaaaaaaa012345678 10.0.0.1 10.0.0.2 ACCEPT OK"
        )
    )
    assert doc["aws"]["vpcflow"]["vpc_id"] == "vpc-abcdefab012345678"
    assert doc["source"]["ip"] == "10.0.0.1"
    assert "@timestamp" not in doc  # no start field in this format
    assert "fields" in _rejected(reader.feed_line(VPC_ACCEPT))
    assert reader.feed_line(" ".join(VPC_DEFAULT_FIELDS)) is None
    assert _doc(reader.feed_line(VPC_ACCEPT))["source"]["port"] == 20641


@pytest.mark.parametrize(
    ("line", "needle"),
    [
        ("2 123456789010 eni-1 1.2.3.4", "fields"),
        (VPC_ACCEPT.replace("ACCEPT", "MAYBE"), "action"),
        (VPC_ACCEPT.replace(" OK", " FINE"), "log-status"),
        (VPC_ACCEPT.replace("172.31.16.139", "172.31.16.300"), "srcaddr"),
        (VPC_ACCEPT.replace(" 22 ", " 65536 "), "dstport"),
        (VPC_ACCEPT.replace(" 6 20 ", " 256 20 "), "protocol"),
        (VPC_ACCEPT.replace("1418530010", "soon"), "start"),
        (VPC_ACCEPT.replace(" 4249 ", " -5 "), "bytes"),
    ],
)
def test_vpc_bad_lines(line: str, needle: str) -> None:
    assert needle in _rejected(parse_vpc_flow(line))


# --- detection and dispatch ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "kind"),
    [
        (ZEEK_HEADER[0], "zeek_tsv"),
        (ZEEK_HEADER[6], "zeek_tsv"),
        (ZEEK_ROW_1, "zeek_tsv"),
        (ZEEK_JSON, "zeek_json"),
        (EVE_ALERT, "suricata_eve"),
        (EVE_FLOW.encode(), "suricata_eve"),
        (VPC_ACCEPT, "aws_vpcflow"),
        (VPC_NODATA, "aws_vpcflow"),
        (" ".join(VPC_DEFAULT_FIELDS), "aws_vpcflow"),
        ("<34>1 2003-10-11T22:14:15.003Z host su - ID47 - hi", None),
        ('{"hello": "world"}', None),
        ("{broken", None),
        ("", None),
    ],
)
def test_detect(line: str | bytes, kind: str | None) -> None:
    assert detect(line) == kind


def test_parse_line_dispatches() -> None:
    assert _doc(parse_line(EVE_ALERT))["event"]["dataset"] == "suricata.eve"
    assert _doc(parse_line(ZEEK_JSON))["event"]["dataset"] == "zeek.conn"
    assert _doc(parse_line(VPC_REJECT))["event"]["dataset"] == "aws.vpcflow"
    assert parse_line(ZEEK_HEADER[0]) is None
    assert "#fields" in _rejected(parse_line(ZEEK_ROW_1))
    assert "recognised" in _rejected(parse_line("hello"))


# --- fuzz ------------------------------------------------------------------------------------

_PIECES = st.sampled_from(
    [
        "\t", " ", "-", "(empty)", "#fields", "#separator ", "\\x09", "\\x", "{", "}", '"ts"',
        '"uid"', '"event_type"', '"timestamp"', ":", ",", "1e999", "NaN", "1258531221.5",
        "2001:db8::1", "::", "ACCEPT", "REJECT", "OK", "NODATA", "65536", "[", "]", "null",
        "2020-01-01T00:00:00+0100", "\x00", "\ud800", "é",
    ]
)  # fmt: skip
_TEXT = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(_PIECES, st.text(max_size=8)), max_size=30).map("".join),
    st.binary(max_size=200),
)
_JSONISH = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=4)
    ),
    max_leaves=10,
)
_KEYS = st.sampled_from(
    ["ts", "uid", "id.orig_h", "id.orig_p", "duration", "service", "orig_bytes", "timestamp",
     "event_type", "src_ip", "src_port", "alert", "flow", "dns", "http", "tls", "proto"]
)  # fmt: skip


def _check(result: object) -> None:
    assert result is None or isinstance(result, dict | Rejected)
    if isinstance(result, dict):
        json.dumps(result)  # documents are plain JSON


@settings(max_examples=1000, deadline=None)
@given(_TEXT)
def test_fuzz_text_never_raises(line: str | bytes) -> None:
    detect(line)
    _check(parse_line(line))
    _check(parse_zeek_json(line))
    _check(parse_suricata_eve(line))
    _check(parse_vpc_flow(line))
    _check(VPCFlowReader().feed_line(line))
    reader = _reader()
    _check(reader.feed_line(line))
    _check(ZeekTSVReader().feed_line(line))


@settings(max_examples=500, deadline=None)
@given(st.dictionaries(_KEYS, _JSONISH, max_size=8))
def test_fuzz_json_records_never_raise(record: dict[str, Any]) -> None:
    line = json.dumps(record)
    _check(parse_zeek_json(line))
    _check(parse_suricata_eve(line))


@settings(max_examples=300, deadline=None)
@given(st.lists(_TEXT, max_size=10))
def test_fuzz_reader_sequences_never_raise(lines: list[str | bytes]) -> None:
    reader = ZeekTSVReader()
    vpc = VPCFlowReader()
    for line in lines:
        _check(reader.feed_line(line))
        _check(vpc.feed_line(line))
