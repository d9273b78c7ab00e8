"""`trace mcp`: serve the repository's operations to an agent as MCP tools
(trace_core.integrations.mcp_server; docs/integrations.md, "MCP server")."""

from __future__ import annotations

import contextlib

from ..declare import IntRange, command, flag, option
from ..util import echo, fail, open_repo


@command("mcp",
         flag("--http", help="Serve streamable HTTP on 127.0.0.1 instead of stdio."),
         option("-p", "--port", type=IntRange(min=1, max=65535), default=8000,
                show_default=True, help="--http: the port to listen on."))
def mcp(obj, http=False, port=8000) -> None:
    """Serve this repository to an MCP host (Claude Code, Cursor, the Agents SDK) as tools.

    \b
    trace mcp                       stdio, started by the host: claude mcp add trace -- trace mcp
    trace --agent worker mcp        the tools act on sub-agent worker's namespace
    trace mcp --http -p 8765        streamable HTTP at http://127.0.0.1:8765/mcp

    Tools: trace_status, trace_log, trace_context, trace_commit, trace_branch, trace_switch,
    trace_reset, trace_merge, trace_resolve, trace_compress, trace_spawn, trace_collapse,
    trace_blame; each
    acts on the namespace -C / --agent open (or a sub-agent of it: its `agent` argument).
    Needs the extra: pip install 'trace-vcs[mcp]'."""
    try:
        from trace_core.integrations.mcp_server import run
    except ImportError as exc:
        fail(f"trace mcp needs the MCP SDK ({exc.name or exc}): pip install 'trace-vcs[mcp]'")
    from ..llm_support import make_provider
    with open_repo(obj) as repo:
        if http:
            echo(f"serving {repo.trace_dir} at http://127.0.0.1:{port}/mcp (Ctrl-C stops)",
                 err=True)
            with contextlib.suppress(KeyboardInterrupt):
                run(repo, transport="http", port=port, provider=make_provider)
        else:
            run(repo, provider=make_provider)
