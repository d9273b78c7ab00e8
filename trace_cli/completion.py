"""Shell completion of branch, tag and agent names, for click's completion
(`_TRACE_COMPLETE=bash_source trace`: docs/porcelain.md, "Shell completion").

Commands, subcommands and options complete from the declarations (click does it); this module
adds the values: branch and tag names (and HEAD) for revision arguments, branch names for
`switch` and `branch`, tag names for `tag`, and sub-agent names for `--agent`, `collapse` and
`abandon`. The names come from the repository that `-C`, TRACE_DIR or the working directory
names, read without the index; anything that goes wrong (no repository, a damaged one) gives
no completions, never an error on the terminal.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .declare import Argument, Option

REFS, BRANCHES, TAGS, AGENTS = "refs", "branches", "tags", "agents"

# (command, parameter) -> what it completes; other arguments named like a revision complete
# REFS, options named --agent complete AGENTS
_PARAMS = {("switch", "name"): BRANCHES, ("branch", "names"): BRANCHES, ("tag", "name"): TAGS,
           ("collapse", "name"): AGENTS, ("abandon", "name"): AGENTS}
_REV_ARGS = frozenset({"rev", "revs", "a", "b", "start", "range_"})
_REV_OPTS = frozenset({"rev"})     # (spawn --from)
MAX_NAMES = 1000      # a completion list longer than this helps nobody
_MAX_DEPTH = 4        # nested sub-agents listed for the global --agent


def completer(command: str, param: Argument | Option) -> Callable | None:
    """The click `shell_complete` callback for parameter `param` of `command`, or None."""
    kind = _PARAMS.get((command, param.dest))
    if kind is None:
        revs = _REV_ARGS if isinstance(param, Argument) else _REV_OPTS
        if param.dest in revs:
            kind = REFS
        elif isinstance(param, Option) and param.dest == "agent":
            kind = AGENTS

    if kind is None:
        return None
    what = kind

    def complete(ctx, _param, incomplete: str) -> list:
        return names(what, ctx, incomplete)
    return complete


def _root_params(ctx) -> dict:
    try:
        return dict(ctx.find_root().params or {})
    except Exception:  # noqa: BLE001  (completion never fails)
        return {}


def agent_names(ctx, incomplete: str, root: bool = False) -> list:
    """Sub-agent names for the global `--agent` (`root`: every agent path from the root
    namespace, `a/b` for b under a)."""
    return names(AGENTS, ctx, incomplete, root=root)


def names(kind: str, ctx, incomplete: str, root: bool = False) -> list:
    """The names of `kind` starting with `incomplete`; [] when there is no repository or
    anything fails."""
    params = _root_params(ctx)
    try:
        return sorted(_names(kind, params, incomplete, root))[:MAX_NAMES]
    except Exception:  # noqa: BLE001  (completion never fails: no repository -> no names)
        return []


def _open(params: dict, root: bool):
    from trace_core.repository import Repository

    agent = None if root else params.get("agent")
    directory = params.get("directory")
    trace_dir = os.environ.get("TRACE_DIR")
    if directory and not os.path.isdir(directory):
        raise FileNotFoundError(directory)
    if trace_dir and not directory:
        return Repository.open(trace_dir, agent=agent)
    return Repository.discover(directory or ".", agent=agent)


def _names(kind: str, params: dict, incomplete: str, root: bool) -> list:
    prefix = ""
    if kind == REFS and ".." in incomplete:      # A..B, A...B: complete B
        cut = incomplete.rindex("..") + 2
        if incomplete[cut:cut + 1] == ".":
            cut += 1
        prefix, incomplete = incomplete[:cut], incomplete[cut:]
    with _open(params, root) as repo:
        if kind == AGENTS:
            found = _agents(repo, "", 0) if root else repo.agents()
        else:
            found = []
            if kind in (REFS, BRANCHES):
                found += [n[len("refs/heads/"):] for n, _ in repo.refs.list("refs/heads/")]
            if kind in (REFS, TAGS):
                found += [n[len("refs/tags/"):] for n, _ in repo.refs.list("refs/tags/")]
            if kind == REFS:
                found.append("HEAD")
    return [prefix + n for n in set(found) if n.startswith(incomplete)]


def _agents(repo, path: str, depth: int) -> list:
    out = []
    for name in repo.agents():
        full = f"{path}{name}"
        out.append(full)
        if depth + 1 < _MAX_DEPTH and len(out) < MAX_NAMES:
            with repo.agent(name) as sub:
                out += _agents(sub, full + "/", depth + 1)
    return out
