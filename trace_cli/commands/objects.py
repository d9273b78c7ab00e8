"""cat-object, ls-snapshot.

Click-free command bodies: see trace_cli/commands/__init__.py."""

from __future__ import annotations

from ..util import CommandExit, echo, emit_json, fail, open_repo


def cat_object(obj, show_type=False, show_size=False, pretty=False, exists=False, as_json=False,
               object=None) -> None:
    """Show an object (blob, node, snap, commit) by id or revision."""
    from trace_core.errors import TraceError

    with open_repo(obj) as repo:
        if exists:
            try:
                repo.get(repo.resolve_object(object))
            except TraceError:
                raise CommandExit(1) from None
            return
        o = repo.get(repo.resolve_object(object))
        if show_type:
            echo(o.tag)
        elif show_size:
            echo(len(o.to_bytes()))
        elif as_json or pretty:
            from trace_core.plumbing import describe
            desc = describe(o)
            if pretty and not as_json and o.tag == "blob":
                desc = desc["message"]
            emit_json(desc)
        else:
            fail("give one of -t, -s, -p, -e or --json", 2)


def _ls_preview(msg: dict, width: int = 60) -> str:
    content = msg.get("content")
    if isinstance(content, str):
        text = content
    else:
        import json
        text = json.dumps(content, ensure_ascii=False)
    text = " ".join(str(text).split())
    return text if len(text) <= width else text[: width - 3] + "..."


def ls_snapshot(obj, as_json=False, long_=False, rev="HEAD") -> None:
    """List a snapshot's entries as '<blob id> <flags>' (REV: commit or snapshot)."""
    from trace_core import plumbing

    with open_repo(obj) as repo:
        snap = plumbing.snapshot_of(repo, rev)
        entries = plumbing.snapshot_entries(repo, snap)
        if as_json:
            out = []
            for i, e in enumerate(entries):
                item = {"index": i, "blob": e.blob.hex(), "flags": e.flags}
                if long_:
                    item["message"] = plumbing.to_jsonable(repo.get_blob(e.blob).message)
                out.append(item)
            emit_json(out)
            return
        for i, e in enumerate(entries):
            if long_:
                msg = repo.get_blob(e.blob).message
                echo(f"{i}\t{e.blob.hex()} {e.flags}\t{msg.get('role', '')}\t{_ls_preview(msg)}")
            else:
                echo(f"{e.blob.hex()} {e.flags}")
