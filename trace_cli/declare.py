"""How a command is declared, once: its parameters, help and body, without importing click.

A command module declares each command with `@command(name, *params)` over its body, a function
`body(obj, **params)` whose docstring is the help text (`obj`: the global options, see
`util.open_repo`). From that one declaration `trace_cli.clickgen` builds the click command and,
for commands marked `fast`, `trace_cli.fast` parses the common command lines without click.
Parameters are listed in the order `--help` shows them; their names and types mean what the
click option of the same spelling means.
"""

from __future__ import annotations

TYPE_CHECKING = False  # (not typing's: importing typing costs a `trace --version` ~2 ms)
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import Any

# plain classes, not dataclasses: creating a dataclass costs about a millisecond at import, and
# this module is imported by every `trace` process


class IntRange:
    """An integer at least `min` (and at most `max`, when given)."""

    __slots__ = ("min", "max")

    def __init__(self, min: int | None = None, max: int | None = None) -> None:
        self.min, self.max = min, max


class FloatRange:
    """A float between `min` and `max`; `min_open`: `min` itself is excluded."""

    __slots__ = ("min", "max", "min_open")

    def __init__(self, min: float | None = None, max: float | None = None,
                 min_open: bool = False) -> None:
        self.min, self.max, self.min_open = min, max, min_open


class Choice:
    """One of `values`."""

    __slots__ = ("values",)

    def __init__(self, values: tuple) -> None:
        self.values = tuple(values)


def _dest(names: tuple) -> str:
    """The parameter an option fills when none is named: its longest spelling, as click picks."""
    spellings = [n.split("/")[0] for n in names]
    best = max(spellings, key=lambda n: (n.startswith("--"), len(n)))
    return best.lstrip("-").replace("-", "_").lower()


class Option:
    """An option. `type`: str, int, float, an IntRange, FloatRange or Choice, or None for a flag.

    A flag sets `dest` to True (or to `flag_value`: several flags may share one `dest`); a
    `--x/--no-x` spelling gives a boolean switch. `optional_value`: `--opt` alone means
    `flag_value`, `--opt=V` means V (e.g. `rev-parse --short`). `fast=False`: the fast path
    leaves command lines that use this option to click."""

    __slots__ = ("names", "dest", "type", "default", "help", "metavar", "multiple",
                 "show_default", "flag_value", "optional_value", "fast")

    def __init__(self, names: tuple, dest: str, type: Any = None, default: Any = None,
                 help: str | None = None, metavar: str | None = None, multiple: bool = False,
                 show_default: bool = False, flag_value: Any = None,
                 optional_value: bool = False, fast: bool = True) -> None:
        self.names, self.dest, self.type, self.default, self.help = names, dest, type, default, help
        self.metavar, self.multiple, self.show_default = metavar, multiple, show_default
        self.flag_value, self.optional_value, self.fast = flag_value, optional_value, fast

    @property
    def is_flag(self) -> bool:
        return self.type is None and not self.optional_value


def option(*names: str, dest: str | None = None, type: Any = str, default: Any = None,
           help: str | None = None, metavar: str | None = None, multiple: bool = False,
           show_default: bool = False, flag_value: Any = None, optional_value: bool = False,
           fast: bool = True) -> Option:
    """An option taking a value (`-n 5`, `--format=text`)."""
    return Option(names, dest or _dest(names), type, default, help, metavar, multiple,
                  show_default, flag_value, optional_value, fast)


def flag(*names: str, dest: str | None = None, value: Any = None, default: Any = None,
         help: str | None = None) -> Option:
    """A flag: True when given (or `value`, for flags sharing one `dest`), else `default`
    (False for a plain flag, None for a shared one). `--x/--no-x`: a boolean switch."""
    if value is None and default is None:
        default = False
    return Option(names, dest or _dest(names), None, default, help, flag_value=value)


JSON = flag("--json", dest="as_json", help="Print machine-readable JSON.")


class Argument:
    """A positional parameter; nargs=-1 takes every remaining one (as a tuple)."""

    __slots__ = ("dest", "nargs", "required", "default", "metavar", "type")

    def __init__(self, dest: str, nargs: int = 1, required: bool = False, default: Any = None,
                 metavar: str | None = None, type: Any = str) -> None:
        self.dest, self.nargs, self.required, self.default = dest, nargs, required, default
        self.metavar, self.type = metavar, type


def argument(dest: str, nargs: int = 1, required: bool = False, default: Any = None,
             metavar: str | None = None, type: Any = str) -> Argument:
    return Argument(dest, nargs, required, default, metavar, type)


class Command:
    """One command: its name, parameters (in help order), body and help (the body's docstring).
    `fast`: the fast path may run it (commands whose common options it can parse)."""

    __slots__ = ("name", "params", "body", "fast", "_click")

    def __init__(self, name: str, params: tuple, body: Callable, fast: bool = False) -> None:
        self.name, self.params, self.body, self.fast = name, params, body, fast
        self._click: Any = None

    @property
    def help(self) -> str | None:
        return self.body.__doc__

    def __call__(self, obj, **kw):
        return self.body(obj, **kw)

    def __repr__(self) -> str:
        return f"<command {self.name}>"


class Group:
    """A command with subcommands (`trace llm complete`)."""

    __slots__ = ("name", "help", "commands", "_click")

    def __init__(self, name: str, help: str, commands: tuple) -> None:
        self.name, self.help, self.commands = name, help, commands
        self._click: Any = None


def command(name: str, *params, fast: bool = False) -> Callable[[Callable], Command]:
    """Declare `body` as the command `name` taking `params` (Options and Arguments)."""
    def wrap(body: Callable) -> Command:
        return Command(name, tuple(params), body, fast)
    return wrap
