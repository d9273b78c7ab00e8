"""History walks over the commit index: `rev-list`, `merge-base`, ancestry."""

from __future__ import annotations

import heapq
from collections.abc import Sequence

from ..errors import ObjectError, RevisionError
from ..ids import RawId, to_hex
from ..state import RepoState
from .revparse import resolve_commit, resolve_revision


def rev_list(repo: RepoState, include: Sequence[str], exclude: Sequence[str] = (),
             limit: int | None = None, first_parent: bool = False) -> list:
    """Index rows of the commits reachable from `include` and not from `exclude`, newest first."""
    inc = [resolve_revision(repo, r) for r in include]
    exc = [resolve_revision(repo, r) for r in exclude]
    return list(repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent))


def rev_list_ids(repo: RepoState, include: Sequence[str], exclude: Sequence[str] = (),
                 limit: int | None = None, first_parent: bool = False) -> list[RawId]:
    """The ids `rev_list` lists, read without loading whole index rows (`trace rev-list`)."""
    inc = [resolve_commit(repo, r) for r in include]
    exc = [resolve_commit(repo, r) for r in exclude]
    return [r[0] for r in repo.index.walk_raw(inc, exc, limit, first_parent)]


def merge_base(repo: RepoState, a: str, b: str, all_bases: bool = False) -> list[str]:
    """The best common ancestor of `a` and `b` (all of them with `all_bases`), as hex ids."""
    bases = merge_bases(repo, resolve_revision(repo, a), resolve_revision(repo, b))
    return [to_hex(x) for x in (bases if all_bases else bases[:1])]


_P1, _P2, _STALE = 1, 2, 4


class _Unordered(Exception):
    """The walk met a parent newer than its child (a clock that went back), or a commit it
    cannot read: the index must answer."""


def is_ancestor(repo: RepoState, a: str, b: str) -> bool:
    """Whether commit `a` is an ancestor of (or equal to) commit `b`."""
    return repo.index.is_ancestor(resolve_revision(repo, a), resolve_revision(repo, b))


def merge_bases(repo: RepoState, a: bytes, b: bytes) -> list[bytes]:
    """The best common ancestors of commits `a` and `b` (`git merge-base --all`), newest first
    (commit time, then generation, then id): what `repo.index.merge_bases` answers, without
    indexing the whole history first.

    With both tips indexed, the index answers (a generation-ordered walk over its rows).
    Otherwise both sides are painted downwards from the tips in commit-time order, reading
    commits from the object store, as git's date-ordered walk does, until every commit still
    queued is below a common ancestor found and older than each one found: only the commits
    between the tips and their bases are read. Commits of the same millisecond (a batch) may be
    taken before a child of theirs; such a commit is taken again when the child reaches it
    with more. When the walk meets a parent newer than its child (a clock that went back), a
    commit it cannot read, or bases of the same millisecond (whose order needs generations),
    the index answers instead. (A clock that went back on a path the walk never takes, below
    a base it found, goes unseen, as it does in git's walk.)"""
    index = repo.index
    if a == b:
        repo.get_commit(a)
        return [a]
    if not (index.has(a) and index.has(b)):
        try:
            found = _paint_by_time(repo, a, b)
        except _Unordered:
            found = None
        if found is not None and len({t for t, _ in found}) == len(found):
            return [x for _, x in sorted(found, key=lambda f: (-f[0], f[1]))]
    return index.merge_bases(a, b)


def _paint_by_time(repo: RepoState, a: bytes, b: bytes) -> list:
    """[(time_ms, id)] of the best common ancestors of a and b, read from the object store."""
    pop, push = heapq.heappop, heapq.heappush

    def commit(oid: bytes):
        try:
            return repo.get_commit(oid)
        except (ObjectError, RevisionError):
            raise _Unordered from None   # the index's rules (and errors) for damaged history

    seq = 0
    info: dict = {}          # id -> (time_ms, parents) of every commit met
    heap: list = []          # (-time_ms, seq, id): newest first, then in the order met
    flags: dict = {}
    for x, f in ((a, _P1), (b, _P2)):
        c = commit(x)
        info[x] = (c.time_ms, c.parents)
        flags[x] = f
        push(heap, (-c.time_ms, seq, x))
        seq += 1
    queued = {a, b}
    active = {a, b}          # queued ids not yet known to be below a common ancestor
    oldest_found = None      # time of the oldest commit taken as a common ancestor
    while heap:
        if not active and (oldest_found is None or -heap[0][0] < oldest_found):
            break            # nothing queued can be above a common ancestor found
        neg_t, _, oid = pop(heap)
        queued.discard(oid)
        active.discard(oid)
        f = flags[oid]
        if f & (_P1 | _P2) == _P1 | _P2:
            f |= _STALE      # (for its parents: they are below a common ancestor)
            oldest_found = -neg_t if oldest_found is None else min(oldest_found, -neg_t)
        for p in info[oid][1]:
            pf = flags.get(p)
            if pf is None:
                c = commit(p)
                info[p] = (c.time_ms, c.parents)
                flags[p] = f
            if info[p][0] > -neg_t:
                raise _Unordered
            if pf is not None:
                if pf | f == pf:
                    continue
                flags[p] = pf | f
                if p in queued:
                    if f & _STALE:
                        active.discard(p)
                    continue
            # p is new, or was taken before this child reached it with more: (re)queue it
            push(heap, (-info[p][0], seq, p))
            seq += 1
            queued.add(p)
            if not flags[p] & _STALE:
                active.add(p)
    return [(info[x][0], x) for x, fx in flags.items()
            if fx & (_P1 | _P2) == _P1 | _P2 and not fx & _STALE]
