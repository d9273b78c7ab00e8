"""Fuzzing the bytes of a real repository's pack, pack index and index.sqlite: every read
(`log`, `context`, `cat-object`, `verify-pack`) either prints exactly what the sound repository
prints or fails with declared one-line errors, never silently wrong data; and whenever a read
fails, fsck reports an error. Bounded and derandomized: the same examples on every run."""

from __future__ import annotations

import os
import shutil
import sqlite3
import tempfile

import pytest
from conftest import invoke
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_core import Repository
from trace_core.fsck import fsck

READS = (("log", "--oneline"), ("log",), ("context", "--format", "json"),
         ("cat-object", "-p", "HEAD"), ("cat-object", "-p", "HEAD~3"), ("verify-pack",))


@pytest.fixture(scope="module")
def pristine(tmp_path_factory):
    """A small repository, packed and fully indexed: (directory, {read: stdout}, extra reads)."""
    d = str(tmp_path_factory.mktemp("fuzz") / "r")
    with Repository.init(d, encoding="chars/4", author="trace") as repo:
        repo.system("You are terse.")
        for i in range(10):
            repo.user(f"question {i} " + "words " * (i % 4))
            repo.assistant(f"answer {i}", commit_message=f"packed message {i}")
    invoke(d, "gc", check=True)
    with Repository.open(d) as repo:
        blob = repo.get_commit(repo.head_commit()).blobs[0].hex()
    reads = (*READS, ("cat-object", "-p", blob))
    want = {args: invoke(d, *args, check=True).stdout for args in reads}
    trace = os.path.join(d, ".trace")
    assert not os.listdir(os.path.join(trace, "objects", "journal"))
    for suffix in ("-wal", "-shm"):      # everything is in index.sqlite itself
        assert not os.path.exists(os.path.join(trace, "index.sqlite" + suffix)) or \
            os.path.getsize(os.path.join(trace, "index.sqlite" + suffix)) in (0, 32768)
    with Repository.open(d) as repo:
        assert fsck(repo) == []
    return d, want


def target(d, kind):
    trace = os.path.join(d, ".trace")
    if kind == "index":
        return os.path.join(trace, "index.sqlite")
    pack_dir = os.path.join(trace, "objects", "pack")
    [idx] = [f for f in os.listdir(pack_dir) if f.endswith(".idx")]
    return os.path.join(pack_dir, idx if kind == "idx" else idx[:-4] + ".pack")


def record_spans(path):
    """(offset, length) of every commit record stored in index.sqlite, so that flips land in
    row payloads rather than only in the file's free space."""
    c = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        recs = [r for (r,) in c.execute("SELECT rec FROM commits")]
    finally:
        c.close()
    with open(path, "rb") as f:
        data = f.read()
    return [(data.find(r), len(r)) for r in recs if data.find(r) >= 0]


def mutate(path, op, spans):
    with open(path, "rb") as f:
        data = bytearray(f.read())
    kind = op[0]
    if kind == "flip":                      # a bit anywhere
        at = op[1] % len(data)
        data[at] ^= 1 << op[2]
    elif kind == "rowflip":                 # a bit inside a row's payload (index.sqlite)
        off, n = spans[op[1] % len(spans)]
        data[off + op[2] % n] ^= 1 << op[3]
    elif kind == "truncate":
        del data[op[1] % len(data):]
    elif kind == "insert":
        at = op[1] % len(data)
        data[at:at] = op[2]
    else:                                   # extend
        data += op[1]
    with open(path, "wb") as f:
        f.write(bytes(data))


MUTATIONS = st.one_of(
    st.tuples(st.just("flip"), st.integers(0, 2**31), st.integers(0, 7)),
    st.tuples(st.just("rowflip"), st.integers(0, 2**31), st.integers(0, 2**31),
              st.integers(0, 7)),
    st.tuples(st.just("truncate"), st.integers(0, 2**31)),
    st.tuples(st.just("insert"), st.integers(0, 2**31), st.binary(min_size=1, max_size=8)),
    st.tuples(st.just("extend"), st.binary(min_size=1, max_size=64)),
)


def check_read(args, p, want):
    """Right output, or a failure whose stderr is warnings and declared `error:` lines only."""
    assert "Traceback" not in p.stderr, (args, p.stderr)
    lines = p.stderr.splitlines()
    assert all(x.startswith(("warning: ", "error: ")) for x in lines), (args, p.stderr)
    if p.returncode == 0:
        assert p.stdout == want, (args, p.stdout, want)        # never silently wrong
        assert not any(x.startswith("error: ") for x in lines), (args, p.stderr)
        return True
    assert p.returncode == 1, (args, p.returncode, p.stderr)
    errors = [x for x in lines if x.startswith("error: ")]
    assert errors, (args, p.stderr)
    if args[0] != "verify-pack":          # one line per problem there; one error elsewhere
        assert len(errors) == 1 and lines[-1] == errors[0], (args, p.stderr)
    return False


@pytest.mark.parametrize("kind", ["pack", "idx", "index"])
@settings(max_examples=20, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
@given(op=MUTATIONS)
def test_damaged_storage_never_reads_as_something_else(pristine, kind, op):
    src, want = pristine
    if kind != "index" and op[0] == "rowflip":
        op = ("flip", op[1] + op[2], op[3])
    with tempfile.TemporaryDirectory() as tmp:
        d = os.path.join(tmp, "r")
        shutil.copytree(src, d)
        path = target(d, kind)
        spans = record_spans(path) if kind == "index" else []
        with open(path, "rb") as f:
            before = f.read()
        mutate(path, op, spans)
        with open(path, "rb") as f:
            changed = f.read() != before
        with Repository.open(d) as repo:        # before any read repairs the index
            found = [f for f in fsck(repo) if f.severity == "error"]
        if changed and kind != "index":
            assert found, op                     # checksums cover every byte of packs
        if op[0] == "rowflip" and changed:
            assert found, op                     # a row's payload is covered by its checksum
        ok = [check_read(args, invoke(d, *args), out) for args, out in want.items()]
        if not all(ok):
            assert found, (op, ok)               # whatever a read trips on, fsck reported
