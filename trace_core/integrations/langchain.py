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

from collections.abc import Sequence
from typing import Any

from langchain_core.chat_history import BaseChatMessageHistory
from langchain_core.messages import BaseMessage

from ..errors import OperationError
from ..repository import Repository
from .lc_messages import from_chat, to_chat


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
    if ns.refs.read(full) is None and ns.head_commit() is not None:
        try:                            # a new branch starts from the namespace's HEAD
            ns.branch_create(branch)
        except OperationError:          # (another process made it meanwhile)
            if ns.refs.read(full) is None:
                raise
    return ns.worktree(branch, must_exist=False)   # (never moves the shared HEAD)


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
