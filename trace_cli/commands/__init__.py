"""The commands, one module per subject, each declared once with trace_cli.declare (no click).

objects (init, hash-object, cat-object, write-snapshot, ls-snapshot, commit-tree), refs
(update-ref, symbolic-ref, check-ref-format, rev-parse, for-each-ref, reflog), history (log,
rev-list, merge-base), graph, context (status, show, diff, context), config, commit (commit,
reset, checkout), branches (branch, switch, tag), merge (merge, resolve, rebase, cherry-pick,
revert), compress, reorder, maintenance (fsck, repack, gc, prune, reindex, verify-pack,
count-objects), llm. trace_cli.main maps each command name to its declaration.
"""
