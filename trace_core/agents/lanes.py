"""`trace graph --agents`: an agent's commits and its sub-agents' (recursively) in one lane
drawing, with spawn edges (the parent's spawn commit to the child's root) and collapse edges
(the child's tip to the parent's collapse commit) (docs/multiagent.md, "The agent tree").

The drawing is trace_core.render.graph's layout fed a merged DAG: each child's root commit gets
the spawn commit that names it as an extra parent, and each collapse commit gets the child tip
it carries as an extra parent, so a child's lane forks from its spawn commit and joins back at
its collapse. Which children: those named by a spawn or collapse commit drawn (their commits
from their HEAD, every ref with `all_refs`, and the tips their collapses carry), and theirs in
turn. Nothing is written.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import InputError, ObjectError, OperationError, TraceError
from ..render.graph import GraphLayout, GraphRow, topo_order
from ..state import RepoState

SPAWN, COLLAPSE = "spawn", "collapse"


@dataclass
class AgentGraph:
    """The rows of the drawing (`GraphRow`, as `graph_log` gives them; a row's `parents` are the
    edges drawn, the extra ones included), the agent of each commit drawn (its path; None for
    the agent the graph was drawn from) and the extra edges: `links[id]` lists (`"spawn"`, the
    spawn commit) for a child's root and (`"collapse"`, the child's tip) for a collapse."""

    rows: list[GraphRow]
    agents: dict[bytes, str | None] = field(default_factory=dict)
    links: dict[bytes, list[tuple[str, bytes]]] = field(default_factory=dict)


def _exists(repo: RepoState, oid: bytes) -> bool:
    try:
        repo.get_commit(oid)
    except ObjectError:
        return False
    return True


def _view(repo: RepoState, path: str) -> RepoState | None:
    """The namespace of sub-agent `path` (a path from the root namespace) below `repo`, or None
    when it is not below it or does not exist (any longer)."""
    me = repo.agent_name
    rel = path if me is None else (path[len(me) + 1:] if path.startswith(me + "/") else None)
    if not rel:
        return None
    try:
        return repo.agent(rel)
    except TraceError:
        return None


def _ref_starts(view: RepoState, all_refs: bool) -> list[bytes]:
    """The commits HEAD (and with `all_refs` every ref under refs/) of `view` names."""
    from ..ids import is_hex_id
    raws = []
    if all_refs:
        raws = [raw for _, raw in view.refs.list("refs/")]
    head = view.refs.resolve("HEAD")
    if head:
        raws.append(head)
    out = []
    for raw in raws:
        if is_hex_id(raw) and _exists(view, bytes.fromhex(raw)):
            out.append(bytes.fromhex(raw))
    return out


def agent_graph(repo: RepoState, revs: Sequence[str] = (), *, all_refs: bool = False,
                limit: int | None = None, colors: bool = False) -> AgentGraph:
    """`graph_log(repo, revs, all_refs=, limit=, colors=)` with the sub-agents' lanes (module
    docstring). A sub-agent whose history cannot be read is left out with a warning."""
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int) or limit < 0):
        raise InputError(f"limit must be a non-negative integer, got {limit!r}")
    from ..index.sqlite_index import split_parents
    from ..plumbing.revparse import resolve_commit, split_ranges
    from ..render.labels import ref_labels
    include, exclude = split_ranges(revs)
    starts: list[bytes] = [resolve_commit(repo, r) for r in include]
    if all_refs or not include:
        if not include and not all_refs and repo.head_commit() is None:
            raise OperationError("your current branch has no commits yet")
        starts += _ref_starts(repo, all_refs)
    stops = [resolve_commit(repo, r) for r in exclude]
    rows: dict[bytes, tuple] = {}
    agents: dict[bytes, str | None] = {}
    labels: dict[bytes, list[str]] = {k: list(v) for k, v in ref_labels(repo).items()}
    spawned_by: dict[bytes, bytes] = {}     # child root -> the spawn commit naming it
    carried: dict[bytes, bytes] = {}        # collapse commit -> the child tip it carries
    wanted: dict[str, list[bytes]] = {}     # agent path -> commits of it named by drawn commits
    seen_agents: set[str] = set()

    def walk(view: RepoState, begin: Sequence[bytes], end: Sequence[bytes],
             agent: str | None) -> None:
        new = []
        try:
            for r in view.index.walk_raw(begin, end, None, False, ("summary", "op")):
                if r[0] not in rows:
                    rows[r[0]] = (r[0], split_parents(r[1]), r[2], r[3], r[4], r[5])
                    agents[r[0]] = agent
                    new.append(r[0])
        except TraceError as exc:
            repo.warn(f"agent {agent}: history not drawn past a commit that cannot be read "
                      f"({exc})")
        for oid in new:
            op = rows[oid][5]
            if op not in (SPAWN, COLLAPSE):
                continue
            meta = view.get_commit(oid).meta or {}
            if op == SPAWN:
                for ch in meta.get("children") or ():
                    if isinstance(ch, dict) and isinstance(ch.get("root"), bytes) and \
                            isinstance(ch.get("agent"), str):
                        spawned_by[ch["root"]] = oid
                        wanted.setdefault(ch["agent"], []).append(ch["root"])
            elif isinstance(meta.get("tip"), bytes) and isinstance(meta.get("agent"), str):
                carried[oid] = meta["tip"]
                wanted.setdefault(meta["agent"], []).append(meta["tip"])

    if starts:
        walk(repo, starts, stops, None)
    while True:
        todo = [a for a in wanted if a not in seen_agents]
        if not todo:
            break
        for path in todo:
            seen_agents.add(path)
            view = _view(repo, path)
            begin = [oid for oid in wanted[path] if _exists(repo, oid)]
            if view is not None:
                begin += _ref_starts(view, all_refs)
                for oid, labs in ref_labels(view).items():
                    labels.setdefault(oid, []).extend(f"{path}: {lab}" for lab in labs)
            if begin:
                walk(view or repo, begin, [], path)
    real = {oid: tuple(p for p in r[1] if p in rows) for oid, r in rows.items()}
    links: dict[bytes, list[tuple[str, bytes]]] = {}
    for root, s in spawned_by.items():
        if root in rows and s in rows:
            links.setdefault(root, []).append((SPAWN, s))
    for k, tip in carried.items():
        if k in rows and tip in rows:
            links.setdefault(k, []).append((COLLAPSE, tip))
    parents = {oid: ps + tuple(o for _, o in links.get(oid, ()) if o not in ps)
               for oid, ps in real.items()}
    order = topo_order(list(rows.values()), parents)
    if len(order) != len(rows):     # an extra edge closed a cycle (forged metas): draw without
        links, parents = {}, real
        order = topo_order(list(rows.values()), parents)
    if limit is not None:
        del order[limit:]
    out: list[GraphRow] = []
    add = out.append
    layout_add = GraphLayout(colors).add
    for r in order:
        oid = r[0]
        ps = parents[oid]
        for text, cols, is_commit in layout_add(oid, ps):
            if is_commit:
                add(GraphRow(text, oid, ps, r[4], r[5], tuple(labels.get(oid, ())), cols))
            else:
                add(GraphRow(text, None, (), "", "", (), cols))
    return AgentGraph(out, agents, links)
