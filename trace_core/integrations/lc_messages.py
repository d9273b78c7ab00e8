"""LangChain messages as the chat messages Trace stores, and back, exactly (no I/O).

`to_chat(message)` is the chat message (`role`, `content`, `name`, OpenAI-shaped `tool_calls`,
`tool_call_id`) plus a `langchain` field holding the message's type and every field the chat form
does not restore; `from_chat` gives the equal LangChain message back. docs/FORMAT.md §6.4.5.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import InputError, TraceError
from ..objects import Blob

__all__ = ["from_chat", "to_chat"]

_ROLES = {"human": "user", "ai": "assistant", "system": "system", "tool": "tool",
          "HumanMessageChunk": "user", "AIMessageChunk": "assistant",
          "SystemMessageChunk": "system", "ToolMessageChunk": "tool"}
_DEFAULTS: tuple = (None, {}, [], False)


def to_chat(message: Any) -> dict | None:
    """A LangChain message as the chat message Trace stores (role, content, name, tool_calls,
    tool_call_id) plus `langchain`: its type and every field the chat form does not restore;
    None when it is not a LangChain message or does not come back equal from `from_chat`."""
    from langchain_core.messages import BaseMessage, ChatMessage, message_to_dict
    if not isinstance(message, BaseMessage):
        return None
    d = message_to_dict(message)
    kind, data = d["type"], dict(d["data"])
    role = _ROLES.get(kind)
    if isinstance(message, ChatMessage) and message.role in ("user", "assistant", "system"):
        role = message.role
    if role is None:
        return None
    data.pop("type", None)
    content = data.pop("content")
    out: dict[str, Any] = {"role": role, "content": content}
    from ..shapes import check_message
    try:
        check_message({"role": role, "content": content})
    except InputError:   # content blocks the chat shape has no place for: keep them exactly
        out["content"] = message.text if role != "assistant" or message.text else ""
        data["content"] = content
    name = data.pop("name", None)
    if isinstance(name, str):
        out["name"] = name
    elif name is not None:
        data["name"] = name
    if role == "tool" and isinstance(data.get("tool_call_id"), str):
        out["tool_call_id"] = data.pop("tool_call_id")
    calls = data.get("tool_calls")
    if role == "assistant" and calls:
        chat_calls = _chat_calls(calls)
        if chat_calls is not None:
            out["tool_calls"] = chat_calls
            if _lc_calls(chat_calls) == calls:
                del data["tool_calls"]
    lc = {"type": kind, **{k: v for k, v in data.items() if not _is_default(v)}}
    out["langchain"] = lc
    try:
        Blob(out).to_bytes()
        back = from_chat(out)
    except (TraceError, TypeError, ValueError):
        return None
    return out if back == message and type(back) is type(message) else None


def _is_default(v: Any) -> bool:
    return any(v is d or (type(v) is type(d) and v == d) for d in _DEFAULTS)


def _chat_calls(calls: Any) -> list | None:
    out = []
    for c in calls:
        if not (isinstance(c, dict) and isinstance(c.get("id"), str)
                and isinstance(c.get("name"), str) and isinstance(c.get("args"), dict)):
            return None
        out.append({"id": c["id"], "type": "function",
                    "function": {"name": c["name"],
                                 "arguments": json.dumps(c["args"], ensure_ascii=False)}})
    return out


def _lc_calls(chat_calls: list) -> list:
    return [{"name": c["function"]["name"], "args": json.loads(c["function"]["arguments"]),
             "id": c["id"], "type": "tool_call"} for c in chat_calls]


def from_chat(msg: dict) -> Any:
    """The LangChain message a stored chat message (made by `to_chat`) restores."""
    from langchain_core.messages import messages_from_dict
    lc = msg.get("langchain")
    if not isinstance(lc, dict) or not isinstance(lc.get("type"), str):
        raise InputError("a stored message has no langchain type: it was not written by "
                         "TraceSaver")
    data = {k: v for k, v in lc.items() if k != "type"}
    data.setdefault("content", msg.get("content"))
    for key in ("name", "tool_call_id"):
        if key in msg:
            data.setdefault(key, msg[key])
    if "tool_calls" not in data and msg.get("tool_calls"):
        data["tool_calls"] = _lc_calls(msg["tool_calls"])
    return messages_from_dict([{"type": lc["type"], "data": data}])[0]
