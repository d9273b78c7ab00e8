"""Multi-agent operations (docs/multiagent.md): spawn sub-agents from a context, collapse their
work back into the parent, abandon them, and list the agent tree.

A sub-agent is an agent namespace (`agents/<name>/`, FORMAT.md §10) whose first commit (op
`spawn`, no parents) holds its starting context and names, in `meta.from`, the parent commit it
came from; the parent records a `spawn` commit whose `meta.children` name each child's root
commit. A `collapse` commit in the parent carries the child's result and points at the child's
tip (`meta.tip`). The pointers are raw 32-byte ids inside meta, which gc and fsck follow as
object references. Three pseudo-refs of the child's namespace record its life: `SPAWNED` (its
root commit), `COLLAPSED` (the parent's collapse commit) and `ABANDONED` (its tip when given up).
`expand` shows a collapsed child's work in place of its collapse (log lines, or the context).

The package imports nothing: use the `Repository` methods, or import the module that holds
what you need (`trace_core.agents.spawn`, `.collapse`, `.tree`, `.expand`, `.lanes`), so that a
command pays only for the module it runs.
"""
