"""Immutable typed objects (blob, node, snapshot, commit) and their canonical byte forms; no I/O.

Every object encodes as a canonical msgpack array whose first element is its type tag, and is
named by the blake3 digest of exactly those bytes (docs/FORMAT.md, "Objects").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import Any

from . import canonical
from .errors import InputError, MalformedObject
from .ids import ID_LEN, RawId, hash_bytes, to_hex

MAX_OBJECT_SIZE = 64 * 1024 * 1024

TAG_BLOB = "blob"
TAG_NODE = "node"
TAG_SNAP = "snap"
TAG_COMMIT = "commit"
TAGS = (TAG_BLOB, TAG_NODE, TAG_SNAP, TAG_COMMIT)
TYPE_CODES = {TAG_BLOB: 1, TAG_NODE: 2, TAG_SNAP: 3, TAG_COMMIT: 4}
CODE_TAGS = {v: k for k, v in TYPE_CODES.items()}

FLAG_PINNED = 1

_OP_RE = re.compile(r"[a-z][a-z0-9-]{0,31}\Z")
OPERATIONS = ("init", "append", "edit", "pin", "unpin", "drop", "compress", "reorder",
              "merge", "spawn", "collapse", "revert", "cherry-pick", "import")


class TraceObject:
    """Base of the object kinds: `tag`, `to_bytes()`, `from_bytes()`, `id`, `check()`."""

    __slots__ = ("_bytes", "_id")
    _bytes: bytes | None
    _id: RawId | None
    tag = ""

    def _payload(self) -> list:
        raise NotImplementedError

    def to_bytes(self) -> bytes:
        b = self._bytes
        if b is None:
            b = canonical.encode([self.tag, *self._payload()])
            if len(b) > MAX_OBJECT_SIZE:
                from .errors import ObjectTooLarge
                raise ObjectTooLarge(f"{self.tag} of {len(b)} bytes exceeds {MAX_OBJECT_SIZE}")
            object.__setattr__(self, "_bytes", b)
        return b

    @property
    def id(self) -> RawId:
        i = self._id
        if i is None:
            i = hash_bytes(self.to_bytes())
            object.__setattr__(self, "_id", i)
        return i

    @property
    def hex(self) -> str:
        return to_hex(self.id)

    def check(self) -> None:
        """Re-parse our own bytes and verify they decode to an equal object."""
        again = parse_object(self.to_bytes())
        if again.to_bytes() != self.to_bytes():
            raise MalformedObject(f"{self.tag} does not round-trip")

    @classmethod
    def from_bytes(cls, data: bytes) -> TraceObject:
        obj = parse_object(data)
        if not isinstance(obj, cls):
            raise MalformedObject(f"expected a {cls.tag} object, found {obj.tag}")
        return obj

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def __eq__(self, other: object) -> bool:
        return isinstance(other, TraceObject) and self.to_bytes() == other.to_bytes()

    def __hash__(self) -> int:
        return hash(self.id)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.hex[:12]}>"

    def _init(self, **fields: Any) -> None:
        object.__setattr__(self, "_bytes", None)
        object.__setattr__(self, "_id", None)
        for k, v in fields.items():
            object.__setattr__(self, k, v)


class Blob(TraceObject):
    """One content block: a chat message (role, content, provider fields) kept losslessly."""

    __slots__ = ("message",)
    message: dict
    tag = TAG_BLOB

    def __init__(self, message: dict) -> None:
        if not isinstance(message, dict):
            raise InputError("a message must be a JSON object (a dict)")
        role = message.get("role")
        if role is not None and not isinstance(role, str):
            raise InputError("a message's role must be a string")
        # depth=1: the message sits in the object's array (docs/FORMAT.md §5, nesting)
        self._init(message=canonical.normalize(message, depth=1))

    @property
    def role(self) -> str | None:
        return self.message.get("role")

    def _payload(self) -> list:
        return [self.message]


class Entry:
    """One position in a context: a blob id plus flags (bit 0: pinned). Immutable."""

    __slots__ = ("blob", "flags")
    blob: bytes
    flags: int

    def __init__(self, blob: bytes, flags: int = 0) -> None:
        if not isinstance(blob, bytes) or len(blob) != ID_LEN:
            raise InputError("an entry's blob id must be 32 raw bytes")
        if not isinstance(flags, int) or not 0 <= flags < 2**32:
            raise InputError("entry flags must be a 32-bit unsigned integer")
        object.__setattr__(self, "blob", blob)
        object.__setattr__(self, "flags", flags)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Entry is immutable")

    @property
    def pinned(self) -> bool:
        return bool(self.flags & FLAG_PINNED)

    def with_flags(self, flags: int) -> Entry:
        return Entry(self.blob, flags)

    def to_list(self) -> list:
        return [self.blob, self.flags]

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Entry) and self.blob == other.blob and self.flags == other.flags

    def __hash__(self) -> int:
        return hash((self.blob, self.flags))

    def __repr__(self) -> str:
        return f"Entry({self.blob.hex()[:12]}, flags={self.flags})"


class Node(TraceObject):
    """A chunk of a snapshot's tree: level 0 holds entries, level n>0 holds [child id, count]."""

    __slots__ = ("level", "items")
    level: int
    items: tuple[Any, ...]  # level 0: Entry; above: (child id, count)
    tag = TAG_NODE

    def __init__(self, level: int, items: Sequence) -> None:
        if not isinstance(level, int) or not 0 <= level <= 16:
            raise InputError("node level out of range")
        if not items:
            raise InputError("a node holds at least one item")
        self._init(level=level, items=tuple(items))

    def count(self) -> int:
        if self.level == 0:
            return len(self.items)
        return sum(c for _, c in self.items)

    def _payload(self) -> list:
        if self.level == 0:
            return [0, [e.to_list() for e in self.items]]
        return [self.level, [[cid, c] for cid, c in self.items]]


class Snapshot(TraceObject):
    """A context at one commit: a canonical tree of sealed chunks plus an unsealed tail."""

    __slots__ = ("count", "root", "tail")
    count: int
    root: bytes | None
    tail: tuple[Entry, ...]
    tag = TAG_SNAP

    def __init__(self, count: int, root: bytes | None, tail: Sequence[Entry]) -> None:
        self._init(count=count, root=root, tail=tuple(tail))

    def _payload(self) -> list:
        return [self.count, self.root, [e.to_list() for e in self.tail]]


class Commit(TraceObject):
    """One step of history: parents, snapshot, operation, carried blobs, tokens, metadata."""

    __slots__ = ("parents", "snapshot", "op", "blobs", "targets", "message", "author",
                 "time_ms", "tz_min", "tokens", "total_tokens", "encoding", "meta")
    parents: tuple[bytes, ...]
    snapshot: bytes
    op: str
    blobs: tuple[bytes, ...]
    targets: tuple[int, ...]
    message: str
    author: str
    time_ms: int
    tz_min: int
    tokens: int
    total_tokens: int
    encoding: str
    meta: dict
    tag = TAG_COMMIT

    def __init__(self, *, parents: Iterable[bytes], snapshot: bytes, op: str,
                 blobs: Iterable[bytes] = (), targets: Iterable[int] = (), message: str = "",
                 author: str = "", time_ms: int = 0, tz_min: int = 0, tokens: int = 0,
                 total_tokens: int = 0, encoding: str = "", meta: dict | None = None) -> None:
        parents = tuple(parents)
        blobs = tuple(blobs)
        targets = tuple(targets)
        for ids in (parents, blobs, (snapshot,)):
            for oid in ids:
                if not isinstance(oid, bytes) or len(oid) != ID_LEN:
                    raise InputError("commit ids must be 32 raw bytes")
        if not isinstance(op, str) or not _OP_RE.match(op):
            raise InputError(f"invalid operation type {op!r}")
        for t in targets:
            if not isinstance(t, int) or t < 0:
                raise InputError("commit targets must be non-negative integers")
        if not (isinstance(message, str) and isinstance(author, str)
                and isinstance(encoding, str)):
            for name, v in (("message", message), ("author", author), ("encoding", encoding)):
                if not isinstance(v, str):
                    raise InputError(f"commit {name} must be a string")
        for field, n in (("time_ms", time_ms), ("tz_min", tz_min), ("tokens", tokens),
                         ("total_tokens", total_tokens)):
            if type(n) is not int and (not isinstance(n, int) or isinstance(n, bool)):
                raise InputError(f"commit {field} must be an integer")
        if not -1440 < tz_min < 1440:
            raise InputError("commit timezone offset out of range")
        meta = canonical.normalize(meta, depth=2) if meta else {}  # in the map, in the array
        # what TraceObject._init does, written out: a commit is made on every append, and the
        # loop and kwargs dict of _init cost it measurably (issue 17)
        put = object.__setattr__
        put(self, "_bytes", None)
        put(self, "_id", None)
        put(self, "parents", parents)
        put(self, "snapshot", snapshot)
        put(self, "op", op)
        put(self, "blobs", blobs)
        put(self, "targets", targets)
        put(self, "message", message)
        put(self, "author", author)
        put(self, "time_ms", time_ms)
        put(self, "tz_min", tz_min)
        put(self, "tokens", tokens)
        put(self, "total_tokens", total_tokens)
        put(self, "encoding", encoding)
        put(self, "meta", meta)

    def _payload(self) -> list:
        # keys in canonical (UTF-8 byte) order
        return [{
            "author": self.author,
            "blobs": list(self.blobs),
            "encoding": self.encoding,
            "message": self.message,
            "meta": self.meta,
            "op": self.op,
            "parents": list(self.parents),
            "snapshot": self.snapshot,
            "targets": list(self.targets),
            "time": self.time_ms,
            "tokens": self.tokens,
            "total": self.total_tokens,
            "tz": self.tz_min,
        }]

    @property
    def summary(self) -> str:
        return self.message.split("\n", 1)[0]


_COMMIT_KEYS = ("author", "blobs", "encoding", "message", "meta", "op", "parents", "snapshot",
                "targets", "time", "tokens", "total", "tz")


def parse_object(data: bytes, max_len: int = MAX_OBJECT_SIZE, strict: bool = True) -> TraceObject:
    """Decode canonical bytes into an object; raise MalformedObject for anything else.

    (A node or snapshot holds no map and no float once `_build` accepts it, so its canonical
    form is its plain re-encoding: the strict check is that comparison, without
    canonical.normalize's copy of every entry.)"""
    shallow = strict and data[1:6] in (b"\xa4node", b"\xa4snap")
    value = canonical.decode(data, max_len, strict and not shallow)
    try:
        obj = _build(value)
    except InputError as exc:
        raise MalformedObject(str(exc)) from None
    except (TypeError, ValueError, IndexError, KeyError) as exc:
        raise MalformedObject(f"bad object structure: {type(exc).__name__}") from None
    if shallow and canonical.encode(value) != data:
        raise MalformedObject("not in canonical msgpack form")
    object.__setattr__(obj, "_bytes", bytes(data))
    return obj


def _checked_entries(raw: Any) -> list:
    """`raw` if it is a list of encoded entries ([32-byte blob id, 32-bit flags]), else
    MalformedObject: Entry's checks, inlined (snapshots and nodes carry many entries)."""
    if type(raw) is not list:
        raise MalformedObject("entries must be an array")
    for item in raw:
        if (type(item) is not list or len(item) != 2 or type(item[0]) is not bytes
                or len(item[0]) != ID_LEN or type(item[1]) is not int
                or not 0 <= item[1] < 2**32):
            if isinstance(item, list) and len(item) == 2:
                Entry(item[0], item[1])  # raises InputError, worded as for a new entry
            raise MalformedObject("an entry must be [blob id, flags]")
    return raw


def _entries(raw: Any) -> list:
    out = []
    new, put = Entry.__new__, object.__setattr__
    for blob, flags in _checked_entries(raw):
        e = new(Entry)
        put(e, "blob", blob)
        put(e, "flags", flags)
        out.append(e)
    return out


def _entry_blobs(raw: Any) -> list:
    """The blob ids of encoded entries, checked as _entries checks them."""
    return [item[0] for item in _checked_entries(raw)]


def object_links(data: bytes, max_len: int = MAX_OBJECT_SIZE) -> tuple[list, list, Any]:
    """What an object's canonical bytes point at, without building the object (gc's walk):
    (objects to follow, blob ids it names, a commit's meta or None). Same checks on the
    pointers as parse_object; MalformedObject for anything else."""
    value = canonical.decode(data, max_len, strict=False)
    tag = value[0] if isinstance(value, list) and value else None
    try:
        if tag == TAG_COMMIT and len(value) == 2:
            m = value[1]
            parents, blobs, snap = m["parents"], m["blobs"], m["snapshot"]
            ids = [*parents, snap, *blobs]
            if not isinstance(m["meta"], dict):
                raise MalformedObject("bad commit field types")
            if any(type(i) is not bytes or len(i) != ID_LEN for i in ids):
                raise MalformedObject("commit ids must be 32 raw bytes")
            return [*parents, snap], list(blobs), m["meta"]
        if tag == TAG_SNAP and len(value) == 4:
            root = value[2]
            return ([] if root is None else [root]), _entry_blobs(value[3]), None
        if tag == TAG_NODE and len(value) == 3:
            if value[1] == 0:
                return [], _entry_blobs(value[2]), None
            kids = value[2]
            if not isinstance(kids, list) or any(
                    type(k) is not list or len(k) != 2 or type(k[0]) is not bytes
                    or len(k[0]) != ID_LEN for k in kids):
                raise MalformedObject("bad node child")
            return [k[0] for k in kids], [], None
        if tag == TAG_BLOB and len(value) == 2:
            return [], [], None
    except (TypeError, KeyError, IndexError, InputError) as exc:
        raise MalformedObject(f"bad object structure: {type(exc).__name__}") from None
    raise MalformedObject(f"unknown object type {tag!r} or wrong arity")


def _build(value: Any) -> TraceObject:
    if not isinstance(value, list) or not value or not isinstance(value[0], str):
        raise MalformedObject("an object is an array starting with its type tag")
    tag = value[0]
    if tag == TAG_BLOB and len(value) == 2:
        msg = value[1]
        if not isinstance(msg, dict):
            raise MalformedObject("blob payload must be a map")
        if not isinstance(msg.get("role", ""), str):
            raise MalformedObject("a message's role must be a string")
        # the one free-form part: the same depth limit as writing (and fsck's strict decode)
        canonical.check_depth(msg, depth=1)
        blob = Blob.__new__(Blob)  # decoded msgpack is already plain data: skip normalize()
        blob._init(message=msg)
        return blob
    if tag == TAG_NODE and len(value) == 3:
        level, items = value[1], value[2]
        if not isinstance(level, int) or not isinstance(items, list):
            raise MalformedObject("bad node")
        if level == 0:
            return Node(0, _entries(items))
        kids = []
        for it in items:
            if (not isinstance(it, list) or len(it) != 2 or not isinstance(it[0], bytes)
                    or len(it[0]) != ID_LEN or not isinstance(it[1], int) or it[1] <= 0):
                raise MalformedObject("bad node child")
            kids.append((it[0], it[1]))
        return Node(level, kids)
    if tag == TAG_SNAP and len(value) == 4:
        count, root, tail = value[1], value[2], value[3]
        if not isinstance(count, int) or count < 0:
            raise MalformedObject("bad snapshot count")
        if root is not None and (not isinstance(root, bytes) or len(root) != ID_LEN):
            raise MalformedObject("bad snapshot root")
        entries = _entries(tail)
        if count < len(entries) or (root is None and count != len(entries)):
            raise MalformedObject("snapshot count does not match its parts")
        return Snapshot(count, root, entries)
    if tag == TAG_COMMIT and len(value) == 2:
        m = value[1]
        if not isinstance(m, dict) or tuple(m) != _COMMIT_KEYS:
            raise MalformedObject("commit must be a map with exactly the commit keys")
        if not isinstance(m["parents"], list) or not isinstance(m["blobs"], list) \
                or not isinstance(m["targets"], list) or not isinstance(m["meta"], dict):
            raise MalformedObject("bad commit field types")
        return Commit(parents=m["parents"], snapshot=m["snapshot"], op=m["op"], blobs=m["blobs"],
                      targets=m["targets"], message=m["message"], author=m["author"],
                      time_ms=m["time"], tz_min=m["tz"], tokens=m["tokens"],
                      total_tokens=m["total"], encoding=m["encoding"], meta=m["meta"])
    raise MalformedObject(f"unknown object type {tag!r} or wrong arity")


def object_tag(data: bytes) -> str:
    """The type tag of canonical object bytes without decoding the whole object."""
    # fixarray marker, then a fixstr tag
    if len(data) < 2 or not 0x91 <= data[0] <= 0x9F:
        raise MalformedObject("not an object")
    n = data[1] - 0xA0
    if not 0 < n <= 8 or len(data) < 2 + n:
        raise MalformedObject("not an object")
    tag = data[2:2 + n].decode("ascii", "replace")
    if tag not in TYPE_CODES:
        raise MalformedObject(f"unknown object type {tag!r}")
    return tag
