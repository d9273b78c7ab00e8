"""rev-parse, for-each-ref, symbolic-ref, check-ref-format, reflog.

Click-free command bodies: see trace_cli/commands/__init__.py."""

from __future__ import annotations

import time

from ..util import CommandExit, echo, emit_json, fail, open_repo


def rev_parse(obj, short=None, symbolic_full_name=False, verify=False, revs=()) -> None:
    """Resolve revisions (names, short ids, HEAD~n, ^n, @{n}) to full ids."""
    from trace_core.ids import to_hex

    if verify and len(revs) != 1:
        fail("--verify takes exactly one revision", 2)
    with open_repo(obj) as repo:
        for rev in revs:
            if symbolic_full_name:
                from trace_core.plumbing.revparse import resolve_ref_name
                full = resolve_ref_name(repo, rev)
                if full == "HEAD" and repo.head_branch():
                    full = repo.head_branch()
                if full is None:
                    fail(f"{rev} is not a ref")
                echo(full)
                continue
            hexid = to_hex(repo.resolve_object(rev))
            if verify:
                repo.get_commit(bytes.fromhex(hexid))
            echo(hexid[:short] if short else hexid)


def for_each_ref(obj, as_json=False, fmt=None, prefix="refs/") -> None:
    """List refs under PREFIX as '<id> commit <name>'."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        rows = plumbing.for_each_ref(repo, prefix)
    if as_json:
        emit_json([{"name": n, "id": v, "symref": s} for n, v, s in rows])
        return
    for name, value, symref in rows:
        if fmt:
            short = name.split("/", 2)[-1] if name.startswith(("refs/heads/", "refs/tags/")) else name
            echo(fmt.replace("%(objectname)", value or "").replace("%(refname:short)", short)
                 .replace("%(refname)", name).replace("%(symref)", symref or ""))
        else:
            echo(f"{value or '-' * 64} commit\t{name}")


def symbolic_ref(obj, short=False, message="", name=None, target=None) -> None:
    """Read the symbolic ref NAME, or point it at TARGET."""
    from trace_core.refs import check_ref_format

    with open_repo(obj) as repo:
        if target is None:
            raw = repo.refs.read(name)
            if raw is None or not raw.startswith("ref:"):
                fail(f"ref {name} is not a symbolic ref")
            value = raw[4:]
            if short and value.startswith("refs/heads/"):
                value = value[len("refs/heads/"):]
            echo(value)
            return
        check_ref_format(target)
        if not target.startswith("refs/"):
            fail(f"refusing to point {name} outside refs/: {target}")
        repo.refs.set_symbolic(name, target, message=message)


def check_ref_format(obj, allow_onelevel=False, quiet=False, name=None) -> None:
    """Exit 0 if NAME is a valid ref name (git check-ref-format rules), 1 if not."""
    from trace_core.errors import InvalidRefName
    from trace_core.refs import check_ref_format as check

    try:
        check(name, allow_onelevel=allow_onelevel)
    except InvalidRefName as exc:
        if not quiet:
            echo(f"error: {exc}", err=True)
        raise CommandExit(1) from None


def reflog(obj, as_json=False, limit=None, ref="HEAD") -> None:
    """Show how REF moved, newest first (HEAD shows its branch's log)."""
    from trace_core.plumbing.revparse import resolve_ref_name

    with open_repo(obj) as repo:
        full = resolve_ref_name(repo, ref)
        if full is None:
            fail(f"unknown ref {ref}")
        if full == "HEAD" and repo.head_branch():
            full = repo.head_branch()
        entries = repo.refs.reflog(full)[:limit]
    if as_json:
        emit_json([{"index": i, "new": e.new, "old": e.old, "time_ms": e.time_ms, "who": e.who,
                    "message": e.message} for i, e in enumerate(entries)])
        return
    short = ref if ref != "HEAD" else "HEAD"
    for i, e in enumerate(entries):
        when_ = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(e.time_ms / 1000))
        echo(f"{e.new[:12]} {short}@{{{i}}}: {when_} {e.who}: {e.message}")
