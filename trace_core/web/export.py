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
    from ..merge.machinery import shared_leaves
    pos = sum(n for _, n in a.refs[:shared_leaves([a.refs, b.refs])])
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
    """data.diff of a context (`c`: its document, id and tokens) that only extends its
    parent's (what every append makes): each new entry added, without aligning the whole
    contexts."""
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
    info = data.info(repo, mode="export")
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
    ids = [c["id"] for c in reversed(g["commits"])]
    # the commits a reset or rebase left behind, which the reflog view links to
    seen = set(ids)
    gone = {h for key, d in docs.items() if key.startswith("/api/reflog")
            for e in d["entries"] if e["left_behind"]
            for h in (e["old"], *e["left_behind"]["commits"]) if h not in seen}
    ids += sorted(gone, key=lambda h: (repo.get_commit(bytes.fromhex(h)).time_ms, h))
    # contexts, oldest first, each a delta of its first parent's when that is exported too
    shapes: dict = {}
    for n, hexid in enumerate(ids):
        cid = bytes.fromhex(hexid)
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
        docs[f"/api/context/{hexid}"] = doc
        shapes[hexid] = shape
        if base is not None and parent is not None and start == base.count:
            docs[f"/api/diff/{parent}/{hexid}"] = _appended(repo, doc, parent, tail, start)
        else:
            docs[f"/api/diff/{parent or '-'}/{hexid}"] = data.diff(repo, parent or "-", hexid)
        if doc["op"] in ("compress", "collapse"):
            docs[f"/api/provenance/{hexid}"] = data.provenance(repo, hexid)
        if progress is not None:
            progress(n + 1, len(ids))
    # blame at the tips of refs (each agent's too)
    tips = {r["id"] for r in info["refs"]}
    tips.update(a["head"] for a in info["agents"] if a.get("head"))
    if info["head"]["id"]:
        tips.add(info["head"]["id"])
    for tip in sorted(t for t in tips if t in seen):
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
