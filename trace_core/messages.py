"""What a stored message says, whatever its shape: its text, the tool calls it makes and answers.

Shapes understood: OpenAI chat (assistant `tool_calls`, role `tool` with `tool_call_id`),
Anthropic (`tool_use` / `tool_result` blocks in `content`) and Responses items
(`function_call` / `function_call_output` with `call_id`). Used by merge drivers, compression
and reorder checks.
"""

from __future__ import annotations

import json
from typing import Any, Dict, List


def blocks(m: dict, kind: str) -> List[dict]:
    """The content blocks of type `kind` (Anthropic-style list content)."""
    c = m.get("content")
    if not isinstance(c, list):
        return []
    return [b for b in c if isinstance(b, dict) and b.get("type") == kind]


def _ids(values: list) -> List[str]:
    return [x for x in values if isinstance(x, str) and x]


def call_ids(m: dict) -> List[str]:
    """Ids of the tool calls a message makes."""
    out = [c.get("id") for c in (m.get("tool_calls") or []) if isinstance(c, dict)]
    out += [b.get("id") for b in blocks(m, "tool_use")]
    if m.get("type") == "function_call":
        out.append(m.get("call_id"))
    return _ids(out)


def call_names(m: dict) -> Dict[str, str]:
    """Tool call id -> the name of the tool it calls."""
    out = {}
    for c in m.get("tool_calls") or []:
        if isinstance(c, dict) and isinstance(c.get("id"), str):
            fn = c.get("function")
            out[c["id"]] = str(fn.get("name", "")) if isinstance(fn, dict) else ""
    for b in blocks(m, "tool_use"):
        if isinstance(b.get("id"), str):
            out[b["id"]] = str(b.get("name", ""))
    if m.get("type") == "function_call" and isinstance(m.get("call_id"), str):
        out[m["call_id"]] = str(m.get("name", ""))
    return out


def result_ids(m: dict) -> List[str]:
    """Ids of the tool calls a message answers."""
    out = [m.get("tool_call_id")] if m.get("role") == "tool" else []
    out += [b.get("tool_use_id") for b in blocks(m, "tool_result")]
    if m.get("type") == "function_call_output":
        out.append(m.get("call_id"))
    return _ids(out)


def is_tool_output(m: dict) -> bool:
    return m.get("role") == "tool" or bool(blocks(m, "tool_result")) or \
        m.get("type") == "function_call_output"


def is_question(m: dict) -> bool:
    """A user message that is not only tool results (it starts a turn)."""
    if m.get("role") != "user":
        return False
    c = m.get("content")
    return not (isinstance(c, list) and c and
                all(isinstance(b, dict) and b.get("type") == "tool_result" for b in c))


def text_of(value: Any) -> str:
    """The text of a content value: a string, text parts, tool blocks shown as calls/results."""
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


def normalized(m: dict) -> str:
    """message_text lowercased with white space collapsed (for near-duplicate tests)."""
    return " ".join(message_text(m).lower().split())


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=str)
