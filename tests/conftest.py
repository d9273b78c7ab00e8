"""Shared test support: repositories, the CLI in-process and as a process, one strict check of
one-line errors, one scripted LLM HTTP server and one fake LLM provider."""

from __future__ import annotations

import atexit
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

pytest_plugins = ["s3server"]   # a SeaweedFS S3 server: the s3server, s3_options, s3_env fixtures

# Child processes (the CLI run as users run it) cache byte code, as an installed trace does
# (pip compiles it); with PYTHONDONTWRITEBYTECODE set, as on this project's machines, every child
# compiled every module it imports again (a sixth of the suite's CPU time).
os.environ.pop("PYTHONDONTWRITEBYTECODE", None)

# The user's own configuration (trace_cli.settings) is never the developer's: every test and every
# CLI it runs reads an empty global config file of this session, unless a test points
# TRACE_CONFIG_GLOBAL elsewhere (docs/security.md).
_NO_HOME = tempfile.mkdtemp(prefix="trace-tests-")
atexit.register(shutil.rmtree, _NO_HOME, True)
os.environ["TRACE_CONFIG_GLOBAL"] = os.path.join(_NO_HOME, "config")
os.environ.pop("TRACE_CONFIG_COUNT", None)

# Tests are offline: LiteLLM, wherever it is first imported (the architecture test imports every
# module), must not fetch its model price list from the network (it would retry in a background
# thread and log its failure into another test's captured stderr)
os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"


@pytest.fixture
def repo(tmp_path):
    from trace_core.repository import Repository

    r = Repository.init(str(tmp_path / "r"), encoding="chars/4")
    yield r
    r.close()


# ---------------------------------------------------------------------------------------------
# The CLI: as a real process (exit codes, tracebacks, the fast path, crashes) and in-process


def run_cli(*args, cwd=None, input=None, env=None, check=False):
    """Run `python -m trace_cli.main ARGS` in a real process; returns CompletedProcess (text)."""
    full_env = dict(os.environ)
    full_env.pop("TRACE_DIR", None)
    if env:
        full_env.update(env)
    p = subprocess.run([sys.executable, "-m", "trace_cli.main", *args], cwd=cwd, input=input,
                       capture_output=True, text=True, env=full_env)
    if check and p.returncode != 0:
        raise AssertionError(f"trace {' '.join(args)} failed ({p.returncode}): {p.stderr}")
    return p


@pytest.fixture
def cli():
    return run_cli


def run_in(rdir, *args, **kw):
    """`trace -C RDIR ARGS` in a real process (see run_cli)."""
    return run_cli("-C", rdir, *args, **kw)


def invoke_cli(*args, cwd=None, input=None, env=None, check=False):
    """`trace ARGS` run in this process through the real entry point (`trace_cli.main.main`:
    the same argument rewriting and the same translation of errors into one `error: ...` line
    and an exit status), with click's CliRunner isolating stdin, stdout, stderr and the
    environment. Returns a CompletedProcess like run_cli. The fast path is turned off (it ends
    the process with os._exit, which is made a SystemExit here in case it runs); TRACE_DIR is
    unset unless `env` sets it; `cwd` is entered for the call. An exception the entry point does
    not turn into an exit status propagates: in a real process it would be a traceback."""
    from click.testing import CliRunner

    import trace_cli.main as entry

    full_env = {"TRACE_DIR": None, "_TRACE_NO_FASTPATH": "1", **(env or {})}
    old_argv, old_cwd, real_exit = sys.argv, os.getcwd(), os._exit
    code = 0

    def no_hard_exit(status):       # a fast path that still runs must not end the test run
        raise SystemExit(status)

    with CliRunner().isolation(input=input, env=full_env) as (out, err, _):
        sys.argv = ["trace", *args]
        os._exit = no_hard_exit
        try:
            if cwd is not None:
                os.chdir(cwd)
            entry.main()
        except SystemExit as exc:
            if exc.code is None:
                code = 0
            elif isinstance(exc.code, int):
                code = exc.code
            else:                                   # as the interpreter does at exit
                sys.stderr.write(f"{exc.code}\n")
                code = 1
        finally:
            sys.argv, os._exit = old_argv, real_exit
            os.chdir(old_cwd)
            sys.stdout.flush()
            sys.stderr.flush()
        stdout = out.getvalue().decode("utf-8", "replace")
        stderr = err.getvalue().decode("utf-8", "replace")
    p = subprocess.CompletedProcess(["trace", *args], code, stdout, stderr)
    if check and code != 0:
        raise AssertionError(f"trace {' '.join(args)} failed ({code}): {stderr}")
    return p


def invoke(rdir, *args, **kw):
    """`trace -C RDIR ARGS` in this process (see invoke_cli)."""
    return invoke_cli("-C", rdir, *args, **kw)


@pytest.fixture
def rdir(tmp_path):
    """An empty repository (chars/4 token counting) made by `trace init`; its directory."""
    d = str(tmp_path / "r")
    invoke_cli("init", "--encoding", "chars/4", "-q", d, check=True)
    return d


def doc_blocks(section: str) -> list[tuple[str, str]]:
    """(language, text) of each fenced code block of `## SECTION` in docs/integrations.md, in
    order: every integration's tests run the examples its section gives."""
    path = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "docs",
                        "integrations.md")
    with open(path, encoding="utf-8") as f:
        text = f.read()
    start = text.index(f"\n## {section}\n")
    end = text.find("\n## ", start + 1)
    import re
    return re.findall(r"```(\w*)\n(.*?)```", text[start:end if end > 0 else None], re.S)


def python_block(section: str) -> str:
    """The first Python example of `## SECTION` in docs/integrations.md (doc_blocks)."""
    return next(text for lang, text in doc_blocks(section) if lang == "python")


def assert_one_line_error(p, *contains, code=1):
    """`p` (a finished command) failed as bad input must: exit status `code`, no traceback,
    and stderr exactly one line that starts `error: ` and holds each of `contains`."""
    assert p.returncode == code, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr, p.stderr
    lines = p.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), p.stderr
    for text in contains:
        assert text in lines[0], (text, p.stderr)


def assert_usage_error(p, *contains):
    """`p` was refused by the command-line parser: exit status 2, no traceback, nothing on
    stdout, and stderr ending in click's one `Error: ` line (after the usage, if click shows
    it) that holds each of `contains`."""
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "Traceback" not in p.stderr and p.stdout == "", (p.stdout, p.stderr)
    lines = p.stderr.rstrip("\n").splitlines()
    last = lines[-1] if lines else ""
    assert last.startswith("Error: ") and len(lines) in (1, 4), p.stderr
    assert len(lines) == 1 or lines[0].startswith("Usage: "), p.stderr
    for text in contains:
        assert text in last, (text, p.stderr)


# ---------------------------------------------------------------------------------------------
# A scripted LLM server on 127.0.0.1. Each request is recorded ({"path", "headers" (lower-case
# names), "body"}) and answered by the next action of `server.script`, or by `server.default`
# once the script is used up. An action is a function of the request handler.


def openai_ok(text="hello", p=12, c=3, model="gpt-test-2024", finish="stop") -> dict:
    """An OpenAI chat.completion document."""
    return {"id": "x", "object": "chat.completion", "model": model,
            "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                         "finish_reason": finish}],
            "usage": {"prompt_tokens": p, "completion_tokens": c, "total_tokens": p + c}}


def anthropic_ok(text="hi there", p=20, c=5, model="claude-test", finish="end_turn") -> dict:
    """An Anthropic messages document."""
    return {"id": "msg_1", "type": "message", "role": "assistant", "model": model,
            "content": [{"type": "text", "text": text}], "stop_reason": finish,
            "usage": {"input_tokens": p, "output_tokens": c}}


def reply(status=200, body=None, headers=None, chunked=False):
    """Answer with `status` and `body` (bytes, a JSON value, or a function of the request
    record giving either), `headers`, optionally in 4 KiB chunks."""
    def act(h):
        doc = body(h.record) if callable(body) else body
        data = doc if isinstance(doc, bytes) else json.dumps(doc).encode()
        h.send_response(status)
        h.send_header("Content-Type", "application/json")
        for k, v in (headers or {}).items():
            h.send_header(k, v)
        if chunked:
            h.send_header("Transfer-Encoding", "chunked")
            h.end_headers()
            for i in range(0, len(data), 4096):
                part = data[i:i + 4096]
                h.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            h.wfile.write(b"0\r\n\r\n")
        else:
            h.send_header("Content-Length", str(len(data)))
            h.end_headers()
            h.wfile.write(data)
    return act


def chat(text, p=120, c=12, finish=None):
    """A successful completion in the wire format the request asked in (Anthropic for a path
    ending in /messages, OpenAI otherwise), naming the model requested. `text` may be a
    function of the request record."""
    def doc(rec):
        t = text(rec) if callable(text) else text
        model = rec["body"].get("model", "m") if isinstance(rec["body"], dict) else "m"
        if rec["path"].endswith("/messages"):
            return anthropic_ok(t, p, c, model, finish or "end_turn")
        return openai_ok(t, p, c, model, finish or "stop")
    return reply(200, doc)


def garbage(h):
    """200 with an HTML body: not the JSON any provider sends."""
    reply(200, b"<html>502 bad gateway</html>")(h)


def hang(h):
    """Never answer (until the test ends); sets `server.hung` once the request is in."""
    h.server.hung.set()
    h.server.release.wait(30)


def drip(body):
    """Headers at once, then the body one byte at a time, 50 ms apart (5 s for 100 bytes)."""
    def act(h):
        data = json.dumps(body).encode()
        h.send_response(200)
        h.send_header("Content-Length", str(len(data)))
        h.end_headers()
        for b in data:
            if h.server.release.wait(0.05):
                return
            h.wfile.write(bytes([b]))
            h.wfile.flush()
    return act


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        n = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(n)
        try:
            body = json.loads(raw)
        except ValueError:
            body = raw
        srv = self.server
        self.record = {"path": self.path, "body": body,
                       "headers": {k.lower(): v for k, v in self.headers.items()}}
        with srv.lock:
            srv.requests.append(self.record)
            action = srv.script.pop(0) if srv.script else srv.default
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):  # the client gave up
            action(self)
        self.close_connection = True

    def log_message(self, *args):
        pass


class LLMServer(ThreadingHTTPServer):
    """The scripted server (see above); `url` is its root, e.g. http://127.0.0.1:PORT."""

    daemon_threads = True

    def __init__(self) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script: list = []
        self.requests: list = []
        self.default = reply(500, {"error": {"message": "script exhausted"}})
        self.lock = threading.Lock()
        self.release, self.hung = threading.Event(), threading.Event()
        self.url = f"http://127.0.0.1:{self.server_address[1]}"
        self._thread = threading.Thread(target=self.serve_forever,
                                        kwargs={"poll_interval": 0.05}, daemon=True)
        self._thread.start()

    def close(self) -> None:
        """Stop serving (idempotent): hung and dripping requests are let go."""
        self.release.set()
        if self._thread.is_alive():
            self.shutdown()
            self._thread.join()
            self.server_close()


def closed_port() -> int:
    """A port on 127.0.0.1 nothing listens on (bound once, then released)."""
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


@pytest.fixture
def llm_server():
    srv = LLMServer()
    yield srv
    srv.close()


# ---------------------------------------------------------------------------------------------
# A fake provider (duck-typed like trace_core.llm.Provider), for tests where HTTP is not the point


class FakeProvider:
    """Answers with `texts` in order, then `default`; raises `error` if given; calls `hook`
    first. Every call is recorded in `calls` ({"messages", "system", "max_tokens",
    "temperature"}). Each answer costs `usage` = (prompt tokens, completion tokens, dollars)."""

    name, model = "fake", "fake-1"

    def __init__(self, texts=(), *, default="Summary: tests fixed.", error=None, hook=None,
                 finish="stop", usage=(100, 10, 0.001)):
        self.texts = list(texts)
        self.default, self.error, self.hook, self.finish = default, error, hook, finish
        self.usage = usage
        self.calls: list = []

    def complete(self, messages, *, system=None, max_tokens=None, temperature=0.0):
        from trace_core.llm import ChatResult
        self.calls.append({"messages": messages, "system": system, "max_tokens": max_tokens,
                           "temperature": temperature})
        if self.hook:
            self.hook()
        if self.error:
            raise self.error
        text = self.texts.pop(0) if self.texts else self.default
        p, c, cost = self.usage
        return ChatResult(text, self.name, self.model, p, c, cost, self.finish, 5)


def _read_acks(fd: int, size: int, want=None) -> list:
    out, buf = [], b""
    while want is None or len(out) < want:
        data = os.read(fd, size - len(buf))
        if not data:
            assert buf == b"", "a torn acknowledgement"
            break
        buf += data
        if len(buf) == size:
            out.append(buf)
            buf = b""
    return out


def killed_after_acks(target, args: tuple, size: int, want: int) -> list:
    """Run `target(*args, ack_fd)` in a forked child that writes a `size`-byte acknowledgement
    to `ack_fd` after each durable step; SIGKILL it once `want` have arrived (mid-step) and
    return every acknowledgement it wrote before it died (a torn one fails the test)."""
    import multiprocessing as mp
    import signal
    rfd, wfd = os.pipe()
    p = mp.get_context("fork").Process(target=target, args=(*args, wfd))
    p.start()
    os.close(wfd)
    try:
        acked = _read_acks(rfd, size, want)
        os.kill(p.pid, signal.SIGKILL)
        p.join()
        acked += _read_acks(rfd, size, None)
    finally:
        os.close(rfd)
        if p.is_alive():
            p.kill()
            p.join()
    assert p.exitcode == -signal.SIGKILL
    return acked
