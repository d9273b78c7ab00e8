"""The context at a commit: its entries, its messages, and its materialized prompt."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from . import chunked
from .errors import ObjectError
from .objects import Entry, Snapshot
from .plumbing.revparse import resolve_revision
from .state import RepoState


def entries_at(repo: RepoState, commit_id: bytes | None) -> list[Entry]:
    """The entries of the context at commit `commit_id` (none for None)."""
    if commit_id is None:
        return []
    snap = repo.get_snapshot(repo.get_commit(commit_id).snapshot)
    return chunked.entries(snap, repo.get_node)


def entry_messages(repo: RepoState, entries: Sequence[Entry]) -> list[dict]:
    """The stored message of each entry."""
    return [repo.get_blob(e.blob).message for e in entries]


def rev_or_none(repo: RepoState, rev: str) -> bytes | None:
    """The commit `rev` names; None for HEAD on a branch without commits."""
    if rev == "HEAD" and repo.head_commit() is None:
        return None
    return resolve_revision(repo, rev)


def messages(repo: RepoState, rev: str = "HEAD") -> list[dict]:
    """The messages of the context at `rev`, in order."""
    return entry_messages(repo, entries_at(repo, rev_or_none(repo, rev)))


class _Read:
    """A context read for rendering: its snapshot, messages, blob ids and flags."""

    __slots__ = ("snap", "msgs", "ids", "flags")

    def __init__(self, snap: Snapshot, msgs: list[dict], ids: list[str], flags: list[int]):
        self.snap, self.msgs, self.ids, self.flags = snap, msgs, ids, flags


def _read_entries(repo: RepoState, snap: Snapshot, entries: list[Entry]) -> _Read:
    return _Read(snap, entry_messages(repo, entries), [e.blob.hex() for e in entries],
                 [e.flags for e in entries])


def _read(repo: RepoState, snap: Snapshot | None) -> tuple[list, list, list]:
    """Messages, blob ids and flags of `snap` (lists the caller must not change;
    they are kept for the next read, in `store.derived`); when `snap` is the context this
    store's last render read with entries appended, only those are read (an agent's loop:
    append, materialize, append, ...)."""
    if snap is None:
        return [], [], []
    last = repo.store.derived.get("last_read")
    new = None
    if last is not None:
        try:
            new = chunked.appended(last.snap, snap, repo.get_node)
        except ObjectError:     # the last context's nodes are gone (pruned): read it whole
            new = None
    if last is None or new is None:
        r = _read_entries(repo, snap, chunked.entries(snap, repo.get_node))
    elif new:               # an append to the last context read: only the new entries
        r = _read_entries(repo, snap, new)
        r = _Read(snap, last.msgs + r.msgs, last.ids + r.ids, last.flags + r.flags)
    else:
        r = last
    repo.store.derived["last_read"] = r
    return r.msgs, r.ids, r.flags


def materialize(repo: RepoState, fmt: str = "openai", rev: str = "HEAD",
                repair: str | None = None) -> Any:
    """The prompt for the context at `rev`: openai (list), anthropic (dict), text, json.
    `repair` (drop-orphans or placeholder, trace_core.toolpairs.repair) repairs broken tool-call
    pairs and pending calls in the prompt, each repair reported through `repo.warn`; the stored
    context is unchanged."""
    from .bulk import no_gc_pauses
    from .materialize import keep, kept, render
    cid = rev_or_none(repo, rev)
    snap = repo.get_snapshot(repo.get_commit(cid).snapshot) if cid is not None else None
    key = (snap.id if snap is not None else None, fmt, repair)
    with no_gc_pauses():
        hit = kept(repo.store, key)
    if hit is not None:
        for note in hit[1]:
            repo.warn(f"repaired: {note}")
        return hit[0]
    with no_gc_pauses():
        msgs, ids, flags = _read(repo, snap)
        notes: list[str] = []
        if repair is not None:
            from .toolpairs import repair as repair_pass
            fixed = repair_pass(msgs, repair)
            notes = fixed.notes
            msgs = fixed.messages
            ids = ["" if o is None else ids[o] for o in fixed.origins]
            flags = [0 if o is None else flags[o] for o in fixed.origins]
        out = keep(repo.store, key, render(fmt, msgs, ids, flags), notes)
    for note in notes:
        repo.warn(f"repaired: {note}")
    return out
