"""The context manager (docs/manage.md): a separate agent, with its own namespace, that watches
another agent's context, measures its health, proposes a plan, and executes the plan a human
approved (or, with `auto`, the operations `manage.auto` allows, at most `manage.max-ops`).

Its namespace (default `manager`) is its memory: each round appends the health report it saw
(role user) and the plan it proposed (role assistant), then what was executed (role user), with
the labels `manage.agent` and `manage.head`. Each operation on the watched agent is an ordinary
commit there (compress, pin or drop) whose `meta.policy` is `{"name": "manage", "action": op,
"why": ..., "trigger": "manage", "manager": <its namespace>, "plan": <the manager's commit>}`
(FORMAT.md §6.4.6), authored `manager:<its namespace>`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from ..context import entries_at
from ..errors import InputError, OperationError
from ..history import append, append_many
from ..policy.actions import rewrite
from ..policy.state import View
from ..state import RepoState
from .health import Health, measure
from .plan import OPS, ManagePlan, llm_plan, parse, propose

MODES = ("heuristic", "llm")


class ManageResult:
    """One round: the `health` measured, the `plan` proposed (or given), what was `executed`
    ([{"op", "line", "commits", "error"}]), the manager's commits (`recorded`, hex) and the
    model call's `inference` (llm mode)."""

    def __init__(self, health: Health, plan: ManagePlan) -> None:
        self.health, self.plan = health, plan
        self.executed: list[dict] = []
        self.recorded: list[str] = []
        self.inference: dict | None = None

    def to_dict(self) -> dict:
        return {"health": self.health.to_dict(), "plan": self.plan.to_dict(),
                "plan_text": self.plan.text(), "executed": self.executed,
                "recorded": self.recorded, "inference": self.inference}


def _watched(repo: RepoState, agent: str | None) -> RepoState:
    root: Any = getattr(repo, "_root", repo)
    return root.agent(agent) if agent else root


def _limits(repo: RepoState) -> tuple[set[str], int]:
    kinds = {k.strip() for k in str(repo.config.get_typed("manage.auto")).split(",")
             if k.strip()}
    bad = kinds - set(OPS)
    if bad:
        from ..errors import ConfigError
        raise ConfigError(f"manage.auto: {sorted(bad)[0]!r} is not an operation "
                          f"({', '.join(OPS)})")
    return kinds, int(repo.config.get_typed("manage.max-ops"))


def manage(repo: RepoState, agent: str | None = None, *, mode: str = "heuristic",
           provider: Any = None, auto: bool = False, plan: Any = None,
           manager: str = "manager", strategy: str = "extractive",
           author: str | None = None) -> ManageResult:
    """One round on the context at HEAD of `agent` (None: the root namespace): measure, then
    either execute `plan` (a human's: its text or a ManagePlan; indices of the context at the
    plan's head, which may since have only grown), or propose one (`mode` heuristic, or llm
    with `provider`) and, with `auto`, execute the operations `manage.auto` allows. The
    round is recorded in the manager's namespace `manager`."""
    if mode not in MODES:
        raise InputError(f"unknown mode {mode!r} (heuristic or llm)")
    view = _watched(repo, agent)
    if manager == (agent or "") or not manager:
        raise InputError("the manager needs its own namespace (--as NAME), not the agent's")
    health = measure(view)
    inference = None
    if plan is not None:
        given = plan if isinstance(plan, ManagePlan) else parse(
            plan, _count_at(view, plan), view.agent_name)
        if given.head is None:
            given.head = health.head
        else:                       # the header's short id, resolved
            from ..plumbing.revparse import resolve_revision
            given.head = resolve_revision(view, given.head).hex()
        result = ManageResult(health, given)
        approved = True
    else:
        if mode == "llm":
            if provider is None:
                raise InputError("llm mode needs a provider (llm.provider and llm.model)")
            proposed, call = llm_plan(provider, View(view), health, view.agent_name)
            fn = getattr(call, "to_meta", None)
            inference = dict(fn()) if callable(fn) else None
        else:
            proposed = propose(View(view), health)
        result = ManageResult(health, proposed)
        result.inference = inference
        approved = False
    mgr = _manager_view(repo, manager)
    labels = {"manage.agent": agent or "(root)", "manage.head": health.head or "-"}
    report = "\n".join([f"health of {agent or '(root)'} at {(health.head or '-')[:12]}:",
                        *health.lines()])
    rec = append_many(mgr, [{"role": "user", "content": report},
                           {"role": "assistant" if not approved else "user",
                            "content": ("approved plan:\n" if approved else "") +
                            result.plan.text()}], meta=labels)
    result.recorded.append(rec.hex)
    if approved or auto:
        kinds, max_ops = _limits(view) if auto and not approved else (set(OPS), len(OPS) * 999)
        result.executed = execute(view, result.plan, plan_commit=rec.hex, manager=manager,
                                  allowed=kinds, max_ops=max_ops, strategy=strategy,
                                  provider=provider, author=author)
        lines = [f"{e['line']}: " + (f"done ({', '.join(c[:12] for c in e['commits'])})"
                                     if not e["error"] else f"not done: {e['error']}")
                 for e in result.executed]
        done = append(mgr, {"role": "user", "content": "executed:\n" + ("\n".join(lines) or
                                                                      "(nothing)")},
                          meta=labels)
        result.recorded.append(done.hex)
    return result


def _count_at(view: RepoState, plan: Any) -> int:
    """The number of entries the plan's indices refer to: the context at its head."""
    from .plan import _HEAD
    for line in str(plan).splitlines()[:2]:
        m = _HEAD.match(line.strip())
        if m:
            from ..plumbing.revparse import resolve_revision
            return len(entries_at(view, resolve_revision(view, m.group(1))))
    head = view.head_commit()
    return len(entries_at(view, head)) if head is not None else 0


def _manager_view(repo: RepoState, name: str) -> RepoState:
    root: Any = getattr(repo, "_root", repo)
    return root.agent(name, create=True)


def execute(view: RepoState, plan: ManagePlan, *, plan_commit: str | None = None,
            manager: str = "manager", allowed: set[str] | None = None, max_ops: int = 1 << 30,
            strategy: str = "extractive", provider: Any = None,
            author: str | None = None) -> list[dict]:
    """Execute `plan` on `view`: pins and masks first (they move no entry), then drops and
    compressions from the last entry back (so each one's indices stay those of the plan's
    head). The context may have grown
    since the plan's head, not changed: else OperationError and nothing is done. An
    operation whose entries changed since, or that fails, is reported and the others run."""
    head = plan.head
    planned = entries_at(view, bytes.fromhex(head)) if head else []
    current = entries_at(view, view.head_commit())
    if [e.blob for e in current[:len(planned)]] != [e.blob for e in planned]:
        raise OperationError(f"the agent's context changed since the plan was made at "
                             f"{(head or '-')[:12]} (not only appended): make a new plan")
    who = author or f"manager:{manager}"
    rank = {"pin": 0, "mask": 1}     # neither moves an entry: first, then the rest from the end
    order = sorted(plan.ops, key=lambda o: (rank.get(o.op, 2), -min(o.positions() or [0])))
    out: list[dict] = []
    done = 0
    for op in order:
        rec: dict = {"op": op.op, "line": op.line().split("#")[0].strip(), "commits": [],
                     "error": None}
        out.append(rec)
        if allowed is not None and op.op not in allowed:
            rec["error"] = "not allowed by manage.auto (approve the plan to run it)"
            continue
        if done >= max_ops:
            rec["error"] = "over manage.max-ops"
            continue
        meta = {"name": "manage", "action": op.op, "why": op.why or op.line(),
                "trigger": "manage", "manager": manager}
        if plan_commit:
            meta["plan"] = plan_commit
        try:
            rec["commits"] = _run(view, op, planned, meta, who, strategy, provider)
            done += 1
        except (OperationError, InputError) as exc:
            rec["error"] = str(exc)
    return out


def _run(view: RepoState, op: Any, planned: list, meta: dict, who: str, strategy: str,
         provider: Any) -> list[str]:
    blobs = [planned[i].blob for i in op.positions()]
    if op.op in ("pin", "drop"):
        label = ", ".join(f"#{i}" for i in op.indices)
        return [rewrite(view, op.op, op.indices, blobs, f"{op.op} {label} (manager)", meta,
                        who).hex]
    now = entries_at(view, view.head_commit())
    start, end = op.span
    if [e.blob for e in now[start:end]] != blobs:
        raise OperationError("the entries changed since the plan was made")
    from ..compress import compress
    kw: dict = {"strategy": "mask", "keep_last": 0} if op.op == "mask" else \
        {"strategy": strategy, "granularity": "turn", "provider": provider}
    result = compress(view, entries=(start, end), respect_pins=True, author=who, policy=meta,
                      **kw)
    return [result.commit] if result.commit else []


def watch(repo: RepoState, agent: str | None = None, *, interval: float = 2.0,
          rounds: int | None = None, on_round: Callable[[ManageResult], Any] | None = None,
          sleep: Callable[[float], None] = time.sleep, **kw: Any) -> int:
    """Run `manage` each time the agent's HEAD moves (looked at every `interval` seconds; the
    commits of the round's own operations do not count as a move), `rounds` times (None: until
    interrupted); each result goes to `on_round`. Returns the number of rounds."""
    view = _watched(repo, agent)
    ours: set[str] = set()          # the heads the last round saw and made
    n = 0
    while rounds is None or n < rounds:
        head = view.head_commit()
        if head is not None and head.hex() not in ours:
            result = manage(repo, agent, **kw)
            n += 1
            if on_round is not None:
                on_round(result)
            ours = {result.health.head or "", *(c for e in result.executed
                                                 for c in e["commits"])}
            continue
        sleep(interval)
    return n
