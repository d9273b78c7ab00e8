r"""The compression strategies: mask, extractive, llm, manual (docs/compress.md, "Strategies").

- mask: a tool output (a role "tool" message, or the content of a tool_result block) becomes a
  placeholder, `compress.placeholder` (default "[output of {tool} masked: {tokens} tokens]";
  fields {tool}, {tokens}, {call_id}). The message keeps its role and call id, so calls and
  results stay paired. An output is masked only if the placeholder is smaller, and not when its
  message holds a must-keep fact (the engine checks).
- extractive: deterministic and offline. Candidates are the lines of each message's text (lines
  longer than 200 characters are split into sentences). Each candidate is scored

      score = (kind + 0.6 * facts + 0.5 * centrality + 0.1 * first) * length
              (+ 100 if it holds a must-keep fact)

  kind (`line_kind`), by the message the line is in: a tool output (whatever its role) 0; an
  assistant line 1.2 if it holds a FINDING phrase, else 0.3; a user line 0.1 if it ends with
  "?", else 1.0 if it holds a REQUIREMENT phrase, else 0.3; a system or developer line 1.0 with
  a REQUIREMENT phrase, else 0.3; any other line 0.3. (Phrases match as whole words, any case,
  a space matching any white space, an apostrophe ' or \u2019.)
  facts (`holds_facts`) = 1 if the line holds one of `messages.facts` (numbers and versions,
  words with digits such as E1234 or hex ids, snake_case, camelCase, file and dotted names), a
  path (`\w[/\\]\w`), a URL (`\w://`), a quoted string ("...", '...' not inside a word,
  `...`) or an ERROR word, else 0.
  centrality = mean over its distinct content words (lower-cased, stop words removed) of (the
  number of distinct candidate lines of the unit holding the word / the highest such number).
  first = 1 for a message's first candidate, else 0.
  length = min(1, (words + 1) / 6), words = its number of distinct content words, so fragments
  rank low.
  Candidates are taken by score (ties: earlier first; `ranked`) while they fit the token target
  and printed in their original order as "role: text" under the header "[Summary of N
  messages, extractive]". Duplicate lines are taken once. An earlier extractive summary among
  the messages is read with each line's own label (`_unlabel`). If none fits whole, the best
  one is cut to the target. The engine then appends the must-keep facts the summary lacks
  (`with_facts`).
- llm: one provider request per unit (instructions from compress.instructions or the caller);
  the engine then appends the must-keep facts the answer lacks (`with_facts`).
- manual: the caller's texts, one per unit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from ..errors import ConfigError, InputError, ProviderResponseError
from . import messages as M

STRATEGIES = ("mask", "extractive", "llm", "manual")
DEFAULT_PLACEHOLDER = "[output of {tool} masked: {tokens} tokens]"
DEFAULT_INSTRUCTIONS = (
    "You compress part of the working history of an AI agent so that it can continue the task "
    "with a shorter context. Write a concise summary of the messages you are given. Keep the "
    "user's goals, constraints and preferences; decisions taken and why; facts learned (file "
    "names, identifiers, numbers, commands, error messages) that may matter later; results of "
    "tool calls that are still relevant; and what remains to be done. Drop chit-chat, repeated "
    "content and tool output that no longer matters. Write plain text, no preamble.")
MIN_TARGET = 32
MAX_CANDIDATE_CHARS = 2000

_STOP = frozenset([
    "a", "an", "and", "are", "as", "at", "be", "been", "but", "by", "can", "could", "did", "do",
    "does", "for", "from", "had", "has", "have", "he", "her", "his", "i", "if", "in", "into", "is",
    "it", "its", "just", "may", "me", "might", "my", "no", "not", "of", "on", "or", "our", "she",
    "should", "so", "than", "that", "the", "their", "them", "then", "there", "these", "they",
    "this", "those", "to", "too", "very", "was", "we", "were", "what", "when", "which", "who",
    "will", "with", "would", "you", "your", "also", "about", "there", "here", "all", "any", "some",
    "such", "only", "over", "out", "up", "down", "more", "most", "other"
])
_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+(?:\.\d+)?")
_SENT = re.compile(r"(?<=[.!?;])\s+")
FINDING = ("found", "finding", "findings", "decided", "decide", "decision", "root cause",
           "the fix", "fixed", "result", "results", "because", "conclusion", "concluded",
           "therefore", "will use", "chose", "chosen", "confirmed", "caused by", "answer",
           "solved", "resolved")
REQUIREMENT = ("must", "never", "always", "don't", "do not", "required", "require", "requires",
               "requirement", "requirements", "should", "prefer", "prefers", "preferred",
               "deadline", "budget", "constraint", "constraints")
ERROR = ("error", "errors", "exception", "traceback", "failed", "failure", "fails", "fatal",
         "panic", "warning", "denied", "refused", "crash", "crashed")


def _words_re(words: tuple[str, ...]) -> re.Pattern:
    """Any of `words` as whole words, case-insensitive; a space matches any white space and an
    apostrophe either ' or \u2019."""
    alt = "|".join(re.escape(w).replace(r"\ ", r"\s+").replace("'", "['\u2019]") for w in words)
    return re.compile(r"\b(?:" + alt + r")\b", re.I)


_FINDING = _words_re(FINDING)
_REQUIREMENT = _words_re(REQUIREMENT)
_MORE_FACTS = re.compile(r"\w[/\\]\w|\w://|`[^`\n]+`|(?<!\w)\"[^\"\n]+\"|(?<!\w)'[^'\n]+'(?!\w)")
_ERROR = _words_re(ERROR)
_SPEAKERS = ("user", "system", "developer")


# -- mask -------------------------------------------------------------------------------------
def placeholder(template: str | None, tool: str, tokens: int, call_id: str) -> str:
    tpl = template if template is not None else DEFAULT_PLACEHOLDER
    try:
        return tpl.format_map({"tool": tool, "tokens": tokens, "call_id": call_id})
    except (KeyError, IndexError, ValueError, AttributeError) as exc:
        raise ConfigError(f"compress.placeholder {tpl!r} is not a valid template ({exc!s}); "
                          "use the fields {tool}, {tokens} and {call_id}") from None


def mask_message(msg: dict, make: Callable[[str, Any], str]) -> dict | None:
    """A copy of a tool-output message with every output replaced by make(call_id, content),
    or None if the message holds no tool output."""
    if msg.get("role") == "tool":
        out = dict(msg)
        out["content"] = make(str(msg.get("tool_call_id", "")), msg.get("content"))
        return out
    if msg.get("type") == "function_call_output":      # a Responses API item
        out = dict(msg)
        out["output"] = make(str(msg.get("call_id", "")), msg.get("output"))
        return out
    content = msg.get("content")
    if not isinstance(content, list):
        return None
    changed = False
    blocks = []
    for b in content:
        if isinstance(b, dict) and b.get("type") == "tool_result":
            nb = dict(b)
            nb["content"] = make(str(b.get("tool_use_id", "")), b.get("content"))
            blocks.append(nb)
            changed = True
        else:
            blocks.append(b)
    if not changed:
        return None
    out = dict(msg)
    out["content"] = blocks
    return out


# -- extractive -------------------------------------------------------------------------------
@dataclass
class _Cand:
    pos: int
    label: str
    text: str
    first: bool
    kind: float
    words: frozenset


def line_kind(text: str, role: str, tool_output: bool) -> float:
    """The `kind` weight of a candidate line (see the module docstring)."""
    if tool_output:
        return 0.0
    if role == "assistant":
        return 1.2 if _FINDING.search(text) else 0.3
    if role in _SPEAKERS:
        if role == "user" and text.endswith("?"):
            return 0.1
        if _REQUIREMENT.search(text):
            return 1.0
    return 0.3


def holds_facts(text: str) -> bool:
    """Whether a line holds an identifier, number, path, URL, quoted string or error word."""
    return M.has_fact(text) or _MORE_FACTS.search(text) is not None or \
        _ERROR.search(text) is not None


def _label(msgs: Sequence[dict], i: int) -> str:
    m = msgs[i]
    role = str(m.get("role") or "message")
    if M.is_tool_output(m):
        ids = M.result_ids(m)
        name = M.tool_name_for(msgs, i, ids[0]) if ids else None
        return f"tool {name}" if name else "tool"
    return role


def _candidates(msgs: Sequence[dict]) -> list[_Cand]:
    out: list[_Cand] = []
    for mi, m in enumerate(msgs):
        text = M.message_text(m)
        pieces: list[str] = []
        for line in text.splitlines():
            line = line.strip()
            if not line:
                continue
            if len(line) > 200:
                pieces.extend(p.strip() for p in _SENT.split(line) if p.strip())
            else:
                pieces.append(line)
        label = None
        first = True
        role, tool = str(m.get("role") or ""), M.is_tool_output(m)
        summary = text.startswith(SUMMARY_PREFIX)
        for p in pieces:
            if not any(ch.isalnum() for ch in p):
                continue
            if len(p) > MAX_CANDIDATE_CHARS:
                p = p[:MAX_CANDIDATE_CHARS - 3] + "..."
            if label is None:
                label = _label(msgs, mi)
            lab, r, t = label, role, tool
            if summary:           # an earlier summary: its lines keep their own labels
                p, lab, r, t = _unlabel(p, label, role, tool)
                if not p:
                    continue
            words = frozenset(w.lower() for w in _WORD.findall(p)
                              if w.lower() not in _STOP and (len(w) > 2 or w.isdigit()))
            out.append(_Cand(len(out), lab, p, first, line_kind(p, r, t), words))
            first = False
    return out


SUMMARY_PREFIX = "[Summary of "
_LABELED = re.compile(r"(user|assistant|system|developer|tool(?: [\w.-]+)?): ")


def _unlabel(line: str, label: str, role: str, tool: bool) -> tuple[str, str, str, bool]:
    """A line of an earlier extractive summary as (text, label, role, tool output): its own
    `role: ` labels taken off (nested ones too), its headers dropped (empty text)."""
    while True:
        if line.startswith(SUMMARY_PREFIX):
            return "", label, role, tool
        m = _LABELED.match(line)
        if not m:
            return line, label, role, tool
        label = m.group(1)
        tool = label.startswith("tool")
        role = "tool" if tool else label
        line = line[m.end():]


class Line(NamedTuple):
    """A scored candidate line: `pos` its place among the candidates, `label` "role" or
    "tool <name>"."""

    score: float
    pos: int
    label: str
    text: str


def ranked(msgs: Sequence[dict], must_keep: Callable[[str], bool] = lambda s: False) -> list[Line]:
    """The candidate lines of `msgs` best first (see the module docstring; ties: earlier
    first)."""
    cands = _candidates(msgs)
    freq: Counter = Counter()
    counted = set()
    for c in cands:  # a line repeated verbatim counts once
        key = " ".join(c.text.lower().split())
        if key not in counted:
            counted.add(key)
            freq.update(c.words)
    top = max(freq.values()) if freq else 1

    def score(c: _Cand) -> float:
        cen = sum(freq[w] for w in c.words) / (top * len(c.words)) if c.words else 0.0
        s = c.kind + (0.6 if holds_facts(c.text) else 0.0) + 0.5 * cen + (0.1 if c.first else 0.0)
        s *= min(1.0, (len(c.words) + 1) / 6)
        return s + (100.0 if must_keep(c.text) else 0.0)

    return sorted((Line(score(c), c.pos, c.label, c.text) for c in cands),
                  key=lambda x: (-x.score, x.pos))


def extractive(msgs: Sequence[dict], target: int, count: Callable[[str], int],
               must_keep: Callable[[str], bool] = lambda s: False) -> str:
    """The extractive summary of `msgs` within `target` tokens (see the module docstring)."""
    header = f"{SUMMARY_PREFIX}{len(msgs)} message{'s' if len(msgs) != 1 else ''}, extractive]"
    best = ranked(msgs, must_keep)
    if not best:
        return header
    budget = target - count(header + "\n")
    chosen: list[tuple[int, str]] = []
    seen = set()
    for c in best:
        if budget <= 2:
            break
        key = " ".join(c.text.lower().split())
        if key in seen:
            continue
        line = f"{c.label}: {c.text}"
        cost = count(line + "\n")
        if cost <= budget:
            chosen.append((c.pos, line))
            seen.add(key)
            budget -= cost
    if not chosen:  # nothing fits whole: the best candidate, cut to the target
        full = f"{best[0].label}: {best[0].text}"
        line, n = full, len(full)
        while count(line + "\n") > max(budget, 4) and n > 16:
            n = max(16, n * 3 // 4)
            line = full[:n].rstrip() + "..."
        chosen.append((best[0].pos, line))
    chosen.sort()
    return header + "\n" + "\n".join(line for _, line in chosen)


def with_facts(text: str, held: Sequence[str]) -> tuple[str, list[str]]:
    """(`text` with the facts of `held` it lacks appended verbatim on a last line
    "kept: <fact>; <fact>", those facts): how a summary keeps every must-keep fact its messages
    held, beyond the target if need be."""
    missing = [f for f in held if f not in text]
    if not missing:
        return text, []
    return f"{text}\nkept: {'; '.join(missing)}", missing


def unit_target(unit_tokens: int, ratio: float, target_tokens: int | None) -> int:
    if target_tokens is not None:
        return target_tokens
    return max(MIN_TARGET, int(unit_tokens * ratio))


# -- llm --------------------------------------------------------------------------------------
def llm_request(msgs: Sequence[dict], target: int, facts: Sequence[str]) -> list[dict]:
    from ..materialize import to_text
    text = to_text(list(msgs))
    keep = ""
    if facts:
        keep = ("\nThe summary must contain each of these exactly as written:\n" +
                "\n".join(f"- {f}" for f in facts) + "\n")
    prompt = (f"Summarize these {len(msgs)} messages of the agent's history in at most about "
              f"{target} tokens.\n{keep}\n<history>\n{text}</history>")
    return [{"role": "user", "content": prompt}]


def llm_summary(provider: Any, msgs: Sequence[dict], *, instructions: str | None, target: int,
                facts: Sequence[str], max_tokens: int | None) -> tuple[str, Any]:
    """(summary text, the provider's ChatResult). Provider errors propagate unchanged."""
    result = provider.complete(llm_request(msgs, target, facts),
                               system=instructions or DEFAULT_INSTRUCTIONS,
                               max_tokens=max_tokens, temperature=0.0)
    text = getattr(result, "text", None)
    if not isinstance(text, str) or not text.strip():
        raise ProviderResponseError("the provider returned an empty summary")
    return text.strip(), result


def check_strategy(strategy: str) -> str:
    if strategy not in STRATEGIES:
        raise InputError(f"unknown strategy {strategy!r} ({', '.join(STRATEGIES)})")
    return strategy
