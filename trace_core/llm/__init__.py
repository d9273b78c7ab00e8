"""LLM providers: one chat completion over HTTP, with retries, timeouts and cost accounting.

    ChatResult, Usage, Provider, PriceTable       base.py
    post_json, HTTPProvider                       http.py
    OpenAICompatProvider                          openai_compat.py (OpenAI, vLLM, Ollama, llama.cpp)
    AnthropicProvider                             anthropic.py
    provider_from_config, prices_from_config      factory.py

See docs/llm.md.
"""

from .anthropic import AnthropicProvider
from .base import ChatResult, PriceTable, Provider, Usage
from .factory import (
    DEFAULT_KEY_ENV,
    LLMSettings,
    llm_settings,
    prices_from_config,
    provider_from_config,
)
from .http import HTTPProvider, post_json
from .openai_compat import OpenAICompatProvider

__all__ = ["AnthropicProvider", "ChatResult", "DEFAULT_KEY_ENV", "HTTPProvider", "LLMSettings",
           "OpenAICompatProvider", "PriceTable", "Provider", "Usage", "llm_settings",
           "post_json", "prices_from_config", "provider_from_config"]
