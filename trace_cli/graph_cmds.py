"""History plumbing over the commit index: rev-list, merge-base."""

from __future__ import annotations

import click

from .util import emit_json, fail, json_option, open_repo


def _split_ranges(revs) -> tuple:
    include, exclude = [], []
    for r in revs:
        if ".." in r and "..." not in r:
            a, b = r.split("..", 1)
            exclude.append(a or "HEAD")
            include.append(b or "HEAD")
        elif r.startswith("^") and len(r) > 1:
            exclude.append(r[1:])
        else:
            include.append(r)
    return include, exclude


@click.command("rev-list")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="At most N commits.")
@click.option("--first-parent", is_flag=True, help="Follow only first parents.")
@click.option("--count", "count_only", is_flag=True, help="Print only the number of commits.")
@json_option
@click.argument("revs", nargs=-1)
@click.pass_context
def rev_list_cmd(ctx, limit, first_parent, count_only, as_json, revs):
    """List commits reachable from REVS (default HEAD), newest first; ^X or X..Y excludes X."""
    from trace_core import plumbing

    include, exclude = _split_ranges(revs or ("HEAD",))
    if not include:
        include = ["HEAD"]
    with open_repo(ctx) as repo:
        rows = plumbing.rev_list(repo, include, exclude, limit=limit, first_parent=first_parent)
    if count_only:
        click.echo(len(rows))
    elif as_json:
        emit_json([{"id": r.id.hex(), "parents": [p.hex() for p in r.parents], "time_ms": r.time_ms,
                    "author": r.author, "op": r.op, "tokens": r.tokens,
                    "total_tokens": r.total_tokens, "summary": r.summary} for r in rows])
    else:
        click.echo("\n".join(r.id.hex() for r in rows)) if rows else None


@click.command("merge-base")
@click.option("--all", "all_bases", is_flag=True, help="Print every best common ancestor.")
@click.option("--is-ancestor", is_flag=True, help="Exit 0 if A is an ancestor of B, 1 if not.")
@click.argument("a")
@click.argument("b")
@click.pass_context
def merge_base_cmd(ctx, all_bases, is_ancestor, a, b):
    """Print the best common ancestor(s) of A and B."""
    from trace_core import plumbing

    with open_repo(ctx) as repo:
        if is_ancestor:
            ctx.exit(0 if repo.index.is_ancestor(repo.resolve(a), repo.resolve(b)) else 1)
        bases = plumbing.merge_base(repo, a, b, all_bases=all_bases)
    if not bases:
        ctx.exit(1)
    for x in bases:
        click.echo(x)
