"""The MCP server (`trace mcp`, trace_core.integrations.mcp_server) through the real `mcp` SDK's
client: in-process for each tool, and once over a real stdio subprocess and streamable HTTP."""

from __future__ import annotations

import asyncio
import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("mcp")

from conftest import FakeProvider, assert_one_line_error, closed_port, invoke  # noqa: E402
from mcp import Client, StdioServerParameters  # noqa: E402

from trace_core.integrations.mcp_server import TOOLS, build_server  # noqa: E402
from trace_core.repository import Repository  # noqa: E402

DOCS = Path(__file__).resolve().parent.parent / "docs" / "integrations.md"


def run(coro):
    return asyncio.run(coro)


async def call(client, name: str, args: dict | None = None) -> dict:
    """A tool's structured result, asserting it succeeded and its text says the same."""
    r = await client.call_tool(name, args or {})
    assert not r.is_error, r.content[0].text
    assert json.loads(r.content[0].text) == r.structured_content
    return r.structured_content


async def error(client, name: str, args: dict | None = None) -> str:
    """A tool call's error text, asserting it is a tool error of one line."""
    r = await client.call_tool(name, args or {})
    assert r.is_error, r.structured_content
    assert len(r.content) == 1 and "\n" not in r.content[0].text, r.content
    return r.content[0].text


def head(repo) -> str:
    return repo.head_commit().hex()


def test_list_tools_gives_every_tool_with_typed_described_inputs(repo):
    async def go():
        async with Client(build_server(repo)) as c:
            return {t.name: t for t in (await c.list_tools()).tools}
    tools = run(go())
    assert list(tools) == list(TOOLS)
    for t in tools.values():
        assert t.description and t.input_schema["type"] == "object"
        assert t.output_schema["type"] == "object"
        props = t.input_schema["properties"]
        assert all(p.get("description") for p in props.values()), (t.name, props)
        assert "agent" in props
    commit = tools["trace_commit"].input_schema["properties"]
    assert {"content", "role", "messages", "meta", "usage", "pin"} <= set(commit)
    assert commit["role"]["enum"] == ["user", "assistant", "system", "developer"]
    assert tools["trace_reset"].input_schema["required"] == ["rev"]
    ctx = tools["trace_context"].input_schema["properties"]["format"]
    assert set(ctx["enum"]) >= {"text", "json", "openai", "anthropic"}


def test_commit_then_log_status_and_context(repo):
    async def go():
        async with Client(build_server(repo)) as c:
            first = await call(c, "trace_commit", {"content": "Find the bug in parser.py"})
            call_msg = {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function",
                 "function": {"name": "grep", "arguments": "{\"q\": \"x\"}"}}]}
            second = await call(c, "trace_commit", {
                "messages": [call_msg, {"role": "tool", "tool_call_id": "c1", "content": "ok"}],
                "message": "the grep", "meta": {"run": "7"},
                "usage": {"prompt_tokens": 10, "completion_tokens": 2}})
            log = await call(c, "trace_log", {"limit": 5})
            status = await call(c, "trace_status")
            return first, second, log, status
    first, second, log, status = run(go())
    assert first["op"] == "append" and first["branch"] == "main" and first["agent"] is None
    assert re.fullmatch(r"[0-9a-f]{64}", first["commit"])
    assert head(repo) == second["commit"]
    assert [x["id"] for x in log["commits"]] == [second["commit"], first["commit"]]
    assert log["commits"][0]["summary"] == "the grep"
    assert status["head"] == second["commit"] and status["entries"] == 3
    assert repo.messages()[0] == {"role": "user", "content": "Find the bug in parser.py"}
    assert repo.messages()[2]["tool_call_id"] == "c1"
    meta = repo.get_commit(bytes.fromhex(second["commit"])).meta
    assert meta["user"] == {"run": "7"} and meta["usage"]["prompt_tokens"] == 10


def test_commit_refuses_bad_input_without_writing(repo):
    async def go():
        async with Client(build_server(repo)) as c:
            both = await error(c, "trace_commit", {"content": "x", "messages": []})
            empty = await error(c, "trace_commit", {"content": "  "})
            role = await error(c, "trace_commit", {"messages": [{"role": "wizard",
                                                                 "content": "x"}]})
            # the SDK's schema validation: a wrong type never reaches the repository
            bad_type = await c.call_tool("trace_commit", {"content": "x", "pin": "maybe"})
            bad_limit = await c.call_tool("trace_log", {"limit": "ten"})
            return both, empty, role, bad_type, bad_limit
    both, empty, role, bad_type, bad_limit = run(go())
    assert both == "give content (with role) or messages, not both and not neither"
    assert empty == "nothing to commit: the content is empty"
    assert role == "unknown role 'wizard' (choose from system, developer, user, assistant, tool)"
    assert bad_type.is_error and "pin" in bad_type.content[0].text
    assert bad_limit.is_error and "limit" in bad_limit.content[0].text
    assert repo.head_commit() is None


def test_context_pages_every_format(repo):
    repo.system("You are terse.")
    for i in range(5):
        (repo.user if i % 2 == 0 else repo.assistant)(f"turn {i}")
    ids = [e.blob.hex() for e in repo.entries_at(repo.head_commit())]

    async def go():
        async with Client(build_server(repo)) as c:
            text = await call(c, "trace_context", {"limit": 4})
            text2 = await call(c, "trace_context", {"offset": text["next_offset"],
                                                    "limit": 100})
            js = await call(c, "trace_context", {"format": "json", "offset": 4, "limit": 10})
            oa = await call(c, "trace_context", {"format": "openai", "limit": 2})
            an = await call(c, "trace_context", {"format": "anthropic", "rev": "HEAD~2"})
            an2 = await call(c, "trace_context", {"format": "anthropic", "offset": 1})
            return text, text2, js, oa, an, an2
    text, text2, js, oa, an, an2 = run(go())
    whole = repo.materialize("text")
    assert text["total"] == len(whole.splitlines()) and text["next_offset"] == 4
    assert text["text"] + text2["text"] == whole and text2["next_offset"] is None
    assert [x["blob"] for x in js["items"]] == ids[4:] and js["total"] == 6
    assert oa["items"] == repo.materialize("openai")[:2] and oa["next_offset"] == 2
    assert an["system"] == "You are terse." and an["total"] == 3   # turns 0, 1, 2
    assert an["items"] == repo.materialize("anthropic", rev="HEAD~2")["messages"]
    assert "system" not in an2 and an2["items"] == repo.materialize("anthropic")["messages"][1:]


def test_branch_switch_reset_and_errors_keep_the_server_running(repo):
    repo.user("one")
    repo.user("two")
    repo.user("three")
    tip = head(repo)

    async def go():
        async with Client(build_server(repo)) as c:
            missing = await error(c, "trace_switch", {"name": "nope"})
            created = await call(c, "trace_branch", {"action": "create", "name": "explore",
                                                     "start": "HEAD~1"})
            listed = await call(c, "trace_branch")
            switched = await call(c, "trace_switch", {"name": "explore"})
            branch_after_switch = repo.head_branch()
            back = await call(c, "trace_switch", {"name": "main"})
            soft = await call(c, "trace_reset", {"rev": "HEAD~2"})
            status = await call(c, "trace_status")
            hard = await call(c, "trace_reset", {"rev": tip, "mode": "hard"})
            bad_rev = await error(c, "trace_reset", {"rev": "HEAD~99"})
            deleted = await call(c, "trace_branch", {"action": "delete", "name": "explore",
                                                     "force": True})
            no_name = await error(c, "trace_branch", {"action": "delete"})
            return (missing, created, listed, switched, branch_after_switch, back, soft,
                    status, hard, bad_rev, deleted, no_name)
    (missing, created, listed, switched, branch_after_switch, back, soft, status, hard,
     bad_rev, deleted, no_name) = run(go())
    assert missing.startswith("no branch named 'nope'")
    assert created["created"] == "explore" and created["ref"] == "refs/heads/explore"
    assert {b["name"]: b["current"] for b in listed["branches"]} == {"main": True,
                                                                    "explore": False}
    assert switched["branch"] == "explore" and branch_after_switch == "refs/heads/explore"
    assert switched["head"] == created["id"] != tip
    assert back["branch"] == "main"
    assert soft["previous"] == tip and soft["undone"] == 2 and soft["mode"] == "soft"
    assert len(status["undone"]) == 2 and status["entries"] == 1
    assert hard["head"] == tip == head(repo)
    assert bad_rev.endswith("has no parent")
    assert deleted == {"deleted": "explore", "was": created["id"]}
    assert no_name == "branch delete needs a name"
    assert repo.refs.read("refs/heads/explore") is None


def test_merge_stopped_at_a_conflict_resolved_and_continued(repo):
    repo.user("base")
    repo.branch_create("side")
    repo.user("ours")
    repo.switch("side")
    repo.user("theirs")
    repo.switch("main")
    repo.edit(0, {"role": "user", "content": "base, edited here"})
    repo.switch("side")
    repo.edit(0, {"role": "user", "content": "base, edited there"})
    repo.switch("main")
    before = head(repo)

    async def go():
        async with Client(build_server(repo)) as c:
            stopped = await call(c, "trace_merge", {"branch": "side"})
            busy = await error(c, "trace_merge", {"branch": "side", "strategy": "union"})
            aborted = await call(c, "trace_merge", {"action": "abort"})
            after_abort = head(repo)
            await call(c, "trace_merge", {"branch": "side"})
            early = await error(c, "trace_merge", {"action": "continue"})
            resolved = await call(c, "trace_resolve", {"conflict": 1, "how": "text",
                                                       "text": "base, edited on both sides"})
            merged = await call(c, "trace_merge", {"action": "continue"})
            again = await call(c, "trace_merge", {"branch": "side"})
            none = await error(c, "trace_merge")
            return stopped, busy, aborted, after_abort, early, resolved, merged, again, none
    stopped, busy, aborted, after_abort, early, resolved, merged, again, none = run(go())
    assert stopped["status"] == "conflicts" and stopped["commit"] is None
    assert stopped["conflicts"] == [{"id": 1, "kind": "edit/edit", "resolved": False,
                                     "note": "both sides edited this entry differently"}]
    assert busy.startswith("a merge is in progress")
    assert aborted == {"status": "aborted"} and after_abort == before
    assert early.startswith("1 conflict")
    assert resolved == {"conflict": 1, "kind": "edit/edit", "resolved": "text", "open": []}
    assert merged["status"] == "merged" and merged["commit"] == head(repo) != before
    assert len(repo.get_commit(repo.head_commit()).parents) == 2
    texts = [m["content"] for m in repo.messages()]
    assert texts[0] == "base, edited on both sides" and {"ours", "theirs"} <= set(texts)
    assert again["status"] == "up-to-date"
    assert none == "merge needs a branch or commit to merge"


def test_compress_manual_and_llm_through_the_callers_provider(repo):
    repo.user("Please fix the failing parser tests.")
    for i in range(4):
        repo.assistant(f"Looked at file {i}; nothing relevant there, moving on to the next.")
    fake = FakeProvider(["The assistant checked files 0-3: nothing relevant."])

    async def go():
        async with Client(build_server(repo)) as c:
            refused = await error(c, "trace_compress", {"range": "HEAD~4..HEAD~2",
                                                        "strategy": "llm"})
        async with Client(build_server(repo, provider=lambda r: fake)) as c:
            manual = await call(c, "trace_compress", {
                "range": "HEAD~4..HEAD~2", "strategy": "manual",
                "summaries": ["Files 0 and 1: nothing."], "message": "squash"})
            llm = await call(c, "trace_compress", {"entries": "1:3", "strategy": "llm"})
            bad = await error(c, "trace_compress", {})
            return refused, manual, llm, bad
    refused, manual, llm, bad = run(go())
    assert refused.startswith("compress --strategy llm calls a model, and this server")
    assert manual["strategy"] == "manual" and manual["tokens"]["saved"] > 0
    c = repo.get_commit(bytes.fromhex(llm["commit"]))
    assert c.op == "compress" and llm["commit"] == head(repo)
    assert len(fake.calls) == 1 and llm["usage"]
    texts = [m["content"] for m in repo.messages()]
    assert "The assistant checked files 0-3: nothing relevant." in texts
    assert bad == "give either a commit range (A..B) or an entry range (I:J)"


def test_spawn_agent_argument_collapse_and_blame(repo):
    repo.user("Plan the release.")

    async def go():
        async with Client(build_server(repo)) as c:
            spawned = await call(c, "trace_spawn", {"names": ["researcher"],
                                                    "task": "Find the open bugs."})
            work = await call(c, "trace_commit", {"agent": "researcher", "role": "assistant",
                                                  "content": "Two bugs: #12 and #40."})
            child_log = await call(c, "trace_log", {"agent": "researcher"})
            missing = await error(c, "trace_status", {"agent": "nobody"})
            escape = await error(c, "trace_status", {"agent": "../x"})
            collapsed = await call(c, "trace_collapse", {"name": "researcher",
                                                         "result": "Bugs #12 and #40 are open."})
            blame = await call(c, "trace_blame", {"grep": "#40"})
            return spawned, work, child_log, missing, escape, collapsed, blame
    spawned, work, child_log, missing, escape, collapsed, blame = run(go())
    assert spawned["agents"][0]["agent"] == "researcher"
    assert repo.get_commit(bytes.fromhex(spawned["commit"])).op == "spawn"
    child = repo.agent("researcher")
    assert work["agent"] == "researcher" and work["commit"] == head(child)
    assert child_log["commits"][0]["id"] == work["commit"]
    assert missing.startswith("no agent 'nobody'")
    assert escape.startswith("invalid agent name")
    assert collapsed["op"] == "collapse" and collapsed["tip"] == work["commit"]
    assert collapsed["commit"] == head(repo)
    carried = repo.messages()[-1]["content"]
    assert "Two bugs: #12 and #40." in carried and "Bugs #12 and #40 are open." in carried
    assert blame["entries"] and blame["entries"][0]["introduced"]["commit"] == collapsed["commit"]


def test_warnings_reach_the_agent(repo):
    repo.set_config("budget.max-tokens", "20")

    async def go():
        async with Client(build_server(repo)) as c:
            return await call(c, "trace_commit", {"content": "x" * 200})
    res = run(go())
    assert res["warnings"] == [f"context uses {res['total_tokens']} of 20 tokens "
                               f"({res['total_tokens'] * 5}%): over the budget"]


def test_trace_mcp_over_a_real_stdio_subprocess(rdir):
    # the .mcp.json of docs/integrations.md, run as `python -m trace_cli` (the same CLI)
    snippet = re.search(r"```json\n(\{.*?\"mcpServers\".*?)```", DOCS.read_text(), re.S)
    assert snippet, "docs/integrations.md has no .mcp.json snippet"
    entry = json.loads(snippet.group(1))["mcpServers"]["trace"]
    assert entry["command"] == "trace" and entry["args"][-1] == "mcp"
    params = StdioServerParameters(command=sys.executable,
                                   args=["-m", "trace_cli", "-C", rdir, *entry["args"]],
                                   env=dict(os.environ))

    async def go():
        async with Client(params) as c:
            names = [t.name for t in (await c.list_tools()).tools]
            made = await call(c, "trace_commit", {"content": "over stdio"})
            log = await call(c, "trace_log")
            err = await error(c, "trace_switch", {"name": "nope"})
            return names, made, log, err
    names, made, log, err = run(go())
    assert names == list(TOOLS)
    assert log["commits"][0]["id"] == made["commit"]
    assert err.startswith("no branch named 'nope'")
    with Repository.open(rdir) as r:
        assert r.messages() == [{"role": "user", "content": "over stdio"}]


def test_trace_mcp_of_a_missing_repository_is_one_line(tmp_path):
    (tmp_path / "empty").mkdir()
    p = invoke(str(tmp_path / "empty"), "mcp")
    assert_one_line_error(p, "not in a trace repository")


def test_trace_mcp_over_streamable_http_on_localhost(rdir):
    port = closed_port()
    proc = subprocess.Popen([sys.executable, "-m", "trace_cli", "-C", rdir, "--agent",
                             "worker", "--create", "mcp", "--http", "--port", str(port)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                assert proc.poll() is None, proc.stderr.read()
                assert time.monotonic() < deadline, "the server did not start"
                time.sleep(0.05)

        async def go():
            async with Client(f"http://127.0.0.1:{port}/mcp") as c:
                return await call(c, "trace_commit", {"content": "over http"})
        made = run(go())
    finally:
        proc.terminate()
        proc.wait(10)
    assert made["agent"] == "worker"
    with Repository.open(rdir, agent="worker") as r:
        assert r.head_commit().hex() == made["commit"]
    assert f"http://127.0.0.1:{port}/mcp" in proc.stderr.read()


def test_an_openai_agent_uses_the_server_over_stdio(rdir):
    # docs/integrations.md's Agents SDK example, with a scripted model instead of OpenAI's
    agents = pytest.importorskip("agents")
    from agents.mcp import MCPServerStdio
    from agents.testing import ScriptedModel, assistant_message, function_call

    agents.set_tracing_disabled(True)
    model = ScriptedModel([
        [function_call("trace_commit", {"content": "The bug is in parse_date.",
                                        "role": "assistant"}, call_id="c1")],
        [function_call("trace_reset", {"rev": "HEAD~5"}, call_id="c2")],
        [assistant_message("noted")]])

    async def go():
        async with MCPServerStdio(params={"command": sys.executable,
                                          "args": ["-m", "trace_cli", "-C", rdir, "mcp"],
                                          "env": dict(os.environ)}) as trace:
            agent = agents.Agent(name="coder", instructions="Commit what you learn.",
                                 mcp_servers=[trace], model=model)
            return await agents.Runner.run(agent, "Find the bug.")
    result = run(go())
    assert result.final_output == "noted"
    outputs = {i["call_id"]: i["output"][0]["text"] for i in model.calls[2].input
               if isinstance(i, dict) and i.get("type") == "function_call_output"}
    made = json.loads(outputs["c1"])       # what the model read: the tool's JSON, and the
    assert outputs["c2"] == f"{made['commit'][:12]} has no parent"   # error's one line
    with Repository.open(rdir) as r:
        assert r.head_commit().hex() == made["commit"]
        assert r.messages() == [{"role": "assistant", "content": "The bug is in parse_date."}]
