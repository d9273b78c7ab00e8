"""LiteLLM: a callback that commits each successful completion's new messages and its reply.

    import litellm
    from trace_core import Repository
    from trace_core.integrations.litellm import TraceLogger

    logger = TraceLogger(Repository.discover())
    litellm.callbacks = [logger]
    litellm.completion(model="openai/gpt-4o-mini", messages=messages)

For each successful `completion` / `acompletion` call the logger commits, in one transaction
(one ref update), the input messages the context does not hold yet (one append) and the reply
(a second append, with the API-reported usage, provider and model in `meta.usage` and the call
id as the label `litellm.call_id`). What "does not hold yet" means: a chat loop re-sends the
whole conversation with each call; the context's last message (normally the previous reply)
is looked for in the input, and only what follows its last occurrence is new. An input that
does not contain it (a new conversation, a regenerated turn) is recorded whole; a call whose
input and reply are already in the context, in order (its callback ran after a later call's),
is not recorded again. Failed calls are not recorded: their input is recorded with the next
successful call that sends it. `metadata={"trace_agent": NAME}` on a call records it in the
sub-agent namespace NAME (created when missing).

LiteLLM runs success callbacks in the background (a thread pool for `completion`, its logging
worker on the event loop for `acompletion`): `logger.wait(n)` / `await logger.wait_async(n)`
blocks until n calls were handled. A call that cannot be recorded (a message Trace refuses)
is reported through `repo.warn` and leaves the repository unchanged; the LiteLLM call itself is
never affected. Trace reads no environment variable: LiteLLM's own settings (API keys, and
`LITELLM_LOCAL_MODEL_COST_MAP=True` to keep it from fetching its price list at import) are
yours to set.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections import OrderedDict
from typing import Any

from litellm.integrations.custom_logger import CustomLogger

from ..errors import TraceError
from ..repository import Repository

AGENT_KEY = "trace_agent"           # the metadata key that routes a call to a namespace
_CALLS = ("completion", "acompletion")
_REMEMBERED = 4096                  # call ids kept to handle each call once


class TraceLogger(CustomLogger):
    """A LiteLLM callback recording completions in `repo` (see the module docstring)."""

    def __init__(self, repo: Repository) -> None:
        super().__init__()
        self.repo = repo
        self.handled = 0                # calls handled: recorded, found recorded, or refused
        self._cond = threading.Condition()
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._views: dict[str, Repository] = {}

    # -- LiteLLM's hooks ----------------------------------------------------------------------
    def log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                          end_time: Any) -> None:
        self._handle(kwargs, response_obj)

    async def async_log_success_event(self, kwargs: Any, response_obj: Any, start_time: Any,
                                      end_time: Any) -> None:
        self._handle(kwargs, response_obj)

    # -- waiting for the background hooks -----------------------------------------------------
    def wait(self, calls: int, timeout: float = 10.0) -> bool:
        """Block until `calls` calls were handled in all; False if `timeout` seconds passed."""
        with self._cond:
            return self._cond.wait_for(lambda: self.handled >= calls, timeout)

    async def wait_async(self, calls: int, timeout: float = 10.0) -> bool:
        """`wait` for a coroutine: yields to the event loop (where LiteLLM's worker runs the
        async hooks) until `calls` calls were handled; False after `timeout` seconds."""
        end = time.monotonic() + timeout
        while self.handled < calls:
            if time.monotonic() >= end:
                return False
            await asyncio.sleep(0.005)
        return True

    # -- recording ----------------------------------------------------------------------------
    def _handle(self, kwargs: Any, response: Any) -> None:
        if not isinstance(kwargs, dict) or kwargs.get("call_type") not in _CALLS:
            return
        call_id = str(kwargs.get("litellm_call_id") or id(response))
        with self._cond:
            if call_id in self._seen:
                return
            self._seen[call_id] = None
            if len(self._seen) > _REMEMBERED:
                self._seen.popitem(last=False)
            repo = self.repo
            try:
                repo = self._target(kwargs)
                self._record(repo, kwargs, response, call_id)
            except TraceError as e:
                repo.warn(f"litellm: call {call_id} not recorded: {e}")
            finally:
                self.handled += 1
                self._cond.notify_all()

    def _target(self, kwargs: dict) -> Repository:
        meta = (kwargs.get("litellm_params") or {}).get("metadata") or {}
        name = meta.get(AGENT_KEY) if isinstance(meta, dict) else None
        if name is None:
            return self.repo
        if name not in self._views:
            self._views[name] = self.repo.agent(name, create=True)
        return self._views[name]

    def _record(self, repo: Repository, kwargs: dict, response: Any, call_id: str) -> None:
        choices = getattr(response, "choices", None)
        if not choices or getattr(choices[0], "message", None) is None:
            return                      # not a chat completion (nothing to record)
        reply = _chat(choices[0].message)
        inputs = [_message(m) for m in kwargs.get("messages") or ()]
        new = new_inputs(repo.messages(), inputs, reply)
        if new is None:
            return
        model = getattr(response, "model", None) or kwargs.get("model")
        usage: dict[str, Any] = {"provider": kwargs.get("custom_llm_provider"),
                                 "model": model if isinstance(model, str) else None}
        u = getattr(response, "usage", None)
        for key in ("prompt_tokens", "completion_tokens"):
            if isinstance(getattr(u, key, None), int):
                usage[key] = getattr(u, key)
        cost = kwargs.get("response_cost")
        if isinstance(cost, int | float) and not isinstance(cost, bool) and cost >= 0:
            usage["cost_usd"] = cost
        has_counts = "prompt_tokens" in usage or "completion_tokens" in usage
        with repo.transaction():
            if new:
                roles = ", ".join(dict.fromkeys(str(m.get("role") or m.get("type"))
                                                for m in new))
                repo.append_many(new, commit_message=f"litellm: {len(new)} input message"
                                 f"{'s' * (len(new) != 1)} ({roles})")
            repo.append(reply, usage=usage if has_counts else None,
                        meta={"litellm.call_id": call_id[:4096]},
                        commit_message=f"litellm: reply from {usage['model'] or 'the model'}")


# -- messages ------------------------------------------------------------------------------------


def _jsonable(v: Any) -> Any:
    dump = getattr(v, "model_dump", None)
    if callable(dump):
        return _jsonable(dump(exclude_none=True))
    if isinstance(v, dict):
        return {str(k): _jsonable(x) for k, x in v.items()}
    if isinstance(v, list | tuple):
        return [_jsonable(x) for x in v]
    return v


def _chat(message: Any) -> dict:
    """A reply (LiteLLM's `Message`) as a chat message: role, content, tool calls."""
    m = _jsonable(message)
    out: dict[str, Any] = {"role": m.get("role") or "assistant", "content": m.get("content")}
    calls = [{"id": c.get("id"), "type": c.get("type") or "function",
              "function": {"name": (c.get("function") or {}).get("name"),
                           "arguments": (c.get("function") or {}).get("arguments") or ""}}
             for c in m.get("tool_calls") or ()]
    if calls:
        out["tool_calls"] = calls
    return out


def _message(m: Any) -> Any:
    """An input message as stored: a dict as given (nested objects made plain), a LiteLLM
    `Message` (a reply sent back) as `_chat` makes it."""
    if isinstance(m, dict):
        return _jsonable(m)
    return _chat(m) if hasattr(m, "role") else m


def _key(m: Any) -> str:
    """What makes two chat messages the same message, whatever object carried them: role,
    content (no content and empty text alike), name, tool calls, tool_call_id."""
    if not isinstance(m, dict):
        return json.dumps(m, sort_keys=True, default=str)
    calls = [[c.get("id"), (c.get("function") or {}).get("name"),
              (c.get("function") or {}).get("arguments")]
             for c in m.get("tool_calls") or () if isinstance(c, dict)]
    return json.dumps([m.get("role"), m.get("content") or "", m.get("name"), calls,
                       m.get("tool_call_id")], sort_keys=True, default=str)


def new_inputs(context: list, inputs: list, reply: dict) -> list | None:
    """The input messages of a call that `context` does not hold: those after the last
    occurrence of the context's last message; all of them when it does not occur; None when
    the input and the reply are in the context already, in order (the call is recorded)."""
    if not context:
        return inputs
    last = _key(context[-1])
    keys = [_key(m) for m in inputs]
    for i in range(len(keys) - 1, -1, -1):
        if keys[i] == last:
            return inputs[i + 1:]
    run = [*keys, _key(reply)]
    ctx = [_key(m) for m in context]
    if any(ctx[j:j + len(run)] == run for j in range(len(ctx) - len(run) + 1)):
        return None
    return inputs
