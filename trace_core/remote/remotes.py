"""Configured remotes (`remote.<name>.url`, a trusted key: docs/security.md) and opening one:
a name or a URL to a RemoteStore, with the object store's settings from the caller (the
environment, which the CLI reads) over the user's own config (`s3.*`, user-only keys)."""

from __future__ import annotations

import dataclasses
import re
from typing import TYPE_CHECKING

from ..errors import InputError, RemoteNotFound
from ..state import RepoState
from .layout import RemoteStore

if TYPE_CHECKING:
    from ..transport.options import S3Options

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}\Z")


def check_remote_name(name: str) -> str:
    """`name` if it can name a remote (letters, digits, `.`, `_`, `-`; one ref component)."""
    from ..refs import check_ref_format
    if not isinstance(name, str) or not _NAME.match(name) or name.endswith(".lock"):
        raise InputError(f"bad remote name {name!r:.80}: letters, digits, '.', '_' and '-', "
                         "starting with a letter or digit, at most 64")
    check_ref_format(f"refs/remotes/{name}/HEAD")
    return name


def namespace(repo: RepoState, agent: str | None, create: bool = True) -> RepoState:
    """The view of namespace `agent` (None: the top one) of `repo`'s repository, whichever
    namespace `repo` itself is a view of (one opened at an agent, `Repository.open(path,
    agent=...)` as `trace --agent` does, is its own `_root`)."""
    if agent == repo.agent_name:
        return repo
    root = repo._root
    if root.agent_name is not None:
        root = type(repo)(repo.trace_dir, user_config=repo.user_config,
                          overrides=repo.overrides, trusted=repo.trusted)
    return root if agent is None else root.agent(agent, create=create)


def remotes(repo: RepoState) -> list[tuple[str, str]]:
    """(name, url) of every remote the effective settings name (a repository's own remotes
    count only when it is trusted), sorted by name."""
    cfg = repo._root.config
    out = []
    for name in sorted(set(cfg.subsections("remote"))):
        url = cfg.get(f"remote.{name}.url")
        if url:
            out.append((name, url))
    return out


def remote_add(repo: RepoState, name: str, url: str) -> str:
    """Add remote `name` at `url` to this repository's config (a relative path is stored
    absolute); the URL as stored. InputError when the name is taken."""
    from ..transport import parse_url
    check_remote_name(name)
    root = repo._root
    if root.config.get(f"remote.{name}.url") is not None or \
            root.repo_config.get(f"remote.{name}.url") is not None:
        raise InputError(f"remote {name} already exists")
    kind, where = parse_url(url, base=None)
    stored = where if kind == "file" else url
    root.set_config(f"remote.{name}.url", stored)
    return stored


def remote_remove(repo: RepoState, name: str) -> int:
    """Remove remote `name` from this repository's config and delete its remote-tracking
    refs (`refs/remotes/<name>/...`) in every namespace; how many refs were deleted."""
    from ..gc import agent_of, namespaces
    from ..plumbing.refs import delete_ref
    check_remote_name(name)
    root = repo._root
    if root.repo_config.get(f"remote.{name}.url") is None:
        raise RemoteNotFound(f"no remote named {name} in {repo.trace_dir}/config")
    root.unset_config(f"remote.{name}.url")
    n = 0
    for prefix, store in namespaces(repo):
        view = namespace(repo, agent_of(prefix), create=False)
        for ref, value in store.list(f"refs/remotes/{name}/"):
            delete_ref(view, ref, value, message=f"remote remove {name}", deref=False)
            n += 1
    return n


def s3_options(repo: RepoState, given: S3Options | None) -> S3Options:
    """The object store's settings: each field `given` sets (the caller's: the CLI passes the
    AWS_* environment), else the user's own `s3.*` config (never a repository's: user-only
    keys)."""
    from ..transport.options import S3Options
    cfg = repo.config
    from_config = S3Options(
        endpoint=cfg.get("s3.endpoint"), region=cfg.get("s3.region"),
        access_key_id=cfg.get("s3.access-key-id"),
        secret_access_key=cfg.get("s3.secret-access-key"),
        allow_http=cfg.get_bool("s3.allow-http", None))
    if given is None:
        return from_config
    merged = {f.name: getattr(given, f.name) for f in dataclasses.fields(given)
              if getattr(given, f.name) is not None}
    return dataclasses.replace(from_config, **merged)


def open_remote(repo: RepoState, remote: str, s3: S3Options | None = None
                ) -> tuple[str | None, RemoteStore]:
    """(remote name or None, its store) of `remote`: a configured remote's name, else a URL or
    path (which has no remote-tracking refs)."""
    root = repo._root          # (remotes belong to the repository, not to one namespace's view)
    url = root.config.get(f"remote.{remote}.url") if _NAME.match(remote or "") else None
    name: str | None = remote
    if url is None:
        ignored = root.repo_config.get(f"remote.{remote}.url") if _NAME.match(remote or "") \
            else None
        if ignored is not None:
            raise RemoteNotFound(f"remote {remote} is set in {repo.trace_dir}/config, which is "
                                 f"not trusted: trust it ('trace trust {repo.trace_dir}') or "
                                 "give the URL")
        if not ("/" in remote or remote.startswith(".") or "://" in remote):
            raise RemoteNotFound(f"no remote named {remote!r:.80} (add one with 'trace remote "
                                 "add NAME URL', or give a URL or path)")
        url, name = remote, None
    return name, store_for(repo, url, s3)


def store_for(repo: RepoState, url: str, s3: S3Options | None = None) -> RemoteStore:
    """The store at `url`, with the S3 settings of `s3_options` for an s3:// URL."""
    from ..transport import open_backend
    return RemoteStore(open_backend(url, s3_options(repo, s3) if url.startswith("s3://")
                                    else None))
