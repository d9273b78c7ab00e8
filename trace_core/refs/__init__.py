"""Refs: named, compare-and-swap pointers to commits, each with its log (docs/FORMAT.md, "Refs")."""

from .names import (
                    MAX_AGENT_DEPTH,
                    PSEUDO_REFS,
                    check_agent_name,
                    check_agent_path,
                    check_ref_format,
                    check_writable,
                    shorten,
)
from .reffile import RefLogEntry
from .store import ANY, RefStore, RefTransaction

__all__ = ["ANY", "MAX_AGENT_DEPTH", "PSEUDO_REFS", "RefLogEntry", "RefStore", "RefTransaction",
           "check_agent_name", "check_agent_path", "check_ref_format", "check_writable", "shorten"]
