"""What every command shares: opening the repository, JSON output, errors as one line."""

from __future__ import annotations

import json
import os
import sys
from typing import Any, Callable

import click

EXIT_ERROR = 1
EXIT_USAGE = 2


def open_repo(ctx: click.Context):
    """The repository named by -C, TRACE_DIR, or found by walking up from the working dir."""
    from trace_core.repository import Repository

    obj = ctx.find_root().obj or {}
    agent = obj.get("agent")
    if obj.get("trace_dir") and not obj.get("directory"):
        return Repository.open(obj["trace_dir"], agent=agent)
    return Repository.discover(obj.get("directory") or ".", agent=agent)


def base_dir(ctx: click.Context) -> str:
    obj = ctx.find_root().obj or {}
    return obj.get("directory") or "."


def emit_json(value: Any) -> None:
    click.echo(json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False))


def json_option(f: Callable) -> Callable:
    return click.option("--json", "as_json", is_flag=True, help="Print machine-readable JSON.")(f)


def fail(message: str, code: int = EXIT_ERROR) -> None:
    raise click.exceptions.Exit(_err(message, code))


def _err(message: str, code: int) -> int:
    click.echo(f"error: {message}", err=True)
    return code


def warn(message: str) -> None:
    click.echo(f"warning: {message}", err=True)


def progress(label: str):
    """A progress callback drawing a bar on a terminal's stderr, or None when not a terminal."""
    if not sys.stderr.isatty():
        return None
    state = {"bar": None}

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


def read_input(path: str | None, use_stdin: bool) -> bytes:
    if use_stdin or path in (None, "-"):
        return sys.stdin.buffer.read()
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as exc:
        fail(f"cannot read {path}: {exc.strerror}")
        raise  # unreachable


def decode_utf8(data: bytes, what: str = "input") -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        fail(f"{what} is not valid UTF-8 (byte {exc.start})")
        raise


def parse_json(text: str, what: str = "input") -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        fail(f"{what} is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}")
    except RecursionError:
        fail(f"{what} is nested too deeply")


def run(cli: click.Group) -> None:
    """Run the CLI turning library errors into `error: ...` and a non-zero exit, never a traceback."""
    from trace_core.errors import TraceError

    try:
        rv = cli.main(standalone_mode=False, prog_name="trace")
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except TraceError as exc:
        click.echo(f"error: {_one_line(str(exc))}", err=True)
        sys.exit(EXIT_ERROR)
    except BrokenPipeError:
        try:
            sys.stdout = open(os.devnull, "w")
        except OSError:
            pass
        sys.exit(EXIT_ERROR)
    except KeyboardInterrupt:
        sys.exit(130)
    except RecursionError:
        click.echo("error: input is nested too deeply", err=True)
        sys.exit(EXIT_ERROR)
    except OSError as exc:
        click.echo(f"error: {exc.strerror or exc}: {getattr(exc, 'filename', '') or ''}".rstrip(": "), err=True)
        sys.exit(EXIT_ERROR)
    sys.exit(rv if isinstance(rv, int) else 0)


def _one_line(text: str) -> str:
    return " ".join(text.split()) or "unknown error"
