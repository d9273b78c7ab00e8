"""Ref plumbing: update-ref, symbolic-ref, check-ref-format, rev-parse, for-each-ref, reflog."""

from __future__ import annotations

import click

from .commands import refs
from .util import fail, json_option, open_repo, root_obj


@click.command("update-ref")
@click.option("-d", "delete", is_flag=True, help="Delete the ref (after checking OLD if given).")
@click.option("-m", "message", default="", help="Reflog message.")
@click.option("--no-deref", is_flag=True, help="Update a symbolic ref itself, not its target.")
@click.argument("name")
@click.argument("values", nargs=-1)
@click.pass_context
def update_ref_cmd(ctx, delete, message, no_deref, name, values):
    """Set NAME to NEW, or with -d delete it; OLD makes it a compare-and-swap.

    \b
    trace update-ref NAME NEW [OLD]    (OLD of 64 zeros or '' means: must not exist)
    trace update-ref -d NAME [OLD]
    """
    from trace_core import plumbing

    if delete:
        if len(values) > 1:
            fail("usage: trace update-ref -d NAME [OLD]", 2)
        new, old = None, (values[0] if values else None)
    else:
        if not 1 <= len(values) <= 2:
            fail("usage: trace update-ref NAME NEW [OLD]", 2)
        new, old = values[0], (values[1] if len(values) == 2 else None)
    with open_repo(ctx) as repo:
        plumbing.update_ref(repo, name, new, old, delete=delete, message=message, deref=not no_deref)


@click.command("symbolic-ref")
@click.option("--short", is_flag=True, help="Print refs/heads/x as x.")
@click.option("-m", "message", default="", help="Reflog message.")
@click.argument("name")
@click.argument("target", required=False)
@click.pass_context
def symbolic_ref_cmd(ctx, short, message, name, target):
    """Read the symbolic ref NAME, or point it at TARGET."""
    refs.symbolic_ref(root_obj(ctx), short, message, name, target)


@click.command("check-ref-format")
@click.option("--allow-onelevel", is_flag=True, help="Accept names without a '/'.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; exit status only.")
@click.argument("name")
@click.pass_context
def check_ref_format_cmd(ctx, allow_onelevel, quiet, name):
    """Exit 0 if NAME is a valid ref name (git check-ref-format rules), 1 if not."""
    refs.check_ref_format(root_obj(ctx), allow_onelevel, quiet, name)


@click.command("rev-parse")
@click.option("--short", "short", type=int, default=None, flag_value=12, is_flag=False,
              help="Abbreviate ids to N characters (default 12).")
@click.option("--symbolic-full-name", is_flag=True, help="Print the full ref name instead of an id.")
@click.option("--verify", is_flag=True, help="Require exactly one argument naming a commit.")
@click.argument("revs", nargs=-1, required=True)
@click.pass_context
def rev_parse_cmd(ctx, short, symbolic_full_name, verify, revs):
    """Resolve revisions (names, short ids, HEAD~n, ^n, @{n}) to full ids."""
    refs.rev_parse(root_obj(ctx), short, symbolic_full_name, verify, revs)


@click.command("for-each-ref")
@json_option
@click.option("--format", "fmt", help="Format with %(objectname) %(refname) %(symref) %(refname:short).")
@click.argument("prefix", default="refs/")
@click.pass_context
def for_each_ref_cmd(ctx, as_json, fmt, prefix):
    """List refs under PREFIX as '<id> commit <name>'."""
    refs.for_each_ref(root_obj(ctx), as_json, fmt, prefix)


@click.command("reflog")
@json_option
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N entries.")
@click.argument("ref", default="HEAD")
@click.pass_context
def reflog_cmd(ctx, as_json, limit, ref):
    """Show how REF moved, newest first (HEAD shows its branch's log)."""
    refs.reflog(root_obj(ctx), as_json, limit, ref)
