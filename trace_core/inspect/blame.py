"""Blame: for each entry of a context, the commit and agent that introduced it, every later event
on it, and the original entries behind a compress summary or a collapse result (docs/inspect.md).

One walk down the history reads each commit once, newest first (by time, merges' other parents
included). It tracks each entry by position: `track[p]` is the slot followed at position p of the
commit being read. A commit's `op`, `targets` and `meta` say how positions map to its parent's:
append (the new tail is introduced here), edit/pin/unpin (events at the targets), drop (the
targets left), reorder (`meta.order`), compress (`meta.summaries`/`masked`/`kept`/`span`: the
records a summary replaced become slots of their own, followed further down as the summary's
originals), spawn roots (the inherited entries continue in the parent agent at `meta.from`). A
merge, and any commit whose record does not fit its snapshots, is aligned entry by entry
(trace_core.compress.origins.align): entries new against the first parent are looked for in the
other parents ("merge" event) or were introduced by the merge. Collapse results are blamed
afterwards in the child agent at `meta.tip` (its own entries), recursively up to MAX_DEPTH.
"""

from __future__ import annotations

import heapq
from typing import TYPE_CHECKING, Any

from .. import chunked
from ..compress.origins import align
from ..errors import InputError, MissingObject, UnreadableObject
from ..ids import from_hex, is_hex_id, to_hex
from ..messages import kind as message_kind
from ..messages import message_text, preview
from ..plumbing.revparse import resolve_any

if TYPE_CHECKING:
    from ..objects import Commit, Entry, Snapshot
    from ..state import RepoState

MAX_DEPTH = 8        # collapse results followed into sub-agents this deep
_GONE = (MissingObject, UnreadableObject)


class _Slot:
    """One entry followed down the history: what happened to it, newest first."""

    __slots__ = ("index", "blob", "flags", "tokens", "events", "origin", "children", "alias",
                 "alias_at", "rec_commit")

    def __init__(self, index: int, blob: bytes | None, flags: int, tokens: int | None) -> None:
        self.index, self.blob, self.flags, self.tokens = index, blob, flags, tokens
        self.events: list[tuple[str, bytes, dict]] = []
        self.origin: tuple[str, bytes, dict] | None = None
        self.children: list[_Slot] = []
        self.alias: _Slot | None = None
        self.alias_at = 0
        self.rec_commit: bytes | None = None  # the introducing commit a compress record names


class _Walk:
    def __init__(self, repo: RepoState) -> None:
        self.repo = repo
        self.commits: dict[bytes, Commit] = {}
        self.snaps: dict[bytes, Snapshot] = {}
        self.pending: dict[bytes, list[int]] = {}
        self.heap: list[tuple[int, int, bytes]] = []
        self.slots: list[_Slot] = []
        self.seq = 0
        self.live = 0   # slots still without an origin: the walk ends when none is left

    # -- reading (each commit and snapshot once) ------------------------------------------
    def commit(self, cid: bytes) -> Commit:
        c = self.commits.get(cid)
        if c is None:
            c = self.commits[cid] = self.repo.get_commit(cid)
        return c

    def snap(self, c: Commit) -> Snapshot:
        s = self.snaps.get(c.snapshot)
        if s is None:
            s = self.snaps[c.snapshot] = self.repo.get_snapshot(c.snapshot)
        return s

    def entries(self, c: Commit | None) -> list[Entry]:
        return [] if c is None else chunked.entries(self.snap(c), self.repo.get_node)

    # -- slots ---------------------------------------------------------------------------
    def new_slot(self, index: int, blob: bytes | None, flags: int = 0,
                 tokens: int | None = None) -> int:
        self.slots.append(_Slot(index, blob, flags, tokens))
        self.live += 1
        return len(self.slots) - 1

    def introduce(self, sid: int, op: str, cid: bytes, **extra: Any) -> None:
        s = self.slots[sid]
        if s.origin is None and s.alias is None:
            s.origin = (op, cid, extra)
            self.live -= 1
            c = self.commits[cid]
            if s.tokens is None and len(c.blobs) == 1:
                s.tokens = c.tokens

    def event(self, sid: int, op: str, cid: bytes, **extra: Any) -> None:
        s = self.slots[sid]
        s.events.append((op, cid, extra))
        c = self.commits[cid]
        if op == "edit" and s.tokens is None and len(c.blobs) == 1:
            s.tokens = c.tokens

    def hand(self, cid: bytes, track: list[int]) -> None:
        """Pass `track` (positions of commit `cid` → slots) down to `cid`."""
        if self.live <= 0:   # every entry asked about has its origin: read nothing more
            return
        have = self.pending.get(cid)
        if have is None:
            self.pending[cid] = track
            try:
                c = self.commit(cid)
            except _GONE:   # pruned history: what it would have told stays unknown
                del self.pending[cid]
                return
            self.seq += 1
            heapq.heappush(self.heap, (-c.time_ms, self.seq, cid))
            return
        for k, sid in enumerate(track):
            if sid < 0 or k >= len(have):
                continue
            if have[k] < 0:
                have[k] = sid
            elif have[k] != sid:   # reached along two lines: the first one's story is shared
                s, t = self.slots[sid], self.slots[have[k]]
                if s.origin is None and s.alias is None:
                    s.alias, s.alias_at = t, len(t.events)
                    self.live -= 1

    def run(self) -> None:
        while self.heap and self.live > 0:
            _, _, cid = heapq.heappop(self.heap)
            track = self.pending.pop(cid, None)
            if track is not None:
                self.step(cid, track)

    # -- one commit ----------------------------------------------------------------------
    def step(self, cid: bytes, track: list[int]) -> None:
        c = self.commit(cid)
        n = len(track)   # the context's size, as the records above this commit tell it
        parents = list(c.parents)
        if not parents:
            self.root(cid, c, track)
            return
        p = _parent_count(c, n) if len(parents) == 1 else None
        ptrack = None if p is None else self.mapped(cid, c, n, p, track)
        if ptrack is not None:
            self.hand(parents[0], ptrack)
            return
        try:
            pc = self.commit(parents[0])
        except _GONE:
            for sid in track:
                if sid >= 0:
                    self.introduce(sid, c.op, cid)
            return
        self.aligned(cid, c, pc, track)

    def root(self, cid: bytes, c: Commit, track: list[int]) -> None:
        meta = c.meta or {}
        src = meta.get("from")
        if c.op == "spawn" and isinstance(src, bytes) and len(src) == 32 \
                and meta.get("context") in ("full", "entries"):
            written = set(c.targets)
            start = 0
            rng = meta.get("entries")
            if meta.get("context") == "entries" and isinstance(rng, list) and rng \
                    and isinstance(rng[0], int):
                start = rng[0]
            ptrack: list[int] = []
            k = start
            for pos, sid in enumerate(track):
                if pos in written:
                    if sid >= 0:
                        self.introduce(sid, "spawn", cid)
                    continue
                ptrack.extend([-1] * (k - len(ptrack)))
                ptrack.append(sid)
                if sid >= 0:
                    self.event(sid, "spawn", cid, agent=meta.get("agent"))
                k += 1
            try:
                count = self.snap(self.commit(src)).count
            except _GONE:
                count = -1
            if count >= len(ptrack):
                self.hand(src, ptrack + [-1] * (count - len(ptrack)))
                return
            for sid in ptrack:   # the parent's history is gone: the spawn is what we know
                if sid >= 0:
                    self.introduce(sid, "spawn", cid)
            return
        for sid in track:
            if sid >= 0:
                self.introduce(sid, c.op, cid)

    def mapped(self, cid: bytes, c: Commit, n: int, p: int, track: list[int]) -> list[int] | None:
        """The parent's tracker from the commit's own record; None when it does not fit."""
        op, t = c.op, list(c.targets)
        meta = c.meta or {}
        if op in ("append", "collapse"):   # (commit-tree makes appends that carry nothing)
            if not t or t != list(range(p, n)) or len(c.blobs) != n - p:
                return None
            extra = _collapse_extra(meta) if op == "collapse" else {}
            for pos in t:
                if track[pos] >= 0:
                    self.introduce(track[pos], op, cid, **extra)
            del track[p:]
            return track
        if op in ("edit", "pin", "unpin"):
            if n != p or not t or any(not 0 <= i < n for i in t) \
                    or (op == "edit" and (len(t) != 1 or len(c.blobs) != 1)):
                return None
            for i in t:
                if track[i] >= 0:
                    self.event(track[i], op, cid)
            return track
        if op == "spawn" and n == p and not t and isinstance(meta.get("children"), list):
            return track
        if op == "drop":
            gone = set(t)
            if not gone or n != p - len(gone) or any(not 0 <= i < p for i in gone):
                return None
            it = iter(track)
            return [-1 if i in gone else next(it) for i in range(p)]
        if op == "reorder":
            return self.reordered(cid, meta, t, n, p, track)
        if op == "compress":
            return self.compressed(cid, meta, n, p, track)
        return None

    def reordered(self, cid: bytes, meta: dict, t: list[int], n: int, p: int,
                  track: list[int]) -> list[int] | None:
        count, order = meta.get("count"), meta.get("order")
        if n != p or not isinstance(count, int) or not isinstance(order, list) or count > p:
            return None
        perm: list[int] = []
        for run in order:
            if not (isinstance(run, list) and len(run) == 2 and all(isinstance(x, int) and x >= 0
                                                                    for x in run)):
                return None
            perm.extend(range(run[0], run[0] + run[1]))
        if sorted(perm) != list(range(count)):
            return None
        moved = set(t)
        ptrack = list(track)
        for new, old in enumerate(perm):
            sid = track[new]
            ptrack[old] = sid
            if sid >= 0 and old in moved:
                self.event(sid, "reorder", cid, **{"from": old, "to": new})
        return ptrack

    def compressed(self, cid: bytes, meta: dict, n: int, p: int,
                   track: list[int]) -> list[int] | None:
        span = meta.get("span")
        if not (isinstance(span, list) and len(span) == 2 and all(isinstance(x, int) for x in span)
                and 0 <= span[0] <= span[1] <= p):
            return None
        s, e = span
        shift = n - p
        ptrack = [-1] * p
        covered = set(range(s)) | set(range(e + shift, n))
        ptrack[:s] = track[:s]
        for old in range(e, p):
            if 0 <= old + shift < n:
                ptrack[old] = track[old + shift]
        for k in meta.get("kept") or []:
            if isinstance(k, list) and len(k) == 3 and isinstance(k[0], int) \
                    and isinstance(k[1], int) and 0 <= k[0] < p and 0 <= k[1] < n:
                ptrack[k[0]] = track[k[1]]
                covered.add(k[1])
        commits = [x for x in meta.get("commits") or [] if isinstance(x, str)]
        made = []
        for key, kind in (("summaries", "summary"), ("masked", "masked")):
            for item in meta.get(key) or []:
                idx = item.get("index") if isinstance(item, dict) else None
                if not isinstance(idx, int) or not 0 <= idx < n:
                    return None
                covered.add(idx)
                made.append((idx, kind, item))
        if any(track[i] >= 0 for i in range(n) if i not in covered):
            return None
        for idx, kind, item in made:
            sid = track[idx]
            if sid < 0:
                continue
            recs = item.get("replaced") or []
            self.introduce(sid, "compress", cid, kind=kind, replaced=len(recs))
            if isinstance(item.get("tokens"), int) and self.slots[sid].tokens is None:
                self.slots[sid].tokens = item["tokens"]
            for r in recs:
                if not (isinstance(r, list) and len(r) == 6 and isinstance(r[0], int)):
                    continue
                blob = from_hex(r[1]) if isinstance(r[1], str) and is_hex_id(r[1]) else None
                child = self.new_slot(r[0], blob, r[4] if isinstance(r[4], int) else 0,
                                      r[3] if isinstance(r[3], int) else None)
                pos = r[2]
                if isinstance(pos, int) and 0 <= pos < len(commits) and is_hex_id(commits[pos]):
                    self.slots[child].rec_commit = from_hex(commits[pos])
                self.slots[sid].children.append(self.slots[child])
                if 0 <= r[0] < p and ptrack[r[0]] < 0:
                    ptrack[r[0]] = child
                else:   # not in the parent's context: the record is all we know
                    self.live -= 1
        return ptrack

    def aligned(self, cid: bytes, c: Commit, pc: Commit, track: list[int]) -> None:
        """Merges and commits whose record does not fit: compare entries with each parent."""
        new = self.entries(c)
        old = self.entries(pc)
        if len(track) != len(new):   # a record above lied about the size: follow what fits
            track = (track + [-1] * len(new))[:len(new)]
        pairs, fresh = align(old, new)
        ptrack = [-1] * len(old)
        for j, i in pairs:
            ptrack[i] = track[j]
            if track[j] >= 0 and new[j].flags != old[i].flags:
                self.event(track[j], c.op, cid)
        if any(t >= 0 for t in ptrack):
            self.hand(c.parents[0], ptrack)
        for other in c.parents[1:]:
            if not fresh or not any(track[j] >= 0 for j in fresh):
                break
            try:
                oc = self.commit(other)
            except _GONE:
                break
            theirs = self.entries(oc)
            sub = [new[j] for j in fresh]
            pairs2, rest = align(theirs, sub)
            otrack = [-1] * len(theirs)
            for j, i in pairs2:
                sid = track[fresh[j]]
                otrack[i] = sid
                if sid >= 0:
                    self.event(sid, "merge", cid, **{"from": to_hex(other)})
            if any(t >= 0 for t in otrack):
                self.hand(other, otrack)
            fresh = [fresh[j] for j in rest]
        extra = _replay_extra(c.meta or {})
        for j in fresh:
            if track[j] >= 0:
                self.introduce(track[j], c.op, cid, **extra)


def _parent_count(c: Commit, n: int) -> int | None:
    """The size of the parent's context, from a one-parent commit's record (None: no rule)."""
    op = c.op
    if op in ("append", "collapse"):
        return n - len(c.blobs)
    if op in ("edit", "pin", "unpin", "reorder") or (op == "spawn" and not c.targets):
        return n
    if op == "drop":
        return n + len(set(c.targets))
    if op == "compress":
        return n - len(c.blobs) + len(set(c.targets))
    return None


def _collapse_extra(meta: dict) -> dict:
    tip = meta.get("tip")
    return {"agent": meta.get("agent"), "tip": tip if isinstance(tip, bytes) else None,
            "own": meta.get("own") if isinstance(meta.get("own"), int) else None}


def _replay_extra(meta: dict) -> dict:
    return {k: meta[k] for k in ("picked", "reverted") if isinstance(meta.get(k), str)}


def blame(repo: RepoState, rev: str = "HEAD", entry: int | None = None,
          grep: str | None = None) -> list[dict]:
    """Who introduced each entry of the context at `rev` and everything that happened to it
    since: one record per entry (or only entry `entry`, or the entries whose text contains
    `grep`), with the originals behind compress summaries and collapse results (docs/inspect.md,
    "Blame")."""
    if entry is not None and grep is not None:
        raise InputError("give an entry index or a text to grep for, not both")
    head = resolve_any(repo, rev)   # (the walk reads the commit: not a commit is an error there)
    return _blame(repo, head, entry, grep, 0, {})


def _blame(repo: RepoState, head: bytes, entry: int | None, grep: str | None, depth: int,
           cache: dict, only_from: int = 0) -> list[dict]:
    w = _Walk(repo)
    hc = w.commit(head)
    ents = w.entries(hc)
    if entry is not None:
        if isinstance(entry, bool) or not isinstance(entry, int) or not 0 <= entry < len(ents):
            raise InputError(f"no entry {entry}: the context at {hc.hex[:12]} has "
                             f"{len(ents)} entries")
        wanted = [entry]
    else:
        wanted = list(range(max(only_from, 0), len(ents)))
    msgs = {i: repo.get_blob(ents[i].blob).message for i in wanted}
    if grep is not None:
        wanted = [i for i in wanted if grep in message_text(msgs[i])]
    track = [-1] * len(ents)
    for i in wanted:
        track[i] = w.new_slot(i, ents[i].blob, ents[i].flags)
    top = {i: track[i] for i in wanted}
    w.hand(head, track)   # (the walk reshapes `track` in place)
    w.run()
    out = []
    for i in wanted:
        rec = _record(w, w.slots[top[i]], depth, cache)
        rec["role"] = message_kind(msgs[i])
        rec["preview"] = preview(msgs[i], 60)
        out.append(rec)
    return out


def _with_message(w: _Walk, rec: dict, blob: bytes | None) -> dict:
    try:
        m = w.repo.get_blob(blob).message if blob is not None else None
    except _GONE:
        m = None
    rec["role"] = message_kind(m) if m is not None else None
    rec["preview"] = preview(m, 60) if m is not None else None
    return rec


def _resolve(s: _Slot) -> tuple[list, tuple | None, list[_Slot]]:
    """(events newest first, origin, children) of a slot, its alias's story included."""
    events, origin, children = list(s.events), s.origin, s.children
    seen = 0
    while origin is None and s.alias is not None and seen < 64:
        t = s.alias
        events.extend(t.events[s.alias_at:])
        origin, children, s = t.origin, t.children, t
        seen += 1
    return events, origin, children


def _commit_info(w: _Walk, op: str, cid: bytes, extra: dict) -> dict:
    c = w.commits.get(cid)
    d: dict = {"op": op, "commit": to_hex(cid)}
    if c is not None:
        d.update(agent=c.author, time=c.time_ms, tz=c.tz_min, tokens=c.tokens)
    for k, v in extra.items():
        d[k] = to_hex(v) if isinstance(v, bytes) else v
    return d


def _record(w: _Walk, s: _Slot, depth: int, cache: dict) -> dict:
    events, origin, children = _resolve(s)
    rec: dict = {"index": s.index, "blob": to_hex(s.blob) if s.blob else None,
                 "pinned": bool(s.flags & 1), "tokens": s.tokens}
    if origin is not None:
        rec["introduced"] = _commit_info(w, *origin)
    elif s.rec_commit is not None:   # history below the compress not reachable: its record says
        rec["introduced"] = {"op": None, "commit": to_hex(s.rec_commit)}
    else:
        rec["introduced"] = None
    rec["events"] = [_commit_info(w, *ev) for ev in reversed(events)]
    if rec["tokens"] is None and s.blob is not None:
        try:
            rec["tokens"] = w.repo.blob_tokens(s.blob)
        except _GONE:
            rec["tokens"] = None
    rec["originals"] = [_with_message(w, _record(w, ch, depth, cache), ch.blob)
                        for ch in children]
    rec["collapse"] = None
    if origin is not None and origin[0] == "collapse":
        rec["collapse"] = _collapsed(w, origin[2], depth, cache)
    rec["chain"] = chain(rec)
    return rec


def _collapsed(w: _Walk, extra: dict, depth: int, cache: dict) -> dict:
    tip, own = extra.get("tip"), extra.get("own")
    out: dict = {"agent": extra.get("agent"), "tip": to_hex(tip) if tip else None,
                 "entries": [], "truncated": False}
    if not isinstance(tip, bytes):
        return out
    if depth + 1 > MAX_DEPTH:
        out["truncated"] = True
        return out
    key = (tip, own)
    if key not in cache:
        try:
            n = w.snap(w.commit(tip)).count
            start = n - own if isinstance(own, int) and 0 <= own <= n else 0
            cache[key] = _blame(w.repo, tip, None, None, depth + 1, cache, start)
        except _GONE:
            cache[key] = None
    if cache[key] is None:
        out["pruned"] = True
    else:
        out["entries"] = cache[key]
    return out


def chain(rec: dict) -> str:
    """The entry's story in one token: `append→edit@3f2a→compress(summary of 12)`."""
    intro = rec.get("introduced")
    parts = [_label(intro, first=True) if intro else "?"]
    parts.extend(_label(ev) for ev in rec.get("events") or [])
    return "→".join(parts)


def _label(ev: dict, first: bool = False) -> str:
    op, cid = ev.get("op") or "?", (ev.get("commit") or "")[:4]
    if op == "compress":
        return f"compress({ev.get('kind', 'summary')} of {ev.get('replaced', 0)})"
    if op == "collapse":
        return f"collapse({ev.get('agent')})"
    if op == "reorder":
        return f"reorder@{cid}({ev.get('from')}→{ev.get('to')})"
    if op == "spawn" and not first:
        return f"spawn@{cid}({ev.get('agent')})"
    return op if first else f"{op}@{cid}"
