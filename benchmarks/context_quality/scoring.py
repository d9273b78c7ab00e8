"""Scoring: each answer against the planted value and its decoys; tasks; arms.

An answer is
    decoy     when it holds a decoy value (whether or not it also holds the right one),
    right     else when it holds the planted value,
    unknown   else when it is empty or says it does not know ("unknown", "I don't know",
              "not stated", "not mentioned"),
    wrong     otherwise;
and, in real-LLM mode only, "error" when the request failed (no answer to score).
"Holds" means the value appears as a whole token, ignoring case: "7" is in "the limit is 7."
but not in "17"; "prod_db" is not in "prod_db_replica". The scripted reader answers with the
bare value or "unknown"; a model's sentence is scored by the same rule.

A task succeeds when every must-know question of it (its requirements and constraints, the
corrected timeout and the backend decision) is answered right.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Sequence

from .generator import Question

RIGHT, DECOY, UNKNOWN, WRONG, ERROR = "right", "decoy", "unknown", "wrong", "error"
_ABSTAIN = re.compile(r"\b(?:unknown|(?:don't|do not) know|not (?:stated|mentioned))\b", re.I)


def holds(answer: str, value: str) -> bool:
    """Whether `value` appears in `answer` as a whole token (case-insensitive)."""
    pattern = r"(?<![A-Za-z0-9_])" + re.escape(value) + r"(?![A-Za-z0-9_])"
    return re.search(pattern, answer, re.I) is not None


def score(answer: str, q: Question) -> str:
    if any(holds(answer, d) for d in q.decoys):
        return DECOY
    if holds(answer, q.answer):
        return RIGHT
    if not answer.strip() or _ABSTAIN.search(answer):
        return UNKNOWN
    return WRONG


def task_success(answers: dict[str, dict], key: str = "score") -> bool:
    """Whether every must-know answer of a task's `answers` ({id: {"must_know", key}}) is
    right."""
    return all(a[key] == RIGHT for a in answers.values() if a["must_know"])


def summarize(per_task: Sequence[dict], key: str = "score") -> dict:
    """An arm's figures from its per-task records ({"tokens_sent", "answers": {id:
    {"must_know", "source", key}}}), scored by the answers' `key` field."""
    answers = [a for t in per_task for a in t["answers"].values()]
    scores = Counter(a[key] for a in answers)
    tokens = sum(t["tokens_sent"] for t in per_task)
    by_source: dict[str, list[int]] = {}
    for a in answers:
        right_of = by_source.setdefault(a["source"], [0, 0])
        right_of[0] += a[key] == RIGHT
        right_of[1] += 1
    return {
        "tasks": len(per_task),
        "tasks_succeeded": sum(task_success(t["answers"], key) for t in per_task),
        "facts_total": len(answers),
        "facts_retained": scores[RIGHT],
        "decoys_answered": scores[DECOY],
        "unknown": scores[UNKNOWN],
        "wrong": scores[WRONG],
        "errors": scores[ERROR],
        "tokens_sent": tokens,
        "tokens_sent_per_task": round(tokens / len(per_task)) if per_task else 0,
        "facts_per_1k_tokens": round(1000 * scores[RIGHT] / tokens, 6) if tokens else 0.0,
        "retained_by_source": {k: {"right": v[0], "of": v[1]}
                               for k, v in sorted(by_source.items())},
    }
