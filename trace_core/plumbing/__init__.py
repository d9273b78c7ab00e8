"""Plumbing: the small set of primitives every operation goes through (docs/plumbing.md).

- objects: hash, write and read objects; build and read snapshots; `commit_tree`;
- commit: the one commit primitive (`commit_change`: read tip, build, write, compare-and-swap
  with retry), `Transaction`, and `publish` for results computed elsewhere;
- refs: every ref move (compare-and-swap), `update_ref`, `rev_parse`, `for_each_ref`;
- revparse: revision expressions;
- walks: history walks (`rev_list`, `merge_base`);
- storage: `count_objects`, `verify_pack`; budget: token budgets.
"""

from .budgets import Budget, budget, budget_warnings
from .commit import (
    Change,
    Transaction,
    commit_change,
    count_entries,
    make_commit,
    now_and_tz,
    publish,
    snapshot_of_commit,
    tip,
    total_after,
    write_change,
)
from .objects import (
    cat_object,
    commit_tree,
    describe,
    hash_object,
    make_blob,
    parse_entries,
    snapshot_entries,
    snapshot_of,
    to_jsonable,
    write_snapshot,
)
from .refs import (
    create_ref,
    delete_ref,
    for_each_ref,
    move_refs,
    rename_ref,
    rev_parse,
    set_ref,
    set_symbolic_ref,
    update_ref,
)
from .revparse import resolve_any, resolve_commit, resolve_ref_name, resolve_revision, split_ranges
from .storage import count_objects, verify_pack
from .walks import is_ancestor, merge_base, rev_list

__all__ = [
    "Budget", "Change", "Transaction", "budget", "budget_warnings", "cat_object", "commit_change",
    "commit_tree", "count_entries", "count_objects", "create_ref", "delete_ref", "describe",
    "for_each_ref", "hash_object", "is_ancestor", "make_blob", "make_commit", "merge_base",
    "move_refs", "now_and_tz", "parse_entries", "publish", "rename_ref", "resolve_any",
    "resolve_commit", "resolve_ref_name", "resolve_revision", "rev_list", "rev_parse", "set_ref",
    "set_symbolic_ref", "snapshot_entries", "snapshot_of", "snapshot_of_commit", "split_ranges",
    "tip", "total_after", "to_jsonable", "update_ref", "verify_pack", "write_change",
    "write_snapshot",
]
