"""What the context is and how it changed: status, show, diff, context."""

from __future__ import annotations

import sys

from trace_core.refs import shorten

from ..declare import JSON, Choice, argument, command, flag, option
from ..util import echo, echo_err_styled, emit_json, fail, open_repo, style


def preview(msg: dict, width: int = 60) -> str:
    from trace_core.messages import preview as _preview
    return _preview(msg, width)


def kind(msg: dict) -> str:
    from trace_core.messages import kind as _kind
    return _kind(msg)


def _bar(used: int, total: int, width: int = 30) -> str:
    frac = min(1.0, used / total) if total else 0.0
    n = int(round(frac * width))
    fg = "green" if frac < 0.8 else ("yellow" if frac < 0.95 else "red")
    return style("[" + "#" * n + "." * (width - n) + "]", fg)


@command("status", JSON, option("--agent", metavar="NAME",
                                 help="The status of sub-agent NAME (as `trace --agent NAME "
                                      "status`)."), fast=True)
def status(obj, as_json=False, agent=None) -> None:
    """HEAD, branch, entries, tokens against the budget, warnings, undone entries."""
    if agent is not None:
        if obj.get("agent") is not None:
            fail("give --agent once: before or after 'status', not both")
        obj = {**obj, "agent": agent}
    with open_repo(obj) as repo:
        st = repo.status()
    if as_json:
        emit_json(st.to_dict())
        return
    if st.agent:
        echo(f"Agent {st.agent}")
    if st.detached:
        echo(f"HEAD detached at {st.head[:12] if st.head else '(none)'}")
    else:
        echo(f"On branch {shorten(st.branch)}")
    if st.head is None:
        echo("No commits yet")
    echo(f"Context: {st.entries} entr{'y' if st.entries == 1 else 'ies'} ({st.pinned} pinned)")
    if st.budget.max_tokens:
        pct = 100 * st.total_tokens / st.budget.max_tokens
        echo(f"Tokens:  {st.total_tokens} / {st.budget.max_tokens} "
             f"{_bar(st.total_tokens, st.budget.max_tokens)} {pct:.0f}%")
    else:
        echo(f"Tokens:  {st.total_tokens} (no budget set: trace config budget.max-tokens N)")
    if st.undone:
        echo(f"\nUndone by reset --soft ({len(st.undone)}; "
             f"'trace commit --reapply' commits them again):")
        for u in st.undone:
            echo(f"  #{u['index']} {kind(u['message'])}: {preview(u['message'])}")
    if st.pending_calls:
        from trace_core.toolpairs import pending_line
        echo(f"\n{'HEAD' if st.head else 'The context'} {pending_line(_pending(st))}")
    if st.broken_pairs:
        n = len(st.broken_pairs)
        echo(f"\nBroken tool-call pairs ({n}; providers reject such a prompt: "
             "'trace context --repair drop-orphans|placeholder' repairs it):")
        for b in st.broken_pairs:
            echo(f"  {b['kind']}: {b['message']}")
    if st.operation:
        _print_operation(st.operation)
    for w in st.warnings:
        echo_err_styled(f"warning: {w}", "red")


def _pending(st) -> list:
    from trace_core.toolpairs import Pending
    return [Pending(**p) for p in st.pending_calls]


def _print_operation(op: dict) -> None:
    name = op["op"]
    if op.get("damaged"):
        echo(f"\nA {name} was interrupted and its state is unreadable: {op['damaged']}")
        return
    what = op.get("theirs_name") or (op.get("theirs") or "")[:12]
    echo(f"\nYou are in the middle of a {name} ({what}, strategy {op['strategy']}); the branch "
         "has not moved yet.")
    if op.get("rebase"):
        rb = op["rebase"]
        echo(f"  rebase onto {(rb['onto'] or '')[:12]}: {rb['done']} commit(s) replayed, "
             f"{rb['todo']} to go (the current one included)")
    open_ = [c for c in op["conflicts"] if not c["resolved"]]
    for c in op["conflicts"]:
        state = f"resolved ({c['action']}, by {c['by']})" if c["resolved"] else "open"
        echo(f"  conflict {c['id']} {c['kind']}: {state}: {c['note']}")
    if op["moved"]:
        echo(f"  the branch moved since the {name} started: "
             f"'trace {name} --abort', then start again")
    elif open_:
        echo(f"  settle with 'trace resolve <id> --ours|--theirs|--both|--drop|--text TEXT' "
             f"('trace resolve --list' shows them), then 'trace {name} --continue'; "
             f"'trace {name} --abort' restores the state before the {name}")
    else:
        echo(f"  all conflicts settled: 'trace {name} --continue' (or 'trace {name} --abort')")


def print_diff(d) -> None:
    if not d.items:
        echo("(no changes to the context)")
    for it in d.items:
        if it.kind == "added":
            echo(style(f"+ #{it.new_index} {kind(it.new)}: {preview(it.new)}", "green"))
        elif it.kind == "removed":
            echo(style(f"- #{it.old_index} {kind(it.old)}: {preview(it.old)}", "red"))
        elif it.kind == "moved":
            echo(style(f"> #{it.old_index} -> #{it.new_index} "
                       f"{kind(it.new)}: {preview(it.new)}", "cyan"))
        elif it.kind in ("pinned", "unpinned"):
            echo(f"* #{it.new_index} {it.kind}: {preview(it.new)}")
        else:
            echo(style(f"~ #{it.old_index} edited", "yellow"))
            for line in it.text_diff.splitlines():
                fg = "green" if line.startswith("+") else ("red" if line.startswith("-") else None)
                echo("    " + (style(line, fg) if fg else line))
    sign = "+" if d.token_delta >= 0 else ""
    echo(f"tokens: {d.old_tokens} -> {d.new_tokens} ({sign}{d.token_delta})")


def diff_json(d) -> dict:
    from trace_core.plumbing import to_jsonable
    return {"old": d.old, "new": d.new, "old_tokens": d.old_tokens, "new_tokens": d.new_tokens,
            "token_delta": d.token_delta,
            "changes": [{"kind": i.kind, "old_index": i.old_index, "new_index": i.new_index,
                         "old": to_jsonable(i.old), "new": to_jsonable(i.new),
                         "text_diff": i.text_diff}
                        for i in d.items]}


@command("diff", JSON, argument("a"), argument("b"), fast=True)
def diff(obj, as_json=False, a=None, b=None) -> None:
    """Compare the contexts of two commits
    (default: HEAD's parent and HEAD; one arg: A and HEAD)."""
    with open_repo(obj) as repo:
        if a is None:
            head = repo.head_commit()
            if head is None:
                fail("no commits yet")
            parents = repo.get_commit(head).parents
            a, b = (parents[0].hex() if parents else None), "HEAD"
        elif b is None:
            b = "HEAD"
        d = repo.diff(a, b)
    if as_json:
        emit_json(diff_json(d))
    else:
        print_diff(d)


@command("show", JSON, argument("rev", default="HEAD"), fast=True)
def show(obj, as_json=False, rev="HEAD") -> None:
    """A commit: metadata, the content it carried, and its change to the context."""
    with open_repo(obj) as repo:
        info = repo.show(rev)
        compress_lines = None
        if info["op"] == "compress" and not as_json:
            from trace_core.compress import describe, show_lines
            compress_lines = show_lines(describe(repo.get_commit(bytes.fromhex(info["id"]))))
    if as_json:
        from trace_core.plumbing import to_jsonable
        info = dict(info, carried=to_jsonable(info["carried"]), diff=diff_json(info["diff"]))
        emit_json(info)
        return
    echo(style(f"commit {info['id']}", "yellow"))
    if len(info["parents"]) > 1:
        echo("Merge:  " + " ".join(p[:12] for p in info["parents"]))
    echo(f"Author: {info['author']}")
    from trace_core.render.log import commit_date
    echo(f"Date:   {commit_date(info['time_ms'], info['tz_min'])}")
    echo(f"Op:     {info['op']}  {info['tokens']} tokens, {info['total_tokens']} in context "
         f"({info['encoding']})")
    if info["meta"]:
        from trace_core.render.log import inference_line
        line = inference_line(info["meta"])
        if line:
            echo(line)
        if compress_lines is not None:  # provenance may list thousands of entries: summarized
            for text in compress_lines:
                echo(text)
        else:
            import json
            echo("Meta:   " + json.dumps(info["meta"], sort_keys=True, ensure_ascii=False))
    if info["usage_note"]:
        from trace_core.render.log import format_inference
        echo("Usage:  " + format_inference(info["usage_note"]) + " (recorded later)")
    echo(f"\n    {info['message']}\n")
    print_diff(info["diff"])


@command("context",
         option("--format", dest="fmt",
                type=Choice(("openai", "openai-responses", "anthropic", "text", "json")),
                default="openai", show_default=True, help="Prompt format."),
         option("--repair", type=Choice(("drop-orphans", "placeholder")),
                help="Repair broken tool-call pairs and calls awaiting results in the prompt "
                     "(each repair is reported on stderr; the history is unchanged)."),
         flag("--expand", help="Replace each sub-agent's collapse message by the sub-agent's "
                               "own messages, marked (docs/multiagent.md)."),
         argument("rev", default="HEAD"), fast=True)
def context(obj, fmt="openai", repair=None, expand=False, rev="HEAD") -> None:
    """Print the context at REV exactly as the model would be sent it.

    \b
    --repair drop-orphans   leave out results without their call and calls without result
    --repair placeholder    give each call without result a placeholder result
    --expand                the expanded prompt: sub-agents' work in place of their collapses
    """
    with open_repo(obj) as repo:
        if expand:
            out = repo.expanded_context(fmt, rev=rev, repair=repair)
        else:
            out = repo.materialize(fmt, rev=rev, repair=repair)
    if fmt == "text":
        sys.stdout.write(out)
    else:
        from trace_core.plumbing import to_jsonable
        emit_json(to_jsonable(out))
