"""Fetch, clone and pull: read the remote's refs, download the packs holding commits this
repository lacks, check every object before storing any, then move the remote-tracking refs
(`refs/remotes/<remote>/<branch>` in the namespace each branch belongs to) and create the tags
that are new (docs/remotes.md)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import InputError, RefError, RemoteCorrupt, RemoteError, RemoteNotFound
from ..ids import from_hex, is_hex_id
from ..state import RepoState
from .layout import STATUS_REFS, RemoteRefs, RemoteStore, complete, remote_key, split_key
from .refspecs import checked, full_name, parse_refspec, tracking_name
from .remotes import namespace

if TYPE_CHECKING:
    from ..transport.options import S3Options

Progress = Callable[[str, int, int | None], None] | None
#: a pack listed and then removed by the remote's gc makes a fetch start over, this often
MAX_ATTEMPTS = 5


@dataclass
class FetchReport:
    """What a fetch did; `as_dict()` is its JSON form."""

    url: str
    remote: str | None
    updates: list[dict] = field(default_factory=list)
    packs: list[str] = field(default_factory=list)
    objects: int = 0
    bytes: int = 0
    dry_run: bool = False

    @property
    def ok(self) -> bool:
        return all(u["status"] != "rejected" for u in self.updates)

    def as_dict(self) -> dict:
        return {"url": self.url, "remote": self.remote, "ok": self.ok, "dry_run": self.dry_run,
                "packs": self.packs, "objects": self.objects, "bytes": self.bytes,
                "updates": self.updates}


# -- objects ----------------------------------------------------------------------------------
def _download(repo: RepoState, store: RemoteStore, tips: Sequence[bytes], report: FetchReport,
              progress: Progress) -> bool:
    """Download and store the packs holding the commits of `tips` this repository lacks;
    False when a pack vanished on the way (the remote's gc: start over)."""
    from .transfer import Received, remove_staging, staging_dir
    has = repo.store.has
    if all(has(t) for t in tips):
        return True
    listing = {n: parts for n, parts in store.listing().items() if complete(parts)}
    local = repo.store.pack_dir
    manifests: dict[str, list[bytes]] = {}
    for name in listing:
        if os.path.exists(os.path.join(local, f"pack-{name}.idx")):
            continue
        commits = store.manifest(name)
        if commits is None:
            return False
        manifests[name] = commits
    wanted = [n for n, cs in manifests.items() if any(not has(c) for c in cs)]
    rest = [n for n in manifests if n not in wanted]
    tmp = staging_dir(repo)
    try:
        got = Received(repo, tmp, store.url)
        total = sum(listing[n][".pack"].size + listing[n][".idx"].size for n in manifests)
        size = 0
        for batch in (wanted, rest):
            for name in batch:
                if progress:
                    progress("Receiving packs", size, total)
                if not store.download_pack(name, tmp):
                    return False
                got.check(name)
                size += listing[name][".pack"].size + listing[name][".idx"].size
            if not got.missing():
                break
        if progress:
            progress("Receiving packs", size, total)
        lost = got.missing()
        if lost:
            oid, by = lost[0]
            raise RemoteCorrupt(f"{store.url}: object {oid.hex()[:16]} (named by "
                                f"{by.hex()[:16]}) is in no pack of the remote")
        for t in tips:
            if t not in got.commits and not has(t):
                raise RemoteCorrupt(f"{store.url}: a ref names commit {t.hex()[:16]}, which "
                                    "no pack of the remote holds")
        got.install()
        report.objects, report.bytes, report.packs = len(got.ids), size, list(got.names)
    finally:
        remove_staging(tmp)
    return True


# -- refs -------------------------------------------------------------------------------------
def _selected(repo: RepoState, doc: RemoteRefs, refspecs: Sequence[str]) -> list[tuple]:
    """(remote key, local agent, local ref or None, force) of what a fetch updates: with no
    refspecs every branch, tag and HEAD of every namespace (branches and HEAD as remote-tracking
    refs); a refspec `[+]SRC[:DST]` names a branch or tag SRC of this namespace on the remote
    and, optionally, the local ref DST it sets (fast-forward only unless `+`)."""
    out: list[tuple] = []
    if not refspecs:
        for key in doc.refs:
            agent, name = split_key(key)
            if name in ("HEAD", *STATUS_REFS) or name.startswith(("refs/heads/", "refs/tags/")):
                out.append((key, agent, None, False))
        return out
    for spec in refspecs:
        rs = parse_refspec(spec)
        if not rs.src:
            raise InputError(f"bad refspec {spec!r:.80}: a fetch needs a source")
        found: str | None = rs.src if rs.src.startswith("agents/") else None
        if found is None:
            for cand in (full_name(rs.src), full_name(rs.src, "refs/tags/")):
                k = remote_key(repo.agent_name, cand)
                if k in doc.refs:
                    found = k
                    break
        if found is None or found not in doc.refs:
            raise RemoteNotFound(f"no ref {rs.src!r:.80} on the remote")
        agent = split_key(found)[0]
        dst = _fetch_dest(repo, agent, rs.dst) if rs.dst else None
        out.append((found, agent, dst, rs.force))
    return out


def _fetch_dest(repo: RepoState, agent: str | None, dst: str) -> str:
    """The local ref a refspec's DST names; InputError for a HEAD, a name outside refs/, or
    the branch checked out in that namespace (a fetch never moves it: pull merges into it)."""
    full = checked(dst)
    if not full.startswith("refs/"):
        raise InputError(f"cannot fetch into {dst!r:.80}: not a ref under refs/")
    view = namespace(repo, agent)
    if full == view.head_branch():
        raise InputError(f"refusing to fetch into {full}, the branch checked out "
                         f"{'in agent ' + agent if agent else 'here'} (trace pull merges into "
                         "it)")
    return full


def _update_refs(repo: RepoState, remote: str | None, doc: RemoteRefs, chosen: list[tuple],
                 prune: bool, force: bool, dry_run: bool) -> list[dict]:
    from ..plumbing.refs import delete_ref, move_refs, set_symbolic_ref
    rows: list[dict] = []
    views: dict = {}

    def view(agent: str | None) -> RepoState:
        if agent not in views:
            views[agent] = namespace(repo, agent)
        return views[agent]

    moves: dict = {}
    symrefs = []
    for key, agent, dst, forced in chosen:
        value = doc.refs[key]
        name = split_key(key)[1]
        local = dst or (tracking_name(remote, name) if remote else None)
        if local is None and (name.startswith("refs/tags/") or name in STATUS_REFS):
            local = name
        if local is None:
            rows.append({"remote_ref": key, "local_ref": None, "old": None, "new": value,
                         "status": "fetched"})
            continue
        v = view(agent)
        if value.startswith("ref:"):
            if dst is not None:        # a named destination gets the commit, never a symref
                value = doc.refs.get(remote_key(agent, value[4:]), "")
                if not is_hex_id(value):
                    raise RemoteNotFound(f"the remote's {key} names no branch it has")
            else:
                target = tracking_name(remote, value[4:]) if remote else None
                if target and v.refs.read(local) != "ref:" + target:
                    symrefs.append((v, local, target))
                continue
        old = v.refs.read(local)
        row = {"remote_ref": key, "local_ref": (f"agents/{agent}: " if agent else "") + local,
               "old": old, "new": value, "status": ""}
        rows.append(row)
        is_tracking = remote is not None and local.startswith(f"refs/remotes/{remote}/")
        if old == value:
            row["status"] = "up-to-date"
        elif old is None:
            row["status"] = "new"
        elif name in STATUS_REFS:      # this namespace's own record of the sub-agent stays
            row["status"], row["reason"] = "kept", "this namespace has its own"
        elif local.startswith("refs/tags/") and not (forced or force):
            row["status"], row["reason"] = "rejected", "would clobber existing tag"
        else:
            ff = _descends(repo, old, value)
            if ff is None:                 # (a dry run: the new commit is not here to tell)
                row["status"] = "updated"
            elif ff:
                row["status"] = "fast-forward"
            elif is_tracking or forced or force:
                row["status"] = "forced"
            else:
                row["status"], row["reason"] = "rejected", "non-fast-forward"
        if row["status"] not in ("up-to-date", "rejected", "kept"):
            moves.setdefault(agent, []).append((local, old, value, f"fetch {key}", row))
    if prune and remote is not None:
        from ..gc import agent_of, namespaces
        for prefix, refs in namespaces(repo):
            agent = agent_of(prefix)
            for local, old in refs.list(f"refs/remotes/{remote}/"):
                branch = "refs/heads/" + local[len(f"refs/remotes/{remote}/"):]
                if local.endswith("/HEAD") or remote_key(agent, branch) in doc.refs:
                    continue
                rows.append({"remote_ref": remote_key(agent, branch), "local_ref": local,
                             "old": old, "new": None, "status": "pruned"})
                if not dry_run:
                    delete_ref(view(agent), local, old, message="fetch --prune", deref=False)
    if not dry_run:
        for agent, items in moves.items():
            for local, old, value, message, row in items:
                try:      # (one by one: a ref that cannot be created here is refused alone)
                    move_refs(view(agent), [(local, old, value, message)], message)
                except RefError as exc:
                    row["status"], row["reason"] = "rejected", str(exc)
        for v, local, target in symrefs:
            if v.refs.read(target) is not None:
                set_symbolic_ref(v, local, target, message="fetch")
    return rows


def _descends(repo: RepoState, old: str, new: str) -> bool | None:
    """Whether commit `new` descends from `old`; None when `new` is not here (a dry run)."""
    if not repo.store.has(from_hex(new)):
        return None
    if old.startswith("ref:") or not is_hex_id(old) or not repo.store.has(from_hex(old)):
        return False
    return repo.index.is_ancestor(from_hex(old), from_hex(new))


def fetch(repo: RepoState, remote: str = "origin", refspecs: Sequence[str] = (), *,
          prune: bool = False, force: bool = False, dry_run: bool = False,
          s3: S3Options | None = None, progress: Progress = None) -> FetchReport:
    """Fetch from `remote` (a configured remote's name, or a URL or path): every branch, tag
    and HEAD of every namespace (or what `refspecs` name, in this namespace). Only the packs
    holding commits this repository lacks are downloaded; every object is checked (hash,
    format, links) before any is stored; then the remote-tracking refs move (forced, as git's
    default refspec), tags new here are created (one that would change is refused unless
    `force`), and with `prune` remote-tracking refs of branches gone from the remote are
    deleted. `dry_run`: read the refs and report, download nothing."""
    from .remotes import open_remote
    name, store = open_remote(repo, remote, s3)
    return _fetch(repo, name, store, refspecs, prune, force, dry_run, progress)[0]


def _fetch(repo: RepoState, name: str | None, store: RemoteStore, refspecs: Sequence[str],
           prune: bool, force: bool, dry_run: bool, progress: Progress
           ) -> tuple[FetchReport, RemoteRefs]:
    report = FetchReport(store.url, name, dry_run=dry_run)
    for _attempt in range(MAX_ATTEMPTS):
        doc = store.read_refs()
        if doc is None:
            raise RemoteNotFound(f"no trace remote at {store.url} (nothing was pushed there)")
        chosen = _selected(repo, doc, refspecs)
        tips = [from_hex(doc.refs[k]) for k, *_ in chosen if is_hex_id(doc.refs[k])]
        if dry_run or _download(repo, store, tips, report, progress):
            report.updates = _update_refs(repo, name, doc, chosen, prune and not refspecs,
                                          force, dry_run)
            return report, doc
    raise RemoteError(f"{store.url}: its packs kept changing during the fetch (a gc running "
                      "there?); try again")


# -- clone ------------------------------------------------------------------------------------
def clone(factory: Any, url: str, path: str, *, name: str = "origin",
          s3: S3Options | None = None, progress: Progress = None, **open_args: Any) -> Any:
    """Create a repository at `path` (`factory`: the class whose `init` makes it, e.g.
    Repository; `open_args` go to it), add remote `name` at `url`, fetch everything, and give
    every namespace the remote's HEAD branch as its own, checked out. A clone that fails
    removes what it created. (The URL is the caller's: it is used whether or not the new
    repository is trusted.)"""
    from ..state import TRACE_DIR
    from ..transport import parse_url
    from .remotes import check_remote_name, remote_add, store_for
    check_remote_name(name)
    parse_url(url)                   # (a bad URL is refused before anything is created)
    target = os.path.abspath(path)
    trace_dir = target if os.path.basename(target) == TRACE_DIR else \
        os.path.join(target, TRACE_DIR)
    if os.path.exists(trace_dir):
        raise InputError(f"{trace_dir} already exists")
    made_top = not os.path.exists(target)
    repo = factory.init(target, **open_args)
    try:
        _report, doc = _fetch(repo, name, store_for(repo, remote_add(repo, name, url), s3), (),
                              False, False, False, progress)
        _checkout_heads(repo, name, doc)
    except BaseException:
        repo.close()
        shutil.rmtree(target if made_top else trace_dir, ignore_errors=True)
        raise
    return repo


def _checkout_heads(repo: RepoState, name: str, doc: RemoteRefs) -> None:
    """Each namespace's HEAD branch of the remote becomes the namespace's own branch, and its
    HEAD."""
    from ..plumbing.refs import move_refs, set_symbolic_ref
    for key, value in doc.refs.items():
        agent, ref = split_key(key)
        if ref != "HEAD":
            continue
        branch = value[4:]
        tip = doc.refs.get(remote_key(agent, branch))
        if tip is None or not repo.store.has(from_hex(tip)):
            continue
        view = namespace(repo, agent)
        if view.refs.read(branch) is None:
            move_refs(view, [(branch, None, tip, f"clone: from {name}")], "clone")
        set_symbolic_ref(view, "HEAD", branch, message="clone")


# -- pull -------------------------------------------------------------------------------------
def pull(repo: RepoState, remote: str = "origin", branch: str | None = None, *,
         rebase: bool = False, strategy: str = "manual", s3: S3Options | None = None,
         progress: Progress = None) -> dict:
    """Fetch from `remote`, then merge (or with `rebase`, rebase onto) its branch `branch`
    (default: the current branch's name) with the existing merge machinery: a fast-forward
    when possible, else a merge commit, or a stop at conflicts (trace merge --continue).
    Returns {"fetch": FetchReport dict, "upstream": ref, "result": the merge's or rebase's}."""
    from ..merge.ops import merge
    from ..merge.replay import rebase as do_rebase
    from .remotes import open_remote
    name, store = open_remote(repo, remote, s3)
    if name is None:
        raise InputError("pull needs a configured remote (trace remote add NAME URL), whose "
                         "remote-tracking branch it merges")
    current = repo.head_branch()
    if branch is None:
        if current is None:
            raise InputError("HEAD is detached: name the remote branch to pull")
        branch = current[11:] if current.startswith("refs/heads/") else current
    report = _fetch(repo, name, store, (), False, False, False, progress)[0]
    if not report.ok:
        bad = next(u for u in report.updates if u["status"] == "rejected")
        raise RemoteError(f"the fetch refused {bad['local_ref']} ({bad.get('reason')}); "
                          "nothing merged (see trace fetch)")
    upstream = f"refs/remotes/{report.remote}/{branch}"
    if repo.refs.read(upstream) is None:
        raise RemoteNotFound(f"{report.remote} has no branch {branch} here "
                             f"(trace branch -r lists what it has)")
    if rebase:
        result: Any = do_rebase(repo, upstream, strategy=strategy)
    else:
        result = merge(repo, upstream, strategy=strategy,
                       message=f"merge {report.remote}/{branch} of {report.url}")
    return {"fetch": report.as_dict(), "upstream": upstream, "result": result}
