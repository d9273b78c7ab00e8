"""Remotes (docs/remotes.md): configured remotes and their URLs (`remotes`), the layout a remote
keeps over a transport (`layout`: one refs document changed only by conditional writes, packs
with their indexes and commit manifests), negotiation and the checks of received packs
(`transfer`), refspecs and remote-tracking names (`refspecs`), `push`, `fetch` (with `clone`
and `pull`), and the remote's own gc (`maintenance`)."""

from __future__ import annotations

from .fetch import FetchReport, clone, fetch, pull
from .maintenance import RemoteGcReport, remote_gc
from .push import PushReport, RefUpdate, push
from .remotes import remote_add, remote_remove, remotes

__all__ = ["FetchReport", "PushReport", "RefUpdate", "RemoteGcReport", "clone", "fetch", "pull",
           "push", "remote_add", "remote_gc", "remote_remove", "remotes"]
