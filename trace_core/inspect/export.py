"""Export bundles: every object and ref reachable from what is named, as JSON lines (docs/FORMAT.md,
"Bundles"), and the flat table of the messages each commit introduced (`export_messages`).

A bundle is a header line, one line per object in dependency order (what an object links to comes
before it: blobs and nodes before their snapshot, parents, snapshot and blobs before their commit,
meta links such as a spawn's child roots before the commit naming them), the refs, and an end line
with the counts. Each object line holds its canonical bytes (`raw`, base64: the source of truth,
so the importer recreates identical ids) and a readable view of the same fields (`object_line`),
which the importer checks against `raw`.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ..errors import TraceError
from ..ids import ZERO_HEX, is_hex_id, to_hex
from ..messages import kind
from ..objects import Blob, Commit, Node, Snapshot, TraceObject
from ..state import RepoState

BUNDLE_FORMAT = "trace-bundle"
BUNDLE_VERSION = 1
#: pseudo refs of an operation in progress (with MERGE_STATE, which a bundle does not carry):
#: never exported; HEAD, SPAWNED, COLLAPSED and ABANDONED are
TRANSIENT_REFS = ("ORIG_HEAD", "MERGE_HEAD", "REBASE_HEAD", "CHERRY_PICK_HEAD", "REVERT_HEAD")
#: the `type` of an object line for each object tag
LINE_TYPES = {"blob": "blob", "node": "node", "snap": "snapshot", "commit": "commit"}


def view(value: Any) -> Any:
    """The JSON form of a canonical value: byte strings as `{"$bin": hex}`, the rest as is."""
    if isinstance(value, bytes):
        return {"$bin": value.hex()}
    if isinstance(value, dict):
        return {k: view(v) for k, v in value.items()}
    if isinstance(value, list):
        return [view(v) for v in value]
    return value


def _entries(entries: Iterable) -> list:
    return [[to_hex(e.blob), e.flags] for e in entries]


def object_line(obj: TraceObject) -> dict:
    """The bundle line of `obj`: type, id, the readable fields, and `raw` (base64 of its bytes)."""
    line: dict[str, Any] = {"type": LINE_TYPES[obj.tag], "id": obj.hex}
    if isinstance(obj, Blob):
        line["message"] = view(obj.message)
    elif isinstance(obj, Node):
        line["level"] = obj.level
        if obj.level == 0:
            line["entries"] = _entries(obj.items)
        else:
            line["children"] = [[to_hex(cid), n] for cid, n in obj.items]
    elif isinstance(obj, Snapshot):
        line.update(count=obj.count, root=None if obj.root is None else to_hex(obj.root),
                    tail=_entries(obj.tail))
    elif isinstance(obj, Commit):
        line.update(parents=[to_hex(p) for p in obj.parents], snapshot=to_hex(obj.snapshot),
                    op=obj.op, blobs=[to_hex(b) for b in obj.blobs], targets=list(obj.targets),
                    message=obj.message, author=obj.author, time=obj.time_ms, tz=obj.tz_min,
                    tokens=obj.tokens, total=obj.total_tokens, encoding=obj.encoding,
                    meta=view(obj.meta))
    line["raw"] = base64.b64encode(obj.to_bytes()).decode("ascii")
    return line


def dumps(line: dict) -> str:
    """One bundle line: compact JSON (UTF-8 text kept as is) and a newline."""
    return json.dumps(line, ensure_ascii=False, separators=(",", ":")) + "\n"


# -- what is named --------------------------------------------------------------------------
def _ref_line(agent: str | None, name: str, raw: str) -> dict:
    if raw.startswith("ref:"):
        return {"type": "ref", "agent": agent, "name": name, "target": raw[4:]}
    return {"type": "ref", "agent": agent, "name": name, "id": raw}


def all_refs(repo: RepoState) -> list[dict]:
    """Ref lines of every ref of every namespace (transient pseudo refs left out)."""
    from ..gc import agent_of, namespaces
    out = []
    for prefix, refs in sorted(namespaces(repo), key=lambda p: p[0]):
        agent = agent_of(prefix)
        for name, raw in refs.list(""):
            if name not in TRANSIENT_REFS:
                out.append(_ref_line(agent, name, raw))
    return out


def named_refs(repo: RepoState, revs: Sequence[str]) -> tuple[list[dict], list[bytes]]:
    """(ref lines, commit ids) of revisions of this namespace: a rev that is a ref name brings
    its ref (HEAD: HEAD and its branch), any other revision only its commit."""
    from ..plumbing.revparse import resolve_ref_name, resolve_revision
    lines: list[dict] = []
    roots: list[bytes] = []
    for rev in revs:
        roots.append(resolve_revision(repo, rev))
        full = resolve_ref_name(repo, rev)
        if full is None:
            continue
        raw = repo.refs.read(full)
        names = [full]
        if raw is not None and raw.startswith("ref:"):
            names.append(raw[4:])
        for name in names:
            value = repo.refs.read(name)
            line = None if value is None else _ref_line(repo.agent_name, name, value)
            if line is not None and line not in lines:
                lines.append(line)
    return lines, roots


def _roots(refs: list[dict]) -> list[bytes]:
    return [bytes.fromhex(r["id"]) for r in refs
            if "id" in r and is_hex_id(r["id"]) and r["id"] != ZERO_HEX]


# -- the walk ---------------------------------------------------------------------------------
def links(obj: TraceObject) -> list[bytes]:
    """The ids `obj` must be preceded by, meta links aside: a commit's parents, snapshot and
    blobs; a snapshot's root and tail blobs; a node's children or entry blobs."""
    if isinstance(obj, Commit):
        return [*obj.parents, obj.snapshot, *obj.blobs]
    if isinstance(obj, Snapshot):
        return ([] if obj.root is None else [obj.root]) + [e.blob for e in obj.tail]
    if isinstance(obj, Node):
        return [e.blob for e in obj.items] if obj.level == 0 else [c for c, _ in obj.items]
    return []


def ordered_objects(repo: RepoState, roots: Iterable[bytes]) -> Iterator[TraceObject]:
    """Every object reachable from `roots`, each after everything it links to (a post-order
    walk, iterative: histories are deep). Links are gc's (gc.walk): a commit's parents,
    snapshot, blobs and the 32-byte ids in its meta that are stored objects (not those into
    pruned sub-agent history, retention.pruned_ids); a missing parent, snapshot, node or blob
    raises. Each object is read and decoded once (its bytes verified against its id)."""
    from ..gc import meta_ids
    from ..retention import pruned_ids
    stop = pruned_ids(repo.trace_dir)
    store = repo.store
    done: set = set()
    stack: list = [(r, None, False) for r in reversed(list(roots))]
    while stack:
        oid, obj, soft = stack.pop()
        if oid in done:
            continue
        if obj is not None:   # its links are out: its turn
            done.add(oid)
            yield obj
            continue
        try:   # (through the decode cache: export_messages reads the blobs again)
            obj = store.get(oid)
        except TraceError:
            if soft:   # meta may hold 32-byte values that are not objects
                continue
            raise
        stack.append((oid, obj, False))
        if isinstance(obj, Commit):   # parents, snapshot, blobs; then its meta links
            for i in reversed([i for i in meta_ids(obj.meta) if i not in done and i not in stop]):
                stack.append((i, None, True))
        for k in reversed(links(obj)):
            if k not in done:
                stack.append((k, None, False))


def _named(repo: RepoState, revs: Sequence[str], all: bool) -> tuple[list, list]:
    """(ref lines, root ids) of `revs` (default HEAD) or, with `all`, of every ref."""
    if all:
        if revs:
            from ..errors import InputError
            raise InputError("export takes either --all or revisions, not both")
        refs = all_refs(repo)
        return refs, _roots(refs)
    return named_refs(repo, list(revs) or ["HEAD"])


def export(repo: RepoState, revs: Sequence[str] = (), all: bool = False) -> Iterator[str]:
    """The bundle of `revs` (revisions of this namespace; default HEAD) or, with `all`, of every
    ref of every agent namespace: its lines, each ending in a newline (docs/FORMAT.md, "Bundles";
    docs/inspect.md). Refs are read first, so the bundle is consistent with them."""
    refs, roots = _named(repo, revs, all)
    yield dumps({"type": "header", "format": BUNDLE_FORMAT, "version": BUNDLE_VERSION,
                 "encoding": repo.encoding})
    n = 0
    for obj in ordered_objects(repo, roots):
        n += 1
        yield dumps(object_line(obj))
    for r in refs:
        yield dumps(r)
    yield dumps({"type": "end", "objects": n, "refs": len(refs)})


# -- messages ---------------------------------------------------------------------------------
#: operations whose targets are the context positions of the messages they carry
_PLACED = ("append", "edit", "collapse")


def _iso(time_ms: int, tz_min: int) -> str:
    import datetime as dt
    tz = dt.timezone(dt.timedelta(minutes=tz_min))
    try:
        return dt.datetime.fromtimestamp(time_ms / 1000, tz).isoformat(timespec="milliseconds")
    except (OverflowError, OSError, ValueError):
        return ""


def export_messages(repo: RepoState, revs: Sequence[str] = (),
                    all: bool = False) -> Iterator[dict]:
    """One row per message per commit, for the commits `export` would carry (in the same order:
    parents first): the messages a commit *introduced* (its carried blobs: the appended or edited
    message, a compression's summary, a collapse's result), not its whole context. Keys: agent
    (the commit's author: an agent's commits are authored by its name), commit, op, index (the
    message's place among the commit's), position (its place in the context, for append, edit and
    collapse; else None), role, tokens (the message's, framing included), time (ISO 8601 with the
    commit's offset), time_ms, text (messages.message_text)."""
    from ..messages import message_text
    roots = _named(repo, revs, all)[1]
    for c in ordered_objects(repo, roots):
        if not isinstance(c, Commit):
            continue
        placed = c.op in _PLACED and len(c.targets) == len(c.blobs)
        for i, bid in enumerate(c.blobs):
            blob = repo.get_blob(bid)
            yield {"agent": c.author, "commit": c.hex, "op": c.op, "index": i,
                   "position": c.targets[i] if placed else None, "role": kind(blob.message),
                   "tokens": repo.blob_tokens(bid, blob), "time": _iso(c.time_ms, c.tz_min),
                   "time_ms": c.time_ms, "text": message_text(blob.message)}
