"""The public `Repository`: repository state plus every operation, each a thin delegation to the
plumbing or porcelain function that implements it (docs/architecture.md, layer 6).

The cheap, always-used operations (history, context, status, branches) are bound directly: the
method *is* the module function, with its signature and docstring, `self` as its `repo`. The
heavier ones (merge, replay, diff, compress, reorder) are small wrappers that import their
module on first use, so that start-up does not pay for machinery a command never runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from . import branches as _branches
from . import context as _context
from . import history as _history
from . import status as _status
from .ids import RawId
from .plumbing import budgets as _budget_fns
from .plumbing import commit as _commit
from .plumbing import revparse as _revparse
from .state import DEFAULT_BRANCH, FORMAT_VERSION, TRACE_DIR, RepoState, find_trace_dir

if TYPE_CHECKING:
    from .compress import CompressResult
    from .diff import Diff
    from .merge.machinery import MergeResult
    from .merge.merge3 import Conflict
    from .merge.state import MergeState
    from .reorder import ReorderResult

__all__ = ["DEFAULT_BRANCH", "FORMAT_VERSION", "TRACE_DIR", "Repository", "find_trace_dir"]


class Repository(RepoState):
    """One agent's view of a `.trace` repository, with every operation as a method.

    Open one with `Repository.init`, `Repository.open` or `Repository.discover`; `agent(name)`
    is a sub-agent's repository and `worktree(branch)` a view fixed to one branch."""

    # -- plumbing -----------------------------------------------------------------------------
    commit_change = _commit.commit_change
    total_after = _commit.total_after
    budget = _budget_fns.budget
    budget_warnings = _budget_fns.budget_warnings

    def resolve(self, rev: str) -> RawId:
        """A revision expression (see plumbing.revparse) to a commit id."""
        return _revparse.resolve_revision(self, rev)

    def resolve_object(self, rev: str) -> RawId:
        """A revision expression or an id of any object type."""
        return _revparse.resolve_any(self, rev)

    # -- history ------------------------------------------------------------------------------
    append = _history.append
    append_many = _history.append_many
    system = _history.system
    user = _history.user
    assistant = _history.assistant
    tool_call = _history.tool_call
    tool_result = _history.tool_result
    edit = _history.edit
    pin = _history.pin
    unpin = _history.unpin
    drop = _history.drop
    transaction = _history.transaction
    strict_budget = _history.strict_budget
    reset = _history.reset
    reapply = _history.reapply
    checkout = _history.checkout

    # -- reading contexts ---------------------------------------------------------------------
    entries_at = _context.entries_at
    entry_messages = _context.entry_messages
    messages = _context.messages
    materialize = _context.materialize
    status = _status.status
    operation_status = _status.operation_status
    undone_entries = _status.undone_entries

    def show(self, rev: str = "HEAD") -> dict:
        """A commit as a dict: its fields, the messages it carried and its diff to its parent."""
        from .diff import show
        return show(self, rev)

    def diff(self, a: str | None, b: str | None) -> Diff:
        """What changed between the contexts of commits `a` and `b` (None: the empty context)."""
        from .diff import diff
        return diff(self, a, b)

    # -- branches and tags --------------------------------------------------------------------
    branch_create = _branches.branch_create
    branches = _branches.branches
    branch_delete = _branches.branch_delete
    branch_rename = _branches.branch_rename
    switch = _branches.switch
    tag_create = _branches.tag_create
    tags = _branches.tags
    tag_delete = _branches.tag_delete

    # -- merge, cherry-pick, revert, rebase ---------------------------------------------------
    def merge(self, rev: str, *, strategy: str = "manual", order: str | None = None,
              message: str | None = None, ff: str = "auto", driver: Any = None) -> MergeResult:
        """Merge commit `rev` into the current branch (merge.ops.merge; docs/merge.md)."""
        from .merge.ops import merge
        return merge(self, rev, strategy=strategy, order=order, message=message, ff=ff,
                     driver=driver)

    def merge_state(self) -> MergeState | None:
        """The merge, rebase, cherry-pick or revert stopped on conflicts, or None."""
        from .merge.state import load
        return load(self)

    def resolve_conflict(self, conflict_id: int, action: str, text: str | None = None,
                         role: str | None = None) -> Conflict:
        """Settle one conflict of the stopped operation (merge.ops.resolve_conflict)."""
        from .merge.ops import resolve_conflict
        return resolve_conflict(self, conflict_id, action, text, role)

    def merge_abort(self) -> str:
        """Forget the stopped operation (the branch never moved); returns its name."""
        from .merge.ops import merge_abort
        return merge_abort(self)

    def merge_continue(self, message: str | None = None, driver: Any = None) -> MergeResult:
        """Finish the stopped operation once every conflict is settled."""
        from .merge.ops import merge_continue
        return merge_continue(self, message, driver)

    def cherry_pick(self, rev: str, *, strategy: str = "manual", order: str | None = None,
                    driver: Any = None) -> MergeResult:
        """Apply the change commit `rev` made (against its parent) on top of the branch."""
        from .merge.replay import cherry_pick
        return cherry_pick(self, rev, strategy=strategy, order=order, driver=driver)

    def revert(self, rev: str, *, strategy: str = "manual", order: str | None = None,
               driver: Any = None) -> MergeResult:
        """Undo the change commit `rev` made, as a new commit on top of the branch."""
        from .merge.replay import revert
        return revert(self, rev, strategy=strategy, order=order, driver=driver)

    def rebase(self, upstream: str, *, strategy: str = "manual", order: str | None = None,
               driver: Any = None) -> MergeResult:
        """Replay the branch's commits that `upstream` lacks on top of it, moving it once."""
        from .merge.replay import rebase
        return rebase(self, upstream, strategy=strategy, order=order, driver=driver)

    # -- compression and reordering -----------------------------------------------------------
    def compress(self, range: str | None = None, **options: Any) -> CompressResult:
        """Replace a range of the context with summaries as one commit (docs/compress.md);
        the options are those of `trace_core.compress.compress`."""
        from .compress import compress
        return compress(self, range, **options)

    def reorder(self, order: Sequence[int] | None = None,
                moves: Sequence[Sequence[int]] | None = None, **options: Any) -> ReorderResult:
        """Rearrange the entries of the context as one `reorder` commit; the options are those
        of `trace_core.reorder.reorder`."""
        from .reorder import reorder
        return reorder(self, order, moves, **options)
