"""Ref decorations of commits, as `git log --decorate` shows them (for log and graph)."""

from __future__ import annotations

from ..refs import shorten
from ..state import RepoState


def ref_labels(repo: RepoState) -> dict:
    """Decorations of the current namespace's refs by commit id, as `git log --decorate` shows
    them: `HEAD -> main` (or `HEAD` when detached) first, then tags (`tag: v1`), then the other
    branches and refs, each group by name."""
    head_branch = repo.head_branch()
    head = repo.refs.resolve("HEAD")
    groups: dict = {}
    for name, raw in repo.refs.list("refs/"):
        if raw.startswith("ref:"):
            continue
        if name.startswith("refs/heads/"):
            short = shorten(name)
            rank, label = (0, f"HEAD -> {short}") if name == head_branch else (2, short)
        elif name.startswith("refs/tags/"):
            rank, label = 1, f"tag: {name[len('refs/tags/'):]}"
        else:
            rank, label = 3, name
        groups.setdefault(raw, []).append((rank, label))
    if head and head_branch is None:
        groups.setdefault(head, []).append((0, "HEAD"))
    out = {}
    for hexid, labels in groups.items():
        if len(hexid) == 64:
            try:
                out[bytes.fromhex(hexid)] = [label for _, label in sorted(labels)]
            except ValueError:
                continue
    return out
