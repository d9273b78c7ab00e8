"""The LangGraph checkpoint saver: langgraph-checkpoint's conformance suite, and real compiled
graphs (plain-function nodes, no LLM) run on TraceSaver and on InMemorySaver side by side."""

from __future__ import annotations

import asyncio
import multiprocessing
import uuid

import pytest

pytest.importorskip("langgraph.checkpoint.base")
conformance = pytest.importorskip("langgraph.checkpoint.conformance")

from conftest import doc_blocks, invoke, python_block  # noqa: E402
from langchain_core.messages import (  # noqa: E402
    AIMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
)
from langgraph.checkpoint.memory import InMemorySaver  # noqa: E402
from langgraph.graph import END, START, MessagesState, StateGraph  # noqa: E402

from trace_core.integrations.langgraph import (  # noqa: E402
    TraceSaver,
    agent_name,
    from_chat,
    to_chat,
)
from trace_core.repository import Repository  # noqa: E402


# -- the graph every test runs: agent -> tool, each appending one message ---------------------
def agent(state: MessagesState) -> dict:
    last = state["messages"][-1]
    n = len(state["messages"])
    return {"messages": [AIMessage(f"echo: {last.content}", id=f"ai-{last.id}",
                                   tool_calls=[{"name": "lookup", "args": {"q": last.content},
                                                "id": f"call-{n}"}])]}


def tool(state: MessagesState) -> dict:
    call = state["messages"][-1].tool_calls[0]
    return {"messages": [ToolMessage(f"found {call['args']['q']}", tool_call_id=call["id"],
                                     id=f"tool-{call['id']}")]}


def build() -> StateGraph:
    b = StateGraph(MessagesState)
    b.add_node("agent", agent)
    b.add_node("tool", tool)
    b.add_edge(START, "agent")
    b.add_edge("agent", "tool")
    b.add_edge("tool", END)
    return b


CFG = {"configurable": {"thread_id": "t1"}}


def session(saver):
    """invoke twice, replay from the second invoke's input checkpoint, fork the first run's
    step-0 checkpoint with update_state and run the fork: (graph, results, fork config)."""
    g = build().compile(checkpointer=saver)
    out = [g.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG),
           g.invoke({"messages": [HumanMessage("again", id="h2")]}, CFG)]
    hist = list(g.get_state_history(CFG))
    replay_from = next(h for h in hist if h.metadata["source"] == "input"
                       and h.metadata["step"] == 3)
    out.append(g.invoke(None, replay_from.config))
    base = next(h for h in reversed(list(g.get_state_history(CFG)))
                if h.next == ("agent",) and h.metadata["step"] == 0)
    fork = g.update_state(base.config, {"messages": [HumanMessage("forked", id="f1")]})
    out.append(g.invoke(None, fork))
    return g, out, fork


def same_history(g1, g2) -> None:
    h1, h2 = list(g1.get_state_history(CFG)), list(g2.get_state_history(CFG))
    assert len(h1) == len(h2)
    for a, b in zip(h1, h2, strict=True):
        assert a.values == b.values
        assert a.next == b.next
        assert (a.metadata["source"], a.metadata["step"]) == (b.metadata["source"],
                                                              b.metadata["step"])


@pytest.fixture
def saved(repo):
    saver = TraceSaver(repo)
    g, out, fork = session(saver)
    mem_g, mem_out, _ = session(InMemorySaver())
    return repo, saver, g, out, fork, mem_g, mem_out


# -- the contract tests langgraph-checkpoint ships ---------------------------------------------
def test_conformance_suite(repo):
    from langgraph.checkpoint.conformance.report import CapabilityReport

    @conformance.checkpointer_test(name="TraceSaver")
    async def factory():
        yield TraceSaver(repo)

    report: CapabilityReport = asyncio.run(conformance.validate(factory))
    results = report.results
    failures = [f for r in results.values() for f in r.failures]
    assert not failures, failures
    assert report.passed_all_base()
    for cap in ("put", "put_writes", "get_tuple", "list", "delete_thread", "copy_thread",
                "prune"):
        assert results[cap].passed is True and results[cap].tests_passed >= 5, cap
    assert results["delete_for_runs"].detected is False   # not implemented: reported so
    assert report.conformance_level() == "FULL"


# -- real graphs ---------------------------------------------------------------------------------
def test_invoke_twice_matches_in_memory_and_is_one_branch(repo):
    g = build().compile(checkpointer=TraceSaver(repo))
    mem = build().compile(checkpointer=InMemorySaver())
    for graph in (g, mem):
        graph.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG)
        r = graph.invoke({"messages": [HumanMessage("again", id="h2")]}, CFG)
    assert [m.content for m in r["messages"]] == ["hi", "echo: hi", "found hi", "again",
                                                  "echo: again", "found again"]
    same_history(g, mem)
    assert g.get_state(CFG).values == mem.get_state(CFG).values

    t1 = repo.agent("langgraph/t1")
    assert [b["name"] for b in t1.branches()] == ["main"]
    commits = []
    cid = t1.head_commit()
    while cid:
        c = t1.get_commit(cid)
        commits.append(c)
        cid = c.parents[0] if c.parents else None
    assert len(commits) == 8 == len(list(g.get_state_history(CFG)))
    # each checkpoint's commit carries only the messages it added; the context is the channel
    assert [c.op for c in reversed(commits)] == ["checkpoint", "append", "append", "append",
                                                 "checkpoint", "append", "append", "append"]
    assert sum(len(c.blobs) for c in commits) == 6
    msgs = t1.messages()
    assert [(m["role"], m["content"]) for m in msgs] == [
        ("user", "hi"), ("assistant", "echo: hi"), ("tool", "found hi"),
        ("user", "again"), ("assistant", "echo: again"), ("tool", "found again")]
    assert msgs[1]["tool_calls"][0]["function"] == {"name": "lookup",
                                                     "arguments": '{"q": "hi"}'}
    assert msgs[2]["tool_call_id"] == "call-1"
    assert [from_chat(m) for m in msgs] == r["messages"]


def test_messages_are_stored_once(repo):
    """Every checkpoint holds the whole list in LangGraph's state; Trace stores each message
    once: the snapshots of all 8 checkpoints name only 6 distinct message blobs."""
    from trace_core import chunked
    g = build().compile(checkpointer=TraceSaver(repo))
    g.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG)
    g.invoke({"messages": [HumanMessage("again", id="h2")]}, CFG)
    t1 = repo.agent("langgraph/t1")
    blobs, total = set(), 0
    for snap in g.get_state_history(CFG):
        tup = TraceSaver(repo).get_tuple(snap.config)
        assert tup.checkpoint["channel_values"].get("messages", []) == snap.values.get(
            "messages", [])
    cid = t1.head_commit()
    while cid:
        c = t1.get_commit(cid)
        entries = chunked.entries(t1.get_snapshot(c.snapshot), t1.get_node)
        total += len(entries)
        blobs.update(e.blob for e in entries)
        cid = c.parents[0] if c.parents else None
    assert total == 1 + 2 + 3 + 3 + 4 + 5 + 6 and len(blobs) == 6


def test_time_travel_and_fork_become_branches(saved):
    repo, saver, g, out, fork, mem_g, mem_out = saved
    assert [r["messages"] for r in out] == [r["messages"] for r in mem_out]
    assert [m.content for m in out[2]["messages"]] == ["hi", "echo: hi", "found hi", "again",
                                                       "echo: again", "found again"]
    assert [m.content for m in out[3]["messages"]] == ["hi", "forked", "echo: forked",
                                                       "found forked"]
    same_history(g, mem_g)

    t1 = repo.agent("langgraph/t1")
    tips = {b["name"]: b for b in t1.branches()}
    assert set(tips) == {"main", "fork-1", "fork-2"}
    assert t1.head_branch() == "refs/heads/fork-2"       # HEAD follows the newest checkpoint
    assert t1.messages() == [to_chat(m) for m in out[3]["messages"]]
    # the replay (fork-1) starts at the commit of the checkpoint it replayed from
    replay_from = next(h for h in g.get_state_history(CFG)
                       if h.metadata["source"] == "input" and h.metadata["step"] == 3)
    cp_commit = {t1.get_commit(c).meta["langgraph"]["checkpoint"]: c for c in _all_commits(t1)}
    from trace_core.plumbing.walks import merge_base
    assert merge_base(t1, "main", "fork-1") == [cp_commit[replay_from.config["configurable"][
        "checkpoint_id"]].hex()]
    # the fork (fork-2) starts with the update_state commit, whose parent is step 0 of main
    fork_id = fork["configurable"]["checkpoint_id"]
    c = t1.get_commit(cp_commit[fork_id])
    assert c.op == "append" and c.message.startswith("update step 1: user: forked")
    parent = _meta(t1, c.parents[0])
    assert (parent["source"], parent["step"]) == ("loop", 0)
    assert merge_base(t1, "main", "fork-2") == [c.parents[0].hex()]
    assert len(repo.agent("langgraph").agents()) == 1


def _all_commits(r):
    from trace_core.plumbing.walks import rev_list_ids
    return set(rev_list_ids(r, [name for name, _ in r.refs.list("refs/heads/")]))


def _meta(r, cid):
    """The LangGraph metadata a checkpoint's commit names (a serde blob)."""
    stored = r.get_blob(r.get_commit(cid).meta["langgraph"]["metadata"]).message
    return TraceSaver(r).serde.loads_typed((stored["serde"], stored["data"]))


def test_trace_commands_read_the_thread(saved, tmp_path):
    repo = saved[0]
    rdir = repo.trace_dir
    p = invoke(rdir, "--agent", "langgraph/t1", "log", "--oneline", check=True)
    lines = p.stdout.splitlines()
    assert lines[0].endswith("loop step 3: tool: found forked")
    assert any("update step 1: user: forked" in ln for ln in lines)
    p = invoke(rdir, "--agent", "langgraph/t1", "graph", "main", "fork-1", "fork-2", check=True)
    assert "fork-1" in p.stdout and "fork-2" in p.stdout and "main" in p.stdout
    p = invoke(rdir, "--agent", "langgraph/t1", "context", "--format", "text", check=True)
    assert "forked" in p.stdout and "found forked" in p.stdout
    p = invoke(rdir, "--agent", "langgraph/t1", "diff", "main", "fork-2", check=True)
    assert "again" in p.stdout and "forked" in p.stdout
    assert invoke(rdir, "fsck", check=True).returncode == 0


def test_state_survives_a_new_process_view(saved):
    """A saver on a repository opened afresh (another process's view) sees every checkpoint,
    the pending writes and the branches."""
    repo, saver, g, *_ = saved
    again = Repository.open(repo.trace_dir)
    g2 = build().compile(checkpointer=TraceSaver(again))
    assert g2.get_state(CFG).values == g.get_state(CFG).values
    assert [s.config for s in g2.get_state_history(CFG)] == \
        [s.config for s in g.get_state_history(CFG)]
    cfg = saver.put(CFG | {"configurable": {"thread_id": "w", "checkpoint_ns": ""}},
                    _checkpoint(), {"source": "loop", "step": 0}, {})
    saver.put_writes(cfg, [("ch", {"v": 1}), ("other", b"\x00bytes")], "task-1", "a:b")
    tup = TraceSaver(Repository.open(repo.trace_dir)).get_tuple(cfg)
    assert tup.pending_writes == [("task-1", "ch", {"v": 1}), ("task-1", "other", b"\x00bytes")]
    again.close()


def _checkpoint(**values):
    from langgraph.checkpoint.base import empty_checkpoint
    cp = empty_checkpoint()
    cp["channel_values"] = values
    cp["channel_versions"] = {k: 1 for k in values}
    return cp


def test_async_graph(repo):
    saver = TraceSaver(repo)
    g = build().compile(checkpointer=saver)
    cfg = {"configurable": {"thread_id": "async-1"}}
    r = asyncio.run(g.ainvoke({"messages": [HumanMessage("hi", id="h1")]}, cfg))
    assert [m.content for m in r["messages"]] == ["hi", "echo: hi", "found hi"]
    state = asyncio.run(g.aget_state(cfg))
    assert state.values == r
    assert repo.agent("langgraph/async-1").messages() == [to_chat(m) for m in r["messages"]]


def test_messages_round_trip_exactly():
    msgs = [
        SystemMessage("be brief", id="s"),
        HumanMessage([{"type": "text", "text": "look"},
                      {"type": "image_url", "image_url": {"url": "https://x/y.png"}}], id="h",
                     name="ann"),
        AIMessage("", id="a", tool_calls=[{"name": "f", "args": {"x": [1, 2]}, "id": "c1"}],
                  usage_metadata={"input_tokens": 3, "output_tokens": 4, "total_tokens": 7},
                  response_metadata={"model_name": "m"}),
        ToolMessage("boom", tool_call_id="c1", status="error", id="t", artifact={"raw": 1}),
        AIMessage([{"type": "reasoning", "reasoning": "hmm"}, {"type": "text", "text": "ok"}],
                  id="r"),
        HumanMessage(["plain ", "strings"], id="p"),
    ]
    for m in msgs:
        chat = to_chat(m)
        assert chat is not None, m
        assert from_chat(chat) == m and type(from_chat(chat)) is type(m)
        assert "type" not in chat   # (a "type" key would make it a Responses item)
    assert to_chat(msgs[1])["role"] == "user" and to_chat(msgs[1])["name"] == "ann"
    assert to_chat(msgs[2])["tool_calls"] == [
        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": '{"x": [1, 2]}'}}]
    assert to_chat(msgs[4])["content"] == msgs[4].content   # (typed parts: chat keeps them)
    chat = to_chat(msgs[5])   # parts the chat shape refuses: its text, the parts kept aside
    assert chat["content"] == "plain strings"
    assert chat["langchain"]["content"] == ["plain ", "strings"]
    assert to_chat({"role": "user"}) is None


def test_a_channel_that_is_not_messages_is_kept_exactly(repo):
    """A `messages` channel holding something other than LangChain messages is stored through
    serde (the context stays empty); every other channel always is."""
    saver = TraceSaver(repo)
    values = {"messages": [{"not": "a message"}], "docs": {"a": (1, 2), "b": b"\xff"}, "n": 3}
    got = []
    cp = _checkpoint(**values)
    for s in (saver, InMemorySaver()):
        cfg = s.put({"configurable": {"thread_id": "x", "checkpoint_ns": ""}}, cp,
                    {"source": "input", "step": -1}, cp["channel_versions"])
        got.append(s.get_tuple(cfg))
    tup = got[0]
    assert tup.checkpoint == got[1].checkpoint and tup.metadata == got[1].metadata
    assert tup.checkpoint["channel_values"]["messages"] == values["messages"]
    assert tup.checkpoint["channel_versions"] == cp["channel_versions"]
    assert repo.agent("langgraph/x").messages() == []


def test_thread_ids_that_are_no_agent_names(repo):
    saver = TraceSaver(repo)
    odd = "user 42/session:ü"
    assert agent_name("t1") == "t1" and agent_name(odd).startswith("lg.")
    assert agent_name("lg.x") != "lg.x" and agent_name("a..b").startswith("lg.")
    g = build().compile(checkpointer=saver)
    g.invoke({"messages": [HumanMessage("hi", id="h1")]}, {"configurable": {"thread_id": odd}})
    g.invoke({"messages": [HumanMessage("yo", id="h2")]}, {"configurable": {"thread_id": "t2"}})
    threads = {t.config["configurable"]["thread_id"] for t in saver.list(None)}
    assert threads == {odd, "t2"}
    assert repo.agent(f"langgraph/{agent_name(odd)}").messages()[0]["content"] == "hi"
    saver.delete_thread(odd)
    assert saver.get_tuple({"configurable": {"thread_id": odd}}) is None
    assert repo.agent("langgraph").agents() == ["t2"]


def test_subgraph_namespaces(repo):
    saver = TraceSaver(repo)
    sub = build().compile(checkpointer=True)
    outer = StateGraph(MessagesState)
    outer.add_node("inner", sub)
    outer.add_edge(START, "inner")
    outer.add_edge("inner", END)
    g = outer.compile(checkpointer=saver)
    g.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG)
    mem = outer.compile(checkpointer=InMemorySaver())
    mem.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG)
    same_history(g, mem)
    t1 = repo.agent("langgraph/t1")
    assert len(t1.agents()) == 1   # the subgraph's checkpoint_ns, a namespace below the thread
    nss = {t.config["configurable"]["checkpoint_ns"] for t in
           saver.list({"configurable": {"thread_id": "t1"}})}
    assert nss == {"", "inner"}


def _writer(path: str, n: int, q) -> None:
    saver = TraceSaver(Repository.open(path))
    made = []
    parent = None
    for i in range(n):
        cfg = {"configurable": {"thread_id": "shared", "checkpoint_ns": ""}}
        if parent:
            cfg["configurable"]["checkpoint_id"] = parent
        cp = _checkpoint(messages=[HumanMessage(f"m{i}", id=str(uuid.uuid4()))])
        parent = saver.put(cfg, cp, {"source": "loop", "step": i}, cp["channel_versions"])[
            "configurable"]["checkpoint_id"]
        saver.put_writes({"configurable": {**cfg["configurable"], "checkpoint_id": parent}},
                         [("ch", i)], "t")
        made.append(parent)
    q.put(made)


def test_several_processes_lose_nothing(repo):
    ctx = multiprocessing.get_context("fork")
    q = ctx.Queue()
    procs = [ctx.Process(target=_writer, args=(repo.trace_dir, 12, q)) for _ in range(2)]
    for p in procs:
        p.start()
    made = [cp for _ in procs for cp in q.get(timeout=60)]
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    saver = TraceSaver(Repository.open(repo.trace_dir))
    listed = {t.checkpoint["id"]: t for t in saver.list({"configurable": {"thread_id":
                                                                           "shared"}})}
    assert set(listed) == set(made) and len(made) == 24
    assert all(len(t.pending_writes) == 1 for t in listed.values())
    heads = repo.agent("langgraph/shared").branches()
    assert 1 <= len(heads) <= 24


def test_copy_thread_shares_every_object(saved):
    repo, saver, g, *_ = saved
    saver.copy_thread("t1", "t1-copy")
    cfg = {"configurable": {"thread_id": "t1-copy"}}
    assert g.get_state(cfg).values == g.get_state(CFG).values
    assert [(s.values, s.next, s.metadata) for s in g.get_state_history(cfg)] == \
        [(s.values, s.next, s.metadata) for s in g.get_state_history(CFG)]
    src, dst = repo.agent("langgraph/t1"), repo.agent("langgraph/t1-copy")
    assert [b["name"] for b in dst.branches()] == [b["name"] for b in src.branches()]
    assert dst.head_branch() == src.head_branch()
    for name in ("main", "fork-1", "fork-2"):   # the same contexts: the same snapshots
        assert dst.get_commit(dst.resolve(name)).snapshot == \
            src.get_commit(src.resolve(name)).snapshot
    r = g.invoke({"messages": [HumanMessage("more", id="h9")]}, cfg)
    assert r["messages"][-1].content == "found more"
    assert g.get_state(CFG).values["messages"][-1].content == "found forked"
    with pytest.raises(Exception, match="exists already"):
        saver.copy_thread("t1", "t1-copy")


def test_prune_keep_latest(saved):
    repo, saver, g, *_ = saved
    values = g.get_state(CFG).values
    saver.prune(["t1"])
    t1 = repo.agent("langgraph/t1")
    assert [b["name"] for b in t1.branches()] == ["main"]
    head = t1.get_commit(t1.head_commit())
    assert not head.parents and head.op == "checkpoint"
    assert t1.messages() == [to_chat(m) for m in values["messages"]]
    fresh = build().compile(checkpointer=TraceSaver(Repository.open(repo.trace_dir)))
    assert fresh.get_state(CFG).values == values
    assert len(list(fresh.get_state_history(CFG))) == 1
    r = fresh.invoke({"messages": [HumanMessage("after", id="h5")]}, CFG)
    assert [m.content for m in r["messages"][-3:]] == ["after", "echo: after", "found after"]
    # gc drops the pruned history and keeps what the meta of the kept commits names
    invoke(repo.trace_dir, "gc", "--prune", "now", check=True)
    assert invoke(repo.trace_dir, "fsck", check=True).returncode == 0
    again = build().compile(checkpointer=TraceSaver(Repository.open(repo.trace_dir)))
    assert again.get_state(CFG).values == r
    assert len(list(again.get_state_history(CFG))) == 5


def test_the_documented_example_runs(tmp_path, monkeypatch):
    blocks = doc_blocks("LangGraph")
    code = python_block("LangGraph")
    shell = next(text for lang, text in blocks if lang == "sh")
    Repository.init(str(tmp_path), encoding="chars/4").close()
    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(compile(code, "docs/integrations.md", "exec"), scope)
    scope["repo"].close()
    outputs = []
    for line in shell.splitlines():
        args = line.split("#")[0].split()
        assert args[0] == "trace"
        outputs.append(invoke(str(tmp_path), *args[1:], check=True).stdout)
    log, graph, context, diff = outputs
    assert log.splitlines()[0].endswith("loop step 2: assistant: you said no, this")
    assert "fork-1" in graph and "main" in graph
    assert "no, this" in context and "and again" not in context
    assert "and again" in diff and "no, this" in diff


def test_errors_are_one_line(repo):
    from trace_core.errors import InputError, InvalidRefName, OperationError
    saver = TraceSaver(repo, namespace="bad/../x")
    with pytest.raises(InvalidRefName, match="invalid agent name"):
        saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, _checkpoint(),
                  {}, {})
    saver = TraceSaver(repo)
    with pytest.raises(InputError, match="unknown prune strategy"):
        saver.prune(["t"], strategy="oldest")
    saver.put({"configurable": {"thread_id": "t", "checkpoint_ns": ""}}, _checkpoint(), {}, {})
    with pytest.raises(OperationError, match="exists already"):
        saver.copy_thread("t", "t")


def test_a_reader_sees_another_writers_prune_and_delete(repo):
    """A saver that read a thread before another saver pruned or deleted it reads it again."""
    a, b = TraceSaver(repo), TraceSaver(Repository.open(repo.trace_dir))
    g = build().compile(checkpointer=a)
    g.invoke({"messages": [HumanMessage("hi", id="h1")]}, CFG)
    assert len(list(b.list(CFG))) == 4
    a.prune(["t1"])
    assert [t.checkpoint["id"] for t in b.list(CFG)] == [a.get_tuple(CFG).checkpoint["id"]]
    a.delete_thread("t1")
    assert b.get_tuple(CFG) is None and list(b.list(CFG)) == []
    g.invoke({"messages": [HumanMessage("anew", id="h2")]}, CFG)
    assert [m.content for m in b.get_tuple(CFG).checkpoint["channel_values"]["messages"]] == [
        "anew", "echo: anew", "found anew"]


def test_messages_changed_in_place_are_stored_again(repo):
    """The saver remembers each message object's blob, but only while the object is unchanged;
    messages it returns are copies, so changing one changes nothing stored."""
    from trace_core.plumbing.commit import count_entries
    saver = TraceSaver(repo)
    msgs = [HumanMessage("one", id="1"), AIMessage("two", id="2")]
    cfg = {"configurable": {"thread_id": "m", "checkpoint_ns": ""}}
    cp = _checkpoint(messages=msgs)
    cfg = saver.put(cfg, cp, {"source": "loop", "step": 0}, cp["channel_versions"])
    msgs[1].content = "changed"
    cp = _checkpoint(messages=msgs)
    cp["channel_versions"] = {"messages": 2}
    cfg = saver.put(cfg, cp, {"source": "loop", "step": 1}, cp["channel_versions"])
    m = repo.agent("langgraph/m")
    assert [x["content"] for x in m.messages()] == ["one", "changed"]
    head = m.get_commit(m.head_commit())
    assert head.op == "checkpoint" and head.total_tokens == count_entries(
        m, m.entries_at(m.head_commit()))
    got = saver.get_tuple(cfg).checkpoint["channel_values"]["messages"]
    got[0].content = "mutated by the caller"
    again = saver.get_tuple(cfg).checkpoint["channel_values"]["messages"]
    assert [x.content for x in again] == ["one", "changed"]


def test_malformed_meta_is_a_one_line_error(repo):
    """A commit in a thread's namespace whose langgraph meta does not follow FORMAT.md §6.4.5
    (written by hand with the plumbing) is reported, naming the commit; nothing is changed."""
    from trace_core.errors import RepositoryError
    saver = TraceSaver(repo)
    cfg = saver.put({"configurable": {"thread_id": "bad", "checkpoint_ns": ""}}, _checkpoint(),
                    {}, {})
    t = repo.agent("langgraph/bad")
    tip = t.head_commit().hex()
    snap = invoke(repo.trace_dir, "--agent", "langgraph/bad", "write-snapshot", "--stdin",
                  input="", check=True).stdout.strip()
    bad = invoke(repo.trace_dir, "--agent", "langgraph/bad", "commit-tree", snap, "-p", tip,
                 "--meta", '{"langgraph": {"checkpoint": "x", "channels": 5}}',
                 check=True).stdout.strip()
    invoke(repo.trace_dir, "--agent", "langgraph/bad", "update-ref", "refs/heads/main", bad,
           check=True)
    with pytest.raises(RepositoryError, match=f"commit {bad}: its langgraph meta is malformed"):
        TraceSaver(repo).get_tuple(cfg)
    assert t.head_commit().hex() == bad
