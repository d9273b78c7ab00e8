"""`trace blame`: who introduced each entry of a context and what happened to it since, like
`git blame` (the walk is trace_core.inspect.blame's; this module formats and prints it)."""

from __future__ import annotations

from ..declare import JSON, IntRange, argument, command, option
from ..util import echo, emit_json, open_repo


def _line(rec: dict, depth: int = 0) -> str:
    from trace_core.render.log import commit_date
    intro = rec.get("introduced") or {}
    cid = (intro.get("commit") or "?")[:8]
    agent = intro.get("agent") or "?"
    when = commit_date(intro["time"], intro.get("tz") or 0)[:16] if "time" in intro else "?"
    tokens = rec.get("tokens")
    tok = f"{tokens if tokens is not None else '?':>5} tok"
    role = rec.get("role")
    text = f"{role}: {rec.get('preview') or ''}" if role else (rec.get("preview") or "")
    pad = "  " * depth + ("↳ " if depth else "")
    return f"{pad}{cid:<8} ({agent:<10} {when} {tok}) {rec['index']:>5} {rec['chain']}  {text}"


def format_lines(records: list, depth: int = 0) -> list:
    """One line per entry, then (indented) the originals of a summary and a collapse's entries."""
    out = []
    for rec in records:
        out.append(_line(rec, depth))
        out.extend(format_lines(rec.get("originals") or [], depth + 1))
        col = rec.get("collapse")
        if col:
            if col.get("truncated"):
                out.append("  " * (depth + 1) + f"↳ [{col.get('agent')}: deeper than followed]")
            elif col.get("pruned"):
                out.append("  " * (depth + 1) + f"↳ [{col.get('agent')}: history pruned]")
            out.extend(format_lines(col.get("entries") or [], depth + 1))
    return out


@command("blame",
         option("--entry", dest="entry", type=IntRange(min=0), metavar="I",
                help="Only entry I (0-based) of the context."),
         option("--grep", dest="grep", metavar="TEXT",
                help="Only the entries whose text contains TEXT."),
         JSON,
         argument("rev", default="HEAD"), fast=True)
def blame(obj, rev="HEAD", entry=None, grep=None, as_json=False) -> None:
    """Show who introduced each entry of the context at REV and every later change to it.

    \b
    Each line: the commit and agent that introduced the entry, its date and tokens, its index,
    the chain of what happened to it (append→edit@3f2a→reorder@9c1b(3→1), compress(summary
    of 12), merge@…), and a preview. Below a summary, its original entries; below a collapse
    result, the sub-agent's entries (recursively).
    \b
    trace blame                     every entry of HEAD's context
    trace blame --entry 3 main~2    one entry of an older context
    trace blame --grep invoice      the entries that mention "invoice"
    trace blame --json              one record per entry, with events and originals
    """
    with open_repo(obj) as repo:
        records = repo.blame(rev, entry=entry, grep=grep)
    if as_json:
        emit_json(records)
        return
    lines = format_lines(records)
    if lines:
        echo("\n".join(lines))
