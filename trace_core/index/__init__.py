"""The derived SQLite index over the object store (a cache: always rebuildable)."""

from .sqlite_index import CommitIndex

__all__ = ["CommitIndex", "CommitRow"]


def __getattr__(name: str):
    if name == "CommitRow":  # imported on first use (see rows.py)
        from .rows import CommitRow
        return CommitRow
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
