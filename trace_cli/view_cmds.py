"""Porcelain that reads: log, status, show, diff, context, config."""

from __future__ import annotations

import json
import sys
import time

import click

from .util import emit_json, fail, json_option, open_repo


def _color() -> bool:
    return sys.stdout.isatty()


def _style(text: str, **kw) -> str:
    return click.style(text, **kw) if _color() else text


def _when(ms: int, tz: int = 0) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(ms / 1000 + tz * 60)) + \
        f" {'+' if tz >= 0 else '-'}{abs(tz) // 60:02d}{abs(tz) % 60:02d}"


def _labels(repo) -> dict:
    """commit hex -> ref labels, like git's decorations."""
    out: dict = {}
    head = repo.refs.resolve("HEAD")
    branch = repo.head_branch()
    for name, raw in repo.refs.list("refs/"):
        if raw.startswith("ref:"):
            continue
        short = name.split("/", 2)[2] if name.startswith(("refs/heads/", "refs/tags/")) else name
        label = f"tag: {short}" if name.startswith("refs/tags/") else short
        if name == branch:
            label = f"HEAD -> {short}"
        out.setdefault(raw, []).append(label)
    if head and branch is None:
        out.setdefault(head, []).insert(0, "HEAD")
    return out


@click.command("log")
@click.option("--oneline", is_flag=True, help="One line per commit.")
@click.option("-n", "--max-count", "limit", type=click.IntRange(min=0), help="Show at most N commits.")
@click.option("--first-parent", is_flag=True, help="Follow only first parents.")
@click.option("--no-pager", is_flag=True, help="Do not page output on a terminal.")
@json_option
@click.argument("revs", nargs=-1)
@click.pass_context
def log_cmd(ctx, oneline, limit, first_parent, no_pager, as_json, revs):
    """History from REVS (default HEAD): each commit's token cost and the running total."""
    from trace_cli.graph_cmds import _split_ranges

    include, exclude = _split_ranges(revs or ("HEAD",))
    with open_repo(ctx) as repo:
        if repo.head_commit() is None and not revs:
            fail("your current branch has no commits yet")
        inc = [repo.resolve(r) for r in include or ["HEAD"]]
        exc = [repo.resolve(r) for r in exclude]
        rows = repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent)
        labels = _labels(repo)
        if as_json:
            emit_json([{"id": r.id.hex(), "parents": [p.hex() for p in r.parents], "op": r.op,
                        "author": r.author, "time_ms": r.time_ms, "tokens": r.tokens,
                        "total_tokens": r.total_tokens, "summary": r.summary,
                        "refs": labels.get(r.id.hex(), [])} for r in rows])
            return
        lines = []
        for r in rows:
            h = r.id.hex()
            deco = labels.get(h)
            deco_s = _style(" (" + ", ".join(deco) + ")", fg="yellow") if deco else ""
            sign = "-" if r.op == "drop" else "+"
            if oneline:
                lines.append(f"{_style(h[:12], fg='yellow')}{deco_s} {r.op:<7} {sign}{r.tokens:<5} "
                             f"{r.total_tokens:>7}  {r.summary}")
            else:
                lines.append(_style(f"commit {h}", fg="yellow") + deco_s)
                if len(r.parents) > 1:
                    lines.append("Merge:  " + " ".join(p.hex()[:12] for p in r.parents))
                lines.append(f"Author: {r.author}")
                lines.append(f"Date:   {_when(r.time_ms, r.tz)}")
                lines.append(f"Op:     {r.op}  {sign}{r.tokens} tokens, {r.total_tokens} in context")
                lines.append("")
                lines.append(f"    {r.summary}")
                lines.append("")
        text = "\n".join(lines) + ("\n" if lines else "")
    if sys.stdout.isatty() and not no_pager and text.count("\n") > 40:
        click.echo_via_pager(text)
    else:
        sys.stdout.write(text)


def _bar(used: int, total: int, width: int = 30) -> str:
    frac = min(1.0, used / total) if total else 0.0
    n = int(round(frac * width))
    color = "green" if frac < 0.8 else ("yellow" if frac < 0.95 else "red")
    return _style("[" + "#" * n + "." * (width - n) + "]", fg=color)


@click.command("status")
@json_option
@click.pass_context
def status_cmd(ctx, as_json):
    """HEAD, branch, entries, tokens against the budget, warnings, undone entries."""
    from trace_core.plumbing import to_jsonable

    with open_repo(ctx) as repo:
        st = repo.status()
    if as_json:
        emit_json({"head": st.head, "branch": st.branch, "detached": st.detached, "agent": st.agent,
                   "entries": st.entries, "pinned": st.pinned, "total_tokens": st.total_tokens,
                   "budget": {"max_tokens": st.budget.max_tokens, "warn": list(st.budget.warn)},
                   "warnings": st.warnings, "undone": to_jsonable(st.undone)})
        return
    if st.agent:
        click.echo(f"Agent {st.agent}")
    if st.detached:
        click.echo(f"HEAD detached at {st.head[:12] if st.head else '(none)'}")
    else:
        click.echo(f"On branch {st.branch[len('refs/heads/'):] if st.branch.startswith('refs/heads/') else st.branch}")
    if st.head is None:
        click.echo("No commits yet")
    click.echo(f"Context: {st.entries} entr{'y' if st.entries == 1 else 'ies'} ({st.pinned} pinned)")
    if st.budget.max_tokens:
        pct = 100 * st.total_tokens / st.budget.max_tokens
        click.echo(f"Tokens:  {st.total_tokens} / {st.budget.max_tokens} {_bar(st.total_tokens, st.budget.max_tokens)} {pct:.0f}%")
    else:
        click.echo(f"Tokens:  {st.total_tokens} (no budget set: trace config budget.max-tokens N)")
    if st.undone:
        click.echo(f"\nUndone by reset --soft ({len(st.undone)}; 'trace commit --reapply' commits them again):")
        for u in st.undone:
            click.echo(f"  #{u['index']} {u['message'].get('role', '?')}: {_preview(u['message'])}")
    for w in st.warnings:
        click.echo(_style(f"warning: {w}", fg="red"), err=True)


def _preview(msg: dict, width: int = 60) -> str:
    from trace_core.history import preview
    return preview(msg, width)


def _print_diff(d) -> None:
    if not d.items:
        click.echo("(no changes to the context)")
    for it in d.items:
        if it.kind == "added":
            click.echo(_style(f"+ #{it.new_index} {it.new.get('role', '?')}: {_preview(it.new)}", fg="green"))
        elif it.kind == "removed":
            click.echo(_style(f"- #{it.old_index} {it.old.get('role', '?')}: {_preview(it.old)}", fg="red"))
        elif it.kind == "moved":
            click.echo(_style(f"> #{it.old_index} -> #{it.new_index} {it.new.get('role', '?')}: {_preview(it.new)}", fg="cyan"))
        elif it.kind in ("pinned", "unpinned"):
            click.echo(f"* #{it.new_index} {it.kind}: {_preview(it.new)}")
        else:
            click.echo(_style(f"~ #{it.old_index} edited", fg="yellow"))
            for line in it.text_diff.splitlines():
                fg = "green" if line.startswith("+") else ("red" if line.startswith("-") else None)
                click.echo("    " + (_style(line, fg=fg) if fg else line))
    sign = "+" if d.token_delta >= 0 else ""
    click.echo(f"tokens: {d.old_tokens} -> {d.new_tokens} ({sign}{d.token_delta})")


def _diff_json(d) -> dict:
    from trace_core.plumbing import to_jsonable
    return {"old": d.old, "new": d.new, "old_tokens": d.old_tokens, "new_tokens": d.new_tokens,
            "token_delta": d.token_delta,
            "changes": [{"kind": i.kind, "old_index": i.old_index, "new_index": i.new_index,
                         "old": to_jsonable(i.old), "new": to_jsonable(i.new), "text_diff": i.text_diff}
                        for i in d.items]}


@click.command("diff")
@json_option
@click.argument("a", required=False)
@click.argument("b", required=False)
@click.pass_context
def diff_cmd(ctx, as_json, a, b):
    """Compare the contexts of two commits (default: HEAD's parent and HEAD; one arg: A and HEAD)."""
    with open_repo(ctx) as repo:
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
        emit_json(_diff_json(d))
    else:
        _print_diff(d)


@click.command("show")
@json_option
@click.argument("rev", default="HEAD")
@click.pass_context
def show_cmd(ctx, as_json, rev):
    """A commit: metadata, the content it carried, and its change to the context."""
    from trace_core.plumbing import to_jsonable

    with open_repo(ctx) as repo:
        info = repo.show(rev)
    if as_json:
        info = dict(info, carried=to_jsonable(info["carried"]), diff=_diff_json(info["diff"]))
        emit_json(info)
        return
    click.echo(_style(f"commit {info['id']}", fg="yellow"))
    if len(info["parents"]) > 1:
        click.echo("Merge:  " + " ".join(p[:12] for p in info["parents"]))
    click.echo(f"Author: {info['author']}")
    click.echo(f"Date:   {_when(info['time_ms'], info['tz_min'])}")
    click.echo(f"Op:     {info['op']}  {info['tokens']} tokens, {info['total_tokens']} in context "
               f"({info['encoding']})")
    if info["meta"]:
        click.echo("Meta:   " + json.dumps(info["meta"], sort_keys=True, ensure_ascii=False))
    click.echo(f"\n    {info['message']}\n")
    _print_diff(info["diff"])


@click.command("context")
@click.option("--format", "fmt", type=click.Choice(["openai", "anthropic", "text", "json"]),
              default="openai", show_default=True, help="Prompt format.")
@click.argument("rev", default="HEAD")
@click.pass_context
def context_cmd(ctx, fmt, rev):
    """Print the context at REV exactly as the model would be sent it."""
    with open_repo(ctx) as repo:
        out = repo.materialize(fmt, rev=rev)
    if fmt == "text":
        sys.stdout.write(out)
    else:
        from trace_core.plumbing import to_jsonable
        emit_json(to_jsonable(out))


@click.command("config")
@click.option("--get", "action", flag_value="get", help="Print a value (default with one argument).")
@click.option("--unset", "action", flag_value="unset", help="Remove a key.")
@click.option("--list", "-l", "action", flag_value="list", help="List every setting.")
@click.argument("key", required=False)
@click.argument("value", required=False)
@click.pass_context
def config_cmd(ctx, action, key, value):
    """Get or set settings in .trace/config (git-config style: section.key)."""
    with open_repo(ctx) as repo:
        if action == "list" or (action is None and key is None):
            for k, v in repo.config.items():
                click.echo(f"{k}={v}")
            return
        if key is None:
            fail("give a key", 2)
        if action == "unset":
            if key not in repo.config:
                ctx.exit(5)
            repo.unset_config(key)
            return
        if value is None or action == "get":
            if value is not None:
                fail("--get takes only a key", 2)
            v = repo.config.get(key)
            if v is None:
                ctx.exit(1)
            click.echo(v)
            return
        from trace_core.config import READ_ONLY_KEYS
        if key.lower() in READ_ONLY_KEYS:
            fail(f"{key} is set by 'trace init' and cannot be changed")
        repo.set_config(key, value)
