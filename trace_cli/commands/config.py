"""`trace config`: read and write .trace/config, or the user's global config (--global)."""

from __future__ import annotations

from ..declare import argument, command, flag
from ..util import CommandExit, echo, fail, open_repo, warn


@command("config",
         flag("--global", dest="is_global",
              help="Use your global config file ($TRACE_CONFIG_GLOBAL, else "
                   "$XDG_CONFIG_HOME/trace/config, else ~/.config/trace/config), not the "
                   "repository's."),
         flag("--get", dest="action", value="get",
              help="Print a value (default with one argument)."),
         flag("--unset", dest="action", value="unset", help="Remove a key."),
         flag("--list", "-l", dest="action", value="list", help="List every setting."),
         argument("key"),
         argument("value"), fast=True)
def config(obj, is_global=False, action=None, key=None, value=None) -> None:
    """Get or set settings in .trace/config, or with --global in your own config file
    (git-config style: section.key).

    Exit status: 0 done; 1 when --get (or KEY alone) finds no value (nothing printed), or
    --unset finds no such key (one error line), or on an error; 2 on a usage error. Keys that
    send data or credentials off the machine take effect from a repository's file only when you
    trust it (`trace trust`); llm.api-key-env, safe.directory and core.pager only from your own
    config (docs/security.md). A key Trace does not know is set all the same (as git), with a
    warning naming the closest known key (and --list warns of each such key it lists)."""
    if action not in ("list", None) and key is None:
        fail("give a key", 2)
    if (action == "get" or action == "unset") and value is not None:
        fail(f"--{action} takes only a key", 2)
    if action == "list" and key is not None:
        fail("--list takes no key", 2)
    if is_global:
        _global(action, key, value)
        return
    with open_repo(obj) as repo:
        cfg = repo.repo_config
        if action == "list" or (action is None and key is None):
            _list(cfg.items())
            return
        if action == "unset":
            if key not in cfg:
                fail(f"{key} is not set in {cfg.origin}")
            repo.unset_config(key)
            return
        if value is None:
            _get(cfg, key)
            return
        _warn_unknown(key)
        repo.set_config(key, value)


def _warn_unknown(key: str) -> None:
    """Warn (on stderr; the command goes on) when `key` is not a key Trace knows."""
    from trace_core.config import unknown_key_message
    message = unknown_key_message(key)
    if message is not None:
        warn(message)


def _list(items) -> None:
    for k, v in items:
        echo(f"{k}={v}")
    for k in dict.fromkeys(k for k, _ in items):
        _warn_unknown(k)


def _get(cfg, key: str) -> None:
    v = cfg.get(key)
    if v is None:
        raise CommandExit(1)
    echo(v)


def _global(action, key, value) -> None:
    """The same actions on the user's global config file."""
    import os

    from trace_core.config import READ_ONLY_KEYS, REPO_ONLY, key_source, update_file, validate_value
    from trace_core.errors import ConfigError

    from ..settings import global_config_path, load_global

    path = global_config_path()
    if action == "list" or (action is None and key is None):
        _list(load_global().items())
        return
    assert key is not None
    if action == "unset":
        if key not in load_global():
            fail(f"{key} is not set in {path}")
        update_file(path, lambda c: c.unset(key))
        return
    if value is None:
        _get(load_global(), key)
        return
    if key.lower() in READ_ONLY_KEYS or key_source(key) == REPO_ONLY:
        raise ConfigError(f"{key} is a property of each repository: it cannot be set in your "
                          "global config")
    value = validate_value(key, value)
    _warn_unknown(key)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    update_file(path, lambda c: c.set(key, value))
