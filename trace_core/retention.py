"""Retention policies for sub-agents: prune collapsed children, expire abandoned ones, and the
`.trace/pruned` record of what was pruned (docs/multiagent.md "Retention and gc", FORMAT.md §10.2).

A policy (`retention.<pattern>.collapsed-expire`, `retention.<pattern>.abandoned-expire`) names
sub-agents by an fnmatch pattern over their path (`research-*`, `a/*`, `*`); for each key the
longest matching pattern that sets it wins. Applying one to a child X:

1. every pointer into X's history that its parent's commits hold (X's root, named by its
   `SPAWNED` ref; the `tip` and `root` of each collapse commit, from `COLLAPSED` back along the
   `again` chain), and the same pointers of every sub-agent nested in X, are appended to
   `.trace/pruned` (one atomic replacement through `pruned.lock`, under `repack.lock`);
2. X's namespace directory is renamed to a dot-name inside its `agents/` directory (atomic: no
   reader sees half a namespace) and then removed, never following a symlink.

gc's walk then stops at meta links whose target is listed in `pruned` (ref and parent links are
always followed, so the file can never make gc drop what a ref or a reflog entry reaches), and
the child's objects go to a cruft pack and, after the grace period, away. Nothing here imports
gc: gc imports this module.
"""

from __future__ import annotations

import contextlib
import fnmatch
import math
import os
import re
import shutil
import time
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from .config import NEVER, check_agent_pattern
from .errors import InputError, InvalidRefName, MissingObject, RepositoryError
from .ids import ID_LEN

if TYPE_CHECKING:
    from .refs import RefStore
    from .state import RepoState

PRUNED_FILE = "pruned"
MAX_PRUNED_BYTES = 64 * 1024 * 1024
COLLAPSED_KEY, ABANDONED_KEY = "collapsed-expire", "abandoned-expire"
TRASH_PREFIX = ".pruning-"          # a namespace being removed (agents/.pruning-<name>-<pid>)
_RECORD = re.compile(rb"([0-9a-f]{64}) (0|[1-9][0-9]{0,17}) ([A-Za-z0-9._/-]{1,4200})\Z")
MAX_PRUNED_SECONDS = 253402300799   # 9999-12-31 23:59:59 UTC: a later time is a damaged record
_MAX_AGAIN = 10_000                 # collapse commits followed along one `again` chain


# -- the pruned file -----------------------------------------------------------------------------
def pruned_path(trace_dir: str) -> str:
    return os.path.join(trace_dir, PRUNED_FILE)


def pruned_records(trace_dir: str) -> dict[bytes, tuple[int, str]]:
    """{pointer id: (Unix seconds it was pruned, agent path)} from `.trace/pruned` (empty when
    the file is absent). A line that is not a record raises RepositoryError naming the file and
    the line: a damaged record is never skipped (gc would then keep or drop the wrong history)."""
    from .refs.names import check_agent_path
    from .storage import safefs
    path = pruned_path(trace_dir)
    try:
        data = safefs.read_inside(trace_dir, path, MAX_PRUNED_BYTES + 1)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise RepositoryError(f"{path}: cannot read: {exc.strerror or exc}") from None
    if len(data) > MAX_PRUNED_BYTES:
        raise RepositoryError(f"{path}: larger than {MAX_PRUNED_BYTES} bytes; it is damaged")
    out: dict[bytes, tuple[int, str]] = {}
    if not data:
        return out
    lines = data.split(b"\n")
    if lines[-1] != b"":
        raise RepositoryError(f"{path}:{len(lines)}: the last record does not end in a newline; "
                              "the file is damaged (see docs/FORMAT.md §10.2)")
    for n, line in enumerate(lines[:-1], 1):
        m = _RECORD.match(line)
        try:
            if m is None or int(m.group(2)) > MAX_PRUNED_SECONDS:
                raise InvalidRefName("")
            check_agent_path(m.group(3).decode("ascii"))
        except InvalidRefName:
            raise RepositoryError(f"{path}:{n}: not a retention record '<64 hex id> <seconds> "
                                  "<agent path>'; the file is damaged (see docs/FORMAT.md "
                                  "§10.2)") from None
        oid = bytes.fromhex(m.group(1).decode("ascii"))
        out.setdefault(oid, (int(m.group(2)), m.group(3).decode("ascii")))
    return out


def pruned_ids(trace_dir: str) -> frozenset[bytes]:
    """The ids gc's walk does not follow as meta links (pruned_records' keys)."""
    return frozenset(pruned_records(trace_dir))


def pruned_agents(records: dict[bytes, tuple[int, str]]) -> dict[str, int]:
    """{agent path: Unix seconds of its (latest) pruning} of pruned_records()."""
    out: dict[str, int] = {}
    for secs, agent in records.values():
        out[agent] = max(secs, out.get(agent, 0))
    return out


def _append_records(repo: RepoState, records: list[tuple[bytes, int, str]]) -> int:
    """Add the records whose id is not recorded yet: the whole file replaced at once (a crash
    leaves the old file or the new one). The caller holds repack.lock. Returns how many."""
    from .storage.lockfile import LockFile
    path = pruned_path(repo.trace_dir)
    have = pruned_records(repo.trace_dir)
    new, seen = [], set(have)
    for oid, secs, agent in records:
        if oid not in seen:
            seen.add(oid)
            new.append(f"{oid.hex()} {secs} {agent}\n".encode("ascii"))
    if not new:
        return 0
    from .storage import safefs
    try:
        old = safefs.read_inside(repo.trace_dir, path, MAX_PRUNED_BYTES + 1)
    except FileNotFoundError:
        old = b""
    # (repack.lock excludes every other writer: a leftover pruned.lock is a killed one's)
    with LockFile(path, fsync=repo.durability == "full", steal=True, top=repo.trace_dir) as lk:
        lk.write(old + b"".join(new))
    return len(new)


# -- policies ------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Policy:
    """The expiry (seconds, NEVER: none) that applies to one agent path, and the key that set
    it (None when no pattern matched)."""

    expire_s: int
    key: str | None
    value: str | None


def policies(repo: RepoState) -> list[str]:
    """The retention patterns configured (each checked: ConfigError for a bad one)."""
    pats = repo.config.subsections("retention")
    for p in pats:
        check_agent_pattern(f"retention.{p}", p)
        for name in (COLLAPSED_KEY, ABANDONED_KEY):  # a bad value fails now, not on a match
            repo.config.get_typed(f"retention.{p}.{name}")
    return pats


def policy_for(repo: RepoState, patterns: list[str], agent: str, name: str) -> Policy:
    """The policy `retention.<pattern>.<name>` of agent path `agent`: of the patterns that match
    it and set that key, the longest (ties: the first in sorted order)."""
    best: tuple[int, str] | None = None
    for p in patterns:
        if fnmatch.fnmatchcase(agent, p) and \
                repo.config.get_typed(f"retention.{p}.{name}") is not None:
            rank = (-len(p), p)
            if best is None or rank < best:
                best = rank
    if best is None:
        return Policy(NEVER, None, None)
    key = f"retention.{best[1]}.{name}"
    return Policy(repo.config.get_typed(key), key, repo.config.get(key))


# -- namespaces ----------------------------------------------------------------------------------
def _children(root: str) -> list[tuple[str, str]]:
    """(name, directory) of the agent namespaces directly below namespace directory `root`
    (symlinks, stray files and non-agent names are skipped, as gc skips them)."""
    from .refs.names import check_agent_name
    adir = os.path.join(root, "agents")
    if os.path.islink(adir):
        return []               # never followed (fsck reports it: symlinkInRepository)
    try:
        names = sorted(os.listdir(adir))
    except (FileNotFoundError, NotADirectoryError):
        return []
    out = []
    for name in names:
        path = os.path.join(adir, name)
        if os.path.islink(path) or not os.path.isdir(path):
            continue
        try:
            check_agent_name(name)
        except InvalidRefName:
            continue
        out.append((name, path))
    return out


def _subtree(path: str, root: str, depth: int) -> list[tuple[str, str, int]]:
    """(agent path, directory, depth) of namespace `root` and every namespace below it."""
    from .refs import MAX_AGENT_DEPTH
    out, stack = [], [(path, root, depth)]
    while stack:
        p, d, k = stack.pop()
        out.append((p, d, k))
        if k < MAX_AGENT_DEPTH:
            stack.extend((f"{p}/{n}", sub, k + 1) for n, sub in reversed(_children(d)))
    return out


def _refs(repo: RepoState, directory: str) -> RefStore:
    from .refs import RefStore
    return RefStore(directory, durability=repo.durability, who=repo.who, top=repo.trace_dir)


def _last_activity_ms(repo: RepoState, directory: str, depth: int) -> int:
    """The newest ref record of any ref of namespace `directory` and every namespace below it
    (a damaged ref file raises: its activity cannot be known)."""
    newest = 0
    for _p, d, _k in _subtree("", directory, depth):
        refs = _refs(repo, d)
        for name in refs.names(""):
            e = refs.read_entry(name)
            if e is not None:
                newest = max(newest, e.time_ms)
    return newest


def _hex(raw: str | None) -> bytes | None:
    if raw is None or raw.startswith("ref:") or len(raw) != 2 * ID_LEN:
        return None
    try:
        return bytes.fromhex(raw)
    except ValueError:
        return None


def _pointers(repo: RepoState, refs: RefStore) -> tuple[list[bytes], Any]:
    """(ids into this namespace's history held by its parent's commits, its latest collapse
    commit or None): the root (SPAWNED), and the `tip` and `root` of every collapse commit
    from COLLAPSED back along `again`. A collapse commit that is gone ends the chain."""
    ids: list[bytes] = []
    root = refs.read_id("SPAWNED")
    if root is not None:
        ids.append(root)
    latest = None
    cid, seen = refs.read_id("COLLAPSED"), set[bytes]()
    while cid is not None and cid not in seen and len(seen) < _MAX_AGAIN:
        seen.add(cid)
        try:
            c = repo.get_commit(cid)
        except MissingObject:
            break
        latest = latest or c
        meta = c.meta if isinstance(c.meta, dict) else {}
        for key in ("tip", "root"):
            v = meta.get(key)
            if isinstance(v, bytes) and len(v) == ID_LEN and v not in ids:
                ids.append(v)
        again = meta.get("again")
        cid = again if isinstance(again, bytes) and len(again) == ID_LEN else None
    return ids, latest


# -- applying ------------------------------------------------------------------------------------
@dataclass
class Pruning:
    """One child a policy prunes (or, in a dry run, would prune). Times are milliseconds."""

    agent: str                      # its path (a/b: sub-agent b of a)
    reason: str                     # "collapsed" or "abandoned" (never collapsed)
    key: str                        # the key that applies: retention.<pattern>.<name>
    value: str                      # its value as written
    since: int                      # the time its age is measured from (collapse, last activity)
    age_s: int                      # seconds from `since` to now
    collapsed_by: str | None        # the parent's latest collapse commit (hex)
    pointers: list[str] = field(default_factory=list)   # ids recorded in `pruned` (hex)
    nested: list[str] = field(default_factory=list)     # sub-agents removed with it
    done: bool = False              # applied (False in a dry run)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def describe(self) -> str:
        """One line: what is (or would be) pruned, and why."""
        days = self.age_s / 86400
        what = ("its history pruned down to the collapse commit "
                f"{self.collapsed_by[:12]}" if self.reason == "collapsed" and self.collapsed_by
                else "removed")
        inner = f", with {len(self.nested)} nested agent(s)" if self.nested else ""
        why = ("collapsed" if self.reason == "collapsed" else "never collapsed") + \
            f", idle {days:.1f} days"
        return f"agent {self.agent}: {why} >= {self.key} = {self.value}: {what}{inner}"


def apply_retention(repo: RepoState, now: float | None = None,
                    dry_run: bool = False) -> list[Pruning]:
    """Apply the retention policies (docs/multiagent.md, "Retention and gc") to every spawned
    sub-agent of the repository; returns what was pruned (with `dry_run`, what would be, and
    nothing is changed). A child is due when `now` minus the later of its collapse and its
    last activity (the newest ref record in its namespace or any namespace below it) reaches
    its `collapsed-expire` (collapsed children) or `abandoned-expire` (never collapsed). `trace
    gc` calls this first. Namespaces made without spawn (`--create`) are never touched."""
    if now is not None and (isinstance(now, bool) or not isinstance(now, (int, float))
                            or not math.isfinite(now)):
        raise InputError(f"now must be a time in seconds since the epoch, not {now!r:.40}")
    now_s = time.time() if now is None else float(now)
    if not dry_run:
        _clear_trash(repo.trace_dir)
    pats = policies(repo)
    if not pats:
        return []
    pruned_records(repo.trace_dir)   # a damaged record file stops everything, before any change
    found: list[tuple[Pruning, str, list[tuple[bytes, int, str]]]] = []
    stack = [(p, d, 1) for p, d in reversed(_children(repo.trace_dir))]
    while stack:
        path, directory, depth = stack.pop()
        got = _decide(repo, pats, path, directory, depth, now_s)
        if got is not None:
            found.append(got)
            continue            # its sub-agents go with it
        from .refs import MAX_AGENT_DEPTH
        if depth < MAX_AGENT_DEPTH:
            stack.extend((f"{path}/{n}", d, depth + 1) for n, d in reversed(_children(directory)))
    if dry_run or not found:
        return [f[0] for f in found]
    from .storage.repack import RepackLock
    lock = RepackLock(repo.store.pack_dir, wait=True)
    try:
        done = []
        for item, directory, records in found:
            # activity since the decision (a process still at work) cancels it
            again = _decide(repo, pats, item.agent, directory, item.agent.count("/") + 1, now_s)
            if again is None:
                continue
            _append_records(repo, records)
            if remove_namespace(repo.trace_dir, directory):
                item.done = True
                done.append(item)
    finally:
        lock.release()
    return done


def _decide(repo: RepoState, pats: list[str], path: str, directory: str, depth: int,
            now_s: float) -> tuple[Pruning, str, list[tuple[bytes, int, str]]] | None:
    """(the Pruning, its directory, the records to write) when child `path` is due, else None."""
    refs = _refs(repo, directory)
    if refs.read_id("SPAWNED") is None:
        return None             # not a spawned sub-agent
    ids, collapse = _pointers(repo, refs)
    reason = "collapsed" if collapse is not None or refs.read_id("COLLAPSED") else "abandoned"
    pol = policy_for(repo, pats, path, COLLAPSED_KEY if reason == "collapsed" else ABANDONED_KEY)
    if pol.key is None or pol.expire_s >= NEVER:
        return None
    since = _last_activity_ms(repo, directory, depth)
    if collapse is not None:
        since = max(since, collapse.time_ms)
    age_ms = now_s * 1000 - since
    if age_ms < pol.expire_s * 1000:
        return None
    if _keeps_own_work(repo, refs, ids if reason == "collapsed" else None, directory, depth):
        return None
    secs = int(now_s)
    records = [(i, secs, path) for i in ids]
    nested = []
    for p, d, _k in _subtree(path, directory, depth)[1:]:
        nested.append(p)
        sub_ids, _c = _pointers(repo, _refs(repo, d))
        records.extend((i, secs, p) for i in sub_ids)
    item = Pruning(agent=path, reason=reason, key=pol.key, value=pol.value or "",
                   since=since, age_s=int(age_ms // 1000),
                   collapsed_by=collapse.hex if collapse is not None else None,
                   pointers=[i.hex() for i, _s, _p in records], nested=nested)
    return item, directory, records


#: the pseudo-refs that only record a sub-agent's life (they hold no work of its own)
_MARKERS = ("SPAWNED", "COLLAPSED", "ABANDONED", "ORIG_HEAD")


def _keeps_own_work(repo: RepoState, refs: RefStore, carried_from: list[bytes] | None,
                    directory: str, depth: int) -> bool:
    """Whether pruning this namespace would lose work no collapse carries: for a collapsed
    child (`carried_from`: the pointers its collapses hold), a ref of it naming a commit that
    is not one of theirs or an ancestor (it moved on after its collapse, or a branch holds
    other work); and for any child, a namespace below it made without spawn (`--create`) that
    has a commit (not ours to expire)."""
    if carried_from is not None:
        carried: set = set()
        stack = list(carried_from)
        while stack:
            cid = stack.pop()
            if cid in carried:
                continue
            carried.add(cid)
            try:
                stack.extend(repo.get_commit(cid).parents)
            except MissingObject:
                continue
        for name, raw in refs.list(""):
            oid = _hex(raw)
            if name not in _MARKERS and oid is not None and oid not in carried:
                return True
    for _p, d, _k in _subtree("", directory, depth)[1:]:
        sub = _refs(repo, d)
        if sub.read_id("SPAWNED") is None and any(
                _hex(raw) is not None for _n, raw in sub.list("")):
            return True
    return False


def remove_namespace(trace_dir: str, directory: str) -> bool:
    """Rename namespace `directory` to a dot-name beside it (atomic), then delete that tree
    without following symlinks. False when it was gone already. (Spawn also uses it to take
    back the namespaces it made when the parent's commit fails.)"""
    parent = os.path.dirname(directory)
    if os.path.basename(parent) != "agents" or os.path.islink(directory) or \
            os.path.commonpath([os.path.realpath(trace_dir), os.path.realpath(parent)]) != \
            os.path.realpath(trace_dir):
        raise RepositoryError(f"{directory}: not an agent namespace inside {trace_dir}")
    trash = os.path.join(parent, f"{TRASH_PREFIX}{os.path.basename(directory)}-{os.getpid()}")
    try:
        os.rename(directory, trash)
    except FileNotFoundError:
        return False
    _rmtree(trash)
    return True


def _rmtree(path: str) -> None:
    # shutil.rmtree removes symlinks found inside as links, never their targets, and refuses a
    # symlink as the top directory
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


def _clear_trash(trace_dir: str) -> None:
    """Finish removals a killed gc left (`agents/.pruning-*` directories, at any depth)."""
    from .refs import MAX_AGENT_DEPTH
    stack = [(trace_dir, 0)]
    while stack:
        root, depth = stack.pop()
        adir = os.path.join(root, "agents")
        if os.path.islink(adir):
            continue
        try:
            names = os.listdir(adir)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = os.path.join(adir, name)
            if os.path.islink(path) or not os.path.isdir(path):
                continue
            if name.startswith(TRASH_PREFIX):
                _rmtree(path)
            elif not name.startswith(".") and depth < MAX_AGENT_DEPTH:
                stack.append((path, depth + 1))
