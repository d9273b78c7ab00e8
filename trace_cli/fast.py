"""The fast path: `--version`, help pages and common command lines of the read-only commands and
of the commands an agent runs every turn (commit, reset, checkout, switch, merge), run without
importing click.

Importing click and building its commands costs tens of milliseconds, a large part of the budget
of a whole `trace` process (docs: "any read-only CLI command <= 100 ms"). `try_fast` answers
`trace --version`, `trace --help`, `trace COMMAND --help` (and `trace GROUP SUB --help`) from the
declarations (trace_cli.help), and parses a command line of a command declared `fast`
(trace_cli.declare) from the same declaration click's command is built from, only when it is in
a plain form, with the meaning click gives it, and runs the same body. Anything else (help
mixed with other words, unknown or clustered options, `--`, bad values, missing arguments,
options marked fast=False, other commands) returns False, and click parses the line as usual,
with its own errors and help. tests/test_cli_fast.py checks that both agree.
"""

from __future__ import annotations

import contextlib
import os
import sys

from .declare import Argument, Choice, Command, Group, IntRange, Option

TYPE_CHECKING = False  # (typing is not imported for `--version` and `--help`)
if TYPE_CHECKING:
    from typing import NoReturn

GLOBAL_OPTS = {"-C": "directory", "--agent": "agent", "--color": "color"}
GLOBAL_FLAGS = {"--create": "create", "--no-pager": "no_pager", "-P": "no_pager"}
COLOR_MODES = ("auto", "always", "never")   # --color WHEN (main.py's click option too)
_META = ("--version", "-h", "--help")


class _NotFast(Exception):
    """The command line is not in a form the fast path handles: let click parse it."""


def _value(opt: Option, text: str):
    t = opt.type
    if t is str:
        return text
    if isinstance(t, IntRange) and t.max is None and (t.min or 0) >= 0:
        if not (text.isascii() and text.isdigit()):
            raise _NotFast
        n = int(text)
        if n < (t.min or 0):
            raise _NotFast
        return n
    if isinstance(t, Choice) and text in t.values:
        return text
    raise _NotFast


def _split(tok: str) -> tuple:
    """(option name, attached value or None) of an option token."""
    if tok.startswith("--"):
        name, eq, rest = tok.partition("=")
        return name, (rest if eq else None)
    if len(tok) > 2:            # -n5 (a value); clusters of flags (-tp) are left to click
        return tok[:2], tok[2:]
    return tok, None


def _option(opts: dict, args: list, i: int, out: dict) -> int:
    """Parse the option at args[i] into out; return the index after it."""
    name, attached = _split(args[i])
    opt = opts.get(name)
    if opt is None or not opt.fast or opt.multiple or opt.optional_value or "/" in opt.names[0]:
        raise _NotFast
    if opt.is_flag:
        if attached is not None:
            raise _NotFast
        out[opt.dest] = True if opt.flag_value is None else opt.flag_value
        return i + 1
    if attached is None:
        if i + 1 >= len(args):
            raise _NotFast
        out[opt.dest] = _value(opt, args[i + 1])
        return i + 2
    out[opt.dest] = _value(opt, attached)
    return i + 1


def _default(opt: Option):
    if opt.multiple:  # as click: an absent multiple option is an empty tuple
        return tuple(opt.default or ())
    if opt.is_flag and opt.flag_value is not None:
        return opt.flag_value if opt.default is True else opt.default
    return opt.default


def parse_command(cmd: Command, rest: list) -> dict | None:
    """The keyword arguments click would pass `cmd`'s body for the arguments `rest`, or None
    when the fast path leaves the line to click."""
    opts = {n: p for p in cmd.params if isinstance(p, Option) for n in p.names}
    try:
        kw: dict = {}
        args = []
        j = 0
        while j < len(rest):
            tok = rest[j]
            if tok.startswith("-") and len(tok) > 1:
                if tok == "--":
                    return None
                j = _option(opts, rest, j, kw)
            else:
                args.append(tok)
                j += 1
    except _NotFast:
        return None
    given = set(kw)
    for p in cmd.params:
        if isinstance(p, Option):
            # flags sharing a dest (--ff-only/--no-ff/--ff): the one marked default wins
            if p.dest not in given and (p.dest not in kw or kw[p.dest] is None):
                kw[p.dest] = _default(p)
            continue
        assert isinstance(p, Argument)
        if p.type is not str:
            return None
        if p.nargs == -1:
            if p.required and not args:
                return None
            kw[p.dest], args = tuple(args), []
        elif args:
            kw[p.dest] = args.pop(0)
        elif p.required:
            return None
        else:
            kw[p.dest] = p.default
    return None if args else kw


def declaration(name: str):
    """The declaration of command `name` (importing its module), or None."""
    from .registry import COMMANDS

    spec = COMMANDS.get(name)
    if spec is None:
        return None
    import importlib
    return getattr(importlib.import_module(spec[0]), spec[1])


def _globals(argv: list) -> tuple:
    """(global options, index of the first word after them), or (None, 0) when a word there is
    not a global option the fast path knows."""
    obj: dict = {}
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", *_META):
        name, attached = _split(argv[i])
        if attached is None and name in GLOBAL_FLAGS:
            obj[GLOBAL_FLAGS[name]] = True
            i += 1
            continue
        dest = GLOBAL_OPTS.get(name)
        if dest is None:
            return None, 0
        if attached is None:
            if i + 1 >= len(argv):
                return None, 0
            attached, i = argv[i + 1], i + 1
        if dest == "color" and attached not in COLOR_MODES:
            return None, 0           # click says what --color takes
        obj[dest] = attached
        i += 1
    return obj, i


def meta_page(argv: list) -> str | None:
    """What click prints for `--version`, `--help`/`-h` alone, `COMMAND --help` or `GROUP SUB
    --help` (after global options), or None for any other line."""
    obj, i = _globals(argv)
    if obj is None or not argv:
        return None
    rest = argv[i:]
    if rest == ["--version"]:
        from . import __version__
        return f"trace, version {__version__}"
    if not rest or rest[-1] not in ("-h", "--help"):
        return None
    from . import help

    if len(rest) == 1:
        return help.root_help()
    decl = declaration(rest[0])
    if len(rest) == 3 and isinstance(decl, Group):
        decl = next((c for c in decl.commands if c.name == rest[1]), None)
    elif len(rest) != 2:
        return None
    if decl is None or rest[-1] not in help.help_names(decl):
        return None
    return help.command_help(decl, " ".join((help.PROG, *rest[:-1])))


def parse(argv: list):
    """(command declaration, global options, keyword arguments), or None to let click parse argv."""
    obj, i = _globals(argv)
    if obj is None or i >= len(argv):
        return None
    cmd = declaration(argv[i])
    if not isinstance(cmd, Command) or not cmd.fast:
        return None
    kw = parse_command(cmd, argv[i + 1:])
    return None if kw is None else (cmd, obj, kw)


def try_fast(argv: list) -> bool:
    """Run argv through the fast path if it can (this exits the process); False if it cannot."""
    page = meta_page(argv)
    if page is not None:
        try:
            sys.stdout.write(page + "\n")
        except BrokenPipeError:
            _exit(1)
        _exit(0)
    parsed = parse(argv)
    if parsed is None:
        return False
    cmd, obj, kw = parsed
    obj = {"directory": obj.get("directory"), "trace_dir": os.environ.get("TRACE_DIR") or None,
           "agent": obj.get("agent"), "create": bool(obj.get("create")),
           "color": obj.get("color"), "no_pager": bool(obj.get("no_pager"))}
    from . import pager
    from .util import begin, guarded

    begin(obj)
    pager.start(cmd.name, obj, kw)
    try:
        guarded(lambda: cmd.body(obj, **kw))
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)  # not reached: guarded exits


def _exit(code) -> NoReturn:
    """Flush and end the process without the interpreter's teardown.

    The command has closed what it opened (repositories are used in `with` blocks); what is
    left is freeing every object one by one, which costs ~8 ms after a 10,000-commit log."""
    if code is None:
        code = 0
    elif not isinstance(code, int):
        sys.stderr.write(f"{code}\n")
        code = 1
    try:
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: as guarded() treats one
        code = code or 1
    with contextlib.suppress(OSError, ValueError):
        sys.stderr.flush()
    pager = sys.modules.get("trace_cli.pager")
    if pager is not None:
        pager.finish()        # (os._exit runs no atexit handler)
    os._exit(code)
