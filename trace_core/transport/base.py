"""What a remote's storage must do: a flat key -> bytes store with conditional writes.

Both transports (a local or mounted directory, `local.py`; S3-compatible object storage,
`s3.py`) implement `Backend`. Keys are `/`-separated relative paths made only by trace_core
(`remote/layout.py`): never absolute, never `..`, never empty parts. Every object has a `tag`
(the S3 ETag; a content hash for the directory backend) that changes whenever its bytes do, and
the conditional writes of `put` are the only way a remote's refs change (docs/remotes.md).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Protocol

from ..errors import InputError

#: `put(..., expect=CREATE)`: write only if no object has the key (If-None-Match: *)
CREATE = "*"
_KEY = re.compile(r"[A-Za-z0-9._-]+(/[A-Za-z0-9._-]+)*")


@dataclass(frozen=True)
class Listed:
    """One object of a listing."""

    key: str
    size: int
    mtime: float      #: seconds since the epoch (S3 LastModified; the file's mtime)


class Backend(Protocol):
    """A remote's storage. Errors are RemoteError (one line, no credentials, naming the key);
    `RemoteConflict` when a conditional write loses."""

    #: what users see in messages: the URL with no credentials
    url: str

    def get(self, key: str, limit: int | None = None) -> tuple[bytes, str] | None:
        """(bytes, tag) of `key`, or None when there is no such object; RemoteCorrupt when it
        is larger than `limit` bytes (checked before it is read)."""
        ...

    def put(self, key: str, data: bytes, expect: str | None = None) -> str:
        """Store `data` at `key`; return its new tag. `expect`: None (write unconditionally),
        CREATE (only if `key` does not exist) or a tag (only if `key` still has that tag);
        RemoteConflict otherwise, and nothing is written."""
        ...

    def upload(self, key: str, path: str) -> None:
        """Store the file at `path` under `key` (unconditionally: content-addressed keys)."""
        ...

    def download(self, key: str, path: str, limit: int) -> bool:
        """Write the object `key` to the new file `path` (at most `limit` bytes, else
        RemoteCorrupt); False when there is no such object."""
        ...

    def list(self, prefix: str) -> list[Listed]:
        """Every object whose key starts with `prefix` (`packs/`, or `packs/pack-NAME`)."""
        ...

    def delete(self, key: str) -> None:
        """Remove `key` (no error when it is already gone)."""
        ...


def check_key(key: str) -> str:
    """`key` if it is a relative key of safe parts (letters, digits, `.`, `_`, `-`; no `.` or
    `..` part), else InputError: nothing a remote lists can make a backend touch another path."""
    if not _KEY.fullmatch(key) or any(p in (".", "..") for p in key.split("/")):
        raise InputError(f"bad remote key {key[:80]!r}")
    return key
