"""The command line as users and scripts see it: behaviour in-process through the real entry
point; real processes for exit statuses, shell scripts and `python -m trace_cli`."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import (
    assert_one_line_error,
    assert_usage_error,
    invoke,
    invoke_cli,
    run_cli,
    run_in,
)


def test_porcelain_flow(rdir):
    invoke(rdir, "commit", "--role", "system", "You are terse.", check=True)
    out = invoke(rdir, "commit", "What is 2+2?", check=True).stdout
    assert out.startswith("[main ") and "append" in out
    invoke(rdir, "commit", "--role", "assistant", "5", check=True)
    invoke(rdir, "commit", "--role", "assistant", "4", check=True)
    log = invoke(rdir, "log", "--oneline", check=True).stdout.splitlines()
    assert len(log) == 4 and "(HEAD -> main)" in log[0], log
    assert not any("HEAD" in line for line in log[1:]), log
    st = json.loads(invoke(rdir, "status", "--json", check=True).stdout)
    assert st["entries"] == 4 and st["branch"] == "refs/heads/main"
    # roll the wrong answer back
    invoke(rdir, "reset", "--hard", "HEAD~2", check=True)
    invoke(rdir, "commit", "--role", "assistant", "4", check=True)
    ctx = json.loads(invoke(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in ctx] == ["You are terse.", "What is 2+2?", "4"]
    assert "5" not in invoke(rdir, "context", "--format", "text", check=True).stdout.split()
    reflog = invoke(rdir, "reflog", check=True).stdout
    assert "reset --hard" in reflog
    show = json.loads(invoke(rdir, "show", "--json", check=True).stdout)
    assert show["op"] == "append"
    diff = json.loads(invoke(rdir, "diff", "--json", "HEAD~1", "HEAD", check=True).stdout)
    assert diff["changes"][0]["kind"] == "added" and diff["token_delta"] > 0


def test_soft_reset_status_and_reapply(rdir):
    for m in ["a", "b", "c"]:
        invoke(rdir, "commit", m, check=True)
    out = invoke(rdir, "reset", "HEAD~2", check=True).stdout
    assert "2 undone entries" in out
    st = json.loads(invoke(rdir, "status", "--json", check=True).stdout)
    assert [u["message"]["content"] for u in st["undone"]] == ["b", "c"]
    invoke(rdir, "commit", "--reapply", check=True)
    ctx = json.loads(invoke(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in ctx] == ["a", "b", "c"]


def test_json_message_from_stdin_and_edit_pin_drop(rdir):
    msg = {"role": "tool", "tool_call_id": "c1", "content": "ok", "x_provider": {"k": 1}}
    invoke(rdir, "commit", "--json", input=json.dumps(msg), check=True)
    invoke(rdir, "commit", "second", check=True)
    invoke(rdir, "commit", "--type", "edit", "--target", "1", "SECOND", check=True)
    invoke(rdir, "commit", "--type", "pin", "--target", "0", check=True)
    p = invoke(rdir, "commit", "--type", "drop", "--target", "0")
    assert_one_line_error(p, "entry 0 is pinned")
    invoke(rdir, "commit", "--type", "drop", "--target", "0", "--force", check=True)
    ctx = json.loads(invoke(rdir, "context", "--format", "json", check=True).stdout)
    assert [e["message"]["content"] for e in ctx] == ["SECOND"]
    first = json.loads(invoke(rdir, "context", "--format", "openai", "HEAD~3", check=True).stdout)
    assert first[0] == msg


PLUMBING_SCRIPT = r"""
set -eu
trace() { "$PY" -m trace_cli.main "$@"; }
trace init -q --encoding chars/4 repo
cd repo
b1=$(echo '{"role":"system","content":"be brief"}' | trace hash-object -w --stdin)
b2=$(echo '{"role":"user","content":"hello"}' | trace hash-object -w --stdin)
b3=$(printf 'hi!' | trace hash-object -w --stdin --text --role assistant)
s1=$(printf '%s 1\n' "$b1" | trace write-snapshot --stdin)
s2=$(printf '%s 1\n%s\n' "$b1" "$b2" | trace write-snapshot --stdin)
s3=$(printf '%s 1\n%s\n%s\n' "$b1" "$b2" "$b3" | trace write-snapshot --stdin)
c1=$(trace commit-tree "$s1" -m "system prompt" --blob "$b1" --target 0 --time 1000)
c2=$(trace commit-tree "$s2" -p "$c1" -m "user" --blob "$b2" --target 1 --time 2000)
c3=$(trace commit-tree "$s3" -p "$c2" -m "assistant" --blob "$b3" --target 2 --time 3000)
trace update-ref refs/heads/main "$c3" \
    0000000000000000000000000000000000000000000000000000000000000000
trace update-ref refs/heads/side "$c1"
test "$(trace rev-parse HEAD)" = "$c3"
test "$(trace rev-parse HEAD~2)" = "$c1"
test "$(trace rev-parse side)" = "$c1"
test "$(trace rev-list HEAD | wc -l)" = 3
test "$(trace rev-list HEAD ^side | wc -l)" = 2
test "$(trace merge-base main side)" = "$c1"
test "$(trace cat-object -t "$c3")" = commit
test "$(trace cat-object -t "$b1")" = blob
test "$(trace ls-snapshot HEAD | wc -l)" = 3
test "$(trace symbolic-ref HEAD)" = refs/heads/main
trace for-each-ref --format '%(refname) %(objectname)' > refs.txt
grep -q "refs/heads/side $c1" refs.txt
if trace update-ref refs/heads/main "$c1" "$c2" 2>err.txt; then exit 10; fi
grep -q '^error: ' err.txt
test "$(trace rev-parse main)" = "$c3"
trace update-ref -d refs/heads/side "$c1"
if trace rev-parse --verify side 2>/dev/null; then exit 11; fi
trace fsck
trace context --format text | grep -q "hi!"
echo OK
"""


def test_shell_script_plumbing(tmp_path):
    env = dict(os.environ, PY=sys.executable)
    env.pop("TRACE_DIR", None)
    p = subprocess.run(["bash", "-c", PLUMBING_SCRIPT], cwd=tmp_path, env=env,
                       capture_output=True, text=True, check=False)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), p.stderr


HOSTILE_REFS = ["refs/heads/../../x", "/etc/passwd", "-rf", "refs/heads/a\x01b",
                "refs/heads/x.lock", "refs/heads/a@{1}", "refs/heads/a b", "refs/heads/a..b",
                "refs/heads/.x", "x" * 2000, "refs/heads//x", "refs/heads/x/"]


@pytest.mark.parametrize("name", HOSTILE_REFS)
def test_hostile_ref_names(rdir, name):
    invoke(rdir, "commit", "x", check=True)
    before = sorted(os.listdir(rdir + "/.trace/refs/heads"))
    assert_one_line_error(invoke(rdir, "update-ref", "--", name, "HEAD"), "invalid ref name")
    assert sorted(os.listdir(rdir + "/.trace/refs/heads")) == before
    assert_one_line_error(invoke(rdir, "check-ref-format", "--", name), "invalid ref name")


@pytest.mark.parametrize("args, stdin, says", [
    (["rev-parse", "zzzz"], None, "unknown revision 'zzzz'"),
    (["rev-parse", "abc"], None, "unknown revision 'abc'"),
    (["rev-parse", "HEAD~999"], None, "has no parent"),
    (["rev-parse", "HEAD^^^^"], None, "has no parent"),
    (["cat-object", "-p", "0" * 64], None, "not found"),
    (["cat-object", "-p", "g" * 64], None, "unknown revision"),
    (["show", "nothing"], None, "unknown revision 'nothing'"),
    (["log", "refs/heads/../x"], None, "unknown revision"),
    (["checkout", "nope"], None, "unknown revision 'nope'"),
    (["reset", "HEAD~50"], None, "has no parent"),
    (["commit", "--input", "json"], "{not json", "not valid JSON"),
    (["commit", "--type", "drop", "--target", "99"], None, "entry 99 does not exist"),
    (["config", "budget.max-tokens", "lots"], None, "budget.max-tokens"),
    (["config", "core.format", "2"], None, "core.format"),
    (["--agent", "../up", "status"], None, "invalid agent name"),
    (["write-snapshot"], "abc 1\n", "not a full blob id"),
    (["diff", "HEAD", "HEAD~9"], None, "has no parent"),
])
def test_bad_input_one_line_error(rdir, args, stdin, says):
    invoke(rdir, "commit", "x", check=True)
    before = invoke(rdir, "rev-parse", "HEAD", check=True).stdout
    p = invoke(rdir, *args, input=stdin)
    assert_one_line_error(p, says)
    assert p.stdout == ""
    assert invoke(rdir, "rev-parse", "HEAD", check=True).stdout == before


def test_exit_statuses_as_the_os_sees_them(rdir, tmp_path):
    """Errors from a real process: the fast path's, click's (stdin piped in), the parser's."""
    invoke(rdir, "commit", "x", check=True)
    assert_one_line_error(run_cli("log", cwd=str(tmp_path)), "not in a trace repository")
    assert_one_line_error(run_in(rdir, "rev-parse", "zzzz"), "unknown revision 'zzzz'")
    assert_one_line_error(run_in(rdir, "commit", "--input", "json", input="{not json"),
                          "not valid JSON")
    assert_usage_error(run_in(rdir, "log", "--bogus"), "--bogus")
    p = run_in(rdir, "rev-parse", "HEAD")
    assert p.returncode == 0 and len(p.stdout.strip()) == 64 and p.stderr == "", p


def test_ambiguous_short_id(rdir):
    from trace_core.objects import Blob
    seen: dict = {}
    i = 0
    while True:  # find two messages whose blob ids share 4 hex digits (birthday: ~300 tries)
        msg = {"role": "user", "content": str(i)}
        h = Blob(msg).hex
        if h[:4] in seen:
            pair = [seen[h[:4]], msg]
            break
        seen[h[:4]] = msg
        i += 1
    for m in pair:
        invoke(rdir, "hash-object", "-w", "--stdin", input=json.dumps(m), check=True)
    assert_one_line_error(invoke(rdir, "cat-object", "-t", h[:4]), "ambiguous")
    assert invoke(rdir, "cat-object", "-t", h, check=True).stdout.strip() == "blob"


def test_invalid_utf8_and_malformed_json_inputs(rdir, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff\xfe hi")
    assert_one_line_error(invoke(rdir, "commit", "-F", str(bad)), "not valid UTF-8")
    assert_one_line_error(invoke(rdir, "hash-object", "--stdin", input="[1, 2]"),
                          "must be a JSON object")
    assert_one_line_error(invoke(rdir, "hash-object", "--stdin", input='{"a": NaN}'), "NaN")
    deep = "[" * 5000 + "]" * 5000
    p = invoke(rdir, "commit", "--input", "json",
               input='{"role":"user","content":' + deep + "}")
    assert_one_line_error(p, "nested too deeply")
    assert_one_line_error(invoke(rdir, "log"), "no commits yet")      # nothing was committed


def test_unknown_format_version_refused(rdir):
    with open(os.path.join(rdir, ".trace", "format"), "w") as f:
        f.write("trace-repository-format 7\n")
    assert_one_line_error(invoke(rdir, "log"), "version 7")


def test_not_a_repository(tmp_path):
    assert_one_line_error(invoke_cli("log", cwd=str(tmp_path)), "not in a trace repository")


def test_agent_namespace_cli(rdir):
    invoke(rdir, "commit", "parent", check=True)
    invoke(rdir, "--agent", "worker-1", "--create", "commit", "child", check=True)
    out = json.loads(invoke(rdir, "--agent", "worker-1", "context", "--format", "openai",
                            check=True).stdout)
    assert [m["content"] for m in out] == ["child"]
    out = json.loads(invoke(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in out] == ["parent"]
    for args in (["commit", "lost"], ["status"], ["log"]):   # a typo is refused, nothing made
        assert_one_line_error(invoke(rdir, "--agent", "worker-l", *args), "no agent 'worker-l'")
    assert sorted(os.listdir(os.path.join(rdir, ".trace", "agents"))) == ["worker-1"]


def test_corrupted_object_is_reported_not_served(rdir):
    invoke(rdir, "commit", "a message that will be damaged", check=True)
    jdir = os.path.join(rdir, ".trace", "objects", "journal")
    (name,) = [n for n in os.listdir(jdir) if not n.endswith(".lock")]
    path = os.path.join(jdir, name)
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        data[len(data) // 2] ^= 0x40
        f.seek(0)
        f.write(data)
    p = invoke(rdir, "fsck")
    assert p.returncode == 1 and "error" in p.stdout
    p = invoke(rdir, "context", "--format", "text")  # needs every object of that one commit
    assert_one_line_error(p)
    assert "a message that will be damaged" not in p.stdout


def test_help_lists_commands():
    from trace_cli.registry import COMMANDS

    p = invoke_cli("--help", check=True)   # grouped like `git help` (test_cli_conventions.py)
    listed = p.stdout.split("\nStart a repository:\n", 1)[1].split("\n\n  'trace help")[0]
    rows = [line.split()[0] for line in listed.splitlines()
            if line.startswith("  ") and not line.startswith("   ")]
    assert sorted(rows) == sorted(COMMANDS), p.stdout


def test_repository_discovery(rdir, tmp_path):
    invoke(rdir, "commit", "found me", check=True)
    sub = os.path.join(rdir, "a", "b")
    os.makedirs(sub)
    p = invoke_cli("context", "--format", "text", cwd=sub, check=True)
    assert "found me" in p.stdout
    p = invoke_cli("context", "--format", "text", cwd=str(tmp_path),
                   env={"TRACE_DIR": os.path.join(rdir, ".trace")}, check=True)
    assert "found me" in p.stdout
    p = invoke_cli("-C", os.path.join(rdir, ".trace"), "context", "--format", "text", check=True)
    assert "found me" in p.stdout


def test_rev_parse_short_like_git(rdir):
    invoke(rdir, "commit", "x", check=True)
    full = invoke(rdir, "rev-parse", "HEAD", check=True).stdout.strip()
    assert len(full) == 64
    assert invoke(rdir, "rev-parse", "--short", "HEAD", check=True).stdout.strip() == full[:12]
    assert invoke(rdir, "rev-parse", "--short=7", "HEAD", check=True).stdout.strip() == full[:7]


def test_python_dash_m_trace_cli(rdir):
    invoke(rdir, "commit", "hello", check=True)
    env = {k: v for k, v in os.environ.items() if k != "TRACE_DIR"}
    p = subprocess.run([sys.executable, "-m", "trace_cli", "-C", rdir, "log", "--oneline"],
                       capture_output=True, text=True, check=False, env=env)
    assert p.returncode == 0 and p.stdout == invoke(rdir, "log", "--oneline").stdout
    assert "append" in p.stdout and "hello" in p.stdout
    p = subprocess.run([sys.executable, "-m", "trace_cli", "-C", rdir, "nosuch"],
                       capture_output=True, text=True, check=False, env=env)
    assert_one_line_error(p, "'nosuch' is not a trace command", code=2)  # (as git says it)


def test_repack_refused_while_another_repack_runs(rdir):
    from trace_core.storage.repack import RepackLock

    for m in ("a", "b"):
        invoke(rdir, "commit", m, check=True)
    lock = RepackLock(os.path.join(rdir, ".trace", "objects", "pack"), wait=False)
    try:
        assert lock.held
        p = invoke(rdir, "repack")      # the lock is an flock: a second open file is refused
        assert_one_line_error(p)
        assert p.stderr == ("error: another repack or gc is running; "
                            "try again when it has finished\n")
    finally:
        lock.release()
    out = invoke(rdir, "repack", check=True).stdout
    assert out.startswith("pack-") and len(out.strip()) == len("pack-") + 64
    out = invoke(rdir, "repack", "--no-dictionary", check=True).stdout
    assert out == "nothing to repack: already one pack\n"
