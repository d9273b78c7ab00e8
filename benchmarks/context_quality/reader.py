"""The scripted reader: answers a question from the prompt text alone.

Each question id has one or two rules, regular expressions whose first group that matched is
the value. The first, exact rule matches the ways the fact is stated (the default wording and
the paraphrases of wording.py, never the value). The second, loose rule is what a careless
reader settles for when no statement of the fact is left: the port the service is seen
listening on, a database in a listing, a time next to a meeting, any backend named, any
`max_retries`, any image digest, someone said to be somewhere this week. A near miss can fool
a loose rule (that is the point: docs/context-quality.md counts the decoys it answers); it is
read only when the exact rule matches no line. The root cause and the failing test have no
loose rule: their near misses are one name among many in a listing or a test log.

The reader scans the prompt's lines from the last to the first and answers with the value of
the first line that matches (the first match on that line), so a later statement wins over an
earlier one (a correction over what it corrects); no line matches either rule: "unknown". The
reader sees nothing but the text: not the generator's answers, not which arm made the prompt.
`first=True` reads from the top instead (the oldest statement): the tests use it as a reader
that falls for outdated values.
"""

from __future__ import annotations

import re

UNKNOWN = "unknown"
_TIME = r"(\d{1,2}:\d{2})\b"

RULES: dict[str, tuple[re.Pattern, ...]] = {k: tuple(re.compile(p) for p in v) for k, v in {
    "port": (r"(?:must use|listens on|serve it on) port (\d+)|port (\d+) is the one",
             r"listening on \S*:(\d+)"),
    "forbidden_db": (r"[Nn]ever touch (\w+)|hands off (\w+)|(\w+) is production, leave it|"
                     r"stay away from (\w+)",
                     r"(\w+) \| \w+ \| UTF8"),
    "deadline": (r"[Dd]eadline(?: is|:) " + _TIME + r"|(?:done|need this|hand it over) by "
                 + _TIME,
                 r"\b(?:standup|meeting)\b\D*" + _TIME),
    "timeout": (r"request timeout is (?:set to )?(\d+s)\b|requests time out after (\d+s)\b",),
    "backend": (r"(?:[Dd]ecided to use|[Gg]oing with|new client to) (backend_v\d+)|"
                r"(backend_v\d+) it is\b",
                r"\b(backend_v\d+)\b"),
    "pin": (r"\b(\w+==\d+(?:\.\d+)*)",),
    "retry": (r"retry limit (?:is|to) (\d+)|caps retries at (\d+)|"
              r"conf/retry\.toml:\d+:max_retries = (\d+)",
              r"max_retries = (\d+)"),
    "root_cause": (r"(?:root cause is in|bug lives in|bug down to) (\S+\.py)",),
    "failing_test": (r"FAILED (tests/\S+\.py::\w+)",),
    "digest": (r"pushed image digest (sha256:[0-9a-f]+)", r"digest (sha256:[0-9a-f]+)"),
    "owner": (r"(@\w+) is on call", r"(@\w+) is \w+ this week"),
}.items()}


def value_of(line: str, rule: re.Pattern) -> str | None:
    m = rule.search(line)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None)


def answer(text: str, question_id: str, first: bool = False) -> str:
    """The value the prompt `text` gives for `question_id`, or "unknown"."""
    lines = text.splitlines()
    for rule in RULES[question_id]:
        for line in (lines if first else reversed(lines)):
            v = value_of(line, rule)
            if v is not None:
                return v
    return UNKNOWN
