"""What compression needs to know about stored messages beyond trace_core.messages: how tool
calls pair with their results, and which tool a result came from."""

from __future__ import annotations

from collections.abc import Sequence

from ..messages import (
    call_ids,
    call_names,
    has_fact,
    is_tool_output,
    message_text,
    pieces,
    result_ids,
)
from ..messages import is_question as is_turn_start

__all__ = ["call_ids", "call_names", "has_fact", "is_tool_output", "is_turn_start", "message_text",
           "pieces", "result_ids", "tool_links", "tool_name_for", "tool_pairs"]


def tool_links(msgs: Sequence[dict]) -> tuple[list[tuple[int, int, str]], list[int]]:
    """((calling message index, answering message index, call id) of each answered call, the
    indexes of the messages whose calls were never answered).

    A result answers the most recent unanswered call with its id (ids may be reused)."""
    open_calls: dict[str, list[int]] = {}
    links: list[tuple[int, int, str]] = []
    for i, m in enumerate(msgs):
        for rid in result_ids(m):
            stack = open_calls.get(rid)
            if stack:
                links.append((stack.pop(), i, rid))
        for cid in call_ids(m):
            open_calls.setdefault(cid, []).append(i)
    pending = sorted({j for cid, st in open_calls.items() for j in st})
    return links, pending


def tool_pairs(msgs: list[dict]) -> tuple[list[tuple[int, int]], list[int]]:
    """(pairs of (calling message index, answering message index), calls never answered), as
    tool_links pairs them."""
    links, pending = tool_links(msgs)
    return [(i, j) for i, j, _ in links], pending


def tool_name_for(msgs: Sequence[dict], i: int, call_id: str) -> str | None:
    """The name of the tool whose call `call_id` message i answers (searching backwards)."""
    m = msgs[i]
    if m.get("role") == "tool" and m.get("name"):
        return str(m["name"])
    for j in range(i - 1, -1, -1):
        names = call_names(msgs[j])
        if call_id in names:
            return names[call_id] or None
    return None
