"""The read path: a snapshot's messages become a prompt (OpenAI, Anthropic, text, JSON).

Stored messages are OpenAI chat-completions messages (role, content, tool_calls, tool_call_id,
name, plus any provider fields), or Anthropic-style messages whose content holds tool_use /
tool_result blocks; both materialize to both formats. The rules are in docs/materialization.md.
Every function here is deterministic: the same snapshot gives the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .errors import InputError
from .messages import message_text, text_of

FORMATS = ("openai", "anthropic", "text", "json")


def _copy(v: Any) -> Any:
    """A deep copy of decoded JSON-like data (dicts, lists, scalars), several times faster than
    copy.deepcopy: the prompt we hand out must not share structure with cached objects."""
    if isinstance(v, dict):
        return {k: (_copy(x) if isinstance(x, (dict, list)) else x) for k, x in v.items()}
    if isinstance(v, list):
        return [(_copy(x) if isinstance(x, (dict, list)) else x) for x in v]
    return v


def to_openai(messages: Sequence[dict]) -> list[dict]:
    """OpenAI chat messages: stored messages as they are, Anthropic blocks translated."""
    out: list[dict] = []
    for m in messages:
        content = m.get("content")
        if isinstance(content, list) and \
                any(_is_block(b, ("tool_use", "tool_result")) for b in content):
            out.extend(_anthropic_to_openai(m))
        else:
            out.append(_copy(m))
    return out


def _is_block(b: Any, kinds: tuple) -> bool:
    return isinstance(b, dict) and b.get("type") in kinds


def _anthropic_to_openai(m: dict) -> list[dict]:
    role = m.get("role")
    texts, calls, results = [], [], []
    for b in m["content"]:
        if _is_block(b, ("tool_use",)):
            calls.append({"id": b.get("id", ""), "type": "function",
                          "function": {"name": b.get("name", ""),
                                       "arguments": json.dumps(b.get("input", {}), sort_keys=True,
                                                               ensure_ascii=False)}})
        elif _is_block(b, ("tool_result",)):
            results.append({"role": "tool", "tool_call_id": b.get("tool_use_id", ""),
                            "content": _flatten_text(b.get("content"))})
        elif _is_block(b, ("text",)):
            texts.append(b.get("text", ""))
    out: list[dict] = []
    if role == "assistant":
        msg: dict = {"role": "assistant", "content": "\n".join(texts) if texts else None}
        if calls:
            msg["tool_calls"] = calls
        out.append(msg)
    else:
        out.extend(results)
        if texts:
            out.append({"role": role or "user", "content": "\n".join(texts)})
    return out


def _flatten_text(content: Any) -> Any:
    if isinstance(content, list):
        parts = [b.get("text", "") for b in content if _is_block(b, ("text",))]
        if len(parts) == len(content):
            return "\n".join(parts)
    return content


def to_anthropic(messages: Sequence[dict]) -> dict:
    """{"system": …, "messages": […]}: system hoisted, tool calls as tool_use blocks, tool results
    as tool_result blocks in a user turn (consecutive results share one turn)."""
    system_parts: list[str] = []
    out: list[dict] = []
    for m in to_openai(messages):
        role = m.get("role")
        content = m.get("content")
        if role in ("system", "developer"):
            system_parts.append(text_of(content))
            continue
        if role == "tool":
            block = {"type": "tool_result", "tool_use_id": m.get("tool_call_id", ""),
                     "content": content if isinstance(content, (str, list)) else text_of(content)}
            if out and out[-1]["role"] == "user" and out[-1].get("_tool_results"):
                out[-1]["content"].append(block)
            else:
                out.append({"role": "user", "content": [block], "_tool_results": True})
            continue
        blocks = _content_blocks(content)
        if role == "assistant":
            for call in m.get("tool_calls") or []:
                fn = call.get("function", {}) if isinstance(call, dict) else {}
                blocks.append({"type": "tool_use", "id": call.get("id", ""),
                               "name": fn.get("name", ""),
                               "input": _parse_args(fn.get("arguments"))})
        out.append({"role": "assistant" if role == "assistant" else "user", "content": blocks})
    for m in out:
        m.pop("_tool_results", None)
    result: dict = {"messages": out}
    if system_parts:
        result["system"] = "\n\n".join(system_parts)
    return result


def _content_blocks(content: Any) -> list[dict]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if isinstance(content, list):
        blocks = []
        for part in content:
            if isinstance(part, dict) and part.get("type") in ("text", "input_text", "output_text"):
                blocks.append({"type": "text", "text": part.get("text", "")})
            elif isinstance(part, dict) and part.get("type") == "image_url":
                url = part.get("image_url", {})
                url = url.get("url") if isinstance(url, dict) else url
                blocks.append({"type": "image", "source": {"type": "url", "url": url}})
            elif isinstance(part, dict):
                blocks.append(_copy(part))
            else:
                blocks.append({"type": "text", "text": str(part)})
        return blocks
    return [{"type": "text", "text": text_of(content)}]


def _parse_args(arguments: Any) -> Any:
    if isinstance(arguments, str):
        try:
            return json.loads(arguments)
        except json.JSONDecodeError:
            return {"_raw": arguments}
    return arguments if arguments is not None else {}


def to_text(messages: Sequence[dict], pinned: Sequence[bool] = ()) -> str:
    """A readable transcript: one block per message, '[role]' headers ('[tool <call id>]' for
    results), '*' marks pins; the body is messages.message_text with call ids."""
    out = []
    for i, m in enumerate(to_openai(messages)):
        mark = "*" if i < len(pinned) and pinned[i] else ""
        head = f"[{m.get('role') or m.get('type') or '?'}{mark}]"
        if m.get("role") == "tool":
            head = f"[tool{mark} {m.get('tool_call_id', '')}]"
        elif m.get("type") == "function_call_output":
            head = f"[{m['type']}{mark} {m.get('call_id', '')}]"
        out.append(f"{head}\n{message_text(m, ids=True)}")
    return "\n\n".join(out) + ("\n" if out else "")


def to_json_entries(messages: Sequence[dict], blob_ids: Sequence[str],
                    flags: Sequence[int]) -> list[dict]:
    return [{"index": i, "blob": blob_ids[i], "pinned": bool(flags[i] & 1), "flags": flags[i],
             "message": _json_safe(m)} for i, m in enumerate(messages)]


def _json_safe(v: Any) -> Any:
    if isinstance(v, dict):
        return {k: _json_safe(x) for k, x in v.items()}
    if isinstance(v, list):
        return [_json_safe(x) for x in v]
    if isinstance(v, (bytes, bytearray)):
        return {"$bytes": bytes(v).hex()}
    return v


def render(fmt: str, messages: Sequence[dict], blob_ids: Sequence[str] = (),
           flags: Sequence[int] = ()) -> Any:
    if fmt == "openai":
        return to_openai(messages)
    if fmt == "anthropic":
        return to_anthropic(messages)
    if fmt == "text":
        return to_text(messages, [bool(f & 1) for f in flags])
    if fmt == "json":
        return to_json_entries(messages, blob_ids, flags)
    raise InputError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
