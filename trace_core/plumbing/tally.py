"""Per-snapshot tallies for status: entry count, pinned entries, broken tool-call pairs and the
calls pending at the end, kept in the index per snapshot id and derived from an ancestor's
tally by reading only the entries appended since (docs/porcelain.md, FORMAT.md §11).

A tally is a function of the snapshot's entries alone. `tally_at` finds one kept for the
commit's snapshot, or walks first parents (at most WALK_MAX, and a sixteenth of the context's
length) to the nearest snapshot with one and extends it, or, when none has one or the context
did not grow by appending from it (a drop, an edit, a merge, a reset in between), reads the
whole context once.
Extending is exact: pairing is a left-to-right scan whose only state across a boundary is the
calls still open there, which are the base's pending calls; and the base is proved to be a
prefix of the context by rebuilding the context from it (the chunked tree is canonical, so
equal ids mean equal entry lists).
"""

from __future__ import annotations

from typing import NamedTuple

import msgpack

from .. import chunked
from ..errors import ObjectError
from ..objects import Commit, Entry, Node, Snapshot
from ..state import RepoState
from ..toolpairs import Pairing, Pending, Problem, analyze

#: first-parent commits read back looking for a snapshot with a kept tally: at most this many,
#: and at most a sixteenth of the context's length (a step reads a commit and asks the index,
#: about what reading one message costs: a walk that finds nothing then adds at most ~6% to
#: the whole read it falls back to)
WALK_MAX = 1024
_MEMO_MAX = 64
_memo: dict[bytes, Tally] = {}      # snapshot id -> tally (a function of the id: any repository)


class Tally(NamedTuple):
    """What status reports of a context: its entries, pinned entries, and tool-call pairing."""

    entries: int
    pinned: int
    pairing: Pairing


def tally_at(repo: RepoState, commit_id: bytes) -> Tally:
    """The tally of the context at commit `commit_id`."""
    commit = repo.get_commit(commit_id)
    snap = repo.get_snapshot(commit.snapshot)
    t = _known(repo, snap.id)
    if t is None:
        t = _extended(repo, commit, snap) or whole(repo, snap)
        _keep(repo, snap.id, t)
    return t


def whole(repo: RepoState, snap: Snapshot) -> Tally:
    """The tally of `snap` from all of its entries."""
    from ..bulk import no_gc_pauses
    with no_gc_pauses():
        entries = chunked.entries(snap, repo.get_node)
        get_blob = repo.get_blob
        msgs = [get_blob(e.blob).message for e in entries]
        return Tally(len(entries), sum(e.pinned for e in entries), analyze(msgs))


def extend(repo: RepoState, base: Snapshot, t: Tally, snap: Snapshot) -> Tally | None:
    """The tally of `snap` from `t`, the tally of `base`, when `snap` is `base` with entries
    appended (reading only those); None when it is not."""
    if t.entries != base.count:
        return None
    new = appended(base, snap, repo.get_node)
    if new is None:
        return None
    if not new:
        return t
    res = analyze([repo.get_blob(e.blob).message for e in new], base.count, t.pairing.pending)
    return Tally(t.entries + len(new), t.pinned + sum(e.pinned for e in new),
                 Pairing(t.pairing.problems + res.problems, res.pending))


def appended(base: Snapshot, snap: Snapshot, get_node: chunked.GetNode) -> list[Entry] | None:
    """The entries appended to `base` to make `snap` (reading only those and the path down to
    them), or None when `snap` is not `base` with entries appended: proved by rebuilding `snap`
    from `base` and them (the tree is canonical: equal ids, equal entry lists)."""
    k = snap.count - base.count
    if k < 0:
        return None
    if k == 0:
        return [] if snap.id == base.id else None
    new = entries_from(snap, base.count, get_node)
    if len(new) != k:
        return None

    def no_write(node: Node) -> None:
        pass
    if chunked.append(base, new, get_node, no_write).id != snap.id:
        return None
    return new


def entries_from(snap: Snapshot, start: int, get_node: chunked.GetNode) -> list[Entry]:
    """The entries of `snap` from index `start` to its end, reading only the nodes that hold
    them and the path down to the first."""
    out: list[Entry] = []
    tree_count = snap.count - len(snap.tail)
    if start < tree_count and snap.root is not None:
        stack: list[tuple[bytes, int]] = [(snap.root, start)]
        while stack:
            oid, skip = stack.pop()
            node = get_node(oid)
            if node.level == 0:
                out.extend(node.items[skip:])
                continue
            todo = []
            for cid, c in node.items:
                if skip >= c:
                    skip -= c
                    continue
                todo.append((cid, skip))
                skip = 0
            stack.extend(reversed(todo))
    out.extend(snap.tail[max(0, start - tree_count):])
    return out


def _extended(repo: RepoState, commit: Commit, snap: Snapshot) -> Tally | None:
    c = commit
    try:
        for _ in range(min(WALK_MAX, snap.count // 16 + 1)):
            if not c.parents:
                return None
            c = repo.get_commit(c.parents[0])
            t = _known(repo, c.snapshot)
            if t is not None:
                return extend(repo, repo.get_snapshot(c.snapshot), t, snap)
    except ObjectError:
        return None     # history cut short (pruned, missing): read the whole context
    return None


# -- kept tallies ---------------------------------------------------------------------------------
def encode(t: Tally) -> bytes:
    """A tally as its index record: msgpack [count, pinned, [[kind, index, call id, before]...],
    [[index, call id, name]...]]."""
    return msgpack.packb([t.entries, t.pinned,
                          [[p.kind, p.index, p.call_id, p.before] for p in t.pairing.problems],
                          [[p.index, p.call_id, p.name] for p in t.pairing.pending]],
                         use_bin_type=True)


def decode(rec: bytes) -> Tally | None:
    """The tally of an index record; None when it is not one."""
    try:
        count, pinned, problems, pending = msgpack.unpackb(rec, use_list=True)
        out = Tally(count, pinned, Pairing([Problem(k, i, c, b) for k, i, c, b in problems],
                                           [Pending(i, c, n) for i, c, n in pending]))
    except (TypeError, ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    ints = [out.entries, out.pinned, *(p.index for p in out.pairing.problems),
            *(p.before for p in out.pairing.problems if p.before is not None),
            *(p.index for p in out.pairing.pending)]
    strs = [*(p.kind for p in out.pairing.problems), *(p.call_id for p in out.pairing.problems),
            *(p.call_id for p in out.pairing.pending), *(p.name for p in out.pairing.pending)]
    if not all(type(x) is int for x in ints) or not all(type(x) is str for x in strs):
        return None
    return out


def _known(repo: RepoState, snap_id: bytes) -> Tally | None:
    t = _memo.get(snap_id)
    if t is None:
        rec = repo.index.get_tally(snap_id)
        t = decode(rec) if rec is not None else None
        if t is not None:
            _remember(snap_id, t)
    return t


def _keep(repo: RepoState, snap_id: bytes, t: Tally) -> None:
    _remember(snap_id, t)
    repo.index.put_tally(snap_id, encode(t))


def _remember(snap_id: bytes, t: Tally) -> None:
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[snap_id] = t
