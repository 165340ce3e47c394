"""The one object the proxy asks about statements: :class:`Guard` (pure, no I/O).

The proxy calls, per statement:

* :meth:`Guard.before` before forwarding it: BLOCK → the statement never reaches the server;
* :meth:`Guard.rows` while its rows stream back, at the counts :meth:`Guard.next_rows_check`
  names (cheap: not per row): BLOCK → the proxy cancels it on the server;
* :meth:`Guard.after` when it completed, failed or was cancelled.

Behind it sit the parts other modules own, each optional so the proxy runs while they are
being written: the SQL analysis (``mamori.dbguard.analysis.analyse``), the firewall
(``Firewall.decide(stmt, analysis)``) and the row and time policies
(:class:`mamori.dbguard.policy.Policies`). Without an analysis module, statements are analysed
by pglast's fingerprint and the scanner's normalisation only, and allowed. The decisions of the
parts are combined (the strongest verdict wins, every reason is kept), except that the
firewall's decision takes the place of the analysis's own: the firewall weighs the analysis's
findings in its mode.

Wiring a part is one argument::

    Guard(cfg, analyse=analysis.analyse, firewall=Firewall(...), policies=Policies(...))

A check that raises is a bug; it must neither end the session nor let the statement through
unnoticed: the guard turns it into ALERT (BLOCK when the firewall enforces) with the reason
``guard.check_failed``.
"""

from __future__ import annotations

import importlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Final, Protocol

import orjson
from pglast import parser as pg

from mamori.dbguard import sqltokens
from mamori.dbguard.facts import Decision, Reason, Result, Statement, Verdict
from mamori.dbguard.settings import DbGuardConfig, FirewallMode

if TYPE_CHECKING:
    from mamori.home import Home

ROWS_CHECK_EVERY: Final = 256
"""Rows between two calls of :meth:`Guard.rows` (plus exactly past ``rows_per_statement``)."""
CACHE_ENTRIES: Final = 4096
CACHE_MAX_TEXT: Final = 8192
"""Statements longer than this are analysed each time (they are rarely repeated)."""
CHECK_FAILED: Final = "guard.check_failed"
STACKED: Final = "sqli.stacked"
"""The finding only a whole simple Query shows (:meth:`Guard.message`)."""


class Analysis(Protocol):
    """What the SQL analysis says about one message's text (``analysis.Analysis``)."""

    @property
    def fingerprint(self) -> str: ...
    @property
    def normalized(self) -> str: ...
    @property
    def kinds(self) -> tuple[str, ...]: ...
    @property
    def statements(self) -> int: ...
    @property
    def parse_error(self) -> str: ...
    @property
    def decision(self) -> Decision: ...


class FirewallLike(Protocol):
    def decide(self, stmt: Statement, analysis: Any) -> Decision: ...
    def weigh(self, stmt: Statement, found: Decision) -> Decision: ...


class PoliciesLike(Protocol):
    def before(self, stmt: Statement) -> Decision: ...
    def rows(self, stmt: Statement, n: int) -> Decision: ...
    def after(self, stmt: Statement, result: Result) -> Decision: ...


_ALLOW: Final = Decision()


@dataclass(frozen=True, slots=True)
class BasicAnalysis:
    """The fallback analysis: fingerprint and normalised text, no verdict of its own."""

    fingerprint: str
    normalized: str
    kinds: tuple[str, ...]
    statements: int
    parse_error: str = ""
    decision: Decision = _ALLOW


def basic_analysis(sql: str) -> BasicAnalysis:
    """pglast's fingerprint, the scanner's normalisation (constants → ``$n``, comments gone)."""
    clean = sql.encode("utf-8", "replace").decode("utf-8")
    try:
        tokens = sqltokens.scan(clean)
        normalized = sqltokens.normalize(clean, tokens)
    except sqltokens.ScanError as e:
        return BasicAnalysis("", "", (), 0, parse_error=str(e))
    try:
        fingerprint = pg.fingerprint(clean)
        tree = orjson.loads(pg.parse_sql_json(clean))
    except pg.ParseError as e:
        return BasicAnalysis(
            "", normalized, (), sqltokens.count_statements(tokens), parse_error=str(e)
        )
    kinds = tuple(_kind(next(iter(s["stmt"]))) for s in tree.get("stmts", ()) if s.get("stmt"))
    return BasicAnalysis(fingerprint, normalized, kinds, len(kinds))


def _kind(node: str) -> str:
    """``SelectStmt`` → ``select``, ``VariableSetStmt`` → ``variable_set``."""
    base = node.removesuffix("Stmt")
    out = [base[:1].lower()]
    for c in base[1:]:
        out.append("_" + c.lower() if c.isupper() else c)
    return "".join(out)


def first_keyword(sql: str) -> str:
    """The statement's first word, upper case, comments skipped (``db.operation``)."""
    i, n = 0, len(sql)
    while i < n:
        c = sql[i]
        if c.isspace():
            i += 1
        elif sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j + 1
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            i = n if j < 0 else j + 2
        else:
            j = i
            while j < n and (sql[j].isalnum() or sql[j] == "_"):
                j += 1
            return sql[i:j].upper() if j > i else sql[i]
    return ""


class Guard:
    """Every check on a statement, behind one object (see the module docstring)."""

    def __init__(
        self,
        cfg: DbGuardConfig,
        *,
        analyse: Callable[[str], Any] | None = None,
        firewall: FirewallLike | None = None,
        policies: PoliciesLike | None = None,
        rows_check_every: int = ROWS_CHECK_EVERY,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> None:
        self.cfg = cfg
        self._analyse: Callable[[str], Any] = analyse or basic_analysis
        self.firewall = firewall
        self.policies = policies
        self.step = max(1, rows_check_every)
        self.on_error = on_error
        self._cache: OrderedDict[str, Any] = OrderedDict()

    @classmethod
    def default(
        cls,
        cfg: DbGuardConfig,
        home: Home | None = None,
        *,
        on_error: Callable[[str, BaseException], None] | None = None,
    ) -> Guard:
        """The guard with every part that exists today: the SQL analysis when
        ``mamori.dbguard.analysis`` is there, the row and time policies of `cfg` (with the
        home's business calendar, else the default one)."""
        analyse: Callable[[str], Any] | None = None
        try:
            module = importlib.import_module("mamori.dbguard.analysis")
            analyse = getattr(module, "analyse", None)
        except ImportError:
            analyse = None
        return cls(cfg, analyse=analyse, policies=default_policies(cfg, home), on_error=on_error)

    # -- analysis -----------------------------------------------------------------------------

    def analysis(self, text: str) -> Analysis:
        """The analysis of `text`, from a small cache for repeated statements."""
        cache = self._cache
        hit = cache.get(text)
        if hit is not None:
            cache.move_to_end(text)
            result: Analysis = hit
            return result
        try:
            result = self._analyse(text)
        except Exception as e:
            self._failed("analysis", e)
            base = basic_analysis(text)
            result = BasicAnalysis(
                base.fingerprint,
                base.normalized,
                base.kinds,
                base.statements,
                base.parse_error,
                self._failure_decision("analysis"),
            )
        if len(text) <= CACHE_MAX_TEXT:
            cache[text] = result
            if len(cache) > CACHE_ENTRIES:
                cache.popitem(last=False)
        return result

    # -- the three moments --------------------------------------------------------------------

    def before(self, stmt: Statement) -> Decision:
        analysis = self.analysis(stmt.text)
        if self.firewall is not None:
            # The firewall weighs the analysis's findings itself, in its mode (learn and
            # monitor refuse nothing): its decision takes the place of the analysis's.
            decisions = [self._call("firewall", self.firewall.decide, stmt, analysis)]
        else:
            decisions = [analysis.decision]
        if self.policies is not None:
            decisions.append(self._call("policies", self.policies.before, stmt))
        return Decision.combine(decisions)

    def message(self, stmt: Statement) -> Decision:
        """What a simple Query's whole text shows beyond its statements one by one: several
        statements stacked in one message (``sqli.stacked``), weighed in the firewall's mode.
        `stmt` is the whole message; :meth:`before` judges each of its statements."""
        if stmt.statements_in_message < 2:
            return Decision()
        found = self.analysis(stmt.text).decision
        stacked = tuple(r for r in found.reasons if r.code == STACKED)
        if not stacked:
            return Decision()
        decision = Decision(found.verdict, stacked)
        if self.firewall is not None:
            return self._call("firewall", self.firewall.weigh, stmt, decision)
        return decision

    def next_rows_check(self, rows: int) -> int:
        """The row count at which :meth:`rows` is to be called next, `rows` counted so far."""
        nxt = (rows // self.step + 1) * self.step
        limit = self.cfg.rows_per_statement
        if limit and rows <= limit < nxt:
            nxt = limit + 1
        return nxt

    def rows(self, stmt: Statement, rows_so_far: int) -> Decision:
        if self.policies is None:
            return Decision()
        return self._call("policies", self.policies.rows, stmt, rows_so_far)

    def after(self, stmt: Statement, result: Result) -> Decision:
        if self.policies is None:
            return Decision()
        return self._call("policies", self.policies.after, stmt, result)

    # -- failures -----------------------------------------------------------------------------

    def _call(self, part: str, fn: Callable[..., Decision], *args: Any) -> Decision:
        try:
            return fn(*args)
        except Exception as e:
            self._failed(part, e)
            return self._failure_decision(part)

    def _failed(self, part: str, e: BaseException) -> None:
        if self.on_error is not None:
            self.on_error(part, e)

    def _failure_decision(self, part: str) -> Decision:
        verdict = Verdict.BLOCK if self.cfg.firewall is FirewallMode.ENFORCE else Verdict.ALERT
        return Decision(
            verdict,
            (Reason(CHECK_FAILED, f"the {part} check failed on this statement", "DB-1"),),
        )


def default_policies(cfg: DbGuardConfig, home: Home | None) -> PoliciesLike | None:
    """The row and time policies `cfg` sets, on the home's business calendar."""
    try:
        from mamori.dbguard.policy import Policies
        from mamori.detect.calendar import BusinessCalendar, from_config
    except ImportError:
        return None
    calendar = from_config(home.config().calendar) if home is not None else BusinessCalendar()
    return Policies(
        rows_per_statement=cfg.rows_per_statement,
        rows_per_window=cfg.rows_per_window,
        rows_window_s=cfg.rows_window_s,
        rows_block=cfg.rows_block,
        time_policy=cfg.time_policy.value,
        exempt_roles=frozenset(cfg.time_exempt_roles),
        calendar=calendar,
        clock=time.time,
    )
