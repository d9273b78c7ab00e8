"""Usage notes: API-reported token usage recorded for a commit after it was made (a commit is
immutable), kept as git keeps notes: a chain of `note` commits on `refs/notes/usage` of the
namespace that recorded them (docs/FORMAT.md §6.4.1a)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from .errors import CorruptObject, RefConflict
from .ids import RawId, from_hex, to_hex
from .plumbing.objects import commit_tree, write_snapshot
from .plumbing.refs import set_ref
from .plumbing.revparse import resolve_revision
from .publicmeta import usage_meta
from .state import RepoState

NOTES_REF = "refs/notes/usage"
_ATTEMPTS = 50


def record_usage(repo: RepoState, usage: dict, rev: str = "HEAD") -> str:
    """Record `usage` (as `append(usage=)` takes it: OpenAI's or Anthropic's usage dict, plus
    `provider`, `model`, `trace_id`, `cost_usd`) for commit `rev` after the fact, as a note on
    `refs/notes/usage`; the latest note of a commit wins. Returns the note commit's id (hex).
    InputError for a bad usage (nothing written); concurrent recorders all land."""
    shaped = usage_meta(usage)
    target = to_hex(resolve_revision(repo, rev))
    empty = write_snapshot(repo, [])
    meta = {"note": {"commit": target, "usage": shaped}}
    for _ in range(_ATTEMPTS):
        old = repo.refs.read(NOTES_REF)
        parents = [from_hex(old)] if old else []
        note = commit_tree(repo, empty.id, parents, op="note", message=f"usage of {target[:12]}",
                           meta=meta, tokens=0, total_tokens=0)
        try:
            set_ref(repo, NOTES_REF, old, to_hex(note.id), message=f"record-usage: {target[:12]}")
        except RefConflict:
            continue
        return to_hex(note.id)
    raise RefConflict(f"{NOTES_REF} kept moving ({_ATTEMPTS} attempts); nothing was recorded")


def usage_notes(repo: RepoState) -> dict[bytes, dict]:
    """The recorded usage of each noted commit (raw id -> usage), the latest note winning."""
    out: dict[bytes, dict] = {}
    for target, usage in _notes(repo):
        out.setdefault(target, usage)
    return out


def usage_note(repo: RepoState, cid: RawId) -> dict | None:
    """The latest usage recorded for commit `cid`, or None (reads notes back to that one)."""
    return next((usage for target, usage in _notes(repo) if target == cid), None)


def _notes(repo: RepoState) -> Iterator[tuple[RawId, dict]]:
    """(commit, usage) of each note, newest first."""
    tip = repo.refs.read(NOTES_REF)
    seen = set()
    oid: RawId | None = from_hex(tip) if tip else None
    while oid is not None and oid not in seen:
        seen.add(oid)
        c = repo.get_commit(oid)
        yield _note(c.meta, oid)
        oid = RawId(c.parents[0]) if c.parents else None


def _note(meta: Any, oid: RawId) -> tuple[RawId, dict]:
    note = meta.get("note") if isinstance(meta, dict) else None
    target = note.get("commit") if isinstance(note, dict) else None
    usage = note.get("usage") if isinstance(note, dict) else None
    if (not isinstance(target, str) or len(target) != 64 or not isinstance(usage, dict)
            or any(c not in "0123456789abcdef" for c in target)):
        raise CorruptObject(f"{NOTES_REF}: commit {to_hex(oid)[:12]} is not a usage note")
    return from_hex(target), usage
