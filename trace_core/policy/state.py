"""What a policy looks at: the context at HEAD of one view (namespace or worktree), read once
per evaluation through the context read cache, with its budget, and the tangent the branch
is on (docs/policy.md)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from ..context import _read
from ..objects import FLAG_PINNED, Commit
from ..plumbing.budgets import budget
from ..state import RepoState

#: how far back a tangent's marker commit is looked for on HEAD's first-parent line
TANGENT_WALK = 512


class View:
    """The context at HEAD: `commit` (None on an empty branch), `branch` (full ref name or None
    when detached), `msgs`, blob `ids` (hex) and `flags` of its entries (lists shared with the
    context read cache: never changed), `total` tokens, the budget's
    `max_tokens` (None: no budget)."""

    def __init__(self, repo: RepoState) -> None:
        self.repo = repo
        self.branch = repo.head_branch()
        head = repo.head_commit()
        self.commit: Commit | None = repo.get_commit(head) if head is not None else None
        if self.commit is None:
            self.msgs: list[dict] = []
            self.ids: list[str] = []
            self.flags: list[int] = []
        else:
            self.msgs, self.ids, self.flags = _read(repo, repo.get_snapshot(self.commit.snapshot))
        self.total = self.commit.total_tokens if self.commit is not None else 0
        self.max_tokens = budget(repo, self.branch).max_tokens
        self._tangent: Any = False
        #: "commit" (evaluated after a commit) or "manual"; the blob ids (hex) the triggering
        #: commit appended
        self.trigger = "manual"
        self.fresh: frozenset = frozenset()

    def pinned(self, i: int) -> bool:
        return bool(self.flags[i] & FLAG_PINNED)

    def short_branch(self) -> str | None:
        b = self.branch
        return b[len("refs/heads/"):] if b and b.startswith("refs/heads/") else b

    def tangent(self, prefixes: tuple[str, ...]) -> Commit | None:
        """The marker commit of the tangent HEAD's branch is on (a `policy` commit whose
        meta.policy.action is `branch`, on the first-parent line), or None. Only a branch
        named `<prefix>/...` for one of `prefixes` (the branch policies') is looked at."""
        if self._tangent is False:
            self._tangent = None
            short = self.short_branch() or ""
            if not any(short.startswith(p + "/") for p in prefixes):
                return None
            for c in first_parent(self.repo, self.commit, TANGENT_WALK):
                pol = c.meta.get("policy")
                if c.op == "policy" and isinstance(pol, dict):
                    if pol.get("action") == "branch":
                        self._tangent = c
                    break          # a return (or a branch) ends the search either way
        return self._tangent


def first_parent(repo: RepoState, commit: Commit | None, limit: int) -> Iterator[Commit]:
    """`commit` and its first-parent ancestors, newest first, at most `limit` of them (the
    bounded walks of the policies and the context manager)."""
    c = commit
    for _ in range(limit):
        if c is None:
            return
        yield c
        c = repo.get_commit(c.parents[0]) if c.parents else None
