"""Branches and tags: create, list, delete, rename, switch (docs/porcelain.md, "Branches")."""

from __future__ import annotations

from typing import List, Optional

from .errors import InputError, OperationError, RefNotFound
from .ids import to_hex

HEADS = "refs/heads/"
TAGS = "refs/tags/"


def _full(prefix: str, name: str) -> str:
    from .refs import check_writable
    if not isinstance(name, str) or not name:
        raise InputError("a branch or tag needs a name")
    full = name if name.startswith(prefix) else prefix + name
    if name.startswith("refs/") and not name.startswith(prefix):
        raise InputError(f"{name} is not under {prefix}")
    if full in (HEADS + "HEAD",) or name in ("@",) or name.startswith("-"):
        raise InputError(f"{name!r} is not a valid name here")
    check_writable(full)
    return full


class BranchOps:
    """Mixed into Repository."""

    def _guard(self, *refs: str) -> None:
        """Refuse to move, rename or delete the ref a stopped merge or rebase will move."""
        from . import mergestate
        st = mergestate.load(self)
        if st is not None and st.ref in refs:
            raise mergestate.MergeInProgress(
                f"a {st.op} of {st.ref} is in progress; finish it ('trace {st.op} --continue') "
                f"or abort it ('trace {st.op} --abort') first")

    # -- branches ----------------------------------------------------------------------------
    def branch_create(self, name: str, start: str = "HEAD", force: bool = False) -> str:
        """Create branch `name` at `start` (any revision); returns its full ref name."""
        full = _full(HEADS, name)
        target = to_hex(self.resolve(start))
        if force:
            if full == self.head_branch():
                raise OperationError(f"cannot force-update {name}: it is the current branch")
            self._guard(full)
            self.refs.set_if_equals(full, _any(), target, message=f"branch: reset to {start}",
                                    deref=False)
        else:
            if self.refs.read(full) is not None:
                raise OperationError(f"a branch named {name!r} already exists")
            self.refs.add_if_new(full, target, message=f"branch: created from {start}")
        return full

    def branches(self) -> List[dict]:
        """Every branch: name, id, current (bool), summary of its tip."""
        cur = self.head_branch()
        out = []
        for name, raw in self.refs.list(HEADS):
            if raw.startswith("ref:"):
                continue
            out.append({"name": name[len(HEADS):], "ref": name, "id": raw,
                        "current": name == cur, "summary": self._summary(raw)})
        return out

    def _summary(self, hexid: str) -> str:
        try:
            return self.get_commit(bytes.fromhex(hexid)).summary
        except Exception:  # a dangling ref: fsck reports it; listing still works
            return "(missing commit)"

    def branch_delete(self, name: str, force: bool = False) -> str:
        """Delete a branch (and its reflog). Without `force`, only if HEAD contains it."""
        full = _full(HEADS, name)
        if full == self.head_branch():
            raise OperationError(f"cannot delete branch {name!r}: it is the current branch")
        raw = self.refs.read(full)
        if raw is None:
            raise RefNotFound(f"branch {name!r} not found")
        self._guard(full)
        if not force and not raw.startswith("ref:"):
            head = self.head_commit()
            if head is None or not self.index.is_ancestor(bytes.fromhex(raw), head):
                raise OperationError(f"branch {name!r} is not merged into HEAD; use force "
                                     "(-D) to delete it anyway")
        self.refs.remove_if_equals(full, raw, message="branch: deleted")
        return raw

    def branch_rename(self, old: str, new: str, force: bool = False) -> str:
        """Rename a branch with its reflog; HEAD follows if it pointed there."""
        src, dst = _full(HEADS, old), _full(HEADS, new)
        current = self.head_branch() == src and self.head_ref == "HEAD"
        self._guard(src, dst)
        self.refs.rename(src, dst, message=f"branch: renamed {src} to {dst}", force=force)
        if current:
            self.refs.set_symbolic("HEAD", dst, message=f"branch: renamed {src} to {dst}")
        return dst

    def switch(self, name: str, create: bool = False, start: str = "HEAD",
               detach: bool = False) -> Optional[str]:
        """Make HEAD point to branch `name` (creating it at `start` with `create`), or detach
        HEAD at revision `name`. Refused while a merge or rebase is stopped."""
        from . import mergestate
        mergestate.refuse_if_in_progress(self)
        if self.head_ref != "HEAD":
            raise OperationError(f"this view is fixed to {self.head_ref}; switch moves the "
                                 "shared HEAD")
        if detach:
            return self.checkout(to_hex(self.resolve(name)))
        full = _full(HEADS, name)
        if create:
            self.branch_create(name, start)
        elif self.refs.read(full) is None:
            raise RefNotFound(f"no branch named {name!r} (create it with -c)")
        self.refs.set_symbolic("HEAD", full, message=f"switch: moving to {name}")
        return full

    # -- tags -------------------------------------------------------------------------------------
    def tag_create(self, name: str, rev: str = "HEAD", force: bool = False) -> str:
        full = _full(TAGS, name)
        target = to_hex(self.resolve(rev))
        if force:
            self.refs.set_if_equals(full, _any(), target, message=f"tag: {rev}", deref=False)
        elif self.refs.read(full) is not None:
            raise OperationError(f"tag {name!r} already exists")
        else:
            self.refs.add_if_new(full, target, message=f"tag: {rev}")
        return full

    def tags(self) -> List[dict]:
        return [{"name": n[len(TAGS):], "ref": n, "id": raw, "summary": self._summary(raw)}
                for n, raw in self.refs.list(TAGS) if not raw.startswith("ref:")]

    def tag_delete(self, name: str) -> str:
        full = _full(TAGS, name)
        raw = self.refs.read(full)
        if raw is None:
            raise RefNotFound(f"tag {name!r} not found")
        self.refs.remove_if_equals(full, raw, message="tag: deleted")
        return raw


def _any():
    from .refs import ANY
    return ANY
