"""A verification of the ledger started from the console: one at a time, in a thread.

:class:`VerifyRunner` runs :func:`mamori.ledger.verify.verify` over a read-only
:class:`~mamori.ledger.store.Reader` with the home's public key, keeps its progress and its
result for the status fragment to show, and records ``ledger.verified`` (with the console
account as ``actor``) like `mamori ledger verify` does.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Final

from mamori import audit
from mamori.errors import MamoriError
from mamori.home import Home
from mamori.ledger.note import Verifier
from mamori.ledger.store import Reader
from mamori.ledger.verify import Problem, verify

__all__ = ["PROBLEMS_SHOWN", "RunState", "VerifyRunner"]

PROBLEMS_SHOWN: Final = 100
"""Problems kept for the page; the count is always the whole number."""

_log = logging.getLogger("mamori.web")


@dataclass(slots=True)
class RunState:
    """A verification run: running, or finished with a result, or failed to run."""

    started_by: str
    started: float
    done: int = 0
    total: int = 0
    finished: bool = False
    ok: bool | None = None
    tree_size: int = 0
    problem_count: int = 0
    problems: list[Problem] = field(default_factory=list)
    error: str | None = None
    """Set when the run could not check the ledger at all (unreadable, no key)."""

    @property
    def percent(self) -> int:
        if self.finished:
            return 100
        return 0 if self.total <= 0 else min(99, self.done * 100 // self.total)


class VerifyRunner:
    """Starts runs one at a time and remembers the latest."""

    def __init__(self, home: Home) -> None:
        self.home = home
        self._lock = threading.Lock()
        self._state: RunState | None = None
        self._thread: threading.Thread | None = None

    def current(self) -> RunState | None:
        """The latest run (a copy of its figures is not needed: fields are set atomically)."""
        return self._state

    def running(self) -> bool:
        state = self._state
        return state is not None and not state.finished

    def start(self, actor: str) -> bool:
        """Start a run for `actor`; False when one is already running."""
        with self._lock:
            if self.running():
                return False
            state = RunState(started_by=actor, started=time.time())
            self._state = state
            self._thread = threading.Thread(
                target=self._run, args=(state,), name="mamori-verify", daemon=True
            )
            self._thread.start()
            return True

    def join(self, timeout: float | None = None) -> None:
        """Wait for the current run's thread (tests, shutdown)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def _run(self, state: RunState) -> None:
        def progress(done: int, total: int) -> None:
            state.done, state.total = done, total

        try:
            verifier = Verifier.parse(self.home.public_key_text())
            with Reader(self.home.ledger_db) as reader:
                report = verify(reader, verifier, progress=progress)
        except MamoriError as e:
            state.error = e.message
            state.finished = True
            _log.warning("the console's verification could not run: %s", e.message)
            return
        except Exception as e:  # never leave the page polling a run that died
            state.error = type(e).__name__
            state.finished = True
            _log.error("the console's verification failed: %s", type(e).__name__)
            return
        # Self-audit, best effort like the CLI: the verdict stands even if it cannot be noted.
        with contextlib.suppress(MamoriError):
            audit.record(
                self.home,
                "ledger.verified",
                outcome="success" if report.ok else "failure",
                fields={
                    "tree_size": report.tree_size,
                    "problems": len(report.problems),
                    "actor": state.started_by,
                },
            )
        state.tree_size = report.tree_size
        state.problem_count = len(report.problems)
        state.problems = report.problems[:PROBLEMS_SHOWN]
        state.ok = report.ok
        state.finished = True
