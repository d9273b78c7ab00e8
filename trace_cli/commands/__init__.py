"""The bodies of the read-only commands, free of click.

The click commands (view_cmds, ref_cmds, graph_cmds, dag_cmds, plumbing_cmds) parse their options and call
these; the fast path (`trace_cli.fast`) parses the common forms of the same command lines without
importing click and calls the same functions, so both print exactly the same thing. Each takes
`obj`, the dict of global options (see `util.open_repo`). One module per group keeps what a
command compiles small (bytecode caches are not always written).
"""
