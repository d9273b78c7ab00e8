"""`trace graph`: the commit graph in the terminal, like `git log --graph --oneline --decorate`.

The layout is trace_core.graphlog's; the body is trace_cli/commands/graph.py (also run by the
fast path)."""

from __future__ import annotations

import click

from .commands.graph import graph
from .util import json_option, root_obj


@click.command("graph")
@click.option("--all", "all_refs", is_flag=True,
              help="Start from every branch, tag and HEAD of this namespace.")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="At most N commits.")
@click.option("--color", type=click.Choice(["auto", "always", "never"]), default="auto",
              show_default=True, help="Color the lanes (auto: only on a terminal).")
@click.option("--no-pager", is_flag=True, help="Do not page long output on a terminal.")
@json_option
@click.argument("revs", nargs=-1)
@click.pass_context
def graph_cmd(ctx, all_refs, limit, color, no_pager, as_json, revs):
    """Draw the commit graph from REVS (default HEAD), children before parents.

    \b
    trace graph                     the history of HEAD
    trace graph --all               every branch and tag of this namespace
    trace graph -n 20 feature       the last 20 commits of feature
    trace graph main..feature       what feature has that main has not
    trace graph --json              one object per commit, with its graph prefix
    """
    graph(root_obj(ctx), revs, all_refs, limit, as_json, color, no_pager)
