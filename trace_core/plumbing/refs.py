"""Moving refs: every change to a ref's value goes through these functions (compare-and-swap
against an expected old value, reflog message), and the `update-ref`, `rev-parse` and
`for-each-ref` plumbing commands."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from ..ids import ZERO_HEX, to_hex
from ..refs import ANY
from ..state import RepoState
from .revparse import resolve_any, resolve_revision

__all__ = ["ANY", "create_ref", "delete_ref", "for_each_ref", "move_refs", "rename_ref",
           "rev_parse", "set_ref", "set_symbolic_ref", "update_ref"]


def set_ref(repo: RepoState, name: str, expected: Any, new: str, message: str = "", *,
            deref: bool = False) -> None:
    """Set `name` to commit `new` (hex) if it holds `expected` (hex, None: absent, ANY)."""
    repo.refs.set_if_equals(name, expected, new, message=message, deref=deref)


def create_ref(repo: RepoState, name: str, new: str, message: str = "") -> None:
    """Create `name` at `new` (hex); RefConflict if it exists."""
    repo.refs.add_if_new(name, new, message=message)


def delete_ref(repo: RepoState, name: str, expected: Any = ANY, message: str = "", *,
               deref: bool = True) -> None:
    """Delete `name` (and its reflog) if it holds `expected`."""
    repo.refs.remove_if_equals(name, expected, message=message, deref=deref)


def set_symbolic_ref(repo: RepoState, name: str, target: str, message: str = "") -> None:
    """Point `name` (HEAD) at the ref `target`."""
    repo.refs.set_symbolic(name, target, message=message)


def rename_ref(repo: RepoState, old: str, new: str, message: str = "",
               force: bool = False) -> None:
    """Rename a ref with its reflog."""
    repo.refs.rename(old, new, message=message, force=force)


def move_refs(repo: RepoState, updates: Sequence[tuple], message: str) -> None:
    """Several (name, expected, new hex[, message]) updates, all or none (one ref
    transaction); names are not dereferenced."""
    tx = repo.refs.transaction()
    for name, expected, new, *msg in updates:
        tx.update(name, expected, new, message=msg[0] if msg else message, deref=False)
    tx.commit()


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


def rev_parse(repo: RepoState, expr: str) -> str:
    """The full hex id a revision expression (or object id) names."""
    return to_hex(resolve_any(repo, expr))


def for_each_ref(repo: RepoState, prefix: str = "refs/") -> list:
    """(name, commit hex or None, symbolic target or None) for every ref under `prefix`."""
    out = []
    for name, raw in repo.refs.list(prefix):
        if raw.startswith("ref:"):
            out.append((name, repo.refs.resolve(name), raw[4:]))
        else:
            out.append((name, raw, None))
    return out
