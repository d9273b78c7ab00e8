"""Ref plumbing: update-ref, symbolic-ref, check-ref-format, rev-parse, for-each-ref, reflog."""

from __future__ import annotations

import time

import click

from .util import emit_json, fail, json_option, open_repo


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
    from trace_core.refs import check_ref_format

    with open_repo(ctx) as repo:
        if target is None:
            raw = repo.refs.read(name)
            if raw is None or not raw.startswith("ref:"):
                fail(f"ref {name} is not a symbolic ref")
            value = raw[4:]
            if short and value.startswith("refs/heads/"):
                value = value[len("refs/heads/"):]
            click.echo(value)
            return
        check_ref_format(target)
        if not target.startswith("refs/"):
            fail(f"refusing to point {name} outside refs/: {target}")
        repo.refs.set_symbolic(name, target, message=message)


@click.command("check-ref-format")
@click.option("--allow-onelevel", is_flag=True, help="Accept names without a '/'.")
@click.option("--quiet", "-q", is_flag=True, help="Print nothing; exit status only.")
@click.argument("name")
@click.pass_context
def check_ref_format_cmd(ctx, allow_onelevel, quiet, name):
    """Exit 0 if NAME is a valid ref name (git check-ref-format rules), 1 if not."""
    from trace_core.errors import InvalidRefName
    from trace_core.refs import check_ref_format

    try:
        check_ref_format(name, allow_onelevel=allow_onelevel)
    except InvalidRefName as exc:
        if not quiet:
            click.echo(f"error: {exc}", err=True)
        ctx.exit(1)


@click.command("rev-parse")
@click.option("--short", "short", type=int, default=None, flag_value=12, is_flag=False,
              help="Abbreviate ids to N characters (default 12).")
@click.option("--symbolic-full-name", is_flag=True, help="Print the full ref name instead of an id.")
@click.option("--verify", is_flag=True, help="Require exactly one argument naming a commit.")
@click.argument("revs", nargs=-1, required=True)
@click.pass_context
def rev_parse_cmd(ctx, short, symbolic_full_name, verify, revs):
    """Resolve revisions (names, short ids, HEAD~n, ^n, @{n}) to full ids."""
    from trace_core import plumbing
    from trace_core.revparse import resolve_ref_name

    if verify and len(revs) != 1:
        fail("--verify takes exactly one revision", 2)
    with open_repo(ctx) as repo:
        for rev in revs:
            if symbolic_full_name:
                full = resolve_ref_name(repo, rev)
                if full == "HEAD" and repo.head_branch():
                    full = repo.head_branch()
                if full is None:
                    fail(f"{rev} is not a ref")
                click.echo(full)
                continue
            hexid = plumbing.rev_parse(repo, rev)
            if verify:
                repo.get_commit(bytes.fromhex(hexid))
            click.echo(hexid[:short] if short else hexid)


@click.command("for-each-ref")
@json_option
@click.option("--format", "fmt", help="Format with %(objectname) %(refname) %(symref) %(refname:short).")
@click.argument("prefix", default="refs/")
@click.pass_context
def for_each_ref_cmd(ctx, as_json, fmt, prefix):
    """List refs under PREFIX as '<id> commit <name>'."""
    from trace_core import plumbing

    with open_repo(ctx) as repo:
        rows = plumbing.for_each_ref(repo, prefix)
    if as_json:
        emit_json([{"name": n, "id": v, "symref": s} for n, v, s in rows])
        return
    for name, value, symref in rows:
        if fmt:
            short = name.split("/", 2)[-1] if name.startswith(("refs/heads/", "refs/tags/")) else name
            click.echo(fmt.replace("%(objectname)", value or "").replace("%(refname:short)", short)
                       .replace("%(refname)", name).replace("%(symref)", symref or ""))
        else:
            click.echo(f"{value or '-' * 64} commit\t{name}")


@click.command("reflog")
@json_option
@click.option("-n", "limit", type=click.IntRange(min=1), help="Show at most N entries.")
@click.argument("ref", default="HEAD")
@click.pass_context
def reflog_cmd(ctx, as_json, limit, ref):
    """Show how REF moved, newest first (HEAD shows its branch's log)."""
    from trace_core.revparse import resolve_ref_name

    with open_repo(ctx) as repo:
        full = resolve_ref_name(repo, ref)
        if full is None:
            fail(f"unknown ref {ref}")
        if full == "HEAD" and repo.head_branch():
            full = repo.head_branch()
        entries = repo.refs.reflog(full)[:limit]
    if as_json:
        emit_json([{"index": i, "new": e.new, "old": e.old, "time_ms": e.time_ms, "who": e.who,
                    "message": e.message} for i, e in enumerate(entries)])
        return
    short = ref if ref != "HEAD" else "HEAD"
    for i, e in enumerate(entries):
        when = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time_ms / 1000))
        click.echo(f"{e.new[:12]} {short}@{{{i}}}: {when} {e.who}: {e.message}")
