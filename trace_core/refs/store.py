"""RefStore: read, compare-and-swap, delete and list the refs of one namespace (repo or agent)."""

from __future__ import annotations

import builtins
import fcntl
import os
import threading
import time
import weakref
from collections.abc import Callable, Iterator

from ..errors import CorruptRef, InvalidObjectId, RefConflict, RefNotFound, SymrefLoop, TraceError
from ..ids import ZERO_HEX, is_hex_id
from ..storage import safefs
from .names import PSEUDO_REFS, check_ref_format, check_writable
from .reffile import KeptFiles, LockedRef, RefLogEntry, damaged, read_all, read_value, scan_file

MAX_SYMREF_DEPTH = 5


class _Any:
    def __repr__(self) -> str:
        return "ANY"


#: Pass as the expected old value to skip the compare in a compare-and-swap.
ANY = _Any()
Expected = str | _Any | None  # None: the ref must not exist


def _wall_ms() -> int:
    return int(time.time() * 1000)


_clock = threading.Lock()
_last_ms = 0    # the latest reflog time this process wrote


def _now_ms(after: int = -1) -> int:
    """The time of a new reflog record: the wall clock, never earlier than a record this process
    already wrote, and later than `after`. Records in different logs share only this clock, so
    HEAD's moves onto and off a branch are logged strictly after what came before them (see
    `RefStore._record`): a reader can then place a branch's moves between HEAD's, even when
    many land in one millisecond."""
    global _last_ms
    with _clock:
        _last_ms = max(_wall_ms(), _last_ms, after + 1)
        return _last_ms


def _check_new(value: str) -> str:
    if not isinstance(value, str) or not is_hex_id(value) or value == ZERO_HEX:
        raise InvalidObjectId(f"a ref must hold a 64-hex-digit object id, not {value!r}")
    return value.lower()


def _matches(current: RefLogEntry | None, expected: Expected) -> bool:
    if expected is ANY:
        return True
    value = current.new if current is not None else None
    return value == expected


def _describe(value: Expected) -> str:
    if not isinstance(value, str):
        return "absent" if value is None else repr(value)
    return value[:12] if is_hex_id(value) else value


_HEAD_TRIES = 5     # reads of an empty agent HEAD before it counts as damage (_settle_head)


class RefStore:
    """The refs under `root`: HEAD and other pseudo refs at the top, the rest under refs/.

    `top` (default `root`) is the repository's `.trace` directory: no symlink between it and a
    ref file is followed (UnsafePath). With `head_required` (the root namespace of a repository)
    a HEAD that is missing or holds no record raises CorruptRef instead of reading as absent."""

    def __init__(self, root: str, durability: str = "normal", who: str = "trace",
                 top: str | None = None, head_required: bool = False) -> None:
        self.root = os.path.abspath(root)
        self.top = os.path.abspath(top) if top else self.root
        self.durability = durability
        self.who = who
        self.head_required = head_required
        self._cache: dict = {}  # path -> (stat key, record): see reffile.read_value
        self._verified: set = set()  # directories found real (safefs.check_dirs)
        self._paths: dict = {}  # ref name -> its file's path
        #: the ref files compare-and-swap keeps open between updates (closed by `close`, or
        #: when this store is garbage)
        self._kept = KeptFiles()
        weakref.finalize(self, self._kept.close)
        #: called before a ref is set to an object id (RepoState: the object store's
        #: publish_batch, so a ref never names an object still held in a transaction's batch)
        self.before_write: Callable[[], None] | None = None

    def close(self) -> None:
        """Close the ref files kept open between updates (the store stays usable)."""
        self._kept.close()

    def share_kept_files(self, other: RefStore) -> None:
        """Keep ref files in `other`'s set (an agent or worktree view of one repository: its
        bound holds for the whole repository, and closing the root closes them all)."""
        self._kept = other._kept

    def _path(self, name: str) -> str:
        path = self._paths.get(name)
        if path is None:
            if len(self._paths) >= 1024:
                self._paths.clear()
            path = self._paths[name] = os.path.join(self.root, *name.split("/"))
        return path

    def _lock(self, name: str, whole: bool = False, keep: bool = False) -> LockedRef:
        return LockedRef(self.root, name, self.durability, top=self.top, whole=whole,
                         verified=self._verified, kept=self._kept if keep else None,
                         path=self._path(name))

    # -- reading ------------------------------------------------------------------------------
    def read_entry(self, name: str) -> RefLogEntry | None:
        path = self._path(check_writable(name))
        e = read_value(path, self._cache, self.top, self._verified)
        if e is None and name == "HEAD":
            e, problem = self._settle_head(path)
            if problem:
                raise CorruptRef(problem)
        return e

    def _settle_head(self, path: str) -> tuple[RefLogEntry | None, str | None]:
        """(HEAD's record, why its absence is damage) for a HEAD file found without a record.
        A new agent has no HEAD yet (None, None). A spawn making the namespace creates the file
        empty, then locks and writes it: while it is locked, or until it is written (a few
        tries 10 ms apart), that is not damage; an empty, unlocked HEAD file that stays so in a
        namespace with refs is (a writer was killed there)."""
        problem = self._head_problem(path)
        for _ in range(_HEAD_TRIES if problem and not self.head_required else 0):
            if self._locked(path):
                return None, None
            e = read_value(path, self._cache, self.top, self._verified)
            if e is not None:
                return e, None
            time.sleep(0.01)
            problem = self._head_problem(path)
        return None, problem

    def _head_problem(self, path: str) -> str | None:
        """Why an absent HEAD record is damage here, or None (a new agent has no HEAD yet)."""
        if self.head_required:
            return (f"{path} is missing or holds no record: every repository has a HEAD; "
                    "point it at a branch with 'trace symbolic-ref HEAD refs/heads/main'")
        if os.path.lexists(path) and self._has_refs():
            # an agent's HEAD file without a complete record while the agent has branches:
            # damage, not a new agent (that has no HEAD file, or no refs yet)
            return (f"{path} holds no complete record while this namespace has refs; point it "
                    "at a branch with 'trace --agent NAME symbolic-ref HEAD refs/heads/main'")
        return None

    @staticmethod
    def _locked(path: str) -> bool:
        """Whether a writer holds the lock of the ref file at `path`."""
        try:
            fd = safefs.open_fd(path, os.O_RDONLY)
        except OSError:
            return False
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        finally:
            os.close(fd)
        return False

    def head_missing(self) -> str | None:
        """fsck's question: why this namespace's HEAD is missing (None when it has a record, or
        may lack one). Damage to the record itself raises CorruptRef as every read does."""
        path = self._path("HEAD")
        if read_value(path, self._cache, self.top, self._verified) is not None:
            return None
        return self._settle_head(path)[1]

    def _has_refs(self) -> bool:
        """Whether any ref file exists under refs/ (without reading one)."""
        return any(files for _base, _dirs, files in os.walk(os.path.join(self.root, "refs")))

    def read(self, name: str) -> str | None:
        """The raw value of `name`: a hex id, `ref:<target>`, or None if it does not exist."""
        e = self.read_entry(name)
        return e.new if e is not None else None

    def read_id(self, name: str) -> bytes | None:
        """The raw id `name` itself holds; None when it is absent or symbolic (the pseudo-refs
        that record a sub-agent's life: SPAWNED, COLLAPSED, ABANDONED)."""
        raw = self.read(name)
        return None if raw is None or raw.startswith("ref:") else bytes.fromhex(raw)

    def resolve_target(self, name: str) -> tuple:
        """(the ref `name` finally names through symbolic refs, the id it holds or None)."""
        target = check_writable(name)
        for _ in range(MAX_SYMREF_DEPTH + 1):
            raw = self.read(target)
            if raw is None or not raw.startswith("ref:"):
                return target, raw
            target = check_writable(raw[4:])
        raise SymrefLoop(f"ref {name}: symbolic refs nest deeper than {MAX_SYMREF_DEPTH}")

    def resolve(self, name: str) -> str | None:
        """The id `name` finally points to, or None (absent ref or unborn branch)."""
        return self.resolve_target(name)[1]

    def list(self, prefix: str = "") -> list:
        """Sorted (name, raw value) for every existing ref whose name starts with `prefix`."""
        out = []
        for name in self._names():
            if name.startswith(prefix):
                raw = self.read(name)
                if raw is not None:
                    out.append((name, raw))
        return out

    def names(self, prefix: str = "", skip_symlinks: bool = False) -> builtins.list[str]:
        """Sorted names of the ref files whose name starts with `prefix` (without reading
        them). A symlinked directory on the way raises UnsafePath, and a symlinked ref file is
        listed (reading it raises), unless `skip_symlinks` (fsck, which reports each)."""
        return [n for n in self._names(skip_symlinks) if n.startswith(prefix)]

    def _names(self, skip_symlinks: bool = False) -> Iterator[str]:
        for p in PSEUDO_REFS:
            path = self._path(p)
            link = os.path.islink(path)
            if (link and not skip_symlinks) or (not link and os.path.isfile(path)):
                yield p  # (a symlink too: reading it is refused, loudly)
        base = os.path.join(self.root, "refs")
        if not (skip_symlinks and os.path.islink(base)):
            yield from self._ref_names(base, skip_symlinks)

    def _ref_names(self, base: str, skip_symlinks: bool) -> Iterator[str]:
        safefs.check_dirs(self.top, base)
        found = []
        for dirpath, dirnames, filenames in os.walk(base):
            for d in dirnames:
                if os.path.islink(os.path.join(dirpath, d)) and not skip_symlinks:
                    raise safefs.refuse(os.path.join(dirpath, d))
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for f in filenames:
                if skip_symlinks and os.path.islink(os.path.join(dirpath, f)):
                    continue
                name = f"{rel}/{f}"
                try:
                    check_writable(name)
                except Exception:
                    continue  # lock files, editor droppings: not refs
                found.append(name)
        yield from sorted(found)

    def reflog(self, name: str) -> builtins.list[RefLogEntry]:
        """Every recorded move of `name`, newest first (a torn tail skipped). CorruptRef if any
        record is damaged: a skipped entry would make `name@{n}` name another commit."""
        path = self._path(check_writable(name))
        scan = scan_file(read_all(path, self.top))
        if scan.damage:
            raise damaged(path, scan.damage[0], current=scan.current_damaged)
        return [r for _, r in reversed(scan.records)]

    def intact_records(self, name: str) -> builtins.list[RefLogEntry]:
        """The valid records of `name`'s file, newest first, even if others are damaged: what
        fsck counts as reachable from a damaged ref (never a value to use)."""
        return [r for _, r in reversed(scan_file(read_all(self._path(name), self.top)).records)]

    def resolve_at(self, name: str, n: int) -> str:
        """The id `name` held `n` moves ago (n=0: now), from its reflog."""
        entries = [e for e in self.reflog(name) if not e.new.startswith("ref:")]
        if not 0 <= n < len(entries):
            raise RefNotFound(f"{name}@{{{n}}}: the reflog of {name} has only {len(entries)} "
                              "entries")
        return entries[n].new

    # -- writing ------------------------------------------------------------------------------
    def _target(self, name: str, deref: bool) -> str:
        return self.resolve_target(name)[0] if deref else check_writable(name)

    def _record(self, new: str, current: RefLogEntry | None, message: str,
                who: str | None, time_ms: int | None) -> RefLogEntry:
        old = current.new if current is not None else ZERO_HEX
        if time_ms is None:
            time_ms = _now_ms(self._last_time(old, new) if "ref:" in (new[:4], old[:4]) else -1)
        return RefLogEntry(new, old, int(time_ms), self.who if who is None else who, message)

    def _last_time(self, *values: str) -> int:
        """For a move onto or off a branch: the time after which it is logged, i.e. the latest
        record this process wrote and the last record of each branch `values` name (unless it
        claims a time over a minute ahead of the clock: a log is data, and must not move the
        times this process writes)."""
        t, horizon = _last_ms, _wall_ms() + 60_000
        for v in values:
            if v.startswith("ref:"):
                try:
                    e = self.read_entry(v[4:])
                except TraceError:      # a damaged branch does not stop HEAD moving off it
                    e = None
                if e is not None and e.time_ms <= horizon:
                    t = max(t, e.time_ms)
        return t

    def set_if_equals(self, name: str, old: Expected, new: str, message: str = "",
                      who: str | None = None, deref: bool = True,
                      time_ms: int | None = None) -> str:
        """Point `name` (or, with `deref`, the ref it symbolically names) at `new` if it holds
        `old` (ANY: whatever it holds; None: it must not exist). Returns the ref written.
        Raises RefConflict when the ref holds something else."""
        new = _check_new(new)
        target = self._target(name, deref)
        if self.before_write is not None:
            self.before_write()
        with self._lock(target, keep=True) as f:
            if not _matches(f.current, old):
                now = f.current.new if f.current is not None else None
                raise RefConflict(f"ref {target} is {_describe(now)}, "
                                  f"expected {_describe(old)}")
            f.append(self._record(new, f.current, message, who, time_ms), self._cache)
        return target

    def add_if_new(self, name: str, new: str, message: str = "", who: str | None = None) -> str:
        return self.set_if_equals(name, None, new, message, who=who, deref=False)

    def remove_if_equals(self, name: str, old: Expected = ANY, message: str = "",
                         deref: bool = False) -> str:
        """Delete `name` (and its reflog) if it holds `old`; RefNotFound if it does not exist."""
        target = self._target(name, deref)
        with self._lock(target, whole=True) as f:  # deleting would erase a damaged reflog
            if f.current is None:
                raise RefNotFound(f"ref {target} does not exist")
            if not _matches(f.current, old):
                raise RefConflict(f"ref {target} is {_describe(f.current.new)}, "
                                  f"expected {_describe(old)}")
            f.remove()
            f.current = None
            f.created = False
        return target

    def rename(self, old: str, new: str, message: str = "", force: bool = False) -> None:
        """Move ref `old` to `new` with its log (as `git branch -m`), both locked meanwhile.
        `new` must not exist unless `force` (then its log is replaced)."""
        old, new = check_writable(old), check_writable(new)
        if old == new:
            raise RefConflict(f"cannot rename {old} to itself")
        locks = {n: self._lock(n, whole=True) for n in sorted((old, new))}
        try:
            for f in locks.values():
                f.acquire()
            src, dst = locks[old], locks[new]
            if src.current is None:
                raise RefNotFound(f"ref {old} does not exist")
            if dst.current is not None and not force:
                raise RefConflict(f"ref {new} already exists")
            data = os.pread(src.fd, src.valid_end, 0)
            if dst.size:
                dst.truncate_to(0)
            os.write(dst.fd, data)
            dst.size = dst.valid_end = len(data)
            dst.current = src.current
            dst.append(self._record(src.current.new, src.current, message, None, None),
                       self._cache)
            src.remove()
            src.current, src.created = None, False
        finally:
            for f in locks.values():
                f.release()

    def set_symbolic(self, name: str, target: str, message: str = "",
                     who: str | None = None) -> None:
        """Make `name` a symbolic ref to `target` (a name under refs/)."""
        name = check_writable(name)
        check_ref_format(target)
        if not target.startswith("refs/"):
            raise RefConflict(f"refusing to point {name} at {target}: targets live under refs/")
        if name == "HEAD" and not target.startswith("refs/heads/"):
            raise RefConflict(f"refusing to point HEAD outside refs/heads/ ({target}): commits "
                              "would move it")
        with self._lock(name) as f:
            f.append(self._record(f"ref:{target}", f.current, message, who, None))

    def expire_reflog(self, name: str, keep: Callable[[RefLogEntry], bool]) -> int:
        """Drop the log records of `name` that `keep` rejects (never its current value).

        Returns how many were dropped. The file is rewritten under its lock (lock file + rename);
        a file with a damaged record is refused (CorruptRef), never rewritten.
        """
        name = check_writable(name)
        with self._lock(name, whole=True) as f:
            if f.current is None:
                return 0
            data = os.pread(f.fd, f.valid_end, 0)  # (without the torn tail, if any)
            records = scan_file(data).records
            lines, dropped = [], 0
            for i, (off, rec) in enumerate(records):
                end = records[i + 1][0] if i + 1 < len(records) else len(data)
                if i < len(records) - 1 and not keep(rec):
                    dropped += 1
                    continue
                lines.append(data[off:end])
            if dropped:
                f.rewrite(b"".join(lines))
            return dropped

    def transaction(self) -> RefTransaction:
        return RefTransaction(self)

    # -- checking -----------------------------------------------------------------------------
    def check(self) -> builtins.list[tuple[str, str, str, str]]:
        """(kind, severity, ref name, message) for every problem in the ref files. Kinds (stable,
        used as fsck finding ids): badRefRecord and badReflogEntry (damage: errors),
        badRefFile, tornRefTail and strayRefFile (warnings). Symlinks are not entered here
        (fsck reports every one as symlinkInRepository)."""
        out = []
        base = os.path.join(self.root, "refs")
        for dirpath, _dirs, files in ([] if os.path.islink(base) else os.walk(base)):
            rel = os.path.relpath(dirpath, self.root).replace(os.sep, "/")
            for f in files:
                name = f"{rel}/{f}"
                if os.path.islink(os.path.join(dirpath, f)):
                    continue
                if f.endswith(".lock"):
                    out.append(("strayRefFile", "warning", name,
                                f"leftover lock file {name} (a killed writer)"))
                    continue
                try:
                    check_writable(name)
                except TraceError:
                    out.append(("strayRefFile", "warning", name,
                                f"file {name} is not a valid ref name"))
                    continue
                out.extend(self._check_file(name))
        for p in PSEUDO_REFS:
            path = self._path(p)
            if os.path.isfile(path) and not os.path.islink(path):
                out.extend(self._check_file(p))
        return out

    def _check_file(self, name: str) -> builtins.list[tuple[str, str, str, str]]:
        try:
            data = read_all(self._path(name), self.top)
        except TraceError as exc:
            return [("badRefFile", "error", name, f"ref {name}: {exc}")]
        scan = scan_file(data)
        out = []
        fix = (f"nothing writes to it until it is repaired: restore {name} from a backup, or "
               "move it aside and set the ref again ('trace update-ref "
               f"{name} <id>'; the ids are readable in the file)")
        if scan.current_damaged:
            out.append(("badRefRecord", "error", name,
                        f"ref {name}: its current record (byte {scan.damage[-1]}) is damaged, "
                        f"not torn; reading the ref fails and {fix}"))
        older = [off for off in scan.damage if not scan.current_damaged or off < scan.damage[-1]]
        if older:
            out.append(("badReflogEntry", "error", name,
                        f"ref {name} has {len(older)} damaged reflog record(s), first at byte "
                        f"{older[0]}; its reflog cannot be read (gc, @{{n}}) and {fix}"))
        if scan.torn is not None:
            what = ("holds only a torn first record (a writer killed while creating it); "
                    "the ref does not exist" if not scan.records else
                    f"ends in a torn record at byte {scan.torn} (ignored; the next update "
                    "cuts it off)")
            out.append(("tornRefTail", "warning", name, f"ref {name} {what}"))
        elif not scan.records and not scan.damage:
            out.append(("badRefFile", "warning", name,
                        f"ref {name} is an empty file (a writer killed while creating it); "
                        "the ref does not exist"))
        return out


class RefTransaction:
    """Several compare-and-swaps applied together: all refs are locked (in name order, so
    transactions cannot deadlock), every expected value is checked, then every update is
    appended in the order given. Concurrent writers see all of it or none; a process killed
    while appending leaves a prefix of the updates applied (each ref itself stays valid)."""

    def __init__(self, store: RefStore) -> None:
        self.store = store
        self.ops: list = []
        self.done = False

    def update(self, name: str, old: Expected, new: str, message: str = "",
               deref: bool = True) -> RefTransaction:
        self.ops.append(("update", self.store._target(name, deref), old, _check_new(new), message))
        return self

    def delete(self, name: str, old: Expected = ANY, message: str = "") -> RefTransaction:
        self.ops.append(("delete", check_writable(name), old, None, message))
        return self

    def commit(self) -> None:
        if self.done:
            raise RefConflict("this ref transaction was already committed")
        self.done = True
        names = [op[1] for op in self.ops]
        if len(set(names)) != len(names):
            raise RefConflict("a ref transaction may update each ref only once")
        if self.store.before_write is not None and any(op[0] == "update" for op in self.ops):
            self.store.before_write()
        locked: dict = {}
        try:
            for name in sorted(names):
                kind = next(op[0] for op in self.ops if op[1] == name)
                f = self.store._lock(name, whole=kind == "delete")
                f.acquire()
                locked[name] = f
            for kind, name, old, _new, _msg in self.ops:
                f = locked[name]
                if kind == "delete" and f.current is None:
                    raise RefNotFound(f"ref {name} does not exist")
                if not _matches(f.current, old):
                    now = f.current.new if f.current is not None else None
                    raise RefConflict(f"ref {name} is {_describe(now)}, "
                                      f"expected {_describe(old)}")
            for kind, name, _old, new, msg in self.ops:
                f = locked[name]
                if kind == "delete":
                    f.remove()
                    f.current, f.created = None, False
                else:
                    f.append(self.store._record(new, f.current, msg, None, None))
        finally:
            for f in locked.values():
                f.release()
