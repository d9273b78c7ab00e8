"""The scripted reader: answers a question from the prompt text alone.

Each question id has one rule: a regular expression whose first group that matched is the
value. The reader scans the prompt's lines from the last to the first and answers with the value
of the first line that matches (the first match on that line), so a later statement wins over
an earlier one (a correction over what it corrects); no line matches: "unknown". The rules name
the phrasing of the fact, never its value, and the reader sees nothing but the text: not the
generator's answers, not which arm made the prompt. `first=True` reads from the top instead
(the oldest statement): the tests use it as a reader that falls for outdated values.
"""

from __future__ import annotations

import re

UNKNOWN = "unknown"

RULES: dict[str, re.Pattern] = {k: re.compile(v) for k, v in {
    "port": r"must use port (\d+)",
    "forbidden_db": r"[Nn]ever touch (\w+)",
    "deadline": r"[Dd]eadline(?: is|:) (\d{1,2}:\d{2})",
    "timeout": r"request timeout is (\d+s)\b",
    "backend": r"[Dd]ecided to use (backend_v\d+)",
    "pin": r"\bpin (\w+==\d+(?:\.\d+)*)",
    "retry": r"retry limit is (\d+)|conf/retry\.toml:\d+:max_retries = (\d+)",
    "root_cause": r"root cause is in (\S+\.py)",
    "failing_test": r"FAILED (tests/\S+\.py::\w+)",
    "digest": r"pushed image digest (sha256:[0-9a-f]+)",
    "owner": r"(@\w+) is on call",
}.items()}


def value_of(line: str, rule: re.Pattern) -> str | None:
    m = rule.search(line)
    if m is None:
        return None
    return next(g for g in m.groups() if g is not None)


def answer(text: str, question_id: str, first: bool = False) -> str:
    """The value the prompt `text` gives for `question_id`, or "unknown"."""
    rule = RULES[question_id]
    lines = text.splitlines()
    for line in (lines if first else reversed(lines)):
        v = value_of(line, rule)
        if v is not None:
            return v
    return UNKNOWN
