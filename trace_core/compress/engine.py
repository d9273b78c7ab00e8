"""Running a compression: select, plan, lay out, call the strategy, validate, commit.

Order of work (docs/compress.md, "Atomicity"): everything slow or fallible — reading the range,
the provider requests, the size and must-keep checks — happens before the commit primitive. The
`build` function handed to `plumbing.commit.commit_change` only re-checks that the branch still
holds the same entries in the span (appends after it are kept), splices the snapshot, and
re-checks the pins on the spliced snapshot; it may run several times and never calls the
provider. A failure anywhere leaves the branch as it was.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .. import chunked
from ..errors import InputError, OperationError
from ..ids import to_hex
from ..objects import Blob, Entry
from ..plumbing.commit import Change, commit_change, total_after
from ..state import RepoState
from . import messages as M
from . import provenance as P
from . import strategies as S
from .options import CompressResult, Options
from .plan import Plan, PlanStep, check_plan, from_actions, parse_plan
from .select import Selection, select
from .units import Layout, cut_units, keep_units, layout
from .validate import Facts, check_pins, check_size, check_text


# -- planning ---------------------------------------------------------------------------------
def default_plan(sel: Selection, tokens: Callable[[int], int]) -> Plan:
    by_commit: dict[bytes, list[int]] = {}
    for i in sel.selected:
        by_commit.setdefault(sel.origin[i], []).append(i)
    steps: list[PlanStep] = []
    idle: list[PlanStep] = []
    for cid in sel.commits:
        idx = by_commit.get(cid, [])
        step = PlanStep(to_hex(cid), "summarize", idx, sum(tokens(i) for i in idx),
                        sel.commit_objs[cid].summary)
        (steps if idx else idle).append(step)
    return Plan(steps, sel.label, to_hex(sel.head), idle)


def resolve_plan(given: Any, default: Plan) -> Plan:
    if given is None:
        plan = default
    elif isinstance(given, Plan):
        known = {d.commit for d in default.steps}
        order = [s.commit for s in given.steps if s.commit in known]
        plan = from_actions({s.commit: s.action for s in given.steps}, default, order)
    elif isinstance(given, str):
        plan = parse_plan(given, default)
    elif isinstance(given, Mapping):
        plan = from_actions(given, default)
    else:
        raise InputError("a plan is a Plan, plan text, or a {commit: action} mapping")
    check_plan(plan)
    return plan


def plan_compression(repo: RepoState, opts: Options) -> tuple[Selection, Plan]:
    sel = select(repo, opts.range, opts.entries)

    def tokens(i: int) -> int:
        return repo.blob_tokens(sel.entries[i].blob)
    return sel, resolve_plan(opts.plan, default_plan(sel, tokens))


# -- running ----------------------------------------------------------------------------------
class _Run:
    def __init__(self, repo: RepoState, opts: Options) -> None:
        self.repo, self.opts = repo, opts
        self.facts = Facts(opts.must_keep, opts.must_keep_re)
        self.sel, self.plan = plan_compression(repo, opts)
        sel = self.sel
        self.msgs = {i: repo.get_blob(sel.entries[i].blob).message
                     for i in range(sel.start, sel.end)}
        self._produced: dict[bytes | None, dict[bytes, str]] = {}
        self.pos = {bytes.fromhex(s.commit): k for k, s in enumerate(self.plan.steps)}
        self._results_after: set | None = None
        self.calls: list[dict] = []          # the inference of every llm call, skipped or not
        self._usage: Any = None              # llm.Usage of those calls
        self.usage: dict | None = None       # its meta form

    def tokens(self, i: int) -> int:
        return self.repo.blob_tokens(self.sel.entries[i].blob)

    def kind(self, i: int) -> str:
        cid = self.sel.origin.get(i)
        if cid not in self._produced:
            self._produced[cid] = P.produced(self.sel.commit_objs.get(cid) if cid else None)
        return self._produced[cid].get(self.sel.entries[i].blob, "entry")

    def rec(self, i: int) -> list:
        e = self.sel.entries[i]
        return P.record(i, e.blob, self.pos[self.sel.origin[i]], self.tokens(i), e.flags,
                        self.kind(i))

    def _messages_after(self):
        """Messages after the span, last first (loaded lazily)."""
        ents = self.sel.entries
        for i in range(len(ents) - 1, self.sel.end - 1, -1):
            yield i, self.repo.get_blob(ents[i].blob).message

    def results_after(self) -> set:
        """The call ids answered after the span (read once, when first needed)."""
        if self._results_after is None:
            self._results_after = set()
            for _, m in self._messages_after():
                self._results_after.update(M.result_ids(m))
        return self._results_after

    def protected_outputs(self) -> set:
        """Indices of the last `keep_last` tool outputs of the whole context."""
        k = self.opts.keep_last
        out: set = set()
        if k <= 0:
            return out
        seen = 0
        for _, m in self._messages_after():
            if M.is_tool_output(m):
                seen += 1
                if seen >= k:
                    return out
        for i in range(self.sel.end - 1, self.sel.start - 1, -1):
            if M.is_tool_output(self.msgs[i]):
                out.add(i)
                seen += 1
                if seen >= k:
                    break
        return out

    # -- strategies -----------------------------------------------------------------------
    def mask(self, lay: Layout) -> dict[int, tuple[Blob, int]]:
        counter = self.repo.token_counter()
        from ..tokens import TOKENS_PER_MESSAGE, count_message
        template = self.repo.config.get_typed("compress.placeholder")
        protected = self.protected_outputs()
        out: dict[int, tuple[Blob, int]] = {}
        start = self.sel.start
        span = [self.msgs[j] for j in range(start, self.sel.end)]
        for i in lay.indices("sum"):
            m = self.msgs[i]
            if i in protected or not M.is_tool_output(m) or \
                    (self.facts and self.facts.matches(M.message_text(m))):
                continue

            rest = None
            if m.get("role") == "tool":  # the content's tokens: the cached total minus the rest
                rest = count_message({k: v for k, v in m.items() if k != "content"}, counter)

            def make(call_id: str, content: Any, i: int = i, rest=rest) -> str:
                n = self.tokens(i) - rest if rest is not None else \
                    count_message({"content": content}, counter) - TOKENS_PER_MESSAGE
                name = M.tool_name_for(span, i - start, call_id) or "tool"
                return S.placeholder(template, name, n, call_id)
            new = S.mask_message(m, make)
            if new is None:
                continue
            b = Blob(new)
            nt = self.repo.blob_tokens(b.id, b)
            if nt < self.tokens(i):
                out[i] = (b, nt)
        return out

    def summarize(self, lay: Layout) -> tuple[list[dict], list[dict]]:
        """(the summaries, the units skipped: kept verbatim because their summary would not be
        smaller, or because they hold the other side of a tool pair such a unit keeps)."""
        o = self.opts
        texts: list[str | None] = [None] * len(lay.units)
        if o.strategy == "manual":
            if len(o.summaries) != len(lay.units):
                spans = ", ".join(f"#{u[0]}-#{u[-1]}" for u in lay.units[:6])
                raise InputError(f"{len(o.summaries)} summary text(s) given but this compression "
                                 f"makes {len(lay.units)} summaries ({spans}); give one per "
                                 "summary, in order, or change the granularity or the plan")
            texts = list(o.summaries)
        # several units may each be skipped; one range summary keeps the size error
        # (a manual summary the caller wrote is never thrown away: it must fit, as before)
        may_skip = o.granularity != "range" and not o.allow_growth and o.strategy != "manual"
        out: list[dict[str, Any]] = []
        unshrinkable: list[int] = []
        for k, unit in enumerate(lay.units):
            ms = [self.msgs[i] for i in unit]
            ut = sum(self.tokens(i) for i in unit)
            what = f"entries #{unit[0]}-#{unit[-1]}" if len(unit) > 1 else f"entry #{unit[0]}"
            text, inference = self._text(unit, S.unit_target(ut, o.ratio, o.target_tokens),
                                         texts[k])
            text = check_text(text, what)
            appended: list[str] = []
            unkept: list[str] = []
            if self.facts and o.strategy != "manual":   # manual: the caller's text, checked
                replaced = [M.message_text(m) for m in ms]
                text, appended = S.with_facts(text, self.facts, replaced)
                unkept = self.facts.unmatched(text, replaced)   # (anchored patterns)
            blob = Blob({"role": o.role, "content": text})
            nt = self.repo.blob_tokens(blob.id, blob)
            if may_skip and nt >= ut:
                unshrinkable.append(k)
            else:
                check_size(what, nt, ut, o.allow_growth)
            out.append({"unit": unit, "blob": blob, "tokens": nt, "replaced_tokens": ut,
                        "text": text, "inference": inference, "appended_facts": appended,
                        "unkept": unkept})
        if not unshrinkable:
            return out, []
        kept = keep_units(lay, unshrinkable, self.msgs, self.sel.start, self.sel.end,
                          self.results_after)
        skipped = [{"replaced": list(s["unit"]), "replaced_tokens": s["replaced_tokens"],
                    "tokens": s["tokens"], "reason": kept[k]}
                   for k, s in enumerate(out) if k in kept]
        return [s for k, s in enumerate(out) if k not in kept], skipped

    def _text(self, unit: list[int], target: int,
              given: str | None) -> tuple[str | None, dict | None]:
        """(the strategy's text for the unit of entries `unit`, the llm call's inference meta
        or None)."""
        o = self.opts
        ms = [self.msgs[i] for i in unit]
        if o.strategy == "extractive":       # summaries an earlier compression made: provenance
            done = [k for k, i in enumerate(unit) if self.kind(i) == "summary"]
            return S.extractive(ms, target, self.repo.token_counter().count_text,
                                self.facts.matches, summaries=done), None
        if o.strategy != "llm":
            return given, None
        text, result = S.llm_summary(o.provider, ms, instructions=self._instructions(),
                                     target=target, facts=self.facts.strings,
                                     max_tokens=o.max_tokens or o.target_tokens)
        inference = _result_meta(result)
        finish = getattr(result, "finish_reason", None)
        if finish is not None:
            inference["finish_reason"] = finish
        if self._usage is None:
            from ..llm import Usage
            self._usage = Usage()
        self._usage.add(result)
        self.usage = self._usage.to_meta()
        self.calls.append(inference)
        return text, inference

    def _instructions(self) -> str | None:
        return self.opts.instructions or self.repo.config.get_typed("compress.instructions")

    # -- assembling -----------------------------------------------------------------------
    def run(self) -> CompressResult:
        o, sel, repo = self.opts, self.sel, self.repo
        lay = layout(sel, self.plan, self.msgs, respect_pins=o.respect_pins, force=o.force,
                     survives_sum=o.strategy == "mask", results_after=self.results_after)
        masked: dict[int, tuple[Blob, int]] = {}
        sums: list[dict] = []
        skipped: list[dict] = []
        if o.strategy == "mask":
            masked = self.mask(lay)
        else:
            done = {i for i in lay.indices("sum") if self.kind(i) == "summary"}
            cut_units(lay, sel, self.plan, self.msgs, self.tokens, o.granularity,
                      o.episode_tokens, done)
            sums, skipped = self.summarize(lay)
        drops = lay.indices("drop")
        if not masked and not sums and not drops:
            if skipped:
                raise OperationError(_nothing_shrinks(skipped, o.granularity))
            raise OperationError("nothing to compress: every entry of the range stays as it is "
                                 "(see the plan, the pins, and for mask --keep-last)")
        first = {s["unit"][0]: s for s in sums}
        new_span: list[Entry] = []
        meta_sums, meta_masked, kept, res_sums, res_masked = [], [], [], [], []
        new_blobs: list[Blob] = []
        removed: list[int] = []
        for i in range(sel.start, sel.end):
            e = sel.entries[i]
            st = lay.state[i]
            at = sel.start + len(new_span)
            if st == "keep" or (st == "sum" and o.strategy == "mask" and i not in masked):
                if st == "keep":
                    kept.append({"index": i, "new_index": at, "reason": lay.reason.get(i, "")})
                new_span.append(e)
            elif st == "drop":
                removed.append(i)
            elif o.strategy == "mask":
                b, nt = masked[i]
                new_span.append(Entry(b.id, e.flags))
                new_blobs.append(b)
                removed.append(i)
                meta_masked.append({"index": at, "blob": b.hex, "tokens": nt,
                                    "replaced": [self.rec(i)]})
                res_masked.append({"index": at, "old_index": i, "blob": b.hex, "tokens": nt,
                                   "replaced_tokens": self.tokens(i)})
            else:
                removed.append(i)
                s = first.get(i)
                if s is None:
                    continue
                b = s["blob"]
                new_span.append(Entry(b.id, 0))
                new_blobs.append(b)
                m = {"index": at, "blob": b.hex, "tokens": s["tokens"],
                     "replaced": [self.rec(j) for j in s["unit"]]}
                if s["inference"] is not None:
                    m["inference"] = s["inference"]
                if s["appended_facts"]:
                    m["appended_facts"] = s["appended_facts"]
                meta_sums.append(m)
                res_sums.append({"index": at, "blob": b.hex, "tokens": s["tokens"],
                                 "replaced": list(s["unit"]),
                                 "replaced_tokens": s["replaced_tokens"],
                                 "text": s["text"], "inference": s["inference"],
                                 "appended_facts": s["appended_facts"]})
        old_cost = sum(self.tokens(i) for i in removed)
        new_cost = sum(repo.blob_tokens(b.id, b) for b in new_blobs)
        if self.facts:
            self._check_facts(new_span, new_blobs, {p for s in sums for p in s["unkept"]})
        meta = {
            "version": P.VERSION, "strategy": o.strategy, "granularity": o.granularity,
            "range": sel.label, "base": to_hex(sel.head), "span": [sel.start, sel.end],
            "commits": [s.commit for s in self.plan.steps],
            "plan": P.runs([s.action for s in self.plan.steps]),
            "summaries": meta_sums, "masked": meta_masked,
            "dropped": [self.rec(i) for i in lay.indices("drop")],
            "kept": [[k["index"], k["new_index"], k["reason"]] for k in kept],
            "respect_pins": bool(o.respect_pins), "forced_pins": list(lay.forced_pins),
            "tokens": {"replaced": old_cost, "added": new_cost},
        }
        if "from" in sel.spec:
            meta["from"], meta["to"] = to_hex(sel.spec["from"]), to_hex(sel.spec["to"])
        if self.facts:
            meta["must_keep"] = self.facts.to_meta()
        if o.meta:
            meta["user"] = o.meta                  # (checked by CompressOptions.check)
        if o.policy:
            meta["policy"] = o.policy              # (made by trace_core.policy)
        if self.usage is not None:
            meta["usage"] = self.usage
            meta["inference"] = P.inference_total(self.calls)
            truncated = [m["index"] for m in meta_sums
                         if m.get("inference", {}).get("finish_reason") == "length"]
            if truncated:
                meta["truncated"] = truncated
        n_commits = len({sel.origin[i] for i in removed})
        message = o.message or (f"compress {len(removed)} entr{'y' if len(removed) == 1 else 'ies'}"
                                f" of {n_commits} commit{'s' if n_commits != 1 else ''} "
                                f"({o.strategy}): "
                                f"{old_cost} -> {new_cost} tokens")
        head_commit = repo.get_commit(sel.head)
        before = head_commit.total_tokens
        result = CompressResult(None, to_hex(sel.head), o.dry_run, o.strategy, o.granularity,
                                sel.label, self.plan, res_sums, res_masked, lay.indices("drop"),
                                kept, before, 0, old_cost, new_cost, self.usage, skipped=skipped)
        if o.dry_run:
            snap = repo.get_snapshot(head_commit.snapshot)
            count = snap.count - (sel.end - sel.start) + len(new_span)
            result.tokens_after = total_after(repo, head_commit, snap, new_cost - old_cost, count)
            after = [*sel.entries[:sel.start], *new_span, *sel.entries[sel.end:]]
            result.pins_checked = check_pins(sel.entries, after, lay.forced_pins,
                                             [b.id for b in new_blobs], lambda b: b'', {})
            return result
        build = self._builder(new_span, new_blobs, removed, lay, meta, message,
                              new_cost - old_cost, new_cost, result)
        commit = commit_change(repo, build, o.author)
        result.commit = commit.hex
        result.parent = to_hex(commit.parents[0]) if commit.parents else None
        result.tokens_after = commit.total_tokens
        return result

    def _check_facts(self, new_span: list[Entry], new_blobs: list[Blob], unkept: set) -> None:
        sel, repo = self.sel, self.repo
        made: dict[bytes, dict] = {b.id: b.message for b in new_blobs}
        outside = (M.message_text(repo.get_blob(e.blob).message)
                   for e in (*sel.entries[:sel.start], *sel.entries[sel.end:]))
        span_before = [M.message_text(self.msgs[i]) for i in range(sel.start, sel.end)]
        by_blob = {sel.entries[i].blob: self.msgs[i] for i in range(sel.start, sel.end)}
        span_after = [M.message_text(made.get(e.blob) or by_blob[e.blob]) for e in new_span]
        self.facts.check(span_before, span_after, outside, unkept)

    def _builder(self, new_span, new_blobs, removed, lay, meta, message, delta, cost, result):
        sel, repo = self.sel, self.repo
        start, end = sel.start, sel.end
        planned = sel.entries[start:end]
        created = [b.id for b in new_blobs]
        expected = {sel.entries[i].blob: repo.store.get_bytes(sel.entries[i].blob)
                    for i in range(start, end) if lay.state[i] == "keep" and sel.entries[i].pinned}
        removed_calls = {c for i in removed for c in M.call_ids(self.msgs[i])}
        base_suffix = {e.blob for e in sel.entries[end:]}

        def build(parent, snap) -> Change:
            cur = chunked.entries(snap, repo.get_node)
            if len(cur) < end or cur[start:end] != planned:
                raise OperationError("the branch changed the entries of this range since the "
                                     "compression started (another writer); nothing was "
                                     "committed: run the compression again")
            if removed_calls:
                for e in cur[end:]:
                    if e.blob not in base_suffix and \
                            set(M.result_ids(repo.get_blob(e.blob).message)) & removed_calls:
                        raise OperationError("an entry appended meanwhile answers a tool call "
                                             "this compression removes; nothing was committed")
            nodes: list = []
            new = chunked.splice(snap, start, end, new_span, repo.get_node, nodes.append)
            local = {n.id: n for n in nodes}
            after = chunked.entries(new, lambda oid: local.get(oid) or repo.get_node(oid))
            result.pins_checked = check_pins(cur, after, lay.forced_pins, created,
                                             repo.store.get_bytes, expected)
            total = total_after(repo, parent, snap, delta, new.count)
            m = dict(meta)
            m["tokens"] = dict(meta["tokens"], before=parent.total_tokens if parent else 0,
                               after=total)
            return Change(new, [*new_blobs, *nodes], "compress", blobs=created,
                          targets=sorted(removed), message=message, tokens=cost,
                          total_tokens=total, meta=m)
        return build


def _nothing_shrinks(skipped: list[dict], granularity: str) -> str:
    """The error when every unit stays verbatim: those that would not shrink (unshrinkable)
    and those kept with them for a tool pair (which would have shrunk) counted apart."""
    def n(k: int) -> str:
        return f"{k} {granularity}{'s' if k != 1 else ''}"
    small = sum(1 for u in skipped if u["reason"] == "unshrinkable")
    pairs = len(skipped) - small
    if not pairs:
        why = f"no summary would be smaller than what it replaces ({n(small)} kept verbatim)"
    else:
        why = (f"{n(small)} kept verbatim as unshrinkable (a summary would not be smaller than "
               f"what it replaces), and {n(pairs)} kept with {'it' if small == 1 else 'them'} "
               "for a tool call they share (tool-pair)")
    return f"nothing to compress: {why}; use a coarser --granularity, or --allow-growth"


def _result_meta(result: Any) -> dict:
    fn = getattr(result, "to_meta", None)
    return dict(fn()) if callable(fn) else {}


def run(repo: RepoState, opts: Options) -> CompressResult:
    opts.check()
    tx = repo.open_transaction
    if tx is not None and tx.commits:
        raise OperationError("compress resolves its range on the published branch: run it "
                             "outside the transaction, or before its first commit")
    return _Run(repo, opts).run()
