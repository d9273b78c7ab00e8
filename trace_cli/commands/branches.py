"""Branches and tags: branch, switch, tag."""

from __future__ import annotations

from contextlib import ExitStack

from trace_core.refs import shorten

from ..declare import JSON, argument, command, flag
from ..util import echo, emit_json, fail, open_repo, style
from .commit import strict_context, strict_option


@command("branch",
         flag("-d", "--delete", dest="delete",
              help="Delete the branch (must be merged into HEAD)."),
         flag("-D", dest="force_delete", help="Delete the branch even if it is not merged."),
         flag("-m", "--move", dest="move",
              help="Rename OLD to NEW (or the current branch to NAME)."),
         flag("-f", "--force", help="Reset an existing branch / overwrite on rename."),
         flag("-r", "--remotes", dest="remotes",
              help="List the remote-tracking branches (origin/main)."),
         flag("-a", "--all", dest="all_branches",
              help="List local and remote-tracking branches."),
         JSON,
         argument("names", nargs=-1), fast=True)
def branch(obj, delete=False, force_delete=False, move=False, force=False, remotes=False,
           all_branches=False, as_json=False, names=()) -> None:
    """List branches, or create NAME at START (default HEAD), delete or rename them.

    \b
    trace branch                   list (the current branch is marked *)
    trace branch explore HEAD~3    create 'explore' at HEAD~3
    trace branch -d explore        delete (refused if not merged into HEAD; -D forces)
    trace branch -m old new        rename, reflog included
    trace branch -r                the remote-tracking branches (-a: with the local ones)
    """
    with open_repo(obj) as repo:
        if delete or force_delete:
            if not names:
                fail("branch -d needs a branch name", 2)
            for n in names:
                old = repo.branch_delete(n, force=force_delete)
                echo(f"Deleted branch {n} (was {old[:12]}).")
            return
        if move:
            if len(names) == 1:
                cur = repo.head_branch()
                if not cur or not cur.startswith("refs/heads/"):
                    fail("HEAD is detached: give the branch to rename")
                names = (shorten(cur), names[0])
            if len(names) != 2:
                fail("branch -m needs OLD NEW (or NEW for the current branch)", 2)
            new = repo.branch_rename(names[0], names[1], force=force)
            echo(f"Renamed branch {names[0]} to {shorten(new)}")
            return
        if names:
            if len(names) > 2:
                fail("branch takes NAME [START]", 2)
            full = repo.branch_create(names[0], names[1] if len(names) == 2 else "HEAD", force)
            tip = repo.refs.read(full)
            echo(f"Created branch {names[0]} at {tip[:12]}")
            return
        if (remotes or all_branches) and (names or delete or force_delete or move):
            fail("-r and -a only list branches", 2)
        rows = repo.branches(remotes=remotes or all_branches, local=not remotes)
    if as_json:
        emit_json(rows)
        return
    for b in rows:
        mark = "*" if b["current"] else " "
        name = style(b["name"], "green") if b["current"] else \
            (style(("remotes/" if all_branches else "") + b["name"], "red") if b.get("remote")
             else b["name"])
        echo(f"{mark} {name} {b['id'][:12]} {b['summary']}")


@command("switch",
         flag("-c", "--create", dest="create", help="Create the branch first (at START)."),
         flag("--detach", help="Detach HEAD at the commit NAME names."),
         strict_option("switch"),
         argument("name", required=True),
         argument("start", default="HEAD"), fast=True)
def switch(obj, create=False, detach=False, strict=False, name=None, start="HEAD") -> None:
    """Switch HEAD to branch NAME (or detach it at a commit)."""
    if start != "HEAD" and not create:
        fail("START is only used with -c", 2)
    with open_repo(obj) as repo, ExitStack() as stack:
        strict_context(repo, strict, stack)
        full = repo.switch(name, create=create, start=start, detach=detach)
        head = repo.head_commit()
        if full is None:
            c = repo.get_commit(head)
            echo(f"HEAD is now detached at {head.hex()[:12]} {c.summary}")
        else:
            verb = "a new branch" if create else "branch"
            echo(f"Switched to {verb} '{name}'")


@command("tag",
         flag("-d", "--delete", help="Delete the tag."),
         flag("-f", "--force", help="Replace an existing tag."),
         JSON,
         argument("name"),
         argument("rev", default="HEAD"), fast=True)
def tag(obj, delete=False, force=False, as_json=False, name=None, rev="HEAD") -> None:
    """List tags, or tag REV (default HEAD) as NAME (a lightweight tag, as git's)."""
    with open_repo(obj) as repo:
        if delete:
            if not name:
                fail("tag -d needs a tag name", 2)
            old = repo.tag_delete(name)
            echo(f"Deleted tag '{name}' (was {old[:12]})")
            return
        if name:
            full = repo.tag_create(name, rev, force=force)
            echo(f"Tagged {repo.refs.read(full)[:12]} as {name}")
            return
        rows = repo.tags()
    if as_json:
        emit_json(rows)
        return
    for t in rows:
        echo(t["name"])
