"""The maintenance commands on the command line: count-objects, repack, gc, prune, reindex and
verify-pack; what they print, what they change and keep, and how they refuse bad input."""

from __future__ import annotations

import json
import os
import re

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke, run_in

from trace_core.repository import Repository
from trace_core.storage.pack import list_packs
from trace_core.storage.repack import RepackLock

FIGURES = ["packs", "packed_objects", "pack_bytes", "journals", "journal_objects", "journal_bytes"]
GC_FIELDS = ["packs_before", "packs_after", "objects_kept", "objects_cruft", "objects_pruned",
             "bytes_before", "bytes_after", "reflog_entries_expired", "agents_pruned", "seconds"]
PACK_LINE = re.compile(r"^pack-[0-9a-f]{64}$")


@pytest.fixture
def hdir(tmp_path):
    """A repository with a short history on main and on a branch, made through the API and
    closed (so that every journal is idle); its directory."""
    d = str(tmp_path / "h")
    r = Repository.init(d, encoding="chars/4")
    r.system("You are terse.")
    for i in range(4):
        r.user(f"question {i}")
        r.assistant(f"answer {i}")
    r.branch_create("side")
    r.worktree("side").user("on the side")
    r.close()
    return d


def pack_dir(d: str) -> str:
    return os.path.join(d, ".trace", "objects", "pack")


def packs(d: str) -> list:
    return sorted(list_packs(pack_dir(d)))


def figures(d: str) -> dict:
    return json.loads(invoke(d, "count-objects", "--json", check=True).stdout)


def stored_ids(d: str) -> set:
    r = Repository.open(d)
    try:
        return {oid for oid, _ in r.store.iter_objects()}
    finally:
        r.close()


def snapshot_of_history(d: str) -> tuple:
    """What maintenance must never change: every branch's context and log."""
    return tuple(invoke(d, *args, check=True).stdout
                 for args in (["context", "main"], ["context", "side"], ["log", "--oneline"],
                              ["for-each-ref"]))


def garbage(d: str, text: str = "junk") -> str:
    """Write an unreachable blob; its id."""
    msg = json.dumps({"role": "user", "content": text})
    return invoke(d, "hash-object", "-w", "--stdin", input=msg, check=True).stdout.strip()


def exists(d: str, oid: str) -> bool:
    return invoke(d, "cat-object", "-e", oid).returncode == 0


# -- count-objects ----------------------------------------------------------------------------
def test_count_objects_of_an_empty_repository(rdir):
    assert invoke(rdir, "count-objects", check=True).stdout == "0 objects, 0 kilobytes\n"
    lines = invoke(rdir, "count-objects", "-v", check=True).stdout.splitlines()
    assert lines == [f"{k.replace('_', '-')}: 0" for k in FIGURES]
    assert figures(rdir) == dict.fromkeys(FIGURES, 0)


def test_count_objects_follows_objects_from_journals_into_packs(hdir):
    n = len(stored_ids(hdir))
    before = figures(hdir)
    assert list(before) == FIGURES
    assert (before["packs"], before["packed_objects"], before["journal_objects"]) == (0, 0, n)
    assert before["journals"] >= 1 and before["journal_bytes"] > 0
    total = before["pack_bytes"] + before["journal_bytes"]
    assert invoke(hdir, "count-objects", check=True).stdout == \
        f"{n} objects, {total // 1024} kilobytes\n"
    invoke(hdir, "repack", check=True)
    after = figures(hdir)
    assert (after["packs"], after["packed_objects"], after["pack_bytes"] > 0) == (1, n, True)
    assert (after["journals"], after["journal_objects"], after["journal_bytes"]) == (0, 0, 0)
    verbose = invoke(hdir, "count-objects", "-v", check=True).stdout.splitlines()
    assert verbose == [f"{k.replace('_', '-')}: {after[k]}" for k in FIGURES]


# -- repack -----------------------------------------------------------------------------------
def test_repack_seals_journals_into_one_pack_and_keeps_every_object(hdir):
    history, ids = snapshot_of_history(hdir), stored_ids(hdir)
    out = invoke(hdir, "repack", check=True).stdout
    assert PACK_LINE.match(out.strip()), out
    assert packs(hdir) == [out.strip()[5:]]
    assert os.listdir(os.path.join(hdir, ".trace", "objects", "journal")) == []
    assert snapshot_of_history(hdir) == history and stored_ids(hdir) == ids
    # a second journal's worth of commits: merged with the pack into one new pack
    invoke(hdir, "commit", "after the repack", check=True)
    out2 = invoke(hdir, "repack", "--no-dictionary", check=True).stdout.strip()
    assert PACK_LINE.match(out2) and packs(hdir) == [out2[5:]] and out2 != out.strip()
    assert figures(hdir)["packed_objects"] == len(ids) + 3       # blob, snapshot node, commit
    assert invoke(hdir, "fsck", check=True).stdout == ""


def test_repack_of_one_pack_without_a_dictionary_has_nothing_to_do(hdir):
    invoke(hdir, "repack", check=True)
    before = packs(hdir)
    p = invoke(hdir, "repack", "--no-dictionary", check=True)
    assert p.stdout == "nothing to repack: already one pack\n"
    assert packs(hdir) == before


def test_repack_is_refused_while_another_repack_runs(hdir):
    history, journals = snapshot_of_history(hdir), figures(hdir)
    lock = RepackLock(pack_dir(hdir), wait=False)
    try:
        assert lock.held
        assert_one_line_error(invoke(hdir, "repack"), "another repack or gc is running")
        assert figures(hdir) == journals                            # nothing was sealed
    finally:
        lock.release()
    assert snapshot_of_history(hdir) == history
    assert PACK_LINE.match(invoke(hdir, "repack", check=True).stdout.strip())


# -- gc and prune -----------------------------------------------------------------------------
def test_gc_reports_what_it_did_and_keeps_what_is_reachable(hdir):
    history, ids = snapshot_of_history(hdir), stored_ids(hdir)
    p = invoke(hdir, "gc", check=True)
    lines = p.stdout.splitlines()
    assert [ln.split(": ", 1)[0] for ln in lines] == GC_FIELDS
    report = dict(ln.split(": ", 1) for ln in lines)
    assert (report["packs_before"], report["packs_after"]) == ("0", "1")
    assert (report["objects_kept"], report["objects_pruned"]) == (str(len(ids)), "0")
    assert snapshot_of_history(hdir) == history and stored_ids(hdir) == ids
    doc = json.loads(invoke(hdir, "gc", "--json", "--aggressive", check=True).stdout)
    assert list(doc) == GC_FIELDS
    assert (doc["packs_before"], doc["packs_after"], doc["objects_kept"]) == (1, 1, len(ids))
    assert snapshot_of_history(hdir) == history
    assert invoke(hdir, "fsck", check=True).stdout == ""


def test_gc_keeps_fresh_garbage_as_cruft_and_prunes_it_when_asked(hdir):
    history = snapshot_of_history(hdir)
    junk = garbage(hdir)
    doc = json.loads(invoke(hdir, "gc", "--json", check=True).stdout)
    assert (doc["objects_cruft"], doc["objects_pruned"]) == (1, 0)      # within gc.prune-expire
    assert exists(hdir, junk)
    doc = json.loads(invoke(hdir, "gc", "--json", "--prune", "now", check=True).stdout)
    assert doc["objects_pruned"] == 1 and doc["packs_after"] == 1
    assert not exists(hdir, junk)
    assert snapshot_of_history(hdir) == history
    assert invoke(hdir, "fsck", check=True).stdout == ""


def test_prune_honours_the_grace_period_and_its_config(hdir):
    history = snapshot_of_history(hdir)
    junk = garbage(hdir, "junk 1")
    assert invoke(hdir, "prune", check=True).stdout == "pruned 0 objects\n"   # 2 weeks by default
    assert exists(hdir, junk)
    assert invoke(hdir, "prune", "--expire", "1.day", check=True).stdout == "pruned 0 objects\n"
    assert invoke(hdir, "prune", "--expire", "now", check=True).stdout == "pruned 1 objects\n"
    assert not exists(hdir, junk)
    junk2 = garbage(hdir, "junk 2")
    invoke(hdir, "config", "gc.prune-expire", "now", check=True)
    assert invoke(hdir, "prune", check=True).stdout == "pruned 1 objects\n"
    assert not exists(hdir, junk2)
    assert snapshot_of_history(hdir) == history


@pytest.mark.parametrize("args, words", [
    (["gc", "--prune", "bogus"], "not a duration"),
    (["gc", "--prune", "-3d"], "not a duration"),
    (["prune", "--expire", "soon"], "not a duration"),
])
def test_bad_durations_are_one_line_errors_and_change_nothing(hdir, args, words):
    junk = garbage(hdir)
    before = (figures(hdir), snapshot_of_history(hdir))
    assert_one_line_error(invoke(hdir, *args), words, repr(args[-1]))
    assert (figures(hdir), snapshot_of_history(hdir)) == before and exists(hdir, junk)


# -- reindex ----------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["deleted", "garbage", "intact"])
def test_reindex_rebuilds_the_index_from_objects_and_refs(hdir, damage):
    history = snapshot_of_history(hdir)
    db = os.path.join(hdir, ".trace", "index.sqlite")
    if damage == "deleted":
        os.unlink(db)
    elif damage == "garbage":
        with open(db, "wb") as f:
            f.write(b"this is not a database" * 100)
    p = invoke(hdir, "reindex", check=True)
    assert p.stdout == "indexed 10 commits\n"               # 9 on main, 1 more on side
    assert snapshot_of_history(hdir) == history
    assert invoke(hdir, "rev-list", "--count", "main", "side", check=True).stdout == "10\n"


# -- verify-pack ------------------------------------------------------------------------------
def test_verify_pack_of_every_pack(hdir):
    assert invoke(hdir, "verify-pack", check=True).stdout == ""            # no packs yet
    name = invoke(hdir, "repack", check=True).stdout.strip()[5:]
    assert invoke(hdir, "verify-pack", check=True).stdout == f"pack-{name}: ok\n"
    assert invoke(hdir, "verify-pack", "-v", check=True).stdout == f"pack-{name}: ok\n"


@pytest.mark.parametrize("form", [
    "{}", "pack-{}", "pack-{}.pack", "{}.idx"])
def test_verify_pack_of_a_named_pack(hdir, form):
    name = invoke(hdir, "repack", check=True).stdout.strip()[5:]
    p = invoke(hdir, "verify-pack", form.format(name), check=True)
    assert p.stdout == f"pack-{name}: ok\n"


@pytest.mark.parametrize("arg, words", [("nope", "is not a pack name"),
                                        ("pack-" + "a" * 64, "no pack " + "a" * 64),
                                        ("a" * 63, "is not a pack name")])
def test_verify_pack_of_a_bad_name_is_a_one_line_error(hdir, arg, words):
    invoke(hdir, "repack", check=True)
    assert_one_line_error(invoke(hdir, "verify-pack", arg), words)


def test_verify_pack_reports_a_damaged_pack(hdir):
    name = invoke(hdir, "repack", check=True).stdout.strip()[5:]
    path = os.path.join(pack_dir(hdir), f"pack-{name}.pack")
    with open(path, "r+b") as f:
        f.seek(os.path.getsize(path) // 2)
        b = f.read(1)
        f.seek(-1, os.SEEK_CUR)
        f.write(bytes([b[0] ^ 0x40]))
    for args, shown in ((["verify-pack"], ""), (["verify-pack", "-v"], f"pack-{name}: BAD\n")):
        p = invoke(hdir, *args)
        assert p.returncode == 1 and p.stdout == shown
        lines = p.stderr.splitlines()
        assert lines and all(ln.startswith("error: ") for ln in lines), p.stderr
        assert any("checksum" in ln for ln in lines), p.stderr
        assert "Traceback" not in p.stderr


# -- bad usage, and exit codes of a real process ----------------------------------------------
@pytest.mark.parametrize("args", [["gc", "--bogus"], ["repack", "extra"], ["prune", "--expire"],
                                  ["reindex", "now"], ["count-objects", "-x"],
                                  ["verify-pack", "--all"]])
def test_bad_usage_is_refused_by_the_parser(hdir, args):
    before = figures(hdir)
    assert_usage_error(invoke(hdir, *args))
    assert figures(hdir) == before


@pytest.mark.parametrize("command", ["gc", "repack", "prune", "reindex", "verify-pack",
                                     "count-objects"])
def test_outside_a_repository_in_a_real_process(tmp_path, command):
    p = run_in(str(tmp_path), command)
    assert_one_line_error(p, "not in a trace repository")


def test_exit_codes_of_a_real_process(hdir):
    run_in(hdir, "repack", check=True)
    assert_one_line_error(run_in(hdir, "gc", "--prune", "bogus"), "not a duration")
    assert_usage_error(run_in(hdir, "prune", "--bogus"), "--bogus")
    name = packs(hdir)[0]
    with open(os.path.join(pack_dir(hdir), f"pack-{name}.idx"), "r+b") as f:
        f.seek(-1, os.SEEK_END)
        b = f.read(1)
        f.seek(-1, os.SEEK_END)
        f.write(bytes([b[0] ^ 1]))
    p = run_in(hdir, "verify-pack")
    assert p.returncode == 1 and "Traceback" not in p.stderr
    assert p.stderr.startswith("error: ") and "checksum" in p.stderr
