"""The layout of a remote (docs/FORMAT.md §18): one refs document, and packs with their indexes
and commit manifests, over any transport Backend.

    refs                         JSON: {"format": "trace-remote", "version": 1, "serial": N,
                                 "refs": {KEY: VALUE}}; changed only by conditional writes
    packs/pack-<name>.pack       a pack (§8), `<name>` the hex of its checksum
    packs/pack-<name>.idx        its index (§8)
    packs/pack-<name>.commits    the manifest: the full ids of the pack's commits; written last,
                                 it makes the pack visible

A KEY is a ref of the root namespace (`HEAD`, `refs/heads/main`) or of an agent namespace, whose
path comes first as it does inside `.trace` (`agents/a/agents/b/refs/heads/main` for agent a/b).
A KEY may also name a sub-agent's status pseudo-ref (`agents/a/SPAWNED`, `COLLAPSED`,
`ABANDONED`: FORMAT.md §10.1). A VALUE is a 64-digit hex commit id, or `ref:<refs/heads/...>`
for a HEAD.
"""

from __future__ import annotations

import json
import os
import struct
from collections.abc import Sequence
from dataclasses import dataclass, field

from ..errors import RemoteCorrupt, TraceError
from ..ids import ID_LEN, hash_bytes, is_hex_id
from ..transport import CREATE, Backend, Listed

REFS_KEY = "refs"
PACKS = "packs/"
FORMAT = "trace-remote"
VERSION = 1
MANIFEST_MAGIC = b"TRMANI\x00\x01"
#: bounds on what a remote may make us read into memory
MAX_REFS_BYTES = 64 << 20
MAX_MANIFEST_BYTES = 8 + 4 + 32 * 4_000_000 + 64
MAX_PACK_BYTES = 16 << 30
#: a sub-agent's status pseudo-refs (§10.1), carried with its branches
STATUS_REFS = ("SPAWNED", "COLLAPSED", "ABANDONED")
_U32 = struct.Struct(">I")


@dataclass
class RemoteRefs:
    """The refs document as read: `tag` is what a conditional write must name (None: the remote
    has no refs document yet)."""

    refs: dict[str, str] = field(default_factory=dict)
    serial: int = 0
    tag: str | None = None


# -- keys -------------------------------------------------------------------------------------
def remote_key(agent: str | None, name: str) -> str:
    """The refs document's key of ref `name` of namespace `agent` (None: the root)."""
    return "".join(f"agents/{p}/" for p in agent.split("/")) + name if agent else name


def split_key(key: str) -> tuple[str | None, str]:
    """(agent path or None, ref name) of a refs document key; ValueError when it is not one."""
    from ..refs import check_ref_format
    from ..refs.names import check_agent_name, check_agent_path
    parts = key.split("/")
    agents = []
    while len(parts) >= 3 and parts[0] == "agents":
        agents.append(check_agent_name(parts[1]))
        parts = parts[2:]
    if agents:
        check_agent_path("/".join(agents))      # (its depth too)
    name = "/".join(parts)
    if name in STATUS_REFS and agents:
        return "/".join(agents), name
    if name != "HEAD":
        if not name.startswith("refs/"):
            raise ValueError(f"{key!r:.80} is not a ref")
        check_ref_format(name)
    return ("/".join(agents) or None), name


def _check_refs(url: str, doc: object) -> RemoteRefs:
    where = f"{url}/{REFS_KEY}"
    if not isinstance(doc, dict) or doc.get("format") != FORMAT:
        raise RemoteCorrupt(f"{where} is not a trace remote's refs document")
    if type(doc.get("version")) is not int or doc["version"] != VERSION:
        raise RemoteCorrupt(f"{where}: unsupported version {doc.get('version')!r} (this build "
                            f"reads version {VERSION})")
    serial, refs = doc.get("serial"), doc.get("refs")
    if type(serial) is not int or serial < 0 or not isinstance(refs, dict):
        raise RemoteCorrupt(f"{where}: no serial number or no refs")
    for key, value in refs.items():
        try:
            _agent, name = split_key(key)
        except (ValueError, TraceError) as exc:
            raise RemoteCorrupt(f"{where}: bad ref {key!r:.80}: {exc}") from None
        ok = (isinstance(value, str) and value.startswith("ref:refs/heads/")
              and _valid_ref(value[4:]) if name == "HEAD" else is_hex_id(value))
        if not ok:
            raise RemoteCorrupt(f"{where}: ref {key!r:.80} has a bad value {value!r:.80}")
    return RemoteRefs(dict(refs), serial)


def _valid_ref(name: str) -> bool:
    from ..refs import check_ref_format
    try:
        check_ref_format(name)
    except TraceError:
        return False
    return True


# -- manifests --------------------------------------------------------------------------------
def encode_manifest(commits: Sequence[bytes], pack_checksum: bytes) -> bytes:
    body = MANIFEST_MAGIC + _U32.pack(len(commits)) + b"".join(sorted(commits)) + pack_checksum
    return body + hash_bytes(body)


def decode_manifest(data: bytes, name: str, where: str) -> list[bytes]:
    """The commit ids of a manifest, every byte checked (its checksum, its pack's name)."""
    n = _U32.unpack_from(data, 8)[0] if len(data) >= 12 else -1
    if (data[:8] != MANIFEST_MAGIC or len(data) != 12 + 32 * n + 64
            or hash_bytes(data[:-32]) != data[-32:]):
        raise RemoteCorrupt(f"{where} is not a valid pack manifest (damaged or truncated)")
    if data[-64:-32].hex() != name:
        raise RemoteCorrupt(f"{where} describes another pack")
    return [data[12 + ID_LEN * i:12 + ID_LEN * (i + 1)] for i in range(n)]


def pack_key(name: str, ext: str) -> str:
    return f"{PACKS}pack-{name}{ext}"


def complete(parts: dict[str, Listed]) -> bool:
    """Whether a pack's listed files (`RemoteStore.listing`) are all there: visible to readers."""
    return {".pack", ".idx", ".commits"} <= parts.keys()


def newest(parts: dict[str, Listed]) -> float:
    """The modification time of a pack's newest file (seconds; 0 for none)."""
    return max((x.mtime for x in parts.values()), default=0.0)


# -- the store --------------------------------------------------------------------------------
class RemoteStore:
    """A remote's layout over a Backend."""

    def __init__(self, backend: Backend) -> None:
        self.backend = backend
        self.url = backend.url

    def read_refs(self) -> RemoteRefs | None:
        """The refs document, checked; None when the remote has none (nothing pushed yet)."""
        got = self.backend.get(REFS_KEY, MAX_REFS_BYTES)
        if got is None:
            return None
        data, tag = got
        try:
            doc = json.loads(data)
        except (ValueError, RecursionError):
            raise RemoteCorrupt(f"{self.url}/{REFS_KEY} is not JSON (damaged)") from None
        out = _check_refs(self.url, doc)
        out.tag = tag
        return out

    def write_refs(self, refs: dict[str, str], old: RemoteRefs) -> RemoteRefs:
        """Replace the refs document `old` (as read) with `refs`, serial + 1: a conditional
        write (If-Match old's tag, or If-None-Match when there was none). RemoteConflict when
        another writer changed it first; nothing is written then."""
        doc = {"format": FORMAT, "version": VERSION, "serial": old.serial + 1,
               "refs": dict(sorted(refs.items()))}
        _check_refs(self.url, doc)      # (never write what a reader would refuse)
        data = json.dumps(doc, separators=(",", ":"), ensure_ascii=False).encode() + b"\n"
        tag = self.backend.put(REFS_KEY, data, expect=old.tag or CREATE)
        return RemoteRefs(dict(refs), old.serial + 1, tag)

    def listing(self, name: str | None = None) -> dict[str, dict[str, Listed]]:
        """{pack name: {extension: listed object}} of every file under packs/ (or only pack
        `name`'s); `complete` tells a pack with all three files."""
        out: dict[str, dict[str, Listed]] = {}
        for item in self.backend.list(PACKS if name is None else pack_key(name, "")):
            base = item.key[len(PACKS):]
            stem, dot, ext = base.partition(".")
            name = stem[5:]
            if stem.startswith("pack-") and is_hex_id(name) and dot and \
                    ext in ("pack", "idx", "commits"):
                out.setdefault(name, {})["." + ext] = item
        return out

    def manifest(self, name: str) -> list[bytes] | None:
        """The commit ids of pack `name` (None: its manifest is gone: a gc removed it)."""
        key = pack_key(name, ".commits")
        got = self.backend.get(key, MAX_MANIFEST_BYTES)
        if got is None:
            return None
        return decode_manifest(got[0], name, f"{self.url}/{key}")

    def upload_pack(self, pack_dir: str, name: str, commits: Sequence[bytes]) -> None:
        """Upload pack `name` from `pack_dir`: the pack, its index, then its manifest (the
        manifest makes it visible, so a reader never meets half of one)."""
        base = os.path.join(pack_dir, f"pack-{name}")
        self.backend.upload(pack_key(name, ".pack"), base + ".pack")
        self.backend.upload(pack_key(name, ".idx"), base + ".idx")
        self.backend.put(pack_key(name, ".commits"),
                         encode_manifest(commits, bytes.fromhex(name)))

    def download_pack(self, name: str, directory: str) -> bool:
        """Pack `name` and its index into `directory` (as `pack-<name>.pack` / `.idx`); False
        when either is gone (a remote gc consolidated it)."""
        base = os.path.join(directory, f"pack-{name}")
        return (self.backend.download(pack_key(name, ".pack"), base + ".pack", MAX_PACK_BYTES)
                and self.backend.download(pack_key(name, ".idx"), base + ".idx",
                                          MAX_PACK_BYTES))

    def delete_pack(self, name: str, parts: dict) -> None:
        """Remove a pack: its manifest first (it stops being visible), then the rest."""
        for ext in (".commits", ".idx", ".pack"):
            if ext in parts:
                self.backend.delete(pack_key(name, ext))


__all__ = ["RemoteRefs", "RemoteStore", "complete", "newest", "remote_key", "split_key"]
