"""What a compression covers: a commit range or an entry-index range of the current context.

`A..B` selects the entries of the current context (HEAD) that the commits on B's first-parent
line after A introduced; B must be HEAD or on HEAD's first-parent line, and A on B's. `A..` and a
single `A` mean `A..HEAD` (as `rebase -i A`). `--entries I:J` selects context entries I..J-1
(Python slice rules, negative counts from the end) and the commits that introduced them.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import InputError, OperationError, RevisionError
from ..ids import to_hex
from ..objects import Commit, Entry
from ..plumbing.revparse import resolve_revision
from .origins import OriginWalk

if TYPE_CHECKING:
    from ..state import RepoState


@dataclass
class Selection:
    """The entries a compression covers, at the commit `head` it was computed on."""

    head: bytes
    entries: list[Entry]                 # the whole context at head
    start: int                           # the span [start, end) holds every selected entry
    end: int
    selected: list[int]                  # selected context indices, ascending
    origin: dict[int, bytes]             # context index -> introducing commit (span indices)
    commits: list[bytes]                 # the range's commits, oldest first (the plan's lines)
    commit_objs: dict[bytes, Commit] = field(default_factory=dict)
    spec: dict = field(default_factory=dict)

    @property
    def label(self) -> str:
        if "entries" in self.spec:
            a, b = self.spec["entries"]
            return f"entries {a}:{b}"
        return self.spec.get("range", "")


def parse_entry_range(value: str | Sequence[int], count: int) -> tuple[int, int]:
    """`I:J` (Python slice rules) or (I, J) to a non-empty [start, end) within `count`."""
    if isinstance(value, str):
        m = re.fullmatch(r"\s*(-?\d*)\s*:\s*(-?\d*)\s*", value)
        if not m:
            raise InputError(f"entry range {value!r} is not I:J (for example 3:40, 10:, :-5)")
        a = int(m.group(1)) if m.group(1) not in ("", "-") else None
        b = int(m.group(2)) if m.group(2) not in ("", "-") else None
        if m.group(1) == "-" or m.group(2) == "-":
            raise InputError(f"entry range {value!r} is not I:J")
    else:
        try:
            a, b = value
        except (TypeError, ValueError):
            raise InputError("an entry range is 'I:J' or a pair (I, J)") from None
        for v in (a, b):
            if v is not None and (not isinstance(v, int) or isinstance(v, bool)):
                raise InputError("entry range bounds must be integers")
    start = 0 if a is None else (a + count if a < 0 else a)
    end = count if b is None else (b + count if b < 0 else b)
    if not 0 <= start <= count or not 0 <= end <= count:
        raise InputError(f"entry range {a}:{b} is outside the context ({count} entries)")
    if start > end:
        raise InputError(f"entry range {start}:{end} is inverted")
    if start == end:
        raise InputError(f"entry range {start}:{end} is empty")
    return start, end


def split_range(spec: str) -> tuple[str, str]:
    if not isinstance(spec, str) or not spec.strip():
        raise InputError("give a commit range A..B (or --entries I:J)")
    spec = spec.strip()
    if "..." in spec:
        raise InputError(f"{spec}: symmetric ranges (A...B) are not supported; use A..B")
    if ".." in spec:
        a, b = spec.split("..", 1)
        if not a:
            raise InputError(f"{spec}: give the lower end of the range (A..B)")
        return a, b or "HEAD"
    return spec, "HEAD"


def select_commits(repo: RepoState, spec: str) -> Selection:
    a_expr, b_expr = split_range(spec)
    head = repo.head_commit()
    if head is None:
        raise OperationError("nothing to compress: the branch has no commits")
    a = resolve_revision(repo, a_expr)
    b = resolve_revision(repo, b_expr)
    label = f"{a_expr}..{b_expr}"
    if a == b:
        raise InputError(f"empty range {label}: both ends are commit {to_hex(a)[:12]}")
    idx = repo.index
    if idx.is_ancestor(b, a):
        raise InputError(f"inverted range {label}: {b_expr} is an ancestor of {a_expr} "
                         f"(did you mean {b_expr}..{a_expr}?)")
    if not idx.is_ancestor(a, b):
        raise InputError(f"range {label}: {a_expr} is not an ancestor of {b_expr}")
    if not idx.is_ancestor(b, head):
        raise InputError(f"range {label}: {b_expr} is not in the history of the current branch")
    gen_a = idx.get(a).generation
    gen_b = idx.get(b).generation
    walk = OriginWalk(repo, head)
    in_range = False
    merged = False  # below a merge, A or B may lie on a second-parent side: check generations
    commits: list[bytes] = []
    objs: dict[bytes, Commit] = {}
    while True:
        cur = walk.cur
        gen = idx.get(cur).generation if merged and cur is not None else None
        if cur is None or (in_range and cur != a and gen is not None and gen <= gen_a):
            raise InputError(f"range {label} crosses a merge: {a_expr} is reached from {b_expr} "
                             "only through a merge's second parent; choose a lower end on the "
                             f"first-parent line of {b_expr} (see 'trace log --first-parent')")
        if not in_range and cur != b and gen is not None and gen <= gen_b:
            raise InputError(f"range {label}: {b_expr} is reached from the current branch only "
                             "through a merge's second parent; the range must lie on the "
                             "first-parent line of HEAD")
        if cur == b:
            in_range = True
        if cur == a:
            break
        cid, c = walk.step()
        merged = merged or len(c.parents) > 1
        if in_range:
            commits.append(cid)
            objs[cid] = c
    commits.reverse()
    inside = set(commits)
    selected = [i for i, o in enumerate(walk.origin) if o in inside]
    if not selected:
        raise InputError(f"range {label}: its {len(commits)} commit(s) introduced no entry of the "
                         "current context (later commits replaced or dropped them)")
    start, end = selected[0], selected[-1] + 1
    origin = {i: o for i in range(start, end) if (o := walk.origin[i]) is not None}
    return Selection(head, walk.entries, start, end, selected, origin, commits, objs,
                     {"range": label, "from": a, "to": b})


def select_entries(repo: RepoState, value: str | Sequence[int]) -> Selection:
    head = repo.head_commit()
    if head is None:
        raise OperationError("nothing to compress: the branch has no commits")
    walk = OriginWalk(repo, head)
    start, end = parse_entry_range(value, len(walk.entries))
    left = end - start
    objs: dict[bytes, Commit] = {}
    order: list[bytes] = []
    while walk.cur is not None and left:
        cid, c = walk.step()
        objs[cid] = c
        order.append(cid)
        left -= sum(1 for h in walk.found if start <= h < end)
    users = {walk.origin[i] for i in range(start, end)}
    commits = [c for c in reversed(order) if c in users]
    origin = {i: o for i in range(start, end) if (o := walk.origin[i]) is not None}
    return Selection(head, walk.entries, start, end, list(range(start, end)), origin, commits,
                     {c: objs[c] for c in commits}, {"entries": [start, end]})


def select(repo: RepoState, range_spec: str | None = None,
           entries: str | Sequence[int] | None = None) -> Selection:
    if (range_spec is None) == (entries is None):
        raise InputError("give either a commit range (A..B) or an entry range (I:J)")
    if entries is not None:
        return select_entries(repo, entries)
    try:
        return select_commits(repo, range_spec)  # type: ignore[arg-type]
    except RevisionError as exc:
        raise RevisionError(f"range {range_spec}: {exc}") from None
