"""The context-quality benchmark (benchmarks/context_quality, docs/context-quality.md): its
generator, reader, scoring and truncation, the unmanaged arm at the budget, the real-LLM mode
against the local wire-protocol server, and the managed arms run through the policy engine."""

from __future__ import annotations

import json
import os
import re
import sys

import pytest
from conftest import chat, closed_port, reply

from trace_core.compress.strategies import FINDING
from trace_core.messages import REQUIREMENT as SUMMARY_REQUIREMENT
from trace_core.policy.signals import CORRECTION, REQUIREMENT
from trace_core.repository import Repository
from trace_core.tokens import count_messages
from trace_core.toolpairs import analyze

# the benchmark is imported as a package of the repository's root (also under a bare `pytest`)
sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
from benchmarks.context_quality import reader, runner  # noqa: E402
from benchmarks.context_quality.arms import ARMS, run_session, select  # noqa: E402
from benchmarks.context_quality.generator import Question, generate, is_model_step  # noqa: E402
from benchmarks.context_quality.prompt import PromptCounter, truncate, units  # noqa: E402
from benchmarks.context_quality.scoring import (  # noqa: E402
    DECOY,
    ERROR,
    RIGHT,
    UNKNOWN,
    WRONG,
    holds,
    score,
)

# at 4,000 tokens the managed arms differ (at 6,000 all three keep the same facts here)
SMALL = {"tasks": 2, "messages": (110, 150), "budget": 4000, "seed": 18}


@pytest.fixture(scope="module")
def small_run():
    """The benchmark at the test size, every arm (computed once for the module)."""
    return runner.benchmark(**SMALL)


def q(qid: str, answer: str, decoys: tuple = ()) -> Question:
    return Question(qid, f"what is {qid}?", answer, decoys, True, "tool", 0.5)


# -- generator --------------------------------------------------------------------------------
def test_sessions_are_seeded_and_well_formed():
    a, b = generate(3, 7, 60, 90), generate(3, 7, 60, 90)
    assert [t.messages for t in a] == [t.messages for t in b]
    assert [t.questions for t in a] == [t.questions for t in b]
    assert [t.messages for t in generate(3, 8, 60, 90)] != [t.messages for t in a]
    for t in a:
        assert t.messages[0]["role"] == "system" and is_model_step(t.messages[-1])
        assert analyze(t.messages) == ([], [])
        assert len({x.id for x in t.questions}) == len(t.questions) == len(reader.RULES)
        # every planted value is in the session, and the reader finds it in the whole of it
        whole = "\n".join(m.get("content") or "" for m in t.messages)
        for x in t.questions:
            assert reader.answer(whole, x.id) == x.answer, x


def _words(words: tuple[str, ...]) -> re.Pattern:
    return re.compile(r"\b(?:" + "|".join(re.escape(w) for w in words) + r")\b", re.I)


def test_paraphrased_sessions_differ_in_wording_only():
    """The same sessions, values and places; the planted requirements, decisions, findings and
    corrections worded without the words the pin policy and the extractive ranking look for;
    the reader still finds every fact."""
    default, para = generate(4, 18, 60, 200), generate(4, 18, 60, 200, paraphrase=True)
    assert [t.messages for t in para] == [t.messages for t in generate(4, 18, 60, 200, True)]
    for a, b in zip(default, para, strict=True):
        assert a.questions == b.questions and len(a.messages) == len(b.messages)
        changed = [(x, y) for x, y in zip(a.messages, b.messages, strict=True) if x != y]
        assert [x["role"] for x, _ in changed if x["role"] != "tool"] == \
            [y["role"] for _, y in changed if y["role"] != "tool"]
        assert 6 <= len(changed) <= 7          # the timeout's correction is in a user message
        for _, y in changed:                   # or in a tool output, per session
            words = y["content"]
            if y["role"] == "user":
                assert not REQUIREMENT.search(words) and not CORRECTION.search(words)
                assert not SUMMARY_REQUIREMENT.search(words), words
            elif y["role"] == "assistant":
                assert not CORRECTION.search(words) and not _words(FINDING).search(words)
        whole = "\n".join(m.get("content") or "" for m in b.messages)
        for x in b.questions:
            assert reader.answer(whole, x.id) == x.answer, x


@pytest.mark.parametrize("paraphrase", [False, True])
def test_a_near_miss_fools_the_reader_when_the_fact_is_gone(paraphrase):
    """With every occurrence of the right value taken out of a session, the reader answers the
    decoy (an outdated value by the exact rule, a near miss by the loose one), except for the
    root cause and the failing test, which have no loose rule."""
    for t in generate(6, 18, 60, 300, paraphrase):
        whole = "\n".join(m.get("content") or "" for m in t.messages)
        for x in t.questions:
            gone = re.sub(r"(?<![A-Za-z0-9_])" + re.escape(x.answer) + r"(?![A-Za-z0-9_])",
                          "…", whole, flags=re.I)
            expected = UNKNOWN if x.id in ("root_cause", "failing_test") else DECOY
            assert score(reader.answer(gone, x.id), x) == expected, (x, reader.answer(gone, x.id))


# -- reader and scoring -----------------------------------------------------------------------
def test_reader_finds_a_planted_fact_and_says_unknown_without_it():
    text = "[assistant]\nFound: the retry limit is 7 in conf/retry.toml (the .bak is stale).\n"
    assert reader.answer(text, "retry") == "7"
    assert score(reader.answer(text, "retry"), q("retry", "7", ("3",))) == RIGHT
    grep = "[tool call_3]\nconf/retry.toml.bak:4:max_retries = 3\nconf/retry.toml:4:max_retries = 7"
    assert reader.answer(grep, "retry") == "7"       # the similar file is not the one asked for
    # the .bak file's value alone: the loose rule falls for it
    near_miss = "[tool call_3]\nconf/retry.toml.bak:4:max_retries = 3\n[user]\nthanks!"
    assert score(reader.answer(near_miss, "retry"), q("retry", "7", ("3",))) == DECOY
    absent = "[tool call_3]\nconf/retry.toml.bak:4:retries = 3\n[user]\nthanks!"
    assert reader.answer(absent, "retry") == reader.UNKNOWN
    assert score(reader.answer(absent, "retry"), q("retry", "7", ("3",))) == UNKNOWN
    # the masked output of a tool holds nothing to read
    assert reader.answer("[tool call_9]\n[output of grep masked: 212 tokens]", "retry") == \
        reader.UNKNOWN


def test_reader_takes_the_latest_value_and_an_outdated_one_scores_as_decoy():
    timeout = q("timeout", "45s", ("30s",))
    both = ("[user]\n- the upstream request timeout is 30s\n\n[user]\nCorrection: the upstream "
            "request timeout is 45s now (the 30s in my first message is outdated).\n")
    assert score(reader.answer(both, "timeout"), timeout) == RIGHT
    assert reader.answer(both, "timeout", first=True) == "30s"
    only_old = "[user]\n- the upstream request timeout is 30s\n"
    assert score(reader.answer(only_old, "timeout"), timeout) == DECOY
    # in a summary line, as the extractive strategy writes them
    summary = "[Summary of 9 messages, extractive]\nuser: Correction: the upstream request " \
              "timeout is 45s now\n"
    assert score(reader.answer(summary, "timeout"), timeout) == RIGHT


def test_scoring_whole_values_and_decoys():
    assert holds("The limit is 7.", "7") and not holds("limit 17", "7")
    assert holds("PROD_DB", "prod_db") and not holds("prod_db_replica", "prod_db")
    assert not holds("requests==2.3.10", "requests==2.3.1")
    db = q("forbidden_db", "prod_db", ("prod_db_replica",))
    assert score("Never touch prod_db.", db) == RIGHT
    assert score("prod_db_replica", db) == DECOY
    assert score("prod_db, not prod_db_replica", db) == DECOY      # a decoy named is wrong
    assert score("", db) == UNKNOWN and score("Unknown.", db) == UNKNOWN
    assert score("I don't know.", db) == UNKNOWN
    assert score("users_primary", db) == WRONG


# -- truncation -------------------------------------------------------------------------------
def test_truncation_never_splits_a_call_from_its_results(repo):
    count = PromptCounter(repo.token_counter())
    parallel = [{"role": "system", "content": "s"}, {"role": "user", "content": "go " * 50},
                {"role": "assistant", "content": None, "tool_calls": [
                    {"id": f"p{k}", "type": "function",
                     "function": {"name": "ls", "arguments": "{}"}} for k in range(3)]},
                *[{"role": "tool", "tool_call_id": f"p{k}", "content": "x " * 40}
                  for k in range(3)],
                {"role": "user", "content": "and now?"}]
    assert units(parallel) == [[0], [1], [2, 3, 4, 5], [6]]
    sessions = [parallel] + [t.messages for t in generate(2, 3, 80, 100)]
    checked = 0
    for msgs in sessions:
        steps = [i + 1 for i, m in enumerate(msgs) if is_model_step(m)]
        for end in steps:
            for budget in (40, 150, 400, 900, 2500):
                got, dropped = truncate(msgs[:end], budget, count)
                pairing = analyze(got)      # (a parallel call's results may still be coming)
                assert pairing.problems == [], (end, budget)
                assert [p.call_id for p in pairing.pending] == \
                    [p.call_id for p in analyze(msgs[:end]).pending]
                assert got[0] == msgs[0] and got[-1] == msgs[end - 1]
                assert dropped == end - len(got)
                checked += dropped > 0
    assert checked > 100


def test_unmanaged_arm_truncates_at_the_budget(tmp_path):
    task = generate(1, 5, 90, 110)[0]
    budget = 2000
    run = run_session(task, dict(ARMS)["unmanaged"], budget, str(tmp_path / "u"), "chars/4")
    steps = [i + 1 for i, m in enumerate(task.messages) if is_model_step(m)]
    assert len(run.steps) == len(steps)
    with Repository.init(str(tmp_path / "oracle"), encoding="chars/4") as r:
        count = PromptCounter(r.token_counter())
    # the oracle: the system prompt and the longest run of whole newest units that fits
    for tokens, end in zip(run.steps, steps, strict=True):
        msgs = task.messages[:end]
        whole = count_messages(msgs, count.counter)
        if whole <= budget:
            assert tokens == whole
            continue
        us = units(msgs)
        fits = [k for k in range(1, len(us))
                if count.prompt([msgs[0]] + [msgs[i] for u in us[k:] for i in u]) <= budget]
        k = min(fits)
        assert tokens == count.prompt([msgs[0]] + [msgs[i] for u in us[k:] for i in u])
        assert tokens <= budget
    assert 0 < run.truncated_steps < len(steps)
    assert run.final_tokens <= budget and run.final_dropped > 0
    assert run.ops == {"append": len(task.messages)}


def test_an_untruncated_prompt_counts_what_the_commit_counts(repo):
    task = generate(1, 2, 60, 60)[0]
    count = PromptCounter(repo.token_counter())
    for m in task.messages[:30]:
        c = repo.append(m)
        prompt, dropped = truncate(repo.materialize("openai"), 10**9, count)
        assert dropped == 0 and count.prompt(prompt) == c.total_tokens


def test_arms_are_config_only():
    assert [n for n, _ in ARMS] == ["unmanaged", "mask", "mask+extractive",
                                    "mask+extractive+pin"]
    assert all(all(k.startswith("policy.") for k in c) for _, c in ARMS)
    assert [n for n, _ in select("mask+extractive+pin,unmanaged")] == \
        ["unmanaged", "mask+extractive+pin"]
    with pytest.raises(ValueError, match="unknown arm"):
        select("masked")


# -- real-LLM mode ----------------------------------------------------------------------------
def test_llm_mode_against_the_local_server(llm_server, monkeypatch, tmp_path, capsys):
    """A scripted model reads the transcript it is sent: the oldest value it finds (so it
    falls for the outdated timeout and pin), in a sentence; it never knows who is on call."""
    tasks = generate(1, 4, 60, 80)
    by_text = {x.text: x.id for x in tasks[0].questions}
    sent: list[str] = []

    def model(rec):
        body = rec["body"]
        assert body["model"] == "reader-1" and body["temperature"] == 0
        prompt = body["messages"][-1]["content"]
        sent.append(prompt)
        qid = by_text[prompt.rsplit("Question: ", 1)[1]]
        if qid == "owner":
            return "I don't know."
        return f"The answer is {reader.answer(prompt, qid, first=True)}."

    llm_server.default = chat(model)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret-123")
    out = tmp_path / "llm.json"
    assert runner.main(["--tasks", "1", "--messages", "60,80", "--seed", "4", "--budget",
                        "1000000", "--arms", "unmanaged", "--base-url", llm_server.url + "/v1",
                        "--model", "reader-1", "--out", str(out), "-q"]) == 0
    printed = capsys.readouterr()
    doc = json.loads(out.read_text())
    assert len(llm_server.requests) == len(tasks[0].questions) == len(sent)
    assert all(r["path"] == "/v1/chat/completions" and
               r["headers"]["authorization"] == "Bearer sk-test-secret-123"
               for r in llm_server.requests)
    assert "sk-test-secret" not in printed.out + printed.err + out.read_text()
    # the transcript sent is the final prompt the reader reads: the whole session here
    assert all(p.startswith("<transcript>\n[system]\nYou are a careful coding agent")
               for p in sent)
    arm = doc["arms"][0]
    llm = {k: a["llm_score"] for k, a in arm["per_task"][0]["answers"].items()}
    assert llm == {**{k: RIGHT for k in llm}, "timeout": DECOY, "pin": DECOY,
                   "owner": UNKNOWN}
    assert (arm["facts_retained"], arm["decoys_answered"], arm["unknown"]) == (8, 2, 1)
    assert arm["tasks_succeeded"] == 0               # the timeout is must-know
    assert arm["reader"]["facts_retained"] == 11 and arm["reader"]["tasks_succeeded"] == 1
    assert doc["mode"] == "llm" and doc["llm"]["usage"]["calls"] == 11
    assert re.search(r"\| unmanaged \| 0 / 1 \| 8 \(of 11\) \| 2 \|", printed.out)


LLM_ARGS = ["--tasks", "1", "--messages", "60,80", "--seed", "4", "--budget", "1000000",
            "--arms", "unmanaged", "--model", "reader-1", "-q"]


@pytest.mark.parametrize("args, complaint", [
    (["--tasks", "0"], "--tasks: must be 1 or more"),
    (["--budget", "0"], "--budget: must be 1 or more"),
    (["--budget", "-5"], "--budget: must be 1 or more"),
    (["--messages", "0,0"], "--messages: need 60 <= MIN <= MAX"),
    (["--messages", "90,80"], "--messages: need 60 <= MIN <= MAX"),
    (["--messages", "x"], "--messages: not MIN,MAX"),
    (["--max-tokens", "0", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
     "--max-tokens: must be 1 or more"),
    (["--timeout", "0", "--base-url", "http://127.0.0.1:9/v1", "--model", "m"],
     "--timeout: must be more than 0"),
    (["--base-url", "http://127.0.0.1:9/v1"], "needs both --base-url and --model"),
    (["--arms", "masked"], "unknown arm"),
])
def test_bad_arguments_are_usage_errors(args, complaint, capsys):
    with pytest.raises(SystemExit) as ei:
        runner.main(args)
    assert ei.value.code == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize("base_url, complaint", [
    ("ftp://x", "base URL must be an http:// or https:// URL"),
    ("http://127.0.0.1:{port}/v1", "the first 3 requests failed; the last: openai endpoint "
                                   "refused the connection"),
])
def test_an_unusable_endpoint_is_a_one_line_error(base_url, complaint, tmp_path, capsys):
    out = tmp_path / "llm.json"
    rc = runner.main([*LLM_ARGS, "--retries", "0", "--out", str(out),
                      "--base-url", base_url.format(port=closed_port())])
    err = capsys.readouterr().err
    assert rc == 1 and complaint in err
    assert err.startswith("python -m benchmarks.context_quality: error: ") and \
        err.count("\n") == 1 and "Traceback" not in err
    assert not out.exists()


def test_failed_requests_are_error_answers_and_credentials_stay_out(llm_server, tmp_path,
                                                                     capsys):
    """Requests 2 and 5 fail (HTTP 400, not retried): their questions are "error" answers,
    counted; the other questions are answered and the run succeeds. The base URL's user info
    and query never reach the JSON."""
    def act(h):
        n = len(h.server.requests)
        if n in (2, 5):
            return reply(400, {"error": {"message": "bad request"}})(h)
        return chat("unknown")(h)

    llm_server.default = act
    port = llm_server.url.rsplit(":", 1)[1]
    out = tmp_path / "llm.json"
    rc = runner.main([*LLM_ARGS, "--out", str(out), "--base-url",
                      f"http://alice:hunter2@127.0.0.1:{port}/v1?api_key=sk-in-query-42"])
    printed = capsys.readouterr()
    assert rc == 0, printed.err
    assert "2 of 11 requests failed" in printed.err
    raw = out.read_text()
    assert "hunter2" not in raw and "alice" not in raw and "sk-in-query-42" not in raw
    doc = json.loads(raw)
    assert doc["llm"]["base_url"] == f"http://127.0.0.1:{port}/v1"
    assert doc["llm"]["requests_failed"] == 2 and doc["llm"]["usage"]["calls"] == 9
    arm = doc["arms"][0]
    answers = list(arm["per_task"][0]["answers"].values())
    assert [a["llm_score"] for a in answers].count(ERROR) == 2
    assert [a["llm_score"] for a in answers].count(UNKNOWN) == 9
    failed = [a for a in answers if a["llm_score"] == ERROR]
    assert all(a["llm_answer"] is None and "HTTP 400" in a["llm_error"] for a in failed), failed
    assert (arm["errors"], arm["unknown"], arm["facts_retained"]) == (2, 9, 0)
    assert arm["reader"]["errors"] == 0 and arm["reader"]["facts_retained"] == 11


# -- the whole benchmark ----------------------------------------------------------------------
def test_offline_run_is_deterministic(small_run):
    again = runner.benchmark(**SMALL)
    assert json.dumps(again, sort_keys=True) == json.dumps(small_run, sort_keys=True)


def test_managed_arms_run_through_the_policy_engine(small_run):
    arms = {a["arm"]: a for a in small_run["arms"]}
    assert list(arms) == [n for n, _ in ARMS]
    for name in ("mask", "mask+extractive", "mask+extractive+pin"):
        # the squeeze policy compressed in every task; only the keep policy pins
        for t in arms[name]["per_task"]:
            assert t["commits"]["append"] == t["messages"], name
            assert t["commits"]["compress"] > 0, name
            assert ("pin" in t["commits"]) == (name == "mask+extractive+pin"), name
    assert all(t["commits"] == {"append": t["messages"]} for t in arms["unmanaged"]["per_task"])
    # a policy that fails is a warning, never an error: the count is in the record (the mask
    # arm cannot reach its target at this budget, so its policy is held after failing)
    assert sum(t["policy_failures"] for t in arms["mask"]["per_task"]) > 0
    assert all(isinstance(t["policy_failures"], int) for a in arms.values()
               for t in a["per_task"])


def test_the_full_policy_set_keeps_the_most_per_token(small_run):
    """At the test size and 4,000 tokens: the pin arm keeps every requirement and beats mask and
    unmanaged on facts per 1k tokens; the extractive ranking earns its place (mask+extractive
    keeps most requirements and beats mask alone; with the ranking inverted it keeps none)."""
    arms = {a["arm"]: a for a in small_run["arms"]}
    shown = runner.table(small_run["arms"])
    pin, ext, mask, base = (arms[n] for n in ("mask+extractive+pin", "mask+extractive", "mask",
                                              "unmanaged"))
    assert pin["retained_by_source"]["requirement"] == {"right": 6, "of": 6}, shown
    assert ext["retained_by_source"]["requirement"]["right"] >= 3, shown
    assert base["retained_by_source"]["requirement"]["right"] == 0, shown
    assert pin["facts_per_1k_tokens"] > ext["facts_per_1k_tokens"] > \
        mask["facts_per_1k_tokens"] > base["facts_per_1k_tokens"], shown
    # the decisions and findings the assistant wrote down: the pin arm keeps what mask does
    assert pin["retained_by_source"]["assistant"]["right"] >= \
        mask["retained_by_source"]["assistant"]["right"] > 0, shown
    assert pin["tasks_succeeded"] >= 1 and base["tasks_succeeded"] == 0, shown


def test_masking_does_not_depend_on_the_wording(small_run):
    """mask keeps user and assistant messages as written: paraphrased, it keeps the same facts
    (the extractive and pin arms do not: docs/context-quality.md)."""
    para = runner.benchmark(**SMALL, arms="mask", paraphrase=True)
    assert para["settings"]["paraphrase"] is True
    default = next(a for a in small_run["arms"] if a["arm"] == "mask")
    got = [{k: a["score"] for k, a in t["answers"].items()} for t in para["arms"][0]["per_task"]]
    assert got == [{k: a["score"] for k, a in t["answers"].items()}
                   for t in default["per_task"]]
