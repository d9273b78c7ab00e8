"""Which commit introduced each entry of a context: a walk down first-parent history.

The walk starts at a commit and steps to first parents. At each step it aligns the child's entries
with the parent's: entries of the child that have no counterpart in the parent were introduced by
the child. An append commit is aligned from its `targets` and `blobs` (checked against the
snapshot's tail, no full read); every other commit by comparing blob ids: common prefix, common
suffix, difflib on the middle, then moved entries (a blob that left one position and appeared at
another keeps its origin). Flags are ignored: a pin does not introduce an entry. A merge commit is
compared with its first parent only, so the entries it brought in from the other side count as
introduced by the merge commit.
"""

from __future__ import annotations

import difflib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from .. import chunked
from ..objects import Commit, Entry, Snapshot

if TYPE_CHECKING:
    from ..state import RepoState


def align(old: Sequence[Entry], new: Sequence[Entry]) -> tuple[list[tuple[int, int]], list[int]]:
    """(matched (new index, old index) pairs, new indices with no counterpart in `old`)."""
    n, m = len(old), len(new)
    pre = 0
    lim = min(n, m)
    while pre < lim and old[pre].blob == new[pre].blob:
        pre += 1
    suf = 0
    while suf < lim - pre and old[n - 1 - suf].blob == new[m - 1 - suf].blob:
        suf += 1
    pairs = [(i, i) for i in range(pre)]
    pairs.extend((m - 1 - k, n - 1 - k) for k in range(suf))
    a = [e.blob for e in old[pre:n - suf]]
    b = [e.blob for e in new[pre:m - suf]]
    matched_a, matched_b = set(), set()
    if a and b:
        sm = difflib.SequenceMatcher(None, a, b, autojunk=False)
        for blk in sm.get_matching_blocks():
            for k in range(blk.size):
                pairs.append((pre + blk.b + k, pre + blk.a + k))
                matched_a.add(blk.a + k)
                matched_b.add(blk.b + k)
    free: dict[bytes, list[int]] = {}
    for i, blob in enumerate(a):
        if i not in matched_a:
            free.setdefault(blob, []).append(i)
    fresh = []
    for j, blob in enumerate(b):
        if j in matched_b:
            continue
        cands = free.get(blob)
        if cands:  # moved, not introduced
            pairs.append((pre + j, pre + cands.pop(0)))
        else:
            fresh.append(pre + j)
    return pairs, fresh


class OriginWalk:
    """Steps down the first-parent history of `head`, attributing each of its entries to the
    commit that introduced it (`origin[i]`, None while unknown)."""

    def __init__(self, repo: RepoState, head: bytes) -> None:
        self.repo = repo
        self.cur: bytes | None = head
        self.commit: Commit | None = repo.get_commit(head)  # None past the root
        self.snap: Snapshot = repo.get_snapshot(self.commit.snapshot)
        self.entries: list[Entry] = chunked.entries(self.snap, repo.get_node)
        self.origin: list[bytes | None] = [None] * len(self.entries)
        self.unknown = len(self.entries)
        self._track: list[int] = list(range(len(self.entries)))  # position now -> index at head
        self._loaded: list[Entry] | None = self.entries
        self.found: list[int] = []  # head indices the last step attributed

    def step(self) -> tuple[bytes, Commit]:
        """Attribute what the current commit introduced, then move to its first parent.
        Returns the commit just processed."""
        cid, c, snap = self.cur, self.commit, self.snap
        assert cid is not None and c is not None  # (both None once past the root)
        if c.parents:
            pid = c.parents[0]
            parent = self.repo.get_commit(pid)
            psnap = self.repo.get_snapshot(parent.snapshot)
        else:
            pid, parent, psnap = None, None, chunked.EMPTY
        fresh = self._appended(c, snap, psnap)
        track = self._track
        if fresh is not None:
            ploaded = None
        else:
            old = chunked.entries(psnap, self.repo.get_node)
            new = self._loaded if self._loaded is not None else \
                chunked.entries(snap, self.repo.get_node)
            pairs, fresh = align(old, new)
            nt = [-1] * len(old)
            for j, i in pairs:
                nt[i] = track[j]
            ploaded = old
        found = []
        for j in fresh:
            h = track[j]
            if h >= 0 and self.origin[h] is None:
                self.origin[h] = cid
                found.append(h)
        self.unknown -= len(found)
        self.found = found
        if ploaded is None:
            del track[psnap.count:]
        else:
            self._track = nt
        self.cur, self.commit, self.snap, self._loaded = pid, parent, psnap, ploaded
        return cid, c

    def _appended(self, c: Commit, snap: Snapshot, psnap: Snapshot) -> list[int] | None:
        """The positions an append commit added, if its record matches its snapshots."""
        if c.op != "append" or len(c.parents) > 1:
            return None
        k = snap.count - psnap.count
        if k <= 0 or list(c.targets) != list(range(psnap.count, snap.count)) or len(c.blobs) != k:
            return None
        tree = snap.count - len(snap.tail)
        for t, blob in zip(c.targets, c.blobs, strict=True):
            e = snap.tail[t - tree] if t >= tree else chunked.entry_at(snap, t, self.repo.get_node)
            if e.blob != blob:
                return None
        if psnap.count and chunked.entry_at(psnap, psnap.count - 1, self.repo.get_node).blob != \
                chunked.entry_at(snap, psnap.count - 1, self.repo.get_node).blob:
            return None
        return list(c.targets)
