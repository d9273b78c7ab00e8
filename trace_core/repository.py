"""The public `Repository`: repository state plus every operation as a method (docs/architecture.md,
layer 6).

Each method *is* the plumbing or porcelain function that implements it, with its signature and
docstring, `self` as its `repo`: the class body below only names them. The modules are imported
when a method is first looked up (`_LazyFunction`), so a command pays at start-up only for what
it runs: `trace log` never loads the commit machinery, `trace status` never loads merge or
compression.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from . import hooks as _hooks  # (state imports it already: nothing to delay)
from .state import DEFAULT_BRANCH, FORMAT_VERSION, TRACE_DIR, RepoState, find_trace_dir

if TYPE_CHECKING:   # what the type checker sees: the modules themselves
    import trace_core.agents.collapse as _collapse_mod
    import trace_core.agents.expand as _expand_mod
    import trace_core.agents.spawn as _spawn_mod
    import trace_core.agents.tree as _tree_mod
    import trace_core.inspect.audit as _audit_mod
    import trace_core.inspect.blame as _blame_mod
    import trace_core.inspect.export as _export_mod
    import trace_core.inspect.importer as _import_mod
    import trace_core.web.export as _web_export
    import trace_core.web.server as _web_server

    from . import branches as _branches
    from . import commitinfo as _commitinfo
    from . import compress as _compress
    from . import context as _context
    from . import diff as _diff
    from . import history as _history
    from . import manage as _manage
    from . import notes as _notes
    from . import policy as _policy
    from . import remote as _remote
    from . import reorder as _reorder
    from . import retention as _retention
    from . import status as _status
    from .merge import ops as _merge
    from .merge import replay as _replay
    from .plumbing import budgets as _budgets
    from .plumbing import commit as _commit
    from .plumbing import revparse as _revparse

__all__ = ["DEFAULT_BRANCH", "FORMAT_VERSION", "TRACE_DIR", "Repository", "find_trace_dir"]


class _LazyFunction:
    """A class attribute standing for function `name` of `module`: on first lookup it imports the
    module and replaces itself on the class with the function, which Python then binds as a
    method like any other (later lookups cost nothing extra)."""

    __slots__ = ("module", "name", "owner", "attr")

    def __init__(self, module: str, name: str) -> None:
        self.module, self.name = module, name

    def __set_name__(self, owner: type, attr: str) -> None:
        self.owner, self.attr = owner, attr

    def __get__(self, obj: Any, objtype: Any = None) -> Any:
        fn = getattr(importlib.import_module(self.module), self.name)
        setattr(self.owner, self.attr, fn)
        return fn if obj is None else fn.__get__(obj, objtype)


class _LazyModule:
    """Stands in for a module in the class body: `_LazyModule("trace_core.history").append` is
    the lazy method for `history.append`."""

    def __init__(self, module: str) -> None:
        self._module = module

    def __getattr__(self, name: str) -> _LazyFunction:
        return _LazyFunction(self._module, name)


if not TYPE_CHECKING:
    _spawn_mod = _LazyModule("trace_core.agents.spawn")
    _collapse_mod = _LazyModule("trace_core.agents.collapse")
    _tree_mod = _LazyModule("trace_core.agents.tree")
    _expand_mod = _LazyModule("trace_core.agents.expand")
    _audit_mod = _LazyModule("trace_core.inspect.audit")
    _blame_mod = _LazyModule("trace_core.inspect.blame")
    _export_mod = _LazyModule("trace_core.inspect.export")
    _import_mod = _LazyModule("trace_core.inspect.importer")
    _web_export = _LazyModule("trace_core.web.export")
    _web_server = _LazyModule("trace_core.web.server")
    _branches = _LazyModule("trace_core.branches")
    _commitinfo = _LazyModule("trace_core.commitinfo")
    _notes = _LazyModule("trace_core.notes")
    _compress = _LazyModule("trace_core.compress")
    _policy = _LazyModule("trace_core.policy")
    _manage = _LazyModule("trace_core.manage")
    _context = _LazyModule("trace_core.context")
    _diff = _LazyModule("trace_core.diff")
    _history = _LazyModule("trace_core.history")
    _reorder = _LazyModule("trace_core.reorder")
    _retention = _LazyModule("trace_core.retention")
    _status = _LazyModule("trace_core.status")
    _merge = _LazyModule("trace_core.merge.ops")
    _replay = _LazyModule("trace_core.merge.replay")
    _budgets = _LazyModule("trace_core.plumbing.budgets")
    _commit = _LazyModule("trace_core.plumbing.commit")
    _revparse = _LazyModule("trace_core.plumbing.revparse")
    _remote = _LazyModule("trace_core.remote")


class Repository(RepoState):
    """One agent's view of a `.trace` repository, with every operation as a method.

    Open one with `Repository.init`, `Repository.open` or `Repository.discover`; `agent(name)`
    is a sub-agent's repository and `worktree(branch)` a view fixed to one branch."""

    # -- plumbing -----------------------------------------------------------------------------
    resolve = _revparse.resolve_revision
    resolve_object = _revparse.resolve_any
    commit_change = _commit.commit_change
    total_after = _commit.total_after
    budget = _budgets.budget
    budget_warnings = _budgets.budget_warnings
    enable_hook_programs = _hooks.enable_hook_programs

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
    strict_tools = _history.strict_tools
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
    show = _diff.show
    log = _commitinfo.log
    commit_info = _commitinfo.commit_info
    record_usage = _notes.record_usage
    diff = _diff.diff

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
    merge = _merge.merge
    merge_state = _merge.merge_state
    resolve_conflict = _merge.resolve_conflict
    merge_abort = _merge.merge_abort
    merge_continue = _merge.merge_continue
    cherry_pick = _replay.cherry_pick
    revert = _replay.revert
    rebase = _replay.rebase

    # -- compression and reordering -----------------------------------------------------------
    compress = _compress.compress
    reorder = _reorder.reorder

    # -- context policies and the context manager (docs/policy.md, docs/manage.md) -----------
    enable_policies = _policy.enable_policies
    list_policies = _policy.list_policies
    explain_policies = _policy.explain_policies
    run_policies = _policy.run_policies
    undo_policy = _policy.undo_policy
    manage = _manage.manage
    health = _manage.health

    # -- sub-agents ---------------------------------------------------------------------------
    spawn = _spawn_mod.spawn
    collapse = _collapse_mod.collapse
    abandon = _collapse_mod.abandon
    agent_tree = _tree_mod.agent_tree
    expand = _expand_mod.expand
    expanded_context = _expand_mod.expanded_context
    apply_retention = _retention.apply_retention

    # -- inspection ---------------------------------------------------------------------------
    audit_knew = _audit_mod.audit_knew
    audit_lost = _audit_mod.audit_lost
    blame = _blame_mod.blame
    # -- inspection: bundles ------------------------------------------------------------------
    export = _export_mod.export
    export_messages = _export_mod.export_messages
    import_bundle = _import_mod.import_bundle
    # -- inspection: the web viewer (docs/web.md) ---------------------------------------------
    serve = _web_server.serve
    export_html = _web_export.export_html

    # -- remotes (docs/remotes.md) ------------------------------------------------------------
    remotes = _remote.remotes
    remote_add = _remote.remote_add
    remote_remove = _remote.remote_remove
    push = _remote.push
    fetch = _remote.fetch
    pull = _remote.pull
    remote_gc = _remote.remote_gc

    @classmethod
    def clone(cls, url: str, path: str = ".", **kwargs: Any) -> Repository:
        """Clone the remote at `url` into a new repository at `path` (trace_core.remote.clone:
        `name` of the remote, default origin; `s3` settings; `progress`; the rest as for
        `init`)."""
        from .remote import clone
        return clone(cls, url, path, **kwargs)
