"""One ref file: an append-only log whose last valid record is the ref's current value.

A record is one line (docs/FORMAT.md, "Refs"):

    <new> SP <old> SP <time_ms> TAB <who> TAB <message> TAB <crc32 as 8 hex> LF

`new`/`old` are 64 hex digits or `ref:<name>` (a symbolic ref); an `old` of 64 zeros means the
ref did not exist. The CRC covers every byte before the last TAB. A record that does not end in
LF or fails its CRC is a torn tail (a writer killed mid-append): readers ignore it and the next
writer cuts it off, under the file's lock, before appending.

Writers hold an exclusive `flock` on the open file while they read the tail, compare, and
append; after locking they check the path still names the file they locked (a delete or a
reflog rewrite replaces it), so no update can land in an unlinked file.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat
import zlib
from collections.abc import Iterator
from dataclasses import dataclass

from ..errors import RefConflict, RefError
from ..ids import ZERO_HEX
from ..storage.lockfile import fsync_dir, write_file_atomic

TAIL_READ = 4096
MAX_WHO = 128
MAX_MESSAGE = 500


@dataclass(frozen=True)
class RefLogEntry:
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


def parse_record(line: bytes) -> RefLogEntry | None:
    """The record in `line` (without its LF), or None if it is torn or corrupt."""
    cut = line.rfind(b"\t")
    if cut < 0 or len(line) - cut != 9:
        return None
    body = line[:cut]
    try:
        if int(line[cut + 1:], 16) != zlib.crc32(body):
            return None
        head, who, message = body.decode("utf-8").split("\t")
        new, old, when = head.split(" ")
        time_ms = int(when)
    except ValueError:
        return None
    if not (_valid_value(new, False) and _valid_value(old, True)):
        return None
    return RefLogEntry(new, old, time_ms, who, message)


def parse_tail(data: bytes, at_start: bool) -> tuple:
    """(last valid record or None, byte offset just past it) within `data`.

    When `data` is a tail that does not start at offset 0, its first (partial) line is skipped.
    An offset of -1 means no valid record was found in `data`.
    """
    end = len(data)
    while end > 0:
        if data[end - 1:end] != b"\n":  # torn: no terminating LF
            nl = data.rfind(b"\n", 0, end)
            end = nl + 1 if nl >= 0 else 0
            continue
        start = data.rfind(b"\n", 0, end - 1) + 1
        if start == 0 and not at_start:
            break
        rec = parse_record(data[start:end - 1])
        if rec is not None:
            return rec, end
        end = start
    return None, -1


def iter_records(data: bytes) -> Iterator[tuple]:
    """(offset, record or None) for every line of a whole file, oldest first."""
    pos = 0
    while pos < len(data):
        nl = data.find(b"\n", pos)
        if nl < 0:
            yield pos, None
            return
        yield pos, parse_record(data[pos:nl])
        pos = nl + 1


def read_last(fd: int, size: int) -> tuple:
    """(last valid record or None, offset past it; 0 if none) of an open ref file."""
    if size == 0:
        return None, 0
    start = max(0, size - TAIL_READ)
    rec, end = parse_tail(os.pread(fd, size - start, start), start == 0)
    if rec is None and start > 0:  # a long torn tail or long lines: read it all
        start = 0
        rec, end = parse_tail(os.pread(fd, size, 0), True)
    return (rec, start + end) if rec is not None else (None, 0)


def stat_key(st: os.stat_result) -> tuple:
    return (st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


def read_value(path: str, cache: dict | None = None) -> RefLogEntry | None:
    """The current record of the ref file at `path` (no lock: appends are whole records).

    With `cache` (path -> (stat key, record)), an unchanged file costs one stat: every update
    appends or replaces the file, so it changes size or inode. Only lock-free reads use this;
    compare-and-swap always re-reads under the lock.
    """
    if cache is not None:
        try:
            st = os.stat(path)
        except (FileNotFoundError, NotADirectoryError):
            cache.pop(path, None)
            return None
        hit = cache.get(path)
        if hit is not None and hit[0] == stat_key(st):
            return hit[1]
    try:
        fd = os.open(path, os.O_RDONLY)
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):  # a directory of refs (refs/heads/a for refs/heads/a/b)
            return None
        rec = read_last(fd, st.st_size)[0]
    finally:
        os.close(fd)
    if cache is not None:
        cache[path] = (stat_key(st), rec)
    return rec


def read_all(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return b""


class LockedRef:
    """A ref file opened and exclusively locked (created if absent). Use as a context manager."""

    def __init__(self, root: str, name: str, durability: str = "normal") -> None:
        self.name = name
        self.path = os.path.join(root, *name.split("/"))
        self.root = root
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
            fd = self._open()
            fcntl.flock(fd, fcntl.LOCK_EX)
            st = os.fstat(fd)
            try:
                same = os.stat(self.path).st_ino == st.st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                self.size = st.st_size
                self.current, self.valid_end = read_last(fd, st.st_size)
                return
            os.close(fd)  # deleted or rewritten while we waited: lock the new file
        raise RefError(f"could not lock ref {self.name}: it keeps being replaced")

    def _open(self) -> int:
        flags = os.O_RDWR | os.O_APPEND | os.O_CREAT
        for _ in range(100):
            try:  # the common case: the ref exists
                return os.open(self.path, os.O_RDWR | os.O_APPEND)
            except FileNotFoundError:
                pass
            except (IsADirectoryError, NotADirectoryError):
                raise self._df_conflict() from None
            try:
                fd = os.open(self.path, flags | os.O_EXCL, 0o644)
                self.created = True
                if self.fsync:
                    fsync_dir(os.path.dirname(self.path))
                return fd
            except FileExistsError:
                try:
                    return os.open(self.path, os.O_RDWR | os.O_APPEND)
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
            os.makedirs(os.path.dirname(self.path), exist_ok=True)
        except (FileExistsError, NotADirectoryError):
            raise self._df_conflict() from None

    def _df_conflict(self) -> RefConflict:
        return RefConflict(f"cannot create ref {self.name}: a ref with a conflicting name exists "
                           "(one ref's name is a directory of the other's)")

    def append(self, entry: RefLogEntry, cache: dict | None = None) -> None:
        if self.valid_end < self.size:  # cut a torn tail left by a killed writer
            os.ftruncate(self.fd, self.valid_end)
        data = encode_record(entry)
        os.write(self.fd, data)
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
        write_file_atomic(self.path, data, fsync=self.fsync, steal=True)

    def release(self) -> None:
        if self.fd >= 0:
            if self.created and self.current is None:  # created but never written: undo
                with contextlib.suppress(OSError):
                    self.remove()
            os.close(self.fd)
            self.fd = -1
