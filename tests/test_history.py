"""Linear history through the Python API: appends, rewrites, reset/reapply, checkout, budgets,
agents, concurrent writer processes, killed writers, and copies of a repository."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import tarfile

import pytest
from conftest import killed_after_acks

from trace_core import Repository
from trace_core.errors import (
    AgentNotFound,
    BudgetExceeded,
    InputError,
    InvalidRefName,
    MalformedObject,
    OperationError,
    RefConflict,
    RevisionError,
    TraceError,
)


def test_append_and_read_back(repo):
    c1 = repo.system("You are terse.")
    repo.user("What is 2+2?")
    c3 = repo.assistant("4")
    assert repo.head_branch() == "refs/heads/main" and repo.head_commit() == c3.id
    assert [m["content"] for m in repo.messages()] == ["You are terse.", "What is 2+2?", "4"]
    assert repo.messages("HEAD~2") == [{"role": "system", "content": "You are terse."}]
    assert repo.resolve("main@{2}") == c1.id and repo.resolve(c3.hex[:10]) == c3.id
    assert c3.parents == (repo.resolve("HEAD~1"),) and c3.op == "append"
    # the running total equals a recount of the whole context
    from trace_core.plumbing import count_entries
    assert c3.total_tokens == count_entries(repo, repo.entries_at(c3.id))
    assert [r.id for r in repo.index.walk([c3.id])] == [c3.id, repo.resolve("HEAD~1"), c1.id]


def test_provider_fields_and_tool_messages_round_trip(repo):
    repo.tool_call("search", {"q": "x"}, call_id="call_1")
    with pytest.raises(InputError, match="content must be text or a list of parts"):
        repo.tool_result("call_1", {"hits": 3}, name="search")  # no provider takes an object
    repo.tool_result("call_1", '{"hits": 3}', name="search")
    repo.append({"role": "assistant", "content": "ok", "refusal": None, "x_extra": [1, 2.5, True]})
    msgs = repo.messages()
    assert msgs[0]["tool_calls"][0]["id"] == "call_1"
    assert msgs[1]["tool_call_id"] == "call_1"
    assert msgs[2] == {"role": "assistant", "content": "ok", "refusal": None,
                       "x_extra": [1, 2.5, True]}


def test_edit_pin_drop(repo):
    repo.system("sys")
    repo.user("a")
    repo.user("b")
    repo.edit(1, {"role": "user", "content": "A"})
    repo.pin(0)
    with pytest.raises(OperationError):
        repo.pin(0)
    with pytest.raises(OperationError):
        repo.drop(0)
    repo.drop(-1)
    assert [m["content"] for m in repo.messages()] == ["sys", "A"]
    assert repo.entries_at(repo.head_commit())[0].pinned
    repo.drop(0, force=True)
    assert [m["content"] for m in repo.messages()] == ["A"]
    # the old versions are still in history
    assert [m["content"] for m in repo.messages("HEAD~3")] == ["sys", "A", "b"]
    assert [m["content"] for m in repo.messages("HEAD~4")] == ["sys", "a", "b"]
    kinds = [d.kind for d in repo.diff("HEAD~4", "HEAD").items]
    assert sorted(kinds) == ["edited", "removed", "removed"]


@pytest.mark.parametrize("bad", [
    lambda r: r.append("not a dict"),
    lambda r: r.append({"role": "user", "content": float("nan")}),
    lambda r: r.append({"role": "user", "content": {1: "int key"}}),
    lambda r: r.append({"role": "user", "content": object()}),
    lambda r: r.append_many([]),
    lambda r: r.edit(5, {"role": "user", "content": "x"}),
    lambda r: r.drop("0"),
    lambda r: r.drop(0, 0),
    lambda r: r.pin(),
    lambda r: r.resolve("HEAD~99"),
    lambda r: r.resolve("nope"),
    lambda r: r.resolve("refs/heads/../x"),
    lambda r: r.reset("HEAD", mode="medium"),
    lambda r: r.agent("../evil"),
])
def test_bad_input_is_a_trace_error_and_changes_nothing(repo, bad):
    repo.user("keep me")
    before = repo.head_commit()
    with pytest.raises((TraceError, MalformedObject)):
        bad(repo)
    assert repo.head_commit() == before
    assert repo.messages() == [{"role": "user", "content": "keep me"}]


def test_oversize_message_refused(repo):
    with pytest.raises(TraceError):
        repo.user("x" * (65 * 1024 * 1024))
    assert repo.head_commit() is None


def test_reset_soft_undone_reapply_and_hard(repo):
    repo.user("question")
    good = repo.assistant("good answer")
    repo.assistant("wrong turn 1")
    wrong = repo.assistant("wrong turn 2")
    assert repo.reset("HEAD~2") == wrong.hex
    assert repo.head_commit() == good.id
    st = repo.status()
    assert [u["message"]["content"] for u in st.undone] == ["wrong turn 1", "wrong turn 2"]
    assert repo.resolve("ORIG_HEAD") == wrong.id
    c = repo.reapply()
    assert [m["content"] for m in repo.messages()][-2:] == ["wrong turn 1", "wrong turn 2"]
    assert c.parents == (good.id,) and repo.status().undone == []
    repo.reset(good.hex, mode="hard")
    assert repo.messages()[-1]["content"] == "good answer"
    # hard reset is recoverable through the reflog until gc
    assert repo.resolve("main@{1}") == c.id
    with pytest.raises(OperationError):
        repo.reapply()


def test_exit_demo_reset_removes_the_wrong_turn(repo):
    """The issue's exit demo: an agent takes a wrong turn, reset takes it out of the prompt."""
    repo.system("You are a careful assistant.")
    repo.user("Plan a trip to Lisbon.")
    ok = repo.assistant("Day 1: Alfama.")
    repo.tool_call("flights", {"to": "LIS"}, call_id="c1")
    repo.tool_result("c1", "ERROR 500: upstream timeout, retrying forever...")
    repo.assistant("I will keep retrying the flight search.")
    assert any("ERROR 500" in str(m.get("content")) for m in repo.materialize("openai"))
    repo.reset(ok.hex, mode="hard")
    prompt = repo.materialize("openai")
    assert prompt[-1] == {"role": "assistant", "content": "Day 1: Alfama."}
    assert not any("ERROR" in str(m.get("content")) for m in prompt)
    assert repo.status().total_tokens == repo.get_commit(ok.id).total_tokens


def test_checkout_detached_and_branch(repo):
    repo.user("one")
    repo.user("two")
    repo.checkout("HEAD~1")
    assert repo.head_branch() is None and len(repo.messages()) == 1
    repo.user("on a detached head")
    assert repo.refs.resolve("refs/heads/main") != repo.head_commit().hex
    assert repo.checkout("main") == "refs/heads/main" and len(repo.messages()) == 2


def test_transaction_commits_once(repo):
    repo.user("base")
    with repo.transaction() as tx:
        repo.user("a")
        repo.assistant("b")
        assert repo.refs.reflog("refs/heads/main")[0].message.startswith("append")
    assert len(tx.commits) == 2 and len(repo.messages()) == 3
    assert repo.refs.reflog("refs/heads/main")[0].message == "transaction: 2 commits"
    with pytest.raises(RuntimeError), repo.transaction():
        repo.user("never published")
        raise RuntimeError("boom")
    assert len(repo.messages()) == 3


def test_a_transaction_writes_one_pack_and_no_journal_records(repo, tmp_path):
    from trace_core import Repository
    repo.user("base")
    store = repo.store
    journal_before = dict(store.journal_locations())
    packs_before = {p.name for p in store.packs()}
    with repo.transaction() as tx:
        for i in range(50):
            repo.user(f"bulk {i}")
        tip = tx.commits[-1].hex                              # readable before it is published:
        assert repo.messages(tip)[-1]["content"] == "bulk 49"
        repo.store.forget_decoded()                           # from the batch, not a cache
        assert repo.messages(tip)[-1]["content"] == "bulk 49"
    assert store.journal_locations() == journal_before
    new = [p for p in store.packs() if p.name not in packs_before]
    assert len(new) == 1 and new[0].count == 150             # blob + snapshot + commit each
    other = Repository.open(repo.trace_dir)                   # another process's view
    assert [m["content"] for m in other.messages()][-1] == "bulk 49"
    other.close()
    with pytest.raises(RuntimeError), repo.transaction():
        repo.user("dropped")
        raise RuntimeError("boom")
    assert {p.name for p in store.packs()} == {p.name for p in new} | packs_before


def test_a_ref_moved_inside_a_transaction_never_names_an_unstored_object(repo):
    """Plumbing inside a transaction: objects written with hash-object -w / commit-tree and a
    ref moved to them by update-ref. The ref's move publishes the batch first, so another
    process reading the ref finds the commit, and a clean exit without a transaction commit
    keeps what was written (it used to drop it, leaving the ref dangling)."""
    from trace_core import Repository, plumbing
    from trace_core.objects import Entry
    repo.user("base")
    with repo.transaction():
        blob = plumbing.hash_object(repo, {"role": "user", "content": "side"}, write=True)
        snap = plumbing.write_snapshot(repo, [Entry(bytes.fromhex(blob), 0)])
        c = plumbing.commit_tree(repo, snap.id, [repo.head_commit()], message="side")
        plumbing.update_ref(repo, "refs/heads/side", c.hex)
        other = Repository.open(repo.trace_dir)               # another process's view, now
        assert other.messages("side")[-1]["content"] == "side"
        other.close()
        later = plumbing.hash_object(repo, {"role": "user", "content": "later"}, write=True)
    assert plumbing.object_exists(repo, later) and plumbing.object_exists(repo, c.hex)
    with pytest.raises(RuntimeError), repo.transaction():     # a failed one still drops its own
        dropped = plumbing.hash_object(repo, {"role": "user", "content": "gone"}, write=True)
        raise RuntimeError("boom")
    assert not plumbing.object_exists(repo, dropped)


def test_budget_warnings_and_strict(repo):
    repo.set_config("budget.max-tokens", "40")
    repo.set_config("budget.warn", "0.5")
    repo.user("x" * 80)
    st = repo.status()
    assert st.budget.max_tokens == 40 and st.warnings and "warning" in st.warnings[0]
    with repo.strict_budget(), pytest.raises(BudgetExceeded):
        repo.user("y" * 200)
    assert len(repo.messages()) == 1
    repo.user("y" * 200)  # not strict: it commits and warns
    assert "over the budget" in repo.status().warnings[0]


def test_agents_have_their_own_refs(repo):
    repo.user("parent")
    child = repo.agent("researcher", create=True)
    assert child.head_commit() is None
    child.user("child work")
    assert [m["content"] for m in child.messages()] == ["child work"]
    assert [m["content"] for m in repo.messages()] == ["parent"]
    assert repo.agents() == ["researcher"]
    assert child.refs.reflog("refs/heads/main")[0].who == "researcher"
    # objects are shared: the parent can read the child's commit by id
    assert repo.get_commit(child.head_commit()).author == "researcher"
    with pytest.raises(InvalidRefName):
        repo.agent("a/../b")
    with pytest.raises(AgentNotFound, match="no agent 'researchr'"):   # a typo opens nothing
        repo.agent("researchr")
    assert not os.path.exists(os.path.join(repo.trace_dir, "agents", "researchr"))
    nested = child.agent("sub", create=True)   # a sub-agent of a sub-agent
    nested.user("deep")
    assert nested.agent_name == "researcher/sub"
    assert repo.agent("researcher/sub").messages() == [{"role": "user", "content": "deep"}]
    assert child.agents() == ["sub"]


# -- real processes ----------------------------------------------------------------------------
def _appender(path: str, label: str, n: int, branch: str) -> None:
    r = Repository.open(path)
    if branch != "main":
        r = r.worktree(branch)
    for i in range(n):
        r.user(f"{label}-{i}")
    r.close()


def test_four_processes_on_one_branch_lose_nothing(tmp_path):
    path = str(tmp_path / "r")
    Repository.init(path, encoding="chars/4").close()
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_appender, args=(path, f"p{k}", 40, "main")) for k in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    r = Repository.open(path)
    contents = [m["content"] for m in r.messages()]
    assert len(contents) == 160 and len(set(contents)) == 160
    for k in range(4):  # each writer's own messages stay in its order
        mine = [c for c in contents if c.startswith(f"p{k}-")]
        assert mine == [f"p{k}-{i}" for i in range(40)]
    assert len(list(r.index.walk([r.head_commit()]))) == 160
    from trace_core.fsck import fsck
    assert [f for f in fsck(r) if f.severity == "error"] == []


def test_processes_on_separate_branches(tmp_path):
    path = str(tmp_path / "r")
    r = Repository.init(path, encoding="chars/4")
    base = r.user("shared start")
    for k in range(3):
        r.refs.add_if_new(f"refs/heads/b{k}", base.hex)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_appender, args=(path, f"b{k}", 30, f"b{k}")) for k in range(3)]
    procs.append(ctx.Process(target=_appender, args=(path, "m", 30, "main")))
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    for k in range(3):
        msgs = r.messages(f"b{k}")
        assert [m["content"] for m in msgs] == ["shared start"] + [f"b{k}-{i}" for i in range(30)]
    assert len(r.messages("main")) == 31
    assert r.head_branch() == "refs/heads/main"  # the shared HEAD never moved
    w = r.worktree("b0")
    w.reset("HEAD~29", "hard")
    assert len(w.messages()) == 2 and len(r.messages("b0")) == 2 and len(r.messages()) == 31
    with pytest.raises(OperationError):
        w.checkout("main")


def _acknowledging_writer(path: str, label: str, ack_fd: int) -> None:
    """Append `LABEL N` for N = 0, 1, ... until killed; after each append returns, write the
    new commit's id to `ack_fd` (32 bytes: one atomic pipe write)."""
    r = Repository.open(path)
    i = 0
    while True:
        c = r.user(f"{label} {i}")
        os.write(ack_fd, c.id)
        i += 1


def test_sigkilled_writers_lose_nothing_acknowledged(tmp_path):
    path = str(tmp_path / "r")
    Repository.init(path, encoding="chars/4").close()
    acked_by_round = []
    for round_ in range(6):    # killed after a few commits, mid-write; commit ids acknowledged
        acked = killed_after_acks(_acknowledging_writer, (path, f"r{round_}"), 32, 2 + round_)
        acked_by_round.append(acked)
        r = Repository.open(path)
        history = {c.id for c in r.index.walk([r.head_commit()])}
        for ids in acked_by_round:              # every acknowledged commit is still there
            assert set(ids) <= history
        r.close()
    r = Repository.open(path)
    contents = [m["content"] for m in r.messages()]
    expected = []
    for round_, ids in enumerate(acked_by_round):
        n = len(ids)        # acknowledged; at most one more may have landed before the kill
        mine = [c for c in contents if c.startswith(f"r{round_} ")]
        assert mine in ([f"r{round_} {i}" for i in range(n)],
                        [f"r{round_} {i}" for i in range(n + 1)]), (round_, n, mine)
        expected += mine
        for k, c in enumerate(ids):     # each acknowledged commit holds what it was told
            assert r.messages(c.hex())[-1]["content"] == f"r{round_} {k}"
    assert contents == expected                     # in order, nothing else
    from trace_core.fsck import fsck
    assert [f for f in fsck(r) if f.severity == "error"] == []
    r.user("still writable after all that")


@pytest.mark.parametrize("how", ["cp", "tar"])
def test_copied_repository_reads_identically_without_its_index(tmp_path, how):
    src = str(tmp_path / "src")
    r = Repository.init(src, encoding="chars/4")
    for i in range(30):
        r.user(f"m{i}")
    r.store.seal_writer()
    for i in range(5):
        r.assistant(f"after seal {i}")
    log = [(c.id, c.summary) for c in r.index.walk([r.head_commit()])]
    prompt = r.materialize()
    r.close()
    dst = str(tmp_path / "dst")
    if how == "cp":
        shutil.copytree(src, dst)
    else:
        with tarfile.open(tmp_path / "t.tar", "w") as t:
            t.add(src, arcname="dst")
        with tarfile.open(tmp_path / "t.tar") as t:
            t.extractall(tmp_path, filter="data")
    os.unlink(os.path.join(dst, ".trace", "index.sqlite"))
    c = Repository.open(dst)
    assert c.materialize() == prompt
    assert [(x.id, x.summary) for x in c.index.walk([c.head_commit()])] == log
    c.user("the copy is writable")
    assert len(c.messages()) == 36


def test_unknown_format_refused(tmp_path):
    path = str(tmp_path / "r")
    Repository.init(path).close()
    with open(os.path.join(path, ".trace", "format"), "w") as f:
        f.write("trace-repository-format 9\n")
    from trace_core.errors import UnsupportedFormat
    with pytest.raises(UnsupportedFormat, match="version 9"):
        Repository.open(path)


def test_ref_conflict_surfaces_in_transactions(repo):
    repo.user("a")
    with pytest.raises(RefConflict), repo.transaction():
        repo.user("b")
        other = Repository.open(repo.trace_dir)
        other.user("moved the branch meanwhile")
        other.close()
    assert repo.messages()[-1]["content"] == "moved the branch meanwhile"


def test_revision_errors(repo):
    with pytest.raises(RevisionError):
        repo.resolve("HEAD")
    repo.user("x")
    with pytest.raises(InputError):
        repo.edit(0, "not a dict")  # type: ignore[arg-type]


def test_full_durability_round_trip(tmp_path):
    r = Repository.init(str(tmp_path / "r"), encoding="chars/4", durability="full")
    for i in range(5):
        r.user(f"durable {i}")
    r.reset("HEAD~1", "hard")
    r.close()
    r = Repository.open(str(tmp_path / "r"))
    assert r.durability == "full" and [m["content"] for m in r.messages()][-1] == "durable 3"


def test_an_empty_user_name_does_not_stop_a_repository_from_opening(repo):
    with open(os.path.join(repo.trace_dir, "config"), "a") as f:
        f.write("[user]\n\tname =\n")
    from trace_core import Repository as R
    with R.open(repo.trace_dir) as r:
        assert r.user("hi").author == "trace"


def test_deleting_a_symbolic_branch_deletes_the_alias_not_its_target(repo):
    from trace_core import plumbing
    repo.user("hi")
    plumbing.symbolic_ref(repo, "refs/heads/alias", "refs/heads/main")
    head = repo.head_commit().hex()
    repo.branch_delete("alias")
    assert repo.refs.read("refs/heads/alias") is None
    assert repo.refs.read("refs/heads/main") == head


def test_a_fork_while_the_token_writer_runs_leaves_the_child_a_usable_index(tmp_path,
                                                                             monkeypatch):
    # the writer holds the index's lock for its whole write: a child forked meanwhile would
    # inherit that lock held by a thread it does not have, and hang on its first index call
    import signal
    import time

    from trace_core import state
    from trace_core.index.sqlite_index import CommitIndex
    monkeypatch.setattr(state, "TOKEN_FLUSH_ROWS", 4)
    real_put = CommitIndex.put_tokens

    def slow_put(self, rows):
        with self._lock:        # a slow write under the index's lock
            time.sleep(0.4)
            real_put(self, rows)
    monkeypatch.setattr(CommitIndex, "put_tokens", slow_put)
    repo = Repository.init(str(tmp_path / "r"))
    for i in range(5):
        repo.user(f"m {i}")
    assert repo._root._token_writer is not None and repo._root._token_writer.is_alive()
    pid = os.fork()
    if pid == 0:                                     # the child: its index must answer
        signal.alarm(5)
        code = 1
        try:
            repo.index.get_tokens(b"\0" * 32, "x")
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    repo.close()
    # (killed by SIGALRM: the child hung; exit 1: its index call failed)
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, status


def test_a_batch_that_fails_to_be_written_is_not_served_from_memory(repo, monkeypatch):
    from trace_core import plumbing
    from trace_core.storage import objectstore

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")
    repo.user("base")
    with monkeypatch.context() as m:
        m.setattr(objectstore, "write_pack", full_disk)
        with pytest.raises(OSError), repo.transaction():
            blob = plumbing.hash_object(repo, {"role": "user", "content": "never stored"},
                                        write=True)
    assert not plumbing.object_exists(repo, blob)     # as another process sees it


def test_token_counts_reach_the_index_from_a_thread_of_their_own(tmp_path, monkeypatch):
    # the index write of the cached counts (random pages of a large table) stalled the commit
    # it fell on: it runs beside the writer, and close waits for it and writes the rest
    import threading

    from trace_core import state
    from trace_core.index.sqlite_index import CommitIndex
    monkeypatch.setattr(state, "TOKEN_FLUSH_ROWS", 4)
    threads = []
    real_put = CommitIndex.put_tokens

    def put(self, rows):
        threads.append(threading.current_thread() is threading.main_thread())
        real_put(self, rows)
    monkeypatch.setattr(CommitIndex, "put_tokens", put)
    d = str(tmp_path / "r")
    repo = Repository.init(d)
    commits = [repo.user(f"message {i}") for i in range(30)]
    repo.close()
    assert threads and not threads[0]                      # behind the writer, not in it
    with Repository.open(d) as again:
        name = again.token_counter().name
        for c in commits:
            assert again.index.get_tokens(c.blobs[0], name) == c.tokens
