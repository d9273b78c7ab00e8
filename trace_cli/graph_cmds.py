"""History plumbing over the commit index: rev-list, merge-base (bodies in commands.py)."""

from __future__ import annotations

import click

from .commands import history
from .util import json_option, root_obj


@click.command("rev-list")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="At most N commits.")
@click.option("--first-parent", is_flag=True, help="Follow only first parents.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of commits.")
@json_option
@click.argument("revs", nargs=-1)
@click.pass_context
def rev_list_cmd(ctx, limit, first_parent, count_only, as_json, revs):
    """List commits reachable from REVS (default HEAD), newest first; ^X or X..Y excludes X."""
    history.rev_list(root_obj(ctx), limit, first_parent, count_only, as_json, revs)


@click.command("merge-base")
@click.option("--all", "all_bases", is_flag=True, help="Print every best common ancestor.")
@click.option("--is-ancestor", is_flag=True, help="Exit 0 if A is an ancestor of B, 1 if not.")
@click.argument("a")
@click.argument("b")
@click.pass_context
def merge_base_cmd(ctx, all_bases, is_ancestor, a, b):
    """Print the best common ancestor(s) of A and B."""
    history.merge_base(root_obj(ctx), all_bases, is_ancestor, a, b)
