"""Append-only, checksummed object journals: one file per concurrent writer, sealed into packs.

A journal is `objects/journal/<16 hex>.journal`: an 8-byte header, then records

    u32 BE clen | u8 type | 32-byte id | u32 BE ulen | clen bytes (zstd frame) | u32 BE crc32

where the crc covers every preceding byte of the record. A writer holds an exclusive flock on the
journal it appends to, so each journal has one writer at a time; readers take no lock. A record
that runs past the end of the file, or whose crc does not match, ends the valid part: the bytes
after it are a torn tail, ignored by readers and cut off by the next writer (docs/FORMAT.md),
unless they are damage (`damaged_inside`: a whole record with a written, wrong crc), which no
writer cuts.
"""

from __future__ import annotations

import fcntl
import os
import struct
import zlib
from collections.abc import Iterator

from ..errors import CorruptObject, MalformedObject, ObjectTooLarge
from ..ids import hash_bytes, to_hex
from . import safefs
from . import zstd_codec as zc
from .lockfile import fsync_dir

MAGIC = b"TRJNL\x00\x00\x01"
HEADER = struct.Struct(">IB32sI")  # clen, type, id, ulen
CRC = struct.Struct(">I")
REC_OVERHEAD = HEADER.size + CRC.size
SUFFIX = ".journal"


class ScanResult:
    """Where each valid record lives, and what follows the last one. (A plain class, not a
    dataclass: creating dataclasses costs milliseconds at import, on every command's path.)"""

    __slots__ = ("records", "valid_end", "size", "torn_bytes", "bad_header")

    def __init__(self, records: list | None = None, valid_end: int = len(MAGIC), size: int = 0,
                 torn_bytes: int = 0, bad_header: bool = False) -> None:
        #: (id, type code, payload offset, compressed length, length) of each valid record
        self.records: list = [] if records is None else records
        self.valid_end = valid_end
        self.size = size
        self.torn_bytes = torn_bytes
        self.bad_header = bad_header


def encode_record(oid: bytes, type_code: int, frame: bytes, ulen: int) -> bytes:
    head = HEADER.pack(len(frame), type_code, oid, ulen)
    body = head + frame
    return body + CRC.pack(zlib.crc32(body))


def scan(data: bytes, base: int = 0, verify_crc: bool = True, max_len: int = 1 << 30) -> ScanResult:
    """Parse journal records in `data`, the file's bytes from offset `base` (0 or a record
    boundary).

    Offsets in the result are file offsets.
    """
    res = ScanResult(size=base + len(data))
    pos = 0
    if base == 0:
        if data[:len(MAGIC)] != MAGIC:
            res.bad_header = True
            res.valid_end = 0
            res.torn_bytes = len(data)
            return res
        pos = len(MAGIC)
    n = len(data)
    recs = res.records
    unpack = HEADER.unpack_from
    view = memoryview(data)
    while pos + REC_OVERHEAD <= n:
        clen, tcode, oid, ulen = unpack(data, pos)
        end = pos + HEADER.size + clen + CRC.size
        if clen > max_len or end > n or not 1 <= tcode <= 4:
            break
        if verify_crc:
            (crc,) = CRC.unpack_from(data, end - CRC.size)
            if zlib.crc32(view[pos:end - CRC.size]) != crc:
                break
        recs.append((oid, tcode, base + pos + HEADER.size, clen, ulen))
        pos = end
    res.valid_end = base + pos
    res.torn_bytes = n - pos
    return res


def damaged_inside(data: bytes, res: ScanResult) -> bool:
    """True when well-formed records follow one that fails its CRC, or when the last record is
    whole (it fits in the file) and fails a CRC that was written (not the zeros of pages a crash
    left unwritten): bit rot, not a torn tail. Cutting the journal there would drop
    acknowledged objects, so nobody may append or seal."""
    if not res.torn_bytes:
        return False
    loose = scan(data, verify_crc=False).records
    if len(loose) > len(res.records) + 1:
        return True
    return len(loose) == len(res.records) + 1 and stored_crc_written(data, loose[-1])


def stored_crc_written(data: bytes, record: tuple) -> bool:
    """Whether the CRC field of a whole record (a scan tuple) holds anything but zeros."""
    _oid, _tcode, off, clen, _ulen = record
    return any(data[off + clen:off + clen + CRC.size])


def read_payload(path: str, offset: int, clen: int, buf: bytes | bytearray | None = None) -> bytes:
    """The compressed frame at `offset`, CRC-checked; from `buf` (the journal's bytes from its
    start, as last scanned) when it covers the record, else from the file (FileNotFoundError if
    the journal is gone)."""
    if buf is not None and offset + clen + CRC.size <= len(buf):
        mv = memoryview(buf)            # (one copy of each slice, not two)
        data = bytes(mv[offset:offset + clen + CRC.size])
        head = bytes(mv[offset - HEADER.size:offset])
    else:
        fd = safefs.open_fd(path, os.O_RDONLY)
        try:
            data = os.pread(fd, clen + CRC.size, offset)
            head = os.pread(fd, HEADER.size, offset - HEADER.size)
        finally:
            os.close(fd)
    if len(data) != clen + CRC.size:
        raise MalformedObject(f"journal record at {offset} in {path} is truncated")
    (crc,) = CRC.unpack_from(data, clen)
    if zlib.crc32(head + data[:clen]) != crc:
        raise MalformedObject(f"journal record at {offset} in {path} fails its checksum")
    return data[:clen]


class JournalWriter:
    """The one appender of a journal file, holding its flock for as long as it lives."""

    def __init__(self, path: str, fd: int, end: int, torn_bytes: int, fsync: bool) -> None:
        self.path = path
        self.fd = fd
        self.end = end
        self.torn_bytes_cut = torn_bytes
        self.fsync = fsync
        self.records = 0

    @classmethod
    def acquire(cls, directory: str, fsync: bool, name_hint: str | None = None,
                top: str | None = None) -> JournalWriter:
        """Lock a journal no other writer holds, cutting its torn tail, or create a new one.
        `top`: the repository directory; no directory below it on the way, and no journal, may
        be a symlink (UnsafePath)."""
        if top is not None:
            safefs.makedirs(top, directory)
        else:
            os.makedirs(directory, exist_ok=True)
        for name in sorted(os.listdir(directory)):
            if not name.endswith(SUFFIX):
                continue
            path = os.path.join(directory, name)
            try:
                fd = safefs.open_fd(path, os.O_RDWR)
            except FileNotFoundError:
                continue
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except OSError:
                os.close(fd)
                continue
            try:
                st = os.lstat(path)
            except FileNotFoundError:
                os.close(fd)
                continue
            if os.fstat(fd).st_ino != st.st_ino:
                os.close(fd)
                continue
            size = os.fstat(fd).st_size
            data = os.pread(fd, size, 0)
            res = scan(data)
            if res.bad_header or damaged_inside(data, res):
                os.close(fd)  # leave a damaged journal as it is, for fsck to report
                continue
            if res.torn_bytes:
                os.ftruncate(fd, res.valid_end)
                if fsync:
                    os.fsync(fd)
            w = cls(path, fd, res.valid_end, res.torn_bytes, fsync)
            w.records = len(res.records)
            return w
        return cls._create(directory, fsync)

    @classmethod
    def _create(cls, directory: str, fsync: bool) -> JournalWriter:
        while True:
            path = os.path.join(directory, os.urandom(8).hex() + SUFFIX)
            try:
                fd = safefs.open_fd(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o644)
                break
            except FileExistsError:
                continue
        fcntl.flock(fd, fcntl.LOCK_EX)
        os.write(fd, MAGIC)
        if fsync:
            os.fsync(fd)
            fsync_dir(directory)
        return cls(path, fd, len(MAGIC), 0, fsync)

    def append(self, buf: bytes) -> int:
        """Append encoded records with one write; returns the offset they start at."""
        start = self.end
        view = memoryview(buf)
        pos = start
        while view:
            n = os.pwrite(self.fd, view, pos)
            view = view[n:]
            pos += n
        if self.fsync:
            os.fsync(self.fd)
        self.end = pos
        return start

    def read_all(self) -> bytes:
        return os.pread(self.fd, self.end, 0)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def iter_journals(directory: str) -> Iterator[str]:
    try:
        names = sorted(os.listdir(directory))
    except FileNotFoundError:
        return
    for name in names:
        if name.endswith(SUFFIX):
            yield os.path.join(directory, name)


def journal_records(data: bytes, max_object_size: int) -> Iterator[tuple]:
    """(id, type code, canonical bytes) of a journal's valid records, hash-verified, each at
    most `max_object_size` bytes decompressed."""
    res = scan(data)
    for oid, tcode, off, clen, ulen in res.records:
        try:
            raw = zc.decompress(bytes(data[off:off + clen]), min(ulen, max_object_size))
        except (MalformedObject, ObjectTooLarge) as exc:  # name the record, not just the frame
            raise CorruptObject(to_hex(oid), f"journal record at byte {off}: {exc}") from None
        if hash_bytes(raw) != oid:
            raise CorruptObject(to_hex(oid), "journal record does not hash to its id")
        yield oid, tcode, raw
