"""The disk object store: journals, packs, torn tails, bit flips, bombs and size bounds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import zstandard

from trace_core.errors import CorruptObject, MalformedObject, MissingObject, ObjectTooLarge
from trace_core.objects import Blob
from trace_core.storage import journal as jn
from trace_core.storage import zstd_codec as zc
from trace_core.storage.objectstore import DiskObjectStore, StoreOptions
from trace_core.storage.repack import repack_packs, seal_idle_journals
from trace_core.storage.sealer import maybe_seal


def _blobs(n, tag="m"):
    return [Blob({"role": "user", "content": f"{tag} {i} " + "words and more words " * 10})
            for i in range(n)]


def _journal_path(d):
    return next(jn.iter_journals(os.path.join(d, "journal")))


def test_write_read_across_processes_views(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    bl = _blobs(50)
    for b in bl:
        a.write([b])
    b2 = DiskObjectStore(d)  # a second reader sees everything, then more after a refresh
    assert all(b2.get(b.id) == b for b in bl)
    more = _blobs(5, "later")
    a.write(more)
    assert b2.get(more[0].id) == more[0]
    with pytest.raises(MissingObject):
        b2.get_bytes(os.urandom(32))
    a.close(), b2.close()


def test_one_file_operation_per_write(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    a.write(_blobs(1))
    files = sorted(os.listdir(os.path.join(d, "journal")))
    for b in _blobs(100, "x"):
        a.write([b])
    assert sorted(os.listdir(os.path.join(d, "journal"))) == files  # appends, no new files
    a.close()


def test_sealing_and_repack_keep_every_object(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=100, auto_pack_limit=3))
    bl = _blobs(700)
    for b in bl:
        a.write([b])
        maybe_seal(a)
    a.wait_for_sealing()
    assert len(a.packs()) <= 4
    assert all(a.get(b.id) == b for b in bl)
    seal_idle_journals(a)
    repack_packs(a, train=True)
    assert len(a.packs()) == 1
    c = DiskObjectStore(d)
    assert all(c.get(b.id) == b for b in bl)
    assert len({oid for oid, _ in c.iter_objects()}) == 700
    a.close(), c.close()


def test_torn_journal_tail_is_ignored_then_cut_by_the_next_writer(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    bl = _blobs(10)
    a.write(bl)
    a.close()
    path = _journal_path(d)
    good = os.path.getsize(path)
    with open(path, "ab") as f:
        f.write(b"\x00\x00\x01\x00\x01" + b"garbage")  # half a record
    r = DiskObjectStore(d)
    assert all(r.get(b.id) == b for b in bl)
    res = jn.scan(Path(path).read_bytes())
    assert res.torn_bytes == 12 and len(res.records) == 10
    w = DiskObjectStore(d)
    w.write(_blobs(1, "after"))
    assert any("torn tail" in n for n in w.notes)
    assert os.path.getsize(path) > good
    assert jn.scan(Path(path).read_bytes()).torn_bytes == 0
    r.close(), w.close()


def test_bit_flip_in_journal_names_the_object(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    b = _blobs(1)[0]
    a.write([b])
    a.close()
    path = _journal_path(d)
    data = bytearray(Path(path).read_bytes())
    data[-10] ^= 0x40
    Path(path).write_bytes(bytes(data))
    r = DiskObjectStore(d)
    with pytest.raises(CorruptObject) as exc:
        r.get(b.id)
    assert b.hex in str(exc.value)


def test_bit_flip_in_pack_block_names_the_object(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    bl = _blobs(20)
    a.write(bl)
    seal_idle_journals(a)
    a.close()
    pack = next(p for p in os.listdir(os.path.join(d, "pack")) if p.endswith(".pack"))
    path = os.path.join(d, "pack", pack)
    data = bytearray(Path(path).read_bytes())
    data[len(data) // 2] ^= 0x01
    Path(path).write_bytes(bytes(data))
    r = DiskObjectStore(d)
    with pytest.raises(CorruptObject) as exc:
        r.get(bl[5].id)
    assert bl[5].hex in str(exc.value)  # the block's zstd checksum catches any flip in it


def test_decompression_bomb_and_oversize_refused():
    big = b"\0" * (10 * 1024 * 1024)
    frame = zc.compress(big)
    assert len(frame) < 2000
    with pytest.raises(ObjectTooLarge):
        zc.decompress(frame, limit=1024 * 1024)
    nosize = zstandard.ZstdCompressor(write_content_size=False).compressobj()
    frame2 = nosize.compress(b"x" * 1000) + nosize.flush()
    with pytest.raises(MalformedObject):
        zc.decompress(frame2, limit=1 << 20)
    with pytest.raises(MalformedObject):
        zc.decompress(b"not zstd at all", limit=1 << 20)


def test_oversized_object_refused_before_storing(tmp_path):
    from trace_core import objects
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d)
    old = objects.MAX_OBJECT_SIZE
    objects.MAX_OBJECT_SIZE = 1000
    try:
        with pytest.raises(ObjectTooLarge):
            a.write([Blob({"role": "user", "content": "x" * 5000})])
    finally:
        objects.MAX_OBJECT_SIZE = old
    assert not os.path.exists(os.path.join(d, "journal")) or \
        all(os.path.getsize(p) <= 8 for p in jn.iter_journals(os.path.join(d, "journal")))


def test_one_atomic_write_helper_steals_only_when_told(tmp_path):
    from trace_core.errors import LockError
    from trace_core.storage.lockfile import write_file_atomic
    from trace_core.storage.pack import list_packs, write_pack
    path = str(tmp_path / "f")
    write_file_atomic(path, b"one")
    open(path + ".lock", "wb").close()                       # a killed writer's leftover
    with pytest.raises(LockError):
        write_file_atomic(path, b"two")
    write_file_atomic(path, b"two", steal=True)
    assert Path(path).read_bytes() == b"two" and not os.path.exists(path + ".lock")
    # a pack index is written through it, under the documented pack-<name>.idx.tmp name
    d = str(tmp_path / "pack")
    objs = [(b"\x01" * 32, 1, b"x" * 10)]
    name = write_pack(d, objs)
    os.unlink(os.path.join(d, f"pack-{name}.idx"))
    open(os.path.join(d, f"pack-{name}.idx.tmp"), "wb").close()
    assert write_pack(d, objs) == name and list_packs(d) == [name]
    assert sorted(os.listdir(d)) == [f"pack-{name}.idx", f"pack-{name}.pack"]


def test_an_auto_pack_limit_of_0_never_merges_packs(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=10, auto_pack_limit=0))
    for b in _blobs(60):
        a.write([b])
        maybe_seal(a)
    a.wait_for_sealing()
    assert len(a.packs()) == 6        # one pack per sealed journal, none merged
    a.close()


def test_geometric_split_merges_only_what_breaks_the_progression():
    from trace_core.storage.repack import geometric_split
    assert geometric_split([]) == 0
    assert geometric_split([5]) == 0
    assert geometric_split([1, 2, 4, 8]) == 0          # already geometric
    assert geometric_split([1, 1]) == 2
    assert geometric_split([1, 1, 4, 8]) == 2          # the two small ones; 4 >= 2 * 2 stays
    assert geometric_split([3, 4, 5, 100]) == 3        # 100 >= 2 * 12 stays
    assert geometric_split([1, 1, 3, 100]) == 3        # 3 < 2 * 2 joins the rollup
    assert geometric_split([10, 10, 10, 10]) == 4


def test_background_sealing_keeps_pack_count_logarithmic_and_every_object(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=10, auto_pack_limit=16,
                                        seal_in="thread"))
    bl = _blobs(400)
    for b in bl:
        a.write([b])
        maybe_seal(a)                   # 40 seals, each handed to the background thread
        a.wait_for_sealing()            # (one at a time here, to count deterministically)
    assert 1 <= len(a.packs()) <= 7     # log2(40) + 1, not 40 and not a merge of everything
    sizes = sorted(os.path.getsize(p.pack_path) for p in a.packs())
    from trace_core.storage.repack import geometric_split
    assert geometric_split(sizes) == 0  # what is left is a geometric progression
    a.close()
    c = DiskObjectStore(d)
    assert all(c.get(b.id) == b for b in bl)
    c.close()


def test_a_seal_in_the_background_does_not_hide_objects_from_the_writer(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=10, auto_pack_limit=4))
    bl = _blobs(200)
    for i, b in enumerate(bl):
        a.write([b])
        maybe_seal(a)                   # no waiting: reads race the sealer on purpose
        if i % 7 == 0:
            a.refresh()                 # drops sealed journals, picks up new packs
        assert a.get_bytes(bl[i // 2].id) == bl[i // 2].to_bytes()
        assert a.get_bytes(bl[i].id) == bl[i].to_bytes()
        assert a.has(bl[i].id)
    a.close()                           # waits for the last seal
    assert not [n for n in os.listdir(os.path.join(d, "pack")) if n.startswith("tmp-")]
    c = DiskObjectStore(d)
    assert all(c.get(b.id) == b for b in bl)
    c.close()


def test_a_child_process_seals_the_journal_and_the_writer_keeps_going(tmp_path):
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=20, auto_pack_limit=16))
    bl = _blobs(70)
    for i, b in enumerate(bl):
        a.write([b])
        maybe_seal(a)                   # at 20, 40, 60: a child each; no waiting here
        assert a.get_bytes(b.id) == b.to_bytes()
        assert a.get_bytes(bl[i // 2].id) == bl[i // 2].to_bytes()
    a.wait_for_sealing()
    assert a.notes == [] and not a._children
    assert list(a._jbuf) == [a._writer.path]  # the sealed journals' bytes are not kept
    assert len(a.packs()) >= 1 and len(list(jn.iter_journals(os.path.join(d, "journal")))) == 1
    a.close()
    c = DiskObjectStore(d)
    assert all(c.get(b.id) == b for b in bl)
    assert not [n for n in os.listdir(os.path.join(d, "pack")) if n.startswith("tmp-")]
    c.close()


def test_a_killed_sealing_child_loses_nothing(tmp_path, monkeypatch):
    import signal

    from trace_core.storage import sealer
    d = str(tmp_path / "objects")
    a = DiskObjectStore(d, StoreOptions(journal_max_records=10, auto_pack_limit=16))
    real = sealer.spawn

    def spawn_and_kill(*args, **kw):   # the child dies before it can seal anything
        p = real(*args, **kw)
        p.send_signal(signal.SIGKILL)
        return p

    monkeypatch.setattr(sealer, "spawn", spawn_and_kill)
    bl = _blobs(25)
    for b in bl:
        a.write([b])
        maybe_seal(a)
    a.wait_for_sealing()
    assert any("failed" in n for n in a.notes)     # told, and the journals are still there
    assert a.packs() == []
    a.close()
    c = DiskObjectStore(d)
    assert all(c.get(b.id) == b for b in bl)
    seal_idle_journals(c)                           # the next repack/gc seals them
    assert len(c.packs()) >= 1 and all(c.get(b.id) == b for b in bl)
    c.close()


def test_zstd_from_several_threads_at_once():
    """A store seals journals on a background thread while its owner commits (and integrations
    such as LiteLLM's callbacks commit from worker threads): zstandard's (de)compressor objects
    are not thread-safe, so each thread must use its own (a shared one corrupted frames or
    crashed the process)."""
    import random
    import threading

    from trace_core.storage import zstd_codec

    failures: list = []

    def work(seed: int) -> None:
        rnd = random.Random(seed)
        for _ in range(60):
            data = rnd.randbytes(1500) + b"x" * rnd.randint(1000, 150_000)
            frame = zstd_codec.compress(data, 3, None, True)
            if zstd_codec.decompress(frame, 1 << 24) != data:
                failures.append(seed)

    threads = [threading.Thread(target=work, args=(s,)) for s in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
