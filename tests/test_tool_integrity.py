"""Tool-call integrity as an invariant: every operation that changes the context warns when it
breaks a call/result pair and is refused under strict checking (Python and CLI), what counts as
broken in each message shape, status, and the explicit repairs of `context --repair`."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke

from trace_core.repository import Repository
from trace_core.toolpairs import (
    ORPHAN,
    UNANSWERED,
    ToolPairingError,
    analyze,
    repair,
)

BROKEN = "breaks tool-call pairing"


def call(cid, name="ls"):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": cid, "type": "function",
                            "function": {"name": name, "arguments": "{}"}}]}


def result(cid, text="ok"):
    return {"role": "tool", "tool_call_id": cid, "content": text}


def user(text):
    return {"role": "user", "content": text}


def base(repo):
    """system, user, call c1, its result, assistant answer: five commits, nothing broken."""
    repo.system("s")
    repo.user("q")
    repo.tool_call("ls", {}, call_id="c1")
    repo.tool_result("c1", "a.txt")
    repo.assistant("done")


# -- what is broken ---------------------------------------------------------------------------
def kinds(msgs):
    p = analyze(msgs)
    return sorted((x.kind, x.index, x.call_id) for x in p.problems), \
        [(q.index, q.call_id) for q in p.pending]


def test_definitions_chat_completions():
    assert kinds([user("q"), call("c1"), result("c1"), user("next")]) == ([], [])
    # a call at the end awaiting its result is pending, not broken
    assert kinds([user("q"), call("c1")]) == ([], [(1, "c1")])
    # the conversation moved on without the result
    assert kinds([user("q"), call("c1"), user("next")]) == ([(UNANSWERED, 1, "c1")], [])
    # a result with no call before it, and one whose call was cut off by a message
    assert kinds([user("q"), result("c9")]) == ([(ORPHAN, 1, "c9")], [])
    assert kinds([call("c1"), user("x"), result("c1")]) == \
        ([(ORPHAN, 2, "c1"), (UNANSWERED, 0, "c1")], [])
    # a result answered twice: the second has no call awaiting it
    assert kinds([call("c1"), result("c1"), result("c1")]) == ([(ORPHAN, 2, "c1")], [])


def test_definitions_anthropic_and_responses():
    use = {"role": "assistant", "content": [
        {"type": "text", "text": "let me look"},
        {"type": "tool_use", "id": "t1", "name": "ls", "input": {}},
        {"type": "tool_use", "id": "t2", "name": "cat", "input": {}}]}
    both = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "a"},
        {"type": "tool_result", "tool_use_id": "t2", "content": "b"},
        {"type": "text", "text": "and now?"}]}
    one = {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t1",
                                        "content": "a"}]}
    assert kinds([user("q"), use, both, {"role": "assistant", "content": "ok"}]) == ([], [])
    assert kinds([user("q"), use, one, {"role": "assistant", "content": "ok"}]) == \
        ([(UNANSWERED, 1, "t2")], [])
    # Responses: parallel calls, outputs in any order, a reasoning item (no role) is neutral
    fc = [{"type": "function_call", "call_id": c, "name": "f", "arguments": "{}"}
          for c in ("a", "b")]
    out = [{"type": "function_call_output", "call_id": c, "output": "x"} for c in ("b", "a")]
    reasoning = {"type": "reasoning", "summary": []}
    assert kinds([user("q"), reasoning, *fc, reasoning, *out,
                  {"type": "message", "role": "assistant", "content": "done"}]) == ([], [])
    assert kinds([user("q"), *fc, out[0]]) == ([], [(1, "a")])
    assert kinds([user("q"), *fc, out[0], user("x")]) == ([(UNANSWERED, 1, "a")], [])


# -- every operation: warns by default, refused under strict ----------------------------------
def _broken_commit(repo):
    """A commit whose context lacks the call c1 (its result is orphaned); HEAD stays valid."""
    base(repo)
    broken = repo.drop(2).hex
    repo.reset("HEAD~1", "hard")
    return broken


def s_append(repo):
    base(repo)
    return {}, lambda r: r.tool_result("nope", "x"), \
        (["commit", "--input", "json"], json.dumps(result("nope")))


def s_edit(repo):
    base(repo)
    return {}, lambda r: r.edit(2, {"role": "assistant", "content": "no call"}), \
        (["commit", "--type", "edit", "--target", "2", "no call"], None)


def s_drop(repo):
    base(repo)
    return {}, lambda r: r.drop(2), (["commit", "--type", "drop", "--target", "2"], None)


def s_reset(repo):
    b = _broken_commit(repo)
    return {}, lambda r: r.reset(b, "hard"), (["reset", "--hard", b], None)


def s_checkout(repo):
    b = _broken_commit(repo)
    return {}, lambda r: r.checkout(b), (["checkout", b], None)


def s_switch(repo):
    b = _broken_commit(repo)
    repo.branch_create("broken", b)
    return {}, lambda r: r.switch("broken"), (["switch", "broken"], None)


def s_merge(repo):
    base(repo)
    repo.branch_create("explore")
    repo.worktree("explore").drop(2)
    repo.user("more")
    return {}, lambda r: r.merge("explore"), (["merge", "explore"], None)


def s_cherry_pick(repo):
    base(repo)
    repo.branch_create("explore")
    d = repo.worktree("explore").drop(2).hex
    repo.user("more")
    return {}, lambda r: r.cherry_pick(d), (["cherry-pick", d], None)


def s_revert(repo):
    base(repo)      # HEAD~2 appended the call: reverting it orphans the result
    return {}, lambda r: r.revert("HEAD~2"), (["revert", "HEAD~2"], None)


def s_rebase(repo):
    base(repo)
    repo.branch_create("explore")
    repo.tool_call("ls", {}, call_id="c2")      # main ends mid-turn (not broken)
    repo.switch("explore")
    repo.user("e1")                             # replayed after the pending call: cut off
    return {}, lambda r: r.rebase("main"), (["rebase", "main"], None)


def s_reorder(repo):
    base(repo)      # the answer moved between the call and its result (no reorder check warns)
    from trace_core.reorder import reorder
    return {}, lambda r: reorder(r, moves=[(4, 5, 3)]), \
        (["reorder", "--move", "4", "--to", "3"], None)


def s_compress(repo):
    repo.user("q")   # Responses parallel calls; summarizing the inner pair cuts the outer one
    repo.append({"type": "function_call", "call_id": "a", "name": "ls", "arguments": "{}"})
    repo.append({"type": "function_call", "call_id": "b", "name": "cat",
                 "arguments": json.dumps({"path": "a rather long file name.txt"})})
    repo.append({"type": "function_call_output", "call_id": "b", "output": "long text " * 20})
    repo.append({"type": "function_call_output", "call_id": "a", "output": "a.txt"})
    repo.assistant("done")
    from trace_core.compress import compress
    return {}, lambda r: compress(r, None, entries="2:4", strategy="manual",
                                  summaries=["cat read the file"]), \
        (["compress", "--entries", "2:4", "-s", "manual", "--summary", "cat read the file"],
         None)


SCENARIOS = {f.__name__[2:]: f for f in (s_append, s_edit, s_drop, s_reset, s_checkout,
                                         s_switch, s_merge, s_cherry_pick, s_revert, s_rebase,
                                         s_reorder, s_compress)}


def _refs(repo):
    return repo.refs.read("HEAD"), repo.head_commit()


@pytest.mark.parametrize("name", SCENARIOS)
def test_python_warns_once(repo, name):
    _, op, _ = SCENARIOS[name](repo)
    repo.warnings.clear()
    before = repo.head_commit()
    op(repo)
    assert repo.head_commit() != before
    broken = [w for w in repo.warnings if BROKEN in w]
    assert len(broken) == 1, repo.warnings
    assert repo.status().broken_pairs


@pytest.mark.parametrize("name", SCENARIOS)
def test_python_strict_refuses(repo, name):
    _, op, _ = SCENARIOS[name](repo)
    repo.warnings.clear()
    before = _refs(repo)
    with repo.strict_tools(), pytest.raises(ToolPairingError, match=BROKEN):
        op(repo)
    assert _refs(repo) == before
    assert not repo.tools_strict and not repo.status().broken_pairs


def _setup_dir(rdir, name):
    with Repository.open(rdir) as r:
        _, _, (args, stdin) = SCENARIOS[name](r)
        return args, stdin, r.refs.read("HEAD"), r.head_commit()


@pytest.mark.parametrize("name", SCENARIOS)
def test_cli_warns(rdir, name):
    args, stdin, _, head = _setup_dir(rdir, name)
    p = invoke(rdir, *args, input=stdin)
    assert p.returncode == 0, p.stderr
    assert [ln for ln in p.stderr.splitlines() if BROKEN in ln][0].startswith("warning: ")
    assert p.stderr.count(BROKEN) == 1, p.stderr
    with Repository.open(rdir) as r:
        assert r.head_commit() != head


@pytest.mark.parametrize("name", SCENARIOS)
def test_cli_strict_refuses(rdir, name):
    args, stdin, symref, head = _setup_dir(rdir, name)
    p = invoke(rdir, *args[:1], "--strict", *args[1:], input=stdin)
    assert_one_line_error(p, BROKEN, "nothing was changed")
    with Repository.open(rdir) as r:
        assert (r.refs.read("HEAD"), r.head_commit()) == (symref, head)


def test_transaction_checked_once_as_a_whole(repo):
    base(repo)
    repo.warnings.clear()
    with repo.transaction():       # broken in between, whole at the end: nothing to say
        repo.drop(3)
        repo.drop(2)
    assert repo.warnings == []
    before = repo.head_commit()
    with repo.strict_tools(), pytest.raises(ToolPairingError), repo.transaction():
        repo.tool_result("nope", "x")
    assert repo.head_commit() == before
    with repo.transaction():
        repo.tool_result("nope", "x")
    assert len([w for w in repo.warnings if BROKEN in w]) == 1


def test_pre_existing_breakage_is_not_repeated(repo):
    base(repo)
    repo.drop(2)
    assert len(repo.warnings) == 1
    repo.warnings.clear()
    repo.user("next")                     # the orphan is still there: not this change's doing
    repo.edit(-1, user("next, edited"))
    repo.reset("HEAD~1", "hard")
    assert repo.warnings == []
    repo.drop(2)                          # removing the orphan repairs, never warns
    assert repo.warnings == [] and repo.status().broken_pairs == []


def test_mid_turn_is_not_broken_and_appends_stay_cheap(repo):
    repo.user("q")
    repo.tool_call("ls", {}, call_id="c1")
    repo.tool_call("cat", {}, call_id="c2")   # (chat-completions would want one message)
    repo.tool_result("c2", "b")
    repo.tool_result("c1", "a")
    repo.assistant("done")
    assert repo.warnings == []
    repo.tool_call("ls", {}, call_id="c3")
    repo.reset("HEAD~1", "hard")
    repo.tool_call("ls", {}, call_id="c3")
    repo.assistant("moving on without the result")
    assert len(repo.warnings) == 1 and "'c3'" in repo.warnings[0]


# -- status --------------------------------------------------------------------------------------
def test_status_reports_pending_calls_and_broken_pairs(rdir):
    with Repository.open(rdir) as r:
        base(r)
        r.reset("HEAD~2", "hard")        # the rollback cut between the call and its result
    out = invoke(rdir, "status", check=True).stdout
    assert "HEAD ends with 1 tool call awaiting its result: ls (c1, #2)" in out
    st = json.loads(invoke(rdir, "status", "--json", check=True).stdout)
    assert st["pending_calls"] == [{"index": 2, "call_id": "c1", "name": "ls"}]
    assert st["broken_pairs"] == []
    p = invoke(rdir, "commit", "next")
    assert "warning: append breaks tool-call pairing" in p.stderr
    out = invoke(rdir, "status", check=True).stdout
    assert "awaiting" not in out
    assert "Broken tool-call pairs (1;" in out and "unanswered-call" in out
    st = json.loads(invoke(rdir, "status", "--json", check=True).stdout)
    assert st["pending_calls"] == []
    assert st["broken_pairs"] == [{"kind": "unanswered-call", "index": 2, "call_id": "c1",
                                   "before": 3, "message": "tool call 'c1' (#2) gets no "
                                   "result before #3"}]


def test_reset_says_when_head_ends_mid_turn(rdir):
    with Repository.open(rdir) as r:
        base(r)
    out = invoke(rdir, "reset", "--hard", "HEAD~2", check=True).stdout
    assert "HEAD ends with 1 tool call awaiting its result" in out
    out = invoke(rdir, "reset", "--hard", "HEAD~1", check=True).stdout
    assert "awaiting" not in out


# -- repairs --------------------------------------------------------------------------------------
def test_repair_chat_completions():
    msgs = [user("q"), call("c1"), user("moved on"), result("c1"), result("zz"), call("c2")]
    fixed = repair(msgs, "drop-orphans")
    assert fixed.messages == [user("q"), user("moved on")]
    assert fixed.origins == [0, 2]
    assert len(fixed.notes) == 4 and analyze(fixed.messages).problems == []
    fixed = repair(msgs, "placeholder")
    assert [m.get("tool_call_id") for m in fixed.messages] == [None, None, "c1", None, None,
                                                              "c2"]
    assert fixed.origins == [0, 1, None, 2, 5, None]
    p = analyze(fixed.messages)
    assert p.problems == [] and p.pending == []
    assert fixed.messages[2]["role"] == "tool" and fixed.origins[2] is None
    assert msgs[3] == result("c1")              # the input is not changed


def test_repair_anthropic_and_responses_blocks():
    use = {"role": "assistant", "content": [
        {"type": "text", "text": "looking"},
        {"type": "tool_use", "id": "t1", "name": "ls", "input": {}},
        {"type": "tool_use", "id": "t2", "name": "cat", "input": {}}]}
    one = {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "a"},
        {"type": "tool_result", "tool_use_id": "t9", "content": "?"}]}
    msgs = [user("q"), use, one, user("next")]
    fixed = repair(msgs, "drop-orphans")
    assert fixed.messages[1]["content"] == use["content"][:2]          # t2 left out
    assert fixed.messages[2]["content"] == one["content"][:1]          # t9 left out
    assert analyze(fixed.messages).problems == []
    fixed = repair(msgs, "placeholder")
    ph = fixed.messages[3]
    assert ph["role"] == "user" and ph["content"][0]["tool_use_id"] == "t2"
    assert analyze(fixed.messages).problems == []
    fc = {"type": "function_call", "call_id": "a", "name": "f", "arguments": "{}"}
    fixed = repair([user("q"), fc], "placeholder")
    assert fixed.messages[-1] == {"type": "function_call_output", "call_id": "a",
                                  "output": "[no result was recorded for this tool call]"}
    assert repair([user("q"), fc], "drop-orphans").messages == [user("q")]
    with pytest.raises(Exception, match="unknown repair"):
        repair([], "magic")


def test_context_repair_cli_is_reported_and_leaves_history(rdir):
    with Repository.open(rdir) as r:
        base(r)
        r.drop(2)
    plain = invoke(rdir, "context", check=True)
    assert "tool_call_id" in plain.stdout and plain.stderr == ""      # never silently
    p = invoke(rdir, "context", "--repair", "drop-orphans", check=True)
    msgs = json.loads(p.stdout)
    assert [m.get("role") for m in msgs] == ["system", "user", "assistant"]
    assert p.stderr.splitlines() == [
        "warning: repaired: dropped tool result #2 for 'c1' (no call awaiting it)"]
    p = invoke(rdir, "context", "--repair", "placeholder", "--format", "json", check=True)
    assert len(json.loads(p.stdout)) == 3 and "repaired" in p.stderr
    with Repository.open(rdir) as r:
        assert len(r.messages()) == 4 and len(r.status().broken_pairs) == 1
        r.warnings.clear()
        out = r.materialize("openai", repair="drop-orphans")
        assert len(out) == 3 and r.warnings == [
            "repaired: dropped tool result #2 for 'c1' (no call awaiting it)"]
    assert_usage_error(invoke(rdir, "context", "--repair", "x"), "--repair")


def test_repair_knows_every_responses_call_item():
    from trace_core.toolpairs import analyze, repair
    orphan = [{"role": "user", "content": "go"},
              {"type": "custom_tool_call_output", "call_id": "x", "output": "done"},
              {"role": "assistant", "content": "ok"}]
    fixed = repair(orphan, "drop-orphans")
    assert analyze(fixed.messages).problems == [] and len(fixed.messages) == 2
    pending = [{"role": "user", "content": "go"},
               {"type": "custom_tool_call", "call_id": "y", "name": "patch", "input": "diff"}]
    fixed = repair(pending, "placeholder")
    assert fixed.messages[-1]["type"] == "custom_tool_call_output"
    assert analyze(fixed.messages).pending == [] and analyze(fixed.messages).problems == []
    from trace_core.messages import message_text
    assert message_text(orphan[1]) == "done"
