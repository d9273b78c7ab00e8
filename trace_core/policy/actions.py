"""Running what a policy decided (docs/policy.md, "Actions"), and undoing it. Every action is
one or more ordinary commits whose meta `policy` names the policy, its action, why and what
triggered it (FORMAT.md §6.4.6): `compress` commits, a `pin` commit, and `policy` commits that
mark where a tangent branched off and where it came back. Branch and return also move refs
(create the tangent branch, switch HEAD, set the branch the tangent left back), each move a
compare-and-swap: a branch another writer moved meanwhile is left as it is."""

from __future__ import annotations

from typing import Any

from .. import chunked
from ..errors import OperationError, TraceError
from ..objects import FLAG_PINNED, Commit, Entry
from ..plumbing.commit import Change, commit_change, total_after
from ..plumbing.refs import create_ref, delete_ref, set_ref, set_symbolic_ref
from ..state import RepoState
from .engine import Decision, ProviderArg, compress_span, hex_id, provider_of, valid_branch
from .state import TANGENT_WALK, View, first_parent

HEADS = "refs/heads/"
#: a summary keeps at least this fraction of what it replaces; when that does not reach the
#: target, the policy is held and compresses again as the context grows
MIN_RATIO = 0.25


def execute(repo: RepoState, dec: Decision, *, trigger: str, provider: ProviderArg = None,
            author: str | None = None) -> None:
    """Run a decision that fires; its `commits` get the commits made (hex)."""
    who = author or f"policy:{dec.policy}"
    {"compress": _compress, "pin": _pin, "branch": _branch, "return": _return}[
        str(dec.action)](repo, dec, dec.meta(trigger), provider, who)


# -- compress ---------------------------------------------------------------------------------
def _keep_summaries(repo: RepoState, start: int, end: int) -> dict | None:
    """A compression plan for entries [start, end) that keeps the summaries earlier
    compressions made (`keep` for their compress commits, other than masks), or None when
    the span holds none: a summary is summarized again only when nothing else shrinks."""
    from ..compress import plan_compression
    plan = plan_compression(repo, entries=(start, end))
    keep = {}
    for step in plan.steps:
        c = repo.get_commit(bytes.fromhex(step.commit))
        if c.op == "compress" and c.meta.get("strategy") != "mask":
            keep[step.commit] = "keep"
    if not keep:
        return None
    return {step.commit: keep.get(step.commit, "summarize") for step in plan.steps}


def _compress(repo: RepoState, dec: Decision, meta: dict, provider: ProviderArg,
              who: str) -> None:
    from ..compress import compress
    goal, steps = int(dec.plan["goal"]), list(dec.plan["steps"])
    keep_turns = int(dec.plan["keep_turns"])
    skipped: list[str] = []
    for step in steps:
        view = View(repo)
        if view.total <= goal:
            break
        start, end = compress_span(repo, view, keep_turns, goal)
        if end <= start:
            break
        kw: dict[str, Any] = {"entries": (start, end), "strategy": step, "respect_pins": True,
                              "author": who, "policy": dict(meta, step=step)}
        if step == "mask":
            kw["keep_last"] = 0
        else:
            span_tokens = sum(repo.blob_tokens(bytes.fromhex(b)) for b in view.ids[start:end])
            need = view.total - goal
            kw["granularity"] = dec.plan.get("granularity", "episode")
            kw["ratio"] = max(MIN_RATIO, min(0.9, (span_tokens - need) / span_tokens)) \
                if span_tokens else 0.2
            if step == "llm":
                try:
                    kw["provider"] = provider_of(provider)
                except TraceError as exc:       # no provider configured: the step is skipped
                    kw["provider"], reason = None, str(exc)
                else:
                    reason = "no provider"
                if kw["provider"] is None:
                    skipped.append(f"llm: {reason}")
                    continue
        kept = _keep_summaries(repo, start, end) if step != "mask" else None
        result = None
        why = ""
        for plan in ([kept] if kept else []) + [None]:   # earlier summaries kept, else not
            try:
                result = compress(repo, plan=plan, **kw)
                break
            except OperationError as exc:  # nothing this step can shrink: the next one tries
                why = f"{step}: {exc}"
        if result is None:
            skipped.append(why)
            continue
        if result.commit:
            dec.commits.append(result.commit)
    if not dec.commits:
        raise OperationError("no strategy could shrink the context (" + "; ".join(skipped)
                             + ")" if skipped else "nothing to compress")
    dec.plan["skipped"] = skipped


# -- pin (and drop, for the context manager) --------------------------------------------------
def _pin(repo: RepoState, dec: Decision, meta: dict, provider: ProviderArg, who: str) -> None:
    indices = [int(i) for i in dec.plan["entries"]]
    blobs = [bytes.fromhex(b) for b in dec.plan["blobs"]]
    label = ", ".join(f"#{i}" for i in indices)
    dec.commits.append(rewrite(repo, "pin", indices, blobs, f"pin {label} (policy "
                               f"{dec.policy})", meta, who).hex)


def rewrite(repo: RepoState, op: str, indices: list[int], blobs: list[bytes], message: str,
            meta: dict, who: str) -> Commit:
    """One `pin` or `drop` commit of the entries at `indices`, which must still hold `blobs`
    when it is made (else OperationError: the context changed since it was decided), with
    `meta.policy` = `meta`."""
    def build(parent: Commit | None, snap: Any) -> Change:
        entries = chunked.entries(snap, repo.get_node)
        pairs = zip(indices, blobs, strict=True)
        if any(i >= len(entries) or entries[i].blob != b for i, b in pairs):
            raise OperationError("the context changed since this was decided; nothing was "
                                 f"{'pinned' if op == 'pin' else 'dropped'}: look again")
        out = list(entries)
        if op == "pin":
            for i in indices:
                out[i] = out[i].with_flags(out[i].flags | FLAG_PINNED)
        else:
            if any(entries[i].pinned for i in indices):
                raise OperationError("a pinned entry is never dropped by a policy or the "
                                     "context manager; unpin it first")
            gone = set(indices)
            out = [e for k, e in enumerate(entries) if k not in gone]
        nodes: list = []
        new = chunked.build(out, nodes.append)
        cost = sum(repo.blob_tokens(b) for b in blobs)
        delta = 0 if op == "pin" else -cost
        return Change(new, nodes, op, targets=sorted(indices), message=message, tokens=cost,
                      total_tokens=total_after(repo, parent, snap, delta, new.count),
                      meta={"policy": meta})
    return commit_change(repo, build, who)


# -- branch and return ------------------------------------------------------------------------
def _marker(repo: RepoState, message: str, meta: dict, who: str,
            carry: list[Entry] = ()) -> Commit:   # type: ignore[assignment]
    """A `policy` commit on the view's branch: the parent's context with `carry` appended."""
    def build(parent: Commit | None, snap: Any) -> Change:
        nodes: list = []
        new = chunked.append(snap, list(carry), repo.get_node, nodes.append) if carry else snap
        cost = sum(repo.blob_tokens(e.blob) for e in carry)
        return Change(new, nodes, "policy", blobs=[e.blob for e in carry],
                      targets=list(range(snap.count, new.count)), message=message,
                      tokens=cost, total_tokens=total_after(repo, parent, snap, cost, new.count),
                      meta={"policy": meta})
    return commit_change(repo, build, who)


def _branch(repo: RepoState, dec: Decision, meta: dict, provider: ProviderArg,
            who: str) -> None:
    name, base, turn, head = (dec.plan[k] for k in ("branch", "base", "turn", "head"))
    base_ref = HEADS + base
    if repo.refs.resolve(base_ref) != head or repo.head_branch() != base_ref:
        raise OperationError(f"{base} moved since the policy looked at it; no tangent branch "
                             "was made")
    back = repo.get_commit(bytes.fromhex(turn)).parents[0].hex()
    create_ref(repo, HEADS + name, head, message=f"policy {dec.policy}: branch from {base}")
    marker = _marker(repo.worktree(name), f"tangent from {base} (policy {dec.policy})",
                     dict(meta, branch=name, base=base, base_commit=back, turn=turn), who)
    dec.commits.append(marker.hex)
    set_symbolic_ref(repo, "HEAD", HEADS + name, message=f"switch: moving to {name} "
                     f"(policy {dec.policy})")
    try:
        set_ref(repo, base_ref, head, back, message=f"policy {dec.policy}: the turn moved to "
                f"{name}")
    except Exception as exc:   # another writer committed on base: leave it, the turn stays too
        repo.warn(f"policy {dec.policy}: {base} moved meanwhile, so the tangent turn stays on "
                  f"it too ({type(exc).__name__})")


def _return(repo: RepoState, dec: Decision, meta: dict, provider: ProviderArg,
            who: str) -> None:
    base, tangent, mode = dec.plan["base"], dec.plan["tangent"], dec.plan["mode"]
    view = View(repo)
    assert view.commit is not None
    tip = view.commit.hex
    base_view = repo.worktree(base)
    base_tip = base_view.head_commit()
    done = repo.get_commit(base_tip) if base_tip is not None else None
    pol = done.meta.get("policy") if done is not None else None
    if not (isinstance(pol, dict) and pol.get("action") == "return" and pol.get("tip") == tip):
        carry = _carried(repo, view, base_view, mode, bool(dec.plan.get("carry")))
        what = f"{len(carry)} entr{'y' if len(carry) == 1 else 'ies'} of" if carry else "left"
        c = _marker(base_view, f"back from {tangent}: {what} the tangent ({mode}, policy "
                    f"{dec.policy})", dict(meta, tangent=tangent, tip=tip, mode=mode,
                                           carried=len(carry)), who, carry)
        dec.commits.append(c.hex)
    set_symbolic_ref(repo, "HEAD", HEADS + base, message=f"switch: moving to {base} "
                     f"(policy {dec.policy})")


def _carried(repo: RepoState, tangent: View, base: RepoState, mode: str,
             turn: bool) -> list[Entry]:
    """The entries the return brings to the base branch: with mode rebase, the messages the
    tangent's commits appended (its turn, then every append on its first-parent line after
    the tangent commit, in order: what a compression in the tangent made is not carried, nor
    anything the branch it left holds); with abandon, only the user turn that came back to the
    task (`turn`)."""
    assert tangent.commit is not None
    if mode != "rebase":
        return [Entry(bytes.fromhex(tangent.ids[-1]), 0)] if turn and tangent.ids else []
    appended: list[list[bytes]] = []
    marker = None
    for c in first_parent(repo, tangent.commit, TANGENT_WALK):
        pol = c.meta.get("policy")
        if c.op == "policy" and isinstance(pol, dict) and pol.get("action") == "branch":
            marker = c
            break
        if c.op == "append":
            appended.append(list(c.blobs))
    if marker is None:
        raise OperationError("the tangent's first commit was not found; nothing was carried")
    first = repo.get_commit(marker.parents[0]) if marker.parents else None
    if first is not None and first.op == "append":   # the turn that started the tangent
        appended.append(list(first.blobs))
    head = base.head_commit()
    have = {e.blob for e in chunked.entries(repo.get_snapshot(repo.get_commit(head).snapshot),
                                            repo.get_node)} if head is not None else set()
    return [Entry(b, 0) for blobs in reversed(appended) for b in blobs if b not in have]


# -- undo -------------------------------------------------------------------------------------
UNDO_WALK = 512


def find_policy_commit(repo: RepoState, rev: str | None) -> Commit:
    """The commit `rev` names (it must have been made by a policy), else the newest commit a
    policy made on HEAD's first-parent line (at most UNDO_WALK back)."""
    from ..plumbing.revparse import resolve_revision
    if rev is not None:
        named = repo.get_commit(resolve_revision(repo, rev))
        if not isinstance(named.meta.get("policy"), dict):
            raise OperationError(f"{rev} was not made by a policy")
        return named
    head = repo.head_commit()
    for c in first_parent(repo, repo.get_commit(head) if head is not None else None, UNDO_WALK):
        if isinstance(c.meta.get("policy"), dict):
            return c
    raise OperationError(f"no commit made by a policy in the last {UNDO_WALK} commits of HEAD")


def _same_decision(a: Any, b: dict) -> bool:
    """Whether two commits' meta.policy come from one decision: the same `decision` id when
    both have one (each step of a compression chain carries it), else the same name, action,
    why and trigger."""
    if not isinstance(a, dict):
        return False
    if "decision" in a or "decision" in b:
        return a.get("decision") == b.get("decision")
    return all(a.get(k) == b.get(k) for k in ("name", "action", "why", "trigger"))


def _text(value: Any) -> str:
    return value if isinstance(value, str) else repr(value)[:80]


def undo(repo: RepoState, rev: str | None = None) -> dict:
    """Undo what a policy (or the context manager) did (docs/policy.md, "Undo"): a compress,
    pin, mask or drop at the tip is reset away (ORIG_HEAD and the reflog keep it), one further
    back is reverted; a tangent is merged back into the branch it left (which fast-forwards to
    it, the tangent branch is deleted); a return goes back to the tangent. Every move is a
    compare-and-swap from what was read: a commit another writer made meanwhile makes the
    undo fail (BranchMoved), never disappear. Returns {"policy", "action", "commit", "done"}
    (strings)."""
    from ..plumbing.commit import publish
    c = find_policy_commit(repo, rev)
    pol = c.meta["policy"]
    action = pol.get("action")
    out = {"policy": _text(pol.get("name")), "action": _text(action), "commit": c.hex}
    head = repo.head_commit()
    branch = repo.head_branch()
    ref = branch or "HEAD"
    if action in ("compress", "pin", "mask", "drop"):
        if head == c.id and c.parents:
            first = c       # the action's earlier commits (a compression chain) go too
            for older in first_parent(repo, c, UNDO_WALK):
                if not _same_decision(older.meta.get("policy"), pol):
                    break
                first = older
            if not first.parents:
                raise OperationError("the policy's commits start the branch: nothing to reset to")
            back = first.parents[0].hex()
            publish(repo, ref, c.hex, back, f"policy undo: {out['action']} of "
                    f"{out['policy']}")
            out["done"] = f"reset the branch to {back[:12]}"
        else:
            from ..merge.replay import revert
            result = revert(repo, c.hex)
            out["done"] = f"reverted it ({getattr(result, 'commit', None) or 'see status'})"
        return out
    if action == "branch":
        return _undo_tangent(repo, c, pol, out)
    if action == "return":
        tangent = pol.get("tangent")
        if head != c.id or not c.parents or branch is None:
            raise OperationError("the return is not the branch's tip any more: revert it with "
                                 f"`trace revert {c.hex[:12]}`")
        publish(repo, branch, c.hex, c.parents[0].hex(), "policy undo: return")
        if isinstance(tangent, str) and valid_branch(tangent) and \
                repo.refs.read(HEADS + tangent) is not None:
            set_symbolic_ref(repo, "HEAD", HEADS + tangent, message=f"switch: moving to "
                             f"{tangent} (policy undo)")
            out["done"] = f"back on {tangent}"
        else:
            out["done"] = "the return is undone; its tangent branch is gone"
        return out
    raise OperationError(f"cannot undo a policy action {out['action']!r}")


def _undo_tangent(repo: RepoState, c: Commit, pol: dict, out: dict) -> dict:
    """Merge a tangent back: from its own branch (the one the marker names), the branch it
    left fast-forwards to the tangent's tip (it must still be where the tangent left it, and
    the marker on HEAD's first-parent line), HEAD switches to it, the tangent branch goes."""
    from ..plumbing.walks import is_ancestor
    head, branch = repo.head_commit(), repo.head_branch()
    base, back, own = pol.get("base"), pol.get("base_commit"), pol.get("branch")
    if not (isinstance(base, str) and valid_branch(base) and isinstance(own, str) and
            valid_branch(own) and hex_id(back) is not None and base != own):
        raise OperationError(f"tangent commit {c.hex[:12]} does not name its branches; "
                             "nothing was undone")
    if branch != HEADS + own or head is None:
        raise OperationError(f"undo a tangent from its branch: `trace switch {own}` first")
    if not is_ancestor(repo, c.hex, head.hex()) or \
            not is_ancestor(repo, str(back), head.hex()):
        raise OperationError(f"{own} no longer holds the tangent commit {c.hex[:12]}; nothing "
                             "was undone")
    if repo.refs.resolve(HEADS + base) != back:
        raise OperationError(f"{base} moved since the tangent branched off; merge the "
                             f"tangent with `trace merge {own}` instead")
    set_ref(repo, HEADS + base, back, head.hex(), message=f"policy undo: {own} merged back")
    set_symbolic_ref(repo, "HEAD", HEADS + base, message=f"switch: moving to {base} "
                     "(policy undo)")
    delete_ref(repo, HEADS + own, head.hex(), message="policy undo")
    out["done"] = f"{base} fast-forwarded to {own}, which is deleted"
    return out
