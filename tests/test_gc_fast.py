"""gc's fast paths: blocks copied verbatim only when every object in them is kept, packs checked
by checksum before anything moves, and the walk's snapshot reader agreeing with object_links."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from conftest import assert_one_line_error, invoke

from trace_core import Repository
from trace_core.fsck import fsck
from trace_core.gc import expire_reflogs, gc, links_of, reachable, snapshot_links, walk
from trace_core.ids import hash_bytes
from trace_core.objects import Entry, Snapshot, object_links
from trace_core.storage.pack import Pack, list_packs, write_pack
from trace_core.storage.repack import cruft_marker, repack, seal_idle_journals

DAY = 86400


def reopen(repo):
    repo.close()
    return Repository.open(repo.trace_dir)


def main_pack(repo):
    """The one non-cruft pack."""
    d = repo.store.pack_dir
    [name] = [n for n in list_packs(d) if not os.path.exists(cruft_marker(d, n))]
    return Pack(d, name)


def frames_and_ids(pack):
    """({frame bytes}, {id}) of a pack."""
    frames, ids = set(), set()
    try:
        for b in range(pack.nblocks):
            frame = pack.read_frame(b, 1 << 30)
            frames.add(frame)
            ids.update(pack.parse_frame(b, frame))
    finally:
        pack.close()
    return frames, ids


def talk(repo, n, word="padding"):
    for i in range(n):
        repo.user(f"question {i} " + f"{word} " * 40)
        repo.assistant(f"answer {i} " + f"{word} " * 40)


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def test_a_second_gc_copies_the_packed_blocks_as_they_are(repo):
    talk(repo, 60)
    gc(repo)
    repo = reopen(repo)
    before, _ = frames_and_ids(main_pack(repo))
    talk(repo, 5, "more")
    seal_idle_journals(repo.store)
    messages = repo.messages()
    rep = gc(repo)
    assert rep.objects_pruned == 0 and rep.objects_cruft == 0
    repo = reopen(repo)
    after, ids = frames_and_ids(main_pack(repo))
    assert len(before) >= 3 and before <= after  # every old block copied byte for byte
    assert ids == reachable(repo) and repo.messages() == messages
    assert errors(fsck(repo)) == []
    name = main_pack(repo).name
    gc(repo)  # nothing new: the same blocks in the same order, so the same pack
    assert list_packs(repo.store.pack_dir) == [name]


def test_a_block_mixing_kept_and_unreachable_objects_is_split(repo):
    talk(repo, 250)  # several blocks of blobs
    keep_at = repo.head_commit()
    talk(repo, 4, "doomed")  # written after: they share blocks with kept objects once packed
    doomed = repo.head_commit()
    repo.reset(keep_at.hex(), "hard")
    repo.refs.remove_if_equals("ORIG_HEAD")
    assert expire_reflogs(repo, now=time.time() + 91 * DAY) > 0
    seal_idle_journals(repo.store)
    repo = reopen(repo)
    keep = reachable(repo)
    assert doomed not in keep
    [only] = list_packs(repo.store.pack_dir)
    old_frames, old_ids = frames_and_ids(Pack(repo.store.pack_dir, only))
    gone = old_ids - keep
    assert gone  # some blocks mix the two
    messages = repo.messages()
    rep = gc(repo, now=time.time() + 91 * DAY)
    assert rep.objects_cruft == len(gone) and rep.objects_kept == len(keep)
    repo = reopen(repo)
    frames, ids = frames_and_ids(main_pack(repo))
    assert ids == keep  # nothing unreachable rode along in a copied block, nothing kept lost
    assert frames & old_frames  # (blocks holding only kept objects were still copied)
    assert repo.messages() == messages and errors(fsck(repo)) == []
    assert repo.get_commit(doomed).id == doomed  # in the cruft pack, for its grace period


def test_an_object_in_two_packs_is_written_once(repo):
    talk(repo, 20)
    seal_idle_journals(repo.store)
    [first] = list_packs(repo.store.pack_dir)
    p = Pack(repo.store.pack_dir, first)
    recs = p.read_block(p.nblocks - 1, 1 << 30)  # a block of commits
    p.close()
    from trace_core.objects import TYPE_CODES, object_tag
    write_pack(repo.store.pack_dir,  # (reversed: not the same bytes, so another pack)
               [(oid, TYPE_CODES[object_tag(bytes(d))], bytes(d)) for oid, d in recs.items()][::-1])
    repo = reopen(repo)
    assert len(repo.store.packs()) == 2
    rep = gc(repo)
    repo = reopen(repo)
    pack = main_pack(repo)
    count = pack.count
    _frames, ids = frames_and_ids(pack)
    assert count == len(ids) == rep.objects_kept == len(reachable(repo))


@pytest.mark.parametrize("bad_first", [True, False])
def test_a_wrong_copy_of_a_duplicated_object_stops_gc(repo, bad_first):
    """Two packs hold one object, one of them written wrong under valid checksums: gc does not
    re-hash what it copies, so it must not keep the wrong copy and drop the right one (oldest
    first decides which is taken); it stops, naming the pack of the wrong copy."""
    from trace_core.objects import TYPE_CODES
    talk(repo, 5)
    seal_idle_journals(repo.store)
    oid = repo.get_snapshot(repo.get_commit(repo.head_commit()).snapshot).tail[-1].blob
    good = repo.store.get_bytes(oid)
    bad = good.replace(b"answer", b"ANSWER")
    assert bad != good
    wrong = write_pack(repo.store.pack_dir, [(oid, TYPE_CODES["blob"], bad)])
    d = repo.store.pack_dir
    wrong_idx = os.path.join(d, f"pack-{wrong}.idx")
    others = [n for n in list_packs(d) if n != wrong]
    t = os.stat(os.path.join(d, f"pack-{others[0]}.idx")).st_mtime
    os.utime(wrong_idx, (t - 10, t - 10) if bad_first else (t + 10, t + 10))
    assert_gc_refused(repo, f"pack-{wrong}.pack", "does not match its id")  # the right copy stays


def test_an_object_not_matching_its_id_under_valid_checksums_stops_gc(repo):
    """An unreachable object written wrong (its pack's checksums computed over the wrong bytes):
    gc would copy it into a cruft pack; it hashes what the walk did not read, and stops."""
    from trace_core.objects import TYPE_CODES
    talk(repo, 3)
    seal_idle_journals(repo.store)
    wrong = write_pack(repo.store.pack_dir, [(b"\x07" * 32, TYPE_CODES["blob"],
                                              b"\x92\xa4blob\x81\xa4role\xa4user")])
    assert_gc_refused(repo, f"pack-{wrong}.pack", "does not match its id")


def test_gc_keeps_the_dictionary_of_the_largest_pack(repo):
    talk(repo, 150)
    repack(repo.store, train=True)
    repo = reopen(repo)
    zdict = main_pack(repo).zdict()
    assert zdict  # enough messages to train one
    talk(repo, 3, "more")
    gc(repo)
    repo = reopen(repo)
    assert main_pack(repo).zdict() == zdict
    gc(repo, aggressive=True)  # --aggressive trains a new one, at level 19
    repo = reopen(repo)
    assert main_pack(repo).zdict() not in (None, zdict)
    assert errors(fsck(repo)) == []


def _one_pack_repo(repo):
    talk(repo, 200)  # block 0 holds only blobs
    seal_idle_journals(repo.store)
    repo = reopen(repo)
    [name] = list_packs(repo.store.pack_dir)
    return repo, name


def _state(repo):
    d = repo.store.pack_dir
    return ([f for f in sorted(os.listdir(d)) if not f.endswith(".lock")],
            sorted(os.listdir(repo.store.journal_dir)))


def assert_gc_refused(repo, *contains):
    """`trace gc` fails with one line holding each of `contains`, and moves or deletes nothing
    (closes `repo`)."""
    before = _state(repo)
    top = os.path.dirname(repo.trace_dir)
    repo.close()
    assert_one_line_error(invoke(top, "gc"), *contains)
    with Repository.open(top) as r:
        assert _state(r) == before


def test_a_damaged_block_stops_gc_naming_the_pack_file(repo):
    repo, name = _one_pack_repo(repo)
    p = Pack(repo.store.pack_dir, name)
    off, clen, _ = p.block_info(0)  # a block of blobs: the walk never reads it
    p.close()
    path = os.path.join(repo.store.pack_dir, f"pack-{name}.pack")
    with open(path, "r+b") as f:
        f.seek(off + clen // 2)
        b = f.read(1)
        f.seek(off + clen // 2)
        f.write(bytes([b[0] ^ 0x10]))
    assert_gc_refused(repo, f"pack-{name}.pack", "damaged", "fsck")


def test_a_damaged_block_under_a_recomputed_checksum_still_stops_gc(repo):
    """The pack's checksum was recomputed over the damage (and the index's over that): the
    block's own zstd checksum still refuses it."""
    repo, name = _one_pack_repo(repo)
    p = Pack(repo.store.pack_dir, name)
    off, clen, _ = p.block_info(0)
    p.close()
    base = os.path.join(repo.store.pack_dir, f"pack-{name}")
    data = bytearray(Path(base + ".pack").read_bytes())
    data[off + clen // 2] ^= 0x10
    from blake3 import blake3
    packsum = blake3(bytes(data[:-32])).digest()
    data[-32:] = packsum
    Path(base + ".pack").write_bytes(bytes(data))
    idx = bytearray(Path(base + ".idx").read_bytes())
    idx[-64:-32] = packsum
    idx[-32:] = hash_bytes(bytes(idx[:-32]))
    Path(base + ".idx").write_bytes(bytes(idx))
    assert_gc_refused(repo, f"pack-{name}.pack", "damaged")


def test_an_index_that_leaves_out_a_block_stops_gc(repo):
    """An index rewritten, checksum and all, to list one block fewer would hide that block's
    objects from a copy: the block table must tile the pack."""
    repo, name = _one_pack_repo(repo)
    base = os.path.join(repo.store.pack_dir, f"pack-{name}")
    p = Pack(repo.store.pack_dir, name)
    assert p.nblocks >= 2
    at, second = p._btab, p.block_info(1)
    p.close()
    from trace_core.storage.pack import _BLOCK
    idx = bytearray(Path(base + ".idx").read_bytes())
    _BLOCK.pack_into(idx, at, *second)  # block 0 said to be block 1: block 0's objects hidden
    idx[-32:] = hash_bytes(bytes(idx[:-32]))
    Path(base + ".idx").write_bytes(bytes(idx))
    assert_gc_refused(repo, f"pack-{name}.pack", "block 0")


# -- the walk's snapshot reader -----------------------------------------------------------------
def _snap_bytes(count, root, flags):
    return Snapshot(count, root, [Entry(hash_bytes(i.to_bytes(4, "big")), f)
                                  for i, f in enumerate(flags)]).to_bytes()


@pytest.mark.parametrize(("n", "root"), [(0, None), (1, None), (15, b"\x07" * 32), (16, None),
                                         (300, b"\x07" * 32), (70000, None)])
def test_snapshot_links_agree_with_object_links(n, root):
    data = _snap_bytes(n, root, [i % 2 for i in range(n)])
    fast = snapshot_links(data)
    assert fast is not None
    assert (fast[0], fast[1], fast[2]) == object_links(data)


@pytest.mark.parametrize("flag", [128, 255, 70000, 2**32 - 1])
def test_a_snapshot_of_another_shape_is_left_to_object_links(flag):
    data = _snap_bytes(3, None, [0, flag, 1])
    assert snapshot_links(data) is None
    assert len(object_links(data)[1]) == 3


def test_snapshot_links_names_only_entries_the_last_tail_lacks():
    a = _snap_bytes(3, None, [0, 1, 0])
    b = _snap_bytes(5, None, [0, 1, 0, 0, 0])
    blobs_b = object_links(b)[1]
    last = [b"\xff"]
    assert snapshot_links(b, last)[1] == blobs_b
    assert snapshot_links(a, last)[1] == []          # a prefix of what was named
    last = [b"\xff"]
    assert snapshot_links(a, last)[1] == blobs_b[:3]
    assert snapshot_links(b, last)[1] == blobs_b[3:]  # only the new ones
    other = _snap_bytes(2, b"\x01" * 32, [1, 1])
    assert snapshot_links(other, last)[1] == object_links(other)[1]


def test_walk_reaches_what_a_decoding_walk_reaches(repo):
    talk(repo, 25)
    repo.edit(1, {"role": "user", "content": "edited"})
    repo.pin(0)
    repo.drop(2)
    repo.refs.set_if_equals("refs/heads/side", None, repo.resolve("HEAD~3").hex())
    talk(repo, 3, "tail")
    for _ in range(2):
        seal_idle_journals(repo.store)
        talk(repo, 2, "x")
    # commits made by hand (plumbing, imports) name no blobs: their messages are reached through
    # their snapshots alone. The walk reads the tails in the order 3, 2, 1, 0: a longer one that
    # does not extend the one before, a shorter one that is not its prefix, then a true prefix
    # (snapshot_links' `last` must tell these apart; each case names a message nothing else does)
    from trace_core import plumbing
    only = [bytes.fromhex(plumbing.hash_object(repo, {"role": "user", "content": f"only {w}"},
                                               write=True)) for w in "abcdefg"]
    tails = [[6, 1, 2], [6, 1, 2, 3], [4], [0, 1, 5]]
    tips = []
    for k, tail in enumerate(tails):
        snap = plumbing.write_snapshot(repo, [Entry(only[i], 0) for i in tail])
        parents = [tips[-1]] if k in (1, 3) else []
        tips.append(plumbing.commit_tree(repo, snap.id, parents, message=f"by hand {k}").id)
    assert not any(set(repo.get_commit(t).blobs) & set(only) for t in tips)
    roots = [repo.head_commit(), repo.resolve("side"), tips[1], tips[3]]
    repo.store.forget_decoded()     # (links from the bytes, as gc in a new process reads them)
    fast = walk(repo.store, roots)
    assert set(only) <= fast
    seen, stack = set(), list(roots)
    while stack:  # the reference: every object decoded by object_links
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        try:
            follow, named, _meta = object_links(repo.store.get_bytes(oid))
        except Exception:
            continue
        stack.extend(follow)
        seen.update(named)
    assert fast == seen
    assert links_of(repo.store, repo.head_commit())[0]
