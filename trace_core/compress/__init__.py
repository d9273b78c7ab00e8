"""Compression: replace a range of a context's history by something shorter, under the user's
control, with exact provenance (docs/compress.md).

    from trace_core.compress import compress, plan_compression
    plan = plan_compression(repo, "HEAD~20..HEAD~5")      # the default plan (all summarize)
    plan.set("3f2a9c", "keep").set("77b01e", "drop")
    result = compress(repo, "HEAD~20..HEAD~5", strategy="extractive", plan=plan)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from .engine import plan_compression as _plan
from .engine import run
from .options import CompressResult, Options
from .plan import ACTIONS, Plan, PlanStep
from .provenance import describe, show_lines, trace_back
from .strategies import STRATEGIES
from .units import GRANULARITIES

if TYPE_CHECKING:
    from ..state import RepoState

__all__ = ["compress", "plan_compression", "CompressResult", "Plan", "PlanStep", "ACTIONS",
           "STRATEGIES", "GRANULARITIES", "describe", "show_lines", "trace_back"]


def compress(repo: RepoState, range: str | None = None, *,
             entries: str | Sequence[int] | None = None, strategy: str = "extractive",
             plan: Any = None, granularity: str = "range",
             respect_pins: bool = False, force: bool = False, must_keep: Sequence[str] = (),
             must_keep_re: Sequence[str] = (), dry_run: bool = False, provider: Any = None,
             instructions: str | None = None, summaries: Sequence[str] = (),
             keep_last: int = 3, ratio: float = 0.2, target_tokens: int | None = None,
             max_tokens: int | None = None, episode_tokens: int = 2000, role: str = "user",
             allow_growth: bool = False, message: str | None = None,
             author: str | None = None, meta: dict | None = None,
             policy: dict | None = None) -> CompressResult:
    """Compress the entries that the commits of `range` ("A..B", "A.." or "A" = A..HEAD)
    introduced, or the context entries `entries` ("I:J" or (I, J)), into ONE new commit (op
    "compress") on the current branch; see docs/compress.md for every option. `meta`: public
    string labels stored as the commit's `meta.user` (as append's, docs/FORMAT.md §6.4.2);
    `policy`: the decision of the policy that asked for it (`meta.policy`, trace_core.policy)."""
    opts = Options(range=range, entries=entries, strategy=strategy, plan=plan,
                   granularity=granularity, episode_tokens=episode_tokens,
                   respect_pins=respect_pins, force=force, must_keep=tuple(must_keep),
                   must_keep_re=tuple(must_keep_re), dry_run=dry_run, provider=provider,
                   instructions=instructions, summaries=tuple(summaries) if not
                   isinstance(summaries, str) else summaries, keep_last=keep_last, ratio=ratio,
                   target_tokens=target_tokens, max_tokens=max_tokens, role=role,
                   allow_growth=allow_growth, message=message, author=author,
                   meta=meta, policy=policy)
    return run(repo, opts)


def plan_compression(repo: RepoState, range: str | None = None, *,
                     entries: str | Sequence[int] | None = None, plan: Any = None) -> Plan:
    """The plan of a compression of `range` / `entries`: the default one (every commit
    `summarize`), or `plan` (text, mapping or Plan) checked against the range."""
    return _plan(repo, Options(range=range, entries=entries, plan=plan))[1]
