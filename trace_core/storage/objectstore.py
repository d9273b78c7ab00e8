"""Object stores: one in memory, and the disk one (packs, then journals) in `.trace/objects`."""

from __future__ import annotations

import fcntl
import itertools
import os
from collections.abc import Callable, Iterable, Iterator
from typing import TYPE_CHECKING

from ..errors import (
    CorruptObject,
    MalformedObject,
    MissingObject,
    PackError,
    UnreadableObject,
)
from ..ids import hash_bytes, to_hex
from ..objects import CODE_TAGS, MAX_OBJECT_SIZE, TYPE_CODES, TraceObject, object_tag, parse_object
from . import journal as jn
from . import safefs
from . import zstd_codec as zc
from .pack import BlockCache, Pack, grouped_by_type, list_packs, write_pack

if TYPE_CHECKING:
    import subprocess
    import threading

#: decoded objects kept per store (blobs, nodes, commits): a 100,000-message context and its
#: nodes fit, so materializing it again costs no decoding
DECODED_CACHE_MAX = 300_000

#: objects this process wrote, kept decoded (the next commit reads its parent commit and
#: snapshot, the tree's right edge and the last messages back for nothing). Bounded apart from
#: the read cache: a writer that kept everything it wrote held ~550,000 objects the cyclic GC
#: tracks after 100,000 appends, and each full collection over them stalled one append for up
#: to 0.7 s. What falls out is read back from the journal or pack (and then cached as a read).
WRITTEN_CACHE_MAX = 4096

#: bytes of objects a batch (a transaction) keeps in memory before writing them as a pack
BATCH_FLUSH_BYTES = 64 * 1024 * 1024

#: zstd level of journal frames: fast (they are recompressed in 64 KiB blocks when sealed);
#: 3x faster than level 3 on 400-byte messages, frames ~30% larger until then.
JOURNAL_LEVEL = -1


class StoreOptions:
    """Tunables of the disk store (from the repository config). (A plain class, not a
    dataclass: creating dataclasses costs milliseconds at import, on every command's path.)"""

    __slots__ = ("durability", "level", "journal_max_records", "journal_max_bytes",
                 "auto_pack_limit", "max_object_size", "seal_in")

    def __init__(self, durability: str = "normal", level: int = 3,
                 journal_max_records: int = 4096, journal_max_bytes: int = 8 * 1024 * 1024,
                 auto_pack_limit: int = 16, max_object_size: int = MAX_OBJECT_SIZE,
                 seal_in: str = "process") -> None:
        #: where a full journal is sealed: "process" (a child, storage/sealer.py: the writer
        #: keeps its CPU and interpreter lock) or "thread" (in this process)
        self.seal_in = seal_in
        self.durability = durability
        self.level = level
        self.journal_max_records = journal_max_records
        self.journal_max_bytes = journal_max_bytes
        self.auto_pack_limit = auto_pack_limit
        self.max_object_size = max_object_size

    def __repr__(self) -> str:
        return "StoreOptions(" + ", ".join(f"{k}={getattr(self, k)!r}"
                                           for k in self.__slots__) + ")"


class ObjectStore:
    """The interface: bytes by id (verified), decoded objects (cached), writes, enumeration."""

    def __init__(self) -> None:
        self._decoded: dict = {}
        self._written: dict = {}   # id -> object this process wrote (WRITTEN_CACHE_MAX)
        #: values derived from objects, kept by the modules that compute them (the context
        #: last read, rendered prompts), by name; dropped with the decoded objects
        self.derived: dict = {}

    # implemented by subclasses
    def get_bytes(self, oid: bytes) -> bytes:
        raise NotImplementedError

    def has(self, oid: bytes) -> bool:
        raise NotImplementedError

    def write(self, objs: Iterable[TraceObject]) -> None:
        raise NotImplementedError

    def iter_objects(self) -> Iterator[tuple]:
        """(id, type code) of every stored object (duplicates possible across containers)."""
        raise NotImplementedError

    def ids_with_prefix(self, hex_prefix: str) -> set:
        raise NotImplementedError

    def close(self) -> None:
        pass

    def wait_for_sealing(self) -> None:
        """Wait for background storage work (a disk store's sealing); nothing to wait for here."""

    def begin_batch(self) -> None:
        """Start collecting writes for one bulk write (a disk store's pack); a no-op here."""

    def end_batch(self, keep: bool = True) -> None:
        """Finish a batch started by `begin_batch`; a no-op here."""

    def publish_batch(self) -> None:
        """Write the objects an open batch holds now (a ref is about to name one of them); a
        no-op here."""

    # shared
    def get(self, oid: bytes) -> TraceObject:
        obj = self._decoded.get(oid)
        if obj is None:
            obj = self._written.get(oid)
            if obj is None:
                obj = self._decode(oid, self.get_bytes(oid))
        return obj

    def _decode(self, oid: bytes, data: bytes) -> TraceObject:
        try:
            obj = parse_object(data, strict=False)
        except MalformedObject as exc:
            raise CorruptObject(to_hex(oid), str(exc)) from None
        self._cache_decoded(oid, obj)
        return obj

    def _cache_decoded(self, oid: bytes, obj: TraceObject) -> None:
        """Keep a decoded object; when full, forget the older half (insertion order), so a
        working set near the limit (a 100,000-message context) does not thrash."""
        _bounded_put(self._decoded, DECODED_CACHE_MAX, oid, obj)

    def add(self, obj: TraceObject) -> bytes:
        self.write([obj])
        return obj.id

    def remember(self, obj: TraceObject) -> None:
        """Keep an object we just wrote, so reading it back soon costs nothing; when full,
        forget the older half (WRITTEN_CACHE_MAX)."""
        _bounded_put(self._written, WRITTEN_CACHE_MAX, obj.id, obj)

    def forget_decoded(self) -> None:
        """Drop every decoded object kept (after gc deleted objects: what was pruned must not
        go on being served from memory by the process that pruned it)."""
        self._decoded.clear()
        self._written.clear()
        self.derived.clear()


def _bounded_put(d: dict, limit: int, key: bytes, value: TraceObject) -> None:
    """d[key] = value; when `d` holds `limit` items, forget the older half first (insertion
    order), so a working set near the limit does not thrash."""
    if len(d) >= limit:
        for k in list(itertools.islice(d, len(d) // 2)):
            del d[k]
    d[key] = value


class MemoryObjectStore(ObjectStore):
    """A dict of id -> canonical bytes; for tests and scratch work."""

    def __init__(self) -> None:
        super().__init__()
        self._data: dict = {}

    def get_bytes(self, oid: bytes) -> bytes:
        try:
            return self._data[oid]
        except KeyError:
            raise MissingObject(to_hex(oid)) from None

    def has(self, oid: bytes) -> bool:
        return oid in self._data

    def write(self, objs: Iterable[TraceObject]) -> None:
        for o in objs:
            self._data[o.id] = o.to_bytes()
            self.remember(o)

    def iter_objects(self) -> Iterator[tuple]:
        for oid, data in self._data.items():
            yield oid, TYPE_CODES[object_tag(data)]

    def ids_with_prefix(self, hex_prefix: str) -> set:
        return {i for i in self._data if i.hex().startswith(hex_prefix)}


class DiskObjectStore(ObjectStore):
    """Packs (sealed, indexed) and journals (append-only, one writer each) in one directory."""

    def __init__(self, objects_dir: str, options: StoreOptions | None = None) -> None:
        super().__init__()
        self.dir = objects_dir
        self.top = os.path.dirname(os.path.abspath(objects_dir))  # the .trace directory
        self.pack_dir = os.path.join(objects_dir, "pack")
        self.journal_dir = os.path.join(objects_dir, "journal")
        self.opts = options or StoreOptions()
        self._packs: dict = {}          # name -> Pack
        self._pack_order: list = []     # newest first
        self._jindex: dict = {}         # id -> (path, offset, clen, ulen, type)
        self._joids: dict = {}          # path -> ids of its records (forgotten with it)
        self._jscanned: dict = {}       # path -> scanned end offset
        self._jbuf: dict = {}           # path -> the journal's bytes [0, scanned end)
        self._writer: jn.JournalWriter | None = None
        self._cache = BlockCache()
        self.notes: list = []           # recoveries worth telling a user (torn tails cut)
        self._sealer: threading.Thread | None = None  # background seal + rollup, if running
        self._children: list = []       # (Popen, journal name) of sealing child processes
        self._batch: dict | None = None  # id -> (type code, bytes) while a batch is open
        self._batch_bytes = 0
        self._bad_packs: dict = {}      # name -> why it could not be opened
        self._misled: set = set()       # packs whose index named a block lacking the object
        self._loaded = False

    # -- discovery ----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Pick up packs and journal records written since we last looked (UnsafePath if
        objects/ or a directory in it is a symlink: nothing is read through one)."""
        safefs.check_dirs(self.top, self.pack_dir)
        safefs.check_dirs(self.top, self.journal_dir)
        names = list_packs(self.pack_dir)
        current = set(names)
        for gone in [n for n in self._bad_packs if n not in current]:
            del self._bad_packs[gone]
        for gone in [n for n in self._packs if n not in current]:
            self._packs.pop(gone).close()
            self._cache.drop_pack(gone)
        for n in names:
            if n not in self._packs:
                try:
                    self._packs[n] = Pack(self.pack_dir, n)
                except FileNotFoundError:
                    continue
                except PackError as exc:  # one damaged pack must not make the others unreadable
                    self._bad_packs[n] = str(exc)
                    note = f"skipping pack {n[:16]}: {exc} (run 'trace fsck')"
                    if note not in self.notes:
                        self.notes.append(note)
                    continue
        self._pack_order = [n for n in reversed(names) if n in self._packs]
        self._scan_journals()
        self._loaded = True

    def _scan_journals(self) -> None:
        paths = set(jn.iter_journals(self.journal_dir))
        for gone in [p for p in self._jscanned if p not in paths]:
            del self._jscanned[gone]
            self._jbuf.pop(gone, None)
            jindex = self._jindex  # (the ids of that journal, not a scan of every entry:
            for oid in self._joids.pop(gone, ()):  # 15-40 ms at 8k entries, on a commit)
                loc = jindex.get(oid)
                if loc is not None and loc[0] == gone:
                    del jindex[oid]
        for path in sorted(paths):
            start = self._jscanned.get(path, 0)
            try:
                fd = safefs.open_fd(path, os.O_RDONLY)
            except FileNotFoundError:
                continue
            try:
                data = os.pread(fd, max(0, os.fstat(fd).st_size - start), start)
            finally:
                os.close(fd)
            res = jn.scan(data, base=start, verify_crc=False,
                          max_len=self.opts.max_object_size * 2)
            if res.bad_header:
                continue
            recs = res.records
            end = res.valid_end
            oids = self._joids.setdefault(path, [])
            for oid, tcode, off, clen, ulen in recs:
                self._jindex[oid] = (path, off, clen, ulen, tcode)
                oids.append(oid)
            self._jscanned[path] = end
            self._keep_journal_bytes(path, start, data[:end - start])

    def _keep_journal_bytes(self, path: str, start: int, data: bytes) -> None:
        """Remember a journal's bytes [0, start + len(data)) so its records are read from memory
        (journals are append-only and bounded by pack.journal-max-bytes; a gap drops it)."""
        buf = self._jbuf.get(path)
        if buf is None and start == 0:
            self._jbuf[path] = bytearray(data)
        elif buf is not None and len(buf) == start:
            buf += data
        elif buf is not None:
            del self._jbuf[path]

    def _ensure(self) -> None:
        if not self._loaded:
            self.refresh()

    # -- reads --------------------------------------------------------------------------------
    def _find(self, oid: bytes) -> bytes | None:
        data = self._cache.record(oid)
        if data is not None:
            return bytes(data)
        if self._batch is not None and oid in self._batch:
            return self._batch[oid][1]
        loc = self._jindex.get(oid)  # a dict lookup: before searching the pack indexes
        damaged = None
        if loc is not None:
            try:
                return self._from_journal(oid, loc)
            except MalformedObject as exc:  # a damaged journal record: a pack may hold a copy
                damaged = exc
        for name in self._pack_order:
            pack = self._packs[name]
            for i in pack.candidates(oid):
                b = pack.block_of(i)
                key = (name, b)
                recs = self._cache.get(key)
                if recs is None:
                    recs = pack.read_block(b, self.opts.max_object_size)
                    self._cache.put(key, recs, pack.block_info(b)[2])
                data = recs.get(oid)
                if data is not None:
                    return bytes(data)
                self._misled.add(name)   # a prefix match but not in its block: see _damage
        if damaged is not None:
            raise damaged
        return None

    def _from_journal(self, oid: bytes, loc: tuple) -> bytes:
        path, off, clen, ulen, _ = loc
        if ulen > self.opts.max_object_size:
            raise CorruptObject(to_hex(oid), "record declares an oversized object")
        frame = jn.read_payload(path, off, clen, self._jbuf.get(path))
        return zc.decompress(frame, ulen)

    def get_bytes(self, oid: bytes) -> bytes:
        self._ensure()
        data = None
        for attempt in range(3):
            try:
                data = self._find(oid)
            except FileNotFoundError:
                data = None  # a pack or journal went away under us: look again
            except (MalformedObject, PackError) as exc:
                raise CorruptObject(to_hex(oid), str(exc)) from None
            if data is not None or attempt == 2:
                break
            self.refresh()
        if data is None:
            damage = self._damage()
            if damage:
                raise UnreadableObject(to_hex(oid), damage)
            raise MissingObject(to_hex(oid))
        if hash_bytes(data) != oid:
            raise CorruptObject(to_hex(oid), "content does not hash to its id")
        return data

    def _damage(self) -> str | None:
        """Why an object that was not found might still exist: a pack that could not be opened,
        an index that named a block without the object, or one that fails its checksum or its
        structure checks (checked only now, after a miss, once per pack: reads that find what
        they look for pay nothing)."""
        for name, why in self._bad_packs.items():
            return f"pack {name[:16]} is damaged ({why}); run 'trace fsck'"
        for name in self._pack_order:
            pack = self._packs[name]
            if name in self._misled:
                return (f"pack index {name[:16]} names a block that does not hold it; "
                        "run 'trace fsck'")
            try:
                problem = pack.idx_problem()
            except (OSError, ValueError) as exc:
                problem = f"pack index {name[:16]} cannot be checked: {exc}"
            if problem:
                return f"{problem}; run 'trace fsck'"
        return None

    def has(self, oid: bytes) -> bool:
        self._ensure()
        for refreshed in (False, True):
            if (oid in self._jindex or oid in self._decoded or oid in self._written
                    or self._cache.record(oid) is not None):
                return True
            if self._batch is not None and oid in self._batch:
                return True
            for name in self._pack_order:
                pack = self._packs[name]
                for i in pack.candidates(oid):
                    try:
                        recs = self._cache.get((name, pack.block_of(i)))
                        if recs is None:
                            b = pack.block_of(i)
                            recs = pack.read_block(b, self.opts.max_object_size)
                            self._cache.put((name, b), recs, pack.block_info(b)[2])
                    except FileNotFoundError:
                        continue
                    if oid in recs:
                        return True
            if not refreshed:
                self.refresh()
        return False

    def type_of(self, oid: bytes) -> str:
        return object_tag(self.get_bytes(oid))

    def ids_with_prefix(self, hex_prefix: str) -> set:
        """Full ids of stored objects whose hex starts with `hex_prefix` (4..64 hex chars)."""
        self.refresh()
        raw = bytes.fromhex(hex_prefix[: len(hex_prefix) // 2 * 2])
        odd = int(hex_prefix[-1], 16) if len(hex_prefix) % 2 else None
        out = {oid for oid in self._jindex if oid.hex().startswith(hex_prefix)}
        out.update(oid for oid in self._batch or () if oid.hex().startswith(hex_prefix))
        for name in self._pack_order:
            pack = self._packs[name]
            blocks = {pack.block_of(i) for i in pack.prefix_matches(raw, odd)}
            for b in blocks:
                recs = pack.read_block(b, self.opts.max_object_size)
                out.update(o for o in recs if o.hex().startswith(hex_prefix))
        return out

    def iter_objects(self) -> Iterator[tuple]:
        self.refresh()
        for name in list(self._pack_order):
            pack = self._packs[name]
            for b in range(pack.nblocks):
                for oid, data in pack.read_block(b, self.opts.max_object_size).items():
                    yield oid, TYPE_CODES[object_tag(bytes(data[:16]))]
        for oid, loc in list(self._jindex.items()):
            yield oid, loc[4]
        for oid, (tcode, _) in list((self._batch or {}).items()):
            yield oid, tcode

    def packs(self) -> list:
        """The published packs, newest first (as of now: sealing may have added some)."""
        self.refresh()
        return [self._packs[n] for n in self._pack_order]

    def journal_locations(self) -> dict:
        self._ensure()
        return dict(self._jindex)

    # -- writes -------------------------------------------------------------------------------
    def write(self, objs: Iterable[TraceObject]) -> None:
        """Append objects to this process's journal with one write (O(1) file operations); in
        a batch (`begin_batch`), keep them in memory for one pack at the batch's end."""
        if self._batch is not None:
            self._write_batched(objs)
            return
        records = []
        written = []
        encode, compress = jn.encode_record, zc.compress
        for o in objs:
            data = o.to_bytes()
            frame = compress(data, JOURNAL_LEVEL)
            oid, t = o.id, TYPE_CODES[o.tag]
            records.append(encode(oid, t, frame, len(data)))
            written.append((o, oid, t, len(frame), len(data)))
        if not written:
            return
        w = self._journal()
        buf = b"".join(records)
        start = w.append(buf)
        path = w.path
        self._keep_journal_bytes(path, start, buf)
        pos = start + jn.HEADER.size
        jindex, remember = self._jindex, self.remember
        oids = self._joids.setdefault(path, [])
        for o, oid, t, clen, ulen in written:
            jindex[oid] = (path, pos, clen, ulen, t)
            oids.append(oid)
            pos += jn.REC_OVERHEAD + clen
            remember(o)
        self._jscanned[path] = w.end
        w.records += len(written)

    # -- batches: a transaction's objects go straight into a pack ---------------------------
    def begin_batch(self) -> None:
        """Collect written objects in memory until `end_batch` writes them as one pack: no
        journal records, no later seal (a transaction, like git fast-import). Over
        BATCH_FLUSH_BYTES, what is collected is written as a pack early (memory stays bounded)."""
        if self._batch is None:
            self._batch = {}
            self._batch_bytes = 0

    def _write_batched(self, objs: Iterable[TraceObject]) -> None:
        batch = self._batch
        assert batch is not None
        for o in objs:
            if o.id not in batch:
                data = o.to_bytes()
                batch[o.id] = (TYPE_CODES[o.tag], data)
                self._batch_bytes += len(data)
            self.remember(o)
        if self._batch_bytes >= BATCH_FLUSH_BYTES:
            self._flush_batch()

    def _flush_batch(self) -> None:
        batch = self._batch
        if batch:
            write_pack(self.pack_dir, grouped_by_type((oid, t, d) for oid, (t, d) in batch.items()),
                       level=self.opts.level, fsync=self.opts.durability == "full")
            self._batch = {}
            self._batch_bytes = 0
            self.refresh()

    def publish_batch(self) -> None:
        """Write the objects the open batch holds so far as a pack, before a ref names one of
        them (RefStore.before_write: a ref moved inside a transaction, e.g. by plumbing's
        update-ref, must never name an object that is not stored yet)."""
        if self._batch:
            self._flush_batch()

    def end_batch(self, keep: bool = True) -> None:
        """Write the batch's objects as a pack (before any ref may name them), or drop them
        (`keep=False`: the transaction failed; objects a ref was moved to meanwhile were
        published then, by `publish_batch`)."""
        try:
            if keep:
                self._flush_batch()
        except BaseException:     # not written (a full disk): dropped like a failed batch
            keep = False
            raise
        finally:
            if not keep and self._batch:    # dropped: no longer served from memory either
                for oid in self._batch:
                    self._decoded.pop(oid, None)
                    self._written.pop(oid, None)
            self._batch = None
            self._batch_bytes = 0

    def _journal(self) -> jn.JournalWriter:
        if self._writer is None:
            self._ensure()
            w = jn.JournalWriter.acquire(self.journal_dir, self.opts.durability == "full",
                                         top=self.top)
            if w.torn_bytes_cut:
                self.notes.append(f"cut a torn tail of {w.torn_bytes_cut} bytes from "
                                  f"{os.path.basename(w.path)} (left by a killed writer)")
            self._writer = w
            self._scan_journals()
        return self._writer

    def journal_full(self) -> bool:
        """Whether our journal is over the configured size (time to seal it into a pack)."""
        w = self._writer
        return w is not None and (w.records >= self.opts.journal_max_records
                                  or w.end >= self.opts.journal_max_bytes)

    def seal_writer(self) -> str | None:
        """Turn our journal into a pack, then delete it; the next write starts a new journal."""
        self.wait_for_sealing()
        w = self._writer
        if w is None:
            return None
        name = seal_journal_fd(self, w.read_all())
        os.unlink(w.path)
        w.close()
        self._writer = None
        self.refresh()
        return name

    def detach_writer(self) -> jn.JournalWriter | None:
        """Hand our journal (and its lock) to the caller; the next write starts a new journal.
        Its records stay readable here until a refresh finds the pack that replaced it."""
        w, self._writer = self._writer, None
        return w

    def in_background(self, work: Callable[[], None], what: str) -> None:
        """Run `work` (sealing, rollup) in a thread, after the previous one has finished; a
        failure becomes a note (the journal it was sealing stays, and is sealed later)."""
        import threading  # (not at import: every command's path imports this module)
        self.wait_for_sealing()

        def run() -> None:
            try:
                work()
            except Exception as exc:  # the data stays in the journal: nothing is lost
                self.notes.append(f"{what} failed: {exc} (run 'trace repack')")

        t = threading.Thread(target=run, name="trace-seal", daemon=False)
        self._sealer = t
        t.start()

    def add_child(self, p: subprocess.Popen, name: str) -> None:
        """Track a child process sealing journal `name` (storage/sealer.py): waited for by
        `wait_for_sealing` and `close`, its failure becomes a note."""
        self.reap()
        self._children.append((p, name))

    def reap(self, wait: bool = False) -> None:
        """Collect finished sealing children (all of them, waiting, with `wait`); a failed one
        becomes a note (its journal stays, whole, and is sealed later)."""
        left = []
        for p, name in self._children:
            code = p.wait() if wait else p.poll()
            if code is None:
                left.append((p, name))
            elif code != 0:
                self.notes.append(f"sealing {name} in the background failed (exit {code}); it "
                                  "stays a journal ('trace repack' seals it)")
        finished = len(left) < len(self._children)
        self._children = left
        if finished:  # find the new packs; forget the sealed journals and the bytes kept of them
            self.refresh()

    def wait_for_sealing(self) -> None:
        """Wait for the background seal or rollup (thread or child processes), if any runs."""
        t = self._sealer
        if t is not None:
            t.join()
            self._sealer = None
            self.refresh()  # as reap does for a child
        if self._children:
            self.reap(wait=True)

    def close(self) -> None:
        self.wait_for_sealing()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for p in self._packs.values():
            p.close()
        self._packs.clear()
        self._loaded = False


def seal_journal_fd(store: DiskObjectStore, data: bytes) -> str:
    """Write a journal's objects (its valid records, hash-verified) as a pack, published
    before the journal may be removed."""
    return write_pack(store.pack_dir,
                      grouped_by_type(jn.journal_records(data, store.opts.max_object_size)),
                      level=store.opts.level,
                      fsync=store.opts.durability == "full")


def try_lock(path: str) -> int | None:
    """An fd holding an exclusive flock on `path`, or None if another process holds it
    (UnsafePath if `path` is a symlink)."""
    try:
        fd = safefs.open_fd(path, os.O_RDWR)
    except FileNotFoundError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


__all__ = ["ObjectStore", "MemoryObjectStore", "DiskObjectStore", "StoreOptions", "CODE_TAGS"]
