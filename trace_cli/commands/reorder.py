"""`trace reorder`: rearrange the entries of the current context (trace_core.reorder)."""

from __future__ import annotations

import sys
from contextlib import ExitStack

from ..declare import JSON, IntRange, command, flag, option
from ..util import (
    commit_line,
    decode_utf8,
    echo,
    edited,
    emit_json,
    fail,
    open_repo,
    read_input,
    warn,
)


def _parse_move(text: str) -> tuple:
    """`5:8` -> (5, 8); `5` -> (5, 6)."""
    a, sep, b = text.partition(":")
    try:
        start = int(a)
        end = int(b) if sep else start + 1
    except ValueError:
        fail(f"--move takes START:END (entries START to END-1) or one index, got {text!r}", 2)
        raise
    return start, end


def _describe_order(result, messages, flags) -> list:
    from trace_core.messages import preview
    moved = set(result.moved)
    lines = []
    for pos, old in enumerate(result.order):
        m = messages[old]
        role = str(m.get("role") or m.get("type") or "message")
        mark = "*" if old in moved else " "
        pin = " [pinned]" if flags[old] & 1 else ""
        lines.append(f"{mark}{pos:4d}  #{old:<4d} {role:9s}{pin} {preview(m, 60)}")
    return lines


@command("reorder",
         option("--move", dest="moves", multiple=True, metavar="START:END",
                help="Move entries START to END-1 (or one index) (repeatable; with --to)."),
         option("--to", dest="to", multiple=True, type=IntRange(min=0), metavar="K",
                help="...to just before entry K of the list as it is then (K = count: the end)."),
         flag("-i", "--interactive", help="Edit the order as a todo list in $VISUAL / $EDITOR."),
         option("--todo", metavar="FILE", help="Take the order from a todo list ('-': stdin)."),
         flag("--print-todo", help="Print the todo list of the current context."),
         flag("--dry-run", dest="dry_run",
              help="Show the new order and the warnings; commit nothing."),
         flag("--strict", help="Refuse if the safety checks warn or tool-call pairing breaks."),
         flag("--force", help="Apply despite warnings, even with --strict; "
                              "the warnings are recorded in the commit."),
         option("-m", dest="message", help="Commit message."),
         option("--author", help="Author (agent name) of this commit."),
         JSON)
def reorder(obj, moves=(), to=(), interactive=False, todo=None, print_todo=False,
            dry_run=False, strict=False, force=False, as_json=False, message=None,
            author=None) -> None:
    """Rearrange the entries of the current context, as one commit.

    \b
    trace reorder --move 5:8 --to 2        entries 5, 6, 7 go before entry 2
    trace reorder --move 3 --to 10         entry 3 goes before entry 10 (moves are applied
                                           in turn; later indices refer to the new list)
    trace reorder -i                       reorder lines in an editor, like git rebase -i
    trace reorder --print-todo > t; ...; trace reorder --todo t
    trace reorder --move 0 --to 4 --dry-run

    Safety checks warn when a tool result would precede its call, an answer its question,
    an entry what it refers to, or when entries cross a system message or a pinned block.
    """
    from trace_core.reorder import ReorderRefused, format_todo, parse_todo
    from trace_core.reorder import reorder as do_reorder

    modes = sum([bool(moves), interactive, todo is not None, print_todo])
    if modes != 1:
        fail("give --move/--to, -i, --todo FILE or --print-todo (one of them)", 2)
    if len(moves) != len(to):
        fail(f"each --move needs a --to ({len(moves)} --move, {len(to)} --to)", 2)
    with open_repo(obj) as repo:
        base = repo.head_commit()
        if base is None:
            fail("your current branch has no commits yet")
        entries = repo.entries_at(base)
        flags = [e.flags for e in entries]
        kw: dict = {"base": base, "entries": entries}
        if moves:
            kw["moves"] = [(*_parse_move(m), k) for m, k in zip(moves, to, strict=True)]
        else:
            messages = repo.entry_messages(entries)
            branch = repo.head_branch() or "detached HEAD"
            header = (f"Context of {branch} at {base.hex()[:12]}: {len(entries)} entries.")
            if print_todo:
                sys.stdout.write(format_todo(messages, flags, header))
                return
            if not entries:
                echo("nothing to do: the context is empty")
                return
            kw["messages"] = messages
        with ExitStack() as stack:
            if strict and not force:
                stack.enter_context(repo.strict_tools())
            if interactive:
                text = stack.enter_context(edited(format_todo(messages, flags, header), ".todo",
                                                  "the todo list", "--todo"))
                kw["order"] = parse_todo(text, len(entries))
            elif todo is not None:
                text = decode_utf8(read_input(todo, todo == "-"), todo)
                kw["order"] = parse_todo(text, len(entries))
            try:
                res = do_reorder(repo, strict=strict, force=force, commit_message=message,
                                 dry_run=dry_run, author=author, **kw)
            except ReorderRefused as exc:
                if not as_json:
                    for w in exc.warnings:
                        warn(w.message)
                fail(str(exc))
                raise
        if as_json:
            emit_json({"commit": res.commit.hex if res.commit else None,
                       "base": res.base.hex() if res.base else None, "changed": res.changed,
                       "dry_run": res.dry_run, "order": res.order, "moved": res.moved,
                       "warnings": [{"kind": w.kind, "entries": list(w.entries),
                                     "message": w.message} for w in res.warnings]})
            return
        if not res.changed:
            echo("nothing to do: the order is unchanged")
            return
        if dry_run:
            echo("new order (dry run: nothing committed; * = moved):")
            for line in _describe_order(res, res.messages, flags):
                echo(line)
        else:
            c = res.commit
            n = len(res.moved)
            echo(f"{commit_line(repo, c)} (reorder, {n} entr"
                 f"{'y' if n == 1 else 'ies'} moved)")
        for w in res.warnings:
            warn(w.message)
        if res.warnings and force and not dry_run:
            warn(f"applied anyway (--force): {len(res.warnings)} warning"
                 f"{'s' if len(res.warnings) != 1 else ''} recorded in the commit")
