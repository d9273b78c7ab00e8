r"""The compression strategies: mask, extractive, llm, manual (docs/compress.md, "Strategies").

- mask: a tool output (a role "tool" message, or the content of a tool_result block) becomes a
  placeholder, `compress.placeholder` (default "[output of {tool} masked: {tokens} tokens]";
  fields {tool}, {tokens}, {call_id}). The message keeps its role and call id, so calls and
  results stay paired. An output is masked only if the placeholder is smaller, and not when its
  message holds a must-keep fact (the engine checks).
- extractive: deterministic and offline. Candidates are the lines of each message's text, read
  piece by piece (`messages.pieces`): a tool message's, an output item's or a tool_result
  block's lines are tool output labelled "tool <name>" (or "tool"); every other line (text
  blocks, tool calls as `call name(args)`) takes the message's label (`_label`: its role; a
  Responses call item "assistant"; another item without a role "message"). Lines are stripped,
  blank ones and those without a letter or digit skipped; lines longer than 200 characters are
  split into sentences, and a piece longer than 2000 is cut. Each candidate is scored

      score = (kind + 0.6 * facts + 0.5 * centrality + 0.1 * first) * length
              (+ 100 if it holds a must-keep fact)

  kind (`line_kind`), the first that applies: a line of tool output 0; a tool call line 0.3; an
  assistant line 1.2 if it holds a FINDING phrase; a user line ending with "?" 0.1; a user,
  system or developer line holding a REQUIREMENT phrase (`messages.REQUIREMENT`) 1.0; any other
  line 0.3. (Phrases match as whole words, any case, a space matching any white space, an
  apostrophe ' or \u2019: `messages.phrase_re`.)
  facts (`holds_facts`) = 1 if the line holds one of `messages.facts` (numbers and versions,
  words with digits such as E1234 or hex ids, snake_case, camelCase, file and dotted names), a
  path (`\w[/\\]\w`), a URL (`\w://`), a quoted string ("...", '...' not inside a word,
  `...`; not in a tool call line, whose JSON arguments would always count) or an ERROR word,
  else 0.
  centrality = mean over its distinct content words (`content_words`: its words lower-cased,
  less `messages.STOP_WORDS` and the words of one or two characters that are not numbers) of
  (the number of distinct candidate lines of the unit holding the word / the highest such
  number); lines that differ only in case or white space count once.
  first = 1 for a message's first candidate, else 0.
  length = min(1, (words + 1) / 6), words = its number of distinct content words, so fragments
  rank low.
  Candidates are taken by score (ties: earlier first; `ranked`) while they fit the token target,
  each once (ignoring case and white space), and printed in their original order as
  "label: text" under the header "[Summary of N messages, extractive]". If none fits whole, the
  best one is cut to the target. The messages at the positions `summaries` (summaries an
  earlier compression made: the engine knows them from provenance, not from their text) are
  read line by line (`_summary_lines`): the header (a first line starting "[Summary of ")
  skipped; exactly one label taken off each line that starts with one a summary gives (user,
  assistant, system, developer, function, message, tool, or "tool <name>", the name running to
  the first ": ") and kept as that line's; a line "kept: <facts>" read as "<facts>"; lines
  without a label, and those facts, of the summary's own role; lines empty once unlabelled
  skipped. Any other message is read as above, whatever its text. The engine then appends the
  must-keep facts the summary lacks (`with_facts`).
- llm: one provider request per unit (instructions from compress.instructions or the caller);
  the engine then appends the must-keep facts the answer lacks (`with_facts`).
- manual: the caller's texts, one per unit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NamedTuple

from ..errors import ConfigError, InputError, ProviderResponseError
from ..messages import REQUIREMENT, STOP_WORDS, phrase_re
from ..shapes import CALL_ITEMS
from . import messages as M

if TYPE_CHECKING:
    from .validate import Facts

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

_WORD = re.compile(r"[A-Za-z][A-Za-z0-9_]*|\d+(?:\.\d+)?")
_SENT = re.compile(r"(?<=[.!?;])\s+")
FINDING = ("found", "finding", "findings", "decided", "decide", "decision", "root cause",
           "the fix", "fixed", "result", "results", "because", "conclusion", "concluded",
           "therefore", "will use", "chose", "chosen", "confirmed", "caused by", "answer",
           "solved", "resolved")
ERROR = ("error", "errors", "exception", "traceback", "failed", "failure", "fails", "fatal",
         "panic", "warning", "denied", "refused", "crash", "crashed")

_FINDING = phrase_re(FINDING)
_PATHS = re.compile(r"\w[/\\]\w|\w://")
_QUOTED = re.compile(r"`[^`\n]+`|(?<!\w)\"[^\"\n]+\"|(?<!\w)'[^'\n]+'(?!\w)")
_ERROR = phrase_re(ERROR)
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
    call: bool            # (a piece of) a tool call line `call name(args)`


def line_kind(text: str, role: str, tool_output: bool, call: bool = False) -> float:
    """The `kind` weight of a candidate line (see the module docstring)."""
    if tool_output:
        return 0.0
    if call:
        return 0.3
    if role == "assistant":
        return 1.2 if _FINDING.search(text) else 0.3
    if role in _SPEAKERS:
        if role == "user" and text.endswith("?"):
            return 0.1
        if REQUIREMENT.search(text):
            return 1.0
    return 0.3


def holds_facts(text: str, call: bool = False) -> bool:
    """Whether a line holds an identifier, number, path, URL, quoted string or error word; for
    a tool call line (`call`: `call name(args)`, or a piece of one) quoted strings do not count,
    so the JSON of its arguments alone is not a fact."""
    return M.has_fact(text) or _PATHS.search(text) is not None or \
        (not call and _QUOTED.search(text) is not None) or _ERROR.search(text) is not None


def content_words(text: str) -> frozenset:
    """The distinct content words of a line: its words (a letter then letters, digits or `_`;
    or a number such as 42 or 3.5) lower-cased, less STOP_WORDS and the words of one or two
    characters that are not all digits."""
    return frozenset(w for w in (x.lower() for x in _WORD.findall(text))
                     if w not in STOP_WORDS and (len(w) > 2 or w.isdigit()))


def _label(m: dict) -> str:
    """The label of a message's own lines: its role; a Responses call item (`function_call`
    and the other client tool calls) "assistant"; any other item without a role "message"."""
    role = m.get("role")
    if role:
        return str(role)
    return "assistant" if m.get("type") in CALL_ITEMS else "message"


def _tool_label(msgs: Sequence[dict], i: int, call_id: str) -> str:
    """The label of a tool output answering `call_id` in message i: "tool <name>", or "tool"."""
    name = M.tool_name_for(msgs, i, call_id) if call_id else None
    return f"tool {name}" if name else "tool"


SUMMARY_PREFIX = "[Summary of "          # how an extractive summary starts (its header)
#: a label `_label` / `_tool_label` gives: a role, "message", "tool", or "tool <name>" (the name
#: running to the first ": ")
_LABELED = re.compile(r"(user|assistant|system|developer|tool|function|message|tool .+?):(?: |$)")
_CALL_LINE = re.compile(r"call [^\s(]*\(")


class _Src(NamedTuple):
    """A line of a message before it is split: its text, label, the role its kind is read
    from, whether it is tool output, whether (part of) a tool call."""

    text: str
    label: str
    role: str
    tool: bool
    call: bool


def _lines(text: str) -> list[str]:
    return [ln.strip() for ln in text.splitlines() if ln.strip()]


def _summary_lines(m: dict) -> list[_Src]:
    """The lines of a summary an earlier compression made, each (text, label, role, tool
    output, call): its header line (a first line starting "[Summary of ") skipped; exactly one
    label taken off a line that starts with one (`_LABELED`), the line then keeping that label
    (a line `call name(...)` not of tool output then a tool call); a line "kept: <facts>" read
    as "<facts>"; every other line, and those facts, as text of the summary's own role; lines
    empty once unlabelled skipped."""
    own = _label(m)
    own_role = str(m.get("role") or "")
    out: list[_Src] = []
    for k, line in enumerate(_lines(M.message_text(m))):
        if k == 0 and line.startswith(SUMMARY_PREFIX):
            continue
        hit = _LABELED.match(line)
        if hit:
            label, text = hit.group(1), line[hit.end():].strip()
            tool = label == "tool" or label.startswith("tool ")
            role = "tool" if tool else label
            call = not tool and _CALL_LINE.match(text) is not None
        else:
            label, role, tool, call = own, own_role, False, False
            text = line[len("kept:"):].strip() if line.startswith("kept: ") else line
        if text:
            out.append(_Src(text, label, role, tool, call))
    return out


def _message_lines(msgs: Sequence[dict], i: int) -> list[_Src]:
    """The lines of message i, each (text, label, role, tool output, call), block by block: a
    tool_result block's, a tool message's or an output item's lines are tool output labelled
    "tool <name>"; the others take the message's role and label (`_label`), a tool call's lines
    marked as such."""
    m = msgs[i]
    role, label = str(m.get("role") or ""), _label(m)
    out: list[_Src] = []
    for piece in M.pieces(m):
        tool = piece.kind == "output"
        lab = _tool_label(msgs, i, piece.call_id) if tool else label
        out.extend(_Src(ln, lab, role, tool, piece.kind == "call") for ln in _lines(piece.text))
    return out


def _candidates(msgs: Sequence[dict], summaries: Collection[int] = ()) -> list[_Cand]:
    out: list[_Cand] = []
    for mi in range(len(msgs)):
        lines = _summary_lines(msgs[mi]) if mi in summaries else _message_lines(msgs, mi)
        first = True
        for line, label, role, tool, call in lines:
            parts = [p.strip() for p in _SENT.split(line) if p.strip()] if len(line) > 200 \
                else [line]
            for p in parts:
                if not any(ch.isalnum() for ch in p):
                    continue
                if len(p) > MAX_CANDIDATE_CHARS:
                    p = p[:MAX_CANDIDATE_CHARS - 3] + "..."
                out.append(_Cand(len(out), label, p, first, line_kind(p, role, tool, call),
                                 content_words(p), call))
                first = False
    return out


class Line(NamedTuple):
    """A scored candidate line: `pos` its place among the candidates, `label` "role" or
    "tool <name>"."""

    score: float
    pos: int
    label: str
    text: str


def _key(text: str) -> str:
    """What makes two lines the same: their text ignoring case and white space."""
    return " ".join(text.lower().split())


def ranked(msgs: Sequence[dict], must_keep: Callable[[str], bool] = lambda s: False,
           summaries: Collection[int] = ()) -> list[Line]:
    """The candidate lines of `msgs` best first (see the module docstring; ties: earlier
    first). `summaries`: the positions in `msgs` of summaries an earlier compression made."""
    cands = _candidates(msgs, summaries)
    freq: Counter = Counter()
    counted = set()
    for c in cands:  # a line repeated (ignoring case and white space) counts once
        key = _key(c.text)
        if key not in counted:
            counted.add(key)
            freq.update(c.words)
    top = max(freq.values()) if freq else 1

    def score(c: _Cand) -> float:
        cen = sum(freq[w] for w in c.words) / (top * len(c.words)) if c.words else 0.0
        s = c.kind + (0.6 if holds_facts(c.text, c.call) else 0.0) + 0.5 * cen + \
            (0.1 if c.first else 0.0)
        s *= min(1.0, (len(c.words) + 1) / 6)
        return s + (100.0 if must_keep(c.text) else 0.0)

    return sorted((Line(score(c), c.pos, c.label, c.text) for c in cands),
                  key=lambda x: (-x.score, x.pos))


def extractive(msgs: Sequence[dict], target: int, count: Callable[[str], int],
               must_keep: Callable[[str], bool] = lambda s: False, *,
               summaries: Collection[int] = ()) -> str:
    """The extractive summary of `msgs` within `target` tokens (see the module docstring).
    `summaries`: the positions in `msgs` of the summaries an earlier compression made (the
    engine knows them from provenance), read line by line with each line's own label."""
    header = f"{SUMMARY_PREFIX}{len(msgs)} message{'s' if len(msgs) != 1 else ''}, extractive]"
    best = ranked(msgs, must_keep, summaries)
    if not best:
        return header
    budget = target - count(header + "\n")
    chosen: list[tuple[int, str]] = []
    seen = set()
    for c in best:
        if budget <= 2:
            break
        key = _key(c.text)
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


def with_facts(text: str, facts: Facts, texts: Sequence[str]) -> tuple[str, list[str]]:
    """(`text` with the must-keep facts it lacks appended verbatim on a last line
    "kept: <fact>; <fact>", those facts): how a summary of the messages whose texts are `texts`
    keeps every must-keep fact they held, beyond the target if need be (`Facts.lacking`: a
    string it does not contain; every text a pattern matched there, when the pattern does not
    match it)."""
    missing = facts.lacking(text, texts)
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
