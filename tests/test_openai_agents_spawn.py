"""Agents-as-tools mapped to spawn and collapse (`TraceSession.spawn_tool`), driven by real
`Runner.run` calls of real agents against scripted models."""

from __future__ import annotations

import asyncio
import json

import pytest

agents = pytest.importorskip("agents")

from agents import Agent, Runner, set_tracing_disabled  # noqa: E402
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

from trace_core.errors import InputError  # noqa: E402
from trace_core.fsck import fsck  # noqa: E402
from trace_core.integrations.openai_agents import TraceSession  # noqa: E402

set_tracing_disabled(True)


def say(text, n=0):
    return ResponseOutputMessage(id=f"msg_{n}", type="message", role="assistant",
                                 status="completed",
                                 content=[ResponseOutputText(type="output_text", text=text,
                                                             annotations=[])])


def call(name, n, **args):
    return ResponseFunctionToolCall(id=f"fc_{n}", call_id=f"call_{n}", type="function_call",
                                    name=name, arguments=json.dumps(args))


class Play(Model):
    """A model that answers with `play(items)`; records every input."""

    def __init__(self, play):
        self.play = play
        self.inputs: list = []

    async def get_response(self, system_instructions, input, *args, **kwargs):
        items = json.loads(json.dumps(input, default=str))
        self.inputs.append(items)
        return ModelResponse(output=self.play(items), usage=Usage(), response_id=None)

    def stream_response(self, *args, **kwargs):
        raise NotImplementedError("not used")


def echo_researcher(items):
    """Answers its task (the last user message) in one message."""
    task = next(i["content"] for i in reversed(items) if i.get("role") == "user")
    return [say(f"found: {task}")]


def head_calling(*tasks, tool="research", reasoning=True):
    """A head model that calls `tool` once per task in one response, then sums up (call ids
    call_1, call_2, ... on its first question, call_11, call_12, ... on its second)."""
    asks: list = []

    def play(items):
        asked = max(k for k, i in enumerate(items) if i.get("role") == "user")
        outs = [i["output"] for i in items[asked:] if i.get("type") == "function_call_output"]
        if outs:
            return [say(f"{len(outs)} results")]
        asks.append(asked)
        pre = [ResponseReasoningItem(id=f"rs_{len(asks)}", type="reasoning", summary=[
            Summary(type="summary_text", text="split")])] if reasoning else []
        return pre + [call(tool, 10 * (len(asks) - 1) + k, input=t)
                      for k, t in enumerate(tasks, 1)]
    return play


def run(head, question, session, hooks=True):
    return asyncio.run(Runner.run(head, question, session=session,
                                  hooks=session.spawn_hooks() if hooks else None))


def history(repo):
    """The commits of HEAD, oldest first."""
    out, tip = [], repo.head_commit()
    while tip is not None:
        c = repo.get_commit(tip)
        out.append(c)
        tip = c.parents[0] if c.parents else None
    return out[::-1]


def pending_calls(msgs):
    called = {m["call_id"] for m in msgs if m.get("type") == "function_call"}
    answered = [m["call_id"] for m in msgs if m.get("type") == "function_call_output"]
    assert len(answered) == len(set(answered)), answered        # no call answered twice
    return called - set(answered)


def test_one_response_fans_out_and_each_collapse_answers_its_call(repo):
    from provider_rules import check
    sub = Agent(name="researcher", instructions="research", model=Play(echo_researcher))
    head_model = Play(head_calling("prices", "venues", "weather"))
    session = TraceSession(repo)
    head = Agent(name="head", model=head_model, tools=[session.spawn_tool(sub, "research")])
    result = run(head, "plan it", session)
    assert result.final_output == "3 results"

    log = history(repo)
    assert [c.op for c in log] == ["append", "append", "spawn", "collapse", "collapse",
                                   "collapse", "append"]
    asked, spawn = log[1], log[2]
    # the model's whole response was recorded before its calls ran, and the three children
    # were spawned from that one commit by one spawn commit
    kids = spawn.meta["children"]
    assert [k["agent"] for k in kids] == ["research", "research-2", "research-3"]
    assert spawn.meta["from"] == asked.id
    tree = {i.path: i for i in repo.agent_tree()}
    assert sorted(tree) == ["research", "research-2", "research-3"]
    assert {i.status for i in tree.values()} == {"collapsed"}
    assert {i.spawned_from for i in tree.values()} == {asked.hex}

    stored = repo.messages()
    assert [m.get("type", "message") for m in stored] == [
        "message", "reasoning", "function_call", "function_call", "function_call",
        "function_call_output", "function_call_output", "function_call_output", "message"]
    assert pending_calls(stored) == set()
    # what the head model saw is what Trace stored (the collapse text is the tool output),
    # and the SDK's own copies of the items were not stored twice
    assert head_model.inputs[1] == stored[:-1]
    for c in log[3:6]:
        out = repo.get_blob(c.blobs[0]).message
        assert out["call_id"] == c.meta["call"]
        child = repo.agent(c.meta["agent"])
        assert c.meta["tip"] == child.head_commit()
        task = child.messages()[0]["content"]
        assert out["output"].startswith(f"[Result of sub-agent {c.meta['agent']} ")
        assert f"Answer:\nfound: {task}" in out["output"]
    # each child's run is in its namespace: the task (pinned, not repeated), its answer
    for name, task in (("research", "prices"), ("research-2", "venues"),
                       ("research-3", "weather")):
        msgs = repo.agent(name).messages()
        assert msgs[0] == {"role": "user", "content": task}
        assert [m.get("role") for m in msgs] == ["user", "assistant"]
        assert msgs[1]["content"][0]["text"] == f"found: {task}"
    for fmt in ("openai", "openai-responses", "anthropic"):
        check(fmt, repo.materialize(fmt))
    assert fsck(repo) == []


def test_without_the_hooks_each_call_spawns_alone(repo):
    from provider_rules import check
    sub = Agent(name="researcher", model=Play(echo_researcher))
    session = TraceSession(repo)
    head = Agent(name="head", model=Play(head_calling("a", "b", reasoning=False)),
                 tools=[session.spawn_tool(sub, "research")])
    assert run(head, "go", session, hooks=False).final_output == "2 results"
    ops = [c.op for c in history(repo)]
    assert ops.count("spawn") == 2 and ops.count("collapse") == 2
    roots = {i.path: repo.agent(i.path).get_commit(bytes.fromhex(i.root)) for i in
             repo.agent_tree()}
    assert {p: r.meta["call"] for p, r in roots.items()} == {"research": "call_1",
                                                             "research-2": "call_2"}
    stored = repo.messages()
    assert pending_calls(stored) == set()
    assert sum(m.get("type") == "function_call" for m in stored) == 2
    check("openai", repo.materialize("openai"))


def test_a_failed_sub_agent_is_abandoned_and_its_call_still_answered(repo):
    from provider_rules import check

    def broken(items):
        raise RuntimeError("model down")
    sub = Agent(name="researcher", model=Play(broken))
    session = TraceSession(repo)
    head = Agent(name="head", model=Play(head_calling("x", reasoning=False)),
                 tools=[session.spawn_tool(sub, "research")])
    assert run(head, "go", session).final_output == "1 results"
    [info] = repo.agent_tree()
    assert info.status == "abandoned"
    stored = repo.messages()
    assert pending_calls(stored) == set()
    [out] = [m for m in stored if m.get("type") == "function_call_output"]
    assert out["output"].startswith("An error occurred")      # the SDK's failure message
    assert not any(c.op == "collapse" for c in history(repo))
    check("openai", repo.materialize("openai"))


def test_names_strategies_and_nested_namespaces(repo):
    sub = Agent(name="researcher", model=Play(echo_researcher))
    session = TraceSession(repo, "lead")            # the head is itself an agent namespace
    head = Agent(name="head", model=Play(head_calling("one", reasoning=False)),
                 tools=[session.spawn_tool(sub, "research", strategy="final")])
    run(head, "first", session)
    run(head, "second", session)                    # the same tool again: a fresh child
    assert [i.path for i in session.repo.agent_tree()] == ["lead/research",
                                                           "lead/research-2"]
    assert repo.head_commit() is None               # the root namespace is untouched
    outs = [m["output"] for m in session.repo.messages()
            if m.get("type") == "function_call_output"]
    assert len(outs) == 2 and all("How it got there" not in o for o in outs)


def test_spawn_tool_refuses_what_it_sets_itself(repo):
    sub = Agent(name="researcher", model=Play(echo_researcher))
    session = TraceSession(repo)
    for kw in ({"session": None}, {"custom_output_extractor": None},
               {"input_builder": None}, {"strategy": "manual"}, {"strategy": "llm"}):
        with pytest.raises(InputError):
            session.spawn_tool(sub, "research", **kw)
