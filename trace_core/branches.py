"""Branches and tags: create, list, delete, rename, switch (docs/porcelain.md, "Branches")."""

from __future__ import annotations

from .errors import InputError, MissingObject, OperationError, RefNotFound
from .history import checkout
from .ids import to_hex
from .plumbing.refs import ANY, create_ref, delete_ref, rename_ref, set_ref, set_symbolic_ref
from .plumbing.revparse import resolve_revision
from .refs import check_writable
from .state import RepoState

HEADS = "refs/heads/"
TAGS = "refs/tags/"


def _full(prefix: str, name: str) -> str:
    if not isinstance(name, str) or not name:
        raise InputError("a branch or tag needs a name")
    full = name if name.startswith(prefix) else prefix + name
    if name.startswith("refs/") and not name.startswith(prefix):
        raise InputError(f"{name} is not under {prefix}")
    if full in (HEADS + "HEAD",) or name in ("@",) or name.startswith("-"):
        raise InputError(f"{name!r} is not a valid name here")
    check_writable(full)
    return full


def _guard(repo: RepoState, *refs: str) -> None:
    """Refuse to move, rename or delete the ref a stopped merge or rebase will move."""
    from .merge import state as mergestate
    st = mergestate.load(repo)
    if st is not None and st.ref in refs:
        raise mergestate.MergeInProgress(
            f"a {st.op} of {st.ref} is in progress; finish it ('trace {st.op} --continue') "
            f"or abort it ('trace {st.op} --abort') first")


def branch_create(repo: RepoState, name: str, start: str = "HEAD", force: bool = False) -> str:
    """Create branch `name` at `start` (any revision); returns its full ref name."""
    full = _full(HEADS, name)
    target = to_hex(resolve_revision(repo, start))
    if force:
        if full == repo.head_branch():
            raise OperationError(f"cannot force-update {name}: it is the current branch")
        _guard(repo, full)
        set_ref(repo, full, ANY, target, message=f"branch: reset to {start}")
    else:
        if repo.refs.read(full) is not None:
            raise OperationError(f"a branch named {name!r} already exists")
        create_ref(repo, full, target, message=f"branch: created from {start}")
    return full


def branches(repo: RepoState, remotes: bool = False, local: bool = True) -> list[dict]:
    """Every branch: name, id, current (bool), summary of its tip; with `remotes`, the
    remote-tracking branches too (named `origin/main`, with `remote: true`; docs/remotes.md),
    and only them when `local` is False."""
    cur = repo.head_branch()
    out = []
    prefixes = ([HEADS] if local else []) + (["refs/remotes/"] if remotes else [])
    for prefix in prefixes:
        for name, raw in repo.refs.list(prefix):
            if raw.startswith("ref:"):
                continue
            row = {"name": name[len(prefix):], "ref": name, "id": raw,
                   "current": name == cur, "summary": _summary(repo, raw)}
            if remotes:
                row["remote"] = prefix != HEADS
            out.append(row)
    return out


def _summary(repo: RepoState, hexid: str) -> str:
    try:
        return repo.get_commit(bytes.fromhex(hexid)).summary
    except MissingObject:  # a dangling ref: fsck reports it; listing still works
        return "(missing commit)"
    # (a corrupt or unreadable tip is an error, never listed as "missing" with exit 0)


def branch_delete(repo: RepoState, name: str, force: bool = False) -> str:
    """Delete a branch (and its reflog). Without `force`, only if HEAD contains it."""
    full = _full(HEADS, name)
    if full == repo.head_branch():
        raise OperationError(f"cannot delete branch {name!r}: it is the current branch")
    raw = repo.refs.read(full)
    if raw is None:
        raise RefNotFound(f"branch {name!r} not found")
    _guard(repo, full)
    if not force and not raw.startswith("ref:"):
        head = repo.head_commit()
        if head is None or not repo.index.is_ancestor(bytes.fromhex(raw), head):
            raise OperationError(f"branch {name!r} is not merged into HEAD; use force "
                                 "(-D) to delete it anyway")
    delete_ref(repo, full, raw, message="branch: deleted")
    return raw


def branch_rename(repo: RepoState, old: str, new: str, force: bool = False) -> str:
    """Rename a branch with its reflog; HEAD follows if it pointed there."""
    src, dst = _full(HEADS, old), _full(HEADS, new)
    current = repo.head_branch() == src and repo.head_ref == "HEAD"
    _guard(repo, src, dst)
    rename_ref(repo, src, dst, message=f"branch: renamed {src} to {dst}", force=force)
    if current:
        set_symbolic_ref(repo, "HEAD", dst, message=f"branch: renamed {src} to {dst}")
    return dst


def switch(repo: RepoState, name: str, create: bool = False, start: str = "HEAD",
           detach: bool = False) -> str | None:
    """Make HEAD point to branch `name` (creating it at `start` with `create`), or detach
    HEAD at revision `name`. Refused while a merge or rebase is stopped."""
    from .merge import state as mergestate
    mergestate.refuse_if_in_progress(repo)
    if repo.head_ref != "HEAD":
        raise OperationError(f"this view is fixed to {repo.head_ref}; switch moves the "
                             "shared HEAD")
    if detach:
        return checkout(repo, to_hex(resolve_revision(repo, name)))
    full = _full(HEADS, name)
    if not create and repo.refs.read(full) is None:
        raise RefNotFound(f"no branch named {name!r} (create it with -c)")
    from .plumbing.integrity import move_problems, verdict
    tip = to_hex(resolve_revision(repo, start)) if create else repo.refs.resolve(full)
    warning = verdict(repo, "switch", move_problems(repo, repo.head_commit(),
                                                    bytes.fromhex(tip) if tip else None))
    if create:
        branch_create(repo, name, start)
    set_symbolic_ref(repo, "HEAD", full, message=f"switch: moving to {name}")
    if warning:
        repo.warn(warning)
    return full


def tag_create(repo: RepoState, name: str, rev: str = "HEAD", force: bool = False) -> str:
    full = _full(TAGS, name)
    target = to_hex(resolve_revision(repo, rev))
    if force:
        set_ref(repo, full, ANY, target, message=f"tag: {rev}")
    elif repo.refs.read(full) is not None:
        raise OperationError(f"tag {name!r} already exists")
    else:
        create_ref(repo, full, target, message=f"tag: {rev}")
    return full


def tags(repo: RepoState) -> list[dict]:
    return [{"name": n[len(TAGS):], "ref": n, "id": raw, "summary": _summary(repo, raw)}
            for n, raw in repo.refs.list(TAGS) if not raw.startswith("ref:")]


def tag_delete(repo: RepoState, name: str) -> str:
    full = _full(TAGS, name)
    raw = repo.refs.read(full)
    if raw is None:
        raise RefNotFound(f"tag {name!r} not found")
    delete_ref(repo, full, raw, message="tag: deleted")
    return raw
