"""Audit: what agent A knew when agent B made a commit, and what information left a context
(docs/inspect.md, "Audit"). Read-only: nothing is written and no ref moves.

Two typed questions, no free text:

- `audit_knew(repo, agent, rev, of=None, basis="auto")`: the context of `agent` as of commit
  `rev` of agent `of`, compared by blob id with `of`'s context at `rev` (entries only one side had).
  `basis` picks what "as of" means: `time` (A's branch as it stood at REV's commit time, read
  from A's reflog, else A's first-parent history by commit time), `link` (the spawn/collapse
  relation: a parent as of the commit its child was spawned from, a child as of the tip the
  parent's latest collapse of it at or before REV carried) or `auto` (link when the two are
  parent and child and the link exists, else time).
- `audit_lost(repo, range=None)`: every entry that left the context over the first-parent
  history of `range` (default HEAD's): dropped, edited, masked, compressed (with the summary,
  the must-keep strings and the facts the summary lacks), lost to a merge, removed by another
  operation, and a child's findings its collapse did not carry (`not-collapsed`).

"Facts" are found lexically (`messages.facts`: numbers, identifiers with digits, underscores,
dots or inner capitals, file names) and looked for as whole words: a heuristic that can miss a
paraphrased fact and flag one the summary restates in other words.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Any

from ..context import entries_at
from ..errors import InputError, MalformedObject, MissingObject, ObjectError, OperationError
from ..messages import facts, is_tool_output, message_text, preview
from ..messages import kind as message_kind
from ..objects import Commit, Entry
from ..state import RepoState

BASES = ("auto", "time", "link")
PREVIEW = 60
MAX_FACTS = 12       # facts listed per finding (the count says how many more)


# -- facts --------------------------------------------------------------------------------------
def absent_facts(text: str, target: str) -> list[str]:
    """The facts of `text` that `target` does not contain as whole words."""
    return [f for f in facts(text) if not _has_word(target, f)]


def _has_word(text: str, word: str) -> bool:
    """Whether `word` occurs in `text` with no word character (or, before it, a dot) joined to
    it on either side: `180` is not in `1800` nor in `3.180`."""
    start = text.find(word)
    while start >= 0:
        end = start + len(word)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before in "_.") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(word, start + 1)
    return False


# -- shared records -----------------------------------------------------------------------------
@dataclass
class AuditEntry:
    """One entry of a context: its position, blob id, role, one-line preview and tokens."""

    index: int
    blob: str
    role: str
    preview: str
    tokens: int

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _entry(repo: RepoState, index: int, blob: bytes) -> AuditEntry:
    m = repo.get_blob(blob).message
    return AuditEntry(index, blob.hex(), message_kind(m), preview(m, PREVIEW),
                      repo.blob_tokens(blob))


def _text(repo: RepoState, blob: bytes) -> str:
    return message_text(repo.get_blob(blob).message)


# -- question 1: what did A know when B made REV ------------------------------------------------
@dataclass
class Knowledge:
    """The answer to "what did `agent` know when `of` made `commit`": `agent`'s context as of
    `context_commit` (None: it had no commit yet), chosen by `basis` (`time`, `spawn`,
    `collapse`; `how` says which commit and why), compared by blob id with `of`'s context at
    `commit`: `only_agent` (entries `agent` had and `of` did not) and `only_other` (the reverse);
    duplicates count once per copy."""

    agent: str
    of: str
    commit: str
    time_ms: int
    basis: str
    how: str
    context_commit: str | None
    agent_entries: int
    agent_tokens: int
    other_entries: int
    other_tokens: int
    shared: int
    shared_tokens: int
    only_agent: list[AuditEntry] = field(default_factory=list)
    only_other: list[AuditEntry] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["only_agent"] = [e.to_dict() for e in self.only_agent]
        d["only_other"] = [e.to_dict() for e in self.only_other]
        return d


def _label(path: str | None) -> str:
    return path if path else "(root)"


def _view(repo: RepoState, name: str | None) -> RepoState:
    """The agent `name` relative to `repo` ('.' or None: `repo` itself)."""
    if name is None or name in (".", ""):
        return repo
    if not isinstance(name, str):
        raise InputError(f"an agent name must be a string, not {name!r:.40}")
    return repo.agent(name.strip("/"))


def _at_time(repo: RepoState, t: int, rev: bytes) -> tuple[bytes | None, str]:
    """The commit `repo`'s HEAD branch had at time `t` (ms), the time commit `rev` was made:
    from the branch's reflog (the last move at or before `t`; a move to `rev` itself counts,
    though the ref moves just after the commit is made), else the first commit of its
    first-parent history made by then."""
    branch = repo.head_branch()
    cur: bytes | None = repo.head_commit()
    if branch is not None:
        moves = [mv for mv in repo.refs.reflog(branch)
                 if not mv.new.startswith("ref:") and set(mv.new) != {"0"}]
        for mv in moves:   # newest first
            if mv.time_ms <= t or mv.new == rev.hex():
                return bytes.fromhex(mv.new), f"{_short(branch)} at that time (reflog)"
        if moves:   # moved first after t: what its first value had been made by then
            cur = bytes.fromhex(moves[-1].new)
    while cur is not None:
        c = repo.get_commit(cur)
        if c.time_ms <= t:
            return cur, "the last first-parent commit made by then (commit times)"
        cur = c.parents[0] if c.parents else None
    return None, "no commit made by then"


def _short(ref: str) -> str:
    return ref[len("refs/heads/"):] if ref.startswith("refs/heads/") else ref


def _link(a: RepoState, b: RepoState, rev: bytes) -> tuple[bytes, str, str] | None:
    """A's commit as of the spawn/collapse relation with B at B's commit `rev`: (commit, basis,
    how), or None when they are not parent and child or no link applies."""
    pa, pb = a.agent_name or "", b.agent_name or ""
    if pb and pb.rpartition("/")[0] == pa:          # A is B's parent: B was spawned from...
        cur: bytes | None = rev
        while cur is not None:
            c = b.get_commit(cur)
            meta = c.meta or {}
            if c.op == "spawn" and not c.parents and isinstance(meta.get("from"), bytes):
                return meta["from"], "spawn", f"the commit {_label(pb)} was spawned from"
            cur = c.parents[0] if c.parents else None
        return None
    if pa and pa.rpartition("/")[0] == pb:          # A is B's child: the last collapse of A
        cur = rev
        while cur is not None:
            c = b.get_commit(cur)
            meta = c.meta or {}
            if c.op == "collapse" and meta.get("agent") == pa and isinstance(meta.get("tip"),
                                                                               bytes):
                return (meta["tip"], "collapse",
                        f"the tip collapse {c.hex[:12]} carried into {_label(pb)}")
            cur = c.parents[0] if c.parents else None
    return None


def audit_knew(repo: RepoState, agent: str | None, rev: str, of: str | None = None,
         basis: str = "auto") -> Knowledge:
    """What agent `agent` knew when agent `of` (default: this one) made commit `rev`: its
    context as of that commit (`basis`: `time`, `link` or `auto`, module docstring) and the
    entries each side had that the other did not. Agent names are relative to this agent;
    '.' is this agent itself."""
    if basis not in BASES:
        raise InputError(f"unknown basis {basis!r} (choose from {', '.join(BASES)})")
    if not isinstance(rev, str) or not rev:
        raise InputError("audit needs a revision (the commit of the other agent)")
    a, b = _view(repo, agent), _view(repo, of)
    from ..plumbing.revparse import resolve_revision
    oid = resolve_revision(b, rev)
    target = b.get_commit(oid)
    found = _link(a, b, oid) if basis != "time" else None
    if basis == "link" and found is None:
        raise OperationError(f"{_label(a.agent_name)} and {_label(b.agent_name)} have no spawn "
                             f"or collapse link at {oid.hex()[:12]} (use --basis time)")
    if found is not None:
        cid: bytes | None
        cid, kind, how = found
    else:
        cid, how = _at_time(a, target.time_ms, oid)
        kind = "time"
    mine, theirs = entries_at(a, cid), entries_at(b, oid)
    only_a, only_b = _one_side(a, mine, theirs), _one_side(a, theirs, mine)
    tok_a = sum(a.blob_tokens(e.blob) for e in mine)
    tok_b = sum(a.blob_tokens(e.blob) for e in theirs)
    return Knowledge(
        agent=_label(a.agent_name), of=_label(b.agent_name), commit=oid.hex(),
        time_ms=target.time_ms, basis=kind, how=how,
        context_commit=cid.hex() if cid is not None else None,
        agent_entries=len(mine), agent_tokens=tok_a, other_entries=len(theirs),
        other_tokens=tok_b, shared=len(mine) - len(only_a),
        shared_tokens=tok_a - sum(e.tokens for e in only_a),
        only_agent=only_a, only_other=only_b)


def _one_side(repo: RepoState, these: list[Entry], those: list[Entry]) -> list[AuditEntry]:
    """The entries of `these` whose blob `those` lacks (each copy of a blob matched once)."""
    left = Counter(e.blob for e in those)
    out = []
    for i, e in enumerate(these):
        if left[e.blob] > 0:
            left[e.blob] -= 1
        else:
            out.append(_entry(repo, i, e.blob))
    return out


# -- question 2: what left the context ----------------------------------------------------------
_ADDS_ONLY = frozenset(("append", "init", "pin", "unpin", "reorder", "spawn"))
KINDS = ("dropped", "edited", "masked", "compressed", "merged-away", "removed",
         "not-collapsed", "history-missing")


@dataclass
class Finding:
    """One piece of information that left a context: `kind` (KINDS), the `commit` (and its
    `op`) where it left, the `agent` whose context it was in (a child's path for
    `not-collapsed`), the entry (`entry`; its index in the context before the commit, or in the
    child's context at the collapsed tip) and, by kind: `replaced_by` (the summary or
    placeholder that replaced it), `missing` (facts of the entry the replacement or the collapse
    message lacks; lexical), `must_keep` (the compression's must-keep strings: whether each is
    in its summaries and in the context at the end of the range), `source` (the merge parent or
    the child's tip it came from)."""

    kind: str
    commit: str
    op: str
    agent: str
    time_ms: int
    entry: AuditEntry
    replaced_by: AuditEntry | None = None
    missing: list[str] = field(default_factory=list)
    must_keep: list[dict[str, Any]] = field(default_factory=list)
    source: str | None = None
    note: str | None = None

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["entry"] = self.entry.to_dict()
        d["replaced_by"] = self.replaced_by.to_dict() if self.replaced_by else None
        return d


@dataclass
class Lost:
    """`audit_lost`'s answer: the range walked (`commits` first-parent commits, `tip` its
    newest) and every finding, oldest commit first."""

    agent: str
    tip: str | None
    commits: int
    findings: list[Finding] = field(default_factory=list)

    def counts(self) -> dict[str, tuple[int, int]]:
        """{kind: (findings, tokens)} in KINDS order."""
        out: dict[str, tuple[int, int]] = {}
        for k in KINDS:
            hits = [f for f in self.findings if f.kind == k]
            if hits:
                out[k] = (len(hits), sum(f.entry.tokens for f in hits))
        return out

    def to_dict(self) -> dict[str, Any]:
        return {"agent": self.agent, "tip": self.tip, "commits": self.commits,
                "counts": {k: {"findings": n, "tokens": t} for k, (n, t) in self.counts().items()},
                "findings": [f.to_dict() for f in self.findings]}


def _walk(repo: RepoState, range: str | None) -> tuple[bytes | None, list[Commit], int]:
    """(the tip, the commits of `range` (`A..B`, `B`, default HEAD) that may remove entries,
    the number of first-parent commits walked), oldest first; the commit index tells the op of
    each, so commits that only add or move entries are never read."""
    from ..plumbing.revparse import resolve_revision, split_ranges
    exclude: list[bytes] = []
    if range is None:
        tip = repo.head_commit()
    else:
        if not isinstance(range, str) or not range.strip():
            raise InputError("audit --lost takes a revision or a range A..B")
        include, excl = split_ranges([range])
        if len(include) != 1:
            raise InputError(f"bad range {range!r} (give A..B or one revision)")
        tip = resolve_revision(repo, include[0])
        exclude = [resolve_revision(repo, x) for x in excl]
    if tip is None:
        return None, [], 0
    rows = list(repo.index.walk_raw([tip], exclude, None, True, ("op",)))
    out = [repo.get_commit(r[0]) for r in reversed(rows) if r[4] not in _ADDS_ONLY]
    return tip, out, len(rows)


def audit_lost(repo: RepoState, range: str | None = None) -> Lost:
    """Every entry that left this agent's context over the first-parent history of `range`
    (A..B or a revision; default HEAD's whole history), typed (`Finding.kind`), oldest first:
    dropped, edited, masked, compressed (with the summary that replaced it, the must-keep
    strings and the facts the summary lacks), lost to a merge, removed by another operation,
    and a collapsed child's findings its collapse message does not carry (a lexical
    heuristic). Resets are ref moves, not commits, and are not audited."""
    tip, commits, walked = _walk(repo, range)
    me = _label(repo.agent_name)
    tip_text = ""
    if tip is not None and any(c.op == "compress" for c in commits):
        tip_text = "\n".join(_text(repo, e.blob) for e in entries_at(repo, tip))
    out: list[Finding] = []
    for c in commits:
        parent = c.parents[0] if c.parents else None
        if c.op == "compress" and parent is not None:
            out.extend(_compressed(repo, c, parent, me, tip_text))
        elif c.op == "collapse" and isinstance((c.meta or {}).get("tip"), bytes):
            out.extend(_not_collapsed(repo, c))
        elif c.op == "merge":
            for p in c.parents:
                out.extend(_removed(repo, c, p, me, "merged-away", p.hex()))
        elif parent is not None:
            kind = {"drop": "dropped", "edit": "edited"}.get(c.op, "removed")
            out.extend(_removed(repo, c, parent, me, kind, None))
    return Lost(me, tip.hex() if tip is not None else None, walked, out)


def _removed(repo: RepoState, c: Commit, parent: bytes, me: str, kind: str,
             source: str | None) -> list[Finding]:
    """The entries of `parent`'s context the context of `c` no longer has."""
    before, after = entries_at(repo, parent), entries_at(repo, c.id)
    gone = _one_side(repo, before, after)
    new = {e.blob for e in after} - {e.blob for e in before}
    out = []
    for e in gone:
        f = Finding(kind, c.hex, c.op, me, c.time_ms, e, source=source)
        if kind == "edited" and len(new) == 1:
            blob = next(iter(new))
            f.replaced_by = _entry(repo, e.index, blob)
            f.missing = absent_facts(_text(repo, bytes.fromhex(e.blob)), _text(repo, blob))
        out.append(f)
    return out


def _bad(c: Commit, what: str) -> MalformedObject:
    return MalformedObject(f"commit {c.hex}: {what} of its compress meta is malformed "
                           "(docs/FORMAT.md 6.4.2)")


def _blob_id(c: Commit, value: Any, what: str) -> bytes:
    """A blob id (lowercase hex) of compress meta; MalformedObject naming the commit if not."""
    if isinstance(value, str) and len(value) == 64:
        try:
            return bytes.fromhex(value)
        except ValueError:
            pass
    raise _bad(c, what)


def _record_entry(repo: RepoState, c: Commit, rec: Any) -> AuditEntry:
    """The entry a provenance record `[index, blob, commit, tokens, flags, kind]` names."""
    if not (isinstance(rec, list) and len(rec) >= 2 and isinstance(rec[0], int)):
        raise _bad(c, "a record")
    return _entry(repo, rec[0], _blob_id(c, rec[1], "a record"))


def _compressed(repo: RepoState, c: Commit, parent: bytes, me: str,
                tip_text: str) -> list[Finding]:
    """The findings of compress commit `c` from its provenance (FORMAT.md §6.4.2)."""
    meta = c.meta or {}
    made, masked = meta.get("summaries") or [], meta.get("masked") or []
    for name, items in (("summaries", made), ("masked", masked)):
        if not isinstance(items, list) or not all(isinstance(s, dict) for s in items):
            raise _bad(c, name)
    made_text = "\n".join(_text(repo, _blob_id(c, s.get("blob"), "summaries")) for s in made)
    keep = meta.get("must_keep")
    if not isinstance(keep, dict):
        keep = {}
    checks: list[dict[str, Any]] = []
    for s in keep.get("strings") or []:
        if isinstance(s, str):
            checks.append({"string": s, "in_summary": s in made_text, "at_tip": s in tip_text})
    for p in keep.get("patterns") or []:
        if isinstance(p, str):
            try:
                rx = re.compile(p)
            except re.error:
                continue
            checks.append({"pattern": p, "in_summary": bool(rx.search(made_text)),
                           "at_tip": bool(rx.search(tip_text))})
    out: list[Finding] = []
    for kind, items in (("compressed", made), ("masked", masked)):
        for s in items:
            by_blob = _blob_id(c, s.get("blob"), kind)
            index = s.get("index")
            by = _entry(repo, index if isinstance(index, int) else -1, by_blob)
            by_text = _text(repo, by_blob)
            replaced = s.get("replaced") or []
            if not isinstance(replaced, list):
                raise _bad(c, f"{kind} replaced")
            for rec in replaced:
                e = _record_entry(repo, c, rec)
                out.append(Finding(kind, c.hex, c.op, me, c.time_ms, e, replaced_by=by,
                                   missing=absent_facts(_text(repo, bytes.fromhex(e.blob)),
                                                        by_text),
                                   must_keep=checks if kind == "compressed" else []))
    dropped = meta.get("dropped") or []
    if not isinstance(dropped, list):
        raise _bad(c, "dropped")
    for rec in dropped:
        out.append(Finding("dropped", c.hex, c.op, me, c.time_ms, _record_entry(repo, c, rec),
                           note="dropped by the compression's plan"))
    return out


def _not_collapsed(repo: RepoState, k: Commit) -> list[Finding]:
    """The child's own assistant and tool messages whose facts the collapse message lacks."""
    from ..agents.expand import _own
    meta = k.meta or {}
    child = str(meta.get("agent") or "?")
    tip = meta["tip"]
    try:
        own, _tip = _own(repo, k)
    except (MissingObject, ObjectError) as exc:
        note = AuditEntry(-1, tip.hex(), "?", f"history of {child} cannot be read: {exc}"[:120],
                          0)
        return [Finding("history-missing", k.hex, k.op, child, k.time_ms, note,
                        source=tip.hex())]
    said = "\n".join(_text(repo, b) for b in k.blobs)
    tip_entries = entries_at(repo, tip)
    offset = len(tip_entries) - len(own)
    out = []
    for i, e in enumerate(own):
        m = repo.get_blob(e.blob).message
        if not (is_tool_output(m) or (isinstance(m, dict) and m.get("role") == "assistant")):
            continue
        missing = absent_facts(message_text(m), said)
        if missing:
            out.append(Finding("not-collapsed", k.hex, k.op, child, k.time_ms,
                               _entry(repo, offset + i, e.blob), missing=missing,
                               source=tip.hex()))
    return out


# -- text ---------------------------------------------------------------------------------------
def knew_lines(k: Knowledge) -> list[str]:
    """`trace audit --knew` as text."""
    ctx = k.context_commit[:12] if k.context_commit else "no commit"
    lines = [f"What {k.agent} knew when {k.of} made {k.commit[:12]}:",
             f"  {k.agent} as of {ctx} ({k.basis}: {k.how})",
             f"  {k.agent}: {k.agent_entries} entries, {k.agent_tokens} tokens; "
             f"{k.of}: {k.other_entries} entries, {k.other_tokens} tokens; "
             f"shared {k.shared} entries, {k.shared_tokens} tokens"]
    for title, items in ((f"{k.of} had, {k.agent} did not", k.only_other),
                         (f"{k.agent} had, {k.of} did not", k.only_agent)):
        tokens = sum(e.tokens for e in items)
        lines.append(f"{title}: {len(items)} entries, {tokens} tokens")
        lines.extend(f"  #{e.index:<4} {e.tokens:>6}  {e.role}: {e.preview}" for e in items)
    return lines


def lost_lines(lost: Lost) -> list[str]:
    """`trace audit --lost` as text: one block per finding, then the counts."""
    lines = []
    for f in lost.findings:
        lines.append(f"{f.kind:<15} {f.commit[:12]} {f.op:<8} [{f.agent}] #{f.entry.index} "
                     f"{f.entry.tokens} tokens  {f.entry.role}: {f.entry.preview}")
        if f.replaced_by is not None:
            lines.append(f"    replaced by #{f.replaced_by.index} ({f.replaced_by.tokens} "
                         f"tokens): {f.replaced_by.preview}")
        if f.missing:
            more = len(f.missing) - MAX_FACTS
            shown = ", ".join(f.missing[:MAX_FACTS]) + (f" (+{more} more)" if more > 0 else "")
            where = "the collapse message" if f.kind == "not-collapsed" else "the replacement"
            lines.append(f"    not in {where}: {shown}")
        for chk in f.must_keep:
            what = chk.get("string", chk.get("pattern"))
            lines.append(f"    must-keep {what!r}: {'in' if chk['in_summary'] else 'NOT in'} "
                         f"summary, {'present' if chk['at_tip'] else 'ABSENT'} at tip")
        if f.source and f.kind == "merged-away":
            lines.append(f"    from parent {f.source[:12]}")
        if f.note:
            lines.append(f"    {f.note}")
    counts = lost.counts()
    total = ", ".join(f"{n} {k} ({t} tokens)" for k, (n, t) in counts.items()) or "nothing lost"
    lines.append(f"{lost.agent}: {lost.commits} commits audited: {total}")
    if counts.get("not-collapsed"):
        lines.append("(not-collapsed is lexical: numbers, identifiers and file names of the "
                     "child's messages absent from its collapse message)")
    return lines


__all__ = ["BASES", "KINDS", "AuditEntry", "Finding", "Knowledge", "Lost", "absent_facts",
           "audit_knew", "audit_lost", "facts", "knew_lines", "lost_lines"]
