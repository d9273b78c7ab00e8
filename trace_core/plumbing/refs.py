"""Moving refs: every change to a ref's value goes through these functions (compare-and-swap
against an expected old value, reflog message), and the `update-ref`, `rev-parse` and
`for-each-ref` plumbing commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError, RefError, RefNotFound
from ..ids import ZERO_HEX, to_hex
from ..objects import Commit
from ..refs import ANY, RefLogEntry, check_ref_format
from ..state import RepoState
from . import events
from .revparse import resolve_any, resolve_ref_name, resolve_revision

__all__ = ["ANY", "create_ref", "delete_ref", "for_each_ref", "full_ref_name", "move_refs",
           "reflog", "rename_ref", "rev_parse", "set_ref", "set_symbolic_ref", "symbolic_ref",
           "update_ref"]


def set_ref(repo: RepoState, name: str, expected: Any, new: str, message: str = "", *,
            deref: bool = False) -> None:
    """Set `name` to commit `new` (hex) if it holds `expected` (hex, None: absent, ANY)."""
    target = repo.refs.set_if_equals(name, expected, new, message=message, deref=deref)
    if repo.hooks.active:
        events.moved_after(repo, target, new, message)


def create_ref(repo: RepoState, name: str, new: str, message: str = "") -> None:
    """Create `name` at `new` (hex); RefConflict if it exists."""
    target = repo.refs.add_if_new(name, new, message=message)
    if repo.hooks.active:
        events.ref_moved(repo, target, None, new, message)


def delete_ref(repo: RepoState, name: str, expected: Any = ANY, message: str = "", *,
               deref: bool = False) -> None:
    """Delete `name` (and its reflog) if it holds `expected`."""
    if not repo.hooks.active:
        repo.refs.remove_if_equals(name, expected, message=message, deref=deref)
        return
    target = repo.refs.resolve_target(name)[0] if deref else name
    old = events.old_value(repo, target, expected)
    target = repo.refs.remove_if_equals(name, expected, message=message, deref=deref)
    events.ref_moved(repo, target, old, None, message)


def set_symbolic_ref(repo: RepoState, name: str, target: str, message: str = "") -> None:
    """Point `name` (HEAD) at the ref `target`."""
    repo.refs.set_symbolic(name, target, message=message)
    if repo.hooks.active:
        events.moved_after(repo, name, f"ref:{target}", message)


def rename_ref(repo: RepoState, old: str, new: str, message: str = "",
               force: bool = False) -> None:
    """Rename a ref with its reflog."""
    value = events.old_value(repo, old, ANY) if repo.hooks.active else None
    replaced = events.old_value(repo, new, ANY) if repo.hooks.active else None
    repo.refs.rename(old, new, message=message, force=force)
    if repo.hooks.active:
        events.ref_moved(repo, old, value, None, message)
        events.ref_moved(repo, new, replaced, value, message)


def move_refs(repo: RepoState, updates: Sequence[tuple], message: str) -> list[Commit]:
    """Several (name, expected, new hex[, message]) updates, all or none (one ref
    transaction); names are not dereferenced. Returns the commits written with
    `write_change` that the moves made reachable (when hook callbacks are registered)."""
    tx = repo.refs.transaction()
    for name, expected, new, *msg in updates:
        tx.update(name, expected, new, message=msg[0] if msg else message, deref=False)
    tx.commit()
    made: list[Commit] = []
    if repo.hooks.active:
        for name, _expected, new, *msg in updates:
            made += events.moved_after(repo, name, new, msg[0] if msg else message)
    return made


def update_ref(repo: RepoState, name: str, new: str | None, old: str | None = None, *,
               delete: bool = False, message: str = "", deref: bool = True) -> None:
    """Set (or delete) a ref to a revision, checking it still holds revision `old` when given
    (compare-and-swap; "" or the zero id: must not exist)."""
    expected: Any = ANY
    if old is not None:
        expected = None if old in ("", ZERO_HEX) else to_hex(resolve_any(repo, old))
    if delete:
        delete_ref(repo, name, expected, message=message, deref=deref)
        return
    if new is None:
        raise InputError("update-ref needs a new value")
    set_ref(repo, name, expected, to_hex(resolve_revision(repo, new)), message=message,
            deref=deref)


def rev_parse(repo: RepoState, expr: str, commit: bool = False) -> str:
    """The full hex id a revision expression (or object id) names; with `commit`, it must name
    a commit (`rev-parse --verify`)."""
    return to_hex(resolve_revision(repo, expr) if commit else resolve_any(repo, expr))


def full_ref_name(repo: RepoState, name: str) -> str | None:
    """The full name of the ref `name` abbreviates, HEAD being its branch when it is on one
    (`rev-parse --symbolic-full-name`); None if `name` is not a ref."""
    full = resolve_ref_name(repo, name)
    if full == "HEAD" and repo.head_branch():
        full = repo.head_branch()
    return full


def symbolic_ref(repo: RepoState, name: str, target: str | None = None,
                 message: str = "") -> str:
    """Read the symbolic ref `name` (its target), or point it at the ref `target`, which must
    be a valid name under refs/ (`symbolic-ref`)."""
    if target is None:
        raw = repo.refs.read(name)
        if raw is None or not raw.startswith("ref:"):
            raise RefError(f"ref {name} is not a symbolic ref")
        return raw[4:]
    check_ref_format(target)
    if not target.startswith("refs/"):
        raise InputError(f"refusing to point {name} outside refs/: {target}")
    set_symbolic_ref(repo, name, target, message=message)
    return target


def reflog(repo: RepoState, ref: str = "HEAD", limit: int | None = None) -> list[RefLogEntry]:
    """How `ref` moved, newest first; HEAD on a branch shows the branch's log (`reflog`)."""
    full = full_ref_name(repo, ref)
    if full is None:
        raise RefNotFound(f"unknown ref {ref}")
    return repo.refs.reflog(full)[:limit]


def for_each_ref(repo: RepoState, prefix: str = "refs/") -> list:
    """(name, commit hex or None, symbolic target or None) for every ref under `prefix`."""
    out = []
    for name, raw in repo.refs.list(prefix):
        if raw.startswith("ref:"):
            out.append((name, repo.refs.resolve(name), raw[4:]))
        else:
            out.append((name, raw, None))
    return out
