"""Transports: where a remote's bytes live (docs/remotes.md). `open_backend(url)` gives the
Backend of a URL: a directory (`/path`, `./path`, `file:///path`) or S3-compatible object
storage (`s3://bucket/prefix`, through obstore, imported only when such a URL is used)."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING, Any
from urllib.parse import unquote, urlsplit

from ..errors import InputError, RemoteError
from .base import CREATE, Backend, Listed, check_key

if TYPE_CHECKING:
    from .options import S3Options

_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
__all__ = ["CREATE", "Backend", "Listed", "check_key", "open_backend", "parse_url"]


def parse_url(url: str, base: str | None = None) -> tuple[str, Any]:
    """("file", absolute directory) or ("s3", (bucket, prefix)) of a remote URL; a relative
    path is taken against `base` (default: the working directory). InputError otherwise."""
    if not isinstance(url, str) or not url or "\n" in url or "\0" in url:
        raise InputError("a remote URL must be a non-empty, one-line string")
    if url.startswith("s3://"):
        parts = urlsplit(url)
        if parts.query or parts.fragment or "@" in parts.netloc:
            shown = "s3://" + parts.netloc.rpartition("@")[2] + parts.path
            raise InputError(f"bad s3 URL {shown[:80]!r} (credentials left out): "
                             "s3://BUCKET/PREFIX, with no credentials, query or fragment (the "
                             "endpoint and credentials come from your environment or config)")
        if not _BUCKET.fullmatch(parts.netloc) or ".." in parts.netloc:
            raise InputError(f"bad s3 URL {url!r:.80}: the bucket name must be 3 to 63 "
                             "lowercase letters, digits, dots and hyphens")
        prefix = parts.path.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except InputError:
                raise InputError(f"bad s3 URL {url[:80]!r}: the prefix must be names of "
                                 "letters, digits, '.', '_' and '-' separated by single "
                                 "'/'") from None
        return "s3", (parts.netloc, prefix)
    if url.startswith("file://"):
        parts = urlsplit(url)
        if parts.netloc not in ("", "localhost"):
            raise InputError(f"bad file URL {url!r}: file:///absolute/path")
        path = unquote(parts.path)
    elif re.match(r"[A-Za-z][A-Za-z0-9+.-]*:", url) or re.match(r"[^/]*@[^/]*:", url):
        raise InputError(f"unsupported remote URL {url!r:.80}: a directory path, file:// or "
                         "s3://")
    else:
        path = url
    return "file", os.path.abspath(os.path.join(base or os.getcwd(), path))


def open_backend(url: str, s3: S3Options | None = None, base: str | None = None) -> Backend:
    """The Backend of `url` (parse_url); `s3`: the endpoint, region and credentials for s3://
    URLs (the caller's, never a repository's: docs/remotes.md)."""
    kind, where = parse_url(url, base)
    if kind == "file":
        from .local import LocalBackend
        if os.path.isfile(os.path.join(where, "format")) or \
                os.path.isdir(os.path.join(where, ".trace")):
            raise InputError(f"{where} is a trace repository, not a remote: a remote is a "
                             "directory of its own (docs/remotes.md); to copy a repository, "
                             "push from it to a new directory")
        return LocalBackend(where)
    try:
        from .s3 import S3Backend
    except ImportError:   # pragma: no cover - obstore is the `s3` extra
        raise RemoteError("s3:// remotes need obstore: pip install 'trace-vcs[s3]'") from None
    from .options import S3Options
    return S3Backend(where[0], where[1], s3 or S3Options())
