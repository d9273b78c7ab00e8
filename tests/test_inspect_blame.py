"""`trace blame` / `repo.blame` (trace_core/inspect/blame.py, docs/inspect.md "Blame")."""

from __future__ import annotations

import json
import random
from collections import Counter

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import InputError, RevisionError, TraceError
from trace_core.inspect import blame as blame_mod
from trace_core.repository import Repository


def ops(rec):
    return [(e["op"], e["commit"]) for e in rec["events"]]


def test_appends_each_entry_to_its_commit_agent_time_and_tokens(repo):
    commits = [repo.system("be brief", author="setup"),
               repo.user("what is 2+2?", author="alice"),
               repo.assistant("4", author="bot")]
    recs = repo.blame()
    assert [r["index"] for r in recs] == [0, 1, 2]
    for r, c in zip(recs, commits, strict=True):
        assert r["introduced"]["commit"] == c.hex
        assert r["introduced"]["agent"] == c.author
        assert r["introduced"]["time"] == c.time_ms
        assert r["introduced"]["op"] == "append"
        assert r["tokens"] == c.tokens == repo.blob_tokens(r["blob"] and bytes.fromhex(r["blob"]))
        assert r["events"] == [] and r["chain"] == "append"
    assert [r["role"] for r in recs] == ["system", "user", "assistant"]
    assert recs[1]["preview"] == "what is 2+2?"


def test_an_edit_keeps_the_entry_and_is_an_event(repo):
    first = repo.user("draft")
    repo.assistant("ok")
    ed = repo.edit(0, {"role": "user", "content": "final wording of the question"}, author="eve")
    r = repo.blame()[0]
    assert r["introduced"]["commit"] == first.hex
    assert ops(r) == [("edit", ed.hex)]
    assert r["events"][0]["agent"] == "eve"
    assert r["chain"] == f"append→edit@{ed.hex[:4]}"
    assert r["tokens"] == ed.tokens and r["preview"] == "final wording of the question"
    assert repo.blame()[1]["events"] == []


def test_pins_unpins_and_drops(repo):
    cs = [repo.user(f"m{i}") for i in range(5)]
    p = repo.pin(1, 3)
    u = repo.unpin(3)
    repo.drop(0, 2)
    recs = repo.blame()
    assert [r["introduced"]["commit"] for r in recs] == [cs[1].hex, cs[3].hex, cs[4].hex]
    assert ops(recs[0]) == [("pin", p.hex)] and recs[0]["pinned"]
    assert ops(recs[1]) == [("pin", p.hex), ("unpin", u.hex)] and not recs[1]["pinned"]
    assert recs[2]["events"] == []


def test_reorder_moves_are_followed(repo):
    cs = [repo.user(f"m{i}") for i in range(5)]
    ro = repo.reorder(order=[3, 4, 0, 1, 2])
    recs = repo.blame()
    assert [r["preview"] for r in recs] == ["m3", "m4", "m0", "m1", "m2"]
    assert [r["introduced"]["commit"] for r in recs] == [cs[i].hex for i in (3, 4, 0, 1, 2)]
    moved = [r for r in recs if r["events"]]
    assert moved, "the reorder is an event of the entries it moved"
    for r in moved:
        (ev,) = r["events"]
        assert ev["op"] == "reorder" and ev["commit"] == ro.commit.hex
        assert ev["to"] == r["index"] and recs[r["index"]]["preview"] == f"m{ev['from']}"


def test_a_merge_brings_entries_from_the_other_branch(repo):
    repo.user("common")
    repo.branch_create("side")
    repo.switch("side")
    side = repo.user("from side", author="sider")
    repo.switch("main")
    mine = repo.user("from main")
    repo.merge("side", strategy="union")
    merge = repo.head_commit().hex()
    recs = {r["preview"]: r for r in repo.blame()}
    assert recs["from side"]["introduced"]["commit"] == side.hex
    assert recs["from side"]["introduced"]["agent"] == "sider"
    assert ops(recs["from side"]) == [("merge", merge)]
    assert recs["from main"]["introduced"]["commit"] == mine.hex
    assert recs["from main"]["events"] == [] and recs["common"]["events"] == []


def test_cherry_pick_introduces_what_it_copied(repo):
    repo.user("base")
    repo.branch_create("side")
    repo.switch("side")
    picked = repo.user("picked text")
    repo.switch("main")
    repo.cherry_pick(picked.hex)
    r = repo.blame()[-1]
    assert r["introduced"]["op"] == "cherry-pick"
    assert r["introduced"]["commit"] == repo.head_commit().hex()
    assert r["introduced"].get("picked") == picked.hex


def test_a_plumbing_commit_without_a_record_is_aligned(repo):
    from trace_core import plumbing
    first = repo.user("one")
    repo.branch_create("side")
    repo.switch("side")
    repo.user("two")
    repo.user("three")
    snap = repo.get_commit(repo.head_commit()).snapshot
    repo.switch("main")
    made = plumbing.commit_tree(repo, snap, [bytes.fromhex(first.hex)], message="by hand")
    recs = repo.blame(made.hex)
    assert [r["introduced"]["commit"] for r in recs] == [first.hex, made.hex, made.hex]
    assert [r["introduced"]["op"] for r in recs] == ["append"] * 3


def test_compress_is_followed_down_to_the_original_entries(repo):
    repo.system("sys")
    cs = [repo.user(f"turn {i}") for i in range(6)]
    c1 = repo.compress(entries="1:4", strategy="manual", summaries=["first three"]).commit
    c2 = repo.compress(entries="1:3", strategy="manual", summaries=["summary of summary"]).commit
    recs = repo.blame()
    top = recs[1]
    assert top["preview"] == "summary of summary"
    assert top["introduced"]["commit"] == c2 and top["chain"] == "compress(summary of 2)"
    inner, plain = top["originals"]
    assert inner["introduced"]["commit"] == c1 and inner["preview"] == "first three"
    assert [o["introduced"]["commit"] for o in inner["originals"]] == [c.hex for c in cs[:3]]
    assert [o["preview"] for o in inner["originals"]] == ["turn 0", "turn 1", "turn 2"]
    assert plain["introduced"]["commit"] == cs[3].hex and plain["originals"] == []
    assert [r["introduced"]["commit"] for r in recs[2:]] == [cs[4].hex, cs[5].hex]
    assert recs[0]["chain"] == "append"


def test_collapse_is_followed_into_the_child_agents_recursively(repo):
    repo.user("do the research")
    repo.spawn("kid", task="look it up")
    kid = repo.agent("kid")
    kid.assistant("I will ask my helper")
    kid.spawn("g", task="dig")
    g = repo.agent("kid/g")
    deep = g.assistant("the number is 42")
    kid.collapse("g")
    kid.assistant("answer: 42")
    col = repo.collapse("kid")
    r = repo.blame()[-1]
    assert r["introduced"]["op"] == "collapse" and r["introduced"]["commit"] == col.hex
    assert r["chain"] == "collapse(kid)"
    sub = r["collapse"]
    assert sub["agent"] == "kid" and not sub["truncated"]
    assert [e["preview"] for e in sub["entries"]][-1] == "answer: 42"
    inner = [e for e in sub["entries"] if e["collapse"]]
    assert len(inner) == 1 and inner[0]["collapse"]["agent"] == "kid/g"
    leaves = inner[0]["collapse"]["entries"]
    assert [e["introduced"]["commit"] for e in leaves] == [deep.hex]
    assert leaves[0]["preview"] == "the number is 42"


def test_collapse_depth_is_bounded(repo, monkeypatch):
    repo.user("x")
    repo.spawn("kid", task="t")
    repo.agent("kid").assistant("done")
    repo.collapse("kid")
    monkeypatch.setattr(blame_mod, "MAX_DEPTH", 0)
    sub = repo.blame()[-1]["collapse"]
    assert sub["truncated"] and sub["entries"] == []


def test_a_childs_inherited_entries_are_followed_into_the_parent(repo):
    first = repo.user("parent said this", author="boss")
    repo.spawn("kid", task="the task")
    kid = repo.agent("kid")
    recs = kid.blame()
    assert recs[0]["introduced"]["commit"] == first.hex
    assert recs[0]["events"][0]["op"] == "spawn"
    root = kid.head_commit().hex()
    assert recs[-1]["introduced"] == dict(recs[-1]["introduced"], op="spawn", commit=root)


def test_entry_and_grep_select(repo):
    cs = [repo.user(f"note {i} {'invoice' if i % 3 == 0 else ''}") for i in range(7)]
    (one,) = repo.blame(entry=4)
    assert one["index"] == 4 and one["introduced"]["commit"] == cs[4].hex
    hits = repo.blame(grep="invoice")
    assert [h["index"] for h in hits] == [0, 3, 6]
    assert [h["introduced"]["commit"] for h in hits] == [cs[i].hex for i in (0, 3, 6)]
    assert repo.blame(grep="nowhere") == []
    with pytest.raises(InputError, match="no entry 7"):
        repo.blame(entry=7)
    with pytest.raises(InputError, match="not both"):
        repo.blame(entry=1, grep="x")
    with pytest.raises(RevisionError):
        repo.blame("nosuch")


def test_each_commit_is_read_at_most_once(repo, monkeypatch):
    for i in range(40):
        repo.user(f"m{i}")
    repo.edit(5, {"role": "user", "content": "edited"})
    repo.pin(7)
    repo.reorder(order=[1, 0, *range(2, 40)])
    repo.compress(entries="10:20", strategy="manual", summaries=["ten"])
    repo.drop(3)
    for i in range(5):
        repo.user(f"late {i}")
    reads = Counter()
    real = Repository.get_commit

    def counting(self, oid):
        reads[oid] += 1
        return real(self, oid)
    monkeypatch.setattr(Repository, "get_commit", counting)
    recs = repo.blame()
    assert len(recs) == 35 and reads and max(reads.values()) == 1
    reads.clear()
    repo.blame(entry=len(recs) - 1)   # the last append answers it: one commit read
    assert sum(reads.values()) == 1


def test_recorded_operations_need_no_whole_context_alignment(repo, monkeypatch):
    for i in range(12):
        repo.user(f"m{i}")
    repo.edit(2, {"role": "user", "content": "edited"})
    repo.pin(3)
    repo.unpin(3)
    repo.reorder(order=[1, 0, *range(2, 12)])
    repo.compress(entries="4:8", strategy="manual", summaries=["four"])
    repo.drop(0)
    repo.user("last")

    def refuse(*a):
        raise AssertionError("aligned a whole context")
    monkeypatch.setattr(blame_mod, "align", refuse)
    recs = repo.blame()
    assert len(recs) == 9 and all(r["introduced"] for r in recs)
    assert [len(r["originals"]) for r in recs].count(4) == 1


def _model_check(repo, seed):
    """Random appends, edits, pins, unpins, drops and reorders, against a model of what blame
    must say (origin commit and events of each entry)."""
    rnd = random.Random(seed)
    model: list = []   # per position: [origin hex, [(op, hex)], pinned]
    for step in range(60):
        n = len(model)
        kind = rnd.choice(["append"] * 4 + ["edit", "pin", "drop", "reorder"]) if n > 3 \
            else "append"
        if kind == "append":
            c = repo.user(f"s{seed} step {step}")
            model.append([c.hex, [], False])
        elif kind == "edit":
            i = rnd.randrange(n)
            c = repo.edit(i, {"role": "user", "content": f"edit {step}"})
            model[i][1].append(("edit", c.hex))
        elif kind == "pin":
            i = rnd.randrange(n)
            op = "unpin" if model[i][2] else "pin"
            c = getattr(repo, op)(i)
            model[i][1].append((op, c.hex))
            model[i][2] = not model[i][2]
        elif kind == "drop":
            i = rnd.randrange(n)
            repo.drop(i, force=True)
            del model[i]
        else:
            order = list(range(n))
            a = rnd.randrange(n - 1)
            order[a], order[a + 1] = order[a + 1], order[a]
            c = repo.reorder(order=order, force=True).commit
            moved = set(c.targets)
            new = [model[k] for k in order]
            for pos, k in enumerate(order):
                if k in moved:
                    new[pos][1].append(("reorder", c.hex))
            model = new
    recs = repo.blame()
    assert [r["introduced"]["commit"] for r in recs] == [m[0] for m in model]
    assert [ops(r) for r in recs] == [m[1] for m in model]
    assert [r["pinned"] for r in recs] == [m[2] for m in model]


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_random_histories_match_a_model(tmp_path, seed):
    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    try:
        _model_check(r, seed)
    finally:
        r.close()


# -- the command line ------------------------------------------------------------------------


def _commit(rdir, *args):
    invoke(rdir, "commit", *args, check=True)


def test_cli_lines_and_json(rdir):
    _commit(rdir, "--role", "user", "hello there")
    _commit(rdir, "--role", "assistant", "general kenobi")
    p = invoke(rdir, "blame")
    assert p.returncode == 0, p.stderr
    lines = p.stdout.splitlines()
    assert len(lines) == 2
    head = invoke(rdir, "rev-parse", "HEAD", check=True).stdout.strip()
    assert lines[1].startswith(head[:8] + " (")
    assert " append " in lines[1] and lines[1].endswith("assistant: general kenobi")
    recs = json.loads(invoke(rdir, "blame", "--json", check=True).stdout)
    assert [sorted(r) for r in recs] == [sorted(["index", "blob", "pinned", "tokens",
                                                 "introduced", "events", "originals",
                                                 "collapse", "chain", "role", "preview"])] * 2
    assert recs[1]["introduced"]["commit"] == head
    assert set(recs[1]["introduced"]) >= {"op", "commit", "agent", "time", "tokens"}
    one = json.loads(invoke(rdir, "blame", "--entry", "0", "--json", "HEAD", check=True).stdout)
    assert [r["preview"] for r in one] == ["hello there"]
    g = invoke(rdir, "blame", "--grep", "kenobi", check=True).stdout.splitlines()
    assert len(g) == 1 and g[0].endswith("general kenobi")


def test_cli_bad_input_is_one_line(rdir):
    _commit(rdir, "only one")
    assert_one_line_error(invoke(rdir, "blame", "--entry", "5"), "no entry 5", "1 entries")
    assert_one_line_error(invoke(rdir, "blame", "no-such-rev"), "no-such-rev")
    assert_one_line_error(invoke(rdir, "blame", "--entry", "0", "--grep", "x"), "not both")


def test_an_item_without_a_role_is_named_by_its_type(repo):
    repo.append({"type": "function_call", "call_id": "c", "name": "f", "arguments": "{}"})
    repo.append({"type": "function_call_output", "call_id": "c", "output": "42"})
    assert [r["role"] for r in repo.blame()] == ["function_call", "function_call_output"]
    assert [r["role"] for r in repo.export_messages()] == ["function_call",
                                                           "function_call_output"]
    with pytest.raises(TraceError, match="not both"):
        list(repo.export_messages(["HEAD"], all=True))
