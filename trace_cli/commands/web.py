"""`trace web`: serve the repository's viewer on 127.0.0.1 (trace_core.web; docs/web.md)."""

from __future__ import annotations

from ..declare import IntRange, command, flag, option
from ..util import echo, open_repo


@command("web",
         option("-p", "--port", type=IntRange(min=0, max=65535), default=0,
                help="The port to listen on (default: a free one)."),
         flag("--open", dest="open_browser", help="Open the page in the default browser."))
def web(obj, port=0, open_browser=False) -> None:
    """Serve a read-only viewer of this repository on 127.0.0.1 until Ctrl-C.

    \b
    trace web                  a free port, printed
    trace web -p 8765 --open   a fixed port, and open the browser

    The graph of every agent, the context at any commit, diffs, each agent's context size
    over time, compression and collapse provenance, the reflog (docs/web.md). Nothing is
    written to the repository; requests for another Host than 127.0.0.1:PORT are refused."""
    from trace_core.web.server import WebServer
    with open_repo(obj) as repo:
        server = WebServer(repo, port)
        try:
            echo(f"serving {repo.trace_dir} at {server.url} (Ctrl-C stops)")
            if open_browser:
                import webbrowser
                webbrowser.open(server.url)
            server.serve_forever()
        except KeyboardInterrupt:
            pass
        finally:
            server.close()
