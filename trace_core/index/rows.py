"""CommitRow, the public row type of the commit index.

It lives in its own module, imported on first use; the command line's hot paths work on plain
tuples and never need it. (A NamedTuple, not a dataclass: the dataclasses module costs milliseconds
to import.)
"""

from __future__ import annotations

from typing import NamedTuple


class CommitRow(NamedTuple):
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
    summary: str
