"""Anthropic SDK: send the context at HEAD with `client.messages.create` and commit the reply.

    import anthropic
    from trace_core import Repository
    from trace_core.integrations.anthropic_sdk import send

    repo = Repository.discover()
    repo.system("You are terse."); repo.user("What is 2+2?")
    reply = send(repo, anthropic.Anthropic(), model="claude-sonnet-4-6", max_tokens=1024)

`send` materializes HEAD as `repo.materialize("anthropic")` (`{"system", "messages"}`: system
and developer messages hoisted, tool_use / tool_result blocks paired), calls the API, and
appends the reply as one Anthropic-shape assistant message (its content blocks as the API gave
them, tool_use blocks included) with the API-reported usage (`input_tokens`, `output_tokens`,
provider `anthropic`, the response's model) in the commit's `meta.usage`; the message id and
stop reason are kept as the labels `anthropic.id` and `anthropic.stop_reason`. `asend` is the
same for `anthropic.AsyncAnthropic`. An error of the SDK (HTTP status, connection, timeout) is
raised as the SDK raised it, and the repository is left as it was.

This module imports nothing from the SDK: the client is passed in.
"""

from __future__ import annotations

from typing import Any

from ..errors import InputError, TraceError
from ..repository import Repository

_TAKEN = ("messages", "stream")


def _request(repo: Repository, model: str, max_tokens: int, kwargs: dict) -> tuple[dict, Any]:
    """The keyword arguments of `messages.create` for the context at HEAD, and that HEAD."""
    taken = [k for k in _TAKEN if k in kwargs]
    if taken:
        raise InputError(f"send builds {taken[0]} itself (the messages are the context at "
                         "HEAD; streaming is not supported)")
    head = repo.head_commit()
    prompt = repo.materialize("anthropic")
    if not prompt["messages"]:
        raise InputError("nothing to send: the context at HEAD has no user or assistant "
                         "messages")
    params: dict[str, Any] = {"model": model, "max_tokens": max_tokens,
                              "messages": prompt["messages"]}
    if prompt.get("system"):
        if "system" in kwargs:
            raise InputError("the context has a system prompt; do not pass system= as well")
        params["system"] = prompt["system"]
    params.update(kwargs)
    return params, head


def _record(repo: Repository, response: Any, head: Any, commit_message: str | None) -> None:
    """Append the reply with its usage; warn when HEAD moved while the call ran."""
    blocks = [b.model_dump(mode="json", exclude_none=True) if hasattr(b, "model_dump")
              else dict(b) for b in response.content]
    message = {"role": getattr(response, "role", "assistant") or "assistant", "content": blocks}
    usage: dict[str, Any] = {"provider": "anthropic", "model": getattr(response, "model", None)}
    u = getattr(response, "usage", None)
    for key in ("input_tokens", "output_tokens"):
        value = getattr(u, key, None)
        if isinstance(value, int):
            usage[key] = value
    labels = {f"anthropic.{k}": v for k in ("id", "stop_reason")
              if isinstance(v := getattr(response, k, None), str) and v}
    if repo.head_commit() != head:
        repo.warn("anthropic: HEAD moved while the request ran; the reply is appended after "
                  "the newer commit")
    kinds = sorted({b.get("type", "?") for b in blocks}) or ["empty"]
    try:
        repo.append(message, meta=labels or None,
                    usage=usage if len(usage) > 2 else None,
                    commit_message=commit_message or f"anthropic: reply ({', '.join(kinds)})")
    except TraceError as exc:           # the reply was paid for: it still reaches the caller
        repo.warn(f"anthropic: reply {labels.get('anthropic.id', '')} not recorded: {exc}")


def send(repo: Repository, client: Any, *, model: str, max_tokens: int,
         commit_message: str | None = None, **kwargs: Any) -> Any:
    """Send the context at HEAD with `client.messages.create(model=, max_tokens=, system=,
    messages=, **kwargs)` (an `anthropic.Anthropic`), append the reply with its usage, and
    return the SDK's `Message`. `messages` and `stream` cannot be passed; `system` only when
    the context has no system prompt. SDK errors propagate; nothing is committed then. A reply
    the repository refuses (a strict budget, say) is still returned, with a warning."""
    params, head = _request(repo, model, max_tokens, kwargs)
    response = client.messages.create(**params)
    _record(repo, response, head, commit_message)
    return response


async def asend(repo: Repository, client: Any, *, model: str, max_tokens: int,
                commit_message: str | None = None, **kwargs: Any) -> Any:
    """`send` for an `anthropic.AsyncAnthropic` client (`await client.messages.create`)."""
    params, head = _request(repo, model, max_tokens, kwargs)
    response = await client.messages.create(**params)
    _record(repo, response, head, commit_message)
    return response
