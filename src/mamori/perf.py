"""Small helpers for the hot paths."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_cyclic_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector around bulk work.

    Bulk appends and verification create millions of short-lived tuples and bytes that hold
    no reference cycles; the cyclic collector would walk them again and again for nothing
    (measured: about 15% of verify time). Reference counting still frees everything.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
