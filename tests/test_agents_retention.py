"""Retention policies for sub-agents and gc (docs/multiagent.md "Retention and gc"): what a
policy prunes and when, what it never removes, the `.trace/pruned` record, and spawn/collapse
pointers as real references (gc keeps them, fsck checks them, a copy carries them)."""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import time

import pytest
from conftest import assert_one_line_error, invoke

from trace_core import Repository
from trace_core.errors import ConfigError, MissingObject, RepositoryError, TraceError
from trace_core.fsck import fsck
from trace_core.gc import gc
from trace_core.plumbing.commit import Change, commit_change, total_after
from trace_core.retention import pruned_records

DAY = 86400


def tree(trace_dir):
    """Every path below .trace with a digest of its bytes (a directory: its names)."""
    out = {}
    for base, dirs, files in os.walk(trace_dir):
        out[os.path.relpath(base, trace_dir)] = tuple(sorted(dirs + files))
        for f in files:
            with open(os.path.join(base, f), "rb") as fh:
                out[os.path.relpath(os.path.join(base, f), trace_dir)] = \
                    hashlib.sha256(fh.read()).hexdigest()
    return out


def chain(repo, cid):
    out = []
    while cid is not None:
        out.append(cid)
        c = repo.get_commit(cid)
        cid = c.parents[0] if c.parents else None
    return out


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def has(repo, oid):
    try:
        repo.store.get_bytes(oid)
        return True
    except MissingObject:
        return False


def work(repo, name="research-a", collapse=True):
    """A child spawned from the parent, three commits of its own, collapsed (if asked)."""
    if repo.head_commit() is None:
        repo.user("the task")
        repo.assistant("I will split it")
    repo.spawn([name], context="none", task=f"find {name}")
    child = repo.agent(name)
    child.assistant("looking")
    child.user("the tool said 3")
    child.assistant(f"{name}: it is 3")
    c = repo.collapse(name) if collapse else None
    return child, c


def reopen(repo):
    repo.close()
    return Repository.open(repo.trace_dir)


# -- pointers are references -------------------------------------------------------------------
def test_gc_keeps_a_collapsed_childs_history_after_its_namespace_is_deleted_by_hand(repo):
    child, c = work(repo)
    commits = chain(repo, child.head_commit())
    shutil.rmtree(os.path.join(repo.trace_dir, "agents", "research-a"))
    repo = reopen(repo)
    gc(repo, prune_expire_s=0)           # no grace: only what is reachable survives
    assert all(has(repo, x) for x in commits)
    assert errors(fsck(repo)) == []


def test_gc_keeps_a_spawned_childs_root_through_the_spawn_commit(repo):
    child, _ = work(repo, collapse=False)
    root = chain(repo, child.head_commit())[-1]
    later = child.head_commit()
    shutil.rmtree(os.path.join(repo.trace_dir, "agents", "research-a"))
    repo = reopen(repo)
    gc(repo, prune_expire_s=0)
    assert has(repo, root)               # the spawn commit's children[0].root
    assert not has(repo, later)          # no pointer names the child's later work
    assert errors(fsck(repo)) == []


def test_fsck_reports_a_missing_agent_link_unless_it_was_pruned(repo):
    repo.user("x")
    ghost = bytes(range(32))

    def build(parent, snap):
        return Change(snap, [], "collapse", message="collapse ghost", tokens=0,
                      total_tokens=total_after(repo, parent, snap, 0, snap.count),
                      meta={"version": 1, "agent": "ghost", "tip": ghost})
    c = commit_change(repo, build)
    found = [f for f in fsck(repo) if f.id == "missingAgentLink"]
    assert len(found) == 1 and found[0].severity == "error" and found[0].object == c.hex
    assert "meta tip" in found[0].message and ghost.hex() in found[0].message
    with open(os.path.join(repo.trace_dir, "pruned"), "w") as f:
        f.write(f"{ghost.hex()} 1700000000 ghost\n")
    findings = fsck(repo)
    assert errors(findings) == []
    info = [f for f in findings if f.id == "prunedAgentHistory"]
    assert len(info) == 1 and info[0].severity == "info"
    assert "history of agent ghost was pruned on 2023-11-14" in info[0].message


def test_a_copy_of_trace_carries_the_links(repo, tmp_path):
    work(repo, "a", collapse=False)
    repo.close()
    dst = tmp_path / "copy" / ".trace"
    shutil.copytree(repo.trace_dir, dst, symlinks=True)
    other = Repository.open(str(dst))
    try:
        assert errors(fsck(other)) == []
        assert [(i.path, i.status) for i in other.agent_tree()] == [("a", "running")]
        c = other.collapse("a")
        assert c.meta["tip"] == other.agent("a").head_commit()
        assert [(i.path, i.status) for i in other.agent_tree()] == [("a", "collapsed")]
        assert errors(fsck(other)) == []
    finally:
        other.close()


# -- policies ------------------------------------------------------------------------------------
def test_no_policy_prunes_nothing(repo):
    work(repo, "a")
    work(repo, "b", collapse=False)
    repo.abandon("b")
    far = time.time() + 1000 * DAY
    assert repo.apply_retention(now=far) == []
    assert gc(repo, now=far).agents_pruned == 0
    assert sorted(os.listdir(os.path.join(repo.trace_dir, "agents"))) == ["a", "b"]
    assert not os.path.exists(os.path.join(repo.trace_dir, "pruned"))


def test_a_collapsed_child_is_pruned_then_its_objects_go_through_cruft(repo):
    child, c = work(repo)
    own = chain(repo, child.head_commit())
    parent = chain(repo, repo.head_commit())
    before = repo.messages()
    repo.set_config("retention.research-*.collapsed-expire", "7.days")
    t0 = time.time()
    assert gc(repo, now=t0 + 6 * DAY).agents_pruned == 0     # not yet due
    assert os.path.isdir(child.refs_root)
    rep = gc(repo, now=t0 + 8 * DAY)
    assert rep.agents_pruned == 1 and rep.objects_cruft > 0
    assert not os.path.exists(child.refs_root)
    recs = pruned_records(repo.trace_dir)
    assert recs[c.meta["tip"]] == (int(t0 + 8 * DAY), "research-a")
    assert recs[c.meta["root"]][1] == "research-a"
    assert all(has(repo, x) for x in own)                     # in a cruft pack, for now
    assert errors(fsck(repo)) == []
    rep = gc(repo, now=t0 + 8 * DAY + 15 * DAY)               # past gc.prune-expire (2 weeks)
    assert rep.objects_pruned > 0
    assert not any(has(repo, x) for x in own)
    assert all(has(repo, x) for x in parent) and repo.messages() == before
    findings = fsck(repo)
    assert errors(findings) == []
    assert [f.object for f in findings if f.id == "prunedAgentHistory"] == ["research-a"]
    shown = repo.show(c.hex)
    assert shown["op"] == "collapse" and "it is 3" in str(shown["carried"])
    info = [i for i in repo.agent_tree() if i.path == "research-a"]
    assert len(info) == 1 and info[0].status == "pruned"
    assert info[0].pruned_at == int(t0 + 8 * DAY) * 1000
    # expanding it, by name or by its collapse commit, says so in one line
    from trace_core.errors import OperationError
    for rev in ("research-a", c.hex):
        with pytest.raises(OperationError, match="history of agent research-a was pruned on"):
            repo.expand(rev).log()


def test_the_pruned_file_holds_one_line_per_pointer(repo):
    child, c = work(repo)
    repo.set_config("retention.*.collapsed-expire", "now")
    t = int(time.time()) + 10
    repo.apply_retention(now=t)
    with open(os.path.join(repo.trace_dir, "pruned"), "rb") as f:
        data = f.read()
    assert data == (f"{c.meta['root'].hex()} {t} research-a\n"
                    f"{c.meta['tip'].hex()} {t} research-a\n").encode()


def test_the_later_of_collapse_and_last_activity_counts(repo):
    child, _ = work(repo)
    t0 = time.time()
    repo.set_config("retention.research-a.collapsed-expire", "7d")
    # the child's own ref moved later than its collapse (a record ten days on)
    child.refs.set_if_equals("refs/heads/side", None, child.head_commit().hex(),
                             time_ms=int((t0 + 10 * DAY) * 1000))
    assert repo.apply_retention(now=t0 + 8 * DAY) == []
    assert repo.apply_retention(now=t0 + 16 * DAY, dry_run=True) == []
    [p] = repo.apply_retention(now=t0 + 18 * DAY)
    assert p.agent == "research-a" and p.reason == "collapsed" and p.done


def test_the_longest_matching_pattern_wins_for_each_key(repo):
    work(repo, "research-a")
    work(repo, "other")
    repo.set_config("retention.*.collapsed-expire", "1d")
    repo.set_config("retention.research-*.collapsed-expire", "never")
    repo.set_config("retention.research-*.abandoned-expire", "1d")   # not for collapsed ones
    done = repo.apply_retention(now=time.time() + 2 * DAY)
    assert [(p.agent, p.key) for p in done] == [("other", "retention.*.collapsed-expire")]
    assert sorted(os.listdir(os.path.join(repo.trace_dir, "agents"))) == ["research-a"]


def test_abandoned_children_expire_and_created_namespaces_are_never_touched(repo):
    work(repo, "done")                                      # collapsed: not abandoned-expire's
    work(repo, "gaveup", collapse=False)
    repo.abandon("gaveup")
    work(repo, "idle", collapse=False)                      # never collapsed, no mark: idle
    repo.agent("mine", create=True).user("a namespace of my own")
    repo.set_config("retention.*.abandoned-expire", "30.days")
    t0 = time.time()
    assert repo.apply_retention(now=t0 + 29 * DAY) == []
    done = repo.apply_retention(now=t0 + 31 * DAY)
    assert sorted((p.agent, p.reason) for p in done) == [("gaveup", "abandoned"),
                                                         ("idle", "abandoned")]
    assert sorted(os.listdir(os.path.join(repo.trace_dir, "agents"))) == ["done", "mine"]
    status = {i.path: i.status for i in repo.agent_tree()}
    assert status == {"done": "collapsed", "gaveup": "pruned", "idle": "pruned",
                      "mine": "running"}


def test_a_nested_sub_agent_goes_with_its_parent_and_its_pointers_are_recorded(repo):
    a, _ = work(repo, "a", collapse=False)
    b, cb = work(a, "b")                                     # a/b, collapsed into a
    repo.collapse("a")
    repo.set_config("retention.a.collapsed-expire", "1d")
    [p] = repo.apply_retention(now=time.time() + 2 * DAY)
    assert p.agent == "a" and p.nested == ["a/b"]
    recs = pruned_records(repo.trace_dir)
    assert recs[cb.meta["tip"]][1] == "a/b"
    assert [(i.path, i.status, i.depth) for i in repo.agent_tree()] == \
        [("a", "pruned", 1), ("a/b", "pruned", 2)]


def test_a_nested_policy_prunes_the_inner_child_only(repo):
    a, _ = work(repo, "a", collapse=False)
    work(a, "b")
    repo.set_config("retention.a/*.collapsed-expire", "1d")
    [p] = repo.apply_retention(now=time.time() + 2 * DAY)
    assert p.agent == "a/b"
    assert os.path.isdir(a.refs_root) and os.listdir(os.path.join(a.refs_root, "agents")) == []
    assert {i.path: i.status for i in repo.agent_tree()} == {"a": "running", "a/b": "pruned"}
    assert errors(fsck(repo)) == []


def test_a_tag_into_the_childs_history_keeps_what_it_reaches(repo):
    child, c = work(repo)
    own = chain(repo, child.head_commit())          # newest first: tip ... root
    repo.tag_create("keep", own[1].hex())                # the child's second-newest commit
    repo.set_config("retention.*.collapsed-expire", "1d")
    t0 = time.time()
    gc(repo, now=t0 + 2 * DAY)
    gc(repo, now=t0 + 20 * DAY)
    assert all(has(repo, x) for x in own[1:])        # the tagged commit and its ancestors
    assert not has(repo, own[0])                     # the tip only the pruned pointer named
    assert errors(fsck(repo)) == []


def test_a_reflog_entry_within_its_grace_keeps_the_childs_commit(repo):
    child, c = work(repo)
    tip = child.head_commit()
    mine = repo.head_commit()
    repo.reset(tip.hex(), "hard")                # the parent's reflog now names the tip
    repo.reset(mine.hex(), "hard")
    repo.set_config("retention.*.collapsed-expire", "1d")
    t0 = time.time()
    gc(repo, now=t0 + 2 * DAY)
    gc(repo, now=t0 + 20 * DAY)                      # within gc.reflog-expire (90 days)
    assert all(has(repo, x) for x in chain(repo, tip))


def test_dry_run_lists_and_changes_nothing(repo):
    work(repo, "a")
    repo.set_config("retention.*.collapsed-expire", "1d")
    before = tree(repo.trace_dir)
    [p] = repo.apply_retention(now=time.time() + 2 * DAY, dry_run=True)
    assert not p.done and p.agent == "a" and p.collapsed_by
    assert "agent a: collapsed, idle" in p.describe()
    assert tree(repo.trace_dir) == before


def test_gc_dry_run_on_the_command_line(rdir):
    r = Repository.open(rdir)
    work(r, "x", collapse=False)
    r.close()
    invoke(rdir, "config", "retention.x.abandoned-expire", "now", check=True)
    p = invoke(rdir, "gc", "--no-retention", "--json", check=True)
    assert '"agents_pruned": 0' in p.stdout
    assert os.path.isdir(os.path.join(rdir, ".trace", "agents", "x"))
    before = tree(os.path.join(rdir, ".trace"))
    p = invoke(rdir, "gc", "--dry-run", check=True)
    assert p.stdout.startswith("would prune agent x: never collapsed, idle ")
    assert "retention.x.abandoned-expire = now: removed" in p.stdout
    assert tree(os.path.join(rdir, ".trace")) == before
    p = invoke(rdir, "gc", "--json", check=True)
    assert '"agents_pruned": 1' in p.stdout
    p = invoke(rdir, "agents", check=True)
    assert "pruned" in p.stdout and "history pruned on" in p.stdout
    p = invoke(rdir, "gc", "--dry-run", check=True)
    assert p.stdout == "retention: nothing to prune\n"


def test_a_corrupt_pruned_file_stops_gc_before_anything_changes(rdir):
    repo = Repository.open(rdir)
    work(repo, "a")
    repo.set_config("retention.*.collapsed-expire", "1d")
    path = os.path.join(repo.trace_dir, "pruned")
    for bad in (b"not a record\n", b"ab" * 32 + b" 17 a",          # no final newline
                b"AB" * 32 + b" 17 a\n", b"ab" * 32 + b" 17 ../x\n",
                b"ab" * 32 + b" 999999999999999999 a\n"):       # past the year 9999
        with open(path, "wb") as f:
            f.write(bad)
        before = tree(repo.trace_dir)
        with pytest.raises(RepositoryError, match="pruned:1: "):
            gc(repo, now=time.time() + 30 * DAY)
        assert tree(repo.trace_dir) == before
        assert [f.id for f in fsck(repo) if f.severity == "error"] == ["badPrunedFile"]
        with pytest.raises(RepositoryError):
            repo.agent_tree()
    repo.close()
    with open(os.path.join(rdir, ".trace", "pruned"), "wb") as f:
        f.write(b"garbage\n")
    for args in (("gc",), ("gc", "--dry-run"), ("agents",), ("prune",)):
        assert_one_line_error(invoke(rdir, *args), "pruned:1", "damaged")


def test_a_collapsed_child_with_work_its_collapse_does_not_carry_is_kept(repo):
    child, _c = work(repo, "moved")
    child.assistant("an afterthought, never collapsed")
    side, _c2 = work(repo, "side")
    from trace_core.branches import branch_create
    branch_create(side, "other", "HEAD~1")
    side.switch("other")
    side.assistant("work on another branch")
    side.switch("main")
    nest, _c3 = work(repo, "nest")
    inner = nest.agent("scratch", create=True)
    inner.user("made with --create")
    gone, _c4 = work(repo, "gone")
    repo.set_config("retention.*.collapsed-expire", "1d")
    later = time.time() + 30 * DAY
    assert [p.agent for p in repo.apply_retention(now=later, dry_run=True)] == ["gone"]
    assert gc(repo, now=later).agents_pruned == 1
    assert repo.agents() == ["moved", "nest", "side"]
    repo.collapse("moved", again=True)         # carried now: it may go
    assert [p.agent for p in repo.apply_retention(now=later + 30 * DAY)] == ["moved"]
    with pytest.raises(TraceError, match="now must be"):
        repo.apply_retention(now="soon")


def test_hostile_patterns_and_durations_are_one_line_config_errors(rdir):
    repo = Repository.open(rdir)
    for key, value in (("retention.../x.collapsed-expire", "1d"),
                       ("retention.a b.collapsed-expire", "1d"),
                       ("retention.*.collapsed-expire", "banana"),
                       ("retention.*.abandoned-expire", "-3d"),
                       (f"retention.{'a' * 300}.collapsed-expire", "1d")):
        with pytest.raises(ConfigError):
            repo.set_config(key, value)
        assert_one_line_error(invoke(rdir, "config", "--", key, value), "retention.")
    repo.close()
    cfg = os.path.join(rdir, ".trace", "config")
    with open(cfg, "a") as f:
        f.write('[retention "$(rm -rf ~)"]\n\tcollapsed-expire = 1d\n')
    assert_one_line_error(invoke(rdir, "gc"), "retention.$(rm -rf ~)", "not an agent pattern")
    with open(cfg, "w") as f:
        f.write('[core]\n\tformat = 1\n\tencoding = chars/4\n'
                '[retention "*"]\n\tabandoned-expire = soon\n')
    assert_one_line_error(invoke(rdir, "gc"), "retention.*.abandoned-expire", "duration")
    # an absurdly long duration is never (no overflow, no traceback)
    with open(cfg, "w") as f:
        f.write('[core]\n\tformat = 1\n\tencoding = chars/4\n'
                f'[retention "*"]\n\tabandoned-expire = {"9" * 500}d\n')
    r = Repository.open(rdir)
    work(r, "x", collapse=False)
    assert r.apply_retention(now=time.time() + 10 ** 9) == []
    r.close()


def test_a_killed_removal_is_finished_by_the_next_gc(repo):
    trash = os.path.join(repo.trace_dir, "agents", ".pruning-a-123")
    os.makedirs(os.path.join(trash, "refs", "heads"))
    repo.user("x")
    gc(repo)
    assert not os.path.exists(trash)


def test_nothing_outside_the_repository_is_removed_through_a_symlink(repo, tmp_path):
    outside = tmp_path / "outside"
    (outside / ".pruning-x-1" / "keep").mkdir(parents=True)
    (outside / "a" / "refs").mkdir(parents=True)
    shutil.rmtree(os.path.join(repo.trace_dir, "agents"), ignore_errors=True)
    os.symlink(outside, os.path.join(repo.trace_dir, "agents"))
    repo.set_config("retention.*.abandoned-expire", "now")
    with contextlib.suppress(TraceError):   # refusing is fine too; deleting is not
        repo.apply_retention(now=time.time() + DAY)
    assert (outside / ".pruning-x-1" / "keep").is_dir() and (outside / "a").is_dir()


def test_pruned_records_reader(repo):
    assert pruned_records(repo.trace_dir) == {}
    with open(os.path.join(repo.trace_dir, "pruned"), "w") as f:
        f.write(f"{'0a' * 32} 5 a/b\n{'0a' * 32} 9 c\n")
    assert pruned_records(repo.trace_dir) == {bytes([10]) * 32: (5, "a/b")}   # the first wins
    with pytest.raises(TraceError):
        with open(os.path.join(repo.trace_dir, "pruned"), "a") as f:
            f.write("x\n")
        pruned_records(repo.trace_dir)
