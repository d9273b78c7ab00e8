"""The context manager's plan (docs/manage.md, "Plans"): operations on an agent's context, one
per line, that a human can read, edit and approve, and the manager (or `--auto`) executes.

    # trace manage plan for agent worker at 3f2a9c1b7e40: 12345 of 16000 tokens (77%)
    mask 12:40        # 8 stale tool outputs (3+ turns old): 6100 tokens
    drop 17,23        # duplicates of #3, #9: 80 tokens
    pin 1,5           # #1 states a requirement ('must'); #5 names the path 'src/x.py'
    compress 2:11     # 2 old turns unrelated to the task: 3000 tokens

A line is `<op> <entries> [# why]`: `mask I:J` and `compress I:J` take a span START:END (END
excluded), `drop` and `pin` a comma-separated list of indices. Indices are those of the context
at the plan's head (the header names it). `#` starts a comment; blank and comment lines are
skipped; a deleted line is an operation not done. No entry is changed by two lines, except that
a mask span may hold entries a drop removes (a mask changes only tool outputs, a drop only
messages without tool calls) and a mask or compress span entries a pin keeps; a pinned entry is
never dropped.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

from ..errors import InputError
from ..policy import signals
from ..policy.spec import PIN_KINDS
from ..policy.state import View
from .health import MIN_OUTPUT, Health

OPS = ("mask", "drop", "pin", "compress")
_LINE = re.compile(r"\s*(mask|drop|pin|compress)\s+([0-9:, ]+?)\s*(?:#\s*(.*))?\Z")
_HEAD = re.compile(r"#.* at ([0-9a-f]{12,64})\b")
MAX_LINES = 1000


class Operation:
    """One planned operation: `op` (OPS), `indices` (drop, pin) or `span` (mask, compress:
    (start, end)), `why`, `saves` (estimated tokens)."""

    __slots__ = ("op", "indices", "span", "why", "saves")

    def __init__(self, op: str, indices: Sequence[int] = (), span: tuple[int, int] | None = None,
                 why: str = "", saves: int = 0) -> None:
        self.op, self.indices, self.span, self.why, self.saves = op, list(indices), span, why, saves

    def positions(self) -> list[int]:
        return list(range(*self.span)) if self.span else list(self.indices)

    def line(self) -> str:
        what = f"{self.span[0]}:{self.span[1]}" if self.span else \
            ",".join(str(i) for i in self.indices)
        return f"{self.op:<8} {what:<10} # {self.why}" if self.why else f"{self.op} {what}"

    def to_dict(self) -> dict:
        return {"op": self.op, "indices": self.indices, "span": list(self.span) if self.span
                else None, "why": self.why, "saves": self.saves}


class ManagePlan:
    """Operations on the context at `head` (hex) of `agent` (None: the root namespace)."""

    def __init__(self, agent: str | None, head: str | None, ops: list[Operation],
                 header: str = "") -> None:
        self.agent, self.head, self.ops, self.header = agent, head, ops, header

    def text(self) -> str:
        head = self.header or f"# trace manage plan for agent {self.agent or '(root)'} at " \
            f"{(self.head or '-')[:12]}"
        lines = [head, "# delete a line to skip it; the indices are those of the context at "
                 "that head", *(op.line() for op in self.ops)]
        if not self.ops:
            lines.append("# nothing to do")
        return "\n".join(lines) + "\n"

    def to_dict(self) -> dict:
        return {"agent": self.agent, "head": self.head, "ops": [o.to_dict() for o in self.ops]}


def propose(view: View, health: Health, *, max_ops: int = 16) -> ManagePlan:
    """The offline heuristic plan for a context and its health: mask the stale tool outputs,
    drop duplicated messages, pin requirements, paths and repeated identifiers, and compress the
    old turns unrelated to the task, when the context is over 60% of its budget (or has no
    budget) and they hold at least MIN_OUTPUT tokens."""
    ops: list[Operation] = []
    pins = {i: w for i, w in signals.pin_reasons(view.msgs, PIN_KINDS).items()
            if not view.pinned(i)}
    if pins:
        ops.append(Operation("pin", sorted(pins), why="; ".join(
            f"#{i} {w}" for i, w in list(pins.items())[:4]) + (
            f"; {len(pins) - 4} more" if len(pins) > 4 else "")))
    dups = [d for d in health.duplicates if d[0] not in pins]
    if dups:
        firsts = sorted({d[1] for d in dups})
        ops.append(Operation("drop", [d[0] for d in dups],
                             why="duplicates of " + ", ".join(f"#{i}" for i in firsts[:6]) +
                             f": {sum(d[2] for d in dups)} tokens",
                             saves=sum(d[2] for d in dups)))
    dropped = {d[0] for d in dups}
    if health.stale:
        first, last = health.stale[0][0], health.stale[-1][0]
        n = sum(s[1] for s in health.stale)
        ago = min(s[2] for s in health.stale)
        ops.append(Operation("mask", span=(first, last + 1), why=f"{len(health.stale)} stale "
                             f"tool outputs ({ago}+ turns old): {n} tokens", saves=n))
    crowded = health.fraction is None or health.fraction >= 0.6
    masked = set(range(health.stale[0][0], health.stale[-1][0] + 1)) if health.stale else set()
    for a, b, sim, n in health.unrelated:
        span = set(range(a, b))
        if crowded and n >= MIN_OUTPUT and not span & (masked | dropped) and not span & set(pins):
            ops.append(Operation("compress", span=(a, b), why=f"an old turn unrelated to the "
                                 f"task (similarity {sim:.2f}): {n} tokens", saves=n * 4 // 5))
    return ManagePlan(view.repo.agent_name, health.head, ops[:max_ops])


def header_head(text: str) -> str | None:
    """The commit id (hex, possibly short) a plan's header line names, or None."""
    for line in text.splitlines()[:2]:
        m = _HEAD.match(line.strip())
        if m:
            return m.group(1)
    return None


def parse(text: str, count: int, agent: str | None = None) -> ManagePlan:
    """A plan from its text (as `ManagePlan.text` writes it, edited), checked against a context
    of `count` entries: InputError naming the line for an unknown operation, an index out of
    range, an empty span or two operations touching one entry."""
    if not isinstance(text, str):
        raise InputError("a plan is text")
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        raise InputError(f"a plan has at most {MAX_LINES} lines")
    head = header_head(text)
    ops: list[Operation] = []
    owner: dict[str, dict[int, int]] = {}
    for n, raw in enumerate(lines, 1):
        stripped = raw.strip()
        if not stripped or stripped.startswith("#"):
            continue
        m = _LINE.match(raw)
        if not m:
            raise InputError(f"plan line {n}: {stripped[:60]!r} is not '<op> <entries> [# why]' "
                             f"(op: {', '.join(OPS)})")
        op, what, why = m.group(1), m.group(2).replace(" ", ""), (m.group(3) or "").strip()
        o = _operation(op, what, why, count, n)
        for kind, taken in owner.items():
            if not _may_overlap(op, kind):
                hit = next((i for i in o.positions() if i in taken), None)
                if hit is not None:
                    raise InputError(f"plan line {n}: entry {hit} is also changed by line "
                                     f"{taken[hit]}")
        mine = owner.setdefault(op, {})
        for i in o.positions():
            mine.setdefault(i, n)
        ops.append(o)
    return ManagePlan(agent, head, ops)


def _may_overlap(a: str, b: str) -> bool:
    """A mask span (which changes only tool outputs) may hold entries a drop removes (only
    messages with no tool call or result) or a pin keeps; a pin may sit in a mask or compress
    span (compressions keep pins); nothing else overlaps."""
    return {a, b} in ({"mask", "drop"}, {"mask", "pin"}, {"compress", "pin"}) or \
        a == b == "pin"


def _operation(op: str, what: str, why: str, count: int, n: int) -> Operation:
    def index(s: str) -> int:
        if not s.isdigit():
            raise InputError(f"plan line {n}: {s!r} is not an entry index")
        i = int(s)
        if i >= count:
            raise InputError(f"plan line {n}: entry {i} is out of range (the context has "
                             f"{count} entries)")
        return i
    if op in ("mask", "compress"):
        a, sep, b = what.partition(":")
        if not sep or not a or not b:
            raise InputError(f"plan line {n}: {op} takes a span START:END")
        start, end = index(a), int(b) if b.isdigit() else -1
        if end < 0 or end > count or end <= start:
            raise InputError(f"plan line {n}: {what!r} is not a span of the context's "
                             f"{count} entries")
        return Operation(op, span=(start, end), why=why)
    parts = [p for p in what.split(",") if p]
    if not parts or ":" in what:
        raise InputError(f"plan line {n}: {op} takes entry indices I,J,...")
    return Operation(op, sorted({index(p) for p in parts}), why=why)


def llm_plan(provider: Any, view: View, health: Health, agent: str | None) -> tuple[
        ManagePlan, Any]:
    """A plan asked of the model: the health report and the context as numbered one-line
    previews go out, plan lines come back (checked like a human's). (plan, ChatResult)."""
    from ..errors import ProviderResponseError
    from ..messages import preview
    rows = [f"#{i} {'[pinned] ' if view.pinned(i) else ''}{preview(m, 160)}"
            for i, m in enumerate(view.msgs)]
    listing = "\n".join(rows[:400] if len(rows) <= 400 else rows[:100] + ["..."] + rows[-300:])
    prompt = ("You manage the context window of another AI agent. Its health:\n" +
              "\n".join(health.lines()) + "\n\nIts context, one line per entry:\n" + listing +
              "\n\nPropose operations that shrink the context without losing what the task "
              "needs. Answer ONLY with plan lines, one per operation:\n"
              "mask START:END  # masks the tool outputs of entries START..END-1\n"
              "drop I,J        # removes entries (never pinned ones)\n"
              "pin I,J         # keeps entries verbatim\n"
              "compress START:END  # summarizes entries START..END-1\n"
              "Each line may end with '# why'. No other text.")
    result = provider.complete([{"role": "user", "content": prompt}],
                               system="You are a careful context manager. Answer only with "
                               "plan lines.", temperature=0.0)
    text = getattr(result, "text", "") or ""
    if not text.strip():
        raise ProviderResponseError("the provider returned an empty plan")
    body = "\n".join(line for line in text.splitlines() if not line.strip().startswith("```"))
    plan = parse(body, len(view.msgs), agent)
    plan.head = health.head
    return plan, result
