"""Consolidation: seal idle journals, merge packs into one (optionally with a trained dict)."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterable, Iterator

from ..errors import RepackBusy
from ..objects import TYPE_CODES, object_tag
from . import journal as jn
from . import safefs
from . import zstd_codec as zc
from .objectstore import DiskObjectStore, try_lock
from .pack import FRAME, OBJECTS, Pack, grouped_by_type, list_packs, write_pack, write_pack_parts

LOCK_NAME = "repack.lock"
#: A cruft pack (unreachable objects kept for gc's grace period, see trace_core/gc.py) is a pack
#: with a `pack-<name>.cruft` file beside it. Plain repacks leave cruft packs alone.
CRUFT_EXT = ".cruft"


def cruft_marker(pack_dir: str, name: str) -> str:
    return os.path.join(pack_dir, f"pack-{name}{CRUFT_EXT}")


class RepackLock:
    """An flock on objects/pack/repack.lock: one consolidation at a time."""

    def __init__(self, pack_dir: str, wait: bool = True) -> None:
        # every consolidation (gc, repack, sealing a journal) takes this lock first: refuse a
        # symlinked objects/ or objects/pack here, before anything is read or written there
        safefs.makedirs(os.path.dirname(os.path.dirname(pack_dir)), pack_dir)
        self.fd = safefs.open_fd(os.path.join(pack_dir, LOCK_NAME), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
            self.held = True
        except OSError:
            self.held = False

    def release(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


#: each pack kept by a geometric rollup is at least this many times the size of all smaller ones
GEOMETRIC_FACTOR = 2


def blob_dictionary(objects: Iterable[tuple]) -> bytes | None:
    """A zstd dictionary trained on the messages among `objects` ((id, type code, bytes)): what
    repack and gc --aggressive compress the packs they write with."""
    blob = TYPE_CODES["blob"]
    return zc.train_dictionary([d for (_, t, d) in objects if t == blob][:20000])


def geometric_split(sizes: list, factor: int = GEOMETRIC_FACTOR) -> int:
    """How many of the smallest packs (`sizes` ascending) to merge so that the packs left, with
    the merged one, grow geometrically by `factor` (git's `repack --geometric`); 0 or 1: none.

    Each object is then rewritten O(log n) times over a history, and the pack count stays
    O(log n) without ever merging everything on the write path."""
    n = len(sizes)
    i = n - 1
    while i > 0 and sizes[i] >= factor * sizes[i - 1]:
        i -= 1
    if i == 0:
        return 0
    split = i + 1
    total = sum(sizes[:split])
    while split < n and sizes[split] < factor * total:
        total += sizes[split]
        split += 1
    return split


def geometric_rollup(pack_dir: str, *, level: int, max_object_size: int, fsync: bool,
                     limit: int = 0) -> str | None:
    """Merge the smallest non-cruft packs so pack sizes grow geometrically (all of them when
    more than `limit` would remain, `limit` > 0). Works from the directory alone, with its own
    pack handles (it runs beside the writer's thread); skips when a repack or gc runs.
    Returns the new pack's name, or None when nothing needed merging."""
    lock = RepackLock(pack_dir, wait=False)
    if not lock.held:
        lock.release()
        return None
    try:
        sized = []
        for n in list_packs(pack_dir):
            if os.path.exists(cruft_marker(pack_dir, n)):
                continue
            with contextlib.suppress(FileNotFoundError):
                sized.append((os.path.getsize(os.path.join(pack_dir, f"pack-{n}.pack")), n))
        sized.sort()
        split = geometric_split([sz for sz, _ in sized])
        if limit and len(sized) - split + (1 if split else 0) > limit:
            split = len(sized)
        if split < 2:
            return None
        packs = [Pack(pack_dir, n) for _, n in sized[:split]]
        try:
            zdict = packs[-1].zdict()  # the largest one's dictionary, if it was trained
            stream = grouped_by_type(_pack_objects(packs, max_object_size))
            name = write_pack(pack_dir, stream, zdict=zdict, level=level, fsync=fsync)
        finally:
            for p in packs:
                p.close()
        _unpublish(pack_dir, [p.name for p in packs if p.name != name])
        return name
    finally:
        lock.release()


def _pack_objects(packs: list, limit: int) -> Iterator[tuple]:
    """(id, type code, bytes) of `packs`, in the given order, block order within each."""
    for pack in packs:
        for b in range(pack.nblocks):
            for oid, data in pack.read_block(b, limit).items():
                raw = bytes(data)
                yield oid, TYPE_CODES[object_tag(raw)], raw


def _unpublish(pack_dir: str, names: Iterable[str]) -> None:
    """Remove packs: the index first (the pack stops being visible), then the data."""
    for n in names:
        base = os.path.join(pack_dir, f"pack-{n}")
        for ext in (".idx", ".pack", CRUFT_EXT):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(base + ext)


def repack(store: DiskObjectStore, train: bool = True) -> str | None:
    """Seal idle journals and merge every non-cruft pack into one (`trace repack`), training a
    zstd dictionary when `train`. Returns the new pack's name, or None when there was nothing
    to repack (already one pack). Raises RepackBusy, without waiting, while another repack or
    gc runs."""
    store.wait_for_sealing()  # our own background rollup holds the lock while it runs
    lock = RepackLock(store.pack_dir, wait=False)
    if not lock.held:
        lock.release()
        raise RepackBusy("another repack or gc is running; try again when it has finished")
    try:
        seal_idle_journals(store)
        return repack_packs(store, train=train, locked=True)
    finally:
        lock.release()


def seal_idle_journals(store: DiskObjectStore) -> list:
    """Seal every journal no live writer holds (and our own); returns the new pack names."""
    names = []
    store.wait_for_sealing()
    safefs.check_dirs(store.top, store.journal_dir)  # never seal (and delete) journals elsewhere
    if store._writer is not None:
        n = store.seal_writer()
        if n:
            names.append(n)
    for path in list(jn.iter_journals(store.journal_dir)):
        fd = try_lock(path)
        if fd is None:
            continue
        try:
            st = os.stat(path)
            if os.fstat(fd).st_ino != st.st_ino:
                continue
            data = os.pread(fd, os.fstat(fd).st_size, 0)
            res = jn.scan(data)
            if res.bad_header or jn.damaged_inside(data, res):
                continue  # never cut off well-formed records after a damaged one: fsck reports it
            if res.records:
                from .objectstore import seal_journal_fd
                names.append(seal_journal_fd(store, data))
            os.unlink(path)
        except FileNotFoundError:
            continue
        finally:
            os.close(fd)
    store.refresh()
    return names


def repack_packs(store: DiskObjectStore, train: bool = False,
                 locked: bool = False) -> str | None:
    """Merge all current non-cruft packs into one new pack (with a newly trained dictionary when
    `train`), then drop them. `locked`: the caller already holds RepackLock. Returns the new
    pack's name, or None if another repack holds the lock or there was nothing to merge."""
    store.wait_for_sealing()
    lock = None if locked else RepackLock(store.pack_dir, wait=False)
    if lock is not None and not lock.held:
        lock.release()
        return None
    try:
        store.refresh()
        old = [p for p in reversed(store.packs())  # oldest first
               if not os.path.exists(cruft_marker(store.pack_dir, p.name))]
        if len(old) <= 1 and not train:
            return None
        stream = list(grouped_by_type(_pack_objects(old, store.opts.max_object_size)))
        zdict = blob_dictionary(stream) if train else None
        return replace_packs(store, [(OBJECTS, stream)], zdict=zdict, level=None,
                             replace=[p.name for p in old])
    finally:
        if lock is not None:
            lock.release()


def replace_packs(store: DiskObjectStore, parts: list, *, zdict: bytes | None,
                  level: int | None, replace: Iterable[str]) -> str | None:
    """Write `parts` (pack.write_pack_parts) as one pack, then drop the packs named in `replace`
    (those whose objects the parts carry). The caller holds RepackLock. Returns the new pack's
    name, or None when the parts hold no object."""
    level = level if level is not None else store.opts.level
    empty = all(not part[1] for part in parts if part[0] == OBJECTS) and not any(
        part[0] == FRAME for part in parts)
    name = None if empty else write_pack_parts(store.pack_dir, parts, zdict=zdict, level=level,
                                               fsync=store.opts.durability == "full")
    _unpublish(store.pack_dir, [n for n in replace if n != name])
    store.refresh()
    return name


def pack_names(store: DiskObjectStore) -> list:
    return list_packs(store.pack_dir)
