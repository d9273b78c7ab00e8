"""The prompt an agent sends at a model step: the context, truncated at the token budget.

Truncation (the unmanaged arm's whole strategy, and every arm's last resort when a context is
still over the budget): drop the oldest non-system messages until the prompt fits. A tool call
and the results answering it are one unit, dropped together, so a prompt never holds a call
without its result or a result without its call. The newest unit is never dropped (a prompt
without the message the model is asked about is no prompt); if the system messages and that
unit alone are over the budget, the prompt is sent over it.

Tokens are counted with the repository's token counter and its framing rules
(trace_core.tokens.count_message, plus the reply priming of count_messages): an untruncated
prompt counts exactly the commit's `total_tokens`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from trace_core.materialize import to_text
from trace_core.messages import call_ids, is_tool_output, result_ids
from trace_core.tokens import REPLY_PRIMING, TokenCounter, count_message


class PromptCounter:
    """Token counts of messages by the repository's counter, cached by their JSON text."""

    def __init__(self, counter: TokenCounter):
        self.counter = counter
        self._cache: dict[str, int] = {}

    def message(self, msg: dict) -> int:
        key = json.dumps(msg, sort_keys=True, ensure_ascii=False)
        n = self._cache.get(key)
        if n is None:
            n = self._cache[key] = count_message(msg, self.counter)
        return n

    def prompt(self, msgs: Sequence[dict]) -> int:
        return sum(self.message(m) for m in msgs) + (REPLY_PRIMING if msgs else 0)


def units(msgs: Sequence[dict]) -> list[list[int]]:
    """The message indices in units: a message making tool calls with the results answering
    them that follow it; every other message alone."""
    out: list[list[int]] = []
    i = 0
    while i < len(msgs):
        unit = [i]
        open_ = set(call_ids(msgs[i]))
        j = i + 1
        while open_ and j < len(msgs) and is_tool_output(msgs[j]):
            ids = set(result_ids(msgs[j]))
            if not ids or not ids <= open_:
                break
            unit.append(j)
            open_ -= ids
            j += 1
        out.append(unit)
        i = j
    return out


def truncate(msgs: Sequence[dict], budget: int, count: PromptCounter) -> tuple[list[dict], int]:
    """(the prompt `msgs` truncated at `budget` tokens, the number of messages dropped)."""
    sizes = [count.message(m) for m in msgs]
    total = sum(sizes) + (REPLY_PRIMING if msgs else 0)
    if total <= budget:
        return list(msgs), 0
    keep = [True] * len(msgs)
    for unit in units(msgs)[:-1]:
        if total <= budget:
            break
        if any(msgs[i].get("role") == "system" for i in unit):
            continue
        for i in unit:
            keep[i] = False
            total -= sizes[i]
    kept = [m for m, k in zip(msgs, keep, strict=True) if k]
    return kept, len(msgs) - len(kept)


def text(msgs: Sequence[dict]) -> str:
    """The prompt as the reader reads it: Trace's text rendering of the messages."""
    return to_text(list(msgs))
