"""The public API integrators use: repo.log(), repo.commit_info() and usage notes
(record_usage, `trace record-usage`, docs/integrations.md, FORMAT.md §6.4.1a)."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from conftest import assert_one_line_error, invoke

from trace_core import Repository
from trace_core.errors import CorruptObject, InputError, RevisionError
from trace_core.fsck import fsck
from trace_core.gc import gc
from trace_core.notes import NOTES_REF


def _three(repo):
    repo.user("question")
    repo.assistant("answer", meta={"langfuse.trace_id": "t1"},
                   usage={"input_tokens": 12, "output_tokens": 3, "model": "m1"})
    repo.user("follow-up")


def test_log_gives_commit_infos_newest_first(repo):
    _three(repo)
    infos = repo.log()
    assert [i.summary for i in infos] == ["user: follow-up", "assistant: answer",
                                          "user: question"]
    head = infos[0]
    assert head.id == repo.head_commit().hex() and head.parents == (infos[1].id,)
    assert head.refs == ("HEAD -> main",) and infos[1].refs == ()
    assert head.op == "append" and head.total_tokens == repo.status().total_tokens
    assert [i.id for i in repo.log(limit=2)] == [infos[0].id, infos[1].id]
    assert [i.id for i in repo.log("HEAD~1")] == [infos[1].id, infos[2].id]
    assert [i.id for i in repo.log("HEAD~2..HEAD")] == [infos[0].id, infos[1].id]
    # the same records `trace log --json` prints
    from trace_core.render.log import log_records
    assert log_records(repo) == [i.to_dict() for i in infos]


def test_commit_info_reads_message_meta_and_usage(repo):
    _three(repo)
    info = repo.commit_info("HEAD~1")
    assert info.message == "assistant: answer"
    assert info.meta == {"langfuse.trace_id": "t1"}
    assert info.usage == {"provider": None, "model": "m1", "prompt_tokens": 12,
                          "completion_tokens": 3, "cost_usd": None}
    assert info.inference is None
    plain = repo.commit_info()
    assert plain.meta == {} and plain.usage is None
    with pytest.raises(RevisionError):
        repo.commit_info("nope")


def test_log_of_an_empty_branch_says_so(repo):
    with pytest.raises(Exception, match="no commits yet"):
        repo.log()


def test_record_usage_adds_a_note_the_latest_winning(repo):
    _three(repo)
    head = repo.head_commit()
    note = repo.record_usage({"prompt_tokens": 40, "completion_tokens": 2, "provider": "openai"})
    assert repo.head_commit() == head                      # history is not touched
    assert repo.refs.read(NOTES_REF) == note
    assert repo.commit_info().usage["prompt_tokens"] == 40
    repo.record_usage({"prompt_tokens": 41, "completion_tokens": 2})
    assert repo.commit_info().usage["prompt_tokens"] == 41
    # a note is the later word on an append that carried its own usage
    repo.record_usage({"input_tokens": 99, "output_tokens": 1}, "HEAD~1")
    assert repo.commit_info("HEAD~1").usage["prompt_tokens"] == 99
    assert repo.commit_info("HEAD~2").usage is None
    assert [i.op for i in repo.log(NOTES_REF)] == ["note"] * 3
    assert repo.show("HEAD")["usage_note"]["prompt_tokens"] == 41


def test_record_usage_refuses_bad_input_and_writes_nothing(repo):
    _three(repo)
    for bad in ({"bogus": 1}, {"prompt_tokens": -1}, "12", {"model": 5}):
        with pytest.raises(InputError):
            repo.record_usage(bad)
    assert repo.refs.read(NOTES_REF) is None
    with pytest.raises(RevisionError):
        repo.record_usage({"prompt_tokens": 1}, "nope")
    assert repo.refs.read(NOTES_REF) is None


def test_a_damaged_note_fails_loudly(repo):
    _three(repo)
    from trace_core.plumbing.refs import set_ref
    set_ref(repo, NOTES_REF, None, repo.head_commit().hex())    # an append, not a note
    with pytest.raises(CorruptObject, match="refs/notes/usage: commit .* is not a usage note"):
        _ = repo.commit_info().usage


def test_notes_survive_gc_and_fsck(repo):
    _three(repo)
    repo.record_usage({"prompt_tokens": 5, "completion_tokens": 1})
    gc(repo, prune_expire_s=0)
    reopened = Repository.open(repo.trace_dir)
    assert reopened.commit_info().usage["prompt_tokens"] == 5
    assert fsck(reopened) == []


_RECORDER = """
import sys
from trace_core import Repository
r = Repository.open(sys.argv[1])
for i in range(int(sys.argv[3])):
    r.record_usage({"prompt_tokens": int(sys.argv[2]) * 1000 + i, "completion_tokens": 1})
"""


def test_concurrent_recorders_all_land(repo):
    _three(repo)
    procs = [subprocess.Popen([sys.executable, "-c", _RECORDER, repo.trace_dir, str(n), "8"])
             for n in range(4)]
    assert all(p.wait(timeout=120) == 0 for p in procs)
    notes = repo.log(NOTES_REF)
    assert len(notes) == 32
    seen = sorted(n.commit.meta["note"]["usage"]["prompt_tokens"] for n in notes)
    assert seen == sorted(n * 1000 + i for n in range(4) for i in range(8))


def test_cli_record_usage_and_show(rdir):
    invoke(rdir, "commit", "hi", check=True)
    p = invoke(rdir, "record-usage", '{"input_tokens": 7, "output_tokens": 2, "model": "c"}')
    assert p.returncode == 0 and p.stdout.startswith("recorded usage of "), p.stderr
    shown = invoke(rdir, "show", check=True).stdout
    assert "Usage:  c: 7 prompt + 2 completion tokens, cost unknown (recorded later)" in shown
    data = json.loads(invoke(rdir, "show", "--json", check=True).stdout)
    assert data["usage_note"]["prompt_tokens"] == 7
    out = json.loads(invoke(rdir, "record-usage", "--json", '{"prompt_tokens": 8}', "HEAD",
                            check=True).stdout)
    assert out["usage"]["prompt_tokens"] == 8 and len(out["note"]) == 64
    assert_one_line_error(invoke(rdir, "record-usage", '{"bogus": 1}'), "unknown usage key")
    assert_one_line_error(invoke(rdir, "record-usage", "{nope"), "JSON is not valid JSON")
    # a note without provider or model reads as counts alone
    invoke(rdir, "record-usage", '{"prompt_tokens": 299, "completion_tokens": 1}', check=True)
    assert "Usage:  299 prompt + 1 completion tokens, cost unknown (recorded later)" in \
        invoke(rdir, "show", check=True).stdout
    assert_one_line_error(invoke(rdir, "record-usage", '{"prompt_tokens": 1}', "nope"),
                          "unknown revision")
