"""The commit primitive every operation goes through, transactions, and publishing results.

`commit_change` reads the tip of the ref commits move, hands (parent commit, parent snapshot) to
a `build` function that returns a `Change`, writes the new objects with one store write, and
moves the ref with a compare-and-swap. If another process moved it in between, the change is
rebuilt on the new tip and tried again (with randomized back-off), so concurrent writers of one
branch never lose each other's commits. Inside `Transaction` the same builds are chained in
memory and the ref moves once at the end.

`publish` is the other way a ref moves to a new commit: for results computed elsewhere (merge,
cherry-pick, revert, rebase, reset) it compare-and-swaps one ref from where the operation
started, records ORIG_HEAD in the same ref transaction, and fails with `BranchMoved` if the ref
moved meanwhile. No other code moves a branch or builds a `Commit` to publish.

Both check tool-call integrity (plumbing.integrity): a change that breaks a call/result pair
that was intact before warns through `repo.warn` once it is made, and is refused with
`ToolPairingError` (nothing moved) while `repo.tools_strict` is set. Inside a transaction the
check runs once, on the whole transaction, when it publishes.

With hook callbacks registered (trace_core.hooks), every ref move here fires its events once it is
made (plumbing.events): `ref`, `commit` for each new commit (a transaction's, in order, when it
publishes; commits written with `write_change`, when a publish or ref move reaches them), then the
operation's event. Without callbacks each move reads `repo.hooks.active` and nothing more.
"""

from __future__ import annotations

import fcntl
import os
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import chunked
from ..errors import BranchMoved, BudgetExceeded, OperationError, RefConflict
from ..ids import to_hex
from ..objects import Commit, Snapshot, TraceObject
from ..state import RepoState
from . import events
from .integrity import change_problems, move_problems, verdict
from .refs import ANY, move_refs

MAX_RETRIES = 64
BACKOFF_CAP = 0.05   # seconds: the longest pause between two attempts of one operation


class Change:
    """What an operation produces from (parent commit, parent snapshot). (A plain class, not a
    dataclass: creating dataclasses costs milliseconds at import, on every command's path.)"""

    __slots__ = ("snapshot", "objects", "op", "blobs", "targets", "message", "tokens",
                 "total_tokens", "meta")

    def __init__(self, snapshot: Snapshot, objects: list[TraceObject], op: str,
                 blobs: Sequence[bytes] = (), targets: Sequence[int] = (), message: str = "",
                 tokens: int = 0, total_tokens: int = 0, meta: dict | None = None) -> None:
        self.snapshot = snapshot
        self.objects = objects
        self.op = op
        self.blobs = blobs
        self.targets = targets
        self.message = message
        self.tokens = tokens
        self.total_tokens = total_tokens
        self.meta = meta

    def __repr__(self) -> str:
        return f"Change(op={self.op!r}, objects={len(self.objects)}, tokens={self.tokens})"


Build = Callable[[Commit | None, Snapshot], Change]


def now_and_tz() -> tuple[int, int]:
    """(milliseconds since the epoch, the local UTC offset in minutes)."""
    t = time.time()
    lt = time.localtime(t)
    return int(t * 1000), int((lt.tm_gmtoff or 0) // 60)


# -- reading the tip --------------------------------------------------------------------------
def tip(repo: RepoState) -> tuple[str, bytes | None, Commit | None, Snapshot]:
    """(the ref commits move, its commit id or None, that commit, its snapshot)."""
    target, value = repo.refs.resolve_target(repo.head_ref)
    if value is None:
        if repo.head_ref == "HEAD" and target == "HEAD":  # a new agent namespace
            repo.refs.set_symbolic("HEAD", "refs/heads/main", message="agent: first commit")
            if repo.hooks.active:
                events.moved_after(repo, "HEAD", "ref:refs/heads/main", "agent: first commit")
            target = "refs/heads/main"
        return target, None, None, chunked.EMPTY
    cid = bytes.fromhex(value)
    commit = repo.get_commit(cid)
    return target, cid, commit, repo.get_snapshot(commit.snapshot)


def snapshot_of_commit(repo: RepoState, cid: bytes | None) -> Snapshot:
    """The snapshot of commit `cid` (the empty snapshot for None)."""
    if cid is None:
        return chunked.EMPTY
    return repo.get_snapshot(repo.get_commit(cid).snapshot)


# -- tokens -----------------------------------------------------------------------------------
def count_entries(repo: RepoState, entries: Sequence[Any]) -> int:
    """Tokens of a context made of these entries (framing and reply priming included)."""
    from ..tokens import REPLY_PRIMING
    if not entries:
        return 0
    return sum(repo.blob_tokens(e.blob) for e in entries) + REPLY_PRIMING


def total_after(repo: RepoState, parent: Commit | None, before: Snapshot, delta: int,
                after_count: int) -> int:
    """The context total after a change of `delta` tokens to the context of `parent`
    (recounted when `parent` was counted with another encoding)."""
    from ..tokens import REPLY_PRIMING
    prev = parent.total_tokens if parent is not None else 0
    if parent is not None and parent.encoding != repo.token_counter().name:
        prev = count_entries(repo, chunked.entries(before, repo.get_node))
    body = prev - (REPLY_PRIMING if before.count else 0) + delta
    return body + REPLY_PRIMING if after_count else 0


# -- building commits -------------------------------------------------------------------------
def make_commit(repo: RepoState, change: Change, parents: Sequence[bytes],
                author: str | None = None) -> Commit:
    """The commit object of `change` on `parents` (now, or the view's `commit_time`; this
    repository's author and encoding)."""
    t, tz = repo.commit_time or now_and_tz()
    return Commit(parents=list(parents), snapshot=change.snapshot.id, op=change.op,
                  blobs=change.blobs, targets=change.targets, message=change.message,
                  author=author or repo.who, time_ms=t, tz_min=tz, tokens=change.tokens,
                  total_tokens=change.total_tokens, encoding=repo.token_counter().name,
                  meta=change.meta)


def write_change(repo: RepoState, change: Change, parents: Sequence[bytes],
                 author: str | None = None) -> Commit:
    """Write the objects of `change` and its commit with one store write; no ref moves. (With
    hook callbacks registered, its `commit` event fires when a ref move reaches it.)"""
    commit = _write(repo, change, parents, author)
    if repo.hooks.active:
        repo.hooks.remember(commit)
    return commit


def _write(repo: RepoState, change: Change, parents: Sequence[bytes],
           author: str | None) -> Commit:
    commit = make_commit(repo, change, parents, author)
    repo.store.write([*change.objects, change.snapshot, commit])
    return commit


def check_budget(repo: RepoState, change: Change) -> None:
    """Refuse a change that crosses a budget threshold while `budget_strict` is set."""
    if not repo.budget_strict:
        return
    from .budgets import budget_warnings
    warnings = budget_warnings(repo, change.total_tokens)
    if warnings:
        raise BudgetExceeded(f"refused ({change.op}): {warnings[0]}")


def commit_change(repo: RepoState, build: Build, author: str | None = None) -> Commit:
    """Apply `build` to the tip and move HEAD's branch (or detached HEAD) with CAS + retry;
    inside a transaction, chain it onto the transaction's tip instead."""
    if repo.open_transaction is not None:
        return repo.open_transaction.apply(build, author)
    for attempt in range(MAX_RETRIES):
        if attempt >= 2:  # contention: back off (randomized) so that a writer rebuilding a
            backoff(attempt)  # large change is not beaten by a tight append loop forever
        with _turn(repo, exclusive=attempt >= EXCLUSIVE_AFTER):
            target, cid, parent, snap = tip(repo)
            change = build(parent, snap)
            check_budget(repo, change)
            warning = verdict(repo, change.op, change_problems(repo, snap, change))
            commit = _write(repo, change, [cid] if cid else [], author)
            message = f"{change.op}: {commit.summary}"[:200]
            try:  # the branch the tip was read from, even if HEAD was switched meanwhile
                repo.refs.set_if_equals(target, cid.hex() if cid else None, commit.hex,
                                        message=message, deref=False)
            except RefConflict:
                continue
        maybe_seal(repo)
        if warning:
            repo.warn(warning)
        if repo.hooks.active:
            events.committed(repo, target, cid.hex() if cid else None, [commit], message)
        return commit
    raise OperationError("the branch kept moving under us; gave up after "
                         f"{MAX_RETRIES} attempts")


#: failed attempts after which a writer takes its turn exclusively (see _turn)
EXCLUSIVE_AFTER = 4


class _turn:
    """Fairness between writers of one namespace: every attempt holds `commit.lock` shared
    (uncontended, two flock calls); a writer that lost EXCLUSIVE_AFTER races holds it
    exclusively, so the others wait at their next attempt while it reads the tip, builds and
    moves the ref: a fast loop of commits in one process cannot starve a slower writer in
    another. (The compare-and-swap, not this lock, keeps every update correct.) A context
    manager; a class rather than a generator, which costs more on every commit."""

    __slots__ = ("fd", "exclusive")

    def __init__(self, repo: RepoState, exclusive: bool) -> None:
        root = repo._root
        key = repo.refs_root
        pid = os.getpid()
        held = root._turn_fds.get(key)
        if held is None or held[0] != pid:  # (a forked child must not share its parent's lock)
            from ..storage import safefs
            safefs.makedirs(repo.trace_dir, key)  # (a new agent's namespace has no directory)
            fd = safefs.open_fd(os.path.join(key, TURN_LOCK), os.O_RDWR | os.O_CREAT)
            root._turn_fds[key] = held = (pid, fd)
        self.fd = held[1]
        self.exclusive = exclusive

    def __enter__(self) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_EX if self.exclusive else fcntl.LOCK_SH)

    def __exit__(self, *exc: Any) -> None:
        fcntl.flock(self.fd, fcntl.LOCK_UN)


#: the file of _turn, in each namespace's root (beside HEAD); docs/FORMAT.md §14
TURN_LOCK = "commit.lock"


def backoff(attempt: int, cap: float = BACKOFF_CAP) -> None:
    """Sleep a random time, growing with `attempt`, up to `cap` seconds: between the attempts
    of an operation that lost a compare-and-swap (a commit here, a remote's refs in a push)."""
    import random
    time.sleep(random.uniform(0, min(cap, 0.0005 * 2 ** attempt)))


def maybe_seal(repo: RepoState) -> None:
    """After a ref moved: hand a full journal to the background sealer (storage/sealer.py; the
    check is repeated here so that a commit imports the sealer only when there is work)."""
    if repo.store.journal_full():
        from ..storage.sealer import maybe_seal as seal
        seal(repo.store)


class Transaction:
    """Commits built in memory on top of the tip and published with one compare-and-swap.

    `with Transaction(repo):` routes every `commit_change` of `repo` here; on a clean exit the
    ref moves once to the last commit (refused if it moved meanwhile), on an exception it stays
    (objects already written are unreferenced until gc)."""

    def __init__(self, repo: RepoState) -> None:
        self.repo = repo
        self.commits: list[Commit] = []
        self._ref = ""
        self._base: bytes | None = None
        self._tip: Any = None

    def __enter__(self) -> Transaction:
        if self.repo.open_transaction is not None:
            raise OperationError("a transaction is already open on this repository")
        self._ref, cid, parent, snap = tip(self.repo)
        self._base = cid
        self._tip = (cid, parent, snap)
        self.repo.open_transaction = self
        self.repo.store.begin_batch()  # the objects go straight into one pack at the end
        return self

    def apply(self, build: Build, author: str | None) -> Commit:
        cid, parent, snap = self._tip
        change = build(parent, snap)
        check_budget(self.repo, change)
        commit = _write(self.repo, change, [cid] if cid else [], author)
        self._tip = (commit.id, commit, change.snapshot)
        self.commits.append(commit)
        return commit

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> None:
        self.repo.open_transaction = None
        ok = exc_type is None and bool(self.commits)
        # objects are published before the ref names them; a clean exit keeps what was
        # written even without a commit (plumbing's hash-object -w, commit-tree said "stored")
        self.repo.store.end_batch(keep=exc_type is None)
        if not ok:
            return
        n = len(self.commits)
        what = f"transaction of {n} commit{'s' * (n != 1)}"
        warning = verdict(self.repo, what, move_problems(self.repo, self._base,
                                                        self.commits[-1].id))
        # the branch the tip was read from, even if HEAD was switched meanwhile
        old = to_hex(self._base) if self._base else None
        message = f"transaction: {n} commit{'s' * (n != 1)}"
        self.repo.refs.set_if_equals(self._ref, old, self.commits[-1].hex, deref=False,
                                     message=message)
        maybe_seal(self.repo)
        if warning:
            self.repo.warn(warning)
        if self.repo.hooks.active:  # after the one ref move: every commit, in order
            events.committed(self.repo, self._ref, old, self.commits, message)


# -- publishing results computed elsewhere ----------------------------------------------------
def publish(repo: RepoState, ref: str, old: str | None, new: str, message: str, *,
            orig_head: bool = True, orig_head_message: str | None = None) -> None:
    """Move `ref` (not dereferenced) from `old` (hex, None: absent) to `new`, recording `old` as
    ORIG_HEAD in the same ref transaction; `BranchMoved` if `ref` no longer holds `old`.
    Checks tool-call integrity from `old`'s context to `new`'s (module docstring)."""
    warning = verdict(repo, message.split(":")[0], move_problems(
        repo, bytes.fromhex(old) if old else None, bytes.fromhex(new)))
    updates: list = []
    if orig_head and old is not None:
        updates.append(("ORIG_HEAD", ANY, old, orig_head_message or message))
    updates.append((ref, old, new))
    try:
        made = move_refs(repo, updates, message)
    except RefConflict:
        raise BranchMoved(f"{ref} moved while the operation ran (another process "
                          "committed); nothing was changed: run it again") from None
    maybe_seal(repo)
    if warning:
        repo.warn(warning)
    if repo.hooks.active:
        events.published(repo, ref, old, new, message, made)
