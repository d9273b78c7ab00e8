"""`trace config`: read and write .trace/config."""

from __future__ import annotations

from ..declare import argument, command, flag
from ..util import CommandExit, echo, fail, open_repo


@command("config",
         flag("--get", dest="action", value="get",
              help="Print a value (default with one argument)."),
         flag("--unset", dest="action", value="unset", help="Remove a key."),
         flag("--list", "-l", dest="action", value="list", help="List every setting."),
         argument("key"),
         argument("value"), fast=True)
def config(obj, action=None, key=None, value=None) -> None:
    """Get or set settings in .trace/config (git-config style: section.key)."""
    with open_repo(obj) as repo:
        if action == "list" or (action is None and key is None):
            for k, v in repo.config.items():
                echo(f"{k}={v}")
            return
        if key is None:
            fail("give a key", 2)
        if action == "unset":
            if key not in repo.config:
                raise CommandExit(5)
            repo.unset_config(key)
            return
        if value is None or action == "get":
            if value is not None:
                fail("--get takes only a key", 2)
            v = repo.config.get(key)
            if v is None:
                raise CommandExit(1)
            echo(v)
            return
        repo.set_config(key, value)
