"""Merge, resolve, continue/abort, cherry-pick, revert and rebase (API, CLI, faults)."""

from __future__ import annotations

import json
import os
import random
from pathlib import Path

import pytest
from conftest import FakeProvider, assert_one_line_error, chat, garbage, hang, invoke, invoke_cli

from trace_core import chunked
from trace_core.errors import (
    MergeConflict,
    MergeInProgress,
    OperationError,
    RevisionError,
    TraceError,
)
from trace_core.ids import hash_bytes
from trace_core.merge.merge3 import Conflict, Similar, merge_lists, resolved_entries
from trace_core.objects import Entry
from trace_core.repository import Repository


def recount(repo, commit):
    """The total tokens of `commit`'s context, counted from scratch."""
    from trace_core import chunked
    from trace_core.plumbing import count_entries
    return count_entries(repo, chunked.entries(repo.get_snapshot(commit.snapshot), repo.get_node))


def texts(repo, rev="HEAD"):
    return [m["content"] for m in repo.messages(rev)]


def fork(repo, *main_msgs, feat_msgs=(), base=("sys", "q1", "a1")):
    for t in base:
        repo.user(t)
    repo.branch_create("feat")
    for t in main_msgs:
        repo.user(t)
    feat = repo.worktree("feat")
    for t in feat_msgs:
        feat.user(t)
    return feat


def edit_edit(repo, *main_msgs, feat_msgs=()):
    """main and feat both edit entry 2 ("A" / "B") after the fork: an edit/edit conflict."""
    feat = fork(repo, *main_msgs, feat_msgs=feat_msgs)
    repo.edit(2, {"role": "user", "content": "A"})
    feat.edit(2, {"role": "user", "content": "B"})
    return feat


# -- the list algorithm ----------------------------------------------------------------------------
def E(name: str, flags: int = 0) -> Entry:
    return Entry(hash_bytes(name.encode()), flags)


def _role(e):
    return "user"


def _names(slots, table):
    out = []
    for s in slots:
        out.append(f"C:{s.kind}" if isinstance(s, Conflict) else table[s.blob])
    return out


def run3(base, ours, theirs, **kw):
    table = {E(n).blob: n for n in {*base, *ours, *theirs}}
    out = merge_lists([E(n) for n in base], [E(n) for n in ours], [E(n) for n in theirs],
                      role=_role, **kw)
    return _names(out.slots, table), out


@pytest.mark.parametrize("base,ours,theirs,want", [
    ("abc", "abcd", "abce", "abcde"),               # both appended: ours first
    ("abc", "abc", "abce", "abce"),                 # one side appended
    ("abc", "ac", "abcd", "acd"),                   # drop + append
    ("abc", "aXc", "abcd", "aXcd"),                 # edit + append
    ("abc", "aXc", "aXcd", "aXcd"),                 # same edit on both sides
    ("abc", "ac", "ac", "ac"),                      # same drop
    ("abc", "abcd", "abcd", "abcd"),                # same append: once
    ("abc", "Zabc", "abcd", "Zabcd"),               # insert at the front + append
])
def test_merge_lists_clean(base, ours, theirs, want):
    got, out = run3(list(base), list(ours), list(theirs))
    assert not out.conflicts
    assert "".join(got) == want


@pytest.mark.parametrize("base,ours,theirs,kind", [
    ("abc", "aXc", "aYc", "edit/edit"),
    ("abc", "aXc", "ac", "edit/drop"),
    ("abc", "ac", "aYc", "drop/edit"),
])
def test_merge_lists_conflicts(base, ours, theirs, kind):
    got, out = run3(list(base), list(ours), list(theirs))
    assert [c.kind for c in out.conflicts] == [kind]
    with pytest.raises(ValueError):
        resolved_entries(out.slots)
    out.conflicts[0].settle("both", "test")
    assert len(resolved_entries(out.slots)) == 3 + (kind == "edit/edit")


def test_pin_versus_drop_is_a_conflict():
    base = [E("a"), E("b")]
    ours = [E("a"), E("b", 1)]          # ours pinned b
    theirs = [E("a")]                   # theirs dropped b
    out = merge_lists(base, ours, theirs, role=_role)
    assert [c.kind for c in out.conflicts] == ["pin/drop"]


def test_orders():
    base, ours, theirs = list("ab"), list("abcd"), list("abxy")
    assert "".join(run3(base, ours, theirs, order="theirs-first")[0]) == "abxycd"
    when = {E("c").blob: 1, E("d").blob: 3, E("x").blob: 2, E("y").blob: 4}
    assert "".join(run3(base, ours, theirs, order="chronological", when=when)[0]) == "abcxdy"
    with pytest.raises(ValueError):
        run3(base, ours, theirs, order="random")


def test_near_duplicates_found_by_prefix_filtering_match_brute_force():
    rnd = random.Random(3)
    words = ["alpha", "beta", "gamma", "delta", "epsilon", "zeta", "eta", "theta", "iota", "kappa",
             "lambda", "mu"]
    texts_ = [" ".join(rnd.choice(words) for _ in range(30)) for _ in range(60)]
    # near copies: one word changed
    texts_ += [t.rsplit(" ", 1)[0] + " omega" for t in texts_[:10]]
    entries = {t: E(t) for t in texts_}

    def feats(e):
        t = next(k for k, v in entries.items() if v == e)
        w = t.split()
        import zlib
        return ("user", t, frozenset(zlib.crc32(" ".join(w[i:i + 2]).encode())
                                     for i in range(len(w) - 1)))
    sim = Similar(feats, 0.9)
    ours = [entries[t] for t in texts_[:60]]
    theirs = [entries[t] for t in texts_[60:]]
    out = merge_lists([], ours, theirs, role=_role, similar=sim)
    brute = sum(any(sim.matches(feats(o), feats(t)) for o in ours) for t in theirs)
    assert len(out.conflicts) == brute
    assert all(c.kind == "redundant" for c in out.conflicts)


def test_redundancy_equals_comparing_every_pair():
    """The prefix-filtered search (rarest shingles first) pairs each entry theirs added with the
    same entry of ours as trying every pair in order would: small vocabularies, two roles,
    exact and near copies, several thresholds."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    from trace_core.merge.merge3 import redundancy

    word = st.sampled_from(["a", "b", "c", "d", "e", "f", "g"])
    text = st.lists(word, min_size=1, max_size=9).map(" ".join)
    item = st.tuples(st.sampled_from(["user", "tool"]), text)

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(st.lists(item, max_size=12), st.lists(item, max_size=12),
           st.sampled_from([0.3, 0.5, 0.7, 0.9, 1.0]))
    def check(ours_items, theirs_items, threshold):
        feats = {}

        def entry(role, t, tag):
            e = E(f"{tag}:{role}:{t}")
            w = t.split()
            grams = frozenset(zip(w, w[1:], strict=False)) if len(w) > 1 else frozenset(w)
            feats[e.blob] = (role, t, grams)
            return e
        ours = {i: entry(r, t, f"o{i}") for i, (r, t) in enumerate(ours_items)}
        theirs = [entry(r, t, f"t{i}") for i, (r, t) in enumerate(theirs_items)]
        sim = Similar(lambda e: feats[e.blob], threshold)
        left, near, dups = redundancy(ours, theirs, sim)
        want_near: dict = {}
        want_left = []
        for e in theirs:
            hit = next((i for i in sorted(ours) if i not in want_near
                        and sim.matches(feats[ours[i].blob], feats[e.blob])), None)
            if hit is None:
                want_left.append(e)
            else:
                want_near[hit] = e
        assert dups == 0 and left == want_left
        assert {i: c.theirs for i, c in near.items()} == {i: [e] for i, e in want_near.items()}
    check()


# -- merge through the repository ------------------------------------------------------------------
def test_fast_forward_up_to_date_and_self(repo):
    fork(repo, feat_msgs=("f1",))
    assert repo.merge("feat").status == "fast-forward"
    assert texts(repo)[-1] == "f1"
    assert repo.merge("feat").status == "up-to-date"
    with pytest.raises(OperationError, match="into itself"):
        repo.merge("main")
    with pytest.raises(RevisionError):
        repo.merge("nope")


def test_no_ff_and_ff_only(repo):
    fork(repo, feat_msgs=("f1",))
    res = repo.merge("feat", ff="never")
    assert res.status == "merged"
    c = repo.get_commit(bytes.fromhex(res.commit))
    assert len(c.parents) == 2 and c.op == "merge"
    repo.user("m2")
    repo.worktree("feat").user("f2")
    with pytest.raises(OperationError, match="fast-forward"):
        repo.merge("feat", ff="only")


def test_clean_merge_keeps_both_sides_and_tokens(repo):
    fork(repo, "m1", "m2", feat_msgs=("f1", "f2"))
    res = repo.merge("feat")
    assert res.status == "merged"
    assert texts(repo) == ["sys", "q1", "a1", "m1", "m2", "f1", "f2"]
    head = repo.get_commit(repo.head_commit())
    assert head.parents == (bytes.fromhex(res.commit) and head.parents)
    assert head.total_tokens == recount(repo, head)
    # the snapshot is canonical: the same as building the list from scratch
    ents = chunked.entries(repo.get_snapshot(head.snapshot), repo.get_node)
    assert chunked.build(ents, lambda n: None).id == head.snapshot
    assert repo.show()["meta"]["base"]


def test_same_entry_appended_on_both_sides_is_merged_once(repo):
    fork(repo, "same", "m", feat_msgs=("f0", "same", "f"))
    res = repo.merge("feat")
    assert res.deduplicated == 1
    assert texts(repo)[3:] == ["same", "m", "f0", "f"]


def test_near_duplicate_is_a_redundancy_conflict(repo):
    a = "Run the whole test suite with pytest, then report which tests fail and why they fail."
    fork(repo, a, feat_msgs=(a.replace("whole", "entire").upper(),))
    res = repo.merge("feat")
    assert res.status == "conflicts"
    assert [c.kind for c in res.conflicts] == ["redundant"]


def test_conflict_flow_resolve_continue(repo):
    fork(repo, feat_msgs=())
    repo.edit(2, {"role": "user", "content": "a1 main"})
    repo.worktree("feat").edit(2, {"role": "user", "content": "a1 feat"})
    before = repo.head_commit()
    res = repo.merge("feat")
    assert res.status == "conflicts" and repo.head_commit() == before
    st = repo.status()
    assert st.operation["op"] == "merge" and st.operation["conflicts"][0]["kind"] == "edit/edit"
    with pytest.raises(MergeInProgress):
        repo.merge("feat")
    with pytest.raises(MergeConflict):
        repo.merge_continue()
    with pytest.raises(OperationError):
        repo.resolve_conflict(9, "ours")
    with pytest.raises(TraceError):
        repo.resolve_conflict(1, "sideways")
    repo.resolve_conflict(1, "text", "a1 reconciled")
    res = repo.merge_continue()
    assert res.status == "merged"
    assert texts(repo) == ["sys", "q1", "a1 reconciled"]
    assert repo.merge_state() is None
    meta = repo.show()["meta"]
    assert meta["conflicts"] == [{"action": "text", "by": "user", "id": 1, "kind": "edit/edit"}]
    assert repo.refs.resolve("ORIG_HEAD") == before.hex()


def test_abort_restores_exactly(repo):
    fork(repo, "m", feat_msgs=())
    repo.edit(1, {"role": "user", "content": "x"})
    repo.worktree("feat").drop(1)
    refs_before = repo.refs.list()
    res = repo.merge("feat")
    assert [c.kind for c in res.conflicts] == ["edit/drop"]
    assert repo.merge_abort() == "merge"
    assert repo.refs.list() == refs_before
    assert repo.merge_state() is None and repo.status().operation is None
    with pytest.raises(OperationError):
        repo.merge_abort()


@pytest.mark.parametrize("strategy,want", [
    ("ours", ["sys", "q1", "A"]),
    ("theirs", ["sys", "q1", "B"]),
    ("union", ["sys", "q1", "A", "B"]),
])
def test_strategies(repo, strategy, want):
    edit_edit(repo)
    res = repo.merge("feat", strategy=strategy)
    assert res.status == "merged"
    assert texts(repo) == want


def test_semantic_deterministic_driver(repo):
    fork(repo)
    repo.edit(2, {"role": "user", "content": "the build uses python 3.11"})
    repo.worktree("feat").edit(2, {"role": "user", "content": "The build uses Python 3.11 and uv"})
    res = repo.merge("feat", strategy="semantic")
    assert res.status == "merged" and res.driver == "deterministic"
    assert texts(repo)[-1] == "The build uses Python 3.11 and uv"   # the superset wins


def test_continue_refused_when_branch_moved(repo):
    edit_edit(repo)
    repo.merge("feat")
    repo.resolve_conflict(1, "ours")
    repo.user("appended meanwhile")
    with pytest.raises(OperationError, match="moved since"):
        repo.merge_continue()
    assert repo.status().operation["moved"] is True
    repo.merge_abort()
    assert texts(repo)[-1] == "appended meanwhile"


def test_damaged_state_is_explained_and_abortable(repo):
    edit_edit(repo)
    repo.merge("feat")
    path = os.path.join(repo.refs_root, "MERGE_STATE")
    with open(path, "r+b") as f:
        f.truncate(40)
    st = repo.status()
    assert "damaged" in st.operation
    with pytest.raises(TraceError, match="damaged"):
        repo.merge_continue()
    assert repo.merge_abort() == "merge"
    assert not os.path.exists(path)


def test_merge_into_unborn_namespace_fast_forwards(repo):
    repo.user("q")
    sub = repo.agent("child", create=True)
    assert sub.merge(repo.head_commit().hex()).status == "fast-forward"
    assert texts(sub) == ["q"]


# -- cherry-pick, revert ---------------------------------------------------------------------------
def test_cherry_pick_and_revert(repo):
    fork(repo, "m1", feat_msgs=("f1", "f2"))
    res = repo.cherry_pick("feat~1")
    assert res.status == "picked" and texts(repo)[-1] == "f1"
    c = repo.get_commit(repo.head_commit())
    assert c.op == "cherry-pick" and c.meta["picked"] == repo.resolve("feat~1").hex()
    res = repo.revert("HEAD~1")          # undo m1
    assert res.status == "reverted"
    assert texts(repo) == ["sys", "q1", "a1", "f1"]
    assert repo.get_commit(repo.head_commit()).message.startswith('Revert "')
    assert repo.cherry_pick("feat~1").status == "empty"


def test_cherry_pick_conflict_then_abort(repo):
    edit_edit(repo)
    head = repo.head_commit()
    res = repo.cherry_pick("feat")
    assert res.status == "conflicts"
    with pytest.raises(MergeInProgress):
        repo.switch("feat")
    assert repo.merge_abort() == "cherry-pick"
    assert repo.head_commit() == head


def test_revert_root_and_merge_refused(repo):
    repo.user("only")
    assert repo.revert("HEAD").status == "reverted"
    assert texts(repo) == []
    fork(repo, "m", feat_msgs=("f",), base=("b",))
    res = repo.merge("feat")
    with pytest.raises(OperationError, match="merge commit"):
        repo.cherry_pick(res.commit)


# -- rebase ----------------------------------------------------------------------------------------
def test_rebase_linear_and_orig_head(repo):
    fork(repo, "m1", "m2", feat_msgs=("f1", "f2", "f3"))
    old_feat = repo.refs.resolve("refs/heads/feat")
    repo.switch("feat")
    res = repo.rebase("main")
    assert res.status == "rebased" and len(res.replayed) == 3
    assert texts(repo) == ["sys", "q1", "a1", "m1", "m2", "f1", "f2", "f3"]
    assert repo.refs.resolve("ORIG_HEAD") == old_feat
    rows = list(repo.index.walk([repo.head_commit()]))
    assert all(len(r.parents) <= 1 for r in rows)
    assert repo.rebase("main").status == "up-to-date"
    # main behind feat: rebasing main onto feat fast-forwards
    repo.switch("main")
    assert repo.rebase("feat").status == "fast-forward"


def test_rebase_conflict_continue_and_abort(repo):
    fork(repo, feat_msgs=())
    repo.edit(2, {"role": "user", "content": "main edit"})
    feat = repo.worktree("feat")
    feat.user("f1")
    feat.edit(2, {"role": "user", "content": "feat edit"})
    feat.user("f2")
    repo.switch("feat")
    before = repo.head_commit()
    res = repo.rebase("main")
    assert res.status == "conflicts"
    op = repo.status().operation
    assert op["op"] == "rebase" and op["rebase"]["done"] == 1
    assert repo.head_commit() == before         # nothing moved yet
    repo.merge_abort()
    assert repo.head_commit() == before
    res = repo.rebase("main")
    repo.resolve_conflict(1, "theirs")
    res = repo.merge_continue()
    assert res.status == "rebased"
    assert texts(repo) == ["sys", "q1", "feat edit", "f1", "f2"]


# -- crashes ---------------------------------------------------------------------------------------
# A child rebases feat onto main and stops at one point: it writes a byte to stdout there and
# waits to be killed. The parent kills it once it has read the byte, so the kill lands exactly
# at that point however loaded the machine is.
KILLED_REBASE = r"""
import os, sys, time
from trace_core.refs import reffile
from trace_core.repository import Repository
from trace_core.storage.objectstore import DiskObjectStore

def stop_here():
    os.write(1, b"!")
    time.sleep(120)

point = sys.argv[2]
if point == "mid-replay":           # the first object of the rebased history is written
    write = DiskObjectStore.write
    def write_then_stop(self, objs):
        write(self, objs)
        stop_here()
    DiskObjectStore.write = write_then_stop
else:                               # just before / after the branch's ref record is written
    append = reffile.LockedRef.append
    def append_and_stop(self, entry, cache=None):
        if self.name == "refs/heads/feat" and point == "before-ref":
            stop_here()
        append(self, entry, cache)
        if self.name == "refs/heads/feat":
            stop_here()
    reffile.LockedRef.append = append_and_stop
r = Repository.open(sys.argv[1])
r.rebase("main", strategy="semantic")
"""


@pytest.mark.parametrize("point,outcome", [("mid-replay", "before"), ("before-ref", "before"),
                                           ("after-ref", "after")])
def test_killed_rebase_leaves_branch_or_result(tmp_path, point, outcome):
    import signal
    import subprocess
    import sys
    path = str(tmp_path / "k")
    r = Repository.init(path, encoding="chars/4")
    r.user("base")
    r.branch_create("feat")
    with r.transaction():
        for i in range(10):
            r.user(f"main {i}")
    feat = r.worktree("feat")
    with feat.transaction():
        for i in range(30):
            feat.user(f"feat {i}")
    r.switch("feat")
    start = r.head_commit().hex()
    r.close()
    p = subprocess.Popen([sys.executable, "-c", KILLED_REBASE, path, point],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        reached = p.stdout.read(1)
        assert reached == b"!", p.stderr.read().decode()     # the child got to the point
        p.send_signal(signal.SIGKILL)
        assert p.wait(30) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
        p.stdout.close()
        p.stderr.close()
    r = Repository.open(path)
    if outcome == "before":
        assert r.refs.resolve("refs/heads/feat") == start
        assert texts(r) == ["base"] + [f"feat {i}" for i in range(30)]
    else:
        assert r.refs.resolve("refs/heads/feat") != start
        assert texts(r) == ["base"] + [f"main {i}" for i in range(10)] + \
            [f"feat {i}" for i in range(30)]
    st = invoke(path, "status")
    assert st.returncode == 0, st.stderr
    if r.merge_state() is not None:
        r.merge_abort()
    r.close()
    assert invoke(path, "fsck").returncode == 0
    if outcome == "before":           # the rebase can be run again, to the same result
        r = Repository.open(path)
        assert r.rebase("main", strategy="semantic").status == "rebased"
        assert texts(r)[1:11] == [f"main {i}" for i in range(10)]
        r.close()


# -- CLI -------------------------------------------------------------------------------------------
def test_cli_merge_conflict_resolve_continue(tmp_path):
    d = str(tmp_path / "c")
    invoke_cli("init", d, check=True)
    for t in ("q", "a"):
        invoke_cli("-C", d, "commit", t, check=True)
    invoke_cli("-C", d, "branch", "feat", check=True)
    invoke_cli("-C", d, "commit", "--type", "edit", "--target", "1", "main", check=True)
    invoke_cli("-C", d, "switch", "feat", check=True)
    invoke_cli("-C", d, "commit", "--type", "edit", "--target", "1", "feat", check=True)
    invoke_cli("-C", d, "switch", "main", check=True)
    p = invoke_cli("-C", d, "merge", "feat")
    assert p.returncode == 1 and "CONFLICT 1 (edit/edit)" in p.stdout
    p = invoke_cli("-C", d, "status")
    assert "middle of a merge" in p.stdout and "conflict 1 edit/edit: open" in p.stdout
    assert_one_line_error(invoke_cli("-C", d, "merge", "feat"), "error: a merge is in progress")
    assert_one_line_error(invoke_cli("-C", d, "rebase", "--continue"),
                          "a merge is in progress, not a rebase")
    assert_one_line_error(invoke_cli("-C", d, "merge", "--continue"), "not resolved")
    assert_one_line_error(invoke_cli("-C", d, "resolve", "1"), code=2)
    invoke_cli("-C", d, "resolve", "1", "--text", "both said", check=True)
    p = invoke_cli("-C", d, "merge", "--continue", "--json", check=True)
    assert json.loads(p.stdout)["status"] == "merged"
    p = invoke_cli("-C", d, "context", "--format", "json", check=True)
    assert "both said" in p.stdout
    p = invoke_cli("-C", d, "log", check=True)
    assert "Merge:" in p.stdout


def test_cli_branch_tag_switch(tmp_path):
    d = str(tmp_path / "b")
    invoke_cli("init", d, check=True)
    invoke_cli("-C", d, "commit", "q", check=True)
    invoke_cli("-C", d, "branch", "explore", check=True)
    assert_one_line_error(invoke_cli("-C", d, "branch", "explore"), "already exists")
    for bad in ("../x", "a..b", "HEAD", "refs/tags/x", "x.lock", "a b", "x/"):
        assert_one_line_error(invoke_cli("-C", d, "branch", bad))
    invoke_cli("-C", d, "switch", "explore", check=True)
    invoke_cli("-C", d, "commit", "on explore", check=True)
    p = invoke_cli("-C", d, "branch", "-m", "tried")
    assert p.returncode == 0
    p = invoke_cli("-C", d, "status", check=True)
    assert "On branch tried" in p.stdout
    p = invoke_cli("-C", d, "reflog", "refs/heads/tried", check=True)
    assert "created from" in p.stdout and "renamed" in p.stdout
    invoke_cli("-C", d, "switch", "main", check=True)
    assert_one_line_error(invoke_cli("-C", d, "branch", "-d", "tried"), "not merged")
    invoke_cli("-C", d, "tag", "v1", "tried", check=True)
    assert invoke_cli("-C", d, "tag", check=True).stdout.split() == ["v1"]
    invoke_cli("-C", d, "branch", "-D", "tried", check=True)
    listed = json.loads(invoke_cli("-C", d, "branch", "--json", check=True).stdout)
    assert [b["name"] for b in listed] \
        == ["main"]
    invoke_cli("-C", d, "switch", "-c", "again", "v1", check=True)
    assert "on explore" in invoke_cli("-C", d, "context", "--format", "text", check=True).stdout
    assert_one_line_error(invoke_cli("-C", d, "switch", "nope"), "no branch")
    invoke_cli("-C", d, "tag", "-d", "v1", check=True)
    assert_one_line_error(invoke_cli("-C", d, "merge", "nope"))


# -- the LLM merge driver --------------------------------------------------------------------------
def _edit_conflict(repo):
    edit_edit(repo, "main says the port is 8080", feat_msgs=("feat says the port is 9090",))


def test_llm_driver_resolves_and_records_cost(repo):
    from trace_core.merge.driver import LLMDriver
    _edit_conflict(repo)
    answer = json.dumps({"resolutions": [{"id": 1, "action": "text", "text": "A and B"}],
                         "contradictions": []})
    prov = FakeProvider(["```json\n" + answer + "\n```"])
    res = repo.merge("feat", strategy="semantic", driver=LLMDriver(prov))
    assert res.status == "merged" and res.driver == "llm"
    assert texts(repo)[2] == "A and B"
    meta = repo.show()["meta"]
    assert meta["inference"]["cost_usd"] == 0.001
    assert meta["conflicts"][0]["by"] == "llm"
    sent = json.loads(prov.calls[0]["messages"][0]["content"])
    assert sent["conflicts"][0]["ours"][0]["text"] == "A"


def test_llm_driver_flags_contradictions_as_conflicts(repo):
    from trace_core.merge.driver import LLMDriver
    _edit_conflict(repo)
    answer = json.dumps({"resolutions": [{"id": 1, "action": "ours"}],
                         "contradictions": [{"ours": 1, "theirs": 1,
                                             "explanation": "two different ports"}]})
    res = repo.merge("feat", strategy="semantic", driver=LLMDriver(FakeProvider([answer])))
    assert res.status == "conflicts"
    kinds = {c.kind: c for c in res.conflicts}
    assert kinds["edit/edit"].resolved and not kinds["contradiction"].resolved
    assert repo.status().operation["conflicts"][1]["note"] == "two different ports"
    repo.resolve_conflict(kinds["contradiction"].id, "theirs")
    repo.merge_continue()
    assert "feat says the port is 9090" in texts(repo)
    assert "main says the port is 8080" not in texts(repo)


@pytest.mark.parametrize("answer", [
    "I think you should keep both.",                                   # not JSON
    json.dumps({"resolutions": [{"id": 7, "action": "ours"}]}),        # unknown conflict
    json.dumps({"resolutions": [{"id": 1, "action": "shrug"}]}),       # unknown action
    json.dumps({"resolutions": [{"id": 1, "action": "text", "text": " "}]}),
    json.dumps({"resolutions": "all"}),                                # wrong shape
    json.dumps({"contradictions": [{"ours": 99, "theirs": 0}]}),
])
def test_llm_driver_garbage_leaves_branch_unchanged(repo, answer):
    from trace_core.errors import ProviderError
    from trace_core.merge.driver import LLMDriver
    _edit_conflict(repo)
    before = repo.refs.list()
    with pytest.raises(ProviderError):
        repo.merge("feat", strategy="semantic", driver=LLMDriver(FakeProvider([answer])))
    assert repo.refs.list() == before and repo.merge_state() is None


def test_llm_driver_endpoint_down_leaves_branch_unchanged(repo):
    from trace_core.errors import ProviderUnavailable
    from trace_core.merge.driver import LLMDriver
    _edit_conflict(repo)
    before = repo.refs.list()
    with pytest.raises(ProviderUnavailable):
        repo.merge("feat", strategy="semantic",
                   driver=LLMDriver(FakeProvider(error=ProviderUnavailable("connection refused"))))
    assert repo.refs.list() == before and repo.merge_state() is None


# -- end to end: `trace merge -s semantic` through a local OpenAI-compatible server ----------------
def _cli_conflict_repo(tmp_path, server, timeout="2"):
    """An edit/edit conflict between main and feat, and the LLM configured for `server`
    (built through the API: only the commands under test run the CLI): the model and limits in
    the repository's config, provider and endpoint in the user's global config (a repository
    alone cannot name them: docs/security.md). Returns (directory, environment to run in)."""
    d = str(tmp_path / "s")
    r = Repository.init(d)
    for t in ("q", "a"):
        r.user(t)
    r.branch_create("feat")
    r.edit(1, {"role": "user", "content": "port 8080"})
    r.worktree("feat").edit(1, {"role": "user", "content": "port 9090"})
    for k, v in (("llm.model", "merge-model"), ("llm.timeout", timeout),
                 ("llm.max-retries", "0"),
                 ("price.merge-model.prompt", "2.5"), ("price.merge-model.completion", "10")):
        r.set_config(k, v)
    r.close()
    user = tmp_path / "user-config"
    user.write_text(f"[llm]\n\tprovider = openai\n\tbase-url = {server.url}/v1\n")
    return d, {"TRACE_CONFIG_GLOBAL": str(user)}


def test_cli_semantic_merge_over_http(tmp_path, llm_server):
    answer = json.dumps({"resolutions": [{"id": 1, "action": "text",
                                          "text": "the port moved from 8080 to 9090"}]})
    llm_server.script = [chat(answer, p=1200, c=80)]
    d, env = _cli_conflict_repo(tmp_path, llm_server)
    p = invoke(d, "merge", "feat", "-s", "semantic", env={**env, "OPENAI_API_KEY": "sk-abc"})
    assert p.returncode == 0, p.stderr
    assert "Driver: llm" in p.stdout and "1200 prompt + 80 completion" in p.stdout
    [req] = llm_server.requests
    assert req["path"] == "/v1/chat/completions" and req["body"]["model"] == "merge-model"
    assert req["headers"]["authorization"] == "Bearer sk-abc"
    ctx = invoke(d, "context", "--format", "text", check=True).stdout
    assert "the port moved from 8080 to 9090" in ctx
    show = invoke(d, "show", check=True).stdout
    # 1200 * 2.5e-6 + 80 * 10e-6 = 0.0038
    assert "Inference: openai/merge-model: 1200 prompt + 80 completion tokens, $0.003800" in show
    log = invoke(d, "log", "-n", "1", check=True).stdout
    assert "Inference:" in log and "$0.003800" in log


@pytest.mark.parametrize("mode", ["garbage", "hang", "down"])
def test_cli_semantic_merge_endpoint_faults(tmp_path, llm_server, mode):
    llm_server.script = [{"garbage": garbage, "hang": hang, "down": None}[mode]]
    d, env = _cli_conflict_repo(tmp_path, llm_server, timeout="0.5")
    if mode == "down":
        llm_server.close()
    before = invoke(d, "for-each-ref", check=True).stdout
    p = invoke(d, "merge", "feat", "-s", "semantic", "--driver", "llm", env=env)
    assert_one_line_error(p)
    assert invoke(d, "for-each-ref", check=True).stdout == before
    assert "middle of" not in invoke(d, "status", check=True).stdout
    assert len(llm_server.requests) == (0 if mode == "down" else 1)


def test_killed_during_semantic_merge_changes_nothing(tmp_path, llm_server):
    import signal
    import subprocess
    import sys
    llm_server.script = [hang]
    d, env = _cli_conflict_repo(tmp_path, llm_server, timeout="30")
    before = invoke(d, "for-each-ref", check=True).stdout
    p = subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", d, "merge", "feat",
                          "-s", "semantic", "--driver", "llm"], env={**os.environ, **env})
    try:
        assert llm_server.hung.wait(30), "the merge never asked the model"
        p.send_signal(signal.SIGKILL)
        assert p.wait(30) == -signal.SIGKILL
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert invoke(d, "for-each-ref", check=True).stdout == before
    st = invoke(d, "status", check=True)
    assert "middle of" not in st.stdout
    assert invoke(d, "fsck").returncode == 0
    assert invoke(d, "merge", "feat", "-s", "ours").returncode == 0


def test_llm_contradiction_between_plain_appends_is_flagged(repo):
    # both sides only appended (the appends-only shortcut must not hide ours' entries)
    from trace_core.merge.driver import LLMDriver
    fork(repo, "Port is 8080.", feat_msgs=("Port is 9090.",))
    answer = json.dumps({"contradictions": [{"ours": 0, "theirs": 0, "explanation": "ports"}]})
    res = repo.merge("feat", strategy="semantic", driver=LLMDriver(FakeProvider([answer])))
    assert res.status == "conflicts"
    assert [c.kind for c in res.conflicts] == ["contradiction"]
    repo.resolve_conflict(1, "both")
    repo.merge_continue()
    assert texts(repo)[3:] == ["Port is 8080.", "Port is 9090."]


def test_llm_contradiction_of_an_entry_with_itself_is_ignored(repo):
    from trace_core.merge.driver import LLMDriver
    fork(repo, "Port is 8080.", "m", feat_msgs=("f0", "Port is 8080.", "f"))
    answer = json.dumps({"contradictions": [{"ours": 0, "theirs": 1}]})   # the same entry
    res = repo.merge("feat", strategy="semantic", driver=LLMDriver(FakeProvider([answer])))
    assert res.status == "merged"
    assert texts(repo).count("Port is 8080.") == 1


def test_cli_abort_removes_a_damaged_state(tmp_path):
    d = str(tmp_path / "dmg")
    r = Repository.init(d)
    r.user("q")
    r.branch_create("feat")
    r.edit(0, {"role": "user", "content": "A"})
    r.worktree("feat").edit(0, {"role": "user", "content": "B"})
    assert r.merge("feat").status == "conflicts"
    path = os.path.join(r.refs_root, "MERGE_STATE")
    r.close()
    with open(path, "w") as f:
        f.write("garbage\n")
    assert_one_line_error(invoke_cli("-C", d, "merge", "--continue"), "damaged")
    assert "unreadable" in invoke_cli("-C", d, "status", check=True).stdout
    invoke_cli("-C", d, "rebase", "--abort", check=True)
    assert not os.path.exists(path)
    assert invoke_cli("-C", d, "merge", "feat", "-s", "theirs").returncode == 0


@pytest.mark.parametrize("field,value", [
    ("rebase", [1]), ("inference", "x"), ("strategy", "yolo"), ("order", "random"),
    ("driver", "oracle"), ("ref", "../../etc/passwd"), ("prefix", -1), ("slots", "x"),
    ("conflicts", [{"id": 1}]), ("theirs", "not-hex"), ("format", 2),
])
def test_malformed_state_fields_are_one_line_errors(repo, field, value):
    edit_edit(repo)
    repo.merge("feat")
    path = os.path.join(repo.refs_root, "MERGE_STATE")
    doc = json.loads(Path(path).read_text())
    doc[field] = value
    with open(path, "w") as f:
        json.dump(doc, f)
    assert "damaged" in repo.status().operation
    with pytest.raises(TraceError, match="damaged"):
        repo.merge_continue()
    with pytest.raises(TraceError, match="damaged"):
        repo.resolve_conflict(1, "ours")
    assert repo.merge_abort() == "merge"


def test_malformed_rebase_progress_is_a_one_line_error(repo):
    fork(repo, feat_msgs=())
    repo.edit(2, {"role": "user", "content": "main edit"})
    feat = repo.worktree("feat")
    feat.user("f1")
    feat.edit(2, {"role": "user", "content": "feat edit"})
    repo.switch("feat")
    assert repo.rebase("main").status == "conflicts"
    path = os.path.join(repo.refs_root, "MERGE_STATE")
    for bad in (None, {"onto": "x", "todo": [], "done": []},
                {"onto": "0" * 64, "todo": "x", "done": []},
                {"onto": "0" * 64, "todo": [], "done": "x"}):
        doc = json.loads(Path(path).read_text())
        good = doc["rebase"]
        doc["rebase"] = bad
        with open(path, "w") as f:
            json.dump(doc, f)
        assert "damaged" in repo.status().operation
        with pytest.raises(TraceError, match="damaged"):
            repo.merge_continue()
        doc["rebase"] = good
        with open(path, "w") as f:
            json.dump(doc, f)
    assert repo.status().operation["op"] == "rebase"


@pytest.mark.parametrize("op", ["merge", "cherry-pick", "rebase"])
def test_state_left_by_a_kill_after_the_branch_moved_is_cleared(repo, op, monkeypatch):
    # simulate a process killed between moving the branch and removing MERGE_STATE
    from trace_core.merge import state as mergestate
    fork(repo, feat_msgs=())
    repo.edit(2, {"role": "user", "content": "A"})
    feat = repo.worktree("feat")
    feat.user("f1")
    feat.edit(2, {"role": "user", "content": "B"})
    if op == "merge":
        res = repo.merge("feat")
    elif op == "cherry-pick":
        res = repo.cherry_pick("feat")
    else:
        repo.switch("feat")
        res = repo.rebase("main")
    assert res.status == "conflicts"
    repo.resolve_conflict(1, "theirs")
    monkeypatch.setattr(mergestate, "remove", lambda r: False)
    done = repo.merge_continue()
    assert done.status in ("merged", "picked", "rebased")
    monkeypatch.undo()
    assert os.path.exists(mergestate.state_path(repo))       # the "killed" process left it
    repo.switch("after", create=True)                        # not refused
    assert repo.status().operation is None                   # recognised as finished
    assert not os.path.exists(mergestate.state_path(repo))
    repo.user("next")                                        # and nothing is blocked


def test_branch_moves_of_the_merging_ref_are_refused_while_stopped(repo):
    edit_edit(repo)
    repo.merge("feat")
    repo.resolve_conflict(1, "theirs")
    with pytest.raises(MergeInProgress):
        repo.branch_rename("main", "dev")
    repo.branch_create("other", "feat")
    repo.branch_rename("other", "other2")          # other branches are free
    with pytest.raises(TraceError, match="not a valid name"):
        repo.branch_create("@")
    assert repo.merge_continue().status == "merged"


def test_dir_file_ref_name_clashes_are_one_line_errors(tmp_path):
    d = str(tmp_path / "clash")
    r = Repository.init(d)
    r.user("q")
    r.tag_create("a/b")
    r.branch_create("q/r")
    r.branch_create("dev")
    r.close()
    for args in (("tag", "a"), ("branch", "-m", "dev", "q"), ("branch", "q")):
        assert_one_line_error(invoke_cli("-C", d, *args), "conflicting name")


def test_rebase_drops_an_append_already_upstream(repo):
    fork(repo, feat_msgs=("fix found", "f2"))
    repo.cherry_pick("feat~1")
    repo.user("more on main")
    repo.switch("feat")
    res = repo.rebase("main")
    assert res.status == "rebased"
    assert texts(repo)[3:] == ["fix found", "more on main", "f2"]
    assert [new for _, new in res.replayed][0] is None       # the duplicate was dropped


def test_rebase_keeps_ops_targets_and_tokens_of_rewrites(repo):
    fork(repo, "m1", feat_msgs=())
    feat = repo.worktree("feat")
    feat.pin(0)
    feat.user("to drop")
    feat.drop(3)
    feat.edit(1, {"role": "user", "content": "q1 edited"})
    originals = [repo.get_commit(repo.resolve(f"feat~{i}")) for i in (3, 1, 0)]  # pin, drop, edit
    repo.switch("feat")
    res = repo.rebase("main")
    assert res.status == "rebased"
    assert texts(repo) == ["sys", "q1 edited", "a1", "m1"]
    replayed = {c.meta["replayed"]: c
                for c in (repo.get_commit(bytes.fromhex(new)) for _, new in res.replayed if new)}
    # targets are positions in the context each replayed op was applied to (m1 is now before
    # "to drop", so the drop addresses #4 where the original addressed #3)
    for o, want in zip(originals, ([0], [4], [1]), strict=True):
        r = replayed[o.hex]
        assert (r.op, list(r.targets), r.tokens) == (o.op, want, o.tokens)
    head = repo.get_commit(repo.head_commit())
    assert head.total_tokens == recount(repo, head)
