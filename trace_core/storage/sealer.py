"""Sealing beside the writer: a full journal becomes a pack in a child process (so the writer's
process keeps its CPU and its interpreter lock), then the packs roll up geometrically.

The writer hands the journal's open file, and with it the journal's flock, to the child
(`pass_fds`), and goes on with a new journal at once. The child writes the pack, publishes it,
unlinks the journal if the path still names that file, and exits; the lock goes with its last
descriptor. A child that dies leaves the journal (sealed later by the next writer that takes
it over, or by repack and gc) and at worst a `tmp-*.pack` (removed by gc). docs/FORMAT.md §7.
"""

from __future__ import annotations

import os
import subprocess
import sys

from . import safefs
from .journal import journal_records
from .objectstore import DiskObjectStore
from .pack import grouped_by_type, write_pack
from .repack import geometric_rollup

_CHILD = ("import sys; sys.path.insert(0, sys.argv[1]); "
          "from trace_core.storage.sealer import main; sys.exit(main(sys.argv[2:]))")


def spawn(objects_dir: str, journal_path: str, fd: int, end: int, *, level: int,
          max_object_size: int, fsync: bool, limit: int) -> subprocess.Popen | None:
    """Start a child that seals the journal open as `fd` (its first `end` bytes); None when this
    interpreter cannot start one (embedded, no sys.executable): the caller seals some other way."""
    if not sys.executable:
        return None
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    args = [sys.executable, "-I", "-c", _CHILD, root, objects_dir, journal_path, str(fd),
            str(end), str(level), str(max_object_size), "1" if fsync else "0", str(limit)]
    try:
        return subprocess.Popen(args, pass_fds=(fd,), stdin=subprocess.DEVNULL,
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except OSError:
        return None


def main(argv: list) -> int:
    """The child: seal, publish, unlink, roll up. Exit status 0, or 1 (the journal stays)."""
    objects_dir, path, fd_s, end_s, level_s, limit_s, fsync_s, auto_s = argv
    fd, end, level = int(fd_s), int(end_s), int(level_s)
    max_object_size, fsync, auto = int(limit_s), fsync_s == "1", int(auto_s)
    pack_dir = os.path.join(objects_dir, "pack")
    try:
        seal(objects_dir, path, fd, end, level=level, max_object_size=max_object_size,
             fsync=fsync)
    except Exception:  # the journal stays, still whole: nothing acknowledged is lost
        return 1
    finally:
        os.close(fd)
    if auto > 0:
        try:
            geometric_rollup(pack_dir, level=level, max_object_size=max_object_size,
                             fsync=fsync, limit=auto)
        except Exception:
            return 1
    return 0


def seal(objects_dir: str, path: str, fd: int, end: int, *, level: int, max_object_size: int,
         fsync: bool) -> str:
    """Write the journal open as `fd` as a pack, publish it, then unlink the journal if `path`
    still names that file. Returns the pack's name."""
    pack_dir = os.path.join(objects_dir, "pack")
    safefs.check_dirs(os.path.dirname(objects_dir), pack_dir)  # never write a pack elsewhere
    data = os.pread(fd, end, 0)
    name = write_pack(pack_dir, grouped_by_type(journal_records(data, max_object_size)),
                      level=level, fsync=fsync)
    st = os.fstat(fd)
    try:
        same = os.stat(path).st_ino == st.st_ino
    except FileNotFoundError:
        same = False
    if same:
        os.unlink(path)
    return name


def maybe_seal(store: DiskObjectStore) -> None:
    """After a write: once the writer's journal is over the configured size, hand it to a child
    process (below; a thread when no child can be started, or `seal_in` says so)
    that seals it into a pack and then rolls the packs up geometrically; the writer goes on at
    once with a new journal (sealing is off the commit's critical path)."""
    if not store.journal_full():
        return
    w = store.detach_writer()
    if w is None:
        return
    opts = store.opts
    if opts.seal_in == "process":
        p = spawn(store.dir, w.path, w.fd, w.end, level=opts.level,
                  max_object_size=opts.max_object_size, fsync=opts.durability == "full",
                  limit=opts.auto_pack_limit)
        if p is not None:
            store.add_child(p, os.path.basename(w.path))
            w.close()  # the child's descriptor keeps the journal's lock until it is done
            return

    def work() -> None:
        try:   # the same sealing as the child process's (the pack first, then the journal)
            seal(store.dir, w.path, w.fd, w.end, level=opts.level,
                 max_object_size=opts.max_object_size, fsync=opts.durability == "full")
        finally:
            w.close()
        if opts.auto_pack_limit > 0:
            geometric_rollup(store.pack_dir, level=opts.level, max_object_size=opts.max_object_size,
                             fsync=opts.durability == "full", limit=opts.auto_pack_limit)

    store.in_background(work, f"sealing {os.path.basename(w.path)}")
