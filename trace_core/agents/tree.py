"""The agent tree: every sub-agent below a namespace with its parent, spawn point, status,
head and tokens (`trace agents`; docs/multiagent.md, "Agents are visible")."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from ..errors import InvalidRefName, TraceError
from ..state import RepoState

RUNNING, COLLAPSED, ABANDONED, PRUNED = "running", "collapsed", "abandoned", "pruned"


@dataclass
class AgentInfo:
    """One agent namespace. Ids are hex; times milliseconds since the epoch."""

    path: str                       # a/b: sub-agent b of a (relative to the root namespace)
    parent: str | None              # the parent agent's path; None: the root namespace
    depth: int                      # 1 for a child of the root namespace
    status: str                     # running | collapsed | abandoned | pruned
    head: str | None                # the commit HEAD resolves to
    branch: str | None              # the branch HEAD names (None: detached)
    tokens: int                     # the head context's total tokens
    entries: int                    # entries of the head context
    spawned: bool = False           # made by spawn (SPAWNED names its root commit)
    root: str | None = None         # its first commit (SPAWNED)
    spawned_from: str | None = None  # the parent commit it started from
    spawned_at: int | None = None
    collapsed_by: str | None = None  # the parent's collapse commit (COLLAPSED)
    collapsed_tip: str | None = None  # the child commit that collapse carried
    collapsed_at: int | None = None
    moved_since: bool = False       # HEAD moved after the collapse (not carried yet)
    abandoned_tip: str | None = None
    pruned_at: int | None = None    # when a retention policy removed it (.trace/pruned)
    problems: list[str] = field(default_factory=list)   # what could not be read

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def agent_tree(repo: RepoState, recursive: bool = True) -> list[AgentInfo]:
    """Every agent namespace below this one (depth first, names sorted), each with what
    `trace agents` shows; `recursive=False`: the direct children only."""
    from ..retention import pruned_agents, pruned_records
    out: list[AgentInfo] = []
    _walk(repo, repo.agent_name, 1, recursive, out, pruned_agents(pruned_records(repo.trace_dir)))
    return out


def _walk(view: RepoState | None, parent: str | None, depth: int, recursive: bool,
          out: list[AgentInfo], pruned: dict[str, int]) -> None:
    live = view.agents() if view is not None else []
    gone = {p.rsplit("/", 1)[-1]: secs for p, secs in pruned.items()
            if (p.rpartition("/")[0] or None) == parent}
    for name in sorted({*live, *gone}):
        if name not in live:       # removed by a retention policy: listed with its date
            path = f"{parent}/{name}" if parent else name
            out.append(AgentInfo(path=path, parent=parent, depth=depth, status=PRUNED, head=None,
                                 branch=None, tokens=0, entries=0, pruned_at=gone[name] * 1000))
            if recursive:
                _walk(None, path, depth + 1, recursive, out, pruned)
            continue
        assert view is not None
        try:
            child = view.agent(name)
        except InvalidRefName:
            continue                # not an agent namespace (fsck reports stray directories)
        out.append(describe(child, parent, depth))
        if recursive:
            _walk(child, child.agent_name, depth + 1, recursive, out, pruned)


def _commit(view: RepoState, ref: str) -> Any:
    """The commit pseudo-ref `ref` of `view` names, or None."""
    oid = view.refs.read_id(ref)
    return None if oid is None else view.get_commit(oid)


def describe(child: RepoState, parent: str | None, depth: int) -> AgentInfo:
    """The AgentInfo of one namespace (damage is listed in `problems`, not raised)."""
    info = AgentInfo(path=child.agent_name or "", parent=parent, depth=depth, status=RUNNING,
                     head=None, branch=None, tokens=0, entries=0)
    try:
        head = child.head_commit()
        info.branch = child.head_branch()
        if head is not None:
            info.head = head.hex()
            c = child.get_commit(head)
            info.tokens = c.total_tokens
            info.entries = child.get_snapshot(c.snapshot).count
    except TraceError as exc:
        info.problems.append(f"HEAD: {exc}")
    try:
        root = _commit(child, "SPAWNED")
        if root is not None:
            info.spawned, info.root = True, root.hex
            info.spawned_at = root.time_ms
            frm = (root.meta or {}).get("from")
            if isinstance(frm, bytes):
                info.spawned_from = frm.hex()
    except TraceError as exc:
        info.problems.append(f"SPAWNED: {exc}")
    try:
        done = _commit(child, "COLLAPSED")
        if done is not None:
            info.status = COLLAPSED
            info.collapsed_by, info.collapsed_at = done.hex, done.time_ms
            tip = (done.meta or {}).get("tip")
            if isinstance(tip, bytes):
                info.collapsed_tip = tip.hex()
                info.moved_since = info.head is not None and info.head != tip.hex()
    except TraceError as exc:
        info.problems.append(f"COLLAPSED: {exc}")
    try:
        abandoned = child.refs.read_id("ABANDONED")
        if abandoned is not None:
            info.abandoned_tip = abandoned.hex()
            if info.status == RUNNING:
                info.status = ABANDONED
    except TraceError as exc:
        info.problems.append(f"ABANDONED: {exc}")
    return info
