"""The derived SQLite index over the object store (a cache: always rebuildable)."""

from .sqlite_index import CommitIndex, CommitRow

__all__ = ["CommitIndex", "CommitRow"]
