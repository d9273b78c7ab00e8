"""Running the policies: evaluate, then run each decision that fires, in the engine's order,
looking again after an action moved HEAD; the `held` memory of the after-commit runner
(docs/policy.md, "When a policy fires")."""

from __future__ import annotations

from ..errors import TraceError
from ..state import RepoState
from .actions import execute
from .engine import Decision, ProviderArg, decisions
from .state import View


def run(repo: RepoState, *, dry_run: bool = False, trigger: str = "manual",
        only: str | None = None, provider: ProviderArg = None, author: str | None = None,
        held: dict | None = None) -> list[Decision]:
    """Evaluate the policies and run each that fires, in declaration order, re-reading the
    context after each action (an earlier action may settle a later policy's condition).
    Returns every decision; with `dry_run` nothing is written. A failing action is recorded
    in its decision's `error` and the others still run.

    `held` (the after-commit runner's memory): {policy name: context total when its action
    last failed}; such a policy is not run again until the context has grown by HOLD_GROWTH
    of its budget (or shrunk below that total), so a compression that cannot shrink the
    context is not retried on every commit. A failure, or an action after which the policy
    would fire again at once, holds it; one that settles its condition releases it."""
    if dry_run:
        return decisions(repo, trigger=trigger, only=only, provider=provider)
    out: list[Decision] = []
    first = decisions(repo, trigger=trigger, only=only, provider=provider)
    seen = (repo.head_branch(), repo.head_commit())
    for dec in first:
        name = dec.policy
        if (repo.head_branch(), repo.head_commit()) != seen:   # an action moved HEAD: look again
            [dec] = decisions(repo, trigger=trigger, only=name, provider=provider)
        if dec.fires and held is not None and name in held:
            view = View(repo)
            was = held[name]
            if was <= view.total < was + HOLD_GROWTH * (view.max_tokens or 0):
                dec.fires = False
                dec.why = f"held: its action failed at {was} tokens; it runs again once the " \
                    "context grows or shrinks"
        if dec.fires:
            try:
                execute(repo, dec, trigger=trigger, provider=provider, author=author)
                if held is not None:    # still firing after its action: held like a failure
                    [again] = decisions(repo, trigger=trigger, only=name, provider=provider)
                    if again.fires:
                        held[name] = View(repo).total
                    else:
                        held.pop(name, None)
            except TraceError as exc:
                dec.error = str(exc)
                if held is not None:
                    held[name] = View(repo).total
        out.append(dec)
    return out


#: see run(): a failed action is retried once the context grew by this fraction of its budget
HOLD_GROWTH = 0.05
