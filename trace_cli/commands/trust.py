"""`trace trust`: the repositories whose own config may set trusted-only keys (docs/security.md).

Trust is recorded outside every repository, as `safe.directory` values in the user's global
config file (git's safe.directory), so a repository can never trust itself.
"""

from __future__ import annotations

import os

from ..declare import JSON, argument, command, flag
from ..util import echo, emit_json, fail, repo_dir


@command("trust",
         flag("--list", "-l", dest="action", value="list",
              help="List the trusted repositories."),
         flag("--remove", dest="action", value="remove",
              help="Stop trusting PATH (a repository, or a value --list shows)."),
         JSON,
         argument("path"))
def trust(obj, action=None, as_json: bool = False, path=None) -> None:
    """Trust the repository at PATH (default: the current one, as -C and TRACE_DIR say): its
    .trace/config may then set llm.provider, llm.base-url and every other key that sends data
    or credentials off the machine. `trace trust '*'` trusts every repository.

    Recorded as `safe.directory = <absolute .trace path>` in your global config file, never in
    the repository. llm.api-key-env is never read from a repository, trusted or not. Exit
    status: 0 done (also when already trusted); 1 when --remove finds PATH not trusted, PATH is
    not a repository, or on an error."""
    from trace_core.config import update_file
    from trace_core.settings import TRUST_KEY

    from ..settings import global_config_path, load_global, overrides

    gpath = global_config_path()
    if action == "list":
        if path is not None:
            fail("--list takes no PATH", 2)
        values = load_global().get_all(TRUST_KEY)
        extra = overrides(obj.get("config_params"))
        more = extra.get_all(TRUST_KEY) if extra is not None else []
        if as_json:
            emit_json({"file": gpath, "trusted": values, "this_command": more})
            return
        for v in values + more:
            echo(v)
        return
    if as_json:
        fail("--json is used with --list", 2)
    if action == "remove":
        if path is None:
            fail("give the PATH to stop trusting (see trace trust --list)", 2)
        drop = _spellings(obj, path)
        current = load_global().get_all(TRUST_KEY)
        gone = [v for v in current if v.strip() in drop]
        if not gone:
            fail(f"{path} is not among the trusted repositories in {gpath} "
                 f"(see trace trust --list)")

        def edit(c):
            for v in gone:
                c = c.unset_value(TRUST_KEY, v)
            return c
        update_file(gpath, edit)
        echo(f"No longer trusted: {', '.join(gone)}")
        return
    trust_path(obj, "*" if path == "*" else repo_dir(obj, path))


def trust_path(obj, path: str, quiet: bool = False) -> None:
    """Trust the repository whose .trace directory is `path` (or `*`): a safe.directory value in
    the user's global config file, unless one already covers it; says which (unless quiet)."""
    from trace_core.config import update_file
    from trace_core.settings import TRUST_KEY, is_trusted

    from ..settings import global_config_path, load_global

    gpath = global_config_path()
    value = "*" if path == "*" else os.path.realpath(path)
    current = load_global()
    if (value == "*" and "*" in (v.strip() for v in current.get_all(TRUST_KEY))) or \
            (value != "*" and is_trusted(current, value)):   # (`*`, the folder, a symlink)
        if not quiet:
            echo(f"Already trusted: {value}")
        return
    os.makedirs(os.path.dirname(gpath), exist_ok=True)
    update_file(gpath, lambda c: c.add(TRUST_KEY, value))
    if not quiet:
        echo(f"Trusted {value} (recorded in {gpath})")


def _spellings(obj, path: str) -> set:
    """The values that stand for `path`: as given, absolute, resolved, and the .trace directory
    (and the directory holding it) of the repository there, if there is one."""
    from trace_core.errors import TraceError
    out = {path, os.path.abspath(path), os.path.realpath(path)}
    try:
        d = os.path.realpath(repo_dir(obj, path))
    except TraceError:
        return out
    out.update({d, os.path.dirname(d) if os.path.basename(d) == ".trace" else d})
    return out
