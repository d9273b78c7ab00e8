"""Moving objects between a repository and a remote as packs: what the other side lacks
(negotiated by commit ids, as git's have/want), a pack of it, and the checks a received pack
passes before any of it is stored (docs/remotes.md, "Negotiation")."""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterable

from ..errors import RemoteCorrupt, TraceError
from ..objects import TYPE_CODES, Commit, object_tag, parse_object
from ..state import RepoState


# -- what to send -----------------------------------------------------------------------------
def _new_commits(repo: RepoState, want: list[bytes], have: list[bytes],
                 info: dict) -> list[bytes]:
    """Commits reachable from `want` and not from `have`, oldest first, with the history of
    commits their meta names (a spawn's child, a collapse's result) that `have` lacks too.
    `info` gets each one's `_commit_links`."""
    from ..gc import meta_ids
    store = repo.store
    order: list[bytes] = []
    starts = list(want)
    while starts:
        batch = [r[0] for r in repo.index.walk_raw(starts, have) if r[0] not in info]
        order += batch[::-1]
        starts = []
        for cid in batch:
            info[cid] = _commit_links(store, cid)
        for cid in batch:
            for m in meta_ids(info[cid][3]):
                if m not in info and store.has(m) and object_tag(store.get_bytes(m)) == "commit":
                    starts.append(m)
    return order


def _commit_links(store, oid: bytes) -> tuple:
    """(parents, snapshot, blobs, meta, bytes) of stored commit `oid`, read from its bytes
    (gc.links_of: not built into a Commit)."""
    from ..gc import links_of
    data = store.get_bytes(oid)
    if object_tag(data) != "commit":
        raise RemoteCorrupt(f"object {oid.hex()[:16]} is a {object_tag(data)}, not a commit")
    follow, blobs, meta = links_of(store, oid)
    return follow[:-1], follow[-1], blobs, meta or {}, data


_BLOB, _NODE, _SNAP, _COMMIT = (TYPE_CODES[t] for t in ("blob", "node", "snap", "commit"))


def _closure(store, oid: bytes, code: int, done: set, out: list | None,
             last: list | None = None) -> None:
    """The objects below `oid` (a snapshot, node or blob: `code`) not in `done` (added to it),
    each after what it links to, appended to `out` as (id, type code, bytes); None: only marked
    done. Nothing is decoded into objects: links come from the stored bytes (gc.links_of, with
    `last`: the tail of the snapshot read before, whose blobs are in `done` already)."""
    from ..gc import links_of
    stack: list = [(oid, code, None)]
    while stack:
        cur, kind, data = stack.pop()
        if data is not None:                    # its links are out: its turn
            out.append((cur, kind, data))       # type: ignore[union-attr]
            continue
        if cur in done:
            continue
        done.add(cur)
        if kind == _BLOB:
            if out is not None:
                out.append((cur, _BLOB, store.get_bytes(cur)))
            continue
        follow, blobs, _meta = links_of(store, cur, last)
        if out is not None:
            stack.append((cur, kind, store.get_bytes(cur)))
        kids = [(f, _NODE) for f in follow] + [(b, _BLOB) for b in blobs]
        stack.extend((k, t, None) for k, t in reversed(kids) if k not in done)


def objects_to_send(repo: RepoState, want: Iterable[bytes], have: Iterable[bytes]
                    ) -> list[tuple[bytes, int, bytes]]:
    """Every object the commits of `want` need that the commits of `have` do not already
    bring, as (id, type code, bytes): the new commits (`_new_commits`), and of their snapshots,
    nodes and blobs those not under the snapshot of a commit they build on that the other side
    has. Each object comes after what it links to. `have`: the other side's tips (those not
    stored here are passed over)."""
    from ..gc import meta_ids
    store = repo.store
    have = [h for h in have if store.has(h)]
    info: dict = {}
    new = _new_commits(repo, list(want), have, info)
    done: set[bytes] = set()
    for cid in new:          # what the other side has under the commits these build on
        for p in info[cid][0]:
            if p not in info and p not in done and store.has(p):
                done.add(p)
                _closure(store, _commit_links(store, p)[1], _SNAP, done, None)
    out: list[tuple[bytes, int, bytes]] = []
    last: list = [b""]
    for cid in new:
        _parents, snapshot, blobs, meta, data = info[cid]
        _closure(store, snapshot, _SNAP, done, out, last)
        for b in blobs:
            _closure(store, b, _BLOB, done, out)
        for m in meta_ids(meta):      # meta blobs (a LangGraph checkpoint's state)
            if m not in done and m not in info and store.has(m) and \
                    object_tag(store.get_bytes(m)) == "blob":
                _closure(store, m, _BLOB, done, out)
        done.add(cid)
        out.append((cid, _COMMIT, data))
    return out


def write_outgoing(repo: RepoState, objects: list[tuple[bytes, int, bytes]],
                   directory: str) -> str:
    """Write (id, type code, bytes) objects as a pack (and its index) in `directory`; its
    name."""
    from ..storage.pack import grouped_by_type, write_pack
    return write_pack(directory, grouped_by_type(objects), level=repo.store.opts.level)


# -- staging ----------------------------------------------------------------------------------
def staging_dir(repo: RepoState) -> str:
    """A new private directory for packs on their way in or out: `objects/pack/tmp-<pid>-<random>.d`
    (removed when done; gc removes one a killed process left, once it is an hour old)."""
    path = os.path.join(repo.store.pack_dir, f"tmp-{os.getpid()}-{os.urandom(4).hex()}.d")
    os.makedirs(path)
    return path


def remove_staging(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        shutil.rmtree(path)


# -- what is received -------------------------------------------------------------------------
class Received:
    """Packs downloaded into a staging directory, checked object by object before any is
    stored: every object hashes to its id and parses (bounded), the pack and its index pass
    verify-pack's checks, and every link of every object (parents, snapshot, nodes, blobs) is
    in these packs or already in the repository."""

    def __init__(self, repo: RepoState, directory: str, url: str, keep: bool = False) -> None:
        self.repo = repo
        self.directory = directory
        self.url = url
        self.names: list[str] = []
        self.links: dict[bytes, bytes] = {}     # a linked id -> the object naming it
        self.ids: set[bytes] = set()
        self.commits: set[bytes] = set()
        #: with `keep` (the remote's gc): id -> (bytes, type code, the ids it reaches: its
        #: links and the ids its meta names, pack name) of every object received
        self.objects: dict[bytes, tuple] | None = {} if keep else None

    def check(self, name: str) -> None:
        """Verify pack `name` (downloaded into the directory); RemoteCorrupt naming it."""
        from ..gc import meta_ids
        from ..inspect.export import links
        from ..plumbing.storage import verify_pack_at
        limit = self.repo.store.opts.max_object_size
        objects = self.objects

        def each(oid: bytes, raw: bytes) -> None:
            try:
                obj = parse_object(raw, limit)
            except TraceError as exc:
                raise RemoteCorrupt(f"{self.url}: pack {name[:16]}: object {oid.hex()[:16]} "
                                    f"is malformed: {exc}") from None
            self.ids.add(oid)
            linked = links(obj)
            if isinstance(obj, Commit):
                self.commits.add(oid)
            for k in linked:
                self.links.setdefault(k, oid)
            if objects is not None and oid not in objects:
                reach = [*linked, *meta_ids(obj.meta)] if isinstance(obj, Commit) else linked
                objects[oid] = (raw, TYPE_CODES[obj.tag], reach, name)

        problems = verify_pack_at(self.directory, name, limit, each)
        if problems:
            raise RemoteCorrupt(f"{self.url}: pack {name[:16]} is damaged: {problems[0]}")
        self.names.append(name)

    def missing(self) -> list[tuple[bytes, bytes]]:
        """[(id, the object naming it)] of links neither received nor stored here."""
        has = self.repo.store.has
        return [(k, v) for k, v in self.links.items() if k not in self.ids and not has(k)]

    def install(self) -> None:
        """Move the checked packs into the repository's pack directory (the pack, then its
        index: the index makes it visible, §8)."""
        pack_dir = self.repo.store.pack_dir
        for name in self.names:
            for ext in (".pack", ".idx"):
                src = os.path.join(self.directory, f"pack-{name}{ext}")
                dst = os.path.join(pack_dir, f"pack-{name}{ext}")
                if os.path.exists(dst):
                    continue
                os.replace(src, dst)
        self.repo.store.refresh()
