"""Logging hooks: the registry of callbacks for repository events (docs/inspect.md "Hooks"), the
events they receive, and hook programs (`hooks.post-*` settings) run on them.

Layer 3, beside the repository state: `RepoState.hooks` is one `Hooks` shared by every view of an
opened repository (its agents and worktrees). The plumbing fires the events
(trace_core.plumbing.events) after the change is durable; a callback's exception is reported
through `repo.warn` and never undoes anything. Nothing here reads the environment: hook programs
get the environment the caller passes to `enable_hook_programs`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from .errors import InputError
from .objects import Commit

#: operations that fire an event of their own name when they finish
OPERATIONS = ("merge", "compress", "spawn", "collapse", "reset", "rebase", "cherry-pick",
              "revert", "reorder")
#: every event: a new commit reached from a ref, a ref move, then the operations
EVENTS = ("commit", "ref", *OPERATIONS)
_OPERATIONS = frozenset(OPERATIONS)
#: the setting naming the hook program of each event (`hooks.post-<event>`; ref: post-ref-update)
PROGRAM_KEYS = {e: f"hooks.post-{'ref-update' if e == 'ref' else e}" for e in EVENTS}
TIMEOUT_KEY = "hooks.timeout"
#: commits written but not yet reachable from a ref, kept for their `commit` event (the oldest
#: are forgotten beyond this: a write nothing publishes must not grow a long-lived process)
MAX_PENDING = 4096

Callback = Callable[["HookEvent"], Any]


def is_operation(name: str) -> bool:
    return name in _OPERATIONS


class HookEvent:
    """What happened: `event` (one of EVENTS), the `agent` whose view did it (None: the root
    namespace), the `ref` moved (its full name in that agent's namespace), `old` and `new`
    (hex ids, `ref:<name>` for a symbolic ref, None when absent), the reflog `message`; for a
    `commit` event the `commit`; for an operation the new `commits` it made (oldest first, none
    for a fast-forward or a reset). `trace_dir` is the repository's `.trace` directory."""

    __slots__ = ("event", "trace_dir", "agent", "ref", "old", "new", "message", "commit",
                 "commits")

    def __init__(self, event: str, trace_dir: str, agent: str | None, ref: str,
                 old: str | None = None, new: str | None = None, message: str = "",
                 commit: Commit | None = None, commits: tuple[Commit, ...] = ()) -> None:
        self.event, self.trace_dir, self.agent, self.ref = event, trace_dir, agent, ref
        self.old, self.new, self.message = old, new, message
        self.commit, self.commits = commit, commits

    def __repr__(self) -> str:
        return (f"HookEvent({self.event!r}, agent={self.agent!r}, ref={self.ref!r}, "
                f"new={self.new!r})")

    def to_json(self) -> dict:
        """The event as JSON values (ids in hex), as hook programs read it on stdin."""
        out: dict = {"event": self.event, "repository": self.trace_dir, "agent": self.agent,
                     "ref": self.ref, "old": self.old, "new": self.new, "message": self.message}
        if self.commit is not None:
            out["commit"] = commit_json(self.commit)
        if self.event in _OPERATIONS:
            out["commits"] = [commit_json(c) for c in self.commits]
        return out


def commit_json(c: Commit) -> dict:
    """A commit as JSON values: ids in hex, metadata with bytes in hex."""
    return {"id": c.hex, "parents": [p.hex() for p in c.parents], "op": c.op,
            "message": c.message, "author": c.author, "time_ms": c.time_ms, "tz_min": c.tz_min,
            "tokens": c.tokens, "total_tokens": c.total_tokens, "encoding": c.encoding,
            "snapshot": c.snapshot.hex(), "blobs": [b.hex() for b in c.blobs],
            "targets": list(c.targets), "meta": _plain(c.meta)}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


class Hooks:
    """The callbacks of one opened repository, in registration order. `active` is False while
    none is registered: the commit path then does nothing more than read it."""

    def __init__(self) -> None:
        self._callbacks: list[tuple[str, Callback]] = []
        self.active = False
        #: commit id -> commit written by `write_change`, until a ref move reaches it
        self.pending: dict[bytes, Commit] = {}

    def on(self, event: str, callback: Callback) -> Callback:
        """Call `callback(event)` after every `event` (one of EVENTS, or "*" for all of them);
        returns the callback (usable as a decorator)."""
        if event != "*" and event not in EVENTS:
            raise InputError(f"unknown hook event {event!r} (one of {', '.join(EVENTS)} or *)")
        if not callable(callback):
            raise InputError(f"a hook callback must be callable, not {type(callback).__name__}")
        self._callbacks.append((event, callback))
        self.active = True
        return callback

    def off(self, event: str | None = None, callback: Callback | None = None) -> int:
        """Remove the callbacks registered for `event` (None: any) that are `callback` (None:
        any); returns how many were removed."""
        keep = [(e, cb) for e, cb in self._callbacks
                if not ((event is None or e == event) and (callback is None or cb == callback))]
        removed = len(self._callbacks) - len(keep)
        self._callbacks = keep
        self.active = bool(keep)
        if not keep:
            self.pending.clear()
        return removed

    def callbacks(self, event: str) -> list[Callback]:
        return [cb for e, cb in self._callbacks if e == event or e == "*"]

    def remember(self, commit: Commit) -> None:
        """Keep a written commit until a ref move reaches it (its `commit` event fires then)."""
        pending = self.pending
        pending[commit.id] = commit
        if len(pending) > MAX_PENDING:
            del pending[next(iter(pending))]

    def reached(self, new: str | None) -> list[Commit]:
        """The pending commits reachable from `new` through pending commits, oldest first
        (they leave the pending set)."""
        pending = self.pending
        if not pending or not new or new.startswith("ref:"):
            return []
        out: list[Commit] = []
        stack = [bytes.fromhex(new)]
        while stack:
            c = pending.pop(stack.pop(), None)
            if c is not None:
                out.append(c)
                stack.extend(c.parents)
        out.reverse()
        return out

    def fire(self, event: HookEvent, warn: Callable[[str], None]) -> None:
        """Call every callback registered for the event; an exception becomes one warning."""
        for cb in self.callbacks(event.event):
            try:
                cb(event)
            except Exception as exc:  # a callback never undoes or stops the change it reports
                name = getattr(cb, "__qualname__", None) or type(cb).__name__
                text = " ".join(str(exc).split())[:200]
                warn(f"hook callback {name} for {event.event} event failed: "
                     f"{type(exc).__name__}: {text}")


# -- hook programs ----------------------------------------------------------------------------
class HookPrograms:
    """The callback that runs the program a `hooks.post-<event>` setting names for each event,
    with the event as JSON on stdin (registered by `enable_hook_programs`). Each setting is read
    the first time its event fires (an untrusted repository's value is then reported, once, as
    ignored: docs/security.md)."""

    def __init__(self, repo: Any, env: Mapping[str, str] | None, cwd: str) -> None:
        self.repo, self.cwd = repo, cwd   # (the root view: its config is the current one)
        self.env = dict(env) if env is not None else None
        self._argv: dict[str, list[str] | None] = {}

    def argv(self, event: str) -> list[str] | None:
        if event not in self._argv:
            import shlex
            key = PROGRAM_KEYS[event]
            value = self.repo.config.get(key)
            argv = None
            if value is not None:
                try:
                    argv = shlex.split(value) or None
                except ValueError as exc:
                    self.repo.warn(f"{key}: cannot split {value!r:.80} into words: {exc}")
            self._argv[event] = argv
        return self._argv[event]

    def __call__(self, event: HookEvent) -> None:
        argv = self.argv(event.event)
        if argv is None:
            return
        import json
        env = dict(self.env) if self.env is not None else {}
        env.update(TRACE_DIR=event.trace_dir, TRACE_AGENT=event.agent or "",
                   TRACE_EVENT=event.event, TRACE_HOOK=PROGRAM_KEYS[event.event])
        data = json.dumps(event.to_json(), sort_keys=True).encode() + b"\n"
        problem = run_program(argv, data, env,
                              float(self.repo.config.get_typed(TIMEOUT_KEY)), self.cwd)
        if problem:
            self.repo.warn(f"{PROGRAM_KEYS[event.event]} ({argv[0]}) {problem}; the "
                      f"{event.event} itself is done")


def run_program(argv: list[str], data: bytes, env: dict[str, str], timeout: float,
                cwd: str) -> str | None:
    """Run `argv` (no shell) with `data` on stdin and its stdout sent to stderr (as git does),
    at most `timeout` seconds (then its process group is killed). None if it exited 0, else
    what went wrong (one line)."""
    import contextlib
    import os
    import signal
    import subprocess
    try:
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=2, cwd=cwd, env=env,
                                start_new_session=True)
    except OSError as exc:
        return f"could not run: {exc.strerror or exc}"
    try:
        proc.communicate(data, timeout=timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        return f"timed out after {timeout:g}s and was killed"
    if proc.returncode != 0:
        code = proc.returncode
        return f"was killed by signal {-code}" if code < 0 else f"exited with status {code}"
    return None


def enable_hook_programs(repo: Any, env: Mapping[str, str] | None = None
                         ) -> HookPrograms | None:
    """Run the programs the `hooks.post-*` settings name on this repository's events (for
    every view of it). Off by default: the `trace` command enables them; a Python program opts
    in here. `env` is the environment the programs get (e.g. `os.environ`; None: only the
    TRACE_* variables), plus TRACE_DIR, TRACE_AGENT, TRACE_EVENT and TRACE_HOOK. The settings
    are trusted-only (docs/security.md). Returns the callback (`repo.off("*", it)` disables); a
    second call only replaces the environment. When no settings layer names a program at all,
    nothing is registered (None): a command then builds no events and its moves cost one
    attribute read each, as without hooks."""
    import os
    if not repo.config.declares("hooks.post-"):
        return None
    for event, cb in repo.hooks._callbacks:
        if isinstance(cb, HookPrograms) and event == "*":   # enabled already: new environment
            cb.env = dict(env) if env is not None else None
            return cb
    runner = HookPrograms(repo._root, env, os.path.dirname(repo.trace_dir))
    repo.hooks.on("*", runner)
    return runner
