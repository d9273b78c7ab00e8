"""LangChain messages as the chat messages Trace stores, and back: plain, or exactly (no I/O).

`to_chat(message)` is the OpenAI chat message a prompt carries (`role`, `content`, `name`,
`tool_calls` with invalid ones' arguments as given, `tool_call_id`): what
`TraceChatMessageHistory` stores. `to_chat(message, exact=True)` adds `langchain`, the message's
type and every field the chat form does not restore, or is None when the message does not come
back equal (what `TraceSaver` stores; docs/FORMAT.md §6.4.5). `from_chat` restores a message
exactly from its `langchain` field, else builds it from the chat form.
"""

from __future__ import annotations

import json
from typing import Any, Literal, overload

from ..errors import InputError, TraceError
from ..objects import Blob
from ..shapes import check_message

__all__ = ["from_chat", "to_chat"]

_DEVELOPER = "__openai_role__"      # how LangChain marks a developer message (a SystemMessage)
_DEFAULTS: tuple = (None, {}, [], False)


@overload
def to_chat(message: Any, *, exact: Literal[False] = False) -> dict: ...


@overload
def to_chat(message: Any, *, exact: bool) -> dict | None: ...


def to_chat(message: Any, *, exact: bool = False) -> dict | None:
    """A LangChain message as the chat message Trace stores: role, content (text, or a list of
    content blocks as OpenAI chat parts), name, an AI message's tool calls (invalid ones with
    their arguments as given), a tool message's tool_call_id. InputError for a kind with no chat
    role, a tool call without an id or name, tool_result blocks.

    With `exact=True`, plus `langchain`: the message's type and every field that differs from
    what the chat form restores; None (never an error) when the message is not a LangChain
    message, has no chat form, or does not come back equal from `from_chat`."""
    if not exact:
        return _plain(message)
    from langchain_core.messages import BaseMessage, message_to_dict
    if not isinstance(message, BaseMessage):
        return None
    try:
        out = _plain(message)
        try:
            check_message(out)
        except InputError:   # content blocks the chat shape has no place for: keep them aside
            out["content"] = message.text
        d = message_to_dict(message)
        restored = _fields(out)
        lc = {"type": d["type"]}
        for key, value in d["data"].items():
            if key == "type":
                continue
            if key in restored and _same(restored[key], value):
                continue
            if key in restored or not _is_default(value):
                lc[key] = value
        out["langchain"] = lc
        Blob(out).to_bytes()
        back = from_chat(out)
    except (TraceError, TypeError, ValueError):
        return None
    return out if back == message and type(back) is type(message) else None


def from_chat(msg: dict) -> Any:
    """The LangChain message a stored chat message restores: exactly the one `to_chat(...,
    exact=True)` made when it has a `langchain` field, else System (developer too), Human, AI
    (tool calls whose arguments are not a JSON object as invalid ones) or Tool from its role.
    InputError for a role with no LangChain message kind."""
    from langchain_core.messages import (
        AIMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
        messages_from_dict,
    )
    lc = msg.get("langchain")
    if isinstance(lc, dict) and isinstance(lc.get("type"), str):
        data = {k: v for k, v in _fields(msg).items() if not _is_default(v)}
        data.update((k, v) for k, v in lc.items() if k != "type")
        return messages_from_dict([{"type": lc["type"], "data": data}])[0]
    kinds = {"system": SystemMessage, "developer": SystemMessage, "user": HumanMessage,
             "assistant": AIMessage, "tool": ToolMessage}
    role = msg.get("role")
    if role not in kinds:
        raise InputError(f"langchain: a stored message with role {role!r:.40} has no "
                         "LangChain message kind")
    return kinds[role](**_fields(msg))


# -- the one role mapping, content rule and tool-call conversion each way -------------------------


def _plain(m: Any) -> dict:
    from langchain_core.messages import AIMessage, ToolMessage
    out: dict[str, Any] = {"role": _role(m), "content": _content(m)}
    if m.name:
        out["name"] = m.name
    if isinstance(m, AIMessage):
        calls = [_chat_call(c.get("id"), c.get("name"),
                            json.dumps(c.get("args", {}), ensure_ascii=False))
                 for c in m.tool_calls]
        calls += [_chat_call(c.get("id"), c.get("name"), c.get("args") or "")
                  for c in m.invalid_tool_calls]
        if calls:
            out["tool_calls"] = calls
    if isinstance(m, ToolMessage):
        out["tool_call_id"] = m.tool_call_id
    return out


def _role(m: Any) -> str:
    from langchain_core.messages import (
        AIMessage,
        ChatMessage,
        HumanMessage,
        SystemMessage,
        ToolMessage,
    )
    if isinstance(m, SystemMessage):
        return "developer" if m.additional_kwargs.get(_DEVELOPER) == "developer" else "system"
    if isinstance(m, HumanMessage):
        return "user"
    if isinstance(m, AIMessage):
        return "assistant"
    if isinstance(m, ToolMessage):
        return "tool"
    if isinstance(m, ChatMessage) and m.role in ("system", "developer", "user", "assistant"):
        return m.role
    raise InputError(f"langchain: a {type(m).__name__} has no chat role Trace can store")


def _content(m: Any) -> Any:
    """Text stays text; a list of content blocks becomes OpenAI chat parts (LangChain's own
    conversion: standard blocks such as images by URL or base64 become `image_url` parts), or
    its text when the conversion changed a list holding only text (bare strings, say)."""
    if isinstance(m.content, str):
        return m.content
    from langchain_core.messages import convert_to_openai_messages
    converted = convert_to_openai_messages([m], text_format="block")
    if len(converted) != 1:
        raise InputError(f"langchain: a {type(m).__name__} holding tool_result blocks cannot be "
                         "stored as one message (send tool results as ToolMessage)")
    parts = converted[0].get("content", "")
    if (isinstance(parts, list) and parts != m.content
            and all(isinstance(p, dict) and p.get("type") == "text" for p in parts)):
        return m.text
    return parts


def _chat_call(call_id: Any, name: Any, arguments: str) -> dict:
    if not isinstance(call_id, str) or not call_id:
        raise InputError(f"langchain: tool call {name!r:.40} has no id (a result could not be "
                         "paired with it)")
    if not isinstance(name, str) or not name:
        raise InputError(f"langchain: tool call {call_id!r:.40} has no name")
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def _lc_calls(chat_calls: Any) -> tuple[list, list]:
    """OpenAI chat tool calls as LangChain's (tool_calls, invalid_tool_calls): a call whose
    arguments are not a JSON object is an invalid one, its arguments as given."""
    calls, invalid = [], []
    for c in chat_calls or ():
        fn = c.get("function") or {}
        raw = fn.get("arguments", "")
        try:
            args = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            args = None
        if isinstance(args, dict):
            calls.append({"name": fn.get("name", ""), "args": args, "id": c.get("id"),
                          "type": "tool_call"})
        else:
            invalid.append({"name": fn.get("name"), "args": raw, "id": c.get("id"),
                            "error": "arguments are not a JSON object",
                            "type": "invalid_tool_call"})
    return calls, invalid


def _fields(msg: dict) -> dict:
    """The fields of the LangChain message a chat message's role, content, name, tool_calls and
    tool_call_id give."""
    role = msg.get("role")
    content = msg.get("content")
    out: dict[str, Any] = {"content": "" if content is None else content}
    if isinstance(msg.get("name"), str):
        out["name"] = msg["name"]
    if role == "developer":
        out["additional_kwargs"] = {_DEVELOPER: "developer"}
    if role == "tool":
        out["tool_call_id"] = msg.get("tool_call_id", "")
    if role == "assistant":
        out["tool_calls"], out["invalid_tool_calls"] = _lc_calls(msg.get("tool_calls"))
    return out


def _same(a: Any, b: Any) -> bool:
    return type(a) is type(b) and a == b


def _is_default(v: Any) -> bool:
    return any(v is d or (type(v) is type(d) and v == d) for d in _DEFAULTS)
