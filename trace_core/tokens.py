"""Token counting for context windows: tokenizers and the per-message framing rules.

Rules (docs/FORMAT.md, "Token counting rules"), after OpenAI's cookbook method for chat models:
- a message costs TOKENS_PER_MESSAGE (3) for its framing, plus TOKENS_PER_NAME (1) if it has a
  non-None "name" field;
- every field value is counted by its type: a str counts its tokens (so "role", "content" and
  "name" count their text); None counts 0; any other value (a dict, a list such as OpenAI
  "tool_calls", a number or a bool) counts the tokens of its canonical JSON text
  (json.dumps(sort_keys=True, separators=(",", ":"), ensure_ascii=False));
- a "content" list is counted part by part: a str part or a text part ({"type": "text" |
  "input_text" | "output_text", "text": str}) counts its text only; an image part ("image_url",
  "image", "input_image") counts IMAGE_TOKENS (85, OpenAI's price of a low-detail image);
  an Anthropic "tool_result" part with a list "content" counts the canonical JSON of the part
  without that "content" plus its parts by these same rules; any other part (e.g. "tool_use")
  counts its canonical JSON; a None part counts 0;
- a non-empty list of messages adds REPLY_PRIMING (3) for the primed reply.
Counts are for budgeting, not billing: providers frame messages differently.

Long texts are counted in pieces of at most PIECE_CHARS characters (`split_text`), so that
counting takes time linear in the text and bounded memory whatever the text is: tiktoken's BPE
is super-linear in the length of one pre-tokenizer piece (50 MB of one repeated letter is one
piece). A text is cut only where every shipped encoding's pre-tokenizer (the gpt2/r50k/p50k,
cl100k and o200k patterns) cuts as well — before a space that follows a non-space, before a
newline or an ASCII or CJK punctuation mark (not an apostrophe) that follows a letter or digit
— so the count of ordinary text is exact. Only text with a stretch of more than PIECE_CHARS / 2
characters holding no such place (one letter repeated, a long word of letters and digits) may
be cut at the cap, and its count is then approximate (off by a token or two per cut).

The library never reads environment variables, never prints, and imports tiktoken only when a
TiktokenCounter first counts (loading an encoding takes ~170 ms; it is cached per process).
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterable, Iterator, Mapping
from typing import Any, Protocol, runtime_checkable

from .config import default
from .errors import ConfigError, InputError

DEFAULT_ENCODING: str = default("core.encoding")     # the one default lives in the config schema
TOKENS_PER_MESSAGE = 3
TOKENS_PER_NAME = 1
REPLY_PRIMING = 3
IMAGE_TOKENS = 85
CHAR_COUNTER_NAME = "chars/4"

TEXT_PART_TYPES = frozenset({"text", "input_text", "output_text"})
IMAGE_PART_TYPES = frozenset({"image_url", "image", "input_image"})

PIECE_CHARS = 8192   # the longest text given to tiktoken at once (its BPE cost per character
                     # grows with a piece's length: ~0.2 us at 4K characters, ~1.4 at 256K)

# the places where text may be cut without changing its tokens (see the module docstring): the
# cut is made just before the matched character, a space after a non-space, or a newline or
# punctuation mark after a letter or digit ([^\W_]: what str.isalnum accepts); the character is
# matched first so that the search skips through text quickly
_MARKS = ("\n!-&(-/:-@\\[-`{-~\u3001\u3002\u300c-\u300f\u3010\u3011"
          "\uff01\uff08\uff09\uff0c\uff0e\uff1a\uff1b\uff1f")
_CUT = re.compile(f"[ {_MARKS}](?:(?<=\\S )|(?<=[^\\W_][{_MARKS}]))")

_ENCODINGS: dict[str, Any] = {}
_LOAD_LOCK = threading.Lock()


def split_text(text: str, cap: int = PIECE_CHARS) -> Iterator[str]:
    """`text` in consecutive pieces of at most `cap` characters (one piece if it is no longer),
    each at least cap // 2 long except the last, cut at a place where tokenizers cut too, or at
    `cap` in a run with no such place. Joined, the pieces are `text`."""
    if cap < 2:
        raise ValueError("cap must be at least 2")
    n = len(text)
    start = 0
    while n - start > cap:
        end = start + cap
        lo = start + cap // 2
        # a place to cut is two different characters: none in a run of one (quick to rule out)
        m = None if text.count(text[lo], lo - 1, end) == end - lo + 1 else \
            _CUT.search(text, lo, end)
        cut = m.start() if m else end
        yield text[start:cut]
        start = cut
    yield text[start:]


@runtime_checkable
class TokenCounter(Protocol):
    """Anything with a `name` and a `count_text` method."""

    name: str

    def count_text(self, text: str) -> int:
        """The number of tokens in `text`."""
        ...


#: texts this short are counted once per encoding and process (a message's role, a tool's
#: name, a call id are counted with every message that carries them)
SHORT_CHARS = 32
SHORT_CACHE_MAX = 65_536
_SHORT_COUNTS: dict = {}


class _NoDownload(Exception):
    """Raised in place of a network fetch while an encoding loads."""


def _refuse_download(blobpath: str) -> bytes:
    if "://" in blobpath:
        raise _NoDownload(blobpath)
    with open(blobpath, "rb", buffering=0) as f:
        return f.read()


def _construct(name: str) -> Any:
    """Build an encoding with tiktoken's downloader disabled (cached data files still load)."""
    import tiktoken
    import tiktoken.load as tl

    if name not in tiktoken.list_encoding_names():
        raise ConfigError(f"unknown token encoding {name!r}; known encodings: "
                          f"{', '.join(_available_names())}")
    saved = tl.read_file
    tl.read_file = _refuse_download
    try:
        return tiktoken.get_encoding(name)
    except _NoDownload:
        raise ConfigError(f"token encoding {name!r} is not available offline (its data file is "
                          f"not in tiktoken's cache); use {DEFAULT_ENCODING!r}") from None
    finally:
        tl.read_file = saved


def _available_names() -> list[str]:
    import tiktoken

    return [CHAR_COUNTER_NAME, *tiktoken.list_encoding_names()]


def load_encoding(name: str) -> Any:
    """The tiktoken Encoding called `name`, loaded once per process; ConfigError if unavailable."""
    enc = _ENCODINGS.get(name)
    if enc is not None:
        return enc
    with _LOAD_LOCK:
        enc = _ENCODINGS.get(name)
        if enc is None:
            try:
                enc = _construct(name)
            except ImportError:
                raise ConfigError(f"token encoding {name!r} needs tiktoken, which is not "
                                  f"installed; use {CHAR_COUNTER_NAME!r}") from None
            _ENCODINGS[name] = enc
    return enc


class TiktokenCounter:
    """Exact counts with a tiktoken encoding, loaded on first use."""

    __slots__ = ("name",)

    def __init__(self, encoding_name: str = DEFAULT_ENCODING) -> None:
        self.name = encoding_name

    def load(self) -> TiktokenCounter:
        """Load the encoding now (ConfigError if it is unknown or unavailable offline)."""
        load_encoding(self.name)
        return self

    def count_text(self, text: str) -> int:
        """Tokens in `text`; special-token markers like "<|endoftext|>" count as ordinary text.
        A text longer than PIECE_CHARS is counted piece by piece (`split_text`)."""
        if len(text) <= SHORT_CHARS:  # roles, names, ids: the same few strings, over and over
            key = (self.name, text)
            n = _SHORT_COUNTS.get(key)
            if n is None:
                if len(_SHORT_COUNTS) >= SHORT_CACHE_MAX:
                    _SHORT_COUNTS.clear()
                n = _SHORT_COUNTS[key] = len(load_encoding(self.name).encode_ordinary(text))
            return n
        encode = load_encoding(self.name).encode_ordinary
        if len(text) <= PIECE_CHARS:
            return len(encode(text))
        total = 0
        last, last_count = "", 0
        for piece in split_text(text):
            if piece != last:     # a long run of one character repeats its pieces: count once
                last, last_count = piece, len(encode(piece))
            total += last_count
        return total

    def __repr__(self) -> str:
        return f"TiktokenCounter({self.name!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TiktokenCounter) and other.name == self.name

    def __hash__(self) -> int:
        return hash(("TiktokenCounter", self.name))


class CharCounter:
    """An offline, dependency-free estimate: ceil(characters / 4)."""

    __slots__ = ()
    name = CHAR_COUNTER_NAME

    def count_text(self, text: str) -> int:
        """ceil(len(text) / 4), counting code points."""
        return (len(text) + 3) // 4

    def __repr__(self) -> str:
        return "CharCounter()"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CharCounter)

    def __hash__(self) -> int:
        return hash("CharCounter")


def counter_for(name: str = DEFAULT_ENCODING) -> TokenCounter:
    """The counter for a core.encoding value: "chars/4" or a tiktoken encoding name (lazy)."""
    if name == CHAR_COUNTER_NAME:
        return CharCounter()
    return TiktokenCounter(name)


def canonical_json(value: Any) -> str:
    """The JSON text that non-text values are counted as."""
    try:
        return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False,
                          allow_nan=False)
    except (TypeError, ValueError) as e:
        raise InputError(f"message value cannot be counted as JSON: {e}") from None


def _count_value(value: Any, counter: TokenCounter) -> int:
    if value is None:
        return 0
    if isinstance(value, str):
        return counter.count_text(value)
    return counter.count_text(canonical_json(value))


def count_part(part: Any, counter: TokenCounter) -> int:
    """Tokens of one element of a structured "content" list."""
    if part is None:
        return 0
    if isinstance(part, str):
        return counter.count_text(part)
    if isinstance(part, Mapping):
        kind = part.get("type")
        if kind in TEXT_PART_TYPES and isinstance(part.get("text"), str):
            return counter.count_text(part["text"])
        if kind in IMAGE_PART_TYPES:
            return IMAGE_TOKENS
        if kind == "tool_result" and isinstance(part.get("content"), list):
            rest = {k: v for k, v in part.items() if k != "content"}
            return _count_value(rest, counter) + _count_content(part["content"], counter)
    return _count_value(part, counter)


def _count_content(content: Any, counter: TokenCounter) -> int:
    if isinstance(content, list):
        return sum(count_part(p, counter) for p in content)
    return _count_value(content, counter)


def count_message(msg: Mapping[str, Any], counter: TokenCounter) -> int:
    """Tokens of one chat message including its framing (see the module docstring)."""
    if not isinstance(msg, Mapping):
        raise InputError(f"a message must be a JSON object, got {type(msg).__name__}")
    total = TOKENS_PER_MESSAGE
    for key, value in msg.items():
        if key == "content":
            total += _count_content(value, counter)
        else:
            total += _count_value(value, counter)
        if key == "name" and value is not None:
            total += TOKENS_PER_NAME
    return total


def count_messages(messages: Iterable[Mapping[str, Any]], counter: TokenCounter) -> int:
    """Tokens of a whole prompt: each message, plus REPLY_PRIMING if there is any message."""
    total = 0
    seen = False
    for msg in messages:
        total += count_message(msg, counter)
        seen = True
    return total + REPLY_PRIMING if seen else total
