"""Bulk work without collector pauses: reading or rendering a whole context allocates one dict per
message, and Python's cyclic garbage collector, triggered by allocation counts, would scan every
live object again and again while it does (a 100,000-message context: most of the time spent).
Nothing these loops build holds a reference cycle, so pausing the collector for them is safe."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def no_gc_pauses() -> Iterator[None]:
    """Pause the cyclic collector for the block (reference counting still frees everything);
    it is re-enabled afterwards only if it was enabled before (nesting and callers that
    disabled it themselves are respected)."""
    was = gc.isenabled()
    if was:
        gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
