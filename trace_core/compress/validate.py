"""Checks a compression must pass before (and while) it is committed.

- pins: every pinned entry that is not compressed by force is in the new context with the same
  blob id and flags, in the same order, and its stored bytes equal the bytes read when the
  compression was planned (read again, not assumed);
- must-keep facts: each string (substring) or pattern (Python `re.search`) matches the text of
  some message of the new context (message by message: a fact never spans two messages); a fact
  that the context did not hold before is reported as such. (The extractive and llm strategies
  append to a summary the facts its messages held and it lacks, `Facts.lacking`, decided by the
  same tests as this check; mask does not mask an output holding one; so this check fails only
  for a fact that could not be kept: one in an entry the plan drops, one a manual summary
  lacks, or a pattern that matches no summary even with its matches appended, such as one
  anchored with ^, `Facts.unmatched`.)
- sizes: a summary may not be empty, nor larger than what it replaces (unless allowed).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from typing import TYPE_CHECKING

from ..errors import InputError, OperationError
from ..objects import Entry

if TYPE_CHECKING:
    from collections.abc import Callable

MAX_PATTERN = 1000


class Facts:
    """Must-keep strings and patterns."""

    def __init__(self, strings: Sequence[str] = (), patterns: Sequence[str] = ()) -> None:
        self.strings: list[str] = []
        for s in strings:
            if not isinstance(s, str) or not s:
                raise InputError("a must-keep string must be non-empty text")
            self.strings.append(s)
        self.patterns: list[re.Pattern] = []
        for p in patterns:
            if not isinstance(p, str) or not p or len(p) > MAX_PATTERN:
                raise InputError(f"a must-keep pattern must be non-empty text of at most "
                                 f"{MAX_PATTERN} characters")
            try:
                self.patterns.append(re.compile(p))
            except re.error as exc:
                raise InputError(f"must-keep pattern {p!r} is not a valid regular expression: "
                                 f"{exc}") from None

    def __bool__(self) -> bool:
        return bool(self.strings or self.patterns)

    def matches(self, text: str) -> bool:
        return any(s in text for s in self.strings) or any(p.search(text) for p in self.patterns)

    def lacking(self, summary: str, texts: Sequence[str]) -> list[str]:
        """What a summary replacing messages whose texts are `texts` must have appended to keep
        their facts, each once, in order: every string they hold that `summary` does not
        contain; then, for each pattern that matches them (`re.search`, as `check`) but not
        `summary`, every distinct non-empty text it matched in them."""
        out: dict[str, None] = {}
        for s in self.strings:
            if s not in summary and _found(s, texts):
                out.setdefault(s, None)
        for p in self.patterns:
            if not p.search(summary):
                for m in _matches(p, texts):
                    out.setdefault(m, None)
        return list(out)

    def unmatched(self, summary: str, texts: Sequence[str]) -> list[str]:
        """The patterns (as given) that match some of `texts` but not `summary`."""
        return [p.pattern for p in self.patterns
                if not p.search(summary) and _found(p, texts)]

    def items(self) -> list[tuple]:
        return [("string", s, s) for s in self.strings] + \
            [("pattern", p.pattern, p) for p in self.patterns]

    def to_meta(self) -> dict:
        return {"strings": list(self.strings), "patterns": [p.pattern for p in self.patterns]}

    def check(self, span_before: Sequence[str], span_after: Sequence[str],
              outside: Iterable[str], unkept: Collection[str] = ()) -> None:
        """Raise OperationError naming the first fact missing after the compression. The texts
        of the compressed span before and after are given; `outside` (the unchanged rest of the
        context) is read lazily, only while some fact is still unfound. `unkept`: the patterns
        that some summary did not match even with their matches appended (the error says so)."""
        missing = [m for m in self.items() if not _found(m[2], span_after)]
        if missing:
            for text in outside:
                missing = [m for m in missing if not _found(m[2], (text,))]
                if not missing:
                    break
        if not missing:
            return
        kind, label, f = missing[0]
        if not _found(f, span_before):
            raise OperationError(f"must-keep {kind} '{label}' is not in the context even before "
                                 "compression; nothing was committed")
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        why = ""
        if kind == "pattern" and label in unkept:
            why = (": a summary replaced what it matched, and it does not match its matches "
                   "appended on the summary's last line 'kept: ...' (an anchor such as ^ or $?)")
        raise OperationError(f"must-keep {kind} '{label}' would be lost by this compression"
                             f"{why}{more}; nothing was committed")


def _matches(p: re.Pattern, texts: Iterable[str]) -> list[str]:
    """The distinct non-empty texts `p` matches in `texts`, in order of appearance."""
    out: dict[str, None] = {}
    for t in texts:
        for m in p.finditer(t):
            if m.group(0):
                out.setdefault(m.group(0), None)
    return list(out)


def _found(fact, texts: Sequence[str]) -> bool:
    if isinstance(fact, str):
        return any(fact in t for t in texts)
    return any(fact.search(t) for t in texts)


def check_pins(before: Sequence[Entry], after: Sequence[Entry], forced: Iterable[int],
               created: Iterable[bytes], read_bytes: Callable[[bytes], bytes],
               expected: dict[bytes, bytes]) -> int:
    """Pinned entries of `before` (except the `forced` indices) must be exactly the pinned entries
    of `after` that this compression did not create; `expected` maps blob id -> bytes read at
    planning time for pins of the span, re-read with `read_bytes`. Returns the pins checked."""
    forced = set(forced)
    created = set(created)
    want = [(e.blob, e.flags) for i, e in enumerate(before) if e.pinned and i not in forced]
    got = [(e.blob, e.flags) for e in after if e.pinned and e.blob not in created]
    if want != got:
        raise OperationError("pinned entries would not survive the compression unchanged; "
                             "nothing was committed")
    for blob, data in expected.items():
        if read_bytes(blob) != data:
            raise OperationError(f"pinned entry {blob.hex()[:12]} changed while compressing; "
                                 "nothing was committed")
    return len(want)


def check_size(what: str, new_tokens: int, old_tokens: int, allow_growth: bool) -> None:
    if new_tokens > old_tokens and not allow_growth:
        raise OperationError(f"the summary of {what} has {new_tokens} tokens, more than the "
                             f"{old_tokens} it replaces; use -g turn or episode (a unit that "
                             "cannot shrink then stays verbatim), a smaller target, or "
                             "--allow-growth")


def check_text(text: str | None, what: str) -> str:
    if not isinstance(text, str) or not text.strip():
        raise InputError(f"the summary for {what} is empty")
    return text
