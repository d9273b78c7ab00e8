"""The command line as users and scripts run it: real processes, exit codes, one-line errors."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import run_cli, run_in


def assert_one_line_error(p, code=1):
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr
    lines = [ln for ln in p.stderr.splitlines() if ln.strip()]
    assert lines and any(ln.startswith(("error:", "Error:")) for ln in lines), p.stderr


def test_porcelain_flow(rdir):
    run_in(rdir, "commit", "--role", "system", "You are terse.", check=True)
    out = run_in(rdir, "commit", "What is 2+2?", check=True).stdout
    assert out.startswith("[main ") and "append" in out
    run_in(rdir, "commit", "--role", "assistant", "5", check=True)
    run_in(rdir, "commit", "--role", "assistant", "4", check=True)
    log = run_in(rdir, "log", "--oneline", check=True).stdout.splitlines()
    assert len(log) == 4 and "(HEAD -> main)" in log[0] or "HEAD" in log[0]
    st = json.loads(run_in(rdir, "status", "--json", check=True).stdout)
    assert st["entries"] == 4 and st["branch"] == "refs/heads/main"
    # roll the wrong answer back
    run_in(rdir, "reset", "--hard", "HEAD~2", check=True)
    run_in(rdir, "commit", "--role", "assistant", "4", check=True)
    ctx = json.loads(run_in(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in ctx] == ["You are terse.", "What is 2+2?", "4"]
    assert "5" not in run_in(rdir, "context", "--format", "text", check=True).stdout.split()
    reflog = run_in(rdir, "reflog", check=True).stdout
    assert "reset --hard" in reflog
    show = json.loads(run_in(rdir, "show", "--json", check=True).stdout)
    assert show["op"] == "append"
    diff = json.loads(run_in(rdir, "diff", "--json", "HEAD~1", "HEAD", check=True).stdout)
    assert diff["changes"][0]["kind"] == "added" and diff["token_delta"] > 0


def test_soft_reset_status_and_reapply(rdir):
    for m in ["a", "b", "c"]:
        run_in(rdir, "commit", m, check=True)
    out = run_in(rdir, "reset", "HEAD~2", check=True).stdout
    assert "2 undone entries" in out
    st = json.loads(run_in(rdir, "status", "--json", check=True).stdout)
    assert [u["message"]["content"] for u in st["undone"]] == ["b", "c"]
    run_in(rdir, "commit", "--reapply", check=True)
    ctx = json.loads(run_in(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in ctx] == ["a", "b", "c"]


def test_json_message_from_stdin_and_edit_pin_drop(rdir):
    msg = {"role": "tool", "tool_call_id": "c1", "content": "ok", "x_provider": {"k": 1}}
    run_in(rdir, "commit", "--json", input=json.dumps(msg), check=True)
    run_in(rdir, "commit", "second", check=True)
    run_in(rdir, "commit", "--type", "edit", "--target", "1", "SECOND", check=True)
    run_in(rdir, "commit", "--type", "pin", "--target", "0", check=True)
    p = run_in(rdir, "commit", "--type", "drop", "--target", "0")
    assert_one_line_error(p)
    run_in(rdir, "commit", "--type", "drop", "--target", "0", "--force", check=True)
    ctx = json.loads(run_in(rdir, "context", "--format", "json", check=True).stdout)
    assert [e["message"]["content"] for e in ctx] == ["SECOND"]
    first = json.loads(run_in(rdir, "context", "--format", "openai", "HEAD~3", check=True).stdout)
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
trace update-ref refs/heads/main "$c3" 0000000000000000000000000000000000000000000000000000000000000000
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
                       capture_output=True, text=True)
    assert p.returncode == 0 and p.stdout.strip().endswith("OK"), p.stderr


HOSTILE_REFS = ["refs/heads/../../x", "/etc/passwd", "-rf", "refs/heads/a\x01b", "refs/heads/x.lock",
                "refs/heads/a@{1}", "refs/heads/a b", "refs/heads/a..b", "refs/heads/.x", "x" * 2000,
                "refs/heads//x", "refs/heads/x/"]


@pytest.mark.parametrize("name", HOSTILE_REFS)
def test_hostile_ref_names(rdir, name):
    c = run_in(rdir, "commit", "x", check=True)
    assert c.returncode == 0
    before = sorted(os.listdir(rdir + "/.trace/refs/heads"))
    p = run_in(rdir, "update-ref", "--", name, "HEAD")
    assert_one_line_error(p, p.returncode if p.returncode in (1, 2) else 1)
    assert sorted(os.listdir(rdir + "/.trace/refs/heads")) == before
    assert run_in(rdir, "check-ref-format", "--", name).returncode == 1


@pytest.mark.parametrize("args", [
    ["rev-parse", "zzzz"], ["rev-parse", "abc"], ["rev-parse", "HEAD~999"], ["rev-parse", "HEAD^^^^"],
    ["cat-object", "-p", "0" * 64], ["cat-object", "-p", "g" * 64], ["show", "nothing"],
    ["log", "refs/heads/../x"], ["checkout", "nope"], ["reset", "HEAD~50"],
    ["commit", "--json"], ["commit", "--type", "drop", "--target", "99"],
    ["config", "budget.max-tokens", "lots"], ["config", "core.format", "2"],
    ["--agent", "../up", "status"], ["write-snapshot"], ["diff", "HEAD", "HEAD~9"],
])
def test_bad_input_one_line_error(rdir, args):
    run_in(rdir, "commit", "x", check=True)
    before = run_in(rdir, "rev-parse", "HEAD", check=True).stdout
    stdin = {"commit": "{not json", "write-snapshot": "abc 1\n"}.get(args[0])
    p = run_in(rdir, *args, input=stdin)
    assert p.returncode in (1, 2), (args, p.returncode, p.stderr)
    assert "Traceback" not in p.stderr and p.stderr.strip()
    assert run_in(rdir, "rev-parse", "HEAD", check=True).stdout == before


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
        run_in(rdir, "hash-object", "-w", "--stdin", input=json.dumps(m), check=True)
    p = run_in(rdir, "cat-object", "-t", h[:4])
    assert_one_line_error(p)
    assert "ambiguous" in p.stderr
    assert run_in(rdir, "cat-object", "-t", h, check=True).stdout.strip() == "blob"


def test_invalid_utf8_and_malformed_json_inputs(rdir, tmp_path):
    bad = tmp_path / "bad.bin"
    bad.write_bytes(b"\xff\xfe hi")
    assert_one_line_error(run_in(rdir, "commit", "-F", str(bad)))
    assert_one_line_error(run_in(rdir, "hash-object", "--stdin", input="[1, 2]"))
    assert_one_line_error(run_in(rdir, "hash-object", "--stdin", input='{"a": NaN}'))
    deep = "[" * 5000 + "]" * 5000
    p = run_in(rdir, "commit", "--json", input='{"role":"user","content":' + deep + "}")
    assert p.returncode != 0 and "Traceback" not in p.stderr


def test_unknown_format_version_refused(rdir):
    with open(os.path.join(rdir, ".trace", "format"), "w") as f:
        f.write("trace-repository-format 7\n")
    p = run_in(rdir, "log")
    assert_one_line_error(p)
    assert "version 7" in p.stderr


def test_not_a_repository(tmp_path):
    p = run_cli("log", cwd=str(tmp_path))
    assert_one_line_error(p)


def test_agent_namespace_cli(rdir):
    run_in(rdir, "commit", "parent", check=True)
    run_in(rdir, "--agent", "worker-1", "commit", "child", check=True)
    out = json.loads(run_in(rdir, "--agent", "worker-1", "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in out] == ["child"]
    out = json.loads(run_in(rdir, "context", "--format", "openai", check=True).stdout)
    assert [m["content"] for m in out] == ["parent"]


def test_corrupted_object_is_reported_not_served(rdir):
    run_in(rdir, "commit", "a message that will be damaged", check=True)
    jdir = os.path.join(rdir, ".trace", "objects", "journal")
    (name,) = [n for n in os.listdir(jdir) if not n.endswith(".lock")]
    path = os.path.join(jdir, name)
    data = bytearray(open(path, "rb").read())
    data[len(data) // 2] ^= 0x40
    open(path, "wb").write(bytes(data))
    p = run_in(rdir, "fsck")
    assert p.returncode == 1 and "error" in p.stdout
    p = run_in(rdir, "context", "--format", "text")  # needs every object of that one commit
    assert_one_line_error(p)
    assert "a message that will be damaged" not in p.stdout


def test_help_lists_commands():
    p = run_cli("--help", check=True)
    for cmd in ["commit", "log", "status", "reset", "update-ref", "fsck", "gc", "context"]:
        assert cmd in p.stdout


def test_repository_discovery(rdir, tmp_path):
    run_in(rdir, "commit", "found me", check=True)
    sub = os.path.join(rdir, "a", "b")
    os.makedirs(sub)
    p = run_cli("context", "--format", "text", cwd=sub, check=True)
    assert "found me" in p.stdout
    p = run_cli("context", "--format", "text", cwd=str(tmp_path),
                env={"TRACE_DIR": os.path.join(rdir, ".trace")}, check=True)
    assert "found me" in p.stdout
    p = run_cli("-C", os.path.join(rdir, ".trace"), "context", "--format", "text", check=True)
    assert "found me" in p.stdout


def test_rev_parse_short_like_git(rdir):
    run_in(rdir, "commit", "x", check=True)
    full = run_in(rdir, "rev-parse", "HEAD", check=True).stdout.strip()
    assert run_in(rdir, "rev-parse", "--short", "HEAD", check=True).stdout.strip() == full[:12]
    assert run_in(rdir, "rev-parse", "--short=7", "HEAD", check=True).stdout.strip() == full[:7]


def test_python_dash_m_trace_cli(rdir):
    run_in(rdir, "commit", "hello", check=True)
    env = {k: v for k, v in os.environ.items() if k != "TRACE_DIR"}
    p = subprocess.run([sys.executable, "-m", "trace_cli", "-C", rdir, "log", "--oneline"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 0 and p.stdout == run_in(rdir, "log", "--oneline").stdout
    assert "append" in p.stdout and "hello" in p.stdout
    p = subprocess.run([sys.executable, "-m", "trace_cli", "-C", rdir, "nosuch"],
                       capture_output=True, text=True, env=env)
    assert p.returncode == 2 and "No such command 'nosuch'" in p.stderr


def test_repack_refused_while_another_repack_runs(rdir):
    from trace_core.storage.repack import RepackLock

    for m in ("a", "b"):
        run_in(rdir, "commit", m, check=True)
    lock = RepackLock(os.path.join(rdir, ".trace", "objects", "pack"), wait=False)
    try:
        assert lock.held
        p = run_in(rdir, "repack")
        assert_one_line_error(p)
        assert p.stderr == "error: another repack or gc is running; try again when it has finished\n"
    finally:
        lock.release()
    out = run_in(rdir, "repack", check=True).stdout
    assert out.startswith("pack-") and len(out.strip()) == len("pack-") + 64
    out = run_in(rdir, "repack", "--no-dictionary", check=True).stdout
    assert out == "nothing to repack: already one pack\n"
