"""Three-way merges of contexts, with conflicts kept as data (docs/merge.md); the replaying
operations built on them (cherry-pick, revert, rebase) are in trace_core/replay.py.

Every operation computes its result from the commits alone and moves the branch once, with a
compare-and-swap, when it is complete. When conflicts stop it, everything needed to finish is
written to MERGE_STATE (trace_core.mergestate) and the branch stays where it was: `abort` only
removes that file, and `continue` commits only if the branch has not moved meanwhile.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Dict, List, Optional, Sequence, Tuple

from .. import chunked
from ..errors import InputError, MergeConflict, OperationError, RefConflict
from ..ids import from_hex, to_hex
from ..objects import Blob, Commit, Entry, Snapshot

if TYPE_CHECKING:
    from . import state as mergestate
    from .merge3 import Conflict, Similar

# merge3, mergestate and messages are imported where they are used: Repository imports this
# module, so every command would pay for them at start-up otherwise.
_WORD = None
_STRATEGY_ACTION = {"ours": "ours", "theirs": "theirs", "union": "both"}


class MergeResult:
    """What a merge / pick / rebase did. status: up-to-date, fast-forward, merged, picked,
    reverted, rebased, empty (nothing to commit) or conflicts (see `conflicts`)."""

    def __init__(self, op: str, status: str, commit: Optional[str] = None,
                 conflicts: Sequence[Conflict] = (), base: Optional[str] = None,
                 deduplicated: int = 0, inference: Optional[dict] = None,
                 driver: Optional[str] = None, replayed: Sequence = ()) -> None:
        self.op = op
        self.status = status
        self.commit = commit
        self.conflicts = list(conflicts)
        self.base = base
        self.deduplicated = deduplicated
        self.inference = inference
        self.driver = driver
        self.replayed = list(replayed)

    def to_dict(self) -> dict:
        return {"op": self.op, "status": self.status, "commit": self.commit, "base": self.base,
                "deduplicated": self.deduplicated, "inference": self.inference,
                "driver": self.driver, "replayed": [list(p) for p in self.replayed],
                "conflicts": [{"id": c.id, "kind": c.kind, "note": c.note,
                               "resolved": c.resolved} for c in self.conflicts]}


class BranchMoved(OperationError):
    """The branch moved (another process committed) between reading and updating it."""


class _Work:
    """A three-way merge computed over the parts of three contexts that differ."""

    __slots__ = ("ours_id", "ours", "ours_snap", "prefix", "suffix", "ours_mid", "outcome",
                 "added_ours", "added_theirs")


def _snap_of(repo, cid: Optional[bytes]) -> Snapshot:
    if cid is None:
        return chunked.EMPTY
    return repo.get_snapshot(repo.get_commit(cid).snapshot)


def shared_leaves(refs: list) -> int:
    """How many leading leaves all the leaf lists (chunked.leaves()[0]) have in common."""
    k = 0
    n = min(len(r) for r in refs)
    while k < n and all(r[k][0] == refs[0][k][0] for r in refs[1:]):
        k += 1
    return k


def _common_leaves(views: list) -> Tuple[int, int]:
    """(entries in leading leaves shared by all, entries in shared trailing leaves + tails)."""
    refs = [v[0] for v in views]
    n = min(len(r) for r in refs)
    k = shared_leaves(refs)
    prefix = sum(c for _, c in refs[0][:k])
    tails = [tuple(v[1]) for v in views]
    if not tails[0] == tails[1] == tails[2]:
        return prefix, 0
    j = 0
    while j < n - k and refs[0][-1 - j][0] == refs[1][-1 - j][0] == refs[2][-1 - j][0]:
        j += 1
    return prefix, len(tails[0]) + sum(c for _, c in refs[0][len(refs[0]) - j:])


class MergeOps:
    """Mixed into Repository: merge, resolve, continue/abort, and the three-way machinery the
    replaying operations (ReplayOps) share."""

    # -- helpers ---------------------------------------------------------------------------------
    def _role_of(self, e: Entry) -> Optional[str]:
        return self.get_blob(e.blob).message.get("role")

    def _similar(self, threshold: float) -> Similar:
        from .merge3 import Similar
        from ..messages import normalized
        global _WORD
        if _WORD is None:
            _WORD = re.compile(r"\w+")
        cache: dict = {}
        vocab: dict = {}    # word -> number, in order of first sight: exact and deterministic

        def features(e: Entry) -> tuple:
            f = cache.get(e.blob)
            if f is None:
                m = self.get_blob(e.blob).message
                text = normalized(m)
                ids = [vocab.setdefault(w, len(vocab)) for w in _WORD.findall(text)]
                grams = frozenset(zip(ids, ids[1:])) if len(ids) > 1 else frozenset(ids)
                f = cache[e.blob] = (m.get("role"), text, grams)
            return f
        return Similar(features, threshold)

    def _added_times(self, tip: Optional[bytes], base: Optional[bytes]) -> Dict[bytes, int]:
        """blob id -> time of the commit that added it, for commits in base..tip."""
        out: Dict[bytes, int] = {}
        if tip is None:
            return out
        for row in self.index.walk([tip], [base] if base else []):
            c = self.get_commit(row.id)
            for b in c.blobs:
                out.setdefault(b, c.time_ms)
        return out

    def _three_way(self, base: Optional[bytes], ours: Optional[bytes], theirs: Optional[bytes],
                   order: str, fast: bool = True) -> _Work:
        """The three-way merge of the three contexts. `fast` allows the appends-only shortcut,
        whose result does not list ours' entries as slots (a semantic driver needs them)."""
        snaps = [_snap_of(self, base), _snap_of(self, ours), _snap_of(self, theirs)]
        views = [chunked.leaves(s, self.get_node) for s in snaps]
        prefix, suffix = _common_leaves(views)
        similar = self._similar(self.config.get_typed("merge.similarity"))
        if fast and suffix == 0 and order == "ours-first":
            w = self._appends_only(snaps, views, prefix, ours, similar)
            if w is not None:
                return w
        mids = [chunked.entries_between(v[0], v[1], prefix, s.count - suffix, self.get_node)
                for v, s in zip(views, snaps)]
        when = None
        if order == "chronological":
            when = self._added_times(ours, base)
            when.update((k, v) for k, v in self._added_times(theirs, base).items()
                        if k not in when)
        w = _Work()
        w.ours_id = ours
        w.ours = self.get_commit(ours) if ours else None
        w.ours_snap = snaps[1]
        w.prefix, w.suffix = prefix, suffix
        w.ours_mid = mids[1]
        from .merge3 import merge_lists
        w.outcome = merge_lists(mids[0], mids[1], mids[2], role=self._role_of, order=order,
                                when=when, similar=similar)
        base_blobs = {e.blob for e in mids[0]}
        w.added_ours = [e for e in mids[1] if e.blob not in base_blobs]
        w.added_theirs = [e for e in mids[2] if e.blob not in base_blobs]
        return w

    def _appends_only(self, snaps: list, views: list, prefix: int, ours: Optional[bytes],
                      similar) -> Optional[_Work]:
        """The common case without reading the whole of either side: since the base, both sides
        only appended. The result is ours plus what theirs appended (duplicates of ours'
        windowed appends dropped), unless a near-duplicate needs a decision (None: merge it the
        general way)."""
        from .merge3 import NEAR_WINDOW, Outcome, redundancy
        base_s, ours_s, theirs_s = snaps
        nb = base_s.count - prefix
        if nb > 4 * chunked.MAX_LEAF or ours_s.count < base_s.count or theirs_s.count < base_s.count:
            return None
        get = self.get_node
        base_mid = chunked.entries_between(*views[0], prefix, base_s.count, get)
        if chunked.entries_between(*views[1], prefix, base_s.count, get) != base_mid or \
                chunked.entries_between(*views[2], prefix, base_s.count, get) != base_mid:
            return None
        n_ours = ours_s.count - base_s.count
        runs = [(0, n_ours)] if n_ours <= 2 * NEAR_WINDOW else \
            [(0, NEAR_WINDOW), (n_ours - NEAR_WINDOW, n_ours)]   # merge3.window's entries
        ours_win: Dict[int, Entry] = {}
        for a, b in runs:
            got = chunked.entries_between(*views[1], base_s.count + a, base_s.count + b, get)
            ours_win.update(zip(range(a, b), got))
        added = chunked.entries_between(*views[2], base_s.count, theirs_s.count, get)
        if not ours_win:
            rest, near, dups = added, {}, 0
        else:
            rest, near, dups = redundancy(ours_win, added, similar)
        if near:
            return None
        w = _Work()
        w.ours_id = ours
        w.ours = self.get_commit(ours) if ours else None
        w.ours_snap = ours_s
        w.prefix, w.suffix, w.ours_mid = ours_s.count, 0, []
        w.outcome = Outcome(list(rest), dups)
        w.added_ours = [ours_win[i] for i in sorted(ours_win)]
        w.added_theirs = added
        return w

    def _apply_strategy(self, w: _Work, strategy: str, driver) -> Tuple[Optional[dict], Optional[str]]:
        """Settle what the strategy settles; returns (inference usage, driver name)."""
        outcome = w.outcome
        if strategy in _STRATEGY_ACTION:
            for c in outcome.conflicts:
                c.settle(_STRATEGY_ACTION[strategy], "strategy")
            return None, None
        if strategy != "semantic":
            return None, None
        if driver is None:
            from .driver import DeterministicDriver
            driver = DeterministicDriver()
        if not outcome.conflicts and not (w.added_ours and w.added_theirs):
            return None, driver.name  # nothing to settle and nothing that could contradict
        load = lambda e: self.get_blob(e.blob).message  # noqa: E731
        res = driver.reconcile(outcome.conflicts, w.added_ours, w.added_theirs, load)
        for c in outcome.conflicts:
            if c.id in res.resolutions:
                action, text = res.resolutions[c.id]
                if action == "text":
                    self._settle_text(c, text, driver.name)
                else:
                    c.settle(action, driver.name)
        for ours_e, theirs_e, why in res.contradictions:
            self._flag_contradiction(outcome, ours_e, theirs_e, why)
        return res.usage, driver.name

    def _flag_contradiction(self, outcome, ours_e: Entry, theirs_e: Entry, why: str) -> None:
        slots = outcome.slots
        if ours_e == theirs_e:
            return  # one entry cannot contradict itself
        try:
            i = next(k for k, s in enumerate(slots) if isinstance(s, Entry) and s == ours_e)
            j = next(k for k, s in enumerate(slots) if isinstance(s, Entry) and s == theirs_e)
        except StopIteration:
            return  # one of them did not survive the merge: nothing to contradict
        if i == j:
            return
        from .merge3 import Conflict
        c = Conflict("contradiction", None, [ours_e], [theirs_e],
                     why or "the two sides state incompatible facts")
        slots[i] = c
        del slots[j]
        outcome.conflicts.append(c)
        c.id = max(x.id for x in outcome.conflicts) + 1

    def _settle_text(self, c: Conflict, text: str, by: str, role: Optional[str] = None) -> None:
        if not isinstance(text, str) or not text.strip():
            raise InputError("a text resolution needs non-empty text")
        sample = (c.ours or c.theirs or ([c.base] if c.base else []))
        if role is None:
            role = self.get_blob(sample[0].blob).message.get("role") if sample else "user"
        blob = Blob({"role": role or "user", "content": text})
        self.store.write([blob])
        flags = max((e.flags for e in sample), default=0)
        c.settle("text", by, [Entry(blob.id, flags)])

    def _result_snapshot(self, w: _Work, mid: List[Entry]) -> Tuple[Snapshot, list, int]:
        """(snapshot, new nodes, total tokens) of ours with its differing middle replaced."""
        om = w.ours_mid
        n = min(len(om), len(mid))
        lcp = 0
        while lcp < n and om[lcp] == mid[lcp]:
            lcp += 1
        nodes: list = []
        snap = chunked.splice(w.ours_snap, w.prefix + lcp, w.ours_snap.count - w.suffix,
                              mid[lcp:], self.get_node, nodes.append)
        counter = self.token_counter().name
        if w.ours is None or w.ours.encoding != counter or w.ours_snap.count == 0 \
                or snap.count == 0:
            total = self._recount(snap) if snap.count else 0
        else:
            total = (w.ours.total_tokens + sum(self.blob_tokens(e.blob) for e in mid[lcp:])
                     - sum(self.blob_tokens(e.blob) for e in om[lcp:]))
        return snap, nodes, total

    def _new_commit(self, snap: Snapshot, nodes: list, total: int, parents: list, op: str,
                    message: str, prev_total: int, meta: dict, blobs: Sequence[bytes] = (),
                    targets: Sequence[int] = (), author: Optional[str] = None,
                    tokens: Optional[int] = None) -> Commit:
        """Write a commit of `snap`; its `tokens` is the change of the total unless given."""
        from ..history import Change
        change = Change(snap, nodes, op, blobs=blobs, targets=targets, message=message,
                        tokens=total - prev_total if tokens is None else tokens,
                        total_tokens=total, meta=meta)
        commit = self._make_commit(change, parents, author)
        self.store.write([*nodes, snap, commit])
        return commit

    def _move(self, ref: str, old: Optional[str], new: str, message: str) -> None:
        tx = self.refs.transaction()
        if old is not None:
            tx.update("ORIG_HEAD", _any(), old, message=message)
        tx.update(ref, old, new, message=message, deref=False)
        try:
            tx.commit()
        except RefConflict:
            raise BranchMoved(f"{ref} moved while the operation ran (another process "
                              "committed); nothing was changed: run it again") from None
        self.store.maybe_seal()

    def _head(self) -> Tuple[str, Optional[bytes]]:
        ref, tip, _, _ = self._tip_at()
        return ref, tip

    # -- state -----------------------------------------------------------------------------------
    def merge_state(self) -> Optional["mergestate.MergeState"]:
        """The merge, rebase, cherry-pick or revert stopped on conflicts, or None."""
        from . import state as mergestate
        return mergestate.load(self)

    def _save_state(self, st, w: _Work) -> None:
        """Record the slots of `w` in `st`, with runs of ours' entries kept as index ranges."""
        om = w.ours_mid
        pos = {}
        for i, e in enumerate(om):
            pos.setdefault(e, i)
        slots: list = []
        for s in w.outcome.slots:
            if isinstance(s, Entry):
                i = pos.get(s)
                if i is not None:
                    last = slots[-1] if slots else None
                    a = w.prefix + i
                    if isinstance(last, tuple) and last[2] == a:
                        slots[-1] = ("o", last[1], a + 1)
                    else:
                        slots.append(("o", a, a + 1))
                    continue
            slots.append(s)
        st.slots = slots
        st.prefix, st.suffix = w.prefix, w.suffix
        st.conflicts = w.outcome.conflicts
        st.deduplicated = w.outcome.deduplicated
        from . import state as mergestate
        mergestate.save(self, st)

    def _work_from_state(self, st) -> _Work:
        from . import state as mergestate
        from .merge3 import Outcome
        w = _Work()
        w.ours_id = from_hex(st.ours) if st.ours else None
        w.ours = self.get_commit(w.ours_id) if w.ours_id else None
        w.ours_snap = _snap_of(self, w.ours_id)
        w.prefix, w.suffix = st.prefix, st.suffix
        if st.prefix + st.suffix > w.ours_snap.count:
            raise mergestate.StateError("MERGE_STATE does not match its commits; run "
                                        f"'trace {st.op} --abort'")
        refs, tail = chunked.leaves(w.ours_snap, self.get_node)
        w.ours_mid = chunked.entries_between(refs, tail, st.prefix,
                                             w.ours_snap.count - st.suffix, self.get_node)
        slots: list = []
        for s in st.slots:
            if isinstance(s, tuple):
                if s[2] > w.ours_snap.count:
                    raise mergestate.StateError("MERGE_STATE does not match its commits")
                slots.extend(chunked.entries_between(refs, tail, s[1], s[2], self.get_node))
            else:
                slots.append(s)

        w.outcome = Outcome(slots, st.deduplicated, st.conflicts)
        w.added_ours = w.added_theirs = []
        return w

    # -- merge -----------------------------------------------------------------------------------
    def merge(self, rev: str, *, strategy: str = "manual", order: Optional[str] = None,
              message: Optional[str] = None, ff: str = "auto", driver=None) -> MergeResult:
        """Merge commit `rev` into the current branch (see docs/merge.md).

        ff: auto (fast-forward when possible), only (refuse otherwise), never (always a merge
        commit). strategy: manual (conflicts stop the merge), ours, theirs, union, semantic
        (a driver settles conflicts and flags contradictions; offline rules by default)."""
        from . import state as mergestate
        mergestate.refuse_if_in_progress(self)
        order = self._check_options(strategy, order)
        if ff not in ("auto", "only", "never"):
            raise InputError(f"unknown fast-forward mode {ff!r} (auto, only, never)")
        theirs = self.resolve(rev)
        for attempt in range(16):  # another process committing meanwhile: merge its tip again
            try:
                return self._merge_once(rev, theirs, strategy, order, message, ff, driver)
            except BranchMoved:
                if strategy == "semantic" or attempt == 15:
                    raise  # (a driver's answer was about the old tip: do not reuse it)
        raise AssertionError("unreachable")

    def _merge_once(self, rev: str, theirs: bytes, strategy: str, order: str,
                    message: Optional[str], ff: str, driver) -> MergeResult:
        ref, ours = self._head()
        from ..revparse import resolve_ref_name
        if resolve_ref_name(self, rev) == ref or rev == "HEAD":
            raise OperationError(f"cannot merge {rev} into itself")
        if ours == theirs:
            return MergeResult("merge", "up-to-date", to_hex(ours))
        bases = self.index.merge_bases(ours, theirs) if ours is not None else []
        if theirs in bases:
            return MergeResult("merge", "up-to-date", to_hex(ours))
        if ours is None or (ff != "never" and ours in bases):
            self._move(ref, to_hex(ours) if ours else None, to_hex(theirs),
                       f"merge {rev}: fast-forward")
            return MergeResult("merge", "fast-forward", to_hex(theirs))
        if ff == "only":
            raise OperationError(f"not possible to fast-forward to {rev}; the branches diverged")
        base = bases[0] if bases else None
        w = self._three_way(base, ours, theirs, order, fast=strategy != "semantic")
        usage, dname = self._apply_strategy(w, strategy, driver)
        msg = message or f"merge {rev}"
        from . import state as mergestate
        st = mergestate.MergeState("merge", ref, to_hex(ours), to_hex(ours), to_hex(theirs),
                                   to_hex(base) if base else None, theirs_name=rev,
                                   strategy=strategy, order=order, message=msg,
                                   inference=usage, driver=dname,
                                   deduplicated=w.outcome.deduplicated)
        st.conflicts = w.outcome.conflicts
        if any(not c.resolved for c in w.outcome.conflicts):
            self._save_state(st, w)
            return MergeResult("merge", "conflicts", None, w.outcome.conflicts, st.base,
                               w.outcome.deduplicated, usage, dname)
        return self._finish(st, w)

    def _check_options(self, strategy: str, order: Optional[str]) -> str:
        from .merge3 import ORDERS
        from .state import STRATEGIES
        if strategy not in STRATEGIES:
            raise InputError(f"unknown strategy {strategy!r} ({', '.join(STRATEGIES)})")
        order = order or self.config.get_typed("merge.order")
        if order not in ORDERS:
            raise InputError(f"unknown order {order!r} ({', '.join(ORDERS)})")
        return order

    def _finish(self, st, w: _Work) -> MergeResult:
        """Commit a fully resolved merge or pick and move the branch (CAS on where it started)."""
        from . import state as mergestate
        from .merge3 import resolved_entries
        mid = resolved_entries(w.outcome.slots)
        snap, nodes, total = self._result_snapshot(w, mid)
        prev = w.ours.total_tokens if w.ours is not None else 0
        conflicts = [{"id": c.id, "kind": c.kind, "action": c.action, "by": c.by}
                     for c in st.conflicts]
        meta: dict = {"strategy": st.strategy, "order": st.order}
        if st.base:
            meta["base"] = st.base
        if conflicts:
            meta["conflicts"] = conflicts
        if st.deduplicated:
            meta["deduplicated"] = st.deduplicated
        if st.driver:
            meta["driver"] = st.driver
        if st.inference:
            meta["inference"] = st.inference
        new_blobs = [e.blob for c in st.conflicts if c.action == "text" for e in c.resolution]
        if st.op == "merge":
            parents = [from_hex(st.ours), from_hex(st.theirs)]
            commit = self._new_commit(snap, nodes, total, parents, "merge", st.message, prev,
                                      meta, blobs=new_blobs)
            self._move(st.ref, st.orig_head, commit.hex, f"merge {st.theirs_name}: {st.strategy}")
            mergestate.remove(self)
            return MergeResult("merge", "merged", commit.hex, st.conflicts, st.base,
                               st.deduplicated, st.inference, st.driver)
        return self._finish_pick(st, w, snap, nodes, total, prev, meta, new_blobs)

    # -- resolving --------------------------------------------------------------------------------
    def resolve_conflict(self, conflict_id: int, action: str, text: Optional[str] = None,
                role: Optional[str] = None) -> Conflict:
        """Settle one conflict of the stopped operation: ours, theirs, both, base, drop, or text
        (a new message with `text`, in the role of the conflicting entries unless `role`)."""
        from . import state as mergestate
        st = mergestate.load(self)
        if st is None:
            raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
        c = st.conflict(conflict_id)
        if action not in mergestate.ACTIONS:
            raise InputError(f"unknown resolution {action!r} ({', '.join(mergestate.ACTIONS)})")
        if action == "text":
            self._settle_text(c, text, "user", role)
        else:
            if text is not None:
                raise InputError("text is given only with the 'text' resolution")
            if action == "base" and c.base is None:
                raise InputError(f"conflict {c.id} ({c.kind}) has no base version")
            c.settle(action, "user")
        mergestate.save(self, st)
        return c

    def merge_abort(self) -> str:
        """Forget the stopped operation; the branch never moved, so it is as it was. Returns the
        operation's name."""
        from . import state as mergestate
        try:
            st = mergestate.load(self)
            op = st.op if st is not None else None
        except mergestate.StateError:
            op = "merge"
        if op is None or not mergestate.remove(self):
            raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
        return op

    def merge_continue(self, message: Optional[str] = None, driver=None) -> MergeResult:
        """Finish the stopped operation once every conflict is settled."""
        from . import state as mergestate
        st = mergestate.load(self)
        if st is None:
            raise OperationError("no merge, rebase, cherry-pick or revert is in progress")
        open_ = st.open_conflicts
        if open_:
            ids = ", ".join(f"{c.id} ({c.kind})" for c in open_)
            raise MergeConflict(f"{len(open_)} conflict{'s' * (len(open_) != 1)} not resolved: "
                                f"{ids}; use 'trace resolve'")
        _, now = self.refs.resolve_target(st.ref)
        if now != st.orig_head:
            raise OperationError(f"{st.ref} moved since the {st.op} started (now "
                                 f"{(now or 'absent')[:12]}, was {(st.orig_head or 'absent')[:12]}"
                                 f"); run 'trace {st.op} --abort' and start again")
        if message:
            st.message = message
        res = self._finish(st, self._work_from_state(st))
        if st.op == "rebase":
            return self._rebase_run(st, driver)
        return res


def _any():
    from ..refs import ANY
    return ANY
