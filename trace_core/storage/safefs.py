"""Paths inside `.trace` that are never followed through a symbolic link (reads and writes).

A repository is data made elsewhere: a symlink inside it must never make Trace read, create,
truncate or append to a file outside it, and a FIFO or device file in place of one of its files
must never hang or feed a command (refused like a symlink). Files are opened with O_NOFOLLOW (a
symlink as the last component fails with ELOOP) and O_NONBLOCK, then fstat-checked, and every
directory between the repository's top (the `.trace` directory, trusted as the user gave it)
and a file is checked with lstat to be a real directory before a file in it is read or created.
Either kind of symlink, and a special file, raises UnsafePath naming it.
(A process that can rewrite `.trace` while Trace runs could still race these checks, and a
RefStore remembers the directories it found real; the threat is a hostile repository copied in,
not a concurrent attacker with write access to it.)
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat

from ..errors import UnsafePath

NOFOLLOW = os.O_NOFOLLOW | os.O_CLOEXEC


def refuse(path: str) -> UnsafePath:
    return UnsafePath(f"{path} is a symbolic link inside the repository; trace never follows "
                      "one (remove it, or replace it with the real file or directory)")


def special(path: str, mode: int) -> UnsafePath:
    kind = ("a FIFO" if stat.S_ISFIFO(mode) else "a socket" if stat.S_ISSOCK(mode)
            else "a device file" if stat.S_ISCHR(mode) or stat.S_ISBLK(mode) else "not a file")
    return UnsafePath(f"{path} is {kind}, not a regular file; trace never reads or writes one "
                      "inside the repository (remove it, or replace it with the real file)")


def shared(path: str, nlink: int) -> UnsafePath:
    return UnsafePath(f"{path} has {nlink} hard links; trace never writes a repository file "
                      "that another name shares (that name would change too): replace it with "
                      "a copy of its own")


def hardlinked_below(top: str) -> list[str]:
    """Every regular file below `top` with more than one hard link (relative paths, sorted)."""
    found = []
    for dirpath, _dirnames, filenames in os.walk(top):
        for name in filenames:
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                st = os.lstat(full)
                if stat.S_ISREG(st.st_mode) and st.st_nlink > 1:
                    found.append(os.path.relpath(full, top).replace(os.sep, "/"))
    return sorted(found)


def _is_special(mode: int) -> bool:
    return not (stat.S_ISREG(mode) or stat.S_ISDIR(mode) or stat.S_ISLNK(mode))


def open_fd(path: str, flags: int, mode: int = 0o644) -> int:
    """os.open(path, flags) that refuses a symlinked last component, a FIFO, socket or device
    file (opened non-blocking, so a FIFO never hangs the process), and, for writing, a file with
    other hard links (UnsafePath); other OSErrors
    (FileNotFoundError, IsADirectoryError, ...) propagate for the caller to handle."""
    try:
        fd = os.open(path, flags | NOFOLLOW | os.O_NONBLOCK, mode)
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            raise refuse(path) from None
        if exc.errno == errno.ENXIO:     # O_WRONLY on a FIFO nobody reads
            raise special(path, stat.S_IFIFO) from None
        raise
    try:
        st = os.fstat(fd)
        st_mode = st.st_mode
        if _is_special(st_mode):
            raise special(path, st_mode)
        if st.st_nlink > 1 and flags & (os.O_WRONLY | os.O_RDWR) and stat.S_ISREG(st_mode):
            raise shared(path, st.st_nlink)
        if not flags & os.O_NONBLOCK:
            os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def read_bytes(path: str, limit: int = -1) -> bytes:
    """The bytes of the file at `path` (at most `limit` if >= 0), not through a symlink."""
    fd = open_fd(path, os.O_RDONLY)
    try:
        with os.fdopen(fd, "rb", closefd=False) as f:
            return f.read(limit)
    finally:
        os.close(fd)


def _components(top: str, directory: str) -> list[str]:
    if directory == top:
        return []
    if directory.startswith(top + os.sep):  # the usual case: paths joined onto `top`
        rel = directory[len(top) + 1:]
    else:
        rel = os.path.relpath(directory, top)
        if rel == ".":
            return []
    if rel == ".." or rel.startswith(".." + os.sep) or os.path.isabs(rel):
        raise UnsafePath(f"{directory} is outside the repository {top}")
    out, cur = [], top
    for part in rel.split(os.sep):
        cur = os.path.join(cur, part)
        out.append(cur)
    return out


def check_dirs(top: str, directory: str, verified: set | None = None) -> None:
    """Raise UnsafePath if any existing directory from below `top` down to `directory` is a
    symlink; stop at the first that does not exist. A component that exists but is not a
    directory raises NotADirectoryError (callers report it in their own terms).

    `verified`: a set (owned by one long-lived reader, e.g. a RefStore) of directories already
    found real, skipped without a syscall (two lstats cost ~25 µs on this class of machine; see
    the module docstring for why a check per object, not per call, is the threat model)."""
    if verified is not None and directory in verified:
        return
    for cur in _components(top, directory):
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            return
        if stat.S_ISLNK(st.st_mode):
            raise refuse(cur)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", cur)
    if verified is not None:
        verified.add(directory)


def makedirs(top: str, directory: str) -> None:
    """os.makedirs(directory) below `top`, refusing (UnsafePath) any symlinked component and
    raising NotADirectoryError where a component is a file."""
    for cur in _components(top, directory):
        try:
            st = os.lstat(cur)
        except FileNotFoundError:
            try:
                os.mkdir(cur)
            except FileExistsError:  # made meanwhile by another process: check what it is
                st = os.lstat(cur)
            else:
                continue
        if stat.S_ISLNK(st.st_mode):
            raise refuse(cur)
        if not stat.S_ISDIR(st.st_mode):
            raise NotADirectoryError(errno.ENOTDIR, "not a directory", cur)


def check_file(top: str, path: str) -> None:
    """UnsafePath if `path` or a directory above it (below `top`) is a symlink, or `path` is a
    FIFO, socket or device file, or a file with other hard links (for files handed to SQLite,
    which opens and writes them itself)."""
    check_dirs(top, os.path.dirname(path))
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    st_mode = st.st_mode
    if stat.S_ISLNK(st_mode):
        raise refuse(path)
    if _is_special(st_mode):
        raise special(path, st_mode)
    if stat.S_ISREG(st_mode) and st.st_nlink > 1:   # (SQLite writes the files it is given)
        raise shared(path, st.st_nlink)


def read_inside(top: str, path: str, limit: int = -1) -> bytes:
    """read_bytes(path) after checking the directories between `top` and it."""
    check_dirs(top, os.path.dirname(path))
    return read_bytes(path, limit)


def special_files_below(top: str) -> list[str]:
    """Every FIFO, socket or device file below `top` (relative paths, sorted); symlinked
    directories are never entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            with contextlib.suppress(OSError):
                if _is_special(os.lstat(full).st_mode):
                    found.append(os.path.relpath(full, top).replace(os.sep, "/"))
    return sorted(found)


def symlinks_below(top: str) -> list[str]:
    """Every symbolic link below `top` (relative paths, sorted); symlinked directories are
    listed, never entered."""
    found = []
    for dirpath, dirnames, filenames in os.walk(top):
        for name in dirnames + filenames:
            full = os.path.join(dirpath, name)
            if os.path.islink(full):
                found.append(os.path.relpath(full, top).replace(os.sep, "/"))
    return sorted(found)
