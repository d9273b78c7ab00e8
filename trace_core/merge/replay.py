"""cherry-pick, revert and rebase: replaying commits as three-way merges (docs/merge.md).

A pick applies the change a commit made to its parent (cherry-pick) or undoes it (revert) on top
of the branch, through MergeOps' three-way machinery; a rebase replays a list of commits that
way (pure appends without a three-way merge) and moves the branch once at the end.
"""

from __future__ import annotations

from typing import Optional

from .. import chunked
from ..errors import OperationError
from ..ids import from_hex, to_hex
from .machinery import MergeResult, _Work, _snap_of, shared_leaves
from ..objects import Commit, Snapshot


class ReplayOps:
    """Mixed into Repository (after MergeOps): cherry-pick, revert, rebase."""

    def cherry_pick(self, rev: str, *, strategy: str = "manual", order: Optional[str] = None,
                    driver=None) -> MergeResult:
        """Apply the change commit `rev` made (against its parent) on top of the branch."""
        return self._pick_op("cherry-pick", rev, strategy, order, driver)

    def revert(self, rev: str, *, strategy: str = "manual", order: Optional[str] = None,
               driver=None) -> MergeResult:
        """Undo the change commit `rev` made, as a new commit on top of the branch."""
        return self._pick_op("revert", rev, strategy, order, driver)

    def _pick_op(self, op: str, rev: str, strategy: str, order: Optional[str],
                 driver) -> MergeResult:
        from . import state as mergestate
        mergestate.refuse_if_in_progress(self)
        order = self._check_options(strategy, order)
        cid = self.resolve(rev)
        c = self.get_commit(cid)
        if len(c.parents) > 1:
            raise OperationError(f"{rev} is a merge commit; {op} of merges is not supported")
        ref, tip = self._head()
        if tip is None:
            raise OperationError(f"nothing to {op} onto: the branch has no commits")
        parent = c.parents[0] if c.parents else None
        base, theirs = (parent, cid) if op == "cherry-pick" else (cid, parent)
        summary = c.summary
        msg = summary if op == "cherry-pick" else f'Revert "{summary}"'
        st = mergestate.MergeState(op, ref, to_hex(tip), to_hex(tip), to_hex(cid),
                                   to_hex(base) if base else None, theirs_name=rev,
                                   strategy=strategy, order=order, message=msg)
        return self._pick(st, base, theirs, driver)

    def _pick(self, st, base: Optional[bytes], theirs: Optional[bytes], driver) -> MergeResult:
        """One replay step: three-way (base -> theirs applied on st.ours); stop on conflicts."""
        ours = from_hex(st.ours)
        w = self._three_way(base, ours, theirs, st.order, fast=st.strategy != "semantic")
        st.inference, st.driver = self._apply_strategy(w, st.strategy, driver)
        st.deduplicated = w.outcome.deduplicated
        st.conflicts = w.outcome.conflicts
        if any(not c.resolved for c in w.outcome.conflicts):
            self._save_state(st, w)
            return MergeResult(st.op, "conflicts", None, w.outcome.conflicts, st.base,
                               w.outcome.deduplicated, st.inference, st.driver)
        return self._finish(st, w)

    def _finish_pick(self, st, w: _Work, snap: Snapshot, nodes: list, total: int, prev: int,
                     meta: dict, new_blobs: list) -> MergeResult:
        from . import state as mergestate
        src = self.get_commit(from_hex(st.theirs))
        if st.op == "revert":
            meta["reverted"] = st.theirs
        elif st.op == "cherry-pick":
            meta["picked"] = st.theirs
        if st.op == "rebase":
            return self._rebase_step_done(st, w, snap, nodes, total, prev, meta, new_blobs)
        if snap.id == w.ours_snap.id:
            mergestate.remove(self)
            return MergeResult(st.op, "empty", st.ours, st.conflicts)
        op = "revert" if st.op == "revert" else "cherry-pick"
        carried = new_blobs or (list(src.blobs) if op == "cherry-pick" else [])
        commit = self._new_commit(snap, nodes, total, [from_hex(st.ours)], op, st.message, prev,
                                  meta, blobs=carried)
        self._move(st.ref, st.orig_head, commit.hex, f"{st.op}: {commit.summary}"[:200])
        mergestate.remove(self)
        return MergeResult(st.op, "picked" if st.op == "cherry-pick" else "reverted", commit.hex,
                           st.conflicts, st.base, st.deduplicated, st.inference, st.driver)

    def rebase(self, upstream: str, *, strategy: str = "manual", order: Optional[str] = None,
               driver=None) -> MergeResult:
        """Replay the branch's commits that `upstream` lacks on top of it (merges are left out,
        as git does), then move the branch once. Conflicts stop it with MERGE_STATE."""
        from . import state as mergestate
        mergestate.refuse_if_in_progress(self)
        order = self._check_options(strategy, order)
        onto = self.resolve(upstream)
        ref, tip = self._head()
        if tip is None:
            raise OperationError("nothing to rebase: the branch has no commits")
        bases = self.index.merge_bases(tip, onto)     # one walk answers both questions
        if onto in bases:
            return MergeResult("rebase", "up-to-date", to_hex(tip))
        if tip in bases:
            self._move(ref, to_hex(tip), to_hex(onto), f"rebase {upstream}: fast-forward")
            return MergeResult("rebase", "fast-forward", to_hex(onto))
        rows = [r for r in self.index.walk([tip], [onto]) if len(r.parents) <= 1]
        rows.sort(key=lambda r: (r.generation, r.time_ms))
        st = mergestate.MergeState("rebase", ref, to_hex(tip), to_hex(onto), "", None,
                                   theirs_name=upstream, strategy=strategy, order=order,
                                   rebase={"onto": to_hex(onto), "todo": [r.id.hex() for r in rows],
                                           "done": []})
        return self._rebase_run(st, driver)

    def _rebase_run(self, st, driver) -> MergeResult:
        from . import state as mergestate
        rb = st.rebase
        while rb["todo"]:
            cid = from_hex(rb["todo"][0])
            c = self.get_commit(cid)
            parent = c.parents[0] if c.parents else None
            st.theirs, st.base, st.message = rb["todo"][0], to_hex(parent) if parent else None, \
                c.message
            st.conflicts, st.slots = [], []
            fast = self._replay_append(st, c, cid, parent)
            if fast is None:
                res = self._pick(st, parent, cid, driver)
                if res.status == "conflicts":
                    return res
        tip = st.ours
        mergestate.remove(self)
        self._move(st.ref, st.orig_head, tip, f"rebase onto {st.theirs_name}")
        return MergeResult("rebase", "rebased", tip, base=rb["onto"],
                           replayed=[tuple(p) for p in rb["done"]])

    def _replay_append(self, st, c: Commit, cid: bytes, parent: Optional[bytes]) -> Optional[str]:
        """Replay a pure append without a three-way merge: the new entries go after the tip."""
        rb = st.rebase
        if parent is not None and to_hex(parent) == st.ours:  # already on top: reuse as is
            rb["done"].append([to_hex(cid), to_hex(cid)])
            rb["todo"].pop(0)
            return st.ours
        if c.op != "append" or parent is None:
            return None
        psnap = _snap_of(self, parent)
        csnap = self.get_snapshot(c.snapshot)
        k = csnap.count - psnap.count
        if k <= 0 or list(c.targets) != list(range(psnap.count, csnap.count)):
            return None
        new = [chunked.entry_at(csnap, i, self.get_node) for i in range(psnap.count, csnap.count)]
        if chunked.append(psnap, new, self.get_node, lambda n: None).id != csnap.id:
            return None  # not what an append makes (a commit built by hand): merge it
        tip = from_hex(st.ours)
        tip_c = self.get_commit(tip)
        tsnap = self.get_snapshot(tip_c.snapshot)
        seen = self._upstream_blobs(st, psnap, tsnap)
        if any(e.blob in seen for e in new):
            return None  # maybe already upstream: let the three-way pick decide (it drops it)
        seen.update(e.blob for e in new)
        nodes: list = []
        snap = chunked.append(tsnap, new, self.get_node, nodes.append)
        cost = sum(self.blob_tokens(e.blob) for e in new)
        total = self.total_after(tip_c, tsnap, cost, snap.count)
        meta = dict(c.meta)
        meta["replayed"] = to_hex(cid)
        commit = self._new_commit(snap, nodes, total, [tip], "append", c.message,
                                  tip_c.total_tokens, meta, blobs=c.blobs,
                                  targets=range(tsnap.count, snap.count), author=c.author)
        rb["done"].append([to_hex(cid), commit.hex])
        rb["todo"].pop(0)
        st.ours = commit.hex
        return commit.hex

    def _upstream_blobs(self, st, parent: Snapshot, tip: Snapshot) -> set:
        """Blob ids of the entries the rebased tip has beyond what it shares with the replayed
        commits' parent (upstream's additions, then the replayed ones): read once per run."""
        seen = getattr(st, "_seen", None)
        if seen is None:
            views = [chunked.leaves(parent, self.get_node), chunked.leaves(tip, self.get_node)]
            k = shared_leaves([views[0][0], views[1][0]])
            start = sum(n for _, n in views[1][0][:k])
            seen = {e.blob for e in chunked.entries_between(*views[1], start, tip.count,
                                                            self.get_node)}
            st._seen = seen
        return seen

    def _replayed_targets(self, w: _Work, src: Commit) -> list:
        """The positions the replayed operation addressed, in the new context (append) or in
        the context it was applied to (edit, pin, unpin, drop), as the original records them."""
        from .merge3 import resolved_entries
        mid = resolved_entries(w.outcome.slots)
        if src.op == "append":
            carried = set(src.blobs)
            return [w.prefix + i for i, e in enumerate(mid) if e.blob in carried]
        if src.op not in ("edit", "pin", "unpin", "drop"):
            return []
        psnap = _snap_of(self, src.parents[0] if src.parents else None)
        out = []
        for t in src.targets:
            if not 0 <= t < psnap.count:
                continue
            if t < w.prefix:
                out.append(t)
                continue
            e = chunked.entry_at(psnap, t, self.get_node)
            if e in w.ours_mid:
                out.append(w.prefix + w.ours_mid.index(e))
        return sorted(out)

    def _rebase_step_done(self, st, w: _Work, snap: Snapshot, nodes: list, total: int, prev: int,
                          meta: dict, new_blobs: list) -> MergeResult:
        rb = st.rebase
        src_id = rb["todo"][0]
        src = self.get_commit(from_hex(src_id))
        if snap.id == w.ours_snap.id:  # the change is already there: drop the commit, as git
            rb["done"].append([src_id, None])
        else:
            m = dict(src.meta)
            m["replayed"] = src_id
            for k in ("conflicts", "driver", "inference"):
                if k in meta:
                    m[k] = meta[k]
            clean = not st.conflicts and src.op in ("append", "edit", "pin", "unpin", "drop")
            commit = self._new_commit(snap, nodes, total, [from_hex(st.ours)], src.op,
                                      src.message, prev, m, blobs=new_blobs or list(src.blobs),
                                      targets=self._replayed_targets(w, src), author=src.author,
                                      tokens=src.tokens if clean else None)
            rb["done"].append([src_id, commit.hex])
            st.ours = commit.hex
        rb["todo"].pop(0)
        st.conflicts, st.slots, st.inference, st.driver = [], [], None, None
        return MergeResult("rebase", "step", st.ours)
