"""The MCP server (`trace mcp`, extra `mcp`): Trace operations as tools an agent calls on its own
context, over stdio or streamable HTTP on 127.0.0.1 (docs/integrations.md, "MCP server").

    from trace_core import Repository
    from trace_core.integrations.mcp_server import build_server, run

    repo = Repository.discover()
    run(repo)                           # stdio until the client closes it
    server = build_server(repo)         # or an MCPServer to run or test yourself

Each tool calls one `Repository` method on the namespace the server was started on (or, with the
`agent` argument, a sub-agent of it) and returns a JSON object: commit ids in hex, warnings the
operation gave in `warnings`. A `TraceError` becomes a tool error (`is_error`, its text the one-line
message); the server keeps running. Calls run one at a time (a lock): the repository view is
shared. Strategies that call a model (compress/collapse `llm`, semantic merges, `summary`
contexts) use `provider(repo)`, which the caller supplies (the CLI builds it from the user's
settings, as its own commands do); without it they are refused.

Written against mcp 2.x (`mcp.server.mcpserver.MCPServer`); with mcp 1.x (>= 1.19) its `FastMCP`
is used instead, the same tools, except that an error's text starts "Error executing tool NAME: ".
"""

import json
import threading
from collections.abc import Callable
from typing import Annotated, Any, Literal

from pydantic import Field

try:   # mcp 2.x
    from mcp.server.mcpserver import MCPServer as _Server
    from mcp.server.mcpserver.exceptions import ToolError
    _MCP1 = False
except ImportError:   # pragma: no cover  (mcp 1.x: FastMCP, the same decorator API)
    from mcp.server.fastmcp import FastMCP as _Server  # type: ignore[no-redef,attr-defined]
    from mcp.server.fastmcp.exceptions import ToolError  # type: ignore[no-redef,import-not-found]
    _MCP1 = True
from mcp.types import CallToolResult

from ..errors import InputError, OperationError, TraceError
from ..repository import Repository

__all__ = ["TOOLS", "build_server", "run"]

#: the tools every server offers, in the order list_tools gives them
TOOLS = ("trace_status", "trace_log", "trace_context", "trace_commit", "trace_branch",
         "trace_switch", "trace_reset", "trace_merge", "trace_resolve", "trace_compress",
         "trace_spawn", "trace_collapse", "trace_blame")

INSTRUCTIONS = (
    "Trace versions your own context window like git: every message you commit is a commit; "
    "branch to try an approach, reset to roll a wrong turn back (soft keeps the undone entries "
    "listed in trace_status), merge what worked, compress old ranges into summaries with exact "
    "provenance, spawn sub-agents and collapse their results. Revisions are git-like: HEAD, "
    "HEAD~2, a branch name, a commit id prefix, A..B ranges.")

ProviderFactory = Callable[[Repository], Any]

Agent = Annotated[str | None, Field(
    description="A sub-agent of the served namespace (a path like 'researcher' or 'a/b', as "
                "trace_spawn made it) to act on instead of the served namespace itself.")]
Rev = Annotated[str, Field(description="A revision: HEAD, HEAD~2, a branch, a commit id prefix.")]

_JSON = Annotated[CallToolResult, dict[str, Any]]   # the declared result: a JSON object


def _short(ref: str | None) -> str | None:
    from ..refs import shorten
    return shorten(ref) if ref and ref.startswith("refs/heads/") else None


def _commit_info(repo: Repository, c: Any) -> dict:
    """A commit as the tools return it."""
    return {"commit": c.hex, "op": c.op, "summary": c.summary, "tokens": c.tokens,
            "total_tokens": c.total_tokens, "branch": _short(repo.head_branch()),
            "agent": repo.agent_name}


def _page(items: list, offset: int, limit: int) -> tuple[list, int | None]:
    page = items[offset:offset + limit]
    nxt = offset + len(page)
    return page, (nxt if nxt < len(items) else None)


class _Tools:
    """The tool bodies, bound to one repository view (and its sub-agents' views)."""

    def __init__(self, repo: Repository, provider: ProviderFactory | None) -> None:
        self.repo = repo
        self.provider_factory = provider
        self.lock = threading.Lock()
        self.warnings: list[str] = []
        self._forward = repo.on_warning
        repo.on_warning = self._warn   # sub-agent views inherit it when made
        self._views: dict[str, Repository] = {}

    def _warn(self, text: str) -> None:
        self.warnings.append(text)
        if self._forward is not None:
            self._forward(text)

    def view(self, agent: str | None) -> Repository:
        """The served namespace, or its sub-agent `agent` (AgentNotFound if there is none)."""
        if agent is None:
            return self.repo
        view = self._views.get(agent)
        if view is None or not view.agent_exists():
            view = self._views[agent] = self.repo.agent(agent)
        return view

    def provider(self, repo: Repository, what: str) -> Any:
        if self.provider_factory is None:
            raise OperationError(f"{what} calls a model, and this server was started without "
                                 "one (see docs/llm.md)")
        return self.provider_factory(repo)

    def call(self, body: Callable[..., dict], kwargs: dict) -> CallToolResult:
        """Run one tool body: its result as structured content (and JSON text), or its
        TraceError as a tool error holding the one-line message."""
        with self.lock:
            self.warnings = []
            try:
                result = body(**kwargs)
            except TraceError as exc:
                return _error(str(exc))
            except OSError as exc:
                where = getattr(exc, "filename", "") or ""
                return _error(f"{exc.strerror or exc}: {where}".rstrip(": "))
            if self.warnings:   # (status has warnings of its own: the budget's)
                result["warnings"] = list(result.get("warnings") or []) + self.warnings
        text = json.dumps(result, ensure_ascii=False)
        # (built from the wire's field names, which mcp 1.x and 2.x both accept)
        return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                              "structuredContent": result})

    # -- the tools --------------------------------------------------------------------------

    def status(self, agent: Agent = None) -> dict:
        """Where HEAD is: branch, entries, tokens against the budget, entries a soft reset
        undid, tool calls awaiting results, broken call/result pairs, a stopped merge."""
        st = self.view(agent).status()
        out = st.to_dict()
        out["branch"] = _short(st.branch) or st.branch
        return out

    def log(self, rev: Annotated[str, Field(description="Where the history starts (a "
                                                       "revision), or a range A..B.")] = "HEAD",
            limit: Annotated[int, Field(ge=1, le=1000, description="At most this many commits, "
                                                                   "newest first.")] = 20,
            agent: Agent = None) -> dict:
        """The history from `rev`, newest first: each commit's id, op, author, time, token
        cost, context total after it, summary and the refs pointing at it."""
        from ..render.log import log_records
        repo = self.view(agent)
        if rev == "HEAD" and repo.head_commit() is None:
            return {"commits": []}
        return {"commits": log_records(repo, [rev], limit=limit)}

    def context(self, rev: Rev = "HEAD",
                format: Annotated[Literal["text", "json", "openai", "openai-responses",
                                          "anthropic"],
                                  Field(description="text: a readable transcript; json: one "
                                                    "record per entry (index, blob id, pinned, "
                                                    "message); openai / openai-responses / "
                                                    "anthropic: the prompt as that API takes "
                                                    "it.")] = "text",
                offset: Annotated[int, Field(ge=0, description="The first item of the page: a "
                                                               "line for text, a message or "
                                                               "entry otherwise.")] = 0,
                limit: Annotated[int, Field(ge=1, le=10000, description="At most this many "
                                                                        "items (lines for "
                                                                        "text).")] = 200,
                agent: Agent = None) -> dict:
        """The context at `rev` as the model would be sent it, one page at a time: `total`
        items, this page from `offset`, and `next_offset` for the next page (null at the end).
        anthropic pages its messages and gives `system` with the first page."""
        out = self.view(agent).materialize(format, rev=rev)
        res: dict = {"rev": rev, "format": format, "offset": offset, "limit": limit}
        if format == "text":
            lines = out.splitlines(keepends=True)
            page, nxt = _page(lines, offset, limit)
            res.update(total=len(lines), next_offset=nxt, text="".join(page))
            return res
        items = out["messages"] if format == "anthropic" else out
        page, nxt = _page(items, offset, limit)
        res.update(total=len(items), next_offset=nxt, items=page)
        if format == "anthropic" and offset == 0 and "system" in out:
            res["system"] = out["system"]
        return res

    def commit(self,
               content: Annotated[str | None, Field(description="The text of one message to "
                                                                "append (with `role`).")] = None,
               role: Annotated[Literal["user", "assistant", "system", "developer"],
                               Field(description="The role of the `content` message.")] = "user",
               messages: Annotated[list[dict[str, Any]] | None, Field(
                   description="Instead of content: message objects to append as one commit, "
                               "in any shape the repository stores (chat messages with "
                               "tool_calls, tool results, Anthropic blocks, Responses "
                               "items).")] = None,
               pin: Annotated[bool, Field(description="Append the entries pinned (kept by "
                                                      "compression).")] = False,
               message: Annotated[str | None, Field(description="The commit message "
                                                                "(default: derived from the "
                                                                "content).")] = None,
               meta: Annotated[dict[str, str] | None, Field(
                   description="Public labels stored on the commit (meta.user), e.g. "
                               "{\"langfuse.trace_id\": \"abc\"}.")] = None,
               usage: Annotated[dict[str, Any] | None, Field(
                   description="Token usage the API reported for these messages: "
                               "prompt_tokens, completion_tokens, model, provider, "
                               "trace_id.")] = None,
               author: Annotated[str | None, Field(description="Author (agent name) of the "
                                                               "commit.")] = None,
               agent: Agent = None) -> dict:
        """Append a message (content + role) or several (messages) to the context as one
        commit; returns the new commit."""
        if (content is None) == (messages is None):
            raise InputError("give content (with role) or messages, not both and not neither")
        if content is not None:
            if not content.strip():
                raise InputError("nothing to commit: the content is empty")
            msgs: list = [{"role": role, "content": content}]
        else:
            msgs = list(messages or [])
        repo = self.view(agent)
        c = repo.append_many(msgs, pinned=pin, commit_message=message, author=author,
                             meta=meta, usage=usage)
        out = _commit_info(repo, c)
        for w in repo.budget_warnings(c.total_tokens):
            self.warnings.append(w)
        return out

    def branch(self,
               action: Annotated[Literal["list", "create", "delete"],
                                 Field(description="list every branch, create `name` at "
                                                   "`start`, or delete `name`.")] = "list",
               name: Annotated[str | None, Field(description="The branch to create or "
                                                             "delete.")] = None,
               start: Annotated[str, Field(description="create: where the branch starts (a "
                                                       "revision).")] = "HEAD",
               force: Annotated[bool, Field(description="create: move an existing branch; "
                                                        "delete: even if not merged into "
                                                        "HEAD.")] = False,
               agent: Agent = None) -> dict:
        """List, create or delete branches (creating one does not switch to it)."""
        repo = self.view(agent)
        if action == "list":
            return {"branches": [{k: b[k] for k in ("name", "id", "current", "summary")}
                                 for b in repo.branches()]}
        if not name:
            raise InputError(f"branch {action} needs a name")
        if action == "create":
            full = repo.branch_create(name, start, force)
            return {"created": name, "ref": full, "id": repo.refs.read(full)}
        return {"deleted": name, "was": repo.branch_delete(name, force=force)}

    def switch(self, name: Annotated[str, Field(description="The branch to switch to (with "
                                                            "detach: any revision).")],
               create: Annotated[bool, Field(description="Create the branch first, at "
                                                         "`start`.")] = False,
               start: Annotated[str, Field(description="create: where the new branch "
                                                       "starts.")] = "HEAD",
               detach: Annotated[bool, Field(description="Detach HEAD at the commit `name` "
                                                         "names.")] = False,
               agent: Agent = None) -> dict:
        """Point HEAD at branch `name`: the context becomes that branch's."""
        repo = self.view(agent)
        full = repo.switch(name, create=create, start=start, detach=detach)
        head = repo.head_commit()
        return {"branch": _short(full), "detached": full is None,
                "head": head.hex() if head else None}

    def reset(self, rev: Rev,
              mode: Annotated[Literal["soft", "hard"],
                              Field(description="soft: the undone entries stay listed in "
                                                "trace_status; hard: they leave the branch (the "
                                                "reflog keeps them).")] = "soft",
              agent: Agent = None) -> dict:
        """Move the current branch to `rev` (e.g. HEAD~2): roll the context back."""
        repo = self.view(agent)
        old = repo.reset(rev, mode)
        head = repo.head_commit()
        undone = len(repo.undone_entries()) if mode == "soft" else 0
        return {"head": head.hex() if head else None, "previous": old, "mode": mode,
                "undone": undone, "branch": _short(repo.head_branch())}

    def merge(self, branch: Annotated[str, Field(description="The branch or commit to merge "
                                                             "into the current branch; with "
                                                             "action continue/abort, "
                                                             "ignored.")] = "",
              strategy: Annotated[Literal["manual", "ours", "theirs", "union", "semantic"],
                                  Field(description="How conflicts are settled: manual stops "
                                                    "the merge and lists them (settle each "
                                                    "with trace_resolve, then action "
                                                    "continue; or abort); union keeps both "
                                                    "sides; semantic lets a driver settle "
                                                    "them.")] = "manual",
              action: Annotated[Literal["merge", "continue", "abort"],
                                Field(description="merge, or finish (continue) / forget "
                                                  "(abort) a merge stopped at "
                                                  "conflicts.")] = "merge",
              message: Annotated[str | None, Field(description="The merge commit's "
                                                               "message.")] = None,
              agent: Agent = None) -> dict:
        """Three-way merge of another branch's context into the current one (fast-forward
        when possible). status: up-to-date, fast-forward, merged, conflicts, empty."""
        repo = self.view(agent)
        if action == "abort":
            repo.merge_abort()
            return {"status": "aborted"}
        if action == "continue":
            return dict(repo.merge_continue(message).to_dict())
        if not branch:
            raise InputError("merge needs a branch or commit to merge")
        driver = None
        if strategy == "semantic":
            from ..merge.driver import make_driver
            driver = make_driver(repo.config, None, lambda: self.provider(
                repo, "a semantic merge with the llm driver"))
        return dict(repo.merge(branch, strategy=strategy, message=message, driver=driver)
                    .to_dict())

    def resolve(self, conflict: Annotated[int, Field(ge=1, description="The conflict's id (as "
                                                                       "trace_merge or "
                                                                       "trace_status list it).")],
                how: Annotated[Literal["ours", "theirs", "both", "base", "drop", "text"],
                               Field(description="Keep our version, theirs, both (ours "
                                                 "first), the merge base's, neither, or one "
                                                 "new message with `text`.")],
                text: Annotated[str | None, Field(description="how=text: the message that "
                                                               "replaces the conflict.")] = None,
                agent: Agent = None) -> dict:
        """Settle one conflict of a merge stopped at conflicts; when none is left, finish it
        with trace_merge action continue."""
        repo = self.view(agent)
        c = repo.resolve_conflict(conflict, how, text)
        st = repo.merge_state()
        return {"conflict": c.id, "kind": c.kind, "resolved": c.action,
                "open": [x.id for x in st.open_conflicts] if st else []}

    def compress(self,
                 range: Annotated[str | None, Field(
                     description="The commits whose entries are compressed: A..B, A.. or A "
                                 "(= A..HEAD), e.g. HEAD~10..HEAD~2.")] = None,
                 entries: Annotated[str | None, Field(
                     description="Instead of range: context entries I:J (slice rules).")] = None,
                 strategy: Annotated[Literal["mask", "extractive", "llm", "manual"],
                                     Field(description="mask: old tool outputs replaced by a "
                                                       "stub; extractive: sentences kept; llm: "
                                                       "a model writes the summary; manual: "
                                                       "your `summaries`.")] = "extractive",
                 granularity: Annotated[Literal["turn", "episode", "range"],
                                        Field(description="One summary per turn, per episode "
                                                          "or for the whole range.")] = "range",
                 summaries: Annotated[list[str] | None, Field(
                     description="manual: the summary texts, one per summary.")] = None,
                 keep_last: Annotated[int, Field(ge=0, description="mask: never mask the "
                                                                   "last K tool "
                                                                   "outputs.")] = 3,
                 ratio: Annotated[float, Field(gt=0, le=1, description="extractive/llm: "
                                                                       "target size as a "
                                                                       "fraction.")] = 0.2,
                 target_tokens: Annotated[int | None, Field(
                     ge=1, description="extractive/llm: target tokens per summary "
                                       "(instead of ratio).")] = None,
                 respect_pins: Annotated[bool, Field(description="Keep pinned entries verbatim "
                                                                 "in place.")] = False,
                 must_keep: Annotated[list[str] | None, Field(
                     description="Keep each text in the context (a summary appends it if "
                                 "need be); refuse when one cannot be kept.")] = None,
                 dry_run: Annotated[bool, Field(description="Compute everything, commit "
                                                            "nothing.")] = False,
                 message: Annotated[str | None, Field(description="The commit "
                                                                  "message.")] = None,
                 agent: Agent = None) -> dict:
        """Replace what a range of commits added to the context by summaries or masks, in one
        new commit whose provenance keeps the exact originals (docs/compress.md)."""
        from ..compress import compress as run_compress
        repo = self.view(agent)
        provider = self.provider(repo, "compress --strategy llm") if strategy == "llm" else None
        result = run_compress(repo, range, entries=entries, strategy=strategy,
                              granularity=granularity, summaries=list(summaries or ()),
                              keep_last=keep_last, ratio=ratio, target_tokens=target_tokens,
                              respect_pins=respect_pins, must_keep=list(must_keep or ()),
                              dry_run=dry_run, provider=provider, message=message)
        return dict(result.to_dict())

    def spawn(self, names: Annotated[list[str], Field(min_length=1, description="The "
                                                      "sub-agents to start, each in its own "
                                                      "namespace.")],
              task: Annotated[str | list[str] | None, Field(
                  description="The task, as a pinned user message: one for all, or one per "
                              "name.")] = None,
              context: Annotated[str, Field(description="What they start with: full, none, "
                                                        "summary, or 'entries I:J'.")] = "full",
              rev: Annotated[str | None, Field(description="Start from this commit (default "
                                                           "HEAD).")] = None,
              agent: Agent = None) -> dict:
        """Start sub-agents from the current context and record a spawn commit; then act in
        one by passing its name as `agent` to the other tools, and bring its result back with
        trace_collapse."""
        repo = self.view(agent)
        res = repo.spawn(list(names), rev=rev, context=context, task=task)
        return {"commit": res.commit.hex,
                "agents": [{"agent": a.agent_name, "root": r.hex, "tokens": r.total_tokens}
                           for a, r in zip(res.agents, res.roots, strict=True)]}

    def collapse(self, name: Annotated[str, Field(description="The sub-agent whose result "
                                                              "comes back.")],
                 result: Annotated[str | None, Field(
                     description="Your account of the sub-agent's work, carried after its "
                                 "final answer (strategy manual); without it an account is "
                                 "extracted from its messages.")] = None,
                 strategy: Annotated[Literal["final", "extractive", "llm", "manual"] | None,
                                     Field(description="final: its answer only; extractive / "
                                                       "llm: with an account of its work; "
                                                       "manual: `result` (the default when "
                                                       "given, else extractive).")] = None,
                 strict: Annotated[bool, Field(description="Refuse a sub-agent that has not "
                                                           "finished.")] = False,
                 agent: Agent = None) -> dict:
        """Bring sub-agent `name`'s result into the context as one collapse commit (its
        history stays, linked)."""
        repo = self.view(agent)
        strategy = strategy or ("manual" if result is not None else "extractive")
        provider = self.provider(repo, "collapse --strategy llm") if strategy == "llm" else None
        c = repo.collapse(name, strategy=strategy, text=result, strict=strict,
                          provider=provider)
        meta = c.meta or {}
        out = _commit_info(repo, c)
        out.update(collapsed=meta.get("agent"), tip=meta["tip"].hex(),
                   finished=meta.get("finished"), unfinished=meta.get("unfinished", []))
        return out

    def blame(self, rev: Rev = "HEAD",
              entry: Annotated[int | None, Field(ge=0, description="Only this entry "
                                                                   "(0-based).")] = None,
              grep: Annotated[str | None, Field(description="Only the entries whose text "
                                                            "contains this.")] = None,
              agent: Agent = None) -> dict:
        """Who introduced each entry of the context at `rev` (commit, agent, time) and every
        later change to it; the originals behind compress summaries and collapse results."""
        return {"entries": self.view(agent).blame(rev, entry=entry, grep=grep)}


def _error(message: str) -> CallToolResult:
    text = " ".join(message.split()) or "unknown error"
    if _MCP1:   # pragma: no cover  (1.x checks even an error's result against the output
        raise ToolError(text)   # schema: its own error, "Error executing tool NAME: " + text)
    return CallToolResult.model_validate({"content": [{"type": "text", "text": text}],
                                          "isError": True})


def _tool(tools: _Tools, body: Callable[..., dict]) -> Callable[..., CallToolResult]:
    """A function the SDK registers as the tool: `body`'s parameters (types, defaults and
    descriptions make the input schema), its docstring, and a JSON-object result."""
    import inspect

    sig = inspect.signature(body)

    def call(**kwargs: Any) -> CallToolResult:
        return tools.call(body, kwargs)

    call.__signature__ = sig.replace(return_annotation=_JSON)  # type: ignore[attr-defined]
    call.__name__ = f"trace_{body.__name__}"
    call.__doc__ = body.__doc__
    return call


def build_server(repo: Repository, *, provider: ProviderFactory | None = None,
                 name: str = "trace") -> Any:
    """An MCP server whose tools act on `repo` (its namespace, and sub-agents of it by the
    tools' `agent` argument). `provider(repo)`: the LLM provider for strategies that call a
    model (the CLI passes its own `make_provider`); None refuses them."""
    tools = _Tools(repo, provider)
    server = _Server(name, instructions=INSTRUCTIONS, log_level="WARNING")
    for tool_name in TOOLS:
        body = getattr(tools, tool_name.removeprefix("trace_"))
        server.add_tool(_tool(tools, body), name=tool_name)
    return server


def run(repo: Repository, *, transport: Literal["stdio", "http"] = "stdio", port: int = 8000,
        provider: ProviderFactory | None = None) -> None:
    """Serve `repo` until the client goes away (stdio) or the process is interrupted (http:
    streamable HTTP at http://127.0.0.1:PORT/mcp, never another interface)."""
    server = build_server(repo, provider=provider)
    if transport == "stdio":
        server.run()
    elif transport == "http":
        if _MCP1:   # pragma: no cover  (1.x reads the address from its settings)
            server.settings.host, server.settings.port = "127.0.0.1", port
            server.run("streamable-http")
        else:
            server.run("streamable-http", host="127.0.0.1", port=port)
    else:
        raise InputError(f"unknown transport {transport!r} (stdio or http)")
