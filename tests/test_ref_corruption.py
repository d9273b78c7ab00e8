"""Corrupt refs are never silent (issue 11): a damaged record that is not a torn write fails the
commands that read it with one line naming the file, fsck errors and says what to do, and no
writer truncates, rewrites or deletes the file."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, invoke


@pytest.fixture
def hdir(rdir):
    """main with two commits, tag v1 on the first, branch side."""
    invoke(rdir, "commit", "one", check=True)
    invoke(rdir, "tag", "v1", check=True)
    invoke(rdir, "branch", "side", check=True)
    invoke(rdir, "commit", "two", check=True)
    return rdir


def ref_file(rdir: str, name: str) -> str:
    return os.path.join(rdir, ".trace", *name.split("/"))


def flip_last_record(path: str) -> bytes:
    """Flip one byte inside the last, complete, LF-terminated record (not a torn write)."""
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[-30] ^= 0x01
    with open(path, "wb") as f:
        f.write(data)
    return bytes(data)


def fsck_errors(rdir: str) -> dict:
    p = invoke(rdir, "fsck", "--json")
    assert p.returncode != 0, p.stdout
    return {(f["id"], f["object"]): f for f in json.loads(p.stdout)
            if f["severity"] == "error"}


def test_flipped_byte_in_the_branch_tip(hdir):
    path = ref_file(hdir, "refs/heads/main")
    damaged = flip_last_record(path)
    for args in (("log",), ("context",), ("status",), ("rev-parse", "main")):
        assert_one_line_error(invoke(hdir, *args), "refs/heads/main", "damaged")
    # the next commit does not cut the record off: it is refused, the evidence stays
    assert_one_line_error(invoke(hdir, "commit", "three"), "refs/heads/main")
    assert_one_line_error(invoke(hdir, "branch", "-D", "main"))
    assert_one_line_error(invoke(hdir, "gc"), "refs/heads/main")
    with open(path, "rb") as f:
        assert f.read() == damaged
    found = fsck_errors(hdir)
    f = found[("badRefRecord", "refs/heads/main")]
    assert "update-ref" in f["message"] and "backup" in f["message"]


@pytest.mark.parametrize("how", ["flip", "empty", "garbage", "deleted"])
def test_damaged_head(hdir, how):
    path = ref_file(hdir, "HEAD")
    if how == "flip":
        flip_last_record(path)
    elif how == "empty":
        open(path, "wb").close()
    elif how == "garbage":
        with open(path, "wb") as f:
            f.write(b"\x00\x01garbage\n")
    else:
        os.unlink(path)
    for args in (("context",), ("status",), ("log",), ("commit", "x")):
        p = invoke(hdir, *args)
        assert_one_line_error(p, "HEAD")
        assert "[]" not in p.stdout and "No commits yet" not in p.stdout
    found = fsck_errors(hdir)
    assert ("badRefRecord", "HEAD") in found or ("missingHead", "HEAD") in found
    if how in ("empty", "deleted"):  # the way out fsck names works
        invoke(hdir, "symbolic-ref", "HEAD", "refs/heads/main", check=True)
        assert "two" in invoke(hdir, "log", check=True).stdout


@pytest.mark.parametrize("name", ["refs/tags/v1", "refs/heads/side"])
def test_damaged_decoration_warns_in_log_and_fails_fsck(hdir, name):
    flip_last_record(ref_file(hdir, name))
    p = invoke(hdir, "log")
    assert p.returncode == 0 and "two" in p.stdout and "one" in p.stdout
    assert name in p.stderr and "damaged" in p.stderr and p.stderr.startswith("warning: ")
    assert ("badRefRecord", name) in fsck_errors(hdir)


def test_damaged_older_record_keeps_the_value_and_blocks_gc(hdir):
    path = ref_file(hdir, "refs/heads/main")
    with open(path, "rb") as f:
        data = bytearray(f.read())
    data[10] ^= 0x01  # inside the first record; the tip is intact
    with open(path, "wb") as f:
        f.write(data)
    assert "two" in invoke(hdir, "log", check=True).stdout
    assert_one_line_error(invoke(hdir, "reflog", "main"), "refs/heads/main")
    assert_one_line_error(invoke(hdir, "gc"), "refs/heads/main")  # never prunes what it named
    assert ("badReflogEntry", "refs/heads/main") in fsck_errors(hdir)
    invoke(hdir, "commit", "three", check=True)  # an append keeps the evidence
    with open(path, "rb") as f:
        assert f.read().startswith(bytes(data))


def test_torn_tail_stays_a_warning(hdir):
    path = ref_file(hdir, "refs/heads/main")
    with open(path, "ab") as f:
        f.write(b"0123abcd")  # the beginning of a record: a writer killed mid-append
    assert "two" in invoke(hdir, "log", check=True).stdout
    p = invoke(hdir, "fsck", "--json")
    assert p.returncode == 0
    assert [(f["id"], f["severity"]) for f in json.loads(p.stdout)
            if f["object"] == "refs/heads/main"] == [("tornRefTail", "warning")]
    invoke(hdir, "commit", "three", check=True)  # the next writer cuts it
    with open(path, "rb") as f:
        assert b"0123abcd" not in f.read()


def test_an_agent_head_being_made_is_not_damage(tmp_path):
    """A spawn creates a new agent's HEAD file empty, then locks it and writes its record: a
    reader meanwhile sees no HEAD (not damage); an empty HEAD nobody holds stays damage."""
    import fcntl

    from trace_core import Repository
    from trace_core.errors import CorruptRef

    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    r.user("q")
    r.spawn("kid", task="t")
    kid = r.agent("kid")
    head = os.path.join(kid.refs_root, "HEAD")
    with open(head, "rb") as f:
        saved = f.read()
    open(head, "wb").close()                     # the file exists, its record not yet written
    fd = os.open(head, os.O_RDWR)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)           # a writer holds it
        assert Repository.open(r.trace_dir, agent="kid").refs.read("HEAD") is None
        fcntl.flock(fd, fcntl.LOCK_UN)           # killed before writing: damage, one line
        with pytest.raises(CorruptRef, match="holds no complete record"):
            Repository.open(r.trace_dir, agent="kid").refs.read("HEAD")
    finally:
        os.close(fd)
    with open(head, "wb") as f:
        f.write(saved)
    assert Repository.open(r.trace_dir, agent="kid").refs.read("HEAD") is not None
