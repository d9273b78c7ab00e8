"""History operations on the current branch: append, edit, pin, unpin, drop, transactions,
strict budgets and strict tool checking, and the moves reset, reapply and checkout.

Each commit operation is a `build` function handed to the commit primitive
(`plumbing.commit.commit_change`): it reads the branch tip, builds the new snapshot and commit,
writes them with one store write and moves the ref with a compare-and-swap, rebuilding on the
new tip if another process moved the branch meanwhile.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from . import chunked
from .errors import InputError, ObjectTooLarge, OperationError
from .ids import to_hex
from .messages import preview
from .objects import FLAG_PINNED, Blob, Commit, Entry, Snapshot
from .plumbing.commit import Change, Transaction, commit_change, publish, total_after
from .plumbing.integrity import move_problems, verdict
from .plumbing.refs import ANY, set_ref, set_symbolic_ref
from .plumbing.revparse import resolve_ref_name, resolve_revision
from .publicmeta import commit_meta
from .shapes import check_messages
from .state import RepoState

MAX_MESSAGE_SIZE = 16 * 1024 * 1024   # bytes of a message's canonical encoding that append
                                      # and edit take (docs/FORMAT.md §5: larger than any model's
                                      # context window, and it bounds the time and memory a
                                      # commit takes)


def new_blob(message: Any) -> Blob:
    """`message` as a blob to append or edit in; ObjectTooLarge if its canonical encoding is
    over MAX_MESSAGE_SIZE (checked before its tokens are counted)."""
    blob = Blob(message)
    try:
        size = len(blob.to_bytes())
    except ObjectTooLarge:           # over the format's object limit: not encoded in full
        size = None
    if size is None or size > MAX_MESSAGE_SIZE:
        raise ObjectTooLarge(f"the message is {'over 64 MiB' if size is None else f'{size} bytes'}"
                             f", more than a message may have ({MAX_MESSAGE_SIZE} bytes, 16 MiB)")
    return blob


def tool_call_message(name: str, arguments: Any, call_id: str | None = None,
                      content: str | None = None) -> dict:
    if not isinstance(name, str) or not name:
        raise InputError("a tool call needs a name")
    args = arguments if isinstance(arguments, str) else json.dumps(arguments, ensure_ascii=False,
                                                                    sort_keys=True)
    call = {"id": call_id or "", "type": "function", "function": {"name": name, "arguments": args}}
    return {"role": "assistant", "content": content, "tool_calls": [call]}


def tool_result_message(call_id: str, content: Any, name: str | None = None) -> dict:
    if not isinstance(call_id, str):
        raise InputError("a tool result needs the id of the call it answers")
    msg = {"role": "tool", "tool_call_id": call_id, "content": content}
    if name:
        msg["name"] = name
    return msg


# -- appends ----------------------------------------------------------------------------------


def append(repo: RepoState, message: Any = None, *, role: str | None = None,
           content: Any = None, pinned: bool = False, commit_message: str | None = None,
           author: str | None = None, meta: dict | None = None, usage: dict | None = None,
           **fields: Any) -> Commit:
    """Append one message (a dict, or role + content + provider fields) as a commit; `meta`
    (string labels) and `usage` (the tokens the API reported) are stored in the commit's meta
    (trace_core.publicmeta, docs/FORMAT.md §6.4.1)."""
    if message is None:
        if role is None:
            raise InputError("append needs a message dict or a role")
        message = {"role": role, "content": content, **fields}
    elif role is not None or content is not None or fields:
        raise InputError("give either a message dict or role/content, not both")
    return append_many(repo, [message], pinned=pinned, commit_message=commit_message,
                       author=author, meta=meta, usage=usage)


def append_many(repo: RepoState, messages: Sequence[dict], *, pinned: bool = False,
                commit_message: str | None = None, author: str | None = None,
                meta: dict | None = None, usage: dict | None = None) -> Commit:
    """Append several messages in one commit (`meta`, `usage`: as for append)."""
    if not messages:
        raise InputError("nothing to append")
    extra = commit_meta(meta, usage)
    check_messages(messages)
    blobs = [new_blob(m) for m in messages]
    flags = FLAG_PINNED if pinned else 0
    cost = sum(repo.blob_tokens(b.id, b) for b in blobs)
    if commit_message:
        message = commit_message
    elif len(blobs) == 1:
        message = f"{blobs[0].role or 'message'}: {preview(blobs[0].message)}"
    else:
        message = f"append {len(blobs)} messages"

    def build(parent: Commit | None, snap: Snapshot) -> Change:
        nodes: list = []
        new = chunked.append(snap, [Entry(b.id, flags) for b in blobs], repo.get_node,
                             nodes.append)
        return Change(new, [*blobs, *nodes], "append", blobs=[b.id for b in blobs],
                      targets=list(range(snap.count, new.count)),
                      message=message, tokens=cost,
                      total_tokens=total_after(repo, parent, snap, cost, new.count),
                      meta=extra)

    return commit_change(repo, build, author)


def system(repo: RepoState, text: str, **kw: Any) -> Commit:
    """Append a system message."""
    return append(repo, {"role": "system", "content": text}, **kw)


def user(repo: RepoState, text: Any, **kw: Any) -> Commit:
    """Append a user message."""
    return append(repo, {"role": "user", "content": text}, **kw)


def assistant(repo: RepoState, text: Any, **kw: Any) -> Commit:
    """Append an assistant message."""
    return append(repo, {"role": "assistant", "content": text}, **kw)


def tool_call(repo: RepoState, name: str, arguments: Any, call_id: str | None = None,
              **kw: Any) -> Commit:
    """Append an assistant message calling tool `name` (OpenAI `tool_calls` shape)."""
    return append(repo, tool_call_message(name, arguments, call_id), **kw)


def tool_result(repo: RepoState, call_id: str, content: Any, name: str | None = None,
                **kw: Any) -> Commit:
    """Append the result of tool call `call_id`."""
    return append(repo, tool_result_message(call_id, content, name), **kw)


# -- rewrites of existing entries -------------------------------------------------------------


def _rewrite(repo: RepoState, op: str, indices: Sequence[int], fn: Callable, message: str,
             new_blobs: Sequence[Blob] = (), author: str | None = None,
             meta: dict | None = None) -> Commit:
    def build(parent: Commit | None, snap: Snapshot) -> Change:
        entries = chunked.entries(snap, repo.get_node)
        idx = _check_indices(indices, len(entries))
        old_cost = sum(repo.blob_tokens(entries[i].blob) for i in idx)
        new_entries = fn(entries, idx)
        nodes: list = []
        new = chunked.build(new_entries, nodes.append)
        new_cost = sum(repo.blob_tokens(b.id, b) for b in new_blobs)
        if op in ("pin", "unpin"):
            new_cost = old_cost
        delta = new_cost - old_cost if op not in ("pin", "unpin") else 0
        return Change(new, [*new_blobs, *nodes], op, blobs=[b.id for b in new_blobs],
                      targets=idx, message=message,
                      tokens=old_cost if op == "drop" else new_cost,
                      total_tokens=total_after(repo, parent, snap, delta, new.count),
                      meta=meta)
    return commit_change(repo, build, author)


def edit(repo: RepoState, index: int, message: dict, *, commit_message: str | None = None,
         author: str | None = None) -> Commit:
    """Replace the entry at `index` (its pin flag is kept; the old version stays in history)."""
    check_messages([message])
    blob = new_blob(message)

    def fn(entries: list, idx: list) -> list:
        out = list(entries)
        out[idx[0]] = Entry(blob.id, entries[idx[0]].flags)
        return out
    return _rewrite(repo, "edit", [index], fn,
                    commit_message or f"edit #{index}: {preview(blob.message)}", [blob], author)


def pin(repo: RepoState, *indices: int, commit_message: str | None = None,
        author: str | None = None) -> Commit:
    """Pin entries: kept verbatim by compression, refused by drop without force."""
    return _set_flag(repo, "pin", indices, True, commit_message, author)


def unpin(repo: RepoState, *indices: int, commit_message: str | None = None,
          author: str | None = None) -> Commit:
    """Unpin entries."""
    return _set_flag(repo, "unpin", indices, False, commit_message, author)


def _set_flag(repo: RepoState, op: str, indices: Sequence[int], on: bool, msg: str | None,
              author: str | None) -> Commit:
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
    return _rewrite(repo, op, list(indices), fn, msg or f"{op} {label}", (), author)


def drop(repo: RepoState, *indices: int, commit_message: str | None = None,
         force: bool = False, author: str | None = None) -> Commit:
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
    return _rewrite(repo, "drop", list(indices), fn, commit_message or f"drop {label}", (),
                    author)


# -- transactions and budgets -----------------------------------------------------------------


def transaction(repo: RepoState, message: str | None = None) -> Transaction:
    """Many commits, one ref update: `with repo.transaction(): repo.user(...); ...`."""
    return Transaction(repo)

def strict_budget(repo: RepoState) -> AbstractContextManager[None]:
    """Inside this block, an operation that would cross a budget threshold raises instead."""
    return _strict_budget(repo)


@contextmanager
def _strict_budget(repo: RepoState) -> Iterator[None]:
    prev = repo.budget_strict
    repo.budget_strict = True
    try:
        yield
    finally:
        repo.budget_strict = prev


def strict_tools(repo: RepoState) -> AbstractContextManager[None]:
    """Inside this block, an operation that would break tool-call pairing (a result without
    its call, a call the conversation moves on from; trace_core.toolpairs) raises
    ToolPairingError instead of warning, and changes nothing (also `repo.tools_strict`)."""
    return _strict_tools(repo)


@contextmanager
def _strict_tools(repo: RepoState) -> Iterator[None]:
    prev = repo.tools_strict
    repo.tools_strict = True
    try:
        yield
    finally:
        repo.tools_strict = prev


# -- moves ------------------------------------------------------------------------------------


def reset(repo: RepoState, rev: str, mode: str = "soft") -> str | None:
    """Move the current branch (or detached HEAD) to `rev`.

    soft: the entries after `rev` stay available (ORIG_HEAD; listed by status, re-committed by
    `reapply`). hard: they leave the branch (ORIG_HEAD and the reflog still reach them until gc).
    Returns the previous head id.
    """
    if mode not in ("soft", "hard"):
        raise OperationError(f"unknown reset mode {mode!r} (soft or hard)")
    target = resolve_revision(repo, rev)
    old = repo.head_commit()
    if old is None:
        raise OperationError("nothing to reset: the branch has no commits")
    ref, _ = repo.refs.resolve_target(repo.head_ref)
    publish(repo, ref, to_hex(old), to_hex(target), f"reset --{mode}: moving to {rev}",
            orig_head_message=f"reset --{mode}")
    return to_hex(old)


def reapply(repo: RepoState, commit_message: str | None = None) -> Commit:
    """Commit again, as one append, the entries a `reset --soft` took out (see status)."""
    from .status import undone_entries
    undone = undone_entries(repo)
    if not undone:
        raise OperationError("nothing to reapply: no entries were undone by reset --soft")
    msgs = [u["message"] for u in undone]
    return append_many(repo, msgs,
                       commit_message=commit_message or f"reapply {len(msgs)} undone entries")


def checkout(repo: RepoState, rev: str) -> str | None:
    """Switch HEAD to a branch (symbolic) or detach it at a commit; returns the branch or None."""
    if repo.head_ref != "HEAD":
        raise OperationError(f"this view is fixed to {repo.head_ref}; checkout moves the shared "
                             "HEAD (use the repository itself, or another worktree view)")
    full = resolve_ref_name(repo, rev) if rev != "HEAD" else None
    if full is not None and full.startswith("refs/heads/"):
        tip = repo.refs.resolve(full)
        warning = verdict(repo, "checkout", move_problems(
            repo, repo.head_commit(), bytes.fromhex(tip) if tip else None))
        set_symbolic_ref(repo, "HEAD", full, message=f"checkout: moving to {rev}")
    else:
        full = None
        target = resolve_revision(repo, rev)
        warning = verdict(repo, "checkout", move_problems(repo, repo.head_commit(), target))
        set_ref(repo, "HEAD", ANY, to_hex(target),
                message=f"checkout: moving to {to_hex(target)[:12]}")
    if warning:
        repo.warn(warning)
    return full


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
