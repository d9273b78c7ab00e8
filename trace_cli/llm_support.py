"""The CLI side of the provider layer: API keys come from the environment (trace_core never
reads it). Commands (llm, merge, compress) get their provider from `make_provider(repo)`, built
from `repo.config`, the effective settings: which provider, endpoint and key variable are used
comes from the user's own configuration and flags, or a repository the user trusts, and the key
variable never from a repository (docs/security.md)."""

from __future__ import annotations

import os


def api_key(settings) -> str | None:
    """The API key from the environment variable the settings name (llm.api-key-env, else
    OPENAI_API_KEY / ANTHROPIC_API_KEY by provider), or None; an empty variable counts as
    unset."""
    name = settings.api_key_env
    return (os.environ.get(name) or None) if name else None


def make_provider(repo):
    """The provider the effective settings of `repo` name, with its key from the environment."""
    from trace_core.llm import llm_settings, provider_from_config
    return provider_from_config(repo.config, api_key(llm_settings(repo.config)))


def cost_line(result) -> str:
    """`tokens: P prompt + C completion, cost $X` (or `cost unknown`)."""
    tokens = f"tokens: {result.prompt_tokens} prompt + {result.completion_tokens} completion"
    if not result.usage_reported:
        return f"{tokens}, cost unknown (the endpoint reported no usage)"
    if result.cost_usd is None:
        return f"{tokens}, cost unknown"
    return f"{tokens}, cost ${result.cost_usd:.6f}"
