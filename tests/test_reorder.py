"""`trace reorder`: permutations and range moves, safety checks, strict/force, dry runs, bad
input, concurrent appenders, todo lists and the command line (with a scripted $EDITOR)."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import sys
import textwrap
from pathlib import Path

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke

from trace_core import Repository
from trace_core.errors import InputError, OperationError
from trace_core.reorder import (
    ReorderRefused,
    apply_moves,
    check,
    format_todo,
    moved_entries,
    order_from_runs,
    parse_todo,
    reorder,
    runs,
)


def contents(repo, rev="HEAD"):
    return [m.get("content") for m in repo.messages(rev)]


def fill(repo, texts):
    for t in texts:
        repo.user(t)


def state(repo):
    """Everything a refused or dry-run reorder must leave alone."""
    return (repo.head_commit(), len(repo.refs.reflog("refs/heads/main")), contents(repo))


# -- orders and moves -------------------------------------------------------------------------
def test_moves_put_ranges_before_an_entry_in_turn():
    assert apply_moves([(5, 8, 2)], 10) == ([0, 1, 5, 6, 7, 2, 3, 4, 8, 9], [5, 6, 7])
    assert apply_moves([(2, 4, 8)], 10) == ([0, 1, 4, 5, 6, 7, 2, 3, 8, 9], [2, 3])
    assert apply_moves([(0, 1, 10)], 10)[0] == [1, 2, 3, 4, 5, 6, 7, 8, 9, 0]
    # the second move's indices refer to the list the first one left
    assert apply_moves([(9, 10, 0), (1, 2, 0)], 10) == ([0, 9, 1, 2, 3, 4, 5, 6, 7, 8], [0, 9])
    assert apply_moves([(3, 5, 3), (3, 5, 5)], 10)[0] == list(range(10))   # no-ops


@pytest.mark.parametrize("moves, message", [
    ([(3, 3, 0)], "empty"), ([(4, 2, 0)], "empty"), ([(8, 11, 0)], "outside"),
    ([(-1, 2, 5)], "outside"), ([(1, 2, 11)], "no entry 11"), ([(2, 6, 4)], "inside the range"),
    ([(1, 2)], "expected"), ("1:2", "list"), ([(1, 2, True)], "integer"),
    ([(0, 1, 2)] * 1001, "too many")])
def test_bad_moves(moves, message):
    with pytest.raises(InputError, match=message):
        apply_moves(moves, 10)


def test_moved_entries_and_runs():
    assert moved_entries([0, 1, 5, 6, 7, 2, 3, 4, 8, 9]) in ([2, 3, 4], [5, 6, 7])
    assert moved_entries([1, 2, 3, 4, 0]) == [0]
    assert moved_entries(list(range(5))) == [] and moved_entries([]) == []
    assert runs([0, 1, 5, 6, 7, 2, 3, 4, 8, 9]) == [[0, 2], [5, 3], [2, 3], [8, 2]]
    assert order_from_runs([[0, 2], [5, 3], [2, 3], [8, 2]], 10) == [0, 1, 5, 6, 7, 2, 3, 4, 8, 9]
    with pytest.raises(InputError):
        order_from_runs([[0, 2], [1, 3]], 5)


# -- the operation ----------------------------------------------------------------------------
def test_reorder_by_moves_commits_once(repo):
    fill(repo, [f"m{i}" for i in range(10)])
    repo.pin(6)
    before = repo.get_commit(repo.head_commit())
    res = reorder(repo, moves=[(5, 8, 2)])
    c = res.commit
    assert contents(repo) == ["m0", "m1", "m5", "m6", "m7", "m2", "m3", "m4", "m8", "m9"]
    assert c.op == "reorder" and c.parents == (before.id,) and c.blobs == ()
    assert list(c.targets) == [5, 6, 7] == res.moved
    assert c.meta == {"base": before.hex, "count": 10, "order": [[0, 2], [5, 3], [2, 3], [8, 2]],
                      "warnings": [{"kind": "pinned", "entries": [6, 2, 3, 4]}]}
    assert c.message == "reorder: move #5-#7 before #2"
    assert c.total_tokens == before.total_tokens
    assert c.tokens == sum(repo.blob_tokens(e.blob) for e in before_entries(repo, before)[5:8])
    flags = [e.flags for e in repo.entries_at(c.id)]
    assert flags[3] == 1 and sum(flags) == 1          # the pin moved with its entry
    assert repo.diff("HEAD~1", "HEAD").items           # and diff sees the change


def before_entries(repo, commit):
    return repo.entries_at(commit.id)


def test_reorder_by_permutation(repo):
    fill(repo, ["a", "b", "c", "d"])
    res = reorder(repo, order=[3, 0, 1, 2], commit_message="d first")
    assert contents(repo) == ["d", "a", "b", "c"]
    assert res.commit.message == "d first" and res.moved == [3]
    assert order_from_runs(res.commit.meta["order"], 4) == [3, 0, 1, 2]


@pytest.mark.parametrize("order, message", [
    ([0, 1, 2], "missing"), ([0, 1, 2, 2], "twice"), ([0, 1, 2, 7], "does not exist"),
    ([0, 1, 2, -1], "does not exist"), ([0, 1, 2, "3"], "integer"), ([0, 1, 2, 3.0], "integer"),
    ("0123", "list"), ([0, 1, 2, 3, 4], "does not exist")])
def test_bad_orders_change_nothing(repo, order, message):
    fill(repo, ["a", "b", "c", "d"])
    s = state(repo)
    with pytest.raises(InputError, match=message):
        reorder(repo, order=order)
    assert state(repo) == s


def test_order_or_moves_exactly_one(repo):
    fill(repo, ["a", "b"])
    with pytest.raises(InputError):
        reorder(repo)
    with pytest.raises(InputError):
        reorder(repo, order=[1, 0], moves=[(0, 1, 2)])


def test_nothing_to_do_and_dry_run_change_nothing(repo):
    fill(repo, ["a", "b", "c"])
    s = state(repo)
    res = reorder(repo, order=[0, 1, 2])
    assert res.commit is None and not res.changed and res.moved == []
    res = reorder(repo, moves=[(1, 2, 1)])
    assert res.commit is None and not res.changed
    res = reorder(repo, moves=[(2, 3, 0)], dry_run=True)
    assert res.commit is None and res.changed and res.dry_run and res.order == [2, 0, 1]
    assert state(repo) == s


def test_empty_context(repo):
    res = reorder(repo, order=[])
    assert res.commit is None and not res.changed
    with pytest.raises(InputError):
        reorder(repo, moves=[(0, 1, 0)])


def test_reorder_inside_a_transaction_and_on_a_worktree(repo):
    fill(repo, ["a", "b", "c"])
    repo.refs.add_if_new("refs/heads/side", repo.head_commit().hex())
    with repo.transaction():
        reorder(repo, moves=[(2, 3, 0)])
        repo.user("d")
    assert contents(repo) == ["c", "a", "b", "d"]
    side = repo.worktree("side")
    reorder(side, order=[1, 0, 2])
    assert contents(repo, "side") == ["b", "a", "c"] and contents(repo) == ["c", "a", "b", "d"]


# -- safety checks ----------------------------------------------------------------------------
def kinds(res):
    return sorted({w.kind for w in res.warnings})


def test_tool_result_before_its_call_openai(repo):
    repo.user("weather?")
    repo.tool_call("weather", {"city": "Oslo"}, call_id="call_1")
    repo.tool_result("call_1", "rainy")
    res = reorder(repo, moves=[(2, 3, 1)], dry_run=True)
    w = [w for w in res.warnings if w.kind == "tool-result"]
    assert len(w) == 1 and w[0].entries == (2, 1)
    assert "#2" in w[0].message and "#1" in w[0].message and "call_1" in w[0].message
    # moving call and result together keeps them paired (the call still precedes its question)
    assert kinds(reorder(repo, moves=[(1, 3, 0)], dry_run=True)) == ["answer"]


def test_tool_result_before_its_call_anthropic_and_responses(repo):
    repo.append({"role": "user", "content": "go"})
    repo.append({"role": "assistant", "content": [
        {"type": "text", "text": "calling"},
        {"type": "tool_use", "id": "toolu_1", "name": "ls", "input": {}}]})
    repo.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "toolu_1", "content": "a.txt"}]})
    repo.append({"type": "function_call", "call_id": "fc_9", "name": "ls", "arguments": "{}"})
    repo.append({"type": "function_call_output", "call_id": "fc_9", "output": "b.txt"})
    res = reorder(repo, order=[0, 2, 1, 4, 3], dry_run=True)
    pairs = sorted(w.entries for w in res.warnings if w.kind == "tool-result")
    assert pairs == [(2, 1), (4, 3)]
    # the Anthropic tool-result carrier is no question: moving it is no answer warning
    assert [w for w in res.warnings if w.kind == "answer"] == []


def test_answer_before_its_question(repo):
    fill(repo, ["q1"])
    repo.assistant("a1")
    repo.user("q2")
    repo.assistant("a2")
    res = reorder(repo, moves=[(3, 4, 2)], dry_run=True)      # a2 before q2
    assert [(w.kind, w.entries) for w in res.warnings] == [("answer", (3, 2))]
    # a whole turn moving is fine; after a2 moved, its question is q1 (the closest before it)
    assert reorder(repo, moves=[(2, 4, 0)], dry_run=True).warnings == []
    reorder(repo, moves=[(3, 4, 2)])
    assert contents(repo) == ["q1", "a1", "a2", "q2"]
    assert reorder(repo, moves=[(1, 2, 3)], dry_run=True).warnings == []
    assert [w.entries for w in reorder(repo, moves=[(0, 1, 3)], dry_run=True).warnings] == \
        [(1, 0), (2, 0)]


def test_reference_before_its_target(repo):
    repo.user("the plan: step 1, step 2")
    plan_blob = repo.entries_at(repo.head_commit())[0].blob.hex()
    repo.assistant(f"following plan {plan_blob}")
    repo.append({"role": "assistant", "id": "msg_abcdef12", "content": "draft"})
    repo.append({"role": "user", "content": "revise it", "reply_to": "msg_abcdef12"})
    res = reorder(repo, order=[1, 0, 3, 2], dry_run=True)
    refs = sorted(w.entries for w in res.warnings if w.kind == "reference")
    assert refs == [(1, 0), (3, 2)]
    # short ids and mere mentions are not references
    repo.append({"role": "user", "content": "x", "reply_to": "msg_1"})
    repo.append({"role": "assistant", "id": "msg_1", "content": "y"})
    res = reorder(repo, order=[0, 1, 2, 3, 5, 4], dry_run=True)
    assert [w for w in res.warnings if w.kind == "reference"] == []


def test_moves_across_the_system_prompt(repo):
    repo.system("be brief")
    fill(repo, ["a", "b"])
    res = reorder(repo, moves=[(2, 3, 0)], dry_run=True)
    w = [w for w in res.warnings if w.kind == "system"]
    assert len(w) == 1 and w[0].entries == (0, 2) and "#2" in w[0].message
    res = reorder(repo, moves=[(0, 1, 3)], dry_run=True)      # the prompt itself moves
    w = [w for w in res.warnings if w.kind == "system"]
    assert w[0].entries == (0, 1, 2)
    assert reorder(repo, moves=[(2, 3, 1)], dry_run=True).warnings == []


def test_moves_across_a_pinned_block(repo):
    fill(repo, ["a", "P1", "P2", "b", "c"])
    repo.pin(1, 2)
    res = reorder(repo, moves=[(3, 4, 0)], dry_run=True)      # b jumps over the block
    w = [w for w in res.warnings if w.kind == "pinned"]
    assert len(w) == 1 and w[0].entries == (1, 2, 3) and "#1-#2" in w[0].message
    res = reorder(repo, moves=[(4, 5, 2)], dry_run=True)      # c splits the block
    assert [w.entries for w in res.warnings if w.kind == "pinned"] == [(1, 2, 4)]
    assert reorder(repo, moves=[(4, 5, 3)], dry_run=True).warnings == []   # same side
    assert reorder(repo, order=[0, 2, 1, 3, 4], dry_run=True).warnings == []  # inside it


def test_strict_refuses_force_applies_and_records(repo):
    repo.system("sys")
    fill(repo, ["a", "b"])
    s = state(repo)
    with pytest.raises(ReorderRefused) as exc:
        reorder(repo, moves=[(2, 3, 0)], strict=True)
    assert exc.value.warnings and "#2" in str(exc.value)
    assert state(repo) == s
    res = reorder(repo, moves=[(2, 3, 0)], strict=True, force=True)
    assert res.commit.meta["forced"] is True
    assert res.commit.meta["warnings"] == [{"kind": "system", "entries": [0, 2]}]
    # without --strict the reorder warns, applies and records what it warned about
    res = reorder(repo, moves=[(0, 1, 3)])
    assert res.commit is not None and "forced" not in res.commit.meta
    assert res.commit.meta["warnings"][0]["kind"] == "system"


def test_long_warning_lists_are_capped_in_the_meta(repo):
    repo.system("sys")
    with repo.transaction():
        fill(repo, [f"m{i}" for i in range(100)])
    res = reorder(repo, moves=[(0, 1, 101)])
    (w,) = res.commit.meta["warnings"]
    assert len(w["entries"]) == 64 and w["more"] == 101 - 64


def test_check_only_reports_what_changes(repo):
    msgs = [{"role": "tool", "tool_call_id": "c", "content": "early"},
            {"role": "assistant", "content": None,
             "tool_calls": [{"id": "c", "type": "function", "function": {"name": "f"}}]}]
    assert check(msgs, [0, 0], [b"\1" * 32, b"\2" * 32], [1, 0]) == []


# -- concurrent writers -----------------------------------------------------------------------
def test_append_between_plan_and_commit_is_kept(repo, tmp_path, monkeypatch):
    from trace_core.plumbing import commit as primitive
    fill(repo, ["a", "b", "c"])
    other = Repository.open(repo.trace_dir)
    real = primitive.tip
    calls = []

    def tip_then_append(r):
        out = real(r)
        if r is not repo:
            return out
        if not calls:                   # another writer commits right after our first read
            other.user("late")
        calls.append(1)
        return out
    monkeypatch.setattr(primitive, "tip", tip_then_append)
    try:
        res = reorder(repo, moves=[(2, 3, 0)])
    finally:
        monkeypatch.undo()
        other.close()
    assert len(calls) >= 2                      # the compare-and-swap failed once: rebuilt
    assert contents(repo) == ["c", "a", "b", "late"]
    assert contents(repo, "HEAD~1") == ["a", "b", "c", "late"]
    assert res.commit.meta["base"] != repo.resolve("HEAD~1").hex()


def test_a_concurrent_rewrite_refuses_the_reorder(repo, monkeypatch):
    from trace_core.plumbing import commit as primitive
    fill(repo, ["a", "b", "c"])
    other = Repository.open(repo.trace_dir)
    real = primitive.tip
    calls = []

    def tip_then_drop(r):
        out = real(r)
        if r is not repo:
            return out
        if not calls:
            other.drop(0)
        calls.append(1)
        return out
    monkeypatch.setattr(primitive, "tip", tip_then_drop)
    try:
        with pytest.raises(OperationError, match="other than by appends"):
            reorder(repo, moves=[(2, 3, 0)])
    finally:
        monkeypatch.undo()
        other.close()
    assert contents(repo) == ["b", "c"]
    assert repo.get_commit(repo.head_commit()).op == "drop"


def _appender(path: str, n: int) -> None:
    r = Repository.open(path)
    for i in range(n):
        r.user(f"late-{i}")
    r.close()


def test_a_second_process_appending_while_reorders_run_loses_nothing(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    fill(r, ["a", "b", "c", "d"])
    ctx = mp.get_context("fork")
    p = ctx.Process(target=_appender, args=(path, 150))
    p.start()
    done = 0
    while p.is_alive() or done < 10:
        reorder(r, moves=[(3, 4, 0)])        # rotate the first four entries right
        done += 1
    p.join(120)
    assert p.exitcode == 0
    msgs = contents(r)
    late = [m for m in msgs if m.startswith("late-")]
    assert late == [f"late-{i}" for i in range(150)]          # all of them, in order
    head = msgs[:4]
    rot = done % 4
    expected = ["a", "b", "c", "d"]
    expected = expected[-rot:] + expected[:-rot] if rot else expected
    assert head == expected and len(msgs) == 154
    r.close()


def test_plan_against_an_older_base(repo):
    fill(repo, ["a", "b"])
    base = repo.head_commit()
    repo.user("c")
    res = reorder(repo, order=[1, 0], base=base)
    assert contents(repo) == ["b", "a", "c"] and res.base == base
    repo.drop(0)
    with pytest.raises(OperationError):
        reorder(repo, order=[1, 0], base=base)


# -- todo lists -------------------------------------------------------------------------------
def test_todo_round_trip(repo):
    repo.system("be brief")
    repo.user("hello\nworld")
    repo.pin(0)
    entries = repo.entries_at(repo.head_commit())
    text = format_todo(repo.messages(), [e.flags for e in entries], "ctx of main")
    lines = text.splitlines()
    assert lines[0] == "pick #0 system [pinned] be brief"
    assert lines[1] == "pick #1 user hello world"
    assert "# ctx of main" in lines and all(ln.startswith("#") for ln in lines[2:])
    assert parse_todo(text, 2) == [0, 1]
    assert parse_todo("\n".join([lines[1], "  ", "# c", "p 0 anything"]), 2) == [1, 0]


@pytest.mark.parametrize("text, message", [
    ("pick #0\n", "lacks entry #1"), ("pick #0\npick #1\npick #1\n", "twice"),
    ("pick #0\npick #7\n", "no entry #7"), ("pick #0\nmove #1\n", "line 2: expected"),
    ("pick #0\ndrop #1\n", "not supported"), ("# nothing\n", "empty"),
    ("pick #0 x\npick one\n", "line 2")])
def test_bad_todo_lists(text, message):
    with pytest.raises(InputError, match=message):
        parse_todo(text, 2)


# -- the command line -------------------------------------------------------------------------
@pytest.fixture
def rdir(repo):
    """sys, q1, a1, q2, a2 (built through the API: the commands under test run the CLI)."""
    for role, text in [("system", "sys"), ("user", "q1"), ("assistant", "a1"), ("user", "q2"),
                       ("assistant", "a2")]:
        repo.append({"role": role, "content": text})
    return os.path.dirname(repo.trace_dir)


def ctx_of(rdir):
    return [m["content"] for m in json.loads(invoke(rdir, "context", check=True).stdout)]


def head_of(rdir):
    return invoke(rdir, "rev-parse", "HEAD", check=True).stdout.strip()


def editor(tmp_path, body: str) -> dict:
    script = tmp_path / "ed.py"
    script.write_text("import sys\npath = sys.argv[1]\nlines = open(path).read().splitlines()\n"
                      + textwrap.dedent(body)
                      + "\nopen(path, 'w').write('\\n'.join(lines) + '\\n')\n")
    return {"EDITOR": f"{sys.executable} {script}", "VISUAL": ""}


def test_cli_move(rdir):
    p = invoke(rdir, "reorder", "--move", "3:5", "--to", "1", check=True)
    assert p.stdout.startswith("[main ") and "2 entries moved" in p.stdout
    assert ctx_of(rdir) == ["sys", "q2", "a2", "q1", "a1"]
    show = json.loads(invoke(rdir, "show", "--json", check=True).stdout)
    assert show["op"] == "reorder" and show["targets"] == [3, 4]


def test_cli_json_dry_run_and_strict(rdir):
    head = head_of(rdir)
    out = json.loads(invoke(rdir, "reorder", "--move", "2", "--to", "1", "--dry-run", "--json",
                       check=True).stdout)
    assert out["commit"] is None and out["order"] == [0, 2, 1, 3, 4] and out["dry_run"]
    assert [w["kind"] for w in out["warnings"]] == ["answer"]
    p = invoke(rdir, "reorder", "--move", "2", "--to", "1", "--dry-run", check=True)
    assert "dry run" in p.stdout and "warning: the answer #2" in p.stderr
    p = invoke(rdir, "reorder", "--move", "2", "--to", "1", "--strict")
    assert p.returncode == 1 and "warning:" in p.stderr
    assert p.stderr.strip().splitlines()[-1].startswith("error: reorder refused")
    assert head_of(rdir) == head
    p = invoke(rdir, "reorder", "--move", "2", "--to", "1", "--strict", "--force", check=True)
    assert "recorded in the commit" in p.stderr
    assert json.loads(invoke(rdir, "show", "--json", check=True).stdout)["meta"]["forced"] is True


def test_cli_bad_input_is_one_line_and_changes_nothing(rdir):
    head = head_of(rdir)
    for args, code in [(["--move", "3:9", "--to", "0"], 1), (["--move", "2:2", "--to", "0"], 1),
                       (["--move", "1:4", "--to", "2"], 1), (["--move", "a:b", "--to", "0"], 2),
                       (["--move", "1:2"], 2), ([], 2), (["--move", "1", "--to", "0", "-i"], 2),
                       (["--todo", "/nonexistent/todo"], 1), (["--to", "-1", "--move", "1"], 2)]:
        p = invoke(rdir, "reorder", *args)
        if p.stderr.startswith("Usage: "):
            assert_usage_error(p)
        else:
            assert_one_line_error(p, code=code)
        assert p.returncode == code, (args, p.stderr)
    assert head_of(rdir) == head


def test_cli_interactive_with_an_editor_script(rdir, tmp_path):
    # the script moves the last pick line to the second place
    env = editor(tmp_path, """
        picks = [i for i, ln in enumerate(lines) if ln.startswith('pick')]
        last = lines.pop(picks[-1])
        lines.insert(picks[1], last)
    """)
    p = invoke(rdir, "reorder", "-i", env=env, check=True)
    assert "reorder" in p.stdout
    assert ctx_of(rdir) == ["sys", "a2", "q1", "a1", "q2"]
    assert "answer" in p.stderr          # a2 now precedes its question q2


def test_cli_interactive_unchanged_removed_duplicated(rdir, tmp_path):
    head = head_of(rdir)
    p = invoke(rdir, "reorder", "-i", env=editor(tmp_path, "pass"), check=True)
    assert p.stdout.strip() == "nothing to do: the order is unchanged"
    p = invoke(rdir, "reorder", "-i", env=editor(tmp_path, "del lines[1]"))
    assert_one_line_error(p, "lacks entry #1")
    p = invoke(rdir, "reorder", "-i", env=editor(tmp_path, "lines.insert(0, lines[2])"))
    assert_one_line_error(p, "twice")
    p = invoke(rdir, "reorder", "-i", env=editor(tmp_path, "lines[0] = 'pick #42 nope'"))
    assert_one_line_error(p, "no entry #42")
    p = invoke(rdir, "reorder", "-i", env={"EDITOR": "false", "VISUAL": ""})
    assert_one_line_error(p, "exited with status")
    assert head_of(rdir) == head


def test_cli_interactive_typo_keeps_the_edit(rdir, tmp_path):
    # a typo must not throw the user's reordering away: the edited list is kept for --todo
    env = editor(tmp_path, """
        picks = [i for i, ln in enumerate(lines) if ln.startswith('pick')]
        lines.insert(picks[1], lines.pop(picks[-1]))
        lines[picks[0]] = lines[picks[0]].replace('pick', 'pik')
    """)
    p = invoke(rdir, "reorder", "-i", env=env)
    assert_one_line_error(p, "run again with --todo ")
    kept = p.stderr.split("run again with --todo ", 1)[1].rstrip(")\n")
    text = Path(kept).read_text()
    assert "pik #0" in text
    with open(kept, "w") as f:
        f.write(text.replace("pik #0", "pick #0"))
    invoke(rdir, "reorder", "--todo", kept, check=True)
    assert ctx_of(rdir) == ["sys", "a2", "q1", "a1", "q2"]
    os.unlink(kept)


def test_cli_todo_file(rdir, tmp_path):
    todo = invoke(rdir, "reorder", "--print-todo", check=True).stdout
    assert todo.startswith("pick #0 system sys\n")
    picks = [ln for ln in todo.splitlines() if ln.startswith("pick")]
    path = tmp_path / "todo"
    path.write_text("\n".join([picks[0], picks[3], picks[4], picks[1], picks[2]]) + "\n")
    invoke(rdir, "reorder", "--todo", str(path), check=True)
    assert ctx_of(rdir) == ["sys", "q2", "a2", "q1", "a1"]
    p = invoke(rdir, "reorder", "--todo", "-", input="pick #0\n")
    assert_one_line_error(p, "lacks")
