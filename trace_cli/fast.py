"""The fast path: common command lines of the read-only commands, run without importing click.

Importing click and building its commands costs about 30 ms, a third of the budget of a whole
`trace` process (docs: "any read-only CLI command <= 100 ms"). `try_fast` parses a command line
only when it is in the plain forms below, with the same meaning click gives it, and runs the
same function the click command runs (`trace_cli.commands`). Anything else (help, --version,
unknown or clustered options, `--`, bad values, missing arguments, other commands) returns
False, and click parses the line as usual, with its own errors and help.

SPECS mirrors the click declarations in view_cmds, graph_cmds, dag_cmds, ref_cmds and
plumbing_cmds;
tests/test_cli_fast.py checks that they agree.
"""

from __future__ import annotations

import os
import sys

FLAG, STR, UINT0, UINT1 = "flag", "str", "uint0", "uint1"


def _choice(*values):
    return ("choice", values)


def _const(value):
    return ("const", value)


JSON = {"--json": ("as_json", FLAG)}

# command -> (module.function in trace_cli.commands, {option: (parameter, kind)}, positionals, defaults)
# positionals: (parameter, nargs (1 or -1), required, default)
SPECS: dict = {
    "log": ("history.log", {"--oneline": ("oneline", FLAG), "-n": ("limit", UINT0),
                    "--max-count": ("limit", UINT0), "--first-parent": ("first_parent", FLAG),
                    "--no-pager": ("no_pager", FLAG), **JSON},
            [("revs", -1, False, ())], {}),
    "status": ("views.status", dict(JSON), [], {}),
    "diff": ("views.diff", dict(JSON), [("a", 1, False, None), ("b", 1, False, None)], {}),
    "show": ("views.show", dict(JSON), [("rev", 1, False, "HEAD")], {}),
    "context": ("views.context", {"--format": ("fmt", _choice("openai", "anthropic", "text", "json"))},
                [("rev", 1, False, "HEAD")], {"fmt": "openai"}),
    "config": ("views.config", {"--get": ("action", _const("get")), "--unset": ("action", _const("unset")),
                          "--list": ("action", _const("list")), "-l": ("action", _const("list"))},
               [("key", 1, False, None), ("value", 1, False, None)], {}),
    "rev-list": ("history.rev_list", {"-n": ("limit", UINT0), "--max-count": ("limit", UINT0),
                              "--first-parent": ("first_parent", FLAG),
                              "--count": ("count_only", FLAG), **JSON},
                 [("revs", -1, False, ())], {}),
    "merge-base": ("history.merge_base", {"--all": ("all_bases", FLAG), "--is-ancestor": ("is_ancestor", FLAG)},
                   [("a", 1, True, None), ("b", 1, True, None)], {}),
    "cat-object": ("objects.cat_object", {"-t": ("show_type", FLAG), "-s": ("show_size", FLAG),
                                  "-p": ("pretty", FLAG), "-e": ("exists", FLAG), **JSON},
                   [("object", 1, True, None)], {}),
    "ls-snapshot": ("objects.ls_snapshot", {"--long": ("long_", FLAG), "-l": ("long_", FLAG), **JSON},
                    [("rev", 1, False, "HEAD")], {}),
    # --short takes an optional value: left to click
    "rev-parse": ("refs.rev_parse", {"--symbolic-full-name": ("symbolic_full_name", FLAG),
                                "--verify": ("verify", FLAG)},
                  [("revs", -1, True, ())], {"short": None}),
    "for-each-ref": ("refs.for_each_ref", {"--format": ("fmt", STR), **JSON},
                     [("prefix", 1, False, "refs/")], {}),
    "symbolic-ref": ("refs.symbolic_ref", {"--short": ("short", FLAG), "-m": ("message", STR)},
                     [("name", 1, True, None), ("target", 1, False, None)], {"message": ""}),
    "check-ref-format": ("refs.check_ref_format", {"--allow-onelevel": ("allow_onelevel", FLAG),
                                              "--quiet": ("quiet", FLAG), "-q": ("quiet", FLAG)},
                         [("name", 1, True, None)], {}),
    "reflog": ("refs.reflog", {"-n": ("limit", UINT1), **JSON}, [("ref", 1, False, "HEAD")], {}),
    "graph": ("graph.graph", {"--all": ("all_refs", FLAG), "-n": ("limit", UINT0),
                              "--max-count": ("limit", UINT0),
                              "--color": ("color", _choice("auto", "always", "never")),
                              "--no-pager": ("no_pager", FLAG), **JSON},
              [("revs", -1, False, ())], {"color": "auto"}),
}

GLOBAL_OPTS = {"-C": ("directory", STR), "--agent": ("agent", STR)}


class _NotFast(Exception):
    """The command line is not in a form the fast path handles: let click parse it."""


def _value(kind, text: str):
    if kind == STR:
        return text
    if kind in (UINT0, UINT1):
        if not (text.isascii() and text.isdigit()):
            raise _NotFast
        n = int(text)
        if kind == UINT1 and n < 1:
            raise _NotFast
        return n
    if kind[0] == "choice" and text in kind[1]:
        return text
    raise _NotFast


def _option(opts: dict, args: list, i: int, out: dict) -> int:
    """Parse the option at args[i] into out; return the index after it."""
    tok = args[i]
    attached = None
    if tok.startswith("--"):
        name, eq, rest = tok.partition("=")
        if eq:
            attached = rest
    elif len(tok) > 2:          # -n5 (a value); clusters of flags (-tp) are left to click
        name, attached = tok[:2], tok[2:]
    else:
        name = tok
    spec = opts.get(name)
    if spec is None:
        raise _NotFast
    dest, kind = spec
    if kind == FLAG or kind[0] == "const":
        if attached is not None:
            raise _NotFast
        out[dest] = True if kind == FLAG else kind[1]
        return i + 1
    if attached is None:
        if i + 1 >= len(args):
            raise _NotFast
        out[dest] = _value(kind, args[i + 1])
        return i + 2
    out[dest] = _value(kind, attached)
    return i + 1


def parse(argv: list):
    """(function name, global options, keyword arguments), or None to let click parse argv."""
    try:
        obj: dict = {}
        i = 0
        while i < len(argv) and argv[i].startswith("-") and argv[i] != "-":
            i = _option(GLOBAL_OPTS, argv, i, obj)
        if i >= len(argv) or argv[i] not in SPECS:
            return None
        fn, opts, positionals, defaults = SPECS[argv[i]]
        kw: dict = {}
        args = []
        rest = argv[i + 1:]
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
        for dest, kind in opts.values():
            if dest not in kw:
                kw[dest] = defaults.get(dest, False if kind == FLAG else None)
        for dest, nargs, required, default in positionals:
            if nargs == -1:
                if required and not args:
                    return None
                kw[dest], args = tuple(args), []
            elif args:
                kw[dest] = args.pop(0)
            elif required:
                return None
            else:
                kw[dest] = default
        if args:
            return None
        for k, v in defaults.items():
            kw.setdefault(k, v)
    except _NotFast:
        return None
    return fn, obj, kw


def try_fast(argv: list) -> bool:
    """Run argv through the fast path if it can (this exits the process); False if it cannot."""
    parsed = parse(argv)
    if parsed is None:
        return False
    fn, obj, kw = parsed
    obj = {"directory": obj.get("directory"), "trace_dir": os.environ.get("TRACE_DIR") or None,
           "agent": obj.get("agent")}
    import importlib

    from .util import guarded

    mod, name = fn.split(".")
    func = getattr(importlib.import_module(f"trace_cli.commands.{mod}"), name)
    try:
        guarded(lambda: func(obj, **kw))
    except SystemExit as exc:
        _exit(exc.code)
    _exit(0)  # not reached: guarded exits


def _exit(code) -> None:
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
    try:
        sys.stderr.flush()
    except (OSError, ValueError):
        pass
    os._exit(code)
