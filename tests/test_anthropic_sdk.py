"""The Anthropic SDK helper (trace_core.integrations.anthropic_sdk) with the real `anthropic`
client against a local server speaking the Messages API: replies and usage committed, tool_use
and tool_result turns, the async twin, SDK errors leave the repository unchanged."""

from __future__ import annotations

import asyncio

import pytest

anthropic = pytest.importorskip("anthropic")

from conftest import assert_one_line_error, invoke, python_block, reply  # noqa: E402

from trace_core.errors import InputError  # noqa: E402
from trace_core.integrations.anthropic_sdk import asend, send  # noqa: E402
from trace_core.repository import Repository  # noqa: E402


def _message(content, p=20, c=5, stop="end_turn", model="claude-test-1", mid="msg_1"):
    return {"id": mid, "type": "message", "role": "assistant", "model": model,
            "content": content, "stop_reason": stop, "stop_sequence": None,
            "usage": {"input_tokens": p, "output_tokens": c, "cache_read_input_tokens": 0}}


def _client(srv, cls=None):
    return (cls or anthropic.Anthropic)(api_key="k", base_url=srv.url, max_retries=0)


TOOL_USE = {"type": "tool_use", "id": "toolu_1", "name": "add", "input": {"a": 2, "b": 3}}


def test_send_commits_reply_with_usage_and_the_tool_turn_round_trips(repo, llm_server):
    repo.system("You add numbers.")
    repo.user("What is 2+3?")
    llm_server.script = [
        reply(200, _message([{"type": "text", "text": "Let me add."}, TOOL_USE],
                            p=31, c=9, stop="tool_use", mid="msg_a")),
        reply(200, _message([{"type": "text", "text": "It is 5."}], p=52, c=4, mid="msg_b"))]
    client = _client(llm_server)

    r1 = send(repo, client, model="claude-test-1", max_tokens=256, stop_sequences=["END"])
    assert r1.stop_reason == "tool_use"
    first = llm_server.requests[0]
    assert first["path"] == "/v1/messages"
    assert first["body"]["system"] == "You add numbers."
    assert first["body"]["messages"] == [
        {"role": "user", "content": [{"type": "text", "text": "What is 2+3?"}]}]
    assert first["body"]["max_tokens"] == 256 and first["body"]["stop_sequences"] == ["END"]

    # the reply is one Anthropic-shape assistant message, tool_use kept, usage on its commit
    stored = repo.messages()[-1]
    assert stored == {"role": "assistant", "content": [
        {"type": "text", "text": "Let me add."}, TOOL_USE]}
    head = repo.get_commit(repo.head_commit())
    assert head.op == "append"
    assert head.meta["usage"] == {"provider": "anthropic", "model": "claude-test-1",
                                  "prompt_tokens": 31, "completion_tokens": 9,
                                  "cost_usd": None}
    assert head.meta["user"] == {"anthropic.id": "msg_a", "anthropic.stop_reason": "tool_use"}
    assert [p["call_id"] for p in repo.status().pending_calls] == ["toolu_1"]

    # the tool result is the next user turn; the follow-up request pairs it with the call
    repo.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "5"}]})
    r2 = send(repo, client, model="claude-test-1", max_tokens=256)
    assert r2.content[0].text == "It is 5."
    sent = llm_server.requests[1]["body"]["messages"]
    assert [m["role"] for m in sent] == ["user", "assistant", "user"]
    assert sent[1]["content"][1] == TOOL_USE
    assert sent[2]["content"][0]["type"] == "tool_result"
    assert sent[2]["content"][0]["tool_use_id"] == "toolu_1"
    assert repo.messages()[-1] == {"role": "assistant",
                                   "content": [{"type": "text", "text": "It is 5."}]}
    assert repo.get_commit(repo.head_commit()).meta["usage"]["prompt_tokens"] == 52
    st = repo.status()
    assert st.pending_calls == [] and st.broken_pairs == []


def test_asend_with_the_async_client(repo, llm_server):
    repo.user("hi")
    llm_server.script = [reply(200, _message([{"type": "text", "text": "hello"}], p=7, c=2))]
    client = _client(llm_server, anthropic.AsyncAnthropic)

    async def go():
        async with client:
            return await asend(repo, client, model="claude-test-1", max_tokens=64)

    r = asyncio.run(go())
    assert r.content[0].text == "hello"
    assert repo.messages() == [{"role": "user", "content": "hi"},
                               {"role": "assistant",
                                "content": [{"type": "text", "text": "hello"}]}]
    usage = repo.get_commit(repo.head_commit()).meta["usage"]
    assert (usage["prompt_tokens"], usage["completion_tokens"]) == (7, 2)


def test_an_http_error_leaves_the_repository_unchanged(repo, llm_server):
    repo.user("hi")
    before = (repo.head_commit(), repo.messages(), repo.refs.read("refs/heads/main"))
    llm_server.script = [reply(529, {"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}})]
    with pytest.raises(anthropic.APIStatusError) as e:
        send(repo, _client(llm_server), model="claude-test-1", max_tokens=64)
    assert e.value.status_code == 529
    assert (repo.head_commit(), repo.messages(), repo.refs.read("refs/heads/main")) == before
    llm_server.script = [reply(400, {"type": "error", "error": {
        "type": "invalid_request_error", "message": "max_tokens: too large"}})]

    async def go():
        async with _client(llm_server, anthropic.AsyncAnthropic) as c:
            await asend(repo, c, model="claude-test-1", max_tokens=64)
    with pytest.raises(anthropic.BadRequestError):
        asyncio.run(go())
    assert (repo.head_commit(), repo.messages(), repo.refs.read("refs/heads/main")) == before


def test_bad_calls_are_refused_before_any_request(repo, llm_server):
    client = _client(llm_server)
    with pytest.raises(InputError, match="nothing to send"):
        send(repo, client, model="m", max_tokens=8)
    repo.system("sys")
    with pytest.raises(InputError, match="nothing to send"):
        send(repo, client, model="m", max_tokens=8)
    repo.user("hi")
    with pytest.raises(InputError, match="builds messages itself"):
        send(repo, client, model="m", max_tokens=8, messages=[])
    with pytest.raises(InputError, match="stream"):
        send(repo, client, model="m", max_tokens=8, stream=True)
    with pytest.raises(InputError, match="system prompt"):
        send(repo, client, model="m", max_tokens=8, system="other")
    assert llm_server.requests == []


def test_send_in_an_agent_namespace_and_the_cli_shows_it(tmp_path, llm_server):
    root = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    try:
        sub = root.agent("support", create=True)
        sub.user("hi")
        llm_server.script = [reply(200, _message([{"type": "text", "text": "yo"}]))]
        send(sub, _client(llm_server), model="claude-test-1", max_tokens=8)
        assert root.head_commit() is None
        assert sub.messages()[-1]["content"] == [{"type": "text", "text": "yo"}]
    finally:
        root.close()
    p = invoke(str(tmp_path / "r"), "--agent", "support", "log")
    assert p.returncode == 0 and "anthropic: reply (text)" in p.stdout
    assert_one_line_error(invoke(str(tmp_path / "r"), "--agent", "nobody", "log"))


def test_the_documented_example_runs(tmp_path, monkeypatch, capsys, llm_server):
    block = python_block("Anthropic SDK")
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("ANTHROPIC_API_KEY", "k")              # what the SDK's client reads
    monkeypatch.setenv("ANTHROPIC_BASE_URL", llm_server.url)
    llm_server.script = [
        reply(200, _message([TOOL_USE], stop="tool_use")),
        reply(200, _message([{"type": "text", "text": "5"}], p=40, c=1))]
    exec(compile(block, "docs/integrations.md", "exec"), {})
    assert capsys.readouterr().out == "5\n"
    assert len(llm_server.requests) == 2
    with Repository.open(str(tmp_path / "chat")) as repo:
        assert [m["role"] for m in repo.messages()] == [
            "system", "user", "assistant", "user", "assistant"]
        assert repo.get_commit(repo.head_commit()).meta["usage"]["prompt_tokens"] == 40


def test_a_commit_made_while_the_request_runs_is_kept_and_reported(repo, llm_server):
    repo.user("hi")
    llm_server.script = [reply(200, _message([{"type": "text", "text": "yo"}]))]
    real = _client(llm_server)

    class Messages:                    # another writer commits while the request is in flight
        def create(self, **kw):
            repo.user("meanwhile")
            return real.messages.create(**kw)

    class Client:
        messages = Messages()

    send(repo, Client(), model="claude-test-1", max_tokens=8)
    assert [m["content"] for m in repo.messages()][1:] == [
        "meanwhile", [{"type": "text", "text": "yo"}]]
    assert len(repo.warnings) == 1 and "HEAD moved" in repo.warnings[0]


def test_a_reply_the_repository_refuses_still_reaches_the_caller(repo, llm_server):
    repo.user("What is 2+3?")
    repo.set_config("budget.max-tokens", "8")
    llm_server.script = [reply(200, _message([{"type": "text", "text": "It is five. " * 20}]))]
    head = repo.head_commit()
    with repo.strict_budget():
        r = send(repo, _client(llm_server), model="claude-test-1", max_tokens=64)
    assert r.content[0].text.startswith("It is five.")        # the paid reply is returned
    assert repo.head_commit() == head                          # the budget refused the commit
    assert any("not recorded" in w and "msg_1" in w for w in repo.warnings)
