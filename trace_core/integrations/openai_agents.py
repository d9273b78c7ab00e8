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
The session implements the SDK's `Session` protocol by duck typing, so this module needs the SDK
only for `view_filter` (which builds the SDK's `ModelInputData`).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from ..errors import InputError
from ..repository import Repository


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


class _ViewFilter:
    def __init__(self, view: list[dict], start: int) -> None:
        self.view = view
        self.start = start

    def __call__(self, data: Any) -> Any:
        from agents.run_config import ModelInputData
        current = list(data.model_data.input)
        return ModelInputData(input=copy.deepcopy(self.view) + current[self.start:],
                              instructions=data.model_data.instructions)
