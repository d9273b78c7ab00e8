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
from ..objects import TYPE_CODES, Commit, object_tag, parse_object
from ..state import RepoState

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
    from ..gc import meta_ids
    from ..inspect.export import links
    from ..storage.pack import Pack
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
    complete = {n: p for n, p in listing.items() if {".pack", ".idx", ".commits"} <= p.keys()}
    for name, parts in listing.items():
        if name not in complete and max(x.mtime for x in parts.values()) < cutoff:
            report.incomplete_removed.append(name)
            if not dry_run:
                store.delete_pack(name, parts)
    old = [n for n, p in complete.items() if max(x.mtime for x in p.values()) < cutoff]
    if not old:
        return report
    tmp = staging_dir(repo)
    try:
        objects: dict[bytes, bytes] = {}
        origin: dict[bytes, str] = {}
        got = Received(repo, tmp, store.url)
        for name in complete:
            if not store.download_pack(name, tmp):
                raise RemoteError(f"{store.url}: pack {name[:16]} vanished during gc (another "
                                  "gc?); nothing was removed")
            got.check(name)
            pack = Pack(tmp, name)
            try:
                for _b, recs in pack.iter_blocks(repo.store.opts.max_object_size):
                    for oid, data in recs.items():
                        objects.setdefault(oid, bytes(data))
                        origin.setdefault(oid, name)
            finally:
                pack.close()
        keep: set[bytes] = set()
        stack: list[bytes] = [from_hex(v) for v in doc.refs.values() if is_hex_id(v)]
        while stack:
            oid = stack.pop()
            if oid in keep or oid not in objects:
                continue
            keep.add(oid)
            obj = parse_object(objects[oid])
            stack.extend(links(obj))
            if isinstance(obj, Commit):
                stack.extend(meta_ids(obj.meta))
        old_set = set(old)
        from_old = [oid for oid, name in origin.items() if name in old_set]
        kept = [(o, TYPE_CODES[object_tag(objects[o])], objects[o]) for o in from_old
                if o in keep]
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
            newest = store.pack_mtime(name)   # (written again since it was listed: a push
            if newest is not None and newest >= cutoff:   # re-sent the same pack; keep it)
                continue
            store.delete_pack(name, complete[name])
    except TraceError as exc:
        if isinstance(exc, (RemoteError, RemoteCorrupt)):
            raise
        raise RemoteCorrupt(f"{store.url}: {exc}") from None
    finally:
        remove_staging(tmp)
    return report
