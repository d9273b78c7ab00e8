"""Every command's name, where it is declared and its one-line summary; read by the click group
(main), the fast path and the top-level help page."""

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
    "record-usage": (_C + "commit", "record_usage"),
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
    "policy": (_C + "policy", "policy"),
    "manage": (_C + "manage", "manage"),
    "llm": (_C + "llm", "llm"),
    "spawn": (_C + "agents", "spawn"),
    "collapse": (_C + "agents", "collapse"),
    "abandon": (_C + "agents", "abandon"),
    "agents": (_C + "agents", "agents"),
    "expand": (_C + "agents", "expand"),
    "audit": (_C + "inspect_audit", "audit"),
    "blame": (_C + "inspect_blame", "blame"),
    "export": (_C + "inspect_export", "export"),
    "import": (_C + "inspect_export", "import_"),
    "export-otel": (_C + "inspect_otel", "export_otel"),
    "web": (_C + "web", "web"),
    "mcp": (_C + "mcp", "mcp"),
    "remote": (_C + "remote", "remote"),
    "clone": (_C + "remote", "clone"),
    "fetch": (_C + "remote", "fetch"),
    "push": (_C + "remote", "push"),
    "pull": (_C + "remote", "pull"),
}

# command name -> the first sentence of its help (what `trace --help` lists), so the top-level
# page imports no command module; tests/test_cli_fast.py checks each against the docstring
SUMMARY = {
    "init": "Create an empty repository (DIR/.trace).",
    "hash-object": "Print the id of a message (JSON object, or --text) as a blob; -w stores it.",
    "cat-object": ("Show an object (blob, node, snap, commit) by id or revision; with --batch, "
                   "many."),
    "write-snapshot": ("Store a snapshot from lines '<blob id> [flags]' (or a JSON list); print "
                       "its id."),
    "ls-snapshot": "List a snapshot's entries as '<blob id> <flags>' (REV: commit or snapshot).",
    "commit-tree": ("Create a commit for SNAPSHOT with the given parents; print its id (moves no"
                    " ref)."),
    "update-ref": "Set NAME to NEW, or with -d delete it; OLD makes it a compare-and-swap.",
    "symbolic-ref": "Read the symbolic ref NAME, or point it at TARGET.",
    "check-ref-format": ("Exit 0 if NAME is a valid ref name (git check-ref-format rules), 1 if "
                         "not."),
    "rev-parse": "Resolve revisions (names, short ids, HEAD~n, ^n, @{n}) to full ids.",
    "for-each-ref": "List refs under PREFIX as '<id> commit <name>'.",
    "reflog": "Show how REF moved, newest first (HEAD shows its branch's log).",
    "rev-list": ("List commits reachable from REVS (default HEAD), newest first; ^X or X..Y "
                 "excludes X."),
    "merge-base": "Print the best common ancestor(s) of A and B.",
    "fsck": ("Re-hash every object, check every reference and pack; exit 1 if any error is "
             "found."),
    "repack": "Seal idle journals and merge all packs into one.",
    "gc": "Apply retention policies, repack reachable objects into one pack, prune old garbage.",
    "prune": "Delete unreachable objects older than the grace period.",
    "reindex": ("Rebuild the SQLite index from the objects (what fsck advises for a damaged "
                "index)."),
    "verify-pack": "Check pack checksums and every object in them (default: all packs).",
    "count-objects": "Count objects in packs and journals, and the bytes they use.",
    "commit": ("Record a change to the context: append messages, or edit/pin/unpin/drop entries."),
    "reset": "Move the current branch to REV (e.g.",
    "record-usage": ("Record the token usage an API reported for commit REV after it was made (a "
                     "usage note)."),
    "checkout": "Switch to a branch, or detach HEAD at a commit (its context exactly).",
    "log": "History from REVS (default HEAD): each commit's token cost and the running total.",
    "graph": "Draw the commit graph from REVS (default HEAD), children before parents.",
    "status": "HEAD, branch, entries, tokens against the budget, warnings, undone entries.",
    "show": "A commit: metadata, the content it carried, and its change to the context.",
    "diff": ("Compare the contexts of two commits (default: HEAD's parent and HEAD; one arg: A "
             "and HEAD)."),
    "context": "Print the context at REV exactly as the model would be sent it.",
    "config": ("Get or set settings in .trace/config, or with --global in your own config file "
               "(git-config style: section.key)."),
    "branch": "List branches, or create NAME at START (default HEAD), delete or rename them.",
    "switch": "Switch HEAD to branch NAME (or detach it at a commit).",
    "tag": "List tags, or tag REV (default HEAD) as NAME (a lightweight tag, as git's).",
    "merge": "Merge branch or commit REV into the current branch.",
    "resolve": ("Settle conflict CONFLICT_ID of the stopped merge, rebase, cherry-pick or "
                "revert."),
    "rebase": ("Replay the current branch's commits on top of REV (no merge commit; ORIG_HEAD "
               "keeps the old tip)."),
    "cherry-pick": ("Apply the change commit REV made to its parent's context on top of the "
                    "current branch."),
    "revert": "Undo the change commit REV made, as a new commit on top of the current branch.",
    "reorder": "Rearrange the entries of the current context, as one commit.",
    "compress": ("Replace what the commits of RANGE (A..B, A.. or A = A..HEAD) added to the "
                 "context by summaries, in one new commit with exact provenance."),
    "policy": ("Context policies: compress, pin, branch off tangents and come back, by "
               "themselves (docs/policy.md)."),
    "manage": ("Measure the health of an agent's context (tokens against the budget, "
               "duplicates, stale tool outputs, broken tool calls, old turns unrelated to the "
               "task) and propose a plan of operations (mask, drop, pin, compress); execute it "
               "when approved (--plan FILE, -i) or, with --auto, the operations manage.auto "
               "allows."),
    "spawn": ("Start sub-agents NAME... of the current agent, each in its own namespace, from "
              "HEAD (or --from REV), and record a spawn commit in the current agent."),
    "collapse": ("Bring sub-agent NAME's result into the current agent as one collapse commit: "
                 "its final answer, an account of its work, and a pointer to its tip (its "
                 "history stays)."),
    "abandon": ("Mark sub-agent NAME as given up (never to be collapsed); retention policies "
                "may expire it."),
    "agents": ("List sub-agents as a tree: status, head, tokens, where each was spawned and "
               "collapsed."),
    "expand": ("Show a sub-agent's commits inline at its collapse commit COLLAPSE (or its "
               "messages in place in the context, --context), without changing any ref."),
    "audit": ("Answer one typed question about the history: what AGENT knew when another agent "
              "made a commit (--knew AGENT --when [AGENT:]REV), or what information left the "
              "context (--lost [RANGE])."),
    "blame": ("Show who introduced each entry of the context at REV and every later change to "
              "it."),
    "export": "Write a bundle of REVS (default HEAD) or --all as JSON lines: objects, then refs.",
    "import": ("Import a bundle (FILE, or - for stdin): verify every line, write objects, then "
               "refs."),
    "export-otel": ("Export the history as OpenTelemetry spans (GenAI semantic conventions), one "
                    "trace per agent tree."),
    "web": "Serve a read-only viewer of this repository on 127.0.0.1 until Ctrl-C.",
    "remote": "List remotes, or add or remove one.",
    "clone": "Clone the remote at URL into DIRECTORY (default: the URL's last part).",
    "fetch": ("Download what REMOTE (default origin) has that this repository lacks, and move "
              "the remote-tracking refs (refs/remotes/REMOTE/BRANCH, in every agent "
              "namespace)."),
    "push": ("Send what REMOTE (default origin) lacks, then update its refs: one conditional "
             "write, so a concurrent push is never overwritten (yours is then judged again)."),
    "pull": ("Fetch from REMOTE (default origin), then merge its BRANCH (default: the current "
             "branch's name) into the current branch, or rebase onto it (--rebase): a "
             "fast-forward when possible; conflicts stop as `trace merge` does (trace resolve, "
             "then --continue)."),
    "mcp": ("Serve this repository to an MCP host (Claude Code, Cursor, the Agents SDK) as "
            "tools."),
    "llm": ("The LLM provider used by semantic merges and `compress --strategy llm` (see "
            "docs/llm.md)."),
    "trust": ("Trust the repository at PATH (default: the current one, as -C and TRACE_DIR say): "
              "its .trace/config may then set llm.provider, llm.base-url and every other key "
              "that sends data or credentials off the machine."),
}
