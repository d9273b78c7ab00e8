"""Refs: names (checked against git itself), CAS, symbolic refs, reflogs, torn tails, processes."""

from __future__ import annotations

import multiprocessing as mp
import os
import shutil
import subprocess

import pytest
from conftest import killed_after_acks

from trace_core.errors import (
    InvalidObjectId,
    InvalidRefName,
    RefConflict,
    RefError,
    RefNotFound,
    SymrefLoop,
)
from trace_core.refs import ANY, RefStore, check_agent_name, check_ref_format
from trace_core.refs.reffile import KeptFiles

A, B, C = "a" * 64, "b" * 64, "c" * 64


@pytest.fixture
def refs(tmp_path):
    return RefStore(str(tmp_path))


NAMES = [
    "refs/heads/main", "refs/heads/feature/x", "refs/tags/v1.0", "heads/main", "main",
    "refs/heads/../x", "refs/heads/.hidden", "refs/heads/x.lock", "refs/heads/x.", "refs/heads//x",
    "/refs/heads/x", "refs/heads/x/", "refs/heads/a b", "refs/heads/a~1", "refs/heads/a^",
    "refs/heads/a:b", "refs/heads/a?", "refs/heads/a*", "refs/heads/a[", "refs/heads/a\\b",
    "refs/heads/a@{1}", "@", "refs/heads/@", "refs/heads/a@b", "refs/heads/a\x01",
    "refs/heads/a\x7f",
    "refs/heads/-x", "-x", "refs/heads/ü", "refs/heads/a..b", "refs/heads/a.b", ".x/y", "x/.y",
    "refs/heads/x.lock/y", "refs/heads/a\tb", "a/b.lock", "", "refs/heads/.", "refs/./x",
]


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
@pytest.mark.parametrize("onelevel", [False, True])
def test_check_ref_format_agrees_with_git(onelevel):
    for name in NAMES:
        if name.startswith("-"):
            continue  # git's command line would read it as an option
        args = ["git", "check-ref-format"] + (["--allow-onelevel"] if onelevel else []) + [name]
        git_ok = subprocess.run(args, capture_output=True).returncode == 0
        try:
            check_ref_format(name, allow_onelevel=onelevel)
            ours = True
        except InvalidRefName:
            ours = False
        assert ours == git_ok, (name, onelevel)


def test_hostile_names_never_escape_the_root(refs, tmp_path):
    for name in ["../x", "refs/../../x", "/etc/passwd", "refs/heads/a\x00b", "refs/heads/a\nb",
                 "HEAD/../../x", "x" * 2000, "FOO_HEAD", "refs/x", "refs/heads/a.lock"]:
        with pytest.raises(InvalidRefName):
            refs.set_if_equals(name, ANY, A)
        with pytest.raises(InvalidRefName):
            refs.read(name)
    assert os.listdir(tmp_path) == []
    with pytest.raises(InvalidRefName):
        refs.read(123)  # type: ignore[arg-type]


def test_agent_names():
    for ok in ["a", "planner-1", "sub.agent_2", "A" * 64]:
        assert check_agent_name(ok) == ok
    for bad in ["", ".x", "-x", "a/b", "..", "a..b", "x.lock", "A" * 65, "a b", "\x00", None]:
        with pytest.raises(InvalidRefName):
            check_agent_name(bad)  # type: ignore[arg-type]


def test_cas_symbolic_and_reflog(refs):
    refs.set_symbolic("HEAD", "refs/heads/main", "init")
    assert refs.read("HEAD") == "ref:refs/heads/main" and refs.resolve("HEAD") is None
    assert refs.set_if_equals("HEAD", None, A, "one") == "refs/heads/main"
    refs.set_if_equals("HEAD", A, B, "two")
    with pytest.raises(RefConflict):
        refs.set_if_equals("HEAD", A, C)
    with pytest.raises(RefConflict):
        refs.add_if_new("refs/heads/main", C)
    assert refs.resolve("HEAD") == B
    log = refs.reflog("refs/heads/main")
    assert [(e.new, e.old, e.message) for e in log] == [(B, A, "two"), (A, "0" * 64, "one")]
    assert refs.resolve_at("refs/heads/main", 1) == A
    with pytest.raises(RefNotFound):
        refs.resolve_at("refs/heads/main", 2)
    # detaching HEAD writes HEAD itself, not the branch
    refs.set_if_equals("HEAD", ANY, C, deref=False)
    assert refs.read("HEAD") == C and refs.resolve("refs/heads/main") == B
    with pytest.raises(InvalidObjectId):
        refs.set_if_equals("refs/heads/x", ANY, "nothex")
    with pytest.raises(InvalidObjectId):
        refs.set_if_equals("refs/heads/x", ANY, "0" * 64)


def test_head_only_points_at_branches(refs):
    with pytest.raises(RefConflict):
        refs.set_symbolic("HEAD", "refs/tags/v1")
    assert refs.read("HEAD") is None


def test_symref_loop(refs):
    refs.set_symbolic("HEAD", "refs/heads/a")
    refs.set_symbolic("refs/heads/a", "refs/heads/b")
    refs.set_symbolic("refs/heads/b", "refs/heads/a")
    with pytest.raises(SymrefLoop):
        refs.resolve("HEAD")


def test_delete_list_and_df_conflicts(refs, tmp_path):
    refs.add_if_new("refs/heads/a/b", A)
    refs.add_if_new("refs/tags/v1", B)
    with pytest.raises(RefError, match="conflicting name") as exc:   # no race: never retried
        refs.add_if_new("refs/heads/a", A)
    assert not isinstance(exc.value, RefConflict)
    assert refs.list("refs/") == [("refs/heads/a/b", A), ("refs/tags/v1", B)]
    with pytest.raises(RefConflict):
        refs.remove_if_equals("refs/heads/a/b", B)
    refs.remove_if_equals("refs/heads/a/b", A)
    assert not os.path.exists(tmp_path / "refs" / "heads" / "a")
    refs.add_if_new("refs/heads/a", C)  # the directory was pruned, the name is free again
    with pytest.raises(RefNotFound):
        refs.remove_if_equals("refs/heads/nope")
    assert not os.path.exists(tmp_path / "refs" / "heads" / "nope")
    (tmp_path / "refs" / "heads" / "junk.lock").write_bytes(b"x")
    assert [n for n, _ in refs.list()] == ["refs/heads/a", "refs/tags/v1"]


def test_torn_tail_ignored_then_cut(refs, tmp_path):
    refs.add_if_new("refs/heads/main", A)
    path = tmp_path / "refs" / "heads" / "main"
    good = path.read_bytes()
    nxt = good.replace(A.encode(), B.encode(), 1)  # another record (its CRC does not matter)
    # what a killed writer leaves: the beginning of a record, or all of it but its LF (valid
    # CRC), possibly NUL-filled by a file system after a power loss
    from trace_core.refs.reffile import RefLogEntry, encode_record
    whole = encode_record(RefLogEntry(B, A, 1, "w", "m"))
    for torn in [b"b" * 30, nxt[:70], nxt[:140], whole[:-1], whole[:50] + b"\0" * 20, b"ref:re"]:
        path.write_bytes(good + torn)
        assert refs.read("refs/heads/main") == A, torn
        assert [k[:2] for k in refs.check()] == [("tornRefTail", "warning")], torn
    refs.set_if_equals("refs/heads/main", A, B)
    data = path.read_bytes()
    assert data.startswith(good) and data.count(b"\n") == 2 and refs.check() == []


@pytest.mark.parametrize("damage", ["crc", "lf-flipped", "empty-lines", "garbage-tail"])
def test_damaged_current_record_is_an_error_and_never_cut(refs, tmp_path, damage):
    from trace_core.errors import CorruptRef
    refs.add_if_new("refs/heads/main", A)
    refs.set_if_equals("refs/heads/main", A, B)
    path = tmp_path / "refs" / "heads" / "main"
    data = bytearray(path.read_bytes())
    if damage == "crc":
        data[-20] ^= 1  # a complete, LF-terminated last record that fails its CRC
    elif damage == "lf-flipped":
        data[-1] = ord("x")
    elif damage == "empty-lines":
        data += b"\n\n"
    else:
        data += b"xyz"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptRef, match="refs/heads/main"):
        refs.read("refs/heads/main")
    with pytest.raises(CorruptRef):
        refs.set_if_equals("refs/heads/main", ANY, C)
    with pytest.raises(CorruptRef):
        refs.remove_if_equals("refs/heads/main")
    with pytest.raises(CorruptRef):
        refs.expire_reflog("refs/heads/main", lambda e: False)
    assert path.read_bytes() == bytes(data)  # the evidence stays
    assert ("badRefRecord", "error") in [k[:2] for k in refs.check()]


def test_compare_and_swap_keeps_the_file_open_and_still_sees_every_change(refs, tmp_path,
                                                                         monkeypatch):
    # the last ref files updated stay open between updates (no open, no parse of the record
    # this store appended): every other change to the file is still seen under the lock
    from trace_core.refs import reffile
    from trace_core.storage import safefs
    opened = []
    real_open = safefs.open_fd
    monkeypatch.setattr(safefs, "open_fd",
                        lambda p, *a, **k: opened.append(p) or real_open(p, *a, **k))
    name, path = "refs/heads/main", tmp_path / "refs" / "heads" / "main"
    refs.add_if_new(name, A)
    opened.clear()
    refs.set_if_equals(name, A, B)
    assert opened == []                                   # the kept file: no open
    other = RefStore(str(tmp_path))                       # another writer moves it
    other.set_if_equals(name, B, C)
    with pytest.raises(RefConflict):
        refs.set_if_equals(name, B, A)
    refs.set_if_equals(name, C, A)
    # the same size, the same file, another last record (written in place)
    data = path.read_bytes()
    last = data[data.rfind(b"\n", 0, len(data) - 1) + 1:]
    swapped = reffile.encode_record(reffile.parse_record(last[:-1])._replace(new=C))
    assert len(swapped) == len(last)
    fd = os.open(path, os.O_WRONLY)
    os.pwrite(fd, swapped, len(data) - len(last))
    os.close(fd)
    with pytest.raises(RefConflict, match="is cccccccc"):
        refs.set_if_equals(name, A, B)
    other.expire_reflog(name, lambda e: False)             # replaced by a new file
    refs.set_if_equals(name, C, B)
    assert refs.reflog(name)[0].old == C and other.read(name) == B
    reffile._forks[0] += 1                                 # as in a forked child
    try:
        opened.clear()
        refs.set_if_equals(name, B, A)
        assert opened == [str(path)]                       # its own file, not the parent's
    finally:
        reffile._forks[0] -= 1
    other.close()


def fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_kept_ref_files_are_bounded_and_closed(refs):
    before = fds()
    for i in range(20):
        refs.add_if_new(f"refs/heads/b{i}", A)
    assert fds() - before == KeptFiles.MAX
    refs.close()
    assert fds() == before
    refs.set_if_equals("refs/heads/b0", A, B)              # still usable after close
    assert refs.read("refs/heads/b0") == B


def test_views_share_one_bound_on_kept_ref_files(tmp_path):
    """Agent views of one repository keep ref files in the root's set: the bound holds for the
    whole repository (an MCP server or LiteLLM logger caches a view per agent), and closing the
    root closes them all."""
    from trace_core import Repository
    repo = Repository.init(str(tmp_path / "r"))
    repo.user("base")
    views = [repo.agent(f"a{i}", create=True) for i in range(3)]
    for v in views:                     # (each namespace's first commit opens its lock file)
        v.user("first")
    before = fds()
    for i in range(30):
        for v in views:
            v.refs.add_if_new(f"refs/tags/t{i}", A)
    assert fds() - before <= KeptFiles.MAX
    repo.close()
    assert fds() < before


def test_damaged_older_record(refs, tmp_path):
    """A flipped byte in an older record: the value (the intact last record) still reads and
    moves; the reflog, delete, rename and expiry refuse; fsck reports an error."""
    from trace_core.errors import CorruptRef
    refs.add_if_new("refs/heads/main", A)
    refs.set_if_equals("refs/heads/main", A, B)
    path = tmp_path / "refs" / "heads" / "main"
    flipped = bytearray(path.read_bytes())
    flipped[5] ^= 1
    path.write_bytes(bytes(flipped))
    assert refs.read("refs/heads/main") == B
    assert [k[:2] for k in refs.check()] == [("badReflogEntry", "error")]
    for refused in (lambda: refs.reflog("refs/heads/main"),
                    lambda: refs.remove_if_equals("refs/heads/main"),
                    lambda: refs.rename("refs/heads/main", "refs/heads/other"),
                    lambda: refs.expire_reflog("refs/heads/main", lambda e: False)):
        with pytest.raises(CorruptRef):
            refused()
    assert path.read_bytes() == bytes(flipped)
    refs.set_if_equals("refs/heads/main", B, C)  # an append keeps the evidence
    assert refs.read("refs/heads/main") == C and path.read_bytes().startswith(bytes(flipped))


def test_transaction_all_or_nothing(refs):
    refs.add_if_new("refs/heads/main", A)
    refs.add_if_new("ORIG_HEAD", A)
    tx = refs.transaction().update("refs/heads/main", A, B).update("ORIG_HEAD", C, B)
    with pytest.raises(RefConflict):
        tx.commit()
    assert refs.read("refs/heads/main") == A
    refs.transaction().update("refs/heads/main", A, B).update("ORIG_HEAD", ANY, A).commit()
    assert refs.read("refs/heads/main") == B
    refs.transaction().delete("ORIG_HEAD", A).commit()
    assert refs.read("ORIG_HEAD") is None
    with pytest.raises(RefConflict):
        refs.transaction().update("refs/heads/main", ANY, A) \
            .update("refs/heads/main", ANY, B).commit()


def test_expire_reflog_keeps_current(refs):
    for i, v in enumerate([A, B, C]):
        refs.set_if_equals("refs/heads/main", ANY, v, f"m{i}")
    assert refs.expire_reflog("refs/heads/main", lambda e: e.message != "m1") == 1
    assert [e.message for e in refs.reflog("refs/heads/main")] == ["m2", "m0"]
    assert refs.expire_reflog("refs/heads/main", lambda e: False) == 1
    assert [e.message for e in refs.reflog("refs/heads/main")] == ["m2"]
    assert refs.read("refs/heads/main") == C


# -- real processes ----------------------------------------------------------------------------
def _counter(root: str, name: str, n: int) -> None:
    refs = RefStore(root)
    done = 0
    while done < n:
        cur = refs.read(name)
        nxt = "%064x" % (int(cur, 16) + 1 if cur else 1)
        try:
            refs.set_if_equals(name, cur, nxt, "inc")
            done += 1
        except RefConflict:
            continue


def test_four_processes_lose_no_update(tmp_path):
    ctx = mp.get_context("fork")
    procs = [ctx.Process(target=_counter, args=(str(tmp_path), "refs/heads/n", 150))
             for _ in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    refs = RefStore(str(tmp_path))
    assert int(refs.read("refs/heads/n"), 16) == 600
    log = refs.reflog("refs/heads/n")
    assert len(log) == 600 and [int(e.new, 16) for e in log] == list(range(600, 0, -1))


def _acknowledging_counter(root: str, ack_fd: int) -> None:
    """Count refs/heads/k up until killed; after each update returns, write the new count to
    `ack_fd` (8 bytes: one atomic pipe write)."""
    refs = RefStore(root)
    while True:
        cur = refs.read("refs/heads/k")
        n = int(cur, 16) + 1 if cur else 1
        try:
            refs.set_if_equals("refs/heads/k", cur, f"{n:064x}", "inc")
        except RefConflict:
            continue
        os.write(ack_fd, n.to_bytes(8, "big"))


def test_sigkill_leaves_a_valid_ref(tmp_path):
    last = 0
    for i in range(8):         # killed after a few updates, mid-update
        acked = [int.from_bytes(b, "big") for b in
                 killed_after_acks(_acknowledging_counter, (str(tmp_path),), 8, 1 + i)]
        assert acked == list(range(last + 1, last + 1 + len(acked)))
        refs = RefStore(str(tmp_path))
        n = int(refs.read("refs/heads/k"), 16)
        assert n in (acked[-1], acked[-1] + 1)   # nothing acknowledged is lost; at most one more
        last = n
        assert [int(e.new, 16) for e in refs.reflog("refs/heads/k")] == list(range(n, 0, -1))
    assert all(sev != "error" for _, sev, _, _ in RefStore(str(tmp_path)).check())


def test_shorten_matches_git_abbrev_ref(tmp_path):
    """refs.shorten against git's own %(refname:short), strict (git's default) and loose."""
    from trace_core.refs import shorten
    names = ["refs/heads/main", "refs/heads/feature/a", "refs/heads/x", "refs/tags/x",
             "refs/tags/v1",
             "refs/notes/n", "refs/y", "refs/tags/y", "refs/heads/HEAD", "refs/heads/refs/z",
             "refs/heads/tags/v1"]
    g = str(tmp_path / "g")
    subprocess.run(["git", "init", "-q", g], check=True)
    subprocess.run(["git", "-C", g, "-c", "user.name=t", "-c", "user.email=t@t", "commit", "-q",
                    "--allow-empty", "-m", "c"], check=True)
    for n in names:
        subprocess.run(["git", "-C", g, "update-ref", n, "HEAD"], check=True)
    exists = set(names).__contains__
    for strict in (True, False):
        out = subprocess.run(["git", "-C", g, "-c", f"core.warnAmbiguousRefs={str(strict).lower()}",
                              "for-each-ref", "--format=%(refname) %(refname:short)"],
                             check=True, capture_output=True, text=True).stdout
        for line in out.splitlines():
            full, short = line.split(" ")
            # git reads refs/z as refs/heads/refs/z; Trace does not
            if full != "refs/heads/refs/z":
                assert shorten(full, exists, strict=strict) == short, (full, strict)
    assert shorten("refs/heads/x") == "x" and shorten("refs/tags/x") == "x"   # no lookup: no check
    assert shorten("HEAD") == "HEAD" and shorten("main") == "main"
    assert shorten("refs/heads/HEAD") == "heads/HEAD"
    assert shorten("refs/heads/refs/z") == "heads/refs/z"
