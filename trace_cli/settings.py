"""The user's own configuration, which the CLI reads and trace_core never does: the global config
file, `TRACE_CONFIG_*` environment variables and `-c key=value` flags (docs/security.md).

    global file   $TRACE_CONFIG_GLOBAL, else $XDG_CONFIG_HOME/trace/config, else
                  ~/.config/trace/config (the syntax of .trace/config; `trace config --global`)
    environment   TRACE_CONFIG_COUNT=N with TRACE_CONFIG_KEY_<i> / TRACE_CONFIG_VALUE_<i> for
                  i in 0..N-1 (git's GIT_CONFIG_COUNT), for scripts and CI
    flags         `trace -c key=value ...` (`-c key` alone means true), repeatable

The global file is the user layer (below the repository's config); the environment's settings and
then the flags are the override layer (above it), as git orders its scopes.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from trace_core.config import Config

GLOBAL_ENV = "TRACE_CONFIG_GLOBAL"


def global_config_path() -> str:
    """Where the user's global config file is (it may not exist)."""
    path = os.environ.get(GLOBAL_ENV)
    if path:
        return os.path.abspath(path)
    xdg = os.environ.get("XDG_CONFIG_HOME")
    base = xdg if xdg and os.path.isabs(xdg) else os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "trace", "config")


def load_global() -> Config:
    """The global config file as a Config (empty when the file does not exist)."""
    from trace_core.config import Config
    return Config.load(global_config_path())


def parse_param(text: str) -> tuple[str, str]:
    """(key, value) of one `-c` flag: `key=value`, or `key` alone for "true" (as git)."""
    from trace_core.errors import ConfigError
    key, eq, value = text.partition("=")
    if not key:
        raise ConfigError(f"-c {text!r}: expected key=value")
    return key, value if eq else "true"


def env_items() -> list[tuple[str, str]]:
    """The (key, value) pairs of TRACE_CONFIG_COUNT / _KEY_<i> / _VALUE_<i>."""
    from trace_core.errors import ConfigError
    raw = os.environ.get("TRACE_CONFIG_COUNT")
    if not raw:
        return []
    if not (raw.isascii() and raw.isdigit()) or int(raw) > 1000:
        raise ConfigError(f"TRACE_CONFIG_COUNT must be a number from 0 to 1000, got {raw!r}")
    out = []
    for i in range(int(raw)):
        key = os.environ.get(f"TRACE_CONFIG_KEY_{i}")
        value = os.environ.get(f"TRACE_CONFIG_VALUE_{i}")
        if not key or value is None:
            raise ConfigError(f"TRACE_CONFIG_COUNT is {raw} but TRACE_CONFIG_"
                              f"{'KEY' if not key else 'VALUE'}_{i} is not set")
        out.append((key, value))
    return out


def overrides(params) -> Config | None:
    """The override layer: the environment's settings, then the `-c` flags `params` (None when
    there are none); each value checked against the schema."""
    from trace_core.config import Config
    items = [("env", kv) for kv in env_items()]
    items += [("flags", parse_param(p)) for p in params or ()]
    if not items:
        return None
    origin = "command line" if all(src == "flags" for src, _ in items) else \
        "environment (TRACE_CONFIG_*) and command line"
    return Config.from_items([kv for _, kv in items], origin=origin)


def user_settings(obj: dict) -> tuple[Config, Config | None]:
    """(user layer, override layer) for the global options `obj` (its "config_params": the -c
    flags)."""
    return load_global(), overrides(obj.get("config_params"))


def user_value(obj: dict, key: str) -> str | None:
    """`key` from your own configuration alone (the override layer, then the global file), for
    settings read before or without a repository; None when unset, or when a file is broken
    (the command that reads it fully reports that)."""
    from trace_core.errors import TraceError
    try:
        user, over = user_settings(obj)
    except TraceError:
        return None
    value = over.get(key) if over is not None else None
    return value if value is not None else user.get(key)
