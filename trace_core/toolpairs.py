"""Tool-call pairing of a message list: which calls and results are broken, which calls await
their results at the end, and the explicit repairs a prompt may be given (docs/porcelain.md).

Definitions (messages in context order; calls and results read through trace_core.messages, so
chat-completions `tool_calls`/`tool`, Anthropic `tool_use`/`tool_result` and Responses
`function_call`/`function_call_output` are all understood):

- A message is *conversational* when it has a role and neither makes a tool call nor carries a
  tool result (a user question, an assistant answer, a system message). Items without a role
  (a Responses `reasoning` item) are neutral. A call is *open* from its message until its
  result comes or a conversational message comes, whichever is first.
- A result is *paired* when the call it answers is open at that point. Otherwise it is an
  **orphan result** (`orphan-result`): no call before it, its call already answered, or its call
  cut off by a conversational message in between.
- A call still open when a conversational message comes is an **unanswered call**
  (`unanswered-call`): the conversation moved on without its result.
- Calls still open at the END of the list are **pending**: the normal state mid-turn (the agent
  called a tool and its result is not recorded yet), not breakage.

Everything here is a pure function of messages (no I/O); trace_core.plumbing.integrity applies
it to the contexts a change moves between.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from .errors import InputError, OperationError
from .messages import call_ids, call_names, is_tool_output, result_ids
from .shapes import CALL_ITEMS, OUTPUT_ITEMS, PLAIN_ROLES

ORPHAN = "orphan-result"
UNANSWERED = "unanswered-call"
REPAIRS = ("drop-orphans", "placeholder")
PLACEHOLDER_TEXT = "[no result was recorded for this tool call]"


class ToolPairingError(OperationError):
    """A change refused under strict tool checking: it would break tool-call pairing."""


class _Record:
    """Immutable value records compared and hashed by their fields (status keeps them in
    process-wide caches). Plain slotted classes, not dataclasses: importing `dataclasses` costs
    every command ~10 ms; not NamedTuples: a field is named `index`."""

    __slots__: tuple[str, ...] = ()

    def __init__(self, *values: Any) -> None:
        for k, v in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, k, v)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        return f"{type(self).__name__}(" + ", ".join(
            f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"

    def _asdict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__slots__}


class Problem(_Record):
    """One broken pair: `index` is the result (orphan) or the call (unanswered) message,
    `before` the conversational message that cut an unanswered call off (None for orphans)."""

    __slots__ = ("kind", "index", "call_id", "before")
    kind: str
    index: int
    call_id: str
    before: int | None

    def __init__(self, kind: str, index: int, call_id: str, before: int | None = None) -> None:
        super().__init__(kind, index, call_id, before)

    def to_dict(self) -> dict[str, Any]:
        return dict(self._asdict(), message=self.text())

    def text(self) -> str:
        if self.kind == ORPHAN:
            return f"tool result #{self.index} for {self.call_id!r} has no call awaiting it " \
                   "before it"
        return f"tool call {self.call_id!r} (#{self.index}) gets no result before #{self.before}"


class Pending(_Record):
    """A call at the end of the list still awaiting its result."""

    __slots__ = ("index", "call_id", "name")
    index: int
    call_id: str
    name: str

    def __init__(self, index: int, call_id: str, name: str) -> None:
        super().__init__(index, call_id, name)

    def to_dict(self) -> dict[str, Any]:
        return self._asdict()


class Pairing(NamedTuple):
    problems: list[Problem]
    pending: list[Pending]


def conversational(m: object) -> bool:
    """A message with a role that makes no tool call and carries no tool result."""
    return isinstance(m, dict) and isinstance(m.get("role"), str) and not call_ids(m) \
        and not is_tool_output(m)


def analyze(messages: Sequence[dict], start: int = 0,
            open_calls: Sequence[Pending] = ()) -> Pairing:
    """The broken pairs and pending calls of `messages` (indices counted from `start`), with
    `open_calls` already open before the first of them."""
    problems: list[Problem] = []
    open_: dict[str, Pending] = {p.call_id: p for p in open_calls}
    for k, m in enumerate(messages):
        i = start + k
        if not isinstance(m, dict):
            continue
        if m.get("role") in PLAIN_ROLES and isinstance(m.get("content"), str) and \
                not m.get("tool_calls") and "type" not in m:     # the common case, quickly
            if open_:
                problems.extend(Problem(UNANSWERED, p.index, p.call_id, i)
                                for p in open_.values())
                open_.clear()
            continue
        for rid in result_ids(m):
            if open_.pop(rid, None) is None:
                problems.append(Problem(ORPHAN, i, rid))
        if conversational(m):
            problems.extend(Problem(UNANSWERED, p.index, p.call_id, i) for p in open_.values())
            open_.clear()
        names = call_names(m)
        for cid in call_ids(m):
            old = open_.pop(cid, None)
            if old is not None:     # the same id called again before its result
                problems.append(Problem(UNANSWERED, old.index, cid, i))
            open_[cid] = Pending(i, cid, names.get(cid, ""))
    return Pairing(problems, list(open_.values()))


def summary(problems: Sequence[Problem], limit: int = 2) -> str:
    """The problems in one line: the first `limit`, then how many more."""
    out = "; ".join(p.text() for p in problems[:limit])
    if len(problems) > limit:
        out += f" (and {len(problems) - limit} more)"
    return out


def pending_line(pending: Sequence[Pending]) -> str:
    """`HEAD ends with N tool call(s) awaiting its/their result: name (id), ...`."""
    n = len(pending)
    what = ", ".join(f"{p.name or '?'} ({p.call_id}, #{p.index})" for p in pending[:4])
    more = f" and {n - 4} more" if n > 4 else ""
    return (f"ends with {n} tool call{'s' * (n != 1)} awaiting {'its' if n == 1 else 'their'} "
            f"result{'s' * (n != 1)}: {what}{more}")


# -- repairs ----------------------------------------------------------------------------------
class Repaired(NamedTuple):
    """A repaired message list: `origins[i]` is the index of the stored message output message
    i came from (None for an inserted placeholder), `notes` one line per repair made."""

    messages: list[dict]
    origins: list[int | None]
    notes: list[str]


def _without_results(m: dict, ids: set[str]) -> dict | None:
    """`m` without its results for `ids` (None when nothing is left of it)."""
    if m.get("role") == "tool" or m.get("type") in OUTPUT_ITEMS:
        return None
    c = m.get("content")
    if isinstance(c, list):
        kept = [b for b in c if not (isinstance(b, dict) and b.get("type") == "tool_result"
                                     and b.get("tool_use_id") in ids)]
        if not kept:
            return None
        m = dict(m, content=kept)
    return m


def _without_calls(m: dict, ids: set[str]) -> dict | None:
    """`m` without its calls `ids` (None when nothing is left of it)."""
    if m.get("type") in CALL_ITEMS:
        return None
    m = dict(m)
    if isinstance(m.get("tool_calls"), list):
        kept = [c for c in m["tool_calls"] if not (isinstance(c, dict) and c.get("id") in ids)]
        if kept:
            m["tool_calls"] = kept
        else:
            del m["tool_calls"]
    c = m.get("content")
    if isinstance(c, list):
        m["content"] = [b for b in c if not (isinstance(b, dict) and b.get("type") == "tool_use"
                                             and b.get("id") in ids)]
    c = m.get("content")
    if not m.get("tool_calls") and (c is None or c == "" or c == []):
        return None
    return m


def placeholder(call: dict, call_id: str, text: str = PLACEHOLDER_TEXT) -> dict:
    """A result for `call_id` in the shape of the message that made the call."""
    if call.get("type") in CALL_ITEMS:     # (a Responses item: the output item it calls for)
        return {"type": CALL_ITEMS[call["type"]], "call_id": call_id, "output": text}
    content = call.get("content")
    if isinstance(content, list) and any(isinstance(b, dict) and b.get("type") == "tool_use"
                                         and b.get("id") == call_id for b in content):
        return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": call_id,
                                             "content": text, "is_error": True}]}
    return {"role": "tool", "tool_call_id": call_id, "content": text}


def repair(messages: Sequence[dict], mode: str) -> Repaired:
    """The messages with every broken pair and pending call repaired, and what was done.

    drop-orphans: orphan results and unanswered or pending calls are removed (a message left
    with nothing is dropped). placeholder: each unanswered or pending call gets a placeholder
    result (in its call's shape) where its result was due; orphan results, which have no call
    to answer, are removed. The stored messages are not changed."""
    if mode not in REPAIRS:
        raise InputError(f"unknown repair {mode!r} (choose from {', '.join(REPAIRS)})")
    pairing = analyze(messages)
    if not pairing.problems and not pairing.pending:
        return Repaired(list(messages), list(range(len(messages))), [])
    drop_results: dict[int, set[str]] = {}
    drop_calls: dict[int, set[str]] = {}
    insert: dict[int, list[tuple[int, str]]] = {}   # before index -> [(call index, id)]
    notes: list[str] = []
    n = len(messages)
    for p in pairing.problems:
        if p.kind == ORPHAN:
            drop_results.setdefault(p.index, set()).add(p.call_id)
            notes.append(f"dropped tool result #{p.index} for {p.call_id!r} (no call awaiting "
                         "it)")
        elif mode == "drop-orphans":
            drop_calls.setdefault(p.index, set()).add(p.call_id)
            notes.append(f"dropped tool call {p.call_id!r} (#{p.index}): no result before "
                         f"#{p.before}")
        else:
            assert p.before is not None
            insert.setdefault(p.before, []).append((p.index, p.call_id))
            notes.append(f"placeholder result for tool call {p.call_id!r} (#{p.index}) before "
                         f"#{p.before}")
    for q in pairing.pending:
        if mode == "drop-orphans":
            drop_calls.setdefault(q.index, set()).add(q.call_id)
            notes.append(f"dropped tool call {q.call_id!r} (#{q.index}): awaiting its result "
                         "at the end")
        else:
            insert.setdefault(n, []).append((q.index, q.call_id))
            notes.append(f"placeholder result for tool call {q.call_id!r} (#{q.index}) at the "
                         "end")
    out: list[dict] = []
    origins: list[int | None] = []
    for i in range(n + 1):
        for ci, cid in insert.get(i, ()):
            out.append(placeholder(messages[ci], cid))
            origins.append(None)
        if i == n:
            break
        m: dict | None = messages[i]
        if i in drop_results and m is not None:
            m = _without_results(m, drop_results[i])
        if i in drop_calls and m is not None:
            m = _without_calls(m, drop_calls[i])
        if m is not None:
            out.append(m)
            origins.append(i)
    return Repaired(out, origins, notes)
