"""The Agents SDK integration, driven by real `Runner.run` turns against a scripted model."""

from __future__ import annotations

import asyncio
import json

import pytest

agents = pytest.importorskip("agents")

from agents import Agent, RunConfig, Runner, function_tool, set_tracing_disabled  # noqa: E402
from agents.items import ModelResponse  # noqa: E402
from agents.models.interface import Model  # noqa: E402
from agents.usage import Usage  # noqa: E402
from openai.types.responses import (  # noqa: E402
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
)
from openai.types.responses.response_reasoning_item import Summary  # noqa: E402

from trace_core.integrations.openai_agents import TraceSession  # noqa: E402

set_tracing_disabled(True)


class ScriptModel(Model):
    """Plays a fixed list of replies; records the input of every call."""

    def __init__(self, replies):
        self.replies = list(replies)
        self.inputs = []

    async def get_response(self, system_instructions, input, model_settings, tools, output_schema,
                           handoffs, tracing, **kwargs):
        self.inputs.append(json.loads(json.dumps(input, default=str)))
        kind, *args = self.replies.pop(0)
        n = len(self.inputs)
        if kind == "call":
            name, arguments = args
            out = ResponseFunctionToolCall(id=f"fc_{n}", call_id=f"call_{n}", type="function_call",
                                           name=name, arguments=json.dumps(arguments))
        elif kind == "calls":  # reasoning, then parallel calls: one item each, as the API does
            output = [ResponseReasoningItem(id=f"rs_{n}", type="reasoning", summary=[
                Summary(type="summary_text", text="Two cities: two calls.")])]
            output += [ResponseFunctionToolCall(id=f"fc_{n}_{i}", call_id=f"call_{n}_{i}",
                                                type="function_call", name=name,
                                                arguments=json.dumps(a))
                       for i, (name, a) in enumerate(args)]
            return ModelResponse(output=output, usage=Usage(), response_id=None)
        else:
            out = ResponseOutputMessage(id=f"msg_{n}", type="message", role="assistant",
                                        status="completed",
                                        content=[ResponseOutputText(type="output_text",
                                                                    text=args[0],
                                                                    annotations=[])])
        return ModelResponse(output=[out], usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("not used")


@function_tool
def weather(city: str) -> str:
    """The weather in a city."""
    return f"sunny in {city}"


def _texts(items):
    out = []
    for it in items:
        c = it.get("content")
        if isinstance(c, str):
            out.append(c)
        elif isinstance(c, list):
            out.extend(p.get("text", "") for p in c if isinstance(p, dict))
        elif it.get("type") == "function_call_output":
            out.append(it["output"])
    return out


def test_runner_turns_are_commits(repo):
    model = ScriptModel([("call", "weather", {"city": "Lisbon"}), ("text", "It is sunny."),
                         ("text", "You asked about Lisbon.")])
    agent = Agent(name="a", instructions="Be brief.", model=model, tools=[weather])
    session = TraceSession(repo, "run-1")

    async def go():
        r1 = await Runner.run(agent, "Weather in Lisbon?", session=session)
        r2 = await Runner.run(agent, "What did I ask?", session=session)
        return r1, r2

    r1, r2 = asyncio.run(go())
    assert r1.final_output == "It is sunny." and r2.final_output == "You asked about Lisbon."
    items = asyncio.run(session.get_items())
    assert [i.get("type", "message") for i in items] == \
        ["message", "function_call", "function_call_output", "message", "message", "message"]
    # the model saw the whole stored history on the second run
    assert len(model.inputs[2]) == 5
    # stored losslessly in the session's own namespace, one commit per add_items
    child = repo.agent("run-1")
    assert child.messages() == items
    log = list(child.index.walk([child.head_commit()]))
    assert all(c.summary.startswith("agents-sdk:") for c in log)
    assert repo.head_commit() is None  # the parent namespace is untouched
    assert asyncio.run(session.get_items(limit=2)) == items[-2:]


def test_pop_and_clear(repo):
    session = TraceSession(repo)
    asyncio.run(session.add_items([{"role": "user", "content": "a"},
                                   {"role": "user", "content": "b"}]))
    assert asyncio.run(session.pop_item()) == {"role": "user", "content": "b"}
    assert asyncio.run(session.get_items()) == [{"role": "user", "content": "a"}]
    asyncio.run(session.clear_session())
    assert asyncio.run(session.get_items()) == [] and asyncio.run(session.pop_item()) is None
    # history keeps everything
    assert [m["content"] for m in repo.messages("HEAD~2")] == ["a", "b"]


def test_rollback_wrong_turn_then_rerun(repo):
    """The exit demo with the SDK: a wrong turn is reset away; the rerun never sees it."""
    model = ScriptModel([("text", "Hello."), ("text", "Paris is in Germany."),
                         ("text", "Paris is in France.")])
    agent = Agent(name="a", model=model)
    session = TraceSession(repo, "geo")
    asyncio.run(Runner.run(agent, "Hi", session=session))
    good = session.repo.head_commit()
    asyncio.run(Runner.run(agent, "Where is Paris?", session=session))
    wrong = session.repo.head_commit()
    session.repo.reset(good.hex(), "hard")  # undo the question and the wrong answer
    assert _texts(asyncio.run(session.get_items())) == ["Hi", "Hello."]
    asyncio.run(Runner.run(agent, "Where is Paris? Think carefully.", session=session))
    assert "Germany" not in json.dumps(model.inputs[2])
    assert _texts(asyncio.run(session.get_items())) == [
        "Hi", "Hello.", "Where is Paris? Think carefully.", "Paris is in France."]
    assert "Germany" in json.dumps(session.repo.messages(wrong.hex()))  # still in history


def test_view_filter_serves_a_checked_out_commit_without_touching_storage(repo):
    model = ScriptModel([("text", "one"), ("text", "two"), ("text", "three")])
    agent = Agent(name="a", model=model)
    session = TraceSession(repo, "v")
    asyncio.run(Runner.run(agent, "first", session=session))
    first = session.repo.head_commit()
    asyncio.run(Runner.run(agent, "second", session=session))
    view = session.view_filter(first.hex())  # the context after the first exchange only
    asyncio.run(Runner.run(agent, "third", session=session,
                           run_config=RunConfig(call_model_input_filter=view)))
    assert _texts(model.inputs[2]) == ["first", "one", "third"]
    assert _texts(asyncio.run(session.get_items())) == ["first", "one", "second", "two", "third",
                                                        "three"]


def test_branch_switch_and_bad_ids(repo):
    s = TraceSession(repo, "b", branch="experiment")
    asyncio.run(s.add_items([{"role": "user", "content": "x"}]))
    assert s.repo.head_branch() == "refs/heads/experiment"
    from trace_core.errors import InvalidRefName, TraceError
    with pytest.raises(InvalidRefName):
        TraceSession(repo, "../escape")
    with pytest.raises(TraceError):
        asyncio.run(s.add_items(["not a dict"]))


def test_example_runs_offline(tmp_path, monkeypatch, capsys):
    # run as `python examples/agents_sdk_rollback.py DIR` would, in this process (the SDK is
    # imported already): offline, since no OPENAI_API_KEY is set
    import os
    import runpy
    import sys
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    script = os.path.join(root, "examples", "agents_sdk_rollback.py")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TRACE_DIR", raising=False)
    monkeypatch.setattr(sys, "argv", [script, str(tmp_path / "demo")])
    runpy.run_path(script, run_name="__main__")
    assert "none of the wrong turn" in capsys.readouterr().out


def test_a_runner_session_with_tools_materializes_to_every_format(repo, tmp_path):
    """Item 7 of issue 12: real Runner turns (reasoning, parallel tool calls, text) stored as
    the SDK gives them become five prompts; each provider format is a request the official SDK
    types accept and meets the provider's rules; the CLI prints the same."""
    pytest.importorskip("anthropic")
    from conftest import invoke
    from provider_rules import check

    model = ScriptModel([("calls", ("weather", {"city": "Lisbon"}), ("weather", {"city": "Oslo"})),
                         ("text", "Lisbon is sunny, Oslo too."),
                         ("call", "weather", {"city": "Rome"}), ("text", "Rome: sunny.")])
    agent = Agent(name="a", instructions="Be brief.", model=model, tools=[weather])
    session = TraceSession(repo, "tools")

    async def go():
        await Runner.run(agent, "Weather in Lisbon and Oslo?", session=session)
        await Runner.run(agent, "And Rome?", session=session)

    asyncio.run(go())
    stored = session.repo.messages()
    assert [i.get("type", "message") for i in stored] == [
        "message", "reasoning", "function_call", "function_call", "function_call_output",
        "function_call_output", "message", "message", "function_call", "function_call_output",
        "message"]
    assert model.inputs[-1] == json.loads(json.dumps(stored[:-1], default=str))  # verbatim

    responses = session.repo.materialize("openai-responses")
    assert responses == stored  # the SDK's own shape comes back as stored
    check("openai-responses", responses)

    chat = session.repo.materialize("openai")
    check("openai", chat)
    assert [m["role"] for m in chat] == ["user", "assistant", "tool", "tool", "assistant",
                                         "user", "assistant", "tool", "assistant"]
    assert [c["function"]["arguments"] for c in chat[1]["tool_calls"]] == \
        ['{"city": "Lisbon"}', '{"city": "Oslo"}']
    assert chat[2] == {"role": "tool", "tool_call_id": "call_1_0", "content": "sunny in Lisbon"}

    ant = session.repo.materialize("anthropic")
    check("anthropic", ant)
    turns = ant["messages"]
    assert [m["role"] for m in turns] == ["user", "assistant", "user", "assistant", "user",
                                          "assistant", "user", "assistant"]
    assert [b["type"] for b in turns[1]["content"]] == ["tool_use", "tool_use"]
    assert turns[1]["content"][1]["input"] == {"city": "Oslo"}
    assert turns[2]["content"][0] == {"type": "tool_result", "tool_use_id": "call_1_0",
                                      "content": "sunny in Lisbon"}

    text = session.repo.materialize("text")
    assert "[?]" not in text and "[reasoning]\nTwo cities: two calls." in text
    assert '[function_call]\ncall weather({"city": "Rome"}) id=call_3' in text
    assert "[function_call_output call_3]\nsunny in Rome" in text

    js = session.repo.materialize("json")
    assert [e["message"] for e in js] == stored

    rdir = repo.trace_dir
    for fmt, want in (("anthropic", ant), ("openai", chat), ("openai-responses", responses)):
        p = invoke(rdir, "--agent", "tools", "context", "--format", fmt)
        assert p.returncode == 0, p.stderr
        assert json.loads(p.stdout) == json.loads(json.dumps(want)), fmt
