"""`trace spawn`, `trace collapse`, `trace abandon`, `trace agents`, `trace expand`: sub-agents."""

from __future__ import annotations

import time

from ..declare import JSON, Choice, IntRange, argument, command, flag, option
from ..util import commit_line, decode_utf8, echo, emit_json, fail, open_repo, read_input


@command("spawn",
         argument("names", nargs=-1, required=True, metavar="NAME..."),
         option("--from", dest="rev", metavar="REV",
                help="Start from this commit of the current agent (default HEAD)."),
         option("--context", default="full", show_default=True,
                metavar="full|none|summary|'entries I:J'",
                help="What the sub-agents start with: the whole context, nothing, a summary, "
                     "or a slice."),
         option("-m", "--task", dest="tasks", multiple=True, metavar="TASK",
                help="The task, as a pinned user message (once for all, or once per NAME)."),
         option("--summary", type=Choice(("extractive", "llm")), default="extractive",
                show_default=True, help="--context summary: how the context is summarized."),
         option("--target-tokens", type=IntRange(min=1),
                help="--context summary: size of the summary."),
         option("--call", dest="calls", multiple=True, metavar="CALL_ID",
                help="The pending tool call a sub-agent works on (its collapse answers it; "
                     "once for all, or once per NAME)."),
         option("--message", dest="message", metavar="TEXT",
                help="Message of the parent's spawn commit."),
         JSON)
def spawn(obj, names=(), rev=None, context="full", tasks=(), summary="extractive",
          target_tokens=None, calls=(), message=None, as_json=False) -> None:
    """Start sub-agents NAME... of the current agent, each in its own namespace, from HEAD (or
    --from REV), and record a spawn commit in the current agent.

    \b
    trace spawn researcher -m "Find the three fastest JSON parsers"
    trace spawn a b c --context none -m "Task for a" -m "Task for b" -m "Task for c"
    trace spawn critic --context "entries 0:12"
    trace --agent researcher commit "..."       then work in the sub-agent
    """
    with open_repo(obj) as repo:
        provider = None
        if context.strip() == "summary" and summary == "llm":
            from ..llm_support import make_provider
            provider = make_provider(repo)
        res = repo.spawn(list(names), rev=rev, context=context, task=list(tasks) or None,
                         summary=summary, target_tokens=target_tokens, provider=provider,
                         call=list(calls) or None, commit_message=message)
        if as_json:
            emit_json({"commit": res.commit.hex,
                       "agents": [{"agent": a.agent_name, "root": r.hex,
                                   "entries": repo.get_snapshot(r.snapshot).count,
                                   "tokens": r.total_tokens}
                                  for a, r in zip(res.agents, res.roots, strict=True)]})
            return
        echo(commit_line(repo, res.commit))
        for a, r in zip(res.agents, res.roots, strict=True):
            n = repo.get_snapshot(r.snapshot).count
            echo(f"  agent {a.agent_name}: root {r.hex[:12]}, {n} entr{'y' if n == 1 else 'ies'},"
                 f" {r.total_tokens} tokens  (trace --agent {a.agent_name} ...)")


@command("collapse",
         argument("name", required=True, metavar="NAME"),
         option("-s", "--strategy", type=Choice(("final", "extractive", "llm", "manual")),
                default="extractive", show_default=True,
                help="How the sub-agent's work is told: its answer only, or with an extractive, "
                     "llm or your own account."),
         option("--text", metavar="TEXT", help="manual: the text to collapse."),
         option("--file", dest="text_file", metavar="FILE",
                help="manual: read the text from FILE ('-': stdin)."),
         flag("--strict", help="Refuse a sub-agent that has not finished."),
         flag("--again", help="Collapse a sub-agent collapsed before (its newer work)."),
         option("--target-tokens", type=IntRange(min=1),
                help="extractive/llm: size of the account."),
         option("--call", metavar="CALL_ID",
                help="Answer this pending tool call (default: the one the sub-agent was "
                     "spawned for)."),
         option("--message", dest="message", metavar="TEXT", help="Commit message."),
         JSON)
def collapse(obj, name=None, strategy="extractive", text=None, text_file=None, strict=False,
             again=False, target_tokens=None, call=None, message=None, as_json=False) -> None:
    """Bring sub-agent NAME's result into the current agent as one collapse commit: its final
    answer, an account of its work, and a pointer to its tip (its history stays).

    \b
    trace collapse researcher
    trace collapse researcher -s final --strict
    trace collapse researcher -s manual --text "It found that ..."
    """
    if text is not None and text_file is not None:
        fail("give --text or --file, not both", 2)
    if text_file is not None:
        text = decode_utf8(read_input(text_file, text_file == "-"), text_file)
    with open_repo(obj) as repo:
        provider = None
        if strategy == "llm":
            from ..llm_support import make_provider
            provider = make_provider(repo)
        c = repo.collapse(name, strategy=strategy, text=text, strict=strict, again=again,
                          target_tokens=target_tokens, provider=provider, call=call,
                          commit_message=message)
        if as_json:
            meta = c.meta or {}
            emit_json({"commit": c.hex, "agent": meta.get("agent"),
                       "tip": meta["tip"].hex(), "finished": meta.get("finished"),
                       "unfinished": meta.get("unfinished", []), "tokens": c.tokens,
                       "total": c.total_tokens, "call": meta.get("call")})
            return
        echo(commit_line(repo, c))


@command("abandon",
         argument("name", required=True, metavar="NAME"),
         flag("--undo", help="Take the mark back."))
def abandon(obj, name=None, undo=False) -> None:
    """Mark sub-agent NAME as given up (never to be collapsed); retention policies may expire it."""
    with open_repo(obj) as repo:
        tip = repo.abandon(name, undo=undo)
        echo(f"agent {name}: " + ("no longer abandoned" if undo else f"abandoned at {tip[:12]}"))


def _age(ms: int | None, now: float) -> str:
    if ms is None:
        return "-"
    s = max(0, int(now - ms / 1000))
    for unit, n in (("d", 86400), ("h", 3600), ("m", 60)):
        if s >= n:
            return f"{s // n}{unit} ago"
    return f"{s}s ago"


@command("agents",
         flag("--no-recursive", dest="flat", help="Only the direct sub-agents."),
         JSON)
def agents(obj, flat=False, as_json=False) -> None:
    """List sub-agents as a tree: status, head, tokens, where each was spawned and collapsed."""
    with open_repo(obj) as repo:
        infos = repo.agent_tree(recursive=not flat)
        if as_json:
            emit_json([i.to_dict() for i in infos])
            return
        me = repo.agent_name or "(root)"
        head = repo.head_commit()
        echo(f"{me}  head {head.hex()[:12] if head else '(none)'}")
        if not infos:
            echo("  no sub-agents (trace spawn NAME)")
            return
        now = time.time()
        width = max(len(i.path.rsplit("/", 1)[-1]) + 4 * i.depth for i in infos)
        last_at_depth: dict = {}
        for k, i in enumerate(infos):   # is i the last child of its parent?
            later = [j for j in infos[k + 1:] if j.depth <= i.depth]
            last_at_depth[k] = not later or later[0].depth < i.depth
        for k, i in enumerate(infos):
            prefix = ""
            for d in range(1, i.depth):    # ancestors' guides
                anc = max(j for j in range(k) if infos[j].depth == d)
                prefix += "    " if last_at_depth[anc] else "│   "
            prefix += "└── " if last_at_depth[k] else "├── "
            label = (prefix + i.path.rsplit("/", 1)[-1]).ljust(width)
            status = i.status + ("+" if i.moved_since else "")
            parts = [f"{status:<10}", f"head {i.head[:12] if i.head else '(none)':<12}",
                     f"{i.tokens:>7} tokens"]
            if i.spawned_from:
                parts.append(f"from {i.spawned_from[:12]} {_age(i.spawned_at, now)}")
            elif not i.spawned and not i.pruned_at:
                parts.append("created, not spawned")
            if i.collapsed_by:
                parts.append(f"collapsed by {i.collapsed_by[:12]}")
            if i.pruned_at:
                day = time.strftime("%Y-%m-%d", time.localtime(i.pruned_at / 1000))
                parts.append(f"history pruned on {day} (retention policy)")
            for p in i.problems:
                parts.append(f"[{p}]")
            echo(f"{label}  " + "  ".join(parts))


_FORMATS = ("openai", "openai-responses", "anthropic", "text", "json")


@command("expand",
         argument("rev", required=True, metavar="COLLAPSE"),
         flag("--context", dest="as_context",
              help="Print the context at the collapse with the sub-agent's messages in place "
                   "of its collapse message, instead of commits."),
         option("--format", dest="fmt", type=Choice(_FORMATS),
                help="The context in this format (implies --context; default text)."),
         option("--repair", type=Choice(("drop-orphans", "placeholder")),
                help="--context: repair tool-call pairing in the expanded prompt (as trace "
                     "context --repair)."),
         option("--depth", type=IntRange(min=0), default=8, show_default=True,
                help="Levels of nested collapses expanded below the first."),
         option("-n", "--max-count", dest="limit", type=IntRange(min=1), default=20,
                show_default=True,
                help="At most N commits of the current agent (from the collapse down to the "
                     "spawn)."),
         flag("--no-marks", help="Provider formats: no begin/end marker messages."),
         JSON, fast=True)
def expand(obj, rev=None, as_context=False, fmt=None, repair=None, depth=8, limit=20,
           no_marks=False, as_json=False) -> None:
    """Show a sub-agent's commits inline at its collapse commit COLLAPSE (or its messages in
    place in the context, --context), without changing any ref.

    COLLAPSE is a revision naming a collapse commit, or a collapsed sub-agent's name (its latest
    collapse). A sub-agent's commits are indented and marked [PATH]; '>' after an id marks a
    collapse whose commits follow.

    \b
    trace expand HEAD~2                 the commits, from the collapse down to the spawn
    trace expand researcher --json      the same, one object per commit
    trace expand researcher --context   the context with the sub-agent's work in place
    trace expand HEAD --format anthropic
    """
    if as_json and fmt not in (None, "json"):
        fail("--json and --format: give one", 2)
    if fmt is not None or repair is not None:
        as_context = True
    if as_context and as_json:
        fmt = "json"
    with open_repo(obj) as repo:
        exp = repo.expand(rev, depth=depth)
        if as_context:
            out = exp.context(fmt or "text", repair=repair, marks=not no_marks)
        else:
            records = exp.log(limit)
    if as_context:
        if (fmt or "text") == "text":
            import sys
            sys.stdout.write(out)
        else:
            from trace_core.plumbing import to_jsonable
            emit_json(to_jsonable(out))
        return
    if as_json:
        emit_json({"collapse": exp.commit.hex, "agent": exp.agent, "tip": exp.tip.hex(),
                   "root": exp.root.hex() if exp.root else None,
                   "commits": [r.to_dict() for r in records]})
        return
    from trace_core.agents.expand import expand_lines
    for line in expand_lines(records):
        echo(line)
