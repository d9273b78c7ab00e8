"""What compression needs to know about a stored message: its text, its tool calls and results.

Both stored shapes are understood: OpenAI (assistant `tool_calls`, role `tool` with
`tool_call_id`) and Anthropic (`tool_use` / `tool_result` blocks in `content`).
"""

from __future__ import annotations

import json
from typing import Any, Dict, List, Optional, Sequence, Tuple


def _blocks(m: dict, kind: str) -> List[dict]:
    c = m.get("content")
    if not isinstance(c, list):
        return []
    return [b for b in c if isinstance(b, dict) and b.get("type") == kind]


def call_ids(m: dict) -> List[str]:
    """Ids of the tool calls a message makes."""
    out = []
    for c in m.get("tool_calls") or []:
        if isinstance(c, dict):
            out.append(str(c.get("id", "")))
    out.extend(str(b.get("id", "")) for b in _blocks(m, "tool_use"))
    return out


def call_names(m: dict) -> Dict[str, str]:
    out = {}
    for c in m.get("tool_calls") or []:
        if isinstance(c, dict):
            fn = c.get("function")
            out[str(c.get("id", ""))] = str(fn.get("name", "")) if isinstance(fn, dict) else ""
    for b in _blocks(m, "tool_use"):
        out[str(b.get("id", ""))] = str(b.get("name", ""))
    return out


def result_ids(m: dict) -> List[str]:
    """Ids of the tool calls a message answers."""
    out = []
    if m.get("role") == "tool":
        out.append(str(m.get("tool_call_id", "")))
    out.extend(str(b.get("tool_use_id", "")) for b in _blocks(m, "tool_result"))
    return out


def is_tool_output(m: dict) -> bool:
    return m.get("role") == "tool" or bool(_blocks(m, "tool_result"))


def is_turn_start(m: dict) -> bool:
    """A user message that is not only tool results starts a turn."""
    if m.get("role") != "user":
        return False
    c = m.get("content")
    if isinstance(c, list) and c and all(isinstance(b, dict) and b.get("type") == "tool_result"
                                         for b in c):
        return False
    return True


def text_of(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for p in value:
            if isinstance(p, str):
                parts.append(p)
            elif isinstance(p, dict) and isinstance(p.get("text"), str):
                parts.append(p["text"])
            elif isinstance(p, dict) and p.get("type") == "tool_result":
                parts.append(text_of(p.get("content")))
            elif isinstance(p, dict) and p.get("type") == "tool_use":
                parts.append(f"call {p.get('name', '?')}({_json(p.get('input'))})")
            else:
                parts.append(_json(p))
        return "\n".join(x for x in parts if x)
    return _json(value)


def message_text(m: dict) -> str:
    """The searchable text of a message: its content, then its tool calls."""
    s = text_of(m.get("content"))
    for c in m.get("tool_calls") or []:
        fn = c.get("function", {}) if isinstance(c, dict) else {}
        if isinstance(fn, dict):
            s += ("\n" if s else "") + f"call {fn.get('name', '?')}({fn.get('arguments', '')})"
    return s


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)


def tool_pairs(msgs: List[dict]) -> Tuple[List[Tuple[int, int]], List[int]]:
    """(pairs of (calling message index, answering message index), calls never answered).

    A result answers the most recent unanswered call with its id."""
    open_calls: Dict[str, List[int]] = {}
    pairs: List[Tuple[int, int]] = []
    for i, m in enumerate(msgs):
        for rid in result_ids(m):
            stack = open_calls.get(rid)
            if stack:
                pairs.append((stack.pop(), i))
        for cid in call_ids(m):
            open_calls.setdefault(cid, []).append(i)
    pending = sorted({j for cid, st in open_calls.items() for j in st})
    return pairs, pending


def tool_name_for(msgs: Sequence[dict], i: int, call_id: str) -> Optional[str]:
    """The name of the tool whose call `call_id` message i answers (searching backwards)."""
    m = msgs[i]
    if m.get("role") == "tool" and m.get("name"):
        return str(m["name"])
    for j in range(i - 1, -1, -1):
        names = call_names(msgs[j])
        if call_id in names:
            return names[call_id] or None
    return None
