"""The application over real HTTPS (uvicorn via serve_http), driven with httpx."""

from __future__ import annotations

import gzip
import json
import logging
import socket
import ssl
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest

from tests.boundary_samples import EVE_ALERT, EVE_FLOW, VPC_ACCEPT, VPC_HEADER, ZEEK_JSON, ZEEK_TSV
from tests.web.conftest import INGEST, MAX_BODY, METRICS, Live

EVENTS = "/api/v1/events"
AUTH = {"Authorization": f"Bearer {INGEST}"}
JSON = {**AUTH, "Content-Type": "application/json"}
NDJSON = {**AUTH, "Content-Type": "application/x-ndjson"}


@pytest.fixture
def client(live: Live) -> Iterator[httpx.Client]:
    context = ssl.create_default_context(cafile=str(live.cafile))
    with httpx.Client(base_url=live.url, verify=context, timeout=30) as c:
        yield c


def _error(r: httpx.Response, status: int) -> dict[str, Any]:
    """The JSON error answer: status, content type, and the two members every error has."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert isinstance(body["error"], str) and body["error"]
    assert isinstance(body["hint"], str) and body["hint"]
    assert "Traceback" not in r.text
    return body


# --- success ----------------------------------------------------------------------------------


def test_json_array_is_stored_with_provenance(live: Live, client: httpx.Client) -> None:
    body = [
        {"message": "login failed", "user": {"name": "alice"}},
        {"message": "x", "mamori": {"token": "forged", "note": "kept"}, "log": {"level": "warn"}},
    ]
    r = client.post(EVENTS, content=orjson.dumps(body), headers=JSON)
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 2, "first": 0, "last": 1}
    docs = live.sink.docs()
    address = docs[0]["log"]["source"]["address"]
    host, port = address.rsplit(":", 1)
    assert host == "127.0.0.1" and 1024 <= int(port) <= 65535
    assert docs[0] == {
        **body[0],
        "mamori": {"receiver": "http", "token": "sender-1"},
        "log": {"source": {"address": address}},
    }
    assert docs[1]["mamori"] == {"receiver": "http", "token": "sender-1", "note": "kept"}
    assert docs[1]["log"] == {"level": "warn", "source": {"address": address}}
    # Stored as canonical JSON: sorted members, no spaces.
    assert live.sink.events[0] == orjson.dumps(docs[0], option=orjson.OPT_SORT_KEYS)
    assert live.sources.checked == [("http", "127.0.0.1")]
    r = client.post(EVENTS, content=b'{"one": "object"}', headers=JSON)
    assert r.json() == {"accepted": 1, "first": 2, "last": 2}


@pytest.mark.parametrize(
    "content_type",
    [
        "application/x-ndjson",
        "application/jsonl",
        "application/jsonlines",
        "text/plain; charset=utf-8",
    ],
)
def test_json_lines(live: Live, client: httpx.Client, content_type: str) -> None:
    body = b'{"n": 1}\r\n\r\n{"n": 2}\n   \n{"n": 3}'
    r = client.post(EVENTS, content=body, headers={**AUTH, "Content-Type": content_type})
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == 3
    assert [d["n"] for d in live.sink.docs()] == [1, 2, 3]


def test_gzip_body(live: Live, client: httpx.Client) -> None:
    plain = b"".join(b'{"n": %d}\n' % i for i in range(1000))
    r = client.post(
        EVENTS, content=gzip.compress(plain), headers={**NDJSON, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.text
    assert r.json() == {"accepted": 1000, "first": 0, "last": 999}


def test_spooled_is_202(live: Live, client: httpx.Client) -> None:
    live.sink.mode = "spool"
    r = client.post(EVENTS, content=b'{"a": 1}\n{"a": 2}\n', headers=NDJSON)
    assert r.status_code == 202, r.text
    assert r.json() == {"accepted": 2, "spooled": True}
    assert len(live.sink.events) == 2


def test_answers_only_once_durable(live: Live, client: httpx.Client) -> None:
    live.sink.delay = 0.5
    started = time.monotonic()
    r = client.post(EVENTS, content=b'{"a": 1}', headers=JSON)
    assert r.status_code == 200
    assert time.monotonic() - started >= 0.5
    assert len(live.sink.events) == 1


def test_large_batch_is_decoded_off_the_loop(live: Live, client: httpx.Client) -> None:
    # Above 256 KiB the body is decoded in a thread; the limit of the test server is 256 KiB
    # too, so use gzip: 200 kB on the wire, just under the limit decoded.
    line = b'{"message": "' + b"x" * 200 + b'"}\n'
    plain = line * (MAX_BODY // len(line))
    r = client.post(
        EVENTS, content=gzip.compress(plain), headers={**NDJSON, "Content-Encoding": "gzip"}
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == MAX_BODY // len(line)


# --- boundary formats -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fmt", "body", "dataset", "count"),
    [
        ("zeek", ZEEK_TSV, "zeek.conn", 2),
        ("zeek", ZEEK_JSON + "\n", "zeek.conn", 1),
        ("suricata", f"{EVE_ALERT}\n{EVE_FLOW}\n", "suricata.eve", 2),
        ("vpcflow", f"{VPC_HEADER}\n{VPC_ACCEPT}\n", "aws.vpcflow", 1),
        ("vpcflow", f"{VPC_ACCEPT}\n{VPC_ACCEPT}\n", "aws.vpcflow", 2),
    ],
)
def test_boundary_formats(
    live: Live, client: httpx.Client, fmt: str, body: str, dataset: str, count: int
) -> None:
    r = client.post(
        EVENTS,
        params={"format": fmt},
        content=body.encode(),
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert r.status_code == 200, r.text
    assert r.json()["accepted"] == count
    docs = live.sink.docs()
    assert len(docs) == count
    for doc in docs:
        assert doc["event"]["dataset"] == dataset
        assert doc["mamori"] == {"receiver": "http", "token": "sender-1"}
        assert doc["log"]["source"]["address"].startswith("127.0.0.1:")


def test_boundary_bad_line(live: Live, client: httpx.Client) -> None:
    body = f"{VPC_HEADER}\n{VPC_ACCEPT}\n\n2 not a record\n".encode()
    r = client.post(
        EVENTS,
        params={"format": "vpcflow"},
        content=body,
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    err = _error(r, 400)
    assert err["items"] == [{"position": 1, "line": 4, "reason": err["items"][0]["reason"]}]
    assert "fields" in err["items"][0]["reason"]
    assert err["bad_items"] == 1
    assert live.sink.events == []


# --- 400 --------------------------------------------------------------------------------------


def test_bad_items_are_listed_and_nothing_is_stored(live: Live, client: httpx.Client) -> None:
    before = live.counter("mamori_events_rejected")
    body = b'{"ok": 1}\n{"bad": \n{"ok": 2}\n42\n{"s": "\xff"}\n'
    err = _error(client.post(EVENTS, content=body, headers=NDJSON), 400)
    assert [(i["position"], i["line"]) for i in err["items"]] == [(1, 2), (3, 4), (4, 5)]
    assert err["items"][1]["reason"] == "a number is not an event object"
    assert "UTF-8" in err["items"][2]["reason"]
    assert err["bad_items"] == 3
    assert live.sink.calls == 0
    assert live.counter("mamori_events_rejected") - before == 5  # the whole batch


def test_json_array_error_positions(live: Live, client: httpx.Client) -> None:
    err = _error(client.post(EVENTS, content=b'[{"a": 1}, [], {"b": 2}, 3]', headers=JSON), 400)
    assert [i["position"] for i in err["items"]] == [1, 3]
    assert all("line" not in i for i in err["items"])
    err = _error(client.post(EVENTS, content=b'[{"a": 1}, {"b": nope}]', headers=JSON), 400)
    assert err["items"][0]["position"] == 1


@pytest.mark.parametrize(("body", "headers"), [(b"[]", JSON), (b"", JSON), (b"\n \n", NDJSON)])
def test_empty_batch(client: httpx.Client, body: bytes, headers: dict[str, str]) -> None:
    err = _error(client.post(EVENTS, content=body, headers=headers), 400)
    assert "empty" in err["error"]
    assert err["items"] == [] and err["bad_items"] == 0


def test_unknown_format(client: httpx.Client) -> None:
    r = client.post(
        EVENTS,
        params={"format": "cef"},
        content=b"x",
        headers={**AUTH, "Content-Type": "text/plain"},
    )
    assert "zeek" in _error(r, 400)["hint"]


def test_corrupt_gzip(live: Live, client: httpx.Client) -> None:
    r = client.post(
        EVENTS, content=b"\x1f\x8bnot really", headers={**NDJSON, "Content-Encoding": "gzip"}
    )
    assert "gzip" in _error(r, 400)["error"]
    truncated = gzip.compress(b'{"a": 1}\n' * 100)[:-10]
    r = client.post(EVENTS, content=truncated, headers={**NDJSON, "Content-Encoding": "gzip"})
    _error(r, 400)
    assert live.sink.calls == 0


# --- 401, 403 ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("authorization", "challenge"),
    [
        (None, 'Bearer realm="mamori"'),
        ("Bearer", 'Bearer realm="mamori"'),
        (f"Basic {INGEST}", 'Bearer realm="mamori"'),
        ("Bearer mamori_not-a-token", 'Bearer realm="mamori", error="invalid_token"'),
    ],
)
def test_401(live: Live, client: httpx.Client, authorization: str | None, challenge: str) -> None:
    headers = {"Content-Type": "application/json"}
    if authorization is not None:
        headers["Authorization"] = authorization
    r = client.post(EVENTS, content=b'{"a": 1}', headers=headers)
    _error(r, 401)
    assert r.headers["www-authenticate"] == challenge
    assert "mamori_not-a-token" not in r.text  # the token is not echoed
    assert live.sink.calls == 0


def test_scheme_is_case_insensitive(client: httpx.Client) -> None:
    r = client.post(
        EVENTS,
        content=b'{"a": 1}',
        headers={"Authorization": f"bearer {INGEST}", "Content-Type": "application/json"},
    )
    assert r.status_code == 200


def test_token_of_another_scope_is_403(live: Live, client: httpx.Client) -> None:
    r = client.post(
        EVENTS,
        content=b'{"a": 1}',
        headers={"Authorization": f"Bearer {METRICS}", "Content-Type": "application/json"},
    )
    err = _error(r, 403)
    assert "ingest" in err["error"]
    assert 'error="insufficient_scope"' in r.headers["www-authenticate"]
    assert METRICS not in r.text
    r = client.get("/metrics", headers=AUTH)
    assert "metrics" in _error(r, 403)["error"]


def test_unregistered_device_is_403(live: Live, client: httpx.Client) -> None:
    live.sources.refused.add("127.0.0.1")
    r = client.post(EVENTS, content=b'{"a": 1}', headers=JSON)
    err = _error(r, 403)
    assert "127.0.0.1" in err["error"]
    assert "mamori devices add" in err["hint"]
    assert live.sink.calls == 0


# --- 413 --------------------------------------------------------------------------------------


def _raw_request(live: Live, head: bytes, body: bytes = b"") -> bytes:
    """Send one request on a fresh TLS connection and read the whole answer."""
    context = ssl.create_default_context(cafile=str(live.cafile))
    with (
        socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as tls,
    ):
        tls.sendall(head + body)
        answer = b""
        while chunk := tls.recv(65536):
            answer += chunk
    return answer


def test_declared_length_over_the_limit_is_413_unread(live: Live) -> None:
    before = live.counter("mamori_events_rejected")
    head = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + INGEST.encode() + b"\r\n"
        b"Content-Type: application/json\r\nContent-Length: 1000000000\r\n\r\n"
    )
    # No body is sent: the answer comes anyway, and the connection is closed (recv ends).
    answer = _raw_request(live, head)
    status, _, rest = answer.partition(b"\r\n")
    assert status == b"HTTP/1.1 413 Request Entity Too Large"
    assert b"connection: close" in rest.lower()
    body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert str(MAX_BODY) in body["error"]
    assert "split the batch" in body["hint"]
    assert live.counter("mamori_events_rejected") - before == 1


def test_chunked_body_over_the_limit_is_413(live: Live, client: httpx.Client) -> None:
    def chunks() -> Iterator[bytes]:
        for _ in range(MAX_BODY // 1000 + 2):
            yield b" " * 1000

    r = client.post(EVENTS, content=chunks(), headers=NDJSON)
    assert "larger than the limit" in _error(r, 413)["error"]
    assert live.sink.calls == 0


def test_gzip_bomb_is_413(live: Live, client: httpx.Client) -> None:
    bomb = gzip.compress(b"\n" * (64 * MAX_BODY), 9)
    assert len(bomb) < MAX_BODY // 4
    r = client.post(EVENTS, content=bomb, headers={**NDJSON, "Content-Encoding": "gzip"})
    assert "decompressed body" in _error(r, 413)["error"]
    assert live.sink.calls == 0
    # The connection is still good for the next request.
    assert client.get("/api/v1/health").status_code == 200


# --- 415 --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Content-Type": "application/xml"},
        {"Content-Type": "application/x-www-form-urlencoded"},
        {},
        {"Content-Type": "text/plain; charset=iso-8859-1"},
        {"Content-Type": "application/json", "Content-Encoding": "br"},
    ],
)
def test_415(client: httpx.Client, headers: dict[str, str]) -> None:
    r = client.post(EVENTS, content=b'{"a": 1}', headers={**AUTH, **headers})
    err = _error(r, 415)
    assert "application/x-ndjson" in err["hint"] or "gzip" in err["hint"] or "UTF-8" in err["hint"]


# --- 503 --------------------------------------------------------------------------------------


def test_sink_rejected_is_503(live: Live, client: httpx.Client) -> None:
    live.sink.mode = "reject"
    before = live.counter("mamori_events_rejected")
    r = client.post(EVENTS, content=b'[{"a": 1}, {"a": 2}]', headers=JSON)
    err = _error(r, 503)
    assert r.headers["retry-after"] == "5"
    assert "spool is full" in err["error"]
    assert "again after 5 seconds" in err["hint"]
    assert live.counter("mamori_events_rejected") - before == 2


# --- metrics, health, errors ------------------------------------------------------------------


def test_metrics(live: Live, client: httpx.Client) -> None:
    received = live.counter("mamori_events_received")
    assert (
        client.post(EVENTS, content=b'{"a": 1}\n{"a": 2}\n{"a": 3}\n', headers=NDJSON).status_code
        == 200
    )
    assert live.counter("mamori_events_received") - received == 3
    r = client.get("/metrics", headers={"Authorization": f"Bearer {METRICS}"})
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    assert f'mamori_events_received_total{{receiver="http"}} {received + 3}' in r.text
    r = client.get("/metrics")
    _error(r, 401)
    assert r.headers["www-authenticate"].startswith("Bearer")


def test_health(client: httpx.Client) -> None:
    r = client.get("/api/v1/health")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"
    assert "server" not in r.headers


def test_404_and_405_are_json(client: httpx.Client) -> None:
    err = _error(client.get("/nope"), 404)
    assert "GET /nope" in err["error"]
    r = client.get(EVENTS)
    err = _error(r, 405)
    assert err["hint"] == "use POST"
    assert r.headers["allow"] == "POST"
    _error(client.get("/docs"), 404)  # no pages that load scripts from a CDN


def test_unexpected_exception_is_a_500_without_details(
    client: httpx.Client, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.ERROR, logger="mamori.web"):
        r = client.get("/api/v1/test-boom", headers=AUTH)
    err = _error(r, 500)
    assert "boom" not in r.text and "RuntimeError" not in r.text
    assert "internal error" in err["error"]
    records = [rec for rec in caplog.records if rec.name == "mamori.web"]
    assert len(records) == 1
    line = records[0].getMessage()
    assert "\n" not in line
    logged = json.loads(line)
    assert logged["event"] == "web.unexpected_error"
    assert logged["error"] == "RuntimeError"
    assert logged["path"] == "/api/v1/test-boom"
    assert logged["where"].endswith(".py:" + logged["where"].rsplit(":", 1)[1])
    assert INGEST not in line and "[redacted]" in logged["message"]
    assert records[0].exc_info is None  # no traceback


def test_openapi_describes_the_events_endpoint(client: httpx.Client) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    op = spec["paths"]["/api/v1/events"]["post"]
    content = op["requestBody"]["content"]
    assert set(content) == {
        "application/json",
        "application/x-ndjson",
        "application/jsonl",
        "application/jsonlines",
        "text/plain",
    }
    assert content["application/json"]["schema"]["oneOf"][0]["type"] == "array"
    assert set(op["responses"]) == {"200", "202", "400", "401", "403", "413", "415", "503"}
    bad = op["responses"]["400"]["content"]["application/json"]["schema"]
    assert bad["$ref"].endswith("/InvalidBatchModel")
    assert {p["name"] for p in op["parameters"]} == {"format"}
    # gzip is described with the body, not as a header parameter (schemathesis sent the header
    # over an uncompressed body when it was one)
    assert "Content-Encoding: gzip" in str(op["requestBody"])
    assert op["security"] == [{"bearer": ["ingest"]}]
    assert spec["components"]["securitySchemes"]["bearer"]["scheme"] == "bearer"
    assert "Retry-After" in op["responses"]["503"]["headers"]
    assert spec["paths"]["/metrics"]["get"]["security"] == [{"bearer": ["metrics"]}]


# --- the documentation ------------------------------------------------------------------------

DOC = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"


def test_docs_name_every_status_type_and_format(client: httpx.Client) -> None:
    text = DOC.read_text(encoding="utf-8")
    op = client.get("/api/v1/openapi.json").json()["paths"]["/api/v1/events"]["post"]
    for status in op["responses"]:
        assert f"`{status}`" in text, status
    for media in op["requestBody"]["content"]:
        assert f"`{media}`" in text, media
    for fmt in ("zeek", "suricata", "vpcflow"):
        assert f"format={fmt}" in text, fmt
    for path in ("/api/v1/events", "/api/v1/health", "/metrics", "/api/v1/openapi.json"):
        assert f"`{path}`" in text or f"{path}`" in text, path


def test_no_delayed_ack_stall(live: Live) -> None:
    # Regression: the listening socket of `mamori up` has proto 0, so asyncio left Nagle's
    # algorithm on and every answer's body waited ~40 ms for the client's delayed ACK.
    context = ssl.create_default_context(cafile=str(live.cafile))
    body = b'{"a": 1}\n' * 50
    head = (
        b"POST /api/v1/events HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        b"Authorization: Bearer " + INGEST.encode() + b"\r\n"
        b"Content-Type: application/x-ndjson\r\nContent-Length: "
        + str(len(body)).encode()
        + b"\r\n\r\n"
    )
    took = []
    with socket.create_connection(("127.0.0.1", live.port), timeout=10) as raw:
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with context.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
            for _ in range(15):
                started = time.perf_counter()
                tls.sendall(head + body)
                answer = b""
                while not answer.endswith(b"}"):
                    answer += tls.recv(65536)
                took.append(time.perf_counter() - started)
                assert answer.startswith(b"HTTP/1.1 200")
    assert sorted(took)[len(took) // 2] < 0.035, took


def test_a_stalled_body_is_answered_408(live: Live, monkeypatch: pytest.MonkeyPatch) -> None:
    """Regression: uvicorn has no body timeout, so a sender stalling mid-body held its
    connection (and a handler) forever."""
    import mamori.web.app as web_app

    monkeypatch.setattr(web_app, "BODY_TIMEOUT_S", 0.5)
    ctx = ssl.create_default_context(cafile=str(live.cafile))
    with (
        socket.create_connection(("127.0.0.1", live.port)) as raw,
        ctx.wrap_socket(raw, server_hostname="localhost") as s,
    ):
        s.sendall(
            b"POST /api/v1/events HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer "
            + INGEST.encode()
            + b'\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n[{"a":'
        )
        s.settimeout(10)
        answer = b""
        while chunk := s.recv(4096):  # the server closes after answering
            answer += chunk
    assert answer.startswith(b"HTTP/1.1 408"), answer[:200]
    assert b"did not arrive within" in answer
    assert live.sink.docs() == []
