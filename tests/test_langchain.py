"""The LangChain chat history (trace_core.integrations.langchain) with the real langchain-core:
RunnableWithMessageHistory over langchain's own fake chat model, sync and async; every message
kind round-trips; tool-call pairing; clear; branches; refused input."""

from __future__ import annotations

import asyncio

import pytest

pytest.importorskip("langchain_core")

from conftest import assert_one_line_error, invoke, python_block  # noqa: E402
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    FunctionMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder  # noqa: E402
from langchain_core.runnables import RunnableLambda  # noqa: E402
from langchain_core.runnables.history import RunnableWithMessageHistory  # noqa: E402

from trace_core.errors import InputError, TraceError  # noqa: E402
from trace_core.integrations.langchain import TraceChatMessageHistory  # noqa: E402
from trace_core.repository import Repository  # noqa: E402


def _chain(repo, replies, seen):
    model = GenericFakeChatModel(messages=iter(replies))
    prompt = ChatPromptTemplate.from_messages([
        ("system", "You are terse."), MessagesPlaceholder("history"), ("human", "{input}")])

    def capture(value):
        seen.append(value.to_messages())
        return value
    return RunnableWithMessageHistory(
        prompt | RunnableLambda(capture) | model,
        lambda session_id: TraceChatMessageHistory(repo, session_id),
        input_messages_key="input", history_messages_key="history")


def _log(repo):
    """(op, message) of each commit of HEAD, oldest first."""
    out, c = [], repo.head_commit()
    while c is not None:
        commit = repo.get_commit(c)
        out.append((commit.op, commit.message))
        c = commit.parents[0] if commit.parents else None
    return out[::-1]


# LangChain 1.x marks RunnableWithMessageHistory deprecated (LangGraph persistence is its
# successor); it still ships and is what a user of BaseChatMessageHistory runs
@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_two_turns_through_runnable_with_message_history(repo):
    seen: list = []
    chain = _chain(repo, [
        AIMessage("Hello.", usage_metadata={"input_tokens": 12, "output_tokens": 2,
                                            "total_tokens": 14},
                  response_metadata={"model_name": "fake-1", "model_provider": "fake"}),
        AIMessage("Paris.")], seen)
    cfg = {"configurable": {"session_id": "support-42"}}
    assert chain.invoke({"input": "hi"}, config=cfg).content == "Hello."
    assert chain.invoke({"input": "capital of France?"}, config=cfg).content == "Paris."

    # the second model call saw the first turn, read back from Trace
    assert [(m.type, m.content) for m in seen[1]] == [
        ("system", "You are terse."), ("human", "hi"), ("ai", "Hello."),
        ("human", "capital of France?")]
    sub = repo.agent("support-42")
    assert repo.head_commit() is None                       # the root namespace is untouched
    assert sub.messages() == [{"role": "user", "content": "hi"},
                              {"role": "assistant", "content": "Hello."},
                              {"role": "user", "content": "capital of France?"},
                              {"role": "assistant", "content": "Paris."}]
    assert _log(sub) == [("append", "langchain: 2 messages (human, ai)")] * 2
    first = sub.get_commit(sub.resolve("HEAD~1"))
    assert first.meta["usage"] == {"provider": "fake", "model": "fake-1", "prompt_tokens": 12,
                                   "completion_tokens": 2, "cost_usd": None}
    assert "usage" not in (sub.get_commit(sub.head_commit()).meta or {})

    # async: aget_messages / aadd_messages (the base class runs them in an executor)
    seen.clear()
    achain = _chain(repo, [AIMessage("Berlin.")], seen)
    out = asyncio.run(achain.ainvoke({"input": "and Germany?"}, config=cfg))
    assert out.content == "Berlin."
    assert len(seen[0]) == 6
    assert [m["content"] for m in sub.messages()][-2:] == ["and Germany?", "Berlin."]
    assert len(_log(sub)) == 3


ROUND_TRIP = [
    SystemMessage("be brief"),
    SystemMessage("dev rules", additional_kwargs={"__openai_role__": "developer"}),
    HumanMessage("hi", name="bob"),
    HumanMessage([{"type": "text", "text": "what is this?"},
                  {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}}]),
    AIMessage("Let me check.", tool_calls=[
        {"name": "lookup", "args": {"q": "a.png", "n": 2}, "id": "call_1", "type": "tool_call"},
        {"name": "size", "args": {}, "id": "call_2", "type": "tool_call"}]),
    ToolMessage("a cat", tool_call_id="call_1", name="lookup"),
    ToolMessage([{"type": "text", "text": "12 KB"}], tool_call_id="call_2"),
    AIMessage("", invalid_tool_calls=[{"name": "lookup", "args": "{not json", "id": "call_3",
                                       "error": "arguments are not a JSON object",
                                       "type": "invalid_tool_call"}]),
    ToolMessage("bad arguments", tool_call_id="call_3"),
    AIMessage([{"type": "text", "text": "A cat,"}, {"type": "text", "text": " 12 KB."}],
              name="helper"),
]


def test_every_message_kind_round_trips(repo):
    h = TraceChatMessageHistory(repo)
    h.add_messages(ROUND_TRIP)
    assert h.messages == ROUND_TRIP
    assert len(_log(repo)) == 1                               # one commit per add_messages
    stored = repo.messages()
    assert stored[1] == {"role": "developer", "content": "dev rules"}
    assert stored[4]["tool_calls"][0] == {
        "id": "call_1", "type": "function",
        "function": {"name": "lookup", "arguments": '{"q": "a.png", "n": 2}'}}
    assert stored[5] == {"role": "tool", "content": "a cat", "name": "lookup",
                         "tool_call_id": "call_1"}
    assert stored[7]["tool_calls"][0]["function"]["arguments"] == "{not json"
    # the pairing is valid: no pending call, no broken pair; the Anthropic prompt pairs them
    st = repo.status()
    assert st.pending_calls == [] and st.broken_pairs == []
    prompt = repo.materialize("anthropic")
    uses = [b["id"] for m in prompt["messages"] for b in m["content"]
            if isinstance(b, dict) and b.get("type") == "tool_use"]
    results = [b["tool_use_id"] for m in prompt["messages"] for b in m["content"]
               if isinstance(b, dict) and b.get("type") == "tool_result"]
    assert uses == results == ["call_1", "call_2", "call_3"]


def test_messages_stored_in_other_shapes_are_read(repo):
    repo.append({"role": "assistant", "content": [
        {"type": "text", "text": "adding"},
        {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 1}}]})
    repo.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "2"}]})
    repo.append({"type": "function_call", "call_id": "fc_1", "name": "mul",
                 "arguments": '{"b": 3}'})
    msgs = TraceChatMessageHistory(repo).messages
    assert [type(m).__name__ for m in msgs] == ["AIMessage", "ToolMessage", "AIMessage"]
    assert msgs[0].tool_calls == [{"name": "add", "args": {"a": 1}, "id": "toolu_1",
                                   "type": "tool_call"}]
    assert msgs[1].tool_call_id == "toolu_1" and msgs[1].content == "2"
    assert msgs[2].tool_calls[0]["args"] == {"b": 3}


def test_clear_commits_the_empty_context_and_keeps_history(repo):
    h = TraceChatMessageHistory(repo, "s")
    h.clear()                                                # nothing to clear: no commit
    assert h.repo.head_commit() is None
    h.add_messages([SystemMessage("sys"), HumanMessage("hi"), AIMessage("yo")])
    h.repo.pin(0)
    h.clear()
    assert h.messages == [] and h.repo.messages() == []
    assert [op for op, _ in _log(h.repo)] == ["append", "pin", "drop"]
    assert _log(h.repo)[-1][1] == "langchain: clear"
    h.repo.reset("HEAD~1", "hard")                           # undo the clear
    assert [m.content for m in h.messages] == ["sys", "hi", "yo"]
    h.add_messages([])                                       # no commit either
    assert len(_log(h.repo)) == 2


def test_a_branch_of_the_namespace_keeps_its_head(tmp_path):
    root = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    try:
        main = TraceChatMessageHistory(root, "s")            # empty namespace: unborn branch
        alt0 = TraceChatMessageHistory(root, "s", branch="first")
        other = TraceChatMessageHistory(root, "s", branch="second")   # also before any commit
        alt0.add_messages([HumanMessage("one")])
        other.add_messages([HumanMessage("elsewhere")])
        ns = root.agent("s")
        head = ns.head_branch()
        assert head not in ("refs/heads/first", "refs/heads/second")   # HEAD never moves
        assert [m.content for m in alt0.messages] == ["one"]         # each on its own branch
        assert [m.content for m in other.messages] == ["elsewhere"]
        assert main.messages == []
        main.add_messages([HumanMessage("one")])
        head = ns.head_branch()
        assert head not in ("refs/heads/first", "refs/heads/second")
        alt = TraceChatMessageHistory(root, "s", branch="alt")   # created at HEAD, a view
        alt.add_messages([AIMessage("two")])
        assert ns.head_branch() == head                      # HEAD did not move
        assert [m.content for m in main.messages] == ["one"]
        assert [m.content for m in alt.messages] == ["one", "two"]
        assert [m.content for m in TraceChatMessageHistory(root, "s", branch="alt").messages] \
            == ["one", "two"]
    finally:
        root.close()
    p = invoke(str(tmp_path / "r"), "--agent", "s", "log", "alt")
    assert p.returncode == 0 and "langchain: 1 message (ai)" in p.stdout
    assert_one_line_error(invoke(str(tmp_path / "r"), "--agent", "s", "log", "nope"))


def test_bad_input_is_refused_and_nothing_is_committed(repo):
    h = TraceChatMessageHistory(repo)
    h.add_messages([HumanMessage("hi")])
    head = repo.head_commit()
    with pytest.raises(InputError, match="has no id"):
        h.add_messages([AIMessage("", tool_calls=[{"name": "f", "args": {}, "id": None}])])
    with pytest.raises(InputError, match="FunctionMessage"):
        h.add_messages([FunctionMessage("x", name="f")])
    with pytest.raises(InputError, match="tool_result"):
        h.add_messages([HumanMessage([{"type": "tool_result", "tool_use_id": "t",
                                       "content": "x"}, {"type": "text", "text": "y"}])])
    with pytest.raises(TraceError, match="invalid agent name"):
        TraceChatMessageHistory(repo, "bad/../name")
    with pytest.raises(TraceError, match="bad..name"):
        TraceChatMessageHistory(repo, branch="bad..name")
    with pytest.raises(TraceError, match="bad..name"):           # an empty namespace too
        TraceChatMessageHistory(repo, "empty", branch="bad..name")
    assert repo.head_commit() == head


@pytest.mark.filterwarnings("ignore:RunnableWithMessageHistory is deprecated")
def test_the_documented_example_runs(tmp_path, monkeypatch, capsys):
    block = python_block("LangChain")
    monkeypatch.chdir(tmp_path)
    model = GenericFakeChatModel(messages=iter([AIMessage("Hello."), AIMessage("Still here.")]))
    exec(compile(block, "docs/integrations.md", "exec"), {"model": model})
    assert "Still here." in capsys.readouterr().out
    with Repository.open(str(tmp_path / "chat")) as repo:
        assert [m["content"] for m in repo.agent("support-42").messages()] == [
            "hi", "Hello.", "and now?", "Still here."]
