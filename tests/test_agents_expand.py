"""`trace expand`, `trace context --expand` and `trace graph --agents` (docs/multiagent.md,
"Expand" and "The agent tree"): a fan-out of two children, one with a nested child, and a child
spawned for a tool call; pruned and missing histories; nothing moves a ref."""

from __future__ import annotations

import hashlib
import json
import os
import time

import pytest
from conftest import assert_one_line_error, invoke
from provider_rules import check

from trace_core import chunked
from trace_core.objects import Blob, Entry
from trace_core.plumbing.commit import Change, commit_change, total_after
from trace_core.repository import Repository

PROVIDERS = ("openai", "openai-responses", "anthropic")


def _call(cid, name="run"):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": cid, "type": "function",
                            "function": {"name": name, "arguments": "{}"}}]}


@pytest.fixture
def fan(tmp_path):
    """A repository: the root spawns a and b; a spawns deep (collapsed into a); b makes a tool
    call; both are collapsed; then the root calls a tool and spawns c for it, whose collapse
    answers the call. Returns (dir, ids) with the interesting commits (hex)."""
    d = str(tmp_path / "r")
    r = Repository.init(d, encoding="chars/4")
    r.append({"role": "system", "content": "You lead."})
    r.append({"role": "user", "content": "Compare SQLite and DuckDB"})
    sp = r.spawn(["a", "b"], task=["Benchmark SQLite", "Benchmark DuckDB"])
    a, b = sp.agents
    a.append({"role": "assistant", "content": "running q1"})
    deep = a.spawn("deep", context="none", task="Check the index").agent
    deep.append({"role": "assistant", "content": "index on ts helps"})
    k_deep = a.collapse("deep")
    a.append({"role": "assistant", "content": "SQLite: 41 s"})
    b.append(_call("c1"))
    b.append({"role": "tool", "tool_call_id": "c1", "content": "12 s"})
    b.append({"role": "assistant", "content": "DuckDB: 12 s"})
    r.append({"role": "assistant", "content": "waiting"})
    k_a = r.collapse("a")
    k_b = r.collapse("b")
    r.append(_call("t1", "research"))
    sp_c = r.spawn("c", context="none", task="Research X", call="t1")
    sp_c.agent.append({"role": "assistant", "content": "X is 42"})
    k_c = r.collapse("c")
    r.append({"role": "assistant", "content": "Done: 42"})
    ids = {"spawn": sp.commit.hex, "k_a": k_a.hex, "k_b": k_b.hex, "k_c": k_c.hex,
           "k_deep": k_deep.hex, "a_tip": a.head_commit().hex(), "a_root": sp.roots[0].hex,
           "b_root": sp.roots[1].hex, "b_tip": b.head_commit().hex(),
           "deep_tip": deep.head_commit().hex(), "c_tip": sp_c.agent.head_commit().hex(),
           "c_root": sp_c.roots[0].hex}
    for view in (deep, a, b, sp_c.agent, r):
        view.close()
    return d, ids


def _first_parents(d, agent, tip_hex):
    """The first-parent chain of commit `tip_hex` (hex ids, newest first)."""
    r = Repository.open(d)
    try:
        out, cid = [], bytes.fromhex(tip_hex)
        while True:
            out.append(cid.hex())
            c = r.get_commit(cid)
            if not c.parents:
                return out
            cid = c.parents[0]
    finally:
        r.close()


def _lines(p):
    assert p.returncode == 0, p.stderr
    return p.stdout.splitlines()


# -- the commits ------------------------------------------------------------------------------
def test_expand_lists_the_childs_commits_at_the_collapse_with_nested_ones(fan):
    d, ids = fan
    lines = _lines(invoke(d, "expand", "a"))
    assert _lines(invoke(d, "expand", ids["k_a"][:12])) == lines  # a name or a revision
    assert lines[0].startswith(ids["k_a"][:12] + ">collapse")
    a_chain = _first_parents(d, "a", ids["a_tip"])
    deep_chain = _first_parents(d, "a/deep", ids["deep_tip"])
    # right after the collapse: a's commits newest first; deep's inside, after a's collapse of it
    want = []
    for h in a_chain:
        want.append(("    [a] ", h))
        if h == ids["k_deep"]:
            want += [("        [a/deep] ", x) for x in deep_chain]
    got = lines[1:1 + len(want)]
    assert [(x[:len(p)], x[len(p):len(p) + 12]) for x, (p, _) in zip(got, want, strict=True)] \
        == [(p, h[:12]) for p, h in want]
    assert any(x.startswith(f"    [a] {ids['k_deep'][:12]}>collapse") for x in lines)
    # then the parent's history, down to the spawn commit that started a (and no further)
    rest = lines[1 + len(want):]
    assert [x[:12] for x in rest][-1] == ids["spawn"][:12]
    assert all(not x.startswith(" ") for x in rest)
    assert ids["k_b"][:12] not in "\n".join(lines)      # later commits are not shown


def test_expand_json_and_depth_and_limit(fan):
    d, ids = fan
    p = invoke(d, "expand", "a", "--json")
    data = json.loads(p.stdout)
    assert (data["collapse"], data["agent"], data["tip"], data["root"]) == \
        (ids["k_a"], "a", ids["a_tip"], ids["a_root"])
    recs = data["commits"]
    assert recs[0]["id"] == ids["k_a"] and recs[0]["expanded"] and recs[0]["agent"] is None
    assert [r["id"] for r in recs if r["agent"] == "a"] == _first_parents(d, "a", ids["a_tip"])
    deep = [r for r in recs if r["agent"] == "a/deep"]
    assert [r["id"] for r in deep] == _first_parents(d, "a/deep", ids["deep_tip"])
    assert {r["depth"] for r in deep} == {2} and {r["collapse"] for r in deep} == {ids["k_deep"]}
    # --depth 0: the child only; -n 1: the collapse commit alone from the parent
    shallow = _lines(invoke(d, "expand", "a", "--depth", "0", "-n", "1"))
    assert not any("[a/deep]" in x for x in shallow)
    assert any(x.startswith(f"    [a] {ids['k_deep'][:12]} collapse") for x in shallow)
    assert [x for x in shallow if not x.startswith(" ")] == [shallow[0]]


def test_expand_of_a_tool_call_collapse(fan):
    d, ids = fan
    lines = _lines(invoke(d, "expand", "c"))
    assert lines[0].startswith(ids["k_c"][:12] + ">collapse")
    assert [x.split()[:2] for x in lines[1:3]] == [["[c]", ids["c_tip"][:12]],
                                                   ["[c]", ids["c_root"][:12]]]
    # the context: the call keeps its result, the child's work follows it
    text = invoke(d, "expand", "c", "--context").stdout
    assert "[tool t1]\n[Result of sub-agent c" in text
    assert text.index("[tool t1]") < text.index("[sub-agent c]")
    assert text.endswith("\n\n[sub-agent c] [assistant]\nX is 42\n")
    for fmt in PROVIDERS:
        prompt = json.loads(invoke(d, "expand", "c", "--format", fmt).stdout)
        check(fmt, prompt)
    chat = json.loads(invoke(d, "expand", "c", "--format", "openai").stdout)
    tool = next(i for i, m in enumerate(chat) if m.get("role") == "tool")
    assert chat[tool]["tool_call_id"] == "t1"
    assert [m.get("content") for m in chat[tool + 1:]] == [
        f"[sub-agent c (collapse {ids['k_c'][:12]}): begin]", "X is 42", "[sub-agent c: end]"]


# -- the context ------------------------------------------------------------------------------
def test_expand_context_replaces_the_collapse_message_in_place(fan):
    d, ids = fan
    text = invoke(d, "expand", "a", "--context").stdout
    assert text == ("[system]\nYou lead.\n\n[user]\nCompare SQLite and DuckDB\n\n"
                    "[assistant]\nwaiting\n\n"
                    "[sub-agent a] [assistant]\nrunning q1\n\n"
                    "[sub-agent a/deep] [assistant]\nindex on ts helps\n\n"
                    "[sub-agent a] [assistant]\nSQLite: 41 s\n")
    chat = json.loads(invoke(d, "expand", "a", "--format", "openai").stdout)
    assert [m["content"] for m in chat[3:]] == [
        f"[sub-agent a (collapse {ids['k_a'][:12]}): begin]", "running q1",
        f"[sub-agent a/deep (collapse {ids['k_deep'][:12]}): begin]", "index on ts helps",
        "[sub-agent a/deep: end]", "SQLite: 41 s", "[sub-agent a: end]"]
    bare = json.loads(invoke(d, "expand", "a", "--format", "openai", "--no-marks").stdout)
    assert [m["content"] for m in bare[3:]] == ["running q1", "index on ts helps", "SQLite: 41 s"]
    entries = json.loads(invoke(d, "expand", "a", "--context", "--json").stdout)
    assert [(e["agent"], e["collapse"]) for e in entries] == \
        [(None, None)] * 3 + [("a", ids["k_a"]), ("a/deep", ids["k_deep"]), ("a", ids["k_a"])]
    shallow = invoke(d, "expand", "a", "--context", "--depth", "0").stdout
    assert "[sub-agent a] [user]\n[Result of sub-agent a/deep" in shallow


def test_context_expand_expands_every_collapse_and_stays_valid(fan):
    d, ids = fan
    text = invoke(d, "context", "--expand", "--format", "text").stdout
    assert "[Result of sub-agent a" not in text and "[Result of sub-agent b" not in text
    assert "[tool t1]\n[Result of sub-agent c" in text           # answers a call: kept
    for line in ("[sub-agent a/deep] [assistant]\nindex on ts helps",
                 "[sub-agent b] [tool c1]\n12 s", "[sub-agent c] [assistant]\nX is 42"):
        assert line in text
    assert text.endswith("[assistant]\nDone: 42\n")
    for fmt in PROVIDERS:
        p = invoke(d, "context", "--expand", "--format", fmt)
        assert p.returncode == 0 and p.stderr == "", p.stderr
        check(fmt, json.loads(p.stdout))
    entries = json.loads(invoke(d, "context", "--expand", "--format", "json").stdout)
    assert [e["agent"] for e in entries] == [
        None, None, None, "a", "a/deep", "a", "b", "b", "b", None, None, "c", None]
    assert [e["index"] for e in entries] == list(range(len(entries)))
    # a context without collapses: --expand changes nothing (json entries have null marks)
    for fmt in (*PROVIDERS, "text"):
        assert invoke(d, "context", "--expand", "--format", fmt, ids["spawn"]).stdout == \
            invoke(d, "context", "--format", fmt, ids["spawn"]).stdout
    got = json.loads(invoke(d, "context", "--expand", "--format", "json", ids["spawn"]).stdout)
    assert {(e.pop("agent"), e.pop("collapse")) for e in got} == {(None, None)}
    assert got == json.loads(invoke(d, "context", "--format", "json", ids["spawn"]).stdout)


def test_expand_python_api(fan):
    d, ids = fan
    r = Repository.open(d)
    try:
        exp = r.expand("a")
        assert exp.commit.hex == ids["k_a"] and exp.tip.hex() == ids["a_tip"]
        assert [c.id for c in exp.log() if c.agent == "a"] == \
            _first_parents(d, "a", ids["a_tip"])
        assert exp.context("json")[3]["message"] == {"role": "assistant", "content": "running q1"}
        assert r.expanded_context("text") == \
            invoke(d, "context", "--expand", "--format", "text").stdout
    finally:
        r.close()


# -- errors, pruned history, no ref moves -----------------------------------------------------
def test_a_revision_that_is_not_a_collapse_is_one_line_error(fan):
    d, ids = fan
    assert_one_line_error(invoke(d, "expand", ids["spawn"][:12]), "is not a collapse commit",
                          "op spawn")
    assert_one_line_error(invoke(d, "expand", "HEAD"), "is not a collapse commit")
    assert_one_line_error(invoke(d, "expand", "nosuch"), "nosuch",
                          "a collapsed sub-agent's name")
    assert_one_line_error(invoke(d, "--agent", "b", "expand", "deep"), "deep")
    assert_one_line_error(invoke(d, "expand", "a", "--json", "--format", "text"), "--json",
                          code=2)


def _fake_collapse(d, agent, tip, ns=None):
    """A collapse commit on HEAD (of namespace `ns`) whose tip is `tip` (no such object)."""
    r = Repository.open(d, agent=ns)
    body = f"[Result of sub-agent {agent} (tip {tip.hex()[:12]}, 1 message of its own)]\nok"

    def build(parent, snap):
        blob = Blob({"role": "user", "content": body})
        nodes = []
        new = chunked.append(snap, [Entry(blob.id, 0)], r.get_node, nodes.append)
        return Change(new, [blob, *nodes], "collapse", blobs=[blob.id], targets=[snap.count],
                      message=f"collapse {agent}", tokens=1,
                      total_tokens=total_after(r, parent, snap, 1, new.count),
                      meta={"version": 1, "agent": agent, "tip": tip, "messages": 2, "own": 1})
    try:
        return commit_change(r, build, None).hex
    finally:
        r.close()


def test_a_pruned_or_missing_child_history(fan):
    d, _ = fan
    tip = hashlib.blake2b(b"gone", digest_size=32).digest()
    k = _fake_collapse(d, "ghost", tip)
    assert_one_line_error(invoke(d, "expand", "HEAD"), "history of agent ghost is missing",
                          tip.hex(), "not listed as pruned")
    when = 1764000000
    with open(os.path.join(d, ".trace", "pruned"), "w") as f:
        f.write(f"{'ab' * 32} {when - 5} other\n{tip.hex()} {when} ghost\n")
    date = time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime(when))
    for args in (("expand", "HEAD"), ("expand", k[:12], "--context")):
        assert_one_line_error(invoke(d, *args), f"history of agent ghost was pruned on {date}",
                              f"trace show {k[:12]}")
    # the expanded prompt keeps the collapse message and says why, the rest is expanded
    p = invoke(d, "context", "--expand", "--format", "text")
    assert p.returncode == 0
    assert p.stderr.splitlines() == [
        f"warning: not expanded: history of agent ghost was pruned on {date} (collapse "
        f"{k[:12]} keeps its result: trace show {k[:12]})"]
    assert p.stdout.endswith("[user]\n[Result of sub-agent ghost (tip " + tip.hex()[:12] +
                             ", 1 message of its own)]\nok\n")
    assert "[sub-agent a] [assistant]\nSQLite: 41 s" in p.stdout
    # a damaged record is not read as something else: one line naming the file
    with open(os.path.join(d, ".trace", "pruned"), "a") as f:
        f.write("garbage line\n")
    assert_one_line_error(invoke(d, "expand", "HEAD"), "pruned:3", "damaged")


def test_a_nested_child_history_that_is_gone_is_one_line_of_the_expansion(fan):
    d, _ = fan
    r = Repository.open(d)
    r.spawn("e", context="none", task="Look around")
    r.close()
    tip = hashlib.blake2b(b"nested", digest_size=32).digest()
    _fake_collapse(d, "e/ghost", tip, ns="e")
    r = Repository.open(d)
    r.agent("e").append({"role": "assistant", "content": "nothing found"})
    r.collapse("e")
    r.close()
    lines = _lines(invoke(d, "expand", "e"))
    assert f"        [e/ghost] (history of agent e/ghost is missing: object {tip.hex()} not " \
        "found (not listed as pruned in .trace/pruned))" in lines
    data = json.loads(invoke(d, "expand", "e", "--json").stdout)
    note = next(c for c in data["commits"] if c["missing"])
    assert (note["id"], note["agent"], note["depth"]) == (tip.hex(), "e/ghost", 2)
    with open(os.path.join(d, ".trace", "pruned"), "w") as f:
        f.write(f"{tip.hex()} 1764000000 e/ghost\n")
    assert any(x.startswith("        [e/ghost] (history of agent e/ghost was pruned on ")
               for x in _lines(invoke(d, "expand", "e")))
    p = invoke(d, "expand", "e", "--context")
    assert p.returncode == 0 and "warning: not expanded: history of agent e/ghost was pruned" \
        in p.stderr
    assert "[sub-agent e] [user]\n[Result of sub-agent e/ghost" in p.stdout
    assert p.stdout.endswith("[sub-agent e] [assistant]\nnothing found\n")


def _ref_state(d):
    """Every file of .trace but the objects and the index: refs, reflogs, HEADs, pseudo-refs."""
    out = {}
    top = os.path.join(d, ".trace")
    for base, dirs, files in os.walk(top):
        dirs[:] = [x for x in dirs if not (base == top and x == "objects")]
        for f in files:
            if not f.startswith("index.sqlite"):
                path = os.path.join(base, f)
                with open(path, "rb") as fh:
                    out[os.path.relpath(path, top)] = fh.read()
    return out


def test_expand_and_graph_move_no_ref(fan):
    d, ids = fan
    before = _ref_state(d)
    assert any(k.endswith("COLLAPSED") for k in before) and "refs/heads/main" in before
    for args in (("expand", "a"), ("expand", "b", "--json"), ("expand", "c", "--context"),
                 ("expand", ids["k_a"], "--format", "anthropic"), ("context", "--expand"),
                 ("graph", "--agents"), ("graph", "--agents", "--all", "--json")):
        assert invoke(d, *args).returncode == 0, args
    assert _ref_state(d) == before


# -- graph --agents ---------------------------------------------------------------------------
def test_graph_agents_draws_every_agents_commits_and_the_edges(fan):
    d, ids = fan
    plain = _lines(invoke(d, "graph"))
    lines = _lines(invoke(d, "graph", "--agents", "--color", "never"))
    chains = {a: _first_parents(d, a, ids[f"{a.replace('a/', '')}_tip"])
              for a in ("a", "b", "a/deep")}
    text = "\n".join(lines)
    for agent, chain in chains.items():
        for h in chain:
            assert f"{h[:12]} " in text
            row = next(x for x in lines if h[:12] in x)
            assert f"[{agent}] " in row, row
            assert not any(h[:12] in x for x in plain)
    assert "(a: HEAD -> main) [a]" in text
    assert len([x for x in lines if "*" in x]) == len(plain) + sum(map(len, chains.values())) + 2
    data = json.loads(invoke(d, "graph", "--agents", "--json").stdout)
    by_id = {o["id"]: o for o in data}
    assert by_id[ids["a_root"]]["links"] == [{"kind": "spawn", "id": ids["spawn"]}]
    assert by_id[ids["a_root"]]["parents"] == [] and by_id[ids["a_root"]]["agent"] == "a"
    assert by_id[ids["k_a"]]["links"] == [{"kind": "collapse", "id": ids["a_tip"]}]
    assert by_id[ids["k_deep"]]["links"] == [{"kind": "collapse", "id": ids["deep_tip"]}]
    assert by_id[ids["k_deep"]]["agent"] == "a"
    assert len(by_id[ids["k_a"]]["parents"]) == 1 and by_id[ids["k_a"]]["agent"] is None
    # children are drawn above the commit they were spawned from, below their collapse
    order = [o["id"] for o in data]
    assert order.index(ids["k_a"]) < order.index(ids["a_tip"]) < order.index(ids["a_root"]) \
        < order.index(ids["spawn"])
    # the spawn edge leaves the root's lane and the collapse edge opens a lane (a merge row)
    assert by_id[ids["k_a"]]["after"] and by_id[ids["k_a"]]["graph"].startswith("*")
    # -n limits the merged drawing; plain graph --json keeps its shape
    assert len(json.loads(invoke(d, "graph", "--agents", "-n", "3", "--json").stdout)) == 3
    assert "agent" not in json.loads(invoke(d, "graph", "--json").stdout)[0]


def test_graph_agents_from_a_sub_agent_draws_its_own_children(fan):
    d, ids = fan
    lines = _lines(invoke(d, "--agent", "a", "graph", "--agents"))
    deep = _first_parents(d, "a/deep", ids["deep_tip"])
    assert [x.split("* ", 1)[1][:12] for x in lines if "[a/deep]" in x] == \
        [h[:12] for h in deep]
    assert not any("[b]" in x or "[a]" in x for x in lines)
    assert lines[0].startswith(f"* {ids['a_tip'][:12]} (HEAD -> main)")
