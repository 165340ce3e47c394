"""Run a function over chunks of work in worker processes, results in order (the importer's).

An import is two jobs: reading records (inflating, parsing, checking; about two thirds) and
writing them to SQLite. Python runs one thread of Python code at a time, so :func:`ordered`
reads in forked worker processes while the caller writes what they have read: the two jobs
overlap instead of following each other. When the caller would wait for the next chunk, it
reads the last chunk no worker has been given itself (work stealing), so neither side idles
while there is work. With one processor, or little work, it runs in the caller, in order.

Workers are *forked*: they inherit the loaded modules and the caller's data (the archive's
bytes), and only each chunk (a list of zip members or paths) is pickled on the way in; results
come back pickled. They never touch what else they inherit
(the caller's open SQLite connection above all: SQLite forbids using a connection across
fork), and end with ``os._exit`` as multiprocessing's workers do, which closes nothing. Where fork is not available the work runs
in the caller. The cyclic garbage collector is paused while reading (:mod:`mamori.gcpause`).
"""

from __future__ import annotations

import multiprocessing
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, TypeVar

from mamori.gcpause import gc_paused
from mamori.vuln.errors import VulnError

C = TypeVar("C")
R = TypeVar("R")

_JOB: Any = None
"""The function and its fixed argument, set in the caller before the workers are forked."""
_BUSY = threading.Lock()


def workers_available() -> int:
    """Processors this process may use, less one for the caller; at least 0."""
    try:
        cpus = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        cpus = os.cpu_count() or 1
    return max(0, min(cpus - 1, 4))


def _watch_parent(parent: int) -> None:
    """In a worker: exit when the process that forked it is gone. A caller killed outright
    (SIGKILL) leaves its workers waiting on their queue for ever otherwise."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        os._exit(1)

    threading.Thread(target=watch, name="mamori-parent-watch", daemon=True).start()


def _call(chunk: Any) -> Any:
    fn, fixed = _JOB
    with gc_paused():
        return fn(fixed, chunk)


def ordered(
    fn: Callable[[Any, C], R],
    fixed: Any,
    chunks: Sequence[C],
    *,
    workers: int | None = None,
) -> Iterator[R]:
    """``fn(fixed, chunk)`` for each chunk, yielded in the chunks' order.

    `workers` worker processes (default :func:`workers_available`); none when it is 0, when
    there is a single chunk, or when the platform cannot fork. `fn` must be a module-level
    function; `fixed` is inherited by the workers, not pickled. A worker that dies is a
    :class:`VulnError`.
    """
    n = workers_available() if workers is None else workers
    forking = n >= 1 and len(chunks) >= 2 and "fork" in multiprocessing.get_all_start_methods()
    # One forked run at a time per process (the job is a module global); another thread's run
    # meanwhile reads in its caller.
    if not forking or not _BUSY.acquire(blocking=False):
        for chunk in chunks:
            with gc_paused():
                result = fn(fixed, chunk)
            yield result
        return
    try:
        yield from _forked(fn, fixed, chunks, n)
    finally:
        _BUSY.release()


def _forked(fn: Callable[[Any, C], R], fixed: Any, chunks: Sequence[C], n: int) -> Iterator[R]:
    global _JOB
    _JOB = (fn, fixed)
    pool = ProcessPoolExecutor(
        max_workers=n,
        mp_context=multiprocessing.get_context("fork"),
        initializer=_watch_parent,
        initargs=(os.getpid(),),
    )
    pending = deque(range(len(chunks)))  # not given to a worker yet; stolen from the end
    running: dict[int, Future[Any]] = {}
    stolen: dict[int, Any] = {}

    def top_up() -> None:
        # At most four chunks a worker in flight: the workers always have the next one at hand,
        # and results wait in memory only this many at a time.
        while pending and len(running) < 4 * n:
            i = pending.popleft()
            running[i] = pool.submit(_call, chunks[i])

    try:
        for i in range(len(chunks)):
            if i in stolen:
                yield stolen.pop(i)
                continue
            top_up()
            future = running.pop(i)
            top_up()
            # Rather than wait for chunk i, read the last chunk no worker has been given.
            while pending and not future.done():
                j = pending.pop()
                with gc_paused():
                    stolen[j] = fn(fixed, chunks[j])
            try:
                result = future.result()
            except BrokenProcessPool as e:
                raise VulnError(
                    "a worker process reading the advisories stopped unexpectedly",
                    hint="check the memory available (dmesg shows the OOM killer), then "
                    "import again; nothing of this import was stored",
                ) from e
            yield result
    finally:
        # Nothing is cancelled: Python 3.11's pool, when a worker dies, sets an error on
        # every future it holds and fails on one already cancelled. At most 4n chunks are
        # in flight, so waiting for them is short.
        pool.shutdown(wait=True)
        _JOB = None
