"""The context manager (docs/manage.md): health, the heuristic and llm plans, approval (a plan
edited by a human), --auto within manage.auto and manage.max-ops, the manager's own namespace,
and --watch as a real process beside a writing agent."""

from __future__ import annotations

import json
import subprocess
import sys
import time

import pytest
from conftest import assert_one_line_error, chat, invoke

from trace_core.errors import InputError, OperationError
from trace_core.manage import health, manage, parse
from trace_core.repository import Repository

LOG = "INFO socket pool recycled after idle timeout\n" * 30


def _worker(root):
    w = root.agent("worker", create=True)
    w.system("You are a coding agent.")
    w.user("Fix the flaky network test in tests/test_net.py; you must not change fetch_url.")
    for k in range(5):
        w.assistant(f"Running the tests, attempt {k}")
        w.tool_call("run_tests", {"k": "net"}, call_id=f"c{k}")
        w.tool_result(f"c{k}", LOG)
        w.assistant(f"Found: attempt {k} fails because retry_backoff is 0.{k}s")
        w.user("Keep going with the flaky network test")
    w.user("By the way, what is a good sourdough bread recipe with rye flour and honey?")
    w.assistant("Use twenty percent rye flour, a long proof of about four hours at room "
                "temperature, and a spoonful of honey in the dough for a softer crumb.")
    w.user("Keep going with the flaky network test")
    w.assistant("Found: attempt 7 passes with retry_backoff 0.5s in conf/retry.toml")
    w.user("Good, now check the fetch_url retries once more in tests/test_net.py")
    w.user("Then run the whole flaky network suite against fetch_url")
    return w


def test_health_measures_what_it_says(repo):
    repo.set_config("budget.max-tokens", "1500")
    w = _worker(repo)
    h = health(w)
    assert h.entries == 33 and h.max_tokens == 1500 and h.fraction == h.total / 1500
    dup = [d for d in h.duplicates]
    assert [d[1] for d in dup] == [6] * 5 and len(dup) == 5          # "Keep going ..." again
    assert [s[0] for s in h.stale] == [4, 9, 14, 19, 24]            # 3+ turns old outputs
    assert all(s[1] > 40 for s in h.stale)
    assert not h.broken and not h.pending
    sourdough = [t for t in h.unrelated if t[0] == 27]
    assert sourdough and sourdough[0][1] == 29
    assert "flaky" in h.task
    w.tool_call("read_file", {"path": "a.py"}, call_id="open")
    assert [p["call_id"] for p in health(w).pending] == ["open"]


def test_propose_then_execute_an_edited_plan(repo):
    repo.set_config("budget.max-tokens", "1500")
    w = _worker(repo)
    r = manage(repo, "worker")
    text = r.plan.text()
    ops = [line.split()[0] for line in text.splitlines() if not line.startswith("#")]
    assert ops == ["pin", "drop", "mask", "compress"], text
    assert not r.executed and health(w).total == r.health.total     # nothing done yet
    mgr = repo.agent("manager")
    msgs = mgr.messages()
    assert msgs[0]["content"].startswith("health of worker at")
    assert msgs[1]["role"] == "assistant" and msgs[1]["content"] == text
    # the human deletes the drop and the compress, then approves
    edited = "\n".join(line for line in text.splitlines()
                       if not line.startswith(("drop", "compress")))
    w.assistant("Still on it.")                      # the agent moved on: only appended
    done = manage(repo, "worker", plan=edited)
    assert [e["op"] for e in done.executed] == ["pin", "mask"]
    assert all(e["commits"] and not e["error"] for e in done.executed)
    log = w.log(limit=3)
    assert [c.op for c in log[:2]] == ["compress", "pin"]
    pol = log[0].policy
    assert pol["name"] == "manage" and pol["action"] == "mask" and pol["trigger"] == "manage"
    assert pol["manager"] == "manager" and pol["plan"] == done.recorded[0]
    assert log[0].author == "manager:manager"
    assert health(w).total < r.health.total - 600
    assert mgr.messages()[-1]["content"].startswith("executed:")
    out = w.undo_policy()                            # the manager's mask, undone
    assert out["action"] == "mask" and "reset" in out["done"]
    assert w.log(limit=1)[0].op == "pin"


def test_auto_runs_only_what_manage_auto_allows(repo):
    repo.set_config("budget.max-tokens", "1500")
    repo.set_config("manage.auto", "mask")
    w = _worker(repo)
    r = manage(repo, "worker", auto=True)
    states = {e["op"]: e["error"] for e in r.executed}
    assert states["mask"] is None
    assert "not allowed by manage.auto" in states["pin"]
    assert "not allowed by manage.auto" in states["compress"]
    assert not any(e.pinned for e in w.entries_at(w.head_commit()))
    repo.set_config("manage.auto", "mask,drop,pin,compress")
    repo.set_config("manage.max-ops", "1")
    r = manage(repo, "worker", auto=True)
    assert sum(1 for e in r.executed if not e["error"]) == 1
    assert any(e["error"] == "over manage.max-ops" for e in r.executed)


def test_a_plan_for_a_context_that_changed_is_refused(repo):
    w = _worker(repo)
    r = manage(repo, "worker")
    w.drop(3)
    with pytest.raises(OperationError, match="changed since the plan"):
        manage(repo, "worker", plan=r.plan.text())


@pytest.mark.parametrize("text,expect", [
    ("explode 1:2", "is not '<op> <entries>"),
    ("mask 5:3", "is not a span"),
    ("pin 99", "out of range"),
    ("drop 1:3", "takes entry indices"),
    ("compress 2:6\ndrop 3", "entry 3 is also changed by line 1"),
    ("mask 2:9\nmask 8:10", "entry 8 is also changed by line 1"),
])
def test_bad_plans_name_the_line(text, expect):
    with pytest.raises(InputError, match=expect):
        parse(text, 20)


def test_mask_and_drop_may_overlap():
    plan = parse("# x at 0123456789ab\nmask 2:9  # outputs\ndrop 3,5\npin 4", 20)
    assert plan.head == "0123456789ab"
    assert [o.op for o in plan.ops] == ["mask", "drop", "pin"]


def test_llm_mode_over_the_wire(repo, llm_server):
    repo.set_config("budget.max-tokens", "1500")
    w = _worker(repo)
    trusted = Repository.open(repo.trace_dir, trusted=True)
    for k, v in (("llm.provider", "openai"), ("llm.model", "m"), ("llm.base-url", llm_server.url)):
        trusted.set_config(k, v)
    from trace_core.llm import provider_from_config
    llm_server.script.append(chat("```\nmask 4:20  # old outputs\npin 1 # the requirement\n```"))
    r = manage(trusted, "worker", mode="llm", provider=provider_from_config(trusted.config, None))
    assert [o.op for o in r.plan.ops] == ["mask", "pin"]
    assert r.inference["model"] == "m"
    body = json.dumps(llm_server.requests[0]["body"])
    assert "stale tool outputs" in body and "#1" in body and "sourdough" in body
    llm_server.script.append(chat("drop 999"))
    with pytest.raises(InputError, match="out of range"):
        manage(trusted, "worker", mode="llm", provider=provider_from_config(trusted.config, None))
    assert w.log(limit=1)[0].op == "append"            # nothing executed without approval


def test_cli_propose_auto_and_errors(rdir):
    root = Repository.open(rdir)
    root.set_config("budget.max-tokens", "1500")
    _worker(root)
    p = invoke(rdir, "manage", "--agent", "worker", check=True)
    assert "stale tool outputs (>= 3 turns old): 5" in p.stdout
    assert "# trace manage plan for agent worker at" in p.stdout
    p = invoke(rdir, "manage", "--agent", "worker", "--auto", "--json", check=True)
    out = json.loads(p.stdout)
    assert {e["op"] for e in out["executed"] if not e["error"]} == {"mask", "drop", "pin"}
    assert_one_line_error(invoke(rdir, "manage", "--agent", "nobody"), "nobody")
    assert_one_line_error(invoke(rdir, "manage", "--agent", "worker", "--as", "worker"),
                          "own namespace")
    p = invoke(rdir, "manage", "--agent", "worker", "--plan", "-", input="pin 999\n")
    assert_one_line_error(p, "plan line 1: entry 999 is out of range")
    p = invoke(rdir, "manage", "--agent", "worker", "--plan", "-", input=b"\xff\xfe pin 1\n")
    assert_one_line_error(p, "UTF-8")
    p = invoke(rdir, "manage", "--agent", "worker", "--plan", "-", input="pin 1\n" * 600000)
    assert_one_line_error(p)


def test_watch_is_a_process_beside_a_writing_agent(rdir):
    root = Repository.open(rdir)
    root.set_config("budget.max-tokens", "1500")
    w = _worker(root)
    proc = subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", rdir, "manage",
                             "--agent", "worker", "--watch", "--auto", "--interval", "0.05",
                             "--count", "2", "--json"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 60

    def rounds() -> int:
        r = Repository.open(rdir)
        if "manager" not in r.agents():
            return 0
        return sum(1 for m in r.agent("manager").messages()
                   if m["content"].startswith("health of worker"))
    while rounds() < 1:                       # the first round: at once
        assert time.time() < deadline and proc.poll() is None, proc.stderr.read()
        time.sleep(0.05)
    w.user("One more thing: also run the flaky network test with tests/test_net.py -x")
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    assert out.count('"plan_text"') == 2
    assert rounds() == 2                      # the second: after the agent's new commit


def test_drops_and_compressions_run_from_the_end(repo):
    w = _worker(repo)
    r = manage(repo, "worker", plan="drop 11,29\ncompress 2:6  # the first attempt\n")
    assert [e["error"] for e in r.executed] == [None, None], r.executed
    assert len(r.executed[0]["commits"]) == 2       # one drop per entry, each still in place
    msgs = w.messages()
    assert msgs[0]["role"] == "system" and msgs[1]["content"].startswith("Fix the flaky")
    assert str(msgs[2]["content"]).startswith("[Summary of ")


def test_a_drop_never_breaks_a_tool_pair(repo):
    w = _worker(repo)
    r = manage(repo, "worker", plan="drop 4\n")
    assert "tool call or result" in r.executed[0]["error"]
    assert not health(w).broken
    from trace_core.manage import parse
    with pytest.raises(InputError, match="entry 3 is also changed"):
        parse("pin 3\ndrop 3", 20)


def test_undo_takes_back_one_plan_line(repo):
    w = _worker(repo)
    manage(repo, "worker", plan="mask 2:6  # old outputs\nmask 7:11  # old outputs\n")
    assert [c.op for c in w.log(limit=2)] == ["compress", "compress"]
    out = w.undo_policy()
    assert out["action"] == "mask"
    assert [c.op for c in w.log(limit=2)] == ["compress", "append"]


def test_a_commit_under_the_manager_s_own_counts_as_a_move(repo):
    from trace_core.manage.manager import _moved
    w = _worker(repo)
    seen = w.head_commit().hex()
    assert not _moved(w, seen, set())
    w.user("the agent commits")                  # the agent's commit ...
    mine = w.pin(2).hex                          # ... then the manager's, on top
    assert _moved(w, seen, {mine})
    assert not _moved(w, w.log(limit=2)[1].id, {mine})


def test_watch_goes_on_after_a_failed_round(repo):
    from trace_core.manage import watch
    w = _worker(repo)
    errors, results = [], []
    calls = {"n": 0}
    real = manage

    def flaky(*a, **kw):
        calls["n"] += 1
        if calls["n"] == 1:
            raise OperationError("the agent's context changed")
        return real(*a, **kw)
    import trace_core.manage.manager as mm
    old = mm.manage
    mm.manage = flaky
    try:
        def failed(exc):
            errors.append(exc)
            w.user("the agent goes on working")      # the next move: the next round
        n = watch(repo, "worker", rounds=2, interval=0.0, sleep=lambda s: None,
                  on_round=results.append, on_error=failed)
    finally:
        mm.manage = old
    assert n == 2 and len(errors) == 1 and len(results) == 1
