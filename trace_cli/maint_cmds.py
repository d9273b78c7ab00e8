"""Maintenance plumbing: fsck, repack, gc, prune, reindex, verify-pack, count-objects."""

from __future__ import annotations

import click

from .util import emit_json, end_progress, fail, json_option, open_repo, progress


@click.command("fsck")
@json_option
@click.option("--no-dangling", is_flag=True, help="Do not report unreachable commits.")
@click.pass_context
def fsck_cmd(ctx, as_json, no_dangling):
    """Re-hash every object, check every reference and pack; exit 1 if any error is found."""
    from trace_core.fsck import fsck

    with open_repo(ctx) as repo:
        cb = progress("Checking objects")
        findings = fsck(repo, progress=cb)
        end_progress(cb)
    if no_dangling:
        findings = [f for f in findings if f.id != "danglingCommit"]
    if as_json:
        emit_json([{"id": f.id, "severity": f.severity, "object": f.object, "message": f.message}
                   for f in findings])
    else:
        for f in findings:
            click.echo(f"{f.severity} {f.id}: {f.message}")
    if any(f.severity == "error" for f in findings):
        ctx.exit(1)


@click.command("repack")
@click.option("--dictionary/--no-dictionary", default=True, help="Train a zstd dictionary.")
@click.pass_context
def repack_cmd(ctx, dictionary):
    """Seal idle journals and merge all packs into one."""
    from trace_core.storage.repack import RepackLock, repack_packs, seal_idle_journals

    with open_repo(ctx) as repo:
        lock = RepackLock(repo.store.pack_dir, wait=False)
        if not lock.held:
            lock.release()
            fail("another repack or gc is running; try again when it has finished")
        try:
            seal_idle_journals(repo.store)
            name = repack_packs(repo.store, train=dictionary, locked=True)
        finally:
            lock.release()
        click.echo(f"pack-{name}" if name else "nothing to repack: already one pack")


@click.command("gc")
@click.option("--prune", "prune_expire", metavar="WHEN",
              help="Drop unreachable objects older than WHEN (e.g. 2.weeks, 1d, now).")
@click.option("--aggressive", is_flag=True, help="Compress harder.")
@json_option
@click.pass_context
def gc_cmd(ctx, prune_expire, aggressive, as_json):
    """Repack reachable objects into one pack with a trained dictionary; prune old garbage."""
    from trace_core.config import parse_duration
    from trace_core.gc import gc

    with open_repo(ctx) as repo:
        expire = parse_duration(prune_expire) if prune_expire else None
        cb = progress("Packing")
        report = gc(repo, prune_expire_s=expire, aggressive=aggressive, progress=cb)
        end_progress(cb)
    data = report.__dict__ if hasattr(report, "__dict__") else dict(report)
    if as_json:
        emit_json(data)
    else:
        for k, v in data.items():
            click.echo(f"{k}: {v}")


@click.command("prune")
@click.option("--expire", default=None, metavar="WHEN", help="Grace period (default gc.prune-expire, 2.weeks).")
@click.pass_context
def prune_cmd(ctx, expire):
    """Delete unreachable objects older than the grace period."""
    from trace_core.config import parse_duration
    from trace_core.gc import prune

    with open_repo(ctx) as repo:
        when = expire or repo.config.get("gc.prune-expire", "2.weeks")
        n = prune(repo, parse_duration(when))
    click.echo(f"pruned {n} objects")


@click.command("reindex")
@click.pass_context
def reindex_cmd(ctx):
    """Rebuild the SQLite index from objects and refs."""
    with open_repo(ctx) as repo:
        repo.index.rebuild()
        click.echo(f"indexed {repo.index.count()} commits")


@click.command("verify-pack")
@click.option("-v", "verbose", is_flag=True, help="List each pack's object and block counts.")
@click.argument("packs", nargs=-1)
@click.pass_context
def verify_pack_cmd(ctx, verbose, packs):
    """Check pack checksums and every object in them (default: all packs)."""
    from trace_core import plumbing

    bad = False
    with open_repo(ctx) as repo:
        names = list(packs) or [p.name for p in repo.store.packs()]
        for name in names:
            problems = plumbing.verify_pack(repo, name)
            for p in problems:
                click.echo(f"error: {p}", err=True)
            bad = bad or bool(problems)
            if verbose or not problems:
                click.echo(f"pack-{name[-64:] if len(name) >= 64 else name}: {'ok' if not problems else 'BAD'}")
    if bad:
        ctx.exit(1)


@click.command("count-objects")
@json_option
@click.option("-v", "verbose", is_flag=True, help="Show every figure.")
@click.pass_context
def count_objects_cmd(ctx, as_json, verbose):
    """Count objects in packs and journals, and the bytes they use."""
    from trace_core import plumbing

    with open_repo(ctx) as repo:
        c = plumbing.count_objects(repo)
    if as_json:
        emit_json(c)
    elif verbose:
        for k, v in c.items():
            click.echo(f"{k.replace('_', '-')}: {v}")
    else:
        click.echo(f"{c['packed_objects'] + c['journal_objects']} objects, "
                   f"{(c['pack_bytes'] + c['journal_bytes']) // 1024} kilobytes")
