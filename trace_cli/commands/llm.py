"""`trace llm`: talk to the configured provider (see docs/llm.md)."""

from __future__ import annotations

import sys

from ..declare import JSON, Group, IntRange, argument, command, option
from ..llm_support import api_key, cost_line, make_provider
from ..util import decode_utf8, echo, emit_json, fail, open_repo, read_input


@command("complete",
         option("--system", metavar="TEXT", help="System prompt."),
         option("--max-tokens", type=IntRange(min=1),
                help="Completion token limit (default: llm.max-tokens)."),
         JSON,
         argument("prompt", required=True))
def complete(obj, system: str | None = None, max_tokens: int | None = None,
             as_json: bool = False, prompt: str = "") -> None:
    """Send PROMPT ('-' for stdin) as one user message; print the answer (usage on stderr)."""
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


@command("config", JSON)
def show_config(obj, as_json: bool = False) -> None:
    """The effective provider settings (your config, -c flags, a trusted repository's config)
    and which environment variable holds the key."""
    from trace_core.llm import llm_settings, prices_from_config

    with open_repo(obj) as repo:
        s = llm_settings(repo.config)
        prices = prices_from_config(repo.config)
        trusted = repo.trusted
    key_set = api_key(s) is not None
    info = {"provider": s.provider, "model": s.model, "base_url": s.base_url,
            "timeout": s.timeout, "max_retries": s.max_retries, "max_tokens": s.max_tokens,
            "api_key_env": s.api_key_env, "api_key_set": key_set, "trusted": trusted,
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
    echo("repository:  " + ("trusted (its config may set llm.provider and llm.base-url)" if trusted
                            else "not trusted (its llm.provider and llm.base-url are ignored)"))


llm = Group("llm", """The LLM provider used by semantic merges and `compress --strategy llm`
    (see docs/llm.md).

    The API key is read from the environment variable named by llm.api-key-env (set only in
    your own config or with -c), else OPENAI_API_KEY or ANTHROPIC_API_KEY. llm.provider and
    llm.base-url come from your config, -c flags, or a repository you trust (trace trust;
    docs/security.md).""", (complete, show_config))
