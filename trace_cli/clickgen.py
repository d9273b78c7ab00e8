"""Builds click commands from the declarations of trace_cli.declare
(imported only when click runs)."""

from __future__ import annotations

from typing import Any

import click

from .declare import Argument, Choice, Command, FloatRange, Group, IntRange, Option
from .util import root_obj


def _type(t: Any):
    if isinstance(t, IntRange):
        return click.IntRange(min=t.min, max=t.max)
    if isinstance(t, FloatRange):
        return click.FloatRange(t.min, t.max, min_open=t.min_open)
    if isinstance(t, Choice):
        return click.Choice(list(t.values))
    return t


def _param(p, name: str) -> click.Parameter:
    from .completion import completer
    kw: dict = {}
    complete = completer(name, p)
    if complete is not None:       # branch and agent names (trace_cli.completion)
        kw["shell_complete"] = complete
    if isinstance(p, Argument):
        kw.update(nargs=p.nargs, required=p.required, type=_type(p.type))
        if p.default is not None:
            kw["default"] = p.default
        if p.metavar is not None:
            kw["metavar"] = p.metavar
        return click.Argument([p.dest], **kw)
    assert isinstance(p, Option)
    kw["help"] = p.help
    if p.metavar is not None:
        kw["metavar"] = p.metavar
    if p.show_default:
        kw["show_default"] = True
    if p.multiple:
        kw["multiple"] = True
    if p.optional_value:
        kw.update(type=_type(p.type), default=p.default, flag_value=p.flag_value, is_flag=False)
    elif p.is_flag:
        if p.flag_value is not None:
            kw["flag_value"] = p.flag_value
            if p.default is not None:
                kw["default"] = p.default
        elif "/" in p.names[0]:
            kw["default"] = p.default
        else:
            kw["is_flag"] = True
            if p.default:
                kw["default"] = p.default
    else:
        kw["type"] = _type(p.type)
        if p.default is not None:
            kw["default"] = p.default
    return click.Option([*p.names, p.dest], **kw)


def _callback(cmd: Command):
    def callback(**kw):
        from .pager import start
        obj = root_obj(click.get_current_context())
        start(cmd.name, obj, kw)     # log, show, diff...: on a terminal, through the pager
        return cmd.body(obj, **kw)
    callback.__doc__ = cmd.body.__doc__
    return callback


def to_click(decl) -> click.Command:
    """The click command (or group) of a declaration, built once."""
    if decl._click is None:
        if isinstance(decl, Group):
            group = click.Group(decl.name, help=decl.help)
            for sub in decl.commands:
                group.add_command(to_click(sub))
            decl._click = group
        else:
            params = [_param(p, decl.name) for p in decl.params]
            decl._click = click.command(decl.name, params=params)(_callback(decl))
    return decl._click
