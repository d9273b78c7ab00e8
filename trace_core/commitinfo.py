"""Commits as the public API gives them: `repo.log()` and `repo.commit_info()` return
`CommitInfo`, the index's row plus, read on first use, the commit's message and metadata (the
caller's `meta.user` labels, API-reported usage from the append or a usage note, inference)."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cached_property
from typing import Any

from .errors import OperationError
from .ids import RawId, from_hex, to_hex
from .objects import Commit
from .plumbing.revparse import resolve_commit, split_ranges
from .render.labels import ref_labels
from .state import RepoState


class _Notes:
    """The usage notes of a repository, read on first use and shared by the CommitInfos of one
    `log()` (each would otherwise walk the notes chain again)."""

    def __init__(self, repo: RepoState) -> None:
        self.repo = repo
        self.notes: dict[bytes, dict] | None = None

    def get(self, cid: bytes) -> dict | None:
        if self.notes is None:
            from .notes import usage_notes
            self.notes = usage_notes(self.repo)
        return self.notes.get(cid)


class CommitInfo:
    """One commit: `id` (hex), `parents` (hex), `op`, `author`, `time_ms`, `tz_min`, `tokens`
    (what it added), `total_tokens` (its context), `summary` (the first line of its message),
    `refs` (decorations, as `trace log` shows them); `message`, `meta`, `usage`, `inference`,
    `policy` and `commit` (the object) are read from the store on first use."""

    __slots__ = ("_repo", "_notes", "id", "parents", "op", "author", "time_ms", "tz_min",
                 "tokens", "total_tokens", "summary", "refs", "__dict__")

    def __init__(self, repo: RepoState, row: Any, refs: Sequence[str],
                 notes: _Notes | None = None) -> None:
        self._repo = repo
        self._notes = notes or _Notes(repo)
        self.id: str = to_hex(row.id)
        self.parents: tuple[str, ...] = tuple(to_hex(p) for p in row.parents)
        self.op: str = row.op
        self.author: str = row.author
        self.time_ms: int = row.time_ms
        self.tz_min: int = row.tz
        self.tokens: int = row.tokens
        self.total_tokens: int = row.total_tokens
        self.summary: str = row.summary
        self.refs: tuple[str, ...] = tuple(refs)

    def __repr__(self) -> str:
        return f"CommitInfo({self.id[:12]} {self.op}: {self.summary!r:.60})"

    @cached_property
    def commit(self) -> Commit:
        return self._repo.get_commit(bytes.fromhex(self.id))

    @property
    def message(self) -> str:
        return self.commit.message

    @property
    def meta(self) -> dict[str, str]:
        """The caller's labels (`append(meta=)`, `trace commit --meta`)."""
        user = self.commit.meta.get("user")
        return dict(user) if isinstance(user, dict) else {}

    @cached_property
    def usage(self) -> dict | None:
        """API-reported usage: the latest recorded for it with `record_usage` (a later word
        on the same call), else the append's own (`append(usage=)`), else None."""
        noted = self._notes.get(from_hex(self.id))
        own = noted if noted is not None else self.commit.meta.get("usage")
        return dict(own) if isinstance(own, dict) else None

    @property
    def policy(self) -> dict | None:
        """The policy decision that made it (`name`, `action`, `why`, `trigger`; docs/policy.md),
        or None for a commit no policy made."""
        pol = self.commit.meta.get("policy")
        return dict(pol) if isinstance(pol, dict) else None

    @property
    def inference(self) -> dict | None:
        """The model call an operation made itself (compress, merge driver, spawn), if any."""
        inf = self.commit.meta.get("inference")
        return dict(inf) if isinstance(inf, dict) else None

    def to_dict(self) -> dict:
        """The record `trace log --json` prints (without the lazily read fields)."""
        return {"id": self.id, "parents": list(self.parents), "op": self.op,
                "author": self.author, "time_ms": self.time_ms, "tokens": self.tokens,
                "total_tokens": self.total_tokens, "summary": self.summary,
                "refs": list(self.refs)}


def start_points(repo: RepoState, revs: Sequence[str]) -> tuple[list[RawId], list[RawId]]:
    """(commits to start from, commits to stop at) for REVS (default HEAD; ^X and X..Y exclude)."""
    include, exclude = split_ranges(revs or ("HEAD",))
    if repo.head_commit() is None and not revs:
        raise OperationError("your current branch has no commits yet")
    return ([resolve_commit(repo, r) for r in include or ["HEAD"]],
            [resolve_commit(repo, r) for r in exclude])


def log(repo: RepoState, revs: str | Sequence[str] = (), *, limit: int | None = None,
        first_parent: bool = False) -> list[CommitInfo]:
    """The history from `revs` (a revision or several; default HEAD; `^X` and `X..Y` exclude),
    newest first, as `trace log` walks it; `limit`: at most that many."""
    if isinstance(revs, str):
        revs = (revs,)
    inc, exc = start_points(repo, revs)
    deco = ref_labels(repo)
    notes = _Notes(repo)
    return [CommitInfo(repo, r, deco.get(r.id, ()), notes)
            for r in repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent)]


def commit_info(repo: RepoState, rev: str = "HEAD") -> CommitInfo:
    """Commit `rev` as a CommitInfo."""
    cid = resolve_commit(repo, rev)
    row = repo.index.get(cid)
    return CommitInfo(repo, row, ref_labels(repo).get(cid, ()))
