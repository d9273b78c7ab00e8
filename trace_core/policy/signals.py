"""The offline signals policies and the context manager read from messages (no I/O): content
words and lexical similarity, requirement and constraint statements, file paths and identifiers,
and the phrases that give an exploration up (docs/policy.md, "Heuristics").

Everything here is deterministic: the same messages give the same answer on every machine.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ..messages import REQUIREMENT_PHRASES, STOP_WORDS, is_question, message_text, phrase_re
from ..toolpairs import conversational

#: words that carry no topic: the shared stop words, and those of requests and chit-chat
STOP = STOP_WORDS | frozenset([
    "able", "again", "each", "first", "get", "going", "good", "got", "how", "know", "last",
    "let", "lets", "like", "look", "make", "need", "new", "next", "now", "ok", "okay", "one",
    "please", "same", "see", "still", "sure", "thank", "thanks", "think", "try", "two", "use",
    "used", "using", "want", "well", "where", "why", "yes"
])

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]+|\d+(?:\.\d+)?")
#: a requirement or constraint the user states, strictly (a pin is for good): the shared
#: requirement phrases without the soft ones ("should", "prefer", "budget": ranked higher by
#: the extractive strategy, never pinned on their own)
REQUIREMENT = phrase_re(p for p in REQUIREMENT_PHRASES
                        if p not in ("should", "prefer", "prefers", "preferred", "budget"))
#: a file path or file name (a/b, a/b.py, ./x, ~/x, name.ext)
PATH = re.compile(r"(?<![\w/])(?:~?/|\./|\.\./)?(?:[\w.-]+/)+[\w.-]+|\b[\w-]+\.(?:py|js|ts|go|rs|"
                  r"java|c|h|cpp|md|txt|json|ya?ml|toml|ini|cfg|conf|sh|sql|csv|html|css|lock|"
                  r"log)\b")
#: an identifier: snake_case, camelCase or PascalCase with an inner capital, dotted.names, or
#: a word with digits (v2, E1234, port 8443 is a number, not an identifier)
IDENTIFIER = re.compile(r"\b(?:[A-Za-z]+_[A-Za-z0-9_]+|[a-z]+[A-Z][A-Za-z0-9]*|"
                        r"[A-Z][a-z]+[A-Z][A-Za-z0-9]*|[A-Za-z]+\d+[A-Za-z0-9]*|"
                        r"[a-z]+(?:\.[a-z_]+){1,4}\(?)\b")
#: a message correcting or updating what was said before
CORRECTION = re.compile(r"\b(?:correction|corrected|actually|instead|updated?:|changed to|"
                        r"no longer|is now|now is|revised|supersedes?|superseded)\b", re.I)
#: an assistant giving an exploration up
GIVE_UP = re.compile(r"\b(?:give up|giving up|gave up|dead end|not worth (?:it|pursuing)|"
                     r"abandon(?:ing)?|back to the (?:main|original) task|let's go back|"
                     r"won't work|doesn't work out|no luck|drop this)\b", re.I)


def words(text: str) -> list[str]:
    """The content words of `text`: lower-cased, stop words and one-letter words left out."""
    return [w for w in (x.lower() for x in _WORD.findall(text)) if w not in STOP]


def similarity(a: Iterable[str], b: Iterable[str]) -> float:
    """Cosine similarity (0-1) of two bags of words."""
    ca, cb = Counter(a), Counter(b)
    if not ca or not cb:
        return 0.0
    dot = sum(n * cb[w] for w, n in ca.items() if w in cb)
    return dot / math.sqrt(sum(n * n for n in ca.values()) * sum(n * n for n in cb.values()))


def user_text(m: dict) -> str | None:
    """The text of a user message that starts a turn (not only tool results), else None."""
    return message_text(m) if is_question(m) else None


def identifiers(text: str) -> set[str]:
    """The paths and identifiers `text` names."""
    return {x.rstrip("(") for x in IDENTIFIER.findall(text)} | set(PATH.findall(text))


class PinScan:
    """The pin heuristics as a scan that can be extended: `feed(i, message)` for messages in
    order, then `reasons(since)`. The after-commit evaluation keeps one per context and feeds
    it only the entries a commit appended (trace_core.policy.engine)."""

    __slots__ = ("kinds", "count", "out", "firsts", "repeated", "said")

    def __init__(self, kinds: Sequence[str]) -> None:
        self.kinds = tuple(kinds)
        self.count = 0
        self.out: dict[int, str] = {}
        self.firsts: dict[str, int] = {}
        self.repeated: dict[int, tuple[int, str]] = {}   # first mention -> (by, why)
        self.said: set[str] = set()

    def feed(self, i: int, m: dict, history: bool = False) -> None:
        """Scan message `i`. With `history` (a message before the ones whose own reasons are
        asked for) only what later messages are compared with is recorded: what was said and
        the identifiers first mentioned."""
        kinds = self.kinds
        self.count = i + 1
        role = m.get("role")
        if not ((role == "user" and is_question(m)) or
                (role == "assistant" and conversational(m))):
            return              # (tool calls and outputs, system messages: never pinned)
        full = message_text(m)
        key = f"{role}\0{' '.join(full.lower().split())}"
        if key in self.said:    # said before word for word: not a new reason
            return
        self.said.add(key)
        if history:
            text = user_text(m)
            if text is not None and ("paths" in kinds or "identifiers" in kinds):
                for name in identifiers(text):
                    self.firsts.setdefault(name, i)
            return
        if "corrections" in kinds:
            hit = CORRECTION.search(full)
            if hit:
                self.out[i] = f"corrects what was said ({hit.group(0).lower()!r})"
        text = user_text(m)
        if text is None:
            return
        if "requirements" in kinds:
            hit = REQUIREMENT.search(text)
            if hit:
                self.out.setdefault(i, f"states a requirement ({hit.group(0).lower()!r})")
        found = identifiers(text)
        if "paths" in kinds:
            paths = sorted(p for p in found if p not in self.firsts and
                           ("/" in p or PATH.fullmatch(p)))
            if paths:
                self.out.setdefault(i, f"names the path {paths[0]!r}")
        for name in sorted(found):
            first = self.firsts.setdefault(name, i)
            if "identifiers" in kinds and first != i and first not in self.repeated:
                self.repeated[first] = (i, f"names {name!r}, which the user repeats")

    def reasons(self, since: int = 0) -> dict[int, str]:
        """{index: why} of the messages worth pinning among those from `since` on and those
        whose identifier a message from `since` on repeats."""
        out = {i: why for i, why in self.out.items() if i >= since}
        for first, (by, why) in self.repeated.items():
            if by >= since:
                out.setdefault(first, self.out.get(first, why))
        return dict(sorted(out.items()))


def pin_reasons(msgs: Sequence[dict], kinds: Sequence[str], since: int = 0) -> dict[int, str]:
    """{index: why} of the messages of `msgs` worth pinning, by `kinds`, among those from
    `since` on and those whose identifier a message from `since` on repeats:

    - requirements: a user message stating a requirement or constraint (must, never, always,
      do not, required, make sure, deadline, ...);
    - paths: the first user message naming a file path;
    - identifiers: the first user message naming an identifier or path that a later user
      message repeats;
    - corrections: a user or assistant message (no tool call or output) correcting or updating
      what was said (correction, actually, instead, changed to, no longer, is now, ...), so
      that the newer value outlives the older one.

    A message repeating an earlier one of its role word for word is not a new reason."""
    scan = PinScan(kinds)
    for i, m in enumerate(msgs):
        scan.feed(i, m)
    return scan.reasons(since)


def topic(msgs: Sequence[dict], turns: int = 3) -> list[str]:
    """The content words of the task at hand: the last `turns` user turns of `msgs` and the
    assistant's answers in them (tool calls and outputs left out)."""
    out: list[str] = []
    seen = 0
    for m in reversed(msgs):
        text = user_text(m)
        if text is not None:
            out.extend(words(text))
            seen += 1
            if seen >= turns:
                break
        elif m.get("role") == "assistant" and conversational(m):
            out.extend(words(message_text(m)))
    return out
