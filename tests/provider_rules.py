"""Test helper: the request rules of each provider format, checked on a materialized prompt
(independent of trace_core.materialize), and validation against the official SDKs' types."""

from __future__ import annotations

from typing import Any


def _fail(fmt: str, i: int, why: str) -> None:
    raise AssertionError(f"{fmt} message {i}: {why}")


def check_chat(msgs: list[dict]) -> None:
    """Every assistant tool_calls list is answered by the tool messages right after it, each
    tool message answers the calls just before it, no call is answered twice."""
    open_calls: set[str] = set()
    for i, m in enumerate(msgs):
        role = m.get("role")
        assert role in ("system", "developer", "user", "assistant", "tool"), role
        if role == "tool":
            if m["tool_call_id"] not in open_calls:
                _fail("openai", i, f"tool message {m['tool_call_id']} does not follow its call")
            open_calls.discard(m["tool_call_id"])
            continue
        if open_calls:
            _fail("openai", i, f"calls {sorted(open_calls)} not answered before a {role} message")
        if role == "assistant":
            if m.get("content") is None and not m.get("tool_calls"):
                _fail("openai", i, "assistant message with neither content nor tool_calls")
            ids = [c["id"] for c in m.get("tool_calls") or ()]
            assert len(set(ids)) == len(ids), ids
            open_calls = set(ids)
    if open_calls:
        _fail("openai", len(msgs), f"calls {sorted(open_calls)} never answered")


CALLS = {"function_call": "function_call_output", "custom_tool_call": "custom_tool_call_output"}


def check_responses(items: list[dict]) -> None:
    """Every output item comes after its call item; every call gets exactly one output; a
    reasoning item is followed by an item of the same turn (not a user message)."""
    called: set[str] = set()
    answered: set[str] = set()
    for i, it in enumerate(items):
        kind = it.get("type", "message")
        if kind in CALLS:
            called.add(it["call_id"])
        elif kind in CALLS.values():
            if it["call_id"] not in called or it["call_id"] in answered:
                _fail("openai-responses", i, f"output {it['call_id']} without its earlier call")
            answered.add(it["call_id"])
        elif kind == "reasoning":
            nxt = items[i + 1] if i + 1 < len(items) else None
            if nxt is None or nxt.get("role") not in (None, "assistant"):
                _fail("openai-responses", i, "reasoning item not followed by its turn's output")
        else:
            assert it.get("role") in ("system", "developer", "user", "assistant"), it
            if it.get("content") in ("", []):
                _fail("openai-responses", i, "empty message")
    if called != answered:
        _fail("openai-responses", len(items), f"calls {sorted(called - answered)} unanswered")


def check_anthropic(req: dict) -> None:
    """System hoisted (a string), roles strictly alternate, no empty content or text block,
    tool_use only in assistant turns, each answered by tool_result blocks that come first in
    the very next (user) turn, and each tool_result answers the turn just before."""
    assert set(req) <= {"system", "messages"}, set(req)
    if "system" in req:
        assert isinstance(req["system"], str) and req["system"], req["system"]
    msgs = req["messages"]
    prev_uses: set[str] = set()
    for i, m in enumerate(msgs):
        assert set(m) == {"role", "content"}, set(m)
        role = m["role"]
        if role not in ("user", "assistant"):
            _fail("anthropic", i, f"role {role!r} in messages")
        if i and msgs[i - 1]["role"] == role:
            _fail("anthropic", i, f"two {role} turns in a row")
        content = m["content"]
        if not content:
            _fail("anthropic", i, "empty content")
        blocks = [{"type": "text", "text": content}] if isinstance(content, str) else content
        kinds = [b["type"] for b in blocks]
        for b in blocks:
            if b["type"] == "text" and not b["text"].strip():
                _fail("anthropic", i, "empty or white-space-only text block")
        results = [b["tool_use_id"] for b in blocks if b["type"] == "tool_result"]
        uses = [b["id"] for b in blocks if b["type"] == "tool_use"]
        if role == "user":
            if uses:
                _fail("anthropic", i, "tool_use in a user turn")
            if kinds[:len(results)] != ["tool_result"] * len(results):
                _fail("anthropic", i, "tool_result blocks are not first")
            if set(results) != prev_uses:
                _fail("anthropic", i, f"results {results} do not answer {sorted(prev_uses)}")
            prev_uses = set()
        else:
            if results:
                _fail("anthropic", i, "tool_result in an assistant turn")
            if prev_uses:
                _fail("anthropic", i, "tool_use not answered by the next turn")
            prev_uses = set(uses)
    if prev_uses:
        _fail("anthropic", len(msgs), f"tool_use {sorted(prev_uses)} never answered")


# -- the SDKs' request types ------------------------------------------------------------------

_ADAPTERS: dict[str, Any] = {}


def _adapter(fmt: str) -> Any:
    if fmt not in _ADAPTERS:
        from anthropic.types.message_create_params import MessageCreateParamsNonStreaming
        from openai.types.chat.completion_create_params import (
            CompletionCreateParamsNonStreaming,
        )
        from openai.types.responses.response_create_params import (
            ResponseCreateParamsNonStreaming,
        )
        from pydantic import ConfigDict, TypeAdapter
        # a field the type does not know is an error (the list wrapper takes the config, which
        # every TypedDict inside inherits)
        forbid = ConfigDict(extra="forbid")
        _ADAPTERS.update(
            openai=TypeAdapter(list[CompletionCreateParamsNonStreaming], config=forbid),
            responses=TypeAdapter(list[ResponseCreateParamsNonStreaming], config=forbid),
            anthropic=TypeAdapter(list[MessageCreateParamsNonStreaming], config=forbid))
    return _ADAPTERS[fmt]


def _force(v: Any) -> Any:
    """pydantic validates Iterable fields lazily: walk everything so each item is validated."""
    if isinstance(v, dict):
        return {k: _force(x) for k, x in v.items()}
    if isinstance(v, (str, bytes)):
        return v
    if isinstance(v, list | tuple) or type(v).__name__ == "ValidatorIterator":
        return [_force(x) for x in v]
    return v


def sdk_validate(fmt: str, prompt: Any) -> None:
    """Validate a materialized prompt as the request the official SDK would send."""
    if fmt == "openai":
        _force(_adapter("openai").validate_python([{"model": "gpt-x", "messages": prompt}]))
    elif fmt == "openai-responses":
        _force(_adapter("responses").validate_python([{"model": "gpt-x", "input": prompt}]))
    elif fmt == "anthropic":
        req = {"model": "claude-x", "max_tokens": 16, **prompt}
        _force(_adapter("anthropic").validate_python([req]))
    else:
        raise ValueError(fmt)


def check(fmt: str, prompt: Any) -> None:
    """Both: the SDK's types and this module's rules."""
    sdk_validate(fmt, prompt)
    {"openai": check_chat, "openai-responses": check_responses,
     "anthropic": check_anthropic}[fmt](prompt)
