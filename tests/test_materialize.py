"""The read path: stored messages to OpenAI, Anthropic, text and JSON prompts."""

from __future__ import annotations

import json

import pytest

from trace_core.errors import InputError
from trace_core.history import tool_call_message, tool_result_message
from trace_core.materialize import render, to_anthropic, to_openai, to_openai_responses, to_text

CONV = [
    {"role": "system", "content": "Be careful."},
    {"role": "user", "content": "Read a.py and b.py"},
    {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function",
         "function": {"name": "read", "arguments": "{\"p\": \"a.py\"}"}},
        {"id": "c2", "type": "function",
         "function": {"name": "read", "arguments": "{\"p\": \"b.py\"}"}}]},
    {"role": "tool", "tool_call_id": "c1", "content": "A"},
    {"role": "tool", "tool_call_id": "c2", "content": "B"},
    {"role": "assistant", "content": "Both read.", "x_provider": {"cache": "ephemeral"}},
]


def test_openai_is_lossless():
    assert to_openai(CONV) == CONV
    assert to_openai(CONV) is not CONV


def test_anthropic_hoists_system_and_uses_tool_blocks():
    out = to_anthropic(CONV)
    assert out["system"] == "Be careful."
    msgs = out["messages"]
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    uses = [b for b in msgs[1]["content"] if b["type"] == "tool_use"]
    assert [(u["id"], u["name"], u["input"]) for u in uses] == [("c1", "read", {"p": "a.py"}),
                                                                 ("c2", "read", {"p": "b.py"})]
    results = msgs[2]["content"]
    assert [(r["type"], r["tool_use_id"], r["content"]) for r in results] == \
        [("tool_result", "c1", "A"), ("tool_result", "c2", "B")]
    assert msgs[3]["content"] == [{"type": "text", "text": "Both read."}]


def test_anthropic_style_input_round_trips_through_openai():
    stored = [{"role": "assistant", "content": [{"type": "text", "text": "Let me look."},
                                                {"type": "tool_use", "id": "t1", "name": "ls",
                                                 "input": {"d": "."}}]},
              {"role": "user",
               "content": [{"type": "tool_result", "tool_use_id": "t1", "content": "a b"}]}]
    oa = to_openai(stored)
    assert oa[0]["tool_calls"][0]["function"] == {"name": "ls", "arguments": "{\"d\": \".\"}"}
    assert oa[1] == {"role": "tool", "tool_call_id": "t1", "content": "a b"}
    back = to_anthropic(stored)["messages"]
    assert back[0]["content"][1] == {"type": "tool_use", "id": "t1", "name": "ls",
                                     "input": {"d": "."}}


def test_text_and_json_are_deterministic():
    t1 = to_text(CONV, [True, False, False, False, False, False])
    assert t1 == to_text(CONV, [True, False, False, False, False, False])
    assert t1.startswith("[system*]\nBe careful.")
    assert "call read({\"p\": \"a.py\"}) id=c1" in t1
    js = render("json", CONV, ["ab" * 32] * 6, [1, 0, 0, 0, 0, 0])
    assert js[0]["pinned"] is True and js[1]["pinned"] is False
    json.dumps(js)


def test_helpers_build_valid_messages():
    call = tool_call_message("search", {"q": "x"}, "id9")
    assert call["tool_calls"][0]["function"]["arguments"] == "{\"q\": \"x\"}"
    assert tool_result_message("id9", "found")["tool_call_id"] == "id9"
    with pytest.raises(InputError):
        render("yaml", CONV)


# -- one message text (trace_core.messages) ---------------------------------------------------
SHAPES = {
    "string": {"role": "user", "content": "Read  a.py\nplease"},
    "blocks": {"role": "user", "content": [{"type": "text", "text": "Read a.py"}, "please",
                                           {"type": "image_url", "image_url": {"url": "u"}}]},
    "openai_call": {"role": "assistant", "content": None, "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{\"p\": 1}"}},
        {"id": "c2", "type": "function", "function": {"name": "ls", "arguments": "{}"}}]},
    "text_and_call": {"role": "assistant", "content": "Looking.", "tool_calls": [
        {"id": "c1", "type": "function", "function": {"name": "read", "arguments": "{}"}}]},
    "anthropic_use": {"role": "assistant", "content": [
        {"type": "text", "text": "Let me look."},
        {"type": "tool_use", "id": "t1", "name": "ls", "input": {"d": "."}}]},
    "anthropic_result": {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1",
         "content": [{"type": "text", "text": "a b"}]}]},
    "responses_call": {"type": "function_call", "call_id": "r1", "name": "grep",
                       "arguments": "{\"q\": \"x\"}"},
    "responses_output": {"type": "function_call_output", "call_id": "r1", "output": "3 hits"},
    "none": {"role": "assistant", "content": None},
    "junk": {"role": "user", "content": [7, None, {"odd": b"\x01"}],
             "tool_calls": ["x", {"function": 3}]},
}


def test_message_text_sees_every_shape():
    from trace_core.messages import message_text, preview, tool_calls
    t = {k: message_text(m) for k, m in SHAPES.items()}
    assert t["string"] == "Read  a.py\nplease"
    assert t["blocks"].startswith("Read a.py\nplease\n{") and '"url": "u"' in t["blocks"]
    assert t["openai_call"] == 'call read({"p": 1})\ncall ls({})'
    assert t["text_and_call"] == "Looking.\ncall read({})"
    assert t["anthropic_use"] == 'Let me look.\ncall ls({"d": "."})'
    assert t["anthropic_result"] == "a b"
    assert t["responses_call"] == 'call grep({"q": "x"})'
    assert t["responses_output"] == "3 hits"
    assert t["none"] == ""
    assert '{"odd": {"$bytes": "01"}}' in t["junk"] and '"x"' in t["junk"]
    assert "call ?()" in t["junk"]
    assert message_text(SHAPES["openai_call"], ids=True) == \
        'call read({"p": 1}) id=c1\ncall ls({}) id=c2'
    assert message_text("not a dict") == '"not a dict"'
    assert [c.name for c in tool_calls(SHAPES["anthropic_use"])] == ["ls"]
    assert [(c.id, c.name) for c in tool_calls(SHAPES["responses_call"])] == [("r1", "grep")]
    p = {k: preview(m) for k, m in SHAPES.items()}
    assert p["string"] == "Read a.py please"                     # today's output for strings
    assert p["openai_call"] == "call read, ls"                    # ... and for bare tool calls
    assert p["text_and_call"] == "Looking."
    assert p["blocks"].startswith("Read a.py please {")
    assert p["anthropic_use"] == "Let me look."
    assert p["anthropic_result"] == "a b"
    assert p["responses_call"] == "call grep"
    assert p["responses_output"] == "3 hits"
    assert p["none"] == ""
    assert preview({"role": "user", "content": "x" * 80}) == "x" * 47 + "..."
    assert preview({"role": "user", "content": "x" * 80}, 10) == "x" * 7 + "..."
    assert all(len(preview(m, 20)) <= 20 and "\n" not in preview(m, 20) for m in SHAPES.values())


def test_text_prompt_diff_and_preview_see_the_same_message():
    """The text prompt's body is message_text (with ids) of the stored message; the preview is the
    squashed start of the message's own text; both see every shape the merge similarity sees."""
    from trace_core.messages import message_text, normalized, preview
    for name, m in SHAPES.items():
        body = to_text([m]).split("\n", 1)[1].rstrip("\n")
        assert body == message_text(m, ids=True), name
        assert normalized(m) == " ".join(message_text(m).lower().split())
        squashed = " ".join(message_text(m).split())
        pv = preview(m, 10_000)
        assert pv == squashed or pv.startswith("call ") or squashed.startswith(pv), name
    assert to_text([SHAPES["responses_call"]]).startswith("[function_call]\ncall grep(")
    assert to_text([SHAPES["responses_output"]]) == "[function_call_output r1]\n3 hits\n"


# -- every shape into every format (docs/materialization.md) ---------------------------------
MIXED = [
    {"type": "message", "role": "developer", "content": [{"type": "input_text", "text": "Dev."}]},
    {"role": "user", "content": [{"type": "text", "text": "Look"},
                                 {"type": "image", "source": {"type": "base64",
                                                              "media_type": "image/png",
                                                              "data": "AAAA"}}]},
    {"role": "assistant", "content": [{"type": "thinking", "thinking": "t", "signature": "s"},
                                      {"type": "tool_use", "id": "t1", "name": "ls",
                                       "input": {"d": "."}}], "x_anthropic_only": 1},
    {"type": "function_call_output", "call_id": "t1", "output": "a b", "x_resp": 2},
    {"role": "assistant", "content": "Done.", "x_chat": 3},
]


def test_one_mixed_context_into_each_provider_format():
    chat = to_openai(MIXED)
    assert chat[0] == {"role": "developer", "content": "Dev."}
    assert chat[1] == {"role": "user", "content": [
        {"type": "text", "text": "Look"},
        {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
    assert chat[2] == {"role": "assistant", "content": None, "tool_calls": [
        {"id": "t1", "type": "function", "function": {"name": "ls", "arguments": '{"d": "."}'}}]}
    assert chat[3] == {"role": "tool", "tool_call_id": "t1", "content": "a b"}
    assert chat[4] == MIXED[4]  # chat stored: verbatim, unknown field kept

    resp = render("openai-responses", MIXED)
    assert resp[0] == MIXED[0] and resp[3] == MIXED[3]  # Responses stored: verbatim
    assert resp[1] == {"role": "user", "content": [
        {"type": "input_text", "text": "Look"},
        {"type": "input_image", "image_url": "data:image/png;base64,AAAA", "detail": "auto"}]}
    assert resp[2] == {"type": "function_call", "call_id": "t1", "name": "ls",
                       "arguments": '{"d": "."}'}  # thinking left out: not replayable here
    assert resp[4] == {"role": "assistant", "content": "Done."}  # translated: x_chat left out

    ant = to_anthropic(MIXED)
    assert ant["system"] == "Dev."
    assert ant["messages"][0] == {"role": "user", "content": MIXED[1]["content"]}
    assert ant["messages"][1] == {"role": "assistant", "content": MIXED[2]["content"]}
    assert ant["messages"][2] == {"role": "user", "content": [
        {"type": "tool_result", "tool_use_id": "t1", "content": "a b"}]}
    assert ant["messages"][3] == {"role": "assistant",
                                  "content": [{"type": "text", "text": "Done."}]}


def test_text_pins_follow_stored_entries_and_unknown_format_lists_all():
    t = to_text(MIXED, [False, False, True, False, False])
    blocks = t.split("\n\n")
    assert len(blocks) == len(MIXED)
    assert blocks[2].startswith("[assistant*]\nt\ncall ls(")  # the pin is on entry 2
    assert blocks[0] == "[developer]\nDev."
    assert blocks[3] == "[function_call_output t1]\na b"
    with pytest.raises(InputError, match="openai-responses"):
        render("yaml", MIXED)


def test_images_anthropic_cannot_fetch_and_non_object_arguments():
    msgs = [{"role": "user", "content": [{"type": "input_text", "text": "see"},
                                         {"type": "input_image", "file_id": "file-1"}]},
            {"role": "assistant", "content": None, "tool_calls": [
                {"id": "c", "type": "function", "function": {"name": "f", "arguments": "oops"}}]},
            {"role": "tool", "tool_call_id": "c", "content": ""}]
    ant = to_anthropic(msgs)["messages"]
    assert ant[0]["content"] == [{"type": "text", "text": "see"}]  # a file id: left out
    assert ant[1]["content"][0]["input"] == {"_raw": "oops"}
    assert ant[2]["content"] == [{"type": "tool_result", "tool_use_id": "c"}]  # no empty content
    assert to_openai(msgs)[0] == {"role": "user", "content": "see"}
    assert to_openai_responses(msgs)[0] == msgs[0]


# -- the kept prompt: a second materialize of the same context ---------------------------------
KEPT = CONV + [
    {"role": "user", "content": [{"type": "text", "text": "and this"},
                                 {"type": "image_url", "image_url": {"url": "https://x/i.png"}}]},
    {"role": "assistant", "content": [{"type": "tool_use", "id": "t9", "name": "grep",
                                       "input": {"q": "x"}}]},
    {"role": "user", "content": [{"type": "tool_result", "tool_use_id": "t9", "content": "hit"}]},
    {"type": "function_call", "call_id": "f1", "name": "cat", "arguments": "{}"},
    {"type": "function_call_output", "call_id": "f1", "output": "text"},
    {"role": "assistant", "content": "end"},
]


def _scramble(v):
    """Change every container of a prompt in place (what a caller may do with its copy)."""
    if isinstance(v, dict):
        for k in list(v):
            _scramble(v[k])
        v["scrambled"] = True
    elif isinstance(v, list):
        for x in v:
            _scramble(x)
        v.append("scrambled")


def _count_renders(monkeypatch) -> list:
    """The renders materialize runs from now on (a prompt asked for a second time is rendered
    and kept; from then on it is copied, not rendered)."""
    from trace_core import materialize as mat
    calls: list = []
    real = mat.render
    monkeypatch.setattr(mat, "render", lambda *a: calls.append(a[0]) or real(*a))
    return calls


@pytest.mark.parametrize("fmt", ["openai", "openai-responses", "anthropic", "text", "json"])
def test_a_second_materialize_copies_the_kept_prompt(repo, fmt, monkeypatch):
    repo.append_many(KEPT)
    first = repo.materialize(fmt)
    want = json.loads(json.dumps(first))
    read = []
    get_blob = repo.get_blob
    repo.get_blob = lambda oid: read.append(oid) or get_blob(oid)
    renders = _count_renders(monkeypatch)
    _scramble(first)
    second = repo.materialize(fmt)
    assert second == want and read == []     # nothing read again, and not what the caller changed
    _scramble(second)
    assert repo.materialize(fmt) == want
    assert renders == [fmt]                  # the second render was kept, the third copied it
    repo.append({"role": "user", "content": "new"})     # another snapshot: rendered again
    third = repo.materialize(fmt)
    assert read and third != want and renders == [fmt, fmt]
    assert third == render(fmt, KEPT + [{"role": "user", "content": "new"}],
                           [e.blob.hex() for e in repo.entries_at(repo.head_commit())],
                           [0] * (len(KEPT) + 1))


def test_a_kept_repaired_prompt_repeats_its_repair_notes(repo, monkeypatch):
    repo.append_many([{"role": "user", "content": "q"},
                      {"role": "tool", "tool_call_id": "nope", "content": "x"}])
    fixed = repo.materialize("openai", repair="drop-orphans")
    notes = [w for w in repo.warnings if w.startswith("repaired:")]
    assert len(notes) == 1 and fixed == [{"role": "user", "content": "q"}]
    renders = _count_renders(monkeypatch)
    for _ in range(2):
        assert repo.materialize("openai", repair="drop-orphans") == fixed
    assert renders == ["openai"]                        # then kept, and copied with its notes
    assert [w for w in repo.warnings if w.startswith("repaired:")] == notes * 3
    assert len(repo.materialize("openai")) == 2         # the unrepaired prompt is its own


def test_a_context_grown_by_appending_reads_only_the_new_messages(repo):
    repo.append_many(KEPT)
    repo.materialize("anthropic")
    read = []
    get_blob = repo.get_blob
    repo.get_blob = lambda oid: read.append(oid) or get_blob(oid)
    for i in range(3):
        repo.append({"role": "user", "content": f"next {i}"})
        read.clear()
        fmt = ("openai", "json", "text")[i]
        out = repo.materialize(fmt)
        assert len(read) == 1     # the appended message only
        entries = repo.entries_at(repo.head_commit())
        assert out == render(fmt, [get_blob(e.blob).message for e in entries],
                             [e.blob.hex() for e in entries], [e.flags for e in entries])
    # any other change reads the context whole, and is rendered as it now is
    repo.drop(0)
    repo.pin(1)
    repo.append({"role": "user", "content": "after the drop"})
    read.clear()
    out = repo.materialize("json")
    entries = repo.entries_at(repo.head_commit())
    assert len(read) == len(entries) and out[1]["pinned"] and len(out) == len(KEPT) + 3
    assert [m["message"] for m in out] == [get_blob(e.blob).message for e in entries]


def test_what_gc_prunes_is_not_served_by_the_kept_read_or_prompts(repo):
    """The last context read and the kept prompts live with the store's decoded objects: gc's
    forget_decoded drops them, and a last read whose nodes are gone is read again whole."""
    from trace_core.gc import gc
    repo.append_many([{"role": "user", "content": f"m {i}"} for i in range(400)])
    repo.branch_create("x")
    repo.checkout("x")
    repo.append_many([{"role": "user", "content": f"x {i}"} for i in range(10)])
    repo.materialize()
    repo.materialize()                                  # asked twice: kept
    assert repo.store.derived
    repo.checkout("main")
    repo.branch_delete("x", force=True)
    gc(repo, prune_expire_s=0, now=None)
    assert not repo.store.derived
    repo.append_many([{"role": "user", "content": f"n {i}"} for i in range(100)])
    assert len(repo.materialize()) == 500


def test_a_loop_rendering_each_context_once_keeps_no_copies(repo):
    repo.append({"role": "user", "content": "a"})
    repo.materialize()                  # a first render is not kept (`trace context` once)
    kept = repo.store.derived["prompts"].kept
    assert len(kept) == 0
    for i in range(3):                                  # append, materialize, append, ...
        repo.append({"role": "user", "content": str(i)})
        repo.materialize()
    assert len(kept) == 0                               # not one of those was kept
    repo.materialize()                                  # asked again: rendered, now kept
    snap = repo.get_commit(repo.head_commit()).snapshot
    assert (snap, "openai", None) in kept
    read = []
    get_blob = repo.get_blob
    repo.get_blob = lambda oid: read.append(oid) or get_blob(oid)
    assert len(repo.materialize()) == 4 and read == []
