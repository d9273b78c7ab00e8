"""Firing the hook events (trace_core.hooks) from the plumbing, after each ref move is durable:
`ref` for the move, `commit` for each new commit it makes reachable, and the operation event
(merge, compress, ...) that the move finishes. Callers check `repo.hooks.active` first, so an
opened repository without callbacks pays one attribute read per move."""

from __future__ import annotations

from collections.abc import Sequence

from ..hooks import HookEvent, is_operation
from ..ids import ZERO_HEX
from ..objects import Commit
from ..state import RepoState


def _value(v: str | None) -> str | None:
    return None if v is None or v == ZERO_HEX else v


def _fire(repo: RepoState, event: str, ref: str, old: str | None, new: str | None,
          message: str = "", commit: Commit | None = None,
          commits: tuple[Commit, ...] = ()) -> None:
    repo.hooks.fire(HookEvent(event, repo.trace_dir, repo.agent_name, ref, old, new, message,
                              commit, commits), repo.warn)


def old_value(repo: RepoState, name: str, expected: object) -> str | None:
    """A ref's value before a move expecting `expected` (read when that is ANY)."""
    if expected is None or isinstance(expected, str):
        return expected
    entry = repo.refs.read_entry(name)
    return _value(entry.new) if entry is not None else None


def ref_moved(repo: RepoState, name: str, old: str | None, new: str | None,
              message: str) -> list[Commit]:
    """Fire `ref` for one move, then `commit` for the written commits it makes reachable;
    returns those commits."""
    _fire(repo, "ref", name, _value(old), _value(new), message)
    made = repo.hooks.reached(new)
    for c in made:
        _fire(repo, "commit", name, None, c.hex, c.message, commit=c)
    return made


def moved_after(repo: RepoState, name: str, new: str, message: str) -> list[Commit]:
    """As ref_moved, for a move whose old value is read from the reflog record just written."""
    entry = repo.refs.read_entry(name)
    old = entry.old if entry is not None and entry.new == new else None
    return ref_moved(repo, name, old, new, message)


def committed(repo: RepoState, ref: str, old: str | None, commits: Sequence[Commit],
              message: str) -> None:
    """After commit_change or a transaction moved `ref` from `old` to the last of `commits`:
    `ref`, then per commit `commit` and, for an operation's commit (compress, spawn, ...), its
    operation event."""
    _fire(repo, "ref", ref, _value(old), commits[-1].hex, message)
    for c in commits:
        _fire(repo, "commit", ref, None, c.hex, c.message, commit=c)
        if is_operation(c.op):
            parent = c.parents[0].hex() if c.parents else None
            _fire(repo, c.op, ref, parent, c.hex, c.message, commits=(c,))


def published(repo: RepoState, ref: str, old: str | None, new: str, message: str,
              made: Sequence[Commit]) -> None:
    """After `publish` moved `ref` (its ref and commit events fired with the move): the event of
    the operation its reflog message names (merge, reset, rebase, cherry-pick, revert)."""
    op = message.split(":", 1)[0].split(" ", 1)[0]
    if is_operation(op):
        _fire(repo, op, ref, _value(old), new, message, commits=tuple(made))
