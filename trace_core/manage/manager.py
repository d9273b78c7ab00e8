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
from ..errors import InputError, OperationError, TraceError
from ..history import append, append_many
from ..policy.actions import rewrite
from ..policy.state import View, first_parent
from ..state import RepoState
from .health import Health, measure
from .plan import OPS, ManagePlan, Operation, header_head, llm_plan, parse, propose

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
    mgr = _manager_view(repo, manager)      # (a bad name fails before any model call)
    health = measure(view)
    inference = None
    if plan is not None:
        if isinstance(plan, ManagePlan):
            given = plan
        else:
            if not isinstance(plan, str):
                raise InputError("a plan is text or a ManagePlan")
            head = _plan_head(view, plan)
            given = parse(plan, len(entries_at(view, head)), view.agent_name)
            given.head = head.hex() if head is not None else None
        if given.head is None:
            given.head = health.head
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
    labels = {"manage.agent": agent or "(root)", "manage.head": health.head or "-"}
    report = "\n".join([f"health of {agent or '(root)'} at {(health.head or '-')[:12]}:",
                        *health.lines()])
    rec = append_many(mgr, [{"role": "user", "content": report},
                           {"role": "assistant" if not approved else "user",
                            "content": ("approved plan:\n" if approved else "") +
                            result.plan.text()}], meta=labels)
    result.recorded.append(rec.hex)
    if approved or auto:
        limits: dict = {}
        if auto and not approved:          # an approved plan runs whole
            limits["allowed"], limits["max_ops"] = _limits(view)
        result.executed = execute(view, result.plan, plan_commit=rec.hex, manager=manager,
                                  strategy=strategy, provider=provider, author=author, **limits)
        lines = [f"{e['line']}: " + (f"done ({', '.join(c[:12] for c in e['commits'])})"
                                     if not e["error"] else f"not done: {e['error']}")
                 for e in result.executed]
        done = append(mgr, {"role": "user", "content": "executed:\n" + ("\n".join(lines) or
                                                                      "(nothing)")},
                          meta=labels)
        result.recorded.append(done.hex)
    return result


def _plan_head(view: RepoState, text: str) -> bytes | None:
    """The commit a plan's header names (its indices are those of that context), resolved;
    without a header, the agent's HEAD."""
    named = header_head(text)
    if named is None:
        return view.head_commit()
    from ..plumbing.revparse import resolve_revision
    return resolve_revision(view, named)


def _manager_view(repo: RepoState, name: str) -> RepoState:
    root: Any = getattr(repo, "_root", repo)
    return root.agent(name, create=True)


def execute(view: RepoState, plan: ManagePlan, *, plan_commit: str | None = None,
            manager: str = "manager", allowed: set[str] | None = None, max_ops: int = 1 << 30,
            strategy: str = "extractive", provider: Any = None,
            author: str | None = None) -> list[dict]:
    """Execute `plan` on `view`: pins and masks first (they move no entry), then every drop
    (one entry at a time) and compression from the last entry back, so each one's indices
    stay those of the plan's head. The context may have grown since the plan's head, not
    changed: else OperationError and nothing is done. An operation whose entries changed
    since, or that fails, is reported (one record per plan line) and the others run. No
    policy is evaluated after these commits."""
    from ..policy import suspended
    head = plan.head
    planned = entries_at(view, bytes.fromhex(head)) if head else []
    current = entries_at(view, view.head_commit())
    if [e.blob for e in current[:len(planned)]] != [e.blob for e in planned]:
        raise OperationError(f"the agent's context changed since the plan was made at "
                             f"{(head or '-')[:12]} (not only appended): make a new plan")
    who = author or f"manager:{manager}"
    out: list[dict] = []
    units: list[tuple[int, int, int, Operation]] = []   # (rank, -position, line, op) to run
    taken = 0
    for n, op in enumerate(plan.ops):
        rec: dict = {"op": op.op, "line": op.line().split("#")[0].strip(), "commits": [],
                     "error": None}
        out.append(rec)
        if allowed is not None and op.op not in allowed:
            rec["error"] = "not allowed by manage.auto (approve the plan to run it)"
            continue
        if taken >= max_ops:
            rec["error"] = "over manage.max-ops"
            continue
        taken += 1
        parts = [Operation("drop", [i], why=op.why) for i in op.indices] \
            if op.op == "drop" else [op]
        for part in parts:
            rank = {"pin": 0, "mask": 1}.get(op.op, 2)
            units.append((rank, -min(part.positions() or [0]), n, part))
    units.sort(key=lambda u: (u[0], u[1]))
    with suspended(view):
        for _rank, _pos, n, part in units:
            rec = out[n]
            meta = {"name": "manage", "action": part.op, "why": plan.ops[n].why or rec["line"],
                    "trigger": "manage", "manager": manager,
                    "decision": f"{(plan_commit or plan.head or '')[:16]}:{n}"}
            if plan_commit:
                meta["plan"] = plan_commit
            try:
                rec["commits"] += _run(view, part, planned, meta, who, strategy, provider)
            except (OperationError, InputError) as exc:
                rec["error"] = f"{rec['error']}; {exc}" if rec["error"] else str(exc)
    return out


def _run(view: RepoState, op: Any, planned: list, meta: dict, who: str, strategy: str,
         provider: Any) -> list[str]:
    blobs = [planned[i].blob for i in op.positions()]
    if op.op == "drop":
        from ..toolpairs import conversational
        for i, b in zip(op.indices, blobs, strict=True):
            if not conversational(view.get_blob(b).message):
                raise OperationError(f"entry {i} holds a tool call or result: dropping it "
                                     "alone would break the pair (not done)")
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
          on_error: Callable[[Exception], Any] | None = None,
          sleep: Callable[[float], None] = time.sleep, **kw: Any) -> int:
    """Run `manage` each time the agent commits (HEAD looked at every `interval` seconds; the
    commits of the round's own operations do not count, the agent's among them do), `rounds`
    times (None: until interrupted); each result goes to `on_round`, a round that failed (a
    TraceError: the agent rewrote its context meanwhile, say) to `on_error`, and the watch
    goes on. Returns the number of rounds."""
    view = _watched(repo, agent)
    seen: str | None = None         # the head the last round measured
    made: set[str] = set()          # and the commits its operations made
    n = 0
    while rounds is None or n < rounds:
        if _moved(view, seen, made):
            n += 1
            before = view.head_commit()
            try:
                result = manage(repo, agent, **kw)
            except TraceError as exc:     # (the agent rewrote its context meanwhile, ...)
                seen, made = (before.hex() if before is not None else None), set()
                if on_error is not None:
                    on_error(exc)
                continue
            if on_round is not None:
                on_round(result)
            seen = result.health.head
            made = {c for e in result.executed for c in e["commits"]}
            continue
        sleep(interval)
    return n


def _moved(view: RepoState, seen: str | None, made: set[str]) -> bool:
    """Whether the agent committed since the head `seen`: HEAD's first-parent line down to
    `seen` holds a commit the manager's operations (`made`) did not make."""
    head = view.head_commit()
    for c in first_parent(view, view.get_commit(head) if head is not None else None,
                          len(made) + 1):
        if c.hex == seen:
            return False
        if c.hex not in made:
            return True
    return head is not None
