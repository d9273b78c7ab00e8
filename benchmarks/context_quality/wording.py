"""How the planted requirements, decisions, findings and corrections are worded.

Each has a default wording and, for `--paraphrase`, other wordings of the same fact. The default
wordings use the words Trace's heuristics look for (the pin policy's requirement and correction
phrases, the extractive strategy's finding and requirement phrases: "must", "never",
"deadline", "Requirements", "Decided to", "Found:", "Correction:", "instead"); the paraphrases
use none of them, so the sensitivity of the managed arms to that wording can be measured
(docs/context-quality.md, "Paraphrased sessions"). A paraphrased session draws one wording per
fact from its own seeded generator: the values, their places and every other message are those
of the default session.
"""

from __future__ import annotations

import random

WORDINGS: dict[str, tuple[str, ...]] = {      # the default first, then the paraphrases
    "header": ("Requirements and constraints:", "Ground rules for this one:",
               "A few things to keep in mind:", "Some context first:"),
    "port": ("- the service must use port {port}", "- the service listens on port {port}",
             "- serve it on port {port}", "- port {port} is the one the service gets"),
    "db": ("- never touch {db}: it is production", "- keep your hands off {db}: it is production",
           "- {db} is production, leave it alone", "- stay away from {db}: it is production"),
    "deadline": ("- deadline: {deadline} today", "- it has to be done by {deadline} today",
                 "- I need this by {deadline} today", "- hand it over by {deadline} today"),
    "timeout": ("- the upstream request timeout is {old}s",
                "- upstream requests time out after {old}s",
                "- the upstream request timeout is set to {old}s"),
    "timeout_fix": ("Correction: the upstream request timeout is {new}s now (the {old}s in my "
                    "first message is outdated).",
                    "Heads up: upstream requests time out after {new}s these days, not {old}s "
                    "as I wrote at first.",
                    "Oops, my first message was off: the upstream request timeout is {new}s, "
                    "not {old}s."),
    "timeout_notice": ("- upstream request timeout is {new}s as of this week (was {old}s)",
                       "- upstream requests time out after {new}s starting this week "
                       "(previously {old}s)"),
    "decision": ("Decided to use {backend} for the new client: it passed the load test.",
                 "Going with {backend} for the new client: it passed the load test.",
                 "{backend} it is for the new client; it held up in the load test.",
                 "Switching the new client to {backend}, it held up in the load test."),
    "pin": ("Decided to pin {dep}=={v1} in requirements.txt.",
            "Pinning {dep}=={v1} in requirements.txt.",
            "Set {dep}=={v1} in requirements.txt for now."),
    "repin": ("Correction: pin {dep}=={v2} instead, {v1} has a known CVE.",
              "Turns out {v1} has a known CVE; bumping to {dep}=={v2} in requirements.txt.",
              "Bumped the pin to {dep}=={v2}: {v1} has a known CVE.",
              "Scratch that: {dep}=={v2} goes in requirements.txt, {v1} has a known CVE."),
    "retry": ("Found: the retry limit is {limit} in conf/retry.toml (the .bak file is stale).",
              "Looks like conf/retry.toml caps retries at {limit} (the .bak file is stale).",
              "conf/retry.toml sets the retry limit to {limit}; the .bak file is stale."),
    "cause": ("Found: the root cause is in {cause}: the cache key ignores the tenant id.",
              "The bug lives in {cause}: the cache key ignores the tenant id.",
              "Tracked the bug down to {cause}: the cache key ignores the tenant id."),
}


class Wording:
    """The wording of one session's facts: the defaults, or seeded paraphrases."""

    def __init__(self, paraphrase: bool = False, seed: str = ""):
        self.rng = random.Random(f"{seed}:paraphrase") if paraphrase else None

    def __call__(self, key: str, **values: object) -> str:
        default, *others = WORDINGS[key]
        return (self.rng.choice(others) if self.rng else default).format(**values)
