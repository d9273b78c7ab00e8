"""`--help` without click: help pages rendered from the declarations.

The layout is click's (usage line, help text, options, commands; wrapped to the terminal width
clamped to 78 columns), so a page reads the same whichever path printed it;
tests/test_cli_fast.py compares every page with click's at several widths. The top-level page
lists commands from `registry.SUMMARY`, so it imports no command module.
"""

from __future__ import annotations

import os
import sys
import textwrap

from .declare import Argument, Choice, Command, FloatRange, Group, IntRange, Option

PROG = "trace"
HELP_NAMES = ("-h", "--help")
ROOT_HELP = "Trace: version control for the context windows of LLM agents."
ROOT_OPTIONS = (
    ("-C DIR", "Run as if started in DIR (or use the .trace repository DIR)."),
    ("--agent NAME", "Work in the namespace of sub-agent NAME."),
    ("--create", "Create the --agent namespace if it does not exist."),
    ("-c KEY=VALUE", "Set a config value for this command (above the repository's and your "
                     "global config; docs/security.md)."),
    ("--color WHEN", "Color output: auto (on a terminal), always or never (above NO_COLOR and "
                     "color.ui)."),
    ("-P, --no-pager", "Do not page output (log, graph, show, diff, context) on a terminal."),
    ("--version", "Show the version and exit."),
)

# the sections of the top-level page, in order, as `git help` groups its commands; a command
# listed in none (one added later) is shown under OTHER, so none is ever missing from the page
GROUPS = (
    ("Start a repository", ("init", "config", "trust")),
    ("Everyday work", ("commit", "status", "log", "show", "diff", "context", "reset",
                       "checkout")),
    ("Branches and merging", ("branch", "switch", "tag", "merge", "rebase", "cherry-pick",
                              "revert", "resolve")),
    ("Context management", ("compress", "reorder", "policy", "manage", "llm")),
    ("Sub-agents", ("spawn", "collapse", "abandon", "agents", "expand")),
    ("Sharing", ("clone", "remote", "fetch", "push", "pull")),
    ("Inspection", ("graph", "blame", "audit", "web")),
    ("Integrations", ("mcp", "import", "export", "export-otel", "record-usage")),
    ("Maintenance", ("fsck", "gc", "repack", "prune", "reindex", "verify-pack",
                     "count-objects")),
    ("Plumbing", ("hash-object", "cat-object", "write-snapshot", "ls-snapshot", "commit-tree",
                  "update-ref", "symbolic-ref", "check-ref-format", "rev-parse", "for-each-ref",
                  "reflog", "rev-list", "merge-base")),
)
OTHER = "Other commands"


def help_names(decl) -> tuple:
    """The spellings of a command's help option: -h and --help, less any an option takes."""
    taken = {n for p in getattr(decl, "params", ()) if isinstance(p, Option)
             for name in p.names for n in name.split("/")}
    return tuple(n for n in HELP_NAMES if n not in taken)


def _help_row(decl) -> tuple:
    return ", ".join(help_names(decl)), "Show this message and exit."


def width() -> int:
    """The page width: the terminal's (COLUMNS first, 80 if unknown), at most 78, at least 50."""
    text = os.environ.get("COLUMNS", "")
    cols = int(text) if text.isascii() and text.isdigit() else 0
    if cols <= 0:
        try:
            cols = os.get_terminal_size(sys.__stdout__.fileno()).columns  # type: ignore[union-attr]
        except (AttributeError, ValueError, OSError):
            cols = 0
        cols = cols or 80
    return max(min(cols, 80) - 2, 50)


class _Wrapper(textwrap.TextWrapper):
    """A word that does not fit is cut at the width, not at a hyphen."""

    def _handle_long_word(self, chunks, cur_line, cur_len, width):
        left = max(width - cur_len, 1)
        if self.break_long_words:
            cur_line.append(chunks[-1][:left])
            chunks[-1] = chunks[-1][left:]
        elif not cur_line:
            cur_line.append(chunks.pop())


def _wrap(text: str, width: int, indent: str = "", later: str | None = None,
          paragraphs: bool = False) -> str:
    """Fill `text`; with `paragraphs`, each blank-line separated paragraph on its own, keeping
    its first line's indentation, and a paragraph opening with a "\\b" line kept as written."""
    w = _Wrapper(width, initial_indent=indent,
                 subsequent_indent=indent if later is None else later, replace_whitespace=False)
    text = text.expandtabs()
    if not paragraphs:
        return w.fill(text)
    paras: list = []
    buf: list = []
    lead = 0

    def flush() -> None:
        if buf:
            if buf[0].strip() == "\b":
                paras.append((lead, True, "\n".join(buf[1:])))
            else:
                paras.append((lead, False, " ".join(buf)))
            buf.clear()

    for line in text.splitlines():
        if not line:
            flush()
            continue
        if not buf:
            stripped = line.lstrip()
            lead, line = len(line) - len(stripped), stripped
        buf.append(line)
    flush()
    out = []
    for n, raw, body in paras:
        pad = " " * n
        if raw:
            out.append("\n".join((indent if i == 0 else w.subsequent_indent) + pad + ln
                                 for i, ln in enumerate(body.splitlines())))
        else:
            w2 = _Wrapper(width, initial_indent=indent + pad,
                          subsequent_indent=w.subsequent_indent + pad, replace_whitespace=False)
            out.append(w2.fill(body))
    return "\n\n".join(out)


def _cleandoc(doc: str | None) -> str:
    if not doc:
        return ""
    lines = doc.expandtabs().split("\n")
    margin = min((len(ln) - len(ln.lstrip()) for ln in lines[1:] if ln.strip()), default=0)
    lines = [lines[0].lstrip()] + [ln[margin:] for ln in lines[1:]]
    while lines and not lines[0]:
        lines.pop(0)
    while lines and not lines[-1]:
        lines.pop()
    return "\n".join(lines)


def short_help(first_paragraph: str, limit: int) -> str:
    """A command's line in a command list: its first sentence, cut to `limit` at a word."""
    words = first_paragraph.split()
    if words and words[0] == "\b":
        words = words[1:]
    for i, word in enumerate(words):
        if word.endswith(".") and (i == len(words) - 1 or not words[i + 1][0].islower()):
            words = words[:i + 1]
            break
    text = " ".join(words)
    if len(text) <= limit:
        return text
    if limit < 3:
        return "..."
    return textwrap.shorten(text, limit, placeholder="...", break_on_hyphens=False)


def first_paragraph(doc: str | None) -> str:
    """The words of a help text's first paragraph, joined by single spaces (registry.SUMMARY)."""
    return " ".join((doc or "").partition("\n\n")[0].split())


def _type_name(t) -> str:
    if isinstance(t, IntRange):
        return "INTEGER RANGE"
    if isinstance(t, FloatRange):
        return "FLOAT RANGE"
    if isinstance(t, Choice):
        return "[" + "|".join(t.values) + "]"
    return {int: "INTEGER", float: "FLOAT"}.get(t, "TEXT")


def _range(t) -> str:
    if not isinstance(t, (IntRange, FloatRange)):
        return ""
    lo = "<" if getattr(t, "min_open", False) else "<="
    if t.min is None and t.max is None:
        return ""
    if t.min is None:
        return f"x<={t.max}"
    if t.max is None:
        return f"x{'>' if lo == '<' else '>='}{t.min}"
    return f"{t.min}{lo}x<={t.max}"


def _spelling(names) -> str:
    """`-n, --max-count`: short spellings first."""
    return ", ".join(sorted(names, key=lambda n: len(n) - len(n.lstrip("-"))))


def option_row(p: Option) -> tuple:
    """(spellings and metavar, help with its [default; range] note) of an option."""
    primary = [n.split("/")[0] for n in p.names]
    secondary = [n.split("/")[1] for n in p.names if "/" in n]
    takes_value = not p.is_flag
    meta = ""
    if takes_value:
        meta = " " + (p.metavar or _type_name(p.type))
    spec = _spelling(primary) + meta
    if secondary:
        spec += " / " + _spelling(secondary) + meta
    extra = []
    if p.show_default and p.default is not None:
        d = p.default
        if p.is_flag and secondary:
            d = (primary if d else secondary)[0].lstrip("-")
        elif p.is_flag and not d:
            d = ""
        elif isinstance(d, (list, tuple)):
            d = ", ".join(str(x) for x in d)
        elif d == "":
            d = '""'
        if d != "":
            extra.append(f"default: {d}")
    rng = _range(p.type) if takes_value else ""
    if rng:
        extra.append(rng)
    text = p.help or ""
    if extra:
        note = "[" + "; ".join(extra) + "]"
        text = f"{text}  {note}" if text else note
    return spec, text


def _arg_metavar(a: Argument) -> str:
    var = a.metavar
    if var is None:
        if isinstance(a.type, Choice):
            vals = "|".join(a.type.values)
            var = "{" + vals + "}" if a.required else "[" + vals + "]"
        else:
            var = a.dest.upper()
    if not a.required and not (var.startswith("[") and var.endswith("]")):
        var = f"[{var}]"
    if a.nargs != 1 and a.metavar is None:   # (click shows a given metavar as it is)
        var += "..."
    return var


def _dl(rows: list, width: int, indent: int = 2, term_width: int | None = None) -> str:
    """A definition list: terms in a first column at most 30 wide (as wide as the longest term,
    or `term_width`), texts wrapped beside it."""
    longest = max(len(t) for t, _ in rows) if term_width is None else term_width
    first = min(longest, 30) + 2
    text_width = max(width - first - 2, 10)
    pad = " " * indent
    out = []
    for term, text in rows:
        line = pad + term
        if not text:
            out.append(line + "\n")
            continue
        if len(term) <= first - 2:
            line += " " * (first - len(term))
        else:
            line += "\n" + " " * (first + indent)
        lines = _wrap(text, text_width, paragraphs=True).splitlines()
        if not lines:
            out.append(line + "\n")
            continue
        out.append(line + lines[0] + "\n")
        out.extend(" " * (first + indent) + ln + "\n" for ln in lines[1:])
    return "".join(out)


def _usage(path: str, pieces: str, width: int) -> str:
    prefix = f"Usage: {path} "
    if width >= len(prefix) + 20:
        return _wrap(pieces, width, prefix, " " * len(prefix)) + "\n"
    pad = " " * (len("Usage: ") + 4)
    return prefix + "\n" + _wrap(pieces, width, pad, pad) + "\n"


def _page(path: str, pieces: str, doc: str, options: list, commands: list, w: int,
          sections: list | None = None) -> str:
    """A help page; `sections`: (title, commands) in place of one "Commands" list."""
    out = [_usage(path, pieces, w)]
    if doc:
        out.append("\n" + _wrap(doc, w, "  ", "  ", paragraphs=True) + "\n")
    out.append("\nOptions:\n" + _dl(options, w))
    groups = sections if sections is not None else [("Commands", commands)]
    names = [n for _, cmds in groups for n, _ in cmds]
    if names:       # one column for every section, as click lays out its one list
        longest = max(len(n) for n in names)
        for title, cmds in groups:
            if cmds:
                rows = [(n, short_help(s, w - 6 - longest)) for n, s in cmds]
                out.append(f"\n{title}:\n" + _dl(rows, w, term_width=longest))
    return "".join(out).rstrip("\n")


def command_help(decl, path: str, w: int | None = None) -> str:
    """The help page of a command or group declaration; `path` is how it was invoked
    (`trace log`, `trace llm complete`)."""
    w = width() if w is None else w
    doc = _cleandoc(decl.help).partition("\f")[0]
    if isinstance(decl, Group):
        cmds = sorted((c.name, first_paragraph(c.help)) for c in decl.commands)
        return _page(path, "[OPTIONS] COMMAND [ARGS]...", doc, [_help_row(decl)], cmds, w)
    assert isinstance(decl, Command)
    pieces = ["[OPTIONS]"] + [_arg_metavar(p) for p in decl.params if isinstance(p, Argument)]
    rows = [option_row(p) for p in decl.params if isinstance(p, Option)]
    return _page(path, " ".join(pieces), doc, [*rows, _help_row(decl)], [], w)


def sections(names) -> list:
    """(title, [command names]) of the top-level page for the registered commands `names`:
    GROUPS in order, each with the commands registered, then OTHER with the rest, sorted."""
    names = set(names)
    out = []
    for title, members in GROUPS:
        present = [n for n in members if n in names]
        if present:
            out.append((title, present))
    grouped = {n for _, members in GROUPS for n in members}
    rest = sorted(names - grouped)
    if rest:
        out.append((OTHER, rest))
    return out


ROOT_TAIL = ("'trace help COMMAND' or 'trace COMMAND --help' shows a command's options; "
             "docs/porcelain.md and docs/plumbing.md describe them all.")


def root_help(w: int | None = None) -> str:
    """The top-level page: global options and every command's summary, grouped as `git help`
    groups them (GROUPS)."""
    from .registry import COMMANDS, SUMMARY

    w = width() if w is None else w
    secs = [(title, [(n, SUMMARY.get(n, "")) for n in members])
            for title, members in sections(COMMANDS)]
    page = _page(PROG, "[OPTIONS] COMMAND [ARGS]...", ROOT_HELP,
                 [*ROOT_OPTIONS, _help_row(None)], [], w, secs)
    return page + "\n\n" + _wrap(ROOT_TAIL, w, "  ", "  ")


def unknown_command(name: str) -> str:
    """The error for a command word naming no command, with git's suggestion of the closest
    (`'stauts' is not a trace command. Did you mean 'status'?`)."""
    import difflib

    from .registry import COMMANDS

    shown = name if name.isprintable() and len(name) <= 40 else repr(name[:40])
    close = difflib.get_close_matches(name, [*COMMANDS, "help"], n=1, cutoff=0.6)
    if close:
        return f"'{shown}' is not a trace command. Did you mean '{close[0]}'?"
    return f"'{shown}' is not a trace command. See 'trace --help'."
