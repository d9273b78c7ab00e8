"""Storage plumbing: object counts and sizes (`count-objects`), pack checks (`verify-pack`),
rebuilding the commit index (`reindex`)."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable

from ..errors import InputError, PackError, TraceError
from ..ids import hash_bytes, is_hex_id
from ..state import RepoState


def count_objects(repo: RepoState) -> dict:
    """Packs, packed objects, journals and journal objects, with their sizes in bytes."""
    store = repo.store
    store.refresh()
    packs = store.packs()
    pack_bytes = 0
    for p in packs:
        for path in (p.pack_path, p.idx_path):
            with contextlib.suppress(FileNotFoundError):
                pack_bytes += os.path.getsize(path)
    journals: dict[str, int] = {}
    for _oid, loc in store.journal_locations().items():
        journals.setdefault(loc[0], 0)
        journals[loc[0]] += 1
    journal_bytes = 0
    for path in journals:
        with contextlib.suppress(FileNotFoundError):
            journal_bytes += os.path.getsize(path)
    return {"packs": len(packs), "packed_objects": sum(p.count for p in packs),
            "pack_bytes": pack_bytes, "journals": len(journals),
            "journal_objects": sum(journals.values()), "journal_bytes": journal_bytes}


def pack_name(arg: str) -> str:
    """The name (64 hex digits) of the pack `arg` names: NAME, pack-NAME, pack-NAME.pack or
    NAME.idx and the like; InputError for anything else."""
    name = arg[5:] if arg.startswith("pack-") else arg
    for ext in (".pack", ".idx"):
        if name.endswith(ext):
            name = name[: -len(ext)]
    if not is_hex_id(name):
        raise InputError(f"{name!r} is not a pack name")
    return name


def pack_names(repo: RepoState) -> list:
    """Every published pack (those with an index), damaged ones included, oldest first: what
    `verify-pack` checks by default (the object store skips packs it cannot open)."""
    from ..storage.pack import list_packs
    return list_packs(repo.store.pack_dir)


def verify_pack(repo: RepoState, name: str) -> list:
    """Problems found in one pack, each one line naming it ([] if sound): the checksums of the
    pack and its index, that the checksum is the pack's name, the index's structure (fan-out,
    order, block numbers, type codes, block table), every block, every object's hash, and that
    the index lists each object in the block and with the type it really has, no more and no
    fewer."""
    name = pack_name(name)
    return verify_pack_at(repo.store.pack_dir, name, repo.store.opts.max_object_size)


def verify_pack_at(directory: str, name: str, max_object_size: int,
                   each: Callable[[bytes, bytes], None] | None = None) -> list:
    """verify_pack of the pack `name` in `directory` (a repository's, or the staging directory
    of a pack received from a remote); `each(id, bytes)` is called for every object that hashes
    to its id (and may raise)."""
    from ..objects import TYPE_CODES, object_tag
    from ..storage.pack import Pack
    try:
        pack = Pack(directory, name)
    except FileNotFoundError:
        raise InputError(f"no pack {name}") from None
    except (PackError, OSError, ValueError) as exc:
        return [str(exc)]
    problems = []
    try:
        if not pack.verify_index_checksum():
            problems.append(f"pack index {name} fails its checksum")
        try:
            if not pack.verify_pack_checksum():
                problems.append(f"pack {name} fails its checksum")
            pack.zdict()
        except (TraceError, OSError) as exc:
            return [*problems, str(exc)]
        if pack.checksum.hex() != name:      # (its name is its checksum, FORMAT.md §8)
            problems.append(f"pack {name} has the checksum {pack.checksum.hex()}, not its name")
        problems += pack.check_structure()
        seen = 0
        for b in range(pack.nblocks):
            try:
                recs = pack.read_block(b, max_object_size)
            except (TraceError, OSError) as exc:
                problems.append(str(exc))
                continue
            for oid, data in recs.items():
                seen += 1
                raw = bytes(data)
                if hash_bytes(raw) != oid:
                    problems.append(f"object {oid.hex()} in pack {name} does not hash to its id")
                    continue
                slots = [i for i in pack.candidates(oid) if pack.block_of(i) == b]
                if not slots:
                    problems.append(f"pack index {name} does not list object {oid.hex()} in "
                                    f"block {b}, where it is")
                    continue
                try:
                    code = TYPE_CODES[object_tag(raw)]
                except TraceError:
                    code = None
                if pack.type_of(slots[0]) != code:
                    problems.append(f"pack index {name} records object {oid.hex()} as type "
                                    f"{pack.type_of(slots[0])}, it is type {code}")
                elif each is not None:
                    each(oid, raw)
        if seen != pack.count:
            problems.append(f"pack index {name} lists {pack.count} objects, its blocks hold {seen}")
    finally:
        pack.close()
    return problems


def reindex(repo: RepoState) -> int:
    """Rebuild the derived commit index from the objects (`trace reindex`): every row and cached
    token count is dropped and every commit in the store indexed again. Returns the number of
    commits indexed. What fsck advises when it finds the index disagreeing with the objects."""
    repo.index.rebuild()
    return repo.index.count()
