"""The Anthropic Messages wire protocol.

POST {base_url}/v1/messages with `x-api-key` and `anthropic-version: 2023-06-01`. The system
prompt (and any "system" message) is hoisted to the top-level `system` field; `max_tokens` is
required by the API, so the provider always sends one (default 1024). A base URL that already
ends in /v1 is accepted as well.
"""

from __future__ import annotations

from typing import Any

from ..config import default
from .base import token_count
from .http import HTTPProvider

DEFAULT_ANTHROPIC_BASE_URL = "https://api.anthropic.com"
ANTHROPIC_VERSION = "2023-06-01"
DEFAULT_MAX_TOKENS: int = default("llm.max-tokens")    # the config schema owns the default


class AnthropicProvider(HTTPProvider):
    """AnthropicProvider(base_url, model, api_key=None, timeout=60.0, max_retries=2,
    prices=None, sleep=time.sleep, max_response_bytes=8 MiB, max_tokens=1024)."""

    name = "anthropic"
    default_base_url = DEFAULT_ANTHROPIC_BASE_URL

    def __init__(self, base_url: str | None, model: str, api_key: str | None = None,
                 *args: Any, max_tokens: int | None = DEFAULT_MAX_TOKENS, **kwargs: Any) -> None:
        kwargs["max_tokens"] = DEFAULT_MAX_TOKENS if max_tokens is None else max_tokens
        super().__init__(base_url, model, api_key, *args, **kwargs)

    def _request(self, system: str | None, convo: list, max_tokens: int | None,
                 temperature: float) -> tuple:
        body = {"model": self.model, "max_tokens": max_tokens or DEFAULT_MAX_TOKENS,
                "messages": convo, "temperature": min(temperature, 1.0)}
        if system is not None:
            body["system"] = system
        headers = {"anthropic-version": ANTHROPIC_VERSION}
        key = self._key()
        if key:
            headers["x-api-key"] = key
        base = self.base_url
        url = f"{base}/messages" if base.endswith("/v1") else f"{base}/v1/messages"
        return url, body, headers

    def _parse(self, doc: dict) -> tuple:
        content = doc.get("content")
        if not isinstance(content, list):
            raise self._shape_error("no 'content' list")
        parts = []
        for i, block in enumerate(content):
            if not isinstance(block, dict):
                raise self._shape_error(f"content[{i}] is not an object")
            if block.get("type") == "text":
                if not isinstance(block.get("text"), str):
                    raise self._shape_error(f"content[{i}] has no 'text' string")
                parts.append(block["text"])
        usage = doc.get("usage")
        p = token_count(usage, "input_tokens", self.name)
        c = token_count(usage, "output_tokens", self.name)
        if p is not None:   # cached prompt tokens are billed separately but are prompt tokens
            for extra in ("cache_creation_input_tokens", "cache_read_input_tokens"):
                p += token_count(usage, extra, self.name) or 0
        finish = doc.get("stop_reason")
        return ("".join(parts), self._model_of(doc), finish if isinstance(finish, str) else None,
                p, c)
