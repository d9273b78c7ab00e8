"""Commands that move the current branch: commit, reset, checkout."""

from __future__ import annotations

import sys
from contextlib import ExitStack

from trace_core.refs import shorten

from ..declare import JSON, Choice, argument, command, flag, option
from ..util import (
    EXIT_USAGE,
    commit_line,
    decode_utf8,
    echo,
    emit_json,
    fail,
    open_repo,
    parse_json,
    read_input,
    text_arg,
    warn,
)


def _content(content, file) -> str | None:
    """The content to commit: the argument, FILE, or standard input; None if there is none.
    At most 6 x MAX_MESSAGE_SIZE bytes are read: JSON escapes ("\u0001") make a message's text
    up to 6 times its stored size, so no message within the limit is refused for its input."""
    from trace_core.history import MAX_MESSAGE_SIZE

    limit = 6 * MAX_MESSAGE_SIZE
    if content is not None and file is not None:
        fail("give the content as an argument or with --file, not both", EXIT_USAGE)
    if file is not None:
        return decode_utf8(read_input(file, file == "-", limit), file)
    if content == "-" or (content is None and not sys.stdin.isatty()):
        return decode_utf8(read_input(None, True, limit), "standard input")
    return text_arg(content, "the content argument")


def _messages(text: str, fmt: str) -> list:
    """The messages `text` holds: one JSON object or an array of them (json), one object a
    line (jsonl)."""
    if fmt == "jsonl":
        values = [parse_json(line, f"line {no}") for no, line in
                  enumerate(text.splitlines(), 1) if line.strip()]
        if not values:
            fail("nothing to commit: the JSONL input has no messages")
        where = [f"line {no}" for no, line in enumerate(text.splitlines(), 1) if line.strip()]
    else:
        value = parse_json(text, "the message")
        values = value if isinstance(value, list) else [value]
        if not values:
            fail("nothing to commit: the JSON array is empty")
        where = [f"item {i}" for i in range(len(values))] if isinstance(value, list) \
            else ["the message"]
    for v, w in zip(values, where, strict=True):
        if not isinstance(v, dict):
            fail(f"{w} is not a message: a JSON message must be an object like "
                 "{\"role\": \"user\", \"content\": \"hi\"}")
    return values


def _edit_role(repo, target: int) -> str:
    """The role of the entry an edit replaces (kept unless --role says otherwise)."""
    from trace_core.errors import InputError
    entries = repo.entries_at(repo.head_commit()) if repo.head_commit() else []
    if not -len(entries) <= target < len(entries):
        raise InputError(f"entry {target} does not exist (the context has {len(entries)} "
                         "entries)")
    role = repo.get_blob(entries[target].blob).message.get("role")
    if not isinstance(role, str) or not role:
        fail(f"entry {target} has no role to keep; give --role")
    return role


def _public_meta(pairs, usage_json, usage_name="--usage-json") -> tuple:
    """(--meta KEY=VALUE pairs as a dict or None, --usage-json as a value or None); the library
    checks both (trace_core.publicmeta)."""
    labels = None
    if pairs:
        labels = {}
        for pair in pairs:
            key, sep, value = text_arg(pair, "--meta").partition("=")
            if not sep:
                fail(f"--meta {pair!r:.60} is not KEY=VALUE")
            if key in labels:
                fail(f"--meta {key!r:.60} is given twice")
            labels[key] = value
    usage = None
    if usage_json is not None:
        usage = parse_json(text_arg(usage_json, usage_name), usage_name)
    return labels, usage


def _report(repo, commit) -> None:
    sign = "+" if commit.op != "drop" else "-"
    echo(f"{commit_line(repo, commit)} ({commit.op}, {sign}{commit.tokens} "
         f"tokens, {commit.total_tokens} in context)")
    for w in repo.budget_warnings(commit.total_tokens):
        warn(w)
    for note in repo.store.notes:
        warn(note)


def strict_option(what: str = "change"):
    return flag("--strict", help=f"Refuse a {what} that breaks tool-call pairing (a result "
                                 "without its call, a call without its result) or crosses a "
                                 "budget threshold.")


def strict_context(repo, strict: bool, stack: ExitStack) -> None:
    """Enter strict budget and tool-call checking on `repo` when `strict`."""
    if strict:
        stack.enter_context(repo.strict_budget())
        stack.enter_context(repo.strict_tools())


@command("commit",
         argument("content"),
         option("-F", "--file", dest="file", metavar="FILE",
                help="Read the content from FILE ('-' for stdin)."),
         option("--role", help="Message role for text content (default: user; for an edit, "
                               "the role of the entry it replaces)."),
         option("--input", dest="input_format", type=Choice(("text", "json", "jsonl")),
                default="text", show_default=True,
                help="What the content is: the text of one message; a JSON message object "
                     "or array of them; one JSON message object per line. Several messages "
                     "are one commit."),
         flag("--json", dest="as_json", help="Deprecated spelling of --input json."),
         option("--type", dest="op", type=Choice(("append", "edit", "pin", "unpin", "drop")),
                default="append", show_default=True, help="Operation."),
         option("--target", dest="targets", multiple=True, type=int, metavar="N",
                help="Entry index for edit/pin/unpin/drop "
                     "(repeatable; negative counts from the end)."),
         flag("--pin", dest="pinned", help="Append the entry pinned."),
         option("-m", dest="message", help="Commit message (default: derived from the content)."),
         option("--author", help="Author (agent name) of this commit."),
         strict_option("commit"),
         flag("--force", help="Drop pinned entries too."),
         flag("--reapply", help="Commit again what 'reset --soft' undid, as one append."),
         option("--meta", dest="meta", multiple=True, metavar="KEY=VALUE",
                help="Public metadata stored on an append commit (repeatable; e.g. "
                     "langfuse.trace_id=...)."),
         option("--usage-json", dest="usage_json", metavar="JSON",
                help="Token usage the API reported for the appended messages: a JSON object "
                     "with prompt_tokens, completion_tokens, model, provider, trace_id."),
         fast=True)
def commit(obj, content=None, file=None, role=None, input_format="text", as_json=False,
           op="append", targets=(), pinned=False, message=None, author=None, strict=False,
           force=False, reapply=False, meta=(), usage_json=None) -> None:
    """Record a change to the context: append messages, or edit/pin/unpin/drop entries.

    \b
    trace commit "Find the bug in parser.py"           append a user message
    trace commit --role assistant -F answer.txt        content from a file
    echo '{"role":"tool","tool_call_id":"c1","content":"ok"}' | trace commit --input json
    trace commit --input jsonl -F turn.jsonl           several messages, one commit
    trace commit --type edit --target 3 "new text"     replace entry 3 (its role is kept)
    trace commit --type pin --target 0                 pin entry 0
    trace commit --type drop --target 5 --target 6     drop entries 5 and 6
    trace commit --role assistant --meta langfuse.trace_id=abc "answer"
    """
    message = text_arg(message, "the -m message")
    author = text_arg(author, "--author")
    role = text_arg(role, "--role")
    if as_json:
        if input_format not in ("text", "json"):
            fail("--json is --input json; do not combine it with --input " + input_format,
                 EXIT_USAGE)
        warn("'trace commit --json' is deprecated: use --input json")
        input_format = "json"
    labels, usage = _public_meta(meta, usage_json)
    if (labels is not None or usage is not None) and (op != "append" or reapply):
        fail("--meta and --usage-json are for appends", EXIT_USAGE)
    with open_repo(obj) as repo, ExitStack() as stack:
        strict_context(repo, strict, stack)
        if reapply:
            _report(repo, repo.reapply(commit_message=message))
            return
        if op in ("pin", "unpin", "drop"):
            if not targets:
                fail(f"--type {op} needs --target", EXIT_USAGE)
            if content is not None or file is not None:
                fail(f"--type {op} takes no content", EXIT_USAGE)
            fn = {"pin": repo.pin, "unpin": repo.unpin}.get(op)
            c = fn(*targets, commit_message=message, author=author) if fn else \
                repo.drop(*targets, commit_message=message, force=force, author=author)
            _report(repo, c)
            return
        if op == "edit" and len(targets) != 1:
            fail("--type edit needs exactly one --target", EXIT_USAGE)
        if op != "edit" and targets:
            fail("--target is for edit/pin/unpin/drop", EXIT_USAGE)
        text = _content(content, file)
        if text is None:
            fail("nothing to commit: give content as an argument, with --file, or on stdin",
                 EXIT_USAGE)
        if not text.strip():
            fail("nothing to commit: the content is empty", EXIT_USAGE)
        if input_format != "text":
            if role is not None:
                fail("--role is for text content; a JSON message carries its own role",
                     EXIT_USAGE)
            msgs = _messages(text, input_format)
        else:
            if role is None:
                role = _edit_role(repo, targets[0]) if op == "edit" else "user"
            msgs = [{"role": role, "content": text}]
        if op == "edit":
            if len(msgs) != 1:
                fail(f"--type edit replaces one entry; the input holds {len(msgs)} messages")
            c = repo.edit(targets[0], msgs[0], commit_message=message, author=author)
        else:
            c = repo.append_many(msgs, pinned=pinned, commit_message=message, author=author,
                                 meta=labels, usage=usage)
        _report(repo, c)


@command("reset",
         strict_option("reset"),
         flag("--soft", dest="mode", value="soft", default=True,
              help="Keep the undone entries available (default)."),
         flag("--hard", dest="mode", value="hard",
              help="Discard them from the branch (the reflog keeps them)."),
         argument("rev", default="HEAD"), fast=True)
def reset(obj, strict=False, mode="soft", rev="HEAD") -> None:
    """Move the current branch to REV (e.g. HEAD~2)."""
    with open_repo(obj) as repo, ExitStack() as stack:
        strict_context(repo, strict, stack)
        old = repo.reset(rev, mode)
        head = repo.head_commit()
        n_undone = len(repo.undone_entries()) if mode == "soft" else 0
        c = repo.get_commit(head)
        echo(f"HEAD is now at {head.hex()[:12]} {c.summary}")
        if mode == "soft" and n_undone:
            echo(f"{n_undone} undone entr{'y' if n_undone == 1 else 'ies'} kept: "
                 f"see 'trace status'; 'trace commit --reapply' commits them again")
        elif mode == "hard":
            echo(f"previous head {old[:12]} is reachable as ORIG_HEAD and in the reflog until gc")
        pending_note(repo)


def pending_note(repo) -> None:
    """Say so when HEAD now ends with tool calls awaiting their results (after a rollback)."""
    from trace_core.status import pending_calls
    from trace_core.toolpairs import pending_line
    pending = pending_calls(repo)
    if pending:
        echo(f"HEAD {pending_line(pending)}")


@command("checkout", strict_option("checkout"), argument("rev", required=True), fast=True)
def checkout(obj, strict=False, rev=None) -> None:
    """Switch to a branch, or detach HEAD at a commit (its context exactly)."""
    with open_repo(obj) as repo, ExitStack() as stack:
        strict_context(repo, strict, stack)
        branch = repo.checkout(rev)
        head = repo.head_commit()
        if branch:
            echo(f"Switched to branch '{shorten(branch)}'")
        else:
            c = repo.get_commit(head)
            echo(f"HEAD is now detached at {head.hex()[:12]} {c.summary}")
        pending_note(repo)


@command("record-usage", JSON, argument("usage_json", metavar="JSON", required=True),
         argument("rev", default="HEAD"))
def record_usage(obj, as_json=False, usage_json=None, rev="HEAD") -> None:
    """Record the token usage an API reported for commit REV after it was made (a usage note).

    \b
    trace record-usage '{"input_tokens": 812, "output_tokens": 64, "model": "m"}'
    trace record-usage '{"prompt_tokens": 90, "completion_tokens": 7}' HEAD~2

    JSON takes what `commit --usage-json` takes. A commit is immutable: the usage is kept as a
    note on refs/notes/usage (the latest note of a commit wins); `trace show` prints it."""
    _, usage = _public_meta((), usage_json, "JSON")
    with open_repo(obj) as repo:
        note = repo.record_usage(usage, rev)
        target = repo.commit_info(rev)
    if as_json:
        emit_json({"note": note, "commit": target.id, "usage": target.usage})
    else:
        echo(f"recorded usage of {target.id[:12]} (note {note[:12]})")
