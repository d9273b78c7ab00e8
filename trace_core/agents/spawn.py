"""Spawn: start sub-agents from a parent commit, with the whole context, none of it, a slice or
a summary, and record the spawn in the parent (docs/multiagent.md, "Spawn")."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

from .. import chunked
from ..errors import InputError, OperationError, RefConflict
from ..messages import preview
from ..objects import FLAG_PINNED, Blob, Commit, Entry, Snapshot
from ..plumbing.commit import Change, commit_change, count_entries, total_after, write_change
from ..plumbing.refs import move_refs, set_symbolic_ref
from ..plumbing.revparse import resolve_revision
from ..refs import check_agent_name
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
          provider: Any = None, instructions: str | None = None,
          call: str | Sequence[str] | None = None,
          commit_message: str | None = None, author: str | None = None) -> Spawned:
    """Spawn sub-agents `names` of this agent from commit `rev` (default HEAD).

    Each child gets a namespace whose first commit holds its starting `context`: `full` (the
    context at `rev`), `none`, `entries I:J` (a slice of it) or `summary` (one message
    summarizing it: `summary="extractive"`, offline, or `"llm"` with `provider`); then its
    `task` (one string for all, or one per child) as a pinned user message. `call`: the id of
    the parent's tool call the child works on (its collapse then answers that call; one per
    child for a fan-out of calls). The parent
    gets one `spawn` commit naming every child's root commit; its context is unchanged. Names
    that exist are refused before anything is written."""
    if isinstance(names, str):
        names = [names]
    elif isinstance(names, (list, tuple)):
        names = list(names)
    else:
        raise InputError(f"names must be an agent name or a list of them, not "
                         f"{type(names).__name__}")
    if not names:
        raise InputError("spawn needs at least one agent name")
    if len(names) > MAX_CHILDREN:
        raise InputError(f"at most {MAX_CHILDREN} agents per spawn, not {len(names)}")
    if len(set(names)) != len(names):
        raise InputError("an agent name is given twice")
    for n in names:     # children of this agent: one path component each
        check_agent_name(n)
    tasks = _tasks(task, len(names))
    mode, slice_ = parse_context(context)
    if summary not in SUMMARY_STRATEGIES:
        raise InputError(f"unknown summary strategy {summary!r} (extractive, llm)")
    if mode == "summary" and summary == "llm" and provider is None:
        raise InputError("an llm summary needs a provider (configure llm.provider)")
    calls = _per_child(call, len(names), "call")
    for c in calls:
        if c is not None and (not isinstance(c, str) or not c):
            raise InputError("a call must be a tool call id")
    children = [repo.agent(n, create=True) for n in names]  # (checks each name)
    for child in children:
        if child.agent_exists() and not _unused(child):
            raise OperationError(f"agent {child.agent_name!r} already exists: pick another name")
    src = resolve_revision(repo, rev) if rev is not None else repo.head_commit()
    src_commit, src_snap = _source(repo, src)
    start = _start(repo, mode, slice_, src_commit, src_snap, summary, target_tokens, provider,
                   instructions)
    warning = _pending_warning(repo, start)
    roots = []
    for child, t, c in zip(children, tasks, calls, strict=True):
        roots.append(_root(child, start, t, {**start.meta, "agent": child.agent_name,
                                             **({"from": src} if src else {}),
                                             **({"call": c} if c else {}),
                                             **({"inference": start.inference}
                                                if start.inference else {})}))
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
    if warning:
        repo.warn(warning)
    return Spawned(commit, [repo.agent(n) for n in names], roots)


def _per_child(value: Any, n: int, what: str) -> list:
    """`value` for each of `n` children: one value (or None) for all, or a sequence of one
    per child."""
    if value is None or isinstance(value, str):
        return [value] * n
    if not isinstance(value, (list, tuple)):
        raise InputError(f"{what} must be a string or a list of strings")
    out = list(value)
    if len(out) == 1:
        out = out * n
    if len(out) != n:
        raise InputError(f"give one {what} for all agents or one per agent ({n}), not "
                         f"{len(out)}")
    return out


def _tasks(task: str | Sequence[str] | None, n: int) -> list[str | None]:
    tasks = _per_child(task, n, "task")
    for t in tasks:
        if t is not None and (not isinstance(t, str) or not t.strip()):
            raise InputError("a task must be non-empty text")
    return tasks


def _source(repo: RepoState, cid: bytes | None) -> tuple[Commit | None, Snapshot]:
    if cid is None:
        return None, chunked.EMPTY
    commit = repo.get_commit(cid)
    return commit, repo.get_snapshot(commit.snapshot)


class _Start:
    """A child's starting context before its task: a snapshot of the parent's to extend
    (`full`: no entry is copied or counted again), or entries, or new blobs."""

    __slots__ = ("base", "base_commit", "entries", "blobs", "meta", "inference")

    def __init__(self, meta: dict, base: Snapshot | None = None, base_commit: Commit | None = None,
                 entries: Sequence[Entry] = (), blobs: Sequence[Blob] = (),
                 inference: dict | None = None) -> None:
        self.base, self.base_commit, self.meta = base, base_commit, meta
        self.entries, self.blobs, self.inference = list(entries), list(blobs), inference


def _start(repo: RepoState, mode: str, slice_: str | None, src: Commit | None, snap: Snapshot,
           summary: str, target_tokens: int | None, provider: Any,
           instructions: str | None) -> _Start:
    meta: dict = {"version": 1, "context": mode}
    if mode == "full":
        return _Start(meta, base=snap, base_commit=src)
    if mode == "none":
        return _Start(meta)
    entries = chunked.entries(snap, repo.get_node)
    if mode == "entries":
        from ..compress.select import parse_entry_range
        i, j = parse_entry_range(slice_ or "", len(entries))
        meta["entries"] = [i, j]
        return _Start(meta, entries=entries[i:j])
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
        text = S.extractive(msgs, target, repo.token_counter().count_text)
    meta.update({"summary": summary, "summarized": len(entries), "summarized_tokens": tokens})
    body = f"[Context from the parent agent, summarized ({summary})]\n{text}"
    return _Start(meta, blobs=[Blob({"role": "user", "content": body})], inference=inference)


def _pending_warning(repo: RepoState, start: _Start) -> str | None:
    """A warning when the starting context ends with tool calls awaiting results (the child's
    prompt would not be valid for a provider until they are answered or left out)."""
    if start.base is not None:
        if not start.base.count:
            return None
        from ..plumbing.integrity import open_at_end, readers
        pending = list(open_at_end(start.base, *readers(repo)))
    elif start.entries:
        from ..toolpairs import analyze
        pending = analyze([repo.get_blob(e.blob).message for e in start.entries]).pending
    else:
        return None
    if not pending:
        return None
    p = pending[0]
    return (f"the sub-agents start with tool call {p.call_id!r} ({p.name or 'tool'}) awaiting "
            "its result; leave it out (--context 'entries 0:N') or answer it in the child")


def _root(child: RepoState, start: _Start, task: str | None, meta: dict) -> Commit:
    """Write the child's first commit (no parents, op spawn); returns it."""
    blobs = list(start.blobs)
    new = [Entry(b.id, 0) for b in blobs]
    if task is not None:
        tb = Blob({"role": "user", "content": task})
        blobs.append(tb)
        new.append(Entry(tb.id, FLAG_PINNED))
    cost = sum(child.blob_tokens(b.id, b) for b in blobs)
    nodes: list = []
    if start.base is not None:      # the parent's snapshot, extended: shares every node
        snap = chunked.append(start.base, new, child.get_node, nodes.append) if new \
            else start.base
        first = start.base.count
        total = total_after(child, start.base_commit, start.base, cost, snap.count)
    else:
        entries = [*start.entries, *new]
        snap = chunked.build(entries, nodes.append)
        first = len(start.entries)
        total = count_entries(child, entries)
    targets = list(range(first, first + len(new)))
    if task is not None:
        meta = {**meta, "task": targets[-1]}
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
    """Create the child's namespace at its root commit: HEAD -> main (unless a HEAD is there:
    a racing spawn of the same name wrote it, with the same value), then main and SPAWNED in
    one ref transaction that fails if either exists (another process took the name)."""
    if child.refs.read("HEAD") is None:
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
    from ..retention import remove_namespace
    remove_namespace(child.trace_dir, child.refs_root)


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
