"""Tool-call integrity as an invariant of every change to a context (trace_core.toolpairs defines
what is broken): the commit primitive and `publish` compare the context before and after each
change and report only what the change introduces; under `repo.tools_strict` it is refused.

Cost: an append reads only the messages it appends (what was open at the end of the context it
extends is remembered per snapshot id, or found by reading back to the last conversational
message); other changes read the entry lists, and the messages of the changed region widened to
the conversational messages around it (pairing never reaches across one).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

from .. import chunked
from ..objects import Blob, Entry, Node, Snapshot
from ..state import RepoState
from ..toolpairs import (
    Pending,
    Problem,
    ToolPairingError,
    analyze,
    conversational,
    summary,
)

_OPEN_AT_END: dict[bytes, tuple[Pending, ...]] = {}   # snapshot id -> calls open at its end
_CACHE_MAX = 1024

GetMessage = Callable[[bytes], Any]
GetNode = Callable[[bytes], Node]


def _remember(snap_id: bytes, pending: Sequence[Pending]) -> None:
    if len(_OPEN_AT_END) >= _CACHE_MAX:
        _OPEN_AT_END.clear()
    _OPEN_AT_END[snap_id] = tuple(pending)


def readers(repo: RepoState, objects: Sequence[Any] = ()) -> tuple[GetNode, GetMessage]:
    """A node getter and a memoized message getter that see `objects` (not written yet)
    before the store."""
    nodes: dict[bytes, Node] = {o.id: o for o in objects if isinstance(o, Node)}
    blobs: dict[bytes, Blob] = {o.id: o for o in objects if isinstance(o, Blob)}
    memo: dict[bytes, Any] = {}

    def get_node(oid: bytes) -> Node:
        n = nodes.get(oid)
        return n if n is not None else repo.get_node(oid)

    def get_message(bid: bytes) -> Any:
        m = memo.get(bid)
        if m is None:
            b = blobs.get(bid)
            m = memo[bid] = (b if b is not None else repo.get_blob(bid)).message
        return m
    return get_node, get_message


def open_at_end(snap: Snapshot, get_node: GetNode, get_message: GetMessage) -> tuple[Pending, ...]:
    """The calls awaiting their results at the end of `snap` (read back to the last
    conversational message)."""
    known = _OPEN_AT_END.get(snap.id)
    if known is not None:
        return known
    run: list = []
    i = snap.count - 1
    while i >= 0:
        m = get_message(chunked.entry_at(snap, i, get_node).blob)
        if conversational(m):
            break
        run.append(m)
        i -= 1
    run.reverse()
    pending = tuple(analyze(run, i + 1).pending)
    _remember(snap.id, pending)
    return pending


def _introduced(before: Sequence[Problem], after: Sequence[Problem]) -> list[Problem]:
    """The problems of `after` that `before` did not have (by kind and call id)."""
    had = Counter((p.kind, p.call_id) for p in before)
    out = []
    for p in after:
        key = (p.kind, p.call_id)
        if had[key] > 0:
            had[key] -= 1
        else:
            out.append(p)
    return out


def compare_entries(before: Sequence[Entry], after: Sequence[Entry],
                    get_message: GetMessage) -> list[Problem]:
    """The broken pairs the context `after` has that `before` had not (indices in `after`)."""
    bb = [e.blob for e in before]
    ab = [e.blob for e in after]
    nb, na = len(bb), len(ab)
    lim = min(nb, na)
    p = 0
    while p < lim and bb[p] == ab[p]:
        p += 1
    if p == nb == na:
        return []
    s = 0
    while s < lim - p and bb[nb - 1 - s] == ab[na - 1 - s]:
        s += 1
    a = p       # widen to just after the last conversational message before the change ...
    while a > 0 and not conversational(get_message(bb[a - 1])):
        a -= 1
    k = 0       # ... and through the first one after it (it closes every open call)
    while k < s and not conversational(get_message(bb[nb - s + k])):
        k += 1
    extra = min(k + 1, s)
    old = analyze([get_message(x) for x in bb[a: nb - s + extra]], a).problems
    new = analyze([get_message(x) for x in ab[a: na - s + extra]], a).problems
    return _introduced(old, new)


def change_problems(repo: RepoState, before: Snapshot, change: Any) -> list[Problem]:
    """What `change` (a plumbing.commit.Change on a context `before`) breaks."""
    get_node, get_message = readers(repo, change.objects)
    after: Snapshot = change.snapshot
    if change.op == "append" and after.count == before.count + len(change.blobs):
        res = analyze([get_message(b) for b in change.blobs], before.count,
                      open_at_end(before, get_node, get_message))
        _remember(after.id, res.pending)
        return res.problems
    if after.id == before.id:
        return []
    return compare_entries(chunked.entries(before, get_node), chunked.entries(after, get_node),
                           get_message)


def move_problems(repo: RepoState, old: bytes | None, new: bytes | None) -> list[Problem]:
    """What moving a ref from commit `old` to commit `new` does to its context."""
    def snap(cid: bytes | None) -> Snapshot:
        return chunked.EMPTY if cid is None else repo.get_snapshot(repo.get_commit(cid).snapshot)
    a, b = snap(old), snap(new)
    if a.id == b.id:
        return []
    get_node, get_message = readers(repo)
    return compare_entries(chunked.entries(a, get_node), chunked.entries(b, get_node),
                           get_message)


def verdict(repo: RepoState, op: str, problems: Sequence[Problem]) -> str | None:
    """Refuse `problems` under strict tool checking (ToolPairingError); else the warning to
    give once the change is made (None: nothing broken)."""
    if not problems:
        return None
    what = f"{op} breaks tool-call pairing: {summary(problems)}"
    if repo.tools_strict:
        raise ToolPairingError(f"refused: {what}; nothing was changed")
    return f"{what} (the prompt would be rejected; 'trace context --repair' can fix it)"

