"""The directory transport: a remote kept in a local or mounted directory (`/path`, `file://`).

A key is a file below the root. Whole files are written to a hidden temporary name in the same
directory and renamed into place, so a reader sees the old bytes or the new ones, never a part.
A conditional write holds an exclusive `flock` on `<root>/.lock` while it compares the file's
tag (the blake3 of its bytes, in hex) and renames the new bytes in; flock is what makes it safe
for several processes of one machine, and for machines sharing a mount whose file system
honours flock (NFSv4 and most cluster file systems do; some SMB and FUSE mounts do not: keep a
shared remote on S3 there). Files are opened without following symbolic links.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import stat

from ..errors import RemoteConflict, RemoteCorrupt, RemoteError, RemoteNotFound
from ..ids import hash_bytes
from .base import CREATE, Listed, check_key

_READ = os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC
_CHUNK = 1 << 20


class LocalBackend:
    """A Backend over the directory `root` (made on the first write when its parent exists)."""

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.url = self.root

    # -- paths ------------------------------------------------------------------------------
    def _path(self, key: str) -> str:
        return os.path.join(self.root, *check_key(key).split("/"))

    def _fail(self, what: str, key: str, exc: OSError) -> RemoteError:
        return RemoteError(f"cannot {what} {key} in {self.url}: {exc.strerror or exc}")

    def _ensure_dir(self, path: str) -> None:
        parent = os.path.dirname(self.root)
        if not os.path.isdir(self.root) and not os.path.isdir(parent):
            raise RemoteNotFound(f"{parent} does not exist (the remote {self.url} is made "
                                 "inside an existing directory)")
        try:
            os.makedirs(os.path.dirname(path), exist_ok=True)
        except OSError as exc:
            raise RemoteError(f"cannot create {os.path.dirname(path)}: "
                              f"{exc.strerror or exc}") from None

    # -- reads ------------------------------------------------------------------------------
    def _open(self, key: str) -> int | None:
        try:
            fd = os.open(self._path(key), _READ)
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise self._fail("read", key, exc) from None
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise RemoteCorrupt(f"{key} in {self.url} is not a regular file")
        return fd

    def get(self, key: str, limit: int | None = None) -> tuple[bytes, str] | None:
        fd = self._open(key)
        if fd is None:
            return None
        with os.fdopen(fd, "rb") as f:
            if limit is not None and os.fstat(f.fileno()).st_size > limit:
                raise RemoteCorrupt(f"remote object {key} in {self.url} is larger than "
                                    f"{limit} bytes")
            data = f.read(limit + 1 if limit is not None else -1)
            if limit is not None and len(data) > limit:
                raise RemoteCorrupt(f"remote object {key} in {self.url} is larger than "
                                    f"{limit} bytes")
        return data, hash_bytes(data).hex()

    def download(self, key: str, path: str, limit: int) -> bool:
        fd = self._open(key)
        if fd is None:
            return False
        with os.fdopen(fd, "rb") as src:
            if os.fstat(src.fileno()).st_size > limit:
                raise RemoteCorrupt(f"remote object {key} is larger than {limit} bytes")
            out = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            with os.fdopen(out, "wb") as dst:
                while chunk := src.read(_CHUNK):
                    dst.write(chunk)
        return True

    def list(self, prefix: str) -> list[Listed]:
        folder = prefix.rpartition("/")[0]      # (a prefix may end inside a name)
        base = os.path.join(self.root, *[p for p in folder.split("/") if p])
        out = []
        for dirpath, dirnames, filenames in os.walk(base):
            dirnames[:] = [d for d in dirnames if not d.startswith(".")]
            for name in filenames:
                if name.startswith("."):     # temporary files and the lock
                    continue
                full = os.path.join(dirpath, name)
                with contextlib.suppress(FileNotFoundError):
                    st = os.lstat(full)
                    if stat.S_ISREG(st.st_mode):
                        key = os.path.relpath(full, self.root).replace(os.sep, "/")
                        if key.startswith(prefix):
                            out.append(Listed(key, st.st_size, st.st_mtime))
        return sorted(out, key=lambda x: x.key)

    # -- writes -----------------------------------------------------------------------------
    def _replace(self, key: str, write) -> None:
        path = self._path(key)
        self._ensure_dir(path)
        tmp = os.path.join(os.path.dirname(path),
                           f".tmp-{os.getpid()}-{os.urandom(6).hex()}")
        try:
            fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
            try:
                write(fd)
                os.fsync(fd)
            finally:
                os.close(fd)
            os.replace(tmp, path)
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            raise self._fail("write", key, exc) from None

    def put(self, key: str, data: bytes, expect: str | None = None) -> str:
        def write(fd: int) -> None:
            view = memoryview(data)
            while view:
                view = view[os.write(fd, view):]

        if expect is None:
            self._replace(key, write)
            return hash_bytes(data).hex()
        self._ensure_dir(self._path(key))
        lock = os.open(os.path.join(self.root, ".lock"),
                       os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.get(key)
            if expect == CREATE:
                if current is not None:
                    raise RemoteConflict(f"{key} already exists in {self.url}")
            elif current is None or current[1] != expect:
                raise RemoteConflict(f"{key} changed in {self.url} since it was read")
            self._replace(key, write)
        finally:
            os.close(lock)     # (releases the flock)
        return hash_bytes(data).hex()

    def upload(self, key: str, path: str) -> None:
        with open(path, "rb") as src:
            def write(fd: int) -> None:
                while chunk := src.read(_CHUNK):
                    view = memoryview(chunk)
                    while view:
                        view = view[os.write(fd, view):]
            self._replace(key, write)

    def delete(self, key: str) -> None:
        try:
            os.unlink(self._path(key))
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise self._fail("delete", key, exc) from None
