"""The chunked list behind every snapshot: a canonical, content-defined tree of entry chunks.

A snapshot's entries are cut into chunks left to right: a chunk ends after an entry whose blob id's
last byte is a multiple of 32, once the chunk holds at least MIN_LEAF entries, or at MAX_LEAF
entries. Complete chunks become level-0 nodes; the entries after the last complete chunk are the
snapshot's tail, stored inline. The list of [node id, entry count] pairs is cut the same way (by
the child id's last byte, INNER_MIN..INNER_MAX items) into level-1 nodes, and so on until one node
remains: the root. The tree is therefore a function of the entry list alone, so equal contexts
have equal snapshot ids and unchanged regions keep their node ids. Appending rewrites the tail and,
when a chunk completes, one node per level: a small bounded number of bytes whatever the length.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from .errors import InputError
from .objects import Entry, Node, Snapshot

LEAF_MASK = 0x1F
MIN_LEAF = 4
MAX_LEAF = 128
INNER_MASK = 0x1F
INNER_MIN = 2
INNER_MAX = 64

GetNode = Callable[[bytes], Node]
PutNode = Callable[[Node], None]
Ref = tuple[bytes, int]

EMPTY = Snapshot(0, None, ())


def leaf_done(chunk: Sequence[Entry]) -> bool:
    n = len(chunk)
    return n >= MAX_LEAF or (n >= MIN_LEAF and chunk[-1].blob[-1] & LEAF_MASK == 0)


def inner_done(chunk: Sequence[Ref]) -> bool:
    n = len(chunk)
    return n >= INNER_MAX or (n >= INNER_MIN and chunk[-1][0][-1] & INNER_MASK == 0)


def _ref(node: Node) -> Ref:
    return (node.id, node.count())


def build(entries: Sequence[Entry], put: PutNode) -> Snapshot:
    """The canonical snapshot of an entry list, writing its nodes through `put`."""
    return _chunk([], entries, put)


def _chunk(refs: list[Ref], entries: Sequence[Entry], put: PutNode) -> Snapshot:
    """The snapshot of the sealed leaves `refs` followed by `entries` cut into leaves."""
    cur: list[Entry] = []
    for e in entries:
        cur.append(e)
        if leaf_done(cur):
            node = Node(0, cur)
            put(node)
            refs.append(_ref(node))
            cur = []
    root = _build_levels(refs, 1, put) if refs else None
    return Snapshot(sum(n for _, n in refs) + len(cur), root, cur)


def _build_levels(refs: list[Ref], level: int, put: PutNode) -> bytes:
    while len(refs) > 1:
        out: list[Ref] = []
        cur: list[Ref] = []
        for r in refs:
            cur.append(r)
            if inner_done(cur):
                node = Node(level, cur)
                put(node)
                out.append(_ref(node))
                cur = []
        if cur:
            node = Node(level, cur)
            put(node)
            out.append(_ref(node))
        refs = out
        level += 1
    return refs[0][0]


def append(snap: Snapshot, new: Sequence[Entry], get: GetNode, put: PutNode) -> Snapshot:
    """`snap` with entries appended, rewriting only the tail and the right spine."""
    tail = list(snap.tail)
    root = snap.root
    root_count = snap.count - len(snap.tail)
    made: dict = {}     # nodes put by this call: `put` may only queue them for a later write

    def put_made(node: Node) -> None:
        made[node.id] = node
        put(node)

    def get_made(oid: bytes) -> Node:
        node = made.get(oid)
        return node if node is not None else get(oid)

    for e in new:
        tail.append(e)
        if leaf_done(tail):
            leaf = Node(0, tail)
            put_made(leaf)
            root, root_count = _push(root, root_count, _ref(leaf), get_made, put_made)
            tail = []
    return Snapshot(root_count + len(tail), root, tail)


def _push(root: bytes | None, root_count: int, item: Ref, get: GetNode,
          put: PutNode) -> tuple[bytes, int]:
    """Append a sealed leaf to the canonical tree rooted at `root`."""
    if root is None:
        return item
    spine: list[Node] = []
    node = get(root)
    while node.level > 0:
        spine.append(node)
        if node.level == 1:
            break
        node = get(node.items[-1][0])
    op_push, carry = True, item
    for node in reversed(spine):
        items = list(node.items)
        if op_push:
            if inner_done(items):
                fresh = Node(node.level, [carry])
                put(fresh)
                carry = _ref(fresh)
                continue
            items.append(carry)
        else:
            items[-1] = carry
        fresh = Node(node.level, items)
        put(fresh)
        carry, op_push = _ref(fresh), False
    if not op_push:
        return carry
    top_level = spine[0].level + 1 if spine else 1
    top = Node(top_level, [(root, root_count), carry])
    put(top)
    return _ref(top)


def iter_entries(snap: Snapshot, get: GetNode) -> Iterator[Entry]:
    if snap.root is not None:
        yield from _walk(snap.root, get)
    yield from snap.tail


def _walk(oid: bytes, get: GetNode) -> Iterator[Entry]:
    node = get(oid)
    if node.level == 0:
        yield from node.items
    else:
        for cid, _ in node.items:
            yield from _walk(cid, get)


def entries(snap: Snapshot, get: GetNode) -> list[Entry]:
    return list(iter_entries(snap, get))


def entry_at(snap: Snapshot, index: int, get: GetNode) -> Entry:
    """The entry at `index` (negative counts from the end) in O(depth) node reads."""
    if index < 0:
        index += snap.count
    if not 0 <= index < snap.count:
        raise InputError(f"entry {index} out of range (the context has {snap.count} entries)")
    tree_count = snap.count - len(snap.tail)
    if index >= tree_count:
        return snap.tail[index - tree_count]
    node = get(snap.root)  # type: ignore[arg-type]
    while node.level > 0:
        for cid, c in node.items:
            if index < c:
                node = get(cid)
                break
            index -= c
    return node.items[index]


def node_ids(snap: Snapshot, get: GetNode) -> Iterator[bytes]:
    """Every node id reachable from the snapshot (for reachability and fsck)."""
    if snap.root is None:
        return
    stack = [snap.root]
    while stack:
        oid = stack.pop()
        yield oid
        node = get(oid)
        if node.level > 0:
            stack.extend(cid for cid, _ in node.items)


def leaves(snap: Snapshot, get: GetNode) -> tuple[list[Ref], tuple[Entry, ...]]:
    """The sealed leaf chunks of `snap` as (node id, entry count) left to right, and its tail.

    Only inner nodes are read: a 10,000-entry context costs a handful of node reads."""
    refs: list[Ref] = []
    if snap.root is not None:
        root = get(snap.root)
        if root.level == 0:
            refs.append((snap.root, len(root.items)))
        else:
            stack = [root]
            while stack:
                node = stack.pop()
                if node.level == 1:
                    refs.extend(node.items)
                else:  # children left to right: push them reversed
                    stack.extend(get(cid) for cid, _ in reversed(node.items))
    return refs, snap.tail


def entries_between(refs: Sequence[Ref], tail: Sequence[Entry], start: int, end: int,
                    get: GetNode) -> list[Entry]:
    """Entries [start, end) of the list made of the leaves `refs` followed by `tail`."""
    out: list[Entry] = []
    pos = 0
    for oid, n in refs:
        if pos >= end:
            return out
        if pos + n > start:
            items = get(oid).items
            out.extend(items[max(0, start - pos): end - pos])
        pos += n
    if end > pos:
        out.extend(tail[max(0, start - pos): end - pos])
    return out


def appended(base: Snapshot, snap: Snapshot, get: GetNode) -> list[Entry] | None:
    """The entries appended to `base` to make `snap`, or None when `snap` is not `base` with
    entries appended. Proved by the leaves: `base`'s sealed leaves are the first of `snap`'s
    (leaf ids are content hashes: equal ids, equal entries) and `base`'s tail equals the entries
    of `snap` that follow them; only inner nodes and the leaves holding those entries are
    read."""
    k = snap.count - base.count
    if k < 0:
        return None
    if k == 0:
        return [] if snap.id == base.id else None
    brefs, btail = leaves(base, get)
    srefs, stail = leaves(snap, get)
    if srefs[:len(brefs)] != brefs:
        return None
    start = base.count - len(btail)
    if entries_between(srefs, stail, start, base.count, get) != list(btail):
        return None
    return entries_between(srefs, stail, base.count, snap.count, get)


def splice(snap: Snapshot, start: int, end: int, new: Sequence[Entry], get: GetNode,
           put: PutNode) -> Snapshot:
    """The canonical snapshot of entries[:start] + new + entries[end:], reusing every sealed
    leaf that lies wholly before `start` (chunk boundaries depend only on the entries from the
    start of the list, so those leaves are unchanged)."""
    if not 0 <= start <= end <= snap.count:
        raise InputError(f"splice range {start}:{end} out of range (count {snap.count})")
    refs, tail = leaves(snap, get)
    keep: list[Ref] = []
    pos = 0
    for r in refs:
        if pos + r[1] > start:
            break
        keep.append(r)
        pos += r[1]
    rest = entries_between(refs, tail, pos, start, get)
    rest.extend(new)
    rest.extend(entries_between(refs, tail, end, snap.count, get))
    return _chunk(keep, rest, put)
