"""Evaluating policies: each policy's condition on the context at HEAD gives a `Decision`
(fires or not, and why); running a decision is its action (trace_core.policy.actions), one or
more ordinary commits whose meta names the policy and why (docs/policy.md)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ..errors import ConfigError, TraceError
from ..state import RepoState
from . import signals
from .spec import Policy, find, load
from .state import View, first_parent

#: a user turn shorter than this many content words never counts as coming back to the task
_RETURN_MIN_WORDS = 3


class Decision:
    """What one policy decided about the context at HEAD: `fires`, `why` (one line), the
    action's `plan` (what it would do, JSON values), and once run the `commits` it made (hex,
    oldest first) and the `error` that stopped it (a compression chain keeps the steps made
    before a failing one: they are in `commits`)."""

    __slots__ = ("policy", "action", "fires", "why", "plan", "commits", "error", "head")

    def __init__(self, policy: str, action: str | None, fires: bool, why: str,
                 plan: dict | None = None) -> None:
        self.policy, self.action, self.fires, self.why = policy, action, fires, why
        self.plan = plan or {}
        self.commits: list[str] = []
        self.error: str | None = None
        self.head: str | None = None       # the commit it was decided on (hex)

    def __repr__(self) -> str:
        return f"Decision({self.policy!r}, {self.action!r}, fires={self.fires}, why={self.why!r})"

    def to_dict(self) -> dict:
        return {"policy": self.policy, "action": self.action, "fires": self.fires,
                "why": self.why, "plan": self.plan, "commits": list(self.commits),
                "error": self.error}

    def meta(self, trigger: str) -> dict:
        """The commit meta `policy` of what this decision commits (FORMAT.md §6.4.6);
        `decision` tells its commits from another decision's (`<head>:<policy>`)."""
        return {"name": self.policy, "action": self.action, "why": self.why,
                "trigger": trigger, "decision": f"{(self.head or '')[:16]}:{self.policy}"}


ProviderArg = Any   # a provider (anything with `complete`), a zero-argument factory, or None


def provider_of(provider: ProviderArg) -> Any:
    if provider is not None and not hasattr(provider, "complete") and callable(provider):
        return provider()
    return provider


def evaluate(repo: RepoState, policy: Policy, view: View, *, prefixes: tuple[str, ...] = (),
             provider: ProviderArg = None) -> Decision:
    """The decision of `policy` on `view` (nothing is written)."""
    d = lambda fires, why, plan=None: Decision(policy.name, policy.action, fires, why, plan)  # noqa: E731
    if not policy.enabled:
        return d(False, f"disabled (policy.{policy.name}.enabled is false)")
    if policy.action is None:
        return d(False, f"no action: set policy.{policy.name}.action")
    if view.commit is None:
        return d(False, "the branch has no commits")
    check: Callable = _CHECKS[policy.action]
    dec = check(repo, policy, view, d, prefixes, provider)
    dec.head = view.commit.hex
    return dec


def _compress(repo, policy: Policy, view: View, d, prefixes, provider) -> Decision:
    steps = policy.strategy_steps()
    if view.max_tokens is None:
        return d(False, "no token budget: set budget.max-tokens (or branch.<name>.max-tokens)")
    at, target = float(policy.get("at")), float(policy.get("target"))
    pct = 100 * view.total / view.max_tokens
    if view.total < at * view.max_tokens:
        return d(False, f"context at {view.total} of {view.max_tokens} tokens ({pct:.0f}%), "
                 f"under {at:.0%}")
    if "llm" in steps and not policy.get("model-strategy"):
        steps = [s for s in steps if s != "llm"]      # (policy.<name>.llm: a trusted setting)
        if not steps:
            return d(False, f"its only strategy is llm, and policy.{policy.name}.llm is not "
                     "true from a trusted source (docs/security.md)")
    goal = int(target * view.max_tokens)
    keep = int(policy.get("keep-turns"))
    start, end = compress_span(repo, view, keep, goal)
    if end <= start:
        return d(False, f"context at {pct:.0f}% of its budget, but nothing before the last "
                 f"turn can be compressed")
    return d(True, f"context at {view.total} of {view.max_tokens} tokens ({pct:.0f}%) reached "
             f"{at:.0%}: compress entries {start}-{end - 1} to reach {target:.0%} ({goal} "
             "tokens)", {"entries": [start, end], "goal": goal, "steps": steps,
                         "granularity": policy.get("granularity"), "keep_turns": keep})


def compress_span(repo: RepoState, view: View, keep_turns: int, goal: int) -> tuple[int, int]:
    """[start, end) of what a compression may take: after the leading system messages, before
    the last `keep_turns` user turns, or fewer (at least one) while those turns alone hold
    more than half the goal (recent turns are kept, but never at the price of the target)."""
    start = 0
    while start < len(view.msgs) and view.msgs[start].get("role") in ("system", "developer"):
        start += 1
    end = keep_from(view.msgs, min(keep_turns, 1))
    for turns in range(keep_turns, 0, -1):
        at = keep_from(view.msgs, turns)
        if sum(repo.blob_tokens(bytes.fromhex(b)) for b in view.ids[at:]) <= goal // 2:
            end = at
            break
    return start, end


def keep_from(msgs: list[dict], turns: int) -> int:
    """The index where the last `turns` user turns start (len(msgs) when turns is 0)."""
    if turns <= 0:
        return len(msgs)
    seen = 0
    for i in range(len(msgs) - 1, -1, -1):
        if signals.user_text(msgs[i]) is not None:
            seen += 1
            if seen >= turns:
                return i
    return 0


def _pin(repo, policy: Policy, view: View, d, prefixes, provider) -> Decision:
    since = 0
    kinds = policy.pin_kinds()
    if view.trigger == "commit":    # after a commit: what it appended (an undo appends none)
        since = len(view.ids)
        while since > 0 and view.ids[since - 1] in view.fresh:
            since -= 1
        if since == len(view.ids):
            return d(False, "the commit appended no message")
        scan = _pin_scan(repo, view, kinds)
    else:
        scan = signals.PinScan(kinds)
        for i, m in enumerate(view.msgs):
            scan.feed(i, m)
    reasons = {i: why for i, why in scan.reasons(since).items() if not view.pinned(i)}
    if not reasons:
        return d(False, f"no unpinned message to pin ({policy.get('kinds')})")
    chosen = list(reasons.items())[:int(policy.get("max"))]
    why = "; ".join(f"#{i} {w}" for i, w in chosen)
    more = len(reasons) - len(chosen)
    if more:
        why += f"; {more} more left (policy.{policy.name}.max): `trace policy run` pins them"
    return d(True, f"pin {why}", {"entries": [i for i, _ in chosen],
                                  "blobs": [view.ids[i] for i, _ in chosen]})


def _pin_scan(repo: RepoState, view: View, kinds: list[str]) -> signals.PinScan:
    """The pin scan of the context at HEAD, kept between commits (in `store.derived`, one per
    set of kinds) and extended by the entries appended since: a commit costs the messages it
    added, not the whole context. Built anew (a new process), the messages before the ones the
    commit appended are scanned only for what later ones are compared with."""
    from .. import chunked
    from ..errors import ObjectError
    cache = repo.store.derived.setdefault("policy_pin_scans", {})
    key = (repo.agent_name, tuple(kinds))
    snap = repo.get_snapshot(view.commit.snapshot) if view.commit is not None else None
    held = cache.get(key)
    start = 0
    scan = None
    if held is not None and snap is not None:
        old_snap, old_scan = held
        try:
            new = chunked.appended(old_snap, snap, repo.get_node)
        except ObjectError:
            new = None
        if new is not None and old_scan.count == old_snap.count:
            scan, start = old_scan, old_snap.count
    if scan is None:     # (a new process): what came before the commit only to compare with
        scan = signals.PinScan(kinds)
        start = len(view.msgs)
        while start > 0 and view.ids[start - 1] in view.fresh:
            start -= 1
        for i in range(start):
            scan.feed(i, view.msgs[i], history=True)
    for i in range(start, len(view.msgs)):
        scan.feed(i, view.msgs[i])
    if len(cache) > 64:
        cache.clear()
    cache[key] = (snap, scan)
    return scan


def _branch(repo, policy: Policy, view: View, d, prefixes, provider) -> Decision:
    if view.branch is None:
        return d(False, "HEAD is detached")
    if repo.head_ref != "HEAD":
        return d(False, f"this view is fixed to {view.branch}")
    if view.tangent(prefixes) is not None:
        return d(False, f"already on the tangent {view.short_branch()}")
    last = view.msgs[-1] if view.msgs else None
    text = signals.user_text(last) if last is not None else None
    if text is None:
        return d(False, "the newest message is not a user turn")
    new = signals.words(text)
    task = signals.topic(view.msgs[:-1])
    need = int(policy.get("min-words"))
    if len(new) < need or len(task) < need:
        return d(False, f"too few words to compare (need {need} content words in the new "
                 "turn and in the task before it)")
    threshold = float(policy.get("similarity"))
    if policy.get("classifier") == "llm" and policy.get("model-classifier"):
        tangent, how = _ask_tangent(provider, view.msgs[:-1], text)
    else:
        sim = signals.similarity(new, task)
        tangent, how = sim < threshold, f"lexical similarity {sim:.2f}"
        if policy.get("classifier") == "llm":      # may not call the model: offline instead
            how += f"; classifier llm needs policy.{policy.name}.llm from a trusted source"
        if not tangent:
            return d(False, f"the new turn stays on the task ({how}, at least {threshold:.2f})")
    if not tangent:
        return d(False, f"the new turn stays on the task ({how})")
    turn = _turn_commit(repo, view)
    if turn is None or view.commit is None:
        return d(False, "the commit that appended the new turn made other changes too")
    name = tangent_name(repo, str(policy.get("prefix")))
    return d(True, f"the new user turn leaves the task ({how} under {threshold:.2f}): move it "
             f"to branch {name}", {"branch": name, "base": view.short_branch(),
                                   "turn": turn.hex, "head": view.commit.hex})


def _turn_commit(repo: RepoState, view: View) -> Any:
    """The append commit that added the newest message (HEAD, or under the policy commits
    made after it), if it appended only that message; else None."""
    for c in first_parent(repo, view.commit, 16):
        if not isinstance(c.meta.get("policy"), dict):
            blob = bytes.fromhex(view.ids[-1])
            return c if c.op == "append" and list(c.blobs) == [blob] and c.parents else None
    return None


def hex_id(value: Any) -> bytes | None:
    """The id a meta field holds as 64 hex digits, or None for anything else (a forged or
    damaged record is then no id, never a crash)."""
    from ..ids import is_hex_id
    return bytes.fromhex(value) if isinstance(value, str) and is_hex_id(value) else None


def valid_branch(name: str) -> bool:
    from ..refs import check_writable
    try:
        check_writable(f"refs/heads/{name}")
    except TraceError:
        return False
    return True


def tangent_name(repo: RepoState, prefix: str) -> str:
    """`<prefix>/<n>`: the first n from 1 that names no branch."""
    n = 1
    while repo.refs.read(f"refs/heads/{prefix}/{n}") is not None:
        n += 1
    return f"{prefix}/{n}"


def _ask_tangent(provider: ProviderArg, before: list[dict], text: str) -> tuple[bool, str]:
    p = provider_of(provider)
    if p is None:
        raise ConfigError("classifier llm needs an LLM provider (llm.provider and llm.model)")
    task = "\n".join(t for t in (signals.user_text(m) for m in before[-12:]) if t)[-4000:]
    result = p.complete([{"role": "user", "content": (
        "An AI agent is working on this task (the user's recent requests):\n<task>\n"
        f"{task}\n</task>\nThe user now writes:\n<new>\n{text[:4000]}\n</new>\nIs the new "
        "message a tangent (a different topic the agent should explore on the side) rather "
        "than part of the task? Answer with one word: TANGENT or TASK.")}],
        system="You classify messages. Answer with one word.", max_tokens=5, temperature=0.0)
    answer = (getattr(result, "text", "") or "").strip().upper()
    return answer.startswith("TANGENT"), f"the model answered {answer[:20]!r}"


def _return(repo, policy: Policy, view: View, d, prefixes, provider) -> Decision:
    marker = view.tangent(prefixes)
    if marker is None:
        return d(False, "not on a tangent branch (made by a branch policy)")
    info = marker.meta["policy"]
    base = info.get("base") if isinstance(info.get("base"), str) else None
    if base is None or not valid_branch(base) or repo.refs.read(f"refs/heads/{base}") is None:
        return d(False, f"the branch the tangent left ({str(base)[:40]!r}) is gone")
    last = view.msgs[-1] if view.msgs else None
    if last is None:
        return d(False, "the context is empty")
    plan = {"base": base, "tangent": view.short_branch(), "mode": policy.get("mode")}
    if last.get("role") == "assistant":
        from ..messages import message_text
        hit = signals.GIVE_UP.search(message_text(last))
        if hit:
            plan["carry"] = False
            return d(True, f"the assistant gave the tangent up ({hit.group(0)!r}): "
                     f"{policy.get('mode')} {view.short_branch()} and go back to {base}", plan)
        return d(False, "the newest assistant message does not give the tangent up")
    text = signals.user_text(last)
    if text is None:
        return d(False, "the newest message is neither a user turn nor an assistant answer")
    new = signals.words(text)
    if len(new) < _RETURN_MIN_WORDS:
        return d(False, "the new user turn is too short to compare")
    turn = hex_id(info.get("turn"))
    started = repo.get_commit(turn).blobs if turn is not None else []
    if started and view.ids[-1] == started[0].hex():
        return d(False, "no turn since the tangent began")
    base_msgs, base_ids = _base_context(repo, base)
    own = [m for m, i in zip(view.msgs[:-1], view.ids[:-1], strict=True)
           if i not in base_ids and not _summary(m)]      # the tangent's own turns
    tangent_words = signals.topic(own)
    to_task = signals.similarity(new, signals.topic(base_msgs))
    to_tangent = signals.similarity(new, tangent_words)
    threshold = float(policy.get("similarity"))
    if to_task >= threshold and to_task > to_tangent:
        plan["carry"] = True
        return d(True, f"the new user turn comes back to the task of {base} (similarity "
                 f"{to_task:.2f} to it, {to_tangent:.2f} to the tangent): "
                 f"{policy.get('mode')} {view.short_branch()} and take the turn to {base}", plan)
    return d(False, f"the new user turn stays on the tangent (similarity {to_task:.2f} to the "
             f"task, {to_tangent:.2f} to the tangent)")


def _summary(m: dict) -> bool:
    """A summary a compression left (its words are the task's as much as the tangent's)."""
    from ..compress.strategies import SUMMARY_PREFIX
    return str(m.get("content", "")).startswith(SUMMARY_PREFIX)


def _base_context(repo: RepoState, base: str) -> tuple[list[dict], set[str]]:
    """The messages of branch `base`'s context and the set of their blob ids (hex)."""
    from ..context import entries_at, entry_messages
    tip = repo.refs.resolve(f"refs/heads/{base}")
    entries = entries_at(repo, bytes.fromhex(tip) if tip else None)
    return entry_messages(repo, entries), {e.blob.hex() for e in entries}


#: the order actions run in (then declaration order): moving between branches first, then
#: pinning, so that a compression keeps what was just pinned
ORDER = {"return": 0, "branch": 1, "pin": 2, "compress": 3}

_CHECKS: dict[str, Callable] = {"compress": _compress, "pin": _pin, "branch": _branch,
                                "return": _return}


def decisions(repo: RepoState, *, trigger: str = "manual", only: str | None = None,
              provider: ProviderArg = None, fresh: frozenset = frozenset()) -> list[Decision]:
    """The decision of every declared policy on the context at HEAD (of `only`, when given).
    With trigger "commit" only the policies evaluated after every commit (`on = commit`);
    `fresh`: the blob ids (hex) the triggering commit appended (what a pin policy looks at)."""
    declared = load(repo.config)
    policies = list(declared)
    if only is not None:
        policies = [find(declared, only)]
    if trigger == "commit":
        policies = [p for p in policies if p.on == "commit"]
    policies.sort(key=lambda p: ORDER.get(p.action or "", len(ORDER)))
    prefixes = tuple(str(p.get("prefix")) for p in declared if p.action == "branch")
    view = View(repo)
    view.trigger, view.fresh = trigger, fresh
    out = []
    for p in policies:
        try:
            out.append(evaluate(repo, p, view, prefixes=prefixes, provider=provider))
        except TraceError as exc:
            dec = Decision(p.name, p.action, False, f"could not evaluate: {exc}")
            dec.error = str(exc)
            out.append(dec)
    return out
