"""Refspecs (`[+]SRC[:DST]`) and the names a remote's refs take here: remote-tracking refs
(`refs/remotes/<remote>/<branch>` in the namespace the branch belongs to), tags as they are."""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import InputError, TraceError
from ..refs import check_ref_format


@dataclass(frozen=True)
class Refspec:
    src: str          #: "" for a deletion (`:DST`)
    dst: str | None   #: None: the same name as SRC
    force: bool


def parse_refspec(spec: str) -> Refspec:
    """`[+]SRC[:DST]`; InputError for anything else (`:` alone, spaces, two colons)."""
    if not isinstance(spec, str) or not spec or spec.count(":") > 1 or spec in (":", "+:"):
        raise InputError(f"bad refspec {spec!r:.80}: [+]SRC[:DST]")
    force = spec.startswith("+")
    body = spec[1:] if force else spec
    src, colon, dst = body.partition(":")
    if colon and not dst:
        raise InputError(f"bad refspec {spec!r:.80}: no destination after ':'")
    if not src and not colon:
        raise InputError(f"bad refspec {spec!r:.80}: nothing to push or fetch")
    return Refspec(src, dst if colon else None, force)


def full_name(name: str, like: str = "refs/heads/") -> str:
    """`name` as a full ref name: as given when it starts with `refs/` or is HEAD, else under
    the namespace of `like` (refs/heads/ or refs/tags/); InvalidRefName for a bad one."""
    full = name if name.startswith("refs/") or name == "HEAD" else like + name
    if full != "HEAD":
        check_ref_format(full)
    return full


def tracking_name(remote: str, name: str) -> str | None:
    """The remote-tracking ref of a remote's ref `name` (a branch: refs/remotes/R/<branch>;
    HEAD: refs/remotes/R/HEAD); None for refs fetched under their own name (tags) or not at
    all (anything else)."""
    if name.startswith("refs/heads/"):
        return f"refs/remotes/{remote}/{name[11:]}"
    if name == "HEAD":
        return f"refs/remotes/{remote}/HEAD"
    return None


def checked(name: str) -> str:
    """`name` if it is a valid full ref name, else InputError (one line)."""
    try:
        return full_name(name)
    except TraceError as exc:
        raise InputError(str(exc)) from None
