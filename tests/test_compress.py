"""Compression: ranges, plans, strategies, hierarchy, validation, atomicity, CLI."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import FakeProvider, assert_one_line_error, chat, hang, invoke, reply

from trace_core import chunked
from trace_core.compress import compress, describe, plan_compression, show_lines, trace_back
from trace_core.compress.origins import align
from trace_core.compress.strategies import extractive
from trace_core.errors import (
    ConfigError,
    InputError,
    OperationError,
    ProviderHTTPError,
    ProviderResponseError,
    ProviderUnavailable,
    RevisionError,
    TraceError,
)
from trace_core.objects import Entry

# ---------------------------------------------------------------------------------------------
# helpers

def build_session(r, turns=4, pin_first_user=False):
    """system + `turns` turns of user / assistant tool call / tool result / assistant answer.
    Returns the commit id of each appended entry, in order."""
    ids = [r.system("You are a careful coding agent.").id]
    for t in range(turns):
        ids.extend(add_turn(r, t))
    if pin_first_user:
        r.pin(1)
    return ids


def add_turn(r, t):
    """One turn of build_session (4 entries); the commit ids."""
    return [r.user(f"Task {t}: find why test_{t} fails in module_{t}.py; "
                   f"the error mentions code E{t}{t}{t}.").id,
            r.tool_call("run_tests", {"k": f"test_{t}"}, call_id=f"call{t}").id,
            r.tool_result(f"call{t}", (f"FAILED test_{t} - AssertionError: expected "
                                       f"{t} got {t + 1}\n") * 12, name="run_tests").id,
            r.assistant(f"The failure in module_{t}.py comes from an off-by-one in "
                        f"count_{t}(); I fixed it and test_{t} passes now.").id]


def head(r):
    return r.head_commit()


def state(r):
    """Everything a failed compression must leave unchanged."""
    return (r.head_commit(), r.refs.read("refs/heads/main"),
            [(e.blob, e.flags) for e in r.entries_at(r.head_commit())],
            len(r.refs.reflog("refs/heads/main")))


def contents(r):
    return [m.get("content") for m in r.messages()]


# ---------------------------------------------------------------------------------------------
# alignment and selection

def test_align_prefix_suffix_moves_and_fresh():
    def E(c):
        return Entry(bytes([c]) * 32)
    old = [E(1), E(2), E(3), E(4), E(5)]
    new = [E(1), E(9), E(4), E(3), E(5), E(8)]
    pairs, fresh = align(old, new)
    m = dict(pairs)
    assert m[0] == 0 and m[4] == 4 and sorted(fresh) == [1, 5]
    assert {m[2], m[3]} == {2, 3}   # 3 and 4 swapped: moved, not introduced


def test_commit_range_selects_what_the_range_introduced(repo):
    r = repo
    ids = build_session(r, turns=3)                     # 13 entries, 13 commits
    plan = plan_compression(r, "HEAD~8..HEAD~4")
    assert [s.commit for s in plan.steps] == [c.hex for c in (
        r.get_commit(r.resolve(f"HEAD~{n}")) for n in (7, 6, 5, 4))]
    assert [s.entries for s in plan.steps] == [[5], [6], [7], [8]]
    assert plan_compression(r, "HEAD~3").steps[0].entries == [10]    # HEAD~3 = HEAD~3..HEAD
    assert plan_compression(r, "HEAD~3..").label == "HEAD~3..HEAD"
    assert ids[5].hex() == plan.steps[0].commit


def test_bad_ranges_are_refused_without_change(repo):
    r = repo
    build_session(r, turns=2)
    before = state(r)
    for spec, msg in [("HEAD~2..HEAD~2", "empty range"), ("HEAD~1..HEAD~3", "inverted range"),
                      ("..HEAD", "lower end"), ("HEAD~3...HEAD", "symmetric"),
                      ("", "commit range")]:
        with pytest.raises(InputError, match=msg):
            compress(r, spec)
    with pytest.raises(RevisionError):
        compress(r, "nosuchref..HEAD")
    for spec, msg in [("5:5", "empty"), ("6:2", "inverted"), ("0:99", "outside"), ("x", "I:J")]:
        with pytest.raises(InputError, match=msg):
            compress(r, entries=spec)
    with pytest.raises(InputError, match="either"):
        compress(r, "HEAD~2", entries="1:3")
    assert state(r) == before


def test_range_off_the_current_branch_is_refused(repo):
    r = repo
    build_session(r, turns=1)
    side = r.resolve("HEAD~1")
    r.refs.set_if_equals("refs/heads/side", None, side.hex())
    r.user("on main")
    r.checkout("side")
    r.user("on side")
    r.checkout("main")
    with pytest.raises(InputError, match="not in the history"):
        compress(r, "HEAD~2..side")


def _merge_history(r):
    """main: sys, u1, (side: s1, s2), m1, merge(side) — with a plumbing merge commit."""
    from trace_core.plumbing import commit_tree, update_ref, write_snapshot
    r.system("sys")
    base = r.user("u1 " + "base words " * 10)
    r.refs.set_if_equals("refs/heads/side", None, base.hex)
    r.checkout("side")
    s1 = r.user("s1 " + "side words " * 10)
    s2 = r.assistant("s2 " + "side answer " * 10)
    r.checkout("main")
    m1 = r.user("m1 " + "main words " * 10)
    ents = r.entries_at(m1.id) + r.entries_at(s2.id)[2:]
    snap = write_snapshot(r, ents)
    merge = commit_tree(r, snap.id, [m1.id, s2.id], op="merge", message="merge side")
    update_ref(r, "refs/heads/main", merge.hex, m1.hex)
    return base, s1, s2, m1, merge


def test_range_crossing_a_merge(repo):
    r = repo
    base, s1, s2, m1, merge = _merge_history(r)
    before = state(r)
    with pytest.raises(InputError, match="crosses a merge"):
        compress(r, f"{s1.hex}..HEAD")      # lower end only on the second-parent side
    assert state(r) == before
    # the merge commit inside the range: the side's entries count as the merge's (first-parent)
    plan = plan_compression(r, f"{base.hex}..HEAD")
    assert [(s.commit, s.entries) for s in plan.steps] == [(m1.hex, [2]), (merge.hex, [3, 4])]
    res = compress(r, f"{base.hex}..HEAD", strategy="manual", summaries=["merged work"])
    assert contents(r) == ["sys", "u1 " + "base words " * 10, "merged work"]
    meta = r.get_commit(head(r)).meta
    assert [x[1] for x in meta["summaries"][0]["replaced"]] == \
        [e.blob.hex() for e in r.entries_at(merge.id)[2:]]
    assert res.commit == head(r).hex()


# ---------------------------------------------------------------------------------------------
# the commit and its provenance

def test_extractive_commit_and_exact_provenance(repo):
    r = repo
    ids = build_session(r, turns=3)
    old_head = head(r)
    old = r.entries_at(old_head)
    res = compress(r, "HEAD~12..HEAD~4")               # entries 1..8 (turns 0 and 1)
    c = r.get_commit(head(r))
    assert c.op == "compress" and c.parents == (old_head,)
    new = r.entries_at(head(r))
    assert new[0] == old[0] and new[2:] == old[9:]
    summary = r.get_blob(new[1].blob).message
    assert summary["role"] == "user" and summary["content"].startswith("[Summary of 8 messages")
    m = c.meta
    assert m["strategy"] == "extractive" and m["granularity"] == "range" and m["version"] == 1
    assert m["base"] == old_head.hex() and m["span"] == [1, 9]
    assert m["commits"] == [i.hex() for i in ids[1:9]] and m["plan"] == [["summarize", 8]]
    assert m["from"] == ids[0].hex() and m["to"] == r.resolve("HEAD~5").hex()
    [s] = m["summaries"]
    assert s["index"] == 1 and s["blob"] == new[1].blob.hex() and list(c.blobs) == [new[1].blob]
    assert [(x[0], x[1], m["commits"][x[2]], x[4], x[5]) for x in s["replaced"]] == \
        [(i, old[i].blob.hex(), ids[i].hex(), 0, "entry") for i in range(1, 9)]
    assert list(c.targets) == list(range(1, 9))
    assert sum(x[3] for x in s["replaced"]) == m["tokens"]["replaced"] == res.replaced_tokens
    assert s["tokens"] == m["tokens"]["added"] == c.tokens
    assert m["tokens"]["before"] == r.get_commit(old_head).total_tokens == res.tokens_before
    assert m["tokens"]["after"] == c.total_tokens == res.tokens_after < res.tokens_before
    from trace_core.plumbing import count_entries
    assert c.total_tokens == count_entries(r, new)
    info = describe(c)
    assert info["summaries"][0]["replaced"][0]["commit"] == ids[1].hex()
    assert info["commits"][0] == {"commit": ids[1].hex(), "action": "summarize"}
    text = "\n".join(show_lines(info))
    assert "Summary #1" in text and ids[1].hex()[:12] in text
    shown = r.show("HEAD")    # trace show reads it like any commit
    assert shown["op"] == "compress" and shown["meta"]["summaries"][0]["index"] == 1


def test_appends_after_the_range_are_kept_and_tool_pairs_stay_valid(repo):
    r = repo
    build_session(r, turns=3)
    tail = contents(r)[9:]
    compress(r, "HEAD~12..HEAD~4", granularity="turn")
    assert contents(r)[-4:] == tail
    msgs = r.materialize("openai")
    _assert_pairs_valid(msgs)
    _assert_pairs_valid(r.materialize("anthropic")["messages"], anthropic=True)


def _assert_pairs_valid(msgs, anthropic=False):
    """Every tool result answers a call made in the message right before it (OpenAI) or in the
    previous assistant turn (Anthropic); every call is answered."""
    open_calls = set()
    for m in msgs:
        if anthropic:
            blocks = m["content"] if isinstance(m["content"], list) else []
            for b in blocks:
                if b.get("type") == "tool_result":
                    assert b["tool_use_id"] in open_calls
                    open_calls.discard(b["tool_use_id"])
            if m["role"] == "assistant":
                assert not open_calls
                open_calls = {b["id"] for b in blocks if b.get("type") == "tool_use"}
        else:
            if m["role"] == "tool":
                assert m["tool_call_id"] in open_calls
                open_calls.discard(m["tool_call_id"])
                continue
            assert not open_calls, m
            open_calls = {c["id"] for c in m.get("tool_calls") or []}
    assert not open_calls


def test_boundary_tool_call_is_kept_with_its_result(repo):
    r = repo
    build_session(r, turns=2)  # 0 sys, 1 user, 2 call0, 3 result0, 4 ans0, 5 user, 6 call1 ...
    res = compress(r, entries="1:3", strategy="manual", summaries=["user asked about test_0"])
    assert [k["reason"] for k in res.kept] == ["tool-pair"] and res.kept[0]["index"] == 2
    assert contents(r)[1] == "user asked about test_0"
    assert r.messages()[2]["tool_calls"][0]["id"] == "call0"
    _assert_pairs_valid(r.materialize("openai"))
    res = compress(r, entries="3:5", strategy="manual", summaries=["x"], dry_run=True)
    assert [k["reason"] for k in res.kept] == ["tool-pair"]  # the result answers call0 before


def test_drop_that_separates_a_tool_pair_is_refused(repo):
    r = repo
    build_session(r, turns=1)
    before = state(r)
    plan = plan_compression(r, "HEAD~4")
    plan.set(plan.steps[1].commit, "drop")               # the call, its result is summarized
    plan.set(plan.steps[2].commit, "keep")
    with pytest.raises(OperationError, match="separate a tool call"):
        compress(r, "HEAD~4", plan=plan)
    assert state(r) == before


# ---------------------------------------------------------------------------------------------
# pins

def test_pins_refused_respected_or_forced(repo):
    r = repo
    build_session(r, turns=2)
    r.pin(3)                              # the first tool result
    r.pin(5)                              # the second user message
    before = state(r)
    pinned = [r.get_blob(e.blob).to_bytes() for e in r.entries_at(head(r)) if e.pinned]
    with pytest.raises(OperationError, match="2 pinned entries.*--respect-pins"):
        compress(r, entries="1:8")
    assert state(r) == before
    old = contents(r)
    res = compress(r, entries="1:8", respect_pins=True, strategy="manual",
                   summaries=["A", "B", "C"], granularity="range")
    # 1 user, 2 call (kept: its result is pinned), 3 result (pinned), 4 answer, 5 user (pinned),
    # 6 call, 7 result: A = #1, then #2 #3 verbatim, B = #4, #5 verbatim, C = #6-#7
    assert contents(r) == [old[0], "A", old[2], old[3], "B", old[5], "C", old[8]]
    ents = r.entries_at(head(r))
    assert [r.get_blob(e.blob).to_bytes() for e in ents if e.pinned] == pinned
    assert [k["reason"] for k in res.kept] == ["tool-pair", "pinned", "pinned"]
    assert res.pins_checked == 2
    _assert_pairs_valid(r.materialize("openai"))
    # forced: the pins are compressed and recorded
    r2_before = head(r)
    res = compress(r, entries="1:6", force=True, strategy="manual", summaries=["all of it"])
    meta = r.get_commit(head(r)).meta
    assert meta["forced_pins"] and not any(e.pinned for e in r.entries_at(head(r)))
    assert r.get_commit(head(r)).parents == (r2_before,)


def test_pins_outside_the_range_and_after_it_are_untouched(repo):
    r = repo
    build_session(r, turns=2, pin_first_user=True)
    r.pin(8)
    res = compress(r, entries="5:8", strategy="manual", summaries=["turn 1 summary"])
    assert res.pins_checked == 2
    ents = r.entries_at(head(r))
    assert ents[1].pinned and ents[6].pinned


def test_pin_check_is_done_on_the_spliced_snapshot(repo, monkeypatch):
    """A splice that loses a pin is caught by the check, and nothing is committed."""
    r = repo
    build_session(r, turns=2, pin_first_user=True)
    before = state(r)
    real = chunked.splice

    def bad_splice(snap, start, end, new, get, put):
        return real(snap, 0, end, new, get, put)      # also drops the pinned entry 1
    monkeypatch.setattr(chunked, "splice", bad_splice)
    with pytest.raises(OperationError, match="pinned"):
        compress(r, entries="5:8", strategy="manual", summaries=["s"])
    assert state(r) == before


# ---------------------------------------------------------------------------------------------
# strategies

def test_mask_replaces_old_tool_outputs_and_keeps_pairs(repo):
    r = repo
    build_session(r, turns=4)
    before = r.messages()
    res = compress(r, "HEAD~16", strategy="mask", keep_last=1)
    msgs = r.messages()
    assert len(msgs) == len(before)
    masked = [i for i, (a, b) in enumerate(zip(before, msgs, strict=True)) if a != b]
    assert masked == [3, 7, 11]                       # the last tool output (15) is protected
    m = msgs[3]
    assert m["role"] == "tool" and m["tool_call_id"] == "call0" and m["name"] == "run_tests"
    assert m["content"].startswith("[output of run_tests masked: ") and "tokens]" in m["content"]
    n = int(m["content"].split(": ")[1].split()[0])
    assert n == (len(before[3]["content"]) + 3) // 4
    assert res.tokens_after < res.tokens_before and len(res.masked) == 3
    _assert_pairs_valid(r.materialize("openai"))
    meta = r.get_commit(head(r)).meta
    assert [x["replaced"][0][0] for x in meta["masked"]] == [3, 7, 11] and not meta["summaries"]
    # masking again finds nothing worth masking
    with pytest.raises(OperationError, match="nothing to compress"):
        compress(r, "HEAD~17", strategy="mask", keep_last=1)


def test_mask_placeholder_config_and_anthropic_blocks(repo):
    r = repo
    r.user("go")
    r.append({"role": "assistant", "content": [
        {"type": "text", "text": "reading"},
        {"type": "tool_use", "id": "tu1", "name": "read", "input": {"p": "a.txt"}}]})
    r.append({"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "tu1", "content": "line of the file\n" * 30}]})
    r.assistant("done")
    r.set_config("compress.placeholder", "<{tool} output elided ({tokens} tok, {call_id})>")
    compress(r, "HEAD~3", strategy="mask", keep_last=0)
    block = r.messages()[2]["content"][0]
    assert block == {"type": "tool_result", "tool_use_id": "tu1",
                     "content": "<read output elided (128 tok, tu1)>"}    # 510 chars / 4
    _assert_pairs_valid(r.materialize("anthropic")["messages"], anthropic=True)
    r.set_config("compress.placeholder", "{nope}")
    r.tool_call("t", {}, call_id="z")
    r.tool_result("z", "x" * 400)
    before = state(r)
    with pytest.raises(ConfigError, match="placeholder"):
        compress(r, "HEAD~2", strategy="mask", keep_last=0)
    assert state(r) == before


def test_extractive_is_deterministic_and_within_target(repo, tmp_path):
    from trace_core.repository import Repository
    out = []
    for n in range(2):
        rr = Repository.init(str(tmp_path / f"d{n}"), encoding="chars/4")
        build_session(rr, turns=4)
        res = compress(rr, "HEAD~16", target_tokens=60)
        out.append(res.summaries[0]["text"])
        assert res.summaries[0]["tokens"] <= 60 + 10      # the text within target, plus framing
        rr.close()
    assert out[0] == out[1]
    assert out[0].startswith("[Summary of 16 messages, extractive]\nassistant: The failure in ")


def test_a_summary_of_summaries_keeps_each_line_s_own_label():
    count = lambda s: (len(s) + 3) // 4          # noqa: E731
    first = extractive([{"role": "user", "content": "The deploy must use port 8443."},
                        {"role": "assistant", "content": "Found: the retry limit is 7 in "
                         "conf/retry.toml."}], 200, count)
    again = extractive([{"role": "user", "content": first},
                        {"role": "assistant", "content": "Decided to use backend_v2."}],
                       200, count, summaries={0})
    lines = again.splitlines()
    assert lines[0] == "[Summary of 2 messages, extractive]"
    assert "user: The deploy must use port 8443." in lines
    assert "assistant: Found: the retry limit is 7 in conf/retry.toml." in lines
    assert not any(ln.startswith(("user: user:", "user: assistant:", "user: [Summary"))
                   for ln in lines), lines


def test_extractive_scoring_prefers_signal_and_must_keep():
    msgs = [{"role": "user", "content": "Please fix the crash in parser.py when input is empty."},
            {"role": "assistant", "content": "ok\nsure thing\nThe crash is an IndexError in "
             "parse_header() at line 42 because the list is empty."},
            {"role": "tool", "tool_call_id": "a", "content": "lorem ipsum dolor\n" * 5 +
             "secret token ZX-9"}]
    count = lambda s: (len(s) + 3) // 4          # noqa: E731
    s = extractive(msgs, 52, count)
    assert "parser.py" in s and "IndexError" in s and "lorem" not in s and "ok" not in s
    assert count(s) <= 52
    s2 = extractive(msgs, 52, count, lambda t: "ZX-9" in t)
    assert "ZX-9" in s2
    assert extractive(msgs, 52, count) == s
    assert extractive([{"role": "user", "content": "word " * 200}], 10, count).count("\n") == 1


def test_manual_strategy_counts_and_empty_text(repo):
    r = repo
    build_session(r, turns=2)
    before = state(r)
    with pytest.raises(InputError, match="2 summary text.*makes 1"):
        compress(r, "HEAD~8", strategy="manual", summaries=["a", "b"])
    with pytest.raises(InputError, match="empty"):
        compress(r, "HEAD~8", strategy="manual", summaries=["  \n"])
    with pytest.raises(InputError, match="needs the summary"):
        compress(r, "HEAD~8", strategy="manual")
    with pytest.raises(InputError, match="only used by the manual"):
        compress(r, "HEAD~8", summaries=["x"])
    assert state(r) == before
    compress(r, "HEAD~8", strategy="manual", granularity="turn",
             summaries=["turn one", "turn two"], role="assistant")
    assert contents(r)[1:] == ["turn one", "turn two"]
    assert r.messages()[1]["role"] == "assistant"


def test_oversized_summary_needs_allow_growth(repo):
    r = repo
    r.user("hi")
    r.assistant("hello")
    before = state(r)
    with pytest.raises(OperationError, match="more than the .* --allow-growth"):
        compress(r, "HEAD~1", strategy="manual", summaries=["a much longer text " * 5])
    assert state(r) == before
    compress(r, "HEAD~1", strategy="manual", summaries=["a much longer text " * 5],
             allow_growth=True)
    assert contents(r)[-1].startswith("a much longer")


# ---------------------------------------------------------------------------------------------
# the plan

def test_plan_actions_keep_drop_combine_summarize(repo):
    r = repo
    build_session(r, turns=2)                   # commits HEAD~8..HEAD: entries 1..8
    plan = plan_compression(r, "HEAD~8")
    c = [s.commit for s in plan.steps]
    text = plan.format()
    lines = [ln for ln in text.splitlines() if ln and not ln.startswith("#")]
    assert len(lines) == 8 and all(ln.startswith("summarize ") for ln in lines)
    edited = "\n".join([f"keep {c[0][:8]} the user asks",
                        f"s {c[1][:7]}", f"summarize {c[2]}", f"drop {c[3][:10]}",
                        f"c {c[4][:9]}", f"combine {c[5][:9]}", f"summarize {c[6][:9]}",
                        f"pick {c[7][:9]}", "# a comment", ""])
    old = contents(r)
    res = compress(r, "HEAD~8", plan=edited, strategy="manual", granularity="turn",
                   summaries=["tool run 0", "turn 1 combined"])
    # 1 kept; 2-3 summarized (turn 0's call and result); 4 dropped; 5-7 combined into one
    # summary with no cut at the user message 5; 8 kept
    assert contents(r) == [old[0], old[1], "tool run 0", "turn 1 combined", old[8]]
    assert res.dropped == [4]
    meta = r.get_commit(head(r)).meta
    assert meta["plan"] == [["keep", 1], ["summarize", 2], ["drop", 1], ["combine", 2],
                            ["summarize", 1], ["keep", 1]]
    assert [c["action"] for c in describe(r.get_commit(head(r)))["commits"]] == \
        ["keep", "summarize", "summarize", "drop", "combine", "combine", "summarize", "keep"]
    assert [x[0] for x in meta["dropped"]] == [4]


@pytest.mark.parametrize("text, msg", [
    ("frobnicate {c0}", "unknown plan action 'frobnicate'"),
    ("keep deadbeef0000", "not in the range"),
    ("keep {c0}\nkeep {c0}", "appears twice"),
    ("keep {c1}\nkeep {c0}\n{rest}", "out of order"),
    ("keep {c0}", "does not mention commit"),
    ("# nothing\n\n", "empty plan"),
    ("keep", "expected '<action> <commit>'"),
    ("keep zz!", "not a commit id"),
    ("{allbutlast}\ncombine {last}", "combine on"),
])
def test_bad_plans_are_refused(repo, text, msg):
    r = repo
    build_session(r, turns=1)
    plan = plan_compression(r, "HEAD~4")
    c = [s.commit for s in plan.steps]
    rest = "\n".join(f"keep {x}" for x in c[2:])
    allbutlast = "\n".join(f"keep {x}" for x in c[:-1])
    before = state(r)
    with pytest.raises(InputError, match=msg):
        compress(r, "HEAD~4", plan=text.format(c0=c[0], c1=c[1], rest=rest, last=c[-1],
                                                 allbutlast=allbutlast))
    assert state(r) == before


def test_plan_object_and_mapping(repo):
    r = repo
    build_session(r, turns=2)
    plan = plan_compression(r, "HEAD~8").set_all("keep")
    with pytest.raises(OperationError, match="nothing to compress"):
        compress(r, "HEAD~8", plan=plan)
    plan.set(plan.steps[-1].commit[:6], "drop")
    with pytest.raises(InputError, match="unknown plan action"):
        plan.set(plan.steps[0].commit, "squash")
    res = compress(r, "HEAD~8", plan={s.commit: s.action for s in plan.steps}, dry_run=True)
    assert res.dropped == [8] and res.commit is None
    with pytest.raises(InputError, match="does not mention"):
        compress(r, "HEAD~8", plan={plan.steps[0].commit: "keep"})
    with pytest.raises(InputError, match="a plan is"):
        compress(r, "HEAD~8", plan=42)


def test_plan_on_a_moved_branch_is_checked_against_the_new_range(repo):
    r = repo
    build_session(r, turns=1)
    plan = plan_compression(r, "HEAD~4")
    r.user("later")
    with pytest.raises(InputError, match="not in the range HEAD~4..HEAD"):
        compress(r, "HEAD~4", plan=plan)      # HEAD~4 now names a different range


# ---------------------------------------------------------------------------------------------
# granularity and hierarchy

def test_granularities(repo):
    r = repo
    build_session(r, turns=4)                   # 16 entries in 4 turns of ~ equal size
    n = {}
    for g in ("turn", "episode", "range"):
        res = compress(r, "HEAD~16", granularity=g, episode_tokens=500, dry_run=True)
        n[g] = [s["replaced"] for s in res.summaries]
    assert n["turn"] == [[1, 2, 3, 4], [5, 6, 7, 8], [9, 10, 11, 12], [13, 14, 15, 16]]
    assert n["range"] == [list(range(1, 17))]
    assert 1 < len(n["episode"]) < 4 and sum(n["episode"], []) == list(range(1, 17))
    plan = plan_compression(r, "HEAD~16")
    plan.set(plan.steps[3].commit, "combine")          # the end of turn 0 with turn 1's user
    res = compress(r, "HEAD~16", plan=plan, granularity="turn", dry_run=True)
    assert [s["replaced"] for s in res.summaries][:2] == [[1, 2, 3, 4, 5, 6, 7, 8], [9, 10, 11, 12]]


def test_summaries_of_summaries_keep_the_provenance_chain(repo):
    r = repo
    ids = build_session(r, turns=4)
    compress(r, "HEAD~16", granularity="turn", strategy="manual",
             summaries=["T0", "T1", "T2", "T3"])
    first = head(r)
    assert contents(r) == ["You are a careful coding agent.", "T0", "T1", "T2", "T3"]
    r.user("next task")
    # compress the summaries of turns 0-2 (entries 1..3) into one
    res = compress(r, entries="1:4", strategy="manual", summaries=["T0-2"])
    assert contents(r) == ["You are a careful coding agent.", "T0-2", "T3", "next task"]
    assert res.plan.steps[0].commit == first.hex()
    meta = r.get_commit(head(r)).meta
    [s] = meta["summaries"]
    assert [x[5] for x in s["replaced"]] == ["summary"] * 3
    assert {meta["commits"][x[2]] for x in s["replaced"]} == {first.hex()}
    leaves = trace_back(r, head(r), s["blob"])
    assert [leaf["commit"] for leaf in leaves] == [i.hex() for i in ids[1:13]]
    assert all(leaf["via"] == [head(r).hex(), first.hex()] for leaf in leaves)
    # episode granularity starts a new episode at an earlier summary
    res = compress(r, entries="1:4", granularity="episode", episode_tokens=10_000, dry_run=True,
                   allow_growth=True)
    assert [s["replaced"] for s in res.summaries] == [[1], [2, 3]]


# ---------------------------------------------------------------------------------------------
# validation

def test_must_keep_strings_and_patterns(repo):
    r = repo
    build_session(r, turns=2)
    before = state(r)
    with pytest.raises(OperationError, match="must-keep string 'E111' would be lost"):
        compress(r, "HEAD~8", strategy="manual", summaries=["we fixed things"],
                 must_keep=["E111"])
    with pytest.raises(OperationError, match="not in the context even before"):
        compress(r, "HEAD~8", strategy="manual", summaries=["x"], must_keep=["NOPE-123"])
    with pytest.raises(OperationError, match=r"pattern 'count_\\d\+'"):
        compress(r, "HEAD~8", strategy="manual", summaries=["x"], must_keep_re=[r"count_\d+"])
    with pytest.raises(InputError, match="not a valid regular expression"):
        compress(r, "HEAD~8", must_keep_re=["(unclosed"])
    assert state(r) == before
    res = compress(r, "HEAD~8", must_keep=["E111"], must_keep_re=[r"module_\d\.py"],
                   target_tokens=80)
    assert "E111" in res.summaries[0]["text"]
    assert r.get_commit(head(r)).meta["must_keep"] == {"strings": ["E111"],
                                                       "patterns": [r"module_\d\.py"]}


def test_dry_run_reports_the_same_counts_and_changes_nothing(repo):
    r = repo
    build_session(r, turns=3)
    before = state(r)
    dry = compress(r, "HEAD~12..HEAD~4", granularity="turn", dry_run=True)
    assert state(r) == before and dry.commit is None and dry.dry_run
    real = compress(r, "HEAD~12..HEAD~4", granularity="turn")
    assert (dry.tokens_before, dry.tokens_after, dry.replaced_tokens, dry.added_tokens) == \
        (real.tokens_before, real.tokens_after, real.replaced_tokens, real.added_tokens)
    assert [s["text"] for s in dry.summaries] == [s["text"] for s in real.summaries]
    d = real.to_dict()
    assert d["tokens"]["saved"] == real.tokens_before - real.tokens_after > 0
    json.dumps(d)


def test_bad_inputs_of_the_api(repo):
    r = repo
    build_session(r, turns=1)
    before = state(r)
    with pytest.raises(InputError, match="larger than"):
        compress(r, "HEAD~4", plan="# x\n" * (1_100_000))
    with pytest.raises(InputError, match="integers"):
        compress(r, entries=(1, "3"))
    with pytest.raises(InputError, match="list of texts"):
        compress(r, "HEAD~4", strategy="manual", summaries="one text")
    with pytest.raises(OperationError, match="not compress"):
        describe(r.get_commit(head(r)))
    assert state(r) == before


def test_agent_namespace_and_worktree_views(repo):
    r = repo
    sub = r.agent("helper", create=True)
    build_session(sub, turns=1)
    compress(sub, "HEAD~4", strategy="manual", summaries=["helper work"])
    assert [m["content"] for m in sub.messages()] == ["You are a careful coding agent.",
                                                      "helper work"]
    assert r.head_commit() is None
    build_session(r, turns=1)
    r.refs.set_if_equals("refs/heads/side", None, r.head_commit().hex())
    side = r.worktree("side")
    side.user("side only")
    compress(side, "HEAD~5..HEAD~1", strategy="manual", summaries=["turn 0"])
    assert [m["content"] for m in side.messages()][1:] == ["turn 0", "side only"]
    assert len(r.messages()) == 5                         # main did not move


def test_bad_options(repo):
    r = repo
    build_session(r, turns=1)
    for kw, msg in [({"strategy": "zip"}, "unknown strategy"),
                    ({"granularity": "page"}, "unknown granularity"),
                    ({"ratio": 0}, "ratio"), ({"ratio": 1.5}, "ratio"),
                    ({"keep_last": -1}, "keep-last"), ({"target_tokens": 0}, "target-tokens"),
                    ({"episode_tokens": True}, "episode-tokens"), ({"role": "tool"}, "role"),
                    ({"strategy": "llm"}, "needs a provider"),
                    ({"provider": FakeProvider()}, "only used by the llm")]:
        with pytest.raises(InputError, match=msg):
            compress(r, "HEAD~2", **kw)


# ---------------------------------------------------------------------------------------------
# llm strategy through a fake provider: usage, errors, concurrency

def test_llm_with_fake_provider_records_usage(repo):
    r = repo
    build_session(r, turns=2)
    p = FakeProvider(["Fixed test_0 (off-by-one).", "Fixed test_1."])
    res = compress(r, "HEAD~8", strategy="llm", provider=p, granularity="turn",
                   instructions="Be terse.", must_keep=["test_0"])
    assert len(p.calls) == 2 and p.calls[0]["system"] == "Be terse."
    assert "test_0" in p.calls[0]["messages"][0]["content"]
    assert "contain each of these" in p.calls[0]["messages"][0]["content"]
    meta = r.get_commit(head(r)).meta
    assert meta["usage"] == {"calls": 2, "prompt_tokens": 200, "completion_tokens": 20,
                             "cost_usd": 0.002, "priced": True}
    assert meta["summaries"][0]["inference"]["model"] == "fake-1"
    assert meta["inference"] == {"provider": "fake", "model": "fake-1", "prompt_tokens": 200,
                                 "completion_tokens": 20, "cost_usd": 0.002}
    assert res.usage == meta["usage"]


def test_llm_truncated_summary_is_recorded(repo):
    r = repo
    build_session(r, turns=2)
    compress(r, "HEAD~8", strategy="llm", granularity="turn",
             provider=FakeProvider(["cut sho", "cut too"], finish="length"))
    meta = r.get_commit(head(r)).meta
    assert meta["truncated"] == [1, 2]
    assert meta["summaries"][0]["inference"]["finish_reason"] == "length"


def test_llm_instructions_from_config(repo):
    r = repo
    build_session(r, turns=1)
    r.set_config("compress.instructions", "Summarize like a pirate.")
    p = FakeProvider(["Arr."])
    compress(r, "HEAD~4", strategy="llm", provider=p)
    assert p.calls[0]["system"] == "Summarize like a pirate."


@pytest.mark.parametrize("err", [ProviderUnavailable("down"), ProviderHTTPError("401"),
                                 ProviderResponseError("garbage")])
def test_provider_errors_leave_the_branch_unchanged(repo, err):
    r = repo
    build_session(r, turns=1)
    before = state(r)
    with pytest.raises(type(err)):
        compress(r, "HEAD~4", strategy="llm", provider=FakeProvider(error=err))
    assert state(r) == before


def test_empty_or_oversized_provider_summary(repo):
    r = repo
    build_session(r, turns=1)
    before = state(r)
    with pytest.raises(ProviderResponseError, match="empty summary"):
        compress(r, "HEAD~4", strategy="llm", provider=FakeProvider(["   "]))
    with pytest.raises(OperationError, match="more than the"):
        compress(r, "HEAD~4", strategy="llm", provider=FakeProvider(["blah " * 2000]))
    assert state(r) == before


def test_concurrent_change_of_the_range_is_refused(repo):
    from trace_core.repository import Repository
    r = repo
    build_session(r, turns=1)
    other = Repository.open(r.trace_dir)

    def edit_range():
        other.edit(2, {"role": "user", "content": "changed by another process"})
    with pytest.raises(OperationError, match="changed the entries of this range"):
        compress(r, "HEAD~4", strategy="llm", provider=FakeProvider(hook=edit_range))
    assert r.head_commit() == other.head_commit()
    assert r.get_commit(head(r)).op == "edit"
    other.close()


def test_concurrent_append_after_the_range_is_kept(repo):
    from trace_core.repository import Repository
    r = repo
    build_session(r, turns=1)
    other = Repository.open(r.trace_dir)
    calls = []

    def append():
        calls.append(1)
        other.user("appended meanwhile")
    res = compress(r, "HEAD~4", strategy="llm", provider=FakeProvider(["sum"], hook=append))
    assert len(calls) == 1                      # the provider ran once: build was retried alone
    assert contents(r) == ["You are a careful coding agent.", "sum", "appended meanwhile"]
    c = r.get_commit(head(r))
    assert c.meta["base"] != c.parents[0].hex() and r.get_commit(c.parents[0]).op == "append"
    assert r.get_commit(c.parents[0]).parents[0].hex() == c.meta["base"]
    assert res.tokens_after == c.total_tokens
    other.close()


def test_compress_inside_a_transaction(repo):
    r = repo
    build_session(r, turns=1)
    with r.transaction():
        compress(r, "HEAD~4", strategy="manual", summaries=["s"])
        r.user("more")
        with pytest.raises(OperationError, match="outside the transaction"):
            compress(r, "HEAD~1", strategy="manual", summaries=["t"])
    assert contents(r) == ["You are a careful coding agent.", "s", "more"]


def test_fsck_is_clean_after_compressions(repo):
    from trace_core.fsck import fsck
    r = repo
    build_session(r, turns=3, pin_first_user=True)
    compress(r, "HEAD~13", strategy="mask", keep_last=1, respect_pins=True)
    compress(r, entries="1:9", respect_pins=True, granularity="turn")
    assert [f for f in fsck(r) if f.severity != "info"] == []


# ---------------------------------------------------------------------------------------------
# the real provider over HTTP (OpenAICompatProvider against a local server)

def _summary(rec):
    return f"Summary of the history: {len(rec['body']['messages'][-1]['content'])} chars seen."


def _configure(r, server, retries="0"):
    """The repository's LLM is `server`, which answers every request with a summary (its
    llm.provider and llm.base-url take effect where the repository is trusted: docs/security.md)."""
    server.default = chat(_summary, p=120, c=12)
    for k, v in [("llm.provider", "openai"), ("llm.model", "gpt-test"),
                 ("llm.base-url", server.url + "/v1"),
                 ("llm.max-retries", retries), ("llm.timeout", "20"),
                 ("price.gpt-test.prompt", "1"), ("price.gpt-test.completion", "2")]:
        r.set_config(k, v)


def test_llm_through_the_openai_compatible_provider(repo, llm_server):
    from trace_core.llm import OpenAICompatProvider, provider_from_config
    from trace_core.repository import Repository
    r = repo
    build_session(r, turns=2)
    _configure(r, llm_server)
    with Repository.open(r.trace_dir, trusted=True) as trusted:
        prov = provider_from_config(trusted.config, None)
    assert isinstance(prov, OpenAICompatProvider)
    res = compress(r, "HEAD~8", strategy="llm", provider=prov, granularity="turn", max_tokens=50)
    assert len(llm_server.requests) == 2
    req = llm_server.requests[0]
    assert req["path"] == "/v1/chat/completions" and req["body"]["max_tokens"] == 50
    assert req["body"]["messages"][0]["role"] == "system"
    assert "find why test_0 fails" in req["body"]["messages"][1]["content"]
    assert contents(r)[1].startswith("Summary of the history:")
    meta = r.get_commit(head(r)).meta
    assert meta["usage"]["calls"] == 2 and meta["usage"]["prompt_tokens"] == 240
    assert meta["usage"]["cost_usd"] == pytest.approx(2 * (120 * 1 + 12 * 2) / 1e6)
    assert meta["summaries"][1]["inference"] == {"provider": "openai", "model": "gpt-test",
                                                 "prompt_tokens": 120, "completion_tokens": 12,
                                                 "cost_usd": pytest.approx(144 / 1e6),
                                                 "finish_reason": "stop"}
    assert "truncated" not in meta
    assert res.usage["calls"] == 2


def test_llm_http_errors_and_empty_answers_change_nothing(repo, llm_server):
    from trace_core.llm import provider_from_config
    from trace_core.repository import Repository
    r = repo
    build_session(r, turns=1)
    _configure(r, llm_server)
    with Repository.open(r.trace_dir, trusted=True) as trusted:
        prov = provider_from_config(trusted.config, None)
    before = state(r)
    llm_server.script = [reply(500, {"error": {"message": "overloaded"}})]
    with pytest.raises(TraceError):
        compress(r, "HEAD~4", strategy="llm", provider=prov)
    llm_server.script = [chat("")]
    with pytest.raises(ProviderResponseError):
        compress(r, "HEAD~4", strategy="llm", provider=prov)
    assert state(r) == before


def _trace(*args, cwd):
    env = dict(os.environ)
    env.pop("TRACE_DIR", None)
    env.update({"OPENAI_API_KEY": "", "_TRACE_NO_FASTPATH": ""})
    return [sys.executable, "-m", "trace_cli.main", "-C", cwd, *args], env


def test_killed_during_the_provider_request_leaves_the_branch(repo, llm_server):
    from trace_core.fsck import fsck
    r = repo
    build_session(r, turns=2)
    _configure(r, llm_server)
    wd = os.path.dirname(r.trace_dir)
    before = state(r)
    ref_file = os.path.join(r.trace_dir, "refs", "heads", "main")
    with open(ref_file, "rb") as f:
        raw_ref = f.read()
    llm_server.script = [hang]
    trust = ["-c", f"safe.directory={r.trace_dir}"]
    cmd, env = _trace(*trust, "compress", "HEAD~8", "-s", "llm", cwd=wd)
    p = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        assert llm_server.hung.wait(30), p.stderr.read() if p.poll() is not None else "no request"
        os.kill(p.pid, signal.SIGKILL)
        p.wait(10)
    finally:
        if p.poll() is None:
            p.kill()
        p.stdout.close()
        p.stderr.close()
    assert p.returncode == -signal.SIGKILL
    from trace_core.repository import Repository
    fresh = Repository.open(wd)
    assert state(fresh) == before
    with open(ref_file, "rb") as f:
        assert f.read() == raw_ref                   # not even a reflog record was added
    assert [f for f in fsck(fresh) if f.severity == "error"] == []
    # the repository works on: the same compression now succeeds
    llm_server.release.set()
    p2 = invoke(wd, *trust, "compress", "HEAD~8", "-s", "llm", env={"OPENAI_API_KEY": ""})
    assert p2.returncode == 0, p2.stderr
    assert fresh.get_commit(fresh.head_commit()).op == "compress"
    fresh.close()


# ---------------------------------------------------------------------------------------------
# CLI

@pytest.fixture
def rdir(repo):
    build_session(repo, turns=2, pin_first_user=True)
    repo.close()
    return os.path.dirname(repo.trace_dir)




def test_cli_show_plan_dry_run_json_and_commit(rdir):
    p = invoke(rdir, "compress", "HEAD~8", "--show-plan", check=True)
    assert p.stdout.startswith("# trace compress plan for HEAD~8..HEAD: 7 commits, 7 entries")
    assert sum(ln.startswith("summarize ") for ln in p.stdout.splitlines()) == 7
    assert "no entries left" in p.stdout                  # the pin commit
    p = invoke(rdir, "compress", "HEAD~8", "--show-plan", "--json", check=True)
    plan = json.loads(p.stdout)
    assert len(plan["steps"]) == 7
    head0 = invoke(rdir, "rev-parse", "HEAD", check=True).stdout
    p = invoke(rdir, "compress", "HEAD~8", "--dry-run", "--respect-pins", check=True)
    assert "nothing committed" in p.stdout and "tokens:" in p.stdout
    assert invoke(rdir, "rev-parse", "HEAD", check=True).stdout == head0
    p = invoke(rdir, "compress", "HEAD~8", "--respect-pins", "-g", "turn", "--json", check=True)
    out = json.loads(p.stdout)
    assert out["commit"] and out["tokens"]["after"] < out["tokens"]["before"]
    assert out["pins_checked"] == 1
    show = json.loads(invoke(rdir, "show", "--json", check=True).stdout)
    assert show["op"] == "compress" and show["meta"]["summaries"]
    assert "compress" in invoke(rdir, "log", "--oneline", "-n", "1", check=True).stdout


def test_cli_errors_are_one_line(rdir, tmp_path):
    head0 = invoke(rdir, "rev-parse", "HEAD", check=True).stdout
    assert_one_line_error(invoke(rdir, "compress", "HEAD~9"))                     # pinned entry #1
    assert_one_line_error(invoke(rdir, "compress"), code=2)
    assert_one_line_error(invoke(rdir, "compress", "HEAD~2..HEAD~4"))
    assert_one_line_error(invoke(rdir, "compress", "--entries", "9:2"))
    assert_one_line_error(invoke(rdir, "compress", "HEAD~8", "--force", "--must-keep-re", "(x"))
    bad = tmp_path / "plan.txt"
    bad.write_text("squash abcdef\n")
    assert_one_line_error(invoke(rdir, "compress", "HEAD~8", "--force", "--plan", str(bad)))
    assert_one_line_error(invoke(rdir, "compress", "HEAD~8", "--force", "-s", "manual"))
    assert_one_line_error(invoke(rdir, "compress", "HEAD~8", "--force", "-s", "llm"))  # no LLM
    assert_one_line_error(invoke(rdir, "compress", "HEAD~8", "--force", "--plan",
                                 str(tmp_path / "no")))
    assert invoke(rdir, "rev-parse", "HEAD", check=True).stdout == head0


def test_cli_plan_file_and_stdin_and_manual_file(rdir, tmp_path):
    plan = invoke(rdir, "compress", "HEAD~8", "--show-plan", check=True).stdout
    plan = plan.replace("summarize", "keep", 4)
    summary = tmp_path / "s.txt"
    summary.write_text("Turn 1: fixed test_1.\n")
    p = invoke(rdir, "compress", "HEAD~8", "--plan", "-", "-s", "manual", "--summary-file",
          str(summary), input=plan, check=True)
    assert "summary #6: replaces #6-#8 (3 entries" in p.stdout
    ctx = json.loads(invoke(rdir, "context", check=True).stdout)
    assert ctx[-1]["content"] == "Turn 1: fixed test_1.\n" and len(ctx) == 7


def test_cli_interactive_uses_the_editor(rdir, tmp_path):
    editor = tmp_path / "ed.py"
    editor.write_text("import sys\np = sys.argv[1]\ns = open(p).read()\n"
                      "open(p, 'w').write(s.replace('summarize', 'keep', 3)"
                      ".replace('summarize', 'drop', 1))\n")
    env = {"EDITOR": f"{sys.executable} {editor}", "VISUAL": ""}
    p = invoke(rdir, "compress", "HEAD~8", "-i", "--respect-pins", env=env, check=True)
    assert "dropped 1 entry" in p.stdout
    meta = json.loads(invoke(rdir, "show", "--json", check=True).stdout)["meta"]
    assert meta["plan"] == [["keep", 3], ["drop", 1], ["summarize", 3]]
    env = {"EDITOR": f"{sys.executable} -c \"open(__import__('sys').argv[1], 'w').write('')\"",
           "VISUAL": ""}
    p = invoke(rdir, "compress", "HEAD~3", "-i", env=env)
    assert_one_line_error(p)
    assert "empty plan" in p.stderr
    env = {"EDITOR": f"{sys.executable} -c \"import sys; p = sys.argv[1]; s = open(p).read(); "
                     f"open(p, 'w').write(s.replace('summarize', 'sumarize', 1))\"",
           "VISUAL": ""}
    p = invoke(rdir, "compress", "HEAD~3", "-i", env=env)      # a typo: the edit is kept
    assert_one_line_error(p)
    kept = p.stderr.split("run again with --plan ", 1)[1].rstrip(")\n")
    assert "sumarize" in Path(kept).read_text()
    os.unlink(kept)
    for script, words in (("open(__import__('sys').argv[1], 'wb').write(b'keep \\xff')",
                           "not valid UTF-8"), ("raise SystemExit(3)", "exited with status 3")):
        env = {"EDITOR": f"{sys.executable} -c \"{script}\"", "VISUAL": ""}
        p = invoke(rdir, "compress", "HEAD~3", "-i", env=env)
        assert_one_line_error(p)
        assert words in p.stderr


def test_cli_llm_uses_the_configured_provider(rdir, llm_server):
    llm_server.default = chat(_summary)
    for k, v in [("llm.model", "gpt-test"), ("llm.max-retries", "0")]:
        invoke(rdir, "config", k, v, check=True)
    p = invoke(rdir, "-c", "llm.provider=openai", "-c", f"llm.base-url={llm_server.url}/v1",
               "compress", "HEAD~4", "-s", "llm", env={"OPENAI_API_KEY": "sk-x"}, check=True)
    assert "usage: calls=1" in p.stdout
    assert llm_server.requests[0]["body"]["model"] == "gpt-test"


def test_benchmark_runs_small(capsys):
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(__file__)), "benchmarks"))
    import bench_compress
    out = bench_compress.main(["--entries", "80", "--repeat", "1"])
    for name, _ in bench_compress.CASES:
        assert 0 < out[name]["tokens_after"] < out[name]["tokens_before"]
    assert out["mask"]["masked"] == 10                 # 20 tool outputs, the last 10 are kept
    assert out["extractive, turn"]["summaries"] == 20
    assert "extractive, turn" in capsys.readouterr().out


def test_mask_handles_responses_api_items(repo):
    r = repo
    r.user("start")
    for i in range(3):
        r.append({"type": "function_call", "call_id": f"c{i}", "name": "read_file",
                  "arguments": "{}"})
        r.append({"type": "function_call_output", "call_id": f"c{i}",
                  "output": f"file {i}: " + "lorem ipsum dolor sit amet " * 40})
    res = compress(r, entries="1:", strategy="mask", keep_last=1)
    assert len(res.masked) == 2
    outs = [m for m in r.messages() if m.get("type") == "function_call_output"]
    assert "read_file" in outs[0]["output"] and "lorem" not in outs[0]["output"]
    assert "lorem" in outs[2]["output"]            # the last one is kept
    assert [m["call_id"] for m in outs] == ["c0", "c1", "c2"]


def test_plan_order_is_checked_on_the_steps_it_lists():
    """A plan that lists a prefix of the steps in order is in order (it used to escape as a
    StopIteration); one that swaps two is refused with a one-line reason."""
    from trace_core.compress.plan import Plan, PlanStep, from_actions
    a, b, c = ("a" * 64, "b" * 64, "c" * 64)
    default = Plan([PlanStep(a, "summarize", [0]), PlanStep(b, "summarize", [1]),
                    PlanStep(c, "summarize", [])])
    acts = {a: "keep", b: "drop", c: "keep"}
    plan = from_actions(acts, default, [a, b])
    assert [s.action for s in plan.steps] == ["keep", "drop", "keep"]
    with pytest.raises(InputError, match=f"out of order at commit {a[:12]}"):
        from_actions(acts, default, [b, a])


# ---------------------------------------------------------------------------------------------
# better offline compression: findings ranked first, must-keep facts kept, unshrinkable units

def _findings_session(r):
    """A session whose assistant findings hold planted facts, amid user chit-chat, questions
    and verbose tool output."""
    r.system("You are a careful coding agent.")
    r.user("Hi there! Hope your week is going well, thanks again for helping with the nightly "
           "sync.")
    r.user("Can you look into why the nightly sync job keeps stalling again?")
    r.user("Never restart the production database while you debug this.")
    r.tool_call("read_file", {"path": "config/net.yaml"}, call_id="c1")
    r.tool_result("c1", "".join(f"# nightly sync job settings, section {s}: workers, queues and "
                                "retries of the sync job\n" for s in "abcdefgh") +
                  "timeout_ms: 4500\n", name="read_file")
    r.assistant("Found it: the timeout is set in config/net.yaml as 4500 ms.")
    r.user("Great, thanks so much! What would you suggest for the nightly sync job?")
    r.tool_call("grep", {"q": "retry"}, call_id="c2")
    r.tool_result("c2", "".join("the nightly sync job retries the sync queue with the default "
                                f"backoff (worker {w})\n" for w in range(8)), name="grep")
    r.assistant("Decided to use retry_backoff_v2 for the sync client.")
    r.user("Sounds good, thanks a lot, the nightly sync job really matters to the whole team!")


def test_extractive_keeps_the_planted_findings_over_questions_and_chit_chat(repo):
    """With a tight target the assistant's findings and the user's constraint survive; the
    questions, the chit-chat and the verbose tool output go. (The former scoring, user lines
    0.6 and assistant lines 0.3 before centrality, kept the two questions and the last
    chit-chat line here and lost both findings, even at 100 tokens.)"""
    r = repo
    _findings_session(r)
    res = compress(r, entries="1:", target_tokens=75)
    text = res.summaries[0]["text"]
    for planted in ("Found it: the timeout is set in config/net.yaml as 4500 ms.",
                    "Decided to use retry_backoff_v2 for the sync client.",
                    "Never restart the production database while you debug this."):
        assert f"\n{'user' if planted.startswith('Never') else 'assistant'}: {planted}" in text
    for gone in ("Can you look into", "What would you suggest", "Hi there", "Sounds good",
                 "section a", "(worker 0)"):
        assert gone not in text
    assert res.summaries[0]["tokens"] <= 75 + 10
    assert contents(r)[1] == text


def test_extractive_ranking_rules():
    from trace_core.compress.strategies import holds_facts, ranked
    msgs = [{"role": "user", "content": "Which port does the staging API listen on?"},
            {"role": "assistant", "content": "The staging API listens on port 8443.\n"
             "Confirmed: the timeouts were caused by the proxy, not the API."},
            {"role": "user", "content": "We must ship the patch before the Friday deadline."},
            {"role": "user", "content": "Cool, thanks a lot for looking into this so quickly!"},
            {"role": "tool", "tool_call_id": "a", "content":
             "starting the service and warming the caches now\n" * 3 +
             "fatal: connection refused by upstream proxy\nall other checks passed fine"}]
    order = [line.text for line in ranked(msgs)]
    pos = {t: k for k, t in enumerate(order)}
    assert order[0] == "Confirmed: the timeouts were caused by the proxy, not the API."
    question = "Which port does the staging API listen on?"
    need = pos["We must ship the patch before the Friday deadline."]
    assert need < min(pos[question], pos["Cool, thanks a lot for looking into this so quickly!"],
                      *(pos[x.text] for x in ranked(msgs) if x.label == "tool"))
    assert pos[question] > pos["The staging API listens on port 8443."]    # below the answer
    error = "fatal: connection refused by upstream proxy"
    assert pos[error] < pos["starting the service and warming the caches now"]
    assert pos[error] < pos["all other checks passed fine"]
    assert pos[question] > pos[error] and pos["all other checks passed fine"] > pos[question]
    assert ranked(msgs) == ranked(msgs)
    for line in ("uses snake_case_name", "calls parseHeader", "read os.path.join", "in src/app",
                 "commit 3f2a9c1", "needs v2", "set 4500 ms", 'said "ship it"', "an `x` here",
                 "see https://example.org", "code E1234", "an Exception here", "it's 'fine'"):
        assert holds_facts(line), line
    for line in ("plain words only", "it's fine, don't worry", "Hello there!"):
        assert not holds_facts(line), line


def test_extractive_scores_are_the_documented_formula():
    """One handcrafted line per row of the kind table in docs/compress.md, each a message's
    only line, with five or more content words none of them shared (centrality 1, first 1,
    length 1): score = kind + 0.6 x facts + 0.5 + 0.1. Then centrality, first, length and the
    must-keep bonus on their own. Changing any documented constant fails here."""
    from trace_core.compress.strategies import ranked
    rows = [  # (message, its line, expected score)
        ({"role": "tool", "tool_call_id": "a", "content": "starting service warming caches "
          "quietly"}, 0.0 + 0.6),                                    # tool output
        ({"role": "tool", "tool_call_id": "b", "content": "listener bound port 8443 "
          "successfully"}, 0.0 + 0.6 + 0.6),                         # tool output with a fact
        ({"role": "assistant", "content": [{"type": "tool_use", "id": "c", "name": "grep",
          "input": {"pattern": "found", "folder": "docs"}}]}, 0.3 + 0.6),  # a tool call
        ({"role": "assistant", "content": "Confirmed the proxy caused timeouts yesterday"},
         1.2 + 0.6),                                                 # assistant finding
        ({"role": "user", "content": "Which staging host serves traffic today?"},
         0.1 + 0.6),                                                 # user question
        ({"role": "user", "content": "We must ship patches before Friday evening"},
         1.0 + 0.6),                                                 # user requirement
        ({"role": "system", "content": "Never delete production tables without approval"},
         1.0 + 0.6),                                                 # system requirement
        ({"role": "developer", "content": "Always answer in formal British English"},
         1.0 + 0.6),                                                 # developer requirement
        ({"role": "assistant", "content": "Looking around the repository layout now"},
         0.3 + 0.6),                                                 # narration
        ({"role": "system", "content": "You are a helpful careful coding assistant bot"},
         0.3 + 0.6),                                                 # system, no requirement
        ({"role": "user", "content": "Cool thanks heaps mate, great stuff"}, 0.3 + 0.6),
        ({"role": "assistant", "content": "Reading module parser_utils carefully again"},
         0.3 + 0.6 + 0.6),                                           # narration with a fact
    ]
    got = sorted(ranked([m for m, _ in rows]), key=lambda x: x.pos)
    assert [x.text for x in got][2] == 'call grep({"folder": "docs", "pattern": "found"})'
    assert [round(x.score, 9) for x in got] == [round(want, 9) for _, want in rows]
    # centrality (word counts over the highest: alpha and beta 2, the others 1), first, length
    two = ranked([{"role": "assistant", "content": "alpha beta gamma delta epsilon\nalpha beta"}],
                 lambda t: t == "alpha beta")
    assert [(x.text, round(x.score, 9)) for x in two] == [
        ("alpha beta", round(100 + (0.3 + 0.5 * 4 / 4) * (2 + 1) / 6, 9)),
        ("alpha beta gamma delta epsilon", round(0.3 + 0.5 * 7 / 10 + 0.1, 9))]


def test_extractive_reads_a_message_block_by_block():
    """An Anthropic user message answering a tool call and saying something: only the
    tool_result block is tool output (labelled with its tool); the text is the user's."""
    from trace_core.compress.strategies import ranked
    msgs = [{"role": "assistant", "content": [
                {"type": "tool_use", "id": "tu1", "name": "read", "input": {"p": "a.txt"}}]},
            {"role": "user", "content": [
                {"type": "tool_result", "tool_use_id": "tu1", "content": "line one of the file"},
                {"type": "text", "text": "We must keep the API stable for the Friday release."}]}]
    got = {x.text: x for x in ranked(msgs)}
    need = got["We must keep the API stable for the Friday release."]
    assert need.label == "user" and need.score == pytest.approx(1.0 + 0.5)   # a requirement
    out = got["line one of the file"]
    assert out.label == "tool read" and out.score == pytest.approx((0.5 + 0.1) * 4 / 6)
    text = extractive(msgs, 200, lambda s: (len(s) + 3) // 4)
    assert "\nuser: We must keep the API stable for the Friday release." in text
    assert "\ntool read: line one of the file" in text


def test_the_pieces_of_a_message_make_its_text():
    from trace_core.messages import message_text, pieces
    shapes = [
        {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "a",
                                      "content": [{"type": "text", "text": "x"}]},
                                     {"type": "text", "text": "hi"}]},
        {"role": "assistant", "content": "a", "tool_calls": [
            {"id": "1", "type": "function", "function": {"name": "f", "arguments": "{}"}}]},
        {"type": "function_call", "call_id": "c", "name": "n", "arguments": '{"a": 1}'},
        {"type": "function_call_output", "call_id": "c", "output": "out"},
        {"type": "reasoning", "summary": [{"type": "summary_text", "text": "th"}]},
        {"role": "assistant", "content": [{"type": "text", "text": "r"}, {
            "type": "tool_use", "id": "t", "name": "read", "input": {"p": 1}}]},
        {"role": "tool", "tool_call_id": "t", "content": "done\nok"},
        {"role": "assistant", "content": None}, {"role": "user", "content": {"odd": 1}}]
    for m in shapes:
        assert "\n".join(p.text for p in pieces(m) if p.text) == message_text(m), m
    assert [(p.kind, p.call_id) for p in pieces(shapes[0])] == [("output", "a"), ("text", "")]
    assert [p.kind for p in pieces(shapes[1])] == ["text", "call"]
    assert [(p.kind, p.call_id) for p in pieces(shapes[3])] == [("output", "c")]


def test_tool_call_arguments_are_not_quoted_string_facts():
    from trace_core.compress.strategies import holds_facts, ranked
    assert holds_facts('call search({"q": "retry"})') and \
        not holds_facts('call search({"q": "retry"})', call=True)
    for line in ('call read({"path": "src/app.py"})', 'call get({"n": 42})',
                 'call run({"cmd": "error here"})'):
        assert holds_facts(line, call=True), line             # paths, numbers, error words
    [line] = ranked([{"type": "function_call", "call_id": "c", "name": "search",
                      "arguments": '{"q": "retry", "scope": "docs"}'}])
    assert line.label == "assistant"                      # a Responses call item is the model's
    assert line.score == pytest.approx(0.3 + 0.5 + 0.1)   # no fact: its quoted JSON left out


def test_the_requirement_and_stop_words_are_the_shared_vocabulary():
    from trace_core import messages
    from trace_core.compress import strategies
    assert strategies.REQUIREMENT is messages.REQUIREMENT
    assert strategies.STOP_WORDS is messages.STOP_WORDS
    for phrase in ("must", "must not", "mustn’t", "never", "always", "do not", "don't",
                   "required", "require", "requires", "requirement", "requirements",
                   "constraint", "constraints", "make sure", "ensure", "should", "should not",
                   "shouldn't", "prefer", "prefers", "preferred", "only use", "at most",
                   "at least", "no more than", "deadline", "budget", "forbidden", "mandatory"):
        assert messages.REQUIREMENT.search(f"You {phrase.upper()} do it."), phrase
    assert not messages.REQUIREMENT.search("The mustard is ensured to be preferable.")
    from trace_core.compress.strategies import line_kind
    assert line_kind("Make  sure the backup runs first.", "user", False) == 1.0


# -- summaries of summaries: which messages are summaries is provenance, not text -------------

def _count(s):
    return (len(s) + 3) // 4


def test_a_user_message_starting_like_a_summary_is_kept():
    msgs = [{"role": "user", "content": "[Summary of the call] We must ship on Friday 12.\n"
             "Budget is 400 dollars at most."}]
    text = extractive(msgs, 200, _count)
    assert text.splitlines()[1:] == ["user: [Summary of the call] We must ship on Friday 12.",
                                     "user: Budget is 400 dollars at most."]


def test_a_summary_of_summaries_takes_exactly_one_label_off():
    first = extractive([{"role": "assistant", "content": None, "tool_calls": [
        {"id": "w", "type": "function", "function": {"name": "whoami", "arguments": "{}"}}]},
                        {"role": "tool", "tool_call_id": "w", "content": "user: admin\n"
                         "uid: 1000"}], 200, _count)
    assert "\ntool whoami: user: admin\n" in first + "\n"
    again = extractive([{"role": "user", "content": first}], 200, _count, summaries={0})
    assert again.splitlines()[1:] == first.splitlines()[1:]          # the same lines
    third = extractive([{"role": "user", "content": again}], 200, _count, summaries={0})
    assert third.splitlines()[1:] == first.splitlines()[1:]


def test_a_summary_of_summaries_knows_every_label_the_first_gives():
    msgs = [{"type": "function_call", "call_id": "c", "name": "lookup", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c", "output": "region eu-west-3 "
             "selected"},
            {"type": "reasoning", "summary": [{"type": "summary_text", "text": "Thinking "
                                               "about the region choice carefully."}]},
            {"role": "function", "name": "legacy", "content": "legacy function output here"},
            {"role": "assistant", "content": [{"type": "tool_use", "id": "m", "name": "mcp/read",
                                               "input": {"path": "notes.md"}}]},
            {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "m",
                                          "content": "notes: deploy on Friday"}]}]
    first = extractive(msgs, 400, _count)
    body = first.splitlines()[1:]
    assert body == ["assistant: call lookup({})", "tool lookup: region eu-west-3 selected",
                    "message: Thinking about the region choice carefully.",
                    "function: legacy function output here",
                    'assistant: call mcp/read({"path": "notes.md"})',
                    "tool mcp/read: notes: deploy on Friday"]
    again = extractive([{"role": "user", "content": first}], 400, _count, summaries={0})
    assert again.splitlines()[1:] == body


def test_a_summary_of_summaries_skips_empty_lines_and_reads_kept_facts():
    earlier = ("[Summary of 3 messages, extractive]\nuser: \nassistant:\n"
               "assistant: The fix is in parse_header().\nkept: E1; E2")
    text = extractive([{"role": "user", "content": earlier},
                       {"role": "user", "content": "kept: this line is the user's own."}],
                      200, _count, summaries={0})
    assert text.splitlines()[1:] == ["assistant: The fix is in parse_header().",
                                     "user: E1; E2", "user: kept: this line is the user's own."]


def test_the_engine_reads_summaries_by_provenance(repo):
    r = repo
    r.user("[Summary of my notes] The deploy must use port 8443.")
    r.assistant("Found: the retry limit is 7 in conf/retry.toml.")
    res = compress(r, entries="0:", target_tokens=200, allow_growth=True)
    first = res.summaries[0]["text"]
    assert first.splitlines()[1:] == [
        "user: [Summary of my notes] The deploy must use port 8443.",
        "assistant: Found: the retry limit is 7 in conf/retry.toml."]
    r.assistant("Decided to use backend_v2.")
    res = compress(r, entries="0:", target_tokens=200, allow_growth=True)
    assert res.summaries[0]["text"].splitlines()[1:] == [
        "user: [Summary of my notes] The deploy must use port 8443.",
        "assistant: Found: the retry limit is 7 in conf/retry.toml.",
        "assistant: Decided to use backend_v2."]


def test_must_keep_facts_are_appended_when_the_target_is_too_small(repo):
    r = repo
    build_session(r, turns=2)
    res = compress(r, "HEAD~8", must_keep=["E000", "E111"], must_keep_re=[r"count_\d+"],
                   target_tokens=40)
    [s] = res.summaries
    body, last = s["text"].rsplit("\n", 1)
    assert last == "kept: " + "; ".join(s["appended_facts"]) and s["appended_facts"]
    for fact in ("E000", "E111", "count_0"):
        assert fact in s["text"]
        assert (fact in body) != (fact in s["appended_facts"])
    assert "count_1" not in s["text"]        # the pattern matches the summary: nothing to add
    meta = r.get_commit(head(r)).meta
    assert meta["summaries"][0]["appended_facts"] == s["appended_facts"]
    assert meta["must_keep"] == {"strings": ["E000", "E111"], "patterns": [r"count_\d+"]}


def test_a_must_keep_pattern_is_kept_by_the_test_the_check_uses(repo):
    """A pattern is present when it matches the summary (re.search, as the final check), not
    when its matched text is a substring: E1 inside E12 does not keep \\bE1\\b."""
    from trace_core.compress.strategies import with_facts
    from trace_core.compress.validate import Facts
    facts = Facts(["E12"], [r"\bE1\b", r"E\d+"])
    assert with_facts("Fixed E12.", facts, ["error E1 then E12"]) == \
        ("Fixed E12.\nkept: E1", ["E1"])
    r = repo
    r.user("The build fails with E1 and then E12; please look.")
    r.assistant("It is the cache; I cleared it and both are gone.")
    p = FakeProvider(["Cleared the cache, which fixed E12."])
    res = compress(r, entries="0:", strategy="llm", provider=p, must_keep_re=[r"\bE1\b"])
    assert res.summaries[0]["text"] == "Cleared the cache, which fixed E12.\nkept: E1"
    assert res.summaries[0]["appended_facts"] == ["E1"]


def test_an_anchored_must_keep_pattern_fails_naming_why(repo):
    r = repo
    r.user("Please check the nightly job; it must finish before 06:00.")
    r.assistant("I will look at the nightly job schedule and its logs right now.")
    before = state(r)
    with pytest.raises(OperationError, match=r"must-keep pattern '\^Please check' would be "
                       r"lost by this compression: .*'kept: \.\.\.' \(an anchor"):
        compress(r, entries="0:", must_keep_re=["^Please check"], allow_growth=True)
    assert state(r) == before
    # kept verbatim elsewhere, the same pattern is no loss
    r.user("Please check the backups too.")
    res = compress(r, entries="0:2", must_keep_re=["^Please check"], allow_growth=True)
    assert res.summaries[0]["appended_facts"] == ["Please check"]


def test_must_keep_fact_in_a_dropped_entry_still_fails(repo):
    r = repo
    build_session(r, turns=2)
    before = state(r)
    plan = plan_compression(r, "HEAD~8")
    plan.set(plan.steps[0].commit, "drop")               # turn 0's user message, with E000
    with pytest.raises(OperationError, match="must-keep string 'E000' would be lost"):
        compress(r, "HEAD~8", plan=plan, must_keep=["E000"])
    assert state(r) == before


def test_mask_keeps_a_tool_output_holding_a_must_keep_fact(repo):
    r = repo
    build_session(r, turns=3)               # tool outputs at 3, 7, 11
    res = compress(r, "HEAD~12", strategy="mask", keep_last=0, must_keep=["expected 1 got 2"])
    assert [m["old_index"] for m in res.masked] == [3, 11]
    assert "expected 1 got 2" in r.messages()[7]["content"]
    assert "expected 0 got 1" not in r.messages()[3]["content"]


def test_llm_summary_gets_the_facts_it_lacks_appended(repo):
    r = repo
    build_session(r, turns=2)
    p = FakeProvider(["We fixed two tests.", "Fixed module_1.py."])
    res = compress(r, "HEAD~8", strategy="llm", provider=p, granularity="turn",
                   must_keep=["E000"], must_keep_re=[r"module_\d\.py"])
    assert [s["text"] for s in res.summaries] == ["We fixed two tests.\nkept: E000; module_0.py",
                                                  "Fixed module_1.py."]
    assert [s["appended_facts"] for s in res.summaries] == [["E000", "module_0.py"], []]
    meta = r.get_commit(head(r)).meta
    assert meta["summaries"][0]["appended_facts"] == ["E000", "module_0.py"]
    assert "appended_facts" not in meta["summaries"][1]
    assert "E000" in p.calls[0]["messages"][0]["content"]       # asked for, then appended


def test_llm_unit_that_cannot_shrink_is_skipped_and_its_call_counted(repo):
    r = repo
    _tiny_turn_session(r)
    p = FakeProvider(["Turn 0 fixed.", "The user asked whether it was fine; it was, they said.",
                      "Turn 1 fixed."])
    res = compress(r, entries="1:", strategy="llm", provider=p, granularity="turn")
    assert [u["replaced"] for u in res.skipped] == [[5, 6]] and len(res.summaries) == 2
    meta = r.get_commit(head(r)).meta
    assert meta["usage"]["calls"] == 3 and meta["inference"]["prompt_tokens"] == 300
    assert contents(r)[1:] == ["Turn 0 fixed.", "ok?", "yes.", "Turn 1 fixed."]


def _tiny_turn_session(r):
    """0 system, 1-4 turn 0, 5-6 a turn too small to summarize, 7-10 turn 1; commit ids."""
    ids = build_session(r, turns=1)
    ids += [r.user("ok?").id, r.assistant("yes.").id]
    return ids + add_turn(r, 1)


def test_a_turn_that_cannot_shrink_stays_verbatim_in_place(repo):
    r = repo
    ids = _tiny_turn_session(r)
    old = r.entries_at(head(r))
    res = compress(r, entries="1:", granularity="turn")
    c = r.get_commit(head(r))
    assert [s["replaced"] for s in res.summaries] == [[1, 2, 3, 4], [7, 8, 9, 10]]
    [skip] = res.skipped
    assert skip["replaced"] == [5, 6] and skip["reason"] == "unshrinkable"
    assert skip["tokens"] >= skip["replaced_tokens"] == r.blob_tokens(old[5].blob) + \
        r.blob_tokens(old[6].blob)
    assert [(k["index"], k["new_index"], k["reason"]) for k in res.kept] == \
        [(5, 2, "unshrinkable"), (6, 3, "unshrinkable")]
    new = r.entries_at(head(r))
    assert len(new) == 5 and new[2:4] == old[5:7] and contents(r)[2:4] == ["ok?", "yes."]
    assert c.meta["kept"] == [[5, 2, "unshrinkable"], [6, 3, "unshrinkable"]]
    assert [s["index"] for s in c.meta["summaries"]] == [1, 4]
    assert list(c.targets) == [1, 2, 3, 4, 7, 8, 9, 10]
    assert res.replaced_tokens == sum(r.blob_tokens(old[i].blob) for i in c.targets)
    # the readers of provenance
    info = describe(c)
    assert info["kept"] == c.meta["kept"]
    shown = show_lines(info)
    assert "Summary #4 " in "\n".join(shown) and shown[-1] == \
        "Kept verbatim (unshrinkable): #5→#2 #6→#3"                     # old -> new index
    leaves = trace_back(r, head(r), c.meta["summaries"][1]["blob"])
    assert [leaf["commit"] for leaf in leaves] == [i.hex() for i in ids[7:11]]
    recs = r.blame()
    assert [x["introduced"]["commit"] for x in recs[2:4]] == [ids[5].hex(), ids[6].hex()]
    assert [x["introduced"]["op"] for x in recs[2:4]] == ["append", "append"]
    assert recs[4]["introduced"]["commit"] == c.hex
    assert [o["introduced"]["commit"] for o in recs[4]["originals"]] == \
        [i.hex() for i in ids[7:11]]
    lost = r.audit_lost()
    assert sorted(f.entry.index for f in lost.findings if f.kind == "compressed") == \
        [1, 2, 3, 4, 7, 8, 9, 10]


def test_when_no_unit_shrinks_the_run_fails_and_range_keeps_its_error(repo):
    r = repo
    for text in ("hi", "hello", "ok", "bye"):
        (r.user if text in ("hi", "ok") else r.assistant)(text)
    before = state(r)
    with pytest.raises(OperationError, match=r"^nothing to compress: no summary would be "
                                             r"smaller .*\(2 turns kept verbatim\)"):
        compress(r, entries="0:", granularity="turn")
    with pytest.raises(OperationError, match="more than the .* it replaces; use -g turn or "
                       "episode .* --allow-growth") as err:
        compress(r, entries="0:")                     # one range summary: the size error
    assert "coarser" not in str(err.value)           # range is the coarsest granularity
    assert state(r) == before
    res = compress(r, entries="0:", granularity="turn", allow_growth=True, dry_run=True)
    assert len(res.summaries) == 2 and res.skipped == []
    plan = plan_compression(r, entries="0:")
    plan.set(plan.steps[0].commit, "drop")
    res = compress(r, entries="0:", granularity="episode", plan=plan, episode_tokens=1)
    assert res.dropped == [0] and [u["replaced"] for u in res.skipped] == [[1], [2, 3]]
    assert contents(r) == ["hello", "ok", "bye"]
    assert r.get_commit(head(r)).meta["kept"] == [[1, 0, "unshrinkable"], [2, 1, "unshrinkable"],
                                                  [3, 2, "unshrinkable"]]


def test_a_kept_unit_keeps_the_unit_holding_its_tool_pair(repo):
    """An Anthropic user message answering a tool call and adding text starts a turn: when that
    turn cannot shrink, the turn holding the call stays too, so the pair stays whole."""
    r = repo
    r.user("Task: count the lines of data/big.txt. " + "Some context on the task. " * 30)
    r.append({"role": "assistant", "content": [
        {"type": "text", "text": "Reading it."},
        {"type": "tool_use", "id": "tu1", "name": "read", "input": {"p": "data/big.txt"}}]})
    r.append({"role": "user", "content": [                # a turn of its own
        {"type": "tool_result", "tool_use_id": "tu1", "content": "42"},
        {"type": "text", "text": "ok\nyes\nsure\nfine\ngo on\nnow\nthen\nso"}]})
    add_turn(r, 0)                                    # 3-6
    # when nothing else shrinks, the error counts the two reasons apart
    with pytest.raises(OperationError, match=r"^nothing to compress: 1 turn kept verbatim as "
                       r"unshrinkable \(a summary would not be smaller than what it replaces\), "
                       r"and 1 turn kept with it for a tool call they share \(tool-pair\); "):
        compress(r, entries="0:3", granularity="turn")
    res = compress(r, entries="0:", granularity="turn")
    assert [(u["replaced"], u["reason"]) for u in res.skipped] == \
        [([0, 1], "tool-pair"), ([2], "unshrinkable")]
    assert [u["tokens"] < u["replaced_tokens"] for u in res.skipped] == [True, False]
    assert [s["replaced"] for s in res.summaries] == [[3, 4, 5, 6]]
    assert [k["reason"] for k in res.kept] == ["tool-pair"] * 2 + ["unshrinkable"]
    assert len(r.messages()) == 4
    _assert_pairs_valid(r.materialize("anthropic")["messages"], anthropic=True)


def test_cli_reports_skipped_turns_and_appended_facts(repo):
    _tiny_turn_session(repo)
    repo.close()
    d = os.path.dirname(repo.trace_dir)
    p = invoke(d, "compress", "--entries", "1:", "-g", "turn", "--dry-run", check=True)
    assert "kept #5-#6 verbatim (2 entries, " in p.stdout and "unshrinkable" in p.stdout
    p = invoke(d, "compress", "--entries", "1:", "-g", "turn", "--must-keep", "E111",
               "--target-tokens", "20", check=True)
    assert "must-keep appended: E111" in p.stdout
    show = json.loads(invoke(d, "show", "--json", check=True).stdout)["meta"]
    assert [k[2] for k in show["kept"]] == ["unshrinkable"] * 2
    assert show["summaries"][1]["appended_facts"] == ["E111"]
    invoke(d, "reset", "--hard", "HEAD~1", check=True)
    out = json.loads(invoke(d, "compress", "--entries", "1:", "-g", "turn", "--json",
                            check=True).stdout)
    assert [(u["replaced"], u["reason"]) for u in out["skipped"]] == [([5, 6], "unshrinkable")]
    assert_one_line_error(invoke(d, "compress", "--entries", "2:4", "-g", "turn"),
                          "nothing to compress")
    assert_one_line_error(invoke(d, "compress", "--entries", "2:4"), "--allow-growth")
