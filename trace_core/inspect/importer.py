"""Import bundles: verify every line of a bundle, then write its objects as one pack and its refs
(docs/FORMAT.md, "Bundles"; docs/inspect.md). Anything wrong stops the import before anything is
written, with a one-line error naming the line."""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from ..errors import InputError, RefConflict, TraceError
from ..ids import hash_bytes, is_hex_id
from ..objects import MAX_OBJECT_SIZE, TraceObject, parse_object
from ..state import RepoState
from .export import BUNDLE_FORMAT, BUNDLE_VERSION, LINE_TYPES, TRANSIENT_REFS, links, object_line

#: the longest line read: an object's base64 bytes plus its readable view (JSON escapes can make
#: that several times the object), bounded so a damaged bundle cannot exhaust memory
MAX_LINE_BYTES = 3 * MAX_OBJECT_SIZE
MAX_SYMREF_DEPTH = 5
_TYPES = {v: k for k, v in LINE_TYPES.items()}


@dataclass
class ImportReport:
    """What an import did; `report.__dict__` is its JSON form."""

    objects: int = 0          #: object lines in the bundle
    written: int = 0          #: of them, not already in the repository
    refs: list = field(default_factory=list)      #: [agent, name, value] of each ref set
    unchanged: int = 0        #: refs that already held the bundle's value


def _lines(source: IO[bytes], max_line: int) -> Iterator[tuple[int, bytes]]:
    n = 0
    while True:
        line = source.readline(max_line + 1)
        if not line:
            return
        n += 1
        if len(line) > max_line:
            raise InputError(f"bundle line {n}: longer than {max_line} bytes")
        yield n, line


def _no_dupes(pairs: list) -> dict:
    d = dict(pairs)
    if len(d) != len(pairs):
        raise ValueError("duplicate key")
    return d


def _parse(n: int, line: bytes) -> dict:
    try:
        value = json.loads(line, object_pairs_hook=_no_dupes)
    except (ValueError, RecursionError):
        raise InputError(f"bundle line {n}: not a JSON object") from None
    if not isinstance(value, dict) or not isinstance(value.get("type"), str):
        raise InputError(f"bundle line {n}: not a bundle line (a JSON object with a type)")
    return value


def _object(n: int, line: dict) -> TraceObject:
    """The object of an object line, its id, bytes and readable fields checked."""
    raw = line.get("raw")
    if not isinstance(raw, str) or len(raw) > (MAX_OBJECT_SIZE + 2) // 3 * 4:
        raise InputError(f"bundle line {n}: no raw bytes, or more than {MAX_OBJECT_SIZE}")
    try:
        data = base64.b64decode(raw, validate=True)
    except (binascii.Error, ValueError):
        raise InputError(f"bundle line {n}: raw is not base64") from None
    oid = line.get("id")
    if not is_hex_id(oid):
        raise InputError(f"bundle line {n}: id is not a 64-digit hex object id")
    if hash_bytes(data).hex() != oid:
        raise InputError(f"bundle line {n}: hash mismatch: the raw bytes are not object {oid}")
    try:
        obj = parse_object(data)
    except TraceError as exc:
        raise InputError(f"bundle line {n}: malformed object {oid[:12]}: {exc}") from None
    if LINE_TYPES[obj.tag] != line["type"]:
        raise InputError(f"bundle line {n}: type {line['type']} but the bytes are a "
                          f"{LINE_TYPES[obj.tag]}")
    want = object_line(obj)
    if want != line:
        bad = sorted(k for k in want.keys() | line.keys() if want.get(k) != line.get(k))
        raise InputError(f"bundle line {n}: the readable fields disagree with the raw bytes "
                          f"({', '.join(bad)})")
    return obj


def _ref(n: int, line: dict) -> tuple[str | None, str, str]:
    """(agent path or None, ref name, value: hex id or `ref:<target>`) of a ref line."""
    from ..refs import check_ref_format, check_writable
    from ..refs.names import check_agent_path
    keys = set(line)
    agent, name = line.get("agent"), line.get("name")
    try:
        if keys not in ({"type", "agent", "name", "id"}, {"type", "agent", "name", "target"}):
            raise InputError("a ref line has type, agent, name and one of id or target")
        if agent is not None:
            check_agent_path(agent)
        if not isinstance(name, str):
            raise InputError("a ref name must be a string")
        check_writable(name)
        if name in TRANSIENT_REFS:   # a stopped operation's or a reset's: not history
            raise InputError(f"{name} belongs to a stopped operation; it is not imported")
        if "target" in line:
            target = line["target"]
            if not isinstance(target, str):
                raise InputError("a symbolic ref's target must be a string")
            check_ref_format(target)
            if not target.startswith("refs/heads/" if name == "HEAD" else "refs/"):
                raise InputError(f"{name} may not point at {target}")
            return agent, name, f"ref:{target}"
        if not is_hex_id(line["id"]):
            raise InputError("a ref's id must be a 64-digit hex object id")
        return agent, name, line["id"]
    except TraceError as exc:
        raise InputError(f"bundle line {n}: bad ref: {exc}") from None


def read_bundle(repo: RepoState, source: IO[bytes], max_line: int | None = None
                ) -> tuple[dict, list[TraceObject], list[tuple]]:
    """(header, objects in bundle order, refs) of a whole bundle, every line verified: ids
    re-hashed, readable fields compared with the bytes, every link of an object (parents,
    snapshot, nodes, blobs; not meta links, which may name anything) earlier in the bundle or
    already in `repo`, every ref naming a commit of either, counts matching the end line."""
    lines = _lines(source, MAX_LINE_BYTES if max_line is None else max_line)
    first = next(lines, None)
    if first is None:
        raise InputError("empty bundle: no header line")
    header = _parse(*first)
    if header.get("type") != "header" or header.get("format") != BUNDLE_FORMAT:
        raise InputError(f"bundle line 1: not a {BUNDLE_FORMAT} header")
    if type(header.get("version")) is not int or header.get("version") != BUNDLE_VERSION:
        raise InputError(f"bundle line 1: unsupported bundle version {header.get('version')!r} "
                          f"(this build reads version {BUNDLE_VERSION})")
    objects: list[TraceObject] = []
    tags: dict[bytes, str] = {}
    refs: list[tuple] = []
    end = None
    n = 1
    for n, raw in lines:
        if end is not None:
            raise InputError(f"bundle line {n}: a line after the end line")
        line = _parse(n, raw)
        kind = line["type"]
        if kind in _TYPES:
            if refs:
                raise InputError(f"bundle line {n}: an object after the refs")
            obj = _object(n, line)
            _check_links(repo, n, obj, tags)
            tags[obj.id] = obj.tag
            objects.append(obj)
        elif kind == "ref":
            ref = _ref(n, line)
            if ref[2][:4] != "ref:":
                _check_commit(repo, n, bytes.fromhex(ref[2]), tags)
            if any(r[:2] == ref[:2] for r in refs):
                raise InputError(f"bundle line {n}: ref {ref[1]} given twice")
            refs.append(ref)
        elif kind == "end":
            end = line
            if type(end.get("objects")) is not int or type(end.get("refs")) is not int or \
                    end.get("objects") != len(objects) or end.get("refs") != len(refs):
                raise InputError(f"bundle line {n}: the end line counts {end.get('objects')!r} "
                                  f"objects and {end.get('refs')!r} refs; the bundle holds "
                                  f"{len(objects)} and {len(refs)}")
        else:
            raise InputError(f"bundle line {n}: unknown line type {kind!r:.40}")
    if end is None:
        raise InputError(f"truncated bundle: no end line after line {n}")
    return header, objects, refs


def _check_links(repo: RepoState, n: int, obj: TraceObject, tags: dict) -> None:
    for oid in links(obj):
        if oid not in tags and not repo.store.has(oid):
            raise InputError(f"bundle line {n}: {LINE_TYPES[obj.tag]} {obj.hex[:12]} links to "
                              f"{oid.hex()[:12]}, neither earlier in the bundle nor in this "
                              "repository")


def _check_commit(repo: RepoState, n: int, oid: bytes, tags: dict) -> None:
    tag = tags.get(oid)
    if tag is None and repo.store.has(oid):
        tag = repo.store.get(oid).tag
    if tag != "commit":
        raise InputError(f"bundle line {n}: the ref names {oid.hex()[:12]}, which is not a "
                          "commit of the bundle or of this repository")


# -- refs -------------------------------------------------------------------------------------
def _mapped(refs: list[tuple], namespace: str | None) -> list[tuple]:
    """(agent, name, value) as they are written: as given, or under
    `refs/imported/<namespace>/` of the root namespace (`agents/a/agents/b/` before the name of
    a ref of agent `a/b`; a symbolic ref's target mapped the same way)."""
    if namespace is None:
        return refs
    from ..refs import check_ref_format
    base = f"refs/imported/{namespace}"
    try:
        check_ref_format(f"{base}/HEAD")
    except TraceError as exc:
        raise InputError(f"bad namespace {namespace!r}: {exc}") from None

    def place(agent: str | None, name: str) -> str:
        inner = "".join(f"agents/{p}/" for p in agent.split("/")) if agent else ""
        rest = name[5:] if name.startswith("refs/") else name
        return f"{base}/{inner}{rest}"

    out = []
    for agent, name, value in refs:
        if value.startswith("ref:"):
            value = "ref:" + place(agent, value[4:])
        out.append((None, place(agent, name), value))
    return out


def _store(repo: RepoState, agent: str | None) -> Any:
    """The RefStore of namespace `agent` (not created: a transaction creates its files)."""
    from ..refs import RefStore
    from ..refs.names import check_agent_path
    root = repo.trace_dir
    for part in check_agent_path(agent) if agent else []:
        root = os.path.join(root, "agents", part)
    return RefStore(root, durability=repo.durability, who=repo.who, top=repo.trace_dir,
                    head_required=agent is None)


def _plan(repo: RepoState, refs: list[tuple], force: bool) -> tuple[list, int]:
    """([(agent, name, current, new)] to write, refs already equal); RefConflict naming the
    first ref that holds another value (unless `force`). A HEAD on an unborn branch (a new
    repository's) is not a conflict."""
    todo, same = [], 0
    stores: dict = {}
    _check_symrefs(repo, refs, stores)
    for agent, name, value in refs:
        st = stores.get(agent) or stores.setdefault(agent, _store(repo, agent))
        current = st.read(name)
        if current == value:
            same += 1
            continue
        unborn_head = (name == "HEAD" and current is not None and current.startswith("ref:")
                       and st.resolve(name) is None)
        if current is not None and not force and not unborn_head:
            where = f" of agent {agent}" if agent else ""
            raise RefConflict(f"ref {name}{where} is {current[:16]} here but {value[:16]} in "
                              "the bundle; nothing imported (use --namespace or --force)")
        todo.append((agent, name, current, value))
    return todo, same


def _check_symrefs(repo: RepoState, refs: list[tuple], stores: dict) -> None:
    """InputError when a symbolic ref of the bundle, read with the bundle's refs over this
    repository's, would loop or nest deeper than MAX_SYMREF_DEPTH (it would make every listing
    of refs in the repository fail)."""
    given = {(agent, name): value for agent, name, value in refs}
    for agent, name, value in refs:
        seen = {name}
        cur = value
        for _ in range(MAX_SYMREF_DEPTH + 1):
            if cur is None or not cur.startswith("ref:"):
                break
            target = cur[4:]
            if target in seen:
                raise InputError(f"symbolic ref {name} of the bundle loops through {target}")
            seen.add(target)
            if (agent, target) in given:
                cur = given[(agent, target)]
            else:
                st = stores.get(agent) or stores.setdefault(agent, _store(repo, agent))
                cur = st.read(target)
        else:
            raise InputError(f"symbolic ref {name} of the bundle nests deeper than "
                             f"{MAX_SYMREF_DEPTH}")


def _view(repo: RepoState, agent: str | None) -> RepoState:
    """The repository view of namespace `agent` (made when it does not exist yet)."""
    root = repo._root
    return root if agent is None else root.agent(agent, create=True)


def _write_refs(repo: RepoState, todo: list) -> None:
    """One ref transaction per namespace (plumbing.move_refs, a compare-and-swap against the
    values _plan read), then its symbolic refs."""
    from ..plumbing.refs import move_refs, set_symbolic_ref
    by_agent: dict = {}
    for agent, name, current, value in todo:
        by_agent.setdefault(agent, []).append((name, current, value))
    for agent, items in by_agent.items():
        view = _view(repo, agent)
        direct = [(n, c, v) for n, c, v in items if not v.startswith("ref:")]
        if direct:
            move_refs(view, direct, "import")
        for name, current, value in items:
            if value.startswith("ref:"):
                if view.refs.read(name) != current:
                    raise RefConflict(f"ref {name} moved while importing")
                set_symbolic_ref(view, name, value[4:], message="import")


def import_bundle(repo: RepoState, source: str | os.PathLike | IO[bytes],
                  namespace: str | None = None, force: bool = False,
                  max_line: int | None = None) -> ImportReport:
    """Import a bundle (a path, or a binary file object) into this repository: every line is
    verified first (read_bundle); then the refs are compared with this repository's (a ref that
    holds another value is refused, nothing written, unless `force`; with `namespace` every ref
    goes under `refs/imported/<namespace>/` of the root namespace instead); then the objects not
    already stored are written as one pack, and the refs are set. `max_line`: the longest line
    accepted (default MAX_LINE_BYTES)."""
    if isinstance(source, (str, os.PathLike)):
        try:        # (only the open: a write that fails later is not "cannot read")
            f = open(source, "rb")  # noqa: SIM115 (closed by the `with` below)
        except OSError as exc:
            raise InputError(f"cannot read bundle {os.fspath(source)}: "
                             f"{exc.strerror or exc}") from None
        with f:
            return import_bundle(repo, f, namespace, force, max_line)
    header, objects, refs = read_bundle(repo, source, max_line)
    refs = _mapped(refs, namespace)
    todo, same = _plan(repo, refs, force)
    fresh = [o for o in objects if not repo.store.has(o.id)]
    if fresh:
        repo.store.begin_batch()
        ok = False
        try:
            repo.store.write(fresh)
            ok = True
        finally:
            repo.store.end_batch(keep=ok)   # objects are published before any ref names them
    _write_refs(repo, todo)
    enc = header.get("encoding")
    if isinstance(enc, str) and enc != repo.encoding:
        repo.warn(f"the bundle was counted with {enc}, this repository with {repo.encoding}: "
                  "token totals are recounted when new commits build on its commits")
    return ImportReport(objects=len(objects), written=len(fresh),
                        refs=[[a, n, v] for a, n, _c, v in todo], unchanged=same)


