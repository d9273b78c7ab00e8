"""Differences between two contexts (added, removed, edited, pinned, unpinned, moved) and `show`."""

from __future__ import annotations

import difflib
from collections.abc import Callable, Sequence

from .context import entries_at
from .ids import to_hex
from .messages import message_text
from .objects import Entry
from .plumbing.objects import describe
from .plumbing.revparse import resolve_revision
from .state import RepoState


class DiffItem:
    """One difference: kind is added, removed, edited, pinned, unpinned or moved. (Plain
    slotted classes here: `dataclasses` costs `show` and `diff` ~10 ms of imports.)"""

    __slots__ = ("kind", "old_index", "new_index", "old", "new", "text_diff")

    def __init__(self, kind: str, old_index: int | None, new_index: int | None,
                 old: dict | None, new: dict | None, text_diff: str = "") -> None:
        self.kind, self.old_index, self.new_index = kind, old_index, new_index
        self.old, self.new, self.text_diff = old, new, text_diff

    def __repr__(self) -> str:
        return (f"DiffItem({self.kind!r}, {self.old_index!r}, {self.new_index!r}, "
                f"{self.text_diff!r})")


class Diff:
    """The entries that differ between two contexts, and each side's token total."""

    __slots__ = ("old", "new", "items", "old_tokens", "new_tokens")

    def __init__(self, old: str | None, new: str | None, items: list[DiffItem],
                 old_tokens: int, new_tokens: int) -> None:
        self.old, self.new, self.items = old, new, items
        self.old_tokens, self.new_tokens = old_tokens, new_tokens

    @property
    def token_delta(self) -> int:
        return self.new_tokens - self.old_tokens


# -- show / diff ------------------------------------------------------------------------------


def show(repo: RepoState, rev: str = "HEAD") -> dict:
    """Commit `rev` as a dict: its fields (as `cat-object --json`), its id, the messages it
    carried, the usage recorded for it later (`usage_note`: trace_core.notes, or None), and the
    diff of its context against its first parent's."""
    cid = resolve_revision(repo, rev)
    c = repo.get_commit(cid)
    out = describe(c)
    out["id"] = to_hex(cid)
    out["carried"] = [repo.get_blob(b).message for b in c.blobs]
    from .notes import usage_note
    out["usage_note"] = usage_note(repo, cid)
    parent = c.parents[0] if c.parents else None
    out["diff"] = diff(repo, to_hex(parent) if parent else None, to_hex(cid))
    return out


def diff(repo: RepoState, a: str | None, b: str | None) -> Diff:
    """What changed between the contexts of commits `a` and `b` (None: the empty context)."""
    ca = resolve_revision(repo, a) if a else None
    cb = resolve_revision(repo, b) if b else None
    ea, eb = entries_at(repo, ca), entries_at(repo, cb)
    items = diff_entries(ea, eb, lambda e: repo.get_blob(e.blob).message)
    ta = repo.get_commit(ca).total_tokens if ca else 0
    tb = repo.get_commit(cb).total_tokens if cb else 0
    return Diff(to_hex(ca) if ca else None, to_hex(cb) if cb else None, items, ta, tb)


NO_NEWLINE = "\\ No newline at end of file\n"


def _lines(text: str, mark: bool) -> list[str]:
    """`text` as lines that each end with a newline; a last line without one gets git's
    `\\ No newline at end of file` marker when `mark` (only one side of the diff lacks it)."""
    lines = text.splitlines(True)
    if lines and not lines[-1].endswith(("\n", "\r")):
        lines[-1] += "\n" + (NO_NEWLINE if mark else "")
    return lines


def text_diff(old: str, new: str, old_name: str, new_name: str, n: int = 2) -> str:
    """A unified diff of two texts whose every line ends with a newline, so removed and added
    lines never run together when a text does not end with one."""
    ends = [t.endswith(("\n", "\r")) or not t for t in (old, new)]
    mark = ends[0] != ends[1]
    return "".join(difflib.unified_diff(_lines(old, mark), _lines(new, mark), old_name,
                                        new_name, n=n))


def diff_entries(old: Sequence[Entry], new: Sequence[Entry],
                 load: Callable[[Entry], dict]) -> list[DiffItem]:
    """Classify changes: added, removed, edited (replaced in place), pinned/unpinned, moved."""
    sm = difflib.SequenceMatcher(a=[e.blob for e in old], b=[e.blob for e in new], autojunk=False)
    items: list[DiffItem] = []
    removed: list[int] = []
    added: list[int] = []
    for tag, i1, i2, j1, j2 in sm.get_opcodes():
        if tag == "equal":
            for k in range(i2 - i1):
                eo, en = old[i1 + k], new[j1 + k]
                if eo.pinned != en.pinned:
                    items.append(DiffItem("pinned" if en.pinned else "unpinned", i1 + k, j1 + k,
                                          load(eo), load(en)))
            continue
        if tag == "replace":
            n = min(i2 - i1, j2 - j1)
            for k in range(n):
                mo, mn = load(old[i1 + k]), load(new[j1 + k])
                td = text_diff(message_text(mo), message_text(mn), f"#{i1 + k}", f"#{j1 + k}")
                items.append(DiffItem("edited", i1 + k, j1 + k, mo, mn, td))
            removed.extend(range(i1 + n, i2))
            added.extend(range(j1 + n, j2))
        elif tag == "delete":
            removed.extend(range(i1, i2))
        elif tag == "insert":
            added.extend(range(j1, j2))
    moved_new = set()
    by_blob: dict[bytes, list[int]] = {}
    for j in added:
        by_blob.setdefault(new[j].blob, []).append(j)
    for i in removed:
        cands = by_blob.get(old[i].blob)
        if cands:
            j = cands.pop(0)
            moved_new.add(j)
            items.append(DiffItem("moved", i, j, load(old[i]), load(new[j])))
        else:
            items.append(DiffItem("removed", i, None, load(old[i]), None))
    for j in added:
        if j not in moved_new:
            items.append(DiffItem("added", None, j, None, load(new[j])))
    order = {"removed": 0, "moved": 1, "edited": 2, "pinned": 3, "unpinned": 3, "added": 4}
    items.sort(key=lambda d: (d.new_index if d.new_index is not None else d.old_index,
                              order[d.kind]))
    return items
