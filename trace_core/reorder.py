"""Reorder the entries of the current context as one `reorder` commit, with safety checks.

A reorder is given either as `order`, a full permutation of the context's entry indices (new
position i holds old entry `order[i]`), or as `moves`, range moves applied one after another:
`(start, end, before)` takes entries `start .. end-1` of the list as it is at that point and puts
them just before the entry that is at index `before` (`before` = the number of entries puts them
at the end). Either way the result is checked for what a reorder can break (see `check`):

- `tool-result`: a tool result before the tool call it answers (OpenAI `tool_call_id` against
  the assistant's `tool_calls[].id`, Anthropic `tool_result.tool_use_id` against `tool_use.id`
  blocks, Responses `function_call_output.call_id` against `function_call.call_id`);
- `answer`: an assistant entry before the user entry that most closely preceded it originally
  (its question; a user entry made only of tool results is not a question);
- `reference`: an entry before an entry it refers to. An entry refers to another when a string
  anywhere in its message (any field, any depth) holds the other entry's full blob id (64 hex
  digits), or equals the other message's top-level `id` (at least 8 characters) in a field
  named `reply_to`, `in_reply_to`, `parent_id`, `previous_response_id` or `id` of an
  `item_reference` part. Tool results are reported as `tool-result`, not again here;
- `system`: an entry moved across a system (or developer) message: before it originally and
  after it now, or the other way round;
- `pinned`: an entry moved across a pinned block (a maximal run of pinned entries in the
  original order): it was on one side of the block and now is on the other side or inside it.

Only what the reorder changes is reported: a relation already broken before is not a warning.
Warnings are returned; `strict` refuses (ReorderRefused, nothing written) unless `force`;
every commit made despite warnings records them in its meta (`warnings`, and `forced`).

The commit (op `reorder`) has the entries' old indices that moved as `targets` (for moves: the
entries the ranges moved; for a permutation: the fewest entries whose moving explains it), no
blobs, `tokens` = the moved entries' tokens, and `meta` = `{"base": <hex>, "count": n,
"order": [[start, length], ...]}`: the new context is old entries `start .. start+length-1` for
each run in turn (docs/FORMAT.md §6.4.3). Concurrent writers: the commit goes through the commit
primitive's compare-and-swap; when the branch moved, it is rebuilt on the new tip if that tip's
context is the planned one plus appended entries (they stay after the reordered ones), and
refused otherwise, nothing written.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from . import chunked
from .context import entries_at, entry_messages
from .errors import InputError, OperationError
from .messages import call_ids, is_question, preview, result_ids
from .plumbing.commit import Change, commit_change, total_after
from .state import RepoState

MAX_MOVES = 1000
META_ENTRIES = 64
SYSTEM_ROLES = ("system", "developer")
REFERENCE_KEYS = ("reply_to", "in_reply_to", "parent_id", "previous_response_id")
_HEX64 = re.compile(r"[0-9a-f]{64}")


class ReorderRefused(OperationError):
    """A strict reorder whose checks found problems (nothing was written)."""

    def __init__(self, warnings: list) -> None:
        self.warnings = warnings
        more = f" (and {len(warnings) - 1} more)" if len(warnings) > 1 else ""
        super().__init__(f"reorder refused: {warnings[0].message}{more}; use --force to "
                         f"reorder anyway")


@dataclass(frozen=True)
class ReorderWarning:
    kind: str            # tool-result, answer, reference, system, pinned
    #: old indices of the entries involved: (result, call), (answer, question), (referring,
    #: referred), (system message, entries that crossed it), (pinned block..., entries that
    #: crossed it)
    entries: tuple
    message: str

    def to_meta(self) -> dict:
        """The warning as recorded in a commit's meta: at most META_ENTRIES entries listed,
        `more` counting the rest."""
        out: dict[str, Any] = {"kind": self.kind, "entries": list(self.entries[:META_ENTRIES])}
        if len(self.entries) > META_ENTRIES:
            out["more"] = len(self.entries) - META_ENTRIES
        return out


@dataclass
class ReorderResult:
    commit: Any                      # the reorder Commit; None for a dry run or nothing to do
    order: list[int]                 # new position i holds old entry order[i]
    moved: list[int]                 # old indices of the entries that moved (the targets)
    warnings: list[ReorderWarning] = field(default_factory=list)
    base: bytes | None = None     # the commit whose context the indices refer to
    changed: bool = True             # False: the order is the current one (nothing to do)
    dry_run: bool = False
    messages: list[dict] = field(default_factory=list)   # the base context's messages


# -- permutations ----------------------------------------------------------------------------
def _index(value: Any, what: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise InputError(f"{what} must be an integer, got {value!r}"[:200])
    return value


def check_order(order: Any, count: int) -> list[int]:
    """`order` as a list, if it is a permutation of 0..count-1 (else InputError)."""
    if isinstance(order, (str, bytes)) or not isinstance(order, (list, tuple)):
        raise InputError("order must be a list of entry indices")
    seen: dict[int, int] = {}
    out = []
    for pos, v in enumerate(order):
        i = _index(v, "an entry index")
        if not 0 <= i < count:
            raise InputError(f"entry {i} does not exist (the context has {count} entries)")
        if i in seen:
            raise InputError(f"entry {i} is given twice (positions {seen[i]} and {pos})")
        seen[i] = pos
        out.append(i)
    if len(out) != count:
        missing = next(i for i in range(count) if i not in seen)
        raise InputError(f"order is not a permutation of the {count} entries: entry {missing} "
                         f"is missing")
    return out


def apply_moves(moves: Any, count: int) -> tuple[list[int], list[int]]:
    """(order, moved old indices) of range moves `(start, end, before)` applied in sequence."""
    if isinstance(moves, (str, bytes)) or not isinstance(moves, (list, tuple)):
        raise InputError("moves must be a list of (start, end, before) triples")
    if len(moves) > MAX_MOVES:
        raise InputError(f"too many moves ({len(moves)}; at most {MAX_MOVES})")
    cur = list(range(count))
    moved: set = set()
    for k, mv in enumerate(moves, 1):
        if isinstance(mv, (str, bytes)) or not isinstance(mv, (list, tuple)) or len(mv) != 3:
            raise InputError(f"move {k}: expected (start, end, before), got {mv!r}"[:200])
        start, end, before = (_index(v, f"move {k}: an index") for v in mv)
        if not 0 <= start < end <= count:
            if start >= end:
                raise InputError(f"move {k}: the range {start}:{end} is empty")
            raise InputError(f"move {k}: the range {start}:{end} is outside the context "
                             f"(entries 0 to {count - 1})")
        if not 0 <= before <= count:
            raise InputError(f"move {k}: there is no entry {before} to move before (0 to "
                             f"{count}; {count} means the end)")
        if start < before < end:
            raise InputError(f"move {k}: the destination {before} is inside the range "
                             f"{start}:{end}")
        block = cur[start:end]
        moved.update(block)
        rest = cur[:start] + cur[end:]
        at = before if before <= start else before - (end - start)
        cur = rest[:at] + block + rest[at:]
    return cur, sorted(moved)


def moved_entries(order: Sequence[int]) -> list[int]:
    """The fewest old indices whose moving turns 0..n-1 into `order`: those outside a longest
    increasing subsequence (the first one found scanning left to right)."""
    tails: list[int] = []       # tails[k]: smallest last value of an increasing run of k+1
    tail_pos: list[int] = []
    prev = [-1] * len(order)
    for pos, v in enumerate(order):
        k = bisect_left(tails, v)
        if k == len(tails):
            tails.append(v)
            tail_pos.append(pos)
        else:
            tails[k] = v
            tail_pos[k] = pos
        prev[pos] = tail_pos[k - 1] if k else -1
    keep = set()
    pos = tail_pos[-1] if tail_pos else -1
    while pos >= 0:
        keep.add(order[pos])
        pos = prev[pos]
    return sorted(set(order) - keep)


def runs(order: Sequence[int]) -> list[list[int]]:
    """`order` as [start, length] runs of consecutive old indices (the commit meta's form)."""
    out: list[list[int]] = []
    for v in order:
        if out and out[-1][0] + out[-1][1] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return out


def order_from_runs(meta_runs: Any, count: int) -> list[int]:
    """The permutation a commit meta's `order` runs describe (InputError if they do not)."""
    if not isinstance(meta_runs, list):
        raise InputError("order runs must be a list of [start, length] pairs")
    out: list[int] = []
    for r in meta_runs:
        if not isinstance(r, list) or len(r) != 2:
            raise InputError("order runs must be a list of [start, length] pairs")
        start, length = (_index(v, "a run bound") for v in r)
        if length <= 0 or start < 0 or len(out) + length > count:
            raise InputError("order runs do not describe the context")
        out.extend(range(start, start + length))
    return check_order(out, count)


# -- what a message says about its neighbours --------------------------------------------------
def _strings(value: Any, depth: int = 0) -> Iterable[str]:
    """Every string in a message, at any depth."""
    if depth > 64:
        return
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for v in value.values():
            yield from _strings(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _strings(v, depth + 1)


def _id_refs(value: Any, depth: int = 0) -> Iterable[str]:
    """Values of the reference fields (REFERENCE_KEYS, `item_reference` ids) in a message."""
    if depth > 64:
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if isinstance(v, str) and (k in REFERENCE_KEYS or
                                       (k == "id" and value.get("type") == "item_reference")):
                yield v
            elif isinstance(v, (dict, list)):
                yield from _id_refs(v, depth + 1)
    elif isinstance(value, list):
        for v in value:
            yield from _id_refs(v, depth + 1)


def references(messages: Sequence[dict], blob_ids: Sequence[bytes]) -> list[tuple[int, int]]:
    """(referring entry, referred entry) pairs by the rules of the module docstring, tool
    results excluded."""
    by_blob: dict[str, list[int]] = {}
    for i, b in enumerate(blob_ids):
        by_blob.setdefault(b.hex(), []).append(i)
    by_msg_id: dict[str, list[int]] = {}
    for i, m in enumerate(messages):
        mid = m.get("id")
        if isinstance(mid, str) and len(mid) >= 8:
            by_msg_id.setdefault(mid, []).append(i)
    out: set[tuple[int, int]] = set()
    for i, m in enumerate(messages):
        for text in _strings(m):
            if len(text) >= 64:
                for h in _HEX64.findall(text):
                    out.update((i, j) for j in by_blob.get(h, ()) if j != i)
        for ref in _id_refs(m):
            out.update((i, j) for j in by_msg_id.get(ref, ()) if j != i)
    return sorted(out)


# -- the checks --------------------------------------------------------------------------------
def _label(i: int, m: dict) -> str:
    return f"#{i} ({m.get('role') or m.get('type') or 'message'})"


def check(messages: Sequence[dict], flags: Sequence[int], blob_ids: Sequence[bytes],
          order: Sequence[int]) -> list[ReorderWarning]:
    """What putting the entries in `order` breaks (see the module docstring)."""
    n = len(order)
    new = [0] * n
    for pos, old in enumerate(order):
        new[old] = pos
    out: list[ReorderWarning] = []

    def flipped(a: int, b: int) -> bool:      # a was after b; now it is before
        return a > b and new[a] < new[b]

    # tool results before their calls (the nearest call with the id before the result)
    calls: dict[str, int] = {}
    paired = set()
    for i, m in enumerate(messages):
        for cid in result_ids(m):
            c = calls.get(cid)
            if c is not None:
                paired.add((i, c))
                if flipped(i, c):
                    out.append(ReorderWarning(
                        "tool-result", (i, c), f"the tool result {_label(i, m)} for {cid!r} "
                        f"would come before its tool call {_label(c, messages[c])}"))
        for cid in call_ids(m):
            calls[cid] = i
    # answers before their questions
    question = None
    for i, m in enumerate(messages):
        if m.get("role") == "assistant" and question is not None and flipped(i, question):
            out.append(ReorderWarning(
                "answer", (i, question), f"the answer {_label(i, m)} would come before its "
                f"question {_label(question, messages[question])}"))
        if is_question(m):
            question = i
    # references
    for i, j in references(messages, blob_ids):
        if (i, j) not in paired and flipped(i, j):
            out.append(ReorderWarning(
                "reference", (i, j), f"{_label(i, messages[i])} refers to "
                f"{_label(j, messages[j])} but would come before it"))
    # Entries outside a longest increasing run keep their relative order, so an entry (or
    # block) that did not move can only be crossed by the moved ones: scan those, not all n.
    moved = moved_entries(order)
    moved_set = set(moved)

    def candidates(members: range) -> Sequence[int]:
        return range(n) if any(x in moved_set for x in members) else moved

    # across system messages
    for s, m in enumerate(messages):
        if m.get("role") in SYSTEM_ROLES:
            crossed = [x for x in candidates(range(s, s + 1))
                       if x != s and (x < s) != (new[x] < new[s])]
            if crossed:
                out.append(ReorderWarning(
                    "system", (s, *crossed), f"{_list(crossed)} would move across the "
                    f"{m.get('role')} message #{s}"))
    # across pinned blocks
    i = 0
    while i < n:
        if not flags[i] & 1:
            i += 1
            continue
        j = i
        while j + 1 < n and flags[j + 1] & 1:
            j += 1
        lo = min(new[k] for k in range(i, j + 1))
        hi = max(new[k] for k in range(i, j + 1))
        # outside the block: on the same side as before, or it crossed (or split) the block
        crossed = [x for x in candidates(range(i, j + 1)) if (x < i or x > j) and
                   (new[x] < lo if x < i else new[x] > hi) is False]
        if crossed:
            block = f"#{i}" if i == j else f"#{i}-#{j}"
            out.append(ReorderWarning(
                "pinned", (*range(i, j + 1), *crossed), f"{_list(crossed)} would move across "
                f"the pinned {'entry' if i == j else 'block'} {block}"))
        i = j + 1
    return out


def _list(idx: Sequence[int], limit: int = 8) -> str:
    shown = ", ".join(f"#{i}" for i in idx[:limit])
    more = f" and {len(idx) - limit} more" if len(idx) > limit else ""
    word = "entry" if len(idx) == 1 else "entries"
    return f"{word} {shown}{more}"


# -- todo lists (`reorder -i`) -----------------------------------------------------------------
TODO_HELP = """\
# Reorder the context: one line per entry, in the new order.
#   pick #<index> <role> <preview>
# Move lines to reorder the entries; only 'pick #<index>' counts, the rest is a reminder.
# Every entry must appear exactly once: removing, duplicating or adding a line is an error
# and nothing is changed. Keep the order as it is to change nothing.
# Lines starting with '#' and blank lines are ignored.
"""
_PICK = re.compile(r"^(pick|p)\s+#?(\d+)(?:\s.*)?$")


def format_todo(messages: Sequence[dict], flags: Sequence[int], header: str = "") -> str:
    """The todo list of a context: `pick #<index> <role> <preview>` per entry, then help."""
    lines = []
    for i, (m, f) in enumerate(zip(messages, flags, strict=True)):
        role = str(m.get("role") or m.get("type") or "message")
        pin = " [pinned]" if f & 1 else ""
        text = " ".join(preview(m, 72).split())
        lines.append(f"pick #{i} {role}{pin} {text}".rstrip())
    head = "".join(f"# {h}\n" for h in header.splitlines() if h) if header else ""
    return "\n".join(lines) + ("\n" if lines else "") + "#\n" + head + TODO_HELP


def parse_todo(text: str, count: int) -> list[int]:
    """The order a todo list gives (InputError naming the line for anything malformed)."""
    if not isinstance(text, str):
        raise InputError("a todo list must be text")
    order: list[int] = []
    where: dict[int, int] = {}
    for no, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _PICK.match(line)
        if m is None:
            word = line.split()[0]
            if word in ("drop", "d", "edit", "e", "squash", "s", "fixup", "f", "reword", "r"):
                raise InputError(f"line {no}: '{word}' is not supported: a reorder only picks "
                                 f"entries (use 'trace commit --type drop' to drop one)")
            raise InputError(f"line {no}: expected 'pick #<index> ...', got {line[:60]!r}")
        i = int(m.group(2))
        if i >= count:
            raise InputError(f"line {no}: there is no entry #{i} (the context has {count} "
                             f"entries)")
        if i in where:
            raise InputError(f"line {no}: entry #{i} is listed twice (also on line {where[i]})")
        where[i] = no
        order.append(i)
    if not order and count:
        raise InputError("the todo list is empty: nothing changed")
    if len(order) != count:
        missing = [f"#{i}" for i in range(count) if i not in where]
        raise InputError(f"the todo list lacks entr{'y' if len(missing) == 1 else 'ies'} "
                         f"{', '.join(missing[:8])}{' ...' if len(missing) > 8 else ''} "
                         f"(a reorder cannot remove entries)")
    return order


# -- the operation -----------------------------------------------------------------------------
def plan(repo: RepoState, order: Sequence[int] | None = None,
         moves: Sequence[Sequence[int]] | None = None, base: bytes | None = None,
         entries: list | None = None, messages: list | None = None) -> dict:
    """Read the context the indices refer to (`base`, default the tip; its `entries` and
    `messages` when the caller has read them already) and work out the order, the moved entries
    and the warnings, writing nothing."""
    if (order is None) == (moves is None):
        raise InputError("give either an order or moves")
    if base is None:
        base = repo.head_commit()
    if entries is None:
        entries = entries_at(repo, base) if base is not None else []
    count = len(entries)
    if order is not None:
        new_order = check_order(order, count)
        moved = moved_entries(new_order)
    else:
        new_order, moved = apply_moves(moves, count)
        if new_order == list(range(count)):
            moved = []
    if messages is None:
        messages = entry_messages(repo, entries)
    flags = [e.flags for e in entries]
    warnings = check(messages, flags, [e.blob for e in entries], new_order)
    return {"base": base, "entries": entries, "order": new_order, "moved": moved,
            "warnings": warnings, "messages": messages}


def reorder(repo: RepoState, order: Sequence[int] | None = None,
            moves: Sequence[Sequence[int]] | None = None, strict: bool = False,
            force: bool = False, commit_message: str | None = None, *,
            dry_run: bool = False, base: bytes | None = None,
            author: str | None = None, entries: list | None = None,
            messages: list | None = None) -> ReorderResult:
    """Rearrange the entries of the current context as one `reorder` commit.

    `order`: new position i holds old entry order[i] (a full permutation). `moves`: `(start,
    end, before)` range moves applied in sequence (module docstring). `base`: the commit whose
    context the indices refer to (default: the tip when called); the commit is made on the tip,
    which may have appended entries since (they stay at the end). `strict` refuses when the
    checks warn, unless `force`. `dry_run` works everything out and writes nothing.
    `entries` / `messages`: the context of `base`, if the caller has read it already.
    """
    p = plan(repo, order, moves, base, entries, messages)
    new_order, moved, warnings = p["order"], p["moved"], p["warnings"]
    result = ReorderResult(None, new_order, moved, warnings, p["base"],
                           changed=bool(moved), dry_run=dry_run, messages=p["messages"])
    if not result.changed or dry_run:
        return result
    if strict and warnings and not force:
        raise ReorderRefused(warnings)
    base_entries = p["entries"]
    n = len(base_entries)
    base_hex = p["base"].hex()
    meta: dict[str, Any] = {"base": base_hex, "count": n, "order": runs(new_order)}
    if warnings:
        meta["warnings"] = [w.to_meta() for w in warnings]
        if force:
            meta["forced"] = True
    if moves is not None:
        what = "; ".join(f"#{s}-#{e - 1} before #{b}" if e - s > 1 else f"#{s} before #{b}"
                         for s, e, b in moves)
        message = commit_message or f"reorder: move {what}"[:200]
    else:
        message = commit_message or (f"reorder: move {len(moved)} entr"
                                     f"{'y' if len(moved) == 1 else 'ies'}")
    cost = sum(repo.blob_tokens(base_entries[i].blob) for i in moved)

    def build(parent, snap) -> Change:
        entries = chunked.entries(snap, repo.get_node)
        if entries[:n] != base_entries:
            raise OperationError(f"the context changed since {base_hex[:12]} other than by "
                                 f"appends; nothing was reordered (plan it again)")
        new_entries = [base_entries[i] for i in new_order] + entries[n:]
        nodes: list = []
        new = chunked.build(new_entries, nodes.append)
        return Change(new, nodes, "reorder", blobs=(), targets=list(moved), message=message,
                      tokens=cost, total_tokens=total_after(repo, parent, snap, 0, new.count),
                      meta=dict(meta))

    result.commit = commit_change(repo, build, author)
    return result
