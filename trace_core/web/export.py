"""`trace export --html`: every document the viewer reads, computed once and embedded in one
self-contained HTML file (docs/web.md): contexts stored as deltas of their first parent's."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING
from urllib.parse import quote

from ..context import entries_at
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


def _common(a: list, b: list) -> int:
    n = min(len(a), len(b))
    i = 0
    while i < n and a[i] == b[i]:
        i += 1
    return i


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
    entries: dict = {}
    for n, c in enumerate(reversed(commits)):
        cid = bytes.fromhex(c["id"])
        full = entries_at(repo, cid)
        ents = [(e.blob, e.flags) for e in full]
        doc = data.commit_header(repo, cid)
        doc["budget"] = info["budget"]
        parent = doc["parents"][0] if doc["parents"] else None
        start = 0
        if parent in entries:
            start = _common(entries[parent], ents)
            doc["base"], doc["keep"] = parent, start
        views = [data.entry_view(repo, i, full[i]) for i in range(start, len(full))]
        doc["entries"] = views
        if "base" not in doc:
            doc["pairs"] = data.pairs(views)
        docs[f"/api/context/{c['id']}"] = doc
        entries[c["id"]] = ents
        docs[f"/api/diff/{parent or '-'}/{c['id']}"] = data.diff(repo, parent or "-", c["id"])
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
