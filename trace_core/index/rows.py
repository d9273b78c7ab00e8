"""CommitRow, the public row type of the commit index.

It lives in its own module, imported on first use: creating a dataclass costs about a millisecond
at import time, and the command line's hot paths work on plain tuples and never need it.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class CommitRow:
    """What the index knows about one commit (ids are raw 32-byte values)."""

    id: bytes
    parents: tuple
    generation: int
    time_ms: int
    tz: int
    author: str
    op: str
    tokens: int
    total_tokens: int
    snapshot: bytes
    summary: str
