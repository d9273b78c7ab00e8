"""Context policies (docs/policy.md): declared in the settings, evaluated after every commit and
on demand, each action an ordinary commit whose meta names the policy and why; explain, dry
run, disable and undo; the trust rule of model-calling policies; real processes writing one
repository with policies on."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import FakeProvider, assert_one_line_error, chat, invoke, run_in

from trace_core.errors import ConfigError, OperationError
from trace_core.policy import enable_policies, explain_policies, run_policies, undo_policy
from trace_core.repository import Repository

LOG = "INFO connection pool recycled socket after idle timeout, retrying request\n" * 30


def _session(r, turns: int, start: int = 0) -> None:
    for k in range(start, start + turns):
        r.assistant(f"Step {k}: running the network tests again")
        r.tool_call("run_tests", {"k": "net", "n": k}, call_id=f"c{k}")
        r.tool_result(f"c{k}", LOG)
        r.assistant(f"Found: attempt {k} failed because retry_backoff was 0.{k}s")
        r.user(f"Keep going on the flaky network test, attempt {k + 1}")


def _policy(r, name: str, **kw: str) -> None:
    for k, v in kw.items():
        r.set_config(f"policy.{name}.{k.replace('_', '-')}", v)


def _meta(c) -> dict:
    return c.policy


# -- compress ---------------------------------------------------------------------------------
def test_compress_fires_after_the_commit_that_crosses_the_budget(repo):
    repo.set_config("budget.max-tokens", "3000")
    _policy(repo, "squeeze", action="compress", at="0.8", target="0.5", keep_turns="2")
    assert enable_policies(repo) is not None
    repo.system("You are a coding agent.")
    repo.user("Fix the flaky network test.")
    totals = []
    for k in range(10):
        _session(repo, 1, k)
        totals.append(repo.status().total_tokens)
    made = [c for c in repo.log() if c.op == "compress"]
    assert made, "the policy never fired"
    for c in made:
        pol = _meta(c)
        assert pol["name"] == "squeeze" and pol["action"] == "compress"
        assert pol["trigger"] == "commit" and "reached 80%" in pol["why"]
        assert pol["step"] in ("mask", "extractive")
    # after each commit the context is back under the trigger (it never stays over 80%)
    assert max(totals) < 0.8 * 3000, totals
    msgs = repo.messages()
    assert msgs[0]["role"] == "system"          # the system prompt is never compressed
    assert msgs[-1]["content"].startswith("Keep going")   # nor the last turns
    steps = [_meta(c)["step"] for c in made]
    assert steps[0] == "mask" and set(steps) <= {"mask", "extractive"}


def test_explain_and_dry_run_write_nothing(repo):
    repo.set_config("budget.max-tokens", "1500")
    _policy(repo, "squeeze", action="compress", keep_turns="1")
    repo.user("Fix the flaky network test.")
    _session(repo, 4)
    head = repo.head_commit()
    [d] = explain_policies(repo)
    assert d.fires and d.policy == "squeeze" and d.plan["steps"] == ["mask", "extractive"]
    [d] = run_policies(repo, dry_run=True)
    assert d.fires and not d.commits
    assert repo.head_commit() == head
    [d] = run_policies(repo)
    assert d.fires and d.commits and d.error is None
    assert repo.head_commit() != head
    [d] = explain_policies(repo)
    assert not d.fires and "under 80%" in d.why


def test_recent_turns_give_way_when_they_alone_exceed_half_the_target(repo):
    repo.set_config("budget.max-tokens", "2000")
    _policy(repo, "squeeze", action="compress", keep_turns="4", strategy="mask")
    repo.user("Fix the flaky network test.")
    _session(repo, 4)                      # each turn holds a ~400-token output: 4 > 500
    [d] = run_policies(repo)
    assert d.fires and d.commits, d.error
    msgs = repo.messages()
    masked = [i for i, m in enumerate(msgs) if "masked" in str(m.get("content"))]
    turns = [i for i, m in enumerate(msgs) if m["role"] == "user"]
    assert masked and max(masked) > turns[-4]      # inside what keep-turns alone would keep
    assert max(masked) < turns[-1]                 # never the last turn


def test_extractive_steps_leave_earlier_summaries_alone(repo):
    repo.set_config("budget.max-tokens", "1500")
    _policy(repo, "squeeze", action="compress", keep_turns="1", strategy="extractive")
    repo.user("Fix the flaky network test.")
    _session(repo, 3)
    [d] = run_policies(repo)
    assert d.commits
    first = [m["content"] for m in repo.messages() if str(m.get("content")).startswith(
        "[Summary of ")]
    _session(repo, 3, 3)
    [d] = run_policies(repo)
    assert d.commits
    now = [m["content"] for m in repo.messages()]
    assert all(f in now for f in first)            # summarized once, not again


def test_no_budget_and_disabled_never_fire(repo):
    _policy(repo, "squeeze", action="compress")
    repo.user("hello there")
    [d] = explain_policies(repo)
    assert not d.fires and "no token budget" in d.why
    repo.set_config("budget.max-tokens", "10")
    repo.set_config("policy.squeeze.enabled", "false")
    [d] = run_policies(repo)
    assert not d.fires and "disabled" in d.why and not d.commits


# -- pin --------------------------------------------------------------------------------------
def test_pin_requirements_paths_and_repeated_identifiers(repo):
    _policy(repo, "keep", action="pin")
    enable_policies(repo)
    repo.user("Hi! Can you help with the build?")
    repo.user("You must not change the public API.")
    repo.user("The config lives in conf/retry.toml")
    repo.user("Also look at fetch_url when you can")
    repo.assistant("Sure.")
    repo.user("fetch_url is the one that times out")
    repo.assistant("Correction: the timeout is 45s, not 30s.")
    entries = repo.entries_at(repo.head_commit())
    pinned = [i for i, e in enumerate(entries) if e.pinned]
    assert pinned == [1, 2, 3, 6]
    whys = [_meta(c)["why"] for c in repo.log() if c.op == "pin"]
    assert any("'must not'" in w for w in whys)
    assert any("conf/retry.toml" in w for w in whys)
    assert any("'fetch_url', which the user repeats" in w for w in whys)
    assert any("corrects what was said ('correction')" in w for w in whys)


def test_undo_of_a_pin_is_not_pinned_again_by_the_next_commit(repo):
    _policy(repo, "keep", action="pin")
    enable_policies(repo)
    repo.user("You must keep the API stable.")
    assert repo.entries_at(repo.head_commit())[0].pinned
    out = undo_policy(repo)
    assert out["action"] == "pin" and "reset" in out["done"]
    assert not repo.entries_at(repo.head_commit())[0].pinned
    repo.assistant("Understood.")
    assert not repo.entries_at(repo.head_commit())[0].pinned
    assert [c.op for c in repo.log()] == ["append", "append"]


def test_undo_further_back_reverts(repo):
    _policy(repo, "keep", action="pin")
    enable_policies(repo)
    repo.user("You must keep the API stable.")
    repo.assistant("Understood.")
    out = undo_policy(repo)
    assert "reverted" in out["done"]
    assert repo.log()[0].op == "revert"
    assert not repo.entries_at(repo.head_commit())[0].pinned


# -- branch and return ------------------------------------------------------------------------
def _task(r):
    r.system("You are a coding agent.")
    r.user("Fix the flaky network test in tests/test_net.py and keep fetch_url retries working")
    r.assistant("Looking at tests/test_net.py now.")
    r.user("Keep going with fetch_url retries and the flaky network test")


def test_tangent_branches_off_and_comes_back(repo):
    _policy(repo, "side", action="branch")
    _policy(repo, "back", action="return")
    enable_policies(repo)
    _task(repo)
    main_before = repo.head_commit()
    repo.user("Unrelated: what is the best recipe for sourdough bread with rye flour and honey?")
    assert repo.head_branch() == "refs/heads/tangent/1"
    assert repo.refs.resolve("refs/heads/main") == main_before.hex()
    marker = repo.log()[0]
    assert marker.op == "policy"
    pol = _meta(marker)
    assert pol["action"] == "branch" and pol["base"] == "main" and "similarity" in pol["why"]
    repo.assistant("Use 20% rye flour and a long proof.")
    repo.user("How long should the rye sourdough bread dough proof with honey added?")
    assert repo.head_branch() == "refs/heads/tangent/1"
    repo.assistant("About four hours.")
    repo.user("Back to the flaky network test: do the fetch_url retries pass now?")
    assert repo.head_branch() == "refs/heads/main"
    ret = repo.log()[0]
    assert ret.op == "policy" and _meta(ret)["action"] == "return"
    msgs = repo.messages()
    assert msgs[-1]["content"].startswith("Back to the flaky")
    assert not any("sourdough" in str(m.get("content")) for m in msgs)
    # the tangent's history stays on its branch
    assert any("sourdough" in str(m.get("content")) for m in repo.messages("tangent/1"))


def test_return_by_give_up_with_rebase_carries_the_tangent(repo):
    _policy(repo, "side", action="branch")
    _policy(repo, "back", action="return", mode="rebase")
    enable_policies(repo)
    _task(repo)
    repo.user("Side question: which sourdough starter hydration works best for rye flour loaves?")
    assert repo.head_branch() == "refs/heads/tangent/1"
    repo.assistant("Hydration of 100% works; found that rye needs less.")
    repo.assistant("This is a dead end for the task, I give up on it.")
    assert repo.head_branch() == "refs/heads/main"
    texts = [str(m.get("content")) for m in repo.messages()]
    assert any("sourdough starter" in t for t in texts)
    assert texts[-1].startswith("This is a dead end")


def test_undo_of_a_tangent_merges_it_back(repo):
    _policy(repo, "side", action="branch")
    enable_policies(repo)
    _task(repo)
    repo.user("Unrelated: what is the best recipe for sourdough bread with rye flour and honey?")
    assert repo.head_branch() == "refs/heads/tangent/1"
    tip = repo.head_commit()
    out = undo_policy(repo)
    assert out["action"] == "branch"
    assert repo.head_branch() == "refs/heads/main" and repo.head_commit() == tip
    assert repo.refs.read("refs/heads/tangent/1") is None


def test_short_or_related_turns_are_not_tangents(repo):
    _policy(repo, "side", action="branch")
    enable_policies(repo)
    _task(repo)
    repo.user("ok thanks")
    repo.user("Now run the flaky network test again with the fetch_url retries enabled")
    assert repo.head_branch() == "refs/heads/main"
    [d] = explain_policies(repo)
    assert not d.fires and "stays on the task" in d.why


# -- model-calling policies are trusted settings ----------------------------------------------
def test_llm_classifier_needs_a_trusted_llm_setting(repo, llm_server):
    _policy(repo, "side", action="branch", classifier="llm", llm="true")
    _task(repo)
    repo.user("Could you now also tell me a completely different thing about weather in Oslo?")
    fake = FakeProvider(["TANGENT"])
    [d] = explain_policies(repo, provider=fake)
    assert not fake.calls                                      # the repository set it: ignored
    assert "lexical similarity" in d.why and "from a trusted source" in d.why
    assert any("policy.side.llm" in w for w in repo.warnings)
    # the user allows the model with a lexical classifier; the repository cannot switch it on
    from trace_core.config import Config
    user = Config.parse('[policy "side"]\n\tllm = true\n\tclassifier = lexical\n')
    opened = Repository.open(repo.trace_dir, user_config=user)
    [d] = explain_policies(opened, provider=fake)
    assert not fake.calls and "from a trusted source" in d.why
    trusted = Repository.open(repo.trace_dir, trusted=True)
    trusted.set_config("llm.provider", "openai")
    trusted.set_config("llm.model", "m")
    trusted.set_config("llm.base-url", llm_server.url)
    from trace_core.llm import llm_settings, provider_from_config
    llm_server.script.append(chat("TANGENT"))
    provider = provider_from_config(trusted.config, None)
    [d] = run_policies(trusted, provider=provider)
    assert d.fires and "the model answered 'TANGENT'" in d.why, d.why
    assert trusted.head_branch() == "refs/heads/tangent/1"
    req = llm_server.requests[0]
    assert "weather in Oslo" in json.dumps(req["body"])
    assert llm_settings(trusted.config).model == "m"


def test_llm_step_of_an_untrusted_chain_is_left_out(repo):
    repo.set_config("budget.max-tokens", "1500")
    _policy(repo, "squeeze", action="compress", strategy="llm,mask", llm="true")
    repo.user("Fix the flaky network test.")
    _session(repo, 4)
    fake = FakeProvider()
    [d] = run_policies(repo, provider=fake)
    assert d.plan["steps"] == ["mask"] and not fake.calls and d.commits


def test_a_trusted_llm_step_summarizes_over_the_wire(repo, llm_server):
    trusted = Repository.open(repo.trace_dir, trusted=True)
    for k, v in (("llm.provider", "openai"), ("llm.model", "m"), ("llm.base-url", llm_server.url),
                 ("budget.max-tokens", "1500")):
        trusted.set_config(k, v)
    _policy(trusted, "squeeze", action="compress", strategy="llm", llm="true", keep_turns="1",
            granularity="range")
    trusted.user("Fix the flaky network test.")
    _session(trusted, 4)
    llm_server.script.append(chat("The network test fails because retry_backoff is too low."))
    from trace_core.llm import provider_from_config
    [d] = run_policies(trusted, provider=lambda: provider_from_config(trusted.config, None))
    assert d.fires and d.commits and d.error is None, d.error
    c = trusted.log(limit=1)[0]
    assert c.op == "compress" and c.policy["step"] == "llm" and c.inference["model"] == "m"
    assert "retry_backoff is too low" in json.dumps(trusted.messages())
    assert "retry_backoff" in json.dumps(llm_server.requests[0]["body"])


# -- bad settings -----------------------------------------------------------------------------
@pytest.mark.parametrize("key,value,expect", [
    ("policy.p.at", "0", "policy.p.at must be a fraction above 0"),
    ("policy.p.action", "explode", "policy.p.action must be"),
    ("policy.p.similarity", "2", "policy.p.similarity must be a number from 0 to 1"),
    ("policy.p.keep-turns", "lots", "policy.p.keep-turns must be"),
])
def test_bad_values_are_refused(rdir, key, value, expect):
    p = invoke(rdir, "config", key, value)
    assert_one_line_error(p, expect)


def test_bad_strategy_or_name_in_a_config_file_is_one_line(rdir):
    with open(os.path.join(rdir, ".trace", "config"), "a") as f:
        f.write('[policy "p"]\n\taction = compress\n\tstrategy = mask,zip\n')
    invoke(rdir, "config", "budget.max-tokens", "10", check=True)
    invoke(rdir, "commit", "-m", "user", "hello", check=True)
    p = invoke(rdir, "policy", "run")
    assert p.returncode == 1
    assert "'zip' is not a strategy" in p.stdout
    with open(os.path.join(rdir, ".trace", "config"), "a") as f:
        f.write('[policy "bad name!"]\n\taction = pin\n')
    p = invoke(rdir, "policy", "list")
    assert_one_line_error(p, "'bad name!' is not a policy name")
    with pytest.raises(ConfigError):
        run_policies(Repository.open(rdir))


# -- the command line -------------------------------------------------------------------------
def test_cli_list_explain_run_disable_undo(rdir):
    invoke(rdir, "config", "budget.max-tokens", "200", check=True)
    invoke(rdir, "config", "policy.keep.action", "pin", check=True)
    invoke(rdir, "config", "policy.keep.on", "manual", check=True)
    p = invoke(rdir, "commit", "-m", "user", "You must never touch prod_db.", check=True)
    assert "policy keep" not in p.stderr          # on = manual: not after commits
    p = invoke(rdir, "policy", "list", check=True)
    assert p.stdout.strip() == "keep: pin, on manual, enabled"
    p = invoke(rdir, "policy", "explain", check=True)
    assert "keep (pin): fires: pin #0 states a requirement ('must')" in p.stdout
    p = invoke(rdir, "policy", "run", "--json", check=True)
    [d] = json.loads(p.stdout)
    assert d["fires"] and len(d["commits"]) == 1
    p = invoke(rdir, "show", "--json", check=True)
    assert json.loads(p.stdout)["meta"]["policy"]["name"] == "keep"
    p = invoke(rdir, "policy", "undo", check=True)
    assert "undid pin of policy keep" in p.stdout
    invoke(rdir, "policy", "disable", "keep", check=True)
    p = invoke(rdir, "policy", "run", "--json", check=True)
    assert not json.loads(p.stdout)[0]["fires"]
    assert_one_line_error(invoke(rdir, "policy", "disable", "nope"), "no policy named 'nope'")
    assert_one_line_error(invoke(rdir, "policy", "undo"), "no commit made by a policy")


def test_cli_commit_reports_what_fired(rdir):
    invoke(rdir, "config", "policy.keep.action", "pin", check=True)
    p = run_in(rdir, "commit", "-m", "user", "Deadline: the report must be done by 17:30.")
    assert p.returncode == 0, p.stderr
    assert "policy keep: pin #0 states a requirement" in p.stderr
    assert "warning" not in p.stderr


# -- processes --------------------------------------------------------------------------------
_WRITER = r"""
import sys
from trace_core.repository import Repository
from trace_core.policy import enable_policies
r = Repository.open(sys.argv[1])
enable_policies(r)
tag = sys.argv[2]
for k in range(int(sys.argv[3])):
    r.user(f"{tag} asks: you must check item {k} of the list")
    r.assistant(f"{tag} answers item {k}: " + "details " * 40)
for w in r.warnings:
    if "did not run" in w and "moved" not in w and "changed" not in w:
        print(w, file=sys.stderr)
"""


def test_two_processes_with_policies_lose_nothing(repo):
    repo.set_config("budget.max-tokens", "1200")
    _policy(repo, "squeeze", action="compress", keep_turns="1")
    _policy(repo, "keep", action="pin", max="2")
    procs = [subprocess.Popen([sys.executable, "-c", _WRITER, repo.trace_dir, tag, "25"],
                              stderr=subprocess.PIPE, text=True) for tag in ("A", "B")]
    for p in procs:
        _out, err = p.communicate(timeout=300)
        assert p.returncode == 0, err
    r = Repository.open(repo.trace_dir)
    appended = [c for c in r.log(limit=100000) if c.op == "append"]
    assert len(appended) == 100                # every write of both processes is in history
    assert any(c.op == "compress" for c in r.log(limit=100000))
    from trace_core.fsck import fsck
    errors = [f for f in fsck(r) if f.severity == "error"]
    assert not errors, errors
    # every user turn states a requirement and is pinned, so the context outgrows the budget,
    # but far less than the appends without the policies would have made it
    assert r.status().total_tokens < 0.6 * sum(c.tokens for c in appended)


# -- review: undo, carry, trust, forged records, holds ----------------------------------------
def test_undo_of_a_tangent_from_another_branch_is_refused(repo):
    _policy(repo, "side", action="branch")
    enable_policies(repo)
    _task(repo)
    repo.user("Unrelated: what is the best recipe for sourdough bread with rye flour and honey?")
    marker = repo.log(limit=1)[0].id
    repo.switch("main")
    main = repo.head_commit()
    with pytest.raises(OperationError, match="trace switch tangent/1"):
        undo_policy(repo, marker)
    assert repo.head_commit() == main and repo.refs.read("refs/heads/main") is not None
    assert repo.refs.read("refs/heads/tangent/1") is not None


def test_rebase_after_a_compression_in_the_tangent_carries_only_its_turns(repo):
    repo.set_config("budget.max-tokens", "2500")
    _policy(repo, "side", action="branch")
    _policy(repo, "back", action="return", mode="rebase")
    _policy(repo, "squeeze", action="compress", keep_turns="1")
    enable_policies(repo)
    _task(repo)
    before = len(repo.messages())
    repo.user("Unrelated: which sourdough starter hydration works best for rye flour loaves?")
    assert repo.head_branch() == "refs/heads/tangent/1"
    _session(repo, 4)                    # the tangent grows past the budget: compressed there
    assert any(c.op == "compress" for c in repo.log(limit=50))
    repo.assistant("This is a dead end for the task, I give up on it.")
    assert repo.head_branch() == "refs/heads/main"
    msgs = repo.messages()
    ids = [c for m in msgs for c in (m.get("tool_call_id"),) if c]
    assert len(ids) == len(set(ids))     # no tool result twice
    assert not any(str(m.get("content")).startswith("[Summary of ") for m in msgs[before:])
    assert msgs[-1]["content"].startswith("This is a dead end")


def test_an_undo_is_not_redone_by_the_policy_it_undoes(rdir):
    invoke(rdir, "config", "policy.keep.action", "pin", check=True)
    invoke(rdir, "commit", "-m", "user", "You must keep the API stable.", check=True)
    invoke(rdir, "commit", "-m", "assistant", "Understood.", check=True)
    p = invoke(rdir, "policy", "undo", check=True)
    assert "reverted" in p.stdout
    r = Repository.open(rdir)
    assert [c.op for c in r.log(limit=2)] == ["revert", "append"]
    assert not r.entries_at(r.head_commit())[0].pinned


def test_forged_policy_records_fail_in_one_line(rdir):
    r = Repository.open(rdir)
    invoke(rdir, "config", "policy.back.action", "return", check=True)
    invoke(rdir, "commit", "-m", "user", "hello there, a first message", check=True)
    from trace_core.plumbing import commit_tree
    head = r.head_commit()
    snap = r.get_commit(head).snapshot
    forged = commit_tree(r, snap, [head], message="forged", op="policy",
                         meta={"policy": {"name": b"\x00\xff", "action": "branch",
                                          "base": "main", "turn": "zz", "branch": 7}}).hex
    invoke(rdir, "branch", "tangent/9", forged, check=True)
    invoke(rdir, "switch", "tangent/9", check=True)
    invoke(rdir, "commit", "-m", "user", "back to the first message topic please", check=True)
    p = invoke(rdir, "policy", "explain", "--json", check=True)
    assert json.loads(p.stdout)[0]["policy"] == "back"
    p = invoke(rdir, "policy", "undo", forged, "--json")
    assert_one_line_error(p, "does not name its branches")


def test_a_policy_that_cannot_be_evaluated_is_reported_after_each_commit(repo):
    _policy(repo, "squeeze", action="compress", strategy="mask,zip")
    repo.set_config("budget.max-tokens", "10")
    enable_policies(repo)
    repo.user("hello there")
    assert any("policy squeeze could not be evaluated" in w and "'zip'" in w
               for w in repo.warnings)


def test_a_held_policy_is_not_retried_on_every_commit(repo, monkeypatch):
    repo.set_config("budget.max-tokens", "300")
    _policy(repo, "squeeze", action="compress", keep_turns="1", strategy="mask")
    enable_policies(repo)
    from trace_core.policy import actions
    calls = []
    real = actions._compress
    monkeypatch.setattr(actions, "_compress", lambda *a: (calls.append(1), real(*a))[1])
    repo.user("x " * 600)                # over the budget, but alone in the last turn
    assert calls == []
    repo.user("y")                       # fires; mask finds no tool output: fails, held
    assert len(calls) == 1 and any("did not run" in w for w in repo.warnings)
    repo.user("z")                       # grew by less than 5% of the budget: still held
    repo.user("w")
    assert len(calls) == 1, calls
    [d] = run_policies(repo)             # `trace policy run` ignores holds
    assert d.fires and d.error and len(calls) == 2


def test_pins_follow_the_turn_a_tangent_moved(repo):
    _policy(repo, "side", action="branch")
    _policy(repo, "keep", action="pin")
    enable_policies(repo)
    _task(repo)
    repo.user("Unrelated: bake the sourdough at 250 degrees; you must never open the oven door.")
    assert repo.head_branch() == "refs/heads/tangent/1"
    pinned = [i for i, e in enumerate(repo.entries_at(repo.head_commit())) if e.pinned]
    assert pinned and repo.messages()[pinned[-1]]["content"].startswith("Unrelated: bake")


def test_fewer_turns_than_keep_turns_still_compress(repo):
    repo.set_config("budget.max-tokens", "600")
    _policy(repo, "squeeze", action="compress", strategy="mask")
    repo.user("Fix the flaky network test.")
    _session(repo, 1)
    [d] = explain_policies(repo)
    assert d.fires, d.why
    [d] = run_policies(repo)
    assert d.commits


def test_an_llm_step_without_a_provider_is_skipped(repo):
    repo.set_config("budget.max-tokens", "1500")
    _policy(repo, "squeeze", action="compress", strategy="llm,mask", llm="true", keep_turns="1")
    trusted = Repository.open(repo.trace_dir, trusted=True)
    trusted.user("Fix the flaky network test.")
    _session(trusted, 4)

    def no_provider():
        raise ConfigError("no LLM provider configured")
    [d] = run_policies(trusted, provider=no_provider)
    assert d.error is None and d.commits
    assert d.plan["skipped"] == ["llm: no LLM provider configured"]
