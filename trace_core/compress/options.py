"""The options of a compression and what it reports back."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import InputError
from . import strategies as S
from .plan import Plan
from .units import GRANULARITIES

ROLES = ("user", "assistant", "system", "developer")


@dataclass
class Options:
    """Every knob of a compression (see `trace_core.compress.compress`)."""

    range: str | None = None
    entries: Any = None
    strategy: str = "extractive"
    plan: Any = None
    granularity: str = "range"
    episode_tokens: int = 2000
    respect_pins: bool = False
    force: bool = False
    must_keep: Sequence[str] = ()
    must_keep_re: Sequence[str] = ()
    dry_run: bool = False
    provider: Any = None
    instructions: str | None = None
    summaries: Sequence[str] = ()
    keep_last: int = 3
    ratio: float = 0.2
    target_tokens: int | None = None
    max_tokens: int | None = None
    role: str = "user"
    allow_growth: bool = False
    message: str | None = None
    author: str | None = None
    meta: dict | None = None        # public labels: the commit's meta.user
    policy: dict | None = None      # the policy decision that made it: meta.policy (policy/)

    def check(self) -> None:
        S.check_strategy(self.strategy)
        if self.granularity not in GRANULARITIES:
            raise InputError(f"unknown granularity {self.granularity!r} (turn, episode or range)")
        for name in ("episode_tokens", "keep_last", "target_tokens", "max_tokens"):
            v = getattr(self, name)
            if v is None and name in ("target_tokens", "max_tokens"):
                continue
            low = 0 if name == "keep_last" else 1
            if not isinstance(v, int) or isinstance(v, bool) or v < low:
                raise InputError(f"{name.replace('_', '-')} must be an integer >= {low}")
        if isinstance(self.ratio, bool) or not isinstance(self.ratio, (int, float)) \
                or not 0 < self.ratio <= 1:
            raise InputError("ratio must be a number in (0, 1]")
        if self.role not in ROLES:
            raise InputError(f"summary role must be one of {', '.join(ROLES)}")
        if self.strategy == "llm" and self.provider is None:
            raise InputError("the llm strategy needs a provider (configure llm.provider)")
        if self.strategy != "llm" and self.provider is not None:
            raise InputError(f"a provider is only used by the llm strategy, not {self.strategy}")
        if self.strategy == "manual" and not self.summaries:
            raise InputError("the manual strategy needs the summary text (--summary or "
                             "--summary-file)")
        if self.strategy != "manual" and self.summaries:
            raise InputError("summary texts are only used by the manual strategy")
        if isinstance(self.summaries, str):
            raise InputError("summaries must be a list of texts")
        if self.meta is not None:
            from ..publicmeta import user_meta
            self.meta = user_meta(self.meta)        # checked once, stored as checked


@dataclass
class CompressResult:
    """What a compression did (or, with dry_run, would do)."""

    commit: str | None
    parent: str | None
    dry_run: bool
    strategy: str
    granularity: str
    range: str
    plan: Plan
    summaries: list[dict] = field(default_factory=list)
    masked: list[dict] = field(default_factory=list)
    dropped: list[int] = field(default_factory=list)
    kept: list[dict] = field(default_factory=list)
    tokens_before: int = 0
    tokens_after: int = 0
    replaced_tokens: int = 0
    added_tokens: int = 0
    usage: dict | None = None
    pins_checked: int = 0
    # units kept verbatim instead of summarized: {replaced, replaced_tokens, tokens, reason}
    skipped: list[dict] = field(default_factory=list)

    @property
    def saved_tokens(self) -> int:
        return self.tokens_before - self.tokens_after

    def to_dict(self) -> dict:
        return {"commit": self.commit, "parent": self.parent, "dry_run": self.dry_run,
                "strategy": self.strategy, "granularity": self.granularity, "range": self.range,
                "plan": self.plan.to_dict(), "summaries": self.summaries, "masked": self.masked,
                "dropped": self.dropped, "kept": self.kept, "skipped": self.skipped,
                "tokens": {"before": self.tokens_before, "after": self.tokens_after,
                           "saved": self.saved_tokens, "replaced": self.replaced_tokens,
                           "added": self.added_tokens},
                "usage": self.usage, "pins_checked": self.pins_checked}
