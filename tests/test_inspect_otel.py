"""Public commit metadata (`meta=`, `usage=`, `trace commit --meta/--usage-json`) and the
OpenTelemetry export (`trace_core.integrations.otel`, `trace export-otel`)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import InputError

# -- public metadata --------------------------------------------------------------------------


def test_append_stores_user_meta_and_usage(repo):
    c = repo.user("hi", meta={"langfuse.trace_id": "abc", "run": "7"})
    assert c.meta == {"user": {"langfuse.trace_id": "abc", "run": "7"}}
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
             "model": "gpt-4o", "provider": "openai", "trace_id": "ls-1", "cost_usd": 0.5}
    c = repo.append_many([{"role": "assistant", "content": "yo"}], usage=usage)
    assert c.meta == {"usage": {"provider": "openai", "model": "gpt-4o", "prompt_tokens": 12,
                                "completion_tokens": 3, "cost_usd": 0.5, "trace_id": "ls-1"}}
    # the stored commit reads back the same (the meta is part of its bytes and id)
    assert repo.get_commit(c.id).meta == c.meta
    # Anthropic/Responses names map onto the same shape; what was not given is null
    c = repo.assistant("x", usage={"input_tokens": 4, "output_tokens": 5})
    assert c.meta["usage"] == {"provider": None, "model": None, "prompt_tokens": 4,
                               "completion_tokens": 5, "cost_usd": None}
    assert repo.user("plain").meta == {}


@pytest.mark.parametrize("meta, words", [
    ({"bad key": "v"}, "bad metadata key"),
    ({"": "v"}, "bad metadata key"),
    ({".x": "v"}, "bad metadata key"),
    ({"k" * 65: "v"}, "bad metadata key"),
    ({1: "v"}, "bad metadata key"),
    ({"k": 1}, "must be a string"),
    ({"k": "v" * 4097}, "4097 characters"),
    ({"k": "a\x00b"}, "NUL"),
    ({f"k{i}": "v" for i in range(65)}, "65 items"),
    (["k", "v"], "mapping"),
])
def test_bad_meta_is_refused_and_nothing_is_committed(repo, meta, words):
    repo.user("first")
    head = repo.head_commit()
    with pytest.raises(InputError, match=words):
        repo.user("second", meta=meta)
    assert repo.head_commit() == head


@pytest.mark.parametrize("usage, words", [
    ({}, "needs prompt_tokens"),
    ({"model": "m"}, "needs prompt_tokens"),
    ({"prompt_tokens": -1}, "non-negative integer"),
    ({"prompt_tokens": True}, "non-negative integer"),
    ({"prompt_tokens": 1.5}, "non-negative integer"),
    ({"prompt_tokens": 2 ** 60}, "non-negative integer"),
    ({"prompt_tokens": 1, "input_tokens": 2}, "twice"),
    ({"prompt_tokens": 1, "model": ""}, "usage model"),
    ({"prompt_tokens": 1, "trace_id": 5}, "usage trace_id"),
    ({"prompt_tokens": 1, "cost_usd": float("nan")}, "cost_usd"),
    ({"prompt_tokens": 1, "cost_usd": -1}, "cost_usd"),
    ({"prompt_tokens": 1, "surprise": 1}, "unknown usage key 'surprise'"),
    ("12", "mapping"),
])
def test_bad_usage_is_refused(repo, usage, words):
    with pytest.raises(InputError, match=words):
        repo.assistant("x", usage=usage)
    assert repo.head_commit() is None


def test_cli_commit_meta_and_usage(rdir):
    p = invoke(rdir, "commit", "--meta", "langsmith.run_id=r-1", "--meta", "note=a=b", "hello")
    assert p.returncode == 0, p.stderr
    p = invoke(rdir, "commit", "--role", "assistant", "--usage-json",
               '{"prompt_tokens": 9, "completion_tokens": 2, "model": "m", "trace_id": "t"}',
               "--meta", "k=v", "answer")
    assert p.returncode == 0, p.stderr
    from trace_core.repository import Repository
    with Repository.open(rdir) as r:
        tip = r.get_commit(r.head_commit())
        first = r.get_commit(tip.parents[0])
    assert first.meta == {"user": {"langsmith.run_id": "r-1", "note": "a=b"}}
    assert tip.meta == {"user": {"k": "v"},
                        "usage": {"provider": None, "model": "m", "prompt_tokens": 9,
                                  "completion_tokens": 2, "cost_usd": None, "trace_id": "t"}}
    shown = invoke(rdir, "show", "--", tip.id.hex())
    assert '"trace_id": "t"' in shown.stdout


@pytest.mark.parametrize("args, words", [
    (("--meta", "novalue", "x"), "not KEY=VALUE"),
    (("--meta", "bad key=1", "x"), "bad metadata key"),
    (("--meta", "k=1", "--meta", "k=2", "x"), "given twice"),
    (("--usage-json", "{", "x"), "--usage-json is not valid JSON"),
    (("--usage-json", '{"prompt_tokens": -3}', "x"), "non-negative integer"),
    (("--usage-json", '{"foo": 1}', "x"), "unknown usage key"),
    (("--type", "pin", "--target", "0", "--meta", "k=v"), "for appends"),
])
def test_cli_bad_meta_is_one_line_error(rdir, args, words):
    invoke(rdir, "commit", "first", check=True)
    p = invoke(rdir, "commit", *args)
    assert_one_line_error(p, words, code=p.returncode)
    assert p.returncode in (1, 2)
    log = invoke(rdir, "log", "--oneline").stdout
    assert len(log.splitlines()) == 1


# -- OpenTelemetry export ---------------------------------------------------------------------

otel_sdk = pytest.importorskip("opentelemetry.sdk.trace")


def _history(repo):
    """A root agent that spawns a and b; a spawns a/x and collapses it; both collapse back."""
    repo.system("be brief")
    repo.user("question", meta={"langfuse.trace_id": "lf-1"})
    repo.spawn(["a", "b"], task="look")
    a = repo.agent("a")
    a.assistant("found A", usage={"prompt_tokens": 10, "completion_tokens": 3,
                                  "model": "gpt-4o", "provider": "openai", "trace_id": "ls-9"})
    a.spawn("x", task="deeper")
    a.agent("x").assistant("deep")
    a.collapse("x")
    b = repo.agent("b")
    b.tool_call("search", {"q": 1}, call_id="c1")
    b.tool_result("c1", "res", name="search")
    b.assistant("found B")
    repo.collapse("a")
    repo.collapse("b")
    repo.assistant("done")
    return repo


def _export(repo, *args, **kw):
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from trace_core.integrations.otel import export_spans
    exporter = InMemorySpanExporter()
    spans = export_spans(repo, *args, exporter=exporter, **kw)
    assert list(exporter.get_finished_spans()) == spans
    return spans


def _commit_ids(view, tip):
    """Every commit reachable from `tip` in one agent."""
    out, stack = set(), [tip]
    while stack:
        c = stack.pop()
        if c not in out:
            out.add(c)
            stack.extend(view.get_commit(c).parents)
    return out


def test_span_tree_follows_the_agent_tree(repo):
    _history(repo)
    spans = _export(repo)
    by_id = {s.context.span_id: s for s in spans}
    assert len(by_id) == len(spans)
    assert len({s.context.trace_id for s in spans}) == 1          # one trace per agent tree

    def parent(s):
        return by_id[s.parent.span_id] if s.parent else None

    agents = {s.attributes["trace.agent"]: s for s in spans
              if s.attributes.get("gen_ai.operation.name") == "invoke_agent"}
    assert set(agents) == {"", "a", "b", "a/x"}
    assert parent(agents[""]) is None and [s for s in spans if s.parent is None] == [agents[""]]
    spawn = {s.attributes["trace.commit.id"]: s for s in spans
             if s.attributes.get("trace.op") == "spawn" and s.attributes["trace.commit.parents"]}
    # each child's invoke_agent span hangs below its parent's spawn commit span
    root_spawn = next(s for s in spawn.values() if s.attributes["gen_ai.agent.name"] == "root")
    a_spawn = next(s for s in spawn.values() if s.attributes["gen_ai.agent.name"] == "a")
    assert parent(agents["a"]) is root_spawn and parent(agents["b"]) is root_spawn
    assert parent(agents["a/x"]) is a_spawn and parent(root_spawn) is agents[""]
    assert root_spawn.attributes["trace.spawn.agents"] == ("a", "b")
    # every commit of each agent is one span, directly below its agent's span
    for path, view in (("", repo), ("a", repo.agent("a")), ("b", repo.agent("b")),
                       ("a/x", repo.agent("a").agent("x"))):
        mine = {s.attributes["trace.commit.id"] for s in spans if parent(s) is agents[path]
                and s.attributes.get("gen_ai.operation.name") != "invoke_agent"}
        assert mine == {c.hex() for c in _commit_ids(view, view.head_commit())}, path
    # a spawn commit's span lasts until its children's last commit
    assert root_spawn.end_time >= agents["a"].end_time >= agents["a/x"].end_time
    # collapse commits link to the child commit they carried
    collapses = [s for s in spans if s.attributes.get("trace.op") == "collapse"]
    assert len(collapses) == 3
    for s in collapses:
        (link,) = s.links
        tip = s.attributes["trace.collapse.tip"]
        assert link.attributes["trace.link"] == "collapse"
        assert by_id[link.context.span_id].attributes["trace.commit.id"] == tip
        assert link.context.trace_id == s.context.trace_id


def test_genai_attributes(repo):
    _history(repo)
    spans = _export(repo)
    by_commit = {s.attributes["trace.commit.id"]: s for s in spans
                 if s.attributes.get("gen_ai.operation.name") != "invoke_agent"}
    a = repo.agent("a")
    found = by_commit[a.head_commit().hex()]       # a's collapse of x; its parent is x's reply
    chat = by_commit[a.get_commit(a.get_commit(a.head_commit()).parents[0]).parents[0].hex()]
    assert found.attributes["trace.op"] == "collapse"
    attrs = chat.attributes
    assert chat.name == "chat gpt-4o" and chat.kind.name == "CLIENT"
    assert attrs["gen_ai.operation.name"] == "chat"
    assert attrs["gen_ai.usage.input_tokens"] == 10 and attrs["gen_ai.usage.output_tokens"] == 3
    assert attrs["gen_ai.request.model"] == "gpt-4o" and attrs["gen_ai.provider.name"] == "openai"
    assert attrs["trace.usage.trace_id"] == "ls-9"
    assert json.loads(attrs["gen_ai.output.messages"]) == [
        {"role": "assistant", "parts": [{"type": "text", "content": "found A"}],
         "finish_reason": "stop"}]
    assert attrs["gen_ai.agent.name"] == "a"
    a_root = repo.get_commit(a.head_commit())
    assert attrs["gen_ai.conversation.id"] != by_commit[repo.head_commit().hex()].attributes[
        "gen_ai.conversation.id"]                  # one conversation per agent
    assert a_root.op == "collapse"
    # the user message carried its public metadata; input messages are GenAI messages
    user = next(s for s in spans if s.attributes.get("trace.meta.langfuse.trace_id"))
    assert json.loads(user.attributes["gen_ai.input.messages"]) == [
        {"role": "user", "parts": [{"type": "text", "content": "question"}]}]
    # a tool call is a chat span ending in tool_call; its result an execute_tool span
    call = next(s for s in spans if "tool_call" in s.attributes.get("gen_ai.output.messages", ""))
    (msg,) = json.loads(call.attributes["gen_ai.output.messages"])
    assert msg["finish_reason"] == "tool_call"
    assert msg["parts"] == [{"type": "tool_call", "id": "c1", "name": "search",
                             "arguments": {"q": 1}}]
    tool = next(s for s in spans if s.attributes.get("gen_ai.operation.name") == "execute_tool")
    assert tool.name == "execute_tool search"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert json.loads(tool.attributes["gen_ai.input.messages"])[0]["parts"] == [
        {"type": "tool_call_response", "id": "c1", "response": "res"}]
    creates = [s for s in spans if s.attributes.get("gen_ai.operation.name") == "create_agent"]
    assert sorted(s.name for s in creates) == ["create_agent a", "create_agent a/x",
                                               "create_agent b"]


def test_ids_are_derived_from_commits_and_stable(repo):
    _history(repo)
    first = _export(repo)
    again = _export(repo)
    key = [(s.name, s.context.trace_id, s.context.span_id, s.parent and s.parent.span_id)
           for s in first]
    assert key == [(s.name, s.context.trace_id, s.context.span_id,
                    s.parent and s.parent.span_id) for s in again]
    from trace_core.integrations.otel import commit_span_id
    for s in first:
        if s.attributes.get("gen_ai.operation.name") != "invoke_agent":
            assert s.context.span_id == commit_span_id(bytes.fromhex(
                s.attributes["trace.commit.id"]))
    # a longer history keeps every span it had, with the same ids
    repo.user("more")
    later = {s.context.span_id: s for s in _export(repo)}
    assert len(later) == len(first) + 1
    for s in first:
        assert later[s.context.span_id].context.trace_id == s.context.trace_id


def test_content_modes(repo):
    repo.system("sys")
    repo.user("q")
    repo.assistant("a")
    none = _export(repo, content="none")
    assert not any(k.endswith(".messages") for s in none for k in s.attributes)
    full = _export(repo, content="full")
    chat = next(s for s in full if s.attributes.get("gen_ai.operation.name") == "chat")
    assert json.loads(chat.attributes["gen_ai.input.messages"]) == [
        {"role": "system", "parts": [{"type": "text", "content": "sys"}]},
        {"role": "user", "parts": [{"type": "text", "content": "q"}]}]
    carried = _export(repo)
    chat = next(s for s in carried if s.attributes.get("gen_ai.operation.name") == "chat")
    assert "gen_ai.input.messages" not in chat.attributes
    from trace_core.integrations.otel import export_spans
    with pytest.raises(InputError, match="content must be one of"):
        export_spans(repo, content="all")


def test_all_refs_and_merges(repo):
    repo.user("base")
    from trace_core.plumbing.refs import update_ref
    update_ref(repo, "refs/heads/side", repo.head_commit().hex())
    side = repo.worktree("side")
    side.assistant("on side")
    repo.user("on main")
    solo = repo.agent("solo", create=True)          # a namespace not made by spawn
    solo.user("alone")
    head_only = _export(repo)
    assert "user: on main" in {s.attributes.get("trace.commit.message") for s in head_only}
    assert "assistant: on side" not in {s.attributes.get("trace.commit.message")
                                        for s in head_only}
    every = _export(repo, all_refs=True)
    messages = {s.attributes.get("trace.commit.message") for s in every}
    assert {"assistant: on side", "user: on main", "user: alone"} <= messages
    assert len({s.context.trace_id for s in every}) == 2     # the solo namespace is its own tree
    repo.merge("side")
    merged = repo.get_commit(repo.head_commit())
    assert merged.op == "merge" and len(merged.parents) == 2
    spans = _export(repo)
    span = next(s for s in spans if s.attributes["trace.commit.id"] == repo.head_commit().hex()
                and s.attributes.get("trace.op") == "merge")
    (link,) = span.links
    assert link.attributes["trace.link"] == "merge"
    from trace_core.integrations.otel import commit_span_id
    assert link.context.span_id == commit_span_id(merged.parents[1])
    assert any(s.context.span_id == link.context.span_id for s in spans)
    from trace_core.integrations.otel import export_spans
    with pytest.raises(InputError, match="not both"):
        export_spans(repo, ["HEAD"], all_refs=True)


def test_exporter_failure_and_missing_sdk(repo, monkeypatch):
    from opentelemetry.sdk.trace.export import SpanExportResult

    from trace_core.errors import OperationError
    from trace_core.integrations.otel import export_spans
    repo.user("q")

    class Failing:
        def export(self, spans):
            return SpanExportResult.FAILURE
    with pytest.raises(OperationError, match="exporter failed after 0 of 2 spans"):
        export_spans(repo, exporter=Failing())
    monkeypatch.setitem(__import__("sys").modules, "opentelemetry.sdk.trace", None)
    with pytest.raises(OperationError, match=r"pip install 'trace-vcs\[otel\]'"):
        export_spans(repo)


# -- the command line -------------------------------------------------------------------------


def test_cli_prints_json_lines_without_an_endpoint(rdir):
    invoke(rdir, "commit", "--meta", "k=v", "hi", check=True)
    invoke(rdir, "commit", "--role", "assistant", "--usage-json",
           '{"prompt_tokens": 4, "completion_tokens": 1}', "yo", check=True)
    p = invoke(rdir, "export-otel", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "",
                                         "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""})
    assert p.returncode == 0, p.stderr
    spans = [json.loads(line) for line in p.stdout.splitlines()]
    assert [s["name"] for s in spans] == ["invoke_agent root", "append root", "chat"]
    assert spans[1]["attributes"]["trace.meta.k"] == "v"
    assert spans[2]["attributes"]["gen_ai.usage.input_tokens"] == 4
    assert spans[2]["parent_id"] == spans[0]["context"]["span_id"]
    q = invoke(rdir, "export", "--otel", env={"OTEL_EXPORTER_OTLP_ENDPOINT": "",
                                             "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": ""})
    assert q.returncode == 0, q.stderr
    assert [json.loads(line)["context"] for line in q.stdout.splitlines()] == \
        [s["context"] for s in spans]                         # the same spans, the same ids
    assert invoke(rdir, "export", "--otel", "--messages").returncode == 2
    assert invoke(rdir, "export", "--endpoint", "http://x").returncode == 2


@pytest.mark.parametrize("args, env, words", [
    (("--endpoint", "ftp://host"), {}, "--endpoint 'ftp://host' is not an http"),
    ((), {"OTEL_EXPORTER_OTLP_ENDPOINT": "nope"}, "OTEL_EXPORTER_OTLP_ENDPOINT 'nope'"),
    (("--all", "HEAD"), {}, "not both"),
    (("nosuchrev",), {}, "nosuchrev"),
])
def test_cli_errors_are_one_line(rdir, args, env, words):
    invoke(rdir, "commit", "hi", check=True)
    p = invoke(rdir, "export-otel", *args, env=env)
    assert_one_line_error(p, words, code=p.returncode)


class _Receiver:
    """A local OTLP/HTTP receiver: records each request body, answers with `status`."""

    def __init__(self, status):
        import threading
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
        bodies = self.bodies = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                bodies.append((self.path, self.rfile.read(int(self.headers["Content-Length"]))))
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *a):
                pass
        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_cli_sends_otlp_to_the_endpoint(rdir):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
        ExportTraceServiceRequest,
    )
    invoke(rdir, "commit", "hi", check=True)
    invoke(rdir, "commit", "--role", "assistant", "yo", check=True)
    rx = _Receiver(200)
    try:
        p = invoke(rdir, "export-otel", "--endpoint", rx.url)
        env_p = invoke(rdir, "export-otel", env={"OTEL_EXPORTER_OTLP_ENDPOINT": rx.url + "/"})
    finally:
        rx.close()
    assert p.returncode == 0, p.stderr
    assert p.stdout == f"exported 3 spans in 1 trace to {rx.url}/v1/traces\n"
    assert env_p.returncode == 0, env_p.stderr
    assert [path for path, _ in rx.bodies] == ["/v1/traces", "/v1/traces"]
    req = ExportTraceServiceRequest.FromString(rx.bodies[0][1])
    (rs,) = req.resource_spans
    assert {a.key: a.value.string_value for a in rs.resource.attributes}["service.name"] == \
        "trace"
    names = [s.name for ss in rs.scope_spans for s in ss.spans]
    assert names == ["invoke_agent root", "append root", "chat"]
    from trace_core.repository import Repository
    with Repository.open(rdir) as r:
        head = r.head_commit().hex()
    chat = rs.scope_spans[0].spans[2]
    assert {a.key: a.value.string_value for a in chat.attributes}["trace.commit.id"] == head


def test_cli_reports_a_refused_export(rdir):
    pytest.importorskip("opentelemetry.exporter.otlp.proto.http")
    invoke(rdir, "commit", "hi", check=True)
    rx = _Receiver(400)
    try:
        p = invoke(rdir, "export-otel", "--endpoint", rx.url + "/v1/traces")
    finally:
        rx.close()
    assert_one_line_error(p, "the span exporter failed after 0 of 2 spans")
    assert rx.bodies and rx.bodies[0][0] == "/v1/traces"


def test_running_child_head_and_inference_usage(repo):
    from trace_core.integrations.otel import commit_span_id
    from trace_core.plumbing.commit import Change, commit_change
    repo.user("q")
    repo.spawn("c", task="t")
    child = repo.agent("c")
    child.assistant("first")
    repo.collapse("c")
    later = child.assistant("after the collapse")       # not carried by any collapse yet
    spans = {s.context.span_id: s for s in _export(repo)}
    assert commit_span_id(later.id) in spans
    # the inference meta of an operation that called a model (compress, merge, spawn) is usage
    inference = {"provider": "anthropic", "model": "claude-x", "prompt_tokens": 100,
                 "completion_tokens": 20, "cost_usd": None}
    c = commit_change(repo, lambda parent, snap: Change(snap, [], "compress",
                                                         meta={"inference": inference}))
    span = {s.context.span_id: s for s in _export(repo)}[commit_span_id(c.id)]
    assert span.attributes["gen_ai.usage.input_tokens"] == 100
    assert span.attributes["gen_ai.provider.name"] == "anthropic"
    assert span.attributes["gen_ai.request.model"] == "claude-x"
    assert "trace.usage.cost_usd" not in span.attributes


def test_usage_notes_are_exported_per_namespace(repo):
    from trace_core.integrations.otel import commit_span_id
    repo.user("q")
    answer = repo.assistant("a")
    repo.spawn("c", task="t")
    child = repo.agent("c")
    reply = child.assistant("child reply", usage={"input_tokens": 1, "output_tokens": 1})
    repo.record_usage({"input_tokens": 70, "output_tokens": 5, "model": "m-root"}, answer.id.hex())
    child.record_usage({"input_tokens": 80, "output_tokens": 6}, reply.id.hex())
    spans = {s.context.span_id: s for s in _export(repo)}
    root_span = spans[commit_span_id(answer.id)]
    assert root_span.attributes["gen_ai.usage.input_tokens"] == 70
    assert root_span.name == "chat m-root"
    assert spans[commit_span_id(reply.id)].attributes["gen_ai.usage.input_tokens"] == 80


def test_a_pruned_sub_agent_still_exports(repo):
    from trace_core.gc import gc
    repo.user("q")
    repo.spawn("worker", task="t")
    repo.agent("worker").assistant("done")
    repo.collapse("worker")
    repo.set_config("retention.worker.collapsed-expire", "now")
    gc(repo, prune_expire_s=0)
    assert "worker" not in repo.agents()
    assert any(s.name.startswith("collapse") for s in _export(repo, all_refs=True))
