"""examples/multi_agent_research.py runs offline, end to end: a head agent, three sub-agents
spawned from one commit and collapsed back into answers to its tool calls, a final answer whose
facts are traced back across the agents."""

from __future__ import annotations

import os
import runpy
import sys

import pytest

pytest.importorskip("agents")

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPT = os.path.join(ROOT, "examples", "multi_agent_research.py")


def run_example(monkeypatch, *args):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    monkeypatch.delenv("TRACE_DIR", raising=False)
    monkeypatch.setattr(sys, "argv", [SCRIPT, *args])
    runpy.run_path(SCRIPT, run_name="__main__")


def test_the_example_runs_offline_and_its_provenance_holds(tmp_path, monkeypatch, capsys):
    from provider_rules import check_chat, check_responses

    from trace_core import Repository
    from trace_core.fsck import fsck

    path = str(tmp_path / "research")
    run_example(monkeypatch, path)
    out = capsys.readouterr().out
    repo = Repository.open(path)

    # one spawn commit, three children, all from the one commit that holds the head's calls
    commits, tip = [], repo.head_commit()
    while tip is not None:
        commits.append(repo.get_commit(tip))
        tip = commits[-1].parents[0] if commits[-1].parents else None
    commits.reverse()
    [spawn] = [c for c in commits if c.op == "spawn"]
    collapses = [c for c in commits if c.op == "collapse"]
    names = [k["agent"] for k in spawn.meta["children"]]
    assert names == ["flights", "venues", "weather"]
    tree = repo.agent_tree()
    assert [i.path for i in tree] == names
    assert {i.status for i in tree} == {"collapsed"}
    assert {i.spawned_from for i in tree} == {spawn.meta["from"].hex()}
    asked = repo.messages(spawn.meta["from"].hex())
    calls = {m["call_id"]: m["name"] for m in asked if m.get("type") == "function_call"}
    assert sorted(calls.values()) == names

    # each collapse answers the head's call its child was spawned for, with the child's work
    assert sorted(c.meta["agent"] for c in collapses) == names
    for c in collapses:
        assert calls[c.meta["call"]] == c.meta["agent"]
        assert c.meta["tip"] == repo.agent(c.meta["agent"]).head_commit()
        assert {i.collapsed_by for i in tree if i.path == c.meta["agent"]} == {c.hex}
        answer = repo.get_blob(c.blobs[0]).message
        assert answer["type"] == "function_call_output" and answer["call_id"] == c.meta["call"]
        child = repo.agent(c.meta["agent"]).messages()
        assert [m.get("type", "message") for m in child] == [
            "message", "function_call", "function_call_output", "message"]
        assert child[-1]["content"][0]["text"] in answer["output"]

    # the head's context is valid for the providers: every call answered, once
    chat = repo.materialize("openai")
    check_chat(chat)
    check_responses(repo.materialize("openai-responses"))
    assert sum(len(m.get("tool_calls") or ()) for m in chat) == 3
    assert sum(m["role"] == "tool" for m in chat) == 3

    # the final answer: one line per fact (each citing its note), and the head's budget
    final = chat[-1]
    assert final["role"] == "assistant"
    for fact in ("180 EUR per person (TP1234, 09:40) [flights-may.md]",
                 "900 EUR per day, projector included [venue-casa-do-rio.md]",
                 "22 C by day, 15 C at night, about 6 rainy days [weather-lisbon-may.md]",
                 "together 3960 EUR"):
        assert fact in final["content"]
        assert fact in out
    assert fsck(repo) == []

    # what it prints: the agent tree, the head's history, and each fact's way back
    for n in names:
        assert any(line.split()[1:3] == [n, "collapsed"] for line in out.splitlines()
                   if line.startswith(("├──", "└──"))), n
    assert "spawn flights (call_head_1), venues (call_head_2), weather (call_head_3)" in out
    by_agent = {c.meta["agent"]: c for c in collapses}
    assert (f"collapse {by_agent['weather'].hex[:12]} of the head (the result of its call "
            f"call_head_3)") in out
    assert ('<- sub-agent weather: commit ' in out and
            'search_notes({"query": "Weather in Lisbon in May"})' in out)
    assert "the head agent's own work (no note cited)" in out
    assert out.count("$ trace ") == 4          # agents, log, graph --agents, expand
    repo.close()


def test_live_needs_a_key(tmp_path, monkeypatch):
    with pytest.raises(SystemExit) as exc:
        run_example(monkeypatch, "--live", str(tmp_path / "r"))
    assert "OPENAI_API_KEY" in str(exc.value.code)
    assert not os.path.exists(tmp_path / "r")


def test_the_example_with_policies_reports_what_fired(tmp_path, monkeypatch, capsys):
    from trace_core import Repository
    from trace_core.fsck import fsck

    path = str(tmp_path / "research")
    run_example(monkeypatch, "--policies", path)
    out = capsys.readouterr().out
    report = out.split("What the policies did", 1)[1]
    for name, op in (("keep", "pin"), ("side", "policy"), ("back", "policy"),
                     ("squeeze", "compress")):
        assert f"{op:<8} {name}:" in report, report
    repo = Repository.open(path)
    assert repo.head_branch() == "refs/heads/main"            # back from the tangent
    assert repo.refs.read("refs/heads/tangent/1") is not None
    assert "Python version" not in str(repo.messages())       # the tangent stayed on its branch
    assert [f for f in fsck(repo) if f.severity == "error"] == []
