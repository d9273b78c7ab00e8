"""The pager: `log`, `graph`, `show`, `diff` and `context` page their output on a terminal, as
git's do.

Which program: TRACE_PAGER, else core.pager from your own configuration (the global file,
TRACE_CONFIG_*, `-c`; never a repository's, since it runs a program: docs/security.md), else
PAGER, else `less`; an empty value or `cat` means none. `less` is given LESS=FRX (quit when the
output fits one screen, keep colors, leave the screen as it is) unless LESS is set, and `lv`
LV=-c, as git does. Nothing is paged when standard output is not a terminal, nor with
`--no-pager` / `-P` (or a command's own `--no-pager`).

The pager reads the command's standard output: file descriptor 1 becomes the pipe to it, so
every way the command writes (print, sys.stdout, the fast path) goes there, and `finish`
(called at exit) closes the pipe and waits for the pager to end, as git waits for its pager.
"""

from __future__ import annotations

import os
import sys

#: the commands whose output is paged on a terminal
PAGED = frozenset({"log", "graph", "show", "diff", "context"})
_DEFAULT = "less"
# git's run-command: a command with none of these runs without a shell
_SHELL_CHARS = set("|&;<>()$`\\\"' \t\n*?[#~=%")

_proc = None


def pager_command(obj: dict) -> str | None:
    """The pager program line for the global options `obj`, or None for no pager."""
    cmd = os.environ.get("TRACE_PAGER")
    if cmd is None:             # (a user-only key: a repository never names the program)
        from .settings import user_value
        cmd = user_value(obj, "core.pager")
    if cmd is None:
        cmd = os.environ.get("PAGER")
    if cmd is None:
        cmd = _DEFAULT
    cmd = cmd.strip()
    return None if cmd in ("", "cat") else cmd


def wanted(name: str, obj: dict, kw: dict) -> bool:
    """Whether command `name` with global options `obj` and parameters `kw` pages its output."""
    return (name in PAGED and not obj.get("no_pager") and not kw.get("no_pager")
            and _proc is None and sys.stdout.isatty())


def start(name: str, obj: dict, kw: dict) -> bool:
    """Send standard output to the pager if command `name` pages (see `wanted`); True if it
    does. A pager that cannot be started leaves the output on the terminal (as git)."""
    if not wanted(name, obj, kw):
        return False
    cmd = pager_command(obj)
    if cmd is None:
        return False
    import atexit
    import subprocess

    env = dict(os.environ)
    env.setdefault("LESS", "FRX")
    env.setdefault("LV", "-c")
    argv = ["sh", "-c", cmd] if _SHELL_CHARS & set(cmd) else [cmd]
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, env=env)
    except OSError:
        return False
    global _proc
    _proc = proc
    sys.stdout.flush()
    assert proc.stdin is not None
    os.dup2(proc.stdin.fileno(), sys.stdout.fileno())
    proc.stdin.close()
    from .util import paging
    paging()
    atexit.register(finish)
    return True


def finish() -> None:
    """Close the pipe to the pager and wait until the user leaves it (Ctrl-C goes to the
    pager, as under git)."""
    global _proc
    proc, _proc = _proc, None
    if proc is None:
        return
    import contextlib
    import signal

    with contextlib.suppress(OSError, ValueError):
        sys.stdout.flush()
    with contextlib.suppress(OSError, ValueError):   # fd 1 (the pipe's last writer) -> null
        null = os.open(os.devnull, os.O_WRONLY)
        os.dup2(null, sys.stdout.fileno())
        os.close(null)
    old = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        proc.wait()
    finally:
        signal.signal(signal.SIGINT, old)
