"""Porcelain that reads: log, status, show, diff, context, config (bodies in commands.py)."""

from __future__ import annotations

import click

from .commands import history, views
from .util import json_option, root_obj


@click.command("log")
@click.option("--oneline", is_flag=True, help="One line per commit.")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="Show at most N commits.")
@click.option("--first-parent", is_flag=True, help="Follow only first parents.")
@click.option("--no-pager", is_flag=True, help="Do not page output on a terminal.")
@json_option
@click.argument("revs", nargs=-1)
@click.pass_context
def log_cmd(ctx, oneline, limit, first_parent, no_pager, as_json, revs):
    """History from REVS (default HEAD): each commit's token cost and the running total."""
    history.log(root_obj(ctx), oneline, limit, first_parent, no_pager, as_json, revs)


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx, as_json):
    """HEAD, branch, entries, tokens against the budget, warnings, undone entries."""
    views.status(root_obj(ctx), as_json)


@click.command("diff")
@json_option
@click.argument("a", required=False)
@click.argument("b", required=False)
@click.pass_context
def diff_cmd(ctx, as_json, a, b):
    """Compare the contexts of two commits (default: HEAD's parent and HEAD; one arg: A and HEAD)."""
    views.diff(root_obj(ctx), as_json, a, b)


@click.command("show")
@json_option
@click.argument("rev", default="HEAD")
@click.pass_context
def show_cmd(ctx, as_json, rev):
    """A commit: metadata, the content it carried, and its change to the context."""
    views.show(root_obj(ctx), as_json, rev)


@click.command("context")
@click.option("--format", "fmt", type=click.Choice(["openai", "anthropic", "text", "json"]),
              default="openai", show_default=True, help="Prompt format.")
@click.argument("rev", default="HEAD")
@click.pass_context
def context_cmd(ctx, fmt, rev):
    """Print the context at REV exactly as the model would be sent it."""
    views.context(root_obj(ctx), fmt, rev)


@click.command("config")
@click.option("--get", "action", flag_value="get", help="Print a value (default with one argument).")
@click.option("--unset", "action", flag_value="unset", help="Remove a key.")
@click.option("--list", "-l", "action", flag_value="list", help="List every setting.")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.pass_context
def config_cmd(ctx, action, key, value):
    """Get or set settings in .trace/config (git-config style: section.key)."""
    views.config(root_obj(ctx), action, key, value)
