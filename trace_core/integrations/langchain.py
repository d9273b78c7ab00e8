"""LangChain: a `BaseChatMessageHistory` whose messages are the context of a Trace namespace.

    from langchain_core.runnables.history import RunnableWithMessageHistory
    from trace_core import Repository
    from trace_core.integrations.langchain import TraceChatMessageHistory

    repo = Repository.discover()
    chain = RunnableWithMessageHistory(model, lambda sid: TraceChatMessageHistory(repo, sid))
    chain.invoke("hi", config={"configurable": {"session_id": "support-42"}})

Each session is a sub-agent namespace (`agents/<session_id>/`: own HEAD, branches and reflog,
shared objects); `branch=` keeps a session on one branch of it without moving its HEAD.
`messages` is the context at HEAD materialized as OpenAI chat messages and turned into
LangChain messages (System, Human, AI with its tool calls, Tool); `add_messages` commits the
messages, turned into the chat shape Trace stores, as one append (the API-reported
`usage_metadata` of the AI messages goes to the commit's `meta.usage`); `clear` commits the
empty context (a `drop` of every entry: the conversation stays in the branch's history, and
`repo.reset("HEAD~1", "hard")` brings it back).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import (
    AIMessage,
    BaseMessage,
    ChatMessage,
    HumanMessage,
    SystemMessage,
    ToolMessage,
    convert_to_openai_messages,
)

from ..errors import InputError
from ..repository import Repository

_DEVELOPER = "__openai_role__"      # how LangChain marks a developer message (a SystemMessage)


class TraceChatMessageHistory(BaseChatMessageHistory):
    """The chat history of one session, kept as the context of a Trace namespace.

    `session_id` names a sub-agent namespace (created when missing); with `session_id=None`
    the repository itself is used. `branch` fixes the history to that branch of the namespace
    (created at HEAD when missing) through a worktree view, so the namespace's HEAD does not
    move. `repo` is the view the history reads and writes."""

    def __init__(self, repo: Repository, session_id: str | None = None, *,
                 branch: str | None = None) -> None:
        super().__init__()
        ns = repo.agent(session_id, create=True) if session_id is not None else repo
        if branch is not None:
            ns = _branch_view(ns, branch)
        self.repo = ns
        self.session_id = session_id

    @property
    def messages(self) -> list[BaseMessage]:  # type: ignore[override]
        """The context at HEAD as LangChain messages (a new list each time)."""
        return [from_chat(m) for m in self.repo.materialize("openai")]

    def add_messages(self, messages: Sequence[BaseMessage]) -> None:
        """Commit `messages` as one append (nothing when empty)."""
        msgs = list(messages)
        if not msgs:
            return
        chat = [to_chat(m) for m in msgs]
        kinds = ", ".join(dict.fromkeys(m.type for m in msgs))
        self.repo.append_many(chat, usage=_usage(msgs),
                              commit_message=f"langchain: {len(chat)} message"
                              f"{'s' * (len(chat) != 1)} ({kinds})")

    def clear(self) -> None:
        """Commit the empty context (nothing when it is empty already)."""
        n = len(self.repo.entries_at(self.repo.head_commit()))
        if n:
            self.repo.drop(*range(n), force=True, commit_message="langchain: clear")


def _branch_view(ns: Repository, branch: str) -> Repository:
    from ..refs import check_ref_format
    full = f"refs/heads/{branch}" if isinstance(branch, str) else ""
    check_ref_format(full)
    if ns.refs.read(full) is None:
        if ns.head_commit() is None:
            # an empty namespace: its HEAD points at the unborn branch (nothing else is there)
            from ..plumbing.refs import set_symbolic_ref
            set_symbolic_ref(ns, "HEAD", full, message=f"langchain: history on {branch}")
            return ns
        ns.branch_create(branch)
    return ns.worktree(branch)


# -- conversions ---------------------------------------------------------------------------------


def to_chat(m: BaseMessage) -> dict:
    """A LangChain message as the OpenAI chat message Trace stores: role, content, name, an AI
    message's tool calls (and invalid ones, their arguments as given), a tool message's
    tool_call_id. InputError for a kind with no chat role or a tool call without an id."""
    if isinstance(m, SystemMessage):
        role = "developer" if m.additional_kwargs.get(_DEVELOPER) == "developer" else "system"
    elif isinstance(m, HumanMessage):
        role = "user"
    elif isinstance(m, AIMessage):
        role = "assistant"
    elif isinstance(m, ToolMessage):
        role = "tool"
    elif isinstance(m, ChatMessage) and m.role in ("system", "developer", "user", "assistant"):
        role = m.role
    else:
        raise InputError(f"langchain: a {type(m).__name__} has no chat role Trace can store")
    out: dict[str, Any] = {"role": role, "content": _content(m)}
    if m.name:
        out["name"] = m.name
    if isinstance(m, AIMessage):
        calls = [_call(c.get("id"), c.get("name"), json.dumps(c.get("args", {}),
                                                               ensure_ascii=False))
                 for c in m.tool_calls]
        calls += [_call(c.get("id"), c.get("name"), c.get("args") or "")
                  for c in m.invalid_tool_calls]
        if calls:
            out["tool_calls"] = calls
    if isinstance(m, ToolMessage):
        out["tool_call_id"] = m.tool_call_id
    return out


def _call(call_id: Any, name: Any, arguments: str) -> dict:
    if not isinstance(call_id, str) or not call_id:
        raise InputError(f"langchain: tool call {name!r:.40} has no id (a result could not be "
                         "paired with it)")
    if not isinstance(name, str) or not name:
        raise InputError(f"langchain: tool call {call_id!r:.40} has no name")
    return {"id": call_id, "type": "function",
            "function": {"name": name, "arguments": arguments}}


def _content(m: BaseMessage) -> Any:
    """Text stays text; a list of content blocks becomes OpenAI chat parts (LangChain's own
    conversion: standard blocks such as images by URL or base64 become `image_url` parts)."""
    if isinstance(m.content, str):
        return m.content
    converted = convert_to_openai_messages([m], text_format="block")
    if len(converted) != 1:
        raise InputError(f"langchain: a {type(m).__name__} holding tool_result blocks cannot be "
                         "stored as one message (send tool results as ToolMessage)")
    return converted[0].get("content", "")


def from_chat(d: dict) -> BaseMessage:
    """An OpenAI chat message (as `materialize("openai")` gives) as a LangChain message."""
    role = d.get("role")
    content = d.get("content")
    if content is None:
        content = ""
    kw: dict[str, Any] = {"name": d["name"]} if isinstance(d.get("name"), str) else {}
    if role == "system":
        return SystemMessage(content, **kw)
    if role == "developer":
        return SystemMessage(content, additional_kwargs={_DEVELOPER: "developer"}, **kw)
    if role == "user":
        return HumanMessage(content, **kw)
    if role == "tool":
        return ToolMessage(content, tool_call_id=d.get("tool_call_id", ""), **kw)
    if role == "assistant":
        calls, invalid = [], []
        for c in d.get("tool_calls") or ():
            fn = c.get("function") or {}
            raw = fn.get("arguments", "")
            try:
                args = json.loads(raw) if isinstance(raw, str) else raw
            except ValueError:
                args = None
            if isinstance(args, dict):
                calls.append({"name": fn.get("name", ""), "args": args, "id": c.get("id"),
                              "type": "tool_call"})
            else:
                invalid.append({"name": fn.get("name"), "args": raw, "id": c.get("id"),
                                "error": "arguments are not a JSON object",
                                "type": "invalid_tool_call"})
        return AIMessage(content, tool_calls=calls, invalid_tool_calls=invalid, **kw)
    raise InputError(f"langchain: a stored message with role {role!r:.40} has no LangChain "
                     "message kind")


def _usage(msgs: Sequence[BaseMessage]) -> dict | None:
    """The usage the AI messages report (`usage_metadata`, summed), with the provider and model
    of the last one that names them; None when none reports usage."""
    total: dict[str, Any] = {}
    for m in msgs:
        u = getattr(m, "usage_metadata", None)
        if not u:
            continue
        for key in ("input_tokens", "output_tokens"):
            if isinstance(u.get(key), int):
                total[key] = total.get(key, 0) + u[key]
        meta = m.response_metadata or {}
        for key, names in (("provider", ("model_provider",)), ("model", ("model_name", "model"))):
            value = next((meta[n] for n in names if isinstance(meta.get(n), str) and meta[n]),
                         None)
            if value:
                total[key] = value
    return total if ("input_tokens" in total or "output_tokens" in total) else None
