"""Context policies: the repository manages its context by itself (docs/policy.md).

A policy is declared in the settings as `policy.<name>.<key>` (action, trigger, condition
settings) and evaluated after every commit (`enable_policies`, which the `trace` command calls)
or on demand (`run_policies`, `trace policy run`). What fires is an ordinary commit whose meta
`policy` names the policy and why; `explain_policies` and `run_policies(dry_run=True)` tell what
would fire; `undo_policy` undoes one action.

    from trace_core.policy import enable_policies, explain_policies, run_policies
    repo.set_config("budget.max-tokens", "8000")
    repo.set_config("policy.squeeze.action", "compress")  # at 80% -> 50%: mask, extractive
    repo.set_config("policy.keep.action", "pin")          # requirements, paths, identifiers
    enable_policies(repo)                                 # every commit evaluates them
    for d in explain_policies(repo):
        print(d.policy, d.fires, d.why)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .engine import Decision, ProviderArg, decisions
from .runner import PolicyRunner, run, suspended
from .spec import ACTIONS, Policy, load

if TYPE_CHECKING:
    from ..state import RepoState

__all__ = ["ACTIONS", "Decision", "Policy", "PolicyRunner", "enable_policies",
           "explain_policies", "list_policies", "run_policies", "suspended", "undo_policy"]


def list_policies(repo: RepoState) -> list[Policy]:
    """The policies the effective settings declare, in order."""
    return load(repo.config)


def explain_policies(repo: RepoState, name: str | None = None, *,
                     provider: ProviderArg = None) -> list[Decision]:
    """What every policy (or `name`) decides about the context at HEAD, and why; nothing is
    written. A policy whose classifier calls the model asks it (with `provider`)."""
    return decisions(repo, only=name, provider=provider)


def run_policies(repo: RepoState, name: str | None = None, *, dry_run: bool = False,
                 provider: ProviderArg = None, author: str | None = None) -> list[Decision]:
    """Evaluate every policy (or `name`) on the context at HEAD and run those that fire (all
    policies, whatever their `on`). `provider`: for policies allowed to call a model (a
    provider, or a zero-argument function making one). Returns every decision."""
    return run(repo, dry_run=dry_run, only=name, provider=provider, author=author)


def undo_policy(repo: RepoState, rev: str | None = None) -> dict:
    """Undo the action of the policy commit `rev` (default: the newest on HEAD's first-parent
    line); see docs/policy.md, "Undo"."""
    from .actions import undo
    with suspended(repo):           # an undo's own commit (a revert) evaluates no policy
        return undo(repo, rev)


def enable_policies(repo: RepoState, provider: ProviderArg = None) -> PolicyRunner | None:
    """Evaluate the policies declared with `on = commit` (the default) after every commit that
    moves a branch HEAD is on, in this repository and its agents' namespaces. `provider`: for
    policies allowed to call a model (a provider or a zero-argument function making one).
    Returns the callback (`repo.off("commit", it)` disables), or None when no policy is declared
    (nothing is registered: commits then cost what they cost without policies). A second call
    replaces the provider."""
    root: Any = getattr(repo, "_root", repo)
    if not root.config.declares("policy."):
        return None
    for _event, cb in root.hooks._callbacks:
        if isinstance(cb, PolicyRunner):
            cb.provider = provider
            return cb
    runner = PolicyRunner(root, provider)
    root.hooks.on("commit", runner)
    return runner
