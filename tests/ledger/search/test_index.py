"""Tests for mamori.ledger.search.index: indexing a real ledger database and searching it."""

from __future__ import annotations

import random
import re
import stat
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mamori.ledger.errors import LedgerError
from mamori.ledger.search import Hit, QueryError, SearchIndex, search
from mamori.ledger.search import fields as F
from mamori.ledger.search import index as I
from mamori.ledger.search.query import FieldIs, IpIn, Node, Not, Words, combine, parse
from tests.ledger.search.conftest import T0, Ledger, ecs

SEC = 1_000_000


def ids(hits: list[Hit]) -> list[int]:
    return [h.index for h in hits]


def find(index: SearchIndex, ledger: Ledger, query: str, **kw: Any) -> list[int]:
    kw.setdefault("limit", 1000)
    with ledger.reader() as reader:
        return ids(search(index, reader, query, **kw))


def snapshot(index: SearchIndex) -> dict[str, list[tuple[Any, ...]]]:
    """Everything the index holds, in a comparable form."""
    out = {
        "doc": index.conn.execute("SELECT idx, time FROM search_doc ORDER BY idx").fetchall(),
        "ip": index.conn.execute("SELECT ip, role, idx FROM search_ip ORDER BY 1, 2, 3").fetchall(),
        "forgotten": index.conn.execute("SELECT * FROM search_forgotten ORDER BY 1").fetchall(),
    }
    if not I.CONTENTLESS_DELETE:
        out["fts"] = index.conn.execute(
            "SELECT rowid, t, k FROM search_fts ORDER BY rowid"
        ).fetchall()
    # FTS5 checks its own index against its content (or, contentless, its internal structure)
    index.conn.execute("INSERT INTO search_fts(search_fts) VALUES ('integrity-check')")
    return out


SAMPLE = [
    ecs("Invalid user webmaster from 173.234.31.186", user="webmaster", outcome="failure",
        action="login", src="173.234.31.186", severity="warning"),
    ecs("Accepted password for alice from 10.1.2.3 port 22", user="alice", outcome="success",
        action="login", src="10.1.2.3", dst="10.0.0.5"),
    ecs("ユーザー 田中 のログインに失敗しました", user="田中", outcome="failure", host="db-01",
        app="auth", severity="err"),
    ecs("ディスク使用率が 91% を超えました", host="db-01", app="monitor", severity="crit"),
    ecs("session opened for user root by (uid=0)", user="root", app="cron", dst="192.0.2.9"),
    ecs("PacketResponder 1 for block blk_38865049064139660 terminating", app="hdfs",
        host="data-07") | {"event": {"code": "4625"}},
    ecs("connection from 2001:db8::7 refused", src="2001:db8::7", severity="ERROR"),
    ecs("Failed password for invalid user admin from 10.9.8.7", user="admin",
        outcome="failure", src="10.9.8.7"),
]  # fmt: skip


@pytest.fixture
def filled(ledger: Ledger, index: SearchIndex) -> tuple[Ledger, SearchIndex]:
    ledger.append(SAMPLE)
    return ledger, index


# ---------------------------------------------------------------------------- searching


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("invalid", [7, 0]),
        ("INVALID user", [7, 0]),
        ('"invalid user admin"', [7]),
        ('"user admin invalid"', []),
        ("Packet*", [5]),
        ("Packet", []),  # words match whole words; Packet* for a prefix
        ("blk_38865049064139660", [5]),
        ("失敗", [2]),
        ("ログイン", [2]),
        ("失", [2]),
        ("田中 失敗", [2]),
        ('"ログインに失敗"', [2]),
        ("使用率", [3]),
        ("failed OR invalid", [7, 0]),
        ("password -alice", [7]),
        ("-invalid -password", [6, 5, 4, 3, 2]),
        ("host:db-01", [3, 2]),
        ("host:DB-01", [3, 2]),
        ("user:alice", [1]),
        ("user:田中", [2]),
        ("app:sshd outcome:failure", [7, 0]),
        ("action:login", [1, 0]),
        ("severity:err", [6, 2]),  # "ERROR" and "err"
        ("severity:error", [6, 2]),
        ("severity:crit OR severity:warning", [3, 0]),
        ("event.code:4625", [5]),
        ("host.name:data-07", [5]),
        ("host.name:DATA-07", []),  # dotted fields are exact
        ("ip:10.0.0.0/8", [7, 1]),
        ("src:10.1.2.3", [1]),
        ("dst:10.0.0.0/8", [1]),
        ("ip:192.0.2.0/24", [4]),
        ("src:192.0.2.0/24", []),
        ("ip:2001:db8::/32", [6]),
        ("ip:10.0.0.0/8 OR user:root", [7, 4, 1]),
        ("-ip:0.0.0.0/0 failure", [2]),  # failures with no IPv4 address
        ("173.234.31.186", [0]),
        ("data-07 terminating", [5]),  # host names are text too
    ],
)
def test_search(filled: tuple[Ledger, SearchIndex], query: str, expected: list[int]) -> None:
    ledger, index = filled
    assert find(index, ledger, query) == expected


def test_hits_carry_the_event_and_the_exact_entry(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    with ledger.reader() as reader:
        [hit] = search(index, reader, "webmaster", limit=10)
        assert hit.index == 0
        assert hit.received_us == T0
        assert hit.event == SAMPLE[0]
        assert reader.entry(0) == (T0, hit.entry)


def test_newest_first_and_limit(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs(f"event number {i}") for i in range(30)])
    assert find(index, ledger, "event", limit=5) == [29, 28, 27, 26, 25]
    assert find(index, ledger, "", limit=3) == [29, 28, 27]
    assert find(index, ledger, "-number", limit=3) == []
    assert len(find(index, ledger, "event")) == 30


def test_field_options_are_field_filters(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    assert find(index, ledger, "", fields={"host": "db-01"}) == [3, 2]
    assert find(index, ledger, "失敗", fields={"host": "db-01"}) == [2]
    assert find(index, ledger, "", fields={"ip": "10.0.0.0/8", "user": "admin"}) == [7]
    with pytest.raises(QueryError, match="unknown field"):
        find(index, ledger, "", fields={"nope": "x"})


def test_time_range_uses_the_event_time_or_the_received_time(
    ledger: Ledger, index: SearchIndex
) -> None:
    # received at T0, T0+1s, …; event 1 claims to be an hour old, event 3 has no @timestamp
    events = [
        ecs("a", ts=T0),
        ecs("a", ts=T0 - 3600 * SEC),
        ecs("a", ts=T0 + 2 * SEC),
        ecs("a"),
    ]
    ledger.append(events)
    assert find(index, ledger, "a", since_us=T0) == [3, 2, 0]
    assert find(index, ledger, "a", since_us=T0, until_us=T0 + 2 * SEC) == [0]  # until excluded
    assert find(index, ledger, "a", until_us=T0) == [1]
    assert find(index, ledger, "a", since_us=T0 + 3 * SEC) == [3]  # received time
    assert find(index, ledger, "", since_us=T0 - 3600 * SEC, until_us=T0 - 3599 * SEC) == [1]


def test_bad_limits_and_times_are_query_errors(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    for kw in ({"limit": 0}, {"limit": I.MAX_LIMIT + 1}, {"since_us": 2**63 - 1}):
        with pytest.raises(QueryError):
            find(index, ledger, "a", **kw)
    with pytest.raises(QueryError, match="column 3"):
        find(index, ledger, 'a "b')


# ---------------------------------------------------------------------------- indexing


def test_only_acknowledged_entries_are_indexed(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs("first")])
    ledger.append([ecs("second")], checkpoint=False)
    assert find(index, ledger, "first OR second") == [0]
    assert index.indexed_size() == 1
    ledger.checkpoint()
    assert find(index, ledger, "first OR second") == [1, 0]


def test_catch_up_counts_and_is_idempotent(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs(f"m{i}") for i in range(10)])
    with ledger.reader() as reader:
        assert index.catch_up(reader, batch=3) == 10
        assert index.catch_up(reader, batch=3) == 0
        ledger.append([ecs("more")])
        assert index.catch_up(reader) == 1
    assert index.indexed_size() == 11
    with pytest.raises(LedgerError, match="batch"):
        index.catch_up(ledger.reader(), batch=0)


def test_catch_up_resumes_after_a_crash(
    ledger: Ledger, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ledger.append([ecs(f"word{i % 3} n{i}", src=f"10.0.0.{i}") for i in range(20)])
    real = F.extract
    calls = {"n": 0}

    def crashing(event: Any, received_us: int) -> F.Extracted:
        calls["n"] += 1
        if calls["n"] == 12:
            raise KeyboardInterrupt  # the process dies in the middle of the third batch
        return real(event, received_us)

    with ledger.reader() as reader, SearchIndex.open(tmp_path / "a") as a:
        monkeypatch.setattr(F, "extract", crashing)
        with pytest.raises(KeyboardInterrupt):
            a.catch_up(reader, batch=5)
        monkeypatch.setattr(F, "extract", real)
        assert a.indexed_size() == 10  # two whole batches kept, the third rolled back
        assert a.catch_up(reader, batch=5) == 10
        with SearchIndex.open(tmp_path / "b") as b:
            b.catch_up(reader)
            assert snapshot(a) == snapshot(b)
            for q in ("word1", "ip:10.0.0.0/28", "n19", ""):
                assert search(a, reader, q, limit=50) == search(b, reader, q, limit=50)


def test_rebuild_gives_the_same_index(ledger: Ledger, index: SearchIndex) -> None:
    with ledger.reader() as reader:
        for chunk in range(4):  # indexed a little at a time, as searches come
            ledger.append([ecs(f"chunk{chunk} item{i}", src=f"10.{chunk}.0.{i}") for i in range(7)])
            index.catch_up(reader, batch=4)
        ledger.prune(0, 2)
        index.forget(reader, 0, 2)
        before = snapshot(index)
        results = [search(index, reader, q, limit=100) for q in ("chunk2", "item3", "")]
        assert index.rebuild(reader) == ledger.size
        assert snapshot(index) == before
        assert [search(index, reader, q, limit=100) for q in ("chunk2", "item3", "")] == results


def test_parallel_catch_up_matches_sequential(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append([ecs(f"p{i} 並列 {i % 7}", src=f"10.0.{i % 5}.{i}") for i in range(60)])
    with ledger.reader() as reader:
        with SearchIndex.open(tmp_path / "par") as par:
            assert par.catch_up(reader, batch=7, workers=1) == 60
            got = snapshot(par)
        with SearchIndex.open(tmp_path / "seq") as seq:
            assert seq.catch_up(reader, batch=7, workers=0) == 60
            assert snapshot(seq) == got


def test_concurrent_indexers_never_index_twice(ledger: Ledger, tmp_path: Path) -> None:
    ledger.append([ecs(f"c{i}") for i in range(200)])
    errors: list[BaseException] = []

    def work() -> None:
        try:
            with ledger.reader() as reader, SearchIndex.open(tmp_path / "index") as ix:
                ix.catch_up(reader, batch=3)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with SearchIndex.open(tmp_path / "index") as ix:
        assert ix.indexed_size() == 200
        assert ix.conn.execute("SELECT count(*) FROM search_doc").fetchone() == (200,)
        assert len(find(ix, ledger, "")) == 200


# ---------------------------------------------------------------------------- retention


@pytest.mark.parametrize("calls_forget", [True, False])
def test_pruned_entries_are_no_longer_found(
    ledger: Ledger, index: SearchIndex, calls_forget: bool
) -> None:
    ledger.append([ecs(f"secret{i} common", user=f"u{i}", src=f"10.0.0.{i}") for i in range(10)])
    assert len(find(index, ledger, "common")) == 10
    ledger.prune(0, 2)  # retention prunes first, then tells the index (or forgets to)
    if calls_forget:
        with ledger.reader() as reader:
            assert index.forget(reader, 0, 2) == 3
    assert find(index, ledger, "common") == list(range(9, 2, -1))
    for q in ("secret1", "user:u1", "src:10.0.0.1", "ip:10.0.0.0/31"):
        assert find(index, ledger, q) == [], q
    assert index.conn.execute("SELECT count(*) FROM search_doc").fetchone() == (7,)
    assert index.conn.execute("SELECT * FROM search_forgotten").fetchall() == [(0, 2)]
    snapshot(index)  # integrity-check


def test_forgetting_most_of_the_index_rebuilds_it(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs(f"old{i}") for i in range(10)])
    find(index, ledger, "")
    ledger.prune(0, 7)
    with ledger.reader() as reader:
        assert index.forget(reader, 0, 7) == 8
    assert find(index, ledger, "") == [9, 8]
    assert index.conn.execute("SELECT * FROM search_forgotten").fetchall() == [(0, 7)]
    snapshot(index)


def test_bodies_kept_inside_a_pruned_range_stay_findable(
    ledger: Ledger, index: SearchIndex
) -> None:
    ledger.append([ecs("ordinary"), ecs("ledger.pruned notice"), ecs("ordinary"), ecs("x")])
    find(index, ledger, "")
    ledger.prune(0, 2, keep=[1])  # earlier ledger.pruned events keep their bodies
    with ledger.reader() as reader:
        assert index.forget(reader, 0, 2) == 2
    assert find(index, ledger, "") == [3, 1]
    assert find(index, ledger, "notice") == [1]


def test_forget_before_pruning_is_harmless(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs(f"e{i}") for i in range(6)])
    find(index, ledger, "")
    with ledger.reader() as reader:
        assert index.forget(reader, 0, 1) == 0  # nothing pruned yet: nothing to remove
    assert len(find(index, ledger, "")) == 6
    ledger.prune(0, 1)
    assert find(index, ledger, "") == [5, 4, 3, 2]  # the next search catches up


def test_entries_pruned_before_indexing_are_skipped(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs(f"e{i}") for i in range(5)])
    ledger.prune(1, 2)
    assert find(index, ledger, "") == [4, 3, 0]


def test_forget_rejects_empty_ranges(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    with ledger.reader() as reader, pytest.raises(LedgerError, match="empty or negative"):
        index.forget(reader, 3, 2)


# ---------------------------------------------------------------------------- the index file


def test_another_ledger_starts_the_index_over(tmp_path: Path, index: SearchIndex) -> None:
    one = Ledger(tmp_path / "one.db", origin="one.example/mamori/1")
    one.append([ecs("from one"), ecs("from one")])
    two = Ledger(tmp_path / "two.db", origin="two.example/mamori/2")
    two.append([ecs("from two")])
    assert find(index, one, "from") == [1, 0]
    assert find(index, two, "from") == [0]
    assert find(index, two, "one") == []
    # a shorter ledger with the same origin (restored from an old backup) also starts over
    three = Ledger(tmp_path / "three.db", origin="two.example/mamori/2")
    three.append([ecs("three")])
    two.append([ecs("two again")])
    assert find(index, two, "") == [1, 0]
    assert find(index, three, "") == [0]
    assert find(index, three, "again") == []
    for led in (one, two, three):
        led.close()


def test_an_index_from_another_analyzer_is_rebuilt(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    assert find(index, ledger, "webmaster") == [0]
    index.conn.execute("UPDATE search_meta SET value = 'old' WHERE key = 'analyzer'")
    index.close()
    with SearchIndex.open(index.path.parent) as again:
        assert again.indexed_size() == 0
        assert find(again, ledger, "webmaster") == [0]


def test_index_file_is_private(index: SearchIndex) -> None:
    assert stat.S_IMODE(index.path.stat().st_mode) == 0o600
    assert stat.S_IMODE(index.path.parent.stat().st_mode) == 0o700


def test_a_damaged_index_says_to_reindex(tmp_path: Path) -> None:
    (tmp_path / "index").mkdir()
    (tmp_path / "index" / "search.db").write_bytes(b"garbage" * 1000)
    with pytest.raises(LedgerError) as info:
        SearchIndex.open(tmp_path / "index")
    assert "damaged" in info.value.message
    assert info.value.hint is not None and "reindex" in info.value.hint


def test_an_entry_that_is_not_json_is_reported(ledger: Ledger, index: SearchIndex) -> None:
    ledger.append([ecs("fine")])
    ledger.conn.execute("INSERT INTO events(idx, received, body) VALUES (1, 0, x'7b7b')")
    ledger.size = 2
    ledger.checkpoint()
    with pytest.raises(LedgerError, match=r"entry 1 .* cannot be indexed") as info:
        find(index, ledger, "fine")
    assert info.value.hint is not None and "verify" in info.value.hint


def test_sqlite_errors_become_ledger_errors(filled: tuple[Ledger, SearchIndex]) -> None:
    ledger, index = filled
    index.conn.execute("DROP TABLE search_doc")
    with pytest.raises(LedgerError, match=r"search\.db"):
        find(index, ledger, "")


# ---------------------------------------------------------------------------- differential
#
# A reference evaluator over the same extracted values, in plain Python, must agree with
# every plan SQLite runs (FTS5-driven or not, sets collected or probed).

_TOKEN = re.compile(r"[^\W_]+")
WORDS = ["alpha", "beta", "gamma", "delta", "error", "login", "sshd", "root", "port", "22"]
JA = ["ログイン", "失敗", "認証", "エラー", "接続", "ユーザー", "です"]
HOSTS = ["web-01", "web-02", "db-01"]
USERS = ["alice", "bob", "田中"]


def _ref_words(analysed: str) -> list[str]:
    return [t.lower() for t in _TOKEN.findall(analysed)]


def _ref_match(node: Node, ex: F.Extracted) -> bool:
    if isinstance(node, Words):
        query, single = F.query_tokens(node.text)
        q = _ref_words(query)
        d = _ref_words(ex.text)
        prefix = node.prefix or single
        for i in range(len(d) - len(q) + 1):
            if d[i : i + len(q) - 1] == q[:-1]:
                last = d[i + len(q) - 1]
                if last.startswith(q[-1]) if prefix else last == q[-1]:
                    return True
        return False
    if isinstance(node, FieldIs):
        return F.field_token(node.kind, node.value) in ex.tokens.split()
    if isinstance(node, IpIn):
        return any(node.low <= key <= node.high and node.role in (0, role) for role, key in ex.ips)
    if isinstance(node, Not):
        return not _ref_match(node.child, ex)
    children = [_ref_match(c, ex) for c in node.children]
    return all(children) if type(node).__name__ == "And" else any(children)


def _random_event(rng: random.Random) -> dict[str, Any]:
    words = [*rng.sample(WORDS, 3), rng.choice(JA) + rng.choice(JA)]
    rng.shuffle(words)
    event = ecs(
        " ".join(words),
        host=rng.choice(HOSTS),
        user=rng.choice([*USERS, None]),
        outcome=rng.choice(["success", "failure", None]),
        severity=rng.choice(["info", "ERROR", "warn"]),
        src=rng.choice([f"10.0.{rng.randrange(4)}.{rng.randrange(256)}", "192.0.2.1", None]),
        dst=rng.choice(["2001:db8::1", f"10.1.0.{rng.randrange(9)}", None]),
    )
    if rng.random() < 0.7:
        event["@timestamp"] = f"2024-05-01T00:{rng.randrange(60):02d}:00Z"
    if rng.random() < 0.3:
        event["event.code"] = rng.choice([4624, 4625])
    return event


class Corpus:
    """120 random events in a ledger, their index, and what the index extracted from each."""

    def __init__(self, root: Path) -> None:
        rng = random.Random(7)
        events = [_random_event(rng) for _ in range(120)]
        self.ledger = Ledger(root / "ledger.db")
        self.ledger.append(events, start_us=T0, step_us=30 * SEC)
        self.extracted = [F.extract(e, T0 + i * 30 * SEC) for i, e in enumerate(events)]
        self.index = SearchIndex.open(root / "index")

    def __repr__(self) -> str:
        return "Corpus(120 events)"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Corpus]:
    c = Corpus(tmp_path_factory.mktemp("corpus"))
    yield c
    c.index.close()
    c.ledger.close()


ATOMS = st.one_of(
    st.sampled_from(WORDS),
    st.sampled_from(WORDS).map(lambda w: w[: max(1, len(w) - 2)] + "*"),
    st.sampled_from(JA),
    st.sampled_from(JA).map(lambda w: w[:1]),  # one CJK character
    st.sampled_from(JA).map(lambda w: w[1:3]),
    st.tuples(st.sampled_from(WORDS), st.sampled_from(WORDS)).map(lambda p: f'"{p[0]} {p[1]}"'),
    st.sampled_from(HOSTS).map(lambda h: f"host:{h}"),
    st.sampled_from(USERS).map(lambda u: f"user:{u}"),
    st.sampled_from(["outcome:failure", "severity:err", "severity:warning", "event.code:4625"]),
    st.sampled_from(["ip:10.0.0.0/8", "src:10.0.1.0/24", "dst:2001:db8::/32", "ip:192.0.2.1"]),
)
QUERIES = st.recursive(
    ATOMS,
    lambda inner: st.one_of(
        st.tuples(inner, inner).map(lambda p: f"{p[0]} {p[1]}"),
        st.tuples(inner, inner).map(lambda p: f"{p[0]} OR {p[1]}"),
        inner.map(lambda q: f"-({q})"),
        inner.map(lambda q: f"({q})"),
    ),
    max_leaves=6,
)


# Shapes that mix FTS5 and SQL under OR and NOT, where a wrong plan once went unnoticed.
TRICKY = [
    "alpha (beta OR ip:10.0.0.0/8)",
    "alpha (beta OR -gamma)",
    "alpha -(beta OR ip:10.0.0.0/8)",
    "alpha -(beta OR -gamma)",
    "(alpha OR ip:192.0.2.1) (beta OR user:alice)",
    "-(alpha ip:10.0.0.0/8) -delta",
    "host:web-01 (失敗 OR src:10.0.1.0/24) -root",
    "ip:10.0.0.0/8 -ip:10.0.1.0/24 -(error OR login)",
    "-ip:10.0.0.0/8 -dst:2001:db8::/32",
    "(ログ OR 認証) -(失 OR dst:10.1.0.0/24)",
    '"alpha beta" OR (gamma -delta) OR event.code:4625',
]


@pytest.mark.parametrize("query", TRICKY)
@pytest.mark.parametrize("narrow", [1, 5, 100_000])
@pytest.mark.parametrize("window", [(None, None), (10, 20), (0, 61)])
def test_tricky_queries_agree_with_the_reference(
    corpus: Corpus, query: str, narrow: int, window: tuple[int | None, int | None]
) -> None:
    check_against_reference(corpus, query, narrow, window[0], window[1], 500)


@settings(max_examples=500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    QUERIES,
    st.sampled_from([1, 5, 100_000]),  # NARROW: every lookup probed / mixed / collected
    st.one_of(st.none(), st.integers(0, 60)),
    st.one_of(st.none(), st.integers(0, 60)),
    st.sampled_from([1, 7, 500]),
)
def test_search_agrees_with_a_reference_evaluator(
    corpus: Corpus,
    query: str,
    narrow: int,
    since_min: int | None,
    until_min: int | None,
    limit: int,
) -> None:
    check_against_reference(corpus, query, narrow, since_min, until_min, limit)


def check_against_reference(
    corpus: Corpus,
    query: str,
    narrow: int,
    since_min: int | None,
    until_min: int | None,
    limit: int,
) -> None:
    ledger, index, extracted = corpus.ledger, corpus.index, corpus.extracted
    since = None if since_min is None else T0 + since_min * 60 * SEC
    until = None if until_min is None else T0 + until_min * 60 * SEC
    node = combine([parse(query)])
    expected = [
        i
        for i in range(len(extracted) - 1, -1, -1)
        if (node is None or _ref_match(node, extracted[i]))
        and (since is None or extracted[i].time_us >= since)
        and (until is None or extracted[i].time_us < until)
    ][:limit]
    old = I.NARROW
    I.NARROW = narrow
    try:
        with ledger.reader() as reader:
            got = ids(search(index, reader, query, since_us=since, until_us=until, limit=limit))
    finally:
        I.NARROW = old
    assert got == expected, (query, narrow, since, until, limit)
