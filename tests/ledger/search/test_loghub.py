"""Search over real logs: the loghub 2k samples (../shared/data/logs), checked against counts.

Each structured line becomes an ECS event (message = Content, app = Component, log.level =
Level, host = the system, source.ip = the first IPv4 address in the message). Results from the
index must equal those computed directly from the values with unicode61's word rules.
"""

from __future__ import annotations

import csv
import random
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori.ledger.canonical import canonical
from mamori.ledger.search import SearchIndex, search
from mamori.ledger.search import fields as F
from tests.ledger.search.conftest import LOGS, Ledger

pytestmark = pytest.mark.skipif(
    not any(LOGS.glob("*/*_2k.log_structured.csv")),
    reason=f"the loghub samples are not at {LOGS} (../shared/data/logs next to the repository)",
)

_TOKEN = re.compile(r"[^\W_]+")
_IPV4 = re.compile(r"(?<![\d.])(\d{1,3}(?:\.\d{1,3}){3})(?![\d.])")


def words(text: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(text)]


def load() -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for path in sorted(LOGS.glob("*/*_2k.log_structured.csv")):
        system = path.parent.name
        with path.open(encoding="utf-8", newline="") as f:
            for row in csv.DictReader(f):
                event: dict[str, Any] = {"message": row["Content"], "host": {"name": system}}
                if row.get("Component"):
                    event["process.name"] = row["Component"]
                if row.get("Level"):
                    event["log"] = {"level": row["Level"]}
                m = _IPV4.search(row["Content"])
                if m and F.ip_key(m.group(1)) is not None:
                    event["source"] = {"ip": m.group(1)}
                events.append(event)
    return events


class Loghub:
    def __init__(self, root: Path) -> None:
        self.events = load()
        self.ledger = Ledger(root / "ledger.db")
        self.ledger.append(self.events)
        self.index = SearchIndex.open(root / "index")
        # every string value is searchable text: the message, then the others in the order
        # the ledger stores them (canonical JSON sorts the keys)
        self.words = []
        for e in self.events:
            stored = orjson.loads(canonical(e))
            others = [v for p, v in F.leaves(stored) if isinstance(v, str) and p != "message"]
            self.words.append(words("\n".join(dict.fromkeys([e["message"], *others]))))

    def __repr__(self) -> str:
        return f"Loghub({len(self.events)} events)"

    def find(self, query: str) -> list[int]:
        with self.ledger.reader() as reader:
            return [h.index for h in search(self.index, reader, query, limit=100_000)]

    def where(self, pred: Any) -> list[int]:
        return [i for i in range(len(self.events) - 1, -1, -1) if pred(i)]


@pytest.fixture(scope="module")
def hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Loghub]:
    h = Loghub(tmp_path_factory.mktemp("loghub"))
    yield h
    h.index.close()
    h.ledger.close()


def test_every_line_is_indexed(hub: Loghub) -> None:
    assert len(hub.events) >= 12 * 2000 - 12
    assert len(hub.find("")) == len(hub.events)


def test_random_words_match_the_lines_containing_them(hub: Loghub) -> None:
    rng = random.Random(5)
    vocab = sorted({w for ws in hub.words for w in ws})
    for word in rng.sample(vocab, 60):
        assert hub.find(word) == hub.where(lambda i, w=word: w in hub.words[i]), word


def test_random_phrases_and_prefixes(hub: Loghub) -> None:
    rng = random.Random(6)
    for _ in range(30):
        ws = hub.words[rng.randrange(len(hub.words))]
        if len(ws) < 3:
            continue
        k = rng.randrange(len(ws) - 1)
        a, b = ws[k], ws[k + 1]

        def has_pair(i: int, a: str = a, b: str = b) -> bool:
            t = hub.words[i]
            return any(t[j] == a and t[j + 1] == b for j in range(len(t) - 1))

        assert hub.find(f'"{a} {b}"') == hub.where(has_pair), (a, b)
        stem = a[:3]
        if len(stem) == 3:
            got = hub.find(f"{stem}*")
            assert got == hub.where(lambda i, s=stem: any(w.startswith(s) for w in hub.words[i]))


def test_known_sshd_searches(hub: Loghub) -> None:
    invalid = hub.find('"Invalid user"')
    assert len(invalid) > 50
    assert all("invalid user" in hub.events[i]["message"].lower() for i in invalid)
    assert hub.find('"POSSIBLE BREAK-IN ATTEMPT"') == hub.where(
        lambda i: "POSSIBLE BREAK-IN ATTEMPT" in hub.events[i]["message"]
    )


def test_fields_on_real_lines(hub: Loghub) -> None:
    sshd = hub.find('app:"sshd(pam_unix)"')
    assert sshd and sshd == hub.where(
        lambda i: hub.events[i].get("process.name") == "sshd(pam_unix)"
    )
    warn = hub.find("severity:warning")
    assert warn == hub.where(
        lambda i: hub.events[i].get("log", {}).get("level", "").lower() in ("warn", "warning")
    )
    assert hub.find("host:openssh authentication failure") == hub.where(
        lambda i: (
            hub.events[i]["host"]["name"] == "OpenSSH"
            and {"authentication", "failure"} <= set(hub.words[i])
        )
    )


def test_address_ranges_on_real_lines(hub: Loghub) -> None:
    def in_net(i: int, prefix: str) -> bool:
        src = hub.events[i].get("source", {}).get("ip", "")
        return str(src).startswith(prefix)

    got = hub.find("src:173.234.31.0/24")
    assert got and got == hub.where(lambda i: in_net(i, "173.234.31."))
    assert hub.find("ip:10.0.0.0/8") == hub.where(lambda i: in_net(i, "10."))
