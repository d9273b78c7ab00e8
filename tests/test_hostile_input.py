"""Hostile input through the real command line: every case is one line and a non-zero exit, and
the repository is unchanged. Arguments that are not UTF-8 reach Python as lone surrogates
(U+DC80..U+DCFF, PEP 383), as `S` below; a real process gets them as bytes (run_cli)."""

from __future__ import annotations

import os
import shutil

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke, invoke_cli, run_cli

S = "\udcff\udcfe"              # what Python makes of the argument bytes ff fe
BIG = "9" * 30                  # beyond 64 bits
A64 = "a" * 64


def J(text: str) -> bytes:
    return text.encode()


# (arguments, standard input, expected: 1 for an `error:` line, 2 for a usage error, and text
# the line holds)
CASES = [
    # message text: bytes that are not UTF-8, lone surrogates, empty content
    (["commit", S], None, 1, "the content argument is not valid UTF-8 (byte 0)"),
    (["commit", "ok" + S], None, 1, "the content argument is not valid UTF-8 (byte 2)"),
    (["commit", "-m", S, "x"], None, 1, "the -m message is not valid UTF-8"),
    (["commit", "--author", "a" + S, "x"], None, 1, "--author is not valid UTF-8 (byte 1)"),
    (["commit", "--role", S, "x"], None, 1, "--role is not valid UTF-8"),
    (["commit"], b"\xff\xfe", 1, "standard input is not valid UTF-8 (byte 0)"),
    (["commit", "-F", "-"], b"ok\xc3", 1, "- is not valid UTF-8 (byte 2)"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"\\ud800"}'), 1,
     "the value of 'content' holds the lone surrogate U+D800"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"\\udc00\\ud800"}'), 1, "lone surrogate"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":[{"type":"text","text":"a\\udfff"}]}'), 1,
     "the value of 'text' holds the lone surrogate U+DFFF at character 1"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"x","\\ud800":"x"}'), 1,
     "map key is not valid UTF-8"),
    (["commit"], b"", 2, "the content is empty"),
    (["commit", ""], None, 2, "the content is empty"),
    (["commit", "-F", "/dev/null"], None, 2, "the content is empty"),
    (["commit", "-F", "/nonexistent/x"], None, 1, "cannot read /nonexistent/x"),
    (["commit", "-F", "/"], None, 1, "Is a directory"),
    # JSON of every wrong type and shape
    (["commit", "--input", "json"],
     b"[]", 1, "the JSON array is empty"),
    (["commit", "--input", "json"],
     b"1", 1, "must be an object"),
    (["commit", "--input", "json"],
     b'"x"', 1, "must be an object"),
    (["commit", "--input", "json"],
     b"null", 1, "must be an object"),
    (["commit", "--input", "json"],
     b"true", 1, "must be an object"),
    (["commit", "--input", "json"],
     b"", 2, "the content is empty"),
    (["commit", "--input", "json"],
     b"{", 1, "not valid JSON"),
    (["commit", "--input", "json"],
     b'{"role":"user","content":"x"} {}', 1, "not valid JSON"),
    (["commit", "--input", "json"],
     b"\xef\xbb\xbf{}", 1, "not valid JSON"),
    (["commit", "--input", "json"],
     b"[" * 100_000, 1, "nested too deeply"),
    (["commit", "--input", "json"],
     b'{"a":' * 100_000, 1, "nested too deeply"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"x","x":' + "[" * 200 + "]" * 200 + "}"), 1,
     "nested deeper than 64 levels"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"x","n":' + BIG + "}"), 1,
     "out of the 64-bit range"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"x","n":-' + BIG + "}"), 1,
     "out of the 64-bit range"),
    (["commit", "--input", "json"],
     J('{"role":"user","content":"x","n":' + "9" * 5000 + "}"), 1,
     "holds a number too long to read"),
    (["commit", "--input", "json"],
     b'{"role":"user","content":"x","n":1e400}', 1,
     "infinite"),
    (["commit", "--input", "json"],
     b'{"role":"user","content":"x","n":NaN}', 1, "NaN"),
    (["commit", "--input", "json"],
     b'{"role":1,"content":"x"}', 1, "unknown role 1"),
    # numbers
    (["commit", "--type", "edit", "--target", BIG, "x"], None, 1, f"entry {BIG} does not exist"),
    (["commit", "--type", "drop", "--target", "-" + BIG], None, 1, "does not exist"),
    (["commit", "--type", "pin", "--target", "x"], None, 2, "--target"),
    (["commit-tree", "HEAD", "--time", "99999999999999999999999"], None, 2, "--time"),
    (["commit-tree", "HEAD", "--time", "-1"], None, 2, "--time"),
    (["commit-tree", "HEAD", "--time", "x"], None, 2, "--time"),
    (["commit-tree", "HEAD", "--target", str(2**64)], None, 2, "--target"),
    (["commit-tree", "HEAD", "-m", S], None, 1, "the -m message is not valid UTF-8"),
    (["commit-tree", "HEAD", "--author", S], None, 1, "--author is not valid UTF-8"),
    (["commit-tree", "HEAD", "--op", "x" * 100], None, 1, "invalid operation type"),
    (["commit-tree", "HEAD", "--meta", "[]"], None, 1, "--meta must be a JSON object"),
    (["commit-tree", "HEAD", "--meta", "[" * 100_000], None, 1, "--meta is nested too deeply"),
    (["commit-tree", "HEAD", "--meta", '{"a":' + BIG + "}"], None, 1, "out of the 64-bit range"),
    (["commit-tree", "HEAD", "--meta", '{"a":"\\ud800"}'], None, 1, "lone surrogate U+D800"),
    (["commit-tree", "HEAD", "--meta", '{"a":1e999}'], None, 1, "infinite"),
    (["log", "-n", "-1"], None, 2, "--max-count"),
    (["log", "-n", "x"], None, 2, "--max-count"),
    (["reflog", "-n", "0"], None, 2, "-n"),
    (["graph", "-n", "-" + BIG], None, 2, "--max-count"),
    (["rev-parse", "--short=x", "HEAD"], None, 2, "--short"),
    (["compress", "HEAD~2..HEAD", "--ratio", "nan"], None, 1, "ratio"),
    (["compress", "HEAD~2..HEAD", "--ratio", "1e400"], None, 2, "--ratio"),
    (["compress", "--entries", "0:" + BIG], None, 1, "outside the context"),
    (["compress", "--entries", "x:y"], None, 1, "is not I:J"),
    (["reorder", "--move", BIG, "--to", "0"], None, 1, "outside the context"),
    (["reorder", "--move", "0", "--to", BIG], None, 1, "no entry"),
    (["reorder", "--move", "0", "--to", "-1"], None, 2, "--to"),
    (["resolve", "x", "--ours"], None, 2, "CONFLICT_ID"),
    # plumbing input
    (["hash-object", "--stdin"], b"[]", 1, "JSON object"),
    (["hash-object", "--stdin"], b"\xff", 1, "input is not valid UTF-8 (byte 0)"),
    (["hash-object", "--stdin"], b"", 1, "not valid JSON"),
    (["hash-object", "--stdin", "--text", "--role", S], b"x", 1, "--role is not valid UTF-8"),
    (["hash-object", "-w", "--stdin"], J('{"role":"user","content":"\\ud800"}'), 1,
     "lone surrogate"),
    (["write-snapshot", "--stdin"], b'[{"blob":1}]', 1, "not a full blob id"),
    (["write-snapshot", "--stdin"], b"[1,2]", 1, "not a full blob id"),
    (["write-snapshot", "--stdin"], b"[" * 100_000, 1, "nested too deeply"),
    (["write-snapshot", "--stdin"], J(A64 + " " + BIG), 1, "flags out of range"),
    (["write-snapshot", "--stdin", "--no-verify"], J(A64 + " -1"), 1, "flags out of range"),
    (["write-snapshot", "--stdin", "--no-verify"], J("\u0661" * 64 + " 0"), 1,
     "not a full blob id"),
    (["write-snapshot", "--stdin"], b"\xff", 1, "not valid UTF-8"),
    (["compress", "HEAD~2..HEAD", "--plan", "-"], b"\xff", 1, "not valid UTF-8"),
    (["reorder", "--todo", "-"], b"\xff", 1, "not valid UTF-8"),
    (["reorder", "--todo", "-"], b"pick " + BIG.encode(), 1, "line 1"),
    (["reorder", "--todo", "-"], b"", 1, "empty"),
    (["verify-pack", "../x"], None, 1, "not a pack name"),
    (["gc", "--prune", S], None, 1, "not a duration"),
    (["prune", "--expire", "-1d"], None, 1, "not a duration"),
    (["context", "--format", S], None, 2, "--format"),
    # revisions
    (["rev-parse", "HEAD~" + BIG], None, 1, "has no parent"),
    (["rev-parse", "HEAD^" + BIG], None, 1, "has no parent"),
    (["rev-parse", "HEAD~1~" + BIG], None, 1, "has no parent"),
    (["rev-parse", "@{-1}"], None, 1, "bad reflog selector"),
    (["rev-parse", "HEAD@{-" + BIG + "}"], None, 1, "bad reflog selector"),
    (["rev-parse", "main@{" + BIG + "}"], None, 1, "the reflog of refs/heads/main has only"),
    (["rev-parse", "../x"], None, 1, "unknown revision '../x'"),
    (["rev-parse", "HEAD..HEAD..HEAD"], None, 1, "unknown revision"),
    (["rev-parse", S], None, 1, "unknown revision"),
    (["rev-parse", "x" * 10_000], None, 1, "invalid revision"),
    (["rev-parse", "HEAD" + "~" * 100_000], None, 1, "invalid revision"),
    (["rev-parse", "HEAD~-1"], None, 1, "cannot parse revision"),
    (["log", "HEAD~" + BIG], None, 1, "has no parent"),
    (["log", "@{-1}"], None, 1, "bad reflog selector"),
    (["show", "HEAD^" + BIG], None, 1, "has no parent"),
    (["diff", "HEAD", "@{-1}"], None, 1, "bad reflog selector"),
    (["context", "../x"], None, 1, "unknown revision"),
    (["ls-snapshot", "HEAD~" + BIG], None, 1, "has no parent"),
    (["cat-object", "-p", "@{-1}"], None, 1, "bad reflog selector"),
    (["reset", "HEAD~" + BIG], None, 1, "has no parent"),
    (["checkout", "@{-1}"], None, 1, "bad reflog selector"),
    (["merge", "HEAD~" + BIG], None, 1, "has no parent"),
    (["cherry-pick", "@{-1}"], None, 1, "bad reflog selector"),
    (["revert", "../x"], None, 1, "unknown revision"),
    (["rebase", "HEAD~" + BIG], None, 1, "has no parent"),
    (["rev-list", "HEAD~" + BIG], None, 1, "has no parent"),
    (["merge-base", "HEAD", "@{-1}"], None, 1, "bad reflog selector"),
    (["compress", "HEAD~" + BIG + "..HEAD"], None, 1, "has no parent"),
    (["reflog", "../x"], None, 1, "../x"),
    # ref and agent names
    (["branch", "../x"], None, 1, "invalid ref name"),
    (["branch", S], None, 1, "not valid UTF-8"),
    (["branch", "x" * 10_000], None, 1, "longer than 1024 bytes"),
    (["branch", "-m", "side", "../x"], None, 1, "invalid ref name"),
    (["tag", "a..b"], None, 1, "invalid ref name"),
    (["tag", "t2", "HEAD~" + BIG], None, 1, "has no parent"),
    (["switch", "-c", "@{-1}"], None, 1, "invalid ref name"),
    (["update-ref", "refs/heads/../x", "HEAD"], None, 1, "invalid ref name"),
    (["symbolic-ref", "HEAD", "refs/heads/../x"], None, 1, "invalid ref name"),
    (["--agent", "../x", "log"], None, 1, "invalid agent name"),
    (["--agent", S, "log"], None, 1, "invalid agent name"),
    (["init", "--branch", "../x", "{tmp}/new"], None, 1, "invalid ref name"),
    (["init", "--encoding", "nope", "{tmp}/new"], None, 1, "unknown token encoding"),
    (["config", "user.name", S], None, 1, "user.name"),
]


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory):
    """A repository with three messages, a branch `side` and a tag `v1` (no case may change
    it: each one fails)."""
    d = str(tmp_path_factory.mktemp("hostile") / "r")
    invoke_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    for text in ("one", "two", "three"):
        invoke(d, "commit", text, check=True)
    invoke(d, "branch", "side", check=True)
    invoke(d, "tag", "v1", check=True)
    return d


def _state(rdir: str) -> tuple:
    refs = sorted(os.path.join(r, f) for r, _, fs in os.walk(rdir + "/.trace/refs") for f in fs)
    return refs, invoke(rdir, "for-each-ref", check=True).stdout, \
        invoke(rdir, "rev-parse", "HEAD", check=True).stdout


@pytest.mark.parametrize("args, stdin, code, says", CASES,
                         ids=[f"{i}-{' '.join(c[0])[:40]}" for i, c in enumerate(CASES)])
def test_hostile_input_is_one_line(hostile_repo, tmp_path, args, stdin, code, says):
    before = _state(hostile_repo)
    args = [a.replace("{tmp}", str(tmp_path)) for a in args]
    p = invoke(hostile_repo, *args, input=stdin, env={"EDITOR": "false"})
    if code == 2 and not p.stderr.startswith("error: "):
        assert_usage_error(p, says)
    else:
        assert_one_line_error(p, says, code=code)
    assert p.stdout == ""
    assert _state(hostile_repo) == before
    assert not os.path.exists(tmp_path / "new")


def test_argument_bytes_in_a_real_process(rdir):
    """As a shell passes them: `trace commit $'\\xff\\xfe'` and a --time beyond 64 bits."""
    invoke(rdir, "commit", "x", check=True)
    assert_one_line_error(run_cli("-C", rdir, "commit", S), "not valid UTF-8 (byte 0)")
    assert_usage_error(run_cli("-C", rdir, "commit-tree", "HEAD", "--time", "9" * 23), "--time")
    p = run_cli("-C", rdir, "commit", "--input", "json",
                input='{"role":"user","content":"\\ud800"}')
    assert_one_line_error(p, "lone surrogate U+D800")
    assert invoke(rdir, "rev-list", "--count", "HEAD", check=True).stdout.strip() == "1"


def test_commit_time_at_the_64_bit_limit_is_stored(rdir):
    invoke(rdir, "commit", "x", check=True)
    top = str(2**64 - 1)
    cid = invoke(rdir, "commit-tree", "HEAD", "-p", "HEAD", "--time", top, check=True).stdout
    assert f'"time_ms": {top}' in invoke(rdir, "cat-object", "-p", cid.strip(), check=True).stdout


def test_non_utf8_path_is_printed_back_as_its_bytes(tmp_path):
    """A directory name that is not UTF-8 is echoed as the same bytes, even on a strict stdout."""
    from click.testing import CliRunner

    target = str(tmp_path / ("d" + S))
    # CliRunner's stdout is strict UTF-8, as a terminal's is under a UTF-8 locale
    with CliRunner().isolation() as (out, _err, _):
        import sys
        assert sys.stdout.errors == "strict"
    p = invoke_cli("init", target)
    assert p.returncode == 0, p.stderr
    assert os.path.isdir(os.fsencode(target) + b"/.trace")
    shutil.rmtree(os.fsencode(target))


def _explode(*a, **k):
    raise ZeroDivisionError("something no code meant")


def test_unexpected_exception_is_one_line_internal_error(rdir, monkeypatch):
    from trace_core.repository import Repository

    invoke(rdir, "commit", "x", check=True)
    monkeypatch.setattr(Repository, "status", _explode)
    p = invoke(rdir, "status")
    assert_one_line_error(p, "internal error: ZeroDivisionError: something no code meant",
                          "TRACE_DEBUG=1", code=3)
    with pytest.raises(ZeroDivisionError):         # TRACE_DEBUG=1: the traceback, as asked
        invoke(rdir, "status", env={"TRACE_DEBUG": "1"})


def test_message_size_limit(rdir, monkeypatch):
    """A message over MAX_MESSAGE_SIZE (bytes of its canonical encoding) is refused by commit
    and edit with one line, nothing written; input over 6 times the limit is not read in full."""
    import trace_core.history as history
    from trace_core.objects import Blob

    monkeypatch.setattr(history, "MAX_MESSAGE_SIZE", 1000)
    invoke(rdir, "commit", "x", check=True)
    fits = next(n for n in range(2000)
                if len(Blob({"role": "user", "content": "y" * n}).to_bytes()) == 1000)
    invoke(rdir, "commit", "y" * fits, check=True)                   # exactly at the limit
    for args in (["commit", "y" * (fits + 1)],
                 ["commit", "--type", "edit", "--target", "0", "y" * 5000]):
        assert_one_line_error(invoke(rdir, *args),
                              "the message is 1001 bytes" if len(args) == 2 else "bytes",
                              "more than a message may have (1000 bytes")
    p = invoke(rdir, "commit", "--input", "json",
               input='{"role":"user","content":"' + "z" * 7000 + '"}')
    assert_one_line_error(p, "standard input is larger than 6000 bytes")
    assert invoke(rdir, "rev-list", "--count", "HEAD", check=True).stdout.strip() == "2"


def test_message_size_limit_in_the_library(repo):
    from trace_core.errors import ObjectTooLarge
    from trace_core.history import MAX_MESSAGE_SIZE

    assert MAX_MESSAGE_SIZE == 16 * 1024 * 1024
    with pytest.raises(ObjectTooLarge, match="more than a message may have"):
        repo.user("x" * MAX_MESSAGE_SIZE)
    assert repo.head_commit() is None
