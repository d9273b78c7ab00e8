"""Reading a Claude Code transcript (JSONL): its records, the parentUuid tree, the active chain
(with compaction boundaries followed through logicalParentUuid), abandoned rewind branches,
sub-agent sidechains, and the units the importer commits (no repository, no output)."""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from ...errors import InputError
from ...messages import blocks, call_ids, result_ids

#: record types that carry a uuid and take part in the parentUuid tree
TREE_TYPES = frozenset({"user", "assistant", "system", "progress", "attachment"})
#: record types without a uuid (metadata lines; skipped without a warning)
META_TYPES = frozenset({"file-history-snapshot", "queue-operation", "summary", "custom-title",
                        "ai-title", "tag", "last-prompt", "agent-name", "pr-link"})
#: the tool whose run is a sub-agent (Claude Code renamed Task to Agent)
AGENT_TOOLS = frozenset({"Task", "Agent"})
MAX_LINE_UUIDS = 100     # transcript lines one commit records (meta values hold 4096 characters)

Warn = Callable[[str], None]


@dataclass
class Record:
    """One transcript line with a uuid."""

    line: int           # 1-based line number in its file
    data: dict
    file: str
    bridge: str | None = None   # the parent used when the line naming ours was damaged

    @property
    def uuid(self) -> str:
        return self.data["uuid"]

    @property
    def parent(self) -> str | None:
        if self.bridge is not None:
            return self.bridge
        p = self.data.get("parentUuid")
        return p if isinstance(p, str) else None

    @property
    def type(self) -> str:
        return self.data.get("type", "")

    @property
    def sidechain(self) -> bool:
        return self.data.get("isSidechain") is True

    @property
    def is_boundary(self) -> bool:
        return self.type == "system" and self.data.get("subtype") == "compact_boundary"

    @property
    def message(self) -> dict:
        m = self.data.get("message")
        return m if isinstance(m, dict) else {}

    def blocks(self) -> list:
        c = self.message.get("content")
        return c if isinstance(c, list) else []

    def tool_result_ids(self) -> list[str]:
        return result_ids(self.message)

    def where(self) -> str:
        return f"{os.path.basename(self.file)}:{self.line}"


@dataclass
class Transcript:
    """The records of one JSONL file, in file order."""

    path: str
    records: list[Record] = field(default_factory=list)
    session: str | None = None
    recognized: int = 0          # lines that look like transcript lines (with or without uuid)


def read_transcript(path: str, warn: Warn) -> Transcript:
    """The records of the JSONL file at `path`. Lines that are not JSON objects, records of an
    unknown type and a last line still being written are reported through `warn` (one line
    each) and skipped; InputError when the file cannot be read."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    t = Transcript(path)
    name = os.path.basename(path)
    lines = data.split(b"\n")
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            continue
        last = n == len(lines)            # no newline after it: Claude Code may be writing it
        try:
            obj = json.loads(raw)
        except (ValueError, UnicodeDecodeError):
            if last:
                warn(f"{name}:{n}: incomplete last line (still being written?), left for the "
                     "next import")
            else:
                warn(f"{name}:{n}: not JSON, skipped")
            continue
        if not isinstance(obj, dict):
            warn(f"{name}:{n}: not a JSON object, skipped")
            continue
        kind = obj.get("type")
        uuid = obj.get("uuid")
        if kind in META_TYPES and "uuid" not in obj:
            t.recognized += 1
            continue
        if not isinstance(kind, str) or not isinstance(uuid, str) or not uuid:
            warn(f"{name}:{n}: not a transcript record (no type and uuid), skipped")
            continue
        if "parentUuid" not in obj:
            warn(f"{name}:{n}: {kind[:40]} record without parentUuid, skipped")
            continue
        if kind not in TREE_TYPES:      # kept in the tree (it links its children), no message
            warn(f"{name}:{n}: unknown record type {kind[:40]!r}, not imported")
        t.recognized += 1
        if t.session is None and isinstance(obj.get("sessionId"), str):
            t.session = obj["sessionId"]
        t.records.append(Record(n, obj, path))
    return t


# -- chains -----------------------------------------------------------------------------------


def _is_message(r: Record) -> bool:
    return r.type in ("user", "assistant")


def chain_to(leaf: Record, by_uuid: dict[str, Record]) -> list[Record]:
    """The records from the root to `leaf` (oldest first), following parentUuid, and at a
    compaction boundary its logicalParentUuid (the leaf before the compaction)."""
    out: list[Record] = []
    seen: set[str] = set()
    cur: Record | None = leaf
    while cur is not None and cur.uuid not in seen:
        seen.add(cur.uuid)
        out.append(cur)
        cur = _up(cur, by_uuid)
    out.reverse()
    return out


def _up(r: Record, by_uuid: dict[str, Record]) -> Record | None:
    """The record before `r`: its parent, or for a compaction boundary the leaf before it."""
    nxt = r.parent
    if nxt is None and r.is_boundary:
        logical = r.data.get("logicalParentUuid")
        nxt = logical if isinstance(logical, str) else None
    return by_uuid.get(nxt) if nxt is not None else None


def _children(records: Iterable[Record]) -> dict[str, list[Record]]:
    kids: dict[str, list[Record]] = {}
    for r in records:
        if r.parent is not None:
            kids.setdefault(r.parent, []).append(r)
        if r.is_boundary and isinstance(r.data.get("logicalParentUuid"), str):
            kids.setdefault(r.data["logicalParentUuid"], []).append(r)
    return kids


def _back_to_message(r: Record, by_uuid: dict[str, Record]) -> Record | None:
    cur: Record | None = r
    seen: set[str] = set()
    while cur is not None and not _is_message(cur) and cur.uuid not in seen:
        seen.add(cur.uuid)
        cur = _up(cur, by_uuid)
    return cur


def chains(records: list[Record]) -> tuple[list[Record], list[list[Record]]]:
    """(the active chain, the abandoned chains) of `records` (one tree: the main file's
    non-sidechain records, or one sub-agent's). The active chain ends at the latest leaf
    (walked back to a user or assistant record), preferring one that is not meta; parallel
    tool results on side branches of it are re-attached in file order. Each abandoned chain is
    another leaf's path (from the root; the importer starts it where it leaves the active one)."""
    if not records:
        return [], []
    by_uuid = {r.uuid: r for r in records}
    for prev, r in zip(records, records[1:], strict=False):
        if r.parent is not None and r.parent not in by_uuid:
            r.bridge = prev.uuid       # its parent's line was damaged: the line before it
        elif r.parent is None and r.is_boundary and \
                r.data.get("logicalParentUuid") not in by_uuid:
            r.bridge = prev.uuid       # (Claude Code does not always write the line it names)
    kids = _children(records)
    ends: list[Record] = []
    seen: set[str] = set()
    for r in records:
        if r.uuid in kids:
            continue
        m = _back_to_message(r, by_uuid)
        if m is not None and m.uuid not in seen:      # (by uuid: one compare per record)
            seen.add(m.uuid)
            ends.append(m)
    if not ends:
        return [], []
    ends.sort(key=lambda r: r.line)
    plain = [r for r in ends if r.data.get("isMeta") is not True]
    leaf = (plain or ends)[-1]
    active = chain_to(leaf, by_uuid)
    on = {r.uuid for r in active}
    calls = {i for r in active if r.type == "assistant" for i in call_ids(r.message)}
    answered = {i for r in active if r.type == "user" for i in r.tool_result_ids()}
    for r in records:            # results of parallel tool calls hang off the active chain
        ids = r.tool_result_ids() if r.type == "user" and r.uuid not in on else []
        if ids and r.parent in on and all(i in calls and i not in answered for i in ids):
            active.append(r)
            on.add(r.uuid)
            answered.update(ids)
    active.sort(key=lambda r: r.line)
    abandoned = [chain_to(e, by_uuid) for e in ends if e.uuid not in on]
    return active, abandoned


# -- units: what becomes one commit (or one operation) ---------------------------------------


@dataclass
class Unit:
    """One operation of an import: `message` (append), `compact` (compress), `spawn` or
    `collapse` (a sub-agent's start and its result)."""

    kind: str
    records: list[Record]
    message: dict | None = None
    call: str | None = None          # spawn / collapse: the agent tool call's id
    agent: str | None = None         # spawn / collapse: the sub-agent's name
    summary: str | None = None       # compact: the summary text

    @property
    def uuids(self) -> list[str]:
        return [r.uuid for r in self.records]

    def marks(self) -> set[str]:
        """What marks this unit as imported in a branch's commits (see importer)."""
        if self.kind == "spawn":
            return {f"spawn:{self.agent}"}
        if self.kind == "collapse":
            return {f"call:{self.call}", *self.uuids}
        return set(self.uuids)


def _text_of(content: Any) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        return "\n".join(b.get("text", "") for b in content
                         if isinstance(b, dict) and b.get("type") == "text"
                         and isinstance(b.get("text"), str))
    return ""


def _user_message(r: Record, blocks: list | None = None) -> dict:
    content = r.message.get("content") if blocks is None else blocks
    return {"role": "user", "content": content}


def _assistant_message(group: list[Record]) -> dict:
    content: list = []
    for r in group:
        c = r.message.get("content")
        if isinstance(c, list):
            content.extend(c)
        elif isinstance(c, str) and c:
            content.append({"type": "text", "text": c})
    return {"role": "assistant", "content": content}


def units(chain: list[Record], agents: dict[str, str] | None = None) -> list[Unit]:
    """The units of `chain` in order. `agents` maps an agent tool call's id to the name of the
    sub-agent that ran it: its tool_use is followed by a `spawn` unit and its result becomes a
    `collapse` unit (other results of the same line stay a message)."""
    agents = agents or {}
    chain = [r for r in chain if _is_message(r) or r.is_boundary]   # (not progress, …)
    out: list[Unit] = []
    i = 0
    while i < len(chain):
        r = chain[i]
        if r.type == "assistant":
            mid = r.message.get("id")
            group = [r]
            while i + 1 < len(chain) and chain[i + 1].type == "assistant" and mid is not None \
                    and chain[i + 1].message.get("id") == mid \
                    and len(group) < MAX_LINE_UUIDS:
                i += 1
                group.append(chain[i])
            merged = _assistant_message(group)
            out.append(Unit("message", group, merged))
            for call in call_ids(merged):
                if call in agents:
                    out.append(Unit("spawn", [], call=call, agent=agents[call]))
        elif r.type == "user" and r.data.get("isCompactSummary") is True and out and \
                out[-1].kind == "boundary":
            out[-1] = Unit("compact", [*out[-1].records, r],
                           summary=_text_of(r.message.get("content")))
        elif r.is_boundary:
            out.append(Unit("boundary", [r]))
        elif r.type == "user":
            ids = r.tool_result_ids()
            mine = [c for c in ids if c in agents]
            if mine:
                for c in mine:
                    out.append(Unit("collapse", [r], call=c, agent=agents[c]))
                rest = [b for b in r.blocks() if not (isinstance(b, dict) and
                        b.get("type") == "tool_result" and b.get("tool_use_id") in agents)]
                if rest:
                    out.append(Unit("message", [r], _user_message(r, rest)))
            else:
                out.append(Unit("message", [r], _user_message(r)))
        i += 1
    return [u for u in out if u.kind != "boundary"]   # a boundary without its summary line yet


# -- sub-agents --------------------------------------------------------------------------------


def subagent_files(path: str) -> list[str]:
    """The sub-agent transcripts of the session at `path`: `<session>/subagents/agent-*.jsonl`
    next to it (regular files only)."""
    base = os.path.splitext(path)[0]
    d = os.path.join(base, "subagents")
    try:
        names = sorted(os.listdir(d))
    except OSError:
        return []
    return [os.path.join(d, n) for n in names if n.startswith("agent-") and
            n.endswith(".jsonl") and os.path.isfile(os.path.join(d, n)) and
            not os.path.islink(os.path.join(d, n))]


def agent_id(r: Record) -> str | None:
    a = r.data.get("agentId")
    return a if isinstance(a, str) and a else None


def first_prompt(records: list[Record]) -> str | None:
    for r in records:
        if r.type == "user":
            return _text_of(r.message.get("content")).strip() or None
    return None


def match_agents(main: list[Record], groups: dict[str, list[Record]]) -> dict[str, str]:
    """{agent tool call id: agent id} for the sub-agents in `groups` (agent id -> its records):
    by the agentId of the call's tool result (`toolUseResult.agentId`), else by the call's
    prompt equal to the sub-agent's first user message."""
    out: dict[str, str] = {}
    prompts: dict[str, str] = {}
    for r in main:
        if r.type == "assistant":
            for b in blocks(r.message, "tool_use"):
                if b.get("name") in AGENT_TOOLS and isinstance(b.get("id"), str):
                    inp: dict = b["input"] if isinstance(b.get("input"), dict) else {}
                    prompts[b["id"]] = str(inp.get("prompt", "")).strip()
        elif r.type == "user":
            res = r.data.get("toolUseResult")
            aid = res.get("agentId") if isinstance(res, dict) else None
            for c in r.tool_result_ids():
                if c in prompts and isinstance(aid, str) and aid in groups:
                    out[c] = aid
    taken = set(out.values())
    for call, prompt in prompts.items():
        if call in out or not prompt:
            continue
        for aid, recs in groups.items():
            if aid not in taken and first_prompt(recs) == prompt:
                out[call] = aid
                taken.add(aid)
                break
    return out
