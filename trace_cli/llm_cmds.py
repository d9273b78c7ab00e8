"""`trace llm`: talk to the configured provider (bodies in llm_support.py)."""

from __future__ import annotations

import click

from .util import json_option, root_obj


@click.group("llm")
def llm_cmd():
    """The LLM provider used by semantic merges and `compress --strategy llm` (see docs/llm.md).

    The API key is read from the environment variable named by llm.api-key-env, else
    OPENAI_API_KEY or ANTHROPIC_API_KEY."""


@llm_cmd.command("complete")
@click.option("--system", metavar="TEXT", help="System prompt.")
@click.option("--max-tokens", type=click.IntRange(min=1), help="Completion token limit "
              "(default: llm.max-tokens).")
@json_option
@click.argument("prompt")
@click.pass_context
def complete_cmd(ctx, system, max_tokens, as_json, prompt):
    """Send PROMPT ('-' for stdin) as one user message; print the answer (usage on stderr)."""
    from .llm_support import complete
    complete(root_obj(ctx), prompt, system, max_tokens, as_json)


@llm_cmd.command("config")
@json_option
@click.pass_context
def config_cmd(ctx, as_json):
    """The effective provider settings and which environment variable holds the key."""
    from .llm_support import show_config
    show_config(root_obj(ctx), as_json)
