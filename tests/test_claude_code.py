"""Claude Code transcripts imported as history (trace_core.integrations.claude_code): split
responses, tool calls, rewinds, sub-agents, compaction provenance, incremental re-import,
damaged lines and the hook mode, on transcripts written by hand in the verified format
(shared notes: envelope, parentUuid tree, compact_boundary + isCompactSummary, sidechains)."""

from __future__ import annotations

import json
import os

import pytest
from conftest import assert_one_line_error, doc_blocks, invoke, invoke_cli, run_cli

from trace_core.integrations.claude_code import import_claude_code

SID = "5e551011-aaaa-bbbb-cccc-000000000001"
BRANCH = "claude/5e551011"


def rec(type_, uuid, parent, n, **kw):
    d = {"type": type_, "uuid": uuid, "parentUuid": parent, "sessionId": SID,
         "timestamp": f"2026-01-01T00:00:{n:02d}.000Z", "cwd": "/p", "version": "2.1.0",
         "gitBranch": "main", "isSidechain": False, "userType": "external"}
    d.update(kw)
    return d


def user(uuid, parent, n, content, **kw):
    return rec("user", uuid, parent, n, message={"role": "user", "content": content}, **kw)


def asst(uuid, parent, n, mid, blocks, **kw):
    m = {"id": mid, "type": "message", "role": "assistant", "model": "claude-sonnet-4-5",
         "content": blocks, "stop_reason": None,
         "usage": {"input_tokens": 10 + n, "output_tokens": 5, "cache_read_input_tokens": 3,
                   "service_tier": "standard"}}
    return rec("assistant", uuid, parent, n, message=m, requestId="req_" + mid, **kw)


def result(uuid, parent, n, call, text, **kw):
    return user(uuid, parent, n, [{"type": "tool_result", "tool_use_id": call,
                                   "content": text}],
                toolUseResult={"stdout": text}, sourceToolAssistantUUID=parent, **kw)


def text(t):
    return [{"type": "text", "text": t}]


def jsonl(*recs) -> str:
    return "".join(json.dumps(r) + "\n" for r in recs)


# u1 -> a1 (3 lines of one response: thinking, text, tool_use) -> r1 -> a2 -> system line;
# then a rewind: u2/a3 abandoned, u2b/a4 kept; a compaction (boundary -> a4) and its summary;
# u3/a5 after it
SNAPSHOT = {"type": "file-history-snapshot", "messageId": "x", "snapshot": {}}
HEAD_RECS = [
    SNAPSHOT,
    user("u1", None, 1, "fix the parser"),
    asst("a1", "u1", 2, "msg_1", [{"type": "thinking", "thinking": "look", "signature": "s"}]),
    asst("a1b", "a1", 3, "msg_1", text("Let me look.")),
    asst("a1c", "a1b", 4, "msg_1", [{"type": "tool_use", "id": "toolu_1", "name": "Read",
                                     "input": {"file_path": "p.py"}}]),
    result("r1", "a1c", 5, "toolu_1", "def parse(x): return x[:-1]"),
    asst("a2", "r1", 6, "msg_2", text("The bug is x[:-1] in parse(). Fixed.")),
    rec("system", "s1", "a2", 7, subtype="turn_duration", durationMs=5),
    user("u2", "s1", 8, "now try approach A"),
    asst("a3", "u2", 9, "msg_3", text("approach A fails with E222")),
    user("u2b", "s1", 10, "no, try approach B"),
    asst("a4", "u2b", 11, "msg_4", text("B works; error E111 is gone")),
]
COMPACT_RECS = [
    rec("system", "cb", None, 12, subtype="compact_boundary", logicalParentUuid="a4",
        content="Conversation compacted",
        compactMetadata={"trigger": "auto", "preTokens": 45000}),
    user("cs", "cb", 13, "This session is being continued. Summary: parser fixed with B.",
         isCompactSummary=True),
    user("u3", "cs", 14, "ship it"),
    asst("a5", "u3", 15, "msg_5", text("Shipped.")),
]


@pytest.fixture
def session(tmp_path):
    p = tmp_path / f"{SID}.jsonl"
    p.write_text(jsonl(*HEAD_RECS, *COMPACT_RECS))
    return str(p)


def uuids(repo, rev=BRANCH):
    return [((c.meta or {}).get("user") or {}).get("claude.uuid") for c in commits(repo, rev)]


def _log(repo, rev):
    cid = repo.resolve(rev)
    while cid is not None:
        c = repo.get_commit(cid)
        yield c
        cid = c.parents[0] if c.parents else None


def commits(repo, rev=BRANCH):
    return list(_log(repo, rev))[::-1]


def test_messages_split_response_tool_call_usage_and_time(repo, session):
    rep = import_claude_code(repo, session)
    assert rep.branch == BRANCH and rep.session == SID and rep.compactions == 1
    assert repo.head_commit() is None            # HEAD did not move
    cs = commits(repo)
    first = [(c.op, (c.meta or {}).get("user", {}).get("claude.uuid")) for c in cs[:5]]
    assert first == [("append", "u1"), ("append", "a1 a1b a1c"), ("append", "r1"),
                     ("append", "a2"), ("append", "u2b")]
    merged = repo.get_blob(cs[1].blobs[0]).message
    assert merged == {"role": "assistant", "content": [
        {"type": "thinking", "thinking": "look", "signature": "s"},
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "toolu_1", "name": "Read", "input": {"file_path": "p.py"}}]}
    meta = cs[1].meta
    assert meta["user"]["claude.timestamp"] == "2026-01-01T00:00:02.000Z"
    # each commit carries its record's time (UTC), the compaction its boundary's
    from datetime import UTC, datetime
    at = int(datetime(2026, 1, 1, 0, 0, 2, tzinfo=UTC).timestamp() * 1000)
    assert (cs[1].time_ms, cs[1].tz_min) == (at, 0)
    assert all(c.time_ms == int(datetime.fromisoformat(
        c.meta["user"]["claude.timestamp"]).timestamp() * 1000) for c in cs
        if "claude.timestamp" in (c.meta or {}).get("user", {}))
    assert repo.commit_time is None             # the caller's view is not stamped
    assert meta["user"]["claude.message_id"] == "msg_1"
    assert meta["user"]["claude.session"] == SID
    assert meta["usage"]["prompt_tokens"] == 14 and meta["usage"]["completion_tokens"] == 5
    assert meta["usage"]["model"] == "claude-sonnet-4-5"
    assert cs[0].author == "claude-code"
    # the context before the compaction is a valid Anthropic prompt: tool_use then its result
    pre = repo.materialize("anthropic", rev=cs[5].hex)["messages"]
    assert [m["role"] for m in pre] == ["user", "assistant", "user", "assistant", "user",
                                        "assistant"]
    assert pre[2]["content"][0] == {"type": "tool_result", "tool_use_id": "toolu_1",
                                    "content": "def parse(x): return x[:-1]"}


def test_rewind_keeps_the_abandoned_branch(repo, session):
    rep = import_claude_code(repo, session)
    assert rep.rewinds == [f"{BRANCH}-rewind-a3"]
    side = [m["content"] for m in repo.messages(f"{BRANCH}-rewind-a3")]
    assert side[-2:] == ["now try approach A", [{"type": "text",
                                                 "text": "approach A fails with E222"}]]
    # it forks where the conversation was rewound: after a2, sharing its commits
    assert repo.resolve(f"{BRANCH}-rewind-a3~2") == commits(repo)[3].id
    assert "now try approach A" not in json.dumps(repo.messages(BRANCH))


def test_compaction_keeps_what_it_dropped(repo, session, tmp_path):
    import_claude_code(repo, session)
    cs = commits(repo)
    comp = cs[6]
    assert comp.op == "compress" and comp.meta["strategy"] == "manual"
    assert comp.meta["user"]["claude.uuid"] == "cb cs"
    assert comp.meta["user"]["claude.compact"] == "auto, 45000 tokens before"
    after = repo.messages(BRANCH)
    assert after[0] == {"role": "user", "content":
                        "This session is being continued. Summary: parser fixed with B."}
    assert [m["content"] for m in after[1:2]] == ["ship it"]
    # what compaction dropped is in the repository: provenance, audit --lost, blame
    from trace_core.compress import trace_back
    originals = trace_back(repo, comp.id, comp.blobs[0])
    texts = [json.dumps(repo.get_blob(bytes.fromhex(o["blob"])).message) for o in originals]
    assert len(originals) == 6 and any("E111" in t for t in texts)
    assert any("def parse(x)" in t for t in texts)
    lost = invoke(repo.trace_dir, "audit", "--lost", BRANCH)
    assert lost.returncode == 0 and lost.stdout.count("compressed") >= 6
    assert "B works; error E111 is gone" in lost.stdout and "not in the replacement: E111" \
        in lost.stdout
    invoke(repo.trace_dir, "switch", BRANCH, check=True)
    blame = invoke(repo.trace_dir, "blame")
    assert "compress(summary of 6)" in blame.stdout and "fix the parser" in blame.stdout


def test_incremental_reimport_adds_only_new_records(repo, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(*HEAD_RECS[:7]))
    first = import_claude_code(repo, str(p))
    assert first.new == 4 and first.known == 0
    tip = repo.resolve(BRANCH)
    with open(p, "a") as f:
        f.write(jsonl(*HEAD_RECS[7:], *COMPACT_RECS))
    second = import_claude_code(repo, str(p))
    assert second.new == 7 and second.known == 6   # u2b a4 compaction u3 a5, u2 a3 (rewind)
    assert repo.resolve(f"{BRANCH}~5") == tip           # the old commits are the base
    once = uuids(repo)
    again = import_claude_code(repo, str(p))
    assert again.new == 0 and uuids(repo) == once
    assert invoke(repo.trace_dir, "import", "claude-code", str(p)).stdout.startswith(
        f"{BRANCH}: 0 new commits")


def test_response_split_across_two_imports(repo, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(*HEAD_RECS[:3]))                 # only the first line of msg_1
    import_claude_code(repo, str(p))
    with open(p, "a") as f:
        f.write(jsonl(*HEAD_RECS[3:7]))
    rep = import_claude_code(repo, str(p))
    assert rep.new == 3 and rep.known == 2
    assert uuids(repo) == ["u1", "a1", "a1b a1c", "r1", "a2"]
    # the two halves are one assistant turn in the prompt: still a valid request
    msgs = repo.materialize("anthropic", rev=BRANCH)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert [b["type"] for b in msgs[1]["content"]] == ["thinking", "text", "tool_use"]


def test_rewind_after_an_import_moves_the_branch_and_keeps_the_old_tip(repo, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(*HEAD_RECS[:10]))                # ... u2, a3 (approach A)
    import_claude_code(repo, str(p))
    old_tip = repo.resolve(BRANCH)
    with open(p, "a") as f:
        f.write(jsonl(*HEAD_RECS[10:]))                 # the user rewound to s1: u2b, a4
    rep = import_claude_code(repo, str(p))
    assert rep.rewinds == [f"{BRANCH}-rewind-a3"] and rep.new == 2
    assert repo.resolve(f"{BRANCH}-rewind-a3") == old_tip
    assert uuids(repo)[-2:] == ["u2b", "a4"] and "u2" not in uuids(repo)
    assert import_claude_code(repo, str(p)).new == 0


SUB = "a7f3"
TASK = {"type": "tool_use", "id": "toolu_task", "name": "Task",
        "input": {"description": "find", "prompt": "Find where E111 is raised",
                  "subagent_type": "general-purpose"}}


def sub_recs(side=True):
    kw = {"isSidechain": True, "agentId": SUB} if side else {}
    return [
        user("s-u1", None, 3, "Find where E111 is raised", **kw),
        asst("s-a1", "s-u1", 4, "msg_s1", [{"type": "tool_use", "id": "toolu_g",
                                            "name": "Grep", "input": {"pattern": "E111"}}],
             **kw),
        result("s-r1", "s-a1", 5, "toolu_g", "lint.py:12: raise E111", **kw),
        asst("s-a2", "s-r1", 6, "msg_s2", text("E111 is raised in lint.py line 12."), **kw),
    ]


def parent_recs():
    return [
        user("u1", None, 1, "where is E111?"),
        asst("a1", "u1", 2, "msg_1", [TASK]),
        user("r1", "a1", 7, [{"type": "tool_result", "tool_use_id": "toolu_task",
                              "content": text("E111 is raised in lint.py line 12.")}],
             toolUseResult={"status": "completed", "agentId": SUB}),
        asst("a2", "r1", 8, "msg_2", text("It is in lint.py:12.")),
    ]


def check_subagent(repo):
    name = f"agent-{SUB}"
    child = repo.agent(name)
    msgs = child.messages()
    assert msgs[0] == {"role": "user", "content": "Find where E111 is raised"}
    assert msgs[-1]["content"] == text("E111 is raised in lint.py line 12.")
    assert [((c.meta or {}).get("user") or {}).get("claude.uuid")
            for c in commits(child, "HEAD")] == [None, "s-u1", "s-a1", "s-r1", "s-a2"]
    ops = [c.op for c in commits(repo)]
    assert ops == ["append", "append", "spawn", "collapse", "append"]
    col = commits(repo)[3]
    assert col.meta["call"] == "toolu_task" and col.meta["tip"] == child.head_commit()
    prompt = repo.materialize("anthropic", rev=BRANCH)["messages"]
    res = prompt[2]["content"][0]
    assert res["type"] == "tool_result" and res["tool_use_id"] == "toolu_task"
    assert "E111 is raised in lint.py line 12." in json.dumps(res)
    ex = invoke(repo.trace_dir, "expand", f"{BRANCH}~1")
    assert ex.returncode == 0 and f"[{name}]" in ex.stdout and "Grep" in ex.stdout


def test_subagent_from_subagents_file(repo, tmp_path):
    p = tmp_path / f"{SID}.jsonl"
    p.write_text(jsonl(*parent_recs()))
    d = tmp_path / SID / "subagents"
    d.mkdir(parents=True)
    (d / f"agent-{SUB}.jsonl").write_text(jsonl(*sub_recs()))
    rep = import_claude_code(repo, str(p))
    assert rep.agents == [f"agent-{SUB}"]
    check_subagent(repo)
    assert import_claude_code(repo, str(p)).new == 0


def test_subagent_inline_sidechain_matched_by_prompt(repo, tmp_path):
    recs = parent_recs()
    recs[2]["toolUseResult"] = {"status": "completed"}    # no agentId: matched by the prompt
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(recs[0], recs[1], *sub_recs(), *recs[2:]))
    import_claude_code(repo, str(p))
    check_subagent(repo)


def test_subagent_that_grows_between_imports(repo, tmp_path):
    p = tmp_path / f"{SID}.jsonl"
    p.write_text(jsonl(*parent_recs()[:2]))
    d = tmp_path / SID / "subagents"
    d.mkdir(parents=True)
    sub = d / f"agent-{SUB}.jsonl"
    sub.write_text(jsonl(*sub_recs()[:2]))
    rep = import_claude_code(repo, str(p))               # the Task is running
    assert rep.agents == [f"agent-{SUB}"]
    assert len(repo.agent(f"agent-{SUB}").messages()) == 2
    sub.write_text(jsonl(*sub_recs()))                   # SubagentStop, then the result
    with open(p, "a") as f:
        f.write(jsonl(*parent_recs()[2:]))
    import_claude_code(repo, str(p))
    check_subagent(repo)


def test_malformed_lines_warn_and_a_truncated_last_line_comes_next_time(repo, tmp_path):
    p = tmp_path / "s.jsonl"
    good = jsonl(*HEAD_RECS[:7])
    last = json.dumps(HEAD_RECS[7]) + "\n" + json.dumps(HEAD_RECS[8])
    p.write_text("{not json\n" + good + json.dumps(rec("telemetry", "t1", "a2", 6)) + "\n" +
                 "[1, 2]\n" + last[:-10])               # being written: no newline yet
    rep = import_claude_code(repo, str(p))
    assert rep.new == 4                                  # u1, a1 (3 lines), r1, a2
    w = repo.warnings
    assert len(w) == 4 and all("\n" not in x for x in w)
    assert "s.jsonl:1: not JSON" in w[0] and "unknown record type 'telemetry'" in w[1]
    assert "not a JSON object" in w[2] and "incomplete last line" in w[3]
    repo.warnings.clear()
    p.write_text("{not json\n" + good + json.dumps(rec("telemetry", "t1", "a2", 6)) + "\n" +
                 "[1, 2]\n" + last + "\n")
    rep = import_claude_code(repo, str(p))
    assert rep.new == 1 and uuids(repo)[-1] == "u2"
    assert not any("incomplete" in x for x in repo.warnings)


def test_not_a_transcript_is_one_error_and_writes_nothing(rdir, tmp_path):
    p = tmp_path / "notes.txt"
    p.write_text("hello\nworld\n")
    before = sorted(os.listdir(os.path.join(rdir, ".trace", "refs", "heads")))
    r = invoke(rdir, "import", "claude-code", str(p))
    assert_one_line_error(r, "is not a Claude Code transcript")
    assert sorted(os.listdir(os.path.join(rdir, ".trace", "refs", "heads"))) == before
    assert_one_line_error(invoke(rdir, "import", "claude-code", str(tmp_path)),
                          "is not a regular file")
    assert_one_line_error(invoke(rdir, "import", "claude-code", str(tmp_path / "nope")),
                          "cannot read transcript")
    r = invoke(rdir, "import", "claude-code")
    assert r.returncode == 2 and "needs the transcript" in r.stderr


def test_cli_import_and_bundle_import_still_works(rdir, session, tmp_path):
    r = invoke(rdir, "import", "claude-code", session)
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == [
        f"{BRANCH}: 11 new commits", f"  rewound branches: {BRANCH}-rewind-a3",
        f"  compactions: 1 (what they dropped: trace audit --lost {BRANCH})"]
    r = invoke(rdir, "import", "claude-code", session, "--branch", "cc", "--json")
    assert json.loads(r.stdout)["new"] == 11 and json.loads(r.stdout)["branch"] == "cc"
    bundle = tmp_path / "b.jsonl"
    invoke(rdir, "export", BRANCH, "-o", str(bundle), check=True)
    other = str(tmp_path / "o")
    invoke_cli("init", "-q", other, check=True)
    r = invoke(other, "import", str(bundle))
    assert r.returncode == 0 and "refs set" in r.stdout
    assert invoke(rdir, "import", str(bundle), "x").returncode == 2


def test_hook_mode_through_the_cli(rdir, session, tmp_path):
    payload = {"session_id": SID, "transcript_path": session, "cwd": str(tmp_path),
               "permission_mode": "default", "hook_event_name": "Stop",
               "stop_hook_active": False}
    r = invoke(rdir, "import", "claude-code", "--hook", input=json.dumps(payload))
    assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    assert invoke(rdir, "log", "--oneline", BRANCH).stdout.count("\n") == 9
    r = invoke(rdir, "import", "claude-code", "--hook",
               input=json.dumps({**payload, "hook_event_name": "PreCompact",
                                 "trigger": "auto"}))
    assert (r.returncode, r.stdout) == (0, "")
    assert invoke(rdir, "log", "--oneline", BRANCH).stdout.count("\n") == 9
    # SubagentStop names the sub-agent's own file
    sp = tmp_path / "sub" / "p.jsonl"
    sp.parent.mkdir()
    other = "77777777-0000-0000-0000-000000000002"
    sp.write_text(jsonl(*parent_recs()).replace(SID, other))
    (tmp_path / "sub" / f"agent-{SUB}.jsonl").write_text(jsonl(*sub_recs()).replace(SID, other))
    r = invoke(rdir, "import", "claude-code", "--hook", input=json.dumps(
        {**payload, "transcript_path": str(sp), "hook_event_name": "SubagentStop",
         "agent_id": SUB, "agent_transcript_path": str(tmp_path / "sub" /
                                                       f"agent-{SUB}.jsonl")}))
    assert r.returncode == 0, r.stderr
    assert "collapse agent-a7f3" in invoke(rdir, "log", "--oneline", "claude/77777777").stdout
    # errors: one line on stderr, non-zero (never 2, which would block Claude Code)
    assert_one_line_error(invoke(rdir, "import", "claude-code", "--hook", input="nope"),
                          "hook payload is not JSON")
    assert_one_line_error(invoke(rdir, "import", "claude-code", "--hook", input="{}"),
                          "no transcript_path")
    assert_one_line_error(invoke(rdir, "import", "claude-code", "--hook", input=json.dumps(
        {**payload, "transcript_path": str(tmp_path)})), "not a regular file")
    assert invoke(rdir, "import", "claude-code", "--hook", session).returncode == 2


def test_docs_commands_python_and_settings_snippet(tmp_path, session):
    (_, shell), (_, python), (_, settings) = doc_blocks("Claude Code")[:3]
    # the shell lines, on this transcript (the path in place of the example's)
    d = str(tmp_path / "proj")
    os.mkdir(d)
    for line in shell.splitlines():
        cmd = line.split("#")[0].split()
        assert cmd[0] == "trace"
        for part in " ".join(cmd[1:]).split(" && trace "):
            args = [session if a.endswith(".jsonl") else a for a in part.split()]
            r = invoke_cli(*args, cwd=d)
            assert r.returncode == 0, (args, r.stderr)
    assert "E111" in invoke_cli("audit", "--lost", BRANCH, cwd=d).stdout
    ctx = json.loads(invoke_cli("context", "--format", "anthropic", cwd=d).stdout)
    assert ctx["messages"][-1]["content"][0]["text"] == "Shipped."
    # the Python lines
    code = python.replace('"5e551011-….jsonl"', repr(session))
    cwd = os.getcwd()
    os.chdir(d)
    try:
        ns: dict = {}
        exec(compile(code, "docs", "exec"), ns)
    finally:
        os.chdir(cwd)
    assert ns["report"].branch == BRANCH and ns["report"].new == 0
    # the settings snippet: valid JSON whose every command is the one tested above
    hooks = json.loads(settings)["hooks"]
    assert sorted(hooks) == ["PreCompact", "Stop", "SubagentStop"]
    assert {h["command"] for ev in hooks.values() for m in ev for h in m["hooks"]} == \
        {"trace import claude-code --hook"}


def test_two_compactions_chain_their_provenance(repo, tmp_path):
    more = [user("u4", "a5", 16, "and the docs"), asst("a6", "u4", 17, "msg_6", text("Done.")),
            rec("system", "cb2", None, 18, subtype="compact_boundary", logicalParentUuid="a6",
                compactMetadata={"trigger": "manual", "preTokens": 9000}),
            user("cs2", "cb2", 19, "Summary 2: shipped, docs done.", isCompactSummary=True)]
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(*HEAD_RECS, *COMPACT_RECS, *more[:3]))   # boundary, no summary yet
    rep = import_claude_code(repo, str(p))
    assert rep.compactions == 1 and uuids(repo)[-1] == "a6"
    with open(p, "a") as f:
        f.write(jsonl(more[3]))
    rep = import_claude_code(repo, str(p))
    assert (rep.new, rep.compactions) == (1, 1)
    assert repo.messages(BRANCH) == [{"role": "user",
                                      "content": "Summary 2: shipped, docs done."}]
    from trace_core.compress import trace_back
    tip = repo.get_commit(repo.resolve(BRANCH))
    texts = json.dumps([repo.get_blob(bytes.fromhex(o["blob"])).message
                        for o in trace_back(repo, tip.id, tip.blobs[0])])
    assert "E111" in texts and "and the docs" in texts     # through the first summary


def test_compress_meta_labels(repo):
    from trace_core.errors import InputError
    repo.user("a")
    repo.assistant("b")
    tip = repo.head_commit()
    with pytest.raises(InputError, match="bad metadata key"):
        repo.compress(entries="0:", strategy="manual", summaries=["ab"], allow_growth=True,
                      meta={"bad key": "x"})
    assert repo.head_commit() == tip
    res = repo.compress(entries="0:", strategy="manual", summaries=["ab"], allow_growth=True,
                        meta={"run": "7"})
    assert repo.get_commit(bytes.fromhex(res.commit)).meta["user"] == {"run": "7"}


def test_parallel_tool_results_on_side_branches_are_reattached(repo, tmp_path):
    calls = [{"type": "tool_use", "id": f"toolu_{i}", "name": "Read",
              "input": {"file_path": f"{i}.py"}} for i in (1, 2)]
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(user("u1", None, 1, "read both"),
                       asst("a1", "u1", 2, "msg_1", [calls[0]]),
                       asst("a1b", "a1", 3, "msg_1", [calls[1]]),
                       result("r1", "a1", 4, "toolu_1", "one"),      # a leaf off a1
                       result("r2", "a1b", 5, "toolu_2", "two"),
                       asst("a2", "r2", 6, "msg_2", text("both read"))))
    rep = import_claude_code(repo, str(p))
    assert rep.rewinds == [] and uuids(repo) == ["u1", "a1 a1b", "r1", "r2", "a2"]
    msgs = repo.materialize("anthropic", rev=BRANCH)["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    assert [b["tool_use_id"] for b in msgs[2]["content"]] == ["toolu_1", "toolu_2"]


def test_a_damaged_line_inside_the_chain_does_not_cut_it(repo, tmp_path):
    recs = [json.dumps(r) for r in HEAD_RECS[:7]]
    recs[5] = recs[5][:30]                               # r1, the tool result, damaged
    recs.insert(3, json.dumps(rec("telemetry", "t1", "a1", 2)))
    recs[4] = json.dumps({**HEAD_RECS[3], "parentUuid": "t1"})  # a1b hangs off the unknown one
    p = tmp_path / "s.jsonl"
    p.write_text("\n".join(recs) + "\n")
    rep = import_claude_code(repo, str(p))
    assert rep.rewinds == [] and uuids(repo) == ["u1", "a1 a1b a1c", "a2"]
    assert any("s.jsonl:7: not JSON" in w for w in repo.warnings)
    assert any("unknown record type 'telemetry', not imported" in w for w in repo.warnings)


def test_a_second_branch_of_a_session_with_a_subagent_keeps_its_result(repo, tmp_path):
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(*parent_recs()[:2], *sub_recs(), *parent_recs()[2:]))
    import_claude_code(repo, str(p))
    rep = import_claude_code(repo, str(p), branch="copy")     # the sub-agent is collapsed
    assert (rep.new, rep.known) == (4, 4)               # known: the sub-agent's 4 records
    assert uuids(repo, "copy") == ["u1", "a1", "r1", "a2"]
    assert any("not collapsed, its result kept as a tool result" in w for w in repo.warnings)
    res = repo.messages("copy")[2]["content"][0]
    assert res["tool_use_id"] == "toolu_task" and "lint.py line 12" in json.dumps(res)


def progress(uuid, parent, n, call):
    return rec("progress", uuid, parent, n, data={"type": "hook_progress"},
               toolUseID=call, parentToolUseID=call)


def test_shapes_seen_in_real_sessions(repo, tmp_path):
    """As recorded by Claude Code 2.1: hook progress lines inside the chain (a response's second
    tool_use hangs off a progress line of the first), a parallel result with progress children
    of its own, and a compact_boundary whose logicalParentUuid names a line never written."""
    calls = [{"type": "tool_use", "id": f"toolu_{i}", "name": "Bash",
              "input": {"command": f"echo {i}"}} for i in (1, 2)]
    p = tmp_path / "s.jsonl"
    p.write_text(jsonl(
        {"type": "queue-operation", "operation": "dequeue", "sessionId": SID},
        user("u1", None, 1, "run both"),
        asst("a1", "u1", 2, "msg_1", [calls[0]]),
        progress("p1", "a1", 3, "toolu_1"), progress("p2", "p1", 4, "toolu_1"),
        asst("a1b", "p2", 5, "msg_1", [calls[1]]),
        progress("p3", "a1b", 6, "toolu_2"),
        result("r1", "a1", 7, "toolu_1", "1"), progress("p4", "r1", 8, "toolu_1"),
        result("r2", "a1b", 9, "toolu_2", "2"),
        asst("a2", "r2", 10, "msg_2", text("both ran: E111")),
        rec("system", "cb", None, 11, subtype="compact_boundary",
            logicalParentUuid="never-written", compactMetadata={"trigger": "auto"}),
        user("cs", "cb", 12, "Summary: both commands ran.", isCompactSummary=True),
        user("u2", "cs", 13, "thanks")))
    rep = import_claude_code(repo, str(p))
    assert (rep.rewinds, rep.compactions, repo.warnings) == ([], 1, [])
    assert uuids(repo) == ["u1", "a1 a1b", "r1", "r2", "a2", "cb cs", "u2"]
    msgs = repo.materialize("anthropic", rev=f"{BRANCH}~2")["messages"]
    assert [b["id"] for b in msgs[1]["content"]] == ["toolu_1", "toolu_2"]
    assert [b["tool_use_id"] for b in msgs[2]["content"]] == ["toolu_1", "toolu_2"]
    assert "E111" in invoke(repo.trace_dir, "audit", "--lost", BRANCH).stdout


def test_hook_in_a_real_process_from_the_project_directory(tmp_path, session):
    """As Claude Code runs it: `trace import claude-code --hook` in the project directory,
    the payload on stdin; nothing on stdout, exit 0; again: still 0, nothing new."""
    proj = tmp_path / "proj"
    proj.mkdir()
    invoke_cli("init", "-q", str(proj), check=True)
    payload = json.dumps({"session_id": SID, "transcript_path": session,
                          "hook_event_name": "Stop", "cwd": str(proj)})
    for _ in range(2):
        r = run_cli("import", "claude-code", "--hook", cwd=str(proj), input=payload)
        assert (r.returncode, r.stdout, r.stderr) == (0, "", "")
    r = run_cli("import", "claude-code", "--hook", "--json", cwd=str(proj), input=payload)
    assert json.loads(r.stdout)["new"] == 0 and json.loads(r.stdout)["known"] == 14
    elsewhere = tmp_path / "no-repo"
    elsewhere.mkdir()
    assert_one_line_error(invoke_cli("import", "claude-code", "--hook", cwd=str(elsewhere),
                                     input=payload), "not in a trace repository")


def test_a_branch_with_commits_of_its_own_on_top_is_refused(repo, session, tmp_path):
    from trace_core.errors import OperationError
    repo.user("a system prompt of mine")                 # below the import: a base, fine
    rep = import_claude_code(repo, session, branch="main")
    assert rep.new == 11 and repo.messages()[0]["content"] == "a system prompt of mine"
    repo.user("my own note")                             # on top of the import
    tip = repo.head_commit()
    with pytest.raises(OperationError, match="has commits that are not from this transcript"):
        import_claude_code(repo, session, branch="main")
    assert repo.head_commit() == tip


def test_a_damaged_uuid_cannot_break_a_rewind_branch_name():
    from trace_core.integrations.claude_code import rewind_branch
    assert rewind_branch("claude/abc", "5e551011-aaaa") == "claude/abc-rewind-5e551011"
    from trace_core.refs import check_ref_format
    for bad in ("a..b~c", "../../x", "", "@{-1}", "x y:z^"):
        check_ref_format("refs/heads/" + rewind_branch("claude/abc", bad))
