"""Providers from the effective settings: the llm.* and price.<model>.* keys.

Pass `repo.config`, the effective view (trace_core.settings), never a repository's raw file: in
it llm.provider and llm.base-url come from the user's configuration or a repository the user
trusts, and llm.api-key-env only from the user's configuration (docs/security.md). The API key
is an argument: trace_core never reads the environment (the CLI does, see
trace_cli/llm_support.py).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import ConfigError
from .anthropic import DEFAULT_ANTHROPIC_BASE_URL, AnthropicProvider
from .base import PriceTable, Provider
from .openai_compat import DEFAULT_OPENAI_BASE_URL, OpenAICompatProvider

if TYPE_CHECKING:
    from ..config import Config
    from ..settings import ConfigView

    Settings = Config | ConfigView

PROVIDERS = {"openai": OpenAICompatProvider, "anthropic": AnthropicProvider}
DEFAULT_BASE_URLS = {"openai": DEFAULT_OPENAI_BASE_URL, "anthropic": DEFAULT_ANTHROPIC_BASE_URL}
DEFAULT_KEY_ENV = {"openai": "OPENAI_API_KEY", "anthropic": "ANTHROPIC_API_KEY"}

OFFLINE_MESSAGE = ("llm.provider is 'offline': no LLM requests are made; use an offline "
                   "strategy instead (trace merge --strategy semantic --driver deterministic, "
                   "or a trace compress strategy other than llm), or set llm.provider to openai "
                   "or anthropic")


@dataclass(frozen=True)
class LLMSettings:
    """The effective llm.* settings (defaults applied; base_url None while provider is unset)."""

    provider: str | None
    model: str | None
    base_url: str | None
    timeout: float
    max_retries: int
    max_tokens: int
    api_key_env: str | None


def llm_settings(config: Settings) -> LLMSettings:
    """Read the llm.* keys of `config` (`repo.config`, or a Config you built); ConfigError on
    bad values.

    Does not require a provider or model: see provider_from_config for that."""
    provider = config.get_typed("llm.provider")
    base = config.get_typed("llm.base-url") or DEFAULT_BASE_URLS.get(provider)
    return LLMSettings(provider=provider, model=config.get_typed("llm.model"), base_url=base,
                       timeout=config.get_typed("llm.timeout"),
                       max_retries=config.get_typed("llm.max-retries"),
                       max_tokens=config.get_typed("llm.max-tokens"),
                       api_key_env=config.get_typed("llm.api-key-env")
                       or DEFAULT_KEY_ENV.get(provider))


def prices_from_config(config: Settings) -> PriceTable:
    """The price table of every [price "<model>"] section; both prompt and completion must be
    set for a model (ConfigError naming the missing key otherwise)."""
    table = {}
    for model in config.subsections("price"):
        p = config.get_typed(f"price.{model}.prompt")
        c = config.get_typed(f"price.{model}.completion")
        if p is None and c is None:
            continue
        for key, v in (("prompt", p), ("completion", c)):
            if v is None:
                raise ConfigError(f"price.{model}.{key} is unset but price.{model}."
                                  f"{'completion' if key == 'prompt' else 'prompt'} is set: "
                                  f"give both (USD per million tokens)")
        table[model] = (p, c)
    return PriceTable(table)


def provider_from_config(config: Settings, api_key: str | None, *,
                         sleep: Callable[[float], None] = time.sleep) -> Provider:
    """The provider named by llm.provider, for llm.model, with the config's timeouts, retries,
    token limit and prices. ConfigError when llm.provider or llm.model is unset, or when the
    provider is 'offline' (the caller should use one of its deterministic strategies)."""
    s = llm_settings(config)
    if s.provider is None:
        raise ConfigError("no LLM provider configured: set llm.provider (openai or anthropic) "
                          "and llm.model in your own config, e.g. `trace config --global "
                          "llm.provider openai` (a repository's config counts only once you "
                          "trust it: `trace trust`)")
    if s.provider == "offline":
        raise ConfigError(OFFLINE_MESSAGE)
    if s.model is None:
        raise ConfigError(f"llm.model is unset: set the model to ask {s.provider}, e.g. "
                          f"`trace config llm.model <name>`")
    cls = PROVIDERS.get(s.provider)
    if cls is None:
        raise ConfigError(f"llm.provider {s.provider!r} is not supported (openai, anthropic)")
    if s.provider == "anthropic" and api_key is None:   # (local OpenAI-compatible servers
        raise ConfigError(f"no Anthropic API key: set the {s.api_key_env} "  # need no key)
                          "environment variable (or name another one with llm.api-key-env)")
    return cls(s.base_url, s.model, api_key, timeout=s.timeout, max_retries=s.max_retries,
               prices=prices_from_config(config), sleep=sleep, max_tokens=s.max_tokens)
