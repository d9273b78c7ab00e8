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
prefix of the context by its leaves (chunked.appended).

A kept row is a cache the index file holds, so it is checked before it is believed: its entry
count must be the snapshot's, every index must lie in the context, and its pending calls must be
the ones the context ends with (read back to the last conversational message); a row that fails
is dropped and the tally recounted. Rows with more than KEEP_PROBLEMS_MAX broken pairs are not
kept (their size would grow the index with every status), and gc empties the table.
"""

from __future__ import annotations

from typing import NamedTuple

import msgpack

from .. import chunked
from ..errors import ObjectError
from ..objects import Commit, Snapshot
from ..state import RepoState
from ..toolpairs import Pairing, Pending, Problem, analyze

#: first-parent commits read back looking for a snapshot with a kept tally: at most this many,
#: and at most a sixteenth of the context's length (a step reads a commit and asks the index,
#: about what reading one message costs: a walk that finds nothing then adds at most ~6% to
#: the whole read it falls back to)
WALK_MAX = 1024
KEEP_PROBLEMS_MAX = 256
RECORD_VERSION = 1
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
    t = _known(repo, snap)
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
    new = chunked.appended(base, snap, repo.get_node)
    if new is None:
        return None
    if not new:
        return t
    res = analyze([repo.get_blob(e.blob).message for e in new], base.count, t.pairing.pending)
    return Tally(t.entries + len(new), t.pinned + sum(e.pinned for e in new),
                 Pairing(t.pairing.problems + res.problems, res.pending))


def _extended(repo: RepoState, commit: Commit, snap: Snapshot) -> Tally | None:
    c = commit
    try:
        for _ in range(min(WALK_MAX, snap.count // 16 + 1)):
            if not c.parents:
                return None
            c = repo.get_commit(c.parents[0])
            base = repo.get_snapshot(c.snapshot)
            t = _known(repo, base)
            if t is not None:
                return extend(repo, base, t, snap)
    except ObjectError:
        return None     # history cut short (pruned, missing): read the whole context
    return None


# -- kept tallies ---------------------------------------------------------------------------------
def encode(t: Tally) -> bytes:
    """A tally as its index record: msgpack [version, count, pinned, [[kind, index, call id,
    before]...], [[index, call id, name]...]]."""
    return msgpack.packb([RECORD_VERSION, t.entries, t.pinned,
                          [[p.kind, p.index, p.call_id, p.before] for p in t.pairing.problems],
                          [[p.index, p.call_id, p.name] for p in t.pairing.pending]],
                         use_bin_type=True)


def decode(rec: bytes) -> Tally | None:
    """The tally of an index record; None when it is not one."""
    try:
        version, count, pinned, problems, pending = msgpack.unpackb(rec, use_list=True)
        if version != RECORD_VERSION:
            return None
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


def _known(repo: RepoState, snap: Snapshot) -> Tally | None:
    t = _memo.get(snap.id)
    if t is None:
        rec = repo.index.get_tally(snap.id)
        t = decode(rec) if rec is not None else None
        if t is not None:
            if not _believable(repo, snap, t):
                repo.index.drop_tally(snap.id)
                return None
            _remember(snap.id, t)
    return t


def _believable(repo: RepoState, snap: Snapshot, t: Tally) -> bool:
    """Whether a row read from the index can be the tally of `snap` (see the module doc)."""
    n = snap.count
    if t.entries != n or not 0 <= t.pinned <= n:
        return False
    for p in t.pairing.problems:
        if not 0 <= p.index < n or (p.before is not None and not p.index < p.before < n):
            return False
    from .integrity import open_at_end, readers
    try:
        ends = open_at_end(snap, *readers(repo))
    except ObjectError:
        return False
    return [(p.index, p.call_id) for p in t.pairing.pending] == \
        [(p.index, p.call_id) for p in ends]


def _keep(repo: RepoState, snap_id: bytes, t: Tally) -> None:
    _remember(snap_id, t)
    if len(t.pairing.problems) + len(t.pairing.pending) <= KEEP_PROBLEMS_MAX:
        repo.index.put_tally(snap_id, encode(t))


def _remember(snap_id: bytes, t: Tally) -> None:
    if len(_memo) >= _MEMO_MAX:
        _memo.clear()
    _memo[snap_id] = t
