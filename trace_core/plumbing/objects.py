"""Plumbing: the small, stable primitives every porcelain command is built on (docs/plumbing.md)."""

from __future__ import annotations

import time
from typing import Any, Iterable, Optional, Sequence

from . import chunked
from .errors import InputError, RevisionError
from .ids import RawId, ZERO_HEX, from_hex, is_hex_id, to_hex
from .objects import Blob, Commit, Entry, Node, Snapshot, TraceObject
from .repository import Repository


# -- objects ----------------------------------------------------------------------------------
def make_blob(message: Any) -> Blob:
    if not isinstance(message, dict):
        raise InputError("a message must be a JSON object such as {\"role\": \"user\", \"content\": \"hi\"}")
    return Blob(message)


def hash_object(repo: Optional[Repository], message: Any, write: bool = False) -> str:
    """The id a message would have as a blob; stored when `write`."""
    blob = make_blob(message)
    if write:
        if repo is None:
            raise InputError("hash-object -w needs a repository")
        repo.write([blob])
    return blob.hex


def to_jsonable(value: Any) -> Any:
    """Object payloads for JSON output: raw 32-byte ids as hex, other bytes as {"$bytes": hex}."""
    if isinstance(value, (bytes, bytearray, memoryview)):
        b = bytes(value)
        return b.hex() if len(b) == 32 else {"$bytes": b.hex()}
    if isinstance(value, dict):
        return {k: to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    return value


def describe(obj: TraceObject) -> dict:
    """A JSON-able description of any object, as `cat-object -p --json` prints it."""
    if isinstance(obj, Blob):
        return {"type": "blob", "message": to_jsonable(obj.message)}
    if isinstance(obj, Node):
        if obj.level == 0:
            items = [{"blob": e.blob.hex(), "flags": e.flags} for e in obj.items]
        else:
            items = [{"node": cid.hex(), "count": c} for cid, c in obj.items]
        return {"type": "node", "level": obj.level, "items": items}
    if isinstance(obj, Snapshot):
        return {"type": "snap", "count": obj.count, "root": obj.root.hex() if obj.root else None,
                "tail": [{"blob": e.blob.hex(), "flags": e.flags} for e in obj.tail]}
    assert isinstance(obj, Commit)
    return {"type": "commit", "parents": [p.hex() for p in obj.parents],
            "snapshot": obj.snapshot.hex(), "op": obj.op, "blobs": [b.hex() for b in obj.blobs],
            "targets": list(obj.targets), "message": obj.message, "author": obj.author,
            "time_ms": obj.time_ms, "tz_min": obj.tz_min, "tokens": obj.tokens,
            "total_tokens": obj.total_tokens, "encoding": obj.encoding,
            "meta": to_jsonable(obj.meta)}


def cat_object(repo: Repository, rev: str) -> TraceObject:
    return repo.get(repo.resolve_object(rev))


# -- snapshots --------------------------------------------------------------------------------
def parse_entries(pairs: Iterable[Sequence]) -> list:
    out = []
    for i, pair in enumerate(pairs):
        if len(pair) not in (1, 2):
            raise InputError(f"entry {i}: expected '<blob id> [flags]'")
        blob = pair[0]
        flags = pair[1] if len(pair) == 2 else 0
        if not isinstance(blob, str) or not is_hex_id(blob):
            raise InputError(f"entry {i}: {str(blob)[:70]!r} is not a full blob id")
        try:
            if isinstance(flags, (bool, float)):
                raise ValueError
            flags = int(flags)
        except (TypeError, ValueError):
            raise InputError(f"entry {i}: flags must be an integer") from None
        if not 0 <= flags < 2**32:
            raise InputError(f"entry {i}: flags out of range")
        out.append(Entry(from_hex(blob), flags))
    return out


def write_snapshot(repo: Repository, entries: Sequence[Entry], verify: bool = True) -> Snapshot:
    """Store the canonical snapshot of `entries` (each blob must exist unless verify=False)."""
    if verify:
        for e in entries:
            repo.get_blob(e.blob)
    nodes: list = []
    snap = chunked.build(entries, nodes.append)
    repo.write([*nodes, snap])
    return snap


def snapshot_of(repo: Repository, rev: str) -> Snapshot:
    """The snapshot named by `rev`: a snapshot id, or a commit (revision) whose snapshot it is."""
    obj = repo.get(repo.resolve_object(rev))
    if isinstance(obj, Commit):
        return repo.get_snapshot(obj.snapshot)
    if isinstance(obj, Snapshot):
        return obj
    raise RevisionError(f"{rev} names a {obj.tag}, not a commit or snapshot")


def snapshot_entries(repo: Repository, snap: Snapshot) -> list:
    return chunked.entries(snap, repo.get_node)


# -- tokens -----------------------------------------------------------------------------------
def count_entries(repo: Repository, entries: Sequence[Entry]) -> int:
    """Tokens of a context made of these entries (framing and reply priming included)."""
    from .tokens import REPLY_PRIMING
    if not entries:
        return 0
    return sum(repo.blob_tokens(e.blob) for e in entries) + REPLY_PRIMING


# -- commits ----------------------------------------------------------------------------------
def commit_tree(repo: Repository, snapshot: RawId, parents: Sequence[RawId], *, op: str = "append",
                message: str = "", author: Optional[str] = None, blobs: Sequence[RawId] = (),
                targets: Sequence[int] = (), time_ms: Optional[int] = None, tz_min: Optional[int] = None,
                meta: Optional[dict] = None, tokens: Optional[int] = None,
                total_tokens: Optional[int] = None) -> Commit:
    """Create a commit object for an existing snapshot and parents (no ref moves)."""
    snap = repo.get_snapshot(snapshot)
    for p in parents:
        repo.get_commit(p)
    for b in blobs:
        repo.get_blob(b)
    if total_tokens is None:
        total_tokens = count_entries(repo, snapshot_entries(repo, snap))
    if tokens is None:
        tokens = sum(repo.blob_tokens(b) for b in blobs)
    now_ms, tz = now_and_tz()
    commit = Commit(parents=parents, snapshot=snapshot, op=op, blobs=blobs, targets=targets,
                    message=message, author=author if author is not None else repo.who,
                    time_ms=now_ms if time_ms is None else time_ms,
                    tz_min=tz if tz_min is None else tz_min, tokens=tokens,
                    total_tokens=total_tokens, encoding=repo.encoding, meta=meta)
    repo.write([commit])
    return commit


def now_and_tz() -> tuple:
    t = time.time()
    lt = time.localtime(t)
    return int(t * 1000), int((lt.tm_gmtoff or 0) // 60)


# -- refs -------------------------------------------------------------------------------------
def update_ref(repo: Repository, name: str, new: Optional[str], old: Optional[str] = None, *,
               delete: bool = False, message: str = "", deref: bool = True) -> None:
    """Set (or delete) a ref, checking it still holds `old` when given (compare-and-swap)."""
    from .refs import ANY
    expected: Any = ANY
    if old is not None:
        expected = None if old in ("", ZERO_HEX) else to_hex(repo.resolve_object(old))
    if delete:
        repo.refs.remove_if_equals(name, expected, message=message, deref=deref)
        return
    if new is None:
        raise InputError("update-ref needs a new value")
    target = to_hex(repo.resolve(new))
    repo.refs.set_if_equals(name, expected, target, message=message, deref=deref)


def rev_parse(repo: Repository, expr: str) -> str:
    return to_hex(repo.resolve_object(expr))


def for_each_ref(repo: Repository, prefix: str = "refs/") -> list:
    """(name, commit hex or None, symbolic target or None) for every ref under `prefix`."""
    out = []
    for name, raw in repo.refs.list(prefix):
        if raw.startswith("ref:"):
            out.append((name, repo.refs.resolve(name), raw[4:]))
        else:
            out.append((name, raw, None))
    return out


def rev_list(repo: Repository, include: Sequence[str], exclude: Sequence[str] = (),
             limit: Optional[int] = None, first_parent: bool = False) -> list:
    inc = [repo.resolve(r) for r in include]
    exc = [repo.resolve(r) for r in exclude]
    return list(repo.index.walk(inc, exclude=exc, limit=limit, first_parent=first_parent))


def merge_base(repo: Repository, a: str, b: str, all_bases: bool = False) -> list:
    bases = repo.index.merge_bases(repo.resolve(a), repo.resolve(b))
    return [to_hex(x) for x in (bases if all_bases else bases[:1])]


# -- storage ----------------------------------------------------------------------------------
def count_objects(repo: Repository) -> dict:
    import os
    store = repo.store
    store.refresh()
    packs = store.packs()
    pack_bytes = 0
    for p in packs:
        for path in (p.pack_path, p.idx_path):
            try:
                pack_bytes += os.path.getsize(path)
            except FileNotFoundError:
                pass
    journals = {}
    for oid, loc in store.journal_locations().items():
        journals.setdefault(loc[0], 0)
        journals[loc[0]] += 1
    journal_bytes = 0
    for path in journals:
        try:
            journal_bytes += os.path.getsize(path)
        except FileNotFoundError:
            pass
    return {"packs": len(packs), "packed_objects": sum(p.count for p in packs),
            "pack_bytes": pack_bytes, "journals": len(journals),
            "journal_objects": sum(journals.values()), "journal_bytes": journal_bytes}


def verify_pack(repo: Repository, name: str) -> list:
    """Problems found in one pack (checksums, every block, every object's hash); [] if sound."""
    from .errors import PackError, TraceError
    from .ids import hash_bytes
    from .storage.pack import Pack
    if name.startswith("pack-"):
        name = name[5:]
    for ext in (".pack", ".idx"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if not is_hex_id(name):
        raise InputError(f"{name!r} is not a pack name")
    try:
        pack = Pack(repo.store.pack_dir, name)
    except FileNotFoundError:
        raise InputError(f"no pack {name}") from None
    except PackError as exc:
        return [str(exc)]
    problems = []
    try:
        if not pack.verify_index_checksum():
            problems.append(f"pack {name}: index checksum mismatch")
        if not pack.verify_pack_checksum():
            problems.append(f"pack {name}: pack checksum mismatch")
        seen = 0
        for b in range(pack.nblocks):
            try:
                recs = pack.read_block(b, repo.store.opts.max_object_size)
            except (TraceError, OSError) as exc:
                problems.append(str(exc))
                continue
            for oid, data in recs.items():
                seen += 1
                if hash_bytes(bytes(data)) != oid:
                    problems.append(f"object {oid.hex()} in pack {name} does not hash to its id")
        if seen != pack.count:
            problems.append(f"pack {name}: index lists {pack.count} objects, blocks hold {seen}")
    finally:
        pack.close()
    return problems
