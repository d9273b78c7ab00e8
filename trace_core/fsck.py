"""fsck: re-hash every stored object, check every reference, pack, journal and ref; never raise.

Refs are read first, then every stored copy of every object once (journals record by record,
then packs block by block under `repack.lock`: an order in which no concurrent seal or repack
hides an object) into a compact graph that the link, tree and ref checks use: linear in size.

Finding ids (stable): badObjectHash, malformedObject, nonCanonicalTree, missingParent,
missingSnapshot, missingBlob, missingNode, badPackChecksum, badIdxChecksum (also an index that
does not describe its pack), badPackBlock, tornJournalTail (warning), badRefTarget (error for a
ref's value, warning for a reflog entry), badRefRecord (a ref whose current record is damaged,
not torn) and badReflogEntry (an older damaged record), badRefFile (unreadable: error; empty:
warning), missingHead, symlinkInRepository (every symlink inside .trace),
specialFileInRepository (every FIFO, socket or device file inside .trace),
hardlinkInRepository (a file there with other hard links), tornRefTail and
strayRefFile (warnings), danglingCommit (info: an unreachable commit no other commit names as
parent), badIndexFile, badIndexRow, badIndexTokens (the SQLite index cannot be read, or a row
disagrees with its checksum or with the objects it was derived from: fixed by `trace reindex`),
missingAgentLink (error: a spawn or collapse commit that a ref reaches names, in its meta, a
commit that is missing: `from`, `children[i].root`, `tip`, `root` or `again`), prunedAgentHistory
(info, once per agent: such a pointer is missing because a retention policy pruned that agent's
history, `.trace/pruned`), badPrunedFile (error: `.trace/pruned` cannot be read).
A missing object is reported once.
`full=False` skips the whole-file pack and index checksums and the tree-shape check.
"""

from __future__ import annotations

import contextlib
import os
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from . import chunked
from .errors import CorruptRef, TraceError, UnsafePath
from .gc import meta_ids, namespaces, reflog_ids
from .ids import hash_bytes, is_hex_id
from .objects import TYPE_CODES, Commit, Node, Snapshot, parse_object
from .storage import journal as jn
from .storage import safefs
from .storage import zstd_codec as zc
from .storage.objectstore import try_lock
from .storage.pack import Pack, list_packs
from .storage.repack import RepackLock

if TYPE_CHECKING:
    from .state import RepoState

C_BLOB, C_NODE, C_SNAP, C_COMMIT = (TYPE_CODES[t] for t in ("blob", "node", "snap", "commit"))
_NAMES = {v: k for k, v in TYPE_CODES.items()}


@dataclass(frozen=True)
class Finding:
    """One problem: a stable id, a severity (error, warning, info), what it is about, one line."""

    id: str
    severity: str
    object: str
    message: str


class _State:
    def __init__(self, limit: int, progress: Callable[[int], None] | None) -> None:
        self.limit = limit
        self.progress = progress
        self.done = 0
        self.out: list[Finding] = []
        self.types: dict[bytes, int] = {}
        self.commits: dict[bytes, tuple] = {}  # id -> (parents, snapshot, blobs, meta ids)
        self.snaps: dict[bytes, tuple] = {}    # id -> (count, root, tail blob ids)
        self.nodes: dict[bytes, tuple] = {}    # id -> node_info()
        self.agent_links: dict[bytes, list] = {}  # spawn/collapse commit -> [(meta key, id)]

    def add(self, fid: str, sev: str, obj: str, msg: str) -> None:
        self.out.append(Finding(fid, sev, obj, msg))

    def tick(self) -> None:
        if self.progress:
            self.progress(self.done)

    def record(self, oid: bytes, data: bytes, where: str, tcode: int | None = None,
               tcode_id: str = "malformedObject") -> None:
        """Verify one stored copy of an object and remember its links."""
        self.done += 1
        h = oid.hex()
        if hash_bytes(data) != oid:
            return self.add("badObjectHash", "error", h,
                            f"object {h} {where} does not hash to its id")
        try:
            obj = parse_object(data, self.limit, strict=True)
        except Exception as exc:  # any decoding failure is a finding, never a crash
            return self.add("malformedObject", "error", h, f"object {h} {where}: {exc}")
        code = TYPE_CODES[obj.tag]
        if tcode is not None and tcode != code:
            self.add(tcode_id, "error", h,
                     f"object {h} {where} is a {obj.tag} but is recorded as type {tcode}")
        if oid in self.types:
            return
        self.types[oid] = code
        if isinstance(obj, Commit):
            self.commits[oid] = (obj.parents, obj.snapshot, obj.blobs, tuple(meta_ids(obj.meta)))
            if obj.op in ("spawn", "collapse"):
                self.agent_links[oid] = agent_links(obj.meta)
        elif isinstance(obj, Snapshot):
            self.snaps[oid] = (obj.count, obj.root, tuple(e.blob for e in obj.tail))
        elif isinstance(obj, Node):
            self.nodes[oid] = node_info(obj)


def agent_links(meta: object) -> list[tuple[str, bytes]]:
    """(meta key, id) of every pointer of a spawn or collapse commit's meta (FORMAT.md §6.4.4)."""
    from .ids import ID_LEN
    if not isinstance(meta, dict):
        return []
    out = [(k, v) for k in ("from", "tip", "root", "again")
           if isinstance(v := meta.get(k), bytes) and len(v) == ID_LEN]
    kids = meta.get("children")
    for i, kid in enumerate(kids if isinstance(kids, list) else []):
        if isinstance(kid, dict) and isinstance(v := kid.get("root"), bytes) and len(v) == ID_LEN:
            out.append((f"children[{i}].root", v))
    return out


def fsck(repo: RepoState, full: bool = True, progress: Callable[[int], None] | None = None) -> list:
    """Every problem found in the repository, as Findings (an empty list for a sound one)."""
    st = _State(repo.store.opts.max_object_size, progress)
    pruned = _read_pruned(repo, st)
    links = _check_symlinks(repo, st)
    refs = _read_refs(repo, st)
    _check_head(repo, st)
    if not links & {"objects", "objects/journal"}:
        for path in jn.iter_journals(repo.store.journal_dir):
            if os.path.relpath(path, repo.trace_dir).replace(os.sep, "/") not in links:
                _check_journal(st, path)   # (a symlink or FIFO is reported, never opened)
    if not links & {"objects", "objects/pack", "objects/pack/repack.lock"}:
        lock = RepackLock(repo.store.pack_dir, wait=True)
        try:
            for name in list_packs(repo.store.pack_dir):
                _check_pack(st, repo.store.pack_dir, name, full)
        finally:
            lock.release()
    _check_links(st, full)
    _check_refs(st, refs, pruned)
    _check_index(repo, st)
    st.tick()
    return st.out


def _check_journal(st: _State, path: str) -> None:
    rel = os.path.join("objects", "journal", os.path.basename(path))
    fd = try_lock(path)  # held: no writer appends or cuts while we read
    try:
        data = safefs.read_bytes(path)
    except FileNotFoundError:
        return  # sealed meanwhile: its pack was published first and is listed later
    finally:
        live = fd is None
        if fd is not None:
            os.close(fd)
    res = jn.scan(data, verify_crc=False)
    if res.bad_header:
        if not live or data:
            st.add("tornJournalTail", "warning", rel,
                   f"journal {rel} has no valid header; its {len(data)} bytes are ignored")
        return
    last = len(res.records) - 1
    for i, (oid, tcode, off, clen, ulen) in enumerate(res.records):
        start, end = off - jn.HEADER.size, off + clen
        crc_ok = zlib.crc32(data[start:end]) == jn.CRC.unpack_from(data, end)[0]
        if not crc_ok and i == last and not jn.stored_crc_written(data, res.records[i]):
            if not live:  # a live writer may be appending it right now
                st.add("tornJournalTail", "warning", rel, f"journal {rel} ends in a record that "
                       "fails its checksum (a torn write); readers ignore it")
            return
        where = f"in journal {rel} at byte {start}"
        try:
            raw = zc.decompress(data[off:end], min(ulen, st.limit))
            problem = None if crc_ok else ("fails its checksum (damage, not a torn write: "
                                           "writers leave this journal as it is)")
        except Exception as exc:
            problem = f"does not decompress: {exc}"
        if problem:
            st.done += 1
            st.add("badObjectHash", "error", oid.hex(), f"object {oid.hex()} {where} {problem}")
        else:
            st.record(oid, raw, where, tcode)
    if res.torn_bytes and not live:
        st.add("tornJournalTail", "warning", rel, f"journal {rel} ends in {res.torn_bytes} "
               "bytes of a partial record (a killed writer); readers ignore them")
    st.tick()


def _check_pack(st: _State, pack_dir: str, name: str, full: bool) -> None:
    try:
        pack = Pack(pack_dir, name)
    except FileNotFoundError:
        return
    except Exception as exc:
        return st.add("badIdxChecksum", "error", name, f"pack index {name} is unreadable: {exc}")
    try:
        if full and not pack.verify_index_checksum():
            st.add("badIdxChecksum", "error", name, f"pack index {name} fails its checksum")
        try:
            if full and not pack.verify_pack_checksum():
                st.add("badPackChecksum", "error", name, f"pack {name} fails its checksum")
            pack.zdict()
        except Exception as exc:
            return st.add("badPackChecksum", "error", name, f"pack {name} is unreadable: {exc}")
        _check_pack_index(st, pack)
        seen = 0
        for b in range(pack.nblocks):
            try:
                recs = pack.read_block(b, st.limit)
            except Exception as exc:
                st.add("badPackBlock", "error", name, f"pack {name} block {b}: {exc}")
                continue
            for oid, data in recs.items():
                seen += 1
                slots = [i for i in pack.candidates(oid) if pack.block_of(i) == b]
                if not slots:
                    st.add("badIdxChecksum", "error", name, f"pack index {name} does not list "
                           f"object {oid.hex()} of block {b}")
                st.record(oid, bytes(data), f"in pack {name} block {b}",
                          pack.type_of(slots[0]) if slots else None, "badIdxChecksum")
            st.tick()
        if seen != pack.count:
            st.add("badIdxChecksum", "error", name, f"pack index {name} lists {pack.count} "
                   f"objects, its blocks hold {seen}")
    finally:
        pack.close()


def _check_pack_index(st: _State, pack: Pack) -> None:
    """What a consistently rewritten index could lie about: fan-out, order, block numbers, type
    codes, the block table (the per-object checks in _check_pack catch the rest)."""
    for problem in pack.check_structure():
        st.add("badIdxChecksum", "error", pack.name, problem)


def _check_index(repo: RepoState, st: _State) -> None:
    """Every row of the derived SQLite index against the objects it was derived from (the
    index.audit), as badIndexFile / badIndexRow / badIndexTokens errors that say to reindex."""
    from .index.sqlite_index import audit
    from .tokens import count_message

    counter = None
    with contextlib.suppress(TraceError, OSError, ValueError):
        counter = repo.token_counter()   # without one, cached counts get their checksums checked

    def recount(blob: bytes) -> int:
        assert counter is not None
        return count_message(repo.get_blob(blob).message, counter)

    path = os.path.join(repo.trace_dir, "index.sqlite")
    fix = "; run 'trace reindex' to rebuild the index from the objects"
    try:
        found = audit(path, repo.store, (counter.name, recount) if counter else None)
    except UnsafePath:
        return  # the store cannot be read through a symlink: reported as symlinkInRepository
    for what, obj, problem in found:
        if what == "file":
            st.add("badIndexFile", "error", "index.sqlite", problem + fix)
        elif what == "row":
            st.add("badIndexRow", "error", obj, f"index.sqlite: commit {obj}: {problem}{fix}")
        else:
            st.add("badIndexTokens", "error", obj, f"index.sqlite: blob {obj}: {problem}{fix}")


# -- links and trees ----------------------------------------------------------------------------
def first_cut(ids: tuple, leaf: bool) -> int | None:
    """How many of these items the canonical chunker puts in the first chunk (None: no cut)."""
    lo, hi, mask = ((chunked.MIN_LEAF, chunked.MAX_LEAF, chunked.LEAF_MASK) if leaf else
                    (chunked.INNER_MIN, chunked.INNER_MAX, chunked.INNER_MASK))
    for k, oid in enumerate(ids, 1):
        if k >= hi or (k >= lo and oid[-1] & mask == 0):
            return k
    return None


def node_info(node: Node) -> tuple:
    """(level, entries, child or blob ids, child counts or None, local problem, complete)."""
    leaf = node.level == 0
    kids = tuple(e.blob for e in node.items) if leaf else tuple(cid for cid, _ in node.items)
    counts = None if leaf else tuple(c for _, c in node.items)
    cut = first_cut(kids, leaf)
    problem = (f"its chunk should end after item {cut - 1}" if cut is not None and cut < len(kids)
               else "a leaf that is not a complete chunk" if leaf and cut is None else None)
    return node.level, node.count(), kids, counts, problem, cut == len(kids)


class TreeChecker:
    """Canonical-shape checks over node_info() records, memoized so fsck stays linear.

    Rebuilding every snapshot would cost the sum of all context lengths. Locally: a tree is what
    `chunked.build` makes of its entries exactly when every node is one chunk (no earlier cut;
    leaves complete), counts and levels agree, every child but the last is complete down to its
    last leaf, a root above level 0 has two or more children, and the tail holds no complete chunk.
    """

    def __init__(self, nodes: dict[bytes, tuple]) -> None:
        self.nodes = nodes
        self._memo: dict[bytes, tuple] = {}

    def node(self, nid: bytes) -> tuple:
        """(first problem in the subtree or None, sound: complete down its last edge)."""
        if nid in self._memo:
            return self._memo[nid]
        level, _count, kids, counts, problem, sound = self.nodes[nid]
        problem = problem and f"node {nid.hex()[:12]}: {problem}"
        if level > 0:
            for i, cid in enumerate(kids):
                child = self.nodes.get(cid)
                if child is None:
                    continue  # missing: reported as missingNode
                if child[0] != level - 1:
                    problem = problem or f"node {nid.hex()[:12]} has a level-{child[0]} child"
                    continue
                if child[1] != counts[i]:
                    problem = problem or f"node {nid.hex()[:12]} miscounts {cid.hex()[:12]}"
                sub, sub_sound = self.node(cid)
                problem = problem or sub
                if i < len(kids) - 1 and not sub_sound:
                    problem = problem or f"node {cid.hex()[:12]} is incomplete but not last"
                if i == len(kids) - 1:
                    sound = sound and sub_sound
        self._memo[nid] = (problem, sound)
        return problem, sound

    def snapshot(self, count: int, root: bytes | None, tail: tuple) -> str | None:
        if first_cut(tail, True) is not None:
            return "its tail holds a complete chunk"
        if root is None or root not in self.nodes:
            return None
        level, rcount, kids, _c, _p, _done = self.nodes[root]
        if level > 0 and len(kids) < 2:
            return "its root node has a single child"
        if rcount + len(tail) != count:
            return f"it counts {count} entries, its tree and tail hold {rcount + len(tail)}"
        return self.node(root)[0]


def _check_links(st: _State, full: bool) -> None:
    missing: dict[tuple, list] = {}
    trees = TreeChecker(st.nodes)

    def need(oid: bytes, code: int, fid: str, by: bytes) -> None:
        if st.types.get(oid) != code:
            missing.setdefault((fid, oid, code), []).append(by)

    for cid, (parents, snap, blobs, _m) in st.commits.items():
        for p in parents:
            need(p, C_COMMIT, "missingParent", cid)
        need(snap, C_SNAP, "missingSnapshot", cid)
        for b in blobs:
            need(b, C_BLOB, "missingBlob", cid)
    for nid, (level, _n, kids, _c, _p, _d) in st.nodes.items():
        for k in kids:
            need(k, C_NODE if level else C_BLOB, "missingNode" if level else "missingBlob", nid)
    for sid, (count, root, tail) in st.snaps.items():
        for b in tail:
            need(b, C_BLOB, "missingBlob", sid)
        if root is not None:
            need(root, C_NODE, "missingNode", sid)
        if full and (problem := trees.snapshot(count, root, tail)):
            st.add("nonCanonicalTree", "error", sid.hex(), f"snapshot {sid.hex()} is not in "
                   f"canonical form: {problem}")
    for (fid, oid, code), refs in missing.items():
        have = st.types.get(oid)
        what = f"is a {_NAMES[have]}, not a {_NAMES[code]}" if have else "is missing"
        more = f" (and {len(refs) - 1} more)" if len(refs) > 1 else ""
        by = f"{_NAMES[st.types[refs[0]]]} {refs[0].hex()}"
        st.add(fid, "error", oid.hex(), f"{_NAMES[code]} {oid.hex()} {what}; needed by {by}{more}")


# -- refs ---------------------------------------------------------------------------------------
def _read_refs(repo, st: _State) -> list:
    """(qualified name, value or error text, reflog ids) per ref, read before any object. A
    damaged or symlinked ref is reported once (by RefStore.check or _check_symlinks)."""
    out: list[tuple[str, str | None, set]] = []
    for prefix, refs in namespaces(repo):
        try:
            for kind, sev, name, msg in refs.check():
                where = f"{msg} (in {prefix.rstrip('/')})" if prefix else msg
                st.add(kind, sev, prefix + name, where)
            names = refs.names("", skip_symlinks=True)
        except (TraceError, OSError) as exc:
            st.add("badRefFile", "error", prefix or ".", f"refs under {prefix or '.'}: {exc}")
            continue
        for name in names:
            try:
                value = refs.resolve(name)
            except CorruptRef:  # reported by check(); what its intact records name is reachable
                with contextlib.suppress(TraceError, OSError):
                    out.append((prefix + name, None, set(reflog_ids(refs.intact_records(name)))))
                continue
            except UnsafePath:
                continue  # reported by the symlink scan
            except (TraceError, OSError) as exc:
                out.append((prefix + name, f"cannot be resolved: {exc}", set()))
                continue
            try:
                log = set(reflog_ids(refs.reflog(name)))
            except (TraceError, OSError):
                log = set()  # a damaged reflog: check() reported badReflogEntry
            out.append((prefix + name, value, log))
    return out


def _check_head(repo, st: _State) -> None:
    """The repository's HEAD must exist and hold a record (a damaged one is badRefRecord); an
    agent's HEAD may be absent (a new agent), but not a file without a record while the agent
    has refs."""
    from .refs import RefStore
    for prefix, refs in [("", RefStore(repo.trace_dir, head_required=True)),
                         *[(p, r) for p, r in namespaces(repo) if p]]:
        try:
            why = refs.head_missing()
        except (TraceError, OSError):
            continue  # damaged or a symlink: reported by the ref or symlink checks
        if why:
            st.add("missingHead", "error", prefix + "HEAD", why)


def _check_symlinks(repo, st: _State) -> set:
    """Every symlink inside .trace is an error (trace never follows one); returns their
    relative paths so the other checks keep out of them."""
    links = set(safefs.symlinks_below(repo.trace_dir))
    for rel in sorted(links):
        st.add("symlinkInRepository", "error", rel, f"{rel} is a symbolic link inside the "
               "repository; trace refuses to read or write through it: remove it, or replace "
               "it with the real file or directory")
    specials = set(safefs.special_files_below(repo.trace_dir))
    for rel in sorted(specials):
        st.add("specialFileInRepository", "error", rel, f"{rel} is a FIFO, socket or device "
               "file inside the repository; trace refuses to read or write it: remove it, or "
               "replace it with the real file")
    shared = set(safefs.hardlinked_below(repo.trace_dir))
    for rel in sorted(shared):
        st.add("hardlinkInRepository", "error", rel, f"{rel} has other hard links; trace "
               "refuses to write it (the other names would change too): replace it with a copy "
               "of its own")
    return links | specials | shared


def _read_pruned(repo, st: _State) -> dict:
    from .retention import pruned_records
    try:
        return pruned_records(repo.trace_dir)
    except (TraceError, OSError) as exc:
        st.add("badPrunedFile", "error", "pruned", str(exc))
        return {}


def _check_refs(st: _State, refs: list, pruned: dict | None = None) -> None:
    pruned = pruned or {}
    roots: set = set()
    for name, value, log_ids in refs:
        if value is not None and not is_hex_id(value):
            st.add("badRefTarget", "error", name, f"ref {name} {value}")
        elif value is not None:
            roots.add(bytes.fromhex(value))
            if (code := st.types.get(bytes.fromhex(value))) != C_COMMIT:
                what = f"a {_NAMES[code]}, not a commit" if code else "a missing object"
                st.add("badRefTarget", "error", name, f"ref {name} points to {what} ({value})")
        for oid in sorted(log_ids):
            roots.add(oid)
            if oid not in st.types:
                st.add("badRefTarget", "warning", name, f"a reflog entry of {name} names missing "
                       f"object {oid.hex()}")
    reached: set = set()
    stack = [r for r in roots if r in st.commits]
    while stack:
        c = stack.pop()
        if c not in reached:
            reached.add(c)
            parents, _s, _b, meta = st.commits[c]
            stack.extend(p for p in parents if p in st.commits)
            stack.extend(m for m in meta if m in st.commits and m not in pruned)
    _check_agent_links(st, reached, pruned)
    named = {p for cid, info in st.commits.items() if cid not in reached for p in info[0]}
    for cid in st.commits:
        if cid not in reached and cid not in named:
            st.add("danglingCommit", "info", cid.hex(), f"commit {cid.hex()} is reachable from no "
                   "ref or reflog entry")


def _check_agent_links(st: _State, reached: set, pruned: dict) -> None:
    """Spawn and collapse pointers of the commits refs reach: each names a commit, unless the
    retention record says its history was pruned (one info line per agent). An unreachable
    commit's pointers are not checked: it is garbage waiting for gc."""
    import time
    gone: dict[str, int] = {}
    for cid in sorted(c for c in reached if c in st.agent_links):
        for key, oid in st.agent_links[cid]:
            if st.types.get(oid) == C_COMMIT:
                continue
            if oid in pruned:
                secs, agent = pruned[oid]
                gone[agent] = max(secs, gone.get(agent, 0))
                continue
            what = f"a {_NAMES[st.types[oid]]}" if oid in st.types else "missing"
            st.add("missingAgentLink", "error", cid.hex(), f"commit {cid.hex()} meta {key} names "
                   f"commit {oid.hex()}, which is {what}")
    for agent, secs in sorted(gone.items()):
        day = time.strftime("%Y-%m-%d", time.gmtime(secs))
        st.add("prunedAgentHistory", "info", agent, f"history of agent {agent} was pruned on "
               f"{day} (retention policy; .trace/pruned)")
