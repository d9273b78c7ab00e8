"""The exception tree of trace_core: every error the library raises on purpose is a TraceError.

    TraceError
    ├── RepositoryError            no repository, unknown format version, bad layout
    │   ├── UnsupportedFormat      the repository's format version is unknown to this build
    │   ├── UnsafePath             a symlink inside .trace where trace reads or writes
    │   └── AgentNotFound          no agent namespace of that name (spawn it, or create it)
    ├── ConfigError                malformed config file, bad key or value
    ├── ObjectError                object-level problems
    │   ├── MalformedObject        bytes that do not decode to a valid canonical object
    │   ├── ObjectTooLarge         over the size bound (also decompression bombs)
    │   ├── CorruptObject          stored bytes whose hash does not match their id
    │   ├── MissingObject          an id that is not in the store
    │   └── UnreadableObject       not found where a damaged pack or pack index may hold it
    ├── InvalidObjectId            not hex, wrong length
    ├── AmbiguousObjectId          a short id that matches several objects
    ├── RefError                   ref problems
    │   ├── InvalidRefName         fails check-ref-format
    │   ├── RefNotFound            no such ref
    │   ├── RefConflict            compare-and-swap failed: the ref moved under us
    │   ├── CorruptRef             a ref file with a damaged record (not a torn write)
    │   └── SymrefLoop             symbolic refs nested too deep
    ├── LockError                  a lock is held by another writer
    │   └── RepackBusy             another repack or gc is running
    ├── RevisionError              a revision expression that cannot be resolved
    ├── PackError                  malformed pack or pack index
    ├── IndexError_                the SQLite index (always recoverable: it is rebuilt)
    ├── OperationError             a porcelain operation that cannot run in this state
    │   ├── BudgetExceeded         a strict commit that would cross the token budget
    │   ├── BranchMoved            the branch moved while an operation computed its result
    │   ├── MergeConflict          conflicts not yet resolved (merge, rebase, pick, revert)
    │   ├── MergeInProgress        refused: a stopped merge, rebase, pick or revert exists
    │   ├── StateError             MERGE_STATE exists but cannot be read
    │   ├── ReorderRefused         a strict reorder whose checks warned (trace_core.reorder)
    │   ├── ToolPairingError       a strict change that breaks tool-call pairing (toolpairs)
    │   └── ProviderError          an LLM request failed; the repository is unchanged
    │       ├── ProviderUnavailable    unreachable, timed out, or failing after retries
    │       ├── ProviderHTTPError      an HTTP error status not worth retrying
    │       └── ProviderResponseError  an answer that is not a valid completion
    ├── RemoteError                a remote that cannot be reached, read or written
    │   ├── RemoteNotFound         no remote of that name, or nothing at the URL
    │   ├── RemoteCorrupt          remote data that fails its checks (names the remote key)
    │   └── RemoteConflict         a conditional write lost: the remote object changed
    └── InputError                 user input that cannot be parsed (JSON, UTF-8, ranges)
"""

from __future__ import annotations


class TraceError(Exception):
    """Base of every error trace_core raises deliberately."""


class RepositoryError(TraceError):
    """No repository where one was expected, or a repository laid out wrongly."""


class UnsupportedFormat(RepositoryError):
    """The repository records a format version this build does not know."""


class UnsafePath(RepositoryError):
    """A symbolic link inside the repository where trace would read or write (never followed)."""


class AgentNotFound(RepositoryError):
    """An agent namespace that does not exist (spawned agents and `create=True` make one)."""


class ConfigError(TraceError):
    """A config file that does not parse, or a key or value that is not valid."""


class ObjectError(TraceError):
    """Base of object-level errors."""


class MalformedObject(ObjectError):
    """Bytes that do not decode to a valid, canonical object."""


class ObjectTooLarge(ObjectError):
    """An object (or its decompressed form) exceeds the configured size bound."""


class CorruptObject(ObjectError):
    """Stored bytes whose hash does not match the id they are stored under."""

    def __init__(self, oid_hex: str, detail: str = "") -> None:
        self.oid = oid_hex
        msg = f"object {oid_hex} is corrupt"
        if detail:
            msg += f": {detail}"
        super().__init__(msg)


class MissingObject(ObjectError):
    """An id that is not present in the object store."""

    def __init__(self, oid_hex: str) -> None:
        self.oid = oid_hex
        super().__init__(f"object {oid_hex} not found")


class UnreadableObject(ObjectError):
    """An object not found while a pack or pack index is damaged: it may be there, unreadable.
    Never reported as merely missing, so that damage is not mistaken for absence."""

    def __init__(self, oid_hex: str, detail: str) -> None:
        self.oid = oid_hex
        super().__init__(f"object {oid_hex} cannot be read: {detail}")


class InvalidObjectId(TraceError):
    """A string or bytes value that is not a well-formed object id."""


class AmbiguousObjectId(TraceError):
    """A short id matching more than one object."""

    def __init__(self, prefix: str, candidates: list[str]) -> None:
        self.prefix = prefix
        self.candidates = candidates
        super().__init__(f"short id {prefix} is ambiguous ({len(candidates)} objects match)")


class RefError(TraceError):
    """Base of ref errors."""


class InvalidRefName(RefError):
    """A ref name that git check-ref-format would refuse."""


class RefNotFound(RefError):
    """A ref that does not exist."""


class RefConflict(RefError):
    """A compare-and-swap whose expected old value did not match."""


class CorruptRef(RefError):
    """A ref file whose bytes are damaged, not merely torn by a killed writer (FORMAT.md §9.3):
    the ref cannot be read, and no writer touches the file, so the evidence stays."""


class SymrefLoop(RefError):
    """Symbolic refs nested deeper than the resolution limit."""


class LockError(TraceError):
    """A lock held by another writer."""


class RepackBusy(LockError):
    """Another repack or gc holds the repack lock."""


class RevisionError(TraceError):
    """A revision expression that cannot be resolved."""


class PackError(TraceError):
    """A pack or pack index that is malformed or fails its checksum."""


class IndexError_(TraceError):
    """The derived SQLite index is unusable (callers rebuild it)."""


class OperationError(TraceError):
    """A porcelain operation that cannot run in the repository's current state."""


class BudgetExceeded(OperationError):
    """A commit refused under strict budget checking."""


class BranchMoved(OperationError):
    """The branch moved (another process committed) between reading it and publishing to it."""


class InputError(TraceError):
    """User input that cannot be parsed or is out of range."""


class ProviderError(OperationError):
    """An LLM provider request failed (the repository is unchanged)."""


class ProviderUnavailable(ProviderError):
    """The endpoint could not be reached, timed out, or kept failing after the retries."""


class ProviderHTTPError(ProviderError):
    """The endpoint refused the request (an HTTP error status that is not worth retrying)."""


class ProviderResponseError(ProviderError):
    """The endpoint answered something that is not a valid completion (garbage, empty, too big)."""


class MergeConflict(OperationError):
    """A merge, rebase, cherry-pick or revert stopped with conflicts recorded in the merge state."""


class MergeInProgress(OperationError):
    """An operation was refused because a merge, rebase, cherry-pick or revert is in progress."""


class StateError(OperationError):
    """MERGE_STATE exists but cannot be read (the message says how to get out)."""


class RemoteError(TraceError):
    """A remote (docs/remotes.md) that cannot be reached, read or written."""


class RemoteNotFound(RemoteError):
    """No remote of that name is configured, or no Trace remote is stored at the URL."""


class RemoteCorrupt(RemoteError):
    """Data read from a remote failed its checks (a checksum, a hash, the layout)."""


class RemoteConflict(RemoteError):
    """A conditional write lost: the object changed (or appeared) since it was read."""
