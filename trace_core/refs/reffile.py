"""One ref file: an append-only log whose last record is the ref's current value.

A record is one line (docs/FORMAT.md, "Refs"):

    <new> SP <old> SP <time_ms> TAB <who> TAB <message> TAB <crc32 as 8 hex> LF

`new`/`old` are 64 hex digits or `ref:<name>` (a symbolic ref); an `old` of 64 zeros means the
ref did not exist. The CRC covers every byte before the last TAB.

Torn versus damaged (FORMAT.md §9.3): the bytes after the file's last LF are a **torn tail**
(a writer killed mid-append) only if they are the beginning of a record; readers ignore them and
the next writer cuts them off. Anything else that is not a record (a complete line failing its
CRC, a tail no record starts with) is **damage**: reading the ref raises CorruptRef when it
touches the current record, and no writer truncates, rewrites or deletes the file.

Writers hold an exclusive `flock` on the open file while they read the tail, compare, and
append; after locking they check the path still names the file they locked (a delete or a
reflog rewrite replaces it), so no update can land in an unlinked file. Files are opened with
O_NOFOLLOW below directories checked to be real (storage/safefs.py).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import re
import stat
import zlib
from collections.abc import Iterator
from typing import NamedTuple

from ..errors import CorruptRef, RefError
from ..ids import ZERO_HEX
from ..storage import safefs
from ..storage.lockfile import fsync_dir, write_file_atomic

TAIL_READ = 4096
MAX_WHO = 128
MAX_MESSAGE = 500


class RefLogEntry(NamedTuple):
    """One move of a ref: values are hex ids (64 zeros = absent) or `ref:<name>`."""

    new: str
    old: str
    time_ms: int
    who: str
    message: str


def _clean(text: str, limit: int) -> str:
    text = str(text)
    if text.isprintable():  # the common case: no control characters (TAB, LF, ...) at all
        return text[:limit]
    text = "".join(" " if (ord(c) < 32 or ord(c) == 127) else c for c in str(text))
    return text[:limit]


def encode_record(e: RefLogEntry) -> bytes:
    body = (f"{e.new} {e.old} {int(e.time_ms)}\t{_clean(e.who, MAX_WHO)}\t"
            f"{_clean(e.message, MAX_MESSAGE)}").encode("utf-8", "replace")
    return body + b"\t%08x\n" % zlib.crc32(body)


def _valid_value(v: str, allow_zero: bool) -> bool:
    if v.startswith("ref:"):
        return len(v) > 4
    if len(v) != 64 or v != v.lower():
        return False
    try:
        bytes.fromhex(v)
    except ValueError:
        return False
    return allow_zero or v != ZERO_HEX


_CRC_FIELD = re.compile(rb"[0-9a-f]{8}")
_TIME = re.compile(r"-?[0-9]+")


def parse_record(line: bytes) -> RefLogEntry | None:
    """The record in `line` (without its LF), or None if it is torn or corrupt."""
    cut = line.rfind(b"\t")
    if cut < 0 or len(line) - cut != 9 or not _CRC_FIELD.fullmatch(line, cut + 1):
        return None
    body = line[:cut]
    try:
        if int(line[cut + 1:], 16) != zlib.crc32(body):
            return None
        head, who, message = body.decode("utf-8").split("\t")
        new, old, when = head.split(" ")
        if not _TIME.fullmatch(when):
            return None
        time_ms = int(when)
    except ValueError:
        return None
    if not (_valid_value(new, False) and _valid_value(old, True)):
        return None
    return RefLogEntry(new, old, time_ms, who, message)


# -- torn or damaged (docs/FORMAT.md §9.3) ---------------------------------------------------------
_HEX_PREFIX = re.compile(rb"[0-9a-f]{0,64}")
_TIME_PREFIX = re.compile(rb"-?[0-9]*")
_CONTROL = re.compile(rb"[\x00-\x1f\x7f]")
_NAME_PREFIX = re.compile(rb"ref:[\x21-\x7e\x80-\xff]*")


def _value_prefix(v: bytes, complete: bool, allow_zero: bool) -> bool:
    if complete:
        try:
            return _valid_value(v.decode("utf-8"), allow_zero)
        except UnicodeDecodeError:
            return False
    return (b"ref:".startswith(v) or bool(_NAME_PREFIX.fullmatch(v))
            or bool(_HEX_PREFIX.fullmatch(v)))


def _head_prefix(head: bytes, complete: bool) -> bool:
    parts = head.split(b" ")
    if len(parts) > 3 or (complete and len(parts) != 3):
        return False
    for i, part in enumerate(parts):
        done = complete or i < len(parts) - 1  # a separator follows this part
        if i < 2:
            ok = _value_prefix(part, done, allow_zero=i == 1)
        else:
            ok = bool(_TIME_PREFIX.fullmatch(part)) and (not done or part not in (b"", b"-"))
        if not ok:
            return False
    return True


def is_torn_tail(tail: bytes) -> bool:
    """Whether `tail` (the bytes after a ref file's last LF) can be what a killed writer left:
    the beginning of a record (§9.2), possibly followed by NUL bytes (a file system that
    extended the file but lost the data in a power loss). A record whose LF alone is missing
    must pass its CRC. Anything else is damage."""
    t = tail.rstrip(b"\0")
    fields = t.split(b"\t")
    if len(fields) > 4 or not _head_prefix(fields[0], complete=len(fields) > 1):
        return False
    for f, limit in zip(fields[1:3], (MAX_WHO, MAX_MESSAGE), strict=False):
        if _CONTROL.search(f) or len(f) > 4 * limit:
            return False
    if len(fields) == 4:
        crc = fields[3]
        if not _HEX_PREFIX.fullmatch(crc) or len(crc) > 8:
            return False
        if len(crc) == 8:
            return parse_record(t) is not None
    return True


def damaged(path: str, offset: int, current: bool = True) -> CorruptRef:
    what = ("its current record" if current else "an older record")
    return CorruptRef(f"ref file {path} is damaged at byte {offset} ({what} is not a valid "
                      "record and not a torn write); refusing to use it: run 'trace fsck'")


def iter_records(data: bytes) -> Iterator[tuple]:
    """(offset, record or None) for every line of a whole file, oldest first (a final line
    without LF included, as None)."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            yield pos, None
            return
        yield pos, parse_record(data[pos:nl])
        pos = nl + 1


class FileScan(NamedTuple):
    """A whole ref file, classified: its records, the offsets of damaged lines (a final line
    that is not a torn tail included), the torn tail's offset, and whether the current record
    (the last complete line, or a damaged final line) is damaged."""

    records: list
    damage: list
    torn: int | None
    current_damaged: bool


def scan_file(data: bytes) -> FileScan:
    records, bad, torn = [], [], None
    last_line = -1
    for off, rec in iter_records(data):
        if rec is not None:
            records.append((off, rec))
            last_line = off
        elif data.find(b"\n", off) < 0 and is_torn_tail(data[off:]):
            torn = off
        else:
            bad.append(off)
            if data.find(b"\n", off) >= 0:
                last_line = max(last_line, off)
    return FileScan(records, bad, torn, bool(bad) and bad[-1] >= last_line)


def parse_tail(data: bytes, at_start: bool, path: str = "", base: int = 0) -> tuple:
    """(current record or None, byte offset just past it) within `data`, the file's bytes from
    offset `base`. Raises CorruptRef (naming `path`) if the current record is damaged; returns
    (None, -1) when `data` (not starting at offset 0) does not hold the whole current record."""
    nl = data.rfind(b"\n")
    if nl < 0 and not at_start:
        return None, -1
    tail = data[nl + 1:]
    if tail and not is_torn_tail(tail):
        raise damaged(path, base + nl + 1)
    if nl < 0:
        return None, 0  # nothing but a torn first record: the ref does not exist
    prev = data.rfind(b"\n", 0, nl)
    if prev < 0 and not at_start:
        return None, -1
    rec = parse_record(data[prev + 1:nl])
    if rec is None:
        raise damaged(path, base + prev + 1)
    return rec, nl + 1


def read_last(fd: int, size: int, path: str = "") -> tuple:
    """(current record or None, offset past it; 0 if none) of an open ref file; CorruptRef
    if that record is damaged (only the tail is read: older records are fsck's business)."""
    if size == 0:
        return None, 0
    start = max(0, size - TAIL_READ)
    rec, end = parse_tail(os.pread(fd, size - start, start), start == 0, path, start)
    if end < 0:  # a long torn tail or long lines: read it all
        start = 0
        rec, end = parse_tail(os.pread(fd, size, 0), True, path)
    return (rec, start + end) if rec is not None else (None, 0)


def stat_key(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_value(path: str, cache: dict | None = None, top: str | None = None,
               verified: set | None = None) -> RefLogEntry | None:
    """The current record of the ref file at `path` (no lock: appends are whole records), or
    None if it does not exist. CorruptRef if that record is damaged; UnsafePath if the file or a
    directory below `top` on the way to it is a symlink.

    With `cache` (path -> (stat key, record)), an unchanged file costs one lstat: every update
    appends or replaces the file, so it changes size or inode. Only lock-free reads use this;
    compare-and-swap always re-reads under the lock. `verified`: see safefs.check_dirs.
    """
    if cache is not None:
        try:
            st = os.lstat(path)
        except (FileNotFoundError, NotADirectoryError):
            cache.pop(path, None)
            return None
        hit = cache.get(path)
        if hit is not None and hit[0] == stat_key(st):
            return hit[1]
    try:
        if top is not None:
            safefs.check_dirs(top, os.path.dirname(path), verified)
        fd = safefs.open_fd(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):  # a directory of refs (refs/heads/a for refs/heads/a/b)
            return None
        rec = read_last(fd, st.st_size, path)[0]
    finally:
        os.close(fd)
    if cache is not None:
        cache[path] = (stat_key(st), rec)
    return rec


def read_all(path: str, top: str | None = None) -> bytes:
    """The whole ref file (b"" if absent), never through a symlink."""
    try:
        if top is not None:
            safefs.check_dirs(top, os.path.dirname(path))
        return safefs.read_bytes(path)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return b""


class LockedRef:
    """A ref file opened and exclusively locked (created if absent). Use as a context manager.

    `top` (default `root`) is the repository's `.trace` directory: no directory between it and
    the file may be a symlink (UnsafePath), nor the file itself. A file whose current record is
    damaged raises CorruptRef on acquire: no writer touches it (`whole=True` also refuses damage
    in older records, for writers that rewrite or delete the file)."""

    def __init__(self, root: str, name: str, durability: str = "normal",
                 top: str | None = None, whole: bool = False,
                 verified: set | None = None, kept: KeptFiles | None = None,
                 path: str | None = None) -> None:
        self.name = name
        self.path = path or os.path.join(root, *name.split("/"))
        self.kept = kept  # see KeptFiles
        self.last = b""   # the record this lock appended
        self.root = root
        self.top = top or root
        self.whole = whole
        self.verified = verified  # see safefs.check_dirs
        self.fsync = durability == "full"
        self.fd = -1
        self.created = False
        self.current: RefLogEntry | None = None
        self.valid_end = 0
        self.size = 0

    def __enter__(self) -> LockedRef:
        self.acquire()
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def acquire(self) -> None:
        for _ in range(1000):
            held = self.kept.take(self.path) if self.kept is not None else None
            fd = held[0] if held is not None else self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                same = os.lstat(self.path).st_ino == st.st_ino
            except FileNotFoundError:
                same = False
            if held is not None and st.st_nlink > 1:
                same = False  # (a hard link made since: open it again, which refuses it)
            if same:
                try:
                    if held is not None and self._unchanged(fd, st.st_size, held):
                        self.current, self.valid_end = held[3], st.st_size
                        self.last = held[2]
                    else:
                        self.current, self.valid_end = read_last(fd, st.st_size, self.path)
                    if self.whole:
                        scan = scan_file(os.pread(fd, st.st_size, 0))
                        if scan.damage:
                            raise damaged(self.path, scan.damage[0], current=False)
                except BaseException:
                    self.created = False  # never remove a file we refuse to touch
                    os.close(fd)
                    raise
                self.fd = fd
                self.size = st.st_size
                return
            os.close(fd)  # deleted or rewritten while we waited: lock the new file
        raise RefError(f"could not lock ref {self.name}: it keeps being replaced")

    @staticmethod
    def _unchanged(fd: int, size: int, held: tuple) -> bool:
        """Whether the file (locked) still ends, at the size we left it, with the record we
        appended: then that record is its current value, and parsing it again can be skipped.
        The bytes are read again under the lock and compared, so any other change is seen."""
        _fd, end, last, _entry = held
        return (size == end and bool(last)
                and os.pread(fd, len(last), end - len(last)) == last)

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        try:
            safefs.check_dirs(self.top, os.path.dirname(self.path), self.verified)
        except NotADirectoryError:
            raise self._df_conflict() from None
        for _ in range(100):
            try:  # the common case: the ref exists
                return safefs.open_fd(self.path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                pass
            except (IsADirectoryError, NotADirectoryError):
                raise self._df_conflict() from None
            try:
                fd = safefs.open_fd(self.path, flags | os.O_EXCL, 0o644)
                self.created = True
                if self.fsync:
                    fsync_dir(os.path.dirname(self.path))
                return fd
            except FileExistsError:
                try:  # (a symlink, even a dangling one, is "existing": refused here)
                    return safefs.open_fd(self.path, os.O_RDWR | os.O_APPEND)
                except FileNotFoundError:
                    continue  # deleted between the two opens
                except IsADirectoryError:
                    raise self._df_conflict() from None
            except IsADirectoryError:
                raise self._df_conflict() from None
            except FileNotFoundError:
                self._make_parents()
            except NotADirectoryError:
                raise self._df_conflict() from None
        raise RefError(f"could not create ref {self.name}")

    def _make_parents(self) -> None:
        try:
            safefs.makedirs(self.top, os.path.dirname(self.path))
        except (FileExistsError, NotADirectoryError):
            raise self._df_conflict() from None

    def _df_conflict(self) -> RefError:
        # not a RefConflict (a compare-and-swap that lost a race, which callers retry): no
        # retry can succeed while a directory stands where the ref file goes, or a file where
        # one of its directories goes
        return RefError(f"cannot create ref {self.name}: a ref with a conflicting name exists "
                        "(one ref's name is a directory of the other's, or a directory stands "
                        f"at {os.path.relpath(self.path, self.top)})")

    def append(self, entry: RefLogEntry, cache: dict | None = None) -> None:
        if self.valid_end < self.size:  # cut a torn tail left by a killed writer (read_last
            # refused the file if those bytes were anything but the start of a record)
            os.ftruncate(self.fd, self.valid_end)
        data = encode_record(entry)
        os.write(self.fd, data)
        self.last = data
        if self.fsync:
            os.fsync(self.fd)
        self.current = entry
        self.valid_end = self.size = self.valid_end + len(data)
        if cache is not None:  # we know the value this file now holds
            cache[self.path] = (stat_key(os.fstat(self.fd)), entry)

    def truncate_to(self, size: int) -> None:
        os.ftruncate(self.fd, size)
        self.size = self.valid_end = size

    def remove(self) -> None:
        """Unlink the file (while locked) and prune directories left empty under refs/."""
        os.unlink(self.path)
        if self.fsync:
            fsync_dir(os.path.dirname(self.path))
        d = os.path.dirname(self.path)
        stop = {os.path.join(self.root, "refs"), os.path.join(self.root, "refs", "heads"),
                os.path.join(self.root, "refs", "tags"), self.root}
        while d not in stop and d.startswith(self.root):
            try:
                os.rmdir(d)
            except OSError:
                break
            d = os.path.dirname(d)

    def rewrite(self, data: bytes) -> None:
        """Replace the file's contents atomically (lock file + rename) while holding the lock;
        we hold the ref's flock, so a leftover lock file is from a killed rewrite."""
        write_file_atomic(self.path, data, fsync=self.fsync, steal=True, top=self.top)

    def release(self) -> None:
        if self.fd >= 0:
            if self.created and self.current is None:  # created but never written: undo
                with contextlib.suppress(OSError):
                    self.remove()
            elif self.kept is not None and self.current is not None and not self.whole:
                fcntl.flock(self.fd, fcntl.LOCK_UN)
                self.kept.give(self.path, (self.fd, self.size, self.last, self.current))
                self.fd = -1
                return
            os.close(self.fd)
            self.fd = -1


class KeptFiles:
    """Ref files a RefStore keeps open between compare-and-swaps (the last few it updated), so
    the next update of the same ref skips the open, and, when the file still ends with the record
    it appended (compared byte for byte under the lock), the parse of that record. An entry is
    taken out while a lock uses it (two locks never share one open file, whose flock they would
    share), is used only by the process that opened it (a forked child opens its own), and is
    dropped when the path names another file (deleted, rewritten: checked after each flock)."""

    MAX = 8

    def __init__(self) -> None:
        self._files: dict = {}   # path -> (fd, size, last record bytes, RefLogEntry)
        self._forks = _forks[0]  # (os.getpid() is a system call on every use)

    def take(self, path: str) -> tuple | None:
        if self._forks != _forks[0]:
            return None
        return self._files.pop(path, None)

    def give(self, path: str, held: tuple) -> None:
        if self._forks != _forks[0]:
            os.close(held[0])
            return
        old = self._files.pop(path, None)
        if old is not None:
            os.close(old[0])
        while len(self._files) >= self.MAX:
            os.close(self._files.pop(next(iter(self._files)))[0])
        self._files[path] = held

    def close(self) -> None:
        files, self._files = self._files, {}
        if self._forks == _forks[0]:
            for held in files.values():
                with contextlib.suppress(OSError):
                    os.close(held[0])


_forks = [0]  # forks this process came through: a KeptFiles made before one is not the child's


def _forked() -> None:
    _forks[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forked)
