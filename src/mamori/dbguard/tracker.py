"""Following statements on the wire of one session (pure: bytes in, bytes and facts out).

The proxy hands every frontend message to :meth:`Tracker.front` (which says what to send the
server) and every chunk from the server to :meth:`Tracker.back` (which says what to send the
client). Between the two, the tracker keeps what the server will answer, in order — a queue of
expectations, one per frontend message that gets an answer (PostgreSQL 15 docs §55.2
"Message Flow") — so each DataRow, CommandComplete, PortalSuspended or ErrorResponse is put
on the statement it belongs to, however the client pipelines.

Row counting rules (docs/dbguard.md):

* rows returned are DataRow messages (COPY TO STDOUT: CopyData messages, one row each — §55.7
  CopyData: "messages sent from the backend will always correspond to single data rows");
  the server's ``SELECT n`` / ``FETCH n`` / ``COPY n`` tag is checked against the count, and a
  difference is a ``protocol_anomaly``;
* a portal run in several Executes (``max_rows``, PortalSuspended) is one statement whose rows
  are summed; it ends at CommandComplete, Close, a new Bind of the same portal, or the end of
  the transaction;
* each FETCH of a SQL cursor is a statement of its own with its rows; the cursor's running total
  travels with it (``mamori.dbguard.cursor``) and the row policy counts that total, so fetching
  in small batches does not escape ``rows_per_statement``;
* a statement whose message was refused, or which the server skipped after an earlier error,
  is still an event (outcome failure): no statement the client sent is left out.

Decisions: :meth:`Guard.before` BLOCK → the message is not forwarded; the client gets
ErrorResponse 42501 (then ReadyForQuery for a simple Query; for the extended protocol the
proxy skips to Sync as the server would). :meth:`Guard.rows` BLOCK → the remaining rows are
dropped, :attr:`Tracker.want_cancel` asks the proxy to cancel the statement on the server, and
the client gets ErrorResponse 57014 in place of the statement's end; anything else the server
sends up to ReadyForQuery is dropped (and still recorded).
"""

from __future__ import annotations

import time
from collections import OrderedDict, deque
from collections.abc import Callable
from dataclasses import replace
from typing import Final

from mamori.dbguard import protocol as p
from mamori.dbguard import wire
from mamori.dbguard.enduser import Change, Claim, change_of, quote_literal, verify_token
from mamori.dbguard.facts import Decision, Reason, Result, Session, Statement, Verdict
from mamori.dbguard.guard import Guard, first_keyword
from mamori.dbguard.trackstate import (
    ANSWERS,
    Cursor,
    Exp,
    Finished,
    Note,
    Pending,
    Portal,
    Prepared,
    Running,
    cursor_name,
    sanitize,
    split_statements,
)

REFUSED: Final = "42501"
CANCELLED: Final = "57014"
STREAM_MIN: Final = 256 << 10
"""DataRow and CopyData messages larger than this are forwarded as their bytes arrive."""
MAX_PREPARED: Final = 100_000
"""Prepared statements and portals remembered per session (the oldest are forgotten)."""
MAX_CURSORS: Final = 1024
NOT_RUN: Final = "not run: an earlier statement or message of the batch failed"

_OPERATIONS: dict[str, str] = {}
"""first_keyword of recent statement texts (applications repeat theirs)."""


class Tracker:
    """The statements of one session (see the module docstring). Not thread-safe."""

    def __init__(
        self,
        session: Session,
        guard: Guard,
        *,
        end_user_key: bytes | None = None,
        end_user_max_age_s: int = 300,
        clock: Callable[[], float] = time.time,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self.session = session
        self.guard = guard
        self.key = end_user_key
        self.max_age = end_user_max_age_s
        self.clock = clock
        self.monotonic = monotonic
        self.enc = "utf-8"
        self.txn = "I"
        self.pending: deque[Pending] = deque()
        self.prepared: dict[str, Prepared] = {}
        self.portals: dict[str, Portal] = {}
        self.cursors: OrderedDict[str, Cursor] = OrderedDict()
        self.refusing = False
        """The proxy refused an extended-protocol message: drop until Sync, as a server."""
        self._skipped: dict[str, str] = {}
        self.server_skipping = False
        """The server reported an error in the extended protocol and skips until Sync."""
        self.copy_in = False
        self.drop_until_ready = False
        self.syncs_sent = 0
        self.syncs_done = 0
        self.terminated = False
        self.fatal = False
        self.to_client = bytearray()
        self.finished: list[Finished] = []
        self.notes: list[Note] = []
        self.want_cancel: tuple[Reason, ...] = ()
        self.statements = 0
        self.rows_total = 0
        self._buf = b""
        self._stream_left = 0
        self._stream_forward = True
        self._row_run: Running | None = None

    # -- frontend ---------------------------------------------------------------------------

    def front(self, kind: int, payload: bytes, raw: bytes) -> bytes:
        """A frontend message (type, payload, the whole message): the bytes for the server."""
        if kind == 0x58:  # X Terminate
            self.terminated = True
            return raw
        if self.refusing:
            if kind != 0x53:
                self._skip(kind, payload)
                return b""
            self.refusing = False
            self._skipped.clear()
        if kind in (0x64, 0x63, 0x66):  # CopyData, CopyDone, CopyFail
            if kind != 0x64:
                p.decode_frontend(kind, payload, self.enc)
                self.copy_in = False
            return raw
        if kind == 0x53:  # Sync
            wire.empty(kind, payload)
            if self.copy_in:
                return raw  # the server ignores Sync in copy-in mode (§55.2.6)
            self.server_skipping = False
            self._push(Pending(Exp.SYNC))
            self.syncs_sent += 1
            return raw
        if kind == 0x48:  # Flush
            wire.empty(kind, payload)
            return raw
        if kind == 0x70:  # p: a password where none is due; the server answers it
            return raw
        if kind == 0x42:  # Bind: the header only, values are never copied
            return self._bind(*wire.bind(payload, self.enc), raw)
        if kind == 0x50:  # Parse
            return self._parse(*wire.parse(payload, self.enc), raw)
        if kind == 0x45:  # Execute
            return self._execute(*wire.execute(payload, self.enc), raw)
        if kind == 0x44:  # Describe
            wire.describe(payload)
            if not self.server_skipping:
                self._push(Pending(Exp.DESCRIBE))
            return raw
        msg = p.decode_frontend(kind, payload, self.enc)
        match msg:
            case p.Query(text):
                return self._query(text, raw)
            case p.Close(what, name):
                return self._close(what, name, raw)
            case p.FunctionCall(oid):
                return self._function(oid, raw)
            case _:
                raise p.ProtocolError(f"unexpected frontend message {type(msg).__name__}")

    def _skip(self, kind: int, payload: bytes) -> None:
        """A message after a refusal, before Sync: not forwarded; an Execute among them is
        still recorded (not run), with the text its Parse and Bind gave."""
        if kind not in (0x50, 0x42, 0x45):
            return
        if len(self._skipped) >= MAX_CURSORS:
            self._skipped.clear()
        msg = p.decode_frontend(kind, payload, self.enc)
        if isinstance(msg, p.Parse):
            self._skipped["S" + msg.name] = sanitize(msg.text)
        elif isinstance(msg, p.Bind):
            self._skipped["P" + msg.portal] = self._skipped.get("S" + msg.statement, "")
        elif isinstance(msg, p.Execute):
            run = self._new_run(self._skipped.get("P" + msg.portal, ""), "extended", check=False)
            self._finish(run, ok=False, error=NOT_RUN)

    def _claim(self, change: Change | None) -> Claim | None:
        if change is None or change.value is None:
            return None
        return verify_token(change.value, self.key, now=self.clock(), max_age_s=self.max_age)

    def _new_run(
        self,
        text: str,
        protocol: str,
        *,
        in_message: int = 1,
        params: int = 0,
        change: Change | None = None,
        claim: Claim | None = None,
        check: bool = True,
    ) -> Running:
        stmt = Statement(
            self.session,
            text,
            protocol,
            self.clock(),
            statements_in_message=in_message,
            parameters=params,
        )
        operation = _OPERATIONS.get(text)
        if operation is None:
            operation = first_keyword(text)
            if len(_OPERATIONS) >= MAX_CURSORS:
                _OPERATIONS.clear()
            _OPERATIONS[text] = operation
        run = Running(
            stmt,
            self.guard.analysis(text),
            self.guard.before(stmt) if check else Decision(),
            operation,
            self.monotonic(),
            self.guard.next_rows_check(0),
            change,
            claim,
        )
        if operation in ("DECLARE", "FETCH", "MOVE", "CLOSE"):
            run.cursor = cursor_name(text)
            cur = self.cursors.get(run.cursor) if operation in ("FETCH", "MOVE") else None
            if cur is not None:
                run.cursor_base = cur.rows
                run.next_check = self.guard.next_rows_check(cur.rows) - cur.rows
        return run

    def _query(self, text: str, raw: bytes) -> bytes:
        spans = split_statements(text)
        runs: list[Running] = []
        edits: list[tuple[int, int, str]] = []
        for start, end in spans:
            piece = text[start:end]
            change = change_of(sanitize(piece))
            claim = self._claim(change)
            if change is not None and claim is not None and change.span[1] > change.span[0]:
                s, e = change.span
                edits.append((start + s, start + e, quote_literal(claim.user)))
                piece = piece[:s] + quote_literal(claim.user) + piece[e:]
            runs.append(
                self._new_run(
                    sanitize(piece), "simple", in_message=len(spans), change=change, claim=claim
                )
            )
        if len(runs) > 1:
            whole = Statement(
                self.session,
                sanitize(text),
                "simple",
                self.clock(),
                statements_in_message=len(runs),
            )
            stacked = self.guard.message(whole)
            if stacked.verdict is not Verdict.ALLOW:
                for r in runs:
                    r.decision = Decision.combine([r.decision, stacked])
        if any(r.decision.verdict is Verdict.BLOCK for r in runs):
            self._refuse(runs, simple=True)
            return b""
        if self.server_skipping:  # the server ignores it until Sync: no answer will come
            for r in runs:
                self._finish(r, ok=False, error=NOT_RUN)
            return raw
        if edits:
            for start, end, value in reversed(edits):
                text = text[:start] + value + text[end:]
            raw = p.Query(text).encode(self.enc)
        self._push(Pending(Exp.QUERY, runs))
        self.syncs_sent += 1
        return raw

    def _parse(self, name: str, text: str, types: tuple[int, ...], raw: bytes) -> bytes:
        change = change_of(sanitize(text))
        claim = self._claim(change)
        if change is not None and claim is not None and change.span[1] > change.span[0]:
            s, e = change.span
            text = text[:s] + quote_literal(claim.user) + text[e:]
            raw = p.Parse(name, text, types).encode(self.enc)
        if len(self.prepared) >= MAX_PREPARED and name not in self.prepared:
            self.prepared.pop(next(iter(self.prepared)))
        self.prepared[name] = Prepared(sanitize(text), change, claim)
        if not self.server_skipping:
            self._push(Pending(Exp.PARSE))
        return raw

    def _bind(self, portal: str, statement: str, params: int, raw: bytes) -> bytes:
        old = self.portals.pop(portal, None)
        if old is not None and old.running is not None:
            self._portal_gone(old.running)
        prep = self.prepared.get(statement)
        if prep is None:
            prep = Prepared("", None, None)
        if len(self.portals) >= MAX_PREPARED:
            self.portals.pop(next(iter(self.portals)))
        self.portals[portal] = Portal(prep.text, params, prep.change, prep.claim, self.syncs_sent)
        if not self.server_skipping:
            self._push(Pending(Exp.BIND))
        return raw

    def _execute(self, name: str, max_rows: int, raw: bytes) -> bytes:
        portal = self.portals.get(name)
        if portal is None:  # a SQL cursor's portal, or one the server will not know
            portal = self.portals[name] = Portal("", 0, None, None, self.syncs_sent)
        run = portal.running
        if run is not None and run.cut:
            # A portal cut by a policy stays cut: its further Executes are refused, not run.
            again = self._new_run(portal.text, "extended", params=portal.params, check=False)
            why = "; ".join(r.detail for r in run.cut)
            self._refuse(
                [again],
                simple=False,
                sqlstate=CANCELLED,
                text=f"mamori: portal {name!r} was cancelled earlier ({why})",
                reasons=run.cut,
            )
            return b""
        if run is not None and not run.finished:
            run.rows_call = 0
        else:
            run = self._new_run(
                portal.text,
                "extended",
                params=portal.params,
                change=portal.change,
                claim=portal.claim,
            )
            if run.decision.verdict is Verdict.BLOCK:
                self._refuse([run], simple=False)
                return b""
            portal.running = run
        if self.server_skipping:
            self._finish(run, ok=False, error=NOT_RUN)
            return raw
        run.bounded = max_rows > 0
        run.inflight += 1
        self._push(Pending(Exp.EXECUTE, [run]))
        return raw

    def _close(self, what: str, name: str, raw: bytes) -> bytes:
        if what == "P":
            portal = self.portals.pop(name, None)
            if portal is not None and portal.running is not None:
                self._portal_gone(portal.running)
        else:
            self.prepared.pop(name, None)
        if not self.server_skipping:
            self._push(Pending(Exp.CLOSE))
        return raw

    def _portal_gone(self, run: Running) -> None:
        """A portal's statement ends with its portal (a pipelined Execute may still be due)."""
        if run.inflight:
            run.orphan = True
        else:
            self._finish(run, ok=True)

    def _function(self, oid: int, raw: bytes) -> bytes:
        run = self._new_run("", "fastpath")
        run.extra["function_oid"] = oid
        run.operation = "FUNCTION CALL"
        if run.decision.verdict is Verdict.BLOCK:
            self._refuse([run], simple=True)
            return b""
        self._push(Pending(Exp.FUNCTION, [run]))
        self.syncs_sent += 1
        return raw

    def _refuse(
        self,
        runs: list[Running],
        *,
        simple: bool,
        sqlstate: str = REFUSED,
        text: str = "",
        reasons: tuple[Reason, ...] = (),
    ) -> None:
        """Answer `runs` (one message's statements) with an ErrorResponse of the proxy's own,
        in their turn; for the extended protocol, skip to Sync as the server would."""
        if not reasons:
            reasons = tuple(
                r
                for run in runs
                if run.decision.verdict is Verdict.BLOCK
                for r in run.decision.reasons
            )
        # The client may be the attacker: it is told the reasons' codes only, never their
        # details (fingerprints, role names, which constants made a tautology, parse
        # positions); the details stay in the ledger event.
        codes = ", ".join(dict.fromkeys(r.code for r in reasons)) or "policy"
        text = text or f"mamori: statement refused ({codes})"
        why = "; ".join(r.detail for r in reasons) or "blocked by policy"
        for run in runs:
            if run.decision.verdict is Verdict.BLOCK or len(runs) == 1:
                error = f"mamori: statement refused: {why}"
            else:  # its own verdict allowed it: say which sibling's refusal stopped it
                error = f"not run: another statement of the same message was refused ({codes})"
            self._finish(run, ok=False, sqlstate=sqlstate, error=error)
        data = p.error_response(
            sqlstate,
            text,
            hint="the database guard refused it; ask the administrator if it is legitimate",
            enc=self.enc,
        )
        if not simple:
            self.refusing = True
        if self.pending:  # ReadyForQuery (simple) then carries the status of its turn
            self.pending.append(Pending(Exp.SYNTHETIC, index=int(simple), data=data))
        else:
            self.to_client += data + (p.ready_for_query(self.txn) if simple else b"")

    def _push(self, item: Pending) -> None:
        self.pending.append(item)
        if len(self.pending) == 1:
            self._refresh()

    # -- backend ----------------------------------------------------------------------------

    def back(self, data: bytes) -> bytes:
        """A chunk from the server: the bytes for the client."""
        out = bytearray()
        if self._stream_left:
            take = min(self._stream_left, len(data))
            if self._stream_forward:
                out += data[:take]
            self._stream_left -= take
            data = data[take:]
            if self._stream_left:
                return bytes(out)
        if self._buf:
            data = self._buf + data
            self._buf = b""
        n = len(data)
        pos = 0
        view = memoryview(data)
        while n - pos >= 5:
            kind = data[pos]
            length = int.from_bytes(data[pos + 1 : pos + 5], "big")
            if length < 4 or length > p.SERVER_MESSAGE_LIMIT:
                raise p.ProtocolError(
                    f"the server sent a message of type {kind:#04x} claiming {length} bytes"
                )
            end = pos + 1 + length
            if kind == 0x44 or (kind == 0x64 and not self.copy_in):  # DataRow, CopyData out
                if end > n and length < STREAM_MIN:
                    break
                forward = self._row() and not self.drop_until_ready
                if end > n:  # a large row: pass its bytes on as they come
                    if forward:
                        out += view[pos:n]
                    self._stream_left = end - n
                    self._stream_forward = forward
                    pos = n
                    break
                if forward:
                    out += view[pos:end]
                pos = end
                continue
            if end > n:
                break
            self._message(kind, bytes(view[pos + 5 : end]), view[pos:end], out)
            pos = end
        if pos < n:
            self._buf = bytes(view[pos:])
        return bytes(out)

    def _row(self) -> bool:
        """Count one row for the statement receiving rows; False when it is to be dropped."""
        run = self._row_run
        if run is None:
            return True
        run.rows += 1
        run.rows_call += 1
        if not run.cut and run.rows >= run.next_check:
            self._check_rows(run)
        if run.cut:
            run.dropped += 1
            return False
        return True

    def _check_rows(self, run: Running) -> None:
        total = run.cursor_base + run.rows
        decision = self.guard.rows(run.stmt, total)
        run.next_check = self.guard.next_rows_check(total) - run.cursor_base
        if decision.verdict is Verdict.ALLOW:
            return
        run.decision = Decision.combine([run.decision, decision])
        if decision.verdict is Verdict.BLOCK:
            run.cut = decision.reasons or (Reason("policy.rows", "too many rows", "DB-3"),)
            if not run.bounded:
                # An Execute with max_rows stops by itself (PortalSuspended) after a bounded
                # number of rows, which are dropped: a cancel sent now could reach the server
                # after it, and cancel the client's next statement instead.
                self.want_cancel = run.cut

    def _message(self, kind: int, payload: bytes, raw: memoryview, out: bytearray) -> None:
        forward = not self.drop_until_ready
        front = self.pending[0] if self.pending else None
        match kind:
            case 0x43:  # C CommandComplete
                tag = wire.command_tag(payload, self.enc)
                run = self._row_run
                if run is not None and front is not None:
                    forward = self._complete(run, tag, out) and forward
                    self._advance(front)
                else:
                    self._anomaly("unexpected_message", f"CommandComplete {tag!r} for nothing")
            case 0x73:  # s PortalSuspended
                run = self._row_run
                if run is not None and front is not None and front.kind is Exp.EXECUTE:
                    if run.cut:
                        forward = self._cut_end(run, out)
                    self._pop()
                else:
                    self._anomaly("unexpected_message", "PortalSuspended for nothing")
            case 0x49:  # I EmptyQueryResponse
                run = self._row_run
                if run is not None and front is not None:
                    self._finish(run, ok=True)
                    self._advance(front)
            case 0x45:  # E ErrorResponse
                err = p.decode_backend(kind, payload, self.enc)
                assert isinstance(err, p.ErrorResponse)
                forward = self._error(err, out) and forward
            case 0x5A:  # Z ReadyForQuery
                self._ready(wire.ready_status(payload))
                forward = True
            case 0x31 | 0x32 | 0x33 | 0x6E:  # ParseComplete, BindComplete, CloseComplete, NoData
                wire.empty(kind, payload)
                self._expect(ANSWERS[kind])
            case 0x54:  # T RowDescription
                if front is not None and front.kind is Exp.DESCRIBE:
                    self._pop()
            case 0x74:  # t ParameterDescription: the RowDescription or NoData ends the Describe
                pass
            case 0x47 | 0x48 | 0x57:  # CopyIn/Out/BothResponse
                msg = p.decode_backend(kind, payload)
                assert isinstance(msg, p.CopyResponse)
                self._copy(msg)
            case 0x63:  # c CopyDone (copy out)
                run = self._row_run
                if run is not None and run.cut:
                    forward = False
            case 0x64:  # d CopyData of CopyBoth (replication): passed on
                pass
            case 0x56:  # V FunctionCallResponse
                run = self._row_run
                if run is not None:
                    self._finish(run, ok=True)
            case 0x53:  # S ParameterStatus
                self._parameter(payload)
                forward = True
            case 0x4E | 0x41:  # NoticeResponse, NotificationResponse: always passed on
                p.decode_backend(kind, payload, self.enc)
                forward = True
            case 0x52 | 0x4B | 0x76:  # authentication messages after the startup phase
                self._anomaly("unexpected_message", f"message {chr(kind)!r} after startup")
            case _:
                raise p.ProtocolError(f"unknown backend message type {kind:#04x}")
        if forward:
            out += raw
        self._release(out)

    def _expect(self, want: Exp) -> None:
        front = self.pending[0] if self.pending else None
        if front is not None and front.kind is want:
            self._pop()
            return
        self._anomaly("unexpected_message", f"answer {want.value!r} while expecting {front}")
        while self.pending and self.pending[0].kind is not want:
            self._popleft()
        if self.pending:
            self._pop()

    def _pop(self) -> None:
        self._popleft()
        self._refresh()

    def _popleft(self) -> Pending:
        item = self.pending.popleft()
        if item.kind is Exp.EXECUTE:
            run = item.runs[0]
            run.inflight -= 1
            if run.orphan and not run.inflight:
                self._finish(run, ok=True)
        return item

    def _release(self, out: bytearray) -> None:
        while self.pending and self.pending[0].kind is Exp.SYNTHETIC:
            item = self.pending.popleft()
            out += item.data + (p.ready_for_query(self.txn) if item.index else b"")
            self._refresh()

    def _refresh(self) -> None:
        front = self.pending[0] if self.pending else None
        if front is None or front.kind not in (Exp.QUERY, Exp.EXECUTE, Exp.FUNCTION):
            self._row_run = None
        else:
            self._row_run = front.current()

    def _advance(self, front: Pending) -> None:
        if front.kind is Exp.QUERY:
            front.index += 1
            self._refresh()
        elif front.kind is Exp.EXECUTE:
            self._pop()

    def _complete(self, run: Running, tag: str, out: bytearray) -> bool:
        """A CommandComplete for `run`; False when the proxy sends something else instead."""
        verb, n = wire.tag_rows(tag)
        run.tag = tag
        if n is not None:
            if verb in ("SELECT", "FETCH"):
                if run.rows_call == 0 and n > 0:
                    run.affected = n  # CREATE TABLE AS, SELECT INTO: rows written, not sent
                elif n != run.rows_call and not run.cut:
                    self._anomaly(
                        "row_count_mismatch",
                        f"the server's tag says {tag!r}, {run.rows_call} DataRow messages "
                        "were counted",
                    )
            elif verb == "COPY":
                if run.copy == "out":
                    # Binary COPY: the file header travels with the first row, the trailer
                    # in a message of its own (PostgreSQL's copyto.c).
                    sent = run.rows_call - (1 if run.copy_format == 1 else 0)
                    if sent != n and not run.cut:
                        self._anomaly(
                            "row_count_mismatch",
                            f"the server's tag says {tag!r}, {sent} rows were counted",
                        )
                    run.rows = run.rows - run.rows_call + n
                else:
                    run.affected = n
            elif verb in ("INSERT", "UPDATE", "DELETE", "MERGE"):
                run.affected = n
        if run.cut:
            return self._cut_end(run, out)
        self._finish(run, ok=True)
        return True

    def _cut_end(self, run: Running, out: bytearray) -> bool:
        why = "; ".join(r.detail for r in run.cut)
        text = f"mamori: statement cancelled: {why}"
        self._finish(run, ok=False, sqlstate=CANCELLED, error=text)
        out += p.error_response(CANCELLED, text, enc=self.enc)
        self.drop_until_ready = True
        return False

    def _error(self, err: p.ErrorResponse, out: bytearray) -> bool:
        if err.fatal:
            self.fatal = True
        self.copy_in = False  # an error ends copy-in mode
        front = self.pending[0] if self.pending else None
        if front is None or front.kind is Exp.SYNC:
            return True  # about the session or the transaction's commit, not a statement
        state, message = err.sqlstate, err.get("M")
        if front.kind is Exp.QUERY:
            run = front.current()
            if run is None:
                return True
            forward = True
            if run.cut:
                forward = self._cut_end(run, out)
            else:
                self._finish(run, ok=False, sqlstate=state, error=message)
            for rest in front.runs[front.index + 1 :]:
                self._finish(rest, ok=False, error=NOT_RUN)
            front.index = len(front.runs)
            self._refresh()
            return forward
        forward = True
        if front.kind in (Exp.EXECUTE, Exp.FUNCTION):
            run = front.current()
            if run is not None and run.cut:
                forward = self._cut_end(run, out)
            elif run is not None:
                self._finish(run, ok=False, sqlstate=state, error=message)
            if front.kind is Exp.FUNCTION:
                front.index = 1
                self._refresh()
                return forward
        # An error on Parse, Bind or Describe (planning errors come at Bind) belongs to the
        # statement executed next; the later ones of the batch are skipped by the server.
        blamed = front.kind in (Exp.PARSE, Exp.BIND, Exp.DESCRIBE)
        self._pop()
        while self.pending and self.pending[0].kind not in (Exp.SYNC, Exp.SYNTHETIC):
            for r in self.pending[0].runs:
                if blamed:
                    self._finish(r, ok=False, sqlstate=state, error=message)
                    blamed = False
                else:
                    self._finish(r, ok=False, error=NOT_RUN)
            self._popleft()
        if not self.pending:
            self.server_skipping = True
        self._refresh()
        return forward

    def _ready(self, status: str) -> None:
        while self.pending:
            item = self.pending[0]
            for r in item.runs:
                if not r.finished and item.kind is not Exp.EXECUTE:
                    self._anomaly("statement_count_mismatch", "a statement got no answer")
                    self._finish(r, ok=False, error=NOT_RUN)
            self._popleft()
            if item.kind in (Exp.SYNC, Exp.QUERY, Exp.FUNCTION):
                break
        self.syncs_done += 1
        self.txn = status
        self.copy_in = False
        self.drop_until_ready = False
        self.server_skipping = False
        if status == "I":  # the transaction ended: its portals with it
            for name, portal in list(self.portals.items()):
                if portal.epoch < self.syncs_done:
                    if portal.running is not None:
                        self._finish(portal.running, ok=True)
                    del self.portals[name]
        self._refresh()

    def _copy(self, msg: p.CopyResponse) -> None:
        run = self._row_run
        if run is not None:
            run.copy = msg.direction
            run.copy_format = msg.format
        if msg.direction == "in":
            self.copy_in = True
            # Syncs the client sent after the COPY's Execute are ignored in copy-in mode
            # (§55.2.6); the one after CopyDone is the one answered.
            kept = [x for x in list(self.pending)[1:] if x.kind is not Exp.SYNC]
            removed = len(self.pending) - 1 - len(kept)
            if removed:
                head = self.pending[0]
                self.pending = deque([head, *kept])
                self.syncs_sent -= removed

    def _parameter(self, payload: bytes) -> None:
        msg = p.decode_backend(0x53, payload)
        assert isinstance(msg, p.ParameterStatus)
        if msg.name == "client_encoding":
            self.enc = p.codec(msg.value)
        elif msg.name == "application_name":
            self.session = replace(self.session, application=sanitize(msg.value))

    # -- finishing --------------------------------------------------------------------------

    def _finish(self, run: Running, *, ok: bool, sqlstate: str = "", error: str = "") -> None:
        if run.finished:
            return
        run.finished = True
        returned = run.rows - run.dropped
        result = Result(
            rows_returned=returned,
            rows_affected=run.affected,
            command_tag=run.tag,
            duration_s=self.monotonic() - run.started,
            ok=ok,
            sqlstate=sqlstate,
            error=error,
            cancelled_by=run.cut,
        )
        decision = Decision.combine([run.decision, self.guard.after(run.stmt, result)])
        if ok:
            self._succeeded(run, returned)
        self.finished.append(
            Finished(run.stmt, result, run.analysis, decision, run.operation, run.extra)
        )
        self.statements += 1
        self.rows_total += returned

    def _succeeded(self, run: Running, returned: int) -> None:
        if run.change is not None:
            if run.change.value is None:
                self.session = replace(self.session, end_user="", end_user_verified=False)
            elif run.claim is not None:
                claim = run.claim
                self.session = replace(
                    self.session, end_user=claim.user, end_user_verified=claim.verified
                )
                if not claim.verified and claim.problem is not None:
                    self.notes.append(
                        Note(
                            "end_user_unverified",
                            self.session,
                            self.clock(),
                            claim.problem.value,
                            claim,
                        )
                    )
        if not run.cursor:
            if run.operation == "CLOSE":
                self.cursors.clear()  # CLOSE ALL
            elif run.operation == "DISCARD":
                self.cursors.clear()
            return
        match run.operation:
            case "DECLARE":
                self.cursors[run.cursor] = Cursor(run.analysis.fingerprint)
                run.extra["cursor"] = {"name": run.cursor}
                while len(self.cursors) > MAX_CURSORS:
                    self.cursors.popitem(last=False)
            case "FETCH" | "MOVE":
                cur = self.cursors.get(run.cursor)
                if cur is None:
                    cur = self.cursors[run.cursor] = Cursor("")
                if run.operation == "FETCH":
                    cur.rows += returned
                run.extra["cursor"] = {
                    "name": run.cursor,
                    "fingerprint": cur.fingerprint,
                    "rows": cur.rows,
                }
            case "CLOSE":
                self.cursors.pop(run.cursor, None)

    def _anomaly(self, what: str, detail: str) -> None:
        self.notes.append(Note("anomaly", self.session, self.clock(), f"{what}: {detail}"))

    def end(self, error: str, sqlstate: str = "08006") -> None:
        """The session is over: every statement still running ends (as failed)."""
        for item in list(self.pending):
            for run in item.runs:
                self._finish(run, ok=False, sqlstate=sqlstate, error=error)
        self.pending.clear()
        for portal in self.portals.values():
            if portal.running is not None:
                self._finish(portal.running, ok=True)
        self.portals.clear()
        self._row_run = None

    @property
    def idle(self) -> bool:
        """Nothing is owed to the client (a FATAL message may be sent now)."""
        return not self.pending and not self._buf and not self._stream_left
