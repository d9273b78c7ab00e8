"""Plumbing: the small set of primitives every operation goes through (docs/plumbing.md).

- objects: hash, write and read objects; build and read snapshots; `commit_tree`;
- commit: the one commit primitive (`commit_change`: read tip, build, write, compare-and-swap
  with retry), `Transaction`, and `publish` for results computed elsewhere;
- refs: every ref move (compare-and-swap), `update_ref`, `rev_parse`, `for_each_ref`;
- revparse: revision expressions;
- walks: history walks (`rev_list`, `merge_base`);
- storage: `count_objects`, `pack_names`, `verify_pack`, `reindex`; budget: token budgets.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

# name -> submodule; imported on first access, so that importing one primitive (the facade
# imports commit, revparse and budgets) does not load every other one at start-up
_EXPORTS = {
    "Budget": "budgets", "budget": "budgets", "budget_warnings": "budgets",
    "Change": "commit", "Transaction": "commit", "commit_change": "commit",
    "count_entries": "commit", "make_commit": "commit", "now_and_tz": "commit",
    "publish": "commit", "snapshot_of_commit": "commit", "tip": "commit",
    "total_after": "commit", "write_change": "commit",
    "cat_batch": "objects", "cat_object": "objects", "commit_tree": "objects",
    "describe": "objects", "hash_object": "objects", "make_blob": "objects",
    "parse_entries": "objects",
    "snapshot_entries": "objects", "snapshot_of": "objects", "to_jsonable": "objects",
    "write_snapshot": "objects",
    "create_ref": "refs", "delete_ref": "refs", "for_each_ref": "refs", "move_refs": "refs",
    "rename_ref": "refs", "rev_parse": "refs", "set_ref": "refs", "set_symbolic_ref": "refs",
    "update_ref": "refs", "full_ref_name": "refs", "symbolic_ref": "refs", "reflog": "refs",
    "object_exists": "objects",
    "resolve_any": "revparse", "resolve_commit": "revparse", "resolve_ref_name": "revparse",
    "resolve_revision": "revparse", "split_ranges": "revparse",
    "count_objects": "storage", "pack_name": "storage", "verify_pack": "storage",
    "pack_names": "storage", "reindex": "storage",
    "is_ancestor": "walks", "merge_base": "walks", "rev_list": "walks", "rev_list_ids": "walks",
}

__all__ = [
    "Budget", "Change", "Transaction", "budget", "budget_warnings", "cat_batch", "cat_object",
    "commit_change",
    "commit_tree", "count_entries", "count_objects", "create_ref", "delete_ref", "describe",
    "for_each_ref", "full_ref_name", "hash_object", "is_ancestor", "make_blob", "make_commit",
    "merge_base", "move_refs", "now_and_tz", "object_exists", "pack_name", "pack_names",
    "parse_entries", "publish", "reflog", "reindex", "rename_ref", "resolve_any", "resolve_commit",
    "resolve_ref_name",
    "resolve_revision", "rev_list", "rev_list_ids", "rev_parse", "set_ref", "set_symbolic_ref",
    "snapshot_entries", "snapshot_of", "snapshot_of_commit", "split_ranges", "symbolic_ref",
    "tip", "to_jsonable", "total_after", "update_ref", "verify_pack", "write_change",
    "write_snapshot",
]

if TYPE_CHECKING:
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
        cat_batch,
        cat_object,
        commit_tree,
        describe,
        hash_object,
        make_blob,
        object_exists,
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
        full_ref_name,
        move_refs,
        reflog,
        rename_ref,
        rev_parse,
        set_ref,
        set_symbolic_ref,
        symbolic_ref,
        update_ref,
    )
    from .revparse import (
        resolve_any,
        resolve_commit,
        resolve_ref_name,
        resolve_revision,
        split_ranges,
    )
    from .storage import count_objects, pack_name, pack_names, reindex, verify_pack
    from .walks import is_ancestor, merge_base, rev_list, rev_list_ids


def __getattr__(name: str) -> Any:
    sub = _EXPORTS.get(name)
    if sub is None:
        raise AttributeError(f"module 'trace_core.plumbing' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{sub}"), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
