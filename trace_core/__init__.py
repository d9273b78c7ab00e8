"""Trace: version control for the context windows of LLM agents.

The curated public API. Submodules are imported on first attribute access, so `import trace_core`
stays cheap for command-line start-up.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:   # the lazy exports below, typed for mypy and IDEs
    from .errors import (
        AmbiguousObjectId,
        BranchMoved,
        BudgetExceeded,
        ConfigError,
        CorruptObject,
        CorruptRef,
        InputError,
        InvalidObjectId,
        InvalidRefName,
        LockError,
        MalformedObject,
        MergeConflict,
        MergeInProgress,
        MissingObject,
        ObjectError,
        ObjectTooLarge,
        OperationError,
        PackError,
        ProviderError,
        ProviderHTTPError,
        ProviderResponseError,
        ProviderUnavailable,
        RefConflict,
        RefError,
        RefNotFound,
        RemoteConflict,
        RemoteCorrupt,
        RemoteError,
        RemoteNotFound,
        RepackBusy,
        RepositoryError,
        RevisionError,
        StateError,
        SymrefLoop,
        TraceError,
        UnreadableObject,
        UnsafePath,
        UnsupportedFormat,
    )
    from .objects import Blob, Commit, Entry, Node, Snapshot
    from .repository import Repository
    from .state import RepoState
    from .tokens import CharCounter, TiktokenCounter

# the release, as pyproject.toml declares it (tests/test_cli_fast.py checks trace_cli's agrees)
__version__ = "0.1.0"

_EXPORTS = {
    "Repository": "trace_core.repository",
    "RepoState": "trace_core.state",
    "Blob": "trace_core.objects",
    "Commit": "trace_core.objects",
    "Entry": "trace_core.objects",
    "Node": "trace_core.objects",
    "Snapshot": "trace_core.objects",
    "TraceError": "trace_core.errors",
    "RepositoryError": "trace_core.errors",
    "UnsupportedFormat": "trace_core.errors",
    "ConfigError": "trace_core.errors",
    "ObjectError": "trace_core.errors",
    "MalformedObject": "trace_core.errors",
    "ObjectTooLarge": "trace_core.errors",
    "CorruptObject": "trace_core.errors",
    "MissingObject": "trace_core.errors",
    "UnreadableObject": "trace_core.errors",
    "InvalidObjectId": "trace_core.errors",
    "AmbiguousObjectId": "trace_core.errors",
    "RefError": "trace_core.errors",
    "InvalidRefName": "trace_core.errors",
    "RefNotFound": "trace_core.errors",
    "RefConflict": "trace_core.errors",
    "LockError": "trace_core.errors",
    "RevisionError": "trace_core.errors",
    "OperationError": "trace_core.errors",
    "BudgetExceeded": "trace_core.errors",
    "InputError": "trace_core.errors",
    "BranchMoved": "trace_core.errors",
    "MergeConflict": "trace_core.errors",
    "MergeInProgress": "trace_core.errors",
    "StateError": "trace_core.errors",
    "RepackBusy": "trace_core.errors",
    "ProviderError": "trace_core.errors",
    "ProviderUnavailable": "trace_core.errors",
    "ProviderHTTPError": "trace_core.errors",
    "ProviderResponseError": "trace_core.errors",
    "PackError": "trace_core.errors",
    "SymrefLoop": "trace_core.errors",
    "CorruptRef": "trace_core.errors",
    "UnsafePath": "trace_core.errors",
    "RemoteError": "trace_core.errors",
    "RemoteNotFound": "trace_core.errors",
    "RemoteCorrupt": "trace_core.errors",
    "RemoteConflict": "trace_core.errors",
    "TiktokenCounter": "trace_core.tokens",
    "CharCounter": "trace_core.tokens",
}

# written out (not sorted(_EXPORTS)) so that static tools read it; tests check they agree
__all__ = ["AmbiguousObjectId", "Blob", "BranchMoved", "BudgetExceeded", "CharCounter", "Commit",
           "ConfigError", "CorruptObject", "CorruptRef", "Entry", "InputError", "InvalidObjectId",
           "InvalidRefName", "LockError", "MalformedObject", "MergeConflict", "MergeInProgress",
           "MissingObject", "Node", "ObjectError", "ObjectTooLarge", "OperationError",
           "PackError", "ProviderError", "ProviderHTTPError", "ProviderResponseError",
           "ProviderUnavailable", "RefConflict", "RefError", "RefNotFound", "RemoteConflict",
           "RemoteCorrupt", "RemoteError", "RemoteNotFound", "RepackBusy", "RepoState",
           "Repository", "RepositoryError", "RevisionError", "Snapshot", "StateError",
           "SymrefLoop", "TiktokenCounter", "TraceError", "UnreadableObject", "UnsafePath",
           "UnsupportedFormat"]


def __getattr__(name: str) -> Any:
    mod = _EXPORTS.get(name)
    if mod is None:
        raise AttributeError(f"module 'trace_core' has no attribute {name!r}")
    return getattr(importlib.import_module(mod), name)


def __dir__() -> list[str]:
    return __all__
