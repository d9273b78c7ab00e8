"""`trace manage`: the context manager of docs/manage.md."""

from __future__ import annotations

import contextlib

from ..declare import JSON, FloatRange, IntRange, command, flag, option
from ..llm_support import make_provider
from ..util import decode_utf8, echo, edited, emit_json, fail, open_repo, read_input


def _print(result, as_json: bool) -> None:
    if as_json:
        emit_json(result.to_dict())
        return
    for line in result.health.lines():
        echo(line)
    echo(result.plan.text().rstrip("\n"))
    for e in result.executed:
        state = "done " + ", ".join(c[:12] for c in e["commits"]) if not e["error"] else \
            f"not done: {e['error']}"
        echo(f"{e['line']}: {state}")
    echo(f"recorded in the manager's namespace: {', '.join(c[:12] for c in result.recorded)}")


@command("manage",
         option("--agent", dest="watched", metavar="NAME",
                help="The agent whose context to manage (default: the one --agent before the "
                     "command names, else the root namespace)."),
         flag("--auto", help="Execute the operations manage.auto allows (at most "
                             "manage.max-ops) without asking."),
         option("--plan", dest="plan_file", metavar="FILE",
                help="Execute this plan (an edited proposal; - for stdin)."),
         flag("-i", "--interactive", help="Edit the proposed plan in $VISUAL/$EDITOR, then "
                                          "execute what is left of it."),
         flag("--llm", help="Ask the configured model for the plan (docs/llm.md)."),
         option("--as", dest="manager", metavar="NAME", default="manager",
                help="The manager's own namespace (default: manager)."),
         flag("--watch", help="Run a round each time the agent's HEAD moves, until Ctrl-C."),
         option("--interval", type=FloatRange(min=0.01), default=2.0, metavar="SECONDS",
                help="With --watch: how often HEAD is looked at (default 2)."),
         option("--count", type=IntRange(min=1), metavar="N",
                help="With --watch: stop after N rounds."),
         JSON)
def manage(obj, watched=None, auto=False, plan_file=None, interactive=False, llm=False,
           manager="manager", watch=False, interval=2.0, count=None, as_json=False) -> None:
    """Measure the health of an agent's context (tokens against the budget, duplicates, stale
    tool outputs, broken tool calls, old turns unrelated to the task) and propose a plan of
    operations (mask, drop, pin, compress); execute it when approved (--plan FILE, -i) or, with
    --auto, the operations manage.auto allows. Each round is recorded in the manager's own
    namespace; each operation is an ordinary commit of the agent with meta.policy naming the
    manager (docs/manage.md)."""
    if sum(map(bool, (auto, plan_file, interactive))) > 1:
        fail("use one of --auto, --plan and -i", 2)
    if watch and (plan_file or interactive):
        fail("--watch proposes (and with --auto executes) each round; --plan and -i are for "
             "one round", 2)
    agent = watched or obj.get("agent")
    root_obj = dict(obj, agent=None)
    with open_repo(root_obj) as repo:
        provider = make_provider(repo) if llm else None
        kw = {"mode": "llm" if llm else "heuristic", "provider": provider, "manager": manager}
        if watch:
            from trace_core.manage import watch as run_watch
            with contextlib.suppress(KeyboardInterrupt):      # Ctrl-C ends the watch
                run_watch(repo, agent, interval=interval, rounds=count, auto=auto,
                          on_round=lambda r: _print(r, as_json),
                          on_error=lambda e: echo(f"error: {e} (watching on)", err=True), **kw)
            return
        plan = None
        if plan_file is not None:
            plan = decode_utf8(read_input(plan_file, plan_file == "-", 1 << 20), plan_file)
        if interactive:
            proposed = repo.manage(agent, **kw)
            with edited(proposed.plan.text(), ".plan", "the edited plan", "--plan") as text:
                result = repo.manage(agent, plan=text, **kw)
        else:
            result = repo.manage(agent, plan=plan, auto=auto, **kw)
    _print(result, as_json)
