"""The one LangChain message conversion (trace_core.integrations.lc_messages) both integrations
use: the plain chat form (`TraceChatMessageHistory`) is the exact form (`TraceSaver`) without its
`langchain` field; what the merge of the two former conversions changed."""

from __future__ import annotations

import pytest

pytest.importorskip("langchain_core")

from langchain_core.messages import (  # noqa: E402
    AIMessage,
    AIMessageChunk,
    ChatMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)

from trace_core.errors import InputError  # noqa: E402
from trace_core.integrations.lc_messages import from_chat, to_chat  # noqa: E402
from trace_core.shapes import check_message  # noqa: E402

DEV = {"__openai_role__": "developer"}
MESSAGES = [
    SystemMessage("be brief", id="s"),
    SystemMessage("dev rules", additional_kwargs=DEV, id="d"),
    ChatMessage("as developer", role="developer"),
    ChatMessage("as user", role="user", id="c"),
    HumanMessage([{"type": "text", "text": "look"},
                  {"type": "image_url", "image_url": {"url": "https://x/y.png"}}], name="ann"),
    HumanMessage([{"type": "image", "url": "https://x/y.png"}], id="v1"),
    HumanMessage("no name", name=""),
    AIMessage("", tool_calls=[{"name": "f", "args": {"x": [1, 2]}, "id": "c1"}],
              usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7}),
    AIMessage("", invalid_tool_calls=[{"name": "g", "args": "{not json", "id": "c2",
                                       "error": "bad", "type": "invalid_tool_call"}]),
    AIMessage("", invalid_tool_calls=[{"name": "g", "args": '{"a": 1}', "id": "c3",
                                       "error": "schema", "type": "invalid_tool_call"}]),
    AIMessageChunk("part", id="k", tool_call_chunks=[{"name": "f", "args": '{"a": 1}',
                                                      "id": "c4", "index": 0}]),
    ToolMessage([{"type": "text", "text": "12 KB"}], tool_call_id="c1", status="error",
                artifact={"raw": 1}),
]


@pytest.mark.parametrize("m", MESSAGES, ids=lambda m: type(m).__name__)
def test_the_exact_form_is_the_plain_form_plus_langchain(m):
    plain = to_chat(m)
    check_message(plain)
    exact = to_chat(m, exact=True)
    assert exact is not None
    assert {k: v for k, v in exact.items() if k != "langchain"} == plain
    back = from_chat(exact)
    assert back == m and type(back) is type(m)
    # the plain form alone gives the message of its role, the same on what the chat form holds
    rebuilt = from_chat(plain)
    assert rebuilt.content == plain["content"] and rebuilt.type in ("system", "human", "ai",
                                                                     "tool")


def test_a_developer_message_keeps_its_role_in_both_forms():
    m = SystemMessage("dev rules", additional_kwargs=DEV)
    assert to_chat(m, exact=True) == {"role": "developer", "content": "dev rules",
                                      "langchain": {"type": "system"}}
    assert from_chat({"role": "developer", "content": "x"}) == SystemMessage(
        "x", additional_kwargs=DEV)
    assert to_chat(ChatMessage("x", role="developer"), exact=True)["role"] == "developer"


def test_tool_calls_the_chat_form_cannot_pair_are_refused_or_none():
    m = AIMessage("hi", tool_calls=[{"name": "f", "args": {}, "id": None}])
    with pytest.raises(InputError, match="tool call 'f' has no id") as e:
        to_chat(m)
    assert "\n" not in str(e.value)
    assert to_chat(m, exact=True) is None
    nameless = AIMessage("", invalid_tool_calls=[{"name": None, "args": "x", "id": "c",
                                                  "error": None, "type": "invalid_tool_call"}])
    with pytest.raises(InputError, match="tool call 'c' has no name"):
        to_chat(nameless)
    assert to_chat(nameless, exact=True) is None


def test_what_has_no_chat_form():
    for m in (FunctionMessage("r", name="f"), ChatMessage("x", role="critic")):
        with pytest.raises(InputError, match="has no chat role"):
            to_chat(m)
        assert to_chat(m, exact=True) is None
    assert to_chat({"role": "user"}, exact=True) is None
    with pytest.raises(InputError, match="has no chat role"):
        to_chat({"role": "user"})
    blocks = HumanMessage([{"type": "tool_result", "tool_use_id": "t", "content": "x"},
                           {"type": "text", "text": "and"}])
    with pytest.raises(InputError, match="tool_result blocks"):
        to_chat(blocks)


def test_a_text_only_list_the_conversion_rewrites_is_its_text():
    m = HumanMessage(["plain ", "strings"])
    assert to_chat(m) == {"role": "user", "content": "plain strings"}
    exact = to_chat(m, exact=True)
    assert exact["content"] == "plain strings"
    assert exact["langchain"]["content"] == ["plain ", "strings"]
    assert from_chat(exact) == m
    # text parts the conversion leaves as they are stay parts
    parts = AIMessage([{"type": "text", "text": "a"}, {"type": "text", "text": "b"}])
    assert to_chat(parts)["content"] == parts.content


def test_from_chat_without_langchain_builds_the_message_from_the_chat_form():
    assert from_chat({"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"a": 1}'}},
        {"id": "c2", "type": "function", "function": {"name": "g", "arguments": "[1]"}}]}) \
        == AIMessage("", tool_calls=[{"name": "f", "args": {"a": 1}, "id": "c1"}],
                     invalid_tool_calls=[{"name": "g", "args": "[1]", "id": "c2",
                                          "error": "arguments are not a JSON object",
                                          "type": "invalid_tool_call"}])
    assert from_chat({"role": "tool", "content": "r", "tool_call_id": "c1", "name": "f"}) \
        == ToolMessage("r", tool_call_id="c1", name="f")
    # a langchain field that is not one falls back to the chat form
    assert from_chat({"role": "user", "content": "u", "langchain": "x"}) == HumanMessage("u")
    with pytest.raises(InputError, match="role 'function' has no LangChain message kind"):
        from_chat({"role": "function", "content": "x"})


def test_the_saver_stores_the_plain_form_a_history_reads(repo):
    """A LangGraph thread's context carries the same chat form TraceChatMessageHistory stores
    (the developer role, invalid tool calls paired with their results), and the graph and the
    history get its messages back exactly."""
    pytest.importorskip("langgraph.checkpoint.base")
    from langgraph.graph import END, START, MessagesState, StateGraph

    from trace_core.integrations.langchain import TraceChatMessageHistory
    from trace_core.integrations.langgraph import TraceSaver

    def node(state: MessagesState) -> dict:
        return {"messages": [MESSAGES[8], ToolMessage("bad arguments", tool_call_id="c2")]}
    b = StateGraph(MessagesState)
    b.add_node("agent", node)
    b.add_edge(START, "agent")
    b.add_edge("agent", END)
    g = b.compile(checkpointer=TraceSaver(repo))
    cfg = {"configurable": {"thread_id": "dev"}}
    out = g.invoke({"messages": [SystemMessage("dev rules", additional_kwargs=DEV, id="d"),
                                 HumanMessage("hi", id="h")]}, cfg)
    thread = repo.agent("langgraph/dev")
    stored = thread.messages()
    assert [{k: v for k, v in m.items() if k != "langchain"} for m in stored] \
        == [to_chat(m) for m in out["messages"]]
    assert stored[0]["role"] == "developer"
    assert stored[2]["tool_calls"][0]["id"] == "c2" and thread.status().broken_pairs == []
    assert g.get_state(cfg).values["messages"] == out["messages"]
    # the history reads the thread back exactly too (from_chat follows the langchain field)
    assert TraceChatMessageHistory(thread).messages == out["messages"]
