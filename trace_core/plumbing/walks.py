"""History walks over the commit index: `rev-list`, `merge-base`, ancestry."""

from __future__ import annotations

from collections.abc import Sequence

from ..ids import RawId, to_hex
from ..state import RepoState
from .revparse import resolve_commit, resolve_revision


def rev_list(repo: RepoState, include: Sequence[str], exclude: Sequence[str] = (),
             limit: int | None = None, first_parent: bool = False) -> list:
    """Index rows of the commits reachable from `include` and not from `exclude`, newest first."""
    inc = [resolve_revision(repo, r) for r in include]
    exc = [resolve_revision(repo, r) for r in exclude]
    return list(repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent))


def rev_list_ids(repo: RepoState, include: Sequence[str], exclude: Sequence[str] = (),
                 limit: int | None = None, first_parent: bool = False) -> list[RawId]:
    """The ids `rev_list` lists, read without loading whole index rows (`trace rev-list`)."""
    inc = [resolve_commit(repo, r) for r in include]
    exc = [resolve_commit(repo, r) for r in exclude]
    return [r[0] for r in repo.index.walk_raw(inc, exc, limit, first_parent)]


def merge_base(repo: RepoState, a: str, b: str, all_bases: bool = False) -> list[str]:
    """The best common ancestor of `a` and `b` (all of them with `all_bases`), as hex ids."""
    bases = repo.index.merge_bases(resolve_revision(repo, a), resolve_revision(repo, b))
    return [to_hex(x) for x in (bases if all_bases else bases[:1])]


def is_ancestor(repo: RepoState, a: str, b: str) -> bool:
    """Whether commit `a` is an ancestor of (or equal to) commit `b`."""
    return repo.index.is_ancestor(resolve_revision(repo, a), resolve_revision(repo, b))
