"""The ObjectStore interface's contract, run against every implementation (memory and disk)."""

from __future__ import annotations

import os

import pytest

from trace_core.errors import MissingObject, ObjectTooLarge
from trace_core.ids import hash_bytes
from trace_core.objects import (
    TYPE_CODES,
    Blob,
    Commit,
    Entry,
    Node,
    Snapshot,
    object_tag,
    parse_object,
)
from trace_core.storage.objectstore import DiskObjectStore, MemoryObjectStore, ObjectStore


@pytest.fixture(params=["memory", "disk"])
def store(request, tmp_path):
    s = MemoryObjectStore() if request.param == "memory" else DiskObjectStore(str(tmp_path / "o"))
    yield s
    s.close()


def sample_objects() -> list:
    """One object of every type, linked as a repository would link them."""
    blobs = [Blob({"role": "user", "content": f"message {i} " + "words " * i}) for i in range(5)]
    entries = [Entry(b.id, i % 2) for i, b in enumerate(blobs)]
    node = Node(0, entries[:3])
    snap = Snapshot(5, node.id, entries[3:])
    root = Commit(parents=(), snapshot=snap.id, op="append", blobs=(blobs[0].id,),
                  message="first", author="a", time_ms=1, encoding="chars/4")
    child = Commit(parents=(root.id,), snapshot=snap.id, op="edit", targets=(2,),
                   meta={"why": ["because", 1]}, time_ms=2)
    return [*blobs, node, snap, root, child]


class TestObjectStore:
    def test_is_an_object_store(self, store):
        assert isinstance(store, ObjectStore)

    def test_what_is_written_reads_back_byte_for_byte(self, store):
        objs = sample_objects()
        store.write(objs)
        for o in objs:
            assert store.has(o.id)
            data = store.get_bytes(o.id)
            assert data == o.to_bytes() and hash_bytes(data) == o.id
            got = store.get(o.id)
            assert got == o and type(got) is type(o) and got.id == o.id

    def test_add_writes_one_object_and_returns_its_id(self, store):
        b = Blob({"role": "assistant", "content": "added"})
        assert store.add(b) == b.id
        assert store.get(b.id) == b

    def test_missing_objects_are_missing(self, store):
        store.write(sample_objects()[:2])
        absent = Blob({"role": "user", "content": "never written"}).id
        assert not store.has(absent) and not store.has(os.urandom(32))
        with pytest.raises(MissingObject):
            store.get_bytes(absent)
        with pytest.raises(MissingObject):
            store.get(absent)

    def test_writing_nothing_or_the_same_object_twice_changes_nothing(self, store):
        objs = sample_objects()
        store.write([])
        assert list(store.iter_objects()) == []
        store.write(objs)
        store.write(objs[:3])
        store.add(objs[0])
        assert {oid for oid, _ in store.iter_objects()} == {o.id for o in objs}
        assert all(store.get_bytes(o.id) == o.to_bytes() for o in objs)

    def test_iter_objects_gives_every_id_with_its_type(self, store):
        objs = sample_objects()
        store.write(objs)
        got = dict(store.iter_objects())
        assert got == {o.id: TYPE_CODES[o.tag] for o in objs}
        for oid, code in got.items():
            assert TYPE_CODES[object_tag(store.get_bytes(oid))] == code

    def test_ids_with_prefix_finds_exactly_the_matching_ids(self, store):
        objs = sample_objects()
        store.write(objs)
        ids = [o.id for o in objs]
        for oid in ids:
            h = oid.hex()
            for n in (4, 5, 12, 63, 64):
                assert store.ids_with_prefix(h[:n]) == {i for i in ids if i.hex().startswith(h[:n])}
        taken = {i.hex()[:4] for i in ids}
        free = next(p for p in (f"{k:04x}" for k in range(65536)) if p not in taken)
        assert store.ids_with_prefix(free) == set()

    def test_objects_read_back_after_the_decoded_cache_is_gone(self, store):
        objs = sample_objects()
        store.write(objs)
        fresh = [parse_object(store.get_bytes(o.id)) for o in objs]
        assert fresh == objs

    def test_a_writer_keeps_a_bounded_number_of_the_objects_it_wrote(self, store, monkeypatch):
        # a long-lived writer must not hold every object it wrote (each full cyclic-GC pass
        # walks them all); the recent ones are kept, the rest read back from storage
        from trace_core.storage import objectstore
        monkeypatch.setattr(objectstore, "WRITTEN_CACHE_MAX", 8)
        blobs = [Blob({"role": "user", "content": f"kept or not {i}"}) for i in range(40)]
        for b in blobs:
            store.write([b])
        assert len(store._written) <= 8 and not store._decoded
        assert store.get(blobs[-1].id) is blobs[-1]           # the newest: from memory
        old = store.get(blobs[0].id)                           # the oldest: read back
        assert old == blobs[0] and old is not blobs[0]

    def test_an_oversized_object_is_refused_and_not_stored(self, store, monkeypatch):
        from trace_core import objects
        monkeypatch.setattr(objects, "MAX_OBJECT_SIZE", 1000)
        big = Blob({"role": "user", "content": "x" * 5000})
        with pytest.raises(ObjectTooLarge):
            store.write([big])
        monkeypatch.undo()
        assert not store.has(big.id)
        assert list(store.iter_objects()) == []

    def test_many_writes_all_read_back(self, store):
        blobs = [Blob({"role": "user", "content": f"n{i}"}) for i in range(300)]
        for i in range(0, 300, 7):
            store.write(blobs[i:i + 7])
        assert all(store.get(b.id) == b for b in blobs)
        assert len({oid for oid, _ in store.iter_objects()}) == 300


def test_a_sealed_journal_is_forgotten_record_by_record(tmp_path):
    # when a journal goes (sealed into a pack), exactly its entries leave the journal index:
    # an object written again into a newer journal stays located there
    from trace_core.storage import journal as jn
    from trace_core.storage.objectstore import seal_journal_fd
    store = DiskObjectStore(str(tmp_path / "o"))
    a, b = Blob({"role": "user", "content": "a"}), Blob({"role": "user", "content": "b"})
    store.write([a, b])
    old = store.detach_writer()
    store.write([b])                                       # a new journal
    new_path = store.journal_locations()[b.id][0]
    assert new_path != old.path and store.journal_locations()[a.id][0] == old.path
    seal_journal_fd(store, old.read_all())
    os.unlink(old.path)
    old.close()
    store.refresh()
    locs = store.journal_locations()
    assert a.id not in locs and locs[b.id][0] == new_path
    assert old.path not in store._joids and store._joids[new_path] == [b.id]
    assert store.get(a.id) == a and store.get_bytes(b.id) == b.to_bytes()
    assert list(jn.iter_journals(store.journal_dir)) == [new_path]
    store.close()
