"""The OpenAI chat-completions wire protocol: api.openai.com and the servers that copy it
(vLLM, Ollama's /v1, llama.cpp's server, LM Studio, ...).

POST {base_url}/chat/completions with `Authorization: Bearer <key>` (no header without a key,
for local servers). The system prompt goes first in `messages`.
"""

from __future__ import annotations

from .base import token_count
from .http import HTTPProvider

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


class OpenAICompatProvider(HTTPProvider):
    """OpenAICompatProvider(base_url, model, api_key=None, timeout=60.0, max_retries=2,
    prices=None, sleep=time.sleep, max_response_bytes=8 MiB, max_tokens=None).

    `max_tokens` None sends no limit (the server's default applies)."""

    name = "openai"
    default_base_url = DEFAULT_OPENAI_BASE_URL

    def _request(self, system: str | None, convo: list, max_tokens: int | None,
                 temperature: float) -> tuple:
        messages = ([{"role": "system", "content": system}] if system is not None else []) + convo
        body = {"model": self.model, "messages": messages, "temperature": temperature}
        if max_tokens is not None:
            body["max_tokens"] = max_tokens
        headers = {}
        key = self._key()
        if key:
            headers["Authorization"] = f"Bearer {key}"
        return f"{self.base_url}/chat/completions", body, headers

    def _parse(self, doc: dict) -> tuple:
        choices = doc.get("choices")
        if not isinstance(choices, list) or not choices:
            raise self._shape_error("no 'choices' list")
        first = choices[0]
        message = first.get("message") if isinstance(first, dict) else None
        if not isinstance(message, dict):
            raise self._shape_error("choices[0] has no 'message' object")
        text = message.get("content")
        if not isinstance(text, str):
            refusal = message.get("refusal")
            if isinstance(refusal, str) and refusal:
                raise self._shape_error(f"no content; the model refused: {refusal[:200]}")
            raise self._shape_error("choices[0].message has no 'content' string")
        finish = first.get("finish_reason")
        usage = doc.get("usage")
        p = token_count(usage, "prompt_tokens", self.name)
        c = token_count(usage, "completion_tokens", self.name)
        return (text, self._model_of(doc), finish if isinstance(finish, str) else None, p, c)
