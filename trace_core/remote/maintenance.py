"""A remote's gc (`trace gc --remote NAME`): its packs older than the grace period are merged
into one pack holding what its refs still reach, and files of packs never completed (a push
killed before its manifest) are removed once as old. Younger packs are never touched: they may
belong to a push that has uploaded its pack and not yet written the refs (docs/remotes.md,
"Many writers")."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ..errors import RemoteCorrupt, RemoteError, TraceError
from ..ids import from_hex, is_hex_id
from ..objects import TYPE_CODES
from ..state import RepoState
from .layout import complete, newest

if TYPE_CHECKING:
    from ..transport.options import S3Options

#: default grace period: a push uploads its pack and writes the refs well within a day
GRACE_S = 86400


@dataclass
class RemoteGcReport:
    url: str
    packs_before: int = 0
    merged: list[str] = field(default_factory=list)     #: old packs merged (and removed)
    written: str | None = None                          #: the pack that replaced them
    kept_objects: int = 0
    dropped_objects: int = 0                            #: unreachable objects left out
    incomplete_removed: list[str] = field(default_factory=list)
    dry_run: bool = False

    def as_dict(self) -> dict:
        return dict(self.__dict__)


def remote_gc(repo: RepoState, remote: str = "origin", *, expire_s: float = GRACE_S,
              now: float | None = None, dry_run: bool = False,
              s3: S3Options | None = None) -> RemoteGcReport:
    """Collect garbage on `remote`: read its refs, download its complete packs and check them
    as a fetch does, keep what the refs reach (parents, snapshots, nodes, blobs and the objects
    commit meta names), write it as one pack, then remove the old packs it replaces (manifest
    first). Packs younger than `expire_s` stay as they are; incomplete ones older than it are
    removed. `dry_run`: report only."""
    from .remotes import open_remote
    from .transfer import Received, remove_staging, staging_dir, write_outgoing
    if not isinstance(expire_s, (int, float)) or expire_s < 0:
        raise RemoteError("the grace period must be a non-negative number of seconds")
    _name, store = open_remote(repo, remote, s3)
    now = time.time() if now is None else now
    cutoff = now - expire_s
    report = RemoteGcReport(store.url, dry_run=dry_run)
    doc = store.read_refs()
    if doc is None:
        raise RemoteError(f"no trace remote at {store.url}")
    listing = store.listing()
    report.packs_before = len(listing)
    whole = {n: p for n, p in listing.items() if complete(p)}
    for name, parts in listing.items():
        if name not in whole and newest(parts) < cutoff:
            report.incomplete_removed.append(name)
            if not dry_run:
                store.delete_pack(name, parts)
    old = [n for n, p in whole.items() if newest(p) < cutoff]
    if not old:
        return report
    tmp = staging_dir(repo)
    try:
        got = Received(repo, tmp, store.url, keep=True)
        for name in whole:
            if not store.download_pack(name, tmp):
                raise RemoteError(f"{store.url}: pack {name[:16]} vanished during gc (another "
                                  "gc?); nothing was removed")
            got.check(name)
        objects = got.objects or {}
        keep: set[bytes] = set()
        stack: list[bytes] = [from_hex(v) for v in doc.refs.values() if is_hex_id(v)]
        while stack:
            oid = stack.pop()
            if oid in keep or oid not in objects:
                continue
            keep.add(oid)
            stack.extend(objects[oid][2])
        old_set = set(old)
        from_old = [oid for oid, o in objects.items() if o[3] in old_set]
        kept = [(o, objects[o][1], objects[o][0]) for o in from_old if o in keep]
        report.kept_objects = len(kept)
        report.dropped_objects = len(from_old) - len(kept)
        if len(old) < 2 and not report.dropped_objects:
            return report           # one old pack, all of it reachable: nothing to gain
        report.merged = sorted(old)
        if dry_run:
            return report
        if kept:
            out_dir = os.path.join(tmp, "out")
            os.makedirs(out_dir)
            name = write_outgoing(repo, kept, out_dir)
            store.upload_pack(out_dir, name, [o for o, t, _ in kept if t == TYPE_CODES["commit"]])
            report.written = name
        for name in old:
            if name == report.written:
                continue
            if newest(store.listing(name).get(name, {})) >= cutoff:
                continue      # (written again since it was listed: a push re-sent it)
            store.delete_pack(name, whole[name])
    except RemoteError:
        raise
    except TraceError as exc:
        raise RemoteCorrupt(f"{store.url}: {exc}") from None
    finally:
        remove_staging(tmp)
    return report
