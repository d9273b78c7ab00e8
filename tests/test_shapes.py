"""Message shapes: detection, the neutral form, and validation on commit (library and CLI)."""

from __future__ import annotations

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import InputError
from trace_core.messages import call_ids, call_names, is_tool_output, result_ids
from trace_core.shapes import arrange, check_message, detect, neutral

CALL = {"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{}"}}


def test_detect_names_each_shape():
    assert detect({"role": "user", "content": "hi"}) == "chat"
    assert detect({"role": "assistant", "content": None, "tool_calls": [CALL]}) == "chat"
    assert detect({"role": "user", "content": [{"type": "tool_result",
                                                "tool_use_id": "t"}]}) == "anthropic"
    assert detect({"role": "user", "content": [{"type": "input_text", "text": "x"}]}) == \
        "responses"
    assert detect({"type": "function_call", "call_id": "c", "name": "f",
                   "arguments": "{}"}) == "responses"


def test_neutral_splits_anthropic_results_and_arrange_moves_them_to_their_call():
    msgs = [{"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "f",
                                               "input": {"a": 1}}]},
            {"role": "user", "content": "meanwhile"},
            {"role": "user", "content": [{"type": "text", "text": "and"},
                                         {"type": "tool_result", "tool_use_id": "t1",
                                          "content": "r"}]}]
    turns = neutral(msgs)
    assert [(t.role, t.index) for t in turns] == [("assistant", 0), ("user", 1), ("tool", 2),
                                                  ("user", 2)]
    assert turns[0].parts[0].text == '{"a": 1}' and turns[0].calls() == ["t1"]
    assert [(t.role, t.index) for t in arrange(turns)] == [("assistant", 0), ("tool", 2),
                                                           ("user", 1), ("user", 2)]


def test_pairing_sees_all_three_shapes_and_other_responses_calls():
    msgs = [{"role": "assistant", "content": None, "tool_calls": [CALL]},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "t1", "name": "g",
                                               "input": {}}]},
            {"type": "function_call", "call_id": "r1", "name": "h", "arguments": "{}"},
            {"type": "custom_tool_call", "call_id": "x1", "name": "patch", "input": "..."}]
    assert [call_ids(m) for m in msgs] == [["c1"], ["t1"], ["r1"], ["x1"]]
    assert call_names(msgs[3]) == {"x1": "patch"}
    outs = [{"role": "tool", "tool_call_id": "c1", "content": "a"},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1"}]},
            {"type": "function_call_output", "call_id": "r1", "output": "b"},
            {"type": "custom_tool_call_output", "call_id": "x1", "output": "ok"}]
    assert [result_ids(m) for m in outs] == [["c1"], ["t1"], ["r1"], ["x1"]]
    assert all(is_tool_output(m) for m in outs)
    assert not any(is_tool_output(m) for m in msgs)


BAD = [
    ({"role": "foo", "content": "x"}, "unknown role 'foo'"),
    ({"content": "x"}, "needs a role"),
    ({"role": "tool", "content": "x"}, "a tool message needs tool_call_id"),
    ({"role": "tool", "tool_call_id": 7, "content": "x"}, "tool_call_id (a non-empty string)"),
    ({"role": "user"}, "a user message needs content"),
    ({"role": "user", "content": 3}, "content must be text or a list of parts"),
    ({"role": "user", "content": ["x"]}, "content part 0 must be an object with a type"),
    ({"role": "user", "content": [{"type": "text"}]}, "content part 0 (text) needs text"),
    ({"role": "assistant", "content": None, "tool_calls": [{"type": "function"}]},
     "a tool call needs id"),
    ({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c", "type": "function", "function": {"name": "f", "arguments": {}}}]},
     "arguments (a JSON string)"),
    ({"role": "user", "tool_calls": [CALL], "content": "x"}, "tool_calls must be a list on an"),
    ({"role": "assistant", "content": [{"type": "tool_use", "name": "f", "input": {}}]},
     "a tool_use block needs id"),
    ({"role": "assistant", "content": [{"type": "tool_use", "id": "t", "name": "f",
                                        "input": "x"}]}, "needs input (an object)"),
    ({"role": "user", "content": [{"type": "tool_result"}]}, "a tool_result block needs"),
    ({"role": "assistant", "content": [{"type": "tool_result", "tool_use_id": "t"}]},
     "belongs in a user message"),
    ({"type": "function_call", "name": "f", "arguments": "{}"}, "function_call item needs "
                                                                "call_id"),
    ({"type": "function_call", "call_id": "c", "arguments": "{}"}, "needs name"),
    ({"type": "function_call", "call_id": "c", "name": "f"}, "needs arguments"),
    ({"type": "function_call_output", "call_id": "c"}, "needs an output"),
    ({"type": "fucntion_call", "call_id": "c"}, "unknown item type 'fucntion_call'"),
    ({"type": "reasoning", "id": "rs"}, "a reasoning item needs a summary list"),
    ({"type": "message", "role": "tool", "content": "x"}, "cannot have role 'tool'"),
]


@pytest.mark.parametrize(("msg", "why"), BAD, ids=[w for _, w in BAD])
def test_a_bad_message_is_refused_in_one_line(repo, msg, why):
    with pytest.raises(InputError, match=None) as e:
        check_message(msg)
    assert why in str(e.value) and "\n" not in str(e.value)
    with pytest.raises(InputError):  # refused where messages enter: append and edit
        repo.append(msg)
    assert repo.head_commit() is None


GOOD = [
    {"role": "user", "content": "hi", "x_provider": {"cache": True}, "name": "ann"},
    {"role": "assistant", "content": None, "tool_calls": [CALL], "refusal": None},
    {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "r"}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t", "content": "r",
                                  "cache_control": {"type": "ephemeral"}}]},
    {"id": "msg_1", "type": "message", "role": "assistant", "status": "completed",
     "content": [{"type": "output_text", "text": "x", "annotations": [], "logprobs": []}]},
    {"type": "reasoning", "id": "rs_1", "summary": [], "encrypted_content": "zz"},
    {"type": "function_call_output", "call_id": "c", "output": "r", "x_unknown": 1},
]


def test_valid_messages_of_every_shape_are_stored_verbatim(repo):
    for m in GOOD:
        check_message(m)
    repo.append_many(GOOD)
    assert repo.messages() == GOOD


def test_edit_validates_and_bulk_errors_name_the_message(repo):
    repo.user("a")
    with pytest.raises(InputError, match="unknown role 'robot'"):
        repo.edit(0, {"role": "robot", "content": "x"})
    with pytest.raises(InputError, match="^message 1: a tool message needs tool_call_id"):
        repo.append_many([{"role": "user", "content": "ok"}, {"role": "tool", "content": "x"}])
    assert [m["content"] for m in repo.messages()] == ["a"]


def test_cli_refuses_an_unknown_role_and_a_bad_json_message(rdir):
    assert_one_line_error(invoke(rdir, "commit", "--role", "foo", "hello"), "unknown role 'foo'")
    assert_one_line_error(invoke(rdir, "commit", "--input", "json",
                                 '{"role": "tool", "content": "x"}'),
                          "tool_call_id")
    import json
    assert json.loads(invoke(rdir, "status", "--json").stdout)["head"] is None
