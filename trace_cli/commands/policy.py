"""`trace policy`: the context policies of docs/policy.md (list, explain, run, undo, enable,
disable)."""

from __future__ import annotations

from ..declare import JSON, Group, argument, command, flag
from ..llm_support import make_provider
from ..util import CommandExit, echo, emit_json, fail, open_repo


def _decision_lines(decisions, ran: bool) -> None:
    if not decisions:
        echo("no policy is declared (see docs/policy.md: trace config policy.NAME.action ...)")
    for d in decisions:
        if d.error:
            state = "failed"
        elif d.fires:
            state = "ran" if ran else "fires"
        else:
            state = "idle"
        echo(f"{d.policy} ({d.action or 'no action'}): {state}: {d.why}")
        if d.error:
            echo(f"  error: {d.error}")
        for c in d.commits:
            echo(f"  commit {c[:12]}")


@command("list", JSON)
def list_(obj, as_json: bool = False) -> None:
    """The declared policies and their settings, in declaration order (they are evaluated by
    action: return, branch, pin, compress; then in this order)."""
    with open_repo(obj) as repo:
        policies = repo.list_policies()
    if as_json:
        emit_json([{"name": p.name, "action": p.action, "on": p.on, "enabled": p.enabled,
                    "settings": p.opts} for p in policies])
        return
    for p in policies:
        state = "enabled" if p.enabled else "disabled"
        echo(f"{p.name}: {p.action or '(no action)'}, on {p.on}, {state}")


@command("explain", JSON, argument("name"))
def explain(obj, as_json: bool = False, name: str | None = None) -> None:
    """What each policy (or NAME) decides about the context at HEAD, and why; writes nothing.
    Exit status 0 whether or not a policy would fire."""
    with open_repo(obj) as repo:
        decisions = repo.explain_policies(name, provider=lambda: make_provider(repo))
    if as_json:
        emit_json([d.to_dict() for d in decisions])
        return
    _decision_lines(decisions, False)


@command("run",
         flag("--dry-run", "-n", dest="dry_run", value=True,
              help="Only say what would fire (as explain)."),
         JSON, argument("name"))
def run(obj, dry_run: bool = False, as_json: bool = False, name: str | None = None) -> None:
    """Evaluate every policy (or NAME), whatever its `on`, and run those that fire: each action
    is one or more ordinary commits whose meta names the policy and why. Exit status 1 when a
    policy could not be evaluated or an action that fired failed (the others still ran)."""
    with open_repo(obj) as repo:
        decisions = repo.run_policies(name, dry_run=dry_run,
                                      provider=lambda: make_provider(repo))
    if as_json:
        emit_json([d.to_dict() for d in decisions])
    else:
        _decision_lines(decisions, not dry_run)
    if any(d.error for d in decisions):
        raise CommandExit(1)


@command("undo", JSON, argument("rev"))
def undo(obj, as_json: bool = False, rev: str | None = None) -> None:
    """Undo what a policy did at REV (default: the newest policy commit on HEAD's first-parent
    line): a compress or pin at the tip is reset away, one further back reverted; a tangent is
    merged back into the branch it left; a return goes back to the tangent."""
    with open_repo(obj) as repo:
        out = repo.undo_policy(rev)
    if as_json:
        emit_json(out)
        return
    echo(f"undid {out['action']} of policy {out['policy']} ({out['commit'][:12]}): "
         f"{out['done']}")


def _set_enabled(obj, name: str, value: bool) -> None:
    from trace_core.policy.spec import find
    with open_repo(obj) as repo:
        find(repo.list_policies(), name)
        repo.set_config(f"policy.{name}.enabled", "true" if value else "false")
        now = repo.list_policies()
    if any(p.name == name and p.enabled != value for p in now):
        fail(f"policy.{name}.enabled is set in .trace/config, but another settings layer "
             "(your own config or -c) overrides it")
    echo(f"policy {name} {'enabled' if value else 'disabled'} (policy.{name}.enabled in "
         ".trace/config)")


@command("disable", argument("name", required=True))
def disable(obj, name: str = "") -> None:
    """Stop policy NAME from firing (sets policy.NAME.enabled false in .trace/config)."""
    _set_enabled(obj, name, False)


@command("enable", argument("name", required=True))
def enable(obj, name: str = "") -> None:
    """Let policy NAME fire again (sets policy.NAME.enabled true in .trace/config)."""
    _set_enabled(obj, name, True)


policy = Group("policy", """Context policies: compress, pin, branch off tangents and come back,
    by themselves (docs/policy.md).

    Policies are settings, policy.NAME.KEY: `trace config policy.squeeze.action compress`.
    Those with `on = commit` (the default) are evaluated after every commit; `trace policy run`
    evaluates all of them now. Every action is an ordinary commit whose meta names the policy
    and why; `trace policy undo` undoes one, `trace policy disable NAME` stops one.""",
               (list_, explain, run, undo, disable, enable))
