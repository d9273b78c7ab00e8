"""Whole-file replacement under a `.lock` file: create exclusively, write, (fsync,) rename.

The one way Trace replaces a whole file (config, FORMAT, MERGE_STATE, cruft markers, pack
indexes, rewritten ref files): nothing else writes a temporary file and renames it by hand."""

from __future__ import annotations

import contextlib
import os

from ..errors import LockError
from .safefs import check_file


def fsync_dir(path: str) -> None:
    """fsync a directory so a rename or creation inside it survives power loss."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class LockFile:
    """Replace `path` atomically.

    `with LockFile(path) as lk: lk.write(data)` creates `path.lock` with O_CREAT|O_EXCL (raising
    LockError if another writer holds it), and on a clean exit renames it over `path`; on an
    exception the lock file is removed and `path` is untouched. With `fsync=True` the data and the
    directory entry are flushed to disk before the call returns.

    `lock_path` names the temporary file (default `path.lock`). `steal=True` is for callers that
    already exclude other writers by another lock (a ref's flock, repack.lock): a leftover lock
    file can then only be a killed writer's, and is removed instead of raising LockError.
    `top` (a repository's .trace directory): refuse (UnsafePath) when `path` or a directory
    between `top` and it is a symlink. (The lock file is created with O_EXCL, which never follows
    a symlink, and the rename replaces a symlink rather than its target; `top` makes a symlink an
    error instead of something silently replaced.)
    """

    def __init__(self, path: str, fsync: bool = False, mode: int = 0o644,
                 lock_path: str | None = None, steal: bool = False,
                 top: str | None = None) -> None:
        self.path = path
        self.top = top
        self.lock_path = lock_path or path + ".lock"
        self.fsync = fsync
        self._mode = mode
        self._steal = steal
        self._fd: int | None = None

    def acquire(self) -> LockFile:
        if self.top is not None:
            check_file(self.top, self.path)
        if self._steal:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)
        try:
            self._fd = os.open(self.lock_path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, self._mode)
        except FileExistsError:
            raise LockError(f"{self.lock_path} exists: another writer holds it "
                            "(remove it if no trace process is running)") from None
        return self

    def write(self, data: bytes) -> None:
        assert self._fd is not None, "lock not held"
        view = memoryview(data)
        while view:
            n = os.write(self._fd, view)
            view = view[n:]

    def commit(self) -> None:
        assert self._fd is not None, "lock not held"
        fd, self._fd = self._fd, None
        try:
            if self.fsync:
                os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(self.lock_path, self.path)
        if self.fsync:
            fsync_dir(os.path.dirname(self.path) or ".")

    def abort(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
            with contextlib.suppress(FileNotFoundError):
                os.unlink(self.lock_path)

    def __enter__(self) -> LockFile:
        return self.acquire()

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.commit()
        else:
            self.abort()


def write_file_atomic(path: str, data: bytes, fsync: bool = False, lock_path: str | None = None,
                      steal: bool = False, top: str | None = None) -> None:
    """Write a whole file through a lock file: readers see the old or the new bytes, never a mix.
    (`lock_path`, `steal`, `top`: see LockFile.)"""
    with LockFile(path, fsync=fsync, lock_path=lock_path, steal=steal, top=top) as lk:
        lk.write(data)
