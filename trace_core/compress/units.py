"""How the span of a compression is laid out: which entries stay, which go, which summaries.

Every entry of the span [start, end) gets a state:
    keep  stays verbatim and in place (reason: outside the range, plan, pinned, tool-pair,
          unshrinkable)
    drop  leaves the context
    sum   is compressed by the strategy (summarized, or masked by `mask`)
Summaries never move content across a kept entry: the `sum` entries form runs broken by kept
entries (dropped ones are transparent), and each run is cut into units by the granularity:
    range    one unit per run
    turn     a unit starts at each user message that is not only tool results
    episode  whole turns packed up to `episode_tokens`; an earlier summary starts a new episode
Commits marked `combine` are never cut from the next commit of the plan.

Tool calls and results must stay paired for the providers: when one side of a pair would be
summarized while the other stays, the summarized side is kept verbatim instead; when a `drop`
would separate them, the compression is refused.

With granularity turn or episode, a unit whose summary would not be smaller than its entries is
kept verbatim and in place instead (`keep_units`: reason unshrinkable; a unit holding the other
side of a tool pair it keeps is then kept whole too, reason tool-pair).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise
from typing import TYPE_CHECKING

from ..errors import InputError, OperationError
from . import messages as M
from .plan import Plan

if TYPE_CHECKING:
    from .select import Selection

GRANULARITIES = ("turn", "episode", "range")


@dataclass
class Layout:
    state: dict[int, str]
    reason: dict[int, str] = field(default_factory=dict)     # kept entries: why
    units: list[list[int]] = field(default_factory=list)     # summary units (sum entries)
    forced_pins: list[int] = field(default_factory=list)     # pinned entries compressed by force

    def indices(self, state: str) -> list[int]:
        return sorted(i for i, s in self.state.items() if s == state)


def initial_states(sel: Selection, plan: Plan, respect_pins: bool, force: bool) -> Layout:
    action = {bytes.fromhex(s.commit): s.action for s in plan.steps}
    selected = set(sel.selected)
    lay = Layout({})
    for i in range(sel.start, sel.end):
        if i not in selected:
            lay.state[i], lay.reason[i] = "keep", "outside"
            continue
        a = action.get(sel.origin[i], "keep")
        if a == "keep":
            lay.state[i], lay.reason[i] = "keep", "plan"
        else:
            lay.state[i] = "drop" if a == "drop" else "sum"
    pinned = [i for i in range(sel.start, sel.end)
              if lay.state[i] != "keep" and sel.entries[i].pinned]
    if pinned:
        if respect_pins:
            for i in pinned:
                lay.state[i], lay.reason[i] = "keep", "pinned"
        elif force:
            lay.forced_pins = pinned
        else:
            shown = ", ".join(f"#{i}" for i in pinned[:5]) + (", ..." if len(pinned) > 5 else "")
            raise OperationError(f"the range holds {len(pinned)} pinned entr"
                                 f"{'y' if len(pinned) == 1 else 'ies'} ({shown}); use "
                                 "--respect-pins to keep them verbatim, or --force to compress "
                                 "them too")
    return lay


def repair_pairs(lay: Layout, msgs: dict[int, dict], start: int, end: int, survives_sum: bool,
                 results_after: Callable[[], set[str]]) -> None:
    """Keep tool calls and results paired (see the module docstring); `msgs` maps span index
    to message; `results_after()` gives the call ids answered after the span (loaded lazily)."""
    order = list(range(start, end))
    local = [msgs[i] for i in order]
    pairs, pending = M.tool_pairs(local)
    answered_here = {order[j] for _, j in pairs}

    def gone(i: int) -> bool:
        s = lay.state[i]
        return s == "drop" or (s == "sum" and not survives_sum)

    def keep(i: int) -> bool:
        if lay.state[i] == "sum" and not survives_sum:
            lay.state[i], lay.reason[i] = "keep", "tool-pair"
            return True
        return False

    def refuse(i: int, j: int) -> None:
        raise OperationError(f"dropping entry #{i} would separate a tool call from its result "
                             f"(entry #{j}); drop or keep both")

    # results in the span answering calls before it: they must stay
    for k, m in enumerate(local):
        i = order[k]
        if M.result_ids(m) and i not in answered_here and gone(i):
            if lay.state[i] == "drop":
                raise OperationError(f"dropping entry #{i} would leave a tool call before the "
                                     "range without its result")
            keep(i)
    # calls in the span answered after it: they must stay
    open_calls = [order[c] for c in pending if gone(order[c])]
    if open_calls:
        later = results_after()
        for i in open_calls:
            ids = [c for c in M.call_ids(msgs[i]) if c in later]
            if ids:
                if lay.state[i] == "drop":
                    raise OperationError(f"dropping entry #{i} would leave its tool call "
                                         f"{ids[0]!r} answered by a later entry without the call")
                keep(i)
    changed = True
    while changed:
        changed = False
        for c, r in pairs:
            ic, ir = order[c], order[r]
            gc, gr = gone(ic), gone(ir)
            if gc == gr:
                continue
            g = ic if gc else ir
            if lay.state[g] == "drop":
                refuse(g, ir if g == ic else ic)
            changed |= keep(g)


def cut_units(lay: Layout, sel: Selection, plan: Plan, msgs: dict[int, dict],
              tokens: Callable[[int], int],
              granularity: str, episode_tokens: int, summaries: set[int]) -> None:
    """Fill lay.units (see the module docstring); `summaries` are span indices holding an
    earlier summary."""
    if granularity not in GRANULARITIES:
        raise InputError(f"unknown granularity {granularity!r} (turn, episode or range)")
    group: dict[bytes | None, int] = {}
    chained: set[int] = set()
    g = -1
    prev_combine = False
    for s in plan.steps:
        if not prev_combine:
            g += 1
        else:
            chained.add(g)
        group[bytes.fromhex(s.commit)] = g
        prev_combine = s.action == "combine"
    runs: list[list[int]] = []
    cur: list[int] = []
    for i in range(sel.start, sel.end):
        st = lay.state[i]
        if st == "keep":
            if cur:
                runs.append(cur)
            cur = []
        elif st == "sum":
            cur.append(i)
    if cur:
        runs.append(cur)
    units: list[list[int]] = []
    for run in runs:
        segs: list[list[int]] = [[run[0]]]
        for prev, i in pairwise(run):
            gp, gi = group.get(sel.origin.get(prev)), group.get(sel.origin.get(i))
            joined = gp == gi and gp in chained
            cut = not joined and granularity != "range" and \
                (M.is_turn_start(msgs[i]) or i in summaries)
            if cut:
                segs.append([i])
            else:
                segs[-1].append(i)
        if granularity == "episode":
            packed: list[list[int]] = []
            size = 0
            for seg in segs:
                t = sum(tokens(i) for i in seg)
                if packed and (seg[0] in summaries or size + t > episode_tokens):
                    packed.append(list(seg))
                    size = t
                elif packed:
                    packed[-1].extend(seg)
                    size += t
                else:
                    packed.append(list(seg))
                    size = t
            segs = packed
        units.extend(segs)
    lay.units = units


def keep_units(lay: Layout, positions: list[int], msgs: dict[int, dict], start: int, end: int,
               results_after: Callable[[], set[str]]) -> dict[int, str]:
    """Keep the units at `positions` of lay.units verbatim and in place (reason "unshrinkable"),
    then, until no tool pair is split, whole every other unit that holds an entry a kept one
    pairs with (reason "tool-pair"). lay.units keeps the units still summarized. Returns
    {position: reason} of the units kept. A drop that a kept unit would separate from its pair
    is refused, as in `repair_pairs`."""
    kept: dict[int, str] = {}
    more = {k: "unshrinkable" for k in positions}
    while more:
        for k, why in more.items():
            kept[k] = why
            for i in lay.units[k]:
                if lay.state[i] == "sum":
                    lay.state[i], lay.reason[i] = "keep", why
        repair_pairs(lay, msgs, start, end, False, results_after)
        more = {k: "tool-pair" for k, unit in enumerate(lay.units)
                if k not in kept and any(lay.state[i] != "sum" for i in unit)}
    lay.units = [unit for k, unit in enumerate(lay.units) if k not in kept]
    return kept


def layout(sel: Selection, plan: Plan, msgs: dict[int, dict], *, respect_pins: bool, force: bool,
           survives_sum: bool, results_after: Callable[[], set[str]]) -> Layout:
    lay = initial_states(sel, plan, respect_pins, force)
    repair_pairs(lay, msgs, sel.start, sel.end, survives_sum, results_after)
    return lay

