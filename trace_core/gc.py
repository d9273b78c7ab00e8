"""Reachability, reflog expiry, gc and prune: keep what refs reach, retire the rest after a grace.

Reachable: from every ref of every namespace (the root and each `agents/<name>/`, recursively,
pseudo refs such as ORIG_HEAD included) and its reflog (see reflog_ids); from a commit its
parents, snapshot, blobs and any 32-byte id in `meta`, except an id listed in `.trace/pruned`
(the history of a sub-agent a retention policy pruned, trace_core.retention: that file can stop
only these soft meta links, never a ref or parent link); from a snapshot its nodes and tail blobs.
gc applies the retention policies first (retention.apply_retention).

Cruft packs. gc consumes exactly the packs published when it starts (after sealing the journals no
live writer holds; live journals are never touched) and writes the reachable objects as ONE pack
with the dictionary of the largest pack it consumes, copying every block whose objects are all kept
as it is (docs/FORMAT.md, "gc's copy"; --aggressive trains a dictionary and recompresses).
Unreachable objects go into a *cruft pack*: an ordinary, readable pack with a `pack-<name>.cruft`
file beside it holding when gc found them unreachable (Unix seconds). Each gc writes at most one,
for what it newly found unreachable; an object already in a cruft pack within its grace period is
not copied again, so it keeps the older time. When a cruft pack's time is `gc.prune-expire` (2
weeks) old, gc copies what has become reachable again into the new pack and deletes the cruft pack:
reachability is re-checked at expiry, never assumed.

The race, as in git: while gc runs, another process may make an old object reachable again
without writing it anew (reset or checkout to a dangling commit, a commit on top of one). If gc
computed reachability before that ref moved, the object goes into the new cruft pack, survives the
grace period, and the next gc finds it reachable. It is lost only if it already sat in a cruft
pack past its grace period, or with `expire_s == 0` (`--prune=now`), unsafe while others write,
as in git. Objects written meanwhile are in live journals or in packs published after gc started,
which it never consumes. gc and repack exclude each other through `repack.lock`.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .bulk import no_gc_pauses
from .errors import (
    CorruptObject,
    InputError,
    MalformedObject,
    OperationError,
    PackError,
    TraceError,
)
from .ids import ID_LEN, ZERO_HEX, hash_bytes, is_hex_id, to_hex
from .objects import TYPE_CODES, Commit, Node, Snapshot, object_links, object_tag
from .storage.lockfile import write_file_atomic
from .storage.pack import FRAME, OBJECTS, list_packs, write_pack

if TYPE_CHECKING:
    from .refs import RefStore
    from .state import RepoState
    from .storage.objectstore import DiskObjectStore, ObjectStore
from .storage.repack import (
    CRUFT_EXT,
    RepackLock,
    blob_dictionary,
    cruft_marker,
    replace_packs,
    seal_idle_journals,
)

Progress = Callable[[int], None] | None


@dataclass
class GcReport:
    """What a gc (or prune) did; `report.__dict__` is its JSON form."""

    packs_before: int = 0
    packs_after: int = 0
    objects_kept: int = 0
    objects_cruft: int = 0
    objects_pruned: int = 0
    bytes_before: int = 0
    bytes_after: int = 0
    reflog_entries_expired: int = 0
    agents_pruned: int = 0
    seconds: float = 0.0


# -- refs of every namespace --------------------------------------------------------------------
def agent_of(prefix: str) -> str | None:
    """The agent path of a `namespaces` prefix: `agents/a/agents/b/` -> `a/b`; "" -> None (the
    root namespace)."""
    return "/".join(prefix.strip("/").split("/")[1::2]) or None


def namespaces(repo: RepoState) -> list[tuple[str, RefStore]]:
    """(path prefix, RefStore) of the root namespace and every agent namespace, recursively."""
    from .refs import MAX_AGENT_DEPTH, RefStore, check_agent_name

    out = []
    stack = [("", repo.trace_dir, 0)]
    while stack:
        prefix, root, depth = stack.pop()
        out.append((prefix, RefStore(root, durability=repo.durability, who=repo.who)))
        adir = os.path.join(root, "agents")
        try:
            names = sorted(os.listdir(adir), reverse=True)
        except (FileNotFoundError, NotADirectoryError):
            continue
        for name in names:
            path = os.path.join(adir, name)
            if depth >= MAX_AGENT_DEPTH or os.path.islink(path) or not os.path.isdir(path):
                continue
            try:
                check_agent_name(name)
            except TraceError:
                continue
            stack.append((f"{prefix}agents/{name}/", path, depth + 1))
    return out


def _hex_values(values: Iterable[str]) -> Iterator[bytes]:
    for v in values:
        if is_hex_id(v) and v != ZERO_HEX:
            yield bytes.fromhex(v)


def reflog_ids(log: list) -> Iterator[bytes]:
    """Ids a reflog (newest first) keeps alive: every entry's new value, and every entry's old
    value but the newest's. That one is the previous entry's new value unless expiry dropped it;
    the record holding a ref's value is never dropped, so following its old value would keep
    what a `reset --hard` left behind alive until the ref moves again, whatever the expiry."""
    return _hex_values({e.new for e in log} | {e.old for e in log[1:]})  # (each once)


def ref_roots(repo: RepoState, include_reflogs: bool = True,
              logs: dict | None = None) -> set[bytes]:
    """Raw ids named by every ref (and, if asked, every reflog entry) of every namespace.
    `logs`: reflogs already read, by (namespace root, ref name) (see read_reflogs)."""
    roots: set = set()
    for _prefix, refs in namespaces(repo):
        # a ref or reflog that cannot be read (damaged, symlinked) raises: skipping it would
        # let gc prune what it names
        listed = refs.list("")
        roots.update(_hex_values(raw for _, raw in listed))
        roots.update(_merge_state_ids(refs.root))
        for name, _raw in listed if include_reflogs else ():
            log = (logs or {}).get((refs.root, name))
            roots.update(reflog_ids(log if log is not None else refs.reflog(name)))
    return roots


def read_reflogs(repo: RepoState) -> dict:
    """{(namespace root, ref name): reflog, newest first} of every ref of every namespace (a
    reflog that cannot be read is left out: fsck reports it, and gc reads it again)."""
    logs = {}
    for _prefix, refs in namespaces(repo):
        try:
            listed = refs.list("")
        except (TraceError, OSError):
            continue
        for name, _raw in listed:
            with contextlib.suppress(TraceError, OSError):
                logs[(refs.root, name)] = refs.reflog(name)
    return logs


def _merge_state_ids(root: str) -> set:
    """Ids a stopped merge or rebase still needs (its commits and resolution blobs)."""
    import re

    from .storage import safefs
    try:  # not through a symlink; unreadable otherwise is an error: gc must account for it
        text = safefs.read_bytes(os.path.join(root, "MERGE_STATE")).decode("utf-8", "replace")
    except FileNotFoundError:
        return set()
    return set(_hex_values(re.findall(r'"([0-9a-f]{64})"', text)))


# -- reachability -------------------------------------------------------------------------------
def meta_ids(value: Any, _depth: int = 0) -> Iterator[bytes]:
    """32-byte binary values anywhere inside a commit's meta (object pointers)."""
    if isinstance(value, bytes) and len(value) == ID_LEN:
        yield value
    elif _depth < 64 and isinstance(value, (dict, list, tuple)):
        for v in value.values() if isinstance(value, dict) else value:
            yield from meta_ids(v, _depth + 1)


def links_of(store: ObjectStore, oid: bytes, last: list | None = None) -> tuple[list, list, Any]:
    """(objects to follow, blob ids named, meta or None) of stored object `oid`: from the
    decoded object when it is cached, else from its verified bytes without building it.
    `last`: see snapshot_links (a snapshot may then name only blobs not named before)."""
    obj = store._decoded.get(oid)
    if obj is None:
        data = store.get_bytes(oid)   # (from the block the walk read last, when it holds it)
        if data[:6] == b"\x94\xa4snap":
            links = snapshot_links(data, last)
            if links is not None:
                return links
        try:
            return object_links(data)
        except MalformedObject as exc:
            raise CorruptObject(to_hex(oid), str(exc)) from None
    if isinstance(obj, Commit):
        return [*obj.parents, obj.snapshot], list(obj.blobs), obj.meta
    if isinstance(obj, Snapshot):
        return ([] if obj.root is None else [obj.root]), [e.blob for e in obj.tail], None
    if isinstance(obj, Node):
        if obj.level == 0:
            return [], [e.blob for e in obj.items], None
        return [cid for cid, _ in obj.items], [], None
    return [], [], None


_INT_LEN = {0xCC: 2, 0xCD: 3, 0xCE: 5, 0xCF: 9}
_ARRAY_LEN = {0xDC: 2, 0xDD: 4}
#: a snapshot's tail entry [bin 32, flags < 128] in canonical msgpack is 36 bytes
_ENTRY = 36


def snapshot_links(data: bytes, last: list | None = None) -> tuple[list, list, None] | None:
    """object_links of a snapshot's canonical bytes without decoding its tail entry by entry
    (most of gc's walk is snapshots): ([root] or [], tail blob ids, None). None when the bytes
    are not a snapshot of the usual shape, e.g. a flag above 127 (object_links decides).

    `last` ([bytes]): the tail of the snapshot read before, whose blobs the caller has named.
    A tail is its parent's plus one message (until a chunk is sealed), and the walk reads a
    history's snapshots one after the other: only the entries `last` lacks are named then."""
    try:
        pos = 6
        c = data[pos]
        pos += 1 if c < 0x80 else _INT_LEN[c]          # count: a uint
        c = data[pos]
        if c == 0xC0:                                  # root: nil or bin 32
            root: list = []
            pos += 1
        elif c == 0xC4 and data[pos + 1] == 32:
            root = [data[pos + 2:pos + 34]]
            pos += 34
        else:
            return None
        c = data[pos]                                  # tail: an array
        if 0x90 <= c <= 0x9F:
            count = c - 0x90
            pos += 1
        else:
            w = _ARRAY_LEN[c]
            count = int.from_bytes(data[pos + 1:pos + 1 + w], "big")
            pos += 1 + w
    except (IndexError, KeyError):
        return None
    tail = data[pos:]
    if len(tail) != count * _ENTRY:
        return None
    start = 0
    if last is not None:
        if last[0].startswith(tail):  # (both are whole entries: the same first `count`)
            return root, [], None
        if tail.startswith(last[0]):
            start = len(last[0])
    if (tail[start::_ENTRY] != b"\x92" * (count - start // _ENTRY)
            or tail[start + 1::_ENTRY] != b"\xc4" * (count - start // _ENTRY)
            or tail[start + 2::_ENTRY] != b"\x20" * (count - start // _ENTRY)
            or (count > start // _ENTRY and max(tail[start + 35::_ENTRY]) >= 0x80)):
        return None
    if last is not None:
        last[0] = tail
    return root, [tail[p:p + 32] for p in range(start + 3, len(tail), _ENTRY)], None


def walk(store: ObjectStore, roots: Iterable[bytes], commits_only: bool = False,
         progress: Progress = None, broken: list | None = None,
         stop: frozenset | set = frozenset()) -> set:
    """Ids reachable from `roots`. Blobs are named, not read, and nothing is built into an
    object (links come from the canonical bytes); with `commits_only` only parent links are
    followed. Objects that are missing or unreadable are not followed (and are listed in
    `broken`, unless only a commit's meta names them: meta may hold other 32-byte values).
    Meta links to an id in `stop` (pruned history) are not followed; other links always are."""
    seen: set = set()
    blobs: set = set()
    soft: set = set()
    stack = list(roots)
    n = 0
    last = [b"\xff"]  # the last snapshot tail named (none yet: no tail starts with 0xff)
    while stack:
        oid = stack.pop()
        if oid in seen:
            continue
        seen.add(oid)
        try:
            follow, named, meta = links_of(store, oid, last)
        except TraceError:
            if broken is not None and oid not in soft:
                broken.append(oid)
            continue
        n += 1
        if progress and n % 1000 == 0:
            progress(n)
        if meta is not None:  # a commit: parents first, then its snapshot
            if commits_only:
                stack.extend(follow[:-1])
                continue
            ids = [i for i in meta_ids(meta) if i not in seen and i not in stop]
            soft.update(ids)
            stack.extend(ids)
        elif commits_only:
            continue
        stack.extend(follow)
        blobs.update(named)
    if progress:
        progress(n)
    return seen | blobs


def reachable(repo: RepoState, include_reflogs: bool = True, progress: Progress = None,
              broken: list | None = None, logs: dict | None = None,
              pruned: frozenset | None = None) -> set:
    """Every object id reachable from every ref of every agent (and reflog entry, if asked;
    `logs`: reflogs already read, see read_reflogs), meta links into pruned history left out
    (`pruned`: retention.pruned_ids, read here when not given; a damaged file raises)."""
    if pruned is None:
        from .retention import pruned_ids
        pruned = pruned_ids(repo.trace_dir)
    return walk(repo.store, ref_roots(repo, include_reflogs, logs), progress=progress,
                broken=broken, stop=pruned)


# -- reflog expiry ------------------------------------------------------------------------------
def expire_reflogs(repo: RepoState, now: float | None = None, logs: dict | None = None) -> int:
    """Drop reflog entries older than gc.reflog-expire (90 days), or than
    gc.reflog-expire-unreachable (30 days) when their old or new commit is not reachable from
    any ref's current value. A ref's current value is always kept. Either setting may be
    `never` (config.parse_duration: nothing expires). Returns entries dropped.

    `logs` (read_reflogs): the reflogs as read; those this call rewrites are removed from it.
    Only reflogs with an entry past a limit are rewritten, and the history is walked only when
    one is past the unreachable limit: a young repository's gc reads each reflog once."""
    from .config import NEVER
    now = time.time() if now is None else float(now)
    all_s = repo.config.get_typed("gc.reflog-expire")
    unr_s = repo.config.get_typed("gc.reflog-expire-unreachable")
    if all_s >= NEVER and unr_s >= NEVER:
        return 0
    if logs is None:
        logs = read_reflogs(repo)
    oldest_kept = (now - min(all_s, unr_s)) * 1000
    due = [key for key, log in logs.items() if len(log) > 1 and log[-1].time_ms < oldest_kept]
    if not due:
        return 0
    tips = walk(repo.store, ref_roots(repo, include_reflogs=False), commits_only=True)

    def keep(e) -> bool:
        t = e.time_ms / 1000.0
        if t < now - all_s:
            return False
        if t < now - unr_s:
            return all(oid in tips for oid in _hex_values((e.new, e.old)))
        return True

    dropped = 0
    stores = {refs.root: refs for _prefix, refs in namespaces(repo)}
    for root, name in due:
        n = stores[root].expire_reflog(name, keep)
        if n:
            logs.pop((root, name), None)
        dropped += n
    return dropped


# -- gc and prune -------------------------------------------------------------------------------
def gc(repo: RepoState, prune_expire_s: int | None = None, now: float | None = None,
       aggressive: bool = False, progress: Progress = None, retention: bool = True) -> GcReport:
    """Apply the retention policies (unless `retention=False`; retention.apply_retention),
    expire reflogs, seal idle journals, pack reachable objects into one pack (whole blocks
    copied when all their objects are kept; `aggressive`: a newly trained dictionary, level 19),
    move newly unreachable objects to a cruft pack and drop expired cruft."""
    if prune_expire_s is None:
        prune_expire_s = repo.config.get_typed("gc.prune-expire")
    _check_grace(prune_expire_s)
    from .retention import apply_retention

    # (apply_retention and _collect each read .trace/pruned before they change anything)
    done = apply_retention(repo, now) if retention else []
    rep = _collect(repo, prune_expire_s, now, reflogs=True, level=19 if aggressive else None,
                   progress=progress)
    rep.agents_pruned = len(done)
    return rep


def prune(repo: RepoState, expire_s: int | None = None, now: float | None = None) -> int:
    """Drop unreachable objects found unreachable at least `expire_s` seconds ago (default
    `gc.prune-expire`; 0: all of them now, unsafe while other processes write). Returns how
    many were dropped."""
    if expire_s is None:
        expire_s = repo.config.get_typed("gc.prune-expire")
    return _collect(repo, expire_s, now, reflogs=False, level=None, progress=None).objects_pruned


def _check_grace(expire_s: Any) -> None:
    if not isinstance(expire_s, (int, float)) or isinstance(expire_s, bool) or expire_s < 0:
        raise InputError(f"the prune grace period must be a duration >= 0, not {expire_s!r}")


def _collect(repo, expire_s: int, now: float | None, reflogs: bool, level: int | None,
             progress: Progress) -> GcReport:
    _check_grace(expire_s)
    from .retention import pruned_ids
    pruned = pruned_ids(repo.trace_dir)   # (read before anything moves: damage stops gc)
    t0 = time.monotonic()
    now = time.time() if now is None else float(now)
    store = repo.store
    rep = GcReport()
    store.wait_for_sealing()
    lock = RepackLock(store.pack_dir, wait=True)
    try:
        with no_gc_pauses():  # (the walk allocates ~10 containers per object, none in a cycle)
            _collect_locked(repo, store, rep, expire_s, now, reflogs, level, progress, pruned)
    finally:
        lock.release()
    if rep.objects_pruned:  # the derived index may name pruned commits: rebuild it
        store.forget_decoded()  # (nor may this process go on reading them from memory)
        repo.index.rebuild()    # (which compacts it too)
    elif reflogs:           # gc, not prune: kept tallies start again, free pages go back
        repo.index.clear_tallies()
        repo.index.compact()
    rep.seconds = round(time.monotonic() - t0, 3)
    return rep


def _collect_locked(repo, store, rep: GcReport, expire_s: int, now: float, reflogs: bool,
                    level: int | None, progress: Progress, pruned: frozenset) -> None:
    """_collect's work under repack.lock."""
    rep.packs_before, rep.bytes_before = usage(store)
    logs = read_reflogs(repo)
    if reflogs:
        rep.reflog_entries_expired = expire_reflogs(repo, now, logs)
    seal_idle_journals(store)
    packs = list(reversed(store.packs()))  # oldest first: exactly these may be consumed
    times = {p.name: cruft_time(store.pack_dir, p.name) for p in packs}
    _check_packs(packs)
    broken: list = []
    keep = reachable(repo, True, progress, broken, logs, pruned)
    if broken:  # what they would reach cannot be known: moving anything could lose it
        raise OperationError(f"{len(broken)} object(s) reachable from refs are missing or "
                             f"corrupt, e.g. {broken[0].hex()}; gc stopped before moving or "
                             "deleting any object: run 'trace fsck'")
    cutoff = now - expire_s
    reuse = level is None  # (--aggressive recompresses everything with a new dictionary)
    zdict = _output_dictionary(store, packs) if reuse else None
    parts, fresh, live, dropped, kept, n = _sort_objects(
        store, packs, keep, times, cutoff, zdict if reuse else False, progress, len(keep))
    if expire_s == 0:  # --prune=now: what is newly unreachable gets no grace period
        dropped.update(item[0] for item in fresh)
    fresh = [item for item in fresh if item[0] not in live] if expire_s else []
    cruft = _write_cruft(store, fresh, now) if fresh else None
    consumed = [p.name for p in packs
                if ((t := times[p.name]) is None or t <= cutoff) and p.name != cruft]
    if not reuse:
        zdict = blob_dictionary(parts[0][1])
    replace_packs(store, parts, zdict=zdict, level=level, replace=consumed)
    _drop_orphan_markers(store.pack_dir)
    _drop_stale_temp_packs(store.pack_dir, now)
    fresh_ids = {item[0] for item in fresh}
    rep.objects_kept = kept
    rep.objects_cruft = len(live | fresh_ids)
    rep.objects_pruned = len(dropped - live - fresh_ids - keep)
    rep.packs_after, rep.bytes_after = usage(store)
    if progress:
        progress(n)


def _check_packs(packs: list) -> None:
    """Refuse to start on a pack whose bytes were damaged since it was written: gc copies
    objects without re-hashing them (their pack was written from hash-verified objects, and its
    blake3 checksum, its index's and each block's zstd content checksum show the bytes are the
    ones written), so it checks those first, and that the index's block table covers the pack."""
    for p in packs:
        try:   # (the index's structure includes a block table that tiles the pack: an index
            # that left a block out would make gc drop that block's objects)
            problem = p.idx_problem() or (None if p.verify_pack_checksum()
                                          else "it fails its checksum")
        except (OSError, TraceError) as exc:
            problem = str(exc)
        if problem:
            raise _damaged(p, problem)


def _output_dictionary(store, packs: list) -> bytes | None:
    """The dictionary of the largest pack gc consumes (None if it has none): blocks compressed
    with it are copied as they are. gc trains a new one only with --aggressive."""
    if not packs:
        return None
    largest = max(packs, key=lambda p: os.path.getsize(p.pack_path))
    return largest.zdict()


def _type_code(raw) -> int:
    """The type code of canonical object bytes (a memoryview into a block)."""
    return TYPE_CODES[object_tag(bytes(raw[:10]))]


def _sort_objects(store, packs: list, keep: set, times: dict, cutoff: float,
                  zdict: bytes | None | bool, progress: Progress, n: int) -> tuple:
    """Read every block of `packs` once and sort its objects: kept, newly unreachable (fresh),
    cruft still in its grace period (live), past it (dropped). Returns (parts for
    write_pack_parts, fresh, live, dropped, objects kept, n). A block whose objects are all kept
    and not yet taken from another block is copied verbatim when its pack's dictionary is
    `zdict` (False: never); the kept objects of other blocks are recompressed, grouped by type."""
    limit = store.opts.max_object_size
    cache = store._cache
    frames: dict = {1: [], 2: [], 3: [], 4: []}
    loose: dict = {1: [], 2: [], 3: [], 4: []}
    fresh: list = []
    live: set = set()
    dropped: set = set()
    written: dict = {}    # id -> (pack, block) of the copy taken
    for p in packs:
        t = times[p.name]
        copy = zdict is not False and p.zdict() == zdict
        for b in range(p.nblocks):
            frame = None
            try:
                recs = cache.get((p.name, b))  # (the walk read it: checked then)
                if recs is None:
                    frame = p.read_frame(b, limit)
                    recs = p.parse_frame(b, frame)
                whole = (copy and recs and keep.issuperset(recs)
                         and written.keys().isdisjoint(recs))
                if whole and frame is None:     # (read only to be copied)
                    frame = p.read_frame(b, limit)
            except (PackError, MalformedObject) as exc:
                raise _damaged(p, str(exc)) from None
            n += len(recs)
            if whole:
                tl = [(oid, _type_code(data)) for oid, data in recs.items()]
                for oid, code in tl:
                    if code == _BLOB:
                        _verify(p, oid, recs[oid])
                frames[tl[0][1]].append((FRAME, frame, p.block_info(b)[2], tl))
                written.update(dict.fromkeys(recs, (p, b)))
                continue
            for oid, data in recs.items():
                if oid in keep:
                    first = written.get(oid)
                    if first is not None:
                        _check_duplicate(store, oid, data, p, first)
                    else:
                        written[oid] = (p, b)
                        code = _type_code(data)
                        if code == _BLOB:
                            _verify(p, oid, data)
                        loose[code].append((oid, code, bytes(data)))
                elif t is None:                 # found unreachable now: to the cruft pack
                    _verify(p, oid, data)
                    fresh.append((oid, _type_code(data), bytes(data)))
                elif t > cutoff:
                    live.add(oid)       # in a cruft pack still within its grace period
                else:
                    dropped.add(oid)
        if progress:
            progress(n)
    if zdict is False:  # one stream (the dictionary is trained on its blobs), grouped by type
        parts = [(OBJECTS, [o for c in (1, 2, 3, 4) for o in loose[c]])]
    else:
        parts = [x for c in (1, 2, 3, 4) for x in [*frames[c], (OBJECTS, loose[c])]]
    return parts, fresh, live, dropped, len(written), n


def _damaged(p, problem: str) -> PackError:
    return PackError(f"pack file objects/pack/pack-{p.name}.pack is damaged ({problem}); gc "
                     "stopped before moving or deleting any object: run 'trace fsck'")


_BLOB = TYPE_CODES["blob"]


def _verify(p, oid: bytes, data) -> None:
    """Refuse an object whose bytes do not hash to its id. The walk hash-checks every commit,
    snapshot and node it reads; blobs it only names, and unreachable objects it never meets,
    so gc checks those itself before copying them (checksums any writer can compute are no
    proof against a pack written wrong on purpose)."""
    if hash_bytes(bytes(data)) != oid:
        raise _damaged(p, f"object {to_hex(oid)} does not match its id")


def _check_duplicate(store, oid: bytes, data, p, first: tuple) -> None:
    """An object kept from one pack and found again in another: both copies must hash to its id.
    gc copies objects without re-hashing them (their packs' checksums show their bytes are the
    ones written), so a copy written wrong under a valid checksum could otherwise be kept and
    the right one dropped; two copies are rare (two writers stored the same message), and this
    checks them only."""
    _verify(p, oid, data)
    fp, fb = first
    _verify(fp, oid, (store._cache.get((fp.name, fb))
                      or fp.read_block(fb, store.opts.max_object_size))[oid])


def _write_cruft(store, objects: list, now: float) -> str:
    full = store.opts.durability == "full"
    name = write_pack(store.pack_dir, objects, level=store.opts.level, fsync=full)
    write_file_atomic(cruft_marker(store.pack_dir, name), f"{now:.3f}\n".encode(), fsync=full)
    return name


def cruft_time(pack_dir: str, name: str) -> float | None:
    """When the objects of cruft pack `name` were found unreachable; None if it is not cruft."""
    path = cruft_marker(pack_dir, name)
    from .storage import safefs
    try:
        t = float(safefs.read_bytes(path, 64).decode("ascii").strip())
        if math.isfinite(t):
            return t
    except FileNotFoundError:
        return None
    except (UnicodeDecodeError, ValueError):
        pass
    return os.lstat(path).st_mtime  # a damaged marker: the time it was written


def _drop_orphan_markers(pack_dir: str) -> None:
    """Markers left beside no pack (a crash while deleting one); we hold repack.lock."""
    for f in os.listdir(pack_dir):
        base = os.path.join(pack_dir, f[: -len(CRUFT_EXT)])
        if f.endswith(CRUFT_EXT) and not os.path.exists(base + ".idx"):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + CRUFT_EXT)


#: a `tmp-*.pack` older than this is a killed writer's (a live one writes its pack in seconds)
STALE_TEMP_S = 3600


def _drop_stale_temp_packs(pack_dir: str, now: float) -> None:
    """Unfinished packs a killed writer or sealer left (`tmp-<pid>-<random>.pack`, §8), and the
    staging directories of a killed push or fetch (`tmp-<pid>-<random>.d`, §18), once they are
    an hour old; we hold repack.lock, and a live writer renames its file in seconds."""
    import shutil
    import stat
    for f in os.listdir(pack_dir):
        if f.startswith("tmp-") and f.endswith((".pack", ".d")):
            path = os.path.join(pack_dir, f)
            with contextlib.suppress(FileNotFoundError):
                st = os.lstat(path)
                newest = st.st_mtime
                if stat.S_ISDIR(st.st_mode):      # (a transfer writing a file inside is live)
                    for f2 in os.listdir(path):
                        with contextlib.suppress(FileNotFoundError):
                            newest = max(newest, os.lstat(os.path.join(path, f2)).st_mtime)
                if newest >= now - STALE_TEMP_S:
                    continue
                if stat.S_ISDIR(st.st_mode):
                    shutil.rmtree(path, ignore_errors=True)   # (rmtree never follows links)
                else:
                    os.unlink(path)


def usage(store: DiskObjectStore) -> tuple[int, int]:
    """(number of packs, bytes in packs, their indexes and journals)."""
    from .storage import journal as jn
    names = list_packs(store.pack_dir)
    paths = [os.path.join(store.pack_dir, f"pack-{n}{e}") for n in names for e in (".pack", ".idx")]
    paths += list(jn.iter_journals(store.journal_dir))
    size = 0
    for p in paths:
        with contextlib.suppress(FileNotFoundError):
            size += os.path.getsize(p)
    return len(names), size
