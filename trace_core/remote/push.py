"""Push: send what the remote lacks as one pack, then move its refs with one conditional write
of its refs document, with git's rules: a non-fast-forward is refused unless forced, an
expected-value lease (`--force-with-lease`) must hold, a tag is never moved unless forced
(docs/remotes.md, "Push")."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RemoteConflict, RemoteError, TraceError
from ..ids import from_hex, is_hex_id
from ..objects import TYPE_CODES
from ..plumbing.commit import backoff
from ..state import RepoState
from .layout import STATUS_REFS, RemoteRefs, RemoteStore, complete, remote_key, split_key
from .refspecs import checked, full_name, parse_refspec, tracking_name
from .remotes import namespace

if TYPE_CHECKING:
    from ..transport.options import S3Options

#: conditional writes lost to other pushers before a push gives up (each retry re-reads the
#: refs, checks every update again and sends only what is still missing)
MAX_ATTEMPTS = 50
_TRACKING = object()     # a lease that expects the remote-tracking ref's value


@dataclass
class RefUpdate:
    """One ref of a push: where it goes, the remote's value before, the value sent (None:
    delete) and the outcome."""

    key: str                        #: the remote refs document's key
    local: str | None               #: the local ref it came from (None: a commit id, a delete)
    new: str | None
    force: bool = False
    lease: Any = None               #: None: no lease; a hex id, "" (must not exist) or tracking
    old: str | None = None
    status: str = ""                #: new, fast-forward, forced, deleted, up-to-date, rejected
    reason: str = ""                #: why it was rejected

    def as_dict(self) -> dict:
        return {"remote_ref": self.key, "local_ref": self.local, "old": self.old,
                "new": self.new, "status": self.status, "reason": self.reason or None}


@dataclass
class PushReport:
    """What a push did; `as_dict()` is its JSON form."""

    url: str
    remote: str | None
    updates: list[RefUpdate] = field(default_factory=list)
    objects: int = 0            #: objects sent
    packs: list[str] = field(default_factory=list)
    bytes: int = 0              #: bytes of the packs sent
    retries: int = 0            #: conditional writes lost to another pusher, then redone
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(u.status != "rejected" for u in self.updates)

    def as_dict(self) -> dict:
        return {"url": self.url, "remote": self.remote, "ok": self.ok, "dry_run": self.dry_run,
                "objects": self.objects, "packs": self.packs, "bytes": self.bytes,
                "retries": self.retries, "updates": [u.as_dict() for u in self.updates]}


# -- what to push -----------------------------------------------------------------------------
def _namespaces_below(repo: RepoState) -> list[tuple[str | None, Any]]:
    """(agent path, RefStore) of this namespace and every agent namespace below it."""
    from ..gc import agent_of, namespaces
    here = remote_key(repo.agent_name, "")
    out = []
    for prefix, store in namespaces(repo):
        if prefix.startswith(here):
            out.append((agent_of(prefix), store))
    return out


def _current_branch(repo: RepoState) -> str:
    branch = repo.head_branch()
    if branch is None:
        raise InputError("HEAD is detached: name what to push (trace push REMOTE REV:BRANCH)")
    return branch


def _from_refspec(repo: RepoState, spec: str) -> RefUpdate:
    from ..plumbing.revparse import resolve_ref_name, resolve_revision
    rs = parse_refspec(spec)
    agent = repo.agent_name
    if not rs.src:                                     # :DST deletes
        return RefUpdate(_dest_key(agent, rs.dst or "", "refs/heads/"), None, None, rs.force)
    if rs.src == "HEAD":
        local = repo.head_branch() if rs.dst is not None else _current_branch(repo)
    else:
        local = resolve_ref_name(repo, rs.src)
    value = resolve_revision(repo, rs.src).hex()
    if rs.dst is None:
        if local is None or not local.startswith("refs/"):
            raise InputError(f"{rs.src} is not a branch or tag here: say where it goes "
                             f"(trace push REMOTE {rs.src}:BRANCH)")
        return RefUpdate(_dest_key(agent, local, ""), local, value, rs.force)
    like = "refs/tags/" if local and local.startswith("refs/tags/") else "refs/heads/"
    return RefUpdate(_dest_key(agent, rs.dst, like), local, value, rs.force)


def _dest_key(agent: str | None, dst: str, like: str) -> str:
    """The remote key a push writes for destination `dst` (a short name under `like`, a full
    `refs/...` name, or an `agents/...` key); InputError for anything else: a HEAD, or a name
    outside refs/ (the remote's HEADs are set only as symbolic refs, by the push itself)."""
    try:
        key = dst if dst.startswith("agents/") else remote_key(agent, checked(full_name(dst,
                                                                                        like)))
        name = split_key(key)[1]
    except (ValueError, TraceError) as exc:
        raise InputError(f"cannot push to {dst!r:.80}: {exc}") from None
    if not name.startswith("refs/"):
        raise InputError(f"cannot push to {dst!r:.80}: not a branch, tag or other ref under "
                         "refs/ (a remote's HEAD follows its first branch pushed)")
    return key


def plan_updates(repo: RepoState, refspecs: Sequence[str] = (), all_branches: bool = False,
                 tags: bool = False, agents: bool = False) -> list[RefUpdate]:
    """The updates a push asks for: each refspec; with none, the current branch (unless
    `all_branches` or `tags` say what); `all_branches`: every branch of this namespace; `tags`:
    every tag; `agents`: every branch and tag of every agent namespace below this one too."""
    out: dict[str, RefUpdate] = {}
    for spec in refspecs:
        u = _from_refspec(repo, spec)
        out[u.key] = u
    if not refspecs and not (all_branches or tags) and (repo.head_branch() or not agents):
        branch = _current_branch(repo)
        value = repo.refs.read(branch)
        if value is None:
            raise InputError(f"{branch} has no commits yet: nothing to push")
        key = remote_key(repo.agent_name, branch)
        out[key] = RefUpdate(key, branch, value)
    stores = _namespaces_below(repo) if agents else [(repo.agent_name, repo.refs)]
    for agent, store in stores:
        mine = agent == repo.agent_name
        for name, value in store.list("refs/"):
            if value.startswith("ref:") or not is_hex_id(value):
                continue
            pick = ((name.startswith("refs/heads/") and (all_branches or not mine))
                    or (name.startswith("refs/tags/") and (tags or not mine)))
            if pick:
                key = remote_key(agent, name)
                out.setdefault(key, RefUpdate(key, name, value))
        for name in STATUS_REFS if agents and agent is not None else ():
            value = store.read(name)
            if value is not None and is_hex_id(value):
                key = remote_key(agent, name)
                out.setdefault(key, RefUpdate(key, name, value))
    return list(out.values())


def _heads(repo: RepoState, updates: list[RefUpdate], doc: dict) -> dict[str, str]:
    """HEAD symrefs the remote lacks for the namespaces this push gives a branch: the
    namespace's own HEAD branch when it is pushed, else the first branch pushed."""
    out: dict[str, str] = {}
    for u in updates:
        agent, name = split_key(u.key)
        if u.new is None or not name.startswith("refs/heads/"):
            continue
        head = remote_key(agent, "HEAD")
        if head in doc or head in out:
            continue
        try:
            mine = namespace(repo, agent, create=False).refs.read("HEAD")
        except TraceError:            # (no such namespace here: a refspec naming another's)
            mine = None
        pushed = {split_key(v.key)[1] for v in updates
                  if v.new is not None and split_key(v.key)[0] == agent}
        target = mine[4:] if mine and mine.startswith("ref:") and mine[4:] in pushed else name
        out[head] = "ref:" + target
    return out


# -- checking ---------------------------------------------------------------------------------
def _lease_value(repo: RepoState, remote: str | None, u: RefUpdate) -> str | None:
    if u.lease is not _TRACKING:
        return u.lease or None
    agent, name = split_key(u.key)
    track = tracking_name(remote, name) if remote else None
    if track is None:            # no remote-tracking ref (a tag, a URL): expect no ref, as git
        return None
    view = namespace(repo, agent)
    return view.refs.read(track)


def _judge(repo: RepoState, remote: str | None, u: RefUpdate, doc: RemoteRefs) -> None:
    """Set u.old, u.status and u.reason against the remote's refs `doc`."""
    u.old = doc.refs.get(u.key)
    u.reason = ""
    _agent, name = split_key(u.key)
    if u.new is None and u.old is None:
        u.status, u.reason = "rejected", "no such ref on the remote"
        return
    if u.new == u.old:
        u.status = "up-to-date"
        return
    if u.lease is not None:
        expected = _lease_value(repo, remote, u)
        if expected != u.old:
            u.status, u.reason = "rejected", "stale info"
            return
    if u.new is None:
        u.status = "deleted"
        return
    if u.old is None:
        u.status = "new"
        return
    if name in STATUS_REFS:        # a sub-agent's state, not a history: the pushed one holds
        u.status = "updated"
        return
    forced = u.force or u.lease is not None
    if name.startswith("refs/tags/") and not forced:
        u.status, u.reason = "rejected", "already exists"
        return
    if not repo.store.has(from_hex(u.old)):
        if forced:
            u.status = "forced"
        else:
            u.status, u.reason = "rejected", "fetch first"
        return
    if repo.index.is_ancestor(from_hex(u.old), from_hex(u.new)):
        u.status = "fast-forward"
    elif forced:
        u.status = "forced"
    else:
        u.status, u.reason = "rejected", "non-fast-forward"


# -- the push ---------------------------------------------------------------------------------
def push(repo: RepoState, remote: str = "origin", refspecs: Sequence[str] = (), *,
         all_branches: bool = False, tags: bool = False, agents: bool = False,
         force: bool = False, force_with_lease: Sequence[str] | None = None,
         atomic: bool = False, dry_run: bool = False, s3: S3Options | None = None,
         progress: Callable[[str, int, int | None], None] | None = None) -> PushReport:
    """Push to `remote` (a configured remote's name, or a URL or path): the updates
    `plan_updates` makes of `refspecs` and the flags; what the remote lacks goes first, as one
    pack (uploaded before the refs that need it), then every accepted update in one conditional
    write of the remote's refs document. A write lost to another pusher is redone: the refs are
    read again and every update judged again (so a branch another host moved meanwhile is
    refused as non-fast-forward, never overwritten). `force` (or a `+` refspec) allows
    non-fast-forwards and moving tags; `force_with_lease`: each entry `REF[:VALUE]` (or ""
    for every ref) allows it only while the remote's ref still holds VALUE (default: its
    remote-tracking ref); `atomic`: all updates or none; `dry_run`: judge, send nothing."""
    from .remotes import open_remote
    name, store = open_remote(repo, remote, s3)
    updates = plan_updates(repo, refspecs, all_branches, tags, agents)
    if not updates:
        raise InputError("nothing to push")
    _apply_leases(repo, updates, force, force_with_lease)
    report = PushReport(store.url, name, updates, dry_run=dry_run)
    staged: list[tuple[str, str, list]] = []       # (staging dir, pack, its commits) sent
    try:
        return _push(repo, name, store, updates, atomic, dry_run, report, staged, progress)
    finally:
        from .transfer import remove_staging
        for tmp, _pack, _commits in staged:
            remove_staging(tmp)


def _push(repo: RepoState, name: str | None, store: RemoteStore, updates: list[RefUpdate],
          atomic: bool, dry_run: bool, report: PushReport, staged: list, progress
          ) -> PushReport:
    sent: set[bytes] = set()
    # updates of a write that raised RemoteConflict: it may have landed all the same (a
    # conditional write retried by the client after a lost answer gets 412 for its own write)
    maybe: dict[str, tuple[str, str | None]] = {}
    for attempt in range(MAX_ATTEMPTS):
        doc = store.read_refs() or RemoteRefs()
        landed = []
        for u in updates:
            if u.key in maybe and doc.refs.get(u.key) == u.new:
                u.status, u.old = maybe[u.key]
                landed.append(u)
            else:
                _judge(repo, name, u, doc)
        moving = [u for u in updates
                  if u.status not in ("rejected", "up-to-date") and u not in landed]
        _refuse_name_clashes(doc, moving)
        moving = [u for u in moving if u.status != "rejected"]
        if atomic and not report.ok:
            for u in moving:
                u.status, u.reason = "rejected", "atomic push failed"
            return report
        if dry_run or not moving:
            if name is not None and landed:
                _track(repo, name, landed)
            return report
        _send(repo, store, doc, moving, sent, report, staged, progress)
        refs = dict(doc.refs)
        for u in moving:
            if u.new is None:
                refs.pop(u.key, None)
            else:
                refs[u.key] = u.new
        refs.update(_heads(repo, moving, refs))
        try:
            store.write_refs(refs, doc)
        except RemoteConflict:
            report.retries += 1
            maybe = {u.key: (u.status, u.old) for u in moving}
            backoff(attempt, cap=0.5)     # (a round trip to the remote is ms, not µs)
            continue
        _still_there(store, staged)
        if name is not None:
            _track(repo, name, moving + landed)
        return report
    raise RemoteError(f"{store.url}: the refs kept changing under this push ({MAX_ATTEMPTS} "
                      "attempts); nothing was changed by it")


def _refuse_name_clashes(doc: RemoteRefs, moving: list[RefUpdate]) -> None:
    """Refuse a new ref whose name is a directory of another ref's, or the reverse, once this
    push's updates are applied (refs/heads/a and refs/heads/a/b cannot both exist: no
    repository could fetch them, as git's receive-pack refuses)."""
    keys = set(doc.refs)
    for u in moving:
        if u.new is None:
            keys.discard(u.key)
        else:
            keys.add(u.key)
    for u in moving:
        if u.new is None or u.old is not None:
            continue
        parts = u.key.split("/")
        clash = next((k for k in ("/".join(parts[:i]) for i in range(1, len(parts)))
                      if k in keys), None)
        if clash is None:
            clash = next((k for k in keys if k.startswith(u.key + "/")), None)
        if clash is not None:
            u.status, u.reason = "rejected", f"conflicts with {clash} on the remote"


def _apply_leases(repo: RepoState, updates: list[RefUpdate], force: bool,
                  leases: Sequence[str] | None) -> None:
    for u in updates:
        u.force = u.force or force
    if leases is None:
        return
    by_key: dict[str, Any] = {}
    every = False
    for spec in leases:
        if spec == "":
            every = True
            continue
        ref, colon, value = spec.partition(":")
        from ..plumbing.revparse import resolve_revision
        expect: Any = _TRACKING
        if colon:
            expect = "" if value == "" else resolve_revision(repo, value).hex()
        full = ref if ref.startswith("agents/") else remote_key(repo.agent_name,
                                                                 checked(full_name(ref)))
        by_key[full] = expect
    for u in updates:
        if u.key in by_key:
            u.lease = by_key[u.key]
        elif every:
            u.lease = _TRACKING


def _send(repo: RepoState, store: RemoteStore, doc: RemoteRefs, moving: list[RefUpdate],
          sent: set[bytes], report: PushReport, staged: list, progress) -> None:
    """Upload, as one pack, what the updates need and the remote's refs do not reach (and this
    push has not sent already). The pack stays staged until the push ends (`_still_there`)."""
    import os

    from .transfer import objects_to_send, staging_dir, write_outgoing
    want = [from_hex(u.new) for u in moving if u.new is not None]
    have = [from_hex(v) for v in doc.refs.values() if is_hex_id(v)]
    objs = [o for o in objects_to_send(repo, want, have) if o[0] not in sent]
    if progress:
        progress("Counting objects", len(objs), None)
    if not objs:
        return
    tmp = staging_dir(repo)
    commits = [o[0] for o in objs if o[1] == TYPE_CODES["commit"]]
    pack = write_outgoing(repo, objs, tmp)
    staged.append((tmp, pack, commits))
    if progress:
        progress("Writing objects", len(objs), len(objs))
    store.upload_pack(tmp, pack, commits)
    report.bytes += os.path.getsize(os.path.join(tmp, f"pack-{pack}.pack"))
    sent.update(o[0] for o in objs)
    report.objects += len(objs)
    report.packs.append(pack)


def _still_there(store: RemoteStore, staged: list) -> None:
    """After the refs write: upload again any pack of this push a remote gc removed meanwhile.
    (A pack is named by its bytes: the same objects pushed again against the same remote make
    the same pack, so a push can re-upload the pack a killed push left, which a gc that listed
    it as old may then delete.)"""
    for tmp, pack, commits in staged:
        if not complete(store.listing(pack).get(pack, {})):
            store.upload_pack(tmp, pack, commits)


def _track(repo: RepoState, remote: str, moving: list[RefUpdate]) -> None:
    """Move the remote-tracking refs of the branches pushed (their namespaces' own refs)."""
    from ..plumbing.refs import delete_ref, move_refs
    by_agent: dict[str | None, list[RefUpdate]] = {}
    for u in moving:
        by_agent.setdefault(split_key(u.key)[0], []).append(u)
    for agent, items in by_agent.items():
        view = namespace(repo, agent)
        moves = []
        for u in items:
            track = tracking_name(remote, split_key(u.key)[1])
            if track is None:
                continue
            cur = view.refs.read(track)
            if u.new is None:
                if cur is not None:
                    delete_ref(view, track, cur, message=f"push {remote}: deleted",
                               deref=False)
            elif cur != u.new:
                moves.append((track, cur, u.new, f"update by push to {remote}"))
        if moves:
            move_refs(view, moves, f"push {remote}")
