"""Objects: hash and write blobs, read any object, describe it as JSON, build and read snapshots,
create commit objects for existing snapshots (`commit-tree`)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from .. import chunked
from ..errors import InputError, RevisionError
from ..ids import RawId, from_hex, is_hex_id
from ..objects import Blob, Commit, Entry, Node, Snapshot, TraceObject
from ..state import RepoState
from .revparse import resolve_any


# -- objects ----------------------------------------------------------------------------------
def make_blob(message: Any) -> Blob:
    if not isinstance(message, dict):
        raise InputError("a message must be a JSON object such as "
                         "{\"role\": \"user\", \"content\": \"hi\"}")
    return Blob(message)


def hash_object(repo: RepoState | None, message: Any, write: bool = False) -> str:
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


def object_exists(repo: RepoState, rev: str) -> bool:
    """Whether `rev` names a stored object (`cat-object -e`); a malformed or ambiguous name is
    still an error."""
    from ..errors import MissingObject, RefNotFound
    try:
        repo.get(resolve_any(repo, rev))
    except (MissingObject, RefNotFound, RevisionError):
        return False
    return True


def cat_object(repo: RepoState, rev: str) -> TraceObject:
    return repo.get(resolve_any(repo, rev))


def cat_batch(repo: RepoState, names: Iterable[str]) -> Iterator[tuple]:
    """`cat-object --batch`: for each name as it arrives, (name, object, None), or (name, None,
    "missing" / "ambiguous") when it names no object or several. A damaged object or ref is
    still an error (it ends the batch), never reported as missing."""
    from ..errors import (
        AmbiguousObjectId,
        InvalidObjectId,
        InvalidRefName,
        MissingObject,
        RefNotFound,
    )
    for name in names:
        try:
            yield name, repo.get(resolve_any(repo, name)), None
        except AmbiguousObjectId:
            yield name, None, "ambiguous"
        except (MissingObject, RefNotFound, RevisionError, InvalidRefName, InvalidObjectId):
            yield name, None, "missing"


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


def write_snapshot(repo: RepoState, entries: Sequence[Entry], verify: bool = True) -> Snapshot:
    """Store the canonical snapshot of `entries` (each blob must exist unless verify=False)."""
    if verify:
        for e in entries:
            repo.get_blob(e.blob)
    nodes: list = []
    snap = chunked.build(entries, nodes.append)
    repo.write([*nodes, snap])
    return snap


def snapshot_of(repo: RepoState, rev: str) -> Snapshot:
    """The snapshot named by `rev`: a snapshot id, or a commit (revision) whose snapshot it is."""
    obj = repo.get(resolve_any(repo, rev))
    if isinstance(obj, Commit):
        return repo.get_snapshot(obj.snapshot)
    if isinstance(obj, Snapshot):
        return obj
    raise RevisionError(f"{rev} names a {obj.tag}, not a commit or snapshot")


def snapshot_entries(repo: RepoState, snap: Snapshot) -> list:
    return chunked.entries(snap, repo.get_node)


# -- commits ----------------------------------------------------------------------------------
def commit_tree(repo: RepoState, snapshot: RawId, parents: Sequence[RawId], *, op: str = "append",
                message: str = "", author: str | None = None, blobs: Sequence[RawId] = (),
                targets: Sequence[int] = (), time_ms: int | None = None, tz_min: int | None = None,
                meta: dict | None = None, tokens: int | None = None,
                total_tokens: int | None = None) -> Commit:
    """Create a commit object for an existing snapshot and parents (no ref moves)."""
    from .commit import count_entries, now_and_tz  # (not on cat-object's start-up path)
    snap = repo.get_snapshot(snapshot)
    for p in parents:
        repo.get_commit(p)
    for b in blobs:
        repo.get_blob(b)
    if total_tokens is None:
        total_tokens = count_entries(repo, snapshot_entries(repo, snap))
    if tokens is None:
        tokens = sum(repo.blob_tokens(b) for b in blobs)
    now_ms, tz = repo.commit_time or now_and_tz()
    commit = Commit(parents=parents, snapshot=snapshot, op=op, blobs=blobs, targets=targets,
                    message=message, author=author if author is not None else repo.who,
                    time_ms=now_ms if time_ms is None else time_ms,
                    tz_min=tz if tz_min is None else tz_min, tokens=tokens,
                    total_tokens=total_tokens, encoding=repo.encoding, meta=meta)
    repo.write([commit])
    return commit
