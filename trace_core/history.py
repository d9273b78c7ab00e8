"""Commit operations on the current branch: append, edit, pin, unpin, drop, and transactions.

Every operation reads the branch tip, builds the new snapshot and commit, writes them to the
object journal with one write, then moves the ref with a compare-and-swap. If another process
moved the branch in between, the operation is rebuilt on the new tip and tried again, so
concurrent appenders to one branch never lose each other's commits.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from contextlib import contextmanager
from typing import Any, Callable, Iterable, Iterator, List, Optional, Sequence

from . import chunked
from .errors import BudgetExceeded, InputError, OperationError, RefConflict
from .ids import to_hex
from .objects import FLAG_PINNED, Blob, Commit, Entry, Snapshot, TraceObject

MAX_RETRIES = 64
BACKOFF_CAP = 0.05   # seconds: the longest pause between two attempts of one operation


@dataclass
class Change:
    """What an operation produces from (parent commit, parent snapshot)."""

    snapshot: Snapshot
    objects: List[TraceObject]
    op: str
    blobs: Sequence[bytes] = ()
    targets: Sequence[int] = ()
    message: str = ""
    tokens: int = 0
    total_tokens: int = 0
    meta: Optional[dict] = None


def preview(message: dict, width: int = 50) -> str:
    content = message.get("content")
    if isinstance(content, str):
        text = content
    elif content is None and message.get("tool_calls"):
        names = [c.get("function", {}).get("name", "?") for c in message["tool_calls"]
                 if isinstance(c, dict)]
        text = "call " + ", ".join(map(str, names))
    else:
        text = json.dumps(content, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 3] + "..."


def tool_call_message(name: str, arguments: Any, call_id: Optional[str] = None,
                      content: Optional[str] = None) -> dict:
    if not isinstance(name, str) or not name:
        raise InputError("a tool call needs a name")
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False,
                                                                    sort_keys=True)
    call = {"id": call_id or "", "type": "function", "function": {"name": name, "arguments": args}}
    return {"role": "assistant", "content": content, "tool_calls": [call]}


def tool_result_message(call_id: str, content: Any, name: Optional[str] = None) -> dict:
    if not isinstance(call_id, str):
        raise InputError("a tool result needs the id of the call it answers")
    msg = {"role": "tool", "tool_call_id": call_id, "content": content}
    if name:
        msg["name"] = name
    return msg


class HistoryOps:
    """Mixed into Repository: commit operations on the branch HEAD points to."""

    # -- the commit primitive ------------------------------------------------------------------
    def _tip(self):
        return self._tip_at()[1:]

    def _tip_at(self):
        """(the ref commits move, its commit id or None, that commit, its snapshot)."""
        target, value = self.refs.resolve_target(self.head_ref)
        if value is None:
            if self.head_ref == "HEAD" and target == "HEAD":  # a new agent namespace
                self.refs.set_symbolic("HEAD", "refs/heads/main", message="agent: first commit")
                target = "refs/heads/main"
            return target, None, None, chunked.EMPTY
        tip = bytes.fromhex(value)
        commit = self.get_commit(tip)
        return target, tip, commit, self.get_snapshot(commit.snapshot)

    def commit_change(self, build: Callable[[Optional[Commit], Snapshot], Change],
                      author: Optional[str] = None) -> Commit:
        """Apply `build` to the tip and move HEAD's branch (or detached HEAD) with CAS + retry."""
        tx = getattr(self, "_tx", None)
        if tx is not None:
            return tx.apply(build, author)
        for attempt in range(MAX_RETRIES):
            if attempt >= 2:  # contention: back off (randomized) so that a writer rebuilding a
                _backoff(attempt)  # large change is not beaten by a tight append loop forever
            target, tip, parent, snap = self._tip_at()
            change = build(parent, snap)
            self._check_budget(change)
            commit = self._make_commit(change, [tip] if tip else [], author)
            self.store.write([*change.objects, change.snapshot, commit])
            try:  # the branch the tip was read from, even if HEAD was switched meanwhile
                self.refs.set_if_equals(target, tip.hex() if tip else None, commit.hex,
                                        message=f"{change.op}: {commit.summary}"[:200],
                                        deref=False)
            except RefConflict:
                continue
            self.store.maybe_seal()
            return commit
        raise OperationError("the branch kept moving under us; gave up after "
                             f"{MAX_RETRIES} attempts")

    @contextmanager
    def strict_budget(self) -> Iterator[None]:
        """Inside this block, an operation that would cross a budget threshold raises instead."""
        prev = self._strict
        self._strict = True
        try:
            yield
        finally:
            self._strict = prev

    def _check_budget(self, change: Change) -> None:
        if not getattr(self, "_strict", False):
            return
        warnings = self.budget_warnings(change.total_tokens)
        if warnings:
            raise BudgetExceeded(f"refused ({change.op}): {warnings[0]}")

    def _make_commit(self, change: Change, parents: list, author: Optional[str]) -> Commit:
        from .plumbing import now_and_tz
        t, tz = now_and_tz()
        return Commit(parents=parents, snapshot=change.snapshot.id, op=change.op,
                      blobs=change.blobs, targets=change.targets, message=change.message,
                      author=author or self.who, time_ms=t, tz_min=tz, tokens=change.tokens,
                      total_tokens=change.total_tokens, encoding=self.token_counter().name,
                      meta=change.meta)

    def total_after(self, parent: Optional[Commit], before: Snapshot, delta: int,
                     after_count: int) -> int:
        from .tokens import REPLY_PRIMING
        prev = parent.total_tokens if parent is not None else 0
        if parent is not None and parent.encoding != self.token_counter().name:
            prev = self._recount(before)
        body = prev - (REPLY_PRIMING if before.count else 0) + delta
        return body + REPLY_PRIMING if after_count else 0

    def _recount(self, snap: Snapshot) -> int:
        from .plumbing import count_entries
        return count_entries(self, chunked.entries(snap, self.get_node))

    # -- appends -------------------------------------------------------------------------------
    def append(self, message: Any = None, *, role: Optional[str] = None, content: Any = None,
               pinned: bool = False, commit_message: Optional[str] = None,
               author: Optional[str] = None, **fields: Any) -> Commit:
        """Append one message (a dict, or role + content + provider fields) as a commit."""
        if message is None:
            if role is None:
                raise InputError("append needs a message dict or a role")
            message = {"role": role, "content": content, **fields}
        elif role is not None or content is not None or fields:
            raise InputError("give either a message dict or role/content, not both")
        return self.append_many([message], pinned=pinned, commit_message=commit_message,
                                author=author)

    def append_many(self, messages: Sequence[dict], *, pinned: bool = False,
                    commit_message: Optional[str] = None, author: Optional[str] = None) -> Commit:
        """Append several messages in one commit."""
        if not messages:
            raise InputError("nothing to append")
        blobs = [Blob(m) for m in messages]
        flags = FLAG_PINNED if pinned else 0
        cost = sum(self.blob_tokens(b.id, b) for b in blobs)
        default_msg = (f"{blobs[0].role or 'message'}: {preview(blobs[0].message)}"
                       if len(blobs) == 1 else f"append {len(blobs)} messages")

        def build(parent: Optional[Commit], snap: Snapshot) -> Change:
            nodes: list = []
            new = chunked.append(snap, [Entry(b.id, flags) for b in blobs], self.get_node,
                                 nodes.append)
            return Change(new, [*blobs, *nodes], "append", blobs=[b.id for b in blobs],
                          targets=list(range(snap.count, new.count)),
                          message=commit_message or default_msg, tokens=cost,
                          total_tokens=self.total_after(parent, snap, cost, new.count))

        return self.commit_change(build, author)

    def system(self, text: str, **kw: Any) -> Commit:
        return self.append({"role": "system", "content": text}, **kw)

    def user(self, text: Any, **kw: Any) -> Commit:
        return self.append({"role": "user", "content": text}, **kw)

    def assistant(self, text: Any, **kw: Any) -> Commit:
        return self.append({"role": "assistant", "content": text}, **kw)

    def tool_call(self, name: str, arguments: Any, call_id: Optional[str] = None, **kw: Any) -> Commit:
        return self.append(tool_call_message(name, arguments, call_id), **kw)

    def tool_result(self, call_id: str, content: Any, name: Optional[str] = None, **kw: Any) -> Commit:
        return self.append(tool_result_message(call_id, content, name), **kw)

    # -- rewrites of existing entries ----------------------------------------------------------
    def _rewrite(self, op: str, indices: Sequence[int], fn: Callable, message: str,
                 new_blobs: Sequence[Blob] = (), author: Optional[str] = None,
                 meta: Optional[dict] = None) -> Commit:
        def build(parent: Optional[Commit], snap: Snapshot) -> Change:
            entries = chunked.entries(snap, self.get_node)
            idx = _check_indices(indices, len(entries))
            old_cost = sum(self.blob_tokens(entries[i].blob) for i in idx)
            new_entries = fn(entries, idx)
            nodes: list = []
            new = chunked.build(new_entries, nodes.append)
            new_cost = sum(self.blob_tokens(b.id, b) for b in new_blobs)
            if op in ("pin", "unpin"):
                new_cost = old_cost
            delta = new_cost - old_cost if op not in ("pin", "unpin") else 0
            return Change(new, [*new_blobs, *nodes], op, blobs=[b.id for b in new_blobs],
                          targets=idx, message=message,
                          tokens=old_cost if op == "drop" else new_cost,
                          total_tokens=self.total_after(parent, snap, delta, new.count),
                          meta=meta)
        return self.commit_change(build, author)

    def edit(self, index: int, message: dict, *, commit_message: Optional[str] = None,
             author: Optional[str] = None) -> Commit:
        """Replace the entry at `index` (its pin flag is kept; the old version stays in history)."""
        blob = Blob(message)

        def fn(entries: list, idx: list) -> list:
            out = list(entries)
            out[idx[0]] = Entry(blob.id, entries[idx[0]].flags)
            return out
        return self._rewrite("edit", [index], fn,
                             commit_message or f"edit #{index}: {preview(blob.message)}",
                             [blob], author)

    def pin(self, *indices: int, commit_message: Optional[str] = None,
            author: Optional[str] = None) -> Commit:
        return self._set_flag("pin", indices, True, commit_message, author)

    def unpin(self, *indices: int, commit_message: Optional[str] = None,
              author: Optional[str] = None) -> Commit:
        return self._set_flag("unpin", indices, False, commit_message, author)

    def _set_flag(self, op: str, indices: Sequence[int], on: bool, msg: Optional[str],
                  author: Optional[str]) -> Commit:
        if not indices:
            raise InputError(f"{op} needs at least one entry index")

        def fn(entries: list, idx: list) -> list:
            out = list(entries)
            for i in idx:
                e = entries[i]
                if e.pinned == on:
                    raise OperationError(f"entry {i} is already {'pinned' if on else 'not pinned'}")
                out[i] = e.with_flags(e.flags | FLAG_PINNED if on else e.flags & ~FLAG_PINNED)
            return out
        label = ", ".join(f"#{i}" for i in indices)
        return self._rewrite(op, list(indices), fn, msg or f"{op} {label}", (), author)

    def drop(self, *indices: int, commit_message: Optional[str] = None, force: bool = False,
             author: Optional[str] = None) -> Commit:
        """Remove entries from the context (history keeps them). Pinned entries need force."""
        if not indices:
            raise InputError("drop needs at least one entry index")

        def fn(entries: list, idx: list) -> list:
            if not force:
                pinned = [i for i in idx if entries[i].pinned]
                if pinned:
                    raise OperationError(f"entry {pinned[0]} is pinned; unpin it or use force")
            gone = set(idx)
            return [e for i, e in enumerate(entries) if i not in gone]
        label = ", ".join(f"#{i}" for i in indices)
        return self._rewrite("drop", list(indices), fn, commit_message or f"drop {label}", (), author)

    # -- transactions --------------------------------------------------------------------------
    def transaction(self, message: Optional[str] = None) -> "Transaction":
        """Many commits, one ref update: `with repo.transaction(): repo.user(...); ...`."""
        return Transaction(self)


def _backoff(attempt: int) -> None:
    import random
    import time
    time.sleep(random.uniform(0, min(BACKOFF_CAP, 0.0005 * 2 ** attempt)))


def _check_indices(indices: Iterable[int], count: int) -> list:
    out = []
    for i in indices:
        if not isinstance(i, int) or isinstance(i, bool):
            raise InputError(f"entry index must be an integer, got {i!r}")
        j = i + count if i < 0 else i
        if not 0 <= j < count:
            raise InputError(f"entry {i} does not exist (the context has {count} entries)")
        out.append(j)
    if len(set(out)) != len(out):
        raise InputError("an entry index is given twice")
    return sorted(out)


@dataclass
class Transaction:
    """Commits built in memory on top of the tip and published with one compare-and-swap."""

    repo: Any
    commits: List[Commit] = field(default_factory=list)
    _base: Optional[bytes] = None
    _tip: Any = None
    _active: bool = False

    def __enter__(self) -> "Transaction":
        if getattr(self.repo, "_tx", None) is not None:
            raise OperationError("a transaction is already open on this repository")
        tip, parent, snap = self.repo._tip()
        self._base = tip
        self._tip = (tip, parent, snap)
        self._active = True
        self.repo._tx = self
        return self

    def apply(self, build: Callable, author: Optional[str]) -> Commit:
        tip, parent, snap = self._tip
        change = build(parent, snap)
        self.repo._check_budget(change)
        commit = self.repo._make_commit(change, [tip] if tip else [], author)
        self.repo.store.write([*change.objects, change.snapshot, commit])
        self._tip = (commit.id, commit, change.snapshot)
        self.commits.append(commit)
        return commit

    def __exit__(self, exc_type, exc, tb) -> None:
        self.repo._tx = None
        self._active = False
        if exc_type is not None or not self.commits:
            return  # objects already written stay unreferenced until gc; the branch is unchanged
        last = self.commits[-1]
        n = len(self.commits)
        self.repo.refs.set_if_equals(self.repo.head_ref, to_hex(self._base) if self._base else None, last.hex,
                                     message=f"transaction: {n} commit{'s' * (n != 1)}")
        self.repo.store.maybe_seal()
