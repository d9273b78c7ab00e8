"""The JSON documents the web viewer reads (docs/web.md, "The data API"): one function per view,
each a plain dict of a repository's data, computed with the porcelain the CLI uses."""

from __future__ import annotations

import contextlib
import os
import re
from typing import TYPE_CHECKING, Any

from ..errors import InputError, TraceError
from ..ids import from_hex, is_hex_id, to_hex

if TYPE_CHECKING:
    from ..objects import Entry
    from ..state import RepoState

#: commits a reflog entry's "left behind" list names at most (the count is exact up to LEFT_CAP)
LEFT_SHOWN = 20
LEFT_CAP = 100_000
_ZERO = "0" * 64


def view(repo: RepoState, agent: str | None) -> RepoState:
    """The namespace `agent` (a path below `repo`'s), or `repo` itself for None or ""."""
    if agent in (None, ""):
        return repo
    if not isinstance(agent, str):
        raise InputError(f"an agent path must be a string, not {agent!r:.40}")
    return repo.agent(agent)


def commit_id(repo: RepoState, rev: str) -> bytes:
    """The commit `rev` names (a 64-hex id or any revision of `repo`'s namespace)."""
    from ..plumbing.revparse import resolve_revision
    if not isinstance(rev, str) or not rev:
        raise InputError("a revision must be a non-empty string")
    return resolve_revision(repo, rev)


def _budget(repo: RepoState) -> dict:
    from ..plumbing.budgets import budget
    b = budget(repo)
    return {"max_tokens": b.max_tokens, "warn": list(b.warn)}


# -- info, graph ------------------------------------------------------------------------------
def info(repo: RepoState, mode: str = "live") -> dict:
    """The repository's name (of the directory holding `.trace`), HEAD, budget, encoding, refs
    and agents; `mode`: live (served) or export."""
    from ..agents.tree import agent_tree
    from ..plumbing.refs import for_each_ref
    head = repo.head_commit()
    name = os.path.basename(os.path.dirname(os.path.abspath(repo.trace_dir))) or "trace"
    return {"name": name, "mode": mode, "agent": repo.agent_name,
            "head": {"ref": repo.head_branch(), "id": to_hex(head) if head else None},
            "budget": _budget(repo), "encoding": repo.encoding,
            "refs": [{"name": n, "id": v} for n, v, sym in for_each_ref(repo) if sym is None],
            "agents": [a.to_dict() for a in agent_tree(repo)]}


def graph(repo: RepoState, agent: str | None = None, limit: int | None = None) -> dict:
    """The commit graph in lanes: without `agent`, the whole agent tree from every ref (spawn and
    collapse links between agents); with it, that agent's history from its refs. Children
    before parents; each commit's `lane` is its column in `trace graph`'s layout. `limit`: the
    first `limit` commits only (read without walking the rest of the history when there is no
    sub-agent to draw)."""
    links: dict = {}
    agents: dict = {}
    tree = agent in (None, "")
    v = repo if tree else view(repo, agent)
    if v.head_commit() is None and not v.refs.list("refs/"):
        rows: list = []
    elif tree and v.agents():
        from ..agents.lanes import agent_graph
        g = agent_graph(v, (), all_refs=True, limit=limit)
        rows, links, agents = g.rows, g.links, g.agents
    else:
        from ..render.graph import graph_log
        rows = graph_log(v, (), all_refs=True, limit=limit)
    own = v.agent_name
    read = repo.index.row_reader(("total",))
    commits: list[dict] = []
    add = commits.append
    lanes = 0
    get_agent = agents.get
    for r in rows:
        oid = r[1]
        if oid is None:
            continue
        lane = r.lane
        if lane >= lanes:
            lanes = lane + 1
        row = read(oid)
        a = get_agent(oid)
        extra = links.get(oid)
        if extra:
            other = {o for _, o in extra}
            parents = [p.hex() for p in r[2] if p not in other]
            linked = [{"kind": k, "id": o.hex()} for k, o in extra]
        else:
            parents = [p.hex() for p in r[2]]
            linked = []
        add({"id": oid.hex(), "parents": parents, "lane": lane, "op": r[4], "summary": r[3],
             "tokens": row[4], "time": row[3], "agent": own if a is None else a,
             "refs": list(r[5]), "links": linked})
    return {"agent": own, "lanes": lanes, "commits": commits}


# -- context, blame, diff ---------------------------------------------------------------------
def entry_view(repo: RepoState, index: int, e: Entry) -> dict:
    """One entry of a context as the page shows it."""
    from ..messages import call_names, kind, message_text, preview, result_ids
    m = repo.get_blob(e.blob).message
    names = call_names(m) if isinstance(m, dict) else {}
    return {"index": index, "blob": e.blob.hex(), "kind": kind(m), "pinned": e.pinned,
            "tokens": repo.blob_tokens(e.blob), "text": message_text(m),
            "preview": preview(m, 80), "calls": [{"id": k, "name": v} for k, v in names.items()],
            "answers": result_ids(m) if isinstance(m, dict) else []}


def pairs(messages: list) -> list[list]:
    """[call entry index, result entry index, call id] for each answered tool call of a
    context's messages (a result answers the latest unanswered call with its id)."""
    from ..compress.messages import tool_links
    return [[i, j, cid] for i, j, cid in tool_links([m if isinstance(m, dict) else {}
                                                     for m in messages])[0]]


def commit_header(repo: RepoState, cid: bytes) -> dict:
    """The commit fields every commit view starts with."""
    c = repo.get_commit(cid)
    return {"id": cid.hex(), "author": c.author, "op": c.op, "summary": c.message,
            "time": c.time_ms, "parents": [p.hex() for p in c.parents],
            "tokens": c.total_tokens}


def context(repo: RepoState, rev: str, offset: int = 0, limit: int | None = None,
            memo: dict | None = None) -> dict:
    """The context at `rev`: its entries (`offset` and `limit`: a window of them; `total` says
    how many there are) with kind, pin, tokens and text, and the tool call pairs of the whole
    context (`pairs`; they read every message: `memo`, a dict kept by the caller, keeps them
    by commit for the next window)."""
    from ..context import entries_at
    cid = commit_id(repo, rev)
    for name, value in (("offset", offset), ("limit", limit)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                  or value < 0):
            raise InputError(f"{name} must be a non-negative integer, not {value!r:.40}")
    ents = entries_at(repo, cid)
    end = len(ents) if limit is None else min(len(ents), offset + limit)
    entries = [entry_view(repo, i, ents[i]) for i in range(offset, end)]
    found = memo.get(cid) if memo is not None else None
    if found is None:
        found = pairs([repo.get_blob(e.blob).message for e in ents])
        if memo is not None:
            if len(memo) >= 64:
                memo.clear()
            memo[cid] = found
    doc = commit_header(repo, cid)
    doc.update(budget=_budget(repo), total=len(ents), offset=offset, entries=entries,
               pairs=found)
    return doc


def blame(repo: RepoState, rev: str) -> list[dict]:
    """`trace blame --json` of the context at `rev`."""
    from ..inspect.blame import blame as blame_
    return blame_(repo, to_hex(commit_id(repo, rev)))


def side(m: dict | None, pinned: bool | None) -> dict | None:
    """One side of a diff item: the message's kind and text, and the entry's pin."""
    from ..messages import kind, message_text
    if m is None:
        return None
    return {"kind": kind(m), "text": message_text(m), "pinned": pinned}


def diff(repo: RepoState, a: str, b: str) -> dict:
    """The diff of the contexts at `a` and `b` (`-`: the empty context)."""
    from ..context import entries_at
    from ..diff import diff_entries
    ca = None if a == "-" else commit_id(repo, a)
    cb = None if b == "-" else commit_id(repo, b)
    old, new = entries_at(repo, ca), entries_at(repo, cb)
    items = []
    for it in diff_entries(old, new, lambda e: repo.get_blob(e.blob).message):
        po = old[it.old_index].pinned if it.old_index is not None else None
        pn = new[it.new_index].pinned if it.new_index is not None else None
        items.append({"kind": it.kind, "old_index": it.old_index, "new_index": it.new_index,
                      "old": side(it.old, po), "new": side(it.new, pn),
                      "text_diff": it.text_diff})
    return {"old": ca.hex() if ca else None, "new": cb.hex() if cb else None,
            "old_tokens": repo.get_commit(ca).total_tokens if ca else 0,
            "new_tokens": repo.get_commit(cb).total_tokens if cb else 0, "items": items}


# -- timeline, reflog, provenance, lost -------------------------------------------------------
_WORD = re.compile(r"[a-z][a-z-]*")


def _event(message: str) -> str:
    m = _WORD.match(message or "")
    return m.group(0) if m else "move"


def _log(v: RepoState, name: str) -> list:
    """The reflog of ref `name` in namespace `v`, oldest first ([] for none or a damaged one:
    the views show what can be read)."""
    try:
        return list(reversed(v.refs.reflog(name)))
    except TraceError:
        return []


def _commit(value: str) -> bytes | None:
    return from_hex(value) if is_hex_id(value) and value != _ZERO else None


def head_moves(v: RepoState) -> list[tuple[int, str, str]]:
    """(time, commit hex, event) of each context HEAD of namespace `v` went through, oldest
    first: HEAD's own log says which branch it was on (or which commit, detached) from when;
    on a branch, each move of that branch's reflog in that time counts, and the switch itself
    is a point at the branch's tip of that moment."""
    out: list[tuple[int, str, str]] = []
    head = _log(v, "HEAD")
    for k, h in enumerate(head):
        end = head[k + 1].time_ms if k + 1 < len(head) else None
        if not h.new.startswith("ref:"):
            if _commit(h.new):
                out.append((h.time_ms, h.new, _event(h.message)))
            continue
        moves = _log(v, h.new[4:])
        # the branch's tip at the switch: its last move before it (logs of older versions may
        # tie with the switch: then its first move of that millisecond)
        at = (next((e for e in reversed(moves) if e.time_ms < h.time_ms), None)
              or next((e for e in moves if e.time_ms == h.time_ms), None))
        later = [(e.time_ms, e.new, _event(e.message)) for e in moves
                 if e is not at and h.time_ms <= e.time_ms and (end is None or e.time_ms < end)]
        if at is not None and _commit(at.new):
            out.append((h.time_ms, at.new, _event(at.message) if k == 0 else _event(h.message)))
        out.extend(m for m in later if _commit(m[1]))
    return out


def timeline(repo: RepoState) -> dict:
    """Each agent's context size over time, oldest first: every commit, reset, rebase, switch
    and checkout its HEAD went through (`head_moves`); an agent with no reflog shows its
    first-parent history instead."""
    from ..agents.tree import agent_tree
    read = repo.index.row_reader(("total", "op"))
    out = []
    for path in [None, *(a.path for a in agent_tree(repo) if a.status != "pruned")]:
        v = view(repo, path)
        points = []
        for t, hexid, event in head_moves(v):
            try:
                row = read(from_hex(hexid))
            except TraceError:     # a commit gc removed since
                continue
            points.append({"time": t, "id": hexid, "tokens": row[4], "op": row[5],
                           "event": event})
        head = v.head_commit()
        if not points and head is not None:
            walk = v.index.walk([head], first_parent=True)
            points = [{"time": c.time_ms, "id": c.id.hex(), "tokens": c.total_tokens, "op": c.op,
                       "event": "commit"} for c in walk]
            points.reverse()
        out.append({"agent": v.agent_name, "points": points})
    return {"budget": _budget(repo), "agents": out}


def _left_behind(repo: RepoState, old: str, new: str) -> dict | None:
    """The commits `old` reaches that `new` does not (a reset or rebase left them), or None."""
    o, n = _commit(old), _commit(new)
    if o is None:
        return None
    try:
        if n is not None and repo.index.is_ancestor(o, n):
            return None
        ids = [r[0] for r in repo.index.walk_raw([o], [n] if n else [], LEFT_CAP, False, ())]
    except TraceError:     # gc removed the old commit since
        return None
    if not ids:
        return None
    return {"count": len(ids), "commits": [i.hex() for i in ids[:LEFT_SHOWN]]}


def reflog(repo: RepoState, agent: str | None = None) -> dict:
    """Every ref move of an agent, newest first: HEAD's own log (switches, detached moves) and
    each branch's and tag's reflog, each entry with its ref and what it left behind."""
    from ..plumbing.refs import for_each_ref
    v = view(repo, agent)
    read = repo.index.row_reader(("total", "op"))
    names = ["HEAD", *(n for n, _, sym in for_each_ref(v) if sym is None)]
    moves = [(e, n, k) for n in names for k, e in enumerate(_log(v, n))]
    moves.sort(key=lambda m: (m[0].time_ms, m[2]), reverse=True)
    entries = []
    for r, name, _ in moves:
        op = tokens = None
        n = _commit(r.new)
        if n is not None:
            try:
                row = read(n)
                tokens, op = row[4], row[5]
            except TraceError:
                pass
        entries.append({"ref": name, "old": r.old, "new": r.new, "time": r.time_ms,
                        "who": r.who, "message": r.message, "event": _event(r.message),
                        "op": op, "tokens": tokens,
                        "left_behind": _left_behind(repo, r.old, r.new)})
    return {"agent": v.agent_name, "entries": entries}


def lost(repo: RepoState, agent: str | None = None) -> dict:
    """`audit --lost --json` of an agent's whole history (empty when it has no commit)."""
    from ..inspect.audit import audit_lost
    v = view(repo, agent)
    if v.head_commit() is None:
        return {"agent": v.agent_name or "", "tip": None, "commits": 0, "counts": {},
                "findings": []}
    return audit_lost(v).to_dict()


def _with_texts(repo: RepoState, rec: dict) -> None:
    """Each blame record under `rec` (originals, a collapse's entries) with its whole `text`."""
    from ..errors import MissingObject, UnreadableObject
    from ..messages import message_text
    stack = [rec]
    while stack:
        r = stack.pop()
        blob = r.get("blob")
        if isinstance(blob, str) and is_hex_id(blob):
            # (pruned history: the preview is all there is)
            with contextlib.suppress(MissingObject, UnreadableObject):
                r["text"] = message_text(repo.get_blob(from_hex(blob)).message)
        stack.extend(r.get("originals") or ())
        stack.extend((r.get("collapse") or {}).get("entries") or ())


def provenance(repo: RepoState, rev: str) -> dict:
    """What a commit replaced: blame records of the entries it made (a compress summary's
    originals, a collapse result's sub-agent entries), each with its whole `text`, and its
    `audit --lost` findings."""
    from ..compress.provenance import describe
    from ..inspect.audit import audit_lost
    from ..inspect.blame import blame as blame_
    cid = commit_id(repo, rev)
    c = repo.get_commit(cid)
    hexid = cid.hex()
    items = [r for r in blame_(repo, hexid)
             if (r.get("introduced") or {}).get("commit") == hexid]
    meta = c.meta if isinstance(c.meta, dict) else {}
    collapse = None
    if c.op == "collapse":
        tip = meta.get("tip")
        collapse = {"agent": meta.get("agent"),
                    "tip": tip.hex() if isinstance(tip, bytes) else None}
    findings: list[Any] = []
    if c.parents:
        found = audit_lost(repo, f"{c.parents[0].hex()}..{hexid}")
        findings = [f.to_dict() for f in found.findings if f.commit == hexid]
    for rec in items:
        _with_texts(repo, rec)
    doc = commit_header(repo, cid)
    doc.update(items=items, compress=describe(c) if c.op == "compress" else None,
               collapse=collapse, lost=findings)
    return doc
