"""OpenAI Agents SDK: a `Session` whose conversation is a Trace branch, and a model-input view.

    from agents import Agent, Runner, RunConfig
    from trace_core import Repository
    from trace_core.integrations.openai_agents import TraceSession

    repo = Repository.discover()
    session = TraceSession(repo, "support-42")         # sub-agent namespace agents/support-42
    await Runner.run(agent, "hi", session=session)      # every add_items is one commit
    session.repo.reset("HEAD~2", "hard")                 # roll a wrong turn back; the next run
                                                         # continues from the clean context
    cfg = RunConfig(call_model_input_filter=session.view_filter("HEAD~4"))

Items are stored exactly as the SDK gives them (Responses-API input dicts, validated on commit)
and returned unchanged; `repo.materialize(fmt)` turns them into any prompt format (openai,
openai-responses, anthropic, text, json; docs/materialization.md).
Sub-agents (agents-as-tools mapped to spawn and collapse; docs/multiagent.md):

    tool = session.spawn_tool(researcher, "research", "Research one question")
    head = Agent(name="head", tools=[tool], ...)
    await Runner.run(head, question, session=session, hooks=session.spawn_hooks())

Each call of the tool runs `researcher` (the SDK's own `Agent.as_tool`) in a sub-agent namespace
spawned for that call; its result comes back as the collapse commit that answers the call.

The session implements the SDK's `Session` protocol by duck typing, so this module needs the SDK
only for `view_filter`, `spawn_tool` and `spawn_hooks`.
"""

from __future__ import annotations

import contextlib
import copy
import json
from collections.abc import Callable
from typing import Any

from ..errors import InputError, OperationError
from ..repository import Repository

SPAWN_STRATEGIES = ("final", "extractive", "llm")


def _plain(item: Any) -> dict:
    """A session item as a plain dict (the SDK passes TypedDicts; tolerate pydantic models)."""
    if isinstance(item, dict):
        return item
    dump = getattr(item, "model_dump", None)
    if callable(dump):
        return dump(exclude_unset=True)
    raise InputError(f"a session item must be a dict, not {type(item).__name__}")


class TraceSession:
    """An Agents SDK session backed by the current branch of a Trace namespace.

    `session_id` names a sub-agent namespace (`agents/<session_id>/`: own HEAD, branches and
    reflog, shared objects); with `session_id=None` the repository's own HEAD is used. If
    `branch` is given, the namespace's HEAD is switched to it (created at the current tip when
    missing). add_items commits the items as one append; get_items materializes HEAD;
    pop_item drops the last entry (history keeps it); clear_session commits an empty context.
    """

    session_settings = None

    def __init__(self, repo: Repository, session_id: str | None = None,
                 branch: str | None = None) -> None:
        self.repo = repo.agent(session_id, create=True) if session_id is not None else repo
        self.session_id = session_id if session_id is not None else (repo.head_branch() or "HEAD")
        self._sub: _SubAgents | None = None
        if branch is not None:
            self._switch(branch)

    def _switch(self, branch: str) -> None:
        from ..plumbing.refs import create_ref, set_symbolic_ref
        from ..refs import check_ref_format
        full = f"refs/heads/{branch}"
        check_ref_format(full)
        if self.repo.refs.read(full) is None:
            head = self.repo.head_commit()
            if head is not None:
                create_ref(self.repo, full, head.hex(), message="branch: created for session")
        set_symbolic_ref(self.repo, "HEAD", full, message=f"session: switch to {branch}")

    # -- the Session protocol -------------------------------------------------------------------
    async def get_items(self, limit: int | None = None) -> list[dict]:
        items = self.repo.messages()
        if limit is not None:
            items = items[-limit:] if limit > 0 else []
        return copy.deepcopy(items)

    async def add_items(self, items: list[Any]) -> None:
        msgs = [_plain(i) for i in items]
        if self._sub is not None:
            msgs = self._sub.unseen(msgs)   # (what spawn and collapse wrote already)
        self._append(msgs)
        if self._sub is not None:
            self._sub.answered(msgs)

    def _append(self, msgs: list[dict]) -> None:
        if msgs:
            label = msgs[0].get("type") or msgs[0].get("role") or "item"
            more = ", ..." if len(msgs) > 1 else ""
            self.repo.append_many(msgs, commit_message=f"agents-sdk: {len(msgs)} item"
                                  f"{'s' * (len(msgs) != 1)} ({label}{more})")

    async def pop_item(self) -> dict | None:
        msgs = self.repo.messages()
        if not msgs:
            return None
        self.repo.drop(len(msgs) - 1, force=True, commit_message="agents-sdk: pop_item")
        return msgs[-1]

    async def clear_session(self) -> None:
        n = len(self.repo.entries_at(self.repo.head_commit()))
        if n:
            self.repo.drop(*range(n), force=True, commit_message="agents-sdk: clear_session")

    # -- views ------------------------------------------------------------------------------------
    def view_filter(self, rev: str) -> Callable:
        """A `RunConfig.call_model_input_filter` that serves the context at `rev` (a checked-out
        commit, a compressed or reordered branch) in place of the stored history, followed by
        whatever the run added after this filter was made. What is stored is not touched."""
        view = self.repo.messages(rev)
        start = len(self.repo.messages())
        return _ViewFilter(view, start)


    # -- sub-agents: agents-as-tools mapped to spawn and collapse ---------------------------------
    def spawn_tool(self, agent: Any, tool_name: str | None = None,
                   tool_description: str | None = None, *, strategy: str = "extractive",
                   provider: Any = None, **as_tool_kwargs: Any) -> Any:
        """`agent.as_tool(tool_name, tool_description, **as_tool_kwargs)` whose every call runs
        in a sub-agent of this session's namespace: the call spawns a child (`context="none"`,
        the call's input as its task, named after the tool: `research`, `research-2`, ...), the
        nested run is recorded in the child's namespace, and its result comes back as the
        `collapse` commit (strategy `final`, `extractive` or `llm` with `provider`) that answers
        the call here; that commit's text is what the calling model receives.

        Run the calling agent with this session and `hooks=self.spawn_hooks()`, so that the
        model's response is recorded before its calls run and the calls of one response spawn
        their children together, from one commit (without the hooks each call spawns alone).
        A nested run that fails leaves its child abandoned. `session`,
        `custom_output_extractor` and `input_builder` are set here and cannot be passed."""
        taken = {"session", "custom_output_extractor", "input_builder"} & set(as_tool_kwargs)
        if taken:
            raise InputError(f"spawn_tool sets {', '.join(sorted(taken))} itself")
        if strategy not in SPAWN_STRATEGIES:
            raise InputError(f"unknown collapse strategy {strategy!r} "
                             f"({', '.join(SPAWN_STRATEGIES)})")
        if strategy == "llm" and provider is None:
            raise InputError("the llm strategy needs a provider")
        sub = self._subagents()
        tool = agent.as_tool(tool_name, tool_description, session=_ChildSessions(sub),
                             custom_output_extractor=sub.collapse, input_builder=_no_input,
                             **as_tool_kwargs)
        sub.tools[tool.name] = (strategy, provider)
        return tool

    def spawn_hooks(self) -> Any:
        """`RunHooks` for the calling agent's run (see `spawn_tool`)."""
        from agents.lifecycle import RunHooks
        sub = self._subagents()

        class SpawnHooks(RunHooks):
            async def on_llm_end(self, context: Any, agent: Any, response: Any) -> None:
                sub.prepare(response)
        return SpawnHooks()

    def _subagents(self) -> _SubAgents:
        if self._sub is None:
            self._sub = _SubAgents(self)
        return self._sub


def _no_input(options: Any) -> list:
    """as_tool's nested input: nothing, the task is in the child's context already (the pinned
    message of its root commit)."""
    return []


def _key(item: dict) -> str:
    """What identifies a session item written ahead of the SDK: a call or a call's output by
    its type and call id, anything else by its content (its id aside: the SDK may drop it)."""
    call = item.get("call_id")
    if isinstance(call, str) and isinstance(item.get("type"), str):
        return f"{item['type']}\0{call}"
    return json.dumps({k: v for k, v in item.items() if k != "id"}, sort_keys=True, default=str)


def _task(arguments: Any) -> str:
    """The task of a spawned child: the call's `input` argument, or its arguments as given."""
    try:
        args = json.loads(arguments)
    except (TypeError, ValueError):
        args = None
    if isinstance(args, dict) and set(args) == {"input"} and isinstance(args["input"], str) \
            and args["input"].strip():
        return args["input"]
    text = arguments if isinstance(arguments, str) else json.dumps(arguments, default=str)
    return text if text.strip() else "(no input)"


class _SubAgents:
    """One session's sub-agent book: which tools spawn, which call runs in which child, and
    the items written ahead of the SDK (the model response before its calls ran, each
    collapse), which `add_items` then skips."""

    def __init__(self, session: TraceSession) -> None:
        self.session = session
        self.tools: dict[str, tuple[str, Any]] = {}   # tool name -> (strategy, provider)
        self.children: dict[str, str] = {}            # call id -> child agent name
        self.sessions: dict[str, TraceSession] = {}   # call id -> the child's session
        self.collapsed: set[str] = set()              # call ids a collapse answered
        self.ahead: list[str] = []                    # keys of items written ahead

    def prepare(self, response: Any) -> None:
        """The model answered: if it calls spawn tools, record its response, then spawn one
        child per call, together."""
        calls = [o for o in getattr(response, "output", ())
                 if getattr(o, "type", None) == "function_call"
                 and getattr(o, "name", None) in self.tools
                 and getattr(o, "call_id", None) not in self.children]
        if calls:
            self._write_ahead(response.to_input_items())
            self._spawn(calls)

    def _write_ahead(self, items: list[Any]) -> None:
        msgs = [_plain(i) for i in items]
        self.session._append(msgs)
        self.ahead += [_key(m) for m in msgs]

    def _spawn(self, calls: list[Any]) -> None:
        repo = self.session.repo
        taken = set(repo.agents())
        names = []
        for c in calls:
            name, n = c.name, 1
            while name in taken:
                n += 1
                name = f"{c.name}-{n}"
            taken.add(name)
            names.append(name)
        what = ", ".join(f"{n} ({c.call_id})" for n, c in zip(names, calls, strict=True))
        from ..agents.spawn import spawn  # (Repository.spawn is this function)
        spawn(repo, names, context="none", task=[_task(c.arguments) for c in calls],
              call=calls[0].call_id if len(calls) == 1 else None, commit_message=f"spawn {what}")
        for n, c in zip(names, calls, strict=True):
            self.children[c.call_id] = n

    def child(self, wrapper: Any) -> TraceSession:
        """The session of the child that runs the tool call `wrapper` (the SDK's ToolContext)
        names; a call the hooks did not see spawns its child now."""
        call = getattr(wrapper, "tool_call_id", None)
        if not isinstance(call, str):
            raise InputError("a spawn tool runs only as a tool call (an Agents SDK ToolContext)")
        if call not in self.children:
            made = getattr(wrapper, "tool_call", None)
            if made is None:
                raise InputError(f"tool call {call!r}: the SDK did not pass the call")
            self._write_ahead([made])
            self._spawn([made])
        if call not in self.sessions:
            self.sessions[call] = TraceSession(self.session.repo, self.children[call])
        return self.sessions[call]

    async def collapse(self, result: Any) -> str:
        """as_tool's output extractor: collapse the child into this session's context,
        answering its call; the text of that answer is the tool's output."""
        inv = getattr(result, "agent_tool_invocation", None)
        call = getattr(inv, "tool_call_id", None)
        if call not in self.children:
            raise OperationError(f"tool call {call!r} has no sub-agent in this session")
        strategy, provider = self.tools.get(getattr(inv, "tool_name", ""), ("extractive", None))
        from ..agents.collapse import collapse
        commit = collapse(self.session.repo, self.children[call], strategy=strategy,
                          provider=provider, call=call)
        self.collapsed.add(call)
        msg = self.session.repo.get_blob(commit.blobs[0]).message
        self.ahead.append(_key(msg))
        out = msg.get("output")
        return out if isinstance(out, str) else json.dumps(out, default=str)

    def unseen(self, msgs: list[dict]) -> list[dict]:
        """The items of an add_items not written ahead."""
        out = []
        for m in msgs:
            k = _key(m)
            if k in self.ahead:
                self.ahead.remove(k)
            else:
                out.append(m)
        return out

    def answered(self, msgs: list[dict]) -> None:
        """A child's call answered by something else than its collapse (the nested run failed
        and the SDK sent the model an error): the child is abandoned."""
        for m in msgs:
            call = m.get("call_id")
            if m.get("type") == "function_call_output" and call in self.children \
                    and call not in self.collapsed:
                self.collapsed.add(call)
                with contextlib.suppress(OperationError):   # (abandoned already)
                    self.session.repo.abandon(self.children[call])


class _ChildSessions:
    """The `session` of a spawn tool's nested runs: each call's run goes to its own child's
    TraceSession (the SDK passes the run's ToolContext as `wrapper`)."""

    session_settings = None

    def __init__(self, sub: _SubAgents) -> None:
        self.sub = sub
        self.session_id = f"{sub.session.session_id}:sub-agents"

    async def get_items(self, limit: int | None = None, wrapper: Any = None) -> list[dict]:
        return await self.sub.child(wrapper).get_items(limit)

    async def add_items(self, items: list[Any], wrapper: Any = None) -> None:
        await self.sub.child(wrapper).add_items(items)

    async def pop_item(self, wrapper: Any = None) -> dict | None:
        return await self.sub.child(wrapper).pop_item()

    async def clear_session(self, wrapper: Any = None) -> None:
        await self.sub.child(wrapper).clear_session()


class _ViewFilter:
    def __init__(self, view: list[dict], start: int) -> None:
        self.view = view
        self.start = start

    def __call__(self, data: Any) -> Any:
        from agents.run_config import ModelInputData
        current = list(data.model_data.input)
        return ModelInputData(input=copy.deepcopy(self.view) + current[self.start:],
                              instructions=data.model_data.instructions)
