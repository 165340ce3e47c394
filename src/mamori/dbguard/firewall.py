"""The SQL firewall (DB-4): per role and application, learn an allowlist of statement
fingerprints, then alert on (``monitor``) or refuse (``enforce``) what is not in it, on top of the
injection analysis (:mod:`mamori.dbguard.analysis`). Pure but for the allowlist it is handed.

Modes, per (role, application) from :func:`mode_table`:

* ``off``: no firewall. DB-1's privilege findings still alert: they are not the firewall's.
* ``learn``: every parsed fingerprint goes into the allowlist, and the statement is allowed;
  injection findings are reported as ALERT (never BLOCK), and a statement the analysis would
  block is *not* learned (an attack during learning must not become allowed).
* ``monitor``: a fingerprint not in the allowlist alerts (``firewall.unknown_fingerprint``);
  injection findings alert. Nothing is refused.
* ``enforce``: a fingerprint not in the allowlist is refused, and so is a statement PostgreSQL's
  grammar refuses (fail closed, ``firewall.unparseable``); injection findings give their own
  verdict (a BLOCK finding refuses even an allowlisted fingerprint: the allowlist approves a
  shape, the analysis judges this instance).

Wiring: ``Firewall(cfg.firewall_mode, Allowlist.open(home))`` (or :func:`mode_table`). The
decision it returns is the statement's whole SQL verdict: the analysis's reasons are in it,
capped by the mode, so it is meant to take the place of ``analysis.decision``, not to be
combined with it (combining would let an analysis BLOCK through in ``learn`` and ``monitor``).

A refused statement is answered with an ErrorResponse, SQLSTATE 42501
(``insufficient_privilege``): :func:`refusal` gives its code and message.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Callable, Sequence
from typing import Final, Protocol, assert_never

from mamori.dbguard.analysis import Analysis
from mamori.dbguard.facts import Decision, Reason, Statement, Verdict
from mamori.dbguard.settings import FirewallMode

DB4: Final = "DB-4"

SQLSTATE_REFUSED: Final = "42501"
"""insufficient_privilege: what PostgreSQL itself answers for a statement the role may not run."""

FIREWALL_REASONS: Final = {
    "firewall.unknown_fingerprint": "the statement's fingerprint is not in the allowlist of its role and application: ALERT in `monitor`, BLOCK in `enforce`",
    "firewall.unparseable": "`enforce` refuses what PostgreSQL's grammar refuses (fail closed): BLOCK",
    "firewall.not_learned": "`learn` did not add a statement the injection analysis would block: ALERT",
}  # fmt: skip
"""The firewall's own reason codes (the analysis's are in ``analysis.REASONS``)."""


Mode = FirewallMode
"""What the firewall does for one role and application: ``off``, ``learn``, ``monitor``,
``enforce``. The settings' own enum (``[[dbguard]] firewall = "…"`` parses into it), so that
``DbGuardConfig.firewall_mode`` can serve as `mode_for`."""


ModeRule = tuple[str, str, Mode]
"""(role glob, application glob, mode): ``fnmatch`` patterns, case-sensitive, as in
``[[dbguard.firewall_rule]]``."""


def mode_table(default: Mode, rules: Sequence[ModeRule]) -> Callable[[str, str], Mode]:
    """The mode for a (role, application): the first rule whose globs both match, else
    `default`. Answers are remembered (a proxy asks once per statement)."""
    frozen = tuple(rules)
    memo: dict[tuple[str, str], Mode] = {}

    def mode_for(role: str, application: str) -> Mode:
        key = (role, application)
        mode = memo.get(key)
        if mode is None:
            mode = default
            for role_glob, app_glob, rule_mode in frozen:
                if fnmatch.fnmatchcase(role, role_glob) and fnmatch.fnmatchcase(
                    application, app_glob
                ):
                    mode = rule_mode
                    break
            if len(memo) < 4096:
                memo[key] = mode
        return mode

    return mode_for


class AllowlistView(Protocol):
    """What the firewall needs of an allowlist (:class:`mamori.dbguard.allowlist.Allowlist`)."""

    def allows(self, role: str, application: str, fingerprint: str) -> bool: ...

    def learn(
        self, role: str, application: str, fingerprint: str, normalized: str, at: float
    ) -> None: ...


class Firewall:
    """Decides on one statement at a time, given its analysis."""

    def __init__(self, mode_for: Callable[[str, str], Mode], allowlist: AllowlistView) -> None:
        self._mode_for = mode_for
        self._allowlist = allowlist

    def decide(self, stmt: Statement, analysis: Analysis) -> Decision:
        role, application = stmt.session.role, stmt.session.application
        mode = self._mode_for(role, application)
        found = analysis.decision
        match mode:
            case Mode.OFF:
                privileges = tuple(r for r in found.reasons if r.clause == "DB-1")
                return Decision(Verdict.ALERT, privileges) if privileges else Decision()
            case Mode.LEARN:
                if not analysis.parsed:
                    return _capped(found)
                if found.verdict == Verdict.BLOCK:
                    return Decision(
                        Verdict.ALERT,
                        (*found.reasons, _reason("firewall.not_learned", "not added to the allowlist: the injection analysis would block it")),
                    )  # fmt: skip
                self._allowlist.learn(
                    role, application, analysis.fingerprint, analysis.normalized, stmt.at
                )
                return _capped(found)
            case Mode.MONITOR:
                return _capped(self._with_allowlist(role, application, analysis, Verdict.ALERT))
            case Mode.ENFORCE:
                if not analysis.parsed:
                    why = _reason(
                        "firewall.unparseable",
                        "refused: PostgreSQL's grammar refuses it, and the firewall fails closed",
                    )
                    return Decision(Verdict.BLOCK, (*found.reasons, why))  # fmt: skip
                return self._with_allowlist(role, application, analysis, Verdict.BLOCK)
            case _:
                assert_never(mode)

    def weigh(self, stmt: Statement, found: Decision) -> Decision:
        """Findings on more than one statement (a whole simple Query), in the mode of the
        statement's role and application; nothing is learned from them."""
        match self._mode_for(stmt.session.role, stmt.session.application):
            case Mode.OFF:
                return Decision()
            case Mode.LEARN | Mode.MONITOR:
                return _capped(found)
            case Mode.ENFORCE:
                return found
            case other:
                assert_never(other)

    def _with_allowlist(
        self, role: str, application: str, analysis: Analysis, unknown: Verdict
    ) -> Decision:
        found = analysis.decision
        if analysis.parsed and self._allowlist.allows(role, application, analysis.fingerprint):
            return found
        detail = f"fingerprint {analysis.fingerprint or '(none)'} is not allowed for role {role!r}, application {application!r}"
        miss = Decision(unknown, (_reason("firewall.unknown_fingerprint", detail),))
        return Decision.combine([found, miss])


def _reason(code: str, detail: str) -> Reason:
    return Reason(code, detail, DB4)


def _capped(d: Decision) -> Decision:
    """Never more than an alert: ``learn`` and ``monitor`` refuse nothing."""
    if d.verdict == Verdict.BLOCK:
        return Decision(Verdict.ALERT, d.reasons)
    return d


def refusal(decision: Decision) -> tuple[str, str]:
    """The SQLSTATE and message of the ErrorResponse for a refused statement. The message names
    the reasons' codes, not their details (the client is the party that may be attacking)."""
    codes = ", ".join(dict.fromkeys(r.code for r in decision.reasons)) or "policy"
    return SQLSTATE_REFUSED, f"mamori: statement refused by the SQL firewall ({codes})"
