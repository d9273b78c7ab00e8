"""No symlink inside .trace is followed (issue 11, holes 2 and 3): a symlinked ref file, refs
directory, HEAD, config, objects directory or agent namespace gives a one-line error naming it,
the file outside is never opened for writing, truncated or created, and fsck reports each."""

from __future__ import annotations

import os

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import UnsafePath
from trace_core.refs import RefStore

VICTIM = b"precious bytes outside the repository\n"


@pytest.fixture
def hdir(rdir):
    """A repository with one commit (on main)."""
    invoke(rdir, "commit", "hello", check=True)
    return rdir


@pytest.fixture
def victim(tmp_path):
    """A file outside the repository, with an old mtime (so any write would show)."""
    p = tmp_path / "victim.txt"
    p.write_bytes(VICTIM)
    os.utime(p, (1_000_000_000, 1_000_000_000))
    return p


def unchanged(p) -> bool:
    st = os.stat(p)
    return p.read_bytes() == VICTIM and st.st_mtime_ns == 1_000_000_000 * 10**9


def trace_path(rdir: str, *parts: str) -> str:
    return os.path.join(rdir, ".trace", *parts)


def link(target, at: str) -> None:
    if os.path.isdir(at) and not os.path.islink(at):
        os.rename(at, at + ".moved")
    elif os.path.lexists(at):
        os.unlink(at)
    os.symlink(str(target), at)


def assert_fsck_reports(rdir: str, rel: str) -> None:
    p = invoke(rdir, "fsck")
    assert p.returncode != 0, p.stdout
    assert "symlinkInRepository" in p.stdout + p.stderr and rel in p.stdout + p.stderr


def test_branch_on_a_symlinked_ref_file(hdir, victim):
    evil = trace_path(hdir, "refs", "heads", "evil")
    link(victim, evil)
    assert_one_line_error(invoke(hdir, "branch", "evil"), "refs/heads/evil", "symbolic link")
    assert_one_line_error(invoke(hdir, "branch"), "refs/heads/evil")  # listing is loud too
    assert unchanged(victim)
    assert_fsck_reports(hdir, "refs/heads/evil")


def test_branch_on_a_dangling_symlink_creates_nothing(hdir, tmp_path):
    outside = tmp_path / "created-by-trace"
    link(outside, trace_path(hdir, "refs", "heads", "evil"))
    assert_one_line_error(invoke(hdir, "branch", "evil"), "refs/heads/evil")
    assert not outside.exists()


def test_tag_in_a_symlinked_tags_directory(hdir, tmp_path, victim):
    outside = tmp_path / "outside-tags"
    outside.mkdir()
    link(outside, trace_path(hdir, "refs", "tags"))
    assert_one_line_error(invoke(hdir, "tag", "v1"), "refs/tags", "symbolic link")
    assert os.listdir(outside) == []
    # a file of the same name outside is not read either
    (outside / "v1").write_bytes(VICTIM)
    os.utime(outside / "v1", (1_000_000_000, 1_000_000_000))
    assert_one_line_error(invoke(hdir, "tag", "-d", "v1"), "refs/tags")
    assert unchanged(outside / "v1")
    assert_fsck_reports(hdir, "refs/tags")


def test_symlinked_head(hdir, victim):
    link(victim, trace_path(hdir, "HEAD"))
    for args in (("commit", "more"), ("context",), ("status",), ("log",)):
        assert_one_line_error(invoke(hdir, *args), "HEAD", "symbolic link")
    assert unchanged(victim)
    assert_fsck_reports(hdir, "HEAD")


def test_symlinked_config(hdir, victim):
    link(victim, trace_path(hdir, "config"))
    assert_one_line_error(invoke(hdir, "config", "user.name", "mallory"), "config",
                          "symbolic link")
    assert_one_line_error(invoke(hdir, "log"), "config")
    assert unchanged(victim)
    assert not os.path.exists(trace_path(hdir, "config.lock"))


def test_symlinked_format(hdir, tmp_path):
    outside = tmp_path / "format"
    outside.write_bytes(b"trace-repository-format 1\n")
    link(outside, trace_path(hdir, "format"))
    assert_one_line_error(invoke(hdir, "log"), "format", "symbolic link")


@pytest.mark.parametrize("sub", ["objects/journal", "objects/pack", "objects"])
def test_symlinked_objects_directory(hdir, tmp_path, sub):
    outside = tmp_path / "outside-objects"
    os.rename(trace_path(hdir, *sub.split("/")), outside)  # the real contents, moved out
    before = sorted(str(p.relative_to(outside)) for p in outside.rglob("*"))
    os.symlink(outside, trace_path(hdir, *sub.split("/")))
    assert_one_line_error(invoke(hdir, "commit", "more"), sub, "symbolic link")
    assert_one_line_error(invoke(hdir, "context"), sub)
    assert sorted(str(p.relative_to(outside)) for p in outside.rglob("*")) == before
    assert_fsck_reports(hdir, sub)


def test_symlinked_journal_file(hdir, victim):
    jdir = trace_path(hdir, "objects", "journal")
    name = os.listdir(jdir)[0]
    os.unlink(os.path.join(jdir, name))
    os.symlink(victim, os.path.join(jdir, name))
    assert_one_line_error(invoke(hdir, "commit", "more"), name, "symbolic link")
    assert unchanged(victim)
    assert_fsck_reports(hdir, f"objects/journal/{name}")


def test_symlinked_agent_namespace(hdir, tmp_path):
    outside = tmp_path / "outside-agent"
    outside.mkdir()
    os.symlink(outside, trace_path(hdir, "agents", "bob"))
    assert_one_line_error(invoke(hdir, "--agent", "bob", "commit", "hi"), "agents/bob",
                          "symbolic link")
    assert os.listdir(outside) == []
    assert_fsck_reports(hdir, "agents/bob")


def test_symlinked_index(hdir, victim):
    link(victim, trace_path(hdir, "index.sqlite"))
    assert_one_line_error(invoke(hdir, "log"), "index.sqlite", "symbolic link")
    assert unchanged(victim)


def test_ref_store_refuses_symlinks_below_top(tmp_path, victim):
    """The library itself (not only the CLI): reads, compare-and-swap, symbolic refs and
    reflogs never go through a symlink, and a symlinked pseudo ref is listed so it is seen."""
    root = tmp_path / "t"
    (root / "refs" / "heads").mkdir(parents=True)
    refs = RefStore(str(root))
    os.symlink(victim, root / "ORIG_HEAD")
    with pytest.raises(UnsafePath, match="ORIG_HEAD"):
        refs.set_if_equals("ORIG_HEAD", None, "a" * 64)
    with pytest.raises(UnsafePath):
        refs.read("ORIG_HEAD")
    with pytest.raises(UnsafePath):
        refs.reflog("ORIG_HEAD")
    with pytest.raises(UnsafePath):
        refs.list()
    assert refs.names(skip_symlinks=True) == []
    os.symlink(victim, root / "refs" / "heads" / "x")
    with pytest.raises(UnsafePath):
        refs.transaction().update("refs/heads/x", None, "a" * 64).commit()
    assert unchanged(victim)
