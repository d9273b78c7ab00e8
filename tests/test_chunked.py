"""Snapshot trees: canonical form, incremental append equals a full build, bounded writes."""

from __future__ import annotations

import os
import random

from hypothesis import given, settings
from hypothesis import strategies as st

from trace_core import chunked
from trace_core.objects import Entry
from trace_core.storage.objectstore import MemoryObjectStore


def _store():
    s = MemoryObjectStore()
    return s, (lambda n: s.write([n])), s.get


def _entries(n, seed=0):
    rnd = random.Random(seed)
    return [Entry(rnd.randbytes(32), rnd.choice([0, 0, 1])) for _ in range(n)]


def test_append_one_by_one_equals_full_build():
    s, put, get = _store()
    es = _entries(3000)
    snap = chunked.EMPTY
    for i, e in enumerate(es):
        snap = chunked.append(snap, [e], get, put)
        if i % 251 == 0 or i == len(es) - 1:
            assert snap.id == chunked.build(es[: i + 1], put).id
    assert chunked.entries(snap, get) == es
    for i in (0, 1, 77, 1500, 2999, -1):
        assert chunked.entry_at(snap, i, get) == es[i]


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 600), st.integers(0, 10**6), st.lists(st.integers(1, 40), max_size=8))
def test_batched_appends_equal_full_build(n, seed, batches):
    s, put, get = _store()
    es = _entries(n, seed)
    snap = chunked.build(es, put)
    extra = _entries(sum(batches), seed + 1)
    pos = 0
    for b in batches:
        snap = chunked.append(snap, extra[pos:pos + b], get, put)
        pos += b
    assert snap.id == chunked.build(es + extra, put).id
    assert chunked.entries(snap, get) == es + extra


def test_equal_lists_have_equal_ids_and_edits_share_structure():
    s, put, get = _store()
    es = _entries(5000, 3)
    a = chunked.build(es, put)
    before = set(s._data)
    edited = list(es)
    edited[2500] = Entry(os.urandom(32))
    b = chunked.build(edited, put)
    new = set(s._data) - before
    assert a.id != b.id
    assert len(new) <= 8  # one leaf, its ancestors, the snapshot
    assert chunked.build(list(es), put).id == a.id


def test_append_writes_a_bounded_number_of_bytes():
    s, put, get = _store()
    es = _entries(10_000, 5)
    snap = chunked.build(es, put)
    worst = 0
    for e in _entries(300, 6):
        written = []
        snap = chunked.append(snap, [e], get, lambda n, w=written: (w.append(n), put(n)))
        worst = max(worst, sum(len(n.to_bytes()) for n in written) + len(snap.to_bytes()))
    assert worst < 20_000  # independent of the 10,000 entries behind it


def test_append_many_leaves_at_once_reads_only_what_it_made_or_stored(tmp_path):
    # the nodes an append creates are only queued (written with the commit); completing
    # several leaves in one append must not read them back from the store
    from trace_core.repository import Repository
    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    r.append_many([{"role": "user", "content": f"m{i}"} for i in range(600)])
    r.append_many([{"role": "user", "content": f"n{i}"} for i in range(700)])
    assert [m["content"] for m in r.messages()][-1] == "n699"
    assert len(r.messages()) == 1300
    snap = r.get_snapshot(r.get_commit(r.head_commit()).snapshot)
    from trace_core import chunked as ch
    assert ch.build(ch.entries(snap, r.get_node), lambda n: None).id == snap.id
    r.close()
