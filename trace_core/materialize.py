"""The read path: a snapshot's messages become a prompt (openai, openai-responses, anthropic,
text, json).

Messages are stored verbatim in any of three shapes (trace_core.shapes); each renderer here walks
their neutral form and writes one provider format, meeting its rules by construction (tool
results follow their calls; Anthropic roles alternate, system hoisted, no empty content). A part
a format cannot carry is left out, never invented; docs/materialization.md has the shapes x
formats matrix. Every function here is deterministic: the same snapshot gives the same bytes.

Because of that, a rendered prompt is kept per snapshot id (`kept` / `keep`, a few per store,
in `store.derived`, dropped with the store's decoded objects): once a context was asked for
twice, materializing it again copies the kept prompt instead of reading and rendering every
message (a store whose renders are never asked for twice keeps none: keeping costs a copy).
The copy is shallow where a message holds only strings and numbers, so it costs one small dict
per message, allocated together, whatever the history behind it.
"""

from __future__ import annotations

import json
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from .errors import InputError
from .messages import message_text, text_of
from .shapes import ANTHROPIC, CHAT, RESPONSES, Part, arrange, neutral

FORMATS = ("openai", "openai-responses", "anthropic", "text", "json")

#: rendered prompts kept per store (an agent alternates a few contexts at most; each prompt of a
#: 100,000-message context holds ~100,000 small dicts whose strings it shares with the messages)
KEPT_MAX = 2
_FLAT, _FLAT_BLOCKS, _DEEP = 0, 1, 2    # how `_fresh` copies one message of a kept prompt


class _Prompts:
    """The prompts kept for one store, the key of its last render, and whether that render
    was asked for again since."""

    __slots__ = ("kept", "last", "repeated")

    def __init__(self) -> None:
        self.kept: OrderedDict = OrderedDict()
        self.last: tuple | None = None
        self.repeated = False   # (a one-shot process, `trace context`, keeps nothing)


class _Kept:
    """A rendered prompt, the copy plan of each of its messages, and the repair notes it had."""

    __slots__ = ("value", "plan", "notes")
    plan: list | None

    def __init__(self, value: Any, notes: Sequence[str]) -> None:
        self.value = value
        self.notes = tuple(notes)
        msgs = value.get("messages") if isinstance(value, dict) else value
        # (a text message, {"role": str, "content": str}, is told apart inline: most are)
        self.plan = [_FLAT if type(m) is dict and len(m) == 2 and type(m.get("content")) is str
                     and type(m.get("role")) is str else _plan(m) for m in msgs] \
            if isinstance(msgs, list) else []
        if _FLAT_BLOCKS not in self.plan and _DEEP not in self.plan:
            self.plan = None    # (every message flat)


def _plan(m: Any) -> int:
    if type(m) is not dict:
        return _DEEP
    deep = [k for k, x in m.items() if isinstance(x, (dict, list))]
    if not deep:
        return _FLAT
    c = m.get("content")
    if deep == ["content"] and isinstance(c, list) and all(
            type(b) is dict and not any(isinstance(x, (dict, list)) for x in b.values())
            for b in c):
        return _FLAT_BLOCKS
    return _DEEP


def _fresh_list(msgs: list, plan: list | None) -> list:
    if plan is None:
        return [m.copy() for m in msgs]     # the common case (text messages only), quickly
    return [m.copy() if p == _FLAT else
            {**m, "content": [b.copy() for b in m["content"]]} if p == _FLAT_BLOCKS else
            _copy(m) for m, p in zip(msgs, plan, strict=True)]


def kept(store: Any, key: tuple) -> tuple[Any, tuple[str, ...]] | None:
    """A fresh copy of the prompt kept for `key` (snapshot id, format, repair) in `store`'s
    cache, and its repair notes; None when none is kept."""
    s = store.derived.get("prompts")
    if s is None:
        return None
    if key == s.last:
        s.repeated = True
    k = s.kept.get(key)
    if k is None:
        return None
    s.kept.move_to_end(key)
    return _fresh(k), k.notes


def keep(store: Any, key: tuple, value: Any, notes: Sequence[str] = ()) -> Any:
    """Keep a copy of `value` (just rendered, not handed out yet) for `key` when this store's
    renders are asked for again: a render asked for a second time, and any render after one
    that was; return `value`. An agent's loop that renders each new context once, and a
    one-shot process, so pay no copy. (The copy's dicts are allocated one after another, so
    copying them again later reads memory in order, not wherever rendering left each
    message.)"""
    s = store.derived.get("prompts")
    if s is None:
        s = store.derived["prompts"] = _Prompts()
    worth = s.repeated
    s.last, s.repeated = key, False
    if worth:
        k = _Kept(value, notes)
        k.value = _fresh(k)
        s.kept[key] = k
        while len(s.kept) > KEPT_MAX:
            s.kept.popitem(last=False)
    return value


def _fresh(k: _Kept) -> Any:
    v = k.value
    if isinstance(v, list):
        return _fresh_list(v, k.plan)
    if isinstance(v, dict):
        out = {key: _copy(x) for key, x in v.items() if key != "messages"}
        out["messages"] = _fresh_list(v["messages"], k.plan)
        return out
    return v    # text: a str


def _copy(v: Any) -> Any:
    """A deep copy of decoded JSON-like data (dicts, lists, scalars), several times faster than
    copy.deepcopy: the prompt we hand out must not share structure with cached objects."""
    if isinstance(v, dict):
        return {k: (_copy(x) if isinstance(x, (dict, list)) else x) for k, x in v.items()}
    if isinstance(v, list):
        return [(_copy(x) if isinstance(x, (dict, list)) else x) for x in v]
    return v


def _texts(parts: Sequence[Part]) -> str:
    return "\n".join(p.text for p in parts if p.kind == "text" and p.text)


def _has_images(parts: Sequence[Part]) -> bool:
    return any(p.kind == "image" and p.url and not p.url.startswith("file-id:") for p in parts)


# -- OpenAI chat completions ------------------------------------------------------------------


def to_openai(messages: Sequence[dict]) -> list[dict]:
    """OpenAI chat-completions messages: chat messages as stored, other shapes translated;
    tool messages right after the assistant message that calls them."""
    out: list[dict] = []
    merged: dict | None = None  # the assistant message Responses fragments are joining
    for t in arrange(neutral(messages)):
        if t.plain:
            out.append({"role": t.role, "content": t.raw["content"]})
            continue
        if t.shape == CHAT and not (t.role == "assistant" and t.calls() and _calling(out)):
            out.append(_copy(t.raw))
            continue
        if t.role == "tool":
            out.extend({"role": "tool", "tool_call_id": p.id, "content": _texts(p.content)}
                       for p in t.parts if p.kind == "result")
        elif t.role == "assistant":
            # Responses fragments of one turn (message, reasoning, function_call items) join into
            # one message; so do calls made right after calls (their results follow them all)
            text = _texts(t.parts)
            calls = [_copy(p.raw) if p.shape == CHAT else
                     {"id": p.id, "type": "function",
                      "function": {"name": p.name, "arguments": p.text}}
                     for p in t.parts if p.kind == "call"]
            if not text and not calls:
                continue
            if out and (out[-1] is merged or calls and _calling(out)):
                merged = out[-1]
                if text:
                    before = merged.get("content")
                    before = before if isinstance(before, str) or before is None \
                        else text_of(before)
                    merged["content"] = "\n".join(x for x in (before, text) if x)
                if calls:
                    merged.setdefault("tool_calls", []).extend(calls)
                continue
            merged = {"role": "assistant", "content": text or None}
            if calls:
                merged["tool_calls"] = calls
            out.append(merged)
        elif t.role == "user" and _has_images(t.parts):
            out.append({"role": "user", "content": [_chat_part(p) for p in t.parts
                                                    if p.kind == "text" and p.text or
                                                    p.kind == "image" and _web_image(p)]})
        elif _texts(t.parts):
            out.append({"role": t.role, "content": _texts(t.parts)})
    return out


def _calling(out: list[dict]) -> bool:
    """The last message is an assistant message with tool calls (no result has followed)."""
    return bool(out) and out[-1].get("role") == "assistant" and bool(out[-1].get("tool_calls"))


def _web_image(p: Part) -> bool:
    return bool(p.url) and not p.url.startswith("file-id:")


def _chat_part(p: Part) -> dict:
    if p.kind == "text":
        return {"type": "text", "text": p.text}
    img: dict = {"url": p.url}
    if p.detail:
        img["detail"] = p.detail
    return {"type": "image_url", "image_url": img}


# -- OpenAI Responses -------------------------------------------------------------------------


def to_openai_responses(messages: Sequence[dict]) -> list[dict]:
    """OpenAI Responses input items: Responses items as stored, other shapes translated
    (function_call / function_call_output items, messages with input_text / input_image)."""
    out: list[dict] = []
    for t in arrange(neutral(messages)):
        if t.plain:
            if t.raw["content"]:
                out.append({"role": t.role, "content": t.raw["content"]})
            continue
        if t.shape == RESPONSES:
            out.append(_copy(t.raw))
            continue
        if t.role == "tool":
            for p in t.parts:
                if p.kind == "result":
                    output: Any = _texts(p.content)
                    if _has_images(p.content):
                        output = _input_parts(p.content)
                    out.append({"type": "function_call_output", "call_id": p.id,
                                "output": output})
            continue
        if t.role == "assistant":
            text = _texts(t.parts)
            if text:
                out.append({"role": "assistant", "content": text})
            out.extend({"type": "function_call", "call_id": p.id, "name": p.name,
                        "arguments": p.text} for p in t.parts if p.kind == "call")
        elif _has_images(t.parts):
            out.append({"role": t.role, "content": _input_parts(t.parts)})
        elif _texts(t.parts):
            out.append({"role": t.role, "content": _texts(t.parts)})
    return out


def _input_parts(parts: Sequence[Part]) -> list[dict]:
    out: list[dict] = []
    for p in parts:
        if p.kind == "text" and p.text:
            out.append({"type": "input_text", "text": p.text})
        elif p.kind == "image" and _web_image(p):
            out.append({"type": "input_image", "image_url": p.url,
                        "detail": p.detail if p.detail in ("low", "high", "auto") else "auto"})
    return out


# -- Anthropic --------------------------------------------------------------------------------


def to_anthropic(messages: Sequence[dict]) -> dict:
    """{"system": ..., "messages": [...]}: system and developer messages hoisted into system,
    roles strictly alternating (consecutive same-role turns merged, tool_result blocks first in
    the user turn that answers), no empty content, tool calls as tool_use blocks."""
    system: list[str] = []
    out: list[dict] = []
    for t in arrange(neutral(messages)):
        if t.plain and t.role in ("user", "assistant"):  # the common case, quickly
            text = t.raw["content"]
            if text.strip():
                if out and out[-1]["role"] == t.role:
                    out[-1]["content"].append({"type": "text", "text": text})
                else:
                    out.append({"role": t.role, "content": [{"type": "text", "text": text}]})
            continue
        if t.role in ("system", "developer"):
            if _texts(t.parts).strip():
                system.append(_texts(t.parts))
            continue
        role = "assistant" if t.role == "assistant" else "user"
        blocks = [b for b in (_block(p, role) for p in t.parts) if b is not None]
        if not blocks:
            continue
        if out and out[-1]["role"] == role:
            out[-1]["content"].extend(blocks)
        else:
            out.append({"role": role, "content": blocks})
    for m in out:
        if m["role"] == "user":
            m["content"].sort(key=lambda b: b.get("type") != "tool_result")
    result: dict = {"messages": out}
    if system:
        result["system"] = "\n\n".join(system)
    return result


def _block(p: Part, role: str) -> dict | None:
    if p.kind == "image" and role != "user":
        return None
    if p.shape == ANTHROPIC and isinstance(p.raw, dict) and p.kind not in ("text", "result"):
        if p.kind in ("call", "reasoning") and role != "assistant":
            return None
        return _copy(p.raw)
    if p.kind == "text":
        if not p.text.strip():  # Anthropic refuses empty and white-space-only text blocks
            return None
        if p.shape == ANTHROPIC and isinstance(p.raw, dict):
            return _copy(p.raw)
        return {"type": "text", "text": p.text}
    if p.kind == "image" and role == "user":
        return _image_block(p.url)
    if p.kind == "call" and role == "assistant":
        return {"type": "tool_use", "id": p.id, "name": p.name, "input": _parse_args(p.text)}
    if p.kind == "result":
        if p.shape == ANTHROPIC and isinstance(p.raw, dict):
            block = _copy(p.raw)
            if block.get("content") in ("", []):
                del block["content"]
            return block
        block = {"type": "tool_result", "tool_use_id": p.id}
        content = [b for b in (_block(c, "user") for c in p.content) if b is not None]
        if content:
            block["content"] = content if any(b["type"] == "image" for b in content) \
                else "\n".join(b["text"] for b in content)
        if p.is_error:
            block["is_error"] = True
        return block
    return None


def _image_block(url: str) -> dict | None:
    if url.startswith("data:") and ";base64," in url:
        media, data = url[5:].split(";base64,", 1)
        return {"type": "image", "source": {"type": "base64", "media_type": media, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    return None


def _parse_args(arguments: str) -> dict:
    """A call's arguments as the object tool_use needs; text that is not a JSON object is kept
    as {"_raw": text}."""
    try:
        value = json.loads(arguments) if arguments else {}
    except json.JSONDecodeError:
        return {"_raw": arguments}
    return value if isinstance(value, dict) else {"_raw": arguments}


def to_text(messages: Sequence[dict], pinned: Sequence[bool] = ()) -> str:
    """A readable transcript in stored order: one block per message, '[role]' headers ('[tool
    <call id>]' for results, the item type for Responses items), '*' marks pins; the body is
    messages.message_text with call ids."""
    out = []
    for i, m in enumerate(messages):
        mark = "*" if i < len(pinned) and pinned[i] else ""
        kind = m.get("type") if m.get("type") != "message" else None
        head = f"[{kind or m.get('role') or '?'}{mark}]"
        if m.get("role") == "tool":
            head = f"[tool{mark} {m.get('tool_call_id', '')}]"
        elif isinstance(kind, str) and kind.endswith("_output"):
            head = f"[{kind}{mark} {m.get('call_id', '')}]"
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
    if fmt == "openai-responses":
        return to_openai_responses(messages)
    if fmt == "anthropic":
        return to_anthropic(messages)
    if fmt == "text":
        return to_text(messages, [bool(f & 1) for f in flags])
    if fmt == "json":
        return to_json_entries(messages, blob_ids, flags)
    raise InputError(f"unknown format {fmt!r} (choose from {', '.join(FORMATS)})")
