"""History commands: log, rev-list, merge-base (walks over the commit index; graph is graph.py)."""

from __future__ import annotations

import sys

from trace_core.plumbing.revparse import split_ranges

from ..declare import JSON, IntRange, argument, command, flag, option
from ..util import CommandExit, color_enabled, echo, emit_json, open_repo


@command("log",
         flag("--oneline", help="One line per commit."),
         option("-n", "--max-count", dest="limit", type=IntRange(min=0),
                help="Show at most N commits."),
         flag("--first-parent", help="Follow only first parents."),
         flag("--no-pager", help="Do not page output on a terminal."),
         JSON,
         argument("revs", nargs=-1), fast=True)
def log(obj, oneline=False, limit=None, first_parent=False, no_pager=False, as_json=False,
        revs=()) -> None:
    """History from REVS (default HEAD): each commit's token cost and the running total."""
    from trace_core.render import log as render

    with open_repo(obj) as repo:
        if as_json:
            emit_json(render.log_records(repo, revs, limit=limit, first_parent=first_parent))
            return
        lines = render.log_lines(repo, revs, oneline=oneline, limit=limit,
                                 first_parent=first_parent, colors=color_enabled())
        text = "\n".join(lines) + ("\n" if lines else "")
    sys.stdout.write(text)     # (on a terminal, into the pager: trace_cli.pager)


@command("rev-list",
         option("-n", "--max-count", dest="limit", type=IntRange(min=0), help="At most N commits."),
         flag("--first-parent", help="Follow only first parents."),
         flag("--count", dest="count_only", help="Print only the number of commits."),
         JSON,
         argument("revs", nargs=-1), fast=True)
def rev_list(obj, limit=None, first_parent=False, count_only=False, as_json=False, revs=()) -> None:
    """List commits reachable from REVS (default HEAD), newest first; ^X or X..Y excludes X."""
    include, exclude = split_ranges(revs or ("HEAD",))
    if not include:
        include = ["HEAD"]
    from trace_core import plumbing

    with open_repo(obj) as repo:
        if as_json:
            rows = plumbing.rev_list(repo, include, exclude, limit=limit, first_parent=first_parent)
        else:
            ids = plumbing.rev_list_ids(repo, include, exclude, limit=limit,
                                        first_parent=first_parent)
    if as_json:
        if count_only:
            echo(len(rows))
            return
        emit_json([{"id": r.id.hex(), "parents": [p.hex() for p in r.parents], "time_ms": r.time_ms,
                    "author": r.author, "op": r.op, "tokens": r.tokens,
                    "total_tokens": r.total_tokens, "summary": r.summary} for r in rows])
    elif count_only:
        echo(len(ids))
    elif ids:
        echo("\n".join([i.hex() for i in ids]))


@command("merge-base",
         flag("--all", dest="all_bases", help="Print every best common ancestor."),
         flag("--is-ancestor", help="Exit 0 if A is an ancestor of B, 1 if not."),
         argument("a", required=True),
         argument("b", required=True), fast=True)
def merge_base(obj, all_bases=False, is_ancestor=False, a=None, b=None) -> None:
    """Print the best common ancestor(s) of A and B."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        if is_ancestor:
            raise CommandExit(0 if plumbing.is_ancestor(repo, a, b) else 1)
        bases = plumbing.merge_base(repo, a, b, all_bases=all_bases)
    if not bases:
        raise CommandExit(1)
    for x in bases:
        echo(x)
