"""Three-way merge of context entry lists: the rules of docs/merge.md, with no I/O.

Each side is compared with the merge base: every base entry is kept (possibly with new flags),
edited (replaced in place by an entry of the same role) or dropped, and new entries are inserted
in the gaps between base entries (gap `len(base)` is the end, where appends land). The two sides'
fates of each base entry and their insertions in each gap are then combined; what cannot be
combined is a `Conflict`, recorded as data in the result.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from ..objects import Entry

ORDERS = ("ours-first", "theirs-first", "chronological")
KINDS = ("edit/edit", "edit/drop", "drop/edit", "pin/drop", "drop/pin", "redundant",
         "contradiction")
#: how many of the entries one side inserted in a gap are compared with each entry the other
#: side inserted there, looking for near-duplicates (the first and the last N): bounded work
NEAR_WINDOW = 64

#: an entry's features for near-duplicate search: (role, normalized text, set of shingle ids)
Features = Callable[[Entry], tuple[str | None, str, frozenset]]
Role = Callable[[Entry], str | None]


class Similar:
    """Near-duplicates: same role, and equal normalized text or a Jaccard similarity of their
    word-bigram sets of at least `threshold`. Candidates are found with prefix filtering (each
    set indexed by the |A| - ceil(t|A|) + 1 first of its shingles in one global order: two sets
    that similar must share one of those), so the search does not compare every pair. Any
    order is exact; `redundancy` orders the rarest shingles first, so that the prefixes of
    messages sharing only common phrases do not meet."""

    def __init__(self, features: Features, threshold: float) -> None:
        self.features = features
        self.threshold = threshold

    def _prefix(self, shingles: frozenset, rank: dict | None = None) -> list:
        """The shingles a set is indexed by: its first ones by `rank` (default: their order)."""
        n = len(shingles)
        k = n - math.ceil(self.threshold * n) + 1
        return sorted(shingles, key=rank.__getitem__ if rank is not None else None)[:max(k, 0)]

    def matches(self, a: tuple, b: tuple) -> bool:
        if a[0] != b[0]:
            return False
        if a[1] == b[1]:
            return True
        sa, sb = a[2], b[2]
        if not sa or not sb:
            return False
        inter = len(sa & sb)
        return inter >= self.threshold * (len(sa) + len(sb) - inter)


class Conflict:
    """Something the two sides did that cannot both stand. `ours`/`theirs` are what each side
    has at this place (possibly nothing); `resolution` is the entries that replace it once
    settled (an empty list drops it)."""

    __slots__ = ("id", "kind", "base", "ours", "theirs", "resolution", "action", "by", "note")

    def __init__(self, kind: str, base: Entry | None, ours: Sequence[Entry],
                 theirs: Sequence[Entry], note: str = "") -> None:
        self.id = 0
        self.kind = kind
        self.base = base
        self.ours = list(ours)
        self.theirs = list(theirs)
        self.resolution: list[Entry] | None = None
        self.action: str | None = None
        self.by: str | None = None
        self.note = note

    @property
    def resolved(self) -> bool:
        return self.resolution is not None

    def settle(self, action: str, by: str, entries: Sequence[Entry] | None = None) -> None:
        """Resolve with ours, theirs, both, base, drop, or text (then `entries` is given)."""
        if action == "ours":
            out = self.ours
        elif action == "theirs":
            out = self.theirs
        elif action == "both":
            out = self.ours + [e for e in self.theirs if e not in self.ours]
        elif action == "base":
            out = [self.base] if self.base is not None else []
        elif action == "drop":
            out = []
        elif action == "text":
            if entries is None:
                raise ValueError("a text resolution needs its entries")
            out = list(entries)
        else:
            raise ValueError(f"unknown resolution {action!r}")
        self.resolution = list(out)
        self.action = action
        self.by = by

    def __repr__(self) -> str:
        return f"<Conflict {self.id} {self.kind}>"


class Outcome:
    """The merged list as slots (an Entry or a Conflict) plus what was merged automatically."""

    __slots__ = ("slots", "conflicts", "deduplicated")

    def __init__(self, slots: list, deduplicated: int,
                 conflicts: list[Conflict] | None = None) -> None:
        """Conflicts are numbered in slot order unless given (already numbered)."""
        self.slots = slots
        self.deduplicated = deduplicated
        if conflicts is None:
            conflicts = [s for s in slots if isinstance(s, Conflict)]
            for i, c in enumerate(conflicts, 1):
                c.id = i
        self.conflicts = conflicts


def resolved_entries(slots: Sequence) -> list[Entry]:
    """The entries of a fully resolved slot list (ValueError if a conflict is open)."""
    out: list[Entry] = []
    for s in slots:
        if isinstance(s, Conflict):
            if s.resolution is None:
                raise ValueError(f"conflict {s.id} is not resolved")
            out.extend(s.resolution)
        else:
            out.append(s)
    return out


# -- one side against the base ------------------------------------------------------------------
KEEP, EDIT, DROP = "keep", "edit", "drop"


def align(base: Sequence[Entry], side: Sequence[Entry], role: Role) -> tuple[list, dict[int, list]]:
    """(fate of each base entry: (KEEP|EDIT|DROP, entry or None), insertions by gap)."""
    fate: list = [None] * len(base)
    ins: dict[int, list] = {}
    n = min(len(base), len(side))
    p = 0
    while p < n and base[p].blob == side[p].blob:
        fate[p] = (KEEP, side[p])
        p += 1
    s = 0
    while s < n - p and base[-1 - s].blob == side[-1 - s].blob:
        fate[len(base) - 1 - s] = (KEEP, side[len(side) - 1 - s])
        s += 1
    import difflib  # (imported here: merge3 is imported by every command, difflib by few)
    b_mid = base[p:len(base) - s]
    o_mid = side[p:len(side) - s]
    sm = difflib.SequenceMatcher(a=[e.blob for e in b_mid], b=[e.blob for e in o_mid],
                                 autojunk=False)
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        i1 += p
        i2 += p
        j1 += p
        j2 += p
        if tag == "equal":
            for k in range(i2 - i1):
                fate[i1 + k] = (KEEP, side[j1 + k])
            continue
        added: list = []
        j = j1
        for i in range(i1, i2):  # pair replaced entries in order while roles match: edits
            if tag == "replace" and j < j2 and role(base[i]) == role(side[j]):
                fate[i] = (EDIT, side[j])
                j += 1
            else:
                fate[i] = (DROP, None)
        added.extend(side[j:j2])
        if added:
            ins.setdefault(i2, []).extend(added)
    return fate, ins


# -- combining two sides ------------------------------------------------------------------------
def _flags(b: Entry, o: Entry, t: Entry) -> int:
    return o.flags if o.flags != b.flags else t.flags


def _combine(b: Entry, fo: tuple, ft: tuple) -> object:
    """The merged slot for one base entry: an Entry, None (dropped) or a Conflict."""
    ko, eo = fo
    kt, et = ft
    if ko == KEEP and kt == KEEP:
        return b.with_flags(_flags(b, eo, et)) if eo.flags != b.flags or et.flags != b.flags else b
    if ko == DROP and kt == DROP:
        return None
    if ko == KEEP and kt == EDIT:
        return Entry(et.blob, _flags(b, eo, et))
    if ko == EDIT and kt == KEEP:
        return Entry(eo.blob, _flags(b, eo, et))
    if ko == EDIT and kt == EDIT:
        if eo.blob == et.blob:
            return Entry(eo.blob, _flags(b, eo, et))
        return Conflict("edit/edit", b, [eo], [et], "both sides edited this entry differently")
    if ko == KEEP and kt == DROP:
        if eo.pinned and not b.pinned:
            return Conflict("pin/drop", b, [eo], [], "ours pinned this entry, theirs dropped it")
        return None
    if ko == DROP and kt == KEEP:
        if et.pinned and not b.pinned:
            return Conflict("drop/pin", b, [], [et], "ours dropped this entry, theirs pinned it")
        return None
    if ko == EDIT:  # theirs dropped
        return Conflict("edit/drop", b, [eo], [], "ours edited this entry, theirs dropped it")
    return Conflict("drop/edit", b, [], [et], "ours dropped this entry, theirs edited it")


def window(n: int) -> range | list:
    """Which of n entries one side inserted at a place are searched for duplicates: all of
    them up to 2 * NEAR_WINDOW, else the first and last NEAR_WINDOW (bounded work)."""
    return range(n) if n <= 2 * NEAR_WINDOW else \
        [*range(NEAR_WINDOW), *range(n - NEAR_WINDOW, n)]


def redundancy(ours: dict[int, Entry], theirs: Sequence[Entry],
               similar: Similar | None) -> tuple[list, dict[int, Conflict], int]:
    """Compare what theirs inserted with the (windowed) entries ours inserted at one place:
    (theirs' entries left, redundancy conflicts by ours' index, exact duplicates dropped)."""
    have = {e.blob for e in ours.values()}
    rest = [e for e in theirs if e.blob not in have]
    dups = len(theirs) - len(rest)
    near: dict[int, Conflict] = {}
    if similar is None or not rest:
        return rest, near, dups
    feats = {i: similar.features(o) for i, o in ours.items()}
    rest_feats = [similar.features(e) for e in rest]
    seen: dict = {}     # shingle -> in how many of the sets compared here
    for f in (*feats.values(), *rest_feats):
        for sh in f[2]:
            seen[sh] = seen.get(sh, 0) + 1
    # rarest first; ties in the order first met (a stable sort: one order for every set)
    order = sorted(seen, key=seen.__getitem__)
    rank = {sh: n for n, sh in enumerate(order)}
    by_text: dict[tuple, list[int]] = {}
    by_shingle: dict[tuple, list[int]] = {}     # (role, shingle) -> ours' indexes
    for i in sorted(feats):
        f = feats[i]
        by_text.setdefault((f[0], f[1]), []).append(i)
        for sh in similar._prefix(f[2], rank):
            by_shingle.setdefault((f[0], sh), []).append(i)
    left = []
    for e, fe in zip(rest, rest_feats, strict=True):
        cands = set(by_text.get((fe[0], fe[1]), ()))
        for sh in similar._prefix(fe[2], rank):
            cands.update(by_shingle.get((fe[0], sh), ()))
        hit = next((i for i in sorted(cands) if i not in near and similar.matches(feats[i], fe)),
                   None)
        if hit is None:
            left.append(e)
        else:
            near[hit] = Conflict("redundant", None, [ours[hit]], [e],
                                 "both sides added nearly the same entry")
    return left, near, dups


def _gap(io: list, it: list, order: str, when: dict[bytes, int] | None,
         similar: Similar | None) -> tuple[list, int]:
    """Merge the entries both sides inserted at one place: (slots, exact duplicates dropped)."""
    if not io or not it:
        return list(io or it), 0
    theirs_left, near, dups = redundancy({i: io[i] for i in window(len(io))}, it, similar)
    ours_slots = [near.get(i, e) for i, e in enumerate(io)]
    if order == "ours-first":
        return ours_slots + theirs_left, dups
    if order == "theirs-first":
        return theirs_left + ours_slots, dups
    when = when or {}
    tagged = [(when.get(e.blob, 0), 0, i, s)
              for i, (e, s) in enumerate(zip(io, ours_slots, strict=True))]
    tagged += [(when.get(e.blob, 0), 1, i, e) for i, e in enumerate(theirs_left)]
    tagged.sort(key=lambda t: t[:3])
    return [t[3] for t in tagged], dups


def merge_lists(base: Sequence[Entry], ours: Sequence[Entry], theirs: Sequence[Entry], *,
                role: Role, order: str = "ours-first",
                when: dict[bytes, int] | None = None,
                similar: Similar | None = None) -> Outcome:
    """Three-way merge of entry lists. `role(entry)` gives an entry's role (edits pair entries
    of the same role); `similar(a, b)` says whether two inserted entries are near-duplicates;
    `when[blob]` orders insertions for the chronological order."""
    if order not in ORDERS:
        raise ValueError(f"unknown order {order!r}")
    fo, io = align(base, ours, role)
    ft, it = align(base, theirs, role)
    slots: list = []
    dedup = 0
    for g in range(len(base) + 1):
        a, b = io.get(g, []), it.get(g, [])
        if a or b:
            merged, d = _gap(a, b, order, when, similar)
            slots.extend(merged)
            dedup += d
        if g < len(base):
            s = _combine(base[g], fo[g], ft[g])
            if s is not None:
                slots.append(s)
    return Outcome(slots, dedup)
