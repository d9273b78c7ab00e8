"""Merge a branch into the current one, and settle, continue or abort a stopped merge, rebase,
cherry-pick or revert (docs/merge.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..errors import BranchMoved, InputError, MergeConflict, OperationError
from ..ids import to_hex
from ..plumbing.commit import publish
from ..plumbing.revparse import resolve_ref_name, resolve_revision
from ..plumbing.walks import merge_bases
from ..state import RepoState
from . import state as mergestate
from .machinery import (
    MergeResult,
    apply_strategy,
    check_options,
    finish,
    head,
    save_state,
    settle_text,
    three_way,
    work_from_state,
)
from .merge3 import Conflict
from .replay import rebase_run

if TYPE_CHECKING:
    from .driver import MergeDriver


def merge_state(repo: RepoState) -> mergestate.MergeState | None:
    """The merge, rebase, cherry-pick or revert stopped on conflicts, or None."""
    return mergestate.load(repo)


def merge(repo: RepoState, rev: str, *, strategy: str = "manual", order: str | None = None,
          message: str | None = None, ff: str = "auto",
          driver: MergeDriver | None = None) -> MergeResult:
    """Merge commit `rev` into the current branch (see docs/merge.md).

    ff: auto (fast-forward when possible), only (refuse otherwise), never (always a merge
    commit). strategy: manual (conflicts stop the merge), ours, theirs, union, semantic
    (a driver settles conflicts and flags contradictions; offline rules by default)."""
    mergestate.refuse_if_in_progress(repo)
    order = check_options(repo, strategy, order)
    if ff not in ("auto", "only", "never"):
        raise InputError(f"unknown fast-forward mode {ff!r} (auto, only, never)")
    theirs = resolve_revision(repo, rev)
    for attempt in range(16):  # another process committing meanwhile: merge its tip again
        try:
            return _merge_once(repo, rev, theirs, strategy, order, message, ff, driver)
        except BranchMoved:
            if strategy == "semantic" or attempt == 15:
                raise  # (a driver's answer was about the old tip: do not reuse it)
    raise AssertionError("unreachable")


def _merge_once(repo: RepoState, rev: str, theirs: bytes, strategy: str, order: str,
                message: str | None, ff: str, driver) -> MergeResult:
    ref, ours = head(repo)
    if resolve_ref_name(repo, rev) == ref or rev == "HEAD":
        raise OperationError(f"cannot merge {rev} into itself")
    if ours == theirs:
        return MergeResult("merge", "up-to-date", to_hex(ours))
    bases = merge_bases(repo, ours, theirs) if ours is not None else []
    if ours is not None and theirs in bases:   # (no bases without ours)
        return MergeResult("merge", "up-to-date", to_hex(ours))
    if ours is None or (ff != "never" and ours in bases):
        publish(repo, ref, to_hex(ours) if ours else None, to_hex(theirs),
                   f"merge {rev}: fast-forward")
        return MergeResult("merge", "fast-forward", to_hex(theirs))
    if ff == "only":
        raise OperationError(f"not possible to fast-forward to {rev}; the branches diverged")
    base = bases[0] if bases else None
    w = three_way(repo, base, ours, theirs, order, fast=strategy != "semantic")
    usage, dname = apply_strategy(repo, w, strategy, driver)
    msg = message or f"merge {rev}"
    st = mergestate.MergeState("merge", ref, to_hex(ours), to_hex(ours), to_hex(theirs),
                               to_hex(base) if base else None, theirs_name=rev,
                               strategy=strategy, order=order, message=msg,
                               inference=usage, driver=dname,
                               deduplicated=w.outcome.deduplicated)
    st.conflicts = w.outcome.conflicts
    if any(not c.resolved for c in w.outcome.conflicts):
        save_state(repo, st, w)
        return MergeResult("merge", "conflicts", None, w.outcome.conflicts, st.base,
                           w.outcome.deduplicated, usage, dname)
    return finish(repo, st, w)


def resolve_conflict(repo: RepoState, conflict_id: int, action: str, text: str | None = None,
            role: str | None = None) -> Conflict:
    """Settle one conflict of the stopped operation: ours, theirs, both, base, drop, or text
    (a new message with `text`, in the role of the conflicting entries unless `role`)."""
    st = mergestate.load(repo)
    if st is None:
        raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
    c = st.conflict(conflict_id)
    if action not in mergestate.ACTIONS:
        raise InputError(f"unknown resolution {action!r} ({', '.join(mergestate.ACTIONS)})")
    if action == "text":
        settle_text(repo, c, text, "user", role)
    else:
        if text is not None:
            raise InputError("text is given only with the 'text' resolution")
        if action == "base" and c.base is None:
            raise InputError(f"conflict {c.id} ({c.kind}) has no base version")
        c.settle(action, "user")
    mergestate.save(repo, st)
    return c


def merge_abort(repo: RepoState) -> str:
    """Forget the stopped operation; the branch never moved, so it is as it was. Returns the
    operation's name."""
    try:
        st = mergestate.load(repo)
        op = st.op if st is not None else None
    except mergestate.StateError:
        op = "merge"
    if op is None or not mergestate.remove(repo):
        raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
    return op


def merge_continue(repo: RepoState, message: str | None = None,
                   driver: MergeDriver | None = None) -> MergeResult:
    """Finish the stopped operation once every conflict is settled."""
    st = mergestate.load(repo)
    if st is None:
        raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
    open_ = st.open_conflicts
    if open_:
        ids = ", ".join(f"{c.id} ({c.kind})" for c in open_)
        raise MergeConflict(f"{len(open_)} conflict{'s' * (len(open_) != 1)} not resolved: "
                            f"{ids}; use 'trace resolve'")
    _, now = repo.refs.resolve_target(st.ref)
    if now != st.orig_head:
        raise OperationError(f"{st.ref} moved since the {st.op} started (now "
                             f"{(now or 'absent')[:12]}, was {(st.orig_head or 'absent')[:12]}"
                             f"); run 'trace {st.op} --abort' and start again")
    if message:
        st.message = message
    res = finish(repo, st, work_from_state(repo, st))
    if st.op == "rebase":
        return rebase_run(repo, st, driver)
    return res


