"""The CLI side of the provider layer: API keys come from the environment (trace_core never
reads it), and the bodies of `trace llm complete` / `trace llm config`.

Other commands (merge, compress) get their provider from `make_provider(repo)`.
"""

from __future__ import annotations

import os
import sys
from typing import Optional

from .util import decode_utf8, echo, emit_json, fail, open_repo, read_input


def api_key(settings) -> Optional[str]:
    """The API key from the environment variable the settings name (llm.api-key-env, else
    OPENAI_API_KEY / ANTHROPIC_API_KEY by provider), or None; an empty variable counts as
    unset."""
    name = settings.api_key_env
    return (os.environ.get(name) or None) if name else None


def make_provider(repo):
    """The provider configured in `repo`, with its key from the environment."""
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


def complete(obj, prompt: str, system: Optional[str], max_tokens: Optional[int],
             as_json: bool) -> None:
    """`trace llm complete`: one request; the text on stdout, the usage on stderr."""
    if prompt == "-":
        prompt = decode_utf8(read_input(None, True), "standard input")
    if not prompt.strip():
        fail("the prompt is empty", 2)
    with open_repo(obj) as repo:
        provider = make_provider(repo)
    result = provider.complete([{"role": "user", "content": prompt}], system=system,
                               max_tokens=max_tokens)
    if as_json:
        emit_json({**result.to_meta(), "finish_reason": result.finish_reason,
                   "usage_reported": result.usage_reported, "latency_ms": result.latency_ms,
                   "text": result.text})
        return
    sys.stdout.write(result.text if result.text.endswith("\n") else result.text + "\n")
    sys.stdout.flush()
    echo(cost_line(result), err=True)


def show_config(obj, as_json: bool) -> None:
    """`trace llm config`: the effective settings and where the key comes from (never the key)."""
    from trace_core.llm import llm_settings, prices_from_config

    with open_repo(obj) as repo:
        s = llm_settings(repo.config)
        prices = prices_from_config(repo.config)
    key_set = api_key(s) is not None
    info = {"provider": s.provider, "model": s.model, "base_url": s.base_url,
            "timeout": s.timeout, "max_retries": s.max_retries, "max_tokens": s.max_tokens,
            "api_key_env": s.api_key_env, "api_key_set": key_set,
            "prices": {m: {"prompt": prices.get(m)[0], "completion": prices.get(m)[1]}
                       for m in prices.models()}}
    if as_json:
        emit_json(info)
        return
    unset = "(unset)"
    echo(f"provider:    {s.provider or unset}")
    echo(f"model:       {s.model or unset}")
    echo(f"base-url:    {s.base_url or unset}")
    echo(f"timeout:     {s.timeout:g} s")
    echo(f"max-retries: {s.max_retries}")
    echo(f"max-tokens:  {s.max_tokens}")
    if s.api_key_env:
        echo(f"api key:     ${s.api_key_env} ({'set' if key_set else 'not set'})")
    else:
        echo("api key:     (none: no online provider configured)")
    for m in prices.models():
        p, c = prices.get(m)
        echo(f"price:       {m}: ${p:g} prompt, ${c:g} completion per million tokens")
