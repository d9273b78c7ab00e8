"""The three-way machinery merge, cherry-pick, revert and rebase share (docs/merge.md):
computing a merge over the parts of three contexts that differ, settling conflicts by strategy
or driver, saving and reloading a stopped operation, and finishing it as a commit.

Every operation computes its result from the commits alone and moves the branch once, through
`plumbing.commit.publish` (a compare-and-swap from where it started), when it is complete. When
conflicts stop it, everything needed to finish is written to MERGE_STATE (merge.state) and the
branch stays where it was: `abort` only removes that file, and `continue` commits only if the
branch has not moved meanwhile.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from itertools import pairwise
from typing import TYPE_CHECKING

from .. import chunked
from ..errors import InputError, StateError
from ..ids import from_hex
from ..messages import normalized
from ..objects import Blob, Commit, Entry, Snapshot
from ..plumbing.commit import Change, count_entries, publish, snapshot_of_commit, tip, write_change
from ..state import RepoState
from . import state as mergestate
from .merge3 import ORDERS, Conflict, Outcome, Similar, merge_lists, resolved_entries
from .state import STRATEGIES

if TYPE_CHECKING:
    from .driver import MergeDriver
    from .state import MergeState

_WORD = None
_STRATEGY_ACTION = {"ours": "ours", "theirs": "theirs", "union": "both"}


class MergeResult:
    """What a merge / pick / rebase did. status: up-to-date, fast-forward, merged, picked,
    reverted, rebased, empty (nothing to commit) or conflicts (see `conflicts`)."""

    def __init__(self, op: str, status: str, commit: str | None = None,
                 conflicts: Sequence[Conflict] = (), base: str | None = None,
                 deduplicated: int = 0, inference: dict | None = None,
                 driver: str | None = None, replayed: Sequence = ()) -> None:
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


class Work:
    """A three-way merge computed over the parts of three contexts that differ."""

    __slots__ = ("ours_id", "ours", "ours_snap", "prefix", "suffix", "ours_mid", "outcome",
                 "added_ours", "added_theirs")
    ours_id: bytes | None
    ours: Commit | None
    ours_snap: Snapshot
    prefix: int
    suffix: int
    ours_mid: list[Entry]
    outcome: Outcome
    added_ours: list[Entry]
    added_theirs: list[Entry]


def shared_leaves(refs: list) -> int:
    """How many leading leaves all the leaf lists (chunked.leaves()[0]) have in common."""
    k = 0
    n = min(len(r) for r in refs)
    while k < n and all(r[k][0] == refs[0][k][0] for r in refs[1:]):
        k += 1
    return k


def _common_leaves(views: list) -> tuple[int, int]:
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


def _role_of(repo: RepoState, e: Entry) -> str | None:
    return repo.get_blob(e.blob).message.get("role")


def _similar(repo: RepoState, threshold: float) -> Similar:
    global _WORD
    if _WORD is None:
        _WORD = re.compile(r"\w+")
    cache: dict = {}
    vocab: dict = {}    # word -> number, in order of first sight: exact and deterministic

    def features(e: Entry) -> tuple:
        f = cache.get(e.blob)
        if f is None:
            m = repo.get_blob(e.blob).message
            text = normalized(m)
            ids = [vocab.setdefault(w, len(vocab)) for w in _WORD.findall(text)]
            # a word pair as one int (a + 1) << 32 | b: above any word's own number, which
            # stands for a one-word text
            grams = frozenset((a + 1) << 32 | b for a, b in pairwise(ids)) if len(ids) > 1 \
                else frozenset(ids)
            f = cache[e.blob] = (m.get("role"), text, grams)
        return f
    return Similar(features, threshold)


def _added_times(repo: RepoState, tip: bytes | None, base: bytes | None) -> dict[bytes, int]:
    """blob id -> time of the commit that added it, for commits in base..tip."""
    out: dict[bytes, int] = {}
    if tip is None:
        return out
    for row in repo.index.walk([tip], [base] if base else []):
        c = repo.get_commit(row.id)
        for b in c.blobs:
            out.setdefault(b, c.time_ms)
    return out


def three_way(repo: RepoState, base: bytes | None, ours: bytes | None, theirs: bytes | None,
               order: str, fast: bool = True) -> Work:
    """The three-way merge of the three contexts. `fast` allows the appends-only shortcut,
    whose result does not list ours' entries as slots (a semantic driver needs them)."""
    snaps = [snapshot_of_commit(repo, c) for c in (base, ours, theirs)]
    views = [chunked.leaves(s, repo.get_node) for s in snaps]
    prefix, suffix = _common_leaves(views)
    similar = _similar(repo, repo.config.get_typed("merge.similarity"))
    if fast and suffix == 0 and order == "ours-first":
        w = _appends_only(repo, snaps, views, prefix, ours, similar)
        if w is not None:
            return w
    mids = [chunked.entries_between(v[0], v[1], prefix, s.count - suffix, repo.get_node)
            for v, s in zip(views, snaps, strict=True)]
    when = None
    if order == "chronological":
        when = _added_times(repo, ours, base)
        when.update((k, v) for k, v in _added_times(repo, theirs, base).items()
                    if k not in when)
    w = Work()
    w.ours_id = ours
    w.ours = repo.get_commit(ours) if ours else None
    w.ours_snap = snaps[1]
    w.prefix, w.suffix = prefix, suffix
    w.ours_mid = mids[1]
    w.outcome = merge_lists(mids[0], mids[1], mids[2], role=lambda e: _role_of(repo, e),
                            order=order, when=when, similar=similar)
    base_blobs = {e.blob for e in mids[0]}
    w.added_ours = [e for e in mids[1] if e.blob not in base_blobs]
    w.added_theirs = [e for e in mids[2] if e.blob not in base_blobs]
    return w


def _appends_only(repo: RepoState, snaps: list[Snapshot],
                  views: list[tuple[list[chunked.Ref], tuple[Entry, ...]]], prefix: int,
                  ours: bytes | None, similar) -> Work | None:
    """The common case without reading the whole of either side: since the base, both sides
    only appended. The result is ours plus what theirs appended (duplicates of ours'
    windowed appends dropped), unless a near-duplicate needs a decision (None: merge it the
    general way)."""
    from .merge3 import NEAR_WINDOW, redundancy
    base_s, ours_s, theirs_s = snaps
    nb = base_s.count - prefix
    if nb > 4 * chunked.MAX_LEAF or ours_s.count < base_s.count or theirs_s.count < base_s.count:
        return None
    get = repo.get_node
    base_mid = chunked.entries_between(*views[0], prefix, base_s.count, get)
    if chunked.entries_between(*views[1], prefix, base_s.count, get) != base_mid or \
            chunked.entries_between(*views[2], prefix, base_s.count, get) != base_mid:
        return None
    n_ours = ours_s.count - base_s.count
    runs = [(0, n_ours)] if n_ours <= 2 * NEAR_WINDOW else \
        [(0, NEAR_WINDOW), (n_ours - NEAR_WINDOW, n_ours)]   # merge3.window's entries
    ours_win: dict[int, Entry] = {}
    for a, b in runs:
        got = chunked.entries_between(*views[1], base_s.count + a, base_s.count + b, get)
        ours_win.update(zip(range(a, b), got, strict=True))
    added = chunked.entries_between(*views[2], base_s.count, theirs_s.count, get)
    near: dict = {}
    if not ours_win:
        rest, dups = added, 0
    else:
        rest, near, dups = redundancy(ours_win, added, similar)
    if near:
        return None
    w = Work()
    w.ours_id = ours
    w.ours = repo.get_commit(ours) if ours else None
    w.ours_snap = ours_s
    w.prefix, w.suffix, w.ours_mid = ours_s.count, 0, []
    w.outcome = Outcome(list(rest), dups)
    w.added_ours = [ours_win[i] for i in sorted(ours_win)]
    w.added_theirs = added
    return w


def apply_strategy(repo: RepoState, w: Work, strategy: str,
                   driver: MergeDriver | None) -> tuple[dict | None, str | None]:
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
    load = lambda e: repo.get_blob(e.blob).message  # noqa: E731
    res = driver.reconcile(outcome.conflicts, w.added_ours, w.added_theirs, load)
    for c in outcome.conflicts:
        if c.id in res.resolutions:
            action, text = res.resolutions[c.id]
            if action == "text":
                settle_text(repo, c, text, driver.name)
            else:
                c.settle(action, driver.name)
    for ours_e, theirs_e, why in res.contradictions:
        _flag_contradiction(repo, outcome, ours_e, theirs_e, why)
    return res.usage, driver.name


def _flag_contradiction(repo: RepoState, outcome, ours_e: Entry, theirs_e: Entry, why: str) -> None:
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
    c = Conflict("contradiction", None, [ours_e], [theirs_e],
                 why or "the two sides state incompatible facts")
    slots[i] = c
    del slots[j]
    outcome.conflicts.append(c)
    c.id = max(x.id for x in outcome.conflicts) + 1


def settle_text(repo: RepoState, c: Conflict, text: str | None, by: str,
                role: str | None = None) -> None:
    if not isinstance(text, str) or not text.strip():
        raise InputError("a text resolution needs non-empty text")
    sample = (c.ours or c.theirs or ([c.base] if c.base else []))
    if role is None:
        role = repo.get_blob(sample[0].blob).message.get("role") if sample else "user"
    blob = Blob({"role": role or "user", "content": text})
    repo.store.write([blob])
    flags = max((e.flags for e in sample), default=0)
    c.settle("text", by, [Entry(blob.id, flags)])


def _result_snapshot(repo: RepoState, w: Work, mid: list[Entry]) -> tuple[Snapshot, list, int]:
    """(snapshot, new nodes, total tokens) of ours with its differing middle replaced."""
    om = w.ours_mid
    n = min(len(om), len(mid))
    lcp = 0
    while lcp < n and om[lcp] == mid[lcp]:
        lcp += 1
    nodes: list = []
    snap = chunked.splice(w.ours_snap, w.prefix + lcp, w.ours_snap.count - w.suffix,
                          mid[lcp:], repo.get_node, nodes.append)
    counter = repo.token_counter().name
    if w.ours is None or w.ours.encoding != counter or w.ours_snap.count == 0 \
            or snap.count == 0:
        total = count_entries(repo, chunked.entries(snap, repo.get_node)) if snap.count else 0
    else:
        total = (w.ours.total_tokens + sum(repo.blob_tokens(e.blob) for e in mid[lcp:])
                 - sum(repo.blob_tokens(e.blob) for e in om[lcp:]))
    return snap, nodes, total


def new_commit(repo: RepoState, snap: Snapshot, nodes: list, total: int, parents: list, op: str,
                message: str, prev_total: int, meta: dict, blobs: Sequence[bytes] = (),
                targets: Sequence[int] = (), author: str | None = None,
                tokens: int | None = None) -> Commit:
    """Write a commit of `snap`; its `tokens` is the change of the total unless given."""
    change = Change(snap, nodes, op, blobs=blobs, targets=targets, message=message,
                    tokens=total - prev_total if tokens is None else tokens,
                    total_tokens=total, meta=meta)
    return write_change(repo, change, parents, author)


def head(repo: RepoState) -> tuple[str, bytes | None]:
    """(the ref the operation moves, its commit id or None)."""
    ref, cid, _, _ = tip(repo)
    return ref, cid


def save_state(repo: RepoState, st: MergeState, w: Work) -> None:
    """Record the slots of `w` in `st`, with runs of ours' entries kept as index ranges."""
    om = w.ours_mid
    pos: dict[Entry, int] = {}
    for i, e in enumerate(om):
        pos.setdefault(e, i)
    slots: list = []
    for s in w.outcome.slots:
        if isinstance(s, Entry):
            at = pos.get(s)
            if at is not None:
                last = slots[-1] if slots else None
                a = w.prefix + at
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
    mergestate.save(repo, st)


def work_from_state(repo: RepoState, st: MergeState) -> Work:
    w = Work()
    w.ours_id = from_hex(st.ours) if st.ours else None
    w.ours = repo.get_commit(w.ours_id) if w.ours_id else None
    w.ours_snap = snapshot_of_commit(repo, w.ours_id)
    w.prefix, w.suffix = st.prefix, st.suffix
    if st.prefix + st.suffix > w.ours_snap.count:
        raise StateError("MERGE_STATE does not match its commits; run "
                                    f"'trace {st.op} --abort'")
    refs, tail = chunked.leaves(w.ours_snap, repo.get_node)
    w.ours_mid = chunked.entries_between(refs, tail, st.prefix,
                                         w.ours_snap.count - st.suffix, repo.get_node)
    slots: list = []
    for s in st.slots:
        if isinstance(s, tuple):
            if s[2] > w.ours_snap.count:
                raise StateError("MERGE_STATE does not match its commits")
            slots.extend(chunked.entries_between(refs, tail, s[1], s[2], repo.get_node))
        else:
            slots.append(s)

    w.outcome = Outcome(slots, st.deduplicated, st.conflicts)
    w.added_ours = w.added_theirs = []
    return w


def check_options(repo: RepoState, strategy: str, order: str | None) -> str:
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r} ({', '.join(STRATEGIES)})")
    order = order or repo.config.get_typed("merge.order")
    if order not in ORDERS:
        raise InputError(f"unknown order {order!r} ({', '.join(ORDERS)})")
    return order


def finish(repo: RepoState, st: MergeState, w: Work) -> MergeResult:
    """Commit a fully resolved merge or pick and move the branch (CAS on where it started)."""
    mid = resolved_entries(w.outcome.slots)
    snap, nodes, total = _result_snapshot(repo, w, mid)
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
    new_blobs = [e.blob for c in st.conflicts if c.action == "text"
                 for e in c.resolution or ()]
    if st.op == "merge":
        assert st.ours is not None  # a merge that stopped had a commit to merge into
        parents = [from_hex(st.ours), from_hex(st.theirs)]
        commit = new_commit(repo, snap, nodes, total, parents, "merge", st.message, prev,
                                  meta, blobs=new_blobs)
        publish(repo, st.ref, st.orig_head, commit.hex, f"merge {st.theirs_name}: {st.strategy}")
        mergestate.remove(repo)
        return MergeResult("merge", "merged", commit.hex, st.conflicts, st.base,
                           st.deduplicated, st.inference, st.driver)
    return _finish_pick(repo, st, w, snap, nodes, total, prev, meta, new_blobs)


def _finish_pick(repo: RepoState, st, w: Work, snap: Snapshot, nodes: list, total: int, prev: int,
                 meta: dict, new_blobs: list) -> MergeResult:
    src = repo.get_commit(from_hex(st.theirs))
    if st.op == "revert":
        meta["reverted"] = st.theirs
    elif st.op == "cherry-pick":
        meta["picked"] = st.theirs
    if st.op == "rebase":
        return _rebase_step_done(repo, st, w, snap, nodes, total, prev, meta, new_blobs)
    if snap.id == w.ours_snap.id:
        mergestate.remove(repo)
        return MergeResult(st.op, "empty", st.ours, st.conflicts)
    op = "revert" if st.op == "revert" else "cherry-pick"
    carried = new_blobs or (list(src.blobs) if op == "cherry-pick" else [])
    commit = new_commit(repo, snap, nodes, total, [from_hex(st.ours)], op, st.message, prev,
                              meta, blobs=carried)
    publish(repo, st.ref, st.orig_head, commit.hex, f"{st.op}: {commit.summary}"[:200])
    mergestate.remove(repo)
    return MergeResult(st.op, "picked" if st.op == "cherry-pick" else "reverted", commit.hex,
                       st.conflicts, st.base, st.deduplicated, st.inference, st.driver)


def _replayed_targets(repo: RepoState, w: Work, src: Commit) -> list:
    """The positions the replayed operation addressed, in the new context (append) or in
    the context it was applied to (edit, pin, unpin, drop), as the original records them."""
    mid = resolved_entries(w.outcome.slots)
    if src.op == "append":
        carried = set(src.blobs)
        return [w.prefix + i for i, e in enumerate(mid) if e.blob in carried]
    if src.op not in ("edit", "pin", "unpin", "drop"):
        return []
    psnap = snapshot_of_commit(repo, src.parents[0] if src.parents else None)
    out = []
    for t in src.targets:
        if not 0 <= t < psnap.count:
            continue
        if t < w.prefix:
            out.append(t)
            continue
        e = chunked.entry_at(psnap, t, repo.get_node)
        if e in w.ours_mid:
            out.append(w.prefix + w.ours_mid.index(e))
    return sorted(out)


def _rebase_step_done(repo: RepoState, st, w: Work, snap: Snapshot, nodes: list, total: int,
                      prev: int, meta: dict, new_blobs: list) -> MergeResult:
    rb = st.rebase
    src_id = rb["todo"][0]
    src = repo.get_commit(from_hex(src_id))
    if snap.id == w.ours_snap.id:  # the change is already there: drop the commit, as git
        rb["done"].append([src_id, None])
    else:
        m = dict(src.meta)
        m["replayed"] = src_id
        for k in ("conflicts", "driver", "inference"):
            if k in meta:
                m[k] = meta[k]
        clean = not st.conflicts and src.op in ("append", "edit", "pin", "unpin", "drop")
        commit = new_commit(repo, snap, nodes, total, [from_hex(st.ours)], src.op,
                                  src.message, prev, m, blobs=new_blobs or list(src.blobs),
                                  targets=_replayed_targets(repo, w, src), author=src.author,
                                  tokens=src.tokens if clean else None)
        rb["done"].append([src_id, commit.hex])
        st.ours = commit.hex
    rb["todo"].pop(0)
    st.conflicts, st.slots, st.inference, st.driver = [], [], None, None
    return MergeResult("rebase", "step", st.ours)
