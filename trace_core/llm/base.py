"""What every LLM provider shares: the result of one request, running usage, prices, the protocol.

A provider turns a list of chat messages into one `ChatResult`. Nothing here does I/O; the wire
protocols live in `openai_compat.py` and `anthropic.py`, the HTTP transport in `http.py`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..errors import ConfigError, InputError

ROLES = ("system", "user", "assistant")


@dataclass(frozen=True)
class ChatResult:
    """One completion: its text and what it cost.

    `model` is the model the endpoint says answered (falling back to the one requested).
    `cost_usd` is None when the price table has no entry for the model or the endpoint did not
    report usage. `usage_reported` is False when the response had no usable `usage` fields:
    the token counts are then 0. `latency_ms` covers the whole call, retries included."""

    text: str
    provider: str
    model: str
    prompt_tokens: int
    completion_tokens: int
    cost_usd: float | None
    finish_reason: str | None
    latency_ms: int
    usage_reported: bool = True

    def to_meta(self) -> dict:
        """{"provider", "model", "prompt_tokens", "completion_tokens", "cost_usd"}: plain JSON /
        msgpack values, fit to be stored next to what the completion produced."""
        return {"provider": self.provider, "model": self.model,
                "prompt_tokens": self.prompt_tokens, "completion_tokens": self.completion_tokens,
                "cost_usd": self.cost_usd}


class Usage:
    """A running total over several calls.

    `cost_usd` is the sum of the calls whose cost is known; `priced` is True while every call
    added had a known cost (so a total with `priced == False` is a lower bound)."""

    __slots__ = ("calls", "prompt_tokens", "completion_tokens", "cost_usd", "priced")

    def __init__(self) -> None:
        self.calls = 0
        self.prompt_tokens = 0
        self.completion_tokens = 0
        self.cost_usd = 0.0
        self.priced = True

    def add(self, r: ChatResult) -> None:
        self.calls += 1
        self.prompt_tokens += r.prompt_tokens
        self.completion_tokens += r.completion_tokens
        if r.cost_usd is None:
            self.priced = False
        else:
            self.cost_usd = round(self.cost_usd + r.cost_usd, 10)

    def to_meta(self) -> dict:
        """{"calls", "prompt_tokens", "completion_tokens", "cost_usd", "priced"}."""
        return {"calls": self.calls, "prompt_tokens": self.prompt_tokens,
                "completion_tokens": self.completion_tokens, "cost_usd": self.cost_usd,
                "priced": self.priced}

    def __repr__(self) -> str:
        return (f"Usage(calls={self.calls}, prompt_tokens={self.prompt_tokens}, "
                f"completion_tokens={self.completion_tokens}, cost_usd={self.cost_usd}, "
                f"priced={self.priced})")


@runtime_checkable
class Provider(Protocol):
    """Anything that answers chat messages: `complete` sends one request (with retries).

    messages: [{"role": "user" | "assistant", "content": str}, ...] (a "system" message is
    allowed too and is merged with `system`). `max_tokens` None means the provider's default."""

    name: str
    model: str

    def complete(self, messages: list, *, system: str | None = None,
                 max_tokens: int | None = None, temperature: float = 0.0) -> ChatResult:
        ...


class PriceTable:
    """USD per million prompt / completion tokens, per model name (exact match)."""

    __slots__ = ("_prices",)

    def __init__(self, prices: Mapping[str, tuple] | None = None) -> None:
        table = {}
        for model, pair in (prices or {}).items():
            if not isinstance(model, str) or not model:
                raise ConfigError("price table: model names must be non-empty strings, "
                                  f"got {model!r}")
            try:
                p, c = pair
            except (TypeError, ValueError):
                raise ConfigError(
                    f"price table: {model} needs (prompt, completion) prices") from None
            for what, v in (("prompt", p), ("completion", c)):
                if isinstance(v, bool) or not isinstance(v, (int, float)) or \
                        not math.isfinite(v) or v < 0:
                    raise ConfigError(f"price.{model}.{what} must be a non-negative number, "
                                      f"got {v!r}")
            table[model] = (float(p), float(c))
        self._prices = table

    def get(self, model: str) -> tuple | None:
        """(prompt, completion) USD per million tokens, or None."""
        return self._prices.get(model)

    def __contains__(self, model: object) -> bool:
        return model in self._prices

    def __len__(self) -> int:
        return len(self._prices)

    def models(self) -> list:
        return sorted(self._prices)

    def cost(self, model: str, prompt_tokens: int, completion_tokens: int) -> float | None:
        """The USD cost of a call, or None when `model` has no price."""
        pair = self._prices.get(model)
        if pair is None:
            return None
        return round((pair[0] * prompt_tokens + pair[1] * completion_tokens) / 1_000_000, 10)

    def __repr__(self) -> str:
        return f"PriceTable({self._prices!r})"


def check_messages(messages: object, system: object, max_tokens: object,
                   temperature: object) -> tuple:
    """Validate the arguments of `complete`; return (system text or None, conversation).

    "system" messages in the list are removed and joined (after `system`) with blank lines."""
    if not isinstance(messages, list) or not messages:
        raise InputError("messages must be a non-empty list of {'role', 'content'} objects")
    systems = []
    if system is not None:
        if not isinstance(system, str):
            raise InputError(f"system must be a string, got {type(system).__name__}")
        systems.append(system)
    convo = []
    for i, m in enumerate(messages):
        if not isinstance(m, dict):
            raise InputError(f"message {i} must be an object, got {type(m).__name__}")
        role, content = m.get("role"), m.get("content")
        if role not in ROLES:
            raise InputError(f"message {i}: role must be one of {', '.join(ROLES)}, got {role!r}")
        if not isinstance(content, str):
            raise InputError(f"message {i}: content must be a string, got {type(content).__name__}")
        if role == "system":
            systems.append(content)
        else:
            convo.append({"role": role, "content": content})
    if not convo:
        raise InputError("messages must contain at least one user or assistant message")
    if max_tokens is not None and (isinstance(max_tokens, bool) or not isinstance(max_tokens, int)
                                   or max_tokens < 1):
        raise InputError(f"max_tokens must be a positive integer, got {max_tokens!r}")
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or \
            not 0.0 <= temperature <= 2.0:
        raise InputError(f"temperature must be a number from 0 to 2, got {temperature!r}")
    return ("\n\n".join(systems) if systems else None), convo


def token_count(usage: object, field: str, what: str) -> int | None:
    """A usage field: a non-negative int, None when absent; ProviderResponseError otherwise."""
    from ..errors import ProviderResponseError

    if not isinstance(usage, dict):
        return None
    v = usage.get(field)
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise ProviderResponseError(f"{what} response: usage.{field} must be a non-negative "
                                    f"integer, got {v!r:.40}")
    return v
