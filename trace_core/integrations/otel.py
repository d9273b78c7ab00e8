"""OpenTelemetry export: a history as spans following the GenAI semantic conventions, one trace
per agent tree, through the official opentelemetry-sdk (optional extra `otel`; docs/inspect.md).

    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
    from trace_core.integrations.otel import export_spans

    spans = export_spans(repo, ["HEAD"], exporter=InMemorySpanExporter())

The shape: the root agent is one `invoke_agent` span (the trace's root); each commit is one span
below its agent's span (`trace.commit.id` names it); a spawn commit's span is the parent of each
child agent's `invoke_agent` span, whose own commits follow below it, recursively; a collapse
commit's span links to the span of the child commit it carried (and a merge's to its other
parents'). Span and trace ids are derived from commit ids (blake3), so exporting the same history
again gives the same ids and a backend sees the same spans, not copies.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Any

from blake3 import blake3

from ..errors import AgentNotFound, InputError, MissingObject, OperationError
from ..objects import Commit
from ..repository import Repository
from ..shapes import neutral

CONTENT_MODES = ("none", "carried", "full")
EXPORT_BATCH = 512
_ROOT_NAME = "root"
# meta.usage / meta.inference keys (docs/FORMAT.md §6.4.1) -> span attributes
_USAGE_ATTRS = (("prompt_tokens", "gen_ai.usage.input_tokens"),
                ("completion_tokens", "gen_ai.usage.output_tokens"),
                ("model", "gen_ai.request.model"), ("provider", "gen_ai.provider.name"),
                ("trace_id", "trace.usage.trace_id"), ("cost_usd", "trace.usage.cost_usd"))


def _sdk() -> Any:
    try:
        import opentelemetry.sdk.trace as sdk_trace
    except ImportError:
        raise OperationError("the OpenTelemetry export needs opentelemetry-sdk: pip install "
                             "'trace-vcs[otel]'") from None
    return sdk_trace


def _id(kind: bytes, *parts: bytes, size: int) -> int:
    h = blake3(b"trace-otel " + kind)
    for p in parts:
        h.update(len(p).to_bytes(4, "big") + p)
    return int.from_bytes(h.digest(size), "big") or 1     # the all-zero id is invalid


def trace_id_for(root: bytes) -> int:
    """The trace id of the agent tree whose root agent's first commit is `root`."""
    return _id(b"trace", root, size=16)


def commit_span_id(commit_id: bytes) -> int:
    """The span id of a commit's span."""
    return _id(b"commit", commit_id, size=8)


def agent_span_id(root: bytes, path: str) -> int:
    """The span id of agent `path`'s `invoke_agent` span in the tree of `root`."""
    return _id(b"agent", root, path.encode(), size=8)


class _Agent:
    """One agent of the tree: the commits exported and how it hangs below its parent."""

    __slots__ = ("path", "parent", "spawn", "tips", "commits", "first", "noted")

    def __init__(self, path: str, parent: str | None, spawn: bytes | None) -> None:
        self.path, self.parent, self.spawn = path, parent, spawn
        self.tips: list[bytes] = []
        self.commits: dict[bytes, Commit] = {}
        self.first: bytes | None = None     # its oldest parentless commit: the conversation
        self.noted: dict[bytes, dict] = {}  # usage recorded later (usage notes) by commit


def export_spans(repo: Repository, revs: Sequence[str] | None = None, *, all_refs: bool = False,
                 exporter: Any = None, content: str = "carried",
                 service_name: str = "trace") -> list[Any]:
    """The spans of the history reachable from `revs` (default HEAD; `all_refs`: every ref of
    this namespace, and each agent namespace not made by spawn as a tree of its own), with the
    sub-agents spawned in it; handed to `exporter` (an opentelemetry-sdk `SpanExporter`) in
    batches when one is given. Returns the finished spans (`ReadableSpan`), parents first.
    `content`: `none` (no message text), `carried` (each span carries the messages its commit
    added) or `full` (a chat span also carries its prompt: the whole context before it)."""
    if content not in CONTENT_MODES:
        raise InputError(f"content must be one of {', '.join(CONTENT_MODES)}, not {content!r}")
    sdk = _sdk()
    trees = _trees(repo, revs, all_refs)
    _read_notes(repo, trees)
    spans = _emit(repo, sdk, trees, content, service_name)
    if exporter is not None:
        from opentelemetry.sdk.trace.export import SpanExportResult
        for i in range(0, len(spans), EXPORT_BATCH):
            if exporter.export(spans[i:i + EXPORT_BATCH]) is not SpanExportResult.SUCCESS:
                raise OperationError(f"the span exporter failed after {i} of {len(spans)} "
                                     "spans")
    return spans


# -- collecting the agent trees ---------------------------------------------------------------


def _read_notes(repo: Repository, trees: list[list[_Agent]]) -> None:
    """Give each agent the usage notes of its namespace (trace_core.notes)."""
    from ..notes import usage_notes

    own = repo.agent_name or ""
    for tree in trees:
        for agent in tree:
            if agent.path == own:
                agent.noted = usage_notes(repo)
                continue
            try:
                view = type(repo).open(repo.trace_dir, agent=agent.path or None)
            except AgentNotFound:       # its namespace was pruned (retention): no notes left
                continue
            with view:
                agent.noted = usage_notes(view)


def _trees(repo: Repository, revs: Sequence[str] | None, all_refs: bool) -> list[list[_Agent]]:
    from ..agents.tree import agent_tree
    from ..plumbing.refs import for_each_ref
    from ..plumbing.revparse import resolve_revision

    heads = {a.path: a for a in agent_tree(repo)}
    own = repo.agent_name or ""
    if all_refs:
        if revs:
            raise InputError("give revisions or all refs, not both")
        tips = [bytes.fromhex(v) for _, v, _ in for_each_ref(repo) if v]
        head = repo.head_commit()
        if head is not None:
            tips.append(head)
        roots = [(own, tips)]
        roots += [(a.path, [bytes.fromhex(a.head)]) for a in heads.values()
                  if not a.spawned and a.head]
    else:
        roots = [(own, [resolve_revision(repo, r) for r in (revs or ["HEAD"])])]
    seen: set[bytes] = set()
    trees = []
    for path, tips in roots:
        tree = _walk_tree(repo, path, tips, heads, seen)
        if tree[0].commits:
            trees.append(tree)
    return trees


def _walk_tree(repo: Repository, path: str, tips: list[bytes], heads: dict,
               seen: set[bytes]) -> list[_Agent]:
    root = _Agent(path, None, None)
    root.tips = list(tips)
    agents = {path: root}
    order = [root]
    for agent in order:                      # grows as spawns and collapses name children
        stack = list(agent.tips)
        while stack:
            cid = stack.pop()
            if cid in seen:
                continue
            seen.add(cid)
            c = repo.get_commit(cid)
            agent.commits[cid] = c
            if not c.parents and (agent.first is None or (c.time_ms, cid) < (
                    agent.commits[agent.first].time_ms, agent.first)):
                agent.first = cid
            stack.extend(c.parents)
            for child, link, spawn in _links(c, cid):
                sub = agents.get(child)
                if sub is None:
                    sub = agents[child] = _Agent(child, agent.path, spawn)
                    order.append(sub)
                    info = heads.get(child)
                    if info is not None and info.head:
                        sub.tips.append(bytes.fromhex(info.head))
                if spawn is not None and sub.spawn is None:
                    sub.spawn = spawn
                if _exists(repo, link):
                    sub.tips.append(link)
    return order


def _links(c: Commit, cid: bytes) -> Iterable[tuple[str, bytes, bytes | None]]:
    """(child agent, a commit of it, the spawn commit or None) for each child `c` names."""
    meta = c.meta
    if c.op == "spawn" and c.parents:
        for kid in meta.get("children") or ():
            if isinstance(kid, dict) and isinstance(kid.get("agent"), str) and \
                    isinstance(kid.get("root"), bytes):
                yield kid["agent"], kid["root"], cid
    elif c.op == "collapse" and isinstance(meta.get("agent"), str) and \
            isinstance(meta.get("tip"), bytes):
        yield meta["agent"], meta["tip"], None


def _exists(repo: Repository, cid: bytes) -> bool:
    """Whether a commit a meta link names can be read (a retention policy may have pruned it)."""
    try:
        repo.get_commit(cid)
    except MissingObject:
        return False
    return True


# -- spans ------------------------------------------------------------------------------------


def _emit(repo: Repository, sdk: Any, trees: list[list[_Agent]], content: str,
          service_name: str) -> list[Any]:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace.sampling import ALWAYS_ON

    ids = _QueuedIds(sdk)
    done: list[Any] = []
    limits = sdk.SpanLimits(max_attributes=256, max_events=128, max_links=128,
                            max_span_attributes=256, max_event_attributes=128,
                            max_link_attributes=128, max_attribute_length=sdk.SpanLimits.UNSET,
                            max_span_attribute_length=sdk.SpanLimits.UNSET)
    provider = sdk.TracerProvider(sampler=ALWAYS_ON, resource=Resource(
        {"service.name": service_name}), shutdown_on_exit=False, id_generator=ids,
        span_limits=limits)
    provider.add_span_processor(_Collect(done))
    tracer = provider.get_tracer("trace_core.integrations.otel")
    for tree in trees:
        _emit_tree(repo, tracer, ids, tree, content)
    return done


def _QueuedIds(sdk: Any) -> Any:
    """An IdGenerator that hands out the ids set on it just before each span starts."""
    from opentelemetry.sdk.trace.id_generator import IdGenerator

    class QueuedIds(IdGenerator):
        def __init__(self) -> None:
            self.trace_id = self.span_id = 0

        def generate_trace_id(self) -> int:
            return self.trace_id

        def generate_span_id(self) -> int:
            return self.span_id

    return QueuedIds()


def _Collect(out: list) -> Any:
    from opentelemetry.sdk.trace import SpanProcessor

    class Collect(SpanProcessor):
        def on_end(self, span: Any) -> None:
            out.append(span)

    return Collect()


def _ctx(trace_id: int, span_id: int) -> Any:
    from opentelemetry import trace as api

    return api.SpanContext(trace_id, span_id, is_remote=False,
                           trace_flags=api.TraceFlags(api.TraceFlags.SAMPLED))


def _emit_tree(repo: Repository, tracer: Any, ids: Any, tree: list[_Agent], content: str) -> None:
    from opentelemetry import trace as api

    root = tree[0]
    base = root.first or min(root.commits, key=lambda k: (root.commits[k].time_ms, k))
    tid = trace_id_for(base)
    ends = _ends(tree)
    agent_ids = {a.path: agent_span_id(base, a.path) for a in tree}
    for agent in tree:
        if not agent.commits:
            continue
        if agent.parent is None:
            parent = None
        elif agent.spawn is not None and agent.spawn in _owner(tree, agent.parent).commits:
            parent = _ctx(tid, commit_span_id(agent.spawn))
        else:
            parent = _ctx(tid, agent_ids[agent.parent])
        first = agent.first or min(agent.commits, key=lambda k: (agent.commits[k].time_ms, k))
        name = agent.path or _ROOT_NAME
        conversation = first.hex()
        start = min(c.time_ms for c in agent.commits.values())
        ids.trace_id, ids.span_id = tid, agent_ids[agent.path]
        span = tracer.start_span(
            f"invoke_agent {name}", context=api.set_span_in_context(
                api.NonRecordingSpan(parent)) if parent is not None else None,
            kind=api.SpanKind.INTERNAL, start_time=start * 1_000_000, attributes={
                "gen_ai.operation.name": "invoke_agent", "gen_ai.agent.name": name,
                "gen_ai.agent.id": conversation, "gen_ai.conversation.id": conversation,
                "trace.agent": agent.path, "trace.commit.id": first.hex(),
                "trace.commits": len(agent.commits)})
        span.end(end_time=ends[agent.path] * 1_000_000)
        here = api.set_span_in_context(api.NonRecordingSpan(_ctx(tid, agent_ids[agent.path])))
        for cid, c in sorted(agent.commits.items(), key=lambda kv: (kv[1].time_ms, kv[0])):
            _commit_span(repo, tracer, ids, tid, here, agent, name, conversation, cid, c,
                         content, ends.get(("spawn", cid)))


def _owner(tree: list[_Agent], path: str) -> _Agent:
    return next(a for a in tree if a.path == path)


def _ends(tree: list[_Agent]) -> dict:
    """The end time (ms) of each agent's span and of each spawn commit's span: the latest
    commit below it."""
    ends: dict[Any, int] = {}
    for agent in reversed(tree):           # children come after their parents in `tree`
        end = max((c.time_ms for c in agent.commits.values()), default=0)
        ends[agent.path] = max(end, ends.get(agent.path, 0))
        if agent.parent is not None and agent.commits:
            key = ("spawn", agent.spawn) if agent.spawn is not None else agent.parent
            ends[key] = max(ends.get(key, 0), ends[agent.path])
            ends[agent.parent] = max(ends.get(agent.parent, 0), ends[agent.path])
    return ends


def _commit_span(repo: Repository, tracer: Any, ids: Any, tid: int, parent: Any, agent: _Agent,
                 name: str, conversation: str, cid: bytes, c: Commit, content: str,
                 spawn_end: int | None) -> None:
    from opentelemetry import trace as api

    messages = [repo.get_blob(b).message for b in c.blobs]
    roles = {m.get("role") for m in messages if isinstance(m, dict)}
    attrs: dict[str, Any] = {
        "trace.commit.id": cid.hex(), "trace.op": c.op, "trace.commit.message": c.message,
        "trace.commit.author": c.author, "trace.commit.parents": [p.hex() for p in c.parents],
        "trace.tokens": c.tokens, "trace.context.tokens": c.total_tokens,
        "gen_ai.conversation.id": conversation, "gen_ai.agent.name": name}
    kind = api.SpanKind.INTERNAL
    span_name = f"{c.op} {name}"
    start = c.time_ms
    usage = (agent.noted.get(cid) or c.meta.get("usage") if c.op == "append"
             else c.meta.get("inference"))
    model = usage.get("model") if isinstance(usage, dict) else None
    if c.op == "append" and messages and roles == {"assistant"}:
        kind, span_name = api.SpanKind.CLIENT, f"chat {model}" if model else "chat"
        attrs["gen_ai.operation.name"] = "chat"
        if c.parents and c.parents[0] in agent.commits:
            start = min(start, agent.commits[c.parents[0]].time_ms)
        if content == "full" and c.parents:
            attrs["gen_ai.input.messages"] = _json(_parts(_context(repo, c.parents[0])))
        if content != "none":
            attrs["gen_ai.output.messages"] = _json(_parts(messages, output=True))
    else:
        if c.op == "append" and messages and roles == {"tool"}:
            attrs["gen_ai.operation.name"] = "execute_tool"
            calls = [(m.get("tool_call_id"), m.get("name")) for m in messages]
            if len(calls) == 1:
                call_id, tool = calls[0]
                span_name = f"execute_tool {tool}" if isinstance(tool, str) else "execute_tool"
                if isinstance(call_id, str):
                    attrs["gen_ai.tool.call.id"] = call_id
                if isinstance(tool, str):
                    attrs["gen_ai.tool.name"] = tool
        elif c.op == "spawn" and not c.parents:
            attrs["gen_ai.operation.name"] = "create_agent"
            span_name = f"create_agent {name}"
        if content != "none" and messages:
            attrs["gen_ai.input.messages"] = _json(_parts(messages))
    if isinstance(usage, dict):
        for key, attr in _USAGE_ATTRS:
            value = usage.get(key)
            if isinstance(value, int | float | str) and not isinstance(value, bool):
                attrs[attr] = value
    for key, value in (c.meta.get("user") or {}).items():
        if isinstance(key, str) and isinstance(value, str):
            attrs[f"trace.meta.{key}"] = value
    links = []
    if c.op == "collapse" and isinstance(c.meta.get("tip"), bytes):
        attrs["trace.collapse.tip"] = c.meta["tip"].hex()
        attrs["trace.collapse.agent"] = str(c.meta.get("agent"))
        links.append(api.Link(_ctx(tid, commit_span_id(c.meta["tip"])),
                              {"trace.link": "collapse"}))
    links += [api.Link(_ctx(tid, commit_span_id(p)), {"trace.link": "merge"})
              for p in c.parents[1:]]
    if c.op == "spawn" and c.parents:
        kids = [k.get("agent") for k in c.meta.get("children") or () if isinstance(k, dict)]
        attrs["trace.spawn.agents"] = [k for k in kids if isinstance(k, str)]
    ids.trace_id, ids.span_id = tid, commit_span_id(cid)
    span = tracer.start_span(span_name, context=parent, kind=kind, attributes=attrs,
                             links=links, start_time=start * 1_000_000)
    span.end(end_time=max(c.time_ms, spawn_end or 0) * 1_000_000)


def _context(repo: Repository, cid: bytes) -> list[dict]:
    from ..context import entries_at, entry_messages
    return entry_messages(repo, entries_at(repo, cid))


def _parts(messages: list[dict], output: bool = False) -> list[dict]:
    """Stored messages as GenAI messages: `{"role", "parts": [...]}`, parts `text`,
    `tool_call`, `tool_call_response` or a generic `{"type": kind}`; output messages also carry
    `finish_reason`."""
    out = []
    for turn in neutral(messages):
        parts: list[dict] = []
        for p in turn.parts:
            if p.kind == "text":
                parts.append({"type": "text", "content": p.text})
            elif p.kind == "call":
                try:
                    args: Any = json.loads(p.text) if p.text else None
                except ValueError:
                    args = p.text
                parts.append({"type": "tool_call", "id": p.id or None, "name": p.name,
                              "arguments": args})
            elif p.kind == "result":
                parts.append({"type": "tool_call_response", "id": p.id or None,
                              "response": "".join(q.text for q in p.content
                                                  if q.kind == "text")})
            else:
                parts.append({"type": p.kind, **({"uri": p.url} if p.url else {})})
        msg: dict[str, Any] = {"role": turn.role, "parts": parts}
        if output:
            msg["finish_reason"] = "tool_call" if any(
                p["type"] == "tool_call" for p in parts) else "stop"
        out.append(msg)
    return out


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)
