"""fsck findings on damaged repositories, and gc/prune: what they keep, retire, and when."""

from __future__ import annotations

import os
import random
import subprocess
import sys
import time
from pathlib import Path

import pytest

from trace_core import Repository, chunked
from trace_core.errors import InputError, MissingObject, TraceError
from trace_core.fsck import TreeChecker, fsck, node_info
from trace_core.gc import expire_reflogs, gc, prune, reachable
from trace_core.ids import hash_bytes
from trace_core.objects import TYPE_CODES, Blob, Commit, Entry, Node, Snapshot, object_tag
from trace_core.storage import journal as jn
from trace_core.storage.pack import OBJECTS, Pack, list_packs
from trace_core.storage.repack import (
    RepackLock,
    cruft_marker,
    repack_packs,
    replace_packs,
    seal_idle_journals,
)

DAY = 86400


def reopen(repo):
    repo.close()
    return Repository.open(repo.trace_dir)


def errors(findings):
    return [f for f in findings if f.severity == "error"]


def ids_of(findings):
    return {(f.id, f.object) for f in findings}


def flip(path, offset, bit=0x10):
    with open(path, "r+b") as f:
        f.seek(offset)
        b = f.read(1)
        f.seek(offset)
        f.write(bytes([b[0] ^ bit]))


def history(repo, n=12):
    repo.system("You are terse.")
    for i in range(n):
        repo.user(f"question {i} " + "padding " * (i % 7))
        repo.assistant(f"answer {i}")
    repo.edit(1, {"role": "user", "content": "edited"})
    repo.pin(0)
    repo.drop(2)


def all_commits(repo):
    out, stack, seen = [], [repo.head_commit()], set()
    while stack:
        c = stack.pop()
        if c is None or c in seen:
            continue
        seen.add(c)
        out.append(c)
        stack.extend(repo.get_commit(c).parents)
    return out


# -- fsck -----------------------------------------------------------------------------------------
def test_clean_repository_has_no_findings(repo):
    history(repo)
    repo.agent("helper", create=True).user("sub-agent context")
    assert fsck(repo) == []
    seal_idle_journals(repo.store)
    repo.user("after sealing")
    assert fsck(repo) == []


def test_bit_flip_in_a_journal_record_names_the_object(repo):
    for i in range(6):
        repo.user(f"message {i}")
    repo = reopen(repo)
    [path] = jn.iter_journals(repo.store.journal_dir)
    data = Path(path).read_bytes()
    recs = jn.scan(data).records
    oid, _t, off, clen, _u = recs[2]
    flip(path, off + clen // 2)
    found = fsck(repo)
    bad = [f for f in errors(found) if f.object == oid.hex()]
    assert bad and bad[0].id in ("badObjectHash", "malformedObject")
    with pytest.raises(TraceError):
        gc(repo)  # a commit reachable from refs is unreadable: gc moves nothing
    # sealing must skip the damaged journal (it would drop the good records after the bad one)
    seal_idle_journals(repo.store)
    assert os.path.exists(path)
    assert repo.get(recs[-1][0]).id == recs[-1][0]


def test_truncated_journal_is_a_torn_tail_warning(repo):
    repo.write([Blob({"role": "user", "content": f"m{i}"}) for i in range(4)])
    repo = reopen(repo)
    [path] = jn.iter_journals(repo.store.journal_dir)
    os.truncate(path, os.path.getsize(path) - 7)
    found = fsck(repo)
    assert [(f.id, f.severity) for f in found] == [("tornJournalTail", "warning")]


def test_bit_flips_in_a_pack_and_its_index_are_detected(repo):
    history(repo)
    gc(repo)
    repo = reopen(repo)
    [name] = list_packs(repo.store.pack_dir)
    pack = Pack(repo.store.pack_dir, name)
    off, clen, _ = pack.block_info(0)
    pack.close()
    base = os.path.join(repo.store.pack_dir, f"pack-{name}")
    flip(base + ".idx", 300)
    flip(base + ".pack", off + clen // 2)
    got = {f.id for f in errors(fsck(repo))}
    assert {"badPackChecksum", "badIdxChecksum"} <= got
    assert got & {"badPackBlock", "badObjectHash"}
    with pytest.raises(TraceError):
        gc(repo)  # refuses to copy damaged objects...
    assert list_packs(repo.store.pack_dir) == [name]  # ...and deletes nothing


def test_missing_blob_parent_and_bad_ref_target(repo):
    history(repo, 3)
    gone = repo.get_commit(repo.resolve("HEAD~2")).blobs[0]
    root = all_commits(repo)[-1]
    a_blob = repo.get_commit(repo.resolve("HEAD~4")).blobs[0]
    seal_idle_journals(repo.store)
    store = repo.store
    old = [p.name for p in store.packs()]
    kept = [(o, TYPE_CODES[object_tag(bytes(d))], bytes(d)) for p in store.packs()
            for b in range(p.nblocks) for o, d in p.read_block(b, 1 << 26).items()
            if o not in (gone, root)]
    lock = RepackLock(store.pack_dir, wait=True)    # a pack without the blob and the root
    try:
        replace_packs(store, [(OBJECTS, kept)], zdict=None, level=None, replace=old)
    finally:
        lock.release()
    repo = reopen(repo)
    repo.refs.set_if_equals("refs/heads/nowhere", None, "ab" * 32)
    repo.refs.set_if_equals("refs/tags/blob", None, a_blob.hex())
    got = ids_of(errors(fsck(repo)))
    assert ("missingBlob", gone.hex()) in got
    assert ("missingParent", root.hex()) in got
    assert ("badRefTarget", "refs/heads/nowhere") in got
    assert ("badRefTarget", "refs/tags/blob") in got


def test_ref_file_problems_are_reported(repo):
    repo.user("a")
    sub = repo.agent("w", create=True)
    sub.user("b")
    with open(os.path.join(sub.refs_root, "refs", "heads", "main"), "ab") as f:
        f.write(b"0123abc")  # the beginning of a record: what a killed writer leaves
    found = fsck(repo)
    assert [(f.id, f.severity, f.object) for f in found] == [
        ("tornRefTail", "warning", "agents/w/refs/heads/main")]


def test_non_canonical_tree_is_reported(repo):
    blobs = [Blob({"role": "user", "content": f"x{i}"}) for i in range(3)]
    leaf = Node(0, [Entry(b.id) for b in blobs])  # 3 entries: never a complete chunk
    snap = Snapshot(3, leaf.id, ())
    commit = Commit(parents=[], snapshot=snap.id, op="import")
    repo.write([*blobs, leaf, snap, commit])
    repo.refs.set_if_equals("refs/heads/odd", None, commit.hex)
    assert [(f.id, f.object) for f in fsck(repo)] == [("nonCanonicalTree", snap.hex)]


def _random_tree(entries, rng, p_leaf, p_inner):
    """chunked.build with each cut decision flipped with a small probability."""
    nodes = []
    refs, cur = [], []
    for e in entries:
        cur.append(e)
        if chunked.leaf_done(cur) != (rng.random() < p_leaf):
            node = Node(0, cur)
            nodes.append(node)
            refs.append((node.id, node.count()))
            cur = []
    level = 1
    while len(refs) > 1:
        out, chunk = [], []
        for r in refs:
            chunk.append(r)
            if chunked.inner_done(chunk) != (rng.random() < p_inner):
                out.append(Node(level, chunk))
                chunk = []
        if chunk:
            out.append(Node(level, chunk))
        nodes.extend(out)
        refs, level = [(n.id, n.count()) for n in out], level + 1
    return Snapshot(len(entries), refs[0][0] if refs else None, cur), nodes


SMALL = dict(MIN_LEAF=2, MAX_LEAF=6, LEAF_MASK=0x3, INNER_MIN=2, INNER_MAX=4, INNER_MASK=0x3)


@pytest.mark.parametrize("small", [False, True])
def test_local_tree_check_agrees_with_a_rebuild(small, monkeypatch):
    if small:  # tiny chunks: deep trees, every shape of mistake within a few hundred entries
        for k, v in SMALL.items():
            monkeypatch.setattr(chunked, k, v)
    rng = random.Random(7)
    verdicts = []
    for case in range(300):
        n = rng.choice([0, 3, 40, 300] + ([] if small else [2500, 5000]))
        entries = [Entry(rng.randbytes(32)) for _ in range(rng.randint(0, n))]
        canon = chunked.build(entries, lambda node: None)
        snap, nodes = _random_tree(entries, rng, rng.choice([0, 0.02, 0.1]),
                                   rng.choice([0, 0.1, 0.3]))
        if snap.root is not None and rng.random() < 0.1:  # a root with a single child
            top = Node(nodes[-1].level + 1, [(snap.root, snap.count - len(snap.tail))])
            nodes.append(top)
            snap = Snapshot(snap.count, top.id, snap.tail)
        leaves = [nd for nd in nodes if nd.level == 0]
        if 2 <= len(leaves) <= chunked.INNER_MAX and rng.random() < 0.3:  # leaves under one root
            top = Node(1, [(nd.id, nd.count()) for nd in leaves])
            nodes.append(top)
            snap = Snapshot(snap.count, top.id, snap.tail)
        if nodes and nodes[0].level == 0 and snap.root == nodes[0].id and rng.random() < 0.3:
            snap = Snapshot(snap.count, None, [*nodes[0].items, *snap.tail])  # leaf into the tail
        checker = TreeChecker({nd.id: node_info(nd) for nd in nodes})
        ok = checker.snapshot(snap.count, snap.root, tuple(e.blob for e in snap.tail)) is None
        assert ok == (snap.id == canon.id), case
        verdicts.append(ok)
    assert 0.2 < sum(verdicts) / len(verdicts) < 0.8


def test_tree_check_catches_bad_counts_and_levels():
    def leaf(tag):  # a complete 4-entry chunk: only the last blob id ends in a cut byte
        ids = [bytes([tag, i]) + bytes(29) + bytes([0 if i == 3 else 1]) for i in range(4)]
        return Node(0, [Entry(b) for b in ids])

    a, b = leaf(1), leaf(2)
    entries = [*a.items, *b.items]
    canon = chunked.build(entries, lambda node: None)
    for root, count, ok in [(Node(1, [(a.id, 4), (b.id, 4)]), 8, True),
                            (Node(1, [(a.id, 5), (b.id, 4)]), 9, False),
                            (Node(2, [(a.id, 4), (b.id, 4)]), 8, False)]:
        checker = TreeChecker({n.id: node_info(n) for n in (a, b, root)})
        assert (checker.snapshot(count, root.id, ()) is None) == ok
        assert ok == (Snapshot(count, root.id, ()).id == canon.id)


# -- gc -------------------------------------------------------------------------------------------
def test_gc_keeps_everything_reachable_in_one_pack(repo):
    history(repo, 40)
    repo.refs.set_if_equals("refs/heads/side", None, repo.resolve("HEAD~5").hex())
    sub = repo.agent("helper", create=True)
    sub.user("child context")
    for i in range(3):
        repo.write([Blob({"role": "user", "content": f"loose {i}"})])
        seal_idle_journals(repo.store)
    commits = all_commits(repo) + [sub.head_commit()]
    before = {c: (repo.messages(c.hex()) if c != commits[-1] else sub.messages()) for c in commits}
    raw_before = {c: repo.store.get_bytes(c) for c in commits}
    rep = gc(repo)
    assert set(rep.__dict__) >= {"packs_before", "packs_after", "objects_kept", "objects_pruned",
                                 "bytes_before", "bytes_after", "reflog_entries_expired", "seconds"}
    assert rep.packs_before == 3 and rep.objects_cruft == 3 and rep.objects_pruned == 0
    repo = reopen(repo)
    names = list_packs(repo.store.pack_dir)
    assert len(names) == 2 and len([n for n in names if os.path.exists(cruft_marker(
        repo.store.pack_dir, n))]) == 1
    assert os.listdir(repo.store.journal_dir) == []
    sub = repo.agent("helper", create=True)
    for c in commits:
        assert repo.store.get_bytes(c) == raw_before[c]
        assert (repo.messages(c.hex()) if c != commits[-1] else sub.messages()) == before[c]
    assert errors(fsck(repo)) == []
    assert reachable(repo) >= set(commits)


def test_unreachable_commit_survives_the_grace_period_then_is_pruned(repo):
    c1 = repo.user("a")
    c2 = repo.user("b")
    c3 = repo.assistant("c")
    repo.reset(c1.hex, "hard")
    t = time.time()
    gc(repo, now=t)
    assert repo.get_commit(c3.id) == c3  # reflog and ORIG_HEAD still reach it
    repo.refs.remove_if_equals("ORIG_HEAD")
    assert expire_reflogs(repo, now=t + 91 * DAY) == 3
    assert c3.id not in reachable(repo)
    assert [(f.id, f.severity, f.object) for f in fsck(repo)] == \
        [("danglingCommit", "info", c3.hex)]
    later = t + 91 * DAY
    rep = gc(repo, now=later)
    assert rep.objects_cruft == 6 and rep.objects_pruned == 0
    repo = reopen(repo)
    assert repo.get_commit(c3.id) == c3 and repo.get_commit(c2.id) == c2
    assert gc(repo, now=later + 13 * DAY).objects_pruned == 0  # keeps the older time
    assert repo.get_commit(c3.id) == c3
    assert prune(repo, 0, now=later + DAY) == 6
    repo = reopen(repo)
    with pytest.raises(MissingObject):
        repo.get(c3.id)
    assert repo.messages() == [{"role": "user", "content": "a"}]
    assert errors(fsck(repo)) == []


def test_expired_cruft_is_dropped_but_what_became_reachable_again_is_kept(repo):
    c1 = repo.user("a")
    c2 = repo.user("b")
    c3 = repo.user("c")
    repo.reset(c1.hex, "hard")
    repo.refs.remove_if_equals("ORIG_HEAD")
    t = time.time() + 100 * DAY
    expire_reflogs(repo, now=t)
    gc(repo, now=t)
    repo.refs.set_if_equals("refs/heads/back", None, c2.hex)  # resurrected within the grace period
    rep = gc(repo, now=t + 15 * DAY)
    assert rep.objects_pruned == 3  # c3, its snapshot, its blob
    assert rep.packs_after == 1
    repo = reopen(repo)
    assert repo.messages("back") == [{"role": "user", "content": "a"},
                                     {"role": "user", "content": "b"}]
    with pytest.raises(MissingObject):
        repo.get(c3.id)


def test_prune_now_drops_unreachable_objects_at_once(repo):
    repo.user("kept")
    repo.write([Blob({"role": "user", "content": "garbage"})])
    with pytest.raises(InputError):
        prune(repo, -1)
    assert prune(repo, 0) == 1
    assert prune(repo, 0) == 0 and len(list_packs(repo.store.pack_dir)) == 1
    assert reopen(repo).messages() == [{"role": "user", "content": "kept"}]


def test_reflog_expiry_follows_config(repo):
    for i in range(4):
        repo.user(f"m{i}")
    repo.set_config("gc.reflog-expire", "never")
    repo.set_config("gc.reflog-expire-unreachable", "never")
    assert expire_reflogs(repo, now=time.time() + 1000 * DAY) == 0
    repo.set_config("gc.reflog-expire", "10d")
    assert expire_reflogs(repo, now=time.time() + 5 * DAY) == 0
    assert expire_reflogs(repo, now=time.time() + 11 * DAY) == 3
    assert len(repo.refs.reflog("refs/heads/main")) == 1


def test_plain_repack_leaves_cruft_packs_alone(repo):
    repo.user("a")
    repo.write([Blob({"role": "user", "content": "garbage"})])
    gc(repo)
    repo.user("b")
    seal_idle_journals(repo.store)
    cruft = [n for n in list_packs(repo.store.pack_dir)
             if os.path.exists(cruft_marker(repo.store.pack_dir, n))]
    assert len(cruft) == 1
    repack_packs(repo.store)
    assert len(list_packs(repo.store.pack_dir)) == 2 and cruft[0] in list_packs(repo.store.pack_dir)


WRITER = r"""
import sys
from trace_core import Repository
repo = Repository.open(sys.argv[1])
for i in range(int(sys.argv[2])):
    repo.user(f"message {i} " + "x" * (i % 50))
    if i % 40 == 39:
        repo.reset("HEAD~1", "hard")
        repo.user(f"message {i} again")
    if i == 60:
        open(sys.argv[3], "w").close()
repo.close()
"""


def test_gc_while_another_process_commits_loses_nothing(repo, tmp_path):
    repo.set_config("pack.journal-max-records", "25")
    repo.set_config("pack.auto-pack-limit", "3")
    repo.user("first")
    n = 500
    flag = str(tmp_path / "started")
    env = dict(os.environ, PYTHONPATH=os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    proc = subprocess.Popen([sys.executable, "-c", WRITER, repo.trace_dir, str(n), flag], env=env)
    try:
        while not os.path.exists(flag) and proc.poll() is None:
            time.sleep(0.01)
        during = 0
        while proc.poll() is None:
            gc(repo)
            during += 1
    finally:
        assert proc.wait(timeout=60) == 0
    assert during >= 1, during
    gc(repo)
    repo = reopen(repo)
    expected = ["first"] + [f"message {i} again" if i % 40 == 39
                            else f"message {i} " + "x" * (i % 50) for i in range(n)]
    assert [m["content"] for m in repo.messages()] == expected
    assert errors(fsck(repo)) == []
    assert hash_bytes(repo.store.get_bytes(repo.head_commit())) == repo.head_commit()


def test_never_and_its_synonyms_expire_nothing(repo):
    from trace_core.config import NEVER
    for i in range(3):
        repo.user(f"m{i}")
    repo.write([Blob({"role": "user", "content": "garbage"})])
    for word in ("off", "false"):                          # config validation and gc agree
        repo.set_config("gc.reflog-expire", word)
        repo.set_config("gc.reflog-expire-unreachable", "never")
        assert expire_reflogs(repo, now=time.time() + 1000 * DAY) == 0
    assert prune(repo, NEVER, now=time.time() + 1000 * DAY) == 0
    repo.set_config("gc.prune-expire", "never")
    assert gc(repo, now=time.time() + 1000 * DAY).objects_pruned == 0
    assert prune(repo, 0, now=time.time() + 1001 * DAY) == 1       # it was there to prune


def test_gc_removes_a_killed_writers_unfinished_pack_once_it_is_stale(repo):
    history(repo, 3)
    pack_dir = os.path.join(repo.trace_dir, "objects", "pack")
    os.makedirs(pack_dir, exist_ok=True)
    stale, fresh = (os.path.join(pack_dir, f"tmp-{n}-abcd.pack") for n in (1, 2))
    for p in (stale, fresh):
        with open(p, "wb") as f:
            f.write(b"TRPACK\0\1 half written")
    os.utime(stale, (time.time() - 7200, time.time() - 7200))
    gc(repo)
    assert not os.path.exists(stale)
    assert os.path.exists(fresh)      # might be a live writer's: left alone
