"""cherry-pick, revert and rebase: replaying commits as three-way merges (docs/merge.md).

A pick applies the change a commit made to its parent (cherry-pick) or undoes it (revert) on top
of the branch, through the three-way machinery (merge.machinery); a rebase replays a list of
commits that way (pure appends without a three-way merge) and moves the branch once at the end.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .. import chunked
from ..errors import OperationError
from ..ids import from_hex, to_hex
from ..objects import Commit, Snapshot
from ..plumbing.commit import publish, snapshot_of_commit, total_after
from ..plumbing.revparse import resolve_revision
from ..plumbing.walks import merge_bases
from ..state import RepoState
from . import state as mergestate
from .machinery import (
    MergeResult,
    apply_strategy,
    check_options,
    finish,
    head,
    new_commit,
    save_state,
    shared_leaves,
    three_way,
)

if TYPE_CHECKING:
    from .driver import MergeDriver
    from .state import MergeState


def cherry_pick(repo: RepoState, rev: str, *, strategy: str = "manual", order: str | None = None,
                driver: MergeDriver | None = None) -> MergeResult:
    """Apply the change commit `rev` made (against its parent) on top of the branch."""
    return _pick_op(repo, "cherry-pick", rev, strategy, order, driver)


def revert(repo: RepoState, rev: str, *, strategy: str = "manual", order: str | None = None,
           driver: MergeDriver | None = None) -> MergeResult:
    """Undo the change commit `rev` made, as a new commit on top of the branch."""
    return _pick_op(repo, "revert", rev, strategy, order, driver)


def _pick_op(repo: RepoState, op: str, rev: str, strategy: str, order: str | None,
             driver) -> MergeResult:
    mergestate.refuse_if_in_progress(repo)
    order = check_options(repo, strategy, order)
    cid = resolve_revision(repo, rev)
    c = repo.get_commit(cid)
    if len(c.parents) > 1:
        raise OperationError(f"{rev} is a merge commit; {op} of merges is not supported")
    ref, tip = head(repo)
    if tip is None:
        raise OperationError(f"nothing to {op} onto: the branch has no commits")
    parent = c.parents[0] if c.parents else None
    base, theirs = (parent, cid) if op == "cherry-pick" else (cid, parent)
    summary = c.summary
    msg = summary if op == "cherry-pick" else f'Revert "{summary}"'
    st = mergestate.MergeState(op, ref, to_hex(tip), to_hex(tip), to_hex(cid),
                               to_hex(base) if base else None, theirs_name=rev,
                               strategy=strategy, order=order, message=msg)
    return pick(repo, st, base, theirs, driver)


def pick(repo: RepoState, st: MergeState, base: bytes | None, theirs: bytes | None,
         driver: MergeDriver | None) -> MergeResult:
    """One replay step: three-way (base -> theirs applied on st.ours); stop on conflicts."""
    assert st.ours is not None  # every replay step applies onto a commit
    ours = from_hex(st.ours)
    w = three_way(repo, base, ours, theirs, st.order, fast=st.strategy != "semantic")
    st.inference, st.driver = apply_strategy(repo, w, st.strategy, driver)
    st.deduplicated = w.outcome.deduplicated
    st.conflicts = w.outcome.conflicts
    if any(not c.resolved for c in w.outcome.conflicts):
        save_state(repo, st, w)
        return MergeResult(st.op, "conflicts", None, w.outcome.conflicts, st.base,
                           w.outcome.deduplicated, st.inference, st.driver)
    return finish(repo, st, w)


def rebase(repo: RepoState, upstream: str, *, strategy: str = "manual", order: str | None = None,
           driver: MergeDriver | None = None) -> MergeResult:
    """Replay the branch's commits that `upstream` lacks on top of it (merges are left out,
    as git does), then move the branch once. Conflicts stop it with MERGE_STATE."""
    mergestate.refuse_if_in_progress(repo)
    order = check_options(repo, strategy, order)
    onto = resolve_revision(repo, upstream)
    ref, tip = head(repo)
    if tip is None:
        raise OperationError("nothing to rebase: the branch has no commits")
    bases = merge_bases(repo, tip, onto)     # one walk answers both questions
    if onto in bases:
        return MergeResult("rebase", "up-to-date", to_hex(tip))
    if tip in bases:
        publish(repo, ref, to_hex(tip), to_hex(onto), f"rebase {upstream}: fast-forward")
        return MergeResult("rebase", "fast-forward", to_hex(onto))
    rows = [r for r in repo.index.walk([tip], [onto]) if len(r.parents) <= 1]
    rows.sort(key=lambda r: (r.generation, r.time_ms))
    st = mergestate.MergeState("rebase", ref, to_hex(tip), to_hex(onto), "", None,
                               theirs_name=upstream, strategy=strategy, order=order,
                               rebase={"onto": to_hex(onto), "todo": [r.id.hex() for r in rows],
                                       "done": []})
    return rebase_run(repo, st, driver)


def rebase_run(repo: RepoState, st: MergeState, driver: MergeDriver | None) -> MergeResult:
    rb = st.rebase
    assert rb is not None  # set by rebase()
    while rb["todo"]:
        cid = from_hex(rb["todo"][0])
        c = repo.get_commit(cid)
        parent = c.parents[0] if c.parents else None
        st.theirs, st.base, st.message = rb["todo"][0], to_hex(parent) if parent else None, \
            c.message
        st.conflicts, st.slots = [], []
        fast = _replay_append(repo, st, c, cid, parent)
        if fast is None:
            res = pick(repo, st, parent, cid, driver)
            if res.status == "conflicts":
                return res
    tip = st.ours
    assert tip is not None  # rebase() starts from the branch's commit
    mergestate.remove(repo)
    publish(repo, st.ref, st.orig_head, tip, f"rebase onto {st.theirs_name}")
    return MergeResult("rebase", "rebased", tip, base=rb["onto"],
                       replayed=[tuple(p) for p in rb["done"]])


def _replay_append(repo: RepoState, st, c: Commit, cid: bytes, parent: bytes | None) -> str | None:
    """Replay a pure append without a three-way merge: the new entries go after the tip."""
    rb = st.rebase
    if parent is not None and to_hex(parent) == st.ours:  # already on top: reuse as is
        rb["done"].append([to_hex(cid), to_hex(cid)])
        rb["todo"].pop(0)
        return st.ours
    if c.op != "append" or parent is None:
        return None
    psnap = snapshot_of_commit(repo, parent)
    csnap = repo.get_snapshot(c.snapshot)
    k = csnap.count - psnap.count
    if k <= 0 or list(c.targets) != list(range(psnap.count, csnap.count)):
        return None
    new = [chunked.entry_at(csnap, i, repo.get_node) for i in range(psnap.count, csnap.count)]
    if chunked.append(psnap, new, repo.get_node, lambda n: None).id != csnap.id:
        return None  # not what an append makes (a commit built by hand): merge it
    tip = from_hex(st.ours)
    tip_c = repo.get_commit(tip)
    tsnap = repo.get_snapshot(tip_c.snapshot)
    seen = _upstream_blobs(repo, st, psnap, tsnap)
    if any(e.blob in seen for e in new):
        return None  # maybe already upstream: let the three-way pick decide (it drops it)
    seen.update(e.blob for e in new)
    nodes: list = []
    snap = chunked.append(tsnap, new, repo.get_node, nodes.append)
    cost = sum(repo.blob_tokens(e.blob) for e in new)
    total = total_after(repo, tip_c, tsnap, cost, snap.count)
    meta = dict(c.meta)
    meta["replayed"] = to_hex(cid)
    commit = new_commit(repo, snap, nodes, total, [tip], "append", c.message,
                              tip_c.total_tokens, meta, blobs=c.blobs,
                              targets=range(tsnap.count, snap.count), author=c.author)
    rb["done"].append([to_hex(cid), commit.hex])
    rb["todo"].pop(0)
    st.ours = commit.hex
    return commit.hex


def _upstream_blobs(repo: RepoState, st, parent: Snapshot, tip: Snapshot) -> set:
    """Blob ids of the entries the rebased tip has beyond what it shares with the replayed
    commits' parent (upstream's additions, then the replayed ones): read once per run."""
    seen = getattr(st, "_seen", None)
    if seen is None:
        views = [chunked.leaves(parent, repo.get_node), chunked.leaves(tip, repo.get_node)]
        k = shared_leaves([views[0][0], views[1][0]])
        start = sum(n for _, n in views[1][0][:k])
        seen = {e.blob for e in chunked.entries_between(*views[1], start, tip.count,
                                                        repo.get_node)}
        st._seen = seen
    return seen

