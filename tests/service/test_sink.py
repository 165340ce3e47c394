"""The ledger sink: group commit, storage failure → spool → replay, policies, marks.

Storage failure is injected by making the sequencer's commit fail (root ignores file modes,
so a read-only file cannot be used here); the real full-disk case is in test_full_disk.py.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from mamori.home import Home
from mamori.ledger.errors import LedgerError
from mamori.ledger.spool import Spool
from mamori.ledger.writer import Sequencer
from mamori.service.errors import SinkRejected
from mamori.service.log import Log
from mamori.service.metrics import Metrics
from mamori.service.sink import SPOOL_HWM, LedgerSink
from tests.service.svc import events


def ev(i: int) -> bytes:
    return orjson.dumps({"message": f"event {i}", "n": i}, option=orjson.OPT_SORT_KEYS)


class Breaker:
    """Makes every Sequencer.commit fail while `broken` is true."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.broken = False
        real = Sequencer.commit
        breaker = self

        def commit(seq: Sequencer, evs: Any, **kw: Any) -> Any:
            if breaker.broken:
                raise LedgerError("database or disk is full (injected)")
            return real(seq, evs, **kw)

        monkeypatch.setattr(Sequencer, "commit", commit)


@pytest.fixture
def breaker(monkeypatch: pytest.MonkeyPatch) -> Iterator[Breaker]:
    yield Breaker(monkeypatch)


def _sink(home: Home, **cfg: str) -> tuple[LedgerSink, io.StringIO]:
    if cfg:
        text = home.config_path.read_text()
        for key, value in cfg.items():
            text = text.replace(key, value)
        home.config_path.write_text(text)
    log = io.StringIO()
    sink = LedgerSink(home, metrics=Metrics(), log=Log(log))
    sink.open()
    return sink, log


def messages(home: Home) -> list[str]:
    return [str(e.get("message")) for e in events(home) if "message" in e]


def test_acks_carry_ledger_indices_in_order(home: Home) -> None:
    async def main() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        acks = await asyncio.gather(
            *(sink.submit([ev(i), ev(i + 1000)], receiver="t") for i in range(50))
        )
        await sink.close()
        firsts = sorted(a.first for a in acks if a.first is not None)
        assert firsts == list(range(0, 100, 2))
        assert not any(a.spooled for a in acks)

    asyncio.run(main())
    assert len(messages(home)) == 100


def test_storage_failure_spools_then_replays_in_order_exactly_once(
    home: Home, breaker: Breaker
) -> None:
    async def main() -> None:
        sink, log = _sink(home)
        sink.start(asyncio.get_running_loop())
        a = await sink.submit([ev(0)], receiver="t")
        assert a.first is not None and not a.spooled
        breaker.broken = True
        b = await sink.submit([ev(1), ev(2)], receiver="t", marks={"tail:/x": "pos-2"})
        assert b.spooled and b.first is None
        assert sink.spooling
        assert sink.position("tail:/x") == "pos-2"
        c = await sink.submit([ev(3)], receiver="t")
        assert c.spooled
        assert sink.metrics.spooling._value.get() == 1
        breaker.broken = False
        for _ in range(100):
            if not sink.spooling:
                break
            await asyncio.sleep(0.05)
        assert not sink.spooling
        d = await sink.submit([ev(4)], receiver="t")
        assert d.first is not None
        await sink.close()
        assert "ledger storage unavailable" in log.getvalue()

    asyncio.run(main())
    assert messages(home) == [f"event {i}" for i in range(5)]
    acts = [
        e["event"]["action"] for e in events(home) if "event" in e and isinstance(e["event"], dict)
    ]
    assert acts.index("ledger.store_unavailable") < acts.index("ledger.store_recovered")
    with Sequencer(home) as seq:
        assert seq.meta("mark:tail:/x") == "pos-2"


def test_replay_skips_records_a_dead_run_already_stored(home: Home, breaker: Breaker) -> None:
    """Regression: a crash between the ledger commit of a replayed batch and the spool's cursor
    commit must not store that batch twice (the ledger's meta keeps the replayed sequence)."""

    async def spool_some() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        breaker.broken = True
        for i in range(3):
            assert (await sink.submit([ev(i)], receiver="t")).spooled
        # stop while still broken: the records stay in the spool
        await sink.close()

    asyncio.run(spool_some())
    breaker.broken = False
    # Simulate the dead run: replay into the ledger by hand, but leave the spool's cursor.
    spool = Spool(home.root / "spool", max_bytes=1 << 30)
    with Sequencer(home) as seq:
        for pos, records in spool.pending():
            seq.commit(records)
            seq.set_meta([(SPOOL_HWM, str(pos.last))])
    spool.close()
    before = messages(home)
    assert before == ["event 0", "event 1", "event 2"]

    async def reopen() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        await sink.close()

    asyncio.run(reopen())
    assert messages(home) == before


def test_spool_full_under_reject_refuses_and_recovers(home: Home, breaker: Breaker) -> None:
    async def main() -> None:
        sink, _ = _sink(
            home,
            **{
                "max_bytes = 1073741824": "max_bytes = 1048576",
                'policy = "block"': 'policy = "reject"',
            },
        )
        sink.start(asyncio.get_running_loop())
        breaker.broken = True
        big = [orjson.dumps({"message": "x" * 60_000, "n": i}) for i in range(10)]
        with pytest.raises(SinkRejected, match="spool is full"):
            for _ in range(10):
                await sink.submit(big, receiver="t")
        assert not sink.accepting
        with pytest.raises(SinkRejected):
            await sink.submit([ev(1)], receiver="t")
        breaker.broken = False
        for _ in range(100):
            if sink.accepting and not sink.spooling:
                break
            await asyncio.sleep(0.05)
        assert sink.accepting
        assert (await sink.submit([ev(2)], receiver="t")).first is not None
        await sink.close()

    asyncio.run(main())


def test_spool_full_under_block_waits_until_storage_returns(home: Home, breaker: Breaker) -> None:
    async def main() -> None:
        sink, _ = _sink(home, **{"max_bytes = 1073741824": "max_bytes = 1048576"})
        sink.start(asyncio.get_running_loop())
        breaker.broken = True
        big = [orjson.dumps({"message": "y" * 60_000, "n": i}) for i in range(10)]
        pending = asyncio.gather(*(sink.submit(big, receiver="t") for _ in range(4)))
        await asyncio.sleep(1.5)
        assert not pending.done(), "a full spool under block must hold the senders"
        breaker.broken = False
        acks = await asyncio.wait_for(pending, 30)
        acked = sum(a.count for a in acks)
        assert acked == 40
        await sink.close()

    asyncio.run(main())
    assert sum(1 for m in messages(home) if m.startswith("yyyy")) == 40


def test_outbox_events_are_drained_once(home: Home) -> None:
    from mamori import audit

    audit.record(home, "token.created", fields={"name": "t1"})
    audit.record(home, "device.added", fields={"name": "d1"})

    async def main() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        await asyncio.sleep(1.5)
        await sink.close()

    asyncio.run(main())
    asyncio.run(main())
    acts = [e["event"]["action"] for e in events(home)]
    assert acts.count("token.created") == 1 and acts.count("device.added") == 1


def test_udp_drops_become_one_loss_event(home: Home) -> None:
    async def main() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        for _ in range(5):
            sink.note_drop("syslog-udp", "192.0.2.1")
        sink.note_drop("syslog-udp", "192.0.2.2")
        await asyncio.sleep(1.5)
        await sink.close()

    asyncio.run(main())
    loss = [e for e in events(home) if e["event"]["action"] == "ingest.loss"]
    assert len(loss) == 1
    audit = loss[0]["mamori"]["audit"]
    assert audit["dropped"] == 6
    assert audit["sources"][0] == {"address": "192.0.2.1", "dropped": 5}


def test_closing_refuses_new_batches(home: Home) -> None:
    async def main() -> None:
        sink, _ = _sink(home)
        sink.start(asyncio.get_running_loop())
        await sink.close()
        with pytest.raises(SinkRejected, match="stopping"):
            await sink.submit([ev(1)], receiver="t")

    asyncio.run(main())


def test_missing_database_is_not_silently_recreated(home: Home) -> None:
    home.ledger_db.rename(home.ledger_db.with_suffix(".moved"))
    with pytest.raises(LedgerError, match="missing"):
        _sink(home)
    assert not home.ledger_db.exists()


def _unused(_: Path) -> None:
    pass
