"""Running the policies: evaluate, then run each decision that fires, in the engine's order,
looking again after an action moved HEAD; the `held` memory of the after-commit runner
(docs/policy.md, "When a policy fires")."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from ..errors import TraceError
from ..state import RepoState
from .actions import execute
from .engine import Decision, ProviderArg, decisions
from .state import View

if TYPE_CHECKING:
    from ..hooks import HookEvent


@contextmanager
def suspended(repo: Any) -> Iterator[None]:
    """No policy is evaluated after the commits made inside this block (a policy's own
    actions, `trace policy run`, an undo, the context manager's operations)."""
    root = getattr(repo, "_root", repo)
    runners = [cb for _e, cb in root.hooks._callbacks if isinstance(cb, PolicyRunner)]
    before = [r.busy for r in runners]
    for r in runners:
        r.busy = True
    try:
        yield
    finally:
        for r, b in zip(runners, before, strict=True):
            r.busy = b


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
    fresh: frozenset = frozenset()
    if trigger == "commit":        # what the triggering commit appended: what pins look at
        head = repo.head_commit()
        c = repo.get_commit(head) if head is not None else None
        if c is not None and c.op == "append":
            fresh = frozenset(b.hex() for b in c.blobs)
    if dry_run:
        return decisions(repo, trigger=trigger, only=only, provider=provider, fresh=fresh)
    with suspended(repo):
        return _run(repo, trigger, only, provider, author, held, fresh)


def _run(repo: RepoState, trigger: str, only: str | None, provider: ProviderArg,
         author: str | None, held: dict | None, fresh: frozenset) -> list[Decision]:
    out: list[Decision] = []
    first = decisions(repo, trigger=trigger, only=only, provider=provider, fresh=fresh)
    seen = (repo.head_branch(), repo.head_commit())
    for dec in first:
        name = dec.policy
        if (repo.head_branch(), repo.head_commit()) != seen:   # an action moved HEAD: look again
            [dec] = decisions(repo, trigger=trigger, only=name, provider=provider, fresh=fresh)
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
                    [again] = decisions(repo, trigger=trigger, only=name, provider=provider,
                                        fresh=fresh)
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


class PolicyRunner:
    """The hook callback that evaluates the `on = commit` policies after each new commit at the
    tip of the branch HEAD is on (registered by `enable_policies` for `commit` events: a
    reset, switch or fast-forward makes no commit and evaluates nothing; a transaction is
    evaluated once, at its last commit). The commits the policies make do not trigger another
    evaluation; a policy that fails is reported through `repo.warn` and never
    undoes the commit that triggered it."""

    def __init__(self, repo: RepoState, provider: ProviderArg) -> None:
        self.repo, self.provider = repo, provider
        self.busy = False
        self.last: list[Decision] = []
        #: where what fired is reported (default: the view's `warn`; the CLI prints it)
        self.report: Callable[[str], None] | None = None
        #: (agent, policy) -> {policy: total when its action failed} (engine.run's `held`)
        self.held: dict[str | None, dict] = {}

    def __call__(self, event: HookEvent) -> None:
        if self.busy or event.event != "commit" or event.commit is None or \
                not event.ref.startswith("refs/heads/"):
            return
        root = self.repo
        view = root.agent(event.agent) if event.agent else root
        if view.head_branch() != event.ref or view.head_commit() != event.commit.id:
            return     # a branch HEAD is not on, or not the tip (a transaction's earlier ones)
        self.busy = True         # (run() suspends every runner too: this one is the caller)
        try:
            held = self.held.setdefault(event.agent, {})
            self.last = [d for d in run(view, trigger="commit", provider=self.provider,
                                        held=held) if d.fires or d.error]
        finally:
            self.busy = False
        for d in self.last:
            if d.error and not d.fires:
                view.warn(f"policy {d.policy} could not be evaluated: {d.error}")
            elif d.error:
                view.warn(f"policy {d.policy} ({d.action}) did not run: {d.error}")
            else:
                made = ", ".join(c[:12] for c in d.commits)
                (self.report or view.warn)(f"policy {d.policy}: {d.why} [{made}]")
