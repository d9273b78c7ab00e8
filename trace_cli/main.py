"""Entry point: a click group that imports a command's module only when that command runs.

Each command is declared once (trace_cli.declare) in its module under trace_cli/commands/; its
click command is built from that declaration on first use (trace_cli.clickgen). Common
read-only command lines skip click altogether (`trace_cli.fast`, from the same declarations), so
start-up stays cheap (docs/architecture.md).
"""

from __future__ import annotations

import os
import sys

from . import __version__
from .fast import COLOR_MODES, GLOBAL_OPTS
from .registry import COMMANDS

# the global options that take a value (the word after them is not the command)
_VALUED = (*GLOBAL_OPTS, "-c")

_cli = None


def _build_cli():
    import importlib

    import click

    from .clickgen import to_click

    class LazyGroup(click.Group):
        """A group whose subcommands live in modules imported on first use."""

        def list_commands(self, ctx: click.Context) -> list:
            return sorted(COMMANDS)

        def get_help(self, ctx: click.Context) -> str:
            from .help import root_help  # the grouped page (the fast path prints the same)

            return root_help(ctx.make_formatter().width)

        def resolve_command(self, ctx: click.Context, args: list):
            name = args[0] if args else ""
            if name and not name.startswith("-") and name not in COMMANDS \
                    and not ctx.resilient_parsing:
                from .help import unknown_command
                from .util import EXIT_USAGE, fail
                fail(unknown_command(name), EXIT_USAGE)
            return super().resolve_command(ctx, args)

        def get_command(self, ctx: click.Context, name: str):
            spec = COMMANDS.get(name)
            if spec is None:
                return None
            return to_click(getattr(importlib.import_module(spec[0]), spec[1]))

    @click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.option("-C", "directory", metavar="DIR",
                  help="Run as if started in DIR (or use the .trace repository DIR).")
    @click.option("--agent", metavar="NAME", help="Work in the namespace of sub-agent NAME.",
                  shell_complete=_complete_agents)
    @click.option("--create", is_flag=True,
                  help="Create the --agent namespace if it does not exist.")
    @click.option("-c", "config_params", metavar="KEY=VALUE", multiple=True,
                  help="Set a config value for this command (above the repository's and your "
                       "global config; docs/security.md).")
    @click.option("--color", type=click.Choice(COLOR_MODES), metavar="WHEN",
                  help="Color output: auto (on a terminal), always or never (above NO_COLOR "
                       "and color.ui).")
    @click.option("-P", "--no-pager", is_flag=True,
                  help="Do not page output (log, graph, show, diff, context) on a terminal.")
    @click.version_option(__version__, prog_name="trace")
    @click.pass_context
    def cli(ctx: click.Context, directory: str | None, agent: str | None, create: bool,
            config_params: tuple, color: str | None, no_pager: bool) -> None:
        """Trace: version control for the context windows of LLM agents."""
        from .util import begin

        ctx.ensure_object(dict)
        ctx.obj["directory"] = directory
        ctx.obj["trace_dir"] = os.environ.get("TRACE_DIR") or None
        ctx.obj["agent"] = agent
        ctx.obj["create"] = create
        ctx.obj["config_params"] = config_params
        ctx.obj["color"] = color
        ctx.obj["no_pager"] = no_pager
        begin(ctx.obj)

    return cli


def _complete_agents(ctx, param, incomplete: str) -> list:
    from .completion import agent_names
    return agent_names(ctx, incomplete, root=True)


def __getattr__(name: str):
    if name == "cli":  # the click group, built on first use
        global _cli
        if _cli is None:
            _cli = _build_cli()
        return _cli
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def _git_style_args(argv: list) -> list:
    """Command lines as git reads them: `trace help [COMMAND...]` is `trace [COMMAND...]
    --help`; a bare global `--color` means --color=always; `rev-parse --short REV`: a bare
    --short means 12 digits (click would otherwise take REV as its value); `push
    --force-with-lease REMOTE`: a bare lease is for every ref (its value only after `=`)."""
    i = 0
    while i < len(argv) and argv[i].startswith("-") and argv[i] not in ("-", "--"):
        if argv[i] == "--color" and (i + 1 == len(argv) or argv[i + 1] not in COLOR_MODES):
            argv = [*argv[:i], "--color=always", *argv[i + 1:]]
        i += 2 if argv[i] in _VALUED else 1
    if i < len(argv) and argv[i] == "help":
        argv = [*argv[:i], *argv[i + 1:], "--help"]
    if "rev-parse" in argv:
        i = argv.index("rev-parse")
        argv = argv[:i + 1] + ["--short=12" if a == "--short" else a for a in argv[i + 1:]]
    elif i < len(argv) and argv[i] == "push":   # a bare --force-with-lease takes no word
        argv = argv[:i + 1] + ["--force-with-lease=" if a == "--force-with-lease" else a
                               for a in argv[i + 1:]]
    return argv


def _tolerant_stdout() -> None:
    """Let standard output carry what the command line carried: argument bytes that are not
    UTF-8 (file names, say) reach Python as lone surrogates (PEP 383) and are written back as
    the same bytes, and a character the terminal's encoding lacks is escaped, not a crash."""
    out = sys.stdout
    if getattr(out, "errors", None) == "strict" and hasattr(out, "reconfigure"):
        utf8 = (out.encoding or "").lower().replace("-", "") == "utf8"
        out.reconfigure(errors="surrogateescape" if utf8 else "backslashreplace")


def main() -> None:
    _tolerant_stdout()
    sys.argv[1:] = _git_style_args(sys.argv[1:])
    if not os.environ.get("_TRACE_NO_FASTPATH") and "_TRACE_COMPLETE" not in os.environ:
        from trace_cli.fast import try_fast
        try_fast(sys.argv[1:])
    from trace_cli.util import run
    run(__getattr__("cli"))


if __name__ == "__main__":
    main()
