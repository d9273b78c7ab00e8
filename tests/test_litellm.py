"""The LiteLLM callback (trace_core.integrations.litellm) with the real litellm calling a local
OpenAI-compatible server: chat loops sync and async record each new message once with the
reply's usage, tool calls stay paired, failures and refused messages record nothing."""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os

import pytest
from conftest import openai_ok, python_block, reply

# Importing litellm costs ~7 s of CPU: it is imported by the first test that runs here, not
# when the file is collected (every xdist worker collects every file).
pytestmark = pytest.mark.skipif(importlib.util.find_spec("litellm") is None,
                                reason="litellm is not installed (extra: litellm)")


def _lite():
    # (LiteLLM fetches its model price list from the network at import unless told not to:
    # conftest tells it, for the whole session; Trace itself never reads or sets the environment)
    assert os.environ.get("LITELLM_LOCAL_MODEL_COST_MAP") == "True"
    return pytest.importorskip("litellm")


@pytest.fixture(scope="module")
def litellm():
    return _lite()


def TraceLogger(repo):                 # the class, imported when first used
    _lite()
    from trace_core.integrations.litellm import TraceLogger as cls
    return cls(repo)


def new_inputs(*args):
    _lite()
    from trace_core.integrations.litellm import new_inputs as fn
    return fn(*args)


SYSTEM = {"role": "system", "content": "You are terse."}


@pytest.fixture
def logger(repo, litellm):
    log = TraceLogger(repo)
    saved = list(litellm.callbacks)
    litellm.callbacks = [log]
    yield log
    litellm.callbacks = saved


def _call(srv, messages, **kw):
    return _lite().completion(model="openai/x", api_base=srv.url + "/v1", api_key="k",
                              messages=messages, num_retries=0, **kw)


def _commits(repo, rev="HEAD"):
    """The commits of `rev`, oldest first."""
    out, c = [], repo.resolve(rev) if repo.head_commit() else None
    while c is not None:
        commit = repo.get_commit(c)
        out.append(commit)
        c = commit.parents[0] if commit.parents else None
    return out[::-1]


def _tool_reply(call_id="call_1", p=30, c=8):
    doc = openai_ok("", p, c, model="x-2026", finish="tool_calls")
    doc["choices"][0]["message"] = {"role": "assistant", "content": None, "tool_calls": [
        {"id": call_id, "type": "function",
         "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]}
    return reply(200, doc)


def test_a_sync_chat_loop_records_each_message_once_with_usage(repo, logger, llm_server):
    llm_server.script = [reply(200, openai_ok("Hello.", 11, 3, model="x-2026")),
                         reply(200, openai_ok("Paris.", 25, 2, model="x-2026"))]
    messages = [SYSTEM, {"role": "user", "content": "hi"}]
    r1 = _call(llm_server, messages)
    assert logger.wait(1)
    messages += [r1.choices[0].message, {"role": "user", "content": "capital of France?"}]
    _call(llm_server, messages)                    # the whole conversation is sent again
    assert logger.wait(2)

    assert repo.messages() == [SYSTEM, {"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "Hello."},
                               {"role": "user", "content": "capital of France?"},
                               {"role": "assistant", "content": "Paris."}]
    commits = _commits(repo)
    assert [c.message for c in commits] == [
        "litellm: 2 input messages (system, user)", "litellm: reply from x-2026",
        "litellm: 1 input message (user)", "litellm: reply from x-2026"]
    assert [len(c.blobs) for c in commits] == [2, 1, 1, 1]
    assert "usage" not in (commits[0].meta or {})
    u1, u2 = commits[1].meta["usage"], commits[3].meta["usage"]
    assert (u1["provider"], u1["model"], u1["prompt_tokens"], u1["completion_tokens"]) == \
        ("openai", "x-2026", 11, 3)
    assert (u2["prompt_tokens"], u2["completion_tokens"]) == (25, 2)
    assert commits[1].meta["user"]["litellm.call_id"]
    assert logger.handled == 2 and repo.warnings == []


def test_tool_calls_stay_paired(repo, logger, llm_server):
    llm_server.script = [_tool_reply(), reply(200, openai_ok("5", 40, 1))]
    messages = [{"role": "user", "content": "2+3?"}]
    r1 = _call(llm_server, messages, tools=[{"type": "function", "function": {
        "name": "add", "parameters": {"type": "object", "properties": {}}}}])
    assert logger.wait(1)
    assert [p["call_id"] for p in repo.status().pending_calls] == ["call_1"]
    messages += [r1.choices[0].message,
                 {"role": "tool", "tool_call_id": "call_1", "content": "5"}]
    _call(llm_server, messages)
    assert logger.wait(2)
    stored = repo.messages()
    assert stored[1] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "call_1", "type": "function",
         "function": {"name": "add", "arguments": '{"a": 2, "b": 3}'}}]}
    assert stored[2:] == [{"role": "tool", "tool_call_id": "call_1", "content": "5"},
                          {"role": "assistant", "content": "5"}]
    st = repo.status()
    assert st.pending_calls == [] and st.broken_pairs == []


def test_an_async_chat_loop_in_an_agent_namespace(repo, logger, llm_server, litellm):
    llm_server.script = [reply(200, openai_ok("one", 5, 1)), reply(200, openai_ok("two", 9, 1))]

    async def loop():
        messages = [{"role": "user", "content": "count"}]
        for n, more in ((1, "again"), (2, None)):
            r = await litellm.acompletion(model="openai/x", api_base=llm_server.url + "/v1",
                                          api_key="k", messages=messages, num_retries=0,
                                          metadata={"trace_agent": "counter"})
            assert await logger.wait_async(n)
            messages += [{"role": "assistant", "content": r.choices[0].message.content}]
            if more:
                messages.append({"role": "user", "content": more})
    asyncio.run(loop())
    assert repo.head_commit() is None                    # routed to the namespace
    sub = repo.agent("counter")
    assert [m["content"] for m in sub.messages()] == ["count", "one", "again", "two"]
    usage = [c.meta["usage"]["prompt_tokens"] for c in _commits(sub) if c.meta and
             "usage" in c.meta]
    assert usage == [5, 9] and logger.handled == 2


def test_failures_are_not_recorded_and_their_input_comes_with_the_next_success(
        repo, logger, llm_server, litellm):
    llm_server.script = [reply(500, {"error": {"message": "boom"}}),
                         reply(200, openai_ok("ok", 7, 1))]
    messages = [{"role": "user", "content": "hi"}]
    with pytest.raises(litellm.exceptions.InternalServerError):
        _call(llm_server, messages)
    _call(llm_server, messages)                          # the retry the user makes
    assert logger.wait(1)
    assert logger.handled == 1
    assert repo.messages() == [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "ok"}]


def test_a_refused_message_is_reported_and_commits_nothing(repo, logger, llm_server):
    repo.user("before")
    head = repo.head_commit()
    llm_server.script = [reply(200, openai_ok("x"))]
    _call(llm_server, [{"role": "user", "content": "before"},
                       {"role": "tool", "content": "no call id"}])
    assert logger.wait(1)
    assert repo.head_commit() == head
    assert len(repo.warnings) == 1
    assert "not recorded" in repo.warnings[0] and "tool_call_id" in repo.warnings[0]


def test_a_call_already_recorded_is_not_recorded_again(repo, logger, llm_server):
    llm_server.script = [reply(200, openai_ok("same")), reply(200, openai_ok("same")),
                         reply(200, openai_ok("different"))]
    messages = [{"role": "user", "content": "hi"}]
    _call(llm_server, messages)
    assert logger.wait(1)
    _call(llm_server, messages)                          # the same call, the same reply
    assert logger.wait(2)
    assert len(_commits(repo)) == 2
    _call(llm_server, messages)                          # regenerated: a new reply
    assert logger.wait(3)
    assert [m["content"] for m in repo.messages()] == ["hi", "same", "hi", "different"]


def _sse(h):
    """A streamed chat completion: two content chunks, then the usage chunk."""
    chunks = [{"choices": [{"index": 0, "delta": {"role": "assistant", "content": "Hel"}}]},
              {"choices": [{"index": 0, "delta": {"content": "lo"}, "finish_reason": "stop"}]},
              {"choices": [], "usage": {"prompt_tokens": 4, "completion_tokens": 2,
                                        "total_tokens": 6}}]
    body = b"".join(b"data: " + json.dumps({"id": "s", "object": "chat.completion.chunk",
                                            "model": "x", **c}).encode() + b"\n\n"
                    for c in chunks) + b"data: [DONE]\n\n"
    h.send_response(200)
    h.send_header("Content-Type", "text/event-stream")
    h.send_header("Content-Length", str(len(body)))
    h.end_headers()
    h.wfile.write(body)


def test_a_streamed_call_is_recorded_once_complete(repo, logger, llm_server):
    llm_server.script = [_sse]
    stream = _call(llm_server, [{"role": "user", "content": "hi"}], stream=True,
                   stream_options={"include_usage": True})
    assert "".join(c.choices[0].delta.content or "" for c in stream if c.choices) == "Hello"
    assert logger.wait(1)
    assert repo.messages() == [{"role": "user", "content": "hi"},
                               {"role": "assistant", "content": "Hello"}]
    usage = repo.get_commit(repo.head_commit()).meta["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (4, 2)


def test_new_inputs_rules():
    s, u1, a1, u2 = SYSTEM, {"role": "user", "content": "a"}, \
        {"role": "assistant", "content": "b"}, {"role": "user", "content": "c"}
    assert new_inputs([], [s, u1], a1) == [s, u1]
    assert new_inputs([s, u1, a1], [s, u1, a1, u2], a1) == [u2]
    # the reply sent back as another object (no content vs empty text alike)
    assert new_inputs([s, u1, {"role": "assistant", "content": None}],
                      [s, u1, {"role": "assistant", "content": ""}, u2], a1) == [u2]
    # a sliding window that dropped the first turn but kept the system prompt
    assert new_inputs([s, u1, a1, u2, a1], [s, u2, a1, u1], a1) == [u1]
    # a conversation that does not continue the context is recorded whole
    assert new_inputs([s, u1, a1], [s, u2], a1) == [s, u2]
    # a late callback: its input and reply are in the context already
    assert new_inputs([s, u1, a1, u2, a1], [s, u1], a1) is None


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys, llm_server, litellm):

    from trace_core.repository import Repository
    block = python_block("LiteLLM")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("OPENAI_API_KEY", "k")            # what LiteLLM reads
    monkeypatch.setenv("OPENAI_BASE_URL", llm_server.url + "/v1")
    llm_server.script = [reply(200, openai_ok("Hello.", 11, 3)),
                         reply(200, openai_ok("Paris.", 25, 2))]
    saved = list(litellm.callbacks)
    try:
        exec(compile(block, "docs/integrations.md", "exec"), {})
    finally:
        litellm.callbacks = saved
    assert "Paris." in capsys.readouterr().out
    with Repository.open(str(tmp_path / "chat")) as repo:
        assert [m["content"] for m in repo.messages()] == [
            "You are terse.", "hi", "Hello.", "capital of France?", "Paris."]
