"""Ref plumbing: update-ref, symbolic-ref, check-ref-format, rev-parse, for-each-ref, reflog."""

from __future__ import annotations

import time

from trace_core.refs import shorten

from ..declare import JSON, IntRange, argument, command, flag, option
from ..util import CommandExit, echo, emit_json, fail, open_repo


@command("update-ref",
         flag("-d", dest="delete", help="Delete the ref (after checking OLD if given)."),
         option("-m", dest="message", default="", help="Reflog message."),
         flag("--no-deref", help="Update a symbolic ref itself, not its target."),
         argument("name", required=True),
         argument("values", nargs=-1))
def update_ref(obj, delete=False, message="", no_deref=False, name=None, values=()) -> None:
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
    with open_repo(obj) as repo:
        plumbing.update_ref(repo, name, new, old, delete=delete, message=message,
                            deref=not no_deref)


@command("rev-parse",
         option("--short", type=int, flag_value=12, optional_value=True, fast=False,
                help="Abbreviate ids to N characters (default 12)."),
         flag("--symbolic-full-name", help="Print the full ref name instead of an id."),
         flag("--verify", help="Require exactly one argument naming a commit."),
         argument("revs", nargs=-1, required=True), fast=True)
def rev_parse(obj, short=None, symbolic_full_name=False, verify=False, revs=()) -> None:
    """Resolve revisions (names, short ids, HEAD~n, ^n, @{n}) to full ids."""
    from trace_core import plumbing

    if verify and len(revs) != 1:
        fail("--verify takes exactly one revision", 2)
    with open_repo(obj) as repo:
        for rev in revs:
            if symbolic_full_name:
                full = plumbing.full_ref_name(repo, rev)
                if full is None:
                    fail(f"{rev} is not a ref")
                echo(full)
                continue
            hexid = plumbing.rev_parse(repo, rev, commit=verify)
            echo(hexid[:short] if short else hexid)


@command("for-each-ref",
         JSON,
         option("--format", dest="fmt",
                help="Format with %(objectname) %(refname) %(symref) %(refname:short)."),
         argument("prefix", default="refs/"), fast=True)
def for_each_ref(obj, as_json=False, fmt=None, prefix="refs/") -> None:
    """List refs under PREFIX as '<id> commit <name>'."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        rows = plumbing.for_each_ref(repo, prefix)
    if as_json:
        emit_json([{"name": n, "id": v, "symref": s} for n, v, s in rows])
        return
    for name, value, symref in rows:
        if fmt:
            echo(fmt.replace("%(objectname)", value or "")
                 .replace("%(refname:short)", shorten(name))
                 .replace("%(refname)", name).replace("%(symref)", symref or ""))
        else:
            echo(f"{value or '-' * 64} commit\t{name}")


@command("symbolic-ref",
         flag("--short", help="Print refs/heads/x as x."),
         option("-m", dest="message", default="", help="Reflog message."),
         argument("name", required=True),
         argument("target"), fast=True)
def symbolic_ref(obj, short=False, message="", name=None, target=None) -> None:
    """Read the symbolic ref NAME, or point it at TARGET."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        value = plumbing.symbolic_ref(repo, name, target, message=message)
    if target is None:
        echo(shorten(value) if short else value)


@command("check-ref-format",
         flag("--allow-onelevel", help="Accept names without a '/'."),
         flag("--quiet", "-q", help="Print nothing; exit status only."),
         argument("name", required=True), fast=True)
def check_ref_format(obj, allow_onelevel=False, quiet=False, name=None) -> None:
    """Exit 0 if NAME is a valid ref name (git check-ref-format rules), 1 if not."""
    from trace_core.errors import InvalidRefName
    from trace_core.refs import check_ref_format as check

    try:
        check(name, allow_onelevel=allow_onelevel)
    except InvalidRefName as exc:
        if not quiet:
            echo(f"error: {exc}", err=True)
        raise CommandExit(1) from None


@command("reflog",
         JSON,
         option("-n", dest="limit", type=IntRange(min=1), help="Show at most N entries."),
         argument("ref", default="HEAD"), fast=True)
def reflog(obj, as_json=False, limit=None, ref="HEAD") -> None:
    """Show how REF moved, newest first (HEAD shows its branch's log)."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        entries = plumbing.reflog(repo, ref, limit)
    if as_json:
        emit_json([{"index": i, "new": e.new, "old": e.old, "time_ms": e.time_ms, "who": e.who,
                    "message": e.message} for i, e in enumerate(entries)])
        return
    for i, e in enumerate(entries):
        when_ = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time_ms / 1000))
        echo(f"{e.new[:12]} {ref}@{{{i}}}: {when_} {e.who}: {e.message}")
