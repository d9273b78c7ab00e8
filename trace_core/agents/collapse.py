"""Collapse: bring a sub-agent's result back into its parent as one commit; abandon: give a
sub-agent up (docs/multiagent.md, "Collapse").

The collapse commit appends one message to the parent's context: a header naming the child,
its final answer, and an account of how it got there (strategy `final`: none; `extractive`,
the default: an offline extractive summary of the child's own messages; `llm`: a provider's
summary, its cost in meta; `manual`: the caller's text). When the child was spawned for a tool
call that is still pending in the parent's context, the message is that call's result (in the
call's shape); otherwise it is a user message. Its meta points at the child's tip (`tip`, a raw
id, followed by gc and fsck), so the child's history stays reachable and inspectable
(`expand`). The child's `COLLAPSED` pseudo-ref then names the collapse commit; a second
collapse is refused unless `again` (and then only if the child moved on).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .. import chunked
from ..errors import InputError, MissingObject, OperationError, RefConflict
from ..messages import call_ids, message_text, preview
from ..objects import Blob, Commit, Entry, Snapshot
from ..plumbing.commit import Change, commit_change, total_after
from ..plumbing.refs import set_ref
from ..state import RepoState
from ..toolpairs import analyze

STRATEGIES = ("final", "extractive", "llm", "manual")
ACCOUNT_RATIO = 0.2     # default account target: this fraction of the child's own tokens...
ACCOUNT_CAP = 1500      # ...at most this many tokens
ACCOUNT_MIN = 64
COLLAPSE_LOCK = "collapse.lock"
COLLAPSE_INSTRUCTIONS = (
    "A sub-agent worked on part of a task. Summarize how it got to its result, for the agent "
    "that spawned it: what it tried, what it found (file names, identifiers, numbers, errors), "
    "what it decided and why, and what it left open. Do not repeat its final answer. Plain "
    "text, no preamble.")


def _one_line(text: str) -> str:
    return " ".join(text.split())


class Work:
    """What a child did: its messages after its root context (`own`; all of them when it
    rewrote that context), how many came before, its root commit and task text."""

    __slots__ = ("own", "inherited", "count", "root", "task")

    def __init__(self, own: list, inherited: int, count: int, root: Commit | None,
                 task: str | None) -> None:
        self.own, self.inherited, self.count, self.root, self.task = \
            own, inherited, count, root, task


def prefix_length(start: list[Entry], entries: list[Entry]) -> int:
    """len(start) when `entries` begin with the same blobs as `start` (the context a child
    started with, or the one a collapse carried), else 0."""
    if len(start) <= len(entries) and \
            all(a.blob == b.blob for a, b in zip(start, entries, strict=False)):
        return len(start)
    return 0


def child_work(child: RepoState, tip: bytes, since: bytes | None = None) -> Work:
    """The Work of `child` at `tip`: only its own messages are read (a child spawned with a
    10,000-entry context reads what it added, not what it inherited). `since`: a tip collapsed
    before; when the context still starts with that tip's, only what came after it is the
    child's own (new) work."""
    entries = chunked.entries(child.get_snapshot(child.get_commit(tip).snapshot), child.get_node)
    root_id = child.refs.read_id("SPAWNED")
    root = None
    inherited = 0
    task = None
    if root_id is not None:
        root = child.get_commit(root_id)
        r_entries = chunked.entries(child.get_snapshot(root.snapshot), child.get_node)
        inherited = prefix_length(r_entries, entries)
        t = (root.meta or {}).get("task")
        if type(t) is int and 0 <= t < len(r_entries):
            task = message_text(child.get_blob(r_entries[t].blob).message)
    if since is not None:
        with contextlib.suppress(MissingObject):
            before = chunked.entries(child.get_snapshot(child.get_commit(since).snapshot),
                                     child.get_node)
            inherited = max(inherited, prefix_length(before, entries))
    own = [child.get_blob(e.blob).message for e in entries[inherited:]]
    return Work(own, inherited, len(entries), root, task)


def finished(msgs: list[dict]) -> list[str]:
    """Why a child's own messages do not look finished (empty when they do): a tool call still
    awaiting its result, or no final assistant message. (A call pending in the context it
    inherited is the parent's, not the child's.)"""
    why = []
    pending = analyze(msgs).pending
    if pending:
        why.append(f"tool call {pending[0].call_id!r} ({pending[0].name or 'tool'}) awaits its "
                   "result")
    last = msgs[-1] if msgs else None
    if not (isinstance(last, dict) and last.get("role") == "assistant" and not call_ids(last)
            and message_text(last).strip()):
        why.append("its context does not end with a final assistant message")
    return why


def final_answer(msgs: list[dict]) -> str | None:
    """The text of the child's last assistant message that has text (its answer)."""
    for m in reversed(msgs):
        if isinstance(m, dict) and m.get("role") == "assistant":
            text = message_text(m).strip() if not call_ids(m) else ""
            if text:
                return text
    return None


def _child(repo: RepoState, name: str) -> RepoState:
    """This agent's direct sub-agent `name` (one path component: a grandchild is collapsed
    into its own parent, not here)."""
    from ..refs import check_agent_name
    check_agent_name(name)
    return repo.agent(name)


@contextmanager
def _locked(child: RepoState) -> Iterator[None]:
    """One collapse of a child at a time (a flock: released if the process dies)."""
    from ..storage import safefs
    fd = safefs.open_fd(os.path.join(child.refs_root, COLLAPSE_LOCK), os.O_RDWR | os.O_CREAT)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def collapse(repo: RepoState, name: str, *, strategy: str = "extractive",
             text: str | None = None, strict: bool = False, again: bool = False,
             target_tokens: int | None = None, provider: Any = None,
             instructions: str | None = None, call: str | None = None,
             commit_message: str | None = None, author: str | None = None) -> Commit:
    """Add to this agent one `collapse` commit carrying sub-agent `name`'s result (see the
    module docstring). `strict`: refuse a child that has not finished (a pending tool call, no
    final assistant message) instead of warning; `again`: collapse a child collapsed before
    (its newer work); `call`: answer this pending tool call of the parent (default: the call
    the child was spawned for, if still pending)."""
    if strategy not in STRATEGIES:
        raise InputError(f"unknown collapse strategy {strategy!r} ({', '.join(STRATEGIES)})")
    if strategy == "manual" and (not isinstance(text, str) or not text.strip()):
        raise InputError("the manual strategy needs the text to collapse (--text or --file)")
    if strategy != "manual" and text is not None:
        raise InputError("text is only used by the manual strategy")
    if strategy == "llm" and provider is None:
        raise InputError("the llm strategy needs a provider (configure llm.provider)")
    if call is not None and (not isinstance(call, str) or not call):
        raise InputError("call must be a tool call id (a non-empty string)")
    child = _child(repo, name)
    with _locked(child):
        tip = child.head_commit()
        if tip is None:
            raise OperationError(f"agent {child.agent_name!r} has no commits to collapse")
        prev = child.refs.read("COLLAPSED")
        unrecorded = _unrecorded_collapse(repo, child, tip, prev)
        if unrecorded is not None:      # a collapse killed before it wrote COLLAPSED
            set_ref(child, "COLLAPSED", prev, unrecorded.hex,
                    message=f"collapsed by {unrecorded.hex} (recorded late)")
            raise OperationError(f"agent {child.agent_name!r} was already collapsed by "
                                 f"{unrecorded.hex[:12]} at its tip (an interrupted collapse; "
                                 "now recorded)")
        done_tip = None
        prev_id = child.refs.read_id("COLLAPSED")
        if prev is not None and prev_id is not None:
            done = repo.get_commit(prev_id)
            done_tip = (done.meta or {}).get("tip")
            if not again:
                raise OperationError(
                    f"agent {child.agent_name!r} was already collapsed by {prev[:12]}; pass "
                    "again=True (--again) to collapse its newer work")
            if done_tip == tip:
                raise OperationError(f"agent {child.agent_name!r} has no commits since its "
                                     f"collapse {prev[:12]}")
        work = child_work(child, tip, done_tip if isinstance(done_tip, bytes) else None)
        own, root = work.own, work.root
        why = finished(own)
        if why and strict:
            raise OperationError(f"agent {child.agent_name!r} has not finished: {why[0]} "
                                 "(collapse without --strict to take its work as it is)")
        final = final_answer(own)       # (never an answer it inherited from its parent)
        account, inference = _account(repo, strategy, own, final, text, target_tokens,
                                      provider, instructions)
        body = _body(child.agent_name or name, tip, len(own), work.task, final, account, why,
                     prev)
        meta: dict = {"version": 1, "agent": child.agent_name, "tip": tip,
                      "strategy": strategy, "messages": work.count, "own": len(own),
                      "finished": not why}
        if root is not None:
            meta["root"] = root.id
        if why:
            meta["unfinished"] = why
        if prev is not None:
            meta["again"] = bytes.fromhex(prev)
        if inference:
            meta["inference"] = inference
        wanted = call
        if wanted is None and root is not None:
            spawned_for = (root.meta or {}).get("call")
            wanted = spawned_for if isinstance(spawned_for, str) and spawned_for else None
        message = commit_message or \
            f"collapse {child.agent_name}: {preview(final) if final else 'no final answer'}"
        commit = _commit(repo, body, wanted, call is not None, meta, message, author)
        try:
            set_ref(child, "COLLAPSED", prev, commit.hex, message=f"collapsed by {commit.hex}")
        except RefConflict:  # (only a writer that ignores the lock can get here)
            repo.warn(f"agent {child.agent_name}: COLLAPSED moved during the collapse; it "
                      f"does not name {commit.hex[:12]}")
    if why:
        repo.warn(f"agent {child.agent_name} collapsed unfinished: {'; '.join(why)}")
    return commit


#: parent commits a collapse looks back through for one of the same tip that a killed process
#: made without recording it in COLLAPSED
UNRECORDED_LOOKBACK = 1000


def _unrecorded_collapse(repo: RepoState, child: RepoState, tip: bytes,
                         prev: str | None) -> Commit | None:
    """A collapse commit of `child` at `tip` on this agent's first-parent history, made after
    the one COLLAPSED names (`prev`) but not recorded in it (its process was killed between
    the commit and the ref): the look-back stops at `prev`, at the child's root commit's time,
    or after UNRECORDED_LOOKBACK commits."""
    root_id = child.refs.read_id("SPAWNED")
    since = 0
    if root_id is not None:
        with contextlib.suppress(MissingObject):
            since = child.get_commit(root_id).time_ms
    cid: bytes | None = repo.head_commit()
    for _ in range(UNRECORDED_LOOKBACK):
        if cid is None or (prev is not None and cid.hex() == prev):
            return None
        c = repo.get_commit(cid)
        if c.time_ms < since:
            return None
        meta = c.meta or {}
        if c.op == "collapse" and meta.get("agent") == child.agent_name and \
                meta.get("tip") == tip:
            return c
        cid = c.parents[0] if c.parents else None
    return None


def _account(repo: RepoState, strategy: str, own: list[dict], final: str | None,
             text: str | None, target_tokens: int | None, provider: Any,
             instructions: str | None) -> tuple[str | None, dict | None]:
    """(the account of the child's work, the llm call's inference or None)."""
    if strategy == "manual":
        return (text or "").strip(), None
    if strategy == "final":
        return None, None
    work = list(own)
    if work and final is not None and isinstance(work[-1], dict) and \
            message_text(work[-1]).strip() == final:
        work = work[:-1]            # the answer is shown whole; summarize the way to it
    if not work:
        return None, None
    counter = repo.token_counter()
    tokens = sum(counter.count_text(message_text(m)) for m in work)
    target = target_tokens if target_tokens is not None else \
        max(ACCOUNT_MIN, min(ACCOUNT_CAP, int(tokens * ACCOUNT_RATIO)))
    if not isinstance(target, int) or isinstance(target, bool) or target <= 0:
        raise InputError("target_tokens must be a positive integer")
    from ..compress import strategies as S
    if strategy == "llm":
        out, result = S.llm_summary(provider, work, instructions=instructions or
                                    COLLAPSE_INSTRUCTIONS, target=target, facts=(),
                                    max_tokens=None)
        fn = getattr(result, "to_meta", None)
        return out, (dict(fn()) if callable(fn) else None)
    return S.extractive(work, target, counter.count_text), None


def _body(agent: str, tip: bytes, own: int, task: str | None, final: str | None,
          account: str | None, why: list[str], prev: str | None = None) -> str:
    whose = f"since its collapse {prev[:12]}" if prev else "of its own"
    lines = [f"[Result of sub-agent {agent} (tip {tip.hex()[:12]}, {own} message"
             f"{'s' if own != 1 else ''} {whose})]"]
    if task:
        lines.append(f"Task: {_one_line(task)[:500]}")
    if why:
        lines.append(f"Unfinished: {'; '.join(why)}.")
    lines += ["", "Answer:", final if final is not None else "(no final answer)"]
    if account:
        lines += ["", "How it got there:", account]
    return "\n".join(lines)


def _result_message(parent_msgs: list[dict], call: str, body: str) -> dict | None:
    """A result for the parent's pending call `call`, in the shape of the message that made it
    (None when that call is not pending)."""
    pending = {p.call_id: p for p in analyze(parent_msgs).pending}
    p = pending.get(call)
    if p is None:
        return None
    made = parent_msgs[p.index]
    if made.get("type") == "function_call":
        return {"type": "function_call_output", "call_id": call, "output": body}
    content = made.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use"
                                         for b in content):
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call,
                                             "content": body}]}
    return {"role": "tool", "tool_call_id": call, "content": body}


def _commit(repo: RepoState, body: str, call: str | None, explicit: bool, meta: dict,
            message: str, author: str | None) -> Commit:
    def build(parent: Commit | None, snap: Snapshot) -> Change:
        msg = None
        m = dict(meta)
        if call is not None:
            entries = chunked.entries(snap, repo.get_node)
            msgs = [repo.get_blob(e.blob).message for e in entries]
            msg = _result_message(msgs, call, body)
            if msg is None and explicit:
                raise OperationError(f"tool call {call!r} is not pending in this context")
            if msg is not None:
                m["call"] = call
        blob = Blob(msg if msg is not None else {"role": "user", "content": body})
        cost = repo.blob_tokens(blob.id, blob)
        nodes: list = []
        new = chunked.append(snap, [Entry(blob.id, 0)], repo.get_node, nodes.append)
        return Change(new, [blob, *nodes], "collapse", blobs=[blob.id], targets=[snap.count],
                      message=message, tokens=cost,
                      total_tokens=total_after(repo, parent, snap, cost, new.count), meta=m)
    return commit_change(repo, build, author)


def abandon(repo: RepoState, name: str, *, undo: bool = False) -> str | None:
    """Mark sub-agent `name` as given up (its `ABANDONED` pseudo-ref names its tip; retention
    policies may then expire it), or with `undo` take the mark back. Returns the tip (hex)."""
    from ..plumbing.refs import delete_ref
    child = _child(repo, name)
    cur = child.refs.read("ABANDONED")
    if undo:
        if cur is None:
            raise OperationError(f"agent {child.agent_name!r} is not abandoned")
        delete_ref(child, "ABANDONED", cur, message="abandon: undone")
        return None
    if cur is not None:
        raise OperationError(f"agent {child.agent_name!r} is already abandoned")
    tip = child.head_commit()
    if tip is None:
        raise OperationError(f"agent {child.agent_name!r} has no commits")
    set_ref(child, "ABANDONED", None, tip.hex(), message="abandoned")
    return tip.hex()
