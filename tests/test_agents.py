"""Sub-agents: spawn, collapse, abandon, the agent tree (docs/multiagent.md), in process."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, chat, invoke

from trace_core import Repository
from trace_core.errors import (
    AgentNotFound,
    InputError,
    InvalidRefName,
    OperationError,
    RevisionError,
)
from trace_core.toolpairs import analyze


def _tree(repo):
    return {i.path: i for i in repo.agent_tree()}


def _refs_snapshot(trace_dir):
    """Every file below .trace but objects and the index: what a refused operation must keep."""
    out = {}
    for base, dirs, files in os.walk(trace_dir):
        dirs[:] = [d for d in dirs if d != "objects"]
        for f in files:
            if f.startswith("index.sqlite"):
                continue
            p = os.path.join(base, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, trace_dir)] = fh.read()
    return out


@pytest.fixture
def lead(repo):
    repo.system("You lead a small research team.")
    repo.user("Which JSON parser is fastest for 1 GB files, and why?")
    repo.assistant("I will ask two researchers.")
    return repo


# -- spawn -----------------------------------------------------------------------------------
def test_spawn_full_context_links_parent_and_children(lead):
    before = lead.head_commit()
    before_snap = lead.get_commit(before).snapshot
    res = lead.spawn(["orjson", "simd"], task=["Measure orjson", "Measure simdjson"])
    s = res.commit
    assert s.op == "spawn" and s.parents == (before,) and s.snapshot == before_snap
    assert s.tokens == 0 and s.total_tokens == lead.get_commit(before).total_tokens
    assert [k["agent"] for k in s.meta["children"]] == ["orjson", "simd"]
    assert [k["root"] for k in s.meta["children"]] == [r.id for r in res.roots]
    assert s.meta["from"] == before and s.meta["context"] == "full"
    a, b = res.agents
    for child, root, task in ((a, res.roots[0], "Measure orjson"),
                              (b, res.roots[1], "Measure simdjson")):
        assert child.head_commit() == root.id and root.parents == () and root.op == "spawn"
        assert root.meta["from"] == before and root.meta["agent"] == child.agent_name
        assert child.refs.read("SPAWNED") == root.hex
        msgs = child.messages()
        assert msgs[:3] == lead.messages() and msgs[3] == {"role": "user", "content": task}
        entries = child.entries_at(root.id)
        assert entries[3].pinned and not entries[0].pinned    # the task survives compression
        assert root.targets == (3,) and root.meta["task"] == 3
    # the parent's context is unchanged; its log shows the spawn
    assert lead.messages()[-1]["content"] == "I will ask two researchers."
    assert lead.agents() == ["orjson", "simd"]


def test_spawn_contexts_none_slice_and_summary(lead):
    none = lead.spawn("blank", context="none", task="Start from scratch").agent
    assert none.messages() == [{"role": "user", "content": "Start from scratch"}]
    assert lead.get_commit(none.head_commit()).meta["context"] == "none"
    sl = lead.spawn("slice", context="entries 1:3").agent
    assert sl.messages() == lead.messages()[1:3]
    assert lead.get_commit(sl.head_commit()).meta["entries"] == [1, 3]
    for spelling in ("entries:-1:", "0:1"):
        c = lead.spawn(f"s{len(spelling)}", context=spelling).agent
        assert len(c.messages()) == 1
    sm = lead.spawn("brief", context="summary", task="Go").agent
    msgs = sm.messages()
    assert len(msgs) == 2 and msgs[0]["role"] == "user"
    assert msgs[0]["content"].startswith("[Context from the parent agent, summarized")
    assert "JSON parser" in msgs[0]["content"]
    root = lead.get_commit(sm.head_commit())
    assert root.meta["summary"] == "extractive" and root.meta["summarized"] == 3
    assert root.targets == (0, 1) and len(root.blobs) == 2


def test_spawn_from_an_older_commit(lead):
    old = lead.resolve("HEAD~1")
    child = lead.spawn("early", rev="HEAD~1").agent
    assert len(child.messages()) == 2
    assert lead.get_commit(child.head_commit()).meta["from"] == old


def test_spawn_with_an_llm_summary_records_its_cost(lead, llm_server):
    from trace_core.llm import OpenAICompatProvider
    llm_server.default = chat("Goal: fastest JSON parser for 1 GB files.", p=80, c=9)
    prov = OpenAICompatProvider(llm_server.url + "/v1", "gpt-test", None, max_retries=0)
    child = lead.spawn("llm", context="summary", summary="llm", provider=prov).agent
    assert child.messages()[0]["content"].endswith("Goal: fastest JSON parser for 1 GB files.")
    inf = lead.get_commit(child.head_commit()).meta["inference"]
    assert inf["prompt_tokens"] == 80 and inf["completion_tokens"] == 9
    assert "fastest for 1 GB" in llm_server.requests[0]["body"]["messages"][-1]["content"]


@pytest.mark.parametrize("kw, error, text", [
    ({"names": []}, InputError, "at least one"),
    ({"names": ["a", "a"]}, InputError, "twice"),
    ({"names": ["../up"]}, InvalidRefName, "invalid agent name"),
    ({"names": [".hidden"]}, InvalidRefName, "invalid agent name"),
    ({"names": ["x" * 65]}, InvalidRefName, "invalid agent name"),
    ({"names": [7]}, InvalidRefName, "invalid agent name"),
    ({"names": ["a", "b"], "task": ["1", "2", "3"]}, InputError, "one per agent"),
    ({"names": ["a"], "task": "  "}, InputError, "non-empty"),
    ({"names": ["a"], "context": "most"}, InputError, "unknown context"),
    ({"names": ["a"], "context": "entries 5:9"}, InputError, "5:9"),
    ({"names": ["a"], "summary": "magic"}, InputError, "summary strategy"),
    ({"names": ["a"], "context": "summary", "summary": "llm"}, InputError, "provider"),
    ({"names": ["a"], "rev": "nope"}, RevisionError, "nope"),
    ({"names": ["a"], "call": ""}, InputError, "call"),
    ({"names": ["a", "b"], "call": ["c1", "c2", "c3"]}, InputError, "one call for all"),
    ({"names": ["a"], "call": 5}, InputError, "call must be"),
    ({"names": None}, InputError, "names must be"),
    ({"names": {"q": 1}}, InputError, "names must be"),
])
def test_bad_spawns_write_nothing(lead, kw, error, text):
    names = kw.pop("names")
    before = _refs_snapshot(lead.trace_dir)
    with pytest.raises(error, match=text):
        lead.spawn(names, **kw)
    assert _refs_snapshot(lead.trace_dir) == before


def test_an_existing_name_is_refused_before_anything_is_written(lead):
    lead.spawn("taken")
    before = _refs_snapshot(lead.trace_dir)
    with pytest.raises(OperationError, match="'taken' already exists"):
        lead.spawn(["fresh", "taken"])
    assert _refs_snapshot(lead.trace_dir) == before
    assert not os.path.exists(os.path.join(lead.trace_dir, "agents", "fresh"))


def test_a_spawn_whose_parent_commit_fails_removes_its_namespaces(lead, monkeypatch):
    import sys
    sp = sys.modules["trace_core.agents.spawn"]

    def boom(*a, **k):
        raise OperationError("the parent could not commit")
    monkeypatch.setattr(sp, "commit_change", boom)
    head = lead.head_commit()
    with pytest.raises(OperationError, match="could not commit"):
        lead.spawn(["p", "q"])
    assert lead.agents() == [] and lead.head_commit() == head


def test_nested_spawn_and_paths(lead):
    a = lead.spawn("a", task="Plan").agent
    a.assistant("I need a helper.")
    deep = a.spawn("deep", context="none", task="Dig").agent
    assert deep.agent_name == "a/deep"
    assert Repository.open(lead.trace_dir, agent="a/deep").messages() == deep.messages()
    assert lead.agent("a/deep").head_commit() == deep.head_commit()
    assert lead.get_commit(deep.head_commit()).meta["from"] == a.resolve("HEAD~1")
    tree = _tree(lead)
    assert list(tree) == ["a", "a/deep"]
    assert tree["a/deep"].parent == "a" and tree["a/deep"].depth == 2
    with pytest.raises(AgentNotFound):
        lead.agent("a/nope")


# -- collapse --------------------------------------------------------------------------------
def _work(child, answer="orjson parses 1 GB in 1.9 s; simdjson needs 2.4 s."):
    child.assistant("I ran bench.py on data/big.json three times.")
    child.tool_call("run", {"cmd": "python bench.py"}, call_id="call_1")
    child.tool_result("call_1", "orjson 1.9 s, stdlib json 7.2 s")
    child.assistant(answer)


def test_collapse_brings_the_answer_and_an_account(lead):
    child = lead.spawn("orjson", task="Measure orjson").agent
    _work(child)
    tip = child.head_commit()
    before = lead.head_commit()
    c = lead.collapse("orjson")
    assert c.op == "collapse" and c.parents == (before,) and c.targets == (3,)
    assert c.meta["tip"] == tip and c.meta["root"].hex() == child.refs.read("SPAWNED")
    assert c.meta["finished"] is True and c.meta["strategy"] == "extractive"
    assert c.meta["own"] == 4 and c.meta["messages"] == 8
    msg = lead.messages()[-1]
    assert msg["role"] == "user"
    text = msg["content"]
    assert text.startswith(f"[Result of sub-agent orjson (tip {tip.hex()[:12]}, 4 messages")
    assert "Task: Measure orjson" in text
    assert "Answer:\norjson parses 1 GB in 1.9 s; simdjson needs 2.4 s." in text
    assert "How it got there:" in text and "bench.py" in text
    assert child.head_commit() == tip                           # the child is untouched
    assert child.refs.read("COLLAPSED") == c.hex
    assert c.tokens == lead.blob_tokens(c.blobs[0])
    assert lead.get_commit(lead.head_commit()).total_tokens == c.total_tokens


def test_collapse_strategies(lead):
    for n in ("f", "m"):
        _work(lead.spawn(n).agent, answer=f"answer {n}")
    c = lead.collapse("f", strategy="final")
    assert "How it got there" not in lead.messages()[-1]["content"]
    assert c.meta["strategy"] == "final"
    lead.collapse("m", strategy="manual", text="It benchmarked three parsers.")
    assert lead.messages()[-1]["content"].endswith("How it got there:\nIt benchmarked three "
                                                   "parsers.")
    with pytest.raises(InputError, match="needs the text"):
        lead.collapse("m", strategy="manual", again=True)
    with pytest.raises(InputError, match="only used by the manual"):
        lead.collapse("m", strategy="final", text="x")
    with pytest.raises(InputError, match="unknown collapse strategy"):
        lead.collapse("m", strategy="magic")
    with pytest.raises(InputError, match="provider"):
        lead.collapse("m", strategy="llm")


def test_collapse_with_an_llm_account_records_the_call(lead, llm_server):
    from trace_core.llm import OpenAICompatProvider
    _work(lead.spawn("x").agent)
    llm_server.default = chat("It ran the benchmark three times and compared.", p=50, c=10)
    prov = OpenAICompatProvider(llm_server.url + "/v1", "gpt-test", None, max_retries=0)
    c = lead.collapse("x", strategy="llm", provider=prov)
    assert c.meta["inference"]["prompt_tokens"] == 50
    assert "It ran the benchmark three times" in lead.messages()[-1]["content"]
    sent = llm_server.requests[0]["body"]["messages"][-1]["content"]
    assert "bench.py" in sent and "simdjson needs 2.4 s" not in sent   # the answer is not re-sent


@pytest.mark.parametrize("shape", ["chat", "anthropic", "responses"])
def test_collapse_answers_the_tool_call_it_was_spawned_for(repo, shape):
    repo.user("Research X")
    if shape == "chat":
        repo.tool_call("researcher", {"q": "X"}, call_id="c9")
    elif shape == "anthropic":
        repo.append({"role": "assistant", "content": [
            {"type": "tool_use", "id": "c9", "name": "researcher", "input": {"q": "X"}}]})
    else:
        repo.append({"type": "function_call", "call_id": "c9", "name": "researcher",
                     "arguments": "{}"})
    child = repo.spawn("r", context="none", task="X?", call="c9").agent
    child.assistant("X is 42.")
    c = repo.collapse("r")
    assert c.meta["call"] == "c9"
    last = repo.messages()[-1]
    if shape == "chat":
        assert last["role"] == "tool" and last["tool_call_id"] == "c9"
        assert "X is 42." in last["content"]
    elif shape == "anthropic":
        block = last["content"][0]
        assert last["role"] == "user" and block["type"] == "tool_result"
        assert block["tool_use_id"] == "c9" and "X is 42." in block["content"]
    else:
        assert last["type"] == "function_call_output" and last["call_id"] == "c9"
    assert analyze(repo.messages()).pending == [] and analyze(repo.messages()).problems == []
    for fmt in ("openai", "anthropic", "openai-responses"):
        repo.materialize(fmt)     # provider-valid in every format


def test_a_fan_out_of_calls(repo):
    repo.user("Two questions")
    repo.append({"role": "assistant", "content": None, "tool_calls": [
        {"id": f"k{i}", "type": "function", "function": {"name": "ask", "arguments": "{}"}}
        for i in (1, 2)]})
    kids = repo.spawn(["p", "q"], context="none", task=["P?", "Q?"], call=["k1", "k2"]).agents
    for k in reversed(kids):
        k.assistant(f"{k.agent_name} done")
        repo.collapse(k.agent_name)
    assert [m.get("tool_call_id") for m in repo.messages()[-2:]] == ["k2", "k1"]
    assert analyze(repo.messages()).problems == []


def test_collapse_call_that_is_not_pending(lead):
    _work(lead.spawn("x").agent)
    head = lead.head_commit()
    with pytest.raises(OperationError, match="'nope' is not pending"):
        lead.collapse("x", call="nope")
    assert lead.head_commit() == head and lead.agent("x").refs.read("COLLAPSED") is None
    # spawned for a call that was answered meanwhile: a user message, no error
    lead.tool_call("t", {}, call_id="k1")
    kid = lead.spawn("late", call="k1").agent
    lead.tool_result("k1", "answered by someone else")
    kid.assistant("done")
    lead.collapse("late")
    assert lead.messages()[-1]["role"] == "user"


def test_unfinished_children_warn_or_are_refused(lead):
    child = lead.spawn("busy", task="T").agent
    child.tool_call("run", {"cmd": "make"}, call_id="m1")
    head = lead.head_commit()
    with pytest.raises(OperationError, match="has not finished: tool call 'm1'"):
        lead.collapse("busy", strict=True)
    assert lead.head_commit() == head
    c = lead.collapse("busy")
    assert c.meta["finished"] is False and len(c.meta["unfinished"]) == 2
    assert any("collapsed unfinished" in w for w in lead.warnings)
    text = lead.messages()[-1]["content"]
    assert "Unfinished: tool call 'm1'" in text and "(no final answer)" in text


def test_collapsing_twice_is_refused_unless_again(lead):
    child = lead.spawn("x").agent
    _work(child)
    first = lead.collapse("x")
    with pytest.raises(OperationError, match="already collapsed by"):
        lead.collapse("x")
    with pytest.raises(OperationError, match="no commits since"):
        lead.collapse("x", again=True)
    child.user("Check it with a warm cache.")
    child.assistant("Correction: orjson takes 1.7 s with the warm cache.")
    second = lead.collapse("x", again=True)
    assert second.meta["again"] == first.id and child.refs.read("COLLAPSED") == second.hex
    text = lead.messages()[-1]["content"]
    assert f"2 messages since its collapse {first.hex[:12]}" in text
    assert "Answer:\nCorrection: orjson takes 1.7 s" in text
    assert "bench.py" not in text            # only the new work is told again
    assert second.meta["own"] == 2


def test_collapse_and_abandon_take_a_direct_child_only(lead):
    a = lead.spawn("a").agent
    deep = a.spawn("deep", context="none", task="dig").agent
    deep.assistant("found it")
    for fn in (lead.collapse, lead.abandon):
        with pytest.raises(InvalidRefName):
            fn("a/deep")
        with pytest.raises((InputError, InvalidRefName)):
            fn(None)
    assert not os.path.exists(os.path.join(lead.trace_dir, "COLLAPSED"))
    assert not os.path.exists(os.path.join(lead.trace_dir, "ABANDONED"))
    with pytest.raises(InputError, match="call must be"):
        a.collapse("deep", call=["x"])
    a.collapse("deep")                         # its own parent collapses it
    assert deep.refs.read("COLLAPSED") == a.head_commit().hex()
    with pytest.raises(InputError, match="non-empty string"):
        lead.agent(None)


def test_collapse_of_missing_or_empty_agents(lead):
    with pytest.raises(AgentNotFound):
        lead.collapse("ghost")
    lead.agent("empty", create=True)
    with pytest.raises(AgentNotFound):      # create=True alone makes nothing on disk
        lead.collapse("empty")
    os.makedirs(os.path.join(lead.trace_dir, "agents", "hollow"))
    with pytest.raises(OperationError, match="no commits to collapse"):
        lead.collapse("hollow")


def test_a_created_agent_can_be_collapsed_too(lead):
    w = lead.agent("worker", create=True)
    w.user("count the files")
    w.assistant("There are 12 files.")
    c = lead.collapse("worker")
    assert "root" not in c.meta and c.meta["own"] == 2
    assert "There are 12 files." in lead.messages()[-1]["content"]


# -- abandon and the tree ----------------------------------------------------------------------
def test_the_tree_shows_status(lead):
    a, b, c = lead.spawn(["a", "b", "c"]).agents
    _work(a)
    lead.collapse("a")
    a.assistant("one more thought")
    b.assistant("giving up")
    assert lead.abandon("b") == b.head_commit().hex()
    with pytest.raises(OperationError, match="already abandoned"):
        lead.abandon("b")
    w = lead.agent("w", create=True)
    w.user("hi")
    tree = _tree(lead)
    assert tree["a"].status == "collapsed" and tree["a"].moved_since
    assert tree["a"].collapsed_tip == a.resolve("HEAD~1").hex()
    assert tree["b"].status == "abandoned" and tree["b"].abandoned_tip == b.head_commit().hex()
    assert tree["c"].status == "running" and tree["c"].spawned
    assert tree["w"].status == "running" and not tree["w"].spawned
    assert tree["c"].spawned_from == lead.resolve("HEAD~2").hex()
    assert tree["c"].tokens == lead.get_commit(c.head_commit()).total_tokens
    lead.abandon("b", undo=True)
    assert _tree(lead)["b"].status == "running"
    with pytest.raises(OperationError, match="not abandoned"):
        lead.abandon("b", undo=True)
    assert [i.path for i in lead.agent_tree(recursive=False)] == ["a", "b", "c", "w"]


def test_a_damaged_marker_is_listed_not_raised(lead):
    lead.spawn("x")
    with open(os.path.join(lead.trace_dir, "agents", "x", "SPAWNED"), "r+b") as f:
        f.seek(20)
        f.write(b"\xff\xff\xff")
    info = _tree(lead)["x"]
    assert info.problems and info.problems[0].startswith("SPAWNED:")


# -- the command line ------------------------------------------------------------------------
def test_cli_spawn_work_collapse_agents(rdir):
    invoke(rdir, "commit", "Find the fastest parser", check=True)
    p = invoke(rdir, "spawn", "a", "b", "-m", "Try orjson", "-m", "Try ujson", check=True)
    assert p.stdout.startswith("[main ") and "spawn a, b" in p.stdout
    assert "agent a: root " in p.stdout and "(trace --agent b ...)" in p.stdout
    p = invoke(rdir, "--agent", "a", "commit", "--role", "assistant", "orjson wins", check=True)
    assert p.stdout.startswith("[a: main ")
    p = invoke(rdir, "collapse", "a", check=True)
    assert p.stdout.startswith("[main ") and "collapse a:" in p.stdout
    p = invoke(rdir, "collapse", "b", "--strict")
    assert_one_line_error(p, "has not finished")
    out = json.loads(invoke(rdir, "collapse", "b", "--json", check=True).stdout)
    assert out["agent"] == "b" and out["finished"] is False and len(out["tip"]) == 64
    p = invoke(rdir, "collapse", "a")
    assert_one_line_error(p, "already collapsed", "--again")
    p = invoke(rdir, "agents", check=True)
    lines = p.stdout.splitlines()
    assert lines[0].startswith("(root)  head ")
    assert lines[1].startswith("├── a") and "collapsed" in lines[1]
    assert lines[2].startswith("└── b") and "collapsed" in lines[2]
    data = json.loads(invoke(rdir, "agents", "--json", check=True).stdout)
    assert [d["path"] for d in data] == ["a", "b"] and data[0]["spawned"] is True
    invoke(rdir, "--agent", "a", "spawn", "deep", "--context", "none", "-m", "dig", check=True)
    p = invoke(rdir, "agents", check=True)
    assert "│   └── deep" in p.stdout or "    └── deep" in p.stdout
    p = invoke(rdir, "--agent", "a/deep", "status", check=True)
    assert "Agent a/deep" in p.stdout
    p = invoke(rdir, "abandon", "b", check=True)
    assert p.stdout.startswith("agent b: abandoned at ")


def test_cli_spawn_json_and_contexts(rdir):
    invoke(rdir, "commit", "one", check=True)
    invoke(rdir, "commit", "two", check=True)
    out = json.loads(invoke(rdir, "spawn", "s", "--context", "entries 1:2", "--json",
                            check=True).stdout)
    assert out["agents"][0]["agent"] == "s" and out["agents"][0]["entries"] == 1
    assert len(out["commit"]) == 64


@pytest.mark.parametrize("args, text", [
    (["spawn", "../x"], "invalid agent name"),
    (["spawn", "a/b"], "invalid agent name"),
    (["spawn", "x", "--context", "sideways"], "unknown context"),
    (["spawn", "x", "--from", "nope"], "nope"),
    (["spawn", "x", "y", "-m", "1", "-m", "2", "-m", "3"], "one per agent"),
    (["collapse", "ghost"], "no agent 'ghost'"),
    (["collapse", "../x"], "invalid agent name"),
    (["abandon", "ghost"], "no agent 'ghost'"),
])
def test_cli_bad_input_is_one_line(rdir, args, text):
    invoke(rdir, "commit", "hello", check=True)
    before = _refs_snapshot(os.path.join(rdir, ".trace"))
    assert_one_line_error(invoke(rdir, *args), text)
    assert _refs_snapshot(os.path.join(rdir, ".trace")) == before


def test_cli_collapse_text_sources(rdir, tmp_path):
    invoke(rdir, "commit", "q", check=True)
    invoke(rdir, "spawn", "x", check=True)
    invoke(rdir, "--agent", "x", "commit", "--role", "assistant", "done", check=True)
    p = invoke(rdir, "collapse", "x", "-s", "manual", "--text", "a", "--file", "f")
    assert p.returncode == 2
    f = tmp_path / "account.txt"
    f.write_text("It checked every file.\n")
    invoke(rdir, "collapse", "x", "-s", "manual", "--file", str(f), check=True)
    ctx = json.loads(invoke(rdir, "context", "--format", "json", check=True).stdout)
    assert ctx[-1]["message"]["content"].endswith("It checked every file.")


def test_a_call_pending_in_the_inherited_context_is_the_parents(repo):
    repo.user("Research X")
    repo.tool_call("researcher", {"q": "X"}, call_id="c9")
    child = repo.spawn("r", task="X?", call="c9").agent      # full context: the call included
    assert any("start with tool call 'c9'" in w for w in repo.warnings)
    child.assistant("X is 42.")
    c = repo.collapse("r", strict=True)       # finished: the pending call is not the child's
    assert c.meta["finished"] is True and c.meta["call"] == "c9"
    assert repo.messages()[-1]["role"] == "tool"


def test_spawn_from_a_large_context_shares_its_nodes(repo):
    with repo.transaction():
        for i in range(600):
            repo.user(f"message {i} about topic {i % 7}")
    parent = repo.get_commit(repo.head_commit())
    child = repo.spawn("big", task="Go").agent
    root = repo.get_commit(child.head_commit())
    assert root.total_tokens == parent.total_tokens + root.tokens
    assert len(child.messages()) == 601
    # extending the parent's snapshot writes the task and the chunks it touches, not 600 entries
    assert root.targets == (600,)


def test_a_collapse_killed_before_it_recorded_itself_is_not_made_twice(lead):
    child = lead.spawn("x").agent
    _work(child)
    c = lead.collapse("x")
    os.unlink(os.path.join(child.refs_root, "COLLAPSED"))    # as if killed before the ref write
    lead.user("the parent goes on")
    head = lead.head_commit()
    with pytest.raises(OperationError, match=f"already collapsed by {c.hex[:12]}"):
        lead.collapse("x")
    assert lead.head_commit() == head and child.refs.read("COLLAPSED") == c.hex
    with pytest.raises(OperationError, match="already collapsed"):
        lead.collapse("x")


def test_show_names_an_item_by_its_type(rdir):
    from trace_core.messages import kind
    assert kind({"type": "function_call_output", "call_id": "c", "output": "x"}) == \
        "function_call_output"
    assert kind({"role": "user", "type": "message"}) == "user" and kind("x") == "?"
    invoke(rdir, "commit", "--input", "json", check=True,
           input='{"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"}')
    invoke(rdir, "commit", "--input", "json", check=True,
           input='{"type": "function_call_output", "call_id": "c1", "output": "42"}')
    p = invoke(rdir, "show", check=True)
    assert "+ #1 function_call_output: 42" in p.stdout
