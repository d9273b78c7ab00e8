"""`trace audit` (docs/inspect.md, "Audit"): what an agent knew when another made a commit (by
the spawn/collapse link and by time), and what left a context (drop, edit, mask, compress with
must-keep strings, merge, revert, a collapse that did not carry a child's findings)."""

from __future__ import annotations

import json
import time

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import AgentNotFound, InputError, OperationError, RevisionError
from trace_core.inspect.audit import absent_facts, facts
from trace_core.repository import Repository


def _u(text):
    return {"role": "user", "content": text}


def _a(text):
    return {"role": "assistant", "content": text}


def _tick():
    time.sleep(0.005)   # commit times are milliseconds: keep the audited moments apart


@pytest.fixture
def tree(tmp_path):
    """The root asks, spawns a (full context) and b (none); a finds two facts and its collapse
    carries only one; b works; the root goes on after the collapse."""
    d = str(tmp_path / "r")
    r = Repository.init(d, encoding="chars/4")
    r.append(_u("Plan the benchmark"))
    sp = r.spawn(["a", "b"], task=["Time SQLite", "Time DuckDB"], context="none")
    a, b = sp.agents
    a.append({"role": "assistant", "content": None,
              "tool_calls": [{"id": "c1", "type": "function",
                              "function": {"name": "run", "arguments": "{}"}}]})
    a.append({"role": "tool", "tool_call_id": "c1",
              "content": "q1 took 41 s on sqlite_main.db; q7 took 903 s with TempStore"})
    a.append(_a("SQLite: q1 41 s"))
    b.append(_a("DuckDB: q1 12 s"))
    r.append(_a("waiting for the children"))
    k = r.collapse("a", strategy="final")
    r.append(_a("done"))
    return d, r, a, b, sp.commit.hex, k.hex


# -- facts --------------------------------------------------------------------------------------
def test_facts_are_numbers_identifiers_and_file_names():
    got = facts("Flight TP1234 at 09:40 costs 180 EUR; see notes.md and run_id, parseJSON.")
    assert got == ["TP1234", "09:40", "180", "notes.md", "run_id", "parseJSON"]
    assert absent_facts("costs 180 and 1800", "costs 1800") == ["180"]
    assert absent_facts("plain prose only", "") == []


# -- what did A know ----------------------------------------------------------------------------
def test_parent_as_of_the_spawn(tree):
    d, r, a, b, spawn, _k = tree
    k = r.audit_knew(".", "HEAD", of="a")
    assert k.basis == "spawn" and k.agent == "(root)" and k.of == "a"
    root = a.get_commit(a.resolve("HEAD~3"))
    assert k.context_commit == root.meta["from"].hex() == r.resolve("HEAD~4").hex()
    assert [e.preview for e in k.only_agent] == ["Plan the benchmark"]
    assert [e.preview for e in k.only_other][0] == "Time SQLite"
    assert len(k.only_other) == 4 and k.shared == 0
    assert k.other_tokens == sum(e.tokens for e in k.only_other)


def test_child_as_of_the_collapse_that_carried_it(tree):
    d, r, a, b, spawn, kid = tree
    a.append(_a("after the collapse: q9 77 s"))       # not carried: after the tip
    k = r.audit_knew("a", "HEAD")
    assert k.basis == "collapse" and kid[:12] in k.how
    assert k.context_commit == a.resolve("HEAD~1").hex()
    assert all("q9" not in e.preview for e in k.only_agent)
    # before the collapse there is no link from child to parent: auto falls back to time
    before = r.audit_knew("a", spawn)
    assert before.basis == "time"
    with pytest.raises(OperationError, match="no spawn or collapse link"):
        r.audit_knew("a", spawn, basis="link")


def test_siblings_by_time_from_the_reflog(tmp_path):
    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    r.append(_u("go"))
    a, b = r.spawn(["a", "b"], context="none", task="t").agents
    _tick()
    a.append(_a("a knows 1"))
    _tick()
    b.append(_a("b knows 2"))
    _tick()
    a.append(_a("a knows 3"))
    k = r.audit_knew("a", "HEAD", of="b")
    assert k.basis == "time" and "reflog" in k.how
    assert k.context_commit == a.resolve("HEAD~1").hex()
    assert [e.preview for e in k.only_agent] == ["a knows 1"]
    assert [e.preview for e in k.only_other] == ["b knows 2"]
    assert k.shared == 1   # the shared task message (same blob)
    # b's earliest commit came before a's first own message
    early = r.audit_knew("a", "HEAD~1", of="b", basis="time")
    assert [e.preview for e in early.only_agent] == []
    assert early.context_commit == a.resolve("HEAD~2").hex()


def test_knew_before_the_agent_had_a_commit(tmp_path):
    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    r.append(_u("first"))
    _tick()
    late = r.agent("late", create=True)
    late.append(_u("late start"))
    k = r.audit_knew("late", "HEAD")
    assert k.context_commit is None and k.agent_entries == 0
    assert [e.preview for e in k.only_other] == ["first"]


def test_bad_questions(tree):
    d, r, *_ = tree
    with pytest.raises(AgentNotFound):
        r.audit_knew("nobody", "HEAD")
    with pytest.raises(RevisionError):
        r.audit_knew("a", "nope")
    with pytest.raises(InputError, match="basis"):
        r.audit_knew("a", "HEAD", basis="vibes")
    with pytest.raises(InputError):
        r.audit_knew("a", "")


# -- what was lost ------------------------------------------------------------------------------
def test_not_collapsed_findings(tree):
    d, r, *_ = tree
    lost = r.audit_lost()
    nc = [f for f in lost.findings if f.kind == "not-collapsed"]
    assert len(nc) == 1 and nc[0].agent == "a" and nc[0].entry.role == "tool"
    assert nc[0].missing == ["sqlite_main.db", "q7", "903", "TempStore"]
    assert lost.counts() == {"not-collapsed": (1, nc[0].entry.tokens)}
    assert lost.commits == 5


def test_drop_edit_and_revert(repo):
    repo.append(_u("keep me"))
    repo.append(_u("the port is 8443"))
    repo.append(_u("the key is K_77"))
    repo.drop(1)
    repo.edit(1, _u("the key is hidden"))
    c = repo.append(_u("temporary 555"))
    repo.revert(c.hex)
    lost = repo.audit_lost()
    kinds = [(f.kind, f.op, f.entry.preview) for f in lost.findings]
    assert kinds == [("dropped", "drop", "the port is 8443"),
                     ("edited", "edit", "the key is K_77"),
                     ("removed", "revert", "temporary 555")]
    edited = lost.findings[1]
    assert edited.replaced_by.preview == "the key is hidden" and edited.missing == ["K_77"]
    # a range: only the edit and what follows
    assert [f.kind for f in repo.audit_lost("HEAD~3..HEAD").findings] == ["edited", "removed"]


def test_mask_and_compress_with_must_keep(repo):
    repo.append(_u("Find the cause"))
    for i in range(3):
        repo.append({"role": "assistant", "content": None,
                     "tool_calls": [{"id": f"c{i}", "type": "function",
                                     "function": {"name": "grep", "arguments": "{}"}}]})
        repo.append({"role": "tool", "tool_call_id": f"c{i}",
                     "content": f"log line {i}: error E{i}00 in worker_{i}.py " + "x " * 200})
    repo.compress(entries="1:7", strategy="mask", keep_last=0)
    masked = [f for f in repo.audit_lost().findings if f.kind == "masked"]
    assert len(masked) == 3 and all(f.replaced_by and "masked" in f.replaced_by.preview
                                    for f in masked)
    assert masked[0].missing == ["0", "E000", "worker_0.py"]

    repo.append(_a("Root cause: port 8443 refused; ticket OPS-12"))
    repo.append(_a("Next: restart svc_api"))
    repo.compress(entries="7:9", strategy="manual",
                  summaries=["The API was down (OPS-12); restart it."], must_keep=["OPS-12"])
    lost = repo.audit_lost()
    comp = [f for f in lost.findings if f.kind == "compressed"]
    assert [f.entry.preview for f in comp] == ["Root cause: port 8443 refused; ticket OPS-12",
                                               "Next: restart svc_api"]
    assert comp[0].missing == ["8443"] and comp[1].missing == ["svc_api"]
    assert comp[0].must_keep == [{"string": "OPS-12", "in_summary": True, "at_tip": True}]
    repo.drop(7)                                     # the summary goes too
    comp = [f for f in repo.audit_lost().findings if f.kind == "compressed"]
    assert comp[0].must_keep[0]["at_tip"] is False


def test_merge_loses_entries(repo):
    repo.append(_u("base"))
    repo.append(_u("shared 42"))
    repo.branch_create("side")
    repo.drop(1)
    repo.append(_u("main only"))
    repo.switch("side")
    repo.append(_u("side only"))
    repo.switch("main")
    repo.merge("side")
    lost = [f for f in repo.audit_lost().findings if f.kind == "merged-away"]
    assert [f.entry.preview for f in lost] == ["shared 42"]
    assert lost[0].source == repo.resolve("side").hex()


def test_missing_child_history_is_a_finding(tree, monkeypatch):
    d, r, a, *_ = tree
    # a collapse whose tip cannot be read (as after a prune) is reported, not a traceback
    import trace_core.agents.expand as ex
    from trace_core.errors import MissingObject
    tip, real = a.resolve("HEAD"), ex.entries_at

    def broken(repo, cid):
        if cid == tip:
            raise MissingObject(cid.hex())
        return real(repo, cid)

    monkeypatch.setattr(ex, "entries_at", broken)
    lost = r.audit_lost()
    assert [f.kind for f in lost.findings] == ["history-missing"]
    assert lost.findings[0].source == tip.hex() and lost.findings[0].agent == "a"


def test_must_keep_pattern_and_an_empty_branch(repo):
    assert repo.audit_lost().commits == 0 and repo.audit_lost().findings == []
    repo.append(_u("error E4711 at 10:02"))
    repo.append(_u("retry later"))
    repo.compress(entries="0:2", strategy="manual", summaries=["E4711 happened"],
                  must_keep_re=[r"E\d{4}"])
    (f, g) = repo.audit_lost().findings
    assert f.must_keep == [{"pattern": r"E\d{4}", "in_summary": True, "at_tip": True}]
    assert f.missing == ["10:02"] and g.missing == []


def test_malformed_compress_meta_is_one_error(repo):
    from trace_core.errors import MalformedObject
    from trace_core.plumbing.commit import Change, commit_change
    repo.append(_u("x"))
    commit_change(repo, lambda parent, snap: Change(
        snap, [], "compress", meta={"summaries": [{"blob": "zz", "replaced": []}]}))
    with pytest.raises(MalformedObject, match="summaries of its compress meta is malformed"):
        repo.audit_lost()


def test_the_same_agent_on_another_branch(repo):
    repo.append(_u("one"))
    repo.branch_create("side")
    _tick()
    two = repo.append(_u("two"))
    k = repo.audit_knew(".", two.hex)
    assert k.basis == "time" and k.context_commit == two.hex and k.only_other == []
    side = repo.worktree("side")
    _tick()
    side.append(_u("side three"))
    k = repo.audit_knew(".", "side")      # main, as of the moment side got its commit
    assert k.context_commit == two.hex
    assert [e.preview for e in k.only_agent] == ["two"]
    assert [e.preview for e in k.only_other] == ["side three"]


# -- the command line ---------------------------------------------------------------------------
def test_cli_lost_text_and_json(tree):
    d, *_ = tree
    p = invoke(d, "audit", "--lost", check=True)
    assert p.stdout.splitlines()[0].startswith("not-collapsed ")
    assert "not in the collapse message: sqlite_main.db, q7, 903, TempStore" in p.stdout
    assert "(root): 5 commits audited: 1 not-collapsed" in p.stdout
    doc = json.loads(invoke(d, "audit", "--lost", "HEAD~2..HEAD", "--json", check=True).stdout)
    assert doc["counts"] == {"not-collapsed": {"findings": 1,
                                               "tokens": doc["findings"][0]["entry"]["tokens"]}}
    assert doc["commits"] == 2
    none = invoke(d, "--agent", "b", "audit", "--lost", check=True)
    assert "b: 2 commits audited: nothing lost" in none.stdout


def test_cli_knew(tree):
    d, *_ = tree
    p = invoke(d, "audit", "--knew", ".", "--when", "a:HEAD", check=True)
    assert p.stdout.startswith("What (root) knew when a made ")
    assert "(spawn: the commit a was spawned from)" in p.stdout
    doc = json.loads(invoke(d, "audit", "--knew", "a", "--when", "b:HEAD", "--json",
                            check=True).stdout)
    assert doc["basis"] == "time" and doc["agent"] == "a" and doc["of"] == "b"
    assert [e["preview"] for e in doc["only_other"]] == ["Time DuckDB", "DuckDB: q1 12 s"]


@pytest.mark.parametrize("args,code,text", [
    ((), 2, "give one question"),
    (("--lost", "--knew", "a"), 2, "give one question"),
    (("--knew", "a"), 2, "--knew needs --when"),
    (("--knew", "a", "--when", "HEAD", "HEAD"), 2, "takes no RANGE"),
    (("--lost", "--when", "HEAD"), 2, "go with --knew"),
    (("--knew", "ghost", "--when", "HEAD"), 1, "no agent 'ghost'"),
    (("--knew", "a", "--when", "b:nope"), 1, "unknown revision"),
    (("--knew", "a", "--when", "b:HEAD", "--basis", "link"), 1, "no spawn or collapse link"),
    (("--lost", "nope..HEAD"), 1, "unknown revision"),
    (("--knew", "a", "--when", "b:"), 1, "needs a revision"),
])
def test_cli_bad_input(tree, args, code, text):
    d, *_ = tree
    assert_one_line_error(invoke(d, "audit", *args), text, code=code)
