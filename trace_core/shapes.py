"""Message shapes: which of the three a stored message is, whether it is valid, its neutral form.

Trace stores what it is given, verbatim, in any of three shapes: OpenAI chat-completions messages
(`chat`), Anthropic messages with content blocks (`anthropic`) and OpenAI Responses input items
(`responses`). `detect` names a message's shape, `check_message` refuses a malformed one at
commit time (unknown fields are left alone: they are the user's), and `neutral` turns any mix
into `Turn`s of `Part`s, which materialize.py renders into each prompt format. The mapping and
what each format cannot carry are in docs/materialization.md.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from .errors import InputError

CHAT, ANTHROPIC, RESPONSES = "chat", "anthropic", "responses"
ROLES = ("system", "developer", "user", "assistant", "tool")
PLAIN_ROLES = frozenset(("system", "developer", "user", "assistant"))   # (all but "tool")

# Responses items that call a tool the client runs -> the item that answers them (by call_id)
CALL_ITEMS = {"function_call": "function_call_output",
              "custom_tool_call": "custom_tool_call_output",
              "computer_call": "computer_call_output", "shell_call": "shell_call_output",
              "apply_patch_call": "apply_patch_call_output"}
OUTPUT_ITEMS = {v: k for k, v in CALL_ITEMS.items()}
# every other Responses input item type (docs/materialization.md: passed through, same shape only)
OTHER_ITEMS = frozenset((
    "reasoning", "file_search_call", "web_search_call", "image_generation_call",
    "code_interpreter_call", "local_shell_call", "local_shell_call_output", "mcp_list_tools",
    "mcp_approval_request", "mcp_approval_response", "mcp_call", "item_reference",
    "tool_search_call", "tool_search_output", "compaction", "compaction_trigger",
    "additional_tools", "configuration_update", "program", "program_output"))
ITEM_TYPES = frozenset(("message", *CALL_ITEMS, *OUTPUT_ITEMS, *OTHER_ITEMS))

ANTHROPIC_BLOCKS = frozenset(("tool_use", "tool_result", "image", "document", "thinking",
                              "redacted_thinking", "search_result", "server_tool_use",
                              "web_search_tool_result", "container_upload"))
RESPONSES_PARTS = frozenset(("input_text", "output_text", "input_image", "input_file",
                             "refusal", "input_audio_ref"))


def detect(m: dict) -> str:
    """The shape of a stored message: `responses` (a typed item, or input_/output_ parts),
    `anthropic` (Anthropic-only content blocks) or `chat` (everything else, plain text too)."""
    if "type" in m:
        return RESPONSES
    content = m.get("content")
    if isinstance(content, list):
        for b in content:
            kind = b.get("type") if isinstance(b, dict) else None
            if kind in ANTHROPIC_BLOCKS:
                return ANTHROPIC
            if kind in RESPONSES_PARTS and kind != "refusal":
                return RESPONSES
    return CHAT


# -- validation on commit ---------------------------------------------------------------------


def check_messages(messages: Sequence[Any]) -> None:
    """check_message for each message; the error names the message's position when several."""
    for i, m in enumerate(messages):
        try:
            check_message(m)
        except InputError as e:
            if len(messages) == 1:
                raise
            raise InputError(f"message {i}: {e}") from None


def check_message(m: Any) -> None:
    """Refuse, with one line naming what is wrong, a message no provider shape allows: unknown
    role or item type, a tool message without tool_call_id, a call without id or name, a
    content part that is not an object with a type. Fields Trace does not know are allowed."""
    if not isinstance(m, dict):
        raise InputError("a message must be a JSON object (a dict)")
    kind = m.get("type")
    if kind is not None and kind != "message":
        _check_item(m, kind)
        return
    role = m.get("role")
    if role is None:
        raise InputError("a message needs a role (or a Responses item type)")
    if role not in ROLES:
        raise InputError(f"unknown role {role!r} (choose from {', '.join(ROLES)})")
    if kind == "message" and role == "tool":
        raise InputError("a Responses message item cannot have role 'tool'")
    content = m.get("content")
    if content is None:
        if role != "assistant":
            raise InputError(f"a {role} message needs content")
    elif isinstance(content, list):
        for j, b in enumerate(content):
            _check_part(b, j, role)
    elif not isinstance(content, str):
        raise InputError(f"content must be text or a list of parts, not {_kind(content)}")
    if role == "tool":
        _need_str(m, "tool_call_id", "a tool message")
    calls = m.get("tool_calls")
    if calls is not None:
        if role != "assistant" or not isinstance(calls, list):
            raise InputError("tool_calls must be a list on an assistant message")
        for call in calls:
            _check_chat_call(call)


def _check_item(m: dict, kind: Any) -> None:
    if kind not in ITEM_TYPES:
        raise InputError(f"unknown item type {kind!r}")
    if kind == "function_call":
        for key in ("call_id", "name"):
            _need_str(m, key, "a function_call item")
        if not isinstance(m.get("arguments"), str):
            raise InputError("a function_call item needs arguments (a JSON string)")
    elif kind in CALL_ITEMS or kind in OUTPUT_ITEMS:
        _need_str(m, "call_id", f"a {kind} item")
    if kind == "function_call_output" and not isinstance(m.get("output"), (str, list)):
        raise InputError("a function_call_output item needs an output (text or a list of parts)")
    if kind == "reasoning" and not isinstance(m.get("summary"), list):
        raise InputError("a reasoning item needs a summary list")


def _check_part(b: Any, j: int, role: str) -> None:
    kind = b.get("type") if isinstance(b, dict) else None
    if not isinstance(kind, str) or not kind:
        raise InputError(f"content part {j} must be an object with a type")
    if kind in ("text", "input_text", "output_text") and not isinstance(b.get("text"), str):
        raise InputError(f"content part {j} ({kind}) needs text")
    if kind == "tool_use":
        if role != "assistant":
            raise InputError(f"a tool_use block belongs in an assistant message, not {role}")
        _need_str(b, "id", "a tool_use block")
        _need_str(b, "name", "a tool_use block")
        if not isinstance(b.get("input"), dict):
            raise InputError("a tool_use block needs input (an object)")
    elif kind == "tool_result":
        if role != "user":
            raise InputError(f"a tool_result block belongs in a user message, not {role}")
        _need_str(b, "tool_use_id", "a tool_result block")
        if not isinstance(b.get("content", ""), (str, list)):
            raise InputError("a tool_result block's content must be text or a list of blocks")


def _check_chat_call(call: Any) -> None:
    if not isinstance(call, dict):
        raise InputError("each of tool_calls must be an object")
    _need_str(call, "id", "a tool call")
    if call.get("type", "function") == "custom":
        return
    fn = call.get("function")
    if not isinstance(fn, dict):
        raise InputError("a tool call needs a function object (name, arguments)")
    _need_str(fn, "name", "a tool call's function")
    if not isinstance(fn.get("arguments"), str):
        raise InputError("a tool call's function needs arguments (a JSON string)")


def _need_str(d: dict, key: str, what: str) -> None:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise InputError(f"{what} needs {key} (a non-empty string)"
                         + ("" if v is None else f", not {_kind(v)}"))


def _kind(v: Any) -> str:
    return {dict: "an object", list: "a list", str: "text", bool: "a boolean",
            type(None): "null"}.get(type(v), type(v).__name__)


# -- the neutral form -------------------------------------------------------------------------


class Part:
    """One piece of a turn. kind: text, image, call, result, reasoning or other. `raw` is the
    stored part, block or item, verbatim; `shape` the shape it came in (a target of the same
    shape gets `raw` back). (A plain slotted class: `dataclasses` costs every command that
    renders a context ~10 ms of imports.)"""

    __slots__ = ("kind", "shape", "raw", "text", "id", "name", "url", "detail", "content",
                 "is_error")

    def __init__(self, kind: str, shape: str, raw: Any = None, text: str = "", id: str = "",
                 name: str = "", url: str = "", detail: str = "", content: Sequence = (),
                 is_error: bool = False) -> None:
        self.kind, self.shape, self.raw = kind, shape, raw
        self.text = text            # text; a call's arguments (JSON text)
        self.id = id                # a call's id; for a result, the id of the call it answers
        self.name = name            # a call's tool name
        self.url = url              # an image: https:, data: or file-id URL
        self.detail = detail        # an image's detail, if given
        self.content = content      # a result: its text and image parts
        self.is_error = is_error    # a result reported as an error

    def _key(self) -> tuple:
        return tuple(getattr(self, k) for k in self.__slots__)

    def __eq__(self, other: object) -> bool:
        return type(other) is Part and self._key() == other._key()

    __hash__ = None  # type: ignore[assignment]  # mutable, like the dataclass it replaces

    def __repr__(self) -> str:
        return "Part(" + ", ".join(f"{k}={getattr(self, k)!r}" for k in self.__slots__) + ")"


class Turn:
    """One stored message in the neutral form: role (system, developer, user, assistant, tool;
    tool = only results), its parts, its shape, the stored message (`raw`) and its index. A
    plain text message gets its one text part only when asked (most never are)."""

    __slots__ = ("role", "_parts", "shape", "raw", "index")

    def __init__(self, role: str, parts: list[Part] | None, shape: str, raw: dict,
                 index: int) -> None:
        self.role, self._parts, self.shape, self.raw, self.index = role, parts, shape, raw, index

    @property
    def parts(self) -> list[Part]:
        if self._parts is None:
            text = self.raw["content"]
            self._parts = [Part("text", CHAT, text, text)] if text else []
        return self._parts

    @property
    def plain(self) -> bool:
        """A role and text content, nothing else (valid as it is in every format)."""
        return self._parts is None and len(self.raw) == 2

    def calls(self) -> list[str]:
        if self._parts is None:
            return []
        return [p.id for p in self._parts if p.kind == "call" and p.id]

    def __repr__(self) -> str:
        return f"Turn({self.role!r}, {self.parts!r}, {self.shape!r}, index={self.index})"


def neutral(messages: Sequence[dict]) -> list[Turn]:
    """The turns of stored messages, in stored order. An Anthropic user message holding
    tool_result blocks becomes a tool turn (its results) followed by a user turn (the rest)."""
    out: list[Turn] = []
    for i, m in enumerate(messages):
        content = m.get("content")
        if type(content) is str and m.get("role") in PLAIN_ROLES and "type" not in m and \
                "tool_calls" not in m:
            out.append(Turn(m["role"], None, CHAT, m, i))  # the common case, quickly
            continue
        shape = detect(m)
        if shape == RESPONSES and m.get("type", "message") != "message":
            out.append(_item_turn(m, i))
            continue
        role = m["role"] if m.get("role") in ROLES else "user"
        parts = _content_parts(m.get("content"), shape)
        if role == "tool":
            parts = [Part("result", shape, m, id=_s(m.get("tool_call_id")),
                          content=[p for p in parts if p.kind in ("text", "image")])]
        for c in m.get("tool_calls") or ():
            parts.append(_chat_call(c))
        results = [p for p in parts if p.kind == "result"]
        if results and role != "tool":
            out.append(Turn("tool", results, shape, m, i))
            parts = [p for p in parts if p.kind != "result"]
            if not parts:
                continue
        out.append(Turn(role, parts, shape, m, i))
    return out


def _item_turn(m: dict, i: int) -> Turn:
    kind = m.get("type")
    if kind == "function_call":
        return Turn("assistant", [Part("call", RESPONSES, m, text=_s(m.get("arguments")),
                                       id=_s(m.get("call_id")), name=_s(m.get("name")))],
                    RESPONSES, m, i)
    if kind == "function_call_output":
        out = m.get("output")
        content = [Part("text", RESPONSES, out, text=out)] if isinstance(out, str) \
            else _content_parts(out, RESPONSES)
        return Turn("tool", [Part("result", RESPONSES, m, id=_s(m.get("call_id")),
                                  content=content)], RESPONSES, m, i)
    if kind == "reasoning":
        texts = [s.get("text", "") for s in m.get("summary") or () if isinstance(s, dict)]
        return Turn("assistant", [Part("reasoning", RESPONSES, m, text="\n".join(texts))],
                    RESPONSES, m, i)
    role = "tool" if kind in OUTPUT_ITEMS else "assistant"
    return Turn(role, [Part("other", RESPONSES, m)], RESPONSES, m, i)


def _content_parts(content: Any, shape: str) -> list[Part]:
    if content is None:
        return []
    if isinstance(content, str):
        return [Part("text", shape, content, text=content)] if content else []
    if not isinstance(content, list):
        return [Part("text", shape, content, text=json.dumps(content, sort_keys=True))]
    return [_part(b, shape) for b in content]


def _part(b: Any, shape: str) -> Part:
    if isinstance(b, str):
        return Part("text", shape, b, text=b)
    kind = b.get("type") if isinstance(b, dict) else None
    if not isinstance(b, dict):
        return Part("other", shape, b)
    if kind in ("text", "input_text", "output_text") and isinstance(b.get("text"), str):
        return Part("text", shape, b, text=b["text"])
    if kind == "image_url":
        img = b.get("image_url")
        url = img.get("url") if isinstance(img, dict) else img
        detail = img.get("detail") if isinstance(img, dict) else None
        return Part("image", shape, b, url=_s(url), detail=_s(detail))
    if kind == "input_image":
        url = b.get("image_url") or (f"file-id:{b['file_id']}" if b.get("file_id") else "")
        return Part("image", shape, b, url=_s(url), detail=_s(b.get("detail")))
    if kind == "image":
        src = b["source"] if isinstance(b.get("source"), dict) else {}
        url = src.get("url") if src.get("type") == "url" else (
            f"data:{src.get('media_type')};base64,{src.get('data')}"
            if src.get("type") == "base64" else "")
        return Part("image", shape, b, url=_s(url))
    if kind == "tool_use":
        args = json.dumps(b.get("input", {}), sort_keys=True, ensure_ascii=False)
        return Part("call", shape, b, text=args, id=_s(b.get("id")), name=_s(b.get("name")))
    if kind == "tool_result":
        return Part("result", shape, b, id=_s(b.get("tool_use_id")),
                    content=[p for p in _content_parts(b.get("content"), shape)
                             if p.kind in ("text", "image")],
                    is_error=bool(b.get("is_error")))
    if kind in ("thinking", "redacted_thinking"):
        return Part("reasoning", shape, b, text=_s(b.get("thinking")))
    return Part("other", shape, b)


def _chat_call(c: Any) -> Part:
    if not isinstance(c, dict) or c.get("type", "function") != "function":
        return Part("other", CHAT, c)
    fn = c["function"] if isinstance(c.get("function"), dict) else {}
    args = fn.get("arguments")
    return Part("call", CHAT, c, text=args if isinstance(args, str) else json.dumps(args),
                id=_s(c.get("id")), name=_s(fn.get("name")))


def _s(v: Any) -> str:
    return v if isinstance(v, str) else ""


def arrange(turns: list[Turn]) -> list[Turn]:
    """Turns in an order every provider accepts: a tool turn answering calls made earlier is
    moved up to follow the call (after the calls and results around it), ahead of anything
    stored between them. Orphan results and turns already in place keep their position."""
    if not any(t.role == "tool" for t in turns):
        return turns
    out: list[Turn] = []
    where: dict[str, int] = {}
    for t in turns:
        if t.role == "tool":
            at = [where[p.id] for p in t.parts if p.id in where]
            if at:
                j = max(at) + 1
                while j < len(out) and (out[j].role == "tool" or
                                        (out[j].role == "assistant" and out[j].calls())):
                    j += 1
                if j < len(out):
                    out.insert(j, t)
                    where = {k: (v + 1 if v >= j else v) for k, v in where.items()}
                    continue
        if t.role == "assistant":
            for cid in t.calls():
                where[cid] = len(out)
        out.append(t)
    return out
