"""Fuzz the small on-disk files of a real repository (a ref file, HEAD, a journal, config,
format): flip, truncate, insert and extend bytes. Every read returns the right data or raises a
declared TraceError (one `error:` line from the CLI), never something else silently, and fsck
reports every change that is not a legitimately ignored torn tail or an earlier valid state
(a ref file cut at a record boundary is indistinguishable from one written before).
In-process, bounded and derandomized: a few seconds."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from conftest import assert_one_line_error, invoke, invoke_cli
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from trace_core.config import Config
from trace_core.errors import TraceError
from trace_core.fsck import fsck
from trace_core.refs import RefStore
from trace_core.refs.reffile import scan_file
from trace_core.state import RepoState
from trace_core.storage.objectstore import DiskObjectStore

FUZZ = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                suppress_health_check=[HealthCheck.too_slow])


@pytest.fixture(scope="module")
def rdir(tmp_path_factory):
    """main with three commits, a tag, HEAD moved away and back (two records)."""
    d = str(tmp_path_factory.mktemp("fuzz") / "r")
    invoke_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    for text in ("one", "two", "three"):
        invoke(d, "commit", text, check=True)
    invoke(d, "tag", "v1", check=True)
    invoke(d, "branch", "side", check=True)
    invoke(d, "checkout", "side", check=True)
    invoke(d, "checkout", "main", check=True)
    return d


@st.composite
def mutation(draw, size: int):
    """(kind, function of the bytes) for one random change."""
    kind = draw(st.sampled_from(["flip", "truncate", "insert", "extend"]))
    if kind == "flip":
        pos, bit = draw(st.integers(0, size - 1)), draw(st.integers(0, 7))
        return kind, lambda b: b[:pos] + bytes([b[pos] ^ (1 << bit)]) + b[pos + 1:]
    if kind == "truncate":
        n = draw(st.integers(0, size - 1))
        return kind, lambda b: b[:n]
    extra = draw(st.one_of(st.binary(min_size=1, max_size=12),
                           st.sampled_from([b"\n", b"\t", b"\x00" * 8, b"0" * 64, b" "])))
    if kind == "insert":
        pos = draw(st.integers(0, size - 1))
        return kind, lambda b: b[:pos] + extra + b[pos:]
    return kind, lambda b: b + extra


class Swapped:
    """Put `data` in `path` for the duration of a with block, then the original back."""

    def __init__(self, path: str, data: bytes) -> None:
        self.path, self.data = path, data

    def __enter__(self) -> Swapped:
        with open(self.path, "rb") as f:
            self.original = f.read()
        with open(self.path, "wb") as f:
            f.write(self.data)
        return self

    def __exit__(self, *exc) -> None:
        with open(self.path, "wb") as f:
            f.write(self.original)


def findings(rdir: str) -> list:
    with RepoState.open(rdir) as repo:
        return [f for f in fsck(repo, full=False) if f.severity != "info"]


def _log_values(data: bytes) -> list:
    return [r.new for _, r in scan_file(data).records]


def _check_ref_mutation(rdir: str, name: str, kind: str, data: bytes, head: bool) -> None:
    top = os.path.join(rdir, ".trace")
    path = os.path.join(top, *name.split("/"))
    with open(path, "rb") as f:
        original = f.read()
    values = _log_values(original)
    if data == original:
        return
    with Swapped(path, data):
        refs = RefStore(top, head_required=head)
        try:
            got = refs.read(name)
        except TraceError as exc:
            assert path in str(exc) or name in str(exc)
            assert any(f.severity == "error" for f in findings(rdir)), (kind, data)
            assert_one_line_error(invoke(rdir, "log", "main" if not head else "HEAD"))
            return
        if original.startswith(data):  # a cut: an earlier state, or a torn tail of one
            kept = _log_values(data)
            assert kept == values[:len(kept)] and got == (kept[-1] if kept else None)
            return
        assert got == values[-1], (kind, data)  # everything else reads the acknowledged value
        try:
            log = [e.new for e in refs.reflog(name)]
        except TraceError:
            log = None  # damaged older record: the reflog refuses
        assert log is None or log == values[::-1]
        assert findings(rdir), (kind, data)  # and fsck notices the change


@FUZZ
@given(st.data())
def test_fuzz_branch_ref_file(rdir, data):
    path = os.path.join(rdir, ".trace", "refs", "heads", "main")
    original = Path(path).read_bytes()
    kind, change = data.draw(mutation(len(original)))
    _check_ref_mutation(rdir, "refs/heads/main", kind, change(original), head=False)


@FUZZ
@given(st.data())
def test_fuzz_head(rdir, data):
    path = os.path.join(rdir, ".trace", "HEAD")
    original = Path(path).read_bytes()
    kind, change = data.draw(mutation(len(original)))
    _check_ref_mutation(rdir, "HEAD", kind, change(original), head=True)


@settings(FUZZ, max_examples=40)
@given(st.data())
def test_fuzz_journal(rdir, data):
    jdir = os.path.join(rdir, ".trace", "objects", "journal")
    path = os.path.join(jdir, sorted(os.listdir(jdir))[0])
    original = Path(path).read_bytes()
    kind, change = data.draw(mutation(len(original)))
    with RepoState.open(rdir) as repo:
        ids = [oid for oid, _ in repo.store.iter_objects()]
        want = {oid: repo.store.get_bytes(oid) for oid in ids}
    mutated = change(original)
    with Swapped(path, mutated):
        store = DiskObjectStore(os.path.join(rdir, ".trace", "objects"))
        lost = 0
        for oid in ids:
            try:
                assert store.get_bytes(oid) == want[oid]
            except TraceError:
                lost += 1
        store.close()
        if lost or not original.startswith(mutated):
            assert findings(rdir), (kind, mutated[-40:])


@FUZZ
@given(st.data())
def test_fuzz_config(rdir, data):
    path = os.path.join(rdir, ".trace", "config")
    original = Path(path).read_bytes()
    kind, change = data.draw(mutation(len(original)))
    mutated = change(original)
    with Swapped(path, mutated):
        try:
            cfg = Config.load(path, top=os.path.join(rdir, ".trace"))
        except TraceError:
            assert_one_line_error(invoke(rdir, "log"), "config")
            return
        assert cfg.to_text().encode() == mutated  # lossless: nothing read as something else
        try:
            with RepoState.open(rdir) as repo:
                repo.durability, repo.encoding  # noqa: B018 - typed reads validate
        except TraceError:  # a command that needs the bad value fails in one line
            p = invoke(rdir, "status")
            if p.returncode:
                assert_one_line_error(p)


@FUZZ
@given(st.data())
def test_fuzz_format(rdir, data):
    path = os.path.join(rdir, ".trace", "format")
    original = Path(path).read_bytes()
    kind, change = data.draw(mutation(len(original)))
    mutated = change(original)
    with Swapped(path, mutated):
        if mutated == original:
            RepoState.open(rdir).close()
            return
        with pytest.raises(TraceError, match="format"):
            RepoState.open(rdir)
        assert_one_line_error(invoke(rdir, "log"))


def test_fuzz_fixture_is_restored(rdir, tmp_path):
    """The fuzz tests put every file back: the repository is still sound afterwards."""
    copy = tmp_path / "copy"
    shutil.copytree(rdir, copy)
    assert findings(str(copy)) == []
    assert "three" in invoke(str(copy), "log", check=True).stdout
