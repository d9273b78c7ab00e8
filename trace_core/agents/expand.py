"""Expand: a sub-agent's work shown in place of its collapse, as log lines or as the parent's
context with the child's messages where the collapse message was (docs/multiagent.md, "Expand").
Read-only: no ref moves.

A collapse commit K (op `collapse`) names the child's tip (`meta.tip`) and root (`meta.root`).
The child's **commits** are the first-parent chain from the tip down to the root; its **own
messages** are the entries of the tip's context after the root context (`meta.messages -
meta.own` of them; recomputed from the root when the tip's context does not have that many).
Collapses inside the child (its own sub-agents) are expanded the same way, down to `depth`
levels.

In a context, a collapse message is replaced by the child's own messages; a collapse that
answered a tool call keeps its result in place (every provider refuses a call without its
result) and the child's messages follow it. How they are marked, by format: `json` entries carry
`agent` and `collapse`; `text` prefixes each of their headers with `[sub-agent PATH]`; the
provider formats (`openai`, `openai-responses`, `anthropic`) carry no field a provider would
refuse, so each expanded block is framed by two user messages `[sub-agent PATH (collapse ID):
begin]` and `[sub-agent PATH: end]` (`marks=False` leaves them out).

A child whose history is gone fails with one line: `history of agent PATH was pruned on DATE`
when the retention record (`retention.pruned_records`) lists it, else the store's
missing-object error.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any, NamedTuple

from ..context import entries_at
from ..errors import (
    AgentNotFound,
    InvalidRefName,
    MissingObject,
    ObjectError,
    OperationError,
    RevisionError,
    TraceError,
)
from ..messages import message_text
from ..objects import Commit, Entry
from ..state import RepoState

DEFAULT_DEPTH = 8               # nested collapses expanded below the first
PARENT_LIMIT = 20               # parent commits `Expansion.log` lists by default
RESULT_HEADER = "[Result of sub-agent "   # how a collapse message starts (collapse._body)


# -- the retention record ---------------------------------------------------------------------
def _gone(repo: RepoState, agent: str, ids: list[bytes | None], exc: MissingObject,
          collapse: bytes) -> TraceError:
    """The error for a child history that cannot be read: pruned (listed in the record) or
    missing."""
    from ..retention import PRUNED_FILE, pruned_records
    record = {k.hex(): v for k, v in pruned_records(repo.trace_dir).items()}
    for oid in [*(i.hex() for i in ids if i is not None), getattr(exc, "oid", "")]:
        hit = record.get(oid)
        if hit is not None:
            when = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(hit[0]))
            return OperationError(f"history of agent {agent} was pruned on {when} (collapse "
                                  f"{collapse.hex()[:12]} keeps its result: trace show "
                                  f"{collapse.hex()[:12]})")
    err = MissingObject(getattr(exc, "oid", "") or "?")
    err.args = (f"history of agent {agent} is missing: {exc} (not listed as pruned in "
                f".trace/{PRUNED_FILE})",)
    return err


# -- which collapse ---------------------------------------------------------------------------
def find_collapse(repo: RepoState, rev: str) -> Commit:
    """The collapse commit `rev` names: a revision of a `collapse` commit, else the name of a
    sub-agent of this agent that was collapsed (its latest collapse, its `COLLAPSED` ref)."""
    from ..plumbing.revparse import resolve_revision
    oid: bytes
    try:
        oid = resolve_revision(repo, rev)
    except (RevisionError, ObjectError) as exc:
        done = _collapsed(repo, rev)
        if done is None:
            _refuse_pruned(repo, rev)
            raise RevisionError(f"{exc} (expand takes a collapse commit or a collapsed "
                                "sub-agent's name)") from None
        oid = done
    commit = repo.get_commit(oid)
    if commit.op != "collapse" or not isinstance((commit.meta or {}).get("tip"), bytes):
        done = _collapsed(repo, rev)
        if done is None:
            raise OperationError(f"{rev} ({oid.hex()[:12]}, op {commit.op}) is not a collapse "
                                 "commit")
        commit = repo.get_commit(done)
    return commit


def _refuse_pruned(repo: RepoState, name: str) -> None:
    """OperationError when `name` is a sub-agent of this agent whose history a retention
    policy pruned (its namespace is gone; its collapse commits keep its results)."""
    from ..retention import pruned_agents, pruned_records
    path = f"{repo.agent_name}/{name}" if repo.agent_name else name
    when = pruned_agents(pruned_records(repo.trace_dir)).get(path)
    if when is not None:
        day = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
        raise OperationError(f"history of agent {path} was pruned on {day}; its collapse "
                             "commits keep its results (trace log, trace show)")


def _collapsed(repo: RepoState, name: str) -> bytes | None:
    """The collapse commit of sub-agent `name` (its COLLAPSED ref), or None."""
    try:
        return repo.agent(name).refs.read_id("COLLAPSED")
    except (AgentNotFound, InvalidRefName):
        return None


# -- the log view -----------------------------------------------------------------------------
@dataclass
class ExpandedCommit:
    """One line of `Expansion.log`: a commit of the parent (depth 0) or of a sub-agent (depth
    1 for the expanded child, 2 for its own children...), or a note standing for history that
    cannot be shown (`missing`; then `id` is the commit that could not be read)."""

    id: str
    agent: str | None           # the sub-agent's path; None for the agent expand runs in
    depth: int
    op: str
    summary: str
    tokens: int = 0
    total_tokens: int = 0
    time_ms: int = 0
    author: str = ""
    parents: tuple[str, ...] = ()
    expanded: bool = False      # a collapse whose child's commits follow this one
    collapse: str | None = None  # the collapse commit this child commit is expanded from
    missing: str | None = None  # why this child history cannot be shown

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["parents"] = list(self.parents)
        return d


def _record(c: Commit, agent: str | None, depth: int, collapse: bytes | None) -> ExpandedCommit:
    return ExpandedCommit(c.hex, agent, depth, c.op, c.summary, c.tokens, c.total_tokens,
                          c.time_ms, c.author, tuple(p.hex() for p in c.parents),
                          collapse=collapse.hex() if collapse is not None else None)


def _child_log(repo: RepoState, k: Commit, depth: int, max_depth: int) -> list[ExpandedCommit]:
    """The commits of the child collapse `k` carried, newest first, its own collapses expanded
    below them down to `max_depth`; a history that cannot be read is one `missing` note."""
    meta = k.meta or {}
    agent, tip, root = str(meta.get("agent", "?")), meta["tip"], meta.get("root")
    out: list[ExpandedCommit] = []
    cid: bytes | None = tip
    try:
        while cid is not None:
            c = repo.get_commit(cid)
            rec = _record(c, agent, depth, k.id)
            out.append(rec)
            if c.op == "collapse" and isinstance((c.meta or {}).get("tip"), bytes) and \
                    depth < max_depth:
                rec.expanded = True
                out.extend(_child_log(repo, c, depth + 1, max_depth))
            if cid == root or not c.parents:
                break
            cid = c.parents[0]
    except MissingObject as exc:
        why = str(_gone(repo, agent, [cid, tip, root], exc, k.id))
        out.append(ExpandedCommit((cid or tip).hex(), agent, depth, "", why, collapse=k.hex,
                                  missing=why))
    return out


# -- the context view -------------------------------------------------------------------------
class _Item(NamedTuple):
    """One message of an expanded context, with the expanded blocks it sits in (outermost
    first: (agent path, collapse hex))."""

    msg: dict
    blob: str
    flags: int
    blocks: tuple = ()


def collapses_in(repo: RepoState, start: bytes, msgs: list[dict]) -> dict[bytes, Commit]:
    """{blob id: collapse commit} of the collapse commits reachable from `start` whose message
    may be among `msgs` (none are looked for when no message reads like a collapse result)."""
    if not any(RESULT_HEADER in message_text(m) for m in msgs):
        return {}
    found: dict[bytes, Commit] = {}
    for row in repo.index.walk_raw([start], (), None, False, ("op",)):
        if row[4] == "collapse":
            c = repo.get_commit(row[0])
            if c.blobs and isinstance((c.meta or {}).get("tip"), bytes):
                found.setdefault(c.blobs[0], c)
    return found


def _own(repo: RepoState, k: Commit) -> tuple[list[Entry], bytes]:
    """(the child's own entries at the tip collapse `k` carried, the tip)."""
    meta = k.meta or {}
    tip, root = meta["tip"], meta.get("root")
    entries = entries_at(repo, tip)
    n, own = meta.get("messages"), meta.get("own")
    if isinstance(n, int) and isinstance(own, int) and n == len(entries) and 0 <= own <= n:
        return entries[n - own:], tip
    from .collapse import prefix_length
    inherited = prefix_length(entries_at(repo, root), entries) if isinstance(root, bytes) else 0
    return entries[inherited:], tip


def _child_items(repo: RepoState, k: Commit, blocks: tuple, depth: int, max_depth: int,
                 strict: bool) -> list[_Item] | None:
    """The child's own messages for collapse `k`, nested collapses expanded; None (with a
    warning) when its history cannot be read and not `strict`."""
    meta = k.meta or {}
    agent = str(meta.get("agent", "?"))
    try:
        own, tip = _own(repo, k)
        msgs = [repo.get_blob(e.blob).message for e in own]
        nested = collapses_in(repo, tip, msgs) if depth < max_depth else {}
    except MissingObject as exc:
        err = _gone(repo, agent, [meta.get("tip"), meta.get("root")], exc, k.id)
        if strict:
            raise err from None
        repo.warn(f"not expanded: {err}")
        return None
    inner = (*blocks, (agent, k.hex))
    return _expand(repo, own, msgs, nested, inner, depth, max_depth, None)


def _expand(repo: RepoState, entries: list[Entry], msgs: list[dict],
            collapses: dict[bytes, Commit], blocks: tuple, depth: int, max_depth: int,
            only: int | None, strict: bool = False) -> list[_Item]:
    """`entries` as items, each collapse message (at index `only`, or any in `collapses`)
    replaced by its child's messages (after it, when it answered a tool call)."""
    out: list[_Item] = []
    for i, (e, m) in enumerate(zip(entries, msgs, strict=True)):
        k = collapses.get(e.blob) if only is None or i == only else None
        item = _Item(m, e.blob.hex(), e.flags, blocks)
        child = _child_items(repo, k, blocks, depth + 1, max_depth, strict and i == only) \
            if k is not None else None
        if k is None or child is None:
            out.append(item)
            continue
        if (k.meta or {}).get("call") is not None:   # the call keeps its result
            out.append(item)
        out.extend(child)
    return out


def _render(repo: RepoState, fmt: str, items: list[_Item], repair: str | None,
            marks: bool) -> Any:
    """The prompt of `items` in `fmt`, each expanded message marked (module docstring)."""
    from ..materialize import FORMATS, render, to_text
    if fmt not in FORMATS:
        from ..errors import InputError
        raise InputError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
    if repair is not None:
        from ..toolpairs import repair as repair_pass
        fixed = repair_pass([i.msg for i in items], repair)
        for note in fixed.notes:
            repo.warn(f"repaired: {note}")
        rebuilt: list[_Item] = []
        for m, o in zip(fixed.messages, fixed.origins, strict=True):
            if o is None:       # a placeholder result: in the block of the message before it
                rebuilt.append(_Item(m, "", 0, rebuilt[-1].blocks if rebuilt else ()))
            else:
                rebuilt.append(items[o]._replace(msg=m))
        items = rebuilt
    if fmt == "json":
        out = render("json", [i.msg for i in items], [i.blob for i in items],
                     [i.flags for i in items])
        for rec, i in zip(out, items, strict=True):
            rec["agent"] = i.blocks[-1][0] if i.blocks else None
            rec["collapse"] = i.blocks[-1][1] if i.blocks else None
        return out
    if fmt == "text":
        parts = []
        for i in items:
            block = to_text([i.msg], [bool(i.flags & 1)])
            parts.append(f"[sub-agent {i.blocks[-1][0]}] {block}" if i.blocks else block)
        return "\n".join(parts)
    msgs: list[dict] = []
    open_: tuple = ()
    for i in items:
        if marks:
            _frame(msgs, open_, i.blocks)
        open_ = i.blocks
        msgs.append(i.msg)
    if marks:
        _frame(msgs, open_, ())
    return render(fmt, msgs)


def _frame(msgs: list[dict], before: tuple, after: tuple) -> None:
    """Append the marker messages between an item in blocks `before` and one in `after`."""
    k = 0
    while k < min(len(before), len(after)) and before[k] == after[k]:
        k += 1
    for agent, _ in reversed(before[k:]):
        msgs.append({"role": "user", "content": f"[sub-agent {agent}: end]"})
    for agent, cid in after[k:]:
        msgs.append({"role": "user", "content": f"[sub-agent {agent} (collapse {cid[:12]}): "
                                                "begin]"})


# -- the API ----------------------------------------------------------------------------------
class Expansion:
    """A collapse commit with its child's history at hand (`expand`): `log()` lists the
    commits, `context(fmt)` gives the parent's context at the collapse with the child's
    messages in place. Nothing is written."""

    def __init__(self, repo: RepoState, commit: Commit, depth: int) -> None:
        meta = commit.meta or {}
        self.repo = repo
        self.commit = commit
        self.agent: str = str(meta.get("agent", "?"))
        self.tip: bytes = meta["tip"]
        root = meta.get("root")
        self.root: bytes | None = root if isinstance(root, bytes) else None
        self.depth = depth
        try:
            repo.get_commit(self.tip)
        except MissingObject as exc:
            raise _gone(repo, self.agent, [self.tip, self.root], exc, commit.id) from None

    def __repr__(self) -> str:
        return f"Expansion({self.commit.hex[:12]}: agent {self.agent}, tip {self.tip.hex()[:12]})"

    def log(self, limit: int | None = PARENT_LIMIT) -> list[ExpandedCommit]:
        """The parent's first-parent history from the collapse commit down to the spawn commit
        that started the child (at most `limit` parent commits), newest first, with the child's
        commits (tip down to root) right after the collapse commit."""
        if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)
                                  or limit < 1):
            from ..errors import InputError
            raise InputError(f"limit must be a positive integer, got {limit!r}")
        repo = self.repo
        out: list[ExpandedCommit] = []
        cid: bytes | None = self.commit.id
        n = 0
        while cid is not None and (limit is None or n < limit):
            c = repo.get_commit(cid)
            rec = _record(c, None, 0, None)
            out.append(rec)
            n += 1
            if cid == self.commit.id:
                rec.expanded = True
                out.extend(_child_log(repo, c, 1, self.depth + 1))
            kids = (c.meta or {}).get("children") if c.op == "spawn" else None
            if isinstance(kids, list) and self.root is not None and \
                    any(isinstance(ch, dict) and ch.get("root") == self.root for ch in kids):
                break
            cid = c.parents[0] if c.parents else None
        return out

    def context(self, fmt: str = "text", repair: str | None = None,
                marks: bool = True) -> Any:
        """The parent's context at the collapse commit in `fmt` (as `materialize`), the
        collapse message replaced by the child's own messages (kept before them when it
        answered a tool call), nested collapses expanded too; marks as the module docstring
        says; `repair` as `materialize`'s, on the expanded messages."""
        from ..bulk import no_gc_pauses
        repo, k = self.repo, self.commit
        with no_gc_pauses():
            entries = entries_at(repo, k.id)
            msgs = [repo.get_blob(e.blob).message for e in entries]
            at = k.targets[0] if k.targets and k.targets[0] < len(entries) and \
                k.blobs and entries[k.targets[0]].blob == k.blobs[0] else \
                next((i for i, e in enumerate(entries) if k.blobs and e.blob == k.blobs[0]), -1)
            if at < 0:
                raise OperationError(f"collapse {k.hex[:12]}: its message is not in its own "
                                     "context")
            items = _expand(repo, entries, msgs, {entries[at].blob: k}, (), 0, self.depth + 1,
                            at, strict=True)
            return _render(repo, fmt, items, repair, marks)


def expand(repo: RepoState, rev: str, *, depth: int = DEFAULT_DEPTH) -> Expansion:
    """The child history behind collapse `rev` (a revision of a collapse commit, or a
    collapsed sub-agent's name: its latest collapse), for `log()` or `context(fmt)`; collapses
    inside it are expanded `depth` levels further. Raises when the child's tip cannot be read
    (`history of agent A was pruned on DATE` if the retention record lists it). Read-only."""
    _check_depth(depth)
    return Expansion(repo, find_collapse(repo, rev), depth)


def expanded_context(repo: RepoState, fmt: str = "openai", rev: str = "HEAD",
                     repair: str | None = None, *, depth: int = DEFAULT_DEPTH,
                     marks: bool = True) -> Any:
    """`materialize(fmt, rev, repair)` with every collapse message in the context replaced by
    its child's own messages (nested ones `depth` levels down), marked as the module docstring
    says. A child whose history cannot be read keeps its collapse message, with a warning."""
    _check_depth(depth)
    from ..bulk import no_gc_pauses
    from ..context import entries_at, rev_or_none
    with no_gc_pauses():
        cid = rev_or_none(repo, rev)
        entries = entries_at(repo, cid)
        msgs = [repo.get_blob(e.blob).message for e in entries]
        found = collapses_in(repo, cid, msgs) if cid is not None else {}
        items = _expand(repo, entries, msgs, found, (), 0, depth + 1, None)
        return _render(repo, fmt, items, repair, marks)


def _check_depth(depth: int) -> None:
    if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
        from ..errors import InputError
        raise InputError(f"depth must be a non-negative integer, got {depth!r}")


def expand_lines(records: list[ExpandedCommit]) -> list[str]:
    """`trace expand` lines: `trace log --oneline`'s columns, a sub-agent's commits indented by
    depth and marked `[PATH]`, a missing history as one note line."""
    from ..render.log import sign
    out = []
    for r in records:
        pad = "    " * r.depth + (f"[{r.agent}] " if r.agent else "")
        if r.missing is not None:
            out.append(f"{pad}({r.missing})")
            continue
        mark = ">" if r.expanded else " "
        out.append(f"{pad}{r.id[:12]}{mark}{r.op:<8} {sign(r.op, r.tokens)}{abs(r.tokens):<5d} "
                   f"{r.total_tokens:7d}  {r.summary}")
    return out
