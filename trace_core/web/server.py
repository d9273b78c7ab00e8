"""`trace web`: the viewer served read-only on 127.0.0.1 (docs/web.md, "Safety"): the page, its
script and style, and the data API, with the Host check that defeats DNS rebinding."""

from __future__ import annotations

import json
import os
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, unquote, urlsplit

from ..errors import (
    AgentNotFound,
    InputError,
    InvalidObjectId,
    MissingObject,
    RefNotFound,
    RevisionError,
    TraceError,
)
from . import data
from .page import asset, page_html

if TYPE_CHECKING:
    from ..state import RepoState

HOST = "127.0.0.1"
CSP = ("default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'")
_NOT_FOUND = (AgentNotFound, MissingObject, RefNotFound, RevisionError, InvalidObjectId)
_STATIC = {"/static/viewer.js": ("viewer.js", "text/javascript; charset=utf-8"),
           "/static/viewer.css": ("viewer.css", "text/css; charset=utf-8")}


class NotFound(Exception):
    """A path the viewer does not serve."""


def _one(query: dict, key: str) -> str | None:
    vals = query.get(key)
    if not vals:
        return None
    if len(vals) > 1:
        raise InputError(f"parameter {key} given more than once")
    return vals[0]


def _count(query: dict, key: str) -> int | None:
    value = _one(query, key)
    if value is None:
        return None
    if not value.isdigit() or len(value) > 12:
        raise InputError(f"{key} must be a non-negative integer, got {value!r:.40}")
    return int(value)


def refs_state(trace_dir: str) -> tuple:
    """What every ref, reflog and setting of a repository is now, cheaply (name, size and
    change time of each file outside objects/ and the index): a cached document stays valid
    while this is unchanged."""
    out = []
    for root, dirs, files in os.walk(trace_dir):
        if root == trace_dir:
            dirs[:] = [d for d in dirs if d != "objects"]
        for f in files:
            if f.startswith("index.sqlite"):
                continue
            try:
                st = os.lstat(os.path.join(root, f))
            except OSError:
                continue
            out.append((root, f, st.st_size, st.st_mtime_ns))
    out.sort()
    return tuple(out)


def route(repo: RepoState, path: str, query: dict, memo: dict | None = None) -> Any:
    """The JSON document of an API path (`/api/...`, percent-decoded segments; `memo`: the
    tool call pairs of contexts already read, by commit)."""
    parts = [unquote(p) for p in path.split("/")[2:]]
    agent = _one(query, "agent")
    name, args = (parts[0], parts[1:]) if parts else ("", [])
    v = data.view(repo, agent) if name in ("context", "blame", "diff", "provenance") else repo
    if name == "info" and not args:
        return data.info(repo)
    if name == "graph" and not args:
        return data.graph(repo, agent, _count(query, "limit"))
    if name == "context" and len(args) == 1:
        return data.context(v, args[0], _count(query, "offset") or 0, _count(query, "limit"),
                            memo)
    if name == "blame" and len(args) == 1:
        return data.blame(v, args[0])
    if name == "diff" and len(args) == 2:
        return data.diff(v, args[0], args[1])
    if name == "provenance" and len(args) == 1:
        return data.provenance(v, args[0])
    if name == "timeline" and not args:
        return data.timeline(repo)
    if name == "reflog" and not args:
        return data.reflog(repo, agent)
    if name == "lost" and not args:
        return data.lost(repo, agent)
    raise NotFound(path)


class WebServer:
    """A started viewer: `url`, `port`, `close()` (also a context manager). Requests are
    answered one at a time (the repository is read by one thread at a time)."""

    def __init__(self, repo: RepoState, port: int = 0) -> None:
        if isinstance(port, bool) or not isinstance(port, int) or not 0 <= port <= 65535:
            raise InputError(f"port must be an integer from 0 to 65535, not {port!r:.40}")
        self.repo = repo
        self._persisted = repo.persist_tokens
        repo.persist_tokens = False     # (restored by close)
        self.lock = threading.Lock()
        try:
            self.httpd = ThreadingHTTPServer((HOST, port), _handler(self))
        except OSError as exc:
            raise InputError(f"cannot listen on {HOST}:{port}: {exc.strerror or exc}") from None
        self.httpd.daemon_threads = True
        self.httpd.handle_error = _quiet     # type: ignore[method-assign]
        self.port: int = self.httpd.server_address[1]
        self.host_header = f"{HOST}:{self.port}"
        self.url = f"http://{self.host_header}/"
        self._thread: threading.Thread | None = None
        self._cache: dict = {}
        self._pairs: dict = {}

    def answer(self, path: str, query: dict) -> bytes:
        """The JSON bytes of an API request; the graph (costly on a long history) is kept
        while the repository's refs do not change."""
        key = None
        if path == "/api/graph":
            key = (tuple(sorted((k, tuple(v)) for k, v in query.items())),
                   refs_state(self.repo.trace_dir))
            hit = self._cache.get(key)
            if hit is not None:
                return hit
        doc = route(self.repo, path, query, self._pairs)
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        if key is not None:
            if len(self._cache) >= 8:
                self._cache.clear()
            self._cache[key] = body
        return body

    def start(self) -> WebServer:
        """Serve in a background thread (returns at once)."""
        self._thread = threading.Thread(target=self.httpd.serve_forever, name="trace-web",
                                        daemon=True)
        self._thread.start()
        return self

    def serve_forever(self) -> None:
        """Serve in this thread until `close()` (or KeyboardInterrupt)."""
        self.httpd.serve_forever()

    def close(self) -> None:
        """Stop serving and release the port."""
        if self._thread is not None:
            self.httpd.shutdown()
            self._thread.join()
            self._thread = None
        self.httpd.server_close()
        self.repo.persist_tokens = self._persisted

    def __enter__(self) -> WebServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _quiet(request: Any, client_address: Any) -> None:
    """A connection that failed mid-answer (the page was closed, the client went away): the
    library prints nothing (socketserver would print a traceback)."""
    return


def _handler(server: WebServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "trace-web"
        sys_version = ""

        def log_message(self, format: str, *args: Any) -> None:   # never print
            return

        def _send(self, status: int, body: bytes, ctype: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(body)))
            self.send_header("Content-Security-Policy", CSP)
            self.send_header("X-Content-Type-Options", "nosniff")
            self.send_header("Referrer-Policy", "no-referrer")
            self.send_header("Cache-Control", "no-store")
            self.send_header("X-Frame-Options", "DENY")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(body)

        def _json(self, status: int, doc: Any) -> None:
            body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
            self._send(status, body, "application/json; charset=utf-8")

        def _error(self, status: int, message: str) -> None:
            self._json(status, {"error": message})

        def do_GET(self) -> None:
            if self.headers.get("Host") != server.host_header:
                self._error(421, f"this server answers only to Host {server.host_header}")
                return
            url = urlsplit(self.path)
            path = url.path
            try:
                if path == "/":
                    self._send(200, page_html().encode(), "text/html; charset=utf-8")
                elif path in _STATIC:
                    fname, ctype = _STATIC[path]
                    self._send(200, asset(fname), ctype)
                elif path.startswith("/api/"):
                    query = parse_qs(url.query, keep_blank_values=True)
                    with server.lock:
                        body = server.answer(path, query)
                    self._send(200, body, "application/json; charset=utf-8")
                else:
                    raise NotFound(path)
            except NotFound:
                self._error(404, f"no such page: {path[:200]}")
            except _NOT_FOUND as exc:
                self._error(404, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            except TraceError as exc:
                self._error(400, str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
            except Exception as exc:    # a bug: answer it, keep serving, print nothing
                self._error(500, f"internal error: {type(exc).__name__}: {exc}"[:300])

        do_HEAD = do_GET

        def _refuse(self) -> None:
            self._error(405, "this server is read-only: GET and HEAD only")

        do_POST = do_PUT = do_DELETE = do_PATCH = do_OPTIONS = _refuse

    return Handler


def serve(repo: RepoState, port: int = 0) -> WebServer:
    """The viewer of `repo` served on 127.0.0.1:`port` (0: a free port) from a background thread:
    a started `WebServer` (`url`, `close()`). It writes nothing to the repository."""
    return WebServer(repo, port).start()
