"""The editable compression plan: one line per commit of the range, like `rebase -i`.

    summarize 3f2a9c1d0b7e  #4-#6      3 entries    120 tokens  user: Find the bug in parser.py

Actions (with git-style abbreviations):
    k, keep       the commit's entries stay verbatim (p, pick are accepted too)
    d, drop       its entries leave the context (history keeps them); no summary
    c, combine    summarized in one summary together with the next line's commit
    s, summarize  its entries are replaced by summaries, grouped by the granularity
A line is `<action> <commit id or a unique prefix of 4+ hex digits> [anything]`; `#` starts a
comment. Every commit of the range that introduced entries must appear exactly once, in the
range's order (a deleted line is an error, as git's rebase.missingCommitsCheck=error: write
`drop` to drop); a plan with no lines at all aborts the compression.
"""

from __future__ import annotations

import re
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass, field

from ..errors import InputError

ACTIONS = ("keep", "drop", "combine", "summarize")
ALIASES = {"k": "keep", "keep": "keep", "p": "keep", "pick": "keep", "d": "drop", "drop": "drop",
           "c": "combine", "combine": "combine", "s": "summarize", "summarize": "summarize"}
MAX_PLAN_BYTES = 4 * 1024 * 1024

HELP = """\
#
# Actions (one line per commit, oldest first):
# k, keep      = keep the commit's entries verbatim
# d, drop      = remove its entries from the context (history keeps them)
# c, combine   = summarize it together with the next commit, in one summary
# s, summarize = replace its entries by a summary (grouped by the granularity)
#
# Lines starting with '#' are ignored. Do not delete lines (write 'drop' to drop a commit);
# do not reorder them. An empty plan aborts the compression.
"""


@dataclass
class PlanStep:
    """One line of the plan."""

    commit: str                  # full hex id
    action: str
    entries: list[int] = field(default_factory=list)  # context indices it introduced (in range)
    tokens: int = 0
    summary: str = ""

    def to_dict(self) -> dict:
        return {"commit": self.commit, "action": self.action, "entries": list(self.entries),
                "tokens": self.tokens, "summary": self.summary}


@dataclass
class Plan:
    """The actions of a compression, one step per commit of the range (oldest first)."""

    steps: list[PlanStep]
    label: str = ""
    head: str | None = None   # the commit the default plan was made on
    idle: list[PlanStep] = field(default_factory=list)  # range commits with no entries left

    def find(self, prefix: str) -> PlanStep:
        """The step whose commit id starts with `prefix` (4+ hex digits): a bisection in the
        sorted ids, so reading a plan of n lines costs n log n, not n²."""
        p = prefix.lower()
        if not re.fullmatch(r"[0-9a-f]{4,64}", p):
            raise InputError(f"{prefix!r} is not a commit id (4 to 64 hex digits)")
        ids, steps = self._sorted()
        i = bisect_left(ids, p)
        hits = [steps[k] for k in range(i, min(i + 2, len(ids))) if ids[k].startswith(p)]
        if not hits:
            raise InputError(f"commit {prefix} is not in the range {self.label}".rstrip())
        if len(hits) > 1:
            raise InputError(f"commit id prefix {prefix} is ambiguous in this range")
        return hits[0]

    def _sorted(self) -> tuple:
        key = (len(self.steps), len(self.idle))
        cached = getattr(self, "_index", None)
        if cached is None or cached[0] != key:
            pairs = sorted((s.commit, s) for s in (*self.steps, *self.idle))
            cached = (key, [c for c, _ in pairs], [s for _, s in pairs])
            self._index = cached
        return cached[1], cached[2]

    def set(self, prefix: str, action: str) -> Plan:
        """Set the action of the commit `prefix` (in place); returns the plan."""
        self.find(prefix).action = normalize_action(action)
        return self

    def set_all(self, action: str) -> Plan:
        a = normalize_action(action)
        for s in self.steps:
            s.action = a
        return self

    def to_dict(self) -> dict:
        return {"range": self.label, "head": self.head,
                "steps": [s.to_dict() for s in self.steps]}

    def format(self, header: str = "") -> str:
        """The plan as text, as `trace compress --show-plan` prints it and `-i` edits it."""
        lines = [f"# {ln}" if ln else "#" for ln in header.splitlines()]
        width = max([len(s.action) for s in self.steps] + [9])
        for s in self.steps:
            lines.append(f"{s.action:<{width}} {s.commit[:12]}  {_ranges(s.entries):<10} "
                         f"{len(s.entries):>3} entr{'y ' if len(s.entries) == 1 else 'ies'} "
                         f"{s.tokens:>7} tokens  {_one_line(s.summary)}")
        if self.idle:
            lines.append("#")
            lines.append("# Commits of the range with no entries left in the context:")
            for s in self.idle:
                lines.append(f"#   {s.commit[:12]}  {_one_line(s.summary)}")
        return "\n".join(lines) + "\n" + HELP


def normalize_action(action: str) -> str:
    a = ALIASES.get(str(action).strip().lower())
    if a is None:
        raise InputError(f"unknown plan action {action!r} (keep, drop, combine or summarize)")
    return a


def parse_plan(text: str, default: Plan) -> Plan:
    """Read an edited plan against the default plan of the same range."""
    if not isinstance(text, str):
        raise InputError("a plan must be text")
    if len(text.encode("utf-8", "surrogatepass")) > MAX_PLAN_BYTES:
        raise InputError(f"plan is larger than {MAX_PLAN_BYTES} bytes")
    chosen: dict[str, str] = {}
    order: list[str] = []
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        parts = line.split(None, 2)
        if len(parts) < 2:
            raise InputError(f"plan line {n}: expected '<action> <commit>', got {line[:60]!r}")
        try:
            action = normalize_action(parts[0])
            step = default.find(parts[1])
        except InputError as exc:
            raise InputError(f"plan line {n}: {exc}") from None
        if step.commit in chosen:
            raise InputError(f"plan line {n}: commit {step.commit[:12]} appears twice")
        chosen[step.commit] = action
        if step.entries:          # (idle steps, without entries, are only listed as comments)
            order.append(step.commit)
    if not chosen:
        raise InputError("empty plan: compression aborted")
    return from_actions(chosen, default, order)


def from_actions(actions: Mapping[str, str], default: Plan, order: list[str] | None = None) -> Plan:
    """The default plan with the given {commit id or prefix: action} applied; every commit with
    entries must be named."""
    resolved: dict[str, str] = {}
    for k, v in actions.items():
        resolved[default.find(k).commit] = normalize_action(v)
    missing = [s.commit for s in default.steps if s.commit not in resolved]
    if missing:
        raise InputError(f"the plan does not mention commit {missing[0][:12]} "
                         f"({len(missing)} missing); write 'keep' or 'drop' for it")
    if order is not None:
        # `order` lists only some steps (those with entries): it must keep their relative order
        pos = {s.commit: i for i, s in enumerate(default.steps)}
        ranks = [pos.get(c, -1) for c in order]
        bad = next((i for i in range(1, len(ranks)) if ranks[i] < ranks[i - 1]), None)
        if bad is not None:
            raise InputError(f"plan lines are out of order at commit {order[bad][:12]}: keep "
                             "the range's order (reordering entries is a separate operation)")
    steps = [PlanStep(s.commit, resolved[s.commit], list(s.entries), s.tokens, s.summary)
             for s in default.steps]
    return Plan(steps, default.label, default.head, list(default.idle))


def check_plan(plan: Plan) -> None:
    """Structural rules: combine needs a next line that is combine or summarize."""
    for i, s in enumerate(plan.steps):
        if s.action not in ACTIONS:
            raise InputError(f"unknown plan action {s.action!r} for {s.commit[:12]}")
        if s.action == "combine":
            nxt = plan.steps[i + 1] if i + 1 < len(plan.steps) else None
            if nxt is None or nxt.action not in ("combine", "summarize"):
                raise InputError(f"combine on {s.commit[:12]} needs a next commit marked "
                                 "combine or summarize")


def _ranges(idx: list[int]) -> str:
    if not idx:
        return "-"
    out, a, b = [], idx[0], idx[0]
    for i in idx[1:]:
        if i == b + 1:
            b = i
            continue
        out.append(f"#{a}" if a == b else f"#{a}-#{b}")
        a = b = i
    out.append(f"#{a}" if a == b else f"#{a}-#{b}")
    s = ",".join(out)
    return s if len(s) <= 24 else s[:21] + "..."


def _one_line(text: str, width: int = 60) -> str:
    t = " ".join(text.split())
    return t if len(t) <= width else t[: width - 3] + "..."
