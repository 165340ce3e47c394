"""The tracker alone (no sockets): message sequences a server would send, and what the
tracker makes of them — the statements, their rows, what reaches the client."""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import replace
from typing import Any

from mamori.dbguard import protocol as p
from mamori.dbguard.facts import Decision, Reason, Result, Session, Statement, Verdict
from mamori.dbguard.guard import Guard
from mamori.dbguard.settings import Address, DbGuardConfig
from mamori.dbguard.tracker import Tracker
from mamori.dbguard.trackstate import split_statements

CFG = DbGuardConfig("t", Address("127.0.0.1", 0), Address("127.0.0.1", 5432))
KEY = b"k" * 32


class Rules:
    """Blocks statements naming `secret`; cuts statements past 5 rows."""

    def decide(self, stmt: Statement, analysis: Any) -> Decision:
        if "secret" in stmt.text:
            return Decision(Verdict.BLOCK, (Reason("t.secret", "no secrets", "DB-1"),))
        return Decision()

    def weigh(self, stmt: Statement, found: Decision) -> Decision:
        return found

    def before(self, stmt: Statement) -> Decision:
        return Decision()

    def rows(self, stmt: Statement, n: int) -> Decision:
        if n > 5:
            return Decision(Verdict.BLOCK, (Reason("t.rows", "too many rows", "DB-3"),))
        return Decision()

    def after(self, stmt: Statement, result: Result) -> Decision:
        return Decision()


def tracker(**kw: Any) -> Tracker:
    rules = Rules()
    guard = Guard(replace(CFG, rows_per_statement=5), firewall=rules, policies=rules)
    return Tracker(Session("s1", "db", "app"), guard, end_user_key=KEY, **kw)


def send(t: Tracker, *msgs: Any) -> bytes:
    out = b""
    for m in msgs:
        raw = m.encode()
        kind, payload = next(iter(p.iter_messages(raw, p.CLIENT_MESSAGE_LIMIT)))
        out += t.front(kind, payload, raw)
    return out


def reply(t: Tracker, *msgs: Any) -> list[Any]:
    data = b"".join(m.encode() for m in msgs)
    return [p.decode_backend(k, pl) for k, pl in p.iter_messages(t.back(data))]


def rows(n: int) -> list[p.DataRow]:
    return [p.DataRow((str(i).encode(),)) for i in range(n)]


def done(t: Tracker) -> list[tuple[str, bool, int, str]]:
    out = [
        (f.stmt.text, f.result.ok, f.result.rows_returned, f.result.sqlstate) for f in t.finished
    ]
    t.finished.clear()
    return out


def test_split() -> None:
    assert split_statements("SELECT 1; SELECT ';'; ") == [(0, 8), (10, 20)]
    assert split_statements("SELECT 'unterminated") == [(0, 20)]
    assert split_statements("  -- nothing\n") == []


def test_simple_query_with_an_error_in_the_middle() -> None:
    t = tracker()
    assert send(t, p.Query("SELECT 1; SELECT 1/0; SELECT 3"))
    out = reply(
        t,
        p.RowDescription((p.Column("x"),)),
        *rows(1),
        p.CommandComplete("SELECT 1"),
        p.ErrorResponse((("S", "ERROR"), ("C", "22012"), ("M", "division by zero"))),
        p.ReadyForQuery("I"),
    )
    assert len(out) == 5
    assert done(t) == [
        ("SELECT 1", True, 1, ""),
        ("SELECT 1/0", False, 0, "22012"),
        ("SELECT 3", False, 0, ""),
    ]
    assert t.idle and t.notes == []


def test_portal_suspension_sums_rows() -> None:
    t = tracker()
    send(
        t,
        p.Parse("", "SELECT generate_series(1, 3)"),
        p.Bind("", "", (), (), ()),
        p.Execute("", 2),
        p.Flush(),
    )
    reply(t, p.ParseComplete(), p.BindComplete(), *rows(2), p.PortalSuspended())
    assert done(t) == []
    send(t, p.Execute("", 2), p.Sync())
    reply(t, *rows(1), p.CommandComplete("SELECT 1"), p.ReadyForQuery("I"))
    assert done(t) == [("SELECT generate_series(1, 3)", True, 3, "")]
    assert t.notes == []


def test_suspended_portal_ends_with_the_transaction() -> None:
    t = tracker()
    send(
        t,
        p.Parse("", "SELECT 1"),
        p.Bind("p1", "", (), (), ()),
        p.Execute("p1", 1),
        p.Sync(),
    )
    reply(t, p.ParseComplete(), p.BindComplete(), *rows(1), p.PortalSuspended())
    reply(t, p.ReadyForQuery("I"))
    assert done(t) == [("SELECT 1", True, 1, "")]


def test_refusal_waits_its_turn() -> None:
    t = tracker()
    assert send(t, p.Query("SELECT 1"))
    assert send(t, p.Query("SELECT secret")) == b""  # not forwarded
    assert not t.to_client  # the answer to SELECT 1 comes first
    out = reply(t, *rows(1), p.CommandComplete("SELECT 1"), p.ReadyForQuery("T"))
    assert [type(m).__name__ for m in out] == [
        "DataRow",
        "CommandComplete",
        "ReadyForQuery",
        "ErrorResponse",
        "ReadyForQuery",
    ]
    # the client is told the reason's code, not its detail (which stays in the event)
    assert out[3].sqlstate == "42501" and "(t.secret)" in out[3].get("M")
    assert "no secrets" not in out[3].get("M")
    assert out[4].status == "T"  # the status the server last reported
    assert [d[3] for d in done(t)] == ["42501", ""]


def test_refused_execute_skips_until_sync() -> None:
    t = tracker()
    fwd = send(
        t,
        p.Parse("s", "SELECT secret"),
        p.Bind("", "s", (), (), ()),
        p.Execute(""),
        p.Parse("", "SELECT 2"),
        p.Bind("", "", (), (), ()),
        p.Execute(""),
        p.Sync(),
    )
    kinds = [k for k, _ in p.iter_messages(fwd, p.CLIENT_MESSAGE_LIMIT)]
    assert kinds == [ord("P"), ord("B"), ord("S")]  # the rest dropped, as a server skips
    out = reply(t, p.ParseComplete(), p.BindComplete(), p.ReadyForQuery("I"))
    assert [type(m).__name__ for m in out] == [
        "ParseComplete",
        "BindComplete",
        "ErrorResponse",
        "ReadyForQuery",
    ]
    assert [(d[0], d[3]) for d in done(t)] == [("SELECT secret", "42501"), ("SELECT 2", "")]


def test_rows_over_the_limit_are_cut() -> None:
    t = tracker()
    send(t, p.Query("SELECT generate_series(1, 100); SELECT 2"))
    out = reply(
        t,
        p.RowDescription((p.Column("x"),)),
        *rows(100),
        p.CommandComplete("SELECT 100"),
        p.RowDescription((p.Column("y"),)),
        *rows(1),
        p.CommandComplete("SELECT 1"),
        p.ReadyForQuery("I"),
    )
    names = [type(m).__name__ for m in out]
    assert names == ["RowDescription"] + ["DataRow"] * 5 + ["ErrorResponse", "ReadyForQuery"]
    assert out[6].sqlstate == "57014"
    assert t.want_cancel and t.want_cancel[0].code == "t.rows"
    finished = done(t)
    assert finished[0][1:] == (False, 5, "57014")
    assert finished[1] == ("SELECT 2", True, 1, "")  # ran on the server: still recorded


def test_suspended_portal_cut_sends_no_cancel_and_stays_cut() -> None:
    """Regression (issue 6 note): a portal run with max_rows that passed a blocking row limit
    was cancelled on the server; the cancel, on its own connection, could arrive after the
    PortalSuspended and cancel the client's next statement instead. A bounded Execute stops by
    itself: no cancel, the rest of its batch dropped, its further Executes refused."""
    t = tracker()
    send(t, p.Parse("", "SELECT generate_series(1, 100)"), p.Bind("c", "", (), (), ()))
    send(t, p.Execute("c", 4), p.Sync())
    out = reply(t, p.ParseComplete(), p.BindComplete(), *rows(4), p.PortalSuspended())
    assert [type(m).__name__ for m in out] == [
        "ParseComplete",
        "BindComplete",
        *["DataRow"] * 4,
        "PortalSuspended",
    ]
    reply(t, p.ReadyForQuery("T"))
    send(t, p.Execute("c", 4), p.Sync())
    out = reply(t, *rows(4), p.PortalSuspended(), p.ReadyForQuery("T"))
    assert [type(m).__name__ for m in out] == ["DataRow", "ErrorResponse", "ReadyForQuery"]
    assert out[1].sqlstate == "57014"
    assert t.want_cancel == ()  # nothing runs on the server: nothing to cancel
    assert done(t) == [("SELECT generate_series(1, 100)", False, 5, "57014")]
    # the cut portal is not run again: refused without reaching the server, until Sync
    fwd = send(t, p.Execute("c", 4), p.Sync())
    assert [k for k, _ in p.iter_messages(fwd, p.CLIENT_MESSAGE_LIMIT)] == [ord("S")]
    (refusal,) = [p.decode_backend(k, pl) for k, pl in p.iter_messages(bytes(t.to_client))]
    assert isinstance(refusal, p.ErrorResponse)
    assert refusal.sqlstate == "57014" and "'c' was cancelled earlier" in refusal.get("M")
    assert [type(m).__name__ for m in reply(t, p.ReadyForQuery("T"))] == ["ReadyForQuery"]
    assert [d[3] for d in done(t)] == ["57014"]


def analysing_tracker() -> Tracker:
    from mamori.dbguard.analysis import analyse

    return Tracker(Session("s1", "db", "app"), Guard(CFG, analyse=analyse))


def test_stacked_statements_are_judged_as_one_message() -> None:
    """Regression (issue 6 note): a simple Query was split and each statement analysed alone,
    so ``sqli.stacked`` (several statements in one message) never fired through the proxy."""
    t = analysing_tracker()
    # a query then a DROP: each alone is ordinary, together they alert (and run)
    assert send(t, p.Query("SELECT * FROM users WHERE id = 1; DROP TABLE users"))
    reply(
        t,
        *rows(1),
        p.CommandComplete("SELECT 1"),
        p.CommandComplete("DROP TABLE"),
        p.ReadyForQuery("I"),
    )
    codes = [[r.code for r in f.decision.reasons] for f in t.finished]
    assert codes == [["sqli.stacked"], ["sqli.stacked"]]
    assert {f.decision.verdict for f in t.finished} == {Verdict.ALERT}
    t.finished.clear()
    # with another finding it is refused whole; the statement that was fine alone says why
    # it did not run
    assert send(t, p.Query("SELECT * FROM users WHERE id = 1; SELECT pg_sleep(5)")) == b""
    out = reply(t)  # answered at once: nothing was pending
    assert out == [] and t.to_client
    msgs = [p.decode_backend(k, pl) for k, pl in p.iter_messages(bytes(t.to_client))]
    assert isinstance(msgs[0], p.ErrorResponse)
    assert msgs[0].sqlstate == "42501" and "sqli.stacked" in msgs[0].get("M")
    first, second = t.finished
    assert first.decision.verdict is Verdict.BLOCK  # stacked + timing: BLOCK for all of it
    assert "sqli.stacked" in [r.code for r in first.decision.reasons]
    assert second.result.sqlstate == "42501"
    # one statement alone has nothing more to show as a message
    text = "SELECT * FROM users; DROP TABLE users"
    alone = Statement(Session("s1", "db", "app"), text, "simple", 0.0)
    assert t.guard.message(alone) == Decision()  # statements_in_message says 1
    assert t.guard.message(replace(alone, statements_in_message=2)).verdict is Verdict.ALERT


def test_copy_in_ignores_syncs_sent_during_copy() -> None:
    t = tracker()
    send(
        t,
        p.Parse("", "COPY t FROM STDIN"),
        p.Bind("", "", (), (), ()),
        p.Execute(""),
        p.Sync(),
    )
    reply(t, p.ParseComplete(), p.BindComplete(), p.CopyResponse("in", 0, (0,)))
    send(t, p.CopyData(b"1\n2\n"), p.CopyDone(), p.Sync())
    reply(t, p.CommandComplete("COPY 2"), p.ReadyForQuery("I"))
    assert t.idle and not t.pending
    (f,) = t.finished
    assert f.result.rows_affected == 2 and f.result.ok


def test_row_count_mismatch_is_an_anomaly() -> None:
    t = tracker()
    send(t, p.Query("SELECT 1"))
    reply(t, *rows(2), p.CommandComplete("SELECT 3"), p.ReadyForQuery("I"))
    assert [n.kind for n in t.notes] == ["anomaly"]
    assert "row_count_mismatch" in t.notes[0].detail


def test_cursor_fetches_carry_the_running_total() -> None:
    t = tracker()
    send(t, p.Query("DECLARE c CURSOR FOR SELECT generate_series(1, 5)"))
    reply(t, p.CommandComplete("DECLARE CURSOR"), p.ReadyForQuery("T"))
    for n in (2, 2):
        send(t, p.Query("FETCH 2 FROM c"))
        reply(t, *rows(n), p.CommandComplete(f"FETCH {n}"), p.ReadyForQuery("T"))
    cursors = [f.extra.get("cursor") for f in t.finished]
    assert cursors[0] == {"name": "c"}
    assert [c["rows"] for c in cursors[1:] if c] == [2, 4]


def test_end_user_set_is_rewritten_and_applied_on_success() -> None:
    t = tracker(clock=lambda: 1_800_000_000.0)
    mac = hmac.new(KEY, b"alice:1800000000", hashlib.sha256).hexdigest()
    fwd = send(t, p.Query(f"SET mamori.end_user = 'alice:1800000000:{mac}'; SELECT 1"))
    ((kind, payload),) = p.iter_messages(fwd, p.CLIENT_MESSAGE_LIMIT)
    sent = p.decode_frontend(kind, payload)
    assert isinstance(sent, p.Query)
    assert sent.text == "SET mamori.end_user = 'alice'; SELECT 1"  # no token to the server
    assert t.session.end_user == ""  # not before the server said SET
    reply(
        t, p.CommandComplete("SET"), *rows(1), p.CommandComplete("SELECT 1"), p.ReadyForQuery("I")
    )
    assert (t.session.end_user, t.session.end_user_verified) == ("alice", True)
    assert mac not in "".join(f.stmt.text for f in t.finished)
    send(t, p.Query("RESET ALL"))
    reply(t, p.CommandComplete("RESET"), p.ReadyForQuery("I"))
    assert t.session.end_user == ""


def test_application_name_and_encoding_follow_parameter_status() -> None:
    t = tracker()
    reply(
        t,
        p.ParameterStatus("application_name", "batch"),
        p.ParameterStatus("client_encoding", "EUC_JP"),
    )
    assert t.session.application == "batch"
    assert t.enc == "euc_jp"
    text = "SELECT '住民'"
    send(t, p.Query(text).__class__(text))
    raw = (
        b"Q" + (len(text.encode("euc_jp")) + 5).to_bytes(4, "big") + text.encode("euc_jp") + b"\x00"
    )
    t.front(raw[0], raw[5:], raw)
    assert t.pending[-1].runs[0].stmt.text == text


def test_session_end_fails_what_is_running() -> None:
    t = tracker()
    send(t, p.Query("SELECT pg_sleep(10)"))
    t.end("the server went away")
    assert done(t) == [("SELECT pg_sleep(10)", False, 0, "08006")]
