"""Revision expressions: names, short ids, `~n`, `^n`, `@{n}` (docs/plumbing.md, "Revisions").

    rev      := base ['@{' n '}'] suffix*
    base     := 'HEAD' | '@' | ref name | short or full hex id
    suffix   := '~' [n]   (n-th first-parent ancestor, default 1)
              | '^' [n]   (n-th parent, default 1; '^0' is the commit itself)
A name is looked up as given (HEAD, pseudo-refs, refs/...), then as refs/<name>, refs/tags/<name>,
refs/heads/<name>; refs win over short ids. `name@{n}` is the value the ref had n moves ago (its
reflog); on a symbolic HEAD, `HEAD@{n}` and `@{n}` read the reflog of the branch HEAD points to.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from ..errors import AmbiguousObjectId, InvalidRefName, RefNotFound, RevisionError
from ..ids import MIN_SHORT, RawId, from_hex, is_hex_id, is_hex_prefix, to_hex

if TYPE_CHECKING:
    from collections.abc import Iterable

    from ..state import RepoState

_SUFFIX_RE = re.compile(r"([~^])(\d*)")
_REFLOG_RE = re.compile(r"@\{(\d+)\}")
PSEUDO = ("HEAD", "ORIG_HEAD", "MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
MAX_EXPR = 1024


def _split(expr: str) -> tuple:
    """(base, reflog index or None, [(op, n), ...])."""
    m = re.search(r"[~^]", expr)
    head, rest = (expr[:m.start()], expr[m.start():]) if m else (expr, "")
    reflog = None
    at = head.find("@{")
    if at >= 0:
        rm = _REFLOG_RE.fullmatch(head[at:])
        if not rm:
            raise RevisionError(f"bad reflog selector in {expr!r}")
        reflog = int(rm.group(1))
        head = head[:at] or "HEAD"
    suffixes = []
    pos = 0
    while pos < len(rest):
        sm = _SUFFIX_RE.match(rest, pos)
        if not sm:
            raise RevisionError(f"cannot parse revision {expr!r}")
        suffixes.append((sm.group(1), int(sm.group(2)) if sm.group(2) else None))
        pos = sm.end()
    return head, reflog, suffixes


def ref_candidates(name: str) -> list:
    if name in PSEUDO or name.startswith("refs/"):
        return [name]
    return [f"refs/{name}", f"refs/tags/{name}", f"refs/heads/{name}", f"refs/remotes/{name}",
            f"refs/remotes/{name}/HEAD"]


def resolve_ref_name(repo: RepoState, name: str) -> str | None:
    """The full name of the ref `name` abbreviates, or None."""
    for cand in ref_candidates(name):
        try:
            if repo.refs.read(cand) is not None:
                return cand
        except InvalidRefName:
            continue
    return None


def _base(repo: RepoState, base: str, reflog: int | None) -> RawId:
    if base == "@":
        base = "HEAD"
    if base == "HEAD" and repo.head_ref != "HEAD":  # a worktree view: HEAD is its branch
        full: str | None = repo.head_ref
    else:
        full = resolve_ref_name(repo, base)
    if full is not None:
        if reflog is not None:
            target = full
            if full == "HEAD":
                target = repo.head_branch() or full
            try:
                return from_hex(repo.refs.resolve_at(target, reflog))
            except RefNotFound as exc:
                raise RevisionError(str(exc)) from None
        value = repo.refs.resolve(full)
        if value is None:
            raise RevisionError(f"{base} does not point to a commit yet (unborn branch)")
        return from_hex(value)
    if reflog is not None:
        raise RevisionError(f"unknown ref {base!r}")
    if base == "HEAD":
        raise RevisionError("HEAD does not point to a commit yet (empty repository)")
    if is_hex_id(base):
        return from_hex(base)
    if is_hex_prefix(base):
        return resolve_short(repo, base)
    raise RevisionError(f"unknown revision {base!r}")


def resolve_short(repo: RepoState, prefix: str) -> RawId:
    if len(prefix) < MIN_SHORT:
        raise RevisionError(f"short id {prefix!r} is shorter than {MIN_SHORT} characters")
    ids = sorted(repo.store.ids_with_prefix(prefix))
    if not ids:
        raise RevisionError(f"no object with id starting {prefix}")
    if len(ids) > 1:
        raise AmbiguousObjectId(prefix, [to_hex(i) for i in ids])
    return RawId(ids[0])


def resolve_any(repo: RepoState, rev: str) -> RawId:
    """A revision or the id of any object (blob, node, snapshot)."""
    _check_expr(rev)
    base, reflog, suffixes = _split(rev)
    oid = _base(repo, base, reflog)
    for op, n in suffixes:
        oid = _step(repo, oid, op, n)
    return oid


def resolve_revision(repo: RepoState, rev: str) -> RawId:
    """A revision expression to a commit id; RevisionError if it names no commit."""
    oid = resolve_any(repo, rev)
    repo.get_commit(oid)
    return oid


def _check_expr(expr: object) -> None:
    if not isinstance(expr, str) or not expr:
        raise RevisionError("empty revision")
    if len(expr) > MAX_EXPR or any(ord(c) < 0x20 or c == "\x7f" for c in expr):
        raise RevisionError(f"invalid revision {expr[:40]!r}")


def _step(repo: RepoState, oid: RawId, op: str, n: int | None) -> RawId:
    commit = repo.get_commit(oid)
    if op == "^":
        n = 1 if n is None else n
        if n == 0:
            return oid
        if n > len(commit.parents):
            raise RevisionError(f"{to_hex(oid)[:12]} has no parent {n}")
        return RawId(commit.parents[n - 1])
    n = 1 if n is None else n
    for _ in range(n):
        if not commit.parents:
            raise RevisionError(f"{to_hex(oid)[:12]} has no parent")
        oid = RawId(commit.parents[0])
        commit = repo.get_commit(oid)
    return oid


def split_ranges(revs: Iterable[str]) -> tuple[list[str], list[str]]:
    """`A..B` and `^A` as git reads them: (included, excluded) revision expressions."""
    include, exclude = [], []
    for r in revs:
        if ".." in r and "..." not in r:
            a, b = r.split("..", 1)
            exclude.append(a or "HEAD")
            include.append(b or "HEAD")
        elif r.startswith("^") and len(r) > 1:
            exclude.append(r[1:])
        else:
            include.append(r)
    return include, exclude


def resolve_commit(repo: RepoState, expr: str) -> RawId:
    """resolve_revision(repo, expr), without reading the commit from the object store when the
    commit index already has it (only commits are indexed): a walk over the index then opens no pack
    and no journal."""
    oid = resolve_any(repo, expr)
    if not repo.index.has(oid):
        repo.get_commit(oid)   # not a commit, or missing: the errors resolve_revision raises
    return oid
