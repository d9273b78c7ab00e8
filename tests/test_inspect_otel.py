"""Public commit metadata (`meta=`, `usage=`, `trace commit --meta/--usage-json`) and the
OpenTelemetry export (`trace_core.integrations.otel`, `trace export-otel`)."""

from __future__ import annotations

import json

import pytest
from conftest import assert_one_line_error, invoke

from trace_core.errors import InputError

# -- public metadata --------------------------------------------------------------------------


def test_append_stores_user_meta_and_usage(repo):
    c = repo.user("hi", meta={"langfuse.trace_id": "abc", "run": "7"})
    assert c.meta == {"user": {"langfuse.trace_id": "abc", "run": "7"}}
    usage = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15,
             "model": "gpt-4o", "provider": "openai", "trace_id": "ls-1", "cost_usd": 0.5}
    c = repo.append_many([{"role": "assistant", "content": "yo"}], usage=usage)
    assert c.meta == {"usage": {"provider": "openai", "model": "gpt-4o", "prompt_tokens": 12,
                                "completion_tokens": 3, "cost_usd": 0.5, "trace_id": "ls-1"}}
    # the stored commit reads back the same (the meta is part of its bytes and id)
    assert repo.get_commit(c.id).meta == c.meta
    # Anthropic/Responses names map onto the same shape; what was not given is null
    c = repo.assistant("x", usage={"input_tokens": 4, "output_tokens": 5})
    assert c.meta["usage"] == {"provider": None, "model": None, "prompt_tokens": 4,
                               "completion_tokens": 5, "cost_usd": None}
    assert repo.user("plain").meta == {}


@pytest.mark.parametrize("meta, words", [
    ({"bad key": "v"}, "bad metadata key"),
    ({"": "v"}, "bad metadata key"),
    ({".x": "v"}, "bad metadata key"),
    ({"k" * 65: "v"}, "bad metadata key"),
    ({1: "v"}, "bad metadata key"),
    ({"k": 1}, "must be a string"),
    ({"k": "v" * 4097}, "4097 characters"),
    ({"k": "a\x00b"}, "NUL"),
    ({f"k{i}": "v" for i in range(65)}, "65 items"),
    (["k", "v"], "mapping"),
])
def test_bad_meta_is_refused_and_nothing_is_committed(repo, meta, words):
    repo.user("first")
    head = repo.head_commit()
    with pytest.raises(InputError, match=words):
        repo.user("second", meta=meta)
    assert repo.head_commit() == head


@pytest.mark.parametrize("usage, words", [
    ({}, "needs prompt_tokens"),
    ({"model": "m"}, "needs prompt_tokens"),
    ({"prompt_tokens": -1}, "non-negative integer"),
    ({"prompt_tokens": True}, "non-negative integer"),
    ({"prompt_tokens": 1.5}, "non-negative integer"),
    ({"prompt_tokens": 2 ** 60}, "non-negative integer"),
    ({"prompt_tokens": 1, "input_tokens": 2}, "twice"),
    ({"prompt_tokens": 1, "model": ""}, "usage model"),
    ({"prompt_tokens": 1, "trace_id": 5}, "usage trace_id"),
    ({"prompt_tokens": 1, "cost_usd": float("nan")}, "cost_usd"),
    ({"prompt_tokens": 1, "cost_usd": -1}, "cost_usd"),
    ({"prompt_tokens": 1, "surprise": 1}, "unknown usage key 'surprise'"),
    ("12", "mapping"),
])
def test_bad_usage_is_refused(repo, usage, words):
    with pytest.raises(InputError, match=words):
        repo.assistant("x", usage=usage)
    assert repo.head_commit() is None


def test_cli_commit_meta_and_usage(rdir):
    p = invoke(rdir, "commit", "--meta", "langsmith.run_id=r-1", "--meta", "note=a=b", "hello")
    assert p.returncode == 0, p.stderr
    p = invoke(rdir, "commit", "--role", "assistant", "--usage-json",
               '{"prompt_tokens": 9, "completion_tokens": 2, "model": "m", "trace_id": "t"}',
               "--meta", "k=v", "answer")
    assert p.returncode == 0, p.stderr
    from trace_core.repository import Repository
    with Repository.open(rdir) as r:
        tip = r.get_commit(r.head_commit())
        first = r.get_commit(tip.parents[0])
    assert first.meta == {"user": {"langsmith.run_id": "r-1", "note": "a=b"}}
    assert tip.meta == {"user": {"k": "v"},
                        "usage": {"provider": None, "model": "m", "prompt_tokens": 9,
                                  "completion_tokens": 2, "cost_usd": None, "trace_id": "t"}}
    shown = invoke(rdir, "show", "--", tip.id.hex())
    assert '"trace_id": "t"' in shown.stdout


@pytest.mark.parametrize("args, words", [
    (("--meta", "novalue", "x"), "not KEY=VALUE"),
    (("--meta", "bad key=1", "x"), "bad metadata key"),
    (("--meta", "k=1", "--meta", "k=2", "x"), "given twice"),
    (("--usage-json", "{", "x"), "--usage-json is not valid JSON"),
    (("--usage-json", '{"prompt_tokens": -3}', "x"), "non-negative integer"),
    (("--usage-json", '{"foo": 1}', "x"), "unknown usage key"),
    (("--type", "pin", "--target", "0", "--meta", "k=v"), "for appends"),
])
def test_cli_bad_meta_is_one_line_error(rdir, args, words):
    invoke(rdir, "commit", "first", check=True)
    p = invoke(rdir, "commit", *args)
    assert_one_line_error(p, words, code=p.returncode)
    assert p.returncode in (1, 2)
    log = invoke(rdir, "log", "--oneline").stdout
    assert len(log.splitlines()) == 1
