"""Pausing Python's cyclic garbage collector around work that builds many objects.

A full collection walks every tracked object; work that builds some hundred thousand small
objects without reference cycles (parsed records, advisories, findings) sets off collection
after collection, each walking all of them again — half of a vulnerability scan's time, a third
of an import's. Such work runs inside :func:`gc_paused`; what it leaves behind is collected once
the collector runs again. Reference counting still frees everything that is not in a cycle.
"""

from __future__ import annotations

import contextlib
import gc
from collections.abc import Iterator


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """No cyclic garbage collection inside; the collector is left as it was (a caller that had
    disabled it keeps it disabled)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
