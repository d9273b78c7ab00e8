"""How healthy an agent's context is (docs/manage.md, "Health"): tokens against the budget,
duplicated messages, stale tool outputs, broken tool-call pairs and calls still pending, and
how relevant each old turn is to the task at hand. Read only."""

from __future__ import annotations

from typing import Any

from .. import toolpairs
from ..messages import is_tool_output, message_text, normalized
from ..policy import signals
from ..policy.state import View
from ..state import RepoState

#: a tool output this many user turns old (or older) is stale
STALE_TURNS = 3
#: an old turn under this similarity to the task is unrelated to it
RELEVANCE = 0.05
#: the last user turns never judged (stale or unrelated): the agent is working on them
RECENT_TURNS = 2
#: a tool output under this many tokens is not worth masking
MIN_OUTPUT = 40


class Health:
    """The measures of one context (JSON values through `to_dict`): `total`, `max_tokens`,
    `fraction` (None without a budget), `entries`; `duplicates` [(index, index of the first
    copy, tokens)]; `stale` [(index, tokens, turns ago)] tool outputs; `broken` (broken pairs as
    dicts) and `pending` calls; `turns` [(start, end, similarity to the task, tokens)] of the
    old turns (the similarity of the sets of content words of the turn's messages, tool
    outputs left out, and of the task); `unrelated` (those under RELEVANCE, none pinned);
    `task` (the task's most frequent words: the last three user turns)."""

    agent: str | None
    head: str | None
    total: int
    max_tokens: int | None
    fraction: float | None
    entries: int
    duplicates: list[tuple[int, int, int]]
    stale: list[tuple[int, int, int]]
    broken: list[dict]
    pending: list[dict]
    turns: list[tuple[int, int, float, int]]
    unrelated: list[tuple[int, int, float, int]]
    task: list[str]

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def to_dict(self) -> dict:
        return dict(self.__dict__)

    def lines(self) -> list[str]:
        """The report as readable lines."""
        budget = f"{self.total} of {self.max_tokens} tokens ({self.fraction:.0%})" \
            if self.max_tokens else f"{self.total} tokens (no budget)"
        out = [f"context: {self.entries} entries, {budget}",
               f"duplicates: {len(self.duplicates)} messages, "
               f"{sum(d[2] for d in self.duplicates)} tokens",
               f"stale tool outputs (>= {STALE_TURNS} turns old): {len(self.stale)}, "
               f"{sum(s[1] for s in self.stale)} tokens",
               f"tool calls: {len(self.broken)} broken pairs, {len(self.pending)} pending",
               f"old turns unrelated to the task: {len(self.unrelated)} of {len(self.turns)}, "
               f"{sum(t[3] for t in self.unrelated)} tokens",
               f"task: {', '.join(self.task) or '(no user turn)'}"]
        return out


def turn_starts(msgs: list[dict]) -> list[int]:
    """The indices of the user messages that start a turn."""
    return [i for i, m in enumerate(msgs) if signals.user_text(m) is not None]


def measure(repo: RepoState) -> Health:
    """The health of the context at HEAD of `repo` (an agent's view)."""
    view = View(repo)
    msgs, ids = view.msgs, view.ids
    tokens = [repo.blob_tokens(bytes.fromhex(b)) for b in ids]
    starts = turn_starts(msgs)
    recent = starts[-RECENT_TURNS] if len(starts) >= RECENT_TURNS else 0
    seen: dict[str, int] = {}
    duplicates = []
    for i, m in enumerate(msgs):
        if not toolpairs.conversational(m) or m.get("role") == "system":
            continue
        key = f"{m.get('role')}\0{normalized(m)}"
        if not key.strip("\0"):
            continue
        first = seen.setdefault(key, i)
        if first != i and not view.pinned(i) and i < recent:
            duplicates.append((i, first, tokens[i]))
    stale = []
    for i, m in enumerate(msgs):
        if is_tool_output(m) and tokens[i] >= MIN_OUTPUT and i < recent:
            ago = sum(1 for s in starts if s > i)
            if ago >= STALE_TURNS:       # (a masked output is under MIN_OUTPUT)
                stale.append((i, tokens[i], ago))
    pairing = toolpairs.analyze(msgs)
    task_words = signals.topic(msgs)
    turns, unrelated = [], []
    bounds = [*starts, len(msgs)]
    for k in range(len(starts) - 1):
        a, b = bounds[k], bounds[k + 1]
        if a >= recent:
            break
        text = " ".join(message_text(m) for m in msgs[a:b] if not is_tool_output(m))
        sim = signals.similarity(set(signals.words(text)), set(task_words))
        t = (a, b, round(sim, 3), sum(tokens[a:b]))
        turns.append(t)
        if sim < RELEVANCE and not any(view.pinned(i) for i in range(a, b)):
            unrelated.append(t)
    common: dict[str, int] = {}
    for w in task_words:
        common[w] = common.get(w, 0) + 1
    top = sorted(common, key=lambda w: (-common[w], w))[:8]
    return Health(agent=repo.agent_name, head=view.commit.hex if view.commit else None,
                  total=view.total, max_tokens=view.max_tokens,
                  fraction=view.total / view.max_tokens if view.max_tokens else None,
                  entries=len(msgs), duplicates=duplicates, stale=stale,
                  broken=[p._asdict() for p in pairing.problems],
                  pending=[p._asdict() for p in pairing.pending], turns=turns,
                  unrelated=unrelated, task=top)

