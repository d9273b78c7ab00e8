"""Status of a namespace: HEAD, branch, entries, tokens against the budget, entries a soft reset
undid, tool calls awaiting their results and broken call/result pairs, and the stopped merge,
rebase, cherry-pick or revert."""

from __future__ import annotations

import os

from . import chunked
from .context import entries_at
from .ids import from_hex, to_hex
from .plumbing.budgets import Budget, budget, budget_warnings
from .plumbing.integrity import open_at_end, readers
from .plumbing.tally import Tally, tally_at
from .state import RepoState
from .toolpairs import Pairing, Pending

__all__ = ["Budget", "Status", "operation_status", "pending_calls", "status", "undone_entries"]

class Status:
    """What `trace status` reports (a plain class: `dataclasses` costs status ~10 ms of
    imports)."""

    __slots__ = ("head", "branch", "detached", "entries", "pinned", "total_tokens", "budget",
                 "warnings", "undone", "agent", "operation", "pending_calls", "broken_pairs")

    def __init__(self, head: str | None, branch: str | None, detached: bool, entries: int,
                 pinned: int, total_tokens: int, budget: Budget, agent: str | None = None) -> None:
        self.head, self.branch, self.detached = head, branch, detached
        self.entries, self.pinned, self.total_tokens = entries, pinned, total_tokens
        self.budget, self.agent = budget, agent
        self.warnings: list[str] = []
        self.undone: list[dict] = []
        #: the merge / rebase / cherry-pick / revert stopped on conflicts (`operation_status`)
        self.operation: dict | None = None
        #: calls at the end of the context awaiting their results: {index, call_id, name}
        self.pending_calls: list[dict] = []
        #: broken pairs (trace_core.toolpairs): {kind, index, call_id, before, message}
        self.broken_pairs: list[dict] = []

    def __repr__(self) -> str:
        return f"Status({self.to_dict()!r})"

    def to_dict(self) -> dict:
        """The status as JSON values (`trace status --json`, the MCP server's trace_status)."""
        from .plumbing import to_jsonable
        return {"head": self.head, "branch": self.branch, "detached": self.detached,
                "agent": self.agent, "entries": self.entries, "pinned": self.pinned,
                "total_tokens": self.total_tokens,
                "budget": {"max_tokens": self.budget.max_tokens, "warn": list(self.budget.warn)},
                "warnings": self.warnings, "undone": to_jsonable(self.undone),
                "operation": self.operation, "pending_calls": self.pending_calls,
                "broken_pairs": self.broken_pairs}


def status(repo: RepoState) -> Status:
    """Where HEAD is, the context's size against its budget, and what is in progress.

    Costs what changed since the last status, not the context's length: the counts and the
    tool-call pairing come from the snapshot's tally (trace_core.plumbing.tally)."""
    head = repo.head_commit()
    branch = repo.head_branch()
    total = 0
    tally = Tally(0, 0, Pairing([], []))
    if head is not None:
        total = repo.get_commit(head).total_tokens
        tally = tally_at(repo, head)
    limits = budget(repo)
    st = Status(head=to_hex(head) if head else None, branch=branch, detached=branch is None,
                entries=tally.entries, pinned=tally.pinned,
                total_tokens=total, budget=limits, agent=repo.agent_name)
    st.warnings = budget_warnings(repo, total, limits)
    st.undone = undone_entries(repo)
    for note in repo.store.notes:
        st.warnings.append(note)
    st.operation = operation_status(repo)
    tools = tally.pairing
    st.pending_calls = [p.to_dict() for p in tools.pending]
    st.broken_pairs = [p.to_dict() for p in tools.problems]
    return st


def pending_calls(repo: RepoState) -> list[Pending]:
    """The tool calls HEAD's context ends with that await their results (reads back only to
    the last conversational message)."""
    head = repo.head_commit()
    if head is None:
        return []
    snap = repo.get_snapshot(repo.get_commit(head).snapshot)
    return list(open_at_end(snap, *readers(repo)))


def operation_status(repo: RepoState) -> dict | None:
    """The stopped merge, rebase, cherry-pick or revert: op, what, conflicts (open and
    settled), and whether the branch moved since; None when nothing is in progress."""
    if not os.path.exists(os.path.join(repo.refs_root, "MERGE_STATE")):
        return None     # the common case, without importing the merge machinery
    from .merge import state as mergestate
    try:
        ms = mergestate.load(repo)
    except mergestate.StateError as exc:
        return {"op": "merge", "damaged": str(exc), "conflicts": []}
    if ms is None:
        return None
    _, now = repo.refs.resolve_target(ms.ref)
    out = {"op": ms.op, "ref": ms.ref, "theirs": ms.theirs, "theirs_name": ms.theirs_name,
           "orig_head": ms.orig_head, "moved": now != ms.orig_head,
           "strategy": ms.strategy,
           "conflicts": [{"id": c.id, "kind": c.kind, "note": c.note,
                          "resolved": c.resolved, "action": c.action, "by": c.by}
                         for c in ms.conflicts]}
    if ms.rebase:
        out["rebase"] = {"onto": ms.rebase.get("onto"), "done": len(ms.rebase.get("done", [])),
                         "todo": len(ms.rebase.get("todo", []))}
    return out


def undone_entries(repo: RepoState) -> list[dict]:
    """Entries a `reset --soft` took out of the branch (ORIG_HEAD ahead of HEAD)."""
    entry = repo.refs.read_entry("ORIG_HEAD")
    # only a soft reset leaves entries "undone"; ORIG_HEAD records which reset wrote it
    if entry is None or entry.new.startswith("ref:") or \
            not entry.message.startswith("reset --soft"):
        return []
    orig = entry.new
    head = repo.head_commit()
    orig_id = from_hex(orig)
    if head is not None and (orig_id == head or not repo.index.is_ancestor(head, orig_id)):
        return []
    if head is None:
        start, undone = 0, entries_at(repo, orig_id)
    else:   # (proved by the leaves: only the nodes holding the undone entries are read)
        base = repo.get_snapshot(repo.get_commit(head).snapshot)
        found = chunked.appended(base, repo.get_snapshot(repo.get_commit(orig_id).snapshot),
                                 repo.get_node)
        if found is None:
            return []
        start, undone = base.count, found
    return [{"index": start + i, "blob": e.blob.hex(), "flags": e.flags,
             "message": repo.get_blob(e.blob).message} for i, e in enumerate(undone)]
