"""Issue 3: every ingest parser fed 1,000,000 inputs without raising (slow; ./scripts/test --slow).

Inputs are mutations of real-shaped lines (bit flips, truncations, splices, random bytes), which
reach far deeper into the parsers than uniform random bytes would.
"""

from __future__ import annotations

import random
from datetime import UTC, datetime

import pytest

from mamori.config import TAIL_FORMATS
from mamori.ingest.boundary import Rejected, ZeekTSVReader, parse_line
from mamori.ingest.framing import FrameDecoder
from mamori.ingest.normalise import LineNormaliser, Source, syslog_event
from mamori.ingest.syslog import parse, to_ecs

SEEDS = [
    b"<34>1 2003-10-11T22:14:15.003Z mymachine.example.com su - ID47 - \xef\xbb\xbf'su root' failed",
    b'<165>1 2003-10-11T22:14:15.003Z host app 1 ID [exampleSDID@32473 iut="3" eventSource="App"] msg',
    b"<13>Nov 27 09:15:02 web-01 sshd[1234]: Failed password for root from 10.0.0.1 port 22 ssh2",
    b"Nov  7 09:15:02 web-01 kernel: uid=0 rhost=10.1.1.1 user=root",
    b"2 123456789010 eni-1235b8ca123456789 172.31.16.139 172.31.16.21 20641 22 6 20 4249 1418530010 1418530070 ACCEPT OK",
    b'{"timestamp":"2017-04-07T22:24:37.251547+0100","event_type":"alert","src_ip":"10.0.0.1","src_port":1,"dest_ip":"10.0.0.2","dest_port":80,"proto":"TCP","alert":{"signature_id":1,"signature":"x","severity":2}}',
    b'{"ts":1591367999.305988,"uid":"C5bLoe2Mvxqhawzqqd","id.orig_h":"192.168.4.76","id.orig_p":46378,"id.resp_h":"31.3.245.133","id.resp_p":80,"proto":"tcp"}',
    b"1591367999.305988\tC5bLoe2Mvxqhawzqqd\t192.168.4.76\t46378\t31.3.245.133\t80\ttcp\thttp\t0.25\t77\t295\tSF",
    b"<38>Jun 14 15:16:01 h sudo:   alice : TTY=pts/0 ; PWD=/home/a ; USER=root ; COMMAND=/bin/id",
    b"<38>Jun 14 15:16:01 h sshd[1]: pam_unix(sshd:auth): authentication failure; logname= uid=0 rhost=10.0.0.1  user=root",
    b"<38>Jun 14 15:16:01 h su: FAILED SU (to root) alice on pts/0",
    b'<38>1 - h app - - - action=allow src=2001:db8::1 spt=1 dst=10.0.0.2 dpt=22 outcome=ok user="a b"',
]


def mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randrange(1, 4)):
        op = rng.randrange(5)
        if op == 0 and b:
            b[rng.randrange(len(b))] ^= 1 << rng.randrange(8)
        elif op == 1 and b:
            del b[rng.randrange(len(b)) :]
        elif op == 2:
            other = rng.choice(SEEDS)
            cut = rng.randrange(len(other) + 1)
            b[rng.randrange(len(b) + 1) :] = other[cut:]
        elif op == 3:
            b[rng.randrange(len(b) + 1) : 0] = rng.randbytes(rng.randrange(1, 16))
        else:
            b = bytearray(rng.randbytes(rng.randrange(0, 200)))
    return bytes(b)


@pytest.mark.slow
def test_one_million_mutated_inputs_never_raise() -> None:
    rng = random.Random(20261127)
    decoder = FrameDecoder(max_frame=4096)
    zeek = ZeekTSVReader()
    zeek.feed_line(b"#separator \\x09")
    zeek.feed_line(b"#path\tconn")
    zeek.feed_line(
        b"#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration\torig_bytes\tresp_bytes\tconn_state"
    )
    outcomes = {"parsed": 0, "rejected": 0, "none": 0}
    received = datetime(2024, 6, 20, 12, tzinfo=UTC)
    source = Source("syslog-tcp", "192.0.2.1:5140", "dev")
    tails = [LineNormaliser(fmt, Source("tail", "/var/log/f"), UTC) for fmt in TAIL_FORMATS]
    for i in range(1_000_000):
        data = mutate(rng, rng.choice(SEEDS))
        to_ecs(parse(data))
        syslog_event(data, source, received, UTC, truncated_from=i if i % 7 == 0 else None)
        tails[i % len(tails)].event(data, received, truncated_from=i if i % 11 == 0 else None)
        decoder.feed(data)
        for result in (parse_line(data), zeek.feed_line(data)):
            if result is None:
                outcomes["none"] += 1
            elif isinstance(result, Rejected):
                outcomes["rejected"] += 1
            else:
                outcomes["parsed"] += 1
    decoder.finish()
    # The mutations must exercise both the accepting and the rejecting paths.
    assert outcomes["parsed"] > 10_000 and outcomes["rejected"] > 10_000, outcomes
