"""Per-snapshot tallies (trace_core.plumbing.tally) behind status: the kept and incremental result
equals a full scan of the context on random histories (tool calls in three shapes, drops,
edits, pins, merges, resets), and so does materialize's read extended from its last one; it
costs only what was appended since the last status, and survives index files made before
tallies existed or damaged tally rows."""

from __future__ import annotations

import contextlib
import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_core import chunked
from trace_core.errors import TraceError
from trace_core.objects import Entry
from trace_core.plumbing import integrity
from trace_core.plumbing import tally as tally_mod
from trace_core.plumbing.tally import Tally, decode, encode, tally_at, whole
from trace_core.repository import Repository
from trace_core.toolpairs import analyze


def chat_call(cid):
    return {"role": "assistant", "content": None,
            "tool_calls": [{"id": cid, "type": "function",
                            "function": {"name": "ls", "arguments": "{}"}}]}


def chat_result(cid):
    return {"role": "tool", "tool_call_id": cid, "content": "ok"}


def anthropic_call(cid):
    return {"role": "assistant", "content": [{"type": "tool_use", "id": cid, "name": "grep",
                                              "input": {}}]}


def anthropic_result(cid):
    return {"role": "user", "content": [{"type": "tool_result", "tool_use_id": cid,
                                         "content": "found"}]}


def responses_call(cid):
    return {"type": "function_call", "call_id": cid, "name": "cat", "arguments": "{}"}


def responses_result(cid):
    return {"type": "function_call_output", "call_id": cid, "output": "text"}


IDS = st.sampled_from(["c1", "c2", "c3"])
MESSAGES = st.one_of(
    st.builds(lambda t: {"role": "user", "content": t}, st.sampled_from(["q", "more", "why"])),
    st.builds(lambda t: {"role": "assistant", "content": t}, st.sampled_from(["a", "done"])),
    st.builds(chat_call, IDS), st.builds(chat_result, IDS),
    st.builds(anthropic_call, IDS), st.builds(anthropic_result, IDS),
    st.builds(responses_call, IDS), st.builds(responses_result, IDS))

OPS = st.one_of(
    st.tuples(st.just("append"), MESSAGES, st.booleans()),
    st.tuples(st.just("append_many"), st.lists(MESSAGES, min_size=1, max_size=40)),
    st.tuples(st.just("drop"), st.integers(0, 1000)),
    st.tuples(st.just("edit"), st.integers(0, 1000), MESSAGES),
    st.tuples(st.just("pin"), st.integers(0, 1000)),
    st.tuples(st.just("reset"), st.integers(1, 4), st.sampled_from(["soft", "hard"])),
    st.tuples(st.just("merge"), st.integers(0, 3), st.lists(MESSAGES, min_size=1, max_size=3),
              st.sampled_from(["ours", "theirs", "union"])),
    st.tuples(st.just("forget")),     # the process's memo: read the index instead
    st.tuples(st.just("reopen")),     # a new process: memo, decoded objects and index reopened
)


def forget() -> None:
    """Forget what this process remembers of contexts (tallies, calls open at their ends), as
    a new process would."""
    tally_mod._memo.clear()
    integrity._OPEN_AT_END.clear()


def expected(repo) -> dict:
    """What status reported before tallies: every entry and every message read."""
    head = repo.head_commit()
    entries = repo.entries_at(head) if head is not None else []
    p = analyze([repo.get_blob(e.blob).message for e in entries])
    return {"entries": len(entries), "pinned": sum(e.pinned for e in entries),
            "pending_calls": [x.to_dict() for x in p.pending],
            "broken_pairs": [x.to_dict() for x in p.problems]}


def read_whole(repo) -> list:
    head = repo.head_commit()
    entries = repo.entries_at(head) if head is not None else []
    return [(e.blob.hex(), e.flags, repo.get_blob(e.blob).message) for e in entries]


def rendered(repo) -> list:
    """The context as materialize reads it (extended from its last read when it can be)."""
    return [(m["blob"], m["flags"], m["message"]) for m in repo.materialize("json")]


def reported(repo) -> dict:
    d = repo.status().to_dict()
    return {k: d[k] for k in ("entries", "pinned", "pending_calls", "broken_pairs")}


def apply(repo, op) -> None:
    head = repo.head_commit()
    n = repo.get_snapshot(repo.get_commit(head).snapshot).count if head is not None else 0
    kind = op[0]
    if kind == "append":
        repo.append(op[1], pinned=op[2])
    elif kind == "append_many":
        repo.append_many(op[1])
    elif kind in ("drop", "edit", "pin") and n:
        i = op[1] % n
        with contextlib.suppress(TraceError):     # (already pinned, the same message again)
            if kind == "drop":
                repo.drop(i, force=True)
            elif kind == "edit":
                repo.edit(i, op[2])
            else:
                repo.pin(i)
    elif kind == "reset":
        with contextlib.suppress(TraceError):     # (not that many commits)
            repo.reset(f"HEAD~{op[1]}", mode=op[2])
    elif kind == "merge" and repo.head_commit() is not None:
        try:
            repo.switch("side", create=True, start=f"HEAD~{op[1]}")
        except TraceError:
            return
        try:
            for m in op[2]:
                repo.append(m)
        finally:
            repo.switch("main")
        try:
            repo.merge("side", strategy=op[3])
        except TraceError:
            if repo.merge_state() is not None:
                repo.merge_abort()
        repo.branch_delete("side", force=True)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.tuples(OPS, st.booleans()), min_size=1, max_size=14))
def test_status_from_tallies_equals_a_full_scan(tmp_path_factory, ops):
    path = str(tmp_path_factory.mktemp("t") / "r")
    repo = Repository.init(path, encoding="chars/4")
    try:
        for op, look in ops:
            if op[0] == "forget":
                forget()
            elif op[0] == "reopen":
                repo.close()
                forget()
                repo = Repository.open(path)
            else:
                apply(repo, op)
            if look:    # status after some operations only: others are derived over several
                assert reported(repo) == expected(repo)
                assert rendered(repo) == read_whole(repo)
        assert reported(repo) == expected(repo)
        assert rendered(repo) == read_whole(repo)
    finally:
        repo.close()


def test_extending_reads_only_what_was_appended(tmp_path):
    path = str(tmp_path / "r")
    repo = Repository.init(path, encoding="chars/4")
    repo.append_many([chat_call(f"c{i}") if i % 3 == 1 else {"role": "user", "content": f"{i}"}
                      for i in range(300)])
    repo.tool_call("ls", {}, call_id="open1")
    assert repo.status().entries == 301          # kept for this snapshot
    repo.append({"role": "user", "content": "after"})
    repo.append(chat_call("open2"))
    repo.close()
    forget()
    repo = Repository.open(path)
    read = []
    get_blob = repo.get_blob
    repo.get_blob = lambda oid: read.append(oid) or get_blob(oid)   # type: ignore[method-assign]
    st_ = repo.status()
    # the two appended messages, and the kept row checked: the base's calls open at its end,
    # read back to its last conversational message (two messages here); not 303
    assert len(read) == 4
    assert st_.entries == 303
    assert [p["call_id"] for p in st_.pending_calls] == ["open2"]
    assert {p["call_id"] for p in st_.broken_pairs} >= {"open1"}
    assert st_.to_dict()["broken_pairs"] == expected(repo)["broken_pairs"]
    repo.close()


def test_a_context_that_did_not_grow_by_appending_is_scanned_whole(tmp_path):
    repo = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    repo.append_many([{"role": "user", "content": str(i)} for i in range(20)])
    base_commit = repo.head_commit()
    base = repo.get_snapshot(repo.get_commit(base_commit).snapshot)
    t = tally_at(repo, base_commit)
    repo.drop(3)
    repo.append({"role": "user", "content": "x"})    # same length, other entries
    snap = repo.get_snapshot(repo.get_commit(repo.head_commit()).snapshot)
    assert snap.count == base.count
    assert tally_mod.extend(repo, base, t, snap) is None
    repo.edit(0, chat_result("zz"))
    repo.append({"role": "user", "content": "y"})    # longer, but not base + appended
    snap = repo.get_snapshot(repo.get_commit(repo.head_commit()).snapshot)
    assert tally_mod.extend(repo, base, t, snap) is None
    assert tally_at(repo, repo.head_commit()) == whole(repo, snap)
    assert tally_at(repo, repo.head_commit()).pairing.problems[0].call_id == "zz"
    repo.close()


def test_appended_is_proved_by_the_leaves(tmp_path):
    """chunked.appended: the entries after a prefix, for every cut of a history; None when the
    shorter list is not a prefix (an edit inside a sealed leaf, or in the tail)."""
    repo = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    repo.append_many([{"role": "user", "content": str(i)} for i in range(700)])
    snap = repo.get_snapshot(repo.get_commit(repo.head_commit()).snapshot)
    every = chunked.entries(snap, repo.get_node)

    def put(node):
        repo.store.write([node])
    for cut in (0, 1, 31, 32, 127, 128, 350, 699, 700):
        base = chunked.build(every[:cut], put)
        assert chunked.appended(base, snap, repo.get_node) == every[cut:]
    for at in (5, 690):                          # one entry changed: not a prefix any more
        edited = list(every[:695])
        edited[at] = Entry(edited[at].blob, 1)
        base = chunked.build(edited, put)
        assert chunked.appended(base, snap, repo.get_node) is None
    repo.close()


def test_a_record_round_trips_and_bad_records_are_refused():
    t = Tally(5, 1, analyze([chat_call("a"), {"role": "user", "content": "q"},
                             chat_result("b"), responses_call("c")]))
    assert decode(encode(t)) == t
    assert t.pairing.problems and t.pairing.pending
    for bad in (b"", b"\xc1", b"\x93\x01\x02\x03", encode(Tally(5, "1", t.pairing))):  # type: ignore[arg-type]
        assert decode(bad) is None


def test_an_index_without_the_tallies_table_works_and_gains_it(tmp_path):
    path = str(tmp_path / "r")
    repo = Repository.init(path, encoding="chars/4")
    repo.append_many([chat_call("c1"), {"role": "user", "content": "q"}])
    repo.close()
    db = tmp_path / "r" / ".trace" / "index.sqlite"
    with sqlite3.connect(db) as conn:     # an index file made before tallies existed
        conn.execute("DROP TABLE IF EXISTS tallies")
    forget()
    repo = Repository.open(path)
    st_ = repo.status()
    assert (st_.entries, [p["kind"] for p in st_.broken_pairs]) == (2, ["unanswered-call"])
    repo.close()
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tallies").fetchone()[0] == 1


def test_a_damaged_tally_row_is_recounted_with_a_warning(tmp_path):
    path = str(tmp_path / "r")
    repo = Repository.init(path, encoding="chars/4")
    repo.append_many([{"role": "user", "content": "q"}, chat_call("c1")])
    want = reported(repo)
    repo.close()
    db = tmp_path / "r" / ".trace" / "index.sqlite"
    with sqlite3.connect(db) as conn:
        (rec,) = conn.execute("SELECT rec FROM tallies").fetchone()
        forged = encode(Tally(99, 0, analyze([])))
        assert forged != rec
        conn.execute("UPDATE tallies SET rec=?", (forged,))    # its sum no longer matches
    forget()
    repo = Repository.open(path)
    assert reported(repo) == want
    assert any("tally" in w and "failed its checksum" in w for w in repo.warnings)
    repo.close()


@pytest.mark.parametrize("forged", [
    Tally(7, 3, analyze([])),                                       # counts that are not its
    Tally(2, 0, analyze([{"role": "user", "content": "q"}])),       # the pending call hidden
    Tally(2, 0, analyze([{"role": "user", "content": "q"}, chat_result("zz")], 5)),  # off the end
])
def test_a_forged_tally_row_with_a_valid_checksum_is_not_believed(tmp_path, forged):
    """The index is a cache anyone can write, checksums included: a row is checked against the
    snapshot (its count, its indices, the calls pending at its end) before it is believed."""
    from trace_core.index.sqlite_index import commit_sum
    path = str(tmp_path / "r")
    repo = Repository.init(path, encoding="chars/4")
    repo.append_many([{"role": "user", "content": "q"}, chat_call("c1")])
    forget()          # (the same context in another test: kept in memory)
    want = reported(repo)
    repo.close()
    db = tmp_path / "r" / ".trace" / "index.sqlite"
    with sqlite3.connect(db) as conn:
        (snap,) = conn.execute("SELECT snap FROM tallies").fetchone()
        rec = encode(forged)
        conn.execute("UPDATE tallies SET rec=?, sum=?", (rec, commit_sum(snap, b"", rec)))
    forget()
    repo = Repository.open(path)
    assert reported(repo) == want
    repo.close()


@pytest.mark.parametrize("walk", [0, 1])
def test_without_a_kept_ancestor_in_reach_the_context_is_read_whole(tmp_path, monkeypatch, walk):
    monkeypatch.setattr(tally_mod, "WALK_MAX", walk)
    extended = []
    real = tally_mod.extend
    monkeypatch.setattr(tally_mod, "extend", lambda *a: extended.append(a) or real(*a))
    repo = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    repo.append({"role": "user", "content": "a"})
    repo.status()
    repo.append({"role": "user", "content": "b"})
    repo.append(chat_call("c"))
    forget()
    assert reported(repo) == expected(repo)
    assert extended == []           # the kept tally two commits back was out of reach
    repo.close()


def test_reindex_forgets_tallies_and_status_counts_again(tmp_path):
    path = str(tmp_path / "r")
    repo = Repository.init(path, encoding="chars/4")
    repo.append_many([{"role": "user", "content": "q"}, chat_call("c1")])
    want = reported(repo)
    repo.index.rebuild()
    db = tmp_path / "r" / ".trace" / "index.sqlite"
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tallies").fetchone()[0] == 0
    forget()
    assert reported(repo) == want
    with sqlite3.connect(db) as conn:
        assert conn.execute("SELECT count(*) FROM tallies").fetchone()[0] == 1
    repo.close()
