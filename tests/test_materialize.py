"""The read path: stored messages to OpenAI, Anthropic, text and JSON prompts."""

from __future__ import annotations

import json

import pytest

from trace_core.errors import InputError
from trace_core.history import tool_call_message, tool_result_message
from trace_core.materialize import render, to_anthropic, to_openai, to_text

CONV = [
    {"role": "system", "content": "Be careful."},
    {"role": "user", "content": "Read a.py and b.py"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{\"p\": \"a.py\"}"}},
        {"id": "c2", "type": "function", "function": {"name": "read", "arguments": "{\"p\": \"b.py\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "A"},
    {"role": "tool", "tool_call_id": "c2", "content": "B"},
    {"role": "assistant", "content": "Both read.", "x_provider": {"cache": "ephemeral"}},
]


def test_openai_is_lossless():
    assert to_openai(CONV) == CONV
    assert to_openai(CONV) is not CONV


def test_anthropic_hoists_system_and_uses_tool_blocks():
    out = to_anthropic(CONV)
    assert out["system"] == "Be careful."
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert [(u["id"], u["name"], u["input"]) for u in uses] == [("c1", "read", {"p": "a.py"}),
                                                                 ("c2", "read", {"p": "b.py"})]
    results = msgs[2]["content"]
    assert [(r["type"], r["tool_use_id"], r["content"]) for r in results] == \
        [("tool_result", "c1", "A"), ("tool_result", "c2", "B")]
    assert msgs[3]["content"] == [{"type": "text", "text": "Both read."}]


def test_anthropic_style_input_round_trips_through_openai():
    stored = [{"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                                {"type": "tool_use", "id": "t1", "name": "ls", "input": {"d": "."}}]},
              {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a b"}]}]
    oa = to_openai(stored)
    assert oa[0]["tool_calls"][0]["function"] == {"name": "ls", "arguments": "{\"d\": \".\"}"}
    assert oa[1] == {"role": "tool", "tool_call_id": "t1", "content": "a b"}
    back = to_anthropic(stored)["messages"]
    assert back[0]["content"][1] == {"type": "tool_use", "id": "t1", "name": "ls", "input": {"d": "."}}


def test_text_and_json_are_deterministic():
    t1 = to_text(CONV, [True, False, False, False, False, False])
    assert t1 == to_text(CONV, [True, False, False, False, False, False])
    assert t1.startswith("[system*]\nBe careful.")
    assert "-> read({\"p\": \"a.py\"}) id=c1" in t1
    js = render("json", CONV, ["ab" * 32] * 6, [1, 0, 0, 0, 0, 0])
    assert js[0]["pinned"] is True and js[1]["pinned"] is False
    json.dumps(js)


def test_helpers_build_valid_messages():
    call = tool_call_message("search", {"q": "x"}, "id9")
    assert call["tool_calls"][0]["function"]["arguments"] == "{\"q\": \"x\"}"
    assert tool_result_message("id9", "found")["tool_call_id"] == "id9"
    with pytest.raises(InputError):
        render("yaml", CONV)
