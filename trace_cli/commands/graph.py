"""`trace graph`: the commit graph in the terminal, like `git log --graph --oneline --decorate`
(the layout is trace_core.render.graph's; this module formats and prints it)."""

from __future__ import annotations

import sys

from ..declare import JSON, Choice, IntRange, argument, command, flag, option
from ..util import color_enabled, echo, emit_json, open_repo

# lane colors (trace_core.render.graph.N_COLORS of them): red, green, yellow, blue, magenta, cyan
_LANE = ("\x1b[31m", "\x1b[32m", "\x1b[33m", "\x1b[34m", "\x1b[35m", "\x1b[36m")
_RESET = "\x1b[0m"
_YELLOW = "\x1b[33m"


def _paint(text: str, colors) -> str:
    """The graph prefix with each lane character in its lane's color."""
    out = []
    for ch, c in zip(text, colors, strict=False):  # text may be longer
        out.append(ch if c < 0 or ch == " " else f"{_LANE[c % len(_LANE)]}{ch}{_RESET}")
    out.append(text[len(colors):])
    return "".join(out)


def format_rows(rows, color: bool = False) -> list:
    """Text lines of graph rows: `<graph><12-hex id> (<labels>) <summary>` for commits."""
    lines = []
    add = lines.append
    for graph, commit, _, summary, _, labels, colors in rows:
        if color and colors is not None:
            graph = _paint(graph, colors)
        if commit is None:
            add(graph)
        elif color:
            deco = f" ({', '.join(labels)})" if labels else ""
            add(f"{graph}{_YELLOW}{commit[:6].hex()}{deco}{_RESET} {summary}")
        elif labels:
            add(f"{graph}{commit[:6].hex()} ({', '.join(labels)}) {summary}")
        else:
            add(f"{graph}{commit[:6].hex()} {summary}")
    return lines


def to_json(rows) -> list:
    """One object per commit; `graph` is its row's prefix, `lane` the column of its `*` (lanes
    are two characters wide) and `after` the connector rows drawn below it (before the next
    commit), so the list reproduces the drawing."""
    out: list = []
    for r in rows:
        if r.commit is None:
            if out:
                out[-1]["after"].append(r.graph)
            continue
        out.append({"id": r.commit.hex(), "parents": [p.hex() for p in r.parents],
                    "refs": list(r.labels), "summary": r.summary, "op": r.op,
                    "graph": r.graph, "lane": r.lane, "after": []})
    return out


def agents_json(rows, g) -> list:
    """to_json's objects, each with its `agent` (a sub-agent's path, null for the current agent)
    and `links`: the spawn edge of a sub-agent's root and the collapse edge of a collapse commit
    (`{"kind": "spawn"|"collapse", "id": the commit at the other end}`), drawn as parents."""
    out = to_json(rows)
    for obj in out:
        oid = bytes.fromhex(obj["id"])
        links = g.links.get(oid, [])
        extra = {o.hex() for _, o in links}
        obj["parents"] = [p for p in obj["parents"] if p not in extra]
        obj["agent"] = g.agents.get(oid)
        obj["links"] = [{"kind": kind, "id": o.hex()} for kind, o in links]
    return out


@command("graph",
         flag("--all", dest="all_refs",
              help="Start from every branch, tag and HEAD of this namespace."),
         option("-n", "--max-count", dest="limit", type=IntRange(min=0), help="At most N commits."),
         option("--color", type=Choice(("auto", "always", "never")), default="auto",
                show_default=True, help="Color the lanes (auto: only on a terminal)."),
         flag("--no-pager", help="Do not page output on a terminal (as trace --no-pager)."),
         flag("--agents", help="Draw sub-agents (recursively) in lanes of their own, with spawn "
                               "and collapse edges."),
         JSON,
         argument("revs", nargs=-1), fast=True)
def graph(obj, revs=(), all_refs=False, limit=None, as_json=False, color="auto",
          no_pager=False, agents=False) -> None:
    """Draw the commit graph from REVS (default HEAD), children before parents.

    \b
    trace graph                     the history of HEAD
    trace graph --all               every branch and tag of this namespace
    trace graph -n 20 feature       the last 20 commits of feature
    trace graph main..feature       what feature has that main has not
    trace graph --json              one object per commit, with its graph prefix
    trace graph --agents            sub-agents' lanes too, [PATH] before their commits
    """
    with open_repo(obj) as repo:
        use_color = color == "always" or (color == "auto" and color_enabled())
        if agents:
            from trace_core.agents.lanes import agent_graph
            g = agent_graph(repo, revs, all_refs=all_refs, limit=limit,
                            colors=use_color and not as_json)
            rows = g.rows
        else:
            from trace_core.render.graph import graph_log
            rows = graph_log(repo, revs, all_refs=all_refs, limit=limit,
                             colors=use_color and not as_json)
    if agents:
        if as_json:
            emit_json(agents_json(rows, g))
            return
        rows = [r if not g.agents.get(r.commit) else
                r.__class__(r.graph, r.commit, r.parents, f"[{g.agents[r.commit]}] {r.summary}",
                            r.op, r.labels, r.colors) for r in rows]
    if as_json:
        emit_json(to_json(rows))
        return
    lines = format_rows(rows, use_color)
    if not lines:
        return
    text = "\n".join(lines) + "\n"
    if use_color:      # (on a terminal, into the pager: trace_cli.pager)
        sys.stdout.write(text)     # --color=always into a pipe: keep the escapes
        sys.stdout.flush()
    else:
        echo(text[:-1])
