"""`trace export --html`: every document the viewer reads, computed once and embedded in one
self-contained HTML file (docs/web.md): contexts stored as deltas of their first parent's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from .. import chunked
from ..errors import TraceError
from . import data
from .page import standalone
from .server import repo_name

if TYPE_CHECKING:
    from ..state import RepoState


_SAFE = "!*'()~"     # what encodeURIComponent leaves as it is, besides letters, digits, -_.


def _q(path: str, agent: str | None) -> str:
    """An API path with its `agent` parameter as the page writes it (encodeURIComponent)."""
    return path if agent is None else f"{path}?agent={quote(agent, safe=_SAFE)}"


class _Shape:
    """A context as its snapshot's sealed leaves and tail: two contexts sharing a prefix share
    its leaves (the chunking is content-defined), so comparing them reads only where they
    differ."""

    __slots__ = ("refs", "tail", "count")

    def __init__(self, repo: RepoState, cid: bytes) -> None:
        snap = repo.get_snapshot(repo.get_commit(cid).snapshot)
        self.refs, self.tail = chunked.leaves(snap, repo.get_node)
        self.count = snap.count

    def between(self, repo: RepoState, start: int, end: int) -> list:
        return chunked.entries_between(self.refs, self.tail, start, min(end, self.count),
                                       repo.get_node)


def _common(repo: RepoState, a: _Shape, b: _Shape) -> int:
    """How many entries (blob and flags) the contexts `a` and `b` begin with alike."""
    pos = k = 0
    while k < len(a.refs) and k < len(b.refs) and a.refs[k] == b.refs[k]:
        pos += a.refs[k][1]
        k += 1
    step = 128
    while pos < a.count and pos < b.count:
        for x, y in zip(a.between(repo, pos, pos + step), b.between(repo, pos, pos + step),
                        strict=False):
            if x.blob != y.blob or x.flags != y.flags:
                return pos
            pos += 1
        step *= 2
    return pos


def _appended(repo: RepoState, c: dict, parent: str, tail: list, start: int) -> dict:
    """data.diff of a context that only extends its parent's (what every append makes): each
    new entry added, without aligning the whole contexts."""
    items = [{"kind": "added", "old_index": None, "new_index": start + i, "old": None,
              "new": data.side(repo.get_blob(e.blob).message, e.pinned), "text_diff": ""}
             for i, e in enumerate(tail)]
    old_tokens = repo.get_commit(bytes.fromhex(parent)).total_tokens
    return {"old": parent, "new": c["id"], "old_tokens": old_tokens, "new_tokens": c["tokens"],
            "items": items}


def bundle(repo: RepoState, limit: int | None = None,
           progress: Callable[[int, int], None] | None = None) -> dict:
    """{"info", "docs": {api path: document}} for the whole repository (every agent, every ref;
    `limit`: the newest `limit` commits of the graph only)."""
    info = data.info(repo, repo_name(repo), mode="export")
    docs: dict = {"/api/info": info}
    g = data.graph(repo, None, limit)
    docs["/api/graph"] = g
    agents = [a["path"] for a in info["agents"] if a["status"] != "pruned"]
    for path in agents:
        docs[_q("/api/graph", path)] = data.graph(repo, path, limit)
        docs[_q("/api/reflog", path)] = data.reflog(repo, path)
        docs[_q("/api/lost", path)] = data.lost(repo, path)
    docs["/api/timeline"] = data.timeline(repo)
    docs["/api/reflog"] = data.reflog(repo)
    docs["/api/lost"] = data.lost(repo)
    commits = g["commits"]
    ids = {c["id"] for c in commits}
    # contexts, oldest first, each a delta of its first parent's when that is exported too
    shapes: dict = {}
    for n, c in enumerate(reversed(commits)):
        cid = bytes.fromhex(c["id"])
        shape = _Shape(repo, cid)
        doc = data.commit_header(repo, cid)
        doc["budget"] = info["budget"]
        parent = doc["parents"][0] if doc["parents"] else None
        base = shapes.get(parent)
        start = _common(repo, base, shape) if base is not None else 0
        if base is not None:
            doc["base"], doc["keep"] = parent, start
        tail = shape.between(repo, start, shape.count)
        views = [data.entry_view(repo, start + i, e) for i, e in enumerate(tail)]
        doc.update(total=shape.count, offset=0, entries=views)
        if base is None:
            doc["pairs"] = data.pairs([repo.get_blob(e.blob).message for e in tail])
        docs[f"/api/context/{c['id']}"] = doc
        shapes[c["id"]] = shape
        if base is not None and parent is not None and start == base.count:
            docs[f"/api/diff/{parent}/{c['id']}"] = _appended(repo, c, parent, tail, start)
        else:
            docs[f"/api/diff/{parent or '-'}/{c['id']}"] = data.diff(repo, parent or "-",
                                                                     c["id"])
        if c["op"] in ("compress", "collapse"):
            docs[f"/api/provenance/{c['id']}"] = data.provenance(repo, c["id"])
        if progress is not None:
            progress(n + 1, len(commits))
    # blame at the tips of refs (each agent's too)
    tips = {r["id"] for r in info["refs"]}
    tips.update(a["head"] for a in info["agents"] if a.get("head"))
    if info["head"]["id"]:
        tips.add(info["head"]["id"])
    for tip in sorted(t for t in tips if t in ids):
        try:
            docs[f"/api/blame/{tip}"] = data.blame(repo, tip)
        except TraceError:     # history a retention policy pruned: no blame to embed
            continue
    return {"info": info, "docs": docs}


def export_html(repo: RepoState, limit: int | None = None,
                progress: Callable[[int, int], None] | None = None) -> str:
    """The viewer as one self-contained HTML page holding the whole repository's documents
    (`limit`: the newest `limit` commits of the graph only)."""
    prev = repo.persist_tokens
    repo.persist_tokens = False
    try:
        return standalone(bundle(repo, limit, progress))
    finally:
        repo.persist_tokens = prev
