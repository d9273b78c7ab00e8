"""Token budgets: max tokens and warning thresholds per branch or repository (config budget.*)."""

from __future__ import annotations

from typing import NamedTuple

from ..state import RepoState


class Budget(NamedTuple):
    """Max tokens and warning thresholds (fractions) for a branch or the repository."""

    max_tokens: int | None
    warn: tuple

    def crossed(self, total: int) -> float | None:
        """The highest threshold `total` has reached, or None."""
        if not self.max_tokens:
            return None
        hit = [w for w in self.warn if total >= w * self.max_tokens]
        return max(hit) if hit else None


def budget(repo: RepoState, branch: str | None = None) -> Budget:
    """The token budget of `branch` (default: the current one): branch.<name>.* over budget.*."""
    short = branch or repo.head_branch() or ""
    short = short[len("refs/heads/"):] if short.startswith("refs/heads/") else short
    max_tokens, warn = repo.config.budget_for(short or None)
    return Budget(max_tokens, tuple(warn or ()))


budget_of = budget   # (budget_warnings' parameter keeps the name callers pass it by)


def budget_warnings(repo: RepoState, total: int, budget: Budget | None = None) -> list[str]:
    """One line per threshold `total` reaches (at most one: the highest) of `budget` (default:
    the current branch's)."""
    b = budget or budget_of(repo)
    hit = b.crossed(total)
    if hit is None or not b.max_tokens:
        return []
    pct = 100 * total / b.max_tokens
    level = "over the budget" if total > b.max_tokens else f"past the {int(hit * 100)}% warning"
    return [f"context uses {total} of {b.max_tokens} tokens ({pct:.0f}%): {level}"]
