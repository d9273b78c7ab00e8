"""How a command is declared, once: its parameters, help and body, without importing click.

A command module declares each command with `@command(name, *params)` over its body, a function
`body(obj, **params)` whose docstring is the help text (`obj`: the global options, see
`util.open_repo`). From that one declaration `trace_cli.clickgen` builds the click command and,
for commands marked `fast`, `trace_cli.fast` parses the common command lines without click.
Parameters are listed in the order `--help` shows them; their names and types mean what the
click option of the same spelling means.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable


@dataclass(frozen=True)
class IntRange:
    """An integer at least `min` (and at most `max`, when given)."""

    min: int | None = None
    max: int | None = None


@dataclass(frozen=True)
class FloatRange:
    """A float between `min` and `max`; `min_open`: `min` itself is excluded."""

    min: float | None = None
    max: float | None = None
    min_open: bool = False


@dataclass(frozen=True)
class Choice:
    """One of `values`."""

    values: tuple


def _dest(names: tuple) -> str:
    """The parameter an option fills when none is named: its longest spelling, as click picks."""
    spellings = [n.split("/")[0] for n in names]
    best = max(spellings, key=lambda n: (n.startswith("--"), len(n)))
    return best.lstrip("-").replace("-", "_").lower()


@dataclass(frozen=True)
class Option:
    """An option. `type`: str, int, float, an IntRange, FloatRange or Choice, or None for a flag.

    A flag sets `dest` to True (or to `flag_value`: several flags may share one `dest`); a
    `--x/--no-x` spelling gives a boolean switch. `optional_value`: `--opt` alone means
    `flag_value`, `--opt=V` means V (e.g. `rev-parse --short`). `fast=False`: the fast path
    leaves command lines that use this option to click."""

    names: tuple
    dest: str
    type: Any = None
    default: Any = None
    help: str | None = None
    metavar: str | None = None
    multiple: bool = False
    show_default: bool = False
    flag_value: Any = None
    optional_value: bool = False
    fast: bool = True

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


@dataclass(frozen=True)
class Argument:
    """A positional parameter; nargs=-1 takes every remaining one (as a tuple)."""

    dest: str
    nargs: int = 1
    required: bool = False
    default: Any = None
    metavar: str | None = None
    type: Any = str


def argument(dest: str, nargs: int = 1, required: bool = False, default: Any = None,
             metavar: str | None = None, type: Any = str) -> Argument:
    return Argument(dest, nargs, required, default, metavar, type)


@dataclass
class Command:
    """One command: its name, parameters (in help order), body and help (the body's docstring).
    `fast`: the fast path may run it (read-only commands whose options it can parse)."""

    name: str
    params: tuple
    body: Callable
    fast: bool = False
    _click: Any = field(default=None, repr=False)

    @property
    def help(self) -> str | None:
        return self.body.__doc__

    def __call__(self, obj, **kw):
        return self.body(obj, **kw)


@dataclass
class Group:
    """A command with subcommands (`trace llm complete`)."""

    name: str
    help: str
    commands: tuple
    _click: Any = field(default=None, repr=False)


def command(name: str, *params, fast: bool = False) -> Callable[[Callable], Command]:
    """Declare `body` as the command `name` taking `params` (Options and Arguments)."""
    def wrap(body: Callable) -> Command:
        return Command(name, tuple(params), body, fast)
    return wrap
