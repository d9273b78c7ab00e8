"""Packs: objects in zstd-compressed blocks, found through an mmapped, fan-out + bisect index.

pack-<name>.pack:
    "TRPACK\\0\\1" | u32 BE block count | u32 BE dictionary length D | D bytes of zstd dictionary
    | blocks (zstd frames; each decompresses to records `32-byte id | u32 BE length | bytes`)
    | 32-byte blake3 of everything before it
pack-<name>.idx (all integers big-endian):
    "TRIDX\\0\\0\\1" | u32 N objects | u32 M blocks | fanout: 256 x u32 (cumulative counts by the
    first id byte) | N x 8-byte id prefixes, sorted | N x u32 block numbers | N x u8 type codes
    | M x (u64 offset, u32 compressed length, u32 decompressed length) | 32-byte pack checksum
    | 32-byte blake3 of everything before it
`<name>` is the hex of the pack checksum. A pack is visible only once its index exists, so a
writer publishes the .pack first and the .idx last (docs/FORMAT.md, "Packs").
"""

from __future__ import annotations

import bisect
import contextlib
import mmap
import os
import struct
from collections import OrderedDict
from collections.abc import Iterable, Iterator

from ..errors import MalformedObject, PackError
from ..ids import hash_bytes
from . import safefs
from . import zstd_codec as zc
from .lockfile import write_file_atomic

PACK_MAGIC = b"TRPACK\x00\x01"
IDX_MAGIC = b"TRIDX\x00\x00\x01"
PREFIX = 8
BLOCK_TARGET = 64 * 1024
REC_HEAD = struct.Struct(">32sI")
_U32 = struct.Struct(">I")
_BLOCK = struct.Struct(">QII")
_IDX_HEAD = 8 + 4 + 4
_FANOUT = 256 * 4
_FAN = struct.Struct(">256I")


def write_pack(directory: str, objects: Iterable[tuple], zdict: bytes | None = None,
               level: int = 3, fsync: bool = False, block_target: int = BLOCK_TARGET) -> str:
    """Write (id, type_code, canonical bytes) triples as a new pack; return its name.

    Objects keep the order given (callers put related objects next to each other, which is what
    makes block compression effective). Duplicate ids are written once.
    """
    return write_pack_parts(directory, [(OBJECTS, objects)], zdict=zdict, level=level,
                            fsync=fsync, block_target=block_target)


#: parts of write_pack_parts: objects to compress into blocks, or a block copied as it is
OBJECTS, FRAME = 0, 1


def write_pack_parts(directory: str, parts: Iterable[tuple], zdict: bytes | None = None,
                     level: int = 3, fsync: bool = False, block_target: int = BLOCK_TARGET) -> str:
    """Write a new pack from `parts`, in order; return its name. A part is `(OBJECTS, iterable
    of (id, type code, canonical bytes))`, compressed into blocks of about `block_target` bytes,
    or `(FRAME, frame, ulen, [(id, type code), ...])`: a block of another pack copied verbatim
    (gc), which the caller has checked decompresses with `zdict` to exactly those records, none
    of them written before. Duplicate ids among OBJECTS parts are written once."""
    os.makedirs(directory, exist_ok=True)
    tmp = os.path.join(directory, f"tmp-{os.getpid()}-{os.urandom(4).hex()}.pack")
    entries: list = []  # (id, block number, type)
    blocks: list = []   # (offset, clen, ulen)
    seen: set = set()
    from blake3 import blake3
    h = blake3()
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    try:
        dict_bytes = zdict or b""
        header = PACK_MAGIC + b"\0\0\0\0" + _U32.pack(len(dict_bytes)) + dict_bytes
        os.write(fd, header)  # block count patched below
        pos = len(header)
        h_parts: list = []
        buf: list = []
        size = 0

        def put_frame(frame: bytes, ulen: int) -> None:
            nonlocal pos
            _write_all(fd, frame)
            h_parts.append(frame)
            blocks.append((pos, len(frame), ulen))
            pos += len(frame)

        def flush() -> None:
            nonlocal buf, size
            if not buf:
                return
            raw = b"".join(buf)
            put_frame(zc.compress(raw, level, zdict, checksum=True), len(raw))
            buf, size = [], 0

        for part in parts:
            if part[0] == FRAME:
                flush()
                _, frame, ulen, recs = part
                b = len(blocks)
                if not seen.isdisjoint(oid for oid, _t in recs):
                    raise PackError("a copied block holds an object already written")
                for oid, tcode in recs:
                    seen.add(oid)
                    entries.append((oid, b, tcode))
                put_frame(frame, ulen)
                continue
            for oid, tcode, data in part[1]:
                if oid in seen:
                    continue
                seen.add(oid)
                rec = REC_HEAD.pack(oid, len(data)) + data
                if size and size + len(rec) > block_target:
                    flush()
                entries.append((oid, len(blocks), tcode))
                buf.append(rec)
                size += len(rec)
        flush()
        if len(blocks) >= 2**32:
            raise PackError("too many blocks for one pack")
        os.pwrite(fd, _U32.pack(len(blocks)), len(PACK_MAGIC))
        h.update(PACK_MAGIC + _U32.pack(len(blocks)) + _U32.pack(len(dict_bytes)) + dict_bytes)
        for part in h_parts:
            h.update(part)
        checksum = h.digest()
        _write_all(fd, checksum)
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        _unlink(tmp)
        raise
    os.close(fd)
    name = checksum.hex()
    base = os.path.join(directory, f"pack-{name}")
    os.replace(tmp, base + ".pack")
    idx = build_index(entries, blocks, checksum)
    # a pack's name is its checksum: a leftover .idx.tmp is a killed writer's, of the same bytes
    write_file_atomic(base + ".idx", idx, fsync=fsync, lock_path=base + ".idx.tmp", steal=True)
    return name


def grouped_by_type(objects: Iterable[tuple]) -> list:
    """(id, type code, bytes) triples ordered by type code (blobs, nodes, snapshots, commits),
    keeping the given order within a type: a context's messages, the nodes of its snapshots and
    a history's commits each land in few blocks, so reading one of them decompresses little of
    the rest (docs/FORMAT.md, "Packs")."""
    return sorted(objects, key=lambda o: o[1])


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def _unlink(path: str) -> None:
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def build_index(entries: list, blocks: list, checksum: bytes) -> bytes:
    entries.sort(key=lambda e: e[0])  # (a key sort: 4x faster than comparing the tuples)
    n = len(entries)
    prefixes = b"".join([e[0][:PREFIX] for e in entries])
    firsts = prefixes[::PREFIX]  # sorted: fanout[b] = how many are <= b
    fanout = struct.pack(">256I", *[bisect.bisect_right(firsts, b) for b in range(256)])
    parts = [IDX_MAGIC, _U32.pack(n), _U32.pack(len(blocks)), fanout, prefixes,
             struct.pack(f">{n}I", *[e[1] for e in entries]),
             bytes([e[2] for e in entries]),
             b"".join([_BLOCK.pack(*b) for b in blocks]),
             checksum]
    body = b"".join(parts)
    return body + hash_bytes(body)


class Pack:
    """A published pack: index through mmap, blocks read on demand and cached."""

    def __init__(self, directory: str, name: str) -> None:
        self.name = name
        self.pack_path = os.path.join(directory, f"pack-{name}.pack")
        self.idx_path = os.path.join(directory, f"pack-{name}.idx")
        with os.fdopen(safefs.open_fd(self.idx_path, os.O_RDONLY), "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size < _IDX_HEAD + _FANOUT + 64:
                raise PackError(f"pack index {name} is truncated")
            self._mm = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ)
        mm = self._mm
        if mm[:8] != IDX_MAGIC:
            raise PackError(f"pack index {name} has a bad magic number")
        self.count = _U32.unpack_from(mm, 8)[0]
        self.nblocks = _U32.unpack_from(mm, 12)[0]
        self._pfx = _IDX_HEAD + _FANOUT
        self._blk = self._pfx + self.count * PREFIX
        self._typ = self._blk + self.count * 4
        self._btab = self._typ + self.count
        expected = self._btab + self.nblocks * _BLOCK.size + 64
        if size != expected:
            raise PackError(f"pack index {name} has {size} bytes, expected {expected}")
        if _U32.unpack_from(mm, _IDX_HEAD + 255 * 4)[0] != self.count:
            # the rest of the table is checked by check_structure (verify-pack, fsck); a read
            # it misleads misses, and a miss checks the index checksum (DiskObjectStore._damage)
            raise PackError(f"pack index {name} has a bad fan-out table")
        self.checksum = bytes(mm[size - 64:size - 32])
        self._fd: int | None = None
        self._zdict: bytes | None = None
        self._dict_loaded = False
        self._idx_problem: str | None = None

    def close(self) -> None:
        with contextlib.suppress(BufferError, ValueError):
            self._mm.close()
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None

    def verify_index_checksum(self) -> bool:
        mm = self._mm
        return hash_bytes(bytes(mm[:len(mm) - 32])) == bytes(mm[len(mm) - 32:])

    def idx_problem(self) -> str | None:
        """The first problem of the index (its checksum, then check_structure), or None;
        computed once per opened pack, for readers that missed an object."""
        if self._idx_problem is None:
            bad = ([f"pack index {self.name[:16]} fails its checksum"]
                   if not self.verify_index_checksum() else self.check_structure())
            self._idx_problem = bad[0] if bad else ""
        return self._idx_problem or None

    # -- lookup -------------------------------------------------------------------------------
    def _range(self, first: int) -> tuple:
        lo = _U32.unpack_from(self._mm, _IDX_HEAD + (first - 1) * 4)[0] if first else 0
        hi = _U32.unpack_from(self._mm, _IDX_HEAD + first * 4)[0]
        return lo, hi

    def prefix_at(self, i: int) -> bytes:
        p = self._pfx + i * PREFIX
        return self._mm[p:p + PREFIX]

    def candidates(self, oid: bytes) -> Iterator[int]:
        """Positions whose stored prefix equals the first 8 bytes of `oid`."""
        key = oid[:PREFIX]
        lo, hi = self._range(key[0])
        mm, base = self._mm, self._pfx
        while lo < hi:
            mid = (lo + hi) // 2
            p = base + mid * PREFIX
            if mm[p:p + PREFIX] < key:
                lo = mid + 1
            else:
                hi = mid
        n = self.count
        while lo < n:
            p = base + lo * PREFIX
            if mm[p:p + PREFIX] != key:
                break
            yield lo
            lo += 1

    def prefix_matches(self, prefix: bytes, odd_nibble: int | None) -> Iterator[int]:
        """Positions whose id starts with `prefix` (plus a high nibble, for odd-length hex)."""
        key = prefix[:PREFIX]
        lo, hi = self._range(key[0]) if key else (0, self.count)
        mm, base = self._mm, self._pfx
        while lo < hi:
            mid = (lo + hi) // 2
            p = base + mid * PREFIX
            if mm[p:p + len(key)] < key:
                lo = mid + 1
            else:
                hi = mid
        while lo < self.count:
            p = base + lo * PREFIX
            got = mm[p:p + PREFIX]
            if got[:len(key)] != key:
                break
            if odd_nibble is None or len(key) >= PREFIX or got[len(key)] >> 4 == odd_nibble:
                yield lo
            lo += 1

    def block_of(self, i: int) -> int:
        return _U32.unpack_from(self._mm, self._blk + i * 4)[0]

    def type_of(self, i: int) -> int:
        return self._mm[self._typ + i]

    def block_info(self, b: int) -> tuple:
        return _BLOCK.unpack_from(self._mm, self._btab + b * _BLOCK.size)

    # -- blocks -------------------------------------------------------------------------------
    def _file(self) -> int:
        if self._fd is None:
            self._fd = safefs.open_fd(self.pack_path, os.O_RDONLY)
        return self._fd

    def zdict(self) -> bytes | None:
        if not self._dict_loaded:
            head = os.pread(self._file(), 16, 0)
            if len(head) != 16 or head[:8] != PACK_MAGIC:
                raise PackError(f"pack {self.name} has a bad header")
            if _U32.unpack_from(head, 8)[0] != self.nblocks:
                raise PackError(f"pack {self.name} has {_U32.unpack_from(head, 8)[0]} blocks, "
                                f"its index lists {self.nblocks}")
            dlen = _U32.unpack_from(head, 12)[0]
            self._zdict = os.pread(self._file(), dlen, 16) if dlen else None
            self._dict_loaded = True
        return self._zdict

    def read_block(self, b: int, limit: int) -> dict:
        """Decompress block `b` and return {id: canonical bytes} for its records."""
        return self.parse_frame(b, self.read_frame(b, limit))

    def read_frame(self, b: int, limit: int) -> bytes:
        """The compressed bytes of block `b`, as stored (not yet checked)."""
        if not 0 <= b < self.nblocks:
            raise PackError(f"pack {self.name}: block {b} out of range")
        off, clen, ulen = self.block_info(b)
        if ulen > limit + 64 * 1024 * 1024:
            raise PackError(f"pack {self.name}: block {b} is implausibly large")
        frame = os.pread(self._file(), clen, off)
        if len(frame) != clen:
            raise PackError(f"pack {self.name}: block {b} is truncated")
        return frame

    def parse_frame(self, b: int, frame: bytes) -> dict:
        """{id: canonical bytes} of block `b`'s `frame` (read_frame): decompressed with the pack's
        dictionary and checked against the frame's content checksum and declared size."""
        try:
            raw = zc.decompress(frame, self.block_info(b)[2], self.zdict())
        except MalformedObject as exc:
            raise PackError(f"pack {self.name}: block {b}: {exc}") from None
        return parse_block(raw, self.name, b)

    def check_structure(self) -> list:
        """Problems of the index that its checksum misses when it was rewritten consistently:
        fan-out against the prefixes, their order, block numbers, type codes, and a block table
        that must tile the pack from its header to its checksum. [] if sound."""
        mm, n, name = self._mm, self.count, self.name
        out = []
        fan = _FAN.unpack_from(mm, _IDX_HEAD)
        prefixes = [bytes(mm[p:p + PREFIX]) for p in range(self._pfx, self._blk, PREFIX)]
        if any(a > b for a, b in zip(prefixes, prefixes[1:], strict=False)):
            out.append(f"pack index {name}: object ids are not sorted")
        counts = [0] * 256
        for p in prefixes:
            counts[p[0]] += 1
        acc = 0
        for b in range(256):
            acc += counts[b]
            if fan[b] != acc:
                out.append(f"pack index {name}: fan-out entry {b} is {fan[b]}, the ids give {acc}")
                break
        blocks = struct.unpack_from(f">{n}I", mm, self._blk) if n else ()
        if any(b >= self.nblocks for b in blocks):
            out.append(f"pack index {name} names a block beyond its {self.nblocks} blocks")
        if any(t not in (1, 2, 3, 4) for t in mm[self._typ:self._typ + n]):
            out.append(f"pack index {name} holds an unknown type code")
        try:
            pos = 16 + _U32.unpack_from(os.pread(self._file(), 16, 0), 12)[0]
            end = os.fstat(self._file()).st_size - 32
        except (OSError, struct.error) as exc:
            return out + [f"pack {name} cannot be read: {exc}"]
        for b in range(self.nblocks):
            off, clen, _ulen = self.block_info(b)
            if off != pos:
                out.append(f"pack index {name}: block {b} is said to start at byte {off}, "
                           f"the previous block ends at {pos}")
                break
            pos += clen
        else:
            if pos != end:
                out.append(f"pack index {name}: its blocks end at byte {pos}, the pack's "
                           f"checksum starts at {end}")
        return out

    def iter_blocks(self, limit: int) -> Iterator[tuple]:
        for b in range(self.nblocks):
            yield b, self.read_block(b, limit)

    def iter_index(self) -> Iterator[tuple]:
        """(prefix, block, type code) for every entry, in id order."""
        for i in range(self.count):
            yield self.prefix_at(i), self.block_of(i), self.type_of(i)

    def verify_pack_checksum(self) -> bool:
        from blake3 import blake3
        h = blake3()
        size = os.fstat(self._file()).st_size
        if size < 32:
            return False
        pos, end = 0, size - 32
        while pos < end:
            chunk = os.pread(self._file(), min(1 << 20, end - pos), pos)
            if not chunk:
                return False
            h.update(chunk)
            pos += len(chunk)
        return h.digest() == os.pread(self._file(), 32, end) == self.checksum


def parse_block(raw: bytes, name: str, b: int) -> dict:
    out = {}
    pos, n = 0, len(raw)
    view = memoryview(raw)
    unpack, head = REC_HEAD.unpack_from, REC_HEAD.size
    try:
        while pos < n:
            oid, ln = unpack(raw, pos)
            pos += head
            end = pos + ln
            if end > n:
                break
            out[oid] = view[pos:end]
            pos = end
        else:
            return out
    except Exception:  # struct.error: fewer bytes left than a record header
        pass
    raise PackError(f"pack {name}: block {b} has a truncated record")


class BlockCache:
    """LRU of decompressed blocks, bounded by bytes, with an id -> record map over every cached
    block: objects stored near each other (a context's messages, a history's commits) are found
    without searching the pack indexes one by one."""

    def __init__(self, max_bytes: int = 64 * 1024 * 1024) -> None:
        self.max_bytes = max_bytes
        self._d: OrderedDict = OrderedDict()
        self._size = 0
        self._records: dict = {}  # id -> record bytes (a memoryview), for every cached block

    def get(self, key: tuple) -> dict | None:
        v = self._d.get(key)
        if v is None:
            return None
        self._d.move_to_end(key)
        return v[0]

    def record(self, oid: bytes):
        """The bytes of object `oid` if a cached block holds it, else None."""
        return self._records.get(oid)

    def put(self, key: tuple, value: dict, size: int) -> None:
        old = self._d.pop(key, None)
        if old is not None:
            self._size -= old[1]
            self._forget(old[0])
        self._d[key] = (value, size)
        self._records.update(value)
        self._size += size
        while self._size > self.max_bytes and len(self._d) > 1:
            _, (recs, sz) = self._d.popitem(last=False)
            self._size -= sz
            self._forget(recs)

    def _forget(self, recs: dict) -> None:
        records = self._records
        for oid, data in recs.items():
            if records.get(oid) is data:
                del records[oid]

    def drop_pack(self, name: str) -> None:
        for k in [k for k in self._d if k[0] == name]:
            recs, sz = self._d.pop(k)
            self._size -= sz
            self._forget(recs)


def list_packs(directory: str) -> list:
    """Names of published packs (those whose .idx exists), oldest first by mtime."""
    try:
        names = os.listdir(directory)
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if n.startswith("pack-") and n.endswith(".idx"):
            name = n[5:-4]
            if len(name) == 64 and all(c in "0123456789abcdef" for c in name):
                try:
                    out.append((os.stat(os.path.join(directory, n)).st_mtime_ns, name))
                except FileNotFoundError:
                    continue
    out.sort()
    return [n for _, n in out]
