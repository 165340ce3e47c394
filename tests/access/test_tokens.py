"""API tokens: shown once, stored hashed, verified in memory, revocations seen within a second."""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import stat
import threading
import time
from pathlib import Path

import pytest

from mamori.access import (
    SCOPES,
    AccessError,
    TokenInfo,
    TokenVerifier,
    add_token,
    list_tokens,
    revoke_token,
)
from mamori.home import Home


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def db_bytes(home: Home) -> bytes:
    return b"".join(p.read_bytes() for p in home.root.glob("access.db*") if p.is_file())


def test_token_is_returned_once_and_only_its_hash_is_stored(home: Home) -> None:
    token = add_token(home, "web-01", "ingest")
    assert token.startswith("mamori_")
    assert len(token) == len("mamori_") + 43  # 32 bytes, URL-safe base64 without padding
    stored = db_bytes(home)
    assert token.encode() not in stored
    assert token.removeprefix("mamori_").encode() not in stored
    assert hashlib.sha256(token.encode()).hexdigest().encode() in stored
    conn = sqlite3.connect(home.access_db)
    (column_names,) = [[row[1] for row in conn.execute("PRAGMA table_info(tokens)")]]
    conn.close()
    assert {"name", "scope", "hash", "created", "revoked_at"} <= set(column_names)


def test_tokens_differ(home: Home) -> None:
    tokens = {add_token(home, f"t{i}", "ingest") for i in range(20)}
    assert len(tokens) == 20


def test_access_db_and_its_wal_are_private(home: Home) -> None:
    verifier = TokenVerifier(home)  # keeps a connection open, so -wal and -shm exist
    add_token(home, "a", "metrics")
    files = list(home.root.glob("access.db*"))
    assert {p.name for p in files} >= {"access.db", "access.db-wal", "access.db-shm"}
    for p in files:
        assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
    conn = sqlite3.connect(home.access_db)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    conn.close()
    verifier.close()


def test_list_shows_names_and_scopes_never_secrets(home: Home) -> None:
    token = add_token(home, "b-sender", "ingest")
    add_token(home, "a-prom", "metrics")
    records = list_tokens(home)
    assert [(r.name, r.scope, r.revoked_at) for r in records] == [
        ("a-prom", "metrics", None),
        ("b-sender", "ingest", None),
    ]
    text = repr(records) + repr([r.as_json() for r in records])
    assert token not in text
    assert hashlib.sha256(token.encode()).hexdigest() not in text
    assert records[0].created.endswith("Z")


def test_verify_checks_token_and_scope(home: Home) -> None:
    ingest = add_token(home, "sender", "ingest")
    metrics = add_token(home, "prom", "metrics")
    v = TokenVerifier(home)
    assert v.verify(ingest, "ingest") == TokenInfo("sender", "ingest")
    assert v.verify(metrics, "metrics") == TokenInfo("prom", "metrics")
    assert v.verify(ingest, "metrics") is None  # wrong scope
    assert v.verify(metrics, "ingest") is None
    assert v.verify(ingest, "admin") is None
    v.close()


@pytest.mark.parametrize(
    "guess",
    [
        "",
        "mamori_",
        "Bearer x",
        "mamori_" + "A" * 43,
        "mamori_" + "x" * 10_000,
        "mamori_\udcff",  # a lone surrogate, as a lenient header decoder might produce
        "mamori_日本語",
        "\x00",
    ],
)
def test_verify_refuses_anything_else(home: Home, guess: str) -> None:
    token = add_token(home, "sender", "ingest")
    v = TokenVerifier(home)
    assert v.verify(guess, "ingest") is None
    assert v.verify(token[:-1], "ingest") is None
    assert v.verify(token + "x", "ingest") is None
    assert v.verify(token.upper(), "ingest") is None
    v.close()


def test_revoked_token_stops_verifying_within_a_second(home: Home) -> None:
    token = add_token(home, "sender", "ingest")
    v = TokenVerifier(home)
    assert v.verify(token, "ingest") is not None
    revoked = revoke_token(home, "sender")
    assert revoked.revoked_at is not None
    start = time.monotonic()
    while v.verify(token, "ingest") is not None:
        assert time.monotonic() - start < 1.5, "the revocation did not reach the verifier"
        time.sleep(0.02)
    assert list_tokens(home)[0].revoked_at == revoked.revoked_at
    v.close()


def test_verifier_reads_the_database_at_most_once_per_interval(home: Home) -> None:
    clock = Clock()
    first = add_token(home, "first", "ingest")
    v = TokenVerifier(home, clock=clock)
    second = add_token(home, "second", "ingest")
    revoke_token(home, "first")
    # Within the interval the verifier answers from memory, as it was.
    clock.now += 0.5
    assert v.verify(first, "ingest") is not None
    assert v.verify(second, "ingest") is None
    clock.now += 0.5
    assert v.verify(first, "ingest") is None
    assert v.verify(second, "ingest") == TokenInfo("second", "ingest")
    v.close()


def test_refresh_reads_changes_at_once(home: Home) -> None:
    v = TokenVerifier(home)
    token = add_token(home, "late", "metrics")
    v.refresh()
    assert v.verify(token, "metrics") is not None
    v.close()


def test_verifier_fails_closed_while_the_database_is_unreadable(home: Home) -> None:
    token = add_token(home, "sender", "ingest")
    v = TokenVerifier(home, interval=0)
    assert v.verify(token, "ingest") is not None
    conn = sqlite3.connect(home.access_db)
    conn.execute("ALTER TABLE tokens RENAME TO tokens_gone")
    conn.commit()
    assert v.verify(token, "ingest") is None
    assert v.error is not None and "access database" in v.error.message
    conn.execute("ALTER TABLE tokens_gone RENAME TO tokens")
    conn.commit()
    conn.close()
    assert v.verify(token, "ingest") is not None
    assert v.error is None
    v.close()


def test_verify_is_cheap_enough_for_an_event_loop(home: Home) -> None:
    token = add_token(home, "sender", "ingest")
    v = TokenVerifier(home)

    async def many() -> int:
        ok = 0
        for _ in range(20_000):
            ok += v.verify(token, "ingest") is not None
        return ok

    start = time.monotonic()
    assert asyncio.run(many()) == 20_000
    assert time.monotonic() - start < 2.0
    v.close()


def test_verify_from_many_threads_while_tokens_change(home: Home) -> None:
    token = add_token(home, "sender", "ingest")
    v = TokenVerifier(home, interval=0)
    errors: list[BaseException] = []

    def hammer() -> None:
        try:
            for _ in range(300):
                assert v.verify(token, "ingest") == TokenInfo("sender", "ingest")
        except BaseException as e:  # reported below
            errors.append(e)

    threads = [threading.Thread(target=hammer) for _ in range(4)]
    for t in threads:
        t.start()
    for i in range(10):
        add_token(home, f"other{i}", "metrics")
    for t in threads:
        t.join()
    assert errors == []
    v.close()


def test_scopes_are_the_documented_ones() -> None:
    assert SCOPES == ("ingest", "metrics", "read")
    doc = (Path(__file__).resolve().parents[2] / "docs" / "access.md").read_text()
    for scope in SCOPES:
        assert f"`{scope}`" in doc


@pytest.mark.parametrize(
    ("call", "message", "hint"),
    [
        (lambda h: add_token(h, "dup", "ingest"), "already exists", "choose another name"),
        (lambda h: add_token(h, "x", "admin"), "'admin' is not a token scope", "ingest, metrics"),
        (lambda h: add_token(h, "", "ingest"), "name '' is not allowed", "letters"),
        (lambda h: add_token(h, "a b", "ingest"), "not allowed", "letters"),
        (lambda h: add_token(h, "-x", "ingest"), "not allowed", "starting with"),
        (lambda h: add_token(h, "x" * 65, "ingest"), "not allowed", "64"),
        (lambda h: add_token(h, "a\n", "ingest"), "not allowed", "letters"),
        (lambda h: revoke_token(h, "nobody"), "no token named 'nobody'", "tokens list"),
        (lambda h: revoke_token(h, "gone"), "already revoked", "nothing to do"),
    ],
)
def test_errors_say_what_and_how(home: Home, call: object, message: str, hint: str) -> None:
    add_token(home, "dup", "ingest")
    add_token(home, "gone", "ingest")
    revoke_token(home, "gone")
    assert callable(call)
    with pytest.raises(AccessError) as info:
        call(home)
    assert message in info.value.message
    assert info.value.hint is not None and hint in info.value.hint


def test_revoked_name_stays_taken(home: Home) -> None:
    add_token(home, "old", "ingest")
    revoke_token(home, "old")
    with pytest.raises(AccessError, match="already exists"):
        add_token(home, "old", "ingest")


def test_unusable_database_is_an_access_error(tmp_path: Path) -> None:
    missing = Home(tmp_path / "no-such-home")
    with pytest.raises(AccessError) as info:
        add_token(missing, "x", "ingest")
    assert "access database" in info.value.message and info.value.hint
    with pytest.raises(AccessError):
        TokenVerifier(missing)
