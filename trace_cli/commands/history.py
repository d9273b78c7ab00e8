"""History commands: log, rev-list, merge-base (walks over the commit index; graph is graph.py)."""

from __future__ import annotations

import sys

from trace_core.plumbing.revparse import resolve_commit, split_ranges

from ..declare import JSON, IntRange, argument, command, flag, option
from ..util import CommandExit, color, echo, emit_json, fail, open_repo, style, when

_ONELINE_COLS = ("op", "tokens", "total", "summary")


def _sign(op: str, tokens: int) -> str:
    """The sign shown before a commit's token cost (drops and shrinking merges remove)."""
    return "-" if op == "drop" or tokens < 0 else "+"


_LONG_COLS = ("tz", "author", "op", "tokens", "total", "summary")


@command("log",
         flag("--oneline", help="One line per commit."),
         option("-n", "--max-count", dest="limit", type=IntRange(min=0), help="Show at most N commits."),
         flag("--first-parent", help="Follow only first parents."),
         flag("--no-pager", help="Do not page output on a terminal."),
         JSON,
         argument("revs", nargs=-1), fast=True)
def log(obj, oneline=False, limit=None, first_parent=False, no_pager=False, as_json=False,
        revs=()) -> None:
    """History from REVS (default HEAD): each commit's token cost and the running total."""
    include, exclude = split_ranges(revs or ("HEAD",))
    with open_repo(obj) as repo:
        if repo.head_commit() is None and not revs:
            fail("your current branch has no commits yet")
        inc = [resolve_commit(repo, r) for r in include or ["HEAD"]]
        exc = [resolve_commit(repo, r) for r in exclude]
        from trace_core.render.labels import ref_labels
        deco = ref_labels(repo)
        if as_json:
            rows = repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent)
            emit_json([{"id": r.id.hex(), "parents": [p.hex() for p in r.parents], "op": r.op,
                        "author": r.author, "time_ms": r.time_ms, "tokens": r.tokens,
                        "total_tokens": r.total_tokens, "summary": r.summary,
                        "refs": deco.get(r.id, [])} for r in rows])
            return
        if oneline and not color():
            rows = repo.index.oneline_rows(inc, exc, limit, first_parent)
            if deco:
                get = deco.get
                lines = [line if (d := get(oid)) is None else line[:12] + _deco(d) + line[12:]
                         for oid, line in rows]
            else:
                lines = [line for _, line in rows]
        elif oneline:
            lines = _oneline(repo.index.walk_raw(inc, exc, limit, first_parent, _ONELINE_COLS), deco)
        else:
            lines = _long(repo.index.walk_raw(inc, exc, limit, first_parent, _LONG_COLS), deco,
                          repo)
        text = "\n".join(lines) + ("\n" if lines else "")
    if sys.stdout.isatty() and not no_pager and text.count("\n") > 40:
        import click
        click.echo_via_pager(text)
    else:
        sys.stdout.write(text)


def _deco(d) -> str:
    return style(" (" + ", ".join(d) + ")", "yellow") if d else ""


def _oneline(rows, deco: dict) -> list:
    """--oneline lines in color; rows: (id, parents, gen, time_ms, op, tokens, total, summary)."""
    return ["%s%s %-7s %s%-5d %7d  %s" % (style(r[0].hex()[:12], "yellow"), _deco(deco.get(r[0])),
                                         r[4], _sign(r[4], r[5]), abs(r[5]), r[6], r[7])
            for r in rows]


_METERED_OPS = frozenset({"merge", "compress", "cherry-pick", "revert"})


def inference_line(meta: dict):
    """`Inference: ...` for a commit whose operation called an LLM, else None."""
    inf = meta.get("inference") if isinstance(meta, dict) else None
    if not isinstance(inf, dict):
        return None
    return "Inference: " + format_inference(inf)


def format_inference(inf: dict) -> str:
    """`provider/model: P prompt + C completion tokens, $X` of an `inference` meta."""
    cost = inf.get("cost_usd")
    price = f"${cost:.6f}" if isinstance(cost, (int, float)) else "cost unknown"
    who = "/".join(str(x) for x in (inf.get("provider"), inf.get("model")) if x)
    return (f"{who}: {inf.get('prompt_tokens', 0)} prompt + {inf.get('completion_tokens', 0)} "
            f"completion tokens, {price}")


def _long(rows, deco: dict, repo=None) -> list:
    # rows: (id, parents, gen, time_ms, tz, author, op, tokens, total, summary)
    from trace_core.index.sqlite_index import split_parents

    lines = []
    add = lines.append
    dates: dict = {}     # many commits share a second: format each (second, zone) once
    for r in rows:
        add(style(f"commit {r[0].hex()}", "yellow") + _deco(deco.get(r[0])))
        if len(r[1]) > 32:
            add("Merge:  " + " ".join(p.hex()[:12] for p in split_parents(r[1])))
        op = r[6]
        sign = _sign(op, r[7])
        add(f"Author: {r[5]}")
        key = ((r[3] / 1000 + r[4] * 60) // 1, r[4])    # what when() formats (gmtime floors)
        date = dates.get(key)
        if date is None:
            date = dates[key] = when(r[3], r[4])
        add(f"Date:   {date}")
        add(f"Op:     {op}  {sign}{abs(r[7])} tokens, {r[8]} in context")
        if op in _METERED_OPS and repo is not None:
            line = inference_line(repo.get_commit(r[0]).meta)
            if line:
                add(line)
        add("")
        add(f"    {r[9]}")
        add("")
    return lines


@command("rev-list",
         option("-n", "--max-count", dest="limit", type=IntRange(min=0), help="At most N commits."),
         flag("--first-parent", help="Follow only first parents."),
         flag("--count", dest="count_only", help="Print only the number of commits."),
         JSON,
         argument("revs", nargs=-1), fast=True)
def rev_list(obj, limit=None, first_parent=False, count_only=False, as_json=False, revs=()) -> None:
    """List commits reachable from REVS (default HEAD), newest first; ^X or X..Y excludes X."""
    include, exclude = split_ranges(revs or ("HEAD",))
    if not include:
        include = ["HEAD"]
    with open_repo(obj) as repo:
        if as_json:
            from trace_core import plumbing
            rows = plumbing.rev_list(repo, include, exclude, limit=limit, first_parent=first_parent)
        else:
            inc = [resolve_commit(repo, r) for r in include]
            exc = [resolve_commit(repo, r) for r in exclude]
            rows = list(repo.index.walk_raw(inc, exc, limit, first_parent))
    if count_only:
        echo(len(rows))
    elif as_json:
        emit_json([{"id": r.id.hex(), "parents": [p.hex() for p in r.parents], "time_ms": r.time_ms,
                    "author": r.author, "op": r.op, "tokens": r.tokens,
                    "total_tokens": r.total_tokens, "summary": r.summary} for r in rows])
    elif rows:
        echo("\n".join([r[0].hex() for r in rows]))


@command("merge-base",
         flag("--all", dest="all_bases", help="Print every best common ancestor."),
         flag("--is-ancestor", help="Exit 0 if A is an ancestor of B, 1 if not."),
         argument("a", required=True),
         argument("b", required=True), fast=True)
def merge_base(obj, all_bases=False, is_ancestor=False, a=None, b=None) -> None:
    """Print the best common ancestor(s) of A and B."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        if is_ancestor:
            raise CommandExit(0 if plumbing.is_ancestor(repo, a, b) else 1)
        bases = plumbing.merge_base(repo, a, b, all_bases=all_bases)
    if not bases:
        raise CommandExit(1)
    for x in bases:
        echo(x)
