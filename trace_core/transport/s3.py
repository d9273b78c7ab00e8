"""The S3 transport: a remote stored in S3-compatible object storage (`s3://bucket/prefix`).

`S3Backend` implements `base.Backend` over obstore (the Rust object_store crate): objects are
stored under `prefix/key` in the bucket, tags are the ETags the storage returns (quoted, as S3
sends them; opaque to callers), and the conditional writes are S3's own preconditions
(`If-None-Match: *` for CREATE, `If-Match: ETAG` for a tag), so the storage must support them
(AWS S3 since 2024, MinIO, SeaweedFS, Cloudflare R2, ...).

Configuration comes only from `S3Options`: trace_core never reads the environment itself. Note,
however, that obstore's `S3Store` constructor does read the standard `AWS_*` environment
variables (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN, AWS_REGION,
AWS_ENDPOINT_URL, AWS_ALLOW_HTTP, ...) for every setting it is not given: an option set in
`S3Options` always wins over the environment, while an option left None may be filled in from
it (that is also how instance roles and other AWS credential sources keep working).

Errors are RemoteError subclasses with one-line messages naming the URL and the key, never a
credential: RemoteNotFound for a missing bucket, RemoteConflict for a lost conditional write,
RemoteCorrupt for an object over its size limit. Requests are retried a few times only, so an
unreachable endpoint fails within seconds.
"""

from __future__ import annotations

import builtins
import contextlib
import os
import re
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn
from urllib.parse import urlsplit

import obstore
from obstore.exceptions import (
    AlreadyExistsError,
    PermissionDeniedError,
    PreconditionError,
    UnauthenticatedError,
)
from obstore.store import S3Store

from ..errors import InputError, RemoteConflict, RemoteCorrupt, RemoteError, RemoteNotFound
from .base import CREATE, Listed, check_key
from .options import _SECRET_FIELDS, S3Options

if TYPE_CHECKING:
    from obstore import PutMode
    from obstore.store import ClientConfig, RetryConfig, S3Config

#: S3 bucket naming rules (the common subset every S3-compatible storage accepts)
_BUCKET = re.compile(r"[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]")
_NETLOC = re.compile(r"(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9.-]+)(:[0-9]{1,5})?")
_URLPATH = re.compile(r"(/[A-Za-z0-9._~%/-]*)?")
_REGION = re.compile(r"[A-Za-z0-9_.-]{1,64}")
_TOKEN = re.compile(r"[!-~]+")

#: a dead endpoint fails in seconds: a short connect timeout and few retries, bounded in time;
#: a stalled transfer is cut by the read timeout, never a large one by an overall limit
_CLIENT: ClientConfig = {"connect_timeout": timedelta(seconds=3),
                         "read_timeout": timedelta(seconds=20),
                         "timeout": timedelta(hours=1)}
_RETRY: RetryConfig = {"max_retries": 3, "retry_timeout": timedelta(seconds=8),
                       "backoff": {"init_backoff": timedelta(milliseconds=100),
                                   "max_backoff": timedelta(seconds=2), "base": 2}}


def check_options(options: S3Options) -> S3Options:
    """`options` if obstore can use them, else InputError (never showing a credential): a bad
    endpoint URL would make obstore panic, not fail, and one with a user:password part would
    put them in every message that names the endpoint."""
    if options.endpoint is not None:
        endpoint = options.endpoint
        try:
            parts = urlsplit(endpoint)
            parts.port  # noqa: B018 (raises ValueError on a bad port)
        except ValueError:
            parts = None
        if parts is not None and (parts.username is not None or parts.password is not None):
            raise InputError("bad S3 endpoint: credentials do not belong in the URL")
        if (parts is None or parts.scheme not in ("http", "https")
                or not _NETLOC.fullmatch(parts.netloc) or not _URLPATH.fullmatch(parts.path)
                or parts.query or parts.fragment or "?" in endpoint or "#" in endpoint):
            raise InputError(f"bad S3 endpoint {endpoint[:100]!r}: http(s)://HOST[:PORT]")
        if parts.scheme == "http" and not options.allow_http:
            raise InputError(f"the S3 endpoint {endpoint} is plain HTTP: allow it explicitly "
                             f"(allow_http), or use https")
    if options.region is not None and not _REGION.fullmatch(options.region):
        raise InputError(f"bad S3 region {options.region[:64]!r}")
    for name in _SECRET_FIELDS:
        value = getattr(options, name)
        if value is not None and not _TOKEN.fullmatch(value):
            raise InputError(f"bad S3 {name.replace('_', ' ')}: empty, or characters other "
                             f"than printable ASCII")
    return options


def check_bucket(bucket: str) -> str:
    """`bucket` if it is a valid S3 bucket name, else InputError."""
    if not _BUCKET.fullmatch(bucket) or ".." in bucket:
        raise InputError(f"bad S3 bucket name {bucket[:80]!r} (3-63 characters: lowercase "
                         f"letters, digits, dots and hyphens, starting and ending with a letter "
                         f"or digit)")
    return bucket


class S3Backend:
    """A remote in `bucket`, under `prefix` (may be empty), of the storage `options` reach."""

    def __init__(self, bucket: str, prefix: str, options: S3Options) -> None:
        self.bucket = check_bucket(bucket)
        check_options(options)
        prefix = prefix.strip("/")
        if prefix:
            try:
                check_key(prefix)
            except InputError:
                raise InputError(f"bad S3 prefix {prefix[:80]!r}") from None
        self.prefix = prefix
        self.url = f"s3://{bucket}/{prefix}" if prefix else f"s3://{bucket}"
        self._options = options
        self._where = options.endpoint or (f"AWS S3 ({options.region})" if options.region
                                           else "AWS S3")
        config: S3Config = {}
        if options.endpoint is not None:
            # AWS_ENDPOINT_URL_S3 would override `endpoint`: set both, the explicit one wins
            config["endpoint"] = config["aws_endpoint_url_s3"] = options.endpoint
            config["virtual_hosted_style_request"] = False
        if options.region is not None:
            config["region"] = options.region
        if options.access_key_id is not None:
            config["access_key_id"] = options.access_key_id
        if options.secret_access_key is not None:
            config["secret_access_key"] = options.secret_access_key
        if options.session_token is not None:
            config["session_token"] = options.session_token
        client: ClientConfig = {**_CLIENT, "allow_http": bool(options.allow_http)}
        try:
            self._store = S3Store(bucket, config=config, client_options=client,
                                  retry_config=_RETRY)
        except Exception as e:     # obstore's configuration errors (a bad endpoint URL, ...)
            raise RemoteError(f"cannot configure {self.url}: {self._summary(e)}") from None

    def __repr__(self) -> str:
        return f"S3Backend({self.url!r}, endpoint={self._options.endpoint!r})"

    # -- the Backend protocol ----------------------------------------------------------------

    def get(self, key: str, limit: int | None = None) -> tuple[bytes, str] | None:
        path = self._path(key)
        try:
            result = obstore.get(self._store, path)
            too_big = limit is not None and result.meta["size"] > limit
            data = b"" if too_big else bytes(result.bytes())
        except FileNotFoundError as e:
            self._not_found(e, key)
            return None
        except Exception as e:
            self._fail("read", key, e)
        if too_big:
            raise RemoteCorrupt(f"remote object {key} of {self.url} is larger than {limit} "
                                "bytes")
        return data, self._tag(result.meta.get("e_tag"), key)

    def put(self, key: str, data: bytes, expect: str | None = None) -> str:
        path = self._path(key)
        mode: PutMode
        if expect is None:
            mode = "overwrite"
        elif expect == CREATE:
            mode = "create"
        else:
            mode = {"e_tag": expect}
        try:
            result = obstore.put(self._store, path, data, mode=mode)
        except (AlreadyExistsError, PreconditionError):
            what = "already exists" if expect == CREATE else "changed"
            raise RemoteConflict(f"remote object {key} of {self.url} {what} "
                                 f"(conditional write refused)") from None
        except Exception as e:
            self._fail("write", key, e)
        return self._tag(result.get("e_tag"), key)

    def upload(self, key: str, path: str) -> None:
        target = self._path(key)
        try:
            obstore.put(self._store, target, Path(path))
        except OSError as e:
            if not _is_obstore(e):
                raise RemoteError(f"cannot read {path} to upload {key}: "
                                  f"{e.strerror or e}") from None
            self._fail("upload", key, e)
        except Exception as e:
            self._fail("upload", key, e)

    def download(self, key: str, path: str, limit: int) -> bool:
        target = self._path(key)
        try:
            result = obstore.get(self._store, target)
        except FileNotFoundError as e:
            self._not_found(e, key)
            return False
        except Exception as e:
            self._fail("read", key, e)
        if result.meta["size"] > limit:
            raise RemoteCorrupt(f"remote object {key} is larger than {limit} bytes")
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
        done = False
        try:
            with os.fdopen(fd, "wb") as f:
                written = 0
                try:
                    for chunk in result.stream(min_chunk_size=1 << 20):
                        written += len(chunk)
                        if written > limit:
                            raise RemoteCorrupt(f"remote object {key} is larger than "
                                                f"{limit} bytes")
                        f.write(chunk)
                except RemoteError:
                    raise
                except OSError as e:
                    if not _is_obstore(e):
                        raise
                    self._fail("read", key, e)
                except Exception as e:
                    self._fail("read", key, e)
            done = True
        finally:
            if not done:
                with contextlib.suppress(OSError):
                    os.unlink(path)
        return True

    def list(self, prefix: str) -> builtins.list[Listed]:
        if prefix:
            check_key(prefix.rstrip("/"))
        # object_store lists whole path segments: list the directory part, filter the rest
        directory = prefix.rsplit("/", 1)[0] if "/" in prefix else ""
        root = self.prefix + "/" if self.prefix else ""
        out = []
        try:
            stream = obstore.list(self._store, root + directory if root + directory else None,
                                  chunk_size=1000)
            for chunk in stream:
                for meta in chunk:
                    full = meta["path"]
                    if not full.startswith(root):
                        continue
                    rel = full[len(root):]
                    if rel.startswith(prefix):
                        out.append(Listed(rel, int(meta["size"]),
                                          meta["last_modified"].timestamp()))
        except Exception as e:
            self._fail("list", prefix or "(all)", e)
        out.sort(key=lambda item: item.key)
        return out

    def delete(self, key: str) -> None:
        path = self._path(key)
        try:
            obstore.delete(self._store, path)
        except FileNotFoundError as e:
            self._not_found(e, key)
        except Exception as e:
            self._fail("delete", key, e)

    # -- helpers -------------------------------------------------------------------------------

    def _path(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    def _tag(self, tag: str | None, key: str) -> str:
        if not tag:
            raise RemoteError(f"{self.url} returned no ETag for {key}: the storage is not "
                              f"S3-compatible enough for a Trace remote")
        return tag

    def _not_found(self, e: BaseException, key: str) -> None:
        """A 404 is a missing object (return to the caller), unless the bucket is missing."""
        if "NoSuchBucket" in str(e):
            self._no_bucket()

    def _no_bucket(self) -> NoReturn:
        raise RemoteNotFound(f"no bucket {self.bucket} at {self._where}") from None

    def _fail(self, op: str, key: str, e: BaseException) -> NoReturn:
        """Raise the RemoteError for obstore's error `e` while doing `op` on `key`."""
        text = str(e)
        status = _status(text)
        code = _s3_code(text)
        if code == "NoSuchBucket":
            self._no_bucket()
        where = f"{op} {key} of {self.url}"
        if _credential_lookup(text):
            # no credentials given: obstore asked the EC2 instance metadata service, in vain
            raise RemoteError(f"no S3 credentials for {self.url}: none are configured and the "
                              f"instance metadata service gave none ({op} {key})") from None
        if isinstance(e, PermissionDeniedError | UnauthenticatedError) or status in (401, 403):
            raise RemoteError(f"access denied to {self.url} at {self._where} "
                              f"({code or status or 'forbidden'}): check the credentials "
                              f"({op} {key})") from None
        cause = _connection_problem(text)
        if cause:
            raise RemoteError(f"cannot reach {self._where} ({cause}): {where}") from None
        if status:
            raise RemoteError(f"{where} failed: HTTP {status}"
                              f"{' ' + code if code else ''}") from None
        raise RemoteError(f"{where} failed: {self._summary(e)}") from None

    def _summary(self, e: BaseException) -> str:
        """The first line of `e`, shortened, with any credential scrubbed (defensive: obstore
        does not put them in its messages)."""
        line = (str(e).strip().splitlines() or [type(e).__name__])[0]
        for name in _SECRET_FIELDS:
            value = getattr(self._options, name)
            if value and len(value) >= 8:      # (not a short one: "S" would eat "S3")
                line = line.replace(value, "***")
        return line[:200]


def _is_obstore(e: BaseException) -> bool:
    """An OSError raised by obstore (its FileNotFoundError/TimeoutError...), not by a local
    file."""
    return "Debug source" in str(e) or type(e).__module__.startswith("obstore")


def _status(text: str) -> int | None:
    m = re.search(r"status code: (\d{3})", text) or re.search(r"status: (\d{3})", text)
    return int(m.group(1)) if m else None


def _s3_code(text: str) -> str | None:
    m = re.search(r"<Code>([A-Za-z0-9.]{1,64})</Code>", text)
    return m.group(1) if m else None


def _credential_lookup(text: str) -> bool:
    return any(mark in text for mark in ("169.254.169.254", "fd00:ec2::254", "/latest/api/token",
                                         "/latest/meta-data/", "Error getting credentials"))


def _connection_problem(text: str) -> str | None:
    if "ConnectionRefused" in text or "Connection refused" in text:
        return "connection refused"
    if "TimedOut" in text or "timed out" in text.lower():
        return "timed out"
    if "dns error" in text.lower() or "failed to lookup address" in text:
        return "cannot resolve the host name"
    if "error sending request" in text or "connection closed" in text.lower() or \
            "ConnectionReset" in text:
        return "connection failed"
    return None
