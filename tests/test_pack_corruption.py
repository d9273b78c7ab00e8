"""Pack indexes that lie, with their checksum recomputed so that only the structure gives them
away: verify-pack and fsck report each one and exit 1; reads fail with one line naming the pack
instead of calling an object missing or serving the wrong one."""

from __future__ import annotations

import os
import struct

import pytest
from conftest import assert_one_line_error, invoke

from trace_core import Repository
from trace_core.fsck import fsck
from trace_core.ids import hash_bytes
from trace_core.objects import TYPE_CODES, object_tag
from trace_core.storage.pack import _BLOCK, _IDX_HEAD, PREFIX, Pack, list_packs, write_pack

FAN = _IDX_HEAD          # the fan-out table starts here


def make_repo(path):
    """A repository whose objects are all in one pack of many small blocks (no journal)."""
    repo = Repository.init(path, encoding="chars/4")
    repo.system("You are terse.")
    for i in range(30):
        repo.user(f"question {i} " + "words " * 30)
        repo.assistant(f"answer {i}")
    store = repo.store
    objs = [(oid, code, store.get_bytes(oid)) for oid, code in store.iter_objects()]
    repo.close()
    for f in os.listdir(os.path.join(path, ".trace", "objects", "journal")):
        os.unlink(os.path.join(path, ".trace", "objects", "journal", f))
    pack_dir = os.path.join(path, ".trace", "objects", "pack")
    for name in list_packs(pack_dir):
        for ext in (".idx", ".pack"):
            os.unlink(os.path.join(pack_dir, f"pack-{name}{ext}"))
    name = write_pack(pack_dir, objs, block_target=1024)
    return os.path.join(pack_dir, f"pack-{name}"), name


@pytest.fixture
def packed(tmp_path):
    d = str(tmp_path / "r")
    base, name = make_repo(d)
    assert invoke(d, "verify-pack", check=True).stdout == f"pack-{name}: ok\n"
    with Repository.open(d) as repo:
        assert fsck(repo) == []
    return d, base, name


def rewrite_idx(base, edit):
    """Apply edit(bytearray of the index without its checksum), then re-seal the checksum."""
    with open(base + ".idx", "rb") as f:
        body = bytearray(f.read()[:-32])
    edit(body)
    with open(base + ".idx", "wb") as f:
        f.write(bytes(body) + hash_bytes(bytes(body)))


def layout(base):
    p = Pack(os.path.dirname(base), os.path.basename(base)[5:])
    try:
        return p.count, p.nblocks, p._blk, p._typ, p._btab
    finally:
        p.close()


def entry_of(base, want_tag, where=lambda oid: True):
    """(index position, full id) of the first object of type `want_tag` in the pack (whose id
    satisfies `where`)."""
    p = Pack(os.path.dirname(base), os.path.basename(base)[5:])
    try:
        for b, recs in p.iter_blocks(1 << 30):
            for oid, data in recs.items():
                if object_tag(bytes(data)) == want_tag and where(oid):
                    [i] = [i for i in p.candidates(oid) if p.block_of(i) == b]
                    return i, oid
    finally:
        p.close()
    raise AssertionError(want_tag)


def check_reported(d, name, *words):
    p = invoke(d, "verify-pack")
    assert p.returncode == 1, (p.stdout, p.stderr)
    assert "ok" not in p.stdout and "Traceback" not in p.stderr
    assert name in p.stderr and all(w in p.stderr for w in words), p.stderr
    with Repository.open(d) as repo:
        found = [f for f in fsck(repo) if f.severity == "error"]
    assert any(f.id in ("badIdxChecksum", "badPackBlock") and name in f.object + f.message
               for f in found), found
    fp = invoke(d, "fsck")
    assert fp.returncode == 1 and name in fp.stdout


def test_index_lying_about_its_count_is_not_skipped(packed):
    d, base, name = packed
    rewrite_idx(base, lambda b: struct.pack_into(">I", b, 8, struct.unpack_from(">I", b, 8)[0] + 1))
    check_reported(d, name)
    # reading: the store cannot open the pack, and says so instead of "not found"
    assert_one_line_error(invoke(d, "log"), "cannot be read", name[:16], "trace fsck")


def test_index_lying_about_its_block_count_is_not_skipped(packed):
    d, base, name = packed
    rewrite_idx(base, lambda b: struct.pack_into(">I", b, 12,
                                                 struct.unpack_from(">I", b, 12)[0] - 1))
    check_reported(d, name)
    assert_one_line_error(invoke(d, "context"), "cannot be read", name[:16])


def test_index_lying_about_its_fan_out(packed):
    d, base, name = packed
    _, oid = entry_of(base, "commit", lambda o: o[0] > 0)
    first = oid[0]

    def edit(b):     # the commit's bucket claims to be empty: fanout[first - 1] = fanout[first]
        struct.pack_into(">I", b, FAN + (first - 1) * 4,
                         struct.unpack_from(">I", b, FAN + first * 4)[0])
    rewrite_idx(base, edit)
    check_reported(d, name, "fan-out")
    assert_one_line_error(invoke(d, "cat-object", "-p", oid.hex()), oid.hex(), "pack index",
                          "fan-out")


def test_index_lying_about_a_block_number(packed):
    d, base, name = packed
    count, nblocks, blk, _typ, _btab = layout(base)
    assert nblocks >= 3
    i, oid = entry_of(base, "commit")

    def edit(b):
        cur = struct.unpack_from(">I", b, blk + i * 4)[0]
        struct.pack_into(">I", b, blk + i * 4, (cur + 1) % nblocks)
    rewrite_idx(base, edit)
    check_reported(d, name, oid.hex())
    assert_one_line_error(invoke(d, "cat-object", "-p", oid.hex()), oid.hex(),
                          "names a block that does not hold it")


def test_index_lying_about_a_type(packed):
    d, base, name = packed
    _count, _n, _blk, typ, _btab = layout(base)
    i, oid = entry_of(base, "blob")
    rewrite_idx(base, lambda b: b.__setitem__(typ + i, TYPE_CODES["commit"]))
    check_reported(d, name, oid.hex(), "type")


def test_index_lying_about_a_block_offset(packed):
    d, base, name = packed
    _count, nblocks, _blk, _typ, btab = layout(base)

    def edit(b):
        at = btab + 1 * _BLOCK.size
        off, clen, ulen = _BLOCK.unpack_from(b, at)
        _BLOCK.pack_into(b, at, off + 1, clen, ulen)
    rewrite_idx(base, edit)
    check_reported(d, name, "block 1")


def test_pack_header_disagreeing_with_its_index(packed):
    d, base, name = packed
    with open(base + ".pack", "r+b") as f:
        f.seek(8)
        n = struct.unpack(">I", f.read(4))[0]
        f.seek(8)
        f.write(struct.pack(">I", n + 1))
    p = invoke(d, "verify-pack")
    assert p.returncode == 1 and name in p.stderr and "blocks" in p.stderr
    assert_one_line_error(invoke(d, "log"), name)


def test_unsorted_prefixes_are_reported(packed):
    d, base, name = packed
    count, *_ = layout(base)
    pfx = FAN + 256 * 4

    def edit(b):     # swap two neighbours with the same first byte, if any; else any two
        ps = [bytes(b[pfx + k * PREFIX: pfx + (k + 1) * PREFIX]) for k in range(count)]
        k = next((k for k in range(count - 1) if ps[k][0] == ps[k + 1][0]), 0)
        b[pfx + k * PREFIX: pfx + (k + 2) * PREFIX] = ps[k + 1] + ps[k]
    rewrite_idx(base, edit)
    check_reported(d, name)
