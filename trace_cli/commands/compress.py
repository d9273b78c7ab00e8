"""`trace compress`: replace a range of history by summaries, masks or nothing, under a plan."""

from __future__ import annotations

from contextlib import ExitStack

from ..declare import (
    JSON,
    Choice,
    FloatRange,
    IntRange,
    argument,
    command,
    flag,
    option,
)
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
from .commit import strict_context, strict_option

_STRATEGIES = ("mask", "extractive", "llm", "manual")
_GRANULARITIES = ("turn", "episode", "range")
_ROLES = ("user", "assistant", "system", "developer")


@command("compress",
         argument("range_", metavar="[RANGE]"),
         option("--entries", metavar="I:J",
                help="Compress context entries I..J-1 instead of a commit range (slice rules)."),
         option("-s", "--strategy", type=Choice(_STRATEGIES), default="extractive",
                show_default=True, help="How entries are compressed."),
         option("-g", "--granularity", type=Choice(_GRANULARITIES), default="range",
                show_default=True, help="One summary per turn, per episode, or per range."),
         option("--episode-tokens", type=IntRange(min=1), default=2000, show_default=True,
                help="Token size up to which turns are packed into one episode."),
         flag("-i", "--interactive", help="Edit the plan in $VISUAL/$EDITOR first."),
         option("--plan", dest="plan_file", metavar="FILE",
                help="Read the plan from FILE ('-': stdin)."),
         flag("--show-plan", help="Print the plan and exit."),
         flag("--respect-pins", help="Keep pinned entries verbatim and in place."),
         flag("--force", help="Compress pinned entries too."),
         option("--must-keep", multiple=True, metavar="TEXT",
                help="Keep TEXT in the context (summaries append it; fail if it cannot be "
                     "kept) (repeatable)."),
         option("--must-keep-re", multiple=True, metavar="PATTERN",
                help="Keep what the regular expression matches, as --must-keep (repeatable)."),
         flag("-n", "--dry-run",
              help="Do everything (llm: including the requests) but commit nothing."),
         option("--summary", dest="summaries", multiple=True, metavar="TEXT",
                help="manual: the summary text (repeat: one per summary, in order)."),
         option("--summary-file", dest="summary_files", multiple=True, metavar="FILE",
                help="manual: read a summary text from FILE ('-': stdin)."),
         option("--instructions", metavar="TEXT",
                help="llm: instructions (default: config compress.instructions)."),
         option("--keep-last", type=IntRange(min=0), default=3, show_default=True,
                help="mask: never mask the last K tool outputs of the context."),
         option("--ratio", type=FloatRange(0, 1, min_open=True), default=0.2,
                show_default=True, help="extractive/llm: target size as a fraction of the input."),
         option("--target-tokens", type=IntRange(min=1),
                help="extractive/llm: target tokens per summary (instead of --ratio)."),
         option("--max-tokens", type=IntRange(min=1),
                help="llm: completion token limit per request."),
         option("--role", type=Choice(_ROLES), default="user", show_default=True,
                help="Role of the summary messages."),
         flag("--allow-growth",
              help="Accept a summary larger than what it replaces."),
         option("-m", dest="message", help="Commit message."),
         option("--author", help="Author (agent name) of the commit."),
         strict_option("compression"),
         JSON)
def compress(obj, range_=None, entries=None, strategy="extractive", granularity="range",
             episode_tokens=2000, interactive=False, plan_file=None, show_plan=False,
             respect_pins=False, force=False, must_keep=(), must_keep_re=(), dry_run=False,
             summaries=(), summary_files=(), instructions=None, keep_last=3, ratio=0.2,
             target_tokens=None, max_tokens=None, role="user", allow_growth=False, message=None,
             author=None, strict=False, as_json=False) -> None:
    """Replace what the commits of RANGE (A..B, A.. or A = A..HEAD) added to the context by
    summaries, in one new commit with exact provenance.

    \b
    trace compress HEAD~20..HEAD~5                  extractive summary of that range
    trace compress HEAD~50 -s mask --keep-last 5    mask old tool outputs
    trace compress --entries 3:40 -s llm -g turn    one llm summary per turn
    trace compress HEAD~9 -s manual --summary "We fixed the parser bug."
    trace compress HEAD~9 -i                        edit the plan (keep/drop/combine/summarize)
    trace compress HEAD~9 --dry-run --must-keep "x[:-1]" --respect-pins
    """
    if (range_ is None) == (entries is None):
        fail("give a commit range (A..B) or --entries I:J", 2)
    if sum(map(bool, (interactive, plan_file, show_plan))) > 1:
        fail("use one of -i, --plan and --show-plan", 2)
    if plan_file == "-" and "-" in summary_files or list(summary_files).count("-") > 1:
        fail("standard input can be read only once (--plan - / --summary-file -)", 2)
    texts = list(summaries)
    for f in summary_files:
        texts.append(decode_utf8(read_input(f, f == "-"), f))
    with open_repo(obj) as repo:
        from trace_core.compress import compress as run_compress
        from trace_core.compress import plan_compression

        plan = None
        if plan_file is not None:
            plan = decode_utf8(read_input(plan_file, plan_file == "-"), plan_file)
        if show_plan or interactive:
            default = plan_compression(repo, range_, entries=entries)
            if show_plan:
                if as_json:
                    emit_json(default.to_dict())
                else:
                    echo(default.format(_header(default, strategy, granularity)), nl=False)
                return
        with ExitStack() as stack:
            strict_context(repo, strict, stack)
            if interactive:
                plan = stack.enter_context(edited(
                    default.format(_header(default, strategy, granularity)), ".plan",
                    "the plan", "--plan"))
            provider = None
            if strategy == "llm":
                from ..llm_support import make_provider
                provider = make_provider(repo)
            result = run_compress(repo, range_, entries=entries, strategy=strategy, plan=plan,
                                  granularity=granularity, respect_pins=respect_pins, force=force,
                                  must_keep=must_keep, must_keep_re=must_keep_re, dry_run=dry_run,
                                  provider=provider, instructions=instructions, summaries=texts,
                                  keep_last=keep_last, ratio=ratio, target_tokens=target_tokens,
                                  max_tokens=max_tokens, episode_tokens=episode_tokens, role=role,
                                  allow_growth=allow_growth, message=message, author=author)
        if as_json:
            emit_json(result.to_dict())
            return
        _report(repo, result)


def _header(plan, strategy: str, granularity: str) -> str:
    n = sum(len(s.entries) for s in plan.steps)
    t = sum(s.tokens for s in plan.steps)
    return (f"trace compress plan for {plan.label}: {_n(len(plan.steps), 'commit')}, "
            f"{_n(n, 'entry', 'entries')}, "
            f"{t} tokens\nstrategy {strategy}, granularity {granularity}; edit the actions "
            "below, save and quit\n")


def _n(n: int, one: str, many: str = "") -> str:
    return f"{n} {one if n == 1 else (many or one + 's')}"


def _report(repo, r) -> None:
    if r.dry_run:
        echo(f"dry run of compress {r.range} ({r.strategy}, {r.granularity}): nothing committed")
        for s in r.plan.steps:
            echo(f"  {s.action:<9} {s.commit[:12]}  {s.summary}")
    else:
        echo(commit_line(repo, repo.get_commit(bytes.fromhex(r.commit))))
    for s in r.summaries:
        span = s["replaced"]
        echo(f"  summary #{s['index']}: replaces #{span[0]}-#{span[-1]} "
             f"({_n(len(span), 'entry', 'entries')}, "
             f"{s['replaced_tokens']} -> {s['tokens']} tokens)")
        if s.get("appended_facts"):
            echo(f"    must-keep appended: {'; '.join(s['appended_facts'])}")
    if r.masked:
        echo(f"  masked {_n(len(r.masked), 'tool output')} ("
             f"{sum(m['replaced_tokens'] for m in r.masked)} -> "
             f"{sum(m['tokens'] for m in r.masked)} tokens)")
    if r.dropped:
        echo(f"  dropped {_n(len(r.dropped), 'entry', 'entries')}")
    skipped = {i for u in r.skipped for i in u["replaced"]}
    for k in r.kept:
        if k["reason"] in ("pinned", "tool-pair") and k["index"] not in skipped:
            echo(f"  kept #{k['index']} verbatim ({k['reason']})")
    for u in r.skipped:
        span = u["replaced"]
        why = (f"its summary would have {u['tokens']} tokens" if u["reason"] == "unshrinkable"
               else "a tool call or result of it stays with a kept unit")
        echo(f"  kept #{span[0]}-#{span[-1]} verbatim ({_n(len(span), 'entry', 'entries')}, "
             f"{u['replaced_tokens']} tokens): {u['reason']}, {why}")
    if r.usage:
        echo("  usage: " + ", ".join(f"{k}={v}" for k, v in sorted(r.usage.items())))
    sign = "-" if r.saved_tokens >= 0 else "+"
    echo(f"tokens: {r.tokens_before} -> {r.tokens_after} in context "
         f"({sign}{abs(r.saved_tokens)}); {_n(r.pins_checked, 'pinned entry', 'pinned entries')} "
         "checked")
    if not r.dry_run:
        for w in repo.budget_warnings(r.tokens_after):
            warn(w)
