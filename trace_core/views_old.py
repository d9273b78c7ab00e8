"""Read operations: status, show, diff, and the materialized context of any commit."""

from __future__ import annotations

import difflib
import json
import os
from dataclasses import dataclass, field
from typing import Any, List, Optional, Sequence

from . import chunked
from .errors import OperationError
from .ids import to_hex
from .objects import Commit, Entry


@dataclass(frozen=True)
class Budget:
    """Max tokens and warning thresholds (fractions) for a branch or the repository."""

    max_tokens: Optional[int]
    warn: tuple

    def crossed(self, total: int) -> Optional[float]:
        """The highest threshold `total` has reached, or None."""
        if not self.max_tokens:
            return None
        hit = [w for w in self.warn if total >= w * self.max_tokens]
        return max(hit) if hit else None


@dataclass
class Status:
    head: Optional[str]
    branch: Optional[str]
    detached: bool
    entries: int
    pinned: int
    total_tokens: int
    budget: Budget
    warnings: List[str] = field(default_factory=list)
    undone: List[dict] = field(default_factory=list)
    agent: Optional[str] = None
    #: the merge / rebase / cherry-pick / revert stopped on conflicts (see `operation_status`)
    operation: Optional[dict] = None


@dataclass
class DiffItem:
    kind: str                 # added, removed, edited, pinned, unpinned, moved
    old_index: Optional[int]
    new_index: Optional[int]
    old: Optional[dict]
    new: Optional[dict]
    text_diff: str = ""


@dataclass
class Diff:
    old: Optional[str]
    new: Optional[str]
    items: List[DiffItem]
    old_tokens: int
    new_tokens: int

    @property
    def token_delta(self) -> int:
        return self.new_tokens - self.old_tokens


class ViewOps:
    """Mixed into Repository: reading contexts and history."""

    # -- contexts -------------------------------------------------------------------------------
    def entries_at(self, commit_id: Optional[bytes]) -> List[Entry]:
        if commit_id is None:
            return []
        snap = self.get_snapshot(self.get_commit(commit_id).snapshot)
        return chunked.entries(snap, self.get_node)

    def messages(self, rev: str = "HEAD") -> List[dict]:
        """The messages of the context at `rev`, in order."""
        cid = self._rev_or_none(rev)
        return self.entry_messages(self.entries_at(cid))

    def materialize(self, fmt: str = "openai", rev: str = "HEAD") -> Any:
        """The prompt for the context at `rev`: openai (list), anthropic (dict), text, json."""
        from .materialize import render
        cid = self._rev_or_none(rev)
        entries = self.entries_at(cid)
        msgs = self.entry_messages(entries)
        return render(fmt, msgs, [e.blob.hex() for e in entries], [e.flags for e in entries])

    def entry_messages(self, entries: Sequence[Entry]) -> List[dict]:
        """The stored message of each entry."""
        return [self.get_blob(e.blob).message for e in entries]

    def _rev_or_none(self, rev: str) -> Optional[bytes]:
        if rev == "HEAD" and self.head_commit() is None:
            return None
        return self.resolve(rev)

    # -- budget -----------------------------------------------------------------------------------
    def budget(self, branch: Optional[str] = None) -> Budget:
        """The token budget of `branch` (default: the current one): branch.<name>.* over budget.*."""
        short = branch or self.head_branch() or ""
        short = short[len("refs/heads/"):] if short.startswith("refs/heads/") else short
        max_tokens, warn = self.config.budget_for(short or None)
        return Budget(max_tokens, tuple(warn or ()))

    def budget_warnings(self, total: int, budget: Optional[Budget] = None) -> List[str]:
        b = budget or self.budget()
        hit = b.crossed(total)
        if hit is None:
            return []
        pct = 100 * total / b.max_tokens
        level = "over the budget" if total > b.max_tokens else f"past the {int(hit * 100)}% warning"
        return [f"context uses {total} of {b.max_tokens} tokens ({pct:.0f}%): {level}"]

    # -- status -----------------------------------------------------------------------------------
    def status(self) -> Status:
        head = self.head_commit()
        branch = self.head_branch()
        entries: List[Entry] = []
        total = 0
        if head is not None:
            commit = self.get_commit(head)
            entries = chunked.entries(self.get_snapshot(commit.snapshot), self.get_node)
            total = commit.total_tokens
        budget = self.budget()
        st = Status(head=to_hex(head) if head else None, branch=branch, detached=branch is None,
                    entries=len(entries), pinned=sum(e.pinned for e in entries),
                    total_tokens=total, budget=budget, agent=self.agent_name)
        st.warnings = self.budget_warnings(total, budget)
        st.undone = self.undone_entries(entries)
        for note in self.store.notes:
            st.warnings.append(note)
        st.operation = self.operation_status()
        return st

    def operation_status(self) -> Optional[dict]:
        """The stopped merge, rebase, cherry-pick or revert: op, what, conflicts (open and
        settled), and whether the branch moved since; None when nothing is in progress."""
        if not os.path.exists(os.path.join(self.refs_root, "MERGE_STATE")):
            return None     # the common case, without importing the merge machinery
        from . import mergestate
        try:
            ms = mergestate.load(self)
        except mergestate.StateError as exc:
            return {"op": "merge", "damaged": str(exc), "conflicts": []}
        if ms is None:
            return None
        _, now = self.refs.resolve_target(ms.ref)
        out = {"op": ms.op, "ref": ms.ref, "theirs": ms.theirs, "theirs_name": ms.theirs_name,
               "orig_head": ms.orig_head, "moved": now != ms.orig_head,
               "strategy": ms.strategy,
               "conflicts": [{"id": c.id, "kind": c.kind, "note": c.note,
                              "resolved": c.resolved, "action": c.action, "by": c.by}
                             for c in ms.conflicts]}
        if ms.rebase:
            out["rebase"] = {"onto": ms.rebase.get("onto"), "done": len(ms.rebase.get("done", [])),
                             "todo": len(ms.rebase.get("todo", []))}
        return out

    def undone_entries(self, current: Optional[List[Entry]] = None) -> List[dict]:
        """Entries a `reset --soft` took out of the branch (ORIG_HEAD ahead of HEAD)."""
        entry = self.refs.read_entry("ORIG_HEAD")
        # only a soft reset leaves entries "undone"; ORIG_HEAD records which reset wrote it
        if entry is None or entry.new.startswith("ref:") or \
                not entry.message.startswith("reset --soft"):
            return []
        orig = entry.new
        head = self.head_commit()
        from .ids import from_hex
        orig_id = from_hex(orig)
        if head is not None and (orig_id == head or not self.index.is_ancestor(head, orig_id)):
            return []
        have = current if current is not None else self.entries_at(head)
        before = self.entries_at(orig_id)
        if before[: len(have)] != have:
            return []
        return [{"index": len(have) + i, "blob": e.blob.hex(), "flags": e.flags,
                 "message": self.get_blob(e.blob).message} for i, e in enumerate(before[len(have):])]

    # -- show / diff ------------------------------------------------------------------------------
    def show(self, rev: str = "HEAD") -> dict:
        cid = self.resolve(rev)
        c = self.get_commit(cid)
        from .plumbing import describe
        out = describe(c)
        out["id"] = to_hex(cid)
        out["carried"] = [self.get_blob(b).message for b in c.blobs]
        parent = c.parents[0] if c.parents else None
        out["diff"] = self.diff(to_hex(parent) if parent else None, to_hex(cid))
        return out

    def diff(self, a: Optional[str], b: Optional[str]) -> Diff:
        """What changed between the contexts of commits `a` and `b` (None: the empty context)."""
        ca = self.resolve(a) if a else None
        cb = self.resolve(b) if b else None
        ea, eb = self.entries_at(ca), self.entries_at(cb)
        items = diff_entries(ea, eb, lambda e: self.get_blob(e.blob).message)
        ta = self.get_commit(ca).total_tokens if ca else 0
        tb = self.get_commit(cb).total_tokens if cb else 0
        return Diff(to_hex(ca) if ca else None, to_hex(cb) if cb else None, items, ta, tb)


def ref_labels(repo) -> dict:
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
            short = name[len("refs/heads/"):]
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


def _text(m: dict) -> str:
    c = m.get("content")
    s = c if isinstance(c, str) else json.dumps(c, indent=1, sort_keys=True, ensure_ascii=False, default=str)
    if m.get("tool_calls"):
        s += "\n" + json.dumps(m["tool_calls"], indent=1, sort_keys=True, ensure_ascii=False)
    return s


def diff_entries(old: Sequence[Entry], new: Sequence[Entry], load) -> List[DiffItem]:
    """Classify changes: added, removed, edited (replaced in place), pinned/unpinned, moved."""
    sm = difflib.SequenceMatcher(a=[e.blob for e in old], b=[e.blob for e in new], autojunk=False)
    items: List[DiffItem] = []
    removed: List[int] = []
    added: List[int] = []
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
                td = "".join(difflib.unified_diff(_text(mo).splitlines(True), _text(mn).splitlines(True),
                                                  f"#{i1 + k}", f"#{j1 + k}", n=2))
                items.append(DiffItem("edited", i1 + k, j1 + k, mo, mn, td))
            removed.extend(range(i1 + n, i2))
            added.extend(range(j1 + n, j2))
        elif tag == "delete":
            removed.extend(range(i1, i2))
        elif tag == "insert":
            added.extend(range(j1, j2))
    moved_new = set()
    by_blob = {}
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
    items.sort(key=lambda d: (d.new_index if d.new_index is not None else d.old_index, order[d.kind]))
    return items


class MoveOps:
    """Mixed into Repository: reset and checkout."""

    def reset(self, rev: str, mode: str = "soft") -> Optional[str]:
        """Move the current branch (or detached HEAD) to `rev`.

        soft: the entries after `rev` stay available (ORIG_HEAD; listed by status, re-committed by
        `reapply`). hard: they leave the branch (ORIG_HEAD and the reflog still reach them until gc).
        Returns the previous head id.
        """
        if mode not in ("soft", "hard"):
            raise OperationError(f"unknown reset mode {mode!r} (soft or hard)")
        target = self.resolve(rev)
        old = self.head_commit()
        if old is None:
            raise OperationError("nothing to reset: the branch has no commits")
        tx = self.refs.transaction()
        tx.update("ORIG_HEAD", _any(), to_hex(old), message=f"reset --{mode}")
        tx.update(self.head_ref, to_hex(old), to_hex(target), message=f"reset --{mode}: moving to {rev}")
        tx.commit()
        return to_hex(old)

    def reapply(self, commit_message: Optional[str] = None) -> Commit:
        """Commit again, as one append, the entries a `reset --soft` took out (see status)."""
        undone = self.undone_entries()
        if not undone:
            raise OperationError("nothing to reapply: no entries were undone by reset --soft")
        msgs = [u["message"] for u in undone]
        c = self.append_many(msgs, commit_message=commit_message or f"reapply {len(msgs)} undone entries")
        return c

    def checkout(self, rev: str) -> Optional[str]:
        """Switch HEAD to a branch (symbolic) or detach it at a commit; returns the branch or None."""
        from .revparse import resolve_ref_name
        if self.head_ref != "HEAD":
            raise OperationError(f"this view is fixed to {self.head_ref}; checkout moves the shared "
                                 "HEAD (use the repository itself, or another worktree view)")
        full = resolve_ref_name(self, rev) if rev != "HEAD" else None
        if full is not None and full.startswith("refs/heads/"):
            self.refs.set_symbolic("HEAD", full, message=f"checkout: moving to {rev}")
            return full
        target = self.resolve(rev)
        self.refs.set_if_equals("HEAD", _any(), to_hex(target), deref=False,
                                message=f"checkout: moving to {to_hex(target)[:12]}")
        return None


def _any():
    from .refs import ANY
    return ANY
