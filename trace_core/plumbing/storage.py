"""Storage plumbing: object counts and sizes (`count-objects`), pack checks (`verify-pack`)."""

from __future__ import annotations

import contextlib
import os

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


def verify_pack(repo: RepoState, name: str) -> list:
    """Problems found in one pack (checksums, every block, every object's hash); [] if sound."""
    from ..storage.pack import Pack
    name = pack_name(name)
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
