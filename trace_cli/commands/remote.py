"""Remotes (trace_core.remote, docs/remotes.md): `trace remote`, `clone`, `fetch`, `push`,
`pull`, and the S3 settings the environment gives (the AWS_* variables: read here, never by
trace_core)."""

from __future__ import annotations

import os
import sys

from trace_core.remote.layout import split_key

from ..declare import JSON, argument, command, flag, option
from ..util import CommandExit, echo, emit_json, fail, open_repo

_TRUE = ("1", "true", "yes", "on")


def s3_from_env():
    """S3Options from the standard AWS variables, or None when none is set (then your own
    `s3.*` config alone applies)."""
    env = os.environ
    names = ("AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3", "AWS_REGION", "AWS_DEFAULT_REGION",
             "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN",
             "AWS_ALLOW_HTTP")
    if not any(env.get(n) for n in names):
        return None
    from trace_core.transport.options import S3Options
    return S3Options(
        endpoint=env.get("AWS_ENDPOINT_URL_S3") or env.get("AWS_ENDPOINT_URL") or None,
        region=env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or None,
        access_key_id=env.get("AWS_ACCESS_KEY_ID") or None,
        secret_access_key=env.get("AWS_SECRET_ACCESS_KEY") or None,
        session_token=env.get("AWS_SESSION_TOKEN") or None,
        allow_http=(env["AWS_ALLOW_HTTP"].strip().lower() in _TRUE
                    if env.get("AWS_ALLOW_HTTP") else None))


def _progress():
    """A progress callback (stage, done, total): util.progress's bar on a terminal's stderr,
    one line a stage; None when stderr is not a terminal."""
    if not sys.stderr.isatty():
        return None
    from ..util import end_progress, progress
    bars: dict = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in bars:
            for bar in bars.values():
                end_progress(bar)
            bars.clear()
            bars[stage] = progress(stage)
        bars[stage](done, total)
    update.bars = bars  # type: ignore[attr-defined]
    return update


def _end(cb) -> None:
    if cb is not None:
        from ..util import end_progress
        for bar in cb.bars.values():
            end_progress(bar)


def where(obj, value: str | None, path: bool = False) -> str | None:
    """A remote name or URL as typed: a relative path is taken from the -C directory, as git
    does (git -C DIR runs as if started in DIR). `path`: a bare word is a path too (a URL
    argument); otherwise it may be a remote's name."""
    base = obj.get("directory") if isinstance(obj, dict) else None
    if not value or "://" in value or os.path.isabs(value):
        return value
    if not ("/" in value or value.startswith(".") or path):
        return value
    return os.path.join(base or ".", value)


def _short(name: str | None) -> str:
    if not name:
        return "(none)"
    for p in ("refs/heads/", "refs/tags/", "refs/remotes/"):
        if p in name:
            i = name.index(p)
            return name[:i] + name[i + len(p):]
    return name


def _flag(status: str, old: str | None, new: str | None, ref: str = "") -> tuple[str, str]:
    """git's flag character and summary of one ref's update (`ref`: the remote's ref name)."""
    if status == "new":
        return "*", ("[new tag]" if "refs/tags/" in ref else "[new branch]"
                     if "refs/heads/" in ref else "[new ref]")
    if status == "fast-forward":
        return " ", f"{old[:7]}..{new[:7]}"
    if status == "forced":
        return "+", f"{old[:7]}...{new[:7]}"
    if status in ("deleted", "pruned"):
        return "-", "[deleted]"
    if status == "up-to-date":
        return "=", "[up to date]"
    if status == "rejected":
        return "!", "[rejected]"
    return "*", f"[{status}]"


# -- remote -----------------------------------------------------------------------------------
@command("remote",
         flag("-v", "--verbose", dest="verbose", help="Show each remote's URL."),
         JSON,
         argument("action", metavar="[add|remove]"), argument("name"), argument("url"))
def remote(obj, verbose=False, as_json=False, action=None, name=None, url=None) -> None:
    """List remotes, or add or remove one.

    \b
    trace remote                         the remotes' names
    trace remote -v                      with their URLs
    trace remote add origin s3://bucket/team/project
    trace remote add backup /mnt/shared/project.trace-remote
    trace remote remove backup           and its remote-tracking refs

    A remote's URL (remote.NAME.url) is a trusted setting: in a repository you have not
    trusted (trace trust) it is ignored, as is every setting that sends data elsewhere."""
    with open_repo(obj) as repo:
        if action is None:
            rows = repo.remotes()
            if not repo.trusted and repo.repo_config.subsections("remote"):
                from ..util import warn
                warn(f"this repository is not trusted: the remotes its config names are "
                     f"ignored (trust it with 'trace trust {repo.trace_dir}')")
            if as_json:
                emit_json([{"name": n, "url": u} for n, u in rows])
                return
            for n, u in rows:
                echo(f"{n}\t{u} (fetch)\n{n}\t{u} (push)" if verbose else n)
            return
        if action == "add":
            if not name or not url:
                fail("usage: trace remote add NAME URL", 2)
            stored = repo.remote_add(name, where(obj, url, path=True))
            if as_json:
                emit_json({"name": name, "url": stored})
        elif action in ("remove", "rm"):
            if not name or url:
                fail("usage: trace remote remove NAME", 2)
            n = repo.remote_remove(name)
            if as_json:
                emit_json({"name": name, "refs_deleted": n})
            elif n:
                echo(f"deleted {n} remote-tracking ref{'s' * (n != 1)}")
        else:
            fail(f"unknown action {action!r}: add or remove (or none, to list)", 2)


# -- clone ------------------------------------------------------------------------------------
@command("clone",
         option("-o", "--origin", dest="name", default="origin", metavar="NAME",
                help="The remote's name (default origin)."),
         flag("--no-trust", dest="no_trust",
              help="Do not trust the new repository (its remote then counts only once you "
                   "trust it, or by URL)."),
         JSON,
         argument("url", required=True), argument("directory"))
def clone(obj, name="origin", no_trust=False, as_json=False, url=None, directory=None) -> None:
    """Clone the remote at URL into DIRECTORY (default: the URL's last part).

    \b
    trace clone /mnt/shared/project.trace-remote work
    AWS_ENDPOINT_URL=http://127.0.0.1:8333 AWS_ALLOW_HTTP=true trace clone s3://bucket/p work

    Every branch becomes a remote-tracking ref (refs/remotes/NAME/...), in every agent
    namespace; each namespace's default branch is created and checked out. The new repository
    is trusted (a safe.directory value in your global config, as `trace trust` records): its
    config holds nothing but what you gave here, and its remote must count for fetch and pull."""
    from trace_core.repository import Repository

    from ..settings import user_settings
    from .trust import trust_path
    target = directory or os.path.basename(url.rstrip("/").split("://")[-1]) or "clone"
    user, overrides = user_settings(obj)
    cb = _progress()
    try:
        repo = Repository.clone(where(obj, url, path=True), where(obj, target, path=True),
                                name=name, s3=s3_from_env(), progress=cb,
                                user_config=user, overrides=overrides)
    finally:
        _end(cb)
    with repo:
        if not no_trust:
            trust_path(obj, repo.trace_dir, quiet=as_json)
        head = repo.head_branch()
        n = len(repo.refs.list("refs/remotes/"))
    if as_json:
        emit_json({"path": repo.trace_dir, "remote": name, "url": url, "head": head,
                   "tracking_refs": n})
        return
    echo(f"Cloned {url} into {os.path.dirname(repo.trace_dir)}"
         + (f" (on {_short(head)})" if head else " (the remote has no branches yet)"))


# -- fetch ------------------------------------------------------------------------------------
def _fetch_lines(rows: list) -> None:
    for r in rows:
        ch, summary = _flag(r["status"], r.get("old"), r.get("new"), r["remote_ref"])
        src = _short(r["remote_ref"])
        dst = _short(r.get("local_ref"))
        why = f"  ({r['reason']})" if r.get("reason") else \
            ("  (forced update)" if r["status"] == "forced" else "")
        if r["status"] not in ("up-to-date", "kept"):
            echo(f" {ch} {summary:<17} {src} -> {dst}{why}", err=True)


@command("fetch",
         flag("-p", "--prune", dest="prune",
              help="Delete remote-tracking refs of branches the remote no longer has."),
         flag("-f", "--force", dest="force", help="Let a fetched tag replace one that differs."),
         flag("-n", "--dry-run", dest="dry_run", help="Show what would change; download nothing."),
         JSON,
         argument("remote"), argument("refspecs", nargs=-1))
def fetch(obj, prune=False, force=False, dry_run=False, as_json=False, remote=None,
          refspecs=()) -> None:
    """Download what REMOTE (default origin) has that this repository lacks, and move the
    remote-tracking refs (refs/remotes/REMOTE/BRANCH, in every agent namespace).

    \b
    trace fetch                 every branch, tag and agent namespace of origin
    trace fetch origin main     one branch of this namespace
    trace fetch --prune         also drop remote-tracking refs of deleted branches"""
    with open_repo(obj) as repo:
        cb = _progress()
        try:
            report = repo.fetch(where(obj, remote) or "origin", refspecs, prune=prune, force=force,
                                dry_run=dry_run, s3=s3_from_env(), progress=cb)
        finally:
            _end(cb)
    if as_json:
        emit_json(report.as_dict())
    elif any(r["status"] != "up-to-date" for r in report.updates):
        echo(f"From {report.url}", err=True)
        _fetch_lines(report.updates)
    if dry_run and not as_json:
        echo("(dry run: nothing was downloaded or changed)", err=True)
    if not report.ok:
        raise CommandExit(1)


# -- push -------------------------------------------------------------------------------------
_HINTS = {
    "fetch first": "the remote has work you do not have here: trace pull (or trace fetch, "
                   "then merge or rebase) before pushing again",
    "non-fast-forward": "the tip of your branch is behind its remote counterpart: integrate "
                        "the remote changes (trace pull) before pushing again",
    "stale info": "the remote ref moved since you last fetched (--force-with-lease refused "
                  "to overwrite it): trace fetch, look, and push again",
    "already exists": "a tag is never moved on the remote unless you --force",
}


@command("push",
         flag("--all", dest="all_branches", help="Every branch of this namespace."),
         flag("--tags", help="Every tag of this namespace."),
         flag("--agents", help="Also every branch and tag of every agent namespace below this "
                               "one."),
         flag("-f", "--force", dest="force",
              help="Allow non-fast-forward updates (and moving tags)."),
         option("--force-with-lease", dest="lease", metavar="[=REF[:VALUE]]", multiple=True,
                optional_value=True, flag_value="",
                help="Force, but only while the remote's ref still holds VALUE (default: its "
                     "remote-tracking ref); alone: for every ref pushed."),
         flag("--atomic", help="All refs or none."),
         flag("-n", "--dry-run", dest="dry_run", help="Judge every update; send nothing."),
         JSON,
         argument("remote"), argument("refspecs", nargs=-1))
def push(obj, all_branches=False, tags=False, agents=False, force=False, lease=(),
         atomic=False, dry_run=False, as_json=False, remote=None, refspecs=()) -> None:
    """Send what REMOTE (default origin) lacks, then update its refs: one conditional write,
    so a concurrent push is never overwritten (yours is then judged again).

    \b
    trace push                           the current branch to origin
    trace push origin main feature       two branches
    trace push origin HEAD:review        the current branch as `review`
    trace push origin :old               delete branch old on origin
    trace push --all --tags --agents     every branch and tag, every agent namespace
    trace push --force-with-lease        overwrite only what you last fetched

    A non-fast-forward update is refused unless forced (-f, or + before a refspec); exit
    status 1 when any ref was refused."""
    with open_repo(obj) as repo:
        cb = _progress()
        try:
            report = repo.push(where(obj, remote) or "origin", refspecs, all_branches=all_branches,
                               tags=tags, agents=agents, force=force,
                               force_with_lease=list(lease) if lease else None, atomic=atomic,
                               dry_run=dry_run, s3=s3_from_env(), progress=cb)
        finally:
            _end(cb)
    if as_json:
        emit_json(report.as_dict())
    else:
        echo(f"To {report.url}", err=True)
        for u in report.updates:
            if u.status == "up-to-date":
                continue
            ch, summary = _flag(u.status, u.old, u.new, u.key)
            ns = u.key[:len(u.key) - len(split_key(u.key)[1])]    # agents/NAME/ or ""
            src = ns + _short(u.local) if u.local else ("" if u.new is None else u.new[:7])
            why = f" ({u.reason})" if u.reason else \
                (" (forced update)" if u.status == "forced" else "")
            echo(f" {ch} {summary:<17} {src + ' -> ' if src else ''}{_short(u.key)}{why}",
                 err=True)
        if all(u.status == "up-to-date" for u in report.updates):
            echo("Everything up-to-date", err=True)
        if dry_run:
            echo("(dry run: nothing was sent)", err=True)
    if not report.ok:
        if not as_json:
            echo(f"error: failed to push some refs to {report.url}", err=True)
            for reason in dict.fromkeys(u.reason for u in report.updates if u.reason):
                if reason in _HINTS:
                    echo(f"hint: {_HINTS[reason]}", err=True)
        raise CommandExit(1)


# -- pull -------------------------------------------------------------------------------------
@command("pull",
         flag("-r", "--rebase", dest="rebase",
              help="Rebase the current branch onto the remote's instead of merging."),
         JSON,
         argument("remote"), argument("branch"))
def pull(obj, rebase=False, as_json=False, remote=None, branch=None) -> None:
    """Fetch from REMOTE (default origin), then merge its BRANCH (default: the current
    branch's name) into the current branch, or rebase onto it (--rebase): a fast-forward when
    possible; conflicts stop as `trace merge` does (trace resolve, then --continue)."""
    from .merge import report as merge_report
    with open_repo(obj) as repo:
        cb = _progress()
        try:
            out = repo.pull(where(obj, remote) or "origin", branch, rebase=rebase, s3=s3_from_env(),
                            progress=cb)
        finally:
            _end(cb)
        if as_json:
            out = dict(out, result=out["result"].to_dict())
            emit_json(out)
            if out["result"]["status"] == "conflicts":
                raise CommandExit(1)
            return
        rows = out["fetch"]["updates"]
        if any(r["status"] != "up-to-date" for r in rows):
            echo(f"From {out['fetch']['url']}", err=True)
            _fetch_lines(rows)
        code = merge_report(repo, out["result"], False)
    if code:
        raise CommandExit(code)
