"""Every command's name and where it is declared; read by the click group (main) and the fast
path."""

from __future__ import annotations

# command name -> (module, declaration) (trace_cli.declare); modules are imported lazily, only
# the one of the command that runs
_C = "trace_cli.commands."
COMMANDS = {
    # plumbing
    "init": (_C + "objects", "init"),
    "hash-object": (_C + "objects", "hash_object"),
    "cat-object": (_C + "objects", "cat_object"),
    "write-snapshot": (_C + "objects", "write_snapshot"),
    "ls-snapshot": (_C + "objects", "ls_snapshot"),
    "commit-tree": (_C + "objects", "commit_tree"),
    "update-ref": (_C + "refs", "update_ref"),
    "symbolic-ref": (_C + "refs", "symbolic_ref"),
    "check-ref-format": (_C + "refs", "check_ref_format"),
    "rev-parse": (_C + "refs", "rev_parse"),
    "for-each-ref": (_C + "refs", "for_each_ref"),
    "reflog": (_C + "refs", "reflog"),
    "rev-list": (_C + "history", "rev_list"),
    "merge-base": (_C + "history", "merge_base"),
    "fsck": (_C + "maintenance", "fsck"),
    "repack": (_C + "maintenance", "repack"),
    "gc": (_C + "maintenance", "gc"),
    "prune": (_C + "maintenance", "prune"),
    "reindex": (_C + "maintenance", "reindex"),
    "verify-pack": (_C + "maintenance", "verify_pack"),
    "count-objects": (_C + "maintenance", "count_objects"),
    # porcelain
    "commit": (_C + "commit", "commit"),
    "reset": (_C + "commit", "reset"),
    "checkout": (_C + "commit", "checkout"),
    "log": (_C + "history", "log"),
    "graph": (_C + "graph", "graph"),
    "status": (_C + "context", "status"),
    "show": (_C + "context", "show"),
    "diff": (_C + "context", "diff"),
    "context": (_C + "context", "context"),
    "config": (_C + "config", "config"),
    "trust": (_C + "trust", "trust"),
    "branch": (_C + "branches", "branch"),
    "switch": (_C + "branches", "switch"),
    "tag": (_C + "branches", "tag"),
    "merge": (_C + "merge", "merge"),
    "resolve": (_C + "merge", "resolve"),
    "rebase": (_C + "merge", "rebase"),
    "cherry-pick": (_C + "merge", "cherry_pick"),
    "revert": (_C + "merge", "revert"),
    "reorder": (_C + "reorder", "reorder"),
    "compress": (_C + "compress", "compress"),
    "llm": (_C + "llm", "llm"),
}
