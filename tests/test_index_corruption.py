"""A damaged `index.sqlite` never shows wrong data: every row carries a checksum that reads
verify (a damaged row is recomputed from the objects, with a warning), fsck compares every row
with the objects it was derived from and says to run `trace reindex`, which fixes it."""

from __future__ import annotations

import os
import sqlite3

import msgpack
import pytest
from conftest import invoke

from trace_core import Repository, plumbing
from trace_core.fsck import fsck
from trace_core.index.sqlite_index import SCHEMA_VERSION, commit_sum, row_sum


@pytest.fixture
def hist(tmp_path):
    """40 commits by author 'trace', packed, indexed; (directory, expected log outputs)."""
    d = str(tmp_path / "r")
    with Repository.init(d, encoding="chars/4", author="trace") as repo:
        for i in range(40):
            repo.user(f"content {i}", commit_message=f"packed message {i}")
    invoke(d, "gc", check=True)
    want = {args: invoke(d, *args, check=True).stdout
            for args in (("log", "--oneline"), ("log",), ("log", "--json"), ("rev-list", "HEAD"),
                         ("merge-base", "HEAD", "HEAD~7"))}
    return d, want


def db_path(d):
    return os.path.join(d, ".trace", "index.sqlite")


def flip_text(d, old: bytes, new: bytes):
    """Replace one occurrence of `old` in the index file's bytes (a bit flip in table data)."""
    path = db_path(d)
    with open(path, "rb") as f:
        data = f.read()
    assert not os.path.exists(path + "-wal") or os.path.getsize(path + "-wal") == 0
    assert data.count(old) >= 1, old
    with open(path, "r+b") as f:
        f.seek(data.index(old))
        f.write(new)


def sql(d, stmt, args=()):
    c = sqlite3.connect(db_path(d))
    with c:
        c.execute(stmt, args)
    c.close()


def head_id(d):
    return invoke(d, "rev-parse", "HEAD", check=True).stdout.strip()


def index_errors(d):
    with Repository.open(d) as repo:
        return [(f.id, f.object, f.message) for f in fsck(repo) if f.severity == "error"]


def assert_reads_are_right(d, want):
    for args, out in want.items():
        p = invoke(d, *args)
        assert p.returncode == 0 and p.stdout == out, (args, p.stdout, p.stderr)


def test_flipped_summary_byte_is_never_shown(hist):
    d, want = hist
    flip_text(d, b"packed message 29", b"packed mess`ge 29")
    found = index_errors(d)
    assert [f[0] for f in found] == ["badIndexRow"] and "trace reindex" in found[0][2]
    fp = invoke(d, "fsck")
    assert fp.returncode == 1 and "badIndexRow" in fp.stdout and "trace reindex" in fp.stdout
    p = invoke(d, "log", "--oneline")
    assert p.returncode == 0 and p.stdout == want[("log", "--oneline")]
    assert "mess`ge" not in p.stdout and "failed its checksum" in p.stderr
    assert index_errors(d) == []          # the read replaced the damaged row
    assert_reads_are_right(d, want)


def test_flipped_author_byte_is_never_shown_and_reindex_fixes_it(hist):
    d, want = hist
    flip_text(d, b"trace", b"|race")
    assert [f[0] for f in index_errors(d)] == ["badIndexRow"]
    assert invoke(d, "reindex", check=True).stdout == "indexed 40 commits\n"
    assert index_errors(d) == []
    assert_reads_are_right(d, want)


def damage_rec(rec: bytes, how: str, other: bytes) -> bytes:
    if how.startswith("flip"):          # one bit of byte k of the record
        k = int(how[4:]) % len(rec)
        return rec[:k] + bytes([rec[k] ^ 0x04]) + rec[k + 1:]
    return {"truncate": rec[:-3], "extend": rec + b"\0", "other": other, "empty": b""}[how]


@pytest.mark.parametrize("how", ["flip3", "flip40", "flip77", "flip-5", "flip-1", "truncate",
                                 "extend", "other", "empty", "parents", "sum", "key",
                                 "text-rec", "text-parents"])
def test_any_damaged_row_is_recomputed_from_the_objects(hist, how):
    d, want = hist
    c = sqlite3.connect(db_path(d))
    rows = c.execute("SELECT id, rec FROM commits ORDER BY id").fetchall()
    head = bytes.fromhex(head_id(d))
    victims = [head] + [k for k, _ in rows if k != head][:9]
    recs = dict(rows)
    named = {k.hex() for k in victims}      # the ids fsck names
    with c:
        for n, key in enumerate(victims):
            if how == "parents":        # the column the chain query follows
                c.execute("UPDATE commits SET parents=? WHERE id=?", (bytes([n]) * 32, key))
            elif how.startswith("text"):    # a flipped serial type: the column reads as text
                col = how[5:]
                c.execute(f"UPDATE commits SET {col}=? WHERE id=?", ("x" * 40, key))
            elif how == "key":              # the row moves under another id (one bit)
                other_key = bytes([key[0] ^ 1]) + key[1:]
                c.execute("UPDATE commits SET id=? WHERE id=?", (other_key, key))
                named = named - {key.hex()} | {other_key.hex()}
            elif how == "sum":
                c.execute("UPDATE commits SET sum=sum+1 WHERE id=?", (key,))
            else:
                other = recs[victims[(n + 1) % len(victims)]]
                c.execute("UPDATE commits SET rec=? WHERE id=?",
                          (damage_rec(recs[key], how, other), key))
    c.close()
    found = index_errors(d)
    assert {f[0] for f in found} == {"badIndexRow"} and {f[1] for f in found} == named
    assert_reads_are_right(d, want)           # never wrong, never "object not found"
    if how == "key":    # rows under ids no read asks for stay until reindex
        assert {f[1] for f in index_errors(d)} == named
        invoke(d, "reindex", check=True)
    assert index_errors(d) == []


def test_a_consistent_lie_is_caught_by_fsck(hist):
    """A row rewritten with a matching checksum (not a bit flip): fsck compares with the commit."""
    d, _want = hist
    c = sqlite3.connect(db_path(d))
    key = bytes.fromhex(head_id(d))
    rec, parents = c.execute("SELECT rec, parents FROM commits WHERE id=?", (key,)).fetchone()
    lie = msgpack.packb((*msgpack.unpackb(rec, use_list=False)[:7], "forged"))
    with c:
        c.execute("UPDATE commits SET rec=?, sum=? WHERE id=?",
                  (lie, commit_sum(key, parents, lie), key))
    c.close()
    [(fid, obj, msg)] = index_errors(d)
    assert (fid, obj) == ("badIndexRow", head_id(d)) and "summary" in msg and "reindex" in msg
    invoke(d, "reindex", check=True)
    assert index_errors(d) == []


def test_damaged_token_cache_is_recounted(hist):
    d, _ = hist
    with Repository.open(d) as repo:
        blob = repo.get_commit(repo.head_commit()).blobs[0]
        n = repo.blob_tokens(blob)
        repo.flush_token_cache()
    sql(d, "UPDATE tokens SET n=n+1000 WHERE blob=?", (blob,))
    with Repository.open(d) as repo:
        found = [f for f in fsck(repo) if f.severity == "error"]
        assert [(f.id, f.object) for f in found] == [("badIndexTokens", blob.hex())]
        assert repo.blob_tokens(blob) == n           # not the damaged count
        assert any("token count" in w for w in repo.warnings)
    # a consistent lie (checksum recomputed) is found by fsck's recount
    sql(d, "UPDATE tokens SET n=?, sum=? WHERE blob=?",
        (n + 7, row_sum((blob, "chars/4", n + 7)), blob))
    with Repository.open(d) as repo:
        [f] = [f for f in fsck(repo) if f.severity == "error"]
        assert f.id == "badIndexTokens" and "recount" in f.message


def test_a_token_row_under_another_encoding_number_is_not_believed(hist):
    """Token rows name their encoding by number; the checksum covers the name, so a row whose
    number (or whose encoding's name) changed is recounted, never read as another encoding's."""
    d, _ = hist
    with Repository.open(d) as repo:
        blob = repo.get_commit(repo.head_commit()).blobs[0]
        n = repo.blob_tokens(blob)
        repo.flush_token_cache()
        repo.index.put_tokens([(blob, "other", n + 50)])
    c = sqlite3.connect(db_path(d))
    enc = dict(c.execute("SELECT name, id FROM encodings"))
    with c:     # the two rows of this blob swap encoding numbers
        c.execute("UPDATE tokens SET enc=-1 WHERE enc=? AND blob=?", (enc["chars/4"], blob))
        c.execute("UPDATE tokens SET enc=? WHERE enc=? AND blob=?", (enc["chars/4"],
                  enc["other"], blob))
        c.execute("UPDATE tokens SET enc=? WHERE enc=-1 AND blob=?", (enc["other"], blob))
    c.close()
    with Repository.open(d) as repo:
        assert {(f.id, f.object) for f in fsck(repo) if f.severity == "error"} == \
            {("badIndexTokens", blob.hex())}
        assert repo.blob_tokens(blob) == n and repo.index.get_tokens(blob, "other") is None
        assert any("token count" in w for w in repo.warnings)
        repo.flush_token_cache()
    sql(d, "UPDATE encodings SET name='chars/5' WHERE name='chars/4'")    # a damaged name
    with Repository.open(d) as repo:
        assert repo.index.get_tokens(blob, "chars/4") is None
        assert repo.blob_tokens(blob) == n
        found = [f for f in fsck(repo) if f.severity == "error"]   # every row under that name
        assert {f.id for f in found} == {"badIndexTokens"} and blob.hex() in \
            {f.object for f in found}
    invoke(d, "reindex", check=True)
    assert index_errors(d) == []


def test_garbage_index_file_is_reported_then_rebuilt(hist):
    d, want = hist
    with open(db_path(d), "wb") as f:
        f.write(b"this is not a database" * 200)
    [(fid, obj, msg)] = index_errors(d)
    assert (fid, obj) == ("badIndexFile", "index.sqlite") and "trace reindex" in msg
    assert_reads_are_right(d, want)
    assert index_errors(d) == []


def test_an_older_schema_is_rebuilt_not_trusted(hist):
    d, want = hist
    sql(d, "UPDATE commits SET sum=sum+1")
    sql(d, "UPDATE meta SET value='1' WHERE key='schema'")
    assert index_errors(d) == []          # not damage: rebuilt when next opened
    assert_reads_are_right(d, want)
    c = sqlite3.connect(db_path(d))
    assert c.execute("SELECT value FROM meta WHERE key='schema'").fetchone()[0] == SCHEMA_VERSION
    c.close()


def test_reindex_python_api(hist):
    d, want = hist
    sql(d, "UPDATE commits SET sum=sum+1")
    with Repository.open(d) as repo:
        assert plumbing.reindex(repo) == 40
    assert index_errors(d) == []
    assert_reads_are_right(d, want)
