"""The commit index: a derived, disposable SQLite cache of commit metadata, token counts and
per-snapshot tallies (trace_core.plumbing.tally).

Rows are filled lazily from the object store the first time a commit is asked for, together with
its unindexed ancestors, so a missing, stale or corrupt `index.sqlite` is rebuilt, never trusted.
Generation numbers (1 for a root, 1 + the highest parent's otherwise) let walks, merge bases and
ancestry tests stop early without loading whole histories.

Every row carries a checksum of its values (`commit_sum`, `row_sum`), verified whenever the row
is read:
SQLite's page checks do not notice a flipped byte inside a row. A row that fails it is deleted
and recomputed from the objects, so no read ever returns what the index got wrong; `audit`
(used by fsck) compares every row with the objects it was derived from.
"""

from __future__ import annotations

import heapq
import os
import sqlite3
from _thread import RLock
from contextlib import suppress
from operator import itemgetter
from typing import TYPE_CHECKING
from zlib import crc32

import msgpack

from ..errors import CorruptObject, IndexError_, ObjectError
from ..ids import ID_LEN, to_hex
from ..objects import TAG_COMMIT, TYPE_CODES, Commit

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable, Iterator

    from ..storage.objectstore import ObjectStore
    from .rows import CommitRow

SCHEMA_VERSION = "3"   # 3: compact rows (docs/FORMAT.md §11: no id, parents or snapshot in a
                       # record; token rows name their encoding by a number)
SUMMARY_MAX = 200
_COMMIT_CODE = TYPE_CODES[TAG_COMMIT]
_NAMES = ("id", "parents", "gen", "time_ms", "tz", "author", "op", "tokens", "total",
          "summary")     # the values of a row: its key and parents columns, then its record
_REC_LEN = len(_NAMES) - 2
_KEY_COLS = _NAMES[:4]     # every raw row starts with these: id, parents, gen, time_ms
_BULK_MIN = 256            # walks expected to read this many rows may read the table in one scan
_pack = msgpack.Packer(use_bin_type=True).pack
_unpackb = msgpack.unpackb


_BIAS = 1 << 31    # a sum is a CRC-32 minus 2**31: signed 32 bits, which SQLite stores in 4 bytes
                   # (it would need 6 for half of all unsigned values)


def row_sum(values: tuple) -> int:
    """What a token row's `sum` column holds: the CRC-32 of the msgpack array of `values` (blob,
    encoding name, n), minus 2**31."""
    return crc32(_pack(values)) - _BIAS


def commit_sum(key: bytes, parents: bytes, rec: bytes) -> int:
    """What a commit row's `sum` column holds: the CRC-32 of key || parents || rec, minus 2**31."""
    return crc32(rec, crc32(parents, crc32(key))) - _BIAS


#: (id, rec, sum, parents) of the rows along the first-parent chain from ? (at most ? rows). The
#: chain follows the `parents` column; what it finds is trusted only after its checksum.
_CHAIN = ("WITH RECURSIVE ch(i, r, s, p, k) AS (SELECT id, rec, sum, parents, 1 FROM commits "
          "WHERE id = ? UNION ALL SELECT id, rec, sum, parents, ch.k + 1 "
          f"FROM ch JOIN commits ON commits.id = substr(ch.p, 1, {ID_LEN}) "
          f"WHERE ch.k < ? AND length(ch.p) >= {ID_LEN}) SELECT i, r, s, p FROM ch")


_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS commits (
    id BLOB PRIMARY KEY, parents BLOB NOT NULL, rec BLOB NOT NULL, sum INTEGER NOT NULL
    ) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS encodings (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE);
CREATE TABLE IF NOT EXISTS tokens (
    blob BLOB NOT NULL, enc INTEGER NOT NULL, n INTEGER NOT NULL, sum INTEGER NOT NULL,
    PRIMARY KEY (blob, enc)) WITHOUT ROWID;
"""

#: per-snapshot tallies (trace_core.plumbing.tally): created when a connection opens, so an
#: index file made before the table existed gains it (older readers ignore it)
_TALLIES = ("CREATE TABLE IF NOT EXISTS tallies (snap BLOB PRIMARY KEY, rec BLOB NOT NULL, "
            "sum INTEGER NOT NULL) WITHOUT ROWID")

_CommitRow = None


def _row_class():
    global _CommitRow
    if _CommitRow is None:
        from .rows import CommitRow
        _CommitRow = CommitRow
    return _CommitRow


def __getattr__(name: str):
    if name == "CommitRow":
        return _row_class()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def split_parents(p: bytes) -> tuple:
    """The parent ids packed in a raw row's `parents` value."""
    if len(p) == ID_LEN:
        return (p,)
    return tuple(p[i:i + ID_LEN] for i in range(0, len(p), ID_LEN))


def _from_db(r: tuple) -> CommitRow:
    """A CommitRow from a raw row (the 10 values of `_NAMES`)."""
    p = r[1]
    parents = (p,) if len(p) == ID_LEN else tuple(p[i:i + ID_LEN] for i in range(0, len(p), ID_LEN))
    return (_CommitRow or _row_class())(r[0], parents, *r[2:])


def _to_db(r: CommitRow) -> tuple:
    """The raw row of a CommitRow: its 10 values in `_NAMES` order, parents packed."""
    return (r.id, b"".join(r.parents), r.generation, r.time_ms, r.tz, r.author, r.op, r.tokens,
            r.total_tokens, r.summary)


def _record(key: bytes, rec: bytes, s: int, parents: bytes) -> tuple | None:
    """The raw row (key, parents, *record) of a stored row if key, parents and record pass its
    checksum and the record decodes to its 8 values; else None."""
    try:    # (a damaged column may hold text or a number: TypeError)
        if commit_sum(key, parents, rec) != s:
            return None
        r = _unpackb(rec, use_list=False)
    except (TypeError, ValueError, msgpack.ExtraData, msgpack.FormatError, msgpack.StackError):
        return None
    if type(r) is not tuple or len(r) != _REC_LEN:
        return None
    return (key, parents, *r)


def _is_busy(exc: Exception) -> bool:
    msg = str(exc).lower()
    return isinstance(exc, sqlite3.OperationalError) and ("locked" in msg or "busy" in msg)


def _schema_row(conn: sqlite3.Connection) -> tuple | None:
    try:
        return conn.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
    except sqlite3.OperationalError as exc:
        if "no such table" in str(exc):
            return None
        raise


class _StaleSchema(Exception):
    pass


class CommitIndex:
    """Commit rows, ancestry queries and a token-count cache over an object store."""

    def __init__(self, db_path: str, store: ObjectStore,
                 on_repair: Callable[[str], None] | None = None) -> None:
        self.path = db_path
        self.store = store
        self.on_repair = on_repair   # told, in one line, about each repair of damaged rows
        self.repairs = 0             # rows found damaged and recomputed from the objects
        self.in_memory = False
        self._extra: dict = {}   # rows whose integers SQLite cannot hold (kept per process)
        self._enc_ids: dict = {}   # encoding name -> its number in this connection's file
        self._lock = RLock()
        try:
            self._conn = self._open()
        except sqlite3.Error as exc:
            raise IndexError_(f"cannot open the commit index: {exc}") from None

    # -- connection and recovery ----------------------------------------------------------------
    def _open(self) -> sqlite3.Connection:
        d = os.path.dirname(os.path.abspath(self.path))
        if self.path != ":memory:" and os.path.isdir(d) and os.access(d, os.W_OK | os.X_OK):
            failures = waits = 0
            while failures < 2:
                try:
                    return self._connect(self.path)
                except (sqlite3.DatabaseError, _StaleSchema) as exc:
                    if _is_busy(exc):
                        # another process holds it, e.g. while creating it or switching it to
                        # WAL (SQLite reports that at once, without its busy timeout): wait a
                        # little; never destroy it; finally use memory
                        if waits >= 40:
                            break
                        waits += 1
                        import time
                        time.sleep(0.005 * min(waits, 10))
                        continue
                    failures += 1
                    self._delete_files()
        self.in_memory = True
        return self._connect(":memory:")

    def _connect(self, path: str) -> sqlite3.Connection:
        conn = sqlite3.connect(path, timeout=5.0, isolation_level=None, check_same_thread=False)
        try:
            conn.execute("PRAGMA busy_timeout=5000")
            if path != ":memory:":
                conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            row = _schema_row(conn)
            if row is None:
                conn.executescript("BEGIN IMMEDIATE;" + _SCHEMA + "INSERT OR IGNORE INTO meta "
                                   f"VALUES ('schema', '{SCHEMA_VERSION}'); COMMIT;")
                row = _schema_row(conn)
        except BaseException:
            conn.close()
            raise
        if row is None or row[0] != SCHEMA_VERSION:
            conn.close()
            raise _StaleSchema()
        with suppress(sqlite3.OperationalError):    # (a no-op without a lock once it exists;
            conn.execute(_TALLIES)                  # a read-only file reads no tallies)
        return conn

    def _delete_files(self) -> None:
        for suffix in ("", "-wal", "-shm"):
            with suppress(OSError):
                os.unlink(self.path + suffix)

    def _recover(self, exc: Exception, attempt: int) -> None:
        """First failure: recreate the file (unless merely busy); then: use a memory database."""
        with suppress(sqlite3.Error):
            self._conn.close()
        self._enc_ids = {}      # numbers belong to the file just closed
        if not _is_busy(exc) and self.on_repair is not None:
            self.on_repair(f"the commit index was unusable ({exc}); rebuilding it from the objects")
        if attempt == 0 and not self.in_memory and not _is_busy(exc):
            self._delete_files()
            self._conn = self._open()
        else:
            self.in_memory = True
            self._conn = self._connect(":memory:")

    def _db(self, fn: Callable):
        """Run fn(conn); on SQLite errors recover and retry, finally raise IndexError_."""
        with self._lock:
            for attempt in range(3):
                try:
                    return fn(self._conn)
                except sqlite3.DatabaseError as exc:
                    with suppress(sqlite3.Error):
                        if self._conn.in_transaction:
                            self._conn.rollback()
                    try:
                        if attempt == 2:
                            raise exc
                        self._recover(exc, attempt)
                    except sqlite3.Error as final:
                        raise IndexError_(f"commit index unusable: {final}") from None

    def close(self) -> None:
        with self._lock, suppress(sqlite3.Error):
            self._conn.close()

    # -- rows -----------------------------------------------------------------------------------
    def _fetch(self, oid: bytes) -> CommitRow | None:
        """The verified row of `oid`, or None (not indexed, or damaged: then deleted)."""
        x = self._db(lambda c: c.execute("SELECT rec, sum, parents FROM commits WHERE id=?",
                                         (oid,)).fetchone())
        if x is None:
            return self._extra.get(oid)
        r = _record(oid, *x)
        if r is None:
            self._drop([oid])
            return None
        return _from_db(r)

    def _drop(self, ids: list) -> None:
        """Delete rows that failed their checksum (they are recomputed from the objects)."""
        self.repairs += len(ids)
        if self.on_repair is not None:
            what = f"commit {to_hex(ids[0])}" if len(ids) == 1 else f"{len(ids)} commits"
            self.on_repair(f"the commit index row of {what} failed its checksum; recomputed "
                           "from the objects (run 'trace fsck', then 'trace reindex')")

        def tx(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            c.executemany("DELETE FROM commits WHERE id=?", [(i,) for i in ids])
            c.execute("COMMIT")
        self._db(tx)

    def _compute(self, starts: Iterable[bytes], use_db: bool, strict: bool) -> dict:
        """Rows of `starts` and their ancestors not yet indexed (iterative; no recursion)."""
        gens: dict = {}      # generation of every id met that needs no new row
        loaded: dict = {}    # id -> Commit to index
        start_set = set(starts)
        stack = list(start_set)
        while stack:
            oid = stack.pop()
            if oid in loaded or oid in gens:
                continue
            known = self._fetch(oid) if use_db else None
            if known is not None:
                gens[oid] = known.generation
                continue
            try:
                c = self.store.get(oid)
                if not isinstance(c, Commit):
                    raise CorruptObject(to_hex(oid), f"expected a commit, found a {c.tag}")
            except ObjectError:
                if strict and oid in start_set:
                    raise
                gens[oid] = 0    # a missing or damaged parent counts as generation 0
                continue
            loaded[oid] = c
            stack.extend(p for p in c.parents if p not in loaded and p not in gens)
        for oid in loaded:       # generations in topological order, parents first
            work = [oid]
            while work:
                x = work[-1]
                if x in gens:
                    work.pop()
                    continue
                parents = loaded[x].parents
                todo = [p for p in parents if p not in gens]
                if todo:
                    work.extend(todo)
                else:
                    gens[x] = 1 + max((gens[p] for p in parents), default=0)
                    work.pop()
        out = {}
        row_cls = _row_class()
        for oid, c in loaded.items():
            summary = c.message.split("\n", 1)[0][:SUMMARY_MAX] if c.message else c.op
            out[oid] = row_cls(oid, c.parents, gens[oid], c.time_ms, c.tz_min, c.author, c.op,
                                 c.tokens, c.total_tokens, summary)
        return out

    def _save(self, rows: dict, reset: bool = False) -> None:
        """Insert rows in one transaction (after emptying everything if `reset`)."""
        lo, hi = -(2**63), 2**63 - 1
        good = []
        for r in rows.values():
            if lo <= r.time_ms <= hi and lo <= r.tokens <= hi and lo <= r.total_tokens <= hi:
                parents = b"".join(r.parents)
                rec = _pack(_to_db(r)[2:])
                good.append((r.id, parents, rec, commit_sum(r.id, parents, rec)))
            else:
                self._extra[r.id] = r

        def tx(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            if reset:
                c.execute("DELETE FROM commits")
                c.execute("DELETE FROM tokens")
                c.execute("DELETE FROM tallies")
                c.execute("INSERT OR REPLACE INTO meta VALUES ('scanned', '1')")
            c.executemany("INSERT OR IGNORE INTO commits VALUES (?,?,?,?)",
                          sorted(good))  # in key order: sequential b-tree inserts
            c.execute("COMMIT")
        self._db(tx)

    def _load(self, starts: Iterable[bytes], strict: bool = True) -> dict:
        """Index `starts` and their unindexed ancestors in one transaction; return the new rows."""
        empty = self._db(lambda c: c.execute("SELECT 1 FROM commits LIMIT 1").fetchone()) is None
        rows = self._compute(starts, use_db=not empty or bool(self._extra), strict=strict)
        if rows:
            self._save(rows)
        return rows

    def _row(self, oid: bytes, cache: dict | None = None) -> CommitRow:
        r = self._fetch(oid)
        if r is None:
            new = self._load([oid])
            if cache is not None:
                cache.update(new)
            r = new.get(oid) or self._fetch(oid)
            if r is None:
                raise IndexError_(f"commit {to_hex(oid)} could not be indexed")
        return r

    # -- public API -----------------------------------------------------------------------------
    def get(self, oid: bytes) -> CommitRow:
        """The row of commit `oid` (MissingObject / CorruptObject if the store lacks it)."""
        return self._row(oid)

    def has(self, oid: bytes) -> bool:
        """True if commit `oid` is indexed (then it is a commit; nothing is read from the store).
        A damaged row counts as not indexed."""
        return self._fetch(oid) is not None

    def parents(self, oid: bytes) -> tuple:
        return self._row(oid).parents

    def walk(self, starts: Iterable[bytes], exclude: Iterable[bytes] = (),
             limit: int | None = None, first_parent: bool = False) -> Iterator[CommitRow]:
        """Like `git rev-list starts ^exclude`: newest first (time, then generation), each once.

        `first_parent` restricts the included side to first parents; exclusion still follows
        every parent, as git's --first-parent does.
        """
        for r in self.walk_raw(starts, exclude, limit, first_parent, _NAMES[4:]):
            yield _from_db(r)

    def walk_raw(self, starts: Iterable[bytes], exclude: Iterable[bytes] = (),
                 limit: int | None = None, first_parent: bool = False,
                 columns: tuple = ()) -> Iterator[tuple]:
        """`walk` yielding plain tuples, for hot loops: (id, packed parents, generation, time_ms,
        *columns). Each of `columns` names a value of a commit row (tz, author, op, tokens,
        total, summary). Packed parents are the parent ids concatenated
        (`split_parents`)."""
        if limit is not None and limit <= 0:
            return
        columns = tuple(columns)
        for c in columns:
            if c not in _NAMES or c in _KEY_COLS:
                raise ValueError(f"unknown commit index column {c!r}")
        row, bulk, get = self._raw_reader(columns)
        pop, push = heapq.heappop, heapq.heappush
        heap = [(-r[3], -r[2], r[0], r) for r in map(row, dict.fromkeys(starts))]
        seen = {h[2] for h in heap}
        xheap = [(-r[2], r[0], r) for r in map(row, dict.fromkeys(exclude))]
        xseen = {h[1] for h in xheap}    # xheap: the exclude frontier, highest generation first
        if heap and (limit is None or limit >= _BULK_MIN):
            # a long walk reads most of a small table: one scan beats thousands of lookups
            want = max(-h[1] for h in heap) - max((-h[0] for h in xheap), default=0)
            if limit is not None:
                want = min(want, limit)
            if want >= _BULK_MIN and self._count_upto(3 * want + 1) <= 3 * want:
                bulk()
        heapq.heapify(heap)
        heapq.heapify(xheap)
        n = 0
        cur = None       # the next commit when it is known without the heap (linear history)
        while True:
            if cur is not None:
                r, cur = cur, None
                ng, oid = -r[2], r[0]
            elif heap:
                _, ng, oid, r = pop(heap)
            else:
                return
            if xheap:
                # expand the exclude side above our generation: then all of it at or above us
                # is seen
                while xheap and xheap[0][0] < ng:
                    xp = pop(xheap)[2][1]
                    for p in ((xp,) if len(xp) == ID_LEN else split_parents(xp)):
                        if p not in xseen:
                            xseen.add(p)
                            pr = row(p)
                            push(xheap, (-pr[2], p, pr))
            if xseen and oid in xseen:
                continue
            yield r
            n += 1
            if n == limit:
                return
            ps = r[1]
            if len(ps) == ID_LEN:
                if ps not in seen:
                    seen.add(ps)
                    pr = get(ps) or row(ps)
                    if heap:
                        push(heap, (-pr[3], -pr[2], ps, pr))
                    else:        # it would be the next popped: skip the heap
                        cur = pr
                continue
            if not ps:
                continue
            for p in ((ps[:ID_LEN],) if first_parent else split_parents(ps)):
                if p not in seen:
                    seen.add(p)
                    pr = row(p)
                    push(heap, (-pr[3], -pr[2], p, pr))

    def row_reader(self, columns: tuple = ()) -> Callable[[bytes], tuple]:
        """A function id -> raw row (id, packed parents, generation, time_ms, *columns) for one
        traversal, reading first-parent chains ahead (see `_raw_reader`)."""
        return self._raw_reader(columns)[0]

    def _raw_reader(self, columns: tuple) -> tuple:
        """(row, bulk, get) for one traversal over raw rows: `row(oid)` reads first-parent
        chains ahead in growing runs; `bulk()` reads every indexed row in one scan; `get(oid)`
        is the row if already read, else None. A row is trusted only after its checksum (over
        key, parents and record) checks out; a damaged row is dropped and recomputed from the
        objects (`_row_raw`)."""
        idx = tuple(_NAMES.index(c) for c in columns)
        shape = None if idx == tuple(range(4, len(_NAMES))) else itemgetter(0, 1, 2, 3, *idx)
        cache: dict = {}
        step = 4
        db = self._db

        def keep(rows: list) -> None:
            bad = []
            unpack, crc, n_rec, bias = _unpackb, crc32, _REC_LEN, _BIAS
            for key, rec, s, p in rows:     # _record, inlined: this is the hot loop of `log`
                r = None
                try:     # noqa: SIM105 (free here; suppress() is a call per row)
                    if crc(rec, crc(p, crc(key))) - bias == s:
                        r = unpack(rec, use_list=False)
                except (TypeError, ValueError, msgpack.ExtraData, msgpack.FormatError,
                        msgpack.StackError):
                    pass
                if type(r) is tuple and len(r) == n_rec:
                    cache[key] = (key, p, *r) if shape is None else shape((key, p, *r))
                else:
                    bad.append(key)
            if bad:
                self._drop(bad)

        def row(oid: bytes) -> tuple:
            nonlocal step
            r = cache.get(oid)
            if r is None:
                rows = db(lambda c: c.execute(_CHAIN, (oid, step)).fetchall())
                if rows:
                    step = min(step * 2, 1024)
                    keep(rows)
                r = cache.get(oid)
                if r is None:       # not indexed, or its row was damaged
                    return self._row_raw(oid, shape, cache)
            return r

        def bulk() -> None:
            keep(db(lambda c: c.execute("SELECT id, rec, sum, parents FROM commits").fetchall()))
        return row, bulk, cache.get

    def _row_raw(self, oid: bytes, shape: Callable | None, cache: dict) -> tuple:
        """The raw row of a commit missing from the database (indexing it and its ancestors)."""
        r = self._fetch(oid)
        if r is None:
            new = self._load([oid])
            for k, v in new.items():
                rec = _to_db(v)
                cache[k] = rec if shape is None else shape(rec)
            r = new.get(oid) or self._fetch(oid)
            if r is None:
                raise IndexError_(f"commit {to_hex(oid)} could not be indexed")
        rec = _to_db(r)
        return rec if shape is None else shape(rec)

    def _count_upto(self, cap: int) -> int:
        """min(number of indexed commits, cap), reading at most `cap` keys."""
        return self._db(lambda c: c.execute(
            "SELECT count(*) FROM (SELECT 1 FROM commits LIMIT ?)", (cap,)).fetchone()[0]) \
            + len(self._extra)

    def merge_bases(self, a: bytes, b: bytes) -> list:
        """Best common ancestors of a and b (`git merge-base --all`), newest first."""
        row = self._raw_reader(())[0]      # raw rows: id, packed parents, generation, time_ms
        ra, rb = row(a), row(b)
        if a == b:
            return [a]
        P1, P2, STALE = 1, 2, 4
        flags = {a: P1, b: P2}
        heap = [(-ra[2], a, ra), (-rb[2], b, rb)]
        heapq.heapify(heap)
        active = {a, b}      # queued ids not yet known to be below a common ancestor
        found = []
        while active:
            _, oid, r = heapq.heappop(heap)
            active.discard(oid)
            f = flags[oid]
            if f & (P1 | P2) == P1 | P2 and not f & STALE:
                found.append(r)
                f |= STALE
            for p in split_parents(r[1]):
                pf = flags.get(p)
                if pf is None:
                    flags[p] = f
                    pr = row(p)
                    heapq.heappush(heap, (-pr[2], p, pr))
                    if not f & STALE:
                        active.add(p)
                else:
                    flags[p] = pf | f
                    if f & STALE:
                        active.discard(p)
        found.sort(key=lambda r: (-r[3], -r[2], r[0]))
        return [r[0] for r in found]

    def is_ancestor(self, a: bytes, b: bytes) -> bool:
        """True if a is b or an ancestor of b (pruned by generation)."""
        row = self._raw_reader(())[0]      # raw rows: id, packed parents, generation, time_ms
        ra, rb = row(a), row(b)
        if a == b:
            return True
        ga = ra[2]
        stack = [rb] if rb[2] > ga else []
        seen = {b}
        while stack:
            for p in split_parents(stack.pop()[1]):
                if p == a:
                    return True
                if p not in seen:
                    seen.add(p)
                    pr = row(p)
                    if pr[2] > ga:
                        stack.append(pr)
        return False

    def count(self) -> int:
        """Number of indexed commits (scanning the whole store the first time)."""
        scanned = self._db(
            lambda c: c.execute("SELECT value FROM meta WHERE key='scanned'").fetchone())
        if scanned is None:
            have = self._db(lambda c: {r[0] for r in c.execute("SELECT id FROM commits")})
            todo = {o for o, t in self.store.iter_objects() if t == _COMMIT_CODE and o not in have}
            self._load(todo, strict=False)
            self._db(lambda c: c.execute("INSERT OR REPLACE INTO meta VALUES ('scanned', '1')"))
        n = self._db(lambda c: c.execute("SELECT count(*) FROM commits").fetchone()[0])
        return n + len(self._extra)

    def rebuild(self) -> None:
        """Forget everything and index every commit in the store (tolerates damaged stores)."""
        ids = {o for o, t in self.store.iter_objects() if t == _COMMIT_CODE}
        rows = self._compute(ids, use_db=False, strict=False)
        self._extra = {}
        self._save(rows, reset=True)
        self.compact()

    def compact(self) -> None:
        """Give the file's free pages back (VACUUM: rows then fill their pages). Skipped when
        another process is using the file: it is only a size optimization."""
        if self.in_memory:
            return
        with self._lock, suppress(sqlite3.OperationalError):
            self._conn.execute("VACUUM")

    # -- token counts ---------------------------------------------------------------------------
    def get_tokens(self, blob_id: bytes, encoding: str) -> int | None:
        """The cached token count of a blob, or None (not cached, or damaged: then deleted)."""
        enc = self._enc_ids.get(encoding)
        if enc is None:
            found = self._db(lambda c: c.execute("SELECT id FROM encodings WHERE name=?",
                                                 (encoding,)).fetchone())
            if found is None:
                return None
            enc = self._enc_ids[encoding] = found[0]
        r = self._db(lambda c: c.execute("SELECT n, sum FROM tokens WHERE blob=? AND enc=?",
                                         (blob_id, enc)).fetchone())
        if r is None:
            return None
        if row_sum((blob_id, encoding, r[0])) != r[1]:
            self.repairs += 1
            if self.on_repair is not None:
                self.on_repair(f"the cached token count of blob {to_hex(blob_id)} failed its "
                               "checksum; counting again")
            self._db(lambda c: c.execute("DELETE FROM tokens WHERE blob=? AND enc=?",
                                         (blob_id, enc)))
            return None
        return r[0]

    def put_tokens(self, rows: list) -> None:
        """Cache (blob id, encoding, token count) triples."""
        def tx(c: sqlite3.Connection) -> None:
            c.execute("BEGIN IMMEDIATE")
            names = {e for _, e, _ in rows}
            c.executemany("INSERT OR IGNORE INTO encodings (name) VALUES (?)",
                          [(e,) for e in names])
            num = dict(c.execute("SELECT name, id FROM encodings"))
            c.executemany("INSERT OR REPLACE INTO tokens VALUES (?,?,?,?)",
                          [(b, num[e], n, row_sum((b, e, n))) for b, e, n in rows])
            c.execute("COMMIT")
            self._enc_ids.update(num)   # (only once committed: a rolled-back number is free)
        if rows:
            self._db(tx)

    # -- per-snapshot tallies -------------------------------------------------------------------
    def get_tally(self, snap_id: bytes) -> bytes | None:
        """The tally record kept for a snapshot, or None (none kept, or damaged: then deleted)."""
        def read(c: sqlite3.Connection) -> tuple | None:
            try:
                return c.execute("SELECT rec, sum FROM tallies WHERE snap=?",
                                 (snap_id,)).fetchone()
            except sqlite3.OperationalError as exc:
                if "no such table" in str(exc):
                    return None     # an index file made before tallies existed
                raise
        r = self._db(read)
        if r is None:
            return None
        rec, s = r
        try:
            sound = isinstance(rec, bytes) and commit_sum(snap_id, b"", rec) == s
        except TypeError:
            sound = False
        if not sound:
            self.repairs += 1
            if self.on_repair is not None:
                self.on_repair(f"the cached tally of snapshot {to_hex(snap_id)} failed its "
                               "checksum; counting again")
            self.drop_tally(snap_id)
            return None
        return rec

    def clear_tallies(self) -> None:
        """Forget every tally record (gc: kept tallies start again, so the table, one row per
        snapshot status was asked about, stays bounded)."""
        self._db(lambda c: c.execute("DELETE FROM tallies"))

    def drop_tally(self, snap_id: bytes) -> None:
        """Forget a snapshot's tally record (damaged, or not believable: plumbing.tally)."""
        self._db(lambda c: c.execute("DELETE FROM tallies WHERE snap=?", (snap_id,)))

    def put_tally(self, snap_id: bytes, rec: bytes) -> None:
        """Keep a snapshot's tally record (its checksum: CRC-32 of snap || rec, minus 2**31)."""
        self._db(lambda c: c.execute("INSERT OR REPLACE INTO tallies VALUES (?,?,?)",
                                     (snap_id, rec, commit_sum(snap_id, b"", rec))))


def audit(path: str, store: ObjectStore,
          count_tokens: tuple[str, Callable[[bytes], int]] | None = None) -> list:
    """(what, object hex or '', problem) for each way the index file at `path` disagrees with
    the objects it was derived from; [] for a sound, missing or older-schema file (an older one
    is rebuilt when opened). `what` is "file" (SQLite cannot read it), "row" (a commit row that
    fails its checksum, names no readable commit, or differs from what the commit gives) or
    "tokens" (a cached count that fails its checksum or, for the encoding of `count_tokens`
    (name, function blob id -> count), differs from a recount). Opens its own read-only
    connection: nothing is repaired, so the evidence stays for `trace reindex`."""
    if not os.path.lexists(path):
        return []
    from ..errors import UnsafePath
    from ..storage import safefs
    try:   # SQLite would follow a symlink, block on a FIFO, and read and write the -wal/-shm
        for p in (path, path + "-wal", path + "-shm", path + "-journal"):
            safefs.check_file(os.path.dirname(path), p)
    except UnsafePath:
        return []  # never opened: fsck reports it as symlinkInRepository/specialFileInRepository
    out: list = []
    try:
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5.0)
    except sqlite3.Error as exc:
        return [("file", "", f"index.sqlite cannot be opened: {exc}")]
    try:
        schema = _schema_row(conn)
        if schema is None or schema[0] != SCHEMA_VERSION:
            return []
        rows = conn.execute("SELECT id, parents, rec, sum FROM commits").fetchall()
        tokens = conn.execute("SELECT blob, name, n, sum FROM tokens "
                              "LEFT JOIN encodings ON encodings.id = tokens.enc").fetchall()
    except sqlite3.Error as exc:
        return [("file", "", f"index.sqlite cannot be read: {exc}")]
    finally:
        conn.close()
    sound = []
    for key, parents, rec, s in rows:
        r = _record(key, rec, s, parents)
        if r is None:
            out.append(("row", _hex_or_repr(key), "its row fails its checksum"))
        else:
            sound.append(r)
    scratch = CommitIndex(":memory:", store)
    try:
        truth = scratch._compute([r[0] for r in sound], use_db=False, strict=False)
    finally:
        scratch.close()
    for r in sound:
        want = truth.get(r[0])
        if want is None:
            out.append(("row", to_hex(r[0]), "its row names no readable commit"))
            continue
        differ = [n for n, a, b in zip(_NAMES, r, _to_db(want), strict=True) if a != b]
        if differ:
            out.append(("row", to_hex(r[0]), "its row differs from the commit in "
                        + ", ".join("generation" if n == "gen" else n for n in differ)))
    for blob, enc, n, s in tokens:
        if enc is None or row_sum((blob, enc, n)) != s:
            out.append(("tokens", _hex_or_repr(blob), "its cached token count fails its checksum"))
        elif count_tokens is not None and enc == count_tokens[0]:
            try:
                real = count_tokens[1](blob)
            except (ObjectError, IndexError_):
                continue     # the blob is missing or damaged: fsck reports that itself
            if real != n:
                out.append(("tokens", to_hex(blob), f"its cached token count is {n}, "
                            f"a recount gives {real}"))
    return out


def _hex_or_repr(v: object) -> str:
    return to_hex(v) if isinstance(v, bytes) and len(v) == ID_LEN else repr(v)[:80]
