"""Merging: merge, resolve, rebase, cherry-pick, revert (over trace_core.merge)."""

from __future__ import annotations

from contextlib import ExitStack

from trace_core.merge.merge3 import ORDERS
from trace_core.merge.state import STRATEGIES
from trace_core.render.log import format_inference

from ..declare import JSON, Choice, argument, command, flag, option
from ..util import (
    decode_utf8,
    echo,
    emit_json,
    fail,
    open_repo,
    read_input,
    style,
    warn,
)
from .commit import strict_context, strict_option

EXIT_CONFLICT = 1


STRATEGY_OPTIONS = (
    option("-s", "--strategy", type=Choice(tuple(STRATEGIES)), default="manual", show_default=True,
           help="How conflicts are settled."),
    option("--order", type=Choice(tuple(ORDERS)),
           help="Order of entries added on both sides (default: config merge.order, ours-first)."),
    option("--driver", type=Choice(("llm", "deterministic")),
           help="Driver of --strategy semantic (default: llm when your config, a -c flag or "
                "a trusted repository names llm.provider, else deterministic)."),
)


def _driver(repo, strategy: str, name):
    if strategy != "semantic":
        if name:
            fail("--driver is used with --strategy semantic", 2)
        return None
    from trace_core.merge.driver import make_driver

    from ..llm_support import make_provider
    return make_driver(repo.config, name, lambda: make_provider(repo))


def _preview(repo, entries) -> str:
    from trace_core.messages import kind, preview
    if not entries:
        return "(nothing)"
    return " | ".join(f"{kind(m := repo.get_blob(e.blob).message)}: {preview(m, 60)}"
                      for e in entries)


def print_conflicts(repo, conflicts) -> None:
    for c in conflicts:
        state = f"resolved: {c.action} (by {c.by})" if c.resolved else "open"
        echo(style(f"CONFLICT {c.id} ({c.kind}), {state}: {c.note}",
                   "red" if not c.resolved else "green"))
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
                 + (f", dropped {len(res.replayed) - kept} already applied"
                    if kept < len(res.replayed) else ""))
    if res.deduplicated:
        echo(f"Merged {res.deduplicated} entr{'y' if res.deduplicated == 1 else 'ies'} "
             "added on both sides once.")
    if res.driver:
        echo(f"Driver: {res.driver}")
    if res.inference:
        echo(f"Inference: {format_inference(res.inference)}")
    for n in repo.store.notes:
        warn(n)
    return EXIT_CONFLICT if res.status == "conflicts" else 0


def _continue_or_abort(repo, op: str, cont: bool, abort: bool, message, as_json,
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


@command("merge",
         *STRATEGY_OPTIONS,
         flag("--ff-only", dest="ff", value="only",
              help="Refuse unless a fast-forward is possible."),
         flag("--no-ff", dest="ff", value="never", help="Always make a merge commit."),
         flag("--ff", dest="ff", value="auto", default=True,
              help="Fast-forward when possible (default)."),
         option("-m", dest="message", help="Merge commit message."),
         flag("--continue", dest="cont", help="Commit the merge once conflicts are settled."),
         flag("--abort", help="Forget the stopped merge (the branch never moved)."),
         strict_option("merge"),
         JSON,
         argument("rev"), fast=True)
def merge(obj, strategy="manual", order=None, driver=None, ff="auto", message=None, cont=False,
          abort=False, strict=False, as_json=False, rev=None) -> int:
    """Merge branch or commit REV into the current branch.

    \b
    trace merge explore                      three-way merge (fast-forward if possible)
    trace merge explore -s union             keep both sides of every conflict
    trace merge explore -s semantic          a driver settles conflicts, flags contradictions
    trace merge --continue / --abort         finish or undo a stopped merge
    Conflicts are kept in the merge state: 'trace status' lists them, 'trace resolve' settles them.
    """
    with open_repo(obj) as repo, ExitStack() as stack:
        strict_context(repo, strict, stack)
        if cont or abort:
            if rev or (cont and abort):
                fail("--continue and --abort take no branch and exclude each other", 2)
            return _continue_or_abort(repo, "merge", cont, abort, message, as_json)
        if not rev:
            fail("merge needs a branch or commit to merge", 2)
        d = _driver(repo, strategy, driver)
        res = repo.merge(rev, strategy=strategy, order=order, message=message, ff=ff, driver=d)
        return report(repo, res, as_json)


@command("resolve",
         flag("--ours", dest="action", value="ours", help="Keep our version."),
         flag("--theirs", dest="action", value="theirs", help="Keep their version."),
         flag("--both", dest="action", value="both", help="Keep both (ours first)."),
         flag("--base", dest="action", value="base", help="Keep the merge base's version."),
         flag("--drop", dest="action", value="drop", help="Keep neither."),
         option("--text", dest="text", help="Replace with one new message with this text."),
         option("-F", "--file", dest="file", metavar="FILE",
                help="Like --text, reading FILE ('-': stdin)."),
         option("--role", help="Role of the --text message (default: the conflicting entries')."),
         flag("--list", dest="list_", help="List the conflicts and their state."),
         JSON,
         argument("conflict_id", type=int))
def resolve(obj, action=None, text=None, file=None, role=None, list_=False, as_json=False,
            conflict_id=None) -> int:
    """Settle conflict CONFLICT_ID of the stopped merge, rebase, cherry-pick or revert."""
    with open_repo(obj) as repo:
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
    def pick(obj, strategy="manual", order=None, driver=None, cont=False, abort=False,
             strict=False, as_json=False, rev=None) -> int:
        with open_repo(obj) as repo, ExitStack() as stack:
            strict_context(repo, strict, stack)
            if cont or abort:
                if rev or (cont and abort):
                    fail("--continue and --abort take no revision and exclude each other", 2)
                return _continue_or_abort(repo, name, cont, abort, None, as_json, driver)
            if not rev:
                fail(f"{name} needs a revision", 2)
            d = _driver(repo, strategy, driver)
            return report(repo, getattr(repo, method)(rev, strategy=strategy, order=order,
                                                      driver=d), as_json)
    pick.__doc__ = doc
    return command(name,
                   *STRATEGY_OPTIONS,
                   flag("--continue", dest="cont", help="Finish once conflicts are settled."),
                   flag("--abort", help="Forget the stopped operation (the branch never moved)."),
                   strict_option(name),
                   JSON,
                   argument("rev"))(pick)


rebase = _pick_command(
    "rebase", "rebase",
    "Replay the current branch's commits on top of REV (no merge commit; ORIG_HEAD keeps the "
    "old tip). Conflicts stop it: 'trace resolve', then 'trace rebase --continue' or --abort.")
cherry_pick = _pick_command(
    "cherry-pick", "cherry_pick",
    "Apply the change commit REV made to its parent's context on top of the current branch.")
revert = _pick_command(
    "revert", "revert",
    "Undo the change commit REV made, as a new commit on top of the current branch.")
