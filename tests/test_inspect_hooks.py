"""Logging hooks (docs/inspect.md "Hooks"): Python callbacks for commit, ref and operation events,
and hook programs (`hooks.post-*`, trusted settings) run by the CLI with the event as JSON."""

from __future__ import annotations

import json
import os
import shlex
import sys
import time

import pytest

from tests.conftest import invoke, invoke_cli, run_in
from trace_core import Repository
from trace_core.errors import InputError
from trace_core.hooks import EVENTS, PROGRAM_KEYS, HookEvent


def record(repo, event="*"):
    seen: list[HookEvent] = []
    repo.on(event, seen.append)
    return seen


def kinds(seen):
    return [e.event for e in seen]


# ---------------------------------------------------------------------------------------------
# Python callbacks


def test_commit_and_ref_events_in_order(repo):
    seen = record(repo)
    c1 = repo.user("hello")
    c2 = repo.assistant("hi")
    assert [(e.event, e.ref, e.old, e.new) for e in seen] == [
        ("ref", "refs/heads/main", None, c1.hex), ("commit", "refs/heads/main", None, c1.hex),
        ("ref", "refs/heads/main", c1.hex, c2.hex), ("commit", "refs/heads/main", None, c2.hex)]
    assert seen[1].commit == c1 and seen[3].commit == c2
    assert seen[0].message == f"append: {c1.summary}" and seen[1].message == c1.message
    assert {e.agent for e in seen} == {None}
    assert all(e.trace_dir == repo.trace_dir for e in seen)


def test_each_event_alone_and_registration_order(repo):
    calls = []
    repo.on("commit", lambda e: calls.append(("first", e.event)))
    repo.on("ref", lambda e: calls.append(("ref-only", e.event)))
    repo.on("*", lambda e: calls.append(("all", e.event)))
    repo.on("commit", lambda e: calls.append(("last", e.event)))
    repo.user("x")
    assert calls == [("ref-only", "ref"), ("all", "ref"),
                     ("first", "commit"), ("all", "commit"), ("last", "commit")]


def test_ref_events_of_branches_tags_and_head(repo):
    c1 = repo.user("one")
    seen = record(repo, "ref")
    repo.branch_create("b")
    repo.tag_create("v1")
    repo.switch("b")
    repo.branch_rename("b", "c")
    repo.switch("main")
    repo.branch_delete("c")
    repo.tag_delete("v1")
    moves = [(e.ref, e.old, e.new) for e in seen]
    assert moves == [
        ("refs/heads/b", None, c1.hex), ("refs/tags/v1", None, c1.hex),
        ("HEAD", "ref:refs/heads/main", "ref:refs/heads/b"),
        ("refs/heads/b", c1.hex, None), ("refs/heads/c", None, c1.hex),
        ("HEAD", "ref:refs/heads/b", "ref:refs/heads/c"),
        ("HEAD", "ref:refs/heads/c", "ref:refs/heads/main"),
        ("refs/heads/c", c1.hex, None), ("refs/tags/v1", c1.hex, None)]
    assert seen[0].message == "branch: created from HEAD"


def test_reset_and_merges_fire_their_operation_events(repo):
    c1 = repo.user("base")
    c2 = repo.assistant("more")
    seen = record(repo)
    repo.reset("HEAD~1", mode="hard")
    assert kinds(seen) == ["ref", "ref", "reset"]          # ORIG_HEAD, the branch, the reset
    reset = seen[-1]
    assert (reset.ref, reset.old, reset.new, reset.commits) == \
        ("refs/heads/main", c2.hex, c1.hex, ())
    repo.branch_create("b")
    repo.switch("b")
    b1 = repo.user("on b")
    repo.switch("main")
    seen.clear()
    res = repo.merge("b")                                   # a fast-forward: no new commit
    assert res.status == "fast-forward" and kinds(seen) == ["ref", "ref", "merge"]
    assert seen[-1].new == b1.hex and seen[-1].commits == ()
    repo.reset(c1.hex, mode="hard")
    m1 = repo.user("on main")
    seen.clear()
    res = repo.merge("b")                                   # a merge commit
    assert kinds(seen) == ["ref", "ref", "commit", "merge"]
    merge_commit = seen[2].commit
    assert merge_commit is not None and merge_commit.hex == res.commit
    assert merge_commit.parents == (m1.id, b1.id)
    assert seen[-1].commits == (merge_commit,) and seen[-1].old == m1.hex


def test_rebase_reports_each_new_commit_oldest_first(repo):
    repo.user("base")
    repo.branch_create("feat")
    repo.user("m1")
    repo.switch("feat")
    for t in ("f1", "f2", "f3"):
        repo.user(t)
    seen = record(repo)
    res = repo.rebase("main")
    assert res.status == "rebased"
    commits = [e.commit for e in seen if e.event == "commit"]
    assert [c.message for c in commits] == ["user: f1", "user: f2", "user: f3"]
    assert commits[-1].hex == res.commit and commits[1].parents == (commits[0].id,)
    [op] = [e for e in seen if e.event == "rebase"]
    assert op.commits == tuple(commits) and kinds(seen)[-1] == "rebase"
    assert repo.hooks.pending == {}


def test_cherry_pick_revert_compress_reorder(repo):
    repo.user("base")
    repo.branch_create("side")
    repo.switch("side")
    picked = repo.user("picked text")
    repo.switch("main")
    for i in range(4):
        repo.assistant(f"answer number {i} with enough words to be worth compressing away")
    seen = record(repo)
    res = repo.cherry_pick(picked.hex)
    assert kinds(seen) == ["ref", "ref", "commit", "cherry-pick"]
    assert seen[-1].commits[0].hex == res.commit
    seen.clear()
    res = repo.revert("HEAD")
    assert kinds(seen) == ["ref", "ref", "commit", "revert"]
    seen.clear()
    out = repo.compress("HEAD~4..HEAD~1")
    assert kinds(seen) == ["ref", "commit", "compress"]
    assert seen[-1].commits[0].hex == out.commit and seen[-1].commits[0].op == "compress"
    seen.clear()
    repo.reorder(order=[0, 2, 1, 3])
    assert kinds(seen) == ["ref", "commit", "reorder"]


def test_spawn_and_collapse_with_agent_views_sharing_callbacks(repo):
    repo.user("the task")
    seen = record(repo)
    spawn = repo.spawn("kid", task="find the port")
    [op] = [e for e in seen if e.event == "spawn"]
    assert op.agent is None and op.commits == (spawn.commit,) and kinds(seen)[-1] == "spawn"
    kid_events = [(e.event, e.ref, e.new) for e in seen if e.agent == "kid"]
    root = spawn.roots[0].hex
    assert kid_events == [("ref", "HEAD", "ref:refs/heads/main"),
                          ("ref", "refs/heads/main", root), ("commit", "refs/heads/main", root),
                          ("ref", "SPAWNED", root)]
    kid = repo.agent("kid")
    seen.clear()
    k1 = kid.assistant("the port is 9090")
    assert [(e.event, e.agent) for e in seen] == [("ref", "kid"), ("commit", "kid")]
    assert seen[1].commit == k1
    extra = []
    kid.on("collapse", extra.append)       # registered on the child view: shared with the root
    seen.clear()
    c = repo.collapse("kid")
    assert kinds(seen) == ["ref", "commit", "collapse", "ref"]   # then the child's COLLAPSED
    assert seen[2].commits == (c,) and seen[3].agent == "kid" and seen[3].ref == "COLLAPSED"
    assert extra == [seen[2]]
    wt_seen = []
    repo.branch_create("side")
    repo.worktree("side").on("commit", wt_seen.append)
    repo.user("after")
    assert [e.commit.message for e in wt_seen] == ["user: after"]


def test_a_failing_callback_warns_and_undoes_nothing(repo):
    after = []

    def broken(event):
        raise RuntimeError("logging backend\nis down")
    repo.on("commit", broken)
    repo.on("commit", after.append)
    c = repo.user("kept")
    assert repo.head_commit() == c.id
    assert repo.warnings == ["hook callback test_a_failing_callback_warns_and_undoes_nothing."
                             "<locals>.broken for commit event failed: RuntimeError: logging "
                             "backend is down"]
    assert [e.commit for e in after] == [c]            # the callbacks after it still run
    shown = []
    repo.on_warning = shown.append
    repo.reset("HEAD", mode="hard")
    repo.assistant("again")
    assert len(shown) == 1 and "broken" in shown[0]


def test_a_transaction_fires_once_it_publishes(repo):
    repo.user("before")
    seen = record(repo)
    with repo.transaction():
        a = repo.user("t1")
        b = repo.assistant("t2")
        assert seen == []                                   # nothing is visible yet
    assert kinds(seen) == ["ref", "commit", "commit"]
    assert seen[0].new == b.hex and seen[0].message == "transaction: 2 commits"
    assert [e.commit for e in seen[1:]] == [a, b]
    seen.clear()
    with pytest.raises(ValueError), repo.transaction():
        repo.user("dropped")
        raise ValueError("abort")
    assert seen == []


def test_off_and_bad_registrations(repo):
    seen = []
    cb = repo.on("commit", seen.append)
    assert cb == seen.append and repo.hooks.active
    assert repo.off("ref") == 0
    assert repo.off("commit", cb) == 1 and not repo.hooks.active
    repo.user("unseen")
    assert seen == []
    with pytest.raises(InputError, match="unknown hook event 'comit'"):
        repo.on("comit", print)
    with pytest.raises(InputError, match="must be callable"):
        repo.on("commit", "print")
    assert set(PROGRAM_KEYS) == set(EVENTS)


def test_without_callbacks_nothing_is_kept(repo):
    repo.user("base")
    repo.branch_create("b")
    repo.switch("b")
    repo.user("b1")
    repo.switch("main")
    repo.user("m1")
    repo.merge("b")                                         # write_change + publish
    assert not repo.hooks.active and repo.hooks.pending == {}


# ---------------------------------------------------------------------------------------------
# Hook programs

HOOK = """\
import json, os, sys
event = json.load(sys.stdin)
event["env"] = {k: os.environ.get(k) for k in ("TRACE_DIR", "TRACE_AGENT", "TRACE_EVENT",
                                               "TRACE_HOOK", "HOOK_MARK")}
with open(sys.argv[1], "a") as f:
    f.write(json.dumps(event) + "\\n")
print("hook stdout")
sys.exit(int(sys.argv[2]) if len(sys.argv) > 2 else 0)
"""


@pytest.fixture
def hook(tmp_path):
    """(command line of a hook program that appends its event to a file, that file's path)."""
    script = tmp_path / "hook.py"
    script.write_text(HOOK)
    out = tmp_path / "events.jsonl"
    return shlex.join([sys.executable, str(script), str(out)]), out


def events_of(path):
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text().splitlines()]


@pytest.fixture
def env(tmp_path):
    return {"TRACE_CONFIG_GLOBAL": str(tmp_path / "home" / "config"), "HOOK_MARK": "users-env",
            "TRACE_HOOK": None}


def user_config(env, text):
    os.makedirs(os.path.dirname(env["TRACE_CONFIG_GLOBAL"]), exist_ok=True)
    with open(env["TRACE_CONFIG_GLOBAL"], "a") as f:
        f.write(text)


def warnings_of(p):
    return [ln for ln in p.stderr.splitlines() if ln.startswith("warning: ")]


def test_the_users_hook_program_gets_the_event_as_json(rdir, hook, env):
    cmd, out = hook
    user_config(env, f"[hooks]\n\tpost-commit = {cmd}\n\tpost-reset = {cmd}\n")
    p = invoke(rdir, "commit", "hello", env=env)
    assert p.returncode == 0 and warnings_of(p) == [], p.stderr
    [ev] = events_of(out)
    head = invoke(rdir, "rev-parse", "HEAD", env=env).stdout.strip()
    trace_dir = os.path.realpath(os.path.join(rdir, ".trace"))
    assert ev["event"] == "commit" and ev["commit"]["id"] == head and ev["new"] == head
    assert ev["commit"]["op"] == "append" and ev["commit"]["message"] == "user: hello"
    assert ev["ref"] == "refs/heads/main" and ev["agent"] is None
    assert os.path.realpath(ev["repository"]) == trace_dir
    assert ev["env"] == {"TRACE_DIR": ev["repository"], "TRACE_AGENT": "",
                         "TRACE_EVENT": "commit", "TRACE_HOOK": "hooks.post-commit",
                         "HOOK_MARK": "users-env"}
    invoke(rdir, "commit", "again", env=env, check=True)
    invoke(rdir, "reset", "--hard", "HEAD~1", env=env, check=True)
    evs = events_of(out)
    assert [e["event"] for e in evs] == ["commit", "commit", "reset"]
    assert evs[2]["new"] == head and evs[2]["commits"] == []
    # an agent's commit names the agent
    invoke(rdir, "spawn", "kid", env=env, check=True)
    invoke(rdir, "--agent", "kid", "commit", "--role", "assistant", "done", env=env, check=True)
    last = events_of(out)[-1]
    assert last["agent"] == "kid" and last["env"]["TRACE_AGENT"] == "kid"


def test_an_untrusted_repositorys_hook_is_ignored_with_a_warning(rdir, hook, env):
    cmd, out = hook
    with open(os.path.join(rdir, ".trace", "config"), "a") as f:
        f.write(f"[hooks]\n\tpost-commit = {cmd}\n")
    p = invoke(rdir, "commit", "hello", env=env)
    assert p.returncode == 0, p.stderr
    assert events_of(out) == []
    [w] = warnings_of(p)
    assert w.startswith("warning: ignoring hooks.post-commit from ") and "trace trust" in w
    assert invoke(rdir, "log", env=env).stderr == ""       # read-only commands say nothing
    # trusted: the repository's own hook runs
    invoke(rdir, "trust", env=env, check=True)
    p = invoke(rdir, "commit", "trusted now", env=env)
    assert p.returncode == 0 and warnings_of(p) == [], p.stderr
    assert [e["commit"]["message"] for e in events_of(out)] == ["user: trusted now"]


def test_an_untrusted_repository_cannot_cut_the_users_hook_short(rdir, hook, env):
    cmd, out = hook
    user_config(env, f"[hooks]\n\tpost-commit = {cmd}\n")
    with open(os.path.join(rdir, ".trace", "config"), "a") as f:
        f.write("[hooks]\n\ttimeout = 0.0001\n")
    p = invoke(rdir, "commit", "logged", env=env)
    assert p.returncode == 0
    assert [e["commit"]["message"] for e in events_of(out)] == ["user: logged"]
    assert any("ignoring hooks.timeout" in w for w in warnings_of(p)), p.stderr


def test_trace_config_stores_a_hook_with_a_warning_until_trusted(rdir, hook, env):
    cmd, out = hook
    p = invoke(rdir, "config", "hooks.post-commit", cmd, env=env)
    assert p.returncode == 0 and "takes effect only once you trust" in p.stderr
    invoke(rdir, "commit", "x", env=env, check=True)
    assert events_of(out) == []


def test_a_failing_hook_program_warns_and_the_command_succeeds(rdir, hook, env):
    cmd, out = hook
    user_config(env, f"[hooks]\n\tpost-commit = {cmd} 3\n")
    p = invoke(rdir, "commit", "hello", env=env)
    assert p.returncode == 0
    assert warnings_of(p) == [f"warning: hooks.post-commit ({sys.executable}) exited with "
                              "status 3; the commit itself is done"]
    assert len(events_of(out)) == 1
    assert invoke(rdir, "log", "--oneline", env=env).stdout.count("\n") == 1


def test_a_missing_or_unsplittable_hook_program_warns(rdir, env, tmp_path):
    user_config(env, f"[hooks]\n\tpost-commit = {tmp_path / 'nope'} --x\n"
                     "\tpost-ref-update = \"\\\"unterminated\"\n")
    p = invoke(rdir, "commit", "hello", env=env)
    assert p.returncode == 0
    ws = warnings_of(p)
    assert len(ws) == 2, ws
    assert ws[0].startswith("warning: hooks.post-ref-update: cannot split")
    assert ws[1].startswith(f"warning: hooks.post-commit ({tmp_path / 'nope'}) could not run: ")


def test_a_hook_program_that_hangs_is_killed_at_the_timeout(rdir, env, tmp_path):
    script = tmp_path / "slow.py"
    script.write_text("import time\ntime.sleep(60)\n")
    user_config(env, f"[hooks]\n\tpost-commit = {shlex.join([sys.executable, str(script)])}\n"
                     "\ttimeout = 0.5\n")
    t = time.monotonic()
    p = invoke(rdir, "commit", "hello", env=env)
    assert time.monotonic() - t < 30
    assert p.returncode == 0
    assert warnings_of(p) == [f"warning: hooks.post-commit ({sys.executable}) timed out after "
                              "0.5s and was killed; the commit itself is done"]


def test_a_hook_programs_own_trace_commands_run_no_hooks(rdir, hook, env):
    cmd, out = hook
    user_config(env, f"[hooks]\n\tpost-commit = {cmd}\n")
    invoke(rdir, "commit", "inside a hook", env={**env, "TRACE_HOOK": "hooks.post-commit"},
           check=True)
    assert events_of(out) == []


def test_hook_program_output_goes_to_stderr_in_a_real_process(rdir, hook, env):
    cmd, out = hook
    user_config(env, f"[hooks]\n\tpost-commit = {cmd}\n")
    p = run_in(rdir, "commit", "hello", env={k: v for k, v in env.items() if v is not None})
    assert p.returncode == 0, p.stderr
    assert "hook stdout" not in p.stdout and "hook stdout" in p.stderr
    assert [e["event"] for e in events_of(out)] == ["commit"]


def test_the_python_api_runs_hook_programs_only_when_enabled(rdir, hook):
    from trace_core.config import Config
    cmd, out = hook
    mine = Config.from_items([("hooks.post-commit", cmd), ("hooks.post-merge", cmd)])
    r = Repository.open(rdir, user_config=mine)
    r.user("not run")
    assert events_of(out) == []
    r.enable_hook_programs({"HOOK_MARK": "first"})
    runner = r.enable_hook_programs({"HOOK_MARK": "given"})   # (once: a new environment)
    c = r.user("run")
    [ev] = events_of(out)
    assert ev["commit"]["id"] == c.hex and ev["env"]["HOOK_MARK"] == "given"
    assert r.off("*", runner) == 1
    r.user("not run again")
    assert len(events_of(out)) == 1
    r.close()


def test_hook_keys_are_trusted_settings(tmp_path):
    from trace_core.config import KNOWN_KEYS, TRUSTED
    for key in PROGRAM_KEYS.values():
        assert KNOWN_KEYS[key].source == TRUSTED, key
    assert KNOWN_KEYS["hooks.timeout"].default == 10.0
    p = invoke_cli("-C", str(tmp_path), "config", "hooks.timeout", "0")
    assert p.returncode != 0


def test_without_any_hook_setting_nothing_is_registered(rdir, env):
    r = Repository.open(rdir)
    try:
        assert r.enable_hook_programs({}) is None and not r.hooks.active
        r.user("no events are built")
        assert not r.hooks.active
    finally:
        r.close()
    from trace_core.config import Config
    r = Repository.open(rdir, user_config=Config.from_items([("hooks.post-commit", "true")]))
    try:
        assert r.enable_hook_programs({}) is not None and r.hooks.active
    finally:
        r.close()
