"""`trace commit` input: empty content refused, edits keep the entry's role, several messages
(JSONL or a JSON array) in one commit, and `--input` as the name of the input format (the old
`--json` spelling still works, with a deprecation warning)."""

from __future__ import annotations

import json

from conftest import assert_one_line_error, assert_usage_error, invoke


def context(rdir, rev="HEAD"):
    return json.loads(invoke(rdir, "context", "--format", "openai", rev, check=True).stdout)


def head(rdir):
    return invoke(rdir, "rev-parse", "HEAD").stdout


def test_empty_content_is_refused(rdir):
    invoke(rdir, "commit", "first", check=True)
    before = head(rdir)
    for args, stdin in ((["commit"], ""), (["commit"], "  \n"), (["commit", ""], None),
                        (["commit", "-"], "\n"), (["commit", "--role", "assistant"], "")):
        assert_one_line_error(invoke(rdir, *args, input=stdin), "the content is empty", code=2)
    assert_one_line_error(invoke(rdir, "commit", "--type", "edit", "--target", "0", ""),
                          "the content is empty", code=2)
    assert head(rdir) == before and len(context(rdir)) == 1


def test_edit_keeps_the_role_unless_role_is_given(rdir):
    invoke(rdir, "commit", "question", check=True)
    invoke(rdir, "commit", "--role", "assistant", "answer", check=True)
    invoke(rdir, "commit", "--type", "edit", "--target", "1", "better answer", check=True)
    assert context(rdir)[1] == {"role": "assistant", "content": "better answer"}
    invoke(rdir, "commit", "--type", "edit", "--target", "-1", "--role", "user", "now user",
           check=True)
    assert context(rdir)[1] == {"role": "user", "content": "now user"}
    assert_one_line_error(invoke(rdir, "commit", "--type", "edit", "--target", "7", "x"),
                          "entry 7 does not exist")


def test_edit_of_an_entry_without_role_needs_role(rdir):
    item = {"type": "function_call_output", "call_id": "a", "output": "x"}
    invoke(rdir, "commit", "--input", "json", input=json.dumps(item), check=True)
    assert_one_line_error(invoke(rdir, "commit", "--type", "edit", "--target", "0", "t"),
                          "no role", "--role")
    invoke(rdir, "commit", "--type", "edit", "--target", "0", "--role", "user", "t", check=True)


def test_jsonl_and_json_array_are_one_commit(rdir, tmp_path):
    msgs = [{"role": "user", "content": "q"},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c1", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
            {"role": "tool", "tool_call_id": "c1", "content": "a.txt"}]
    f = tmp_path / "turn.jsonl"
    f.write_text("\n".join(json.dumps(m) for m in msgs) + "\n\n")
    p = invoke(rdir, "commit", "--input", "jsonl", "-F", str(f), check=True)
    assert "append 3 messages" in p.stdout and p.stderr == ""
    assert context(rdir) == msgs
    assert_one_line_error(invoke(rdir, "rev-parse", "HEAD~1"), "has no parent")
    p = invoke(rdir, "commit", "--input", "json", input=json.dumps(msgs[:1] * 2), check=True)
    assert "append 2 messages" in p.stdout
    assert len(context(rdir)) == 5 and len(context(rdir, "HEAD~1")) == 3


def test_bad_bulk_input_changes_nothing(rdir):
    invoke(rdir, "commit", "first", check=True)
    before = head(rdir)
    ok = json.dumps({"role": "user", "content": "x"})
    for args, stdin, says in (
            (["--input", "jsonl"], f"{ok}\n{{oops\n", "line 2 is not valid JSON"),
            (["--input", "jsonl"], f"{ok}\n[1]\n", "line 2 is not a message"),
            (["--input", "json"], f"[{ok}, 3]", "item 1 is not a message"),
            (["--input", "json"], "[]", "the JSON array is empty"),
            (["--input", "json"], "7", "the message is not a message"),
            (["--input", "json", "--type", "edit", "--target", "0"], f"[{ok}, {ok}]",
             "replaces one entry")):
        assert_one_line_error(invoke(rdir, "commit", *args, input=stdin), says)
    assert_one_line_error(invoke(rdir, "commit", "--input", "json", "--role", "user",
                                 input=ok), "--role is for text content", code=2)
    assert_usage_error(invoke(rdir, "commit", "--input", "yaml", input=ok), "--input")
    assert head(rdir) == before


def test_old_json_spelling_still_works_with_a_deprecation_note(rdir):
    msg = {"role": "assistant", "content": "hi", "x_provider": {"k": 1}}
    p = invoke(rdir, "commit", "--json", input=json.dumps(msg), check=True)
    assert p.stderr.splitlines() == [
        "warning: 'trace commit --json' is deprecated: use --input json"]
    assert context(rdir) == [msg]
    assert_one_line_error(invoke(rdir, "commit", "--json", "--input", "jsonl", input="{}"),
                          "--json is --input json", code=2)
