"""Every provider format made from any mix of the three stored shapes is a request the official
SDK types accept and that meets the provider's rules (tests/provider_rules.py), on generated
contexts; plus the cases those rules are about, one by one."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from provider_rules import check, check_anthropic, check_chat, check_responses, sdk_validate

from trace_core.materialize import to_anthropic, to_openai, to_openai_responses

pytest.importorskip("anthropic")
pytest.importorskip("openai")

FORMATS = {"openai": to_openai, "openai-responses": to_openai_responses,
           "anthropic": to_anthropic}
SHAPES = ("chat", "anthropic", "responses")
IMAGE_URL = "https://example.com/cat.png"
IMAGE_DATA = "data:image/png;base64,iVBORw0KGgo="


# -- one generated conversation, each message in a shape of its own ----------------------------


class Build:
    """Writes conversation events as stored messages, each in the shape hypothesis picks."""

    def __init__(self) -> None:
        self.out: list[dict] = []
        self.ids = itertools.count(1)

    def system(self, shape: str, text: str, role: str) -> None:
        if shape == "responses":
            self.out.append({"type": "message", "role": role,
                             "content": [{"type": "input_text", "text": text}]})
        elif shape == "anthropic":
            self.out.append({"role": "system", "content": [{"type": "text", "text": text}]})
        else:
            self.out.append({"role": role, "content": text})

    def user(self, shape: str, text: str, image: bool) -> None:
        if shape == "responses":
            parts = [{"type": "input_text", "text": text}]
            if image:
                parts.append({"type": "input_image", "image_url": IMAGE_URL, "detail": "auto"})
            self.out.append({"role": "user", "content": parts})
        elif shape == "anthropic":
            blocks: list = [{"type": "text", "text": text}] if text else []
            if image or not blocks:
                blocks.append({"type": "image", "source": {
                    "type": "base64", "media_type": "image/png", "data": "iVBORw0KGgo="}})
            self.out.append({"role": "user", "content": blocks})
        elif image:
            self.out.append({"role": "user", "content": [
                {"type": "text", "text": text}, {"type": "image_url",
                                                 "image_url": {"url": IMAGE_DATA}}]})
        else:
            self.out.append({"role": "user", "content": text})

    def assistant(self, shape: str, text: str, thinking: bool) -> None:
        n = next(self.ids)
        if shape == "responses":
            if thinking:
                self.out.append({"type": "reasoning", "id": f"rs_{n}",
                                 "summary": [{"type": "summary_text", "text": "hmm"}]})
            self.out.append({"type": "message", "id": f"msg_{n}", "role": "assistant",
                             "status": "completed", "content": [
                                 {"type": "output_text", "text": text or "ok",
                                  "annotations": []}]})
        elif shape == "anthropic":
            blocks = [{"type": "thinking", "thinking": "hmm", "signature": "c2ln"}] \
                if thinking else []
            self.out.append({"role": "assistant",
                             "content": [*blocks, {"type": "text", "text": text or "ok"}]})
        else:
            self.out.append({"role": "assistant", "content": text})

    def tools(self, call_shape: str, result_shapes: list[str], text: str,
              between: list[dict]) -> None:
        ids = [f"call_{next(self.ids)}" for _ in result_shapes]
        if call_shape == "chat":
            self.out.append({"role": "assistant", "content": text or None, "tool_calls": [
                {"id": i, "type": "function",
                 "function": {"name": "grep", "arguments": f'{{"q": "{i}"}}'}} for i in ids]})
        elif call_shape == "anthropic":
            blocks = [{"type": "text", "text": text}] if text else []
            self.out.append({"role": "assistant", "content": blocks + [
                {"type": "tool_use", "id": i, "name": "grep", "input": {"q": i}} for i in ids]})
        else:
            if text:
                self.out.append({"role": "assistant", "content": text})
            self.out.extend({"type": "function_call", "call_id": i, "name": "grep",
                             "arguments": f'{{"q": "{i}"}}'} for i in ids)
        self.out.extend(between)  # stored between the calls and their results
        for i, shape in zip(ids, result_shapes, strict=True):
            if shape == "chat":
                self.out.append({"role": "tool", "tool_call_id": i, "content": f"hits {i}"})
            elif shape == "anthropic":
                self.out.append({"role": "user", "content": [
                    {"type": "tool_result", "tool_use_id": i,
                     "content": [{"type": "text", "text": f"hits {i}"}]}]})
            else:
                self.out.append({"type": "function_call_output", "call_id": i,
                                 "output": f"hits {i}"})


texts = st.sampled_from(["", " ", "hi", "Read a.py", "ünïcode ✓", "two\nlines"])
shapes = st.sampled_from(SHAPES)
events = st.one_of(
    st.tuples(st.just("system"), shapes, texts, st.sampled_from(["system", "developer"])),
    st.tuples(st.just("user"), shapes, texts, st.booleans()),
    st.tuples(st.just("assistant"), shapes, texts, st.booleans()),
    st.tuples(st.just("tools"), shapes, st.lists(shapes, min_size=1, max_size=3), texts,
              st.sampled_from([[], [{"role": "user", "content": "wait"}],
                               [{"role": "system", "content": "note"}]])))


@st.composite
def contexts(draw) -> list[dict]:
    b = Build()
    for ev in draw(st.lists(events, max_size=12)):
        getattr(b, ev[0])(*ev[1:])
    return b.out


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(contexts())
def test_every_format_of_every_mix_is_a_valid_request(msgs):
    for fmt, render in FORMATS.items():
        check(fmt, render(msgs))


# -- the rules, one by one --------------------------------------------------------------------


def test_checker_catches_what_providers_refuse():
    """The rule checker is not a rubber stamp: each broken prompt is refused."""
    with pytest.raises(AssertionError, match="two user turns"):
        check_anthropic({"messages": [{"role": "user", "content": "a"},
                                      {"role": "user", "content": "b"}]})
    with pytest.raises(AssertionError, match="empty content"):
        check_anthropic({"messages": [{"role": "user", "content": []}]})
    with pytest.raises(AssertionError, match="not first"):
        check_anthropic({"messages": [
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                               "input": {}}]},
            {"role": "user", "content": [{"type": "text", "text": "x"},
                                         {"type": "tool_result", "tool_use_id": "t"}]}]})
    with pytest.raises(AssertionError, match="does not follow its call"):
        check_chat([{"role": "tool", "tool_call_id": "c", "content": "x"}])
    with pytest.raises(AssertionError, match="not answered before"):
        check_chat([{"role": "assistant", "content": None, "tool_calls": [
            {"id": "c", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"role": "user", "content": "x"}, {"role": "tool", "tool_call_id": "c",
                                               "content": "y"}])
    with pytest.raises(AssertionError, match="without its earlier call"):
        check_responses([{"type": "function_call_output", "call_id": "c", "output": "x"}])
    from pydantic import ValidationError
    with pytest.raises(ValidationError):
        sdk_validate("anthropic", {"messages": [{"role": "tool", "content": "x"}]})
    with pytest.raises(ValidationError):  # a Responses item is not a chat message
        sdk_validate("openai", [{"type": "function_call", "call_id": "c", "name": "f",
                                 "arguments": "{}"}])
    with pytest.raises(ValidationError):  # nested parts are validated too (not lazily skipped)
        sdk_validate("openai", [{"role": "user", "content": [{"type": "text", "txt": "x"}]}])


def test_anthropic_merges_same_role_turns_and_puts_results_first():
    msgs = [{"role": "user", "content": "a"}, {"role": "user", "content": "b"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f",
                                               "input": {}}]},
            {"role": "user", "content": [{"type": "text", "text": "also"},
                                         {"type": "tool_result", "tool_use_id": "t1",
                                          "content": "r"}]},
            {"role": "assistant", "content": ""}, {"role": "user", "content": "   "},
            {"role": "developer", "content": "Be terse."}]
    out = to_anthropic(msgs)
    check("anthropic", out)
    assert out["system"] == "Be terse."
    assert [m["role"] for m in out["messages"]] == ["user", "assistant", "user"]
    assert out["messages"][0]["content"] == [{"type": "text", "text": "a"},
                                             {"type": "text", "text": "b"}]
    assert [b["type"] for b in out["messages"][2]["content"]] == ["tool_result", "text"]


def test_results_stored_after_other_messages_follow_their_call():
    msgs = [{"role": "user", "content": "q"},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"role": "user", "content": "hurry"},
            {"type": "function_call_output", "call_id": "c1", "output": "r"}]
    assert [m.get("role") for m in to_openai(msgs)] == ["user", "assistant", "tool", "user"]
    assert [i.get("type") for i in to_openai_responses(msgs)] == \
        [None, "function_call", "function_call_output", None]
    for fmt, render in FORMATS.items():
        check(fmt, render(msgs))


def test_parallel_calls_in_mixed_shapes_join_one_assistant_message():
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "a", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
            {"type": "function_call", "call_id": "b", "name": "g", "arguments": "[1]"},
            {"role": "tool", "tool_call_id": "a", "content": "A"},
            {"type": "function_call_output", "call_id": "b", "output": "B"}]
    chat = to_openai(msgs)
    assert [c["id"] for c in chat[1]["tool_calls"]] == ["a", "b"] and len(chat) == 4
    ant = to_anthropic(msgs)["messages"]
    assert ant[1]["content"][1] == {"type": "tool_use", "id": "b", "name": "g",
                                    "input": {"_raw": "[1]"}}
    for fmt, render in FORMATS.items():
        check(fmt, render(msgs))
