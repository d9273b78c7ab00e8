"""merge, resolve, rebase, cherry-pick, revert: thin wrappers over trace_core.merging."""

from __future__ import annotations

import click

from trace_core.merge.merge3 import ORDERS
from trace_core.merge.state import STRATEGIES

from .commands.history import format_inference
from .util import echo, emit_json, fail, json_option, open_repo, read_input, decode_utf8, style, warn

EXIT_CONFLICT = 1


def _strategy_options(f):
    f = click.option("--driver", type=click.Choice(["llm", "deterministic"]),
                     help="Driver of --strategy semantic (default: llm when llm.provider is "
                          "configured, else deterministic).")(f)
    f = click.option("--order", type=click.Choice(ORDERS),
                     help="Order of entries added on both sides (default: config merge.order, "
                          "ours-first).")(f)
    f = click.option("-s", "--strategy", type=click.Choice(STRATEGIES), default="manual",
                     show_default=True, help="How conflicts are settled.")(f)
    return f


def _driver(repo, strategy: str, name):
    if strategy != "semantic":
        if name:
            fail("--driver is used with --strategy semantic", 2)
        return None
    from trace_core.merge.driver import DeterministicDriver, LLMDriver
    if name is None:
        name = "llm" if repo.config.get("llm.provider") not in (None, "offline") else "deterministic"
    if name == "deterministic":
        return DeterministicDriver()
    from .llm_support import make_provider
    return LLMDriver(make_provider(repo))     # (llm.max-tokens is the provider's default)


def _preview(repo, entries) -> str:
    from trace_core.messages import preview
    if not entries:
        return "(nothing)"
    return " | ".join(f"{(m := repo.get_blob(e.blob).message).get('role', '?')}: {preview(m, 60)}"
                      for e in entries)


def print_conflicts(repo, conflicts) -> None:
    for c in conflicts:
        state = f"resolved: {c.action} (by {c.by})" if c.resolved else "open"
        echo(style(f"CONFLICT {c.id} ({c.kind}), {state}: {c.note}", "red" if not c.resolved else "green"))
        if c.base is not None:
            echo(f"    base:   {_preview(repo, [c.base])}")
        echo(f"    ours:   {_preview(repo, c.ours)}")
        echo(f"    theirs: {_preview(repo, c.theirs)}")


def report(repo, res, as_json: bool) -> int:
    if as_json:
        emit_json(res.to_dict())
        return EXIT_CONFLICT if res.status == "conflicts" else 0
    op = res.op
    if res.status == "up-to-date":
        echo("Already up to date.")
    elif res.status == "fast-forward":
        echo(f"Fast-forward to {res.commit[:12]}")
    elif res.status == "empty":
        echo(f"Nothing to commit: the {op} changes nothing in this context.")
    elif res.status == "conflicts":
        print_conflicts(repo, res.conflicts)
        n = sum(not c.resolved for c in res.conflicts)
        echo(f"Automatic {op} stopped: {n} conflict{'s' * (n != 1)} to settle with "
             f"'trace resolve <id> --ours|--theirs|--both|--drop|--text TEXT', then "
             f"'trace {op} --continue' (or 'trace {op} --abort'). The branch has not moved.")
    else:
        c = repo.get_commit(bytes.fromhex(res.commit))
        echo(f"[{res.status} {res.commit[:12]}] {c.summary} ({c.total_tokens} tokens in context)")
        if res.replayed:
            kept = sum(1 for _, new in res.replayed if new)
            echo(f"Replayed {kept} commit{'s' * (kept != 1)}"
                 + (f", dropped {len(res.replayed) - kept} already applied" if kept < len(res.replayed) else ""))
    if res.deduplicated:
        echo(f"Merged {res.deduplicated} entr{'y' if res.deduplicated == 1 else 'ies'} added on both "
             "sides once.")
    if res.driver:
        echo(f"Driver: {res.driver}")
    if res.inference:
        echo(f"Inference: {format_inference(res.inference)}")
    for n in repo.store.notes:
        warn(n)
    return EXIT_CONFLICT if res.status == "conflicts" else 0


def _continue_or_abort(ctx, repo, op: str, cont: bool, abort: bool, message, as_json,
                       driver_name=None) -> int:
    from trace_core.errors import StateError
    try:
        st = repo.merge_state()
    except StateError:
        if not abort:
            raise
        st = None          # damaged: --abort of any of the operations removes it
    if st is not None and st.op != op:
        fail(f"a {st.op} is in progress, not a {op}: use 'trace {st.op} --continue' or --abort")
    if abort:
        repo.merge_abort()
        echo(f"{op} aborted; the branch is as it was before.")
        return 0
    driver = None
    if st is not None and st.op == "rebase" and st.strategy == "semantic":
        # the rest of the rebase uses the driver it started with (unless --driver says)
        driver = _driver(repo, "semantic", driver_name or st.driver)
    return report(repo, repo.merge_continue(message, driver=driver), as_json)


@click.command("merge")
@_strategy_options
@click.option("--ff-only", "ff", flag_value="only", help="Refuse unless a fast-forward is possible.")
@click.option("--no-ff", "ff", flag_value="never", help="Always make a merge commit.")
@click.option("--ff", "ff", flag_value="auto", default=True, help="Fast-forward when possible (default).")
@click.option("-m", "message", help="Merge commit message.")
@click.option("--continue", "cont", is_flag=True, help="Commit the merge once conflicts are settled.")
@click.option("--abort", is_flag=True, help="Forget the stopped merge (the branch never moved).")
@json_option
@click.argument("rev", required=False)
@click.pass_context
def merge_cmd(ctx, strategy, order, driver, ff, message, cont, abort, as_json, rev):
    """Merge branch or commit REV into the current branch.

    \b
    trace merge explore                      three-way merge (fast-forward if possible)
    trace merge explore -s union             keep both sides of every conflict
    trace merge explore -s semantic          a driver settles conflicts, flags contradictions
    trace merge --continue / --abort         finish or undo a stopped merge
    Conflicts are kept in the merge state: 'trace status' lists them, 'trace resolve' settles them.
    """
    with open_repo(ctx) as repo:
        if cont or abort:
            if rev or (cont and abort):
                fail("--continue and --abort take no branch and exclude each other", 2)
            return _continue_or_abort(ctx, repo, "merge", cont, abort, message, as_json)
        if not rev:
            fail("merge needs a branch or commit to merge", 2)
        d = _driver(repo, strategy, driver)
        res = repo.merge(rev, strategy=strategy, order=order, message=message, ff=ff, driver=d)
        return report(repo, res, as_json)


@click.command("resolve")
@click.option("--ours", "action", flag_value="ours", help="Keep our version.")
@click.option("--theirs", "action", flag_value="theirs", help="Keep their version.")
@click.option("--both", "action", flag_value="both", help="Keep both (ours first).")
@click.option("--base", "action", flag_value="base", help="Keep the merge base's version.")
@click.option("--drop", "action", flag_value="drop", help="Keep neither.")
@click.option("--text", "text", help="Replace with one new message with this text.")
@click.option("-F", "--file", "file", metavar="FILE", help="Like --text, reading FILE ('-': stdin).")
@click.option("--role", help="Role of the --text message (default: the conflicting entries').")
@click.option("--list", "list_", is_flag=True, help="List the conflicts and their state.")
@json_option
@click.argument("conflict_id", type=int, required=False)
@click.pass_context
def resolve_cmd(ctx, action, text, file, role, list_, as_json, conflict_id):
    """Settle conflict CONFLICT_ID of the stopped merge, rebase, cherry-pick or revert."""
    with open_repo(ctx) as repo:
        if list_ or conflict_id is None:
            st = repo.merge_state()
            if st is None:
                fail("no merge, rebase, cherry-pick or revert is in progress")
            if as_json:
                emit_json([{"id": c.id, "kind": c.kind, "note": c.note, "resolved": c.resolved,
                            "action": c.action, "by": c.by} for c in st.conflicts])
            else:
                print_conflicts(repo, st.conflicts)
            return 0
        if file is not None:
            if text is not None:
                fail("give --text or --file, not both", 2)
            text = decode_utf8(read_input(file, file == "-"), file)
        if text is not None:
            if action:
                fail("--text replaces the conflict; do not combine it with --ours/--theirs/...", 2)
            action = "text"
        if not action:
            fail("say how: --ours, --theirs, --both, --base, --drop or --text TEXT", 2)
        c = repo.resolve_conflict(conflict_id, action, text, role)
        st = repo.merge_state()
        left = len(st.open_conflicts) if st else 0
        echo(f"Conflict {c.id} ({c.kind}) resolved: {c.action}. "
             + (f"{left} left." if left else f"All settled: 'trace {st.op} --continue'."))
        return 0


def _pick_command(name: str, method: str, doc: str):
    @click.command(name, help=doc)
    @_strategy_options
    @click.option("--continue", "cont", is_flag=True, help="Finish once conflicts are settled.")
    @click.option("--abort", is_flag=True, help="Forget the stopped operation (the branch never moved).")
    @json_option
    @click.argument("rev", required=False)
    @click.pass_context
    def cmd(ctx, strategy, order, driver, cont, abort, as_json, rev):
        with open_repo(ctx) as repo:
            if cont or abort:
                if rev or (cont and abort):
                    fail("--continue and --abort take no revision and exclude each other", 2)
                return _continue_or_abort(ctx, repo, name, cont, abort, None, as_json, driver)
            if not rev:
                fail(f"{name} needs a revision", 2)
            d = _driver(repo, strategy, driver)
            return report(repo, getattr(repo, method)(rev, strategy=strategy, order=order,
                                                      driver=d), as_json)
    return cmd


rebase_cmd = _pick_command(
    "rebase", "rebase",
    "Replay the current branch's commits on top of REV (no merge commit; ORIG_HEAD keeps the "
    "old tip). Conflicts stop it: 'trace resolve', then 'trace rebase --continue' or --abort.")
cherry_pick_cmd = _pick_command(
    "cherry-pick", "cherry_pick",
    "Apply the change commit REV made to its parent's context on top of the current branch.")
revert_cmd = _pick_command(
    "revert", "revert",
    "Undo the change commit REV made, as a new commit on top of the current branch.")
