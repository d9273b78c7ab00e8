"""Maintenance plumbing: fsck, repack, gc, prune, reindex, verify-pack, count-objects."""

from __future__ import annotations

from ..declare import JSON, argument, command, flag, option
from ..util import CommandExit, echo, emit_json, end_progress, fail, open_repo, progress


@command("fsck",
         JSON,
         flag("--no-dangling", help="Do not report unreachable commits."))
def fsck(obj, as_json=False, no_dangling=False) -> None:
    """Re-hash every object, check every reference and pack; exit 1 if any error is found."""
    from trace_core.fsck import fsck as run_fsck

    with open_repo(obj) as repo:
        cb = progress("Checking objects")
        findings = run_fsck(repo, progress=cb)
        end_progress(cb)
    if no_dangling:
        findings = [f for f in findings if f.id != "danglingCommit"]
    if as_json:
        emit_json([{"id": f.id, "severity": f.severity, "object": f.object, "message": f.message}
                   for f in findings])
    else:
        for f in findings:
            echo(f"{f.severity} {f.id}: {f.message}")
    if any(f.severity == "error" for f in findings):
        raise CommandExit(1)


@command("repack",
         flag("--dictionary/--no-dictionary", dest="dictionary", default=True,
              help="Train a zstd dictionary."))
def repack(obj, dictionary=True) -> None:
    """Seal idle journals and merge all packs into one."""
    from trace_core.storage.repack import repack as run_repack

    with open_repo(obj) as repo:
        name = run_repack(repo.store, train=dictionary)
    echo(f"pack-{name}" if name else "nothing to repack: already one pack")


@command("gc",
         option("--prune", dest="prune_expire", metavar="WHEN",
                help="Drop unreachable objects older than WHEN (e.g. 2.weeks, 1d, now)."),
         flag("--aggressive", help="Compress harder."),
         flag("--dry-run", "-n", dest="dry_run",
              help="List the sub-agents the retention policies would prune (with --remote: "
                   "what the remote's gc would merge); change nothing."),
         flag("--no-retention", dest="no_retention",
              help="Do not apply the retention policies (prune no sub-agent)."),
         option("--remote", metavar="REMOTE",
                help="Collect garbage on REMOTE instead (a name or URL): merge its packs "
                     "older than the grace period, drop what its refs no longer reach and "
                     "packs a killed push left (docs/remotes.md)."),
         option("--expire", metavar="WHEN",
                help="--remote: the grace period (default 1.day); younger packs are never "
                     "touched."),
         JSON, fast=True)
def gc(obj, prune_expire=None, aggressive=False, dry_run=False, no_retention=False,
       remote=None, expire=None, as_json=False) -> None:
    """Apply retention policies, repack reachable objects into one pack, prune old garbage."""
    from trace_core.config import parse_duration
    from trace_core.gc import gc as run_gc

    if remote is not None:
        if prune_expire is not None or aggressive or no_retention:
            fail("--remote takes --expire and --dry-run, not --prune, --aggressive or "
                 "--no-retention (they are this repository's)", 2)
        from .remote import where
        _remote_gc(obj, where(obj, remote), expire, dry_run, as_json)
        return
    if expire is not None:
        fail("--expire is used with --remote (the local grace period is --prune)", 2)
    if dry_run:
        from trace_core.retention import apply_retention
        with open_repo(obj) as repo:
            would = apply_retention(repo, dry_run=True)
        if as_json:
            emit_json([w.to_dict() for w in would])
        elif not would:
            echo("retention: nothing to prune")
        for w in would if not as_json else ():
            echo(f"would prune {w.describe()}")
        return
    with open_repo(obj) as repo:
        expire = parse_duration(prune_expire) if prune_expire else None
        cb = progress("Packing")
        report = run_gc(repo, prune_expire_s=expire, aggressive=aggressive, progress=cb,
                        retention=not no_retention)
        end_progress(cb)
    data = report.__dict__ if hasattr(report, "__dict__") else dict(report)
    if as_json:
        emit_json(data)
    else:
        for k, v in data.items():
            echo(f"{k}: {v}")


def _remote_gc(obj, remote: str, expire, dry_run: bool, as_json: bool) -> None:
    from trace_core.config import parse_duration

    from .remote import s3_from_env
    with open_repo(obj) as repo:
        kw = {"expire_s": parse_duration(expire)} if expire is not None else {}
        report = repo.remote_gc(remote, dry_run=dry_run, s3=s3_from_env(), **kw)
    if as_json:
        emit_json(report.as_dict())
        return
    verb = "would merge" if dry_run else "merged"
    echo(f"{report.url}: {report.packs_before} pack{'s' * (report.packs_before != 1)}; "
         f"{verb} {len(report.merged)} "
         f"({report.kept_objects} objects kept, {report.dropped_objects} unreachable dropped)"
         + (f" into pack-{report.written}" if report.written else ""))
    if report.incomplete_removed:
        echo(f"removed {len(report.incomplete_removed)} incomplete pack(s) a killed push left")


@command("prune",
         option("--expire", metavar="WHEN",
                help="Grace period (default gc.prune-expire, 2.weeks)."))
def prune(obj, expire=None) -> None:
    """Delete unreachable objects older than the grace period."""
    from trace_core.config import parse_duration
    from trace_core.gc import prune as run_prune

    with open_repo(obj) as repo:
        n = run_prune(repo, parse_duration(expire) if expire else None)
    echo(f"pruned {n} objects")


@command("reindex")
def reindex(obj) -> None:
    """Rebuild the SQLite index from the objects (what fsck advises for a damaged index)."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        n = plumbing.reindex(repo)
    echo(f"indexed {n} commits")


@command("verify-pack",
         flag("-v", dest="verbose", help="List each pack's object and block counts."),
         argument("packs", nargs=-1))
def verify_pack(obj, verbose=False, packs=()) -> None:
    """Check pack checksums and every object in them (default: all packs)."""
    from trace_core import plumbing

    bad = False
    with open_repo(obj) as repo:
        # by default every published pack, also those the store skips as unreadable
        names = [plumbing.pack_name(p) for p in packs] or plumbing.pack_names(repo)
        for name in names:
            problems = plumbing.verify_pack(repo, name)
            for p in problems:
                echo(f"error: {p}", err=True)
            bad = bad or bool(problems)
            if verbose or not problems:
                echo(f"pack-{name}: {'ok' if not problems else 'BAD'}")
    if bad:
        raise CommandExit(1)


@command("count-objects",
         JSON,
         flag("-v", dest="verbose", help="Show every figure."))
def count_objects(obj, as_json=False, verbose=False) -> None:
    """Count objects in packs and journals, and the bytes they use."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        c = plumbing.count_objects(repo)
    if as_json:
        emit_json(c)
    elif verbose:
        for k, v in c.items():
            echo(f"{k.replace('_', '-')}: {v}")
    else:
        echo(f"{c['packed_objects'] + c['journal_objects']} objects, "
             f"{(c['pack_bytes'] + c['journal_bytes']) // 1024} kilobytes")
