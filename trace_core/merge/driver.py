"""Semantic merge drivers: settle conflicts and flag contradictions (docs/merge.md).

`DeterministicDriver` works offline with fixed, documented rules and never calls anything.
`LLMDriver` asks a provider (trace_core.llm) once per merge step, in JSON, and records the usage;
an unreachable endpoint or an answer that is not the JSON asked for raises ProviderError, and the
caller leaves the branch unchanged.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import ProviderResponseError
from ..messages import message_text, normalized
from ..objects import Entry
from .merge3 import Conflict

if TYPE_CHECKING:
    from ..llm.base import Provider

Load = Callable[[Entry], dict]
#: entries of each side shown to the LLM when looking for contradictions (the latest ones)
CONTEXT_ENTRIES = 40
MAX_ENTRY_CHARS = 2000


def default_driver(config) -> str:
    """The driver a semantic merge uses when none is named: "llm" only when the effective
    settings (`repo.config`: the user's configuration and flags, or a repository the user
    trusts; docs/security.md) name an online llm.provider, else "deterministic". A repository
    nobody trusts never makes a merge call a model."""
    return "llm" if config.get_typed("llm.provider") not in (None, "offline") else "deterministic"


def make_driver(config, name: str | None, provider: Any) -> Any:
    """The driver of a semantic merge: `name` ("deterministic" or "llm"; None: default_driver
    of `config`); the llm driver asks `provider()` for its model provider."""
    if (name or default_driver(config)) == "deterministic":
        return DeterministicDriver()
    return LLMDriver(provider())


class DriverResult:
    """resolutions: conflict id -> (action, text or None); contradictions: (ours entry, theirs
    entry, explanation); usage: the provider usage meta (None for offline drivers)."""

    def __init__(self) -> None:
        self.resolutions: dict[int, tuple[str, str | None]] = {}
        self.contradictions: list[tuple[Entry, Entry, str]] = []
        self.usage: dict | None = None


class MergeDriver(Protocol):
    """What the semantic strategy needs of a driver: a name for the record, and reconcile()."""

    name: str

    def reconcile(self, conflicts: Sequence[Conflict], added_ours: Sequence[Entry],
                  added_theirs: Sequence[Entry], load: Load) -> DriverResult: ...


class DeterministicDriver:
    """Offline rules: keep the side that keeps information. edit/edit: the version whose text
    contains the other's, else both (ours first); edit/drop and pin/drop: the edited or pinned
    entry; redundant: the longer text (ours on a tie). Never reports contradictions: that needs
    a semantic judge."""

    name = "deterministic"

    def reconcile(self, conflicts: Sequence[Conflict], added_ours: Sequence[Entry],
                  added_theirs: Sequence[Entry], load: Load) -> DriverResult:
        out = DriverResult()
        for c in conflicts:
            if c.kind in ("edit/drop", "pin/drop"):
                out.resolutions[c.id] = ("ours", None)
            elif c.kind in ("drop/edit", "drop/pin"):
                out.resolutions[c.id] = ("theirs", None)
            elif c.kind in ("edit/edit", "redundant"):
                a, b = normalized(load(c.ours[0])), normalized(load(c.theirs[0]))
                if b in a:
                    out.resolutions[c.id] = ("ours", None)
                elif a in b:
                    out.resolutions[c.id] = ("theirs", None)
                elif c.kind == "redundant":
                    out.resolutions[c.id] = ("ours" if len(a) >= len(b) else "theirs", None)
                else:
                    out.resolutions[c.id] = ("both", None)
        return out


_SYSTEM = """You reconcile two branches ("ours" and "theirs") of an AI agent's conversation \
context that are being merged. You are given conflicts (places where the branches disagree) and \
the latest entries each branch added. Answer with ONE JSON object and nothing else:
{"resolutions": [{"id": <conflict id>, "action": "ours"|"theirs"|"both"|"drop"|"text", \
"text": "<merged message text, only for action text>"}],
 "contradictions": [{"ours": <index in ours_added>, "theirs": <index in theirs_added>, \
"explanation": "<one sentence>"}]}
Resolve every conflict. Use "text" to write one message that keeps the facts of both versions. \
Report as contradictions only pairs of added entries that state incompatible facts."""


def _clip(m: dict) -> dict:
    text = message_text(m)
    if len(text) > MAX_ENTRY_CHARS:
        text = text[:MAX_ENTRY_CHARS] + " [...]"
    return {"role": m.get("role"), "text": text}


def _parse_json_object(text: str) -> dict:
    s = text.strip()
    fence = re.match(r"```(?:json)?\s*(.*?)\s*```\Z", s, re.S)
    if fence:
        s = fence.group(1)
    try:
        doc = json.loads(s)
    except ValueError:
        start, end = s.find("{"), s.rfind("}")
        try:
            doc = json.loads(s[start:end + 1]) if 0 <= start < end else None
        except ValueError:
            doc = None
    if not isinstance(doc, dict):
        raise ProviderResponseError("the merge driver's answer is not the JSON object asked "
                                    f"for: {text[:80]!r}")
    return doc


class LLMDriver:
    """Asks a provider to settle conflicts and flag contradictions (one request per step)."""

    name = "llm"

    def __init__(self, provider: Provider, max_tokens: int | None = None) -> None:
        self.provider = provider
        self.max_tokens = max_tokens

    def reconcile(self, conflicts: Sequence[Conflict], added_ours: Sequence[Entry],
                  added_theirs: Sequence[Entry], load: Load) -> DriverResult:
        ours_added = list(added_ours)[-CONTEXT_ENTRIES:]
        theirs_added = list(added_theirs)[-CONTEXT_ENTRIES:]
        doc = {
            "conflicts": [{
                "id": c.id, "kind": c.kind, "note": c.note,
                "base": _clip(load(c.base)) if c.base is not None else None,
                "ours": [_clip(load(e)) for e in c.ours],
                "theirs": [_clip(load(e)) for e in c.theirs],
            } for c in conflicts],
            "ours_added": [_clip(load(e)) for e in ours_added],
            "theirs_added": [_clip(load(e)) for e in theirs_added],
        }
        prompt = json.dumps(doc, ensure_ascii=False, indent=1)
        result = self.provider.complete([{"role": "user", "content": prompt}], system=_SYSTEM,
                                        max_tokens=self.max_tokens, temperature=0.0)
        out = DriverResult()
        out.usage = result.to_meta()
        answer = _parse_json_object(result.text)
        ids = {c.id for c in conflicts}
        try:
            for r in answer.get("resolutions") or []:
                cid, action = r["id"], r["action"]
                if cid not in ids:
                    raise ProviderResponseError(f"the merge driver resolved an unknown conflict "
                                                f"{cid!r}")
                if action not in ("ours", "theirs", "both", "drop", "text"):
                    raise ProviderResponseError(f"the merge driver chose an unknown action "
                                                f"{action!r}")
                text = r.get("text") if action == "text" else None
                if action == "text" and (not isinstance(text, str) or not text.strip()):
                    raise ProviderResponseError("the merge driver gave an empty text resolution")
                out.resolutions[cid] = (action, text)
            for k in answer.get("contradictions") or []:
                i, j = k["ours"], k["theirs"]
                if not (isinstance(i, int) and isinstance(j, int)
                        and 0 <= i < len(ours_added) and 0 <= j < len(theirs_added)):
                    raise ProviderResponseError("the merge driver named a contradiction outside "
                                                "the entries it was shown")
                out.contradictions.append((ours_added[i], theirs_added[j],
                                           str(k.get("explanation", ""))[:500]))
        except (KeyError, TypeError, AttributeError):
            raise ProviderResponseError("the merge driver's answer has the wrong shape") from None
        return out
