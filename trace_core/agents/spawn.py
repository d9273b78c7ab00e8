"""Spawn: start sub-agents from a parent commit, with the whole context, none of it, a slice or
a summary, and record the spawn in the parent (docs/multiagent.md, "Spawn")."""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from typing import Any

from .. import chunked
from ..errors import InputError, OperationError, RefConflict
from ..messages import preview
from ..objects import FLAG_PINNED, Blob, Commit, Entry, Snapshot
from ..plumbing.commit import Change, commit_change, count_entries, total_after, write_change
from ..plumbing.refs import move_refs, set_symbolic_ref
from ..plumbing.revparse import resolve_revision
from ..state import DEFAULT_BRANCH, RepoState

CONTEXTS = ("full", "none", "entries", "summary")
SUMMARY_STRATEGIES = ("extractive", "llm")
MAX_CHILDREN = 256          # children of one spawn commit
SUMMARY_RATIO = 0.2         # default summary target: this fraction of the summarized tokens...
SUMMARY_CAP = 2000          # ...at most this many tokens
SPAWN_INSTRUCTIONS = (
    "You brief a sub-agent that an AI agent is about to start on part of its task. Summarize the "
    "agent's history below so that the sub-agent knows the goal, the constraints, what has been "
    "decided and found, and the identifiers, file names and numbers it may need. Plain text, no "
    "preamble.")


class Spawned:
    """What `spawn` made: the parent's `spawn` commit and each child's repository view."""

    __slots__ = ("commit", "agents", "roots")

    def __init__(self, commit: Commit, agents: list[Any], roots: list[Commit]) -> None:
        self.commit = commit
        self.agents = agents
        self.roots = roots

    @property
    def agent(self) -> Any:
        """The one child (InputError when several were spawned)."""
        if len(self.agents) != 1:
            raise InputError(f"{len(self.agents)} agents were spawned: use .agents")
        return self.agents[0]

    def __repr__(self) -> str:
        names = ", ".join(a.agent_name for a in self.agents)
        return f"Spawned({self.commit.hex[:12]}: {names})"


def parse_context(context: str) -> tuple[str, str | None]:
    """(mode, slice) of a --context value: full, none, summary, `entries I:J` (also
    `entries:I:J` or `I:J`)."""
    if not isinstance(context, str):
        raise InputError(f"context must be a string, not {type(context).__name__}")
    c = context.strip()
    if c in ("full", "none", "summary"):
        return c, None
    rest = c[len("entries"):].lstrip(" :=") if c.startswith("entries") else c
    if ":" in rest or rest.lstrip("-").isdigit():
        return "entries", rest
    raise InputError(f"unknown context {context!r}: use full, none, summary or 'entries I:J'")


def spawn(repo: RepoState, names: str | Sequence[str], *, rev: str | None = None,
          context: str = "full", task: str | Sequence[str] | None = None,
          summary: str = "extractive", target_tokens: int | None = None,
          provider: Any = None, instructions: str | None = None, call: str | None = None,
          commit_message: str | None = None, author: str | None = None) -> Spawned:
    """Spawn sub-agents `names` of this agent from commit `rev` (default HEAD).

    Each child gets a namespace whose first commit holds its starting `context`: `full` (the
    context at `rev`), `none`, `entries I:J` (a slice of it) or `summary` (one message
    summarizing it: `summary="extractive"`, offline, or `"llm"` with `provider`); then its
    `task` (one string for all, or one per child) as a pinned user message. `call`: the id of
    the parent's tool call the child works on (its collapse then answers that call). The parent
    gets one `spawn` commit naming every child's root commit; its context is unchanged. Names
    that exist are refused before anything is written."""
    names = [names] if isinstance(names, str) else list(names)
    if not names:
        raise InputError("spawn needs at least one agent name")
    if len(names) > MAX_CHILDREN:
        raise InputError(f"at most {MAX_CHILDREN} agents per spawn, not {len(names)}")
    if len(set(names)) != len(names):
        raise InputError("an agent name is given twice")
    tasks = _tasks(task, len(names))
    mode, slice_ = parse_context(context)
    if summary not in SUMMARY_STRATEGIES:
        raise InputError(f"unknown summary strategy {summary!r} (extractive, llm)")
    if mode == "summary" and summary == "llm" and provider is None:
        raise InputError("an llm summary needs a provider (configure llm.provider)")
    if call is not None and (not isinstance(call, str) or not call):
        raise InputError("call must be a tool call id")
    children = [repo.agent(n, create=True) for n in names]  # (checks each name)
    for child in children:
        if child.agent_exists() and not _unused(child):
            raise OperationError(f"agent {child.agent_name!r} already exists: pick another name")
    src = resolve_revision(repo, rev) if rev is not None else repo.head_commit()
    base_entries = _entries(repo, src)
    start, meta, inference = _start(repo, mode, slice_, base_entries, summary, target_tokens,
                                    provider, instructions)
    roots = []
    for child, t in zip(children, tasks, strict=True):
        roots.append(_root(child, start, t, {**meta, "agent": child.agent_name,
                                             **({"from": src} if src else {}),
                                             **({"call": call} if call else {}),
                                             **({"inference": inference} if inference else {})}))
    claimed: list = []
    try:
        for child, root in zip(children, roots, strict=True):
            _claim(child, root)
            claimed.append(child)
        commit = _record(repo, children, roots, src, mode, tasks, commit_message, author)
    except BaseException:
        for child in claimed:
            _discard(child)
        raise
    return Spawned(commit, [repo.agent(n) for n in names], roots)


def _tasks(task: str | Sequence[str] | None, n: int) -> list[str | None]:
    if task is None or isinstance(task, str):
        tasks: list = [task] * n
    else:
        tasks = list(task)
        if len(tasks) == 1:
            tasks = tasks * n
        if len(tasks) != n:
            raise InputError(f"give one task for all agents or one per agent ({n}), "
                             f"not {len(tasks)}")
    for t in tasks:
        if t is not None and (not isinstance(t, str) or not t.strip()):
            raise InputError("a task must be non-empty text")
    return tasks


def _entries(repo: RepoState, cid: bytes | None) -> list[Entry]:
    if cid is None:
        return []
    return chunked.entries(repo.get_snapshot(repo.get_commit(cid).snapshot), repo.get_node)


def _start(repo: RepoState, mode: str, slice_: str | None, entries: list[Entry], summary: str,
           target_tokens: int | None, provider: Any, instructions: str | None
           ) -> tuple[list, dict, dict | None]:
    """(starting entries or blobs, meta describing them, inference of an llm summary)."""
    meta: dict = {"version": 1, "context": mode}
    if mode == "full":
        return list(entries), meta, None
    if mode == "none":
        return [], meta, None
    if mode == "entries":
        from ..compress.select import parse_entry_range
        i, j = parse_entry_range(slice_ or "", len(entries))
        meta["entries"] = [i, j]
        return list(entries[i:j]), meta, None
    if not entries:
        raise OperationError("nothing to summarize: the parent's context is empty")
    msgs = [repo.get_blob(e.blob).message for e in entries]
    tokens = sum(repo.blob_tokens(e.blob) for e in entries)
    target = target_tokens if target_tokens is not None else \
        max(64, min(SUMMARY_CAP, int(tokens * SUMMARY_RATIO)))
    if not isinstance(target, int) or isinstance(target, bool) or target <= 0:
        raise InputError("target_tokens must be a positive integer")
    from ..compress import strategies as S
    inference = None
    if summary == "llm":
        text, result = S.llm_summary(provider, msgs, instructions=instructions or
                                     SPAWN_INSTRUCTIONS, target=target, facts=(),
                                     max_tokens=None)
        fn = getattr(result, "to_meta", None)
        inference = dict(fn()) if callable(fn) else None
    else:
        counter = repo.token_counter()
        text = S.extractive(msgs, target, counter.count_text)
    meta.update({"summary": summary, "summarized": len(entries), "summarized_tokens": tokens})
    body = f"[Context from the parent agent, summarized ({summary})]\n{text}"
    return [Blob({"role": "user", "content": body})], meta, inference


def _root(child: RepoState, start: list, task: str | None, meta: dict) -> Commit:
    """Write the child's first commit (no parents, op spawn); returns it."""
    blobs = [b for b in start if isinstance(b, Blob)]
    entries = [Entry(b.id, 0) if isinstance(b, Blob) else b for b in start]
    if task is not None:
        tb = Blob({"role": "user", "content": task})
        blobs.append(tb)
        meta = {**meta, "task": len(entries)}
        entries.append(Entry(tb.id, FLAG_PINNED))
    nodes: list = []
    snap = chunked.build(entries, nodes.append)
    new = {b.id for b in blobs}
    targets = [i for i, e in enumerate(entries) if e.blob in new]
    cost = sum(child.blob_tokens(b.id, b) for b in blobs)
    total = count_entries(child, entries)
    what = preview(task) if task else f"{meta['context']} context"
    change = Change(snap, [*blobs, *nodes], "spawn", blobs=[b.id for b in blobs],
                    targets=targets, message=f"spawned: {what}", tokens=cost,
                    total_tokens=total, meta=meta)
    return write_change(child, change, [])


def _unused(child: RepoState) -> bool:
    """Whether an existing namespace holds nothing: no ref but a HEAD naming an unborn branch,
    no sub-agent, no stopped operation. A spawn killed between its two ref writes leaves one
    (and so does a `--create` whose first commit was killed); spawn takes it over."""
    return child.refs.names() in ([], ["HEAD"]) and child.refs.resolve("HEAD") is None \
        and not child.agents() and \
        not os.path.exists(os.path.join(child.refs_root, "MERGE_STATE"))


def _claim(child: RepoState, root: Commit) -> None:
    """Create the child's namespace at its root commit: HEAD -> main, main and SPAWNED in one
    ref transaction that fails if either exists (another process took the name)."""
    set_symbolic_ref(child, "HEAD", f"refs/heads/{DEFAULT_BRANCH}",
                     message=f"spawn: {child.agent_name}")
    try:
        move_refs(child, [(f"refs/heads/{DEFAULT_BRANCH}", None, root.hex),
                          ("SPAWNED", None, root.hex)], f"spawn: {root.summary}"[:200])
    except RefConflict:
        raise OperationError(f"agent {child.agent_name!r} already exists: pick another "
                             "name") from None


def _discard(child: RepoState) -> None:
    """Remove a namespace this spawn created (its parent commit could not be recorded)."""
    agents_dir = os.path.join(os.path.dirname(child.refs_root))
    if os.path.basename(agents_dir) == "agents" and not os.path.islink(child.refs_root):
        shutil.rmtree(child.refs_root, ignore_errors=True)


def _record(repo: RepoState, children: list, roots: list[Commit], src: bytes | None, mode: str,
            tasks: list, commit_message: str | None, author: str | None) -> Commit:
    """The parent's spawn commit: its context unchanged, meta naming every child's root."""
    kids = [{"agent": c.agent_name, "root": r.id} for c, r in zip(children, roots, strict=True)]
    meta: dict = {"version": 1, "children": kids, "context": mode}
    if src is not None:
        meta["from"] = src
    names = ", ".join(c.agent_name.rsplit("/", 1)[-1] for c in children)
    first = next((t for t in tasks if t), None)
    message = commit_message or (f"spawn {names}: {preview(first)}" if first
                                 else f"spawn {names}")

    def build(parent: Commit | None, snap: Snapshot) -> Change:
        return Change(snap, [], "spawn", message=message, tokens=0,
                      total_tokens=total_after(repo, parent, snap, 0, snap.count), meta=meta)
    return commit_change(repo, build, author)
