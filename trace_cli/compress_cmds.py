"""`trace compress`: replace a range of history by summaries, masks or nothing, under a plan."""

from __future__ import annotations

from contextlib import ExitStack

import click

from .util import (commit_line, decode_utf8, echo, edited, emit_json, fail, json_option,
                   open_repo, read_input, warn)

_STRATEGIES = ("mask", "extractive", "llm", "manual")
_GRANULARITIES = ("turn", "episode", "range")
_ROLES = ("user", "assistant", "system", "developer")


@click.command("compress")
@click.argument("range_", metavar="[RANGE]", required=False)
@click.option("--entries", metavar="I:J",
              help="Compress context entries I..J-1 instead of a commit range (slice rules).")
@click.option("-s", "--strategy", type=click.Choice(_STRATEGIES), default="extractive",
              show_default=True, help="How entries are compressed.")
@click.option("-g", "--granularity", type=click.Choice(_GRANULARITIES), default="range",
              show_default=True, help="One summary per turn, per episode, or per range.")
@click.option("--episode-tokens", type=click.IntRange(min=1), default=2000, show_default=True,
              help="Token size up to which turns are packed into one episode.")
@click.option("-i", "--interactive", is_flag=True, help="Edit the plan in $VISUAL/$EDITOR first.")
@click.option("--plan", "plan_file", metavar="FILE", help="Read the plan from FILE ('-': stdin).")
@click.option("--show-plan", is_flag=True, help="Print the plan and exit.")
@click.option("--respect-pins", is_flag=True, help="Keep pinned entries verbatim and in place.")
@click.option("--force", is_flag=True, help="Compress pinned entries too.")
@click.option("--must-keep", multiple=True, metavar="TEXT",
              help="Fail unless TEXT is still in the context afterwards (repeatable).")
@click.option("--must-keep-re", multiple=True, metavar="PATTERN",
              help="Fail unless the regular expression still matches a message (repeatable).")
@click.option("-n", "--dry-run", is_flag=True,
              help="Do everything (llm: including the requests) but commit nothing.")
@click.option("--summary", "summaries", multiple=True, metavar="TEXT",
              help="manual: the summary text (repeat: one per summary, in order).")
@click.option("--summary-file", "summary_files", multiple=True, metavar="FILE",
              help="manual: read a summary text from FILE ('-': stdin).")
@click.option("--instructions", metavar="TEXT",
              help="llm: instructions (default: config compress.instructions).")
@click.option("--keep-last", type=click.IntRange(min=0), default=3, show_default=True,
              help="mask: never mask the last K tool outputs of the context.")
@click.option("--ratio", type=click.FloatRange(0, 1, min_open=True), default=0.2,
              show_default=True, help="extractive/llm: target size as a fraction of the input.")
@click.option("--target-tokens", type=click.IntRange(min=1),
              help="extractive/llm: target tokens per summary (instead of --ratio).")
@click.option("--max-tokens", type=click.IntRange(min=1),
              help="llm: completion token limit per request.")
@click.option("--role", type=click.Choice(_ROLES), default="user", show_default=True,
              help="Role of the summary messages.")
@click.option("--allow-growth", is_flag=True,
              help="Accept a summary larger than what it replaces.")
@click.option("-m", "message", help="Commit message.")
@click.option("--author", help="Author (agent name) of the commit.")
@json_option
@click.pass_context
def compress_cmd(ctx, range_, entries, strategy, granularity, episode_tokens, interactive,
                 plan_file, show_plan, respect_pins, force, must_keep, must_keep_re, dry_run,
                 summaries, summary_files, instructions, keep_last, ratio, target_tokens,
                 max_tokens, role, allow_growth, message, author, as_json):
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
    with open_repo(ctx) as repo:
        from trace_core.compress import compress, plan_compression

        plan = None
        if plan_file is not None:
            plan = decode_utf8(read_input(plan_file, plan_file == "-"), plan_file)
        if show_plan or interactive:
            default = plan_compression(repo, range_, entries=entries)
            if show_plan:
                if as_json:
                    emit_json(default.to_dict())
                else:
                    click.echo(default.format(_header(default, strategy, granularity)), nl=False)
                return
        with ExitStack() as stack:
            if interactive:
                plan = stack.enter_context(edited(
                    default.format(_header(default, strategy, granularity)), ".plan",
                    "the plan", "--plan"))
            provider = None
            if strategy == "llm":
                from .llm_support import make_provider
                provider = make_provider(repo)
            result = compress(repo, range_, entries=entries, strategy=strategy, plan=plan,
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
        echo(f"  summary #{s['index']}: replaces #{span[0]}-#{span[-1]} ({_n(len(span), 'entry', 'entries')}, "
             f"{s['replaced_tokens']} -> {s['tokens']} tokens)")
    if r.masked:
        echo(f"  masked {_n(len(r.masked), 'tool output')} ("
             f"{sum(m['replaced_tokens'] for m in r.masked)} -> "
             f"{sum(m['tokens'] for m in r.masked)} tokens)")
    if r.dropped:
        echo(f"  dropped {_n(len(r.dropped), 'entry', 'entries')}")
    for k in r.kept:
        if k["reason"] in ("pinned", "tool-pair"):
            echo(f"  kept #{k['index']} verbatim ({k['reason']})")
    if r.usage:
        echo("  usage: " + ", ".join(f"{k}={v}" for k, v in sorted(r.usage.items())))
    sign = "-" if r.saved_tokens >= 0 else "+"
    echo(f"tokens: {r.tokens_before} -> {r.tokens_after} in context "
         f"({sign}{abs(r.saved_tokens)}); {_n(r.pins_checked, 'pinned entry', 'pinned entries')} "
         "checked")
    if not r.dry_run:
        for w in repo.budget_warnings(r.tokens_after):
            warn(w)
