"""What every command shares: opening the repository, output, JSON, errors as one line.

Importing this module does not import click (nor json): the fast path in `trace_cli.fast` runs
the common read-only commands without click, on the same code as the click commands.
"""

from __future__ import annotations

import contextlib
import os
import sys
from contextlib import contextmanager

# Exit statuses (docs/porcelain.md, "Exit codes"): the same meaning for every command.
EXIT_OK = 0
EXIT_ERROR = 1        # an error (one `error: ...` line), or a question answered "no" (fsck
                      # findings, cat-object -e, merge-base --is-ancestor, check-ref-format, a
                      # merge, rebase, cherry-pick or revert stopped at conflicts)
EXIT_USAGE = 2        # the command line is wrong (click's usage errors, and ours)
EXIT_INTERNAL = 3     # an unexpected exception: a bug (TRACE_DEBUG=1 shows the traceback)
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT)

# click.style's codes for the colors the commands use
_FG = {"red": 31, "green": 32, "yellow": 33, "cyan": 36}

# color.ui's values (git's: `true` means auto since git 1.8.4) -> a --color mode
_UI_MODES = {"auto": "auto", "always": "always", "never": "never", "true": "auto",
             "false": "never"}

# this command's output settings (`begin` sets them from the global options; `open_repo` adds
# the repository's color.ui; `pager` records that standard output goes to a pager)
_OUT: dict = {}


def begin(obj: dict) -> None:
    """Start a command's output settings afresh from its global options (`--color`,
    `--no-pager`): one process (or one in-process test) may run several commands."""
    _OUT.clear()
    _OUT["flag"] = obj.get("color")
    _OUT["params"] = obj.get("config_params")


def color_mode() -> str:
    """"always", "never" or "auto": the first that says, of `--color=WHEN`, NO_COLOR (any
    non-empty value: never, https://no-color.org), color.ui (the repository's and your own
    configuration, once a repository is open; your own before), else auto."""
    mode = _OUT.get("mode")
    if mode is None:
        mode = _OUT.get("flag")
        if mode is None and os.environ.get("NO_COLOR"):
            mode = "never"
        if mode is None:
            if "ui" in _OUT:
                ui = _OUT["ui"]
            else:               # no repository open: your own configuration
                from .settings import user_value
                ui = user_value({"config_params": _OUT.get("params")}, "color.ui")
            mode = _UI_MODES.get((ui or "auto").strip().lower(), "auto")
        _OUT["mode"] = mode
    return mode


def _set_color_ui(repo) -> None:
    """Take color.ui from an opened repository's effective settings (trace_core.settings)."""
    from trace_core.config import validate_value
    from trace_core.errors import TraceError
    try:
        ui = repo.config.get("color.ui")
        if ui is not None:
            validate_value("color.ui", ui)     # a hand-written bad value: said, then auto
    except TraceError as exc:
        warn(f"{_one_line(str(exc))}; colour is auto")
        ui = None
    _OUT["ui"] = ui
    _OUT.pop("mode", None)


def paging() -> None:
    """Record that standard output is now the pipe to the pager (trace_cli.pager): colour
    under auto follows the terminal the pager shows it on."""
    _OUT["paging"] = True
    _OUT.pop("mode", None)


def color_enabled(err: bool = False) -> bool:
    """Whether output to standard output (`err`: standard error) is colored: the one decision
    every command's colors go through. auto: when the stream is a terminal, or is the pipe to
    the pager (trace_cli.pager), which shows the colors on the terminal."""
    mode = color_mode()
    if mode != "auto":
        return mode == "always"
    if err:
        return sys.stderr.isatty()
    return bool(_OUT.get("paging")) or sys.stdout.isatty()


def root_obj(ctx) -> dict:
    """The global options (-C, --agent, TRACE_DIR) of a click context, or a dict of them."""
    if isinstance(ctx, dict):
        return ctx
    return ctx.find_root().obj or {}


def open_repo(ctx):
    """The repository named by -C, TRACE_DIR, or found by walking up from the working dir,
    with the user's own settings (trace_cli.settings: the global config file, TRACE_CONFIG_*,
    -c flags) layered around its config (docs/security.md).

    `ctx` is a click context or the dict of global options."""
    from trace_core.repository import Repository

    from .settings import user_settings

    obj = root_obj(ctx)
    check_directory(obj)
    agent = obj.get("agent")
    create = bool(obj.get("create"))
    user, overrides = user_settings(obj)
    if obj.get("trace_dir") and not obj.get("directory"):
        repo = Repository.open(obj["trace_dir"], agent=agent, user_config=user,
                               overrides=overrides, create=create)
    else:
        repo = Repository.discover(obj.get("directory") or ".", agent=agent, user_config=user,
                                   overrides=overrides, create=create)
    repo.on_warning = warn  # the library's warnings (repo.warn) go to stderr as they happen
    if "TRACE_HOOK" not in os.environ:  # (a hook program's own trace commands run none)
        repo.enable_hook_programs(os.environ)   # hooks.post-* settings (docs/inspect.md)
    if repo.config.declares("policy."):   # (docs/policy.md: evaluated after each commit;
        # checked before importing trace_core.policy, which a command without policies never loads)
        from .llm_support import make_provider
        runner = repo.enable_policies(lambda: make_provider(repo))
        if runner is not None:
            runner.report = lambda text: echo(text, err=True)
    for text in repo.warnings:    # (any given while it opened)
        warn(text)
    repo.warnings.clear()
    _set_color_ui(repo)
    if _OUT.get("paging"):         # a repository's core.pager is ignored: say so (its warning)
        repo.config.get("core.pager")
    return repo


def check_directory(obj: dict) -> None:
    """-C DIR must exist (git's wording and a usage error's status when it does not); `trace
    -C DIR init` creates DIR instead and does not call this."""
    d = obj.get("directory")
    if d and not os.path.isdir(d):
        why = "Not a directory" if os.path.exists(d) else "No such file or directory"
        fail(f"cannot change to '{d}': {why}", EXIT_USAGE)


def repo_dir(ctx, path: str | None = None) -> str:
    """The .trace directory of the repository at `path`, else the one open_repo would open
    (found without opening it: `trace trust` must work on a repository it cannot open)."""
    from trace_core.errors import RepositoryError
    from trace_core.state import FORMAT_FILE, find_trace_dir

    obj = root_obj(ctx)
    if path is None:
        check_directory(obj)
    if path is None and obj.get("trace_dir") and not obj.get("directory"):
        cand = find_trace_dir(obj["trace_dir"])
        if os.path.isdir(cand):
            return cand
        raise RepositoryError(f"no trace repository at {os.path.abspath(obj['trace_dir'])}")
    start = os.path.abspath(path or obj.get("directory") or ".")
    cur = start
    while True:
        cand = find_trace_dir(cur)
        if os.path.isfile(os.path.join(cand, FORMAT_FILE)):
            return cand
        if path is not None:      # an explicit path names the repository itself
            raise RepositoryError(f"no trace repository at {start}")
        parent = os.path.dirname(cur)
        if parent == cur:
            raise RepositoryError(f"not in a trace repository (or any parent of {start})")
        cur = parent


def base_dir(ctx) -> str:
    return root_obj(ctx).get("directory") or "."


def echo(message="", err: bool = False, nl: bool = True) -> None:
    """Print one line (`nl=False`: no newline) and flush, like click.echo for text; ANSI escapes
    are dropped unless the stream is colored (color_enabled)."""
    f = sys.stderr if err else sys.stdout
    text = f"{message}\n" if nl else str(message)
    if "\x1b" in text and not color_enabled(err):
        import re
        text = re.sub(r"\033\[[0-?]*[ -/]*[@-~]", "", text)
    f.write(text)
    f.flush()


def style(text: str, fg: str, err: bool = False) -> str:
    """`text` in color when standard output (`err`: standard error) is colored (click.style's
    escape codes)."""
    return f"\x1b[{_FG[fg]}m{text}\x1b[0m" if color_enabled(err) else text


def echo_err_styled(text: str, fg: str) -> None:
    """A colored line on stderr (plain unless stderr is colored)."""
    echo(style(text, fg, err=True), err=True)


def emit_json(value) -> None:
    import json
    echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


class CommandExit(SystemExit):
    """Ends a command with an exit status (its message, if any, is already printed)."""


def fail(message: str, code: int = EXIT_ERROR) -> None:
    raise CommandExit(_err(message, code))


def _err(message: str, code: int) -> int:
    _flush_quietly()
    echo(f"error: {message}", err=True)
    return code


def warn(message: str) -> None:
    echo(f"warning: {message}", err=True)


def progress(label: str):
    """A progress callback drawing a bar on a terminal's stderr, or None when not a terminal."""
    if not sys.stderr.isatty():
        return None

    def update(done: int, total: int | None = None) -> None:
        if total:
            pct = min(100, int(done * 100 / total))
            bar = "#" * (pct // 4)
            sys.stderr.write(f"\r{label}: [{bar:<25}] {pct:3d}% ({done}/{total})")
        else:
            sys.stderr.write(f"\r{label}: {done}")
        sys.stderr.flush()
    return update


def end_progress(cb) -> None:
    if cb is not None:
        sys.stderr.write("\n")


def read_input(path: str | None, use_stdin: bool, limit: int | None = None) -> bytes:
    """The bytes of FILE or standard input; with `limit`, more than `limit` bytes end the
    command with one line before more is read (memory stays bounded)."""
    n = -1 if limit is None else limit + 1
    if use_stdin or path in (None, "-"):
        data = sys.stdin.buffer.read(n)
    else:
        try:
            with open(path, "rb") as f:
                data = f.read(n)
        except OSError as exc:
            fail(f"cannot read {path}: {exc.strerror}")
            raise  # unreachable
    if limit is not None and len(data) > limit:
        what = "standard input" if use_stdin or path in (None, "-") else path
        fail(f"{what} is larger than {limit} bytes")
    return data


def decode_utf8(data: bytes, what: str = "input") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{what} is not valid UTF-8 (byte {exc.start})")
        raise


def text_arg(value: str | None, what: str) -> str | None:
    """A command-line argument that becomes stored text, refused if it is not UTF-8.

    Python hands argument bytes that are not UTF-8 to us as lone surrogates (PEP 383); text
    holding one cannot be stored, so it ends the command with one line naming the argument and
    the offending byte."""
    if value is None or value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        at = len(value[:exc.start].encode("utf-8", "surrogateescape"))
        fail(f"{what} is not valid UTF-8 (byte {at})")
    return value


def parse_json(text: str, what: str = "input"):
    import json
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        fail(f"{what} is nested too deeply")
    except ValueError:      # an integer of more digits than Python converts (4300)
        fail(f"{what} holds a number too long to read")


def guarded(fn) -> None:
    """Call fn() and exit: library errors become `error: ...` and a non-zero status, never a
    traceback. (Click's own exceptions are handled by `run`.)"""
    from trace_core.errors import TraceError

    try:
        rv = fn()
    except TraceError as exc:
        _flush_quietly()
        echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        with contextlib.suppress(OSError):   # stays open: the interpreter flushes it at exit
            sys.stdout = open(os.devnull, "w")  # noqa: SIM115
        sys.exit(0 if _OUT.get("paging") else EXIT_ERROR)   # (quitting the pager early is fine)
    except KeyboardInterrupt:
        sys.exit(EXIT_INTERRUPTED)
    except RecursionError:
        _flush_quietly()
        echo("error: input is nested too deeply", err=True)
        sys.exit(EXIT_ERROR)
    except MemoryError:
        _flush_quietly()
        echo("error: out of memory", err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        _flush_quietly()
        echo(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "),
             err=True)
        sys.exit(EXIT_ERROR)
    except Exception as exc:
        # the last line of defence: an exception no code meant to raise is a bug; say so in one
        # line with its own status, and show the traceback only when asked to
        if os.environ.get("TRACE_DEBUG"):
            raise
        _flush_quietly()
        detail = " ".join(str(exc).split())[:200]
        echo(f"error: internal error: {type(exc).__name__}{': ' + detail if detail else ''} "
             f"(a bug in trace; TRACE_DEBUG=1 shows the traceback)", err=True)
        sys.exit(EXIT_INTERNAL)
    sys.exit(rv if isinstance(rv, int) else EXIT_OK)


def _flush_quietly() -> None:
    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()


def run(cli) -> None:
    """Run the click CLI turning library errors into `error: ...` and a non-zero exit."""
    import click

    def call():
        try:
            return cli.main(standalone_mode=False, prog_name="trace")
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(EXIT_INTERRUPTED)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
    guarded(call)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"


@contextmanager
def edited(text: str, suffix: str, what: str, rerun: str):
    """Let the user edit `text` in $VISUAL / $EDITOR (vi if neither is set) and yield the edited
    text. A failing editor or bytes that are not UTF-8 end the command with one line. If the
    block raises a TraceError (a typo in the edit, say), the edited file is kept and its path
    is added to the error (`rerun` names the option that reads it back, e.g. --todo)."""
    import subprocess
    import tempfile

    from trace_core.errors import TraceError
    editor = os.environ.get("VISUAL") or os.environ.get("EDITOR") or "vi"
    fd, path = tempfile.mkstemp(prefix="trace-", suffix=suffix)
    keep = False
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
        rc = subprocess.run(["sh", "-c", f'{editor} "$@"', editor, path]).returncode
        if rc != 0:
            fail(f"the editor ({editor}) exited with status {rc}; nothing changed")
        with open(path, "rb") as f:
            result = decode_utf8(f.read(), what)
        try:
            yield result
        except (TraceError, CommandExit) as exc:
            if not any(ln.strip() and not ln.lstrip().startswith("#")
                       for ln in result.splitlines()):
                raise                  # nothing written worth keeping
            keep = True
            note = f"your edit is kept: fix it and run again with {rerun} {path}"
            if isinstance(exc, CommandExit):       # its error line is printed already
                warn(note)
                raise
            raise type(exc)(f"{exc} ({note})") from None
    finally:
        if not keep:
            with contextlib.suppress(OSError):
                os.unlink(path)


def commit_line(repo, commit) -> str:
    """`[branch 12-hex] summary`, as git prints a new commit (`detached HEAD` when detached)."""
    from trace_core.refs import shorten

    branch = repo.head_branch()
    where = shorten(branch) if branch and branch.startswith("refs/heads/") else "detached HEAD"
    if repo.agent_name:   # a sub-agent's commit says whose it is
        where = f"{repo.agent_name}: {where}"
    return f"[{where} {commit.hex[:12]}] {commit.summary}"
