"""Ref decorations of commits, as `git log --decorate` shows them (for log and graph)."""

from __future__ import annotations

from ..errors import CorruptRef, UnsafePath
from ..refs import shorten
from ..state import RepoState


def _readable_refs(repo: RepoState) -> list:
    """(name, raw value) of the namespace's refs under refs/; a damaged or symlinked one is
    left out with a warning naming its file (the commits shown stay right; fsck errors)."""
    try:
        names = repo.refs.names("refs/")
    except UnsafePath as exc:
        repo.warn(f"no ref decorations: {exc}")
        return []
    out = []
    for name in names:
        try:
            raw = repo.refs.read(name)
        except (CorruptRef, UnsafePath) as exc:
            repo.warn(f"{name} not shown: {exc}")
            continue
        if raw is not None:
            out.append((name, raw))
    return out


def ref_labels(repo: RepoState) -> dict:
    """Decorations of the current namespace's refs by commit id, as `git log --decorate` shows
    them: `HEAD -> main` (or `HEAD` when detached) first, then tags (`tag: v1`), then the other
    branches and refs, each group by name. A damaged HEAD raises (it decides what is shown); a
    damaged branch or tag is left out with a warning through `repo.warn`."""
    head_branch = repo.head_branch()
    head = repo.refs.resolve("HEAD")
    groups: dict = {}
    for name, raw in _readable_refs(repo):
        if raw.startswith("ref:"):
            continue
        if name.startswith("refs/heads/"):
            short = shorten(name)
            rank, label = (0, f"HEAD -> {short}") if name == head_branch else (2, short)
        elif name.startswith("refs/tags/"):
            rank, label = 1, f"tag: {name[len('refs/tags/'):]}"
        elif name.startswith("refs/remotes/"):
            rank, label = 2, name[len("refs/remotes/"):]
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
