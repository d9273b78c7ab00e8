"""The SQLite commit index: walks, exclusion, merge bases and ancestry against brute force, lazy
population, recovery from a deleted or corrupt database, the token cache, and concurrent use."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import sqlite3
import threading

import pytest

from trace_core.errors import CorruptObject, MissingObject
from trace_core.index import CommitIndex, CommitRow, sqlite_index
from trace_core.objects import Blob, Commit
from trace_core.storage.objectstore import MemoryObjectStore

SNAP = b"\x5a" * 32


def mk(store, parents, t, msg="", op="append", **kw):
    c = Commit(parents=parents, snapshot=SNAP, op=op, message=msg, author="tester", time_ms=t,
               tz_min=60, tokens=kw.pop("tokens", 1), total_tokens=kw.pop("total", 7), **kw)
    store.write([c])
    return c.id


def chain(store, n, parent=None, t0=1000, tag="c"):
    ids = []
    for i in range(n):
        parent = mk(store, [parent] if parent else [], t0 + i, f"{tag}{i}")
        ids.append(parent)
    return ids


def random_dag(seed, n=45, skew=True):
    """A seeded DAG: roots, linear runs, merges of 2-3 parents; skewed or monotone times."""
    rng = random.Random(seed)
    store, ids, parents, times = MemoryObjectStore(), [], {}, {}
    for i in range(n):
        k = 0 if i == 0 or rng.random() < 0.06 else \
            (1 if rng.random() < 0.7 else rng.choice((2, 3)))
        ps = rng.sample(ids[max(0, i - 12):] if rng.random() < 0.8 else ids, min(k, len(ids)))
        if skew:
            t = i * 10 + rng.choice((0, 0, rng.randint(-200, 200), -10 * i))
        else:
            t = max([times[p] for p in ps], default=0) + rng.choice((0, 1, 5))
        oid = mk(store, ps, t, f"n{i}")
        ids.append(oid)
        parents[oid] = tuple(ps)
        times[oid] = t
    return store, ids, parents


def reach(parents, starts, first_parent=False):
    out, stack = set(), list(starts)
    while stack:
        x = stack.pop()
        if x not in out:
            out.add(x)
            stack.extend(parents[x][:1] if first_parent else parents[x])
    return out


def best_common(parents, a, b):
    common = reach(parents, [a]) & reach(parents, [b])
    return {c for c in common if not any(c != d and c in reach(parents, [d]) for d in common)}


def gen_of(parents, oid, memo):
    stack = [oid]
    while stack:
        x = stack[-1]
        todo = [p for p in parents[x] if p not in memo]
        if todo:
            stack.extend(todo)
        else:
            memo[x] = 1 + max((memo[p] for p in parents[x]), default=0)
            stack.pop()
    return memo[oid]


@pytest.fixture
def db(tmp_path):
    return str(tmp_path / "index.sqlite")


def ids_of(rows):
    return [r.id for r in rows]


# -- linear history ------------------------------------------------------------------------------
def test_linear_walk_order_limit_and_rows(db):
    store = MemoryObjectStore()
    ids = chain(store, 50)
    idx = CommitIndex(db, store)
    rows = list(idx.walk([ids[-1]]))
    assert ids_of(rows) == ids[::-1]
    assert [r.generation for r in rows] == list(range(50, 0, -1))
    assert ids_of(idx.walk([ids[-1]], limit=10)) == ids[::-1][:10]
    assert list(idx.walk([ids[-1]], limit=0)) == []
    assert ids_of(idx.walk([ids[20]], exclude=[ids[10]])) == ids[20:10:-1]
    assert ids_of(idx.walk([ids[10]], exclude=[ids[20]])) == []
    r = idx.get(ids[3])
    assert isinstance(r, CommitRow) and r.parents == (ids[2],) and r.time_ms == 1003
    assert (r.tz, r.author, r.op, r.tokens, r.total_tokens, r.summary) == \
        (60, "tester", "append", 1, 7, "c3")
    assert idx.parents(ids[0]) == () and idx.count() == 50
    idx.close()


def test_summary_first_line_truncated_or_op(db):
    store = MemoryObjectStore()
    a = mk(store, [], 1, "x" * 300 + "\nbody", tokens=2**64 - 1)  # too big for SQLite: kept aside
    b = mk(store, [a], 2, "", op="pin")
    idx = CommitIndex(db, store)
    assert idx.get(a).summary == "x" * 200 and idx.get(b).summary == "pin"
    assert idx.get(a).tokens == 2**64 - 1 and ids_of(idx.walk([b])) == [b, a]
    assert idx.count() == 2


def test_walk_with_small_limit_reads_few_rows(db, monkeypatch):
    store = MemoryObjectStore()
    ids = chain(store, 3000)
    idx = CommitIndex(db, store)
    idx.get(ids[-1])  # populate
    made = []
    real = sqlite_index._from_db
    monkeypatch.setattr(sqlite_index, "_from_db", lambda r: made.append(1) or real(r))
    assert ids_of(idx.walk([ids[-1]], limit=10)) == ids[::-1][:10]
    assert len(made) < 40


def test_lazy_population_is_incremental(db):
    store = MemoryObjectStore()
    ids = chain(store, 300)
    idx = CommitIndex(db, store)
    assert len(list(idx.walk([ids[-1]]))) == 300
    more = chain(store, 5, parent=ids[-1], t0=5000, tag="m")
    loaded = []
    real_get = store.get
    store.get = lambda oid: loaded.append(oid) or real_get(oid)
    assert ids_of(idx.walk([more[-1]], limit=6)) == more[::-1] + [ids[-1]]
    assert sorted(loaded) == sorted(more)  # only the new commits came from the store
    assert idx.get(more[-1]).generation == 305


# -- random DAGs against brute force --------------------------------------------------------------
@pytest.mark.parametrize("seed", range(30))
def test_random_dag_matches_brute_force(db, seed):
    store, ids, parents = random_dag(seed, skew=seed % 3 != 0)
    idx = CommitIndex(db, store)
    rng = random.Random(1000 + seed)
    memo: dict = {}
    for oid in ids:
        assert idx.get(oid).generation == gen_of(parents, oid, memo)
    for _ in range(12):
        inc = rng.sample(ids, rng.randint(1, 3))
        exc = rng.sample(ids, rng.randint(0, 3))
        fp = rng.random() < 0.3
        got = ids_of(idx.walk(inc, exclude=exc, first_parent=fp))
        want = reach(parents, inc, fp) - reach(parents, exc)  # exclusion follows all parents
        assert len(got) == len(set(got)) and set(got) == want
        k = rng.randint(1, 8)
        assert ids_of(idx.walk(inc, exclude=exc, limit=k, first_parent=fp)) == got[:k]
        if seed % 3 == 0:  # times consistent with the graph: exactly newest first
            rows = [idx.get(x) for x in got]
            assert rows == sorted(rows, key=lambda r: (-r.time_ms, -r.generation, r.id))
    for _ in range(15):
        a, b = rng.choice(ids), rng.choice(ids)
        bases = idx.merge_bases(a, b)
        assert len(bases) == len(set(bases)) and set(bases) == best_common(parents, a, b)
        assert idx.is_ancestor(a, b) == (a in reach(parents, [b]))
        assert idx.is_ancestor(b, a) == (b in reach(parents, [a]))
    idx.close()


def test_first_parent_exclusion_follows_all_parents_like_git(db):
    # git log --first-parent X ^Y prints only X here: S is excluded through Y's second parent
    store = MemoryObjectStore()
    r = mk(store, [], 1, "R")
    s = mk(store, [r], 2, "S")
    x = mk(store, [s], 3, "X")
    y1 = mk(store, [r], 4, "Y1")
    y = mk(store, [y1, s], 5, "Y")
    idx = CommitIndex(db, store)
    assert ids_of(idx.walk([x], exclude=[y], first_parent=True)) == [x]
    assert ids_of(idx.walk([y], first_parent=True)) == [y, y1, r]
    assert ids_of(idx.walk([y])) == [y, y1, s, r]
    assert idx.merge_bases(x, y) == [s] and idx.merge_bases(y, y) == [y]
    assert idx.is_ancestor(s, y) and not idx.is_ancestor(x, y) and idx.is_ancestor(x, x)


def test_criss_cross_has_two_merge_bases(db):
    store = MemoryObjectStore()
    r = mk(store, [], 1)
    a = mk(store, [r], 2, "a")
    b = mk(store, [r], 3, "b")
    m1 = mk(store, [a, b], 4, "m1")
    m2 = mk(store, [b, a], 5, "m2")
    idx = CommitIndex(db, store)
    assert set(idx.merge_bases(m1, m2)) == {a, b}
    assert idx.merge_bases(m1, a) == [a]


def test_exclusion_is_correct_under_clock_skew(db):
    # the excluded side's commits look far newer than the included ones
    store = MemoryObjectStore()
    base = chain(store, 20, t0=10)
    ex = chain(store, 30, parent=base[9], t0=10**9, tag="x")
    inc = mk(store, [base[-1], ex[5]], 0, "merge with an old clock")
    idx = CommitIndex(db, store)
    assert set(ids_of(idx.walk([inc], exclude=[ex[-1]]))) == {inc, *base[10:]}


# -- lookups and damage ---------------------------------------------------------------------------
def test_get_errors(db):
    store = MemoryObjectStore()
    blob = Blob({"role": "user", "content": "hi"})
    store.write([blob])
    idx = CommitIndex(db, store)
    with pytest.raises(MissingObject):
        idx.get(b"\x01" * 32)
    with pytest.raises(CorruptObject):
        idx.get(blob.id)
    with pytest.raises(MissingObject):
        list(idx.walk([b"\x01" * 32]))


def test_missing_parent_does_not_break_rebuild(db):
    store = MemoryObjectStore()
    ghost = b"\x07" * 32
    a = mk(store, [ghost], 10, "orphan")
    b = mk(store, [a], 11, "b")
    c = chain(store, 3, t0=1)
    store.write([Blob({"content": "x"})])
    idx = CommitIndex(db, store)
    idx.rebuild()
    assert idx.count() == 5
    assert idx.get(a).generation == 1 and idx.get(b).generation == 2
    assert ids_of(idx.walk([b], limit=2)) == [b, a]
    with pytest.raises(MissingObject):
        list(idx.walk([b]))
    assert idx.merge_bases(c[-1], c[0]) == [c[0]]


def test_deleted_database_is_repopulated(db):
    store = MemoryObjectStore()
    ids = chain(store, 40)
    idx = CommitIndex(db, store)
    before = list(idx.walk([ids[-1]]))
    idx.put_tokens([(ids[0], "enc", 5)])
    idx.close()
    for suffix in ("", "-wal", "-shm"):
        if os.path.exists(db + suffix):
            os.unlink(db + suffix)
    idx = CommitIndex(db, store)
    assert list(idx.walk([ids[-1]])) == before and idx.get_tokens(ids[0], "enc") is None
    assert os.path.exists(db) and not idx.in_memory
    assert idx._db(lambda c: c.execute("PRAGMA journal_mode").fetchone()[0]) == "wal"


@pytest.mark.parametrize("keep", [0, 100])
def test_corrupt_database_is_rebuilt(db, keep):
    store = MemoryObjectStore()
    ids = chain(store, 200)
    idx = CommitIndex(db, store)
    before = list(idx.walk([ids[-1]]))
    idx.close()
    with open(db, "r+b") as f:  # keep=100 leaves a valid header: damage shows at query time
        head = f.read(keep)
        size = max(f.seek(0, 2), 8192)
        f.seek(0)
        f.write(head + random.Random(keep).randbytes(size - keep))
    idx = CommitIndex(db, store)
    assert list(idx.walk([ids[-1]])) == before and idx.count() == 200
    assert not idx.in_memory
    idx.close()
    assert list(CommitIndex(db, store).walk([ids[-1]], limit=3)) == before[:3]


class Flaky:
    """A connection that fails its next `fails` statements with `error`."""

    def __init__(self, conn, fails, error):
        self.conn, self.fails, self.error = conn, fails, error

    def execute(self, *args):
        if self.fails:
            self.fails -= 1
            raise self.error
        return self.conn.execute(*args)

    def __getattr__(self, name):
        return getattr(self.conn, name)


def _rows_on_disk(db):
    conn = sqlite3.connect(db)
    try:
        return conn.execute("SELECT count(*) FROM commits").fetchone()[0]
    finally:
        conn.close()


def test_query_errors_recreate_then_fall_back_to_memory(db, monkeypatch):
    store = MemoryObjectStore()
    ids = chain(store, 30)
    idx = CommitIndex(db, store)
    assert ids_of(idx.walk([ids[9]])) == ids[9::-1]
    # one malformed-image error: the file is recreated and refilled lazily
    idx._conn = Flaky(idx._conn, 1, sqlite3.DatabaseError("database disk image is malformed"))
    assert idx.get(ids[0]).generation == 1 and not idx.in_memory
    assert _rows_on_disk(db) == 1
    assert ids_of(idx.walk([ids[-1]])) == ids[::-1] and _rows_on_disk(db) == 30
    # a busy database is never deleted: this instance carries on in memory
    idx._conn = Flaky(idx._conn, 1, sqlite3.OperationalError("database is locked"))
    assert idx.get(ids[5]).generation == 6 and idx.in_memory
    assert _rows_on_disk(db) == 30
    # errors that survive recreating the file also end in memory
    idx2 = CommitIndex(db, store)
    bad = sqlite3.DatabaseError("disk I/O error")
    real_open = idx2._open
    monkeypatch.setattr(idx2, "_open", lambda: Flaky(real_open(), 5, bad))
    idx2._conn = Flaky(idx2._conn, 1, bad)
    assert ids_of(idx2.walk([ids[-1]], limit=2)) == ids[:-3:-1] and idx2.in_memory


def test_unknown_schema_version_is_recreated(db):
    store = MemoryObjectStore()
    ids = chain(store, 5)
    CommitIndex(db, store).close()
    conn = sqlite3.connect(db)
    conn.execute("UPDATE meta SET value='99' WHERE key='schema'")
    conn.commit()
    conn.close()
    idx = CommitIndex(db, store)
    assert ids_of(idx.walk([ids[-1]])) == ids[::-1] and not idx.in_memory


def test_unusable_directory_falls_back_to_memory(tmp_path):
    store = MemoryObjectStore()
    ids = chain(store, 5)
    idx = CommitIndex(str(tmp_path / "no" / "such" / "index.sqlite"), store)
    assert idx.in_memory and ids_of(idx.walk([ids[-1]])) == ids[::-1]
    idx.put_tokens([(ids[0], "e", 3)])
    assert idx.get_tokens(ids[0], "e") == 3


def test_token_cache_round_trip(db):
    store = MemoryObjectStore()
    idx = CommitIndex(db, store)
    a, b = b"\x01" * 32, b"\x02" * 32
    assert idx.get_tokens(a, "cl100k_base") is None
    idx.put_tokens([(a, "cl100k_base", 12), (a, "chars/4", 30), (b, "cl100k_base", 0)])
    idx.put_tokens([])
    idx.close()
    idx = CommitIndex(db, store)
    assert idx.get_tokens(a, "cl100k_base") == 12 and idx.get_tokens(a, "chars/4") == 30
    assert idx.get_tokens(b, "cl100k_base") == 0 and idx.get_tokens(b, "chars/4") is None


def test_rows_are_the_bytes_format_md_specifies(db):
    """docs/FORMAT.md §11, computed independently: a commit row is (id, parents, record, sum)
    with the record [gen, time_ms, tz, author, op, tokens, total, summary] and the sum the
    CRC-32 of id || parents || record minus 2**31; a token row names its encoding by number."""
    from zlib import crc32

    import msgpack
    store = MemoryObjectStore()
    a, b = chain(store, 2)
    idx = CommitIndex(db, store)
    idx.get(b)
    idx.put_tokens([(a, "chars/4", 9), (b, "cl100k_base", 70000)])
    idx.close()
    c = sqlite3.connect(db)
    assert c.execute("SELECT value FROM meta WHERE key='schema'").fetchone() == ("3",)
    rec = msgpack.packb([2, 1001, 60, "tester", "append", 1, 7, "c1"])
    assert c.execute("SELECT * FROM commits WHERE id=?", (b,)).fetchone() == \
        (b, a, rec, crc32(b + a + rec) - 2**31)
    enc = dict(c.execute("SELECT name, id FROM encodings"))
    assert sorted(enc) == ["chars/4", "cl100k_base"]
    assert c.execute("SELECT * FROM tokens WHERE blob=?", (b,)).fetchone() == \
        (b, enc["cl100k_base"], 70000,
         crc32(msgpack.packb([b, "cl100k_base", 70000])) - 2**31)
    c.close()


def test_rebuild_leaves_no_free_pages(db):
    store = MemoryObjectStore()
    ids = chain(store, 300)
    idx = CommitIndex(db, store)
    idx.put_tokens([(bytes([i]) * 32, "e", i) for i in range(200)])
    list(idx.walk([ids[-1]]))
    idx.rebuild()           # empties the token cache: its pages are given back
    c = sqlite3.connect(db)
    assert c.execute("PRAGMA freelist_count").fetchone() == (0,)
    assert c.execute("SELECT count(*) FROM tokens").fetchone() == (0,)
    c.close()
    assert ids_of(idx.walk([ids[-1]])) == ids[::-1]


# -- concurrency ----------------------------------------------------------------------------------
def test_two_instances_concurrently(db):
    store = MemoryObjectStore()
    main = chain(store, 1500)
    side = chain(store, 1500, parent=main[100], t0=10**6, tag="s")
    a, b = CommitIndex(db, store), CommitIndex(db, store)
    errors = []

    def writer():
        try:
            for k in range(99, 1500, 100):
                a.get(main[k])
                a.get(side[k])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    def reader():
        try:
            for k in range(50, 1500, 50):
                got = ids_of(b.walk([side[k]], limit=5))
                assert got == side[k::-1][:5]
                assert b.is_ancestor(main[100], side[k])
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer), threading.Thread(target=reader)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert errors == []
    assert b.count() == 3000 and a.count() == 3000
    assert ids_of(b.walk([side[-1]], exclude=[main[-1]])) == side[::-1]


def _index_in_child(db, store, tips):
    idx = CommitIndex(db, store)
    for t in tips:
        list(idx.walk([t], limit=3))
    idx.close()


def test_processes_share_one_database(db):
    store = MemoryObjectStore()
    ids = chain(store, 2000)
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_index_in_child, args=(db, store, ids[k::150])) for k in (0, 75)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    idx = CommitIndex(db, store)
    got = idx._db(lambda c: c.execute("SELECT count(*) FROM commits").fetchone()[0])
    assert got == 1950 + 1  # ids[1950] is the highest tip either child asked for
    assert ids_of(idx.walk([ids[-1]])) == ids[::-1]


def _oneline_of(r):
    sign = "-" if r.op == "drop" or r.tokens < 0 else "+"
    return f"{r.id[:6].hex()} {r.op:<7} {sign}{abs(r.tokens):<5d} {r.total_tokens:7d}  {r.summary}"


def test_oneline_lines_for_indexed_and_new_commits(repo):
    """`trace log --oneline` lines from verified row records, for rows read from the database
    and rows computed from the objects alike, ref labels after the id."""
    from trace_core.render.log import log_lines
    repo.user("héllo wörld ✓ " * 8)
    repo.assistant("a")
    repo.drop(0)
    repo.user("x" * 300)
    head = repo.head_commit()
    lines = log_lines(repo, [head.hex()], oneline=True)      # indexed now
    expect = [_oneline_of(r) for r in repo.index.walk([head])]
    expect[0] = expect[0][:12] + " (HEAD -> main)" + expect[0][12:]
    assert lines == expect
    assert lines[1].split()[1] == "drop" and lines[1].split()[2].startswith("-")
    repo.user("one more")                                     # not in the database until read
    new = repo.head_commit()
    [line] = log_lines(repo, [f"{head.hex()}..HEAD"], oneline=True)
    row = next(iter(repo.index.walk([new], [head])))
    assert line == _oneline_of(row)[:12] + " (HEAD -> main)" + _oneline_of(row)[12:]
