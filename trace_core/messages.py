"""What a stored message says, whatever its shape: its text, the tool calls it makes and answers.

Shapes understood (trace_core.shapes): OpenAI chat (assistant `tool_calls`, role `tool` with
`tool_call_id`), Anthropic (`tool_use` / `tool_result` blocks in `content`, `thinking` blocks)
and Responses items (`function_call` / `function_call_output` and the other client tool calls
and outputs paired by `call_id`; `reasoning` summaries). The one owner of a message's text
(`message_text`), its one-line `preview` and tool-call / result pairing: diff, commit messages,
merge drivers, compression, reorder checks and the text prompt all read messages through it.
Also the lexical facts of a text (`facts`: numbers, identifiers, file names), which audit looks
for in replacements and the extractive compression ranks high, and the vocabulary shared by the
readers of messages: `STOP_WORDS` (words that carry no topic) and `REQUIREMENT` (a requirement
or constraint phrase; `phrase_re` builds such a pattern).
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Iterator
from typing import Any, NamedTuple

from .shapes import CALL_ITEMS, OUTPUT_ITEMS


def blocks(m: dict, kind: str) -> list[dict]:
    """The content blocks of type `kind` (Anthropic-style list content)."""
    c = m.get("content")
    if not isinstance(c, list):
        return []
    return [b for b in c if isinstance(b, dict) and b.get("type") == kind]


def _ids(values: list) -> list[str]:
    return [x for x in values if isinstance(x, str) and x]


def call_ids(m: dict) -> list[str]:
    """Ids of the tool calls a message makes."""
    out = [c.get("id") for c in (m.get("tool_calls") or []) if isinstance(c, dict)]
    out += [b.get("id") for b in blocks(m, "tool_use")]
    if m.get("type") in CALL_ITEMS:
        out.append(m.get("call_id"))
    return _ids(out)


def call_names(m: dict) -> dict[str, str]:
    """Tool call id -> the name of the tool it calls."""
    out = {}
    for c in m.get("tool_calls") or []:
        if isinstance(c, dict) and isinstance(c.get("id"), str):
            fn = c.get("function")
            out[c["id"]] = str(fn.get("name", "")) if isinstance(fn, dict) else ""
    for b in blocks(m, "tool_use"):
        if isinstance(b.get("id"), str):
            out[b["id"]] = str(b.get("name", ""))
    if m.get("type") in CALL_ITEMS and isinstance(m.get("call_id"), str):
        out[m["call_id"]] = str(m.get("name") or m["type"])
    return out


def result_ids(m: dict) -> list[str]:
    """Ids of the tool calls a message answers."""
    out = [m.get("tool_call_id")] if m.get("role") == "tool" else []
    out += [b.get("tool_use_id") for b in blocks(m, "tool_result")]
    if m.get("type") in OUTPUT_ITEMS:
        out.append(m.get("call_id"))
    return _ids(out)


def is_tool_output(m: dict) -> bool:
    """A message that answers tool calls (a tool message, tool_result blocks, an output item)."""
    return m.get("role") == "tool" or bool(blocks(m, "tool_result")) or \
        m.get("type") in OUTPUT_ITEMS


def is_question(m: dict) -> bool:
    """A user message that is not only tool results (it starts a turn)."""
    if m.get("role") != "user":
        return False
    c = m.get("content")
    return not (isinstance(c, list) and c and
                all(isinstance(b, dict) and b.get("type") == "tool_result" for b in c))


def _json(v: Any) -> str:
    return json.dumps(v, sort_keys=True, ensure_ascii=False, default=_jsonable)


def _jsonable(v: Any) -> Any:
    """JSON for what stored messages hold beyond JSON: bytes as {"$bytes": hex}, else str()."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return {"$bytes": bytes(v).hex()}
    return str(v)


class ToolCall(NamedTuple):
    """One tool call, whatever its shape: its id ("" if none), tool name and arguments as text."""

    id: str
    name: str
    arguments: str


def _call_line(c: ToolCall, ids: bool) -> str:
    return f"call {c.name or '?'}({c.arguments})" + (f" id={c.id}" if ids else "")


def _parts(value: Any) -> Iterator[str | ToolCall]:
    """The pieces of a content value in order: texts, and tool_use blocks as ToolCalls."""
    if value is None:
        return
    if isinstance(value, str):
        yield value
        return
    if not isinstance(value, list):
        yield _json(value)
        return
    for p in value:
        if isinstance(p, str):
            yield p
        elif isinstance(p, dict) and isinstance(p.get("text"), str):
            yield p["text"]
        elif isinstance(p, dict) and p.get("type") == "tool_result":
            yield from _parts(p.get("content"))
        elif isinstance(p, dict) and p.get("type") == "tool_use":
            yield ToolCall(_str(p.get("id")), _str(p.get("name")), _json(p.get("input")))
        elif isinstance(p, dict) and isinstance(p.get("thinking"), str):
            yield p["thinking"]
        else:
            yield _json(p)


def _str(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else str(v))


def _args(v: Any) -> str:
    return v if isinstance(v, str) else ("" if v is None else _json(v))


def _own_parts(m: dict) -> Iterator[str | ToolCall]:
    """Every piece of a message: content (or a Responses output or reasoning summary), then
    calls outside content."""
    kind = m.get("type")
    yield from _parts(m.get("output") if kind in OUTPUT_ITEMS else
                      m.get("summary") if kind == "reasoning" else m.get("content"))
    for c in m.get("tool_calls") or ():
        if isinstance(c, dict):
            fn = c.get("function")
            fn = fn if isinstance(fn, dict) else {}
            yield ToolCall(_str(c.get("id")), _str(fn.get("name")), _args(fn.get("arguments")))
        else:
            yield _json(c)
    if m.get("type") == "function_call":
        yield ToolCall(_str(m.get("call_id")), _str(m.get("name")), _args(m.get("arguments")))


def tool_calls(m: Any) -> list[ToolCall]:
    """The tool calls a message makes, in order: OpenAI `tool_calls`, Anthropic `tool_use`
    blocks, a Responses `function_call` item."""
    if not isinstance(m, dict):
        return []
    return [p for p in _own_parts(m) if isinstance(p, ToolCall)]


def text_of(value: Any) -> str:
    """The text of a content value: a string, text parts (one a line), tool_result blocks as
    their text, tool_use blocks as `call name(args)`, anything else as JSON."""
    return "\n".join(x for x in (_call_line(p, False) if isinstance(p, ToolCall) else p
                                 for p in _parts(value)) if x)


class Piece(NamedTuple):
    """A piece of a message's text: `kind` "text", "call" (a tool call as `call name(args)`) or
    "output" (a tool output: a whole tool message or Responses output item, or a tool_result
    block), its `text`, and for an output the id of the call it answers ("" if none)."""

    kind: str
    text: str
    call_id: str = ""


def pieces(m: Any) -> list[Piece]:
    """message_text(m) in pieces, in order: joined by newlines, the non-empty texts are
    message_text(m). A tool message or output item is one "output" piece; otherwise each content
    part is a piece (a tool_result block "output", a tool_use block "call", anything else
    "text"), then each tool call outside content a "call" piece."""
    if not isinstance(m, dict):
        return [Piece("text", _json(m))]
    if m.get("role") == "tool" or m.get("type") in OUTPUT_ITEMS:
        ids = result_ids(m)
        return [Piece("output", message_text(m), ids[0] if ids else "")]
    kind = m.get("type")
    value = m.get("summary") if kind == "reasoning" else m.get("content")
    out: list[Piece] = []
    for part in value if isinstance(value, list) else [value]:
        if isinstance(part, dict) and part.get("type") == "tool_result" and \
                not isinstance(part.get("text"), str):
            out.append(Piece("output", text_of(part.get("content")), _str(part.get("tool_use_id"))))
            continue
        for x in _parts([part] if isinstance(value, list) else part):
            out.append(Piece("call", _call_line(x, False)) if isinstance(x, ToolCall)
                       else Piece("text", x))
    rest = {k: v for k, v in m.items() if k not in ("content", "summary")}
    out.extend(Piece("call", _call_line(c, False)) for c in _own_parts(rest)
               if isinstance(c, ToolCall))
    return out


def message_text(m: Any, ids: bool = False) -> str:
    """The full text of a message (diff, merge similarity, compression checks, the text prompt):
    its content's text (a Responses `function_call_output`: its output), then every tool call
    as `call name(args)`, with ` id=<call id>` when `ids`. A non-dict is shown as JSON."""
    if not isinstance(m, dict):
        return _json(m)
    return "\n".join(x for x in (_call_line(p, ids) if isinstance(p, ToolCall) else p
                                 for p in _own_parts(m)) if x)


def normalized(m: Any) -> str:
    """message_text lowercased with white space collapsed (for near-duplicate tests)."""
    return " ".join(message_text(m).lower().split())


def kind(message: Any) -> str:
    """What a message is, for one-line listings: its role, else its item type (a Responses
    `function_call_output`, `function_call`, `reasoning`), else "?"."""
    if isinstance(message, dict):
        for key in ("role", "type"):
            v = message.get(key)
            if isinstance(v, str) and v:
                return v
    return "?"


def preview(message: Any, width: int = 50) -> str:
    """A one-line summary of a message at most `width` characters (cut with "..."): its text
    squashed to one line; a message with no text shows its calls as `call name1, name2`."""
    if not isinstance(message, dict):
        text = _json(message)
    else:
        parts = list(_own_parts(message))
        text = " ".join(p for p in parts if isinstance(p, str))
        if not text or text.isspace():
            names = [p.name or "?" for p in parts if isinstance(p, ToolCall)]
            text = "call " + ", ".join(names) if names else ""
    text = _squash(text, width)
    return text if len(text) <= width else text[: max(0, width - 3)] + "..."


_FACT = (r"[\w-]+\.[A-Za-z][A-Za-z0-9]{0,5}\b"          # file names: notes.md, run-2.json
         r"|\b\d+(?:[.,:]\d+)*\b"                        # numbers: 180, 3.5, 09:40, 1,800
         r"|\b[A-Za-z]*\d[\w]*\b"                        # letters with digits: TP1234, q1
         r"|\b\w+_\w+\b"                                 # snake_case
         r"|\b[a-z]+[A-Z]\w*\b|\b[A-Z][a-z]+[A-Z]\w*\b")  # camelCase, CamelCase


def facts(text: str) -> list[str]:
    """The key facts of `text` as a lexical heuristic: numbers, identifiers (with digits,
    underscores or inner capitals) and file names, in order of first appearance, each once."""
    seen: dict[str, None] = {}
    for m in re.finditer(_FACT, text):      # (compiled on first use, by re's cache)
        seen.setdefault(m.group(0).rstrip(".,:"), None)
    return [f for f in seen if f]


def has_fact(text: str) -> bool:
    """Whether `text` holds one of `facts`."""
    return re.search(_FACT, text) is not None


def phrase_re(phrases: Iterable[str]) -> re.Pattern:
    """Any of `phrases` as whole words, in any case, the longest first ("must not" before
    "must"); in a phrase a space matches any white space and an apostrophe either ' or
    \u2019."""
    alt = "|".join(re.escape(w).replace(r"\ ", r"\s+").replace("'", "['\u2019]")
                   for w in sorted(phrases, key=len, reverse=True))
    return re.compile(r"\b(?:" + alt + r")\b", re.I)


#: words that carry no topic (content words leave them out)
STOP_WORDS = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is",
    "it", "its", "just", "may", "me", "might", "my", "no", "not", "of", "on", "or", "our", "she",
    "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "too", "very", "was", "we", "were", "what", "when", "which", "who",
    "will", "with", "would", "you", "your", "also", "about", "here", "all", "any", "some",
    "such", "only", "over", "out", "up", "down", "more", "most", "other"
])
#: the phrases that state a requirement or constraint
REQUIREMENT_PHRASES = (
    "must", "must not", "mustn't", "never", "always", "do not", "don't", "required", "require",
    "requires", "requirement", "requirements", "constraint", "constraints", "make sure",
    "ensure", "should", "should not", "shouldn't", "prefer", "prefers", "preferred", "only use",
    "at most", "at least", "no more than", "deadline", "budget", "forbidden", "mandatory")
#: a requirement or constraint phrase (`REQUIREMENT_PHRASES`, as `phrase_re` matches them)
REQUIREMENT = phrase_re(REQUIREMENT_PHRASES)


def _squash(text: str, width: int) -> str:
    """`" ".join(text.split())`, or a prefix of it longer than `width`: only a prefix of the
    text is split, doubled until it is enough, so a preview of a long text costs little."""
    n = 2 * width + 16
    while True:
        out = " ".join(text[:n].split())
        if n >= len(text) or len(out) > width + 1:
            return out
        n *= 2


