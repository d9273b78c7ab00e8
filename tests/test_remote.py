"""Remotes (docs/remotes.md): push, fetch, clone and pull over both transports, a directory and a
real S3 server (SeaweedFS, tests/s3server.py), with git's rules for refs; what a push sends and
a fetch downloads; bad and corrupt remote data."""

from __future__ import annotations

import json
import os

import pytest

from trace_core import InputError, RemoteCorrupt, RemoteNotFound, Repository
from trace_core.fsck import fsck
from trace_core.remote.layout import RemoteStore, pack_key
from trace_core.transport import open_backend


def new_repo(path, **kw) -> Repository:
    return Repository.init(str(path), encoding="chars/4", trusted=True, **kw)


class Remote:
    """A remote of one transport: its URL and the S3 settings the API takes."""

    def __init__(self, url: str, s3=None) -> None:
        self.url, self.s3 = url, s3

    def store(self) -> RemoteStore:
        return RemoteStore(open_backend(self.url, self.s3))


@pytest.fixture(params=["dir", "s3"])
def remote(request, tmp_path) -> Remote:
    if request.param == "dir":
        return Remote(str(tmp_path / "remote.trace-remote"))
    server = request.getfixturevalue("s3server")
    opts = request.getfixturevalue("s3_options")
    return Remote(f"s3://{server.new_bucket()}/team/project", opts)


def history(repo: Repository, n: int, text: str = "message") -> None:
    for i in range(n):
        (repo.user if i % 2 == 0 else repo.assistant)(f"{text} {i}: the parser returns 42")


def same_context(a: Repository, b: Repository) -> bool:
    return a.messages() == b.messages() and a.resolve("HEAD") == b.resolve("HEAD")


# -- clone, incremental push and fetch ------------------------------------------------------
def test_push_clone_and_incremental_transfer(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 20)
    a.remote_add("origin", remote.url)
    first = a.push("origin", s3=remote.s3)
    assert first.ok and [u.status for u in first.updates] == ["new"]
    assert first.objects >= 20 and len(first.packs) == 1
    assert a.refs.read("refs/remotes/origin/main") == a.refs.read("refs/heads/main")

    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, encoding="chars/4",
                         trusted=True)
    assert same_context(a, b)
    assert b.head_branch() == "refs/heads/main"
    assert b.refs.read("refs/remotes/origin/HEAD") == "ref:refs/remotes/origin/main"
    assert [f for f in fsck(b) if f.severity == "error"] == []

    # one commit more: only what it adds travels, as one new pack
    a.user("one more message")
    again = a.push("origin", s3=remote.s3)
    assert [u.status for u in again.updates] == ["fast-forward"]
    assert 1 <= again.objects <= 5, again.objects       # blob, node(s), snapshot, commit
    got = b.fetch("origin", s3=remote.s3)
    assert got.packs == again.packs                     # the one new pack, nothing else
    assert got.updates[0]["status"] == "fast-forward"
    assert b.refs.read("refs/remotes/origin/main") == a.refs.read("refs/heads/main")
    # nothing new: no pack is read at all
    assert b.fetch("origin", s3=remote.s3).packs == []


def test_non_fast_forward_is_refused_and_force_and_lease(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 3)
    a.remote_add("origin", remote.url)
    a.push("origin", s3=remote.s3)
    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    b.user("b's work")
    assert b.push("origin", s3=remote.s3).ok
    a.user("a's work")
    r = a.push("origin", s3=remote.s3)
    assert not r.ok and r.updates[0].reason == "fetch first"     # a lacks b's commit
    a.fetch("origin", s3=remote.s3)
    r = a.push("origin", s3=remote.s3)
    assert not r.ok and r.updates[0].reason == "non-fast-forward"
    # a lease on a stale value is refused; on the fetched value it holds
    b.user("b again")
    b.push("origin", s3=remote.s3)
    r = a.push("origin", force_with_lease=[""], s3=remote.s3)
    assert not r.ok and r.updates[0].reason == "stale info"
    a.fetch("origin", s3=remote.s3)
    r = a.push("origin", force_with_lease=[""], s3=remote.s3)
    assert r.ok and r.updates[0].status == "forced"
    assert remote.store().read_refs().refs["refs/heads/main"] == a.refs.read("refs/heads/main")
    # plain force
    b.user("b overwrites")
    assert not b.push("origin", s3=remote.s3).ok
    assert b.push("origin", force=True, s3=remote.s3).updates[0].status == "forced"


def test_refspecs_tags_delete_atomic_dry_run(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 4)
    a.remote_add("origin", remote.url)
    a.tag_create("v1")
    a.branch_create("feature")
    r = a.push("origin", ["main", "feature", "v1"], s3=remote.s3)
    keys = {u.key: u.status for u in r.updates}
    assert keys == {"refs/heads/main": "new", "refs/heads/feature": "new",
                    "refs/tags/v1": "new"}
    refs = remote.store().read_refs().refs
    assert refs["HEAD"] == "ref:refs/heads/main"
    # HEAD:review names the current branch's commit under another name
    assert a.push("origin", ["HEAD:review"], s3=remote.s3).updates[0].key == "refs/heads/review"
    # a tag is not moved without force
    a.user("later")
    a.tag_delete("v1")
    a.tag_create("v1")
    r = a.push("origin", ["v1"], s3=remote.s3)
    assert not r.ok and r.updates[0].reason == "already exists"
    # dry run: judged, nothing sent
    before = remote.store().read_refs()
    r = a.push("origin", ["main"], dry_run=True, s3=remote.s3)
    assert r.updates[0].status == "fast-forward" and r.objects == 0
    assert remote.store().read_refs().serial == before.serial
    # atomic: one refusal keeps every other ref where it was
    r = a.push("origin", ["main", "v1"], atomic=True, s3=remote.s3)
    assert not r.ok and {u.status for u in r.updates} == {"rejected"}
    assert remote.store().read_refs().serial == before.serial
    # delete
    r = a.push("origin", [":feature"], s3=remote.s3)
    assert r.updates[0].status == "deleted"
    assert "refs/heads/feature" not in remote.store().read_refs().refs
    assert a.refs.read("refs/remotes/origin/feature") is None
    assert not a.push("origin", [":nothing"], s3=remote.s3).ok


def test_agent_namespaces_travel(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.spawn(["researcher"], task="find the venue")
    child = a.agent("researcher")
    child.assistant("found: the venue is in Lisbon")
    a.collapse("researcher")
    a.remote_add("origin", remote.url)
    r = a.push("origin", agents=True, s3=remote.s3)
    keys = {u.key for u in r.updates}
    assert "refs/heads/main" in keys and "agents/researcher/refs/heads/main" in keys
    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    bc = b.agent("researcher")
    assert bc.messages() == child.messages()
    assert bc.refs.read("refs/remotes/origin/main") == child.refs.read("refs/heads/main")
    assert b.messages() == a.messages()
    # the sub-agent's own push from its namespace goes to its key
    child.assistant("one more finding")
    r = child.push("origin", s3=remote.s3)
    assert [u.key for u in r.updates] == ["agents/researcher/refs/heads/main"]
    b.fetch("origin", s3=remote.s3)
    assert bc.refs.read("refs/remotes/origin/main") == child.refs.read("refs/heads/main")


def test_pull_merges_or_rebases(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", remote.url)
    a.push("origin", s3=remote.s3)
    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    b.user("from b")
    b.push("origin", s3=remote.s3)
    out = a.pull("origin", s3=remote.s3)               # a fast-forward
    assert out["result"].status == "fast-forward"
    assert a.messages() == b.messages()
    a.user("from a")
    b.user("from b again")
    b.push("origin", s3=remote.s3)
    out = a.pull("origin", s3=remote.s3)
    assert out["result"].status == "merged"
    assert a.push("origin", s3=remote.s3).ok
    b.user("b, before rebasing")
    out = b.pull("origin", rebase=True, s3=remote.s3)
    assert out["result"].status == "rebased"
    texts = [m["content"] for m in b.messages()]
    assert texts[-1] == "b, before rebasing" and "from a" in texts


# -- corrupt and hostile remotes --------------------------------------------------------------
def _damage(remote: Remote, key: str, edit) -> None:
    backend = remote.store().backend
    data, _tag = backend.get(key)
    backend.put(key, edit(data))


def test_corrupt_pack_is_refused_before_anything_is_stored(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 10)
    a.remote_add("origin", remote.url)
    pack = a.push("origin", s3=remote.s3).packs[0]
    _damage(remote, pack_key(pack, ".pack"),
            lambda d: d[:200] + bytes([d[200] ^ 0xFF]) + d[201:])
    with pytest.raises(RemoteCorrupt, match=pack[:16]) as err:
        Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    assert "\n" not in str(err.value)
    assert not (tmp_path / "b").exists()                  # a failed clone leaves nothing
    c = new_repo(tmp_path / "c")
    with pytest.raises(RemoteCorrupt):
        c.fetch(remote.url, s3=remote.s3)
    assert c.refs.list("refs/") == [] and c.store.packs() == []
    assert not [f for f in os.listdir(c.store.pack_dir) if f.startswith("tmp-")]


@pytest.mark.parametrize("bad", ["truncated-manifest", "refs-json", "refs-key", "refs-value",
                                 "missing-pack", "head-target", "renamed-pack"])
def test_damaged_remote_layout(remote, tmp_path, bad):
    a = new_repo(tmp_path / "a")
    history(a, 4)
    a.remote_add("origin", remote.url)
    pack = a.push("origin", s3=remote.s3).packs[0]
    backend = remote.store().backend
    if bad == "truncated-manifest":
        _damage(remote, pack_key(pack, ".commits"), lambda d: d[:-7])
    elif bad == "renamed-pack":     # a whole valid pack under another name
        from trace_core.remote.layout import encode_manifest
        fake = "ab" * 32
        for ext in (".pack", ".idx"):
            backend.put(pack_key(fake, ext), backend.get(pack_key(pack, ext))[0])
        commits = remote.store().manifest(pack)
        backend.put(pack_key(fake, ".commits"), encode_manifest(commits, bytes.fromhex(fake)))
        for ext in (".commits", ".idx", ".pack"):
            backend.delete(pack_key(pack, ext))
    elif bad == "missing-pack":
        backend.delete(pack_key(pack, ".pack"))
    else:
        doc = json.loads(backend.get("refs")[0])
        if bad == "refs-json":
            backend.put("refs", b"{not json")
        elif bad == "head-target":
            doc["refs"]["HEAD"] = "ref:refs/heads/../../../x"
            backend.put("refs", json.dumps(doc).encode())
        elif bad == "refs-key":
            doc["refs"]["../../etc/passwd"] = doc["refs"]["refs/heads/main"]
            backend.put("refs", json.dumps(doc).encode())
        else:
            doc["refs"]["refs/heads/main"] = "ref:../../x"
            backend.put("refs", json.dumps(doc).encode())
    c = new_repo(tmp_path / "c")
    with pytest.raises((RemoteCorrupt, RemoteNotFound)) as err:
        c.fetch(remote.url, s3=remote.s3)
    assert "\n" not in str(err.value)
    assert c.refs.list("refs/") == []


def test_bad_urls_and_names(tmp_path):
    a = new_repo(tmp_path / "a")
    for url in ("http://example.com/x", "s3://key:secret@bucket/p", "s3://b/p?x=1", "",
                "ftp://x"):
        with pytest.raises(InputError):
            a.remote_add("x", url)
    for name in ("", "a/b", "..", "-x", "x y", "HEAD.lock"):
        with pytest.raises(InputError):
            a.remote_add(name, str(tmp_path / "r"))
    a.remote_add("origin", str(tmp_path / "r"))
    with pytest.raises(InputError, match="already exists"):
        a.remote_add("origin", str(tmp_path / "r2"))
    with pytest.raises(RemoteNotFound, match="no remote named"):
        a.push("nowhere")
    with pytest.raises(RemoteNotFound, match="nothing was pushed"):
        a.fetch("origin")


def test_untrusted_repository_cannot_choose_where_data_goes(tmp_path):
    """A repository made elsewhere names a remote: nothing is sent there until the user trusts
    the repository (or gives the URL themselves)."""
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", str(tmp_path / "exfil"))
    a.close()
    hostile = Repository.open(str(tmp_path / "a"))           # nobody's settings: untrusted
    with pytest.raises(RemoteNotFound, match="not trusted"):
        hostile.push("origin")
    assert not (tmp_path / "exfil").exists()
    assert hostile.remotes() == []
    # the user's own URL works whatever the trust
    assert hostile.push(str(tmp_path / "mine")).ok


def test_remote_remove_drops_tracking_refs(tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", str(tmp_path / "r"))
    a.push("origin")
    assert a.remotes() == [("origin", str(tmp_path / "r"))]
    assert a.remote_remove("origin") == 1
    assert a.remotes() == [] and a.refs.read("refs/remotes/origin/main") is None


def test_remote_gc_merges_old_packs_and_keeps_young_ones(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    a.remote_add("origin", remote.url)
    for i in range(4):
        history(a, 2, f"round {i}")
        a.push("origin", s3=remote.s3)
    a.branch_create("doomed")
    a.worktree("doomed").user("only on doomed")
    a.push("origin", ["doomed"], s3=remote.s3)
    store = remote.store()
    assert len(store.listing()) == 5
    young = a.remote_gc("origin", s3=remote.s3)          # default grace: everything is young
    assert young.merged == [] and len(store.listing()) == 5
    a.push("origin", [":doomed"], s3=remote.s3)
    done = a.remote_gc("origin", expire_s=0, s3=remote.s3)
    assert len(done.merged) == 5 and done.written and done.dropped_objects >= 1
    assert list(store.listing()) == [done.written]
    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    assert b.messages() == a.messages()


def test_progress_is_reported(tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 6)
    seen = []
    a.push(str(tmp_path / "r"), progress=lambda stage, done, total: seen.append(stage))
    assert "Writing objects" in seen
    b = new_repo(tmp_path / "b")
    got = []
    b.fetch(str(tmp_path / "r"), progress=lambda stage, done, total: got.append((stage, total)))
    assert got and got[0][0] == "Receiving packs" and got[0][1] > 0
    with pytest.raises(InputError, match="no commits yet"):
        new_repo(tmp_path / "c").push(str(tmp_path / "r"))


# -- what review found: refs a push or fetch must refuse --------------------------------------
def test_push_never_writes_a_remote_head_or_clashing_names(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", remote.url)
    assert a.push("origin", s3=remote.s3).ok
    for spec in ("main:HEAD", ":HEAD", "main:agents/x/HEAD"):
        with pytest.raises(InputError, match="cannot push to"):
            a.push("origin", [spec], s3=remote.s3)
    assert remote.store().read_refs().refs["HEAD"] == "ref:refs/heads/main"
    # refs/heads/main/x next to refs/heads/main: refused, the rest of the push done
    a.branch_create("side")
    r = a.push("origin", ["side", "side:main/x"], s3=remote.s3)
    got = {u.key: (u.status, u.reason) for u in r.updates}
    assert got["refs/heads/side"][0] == "new"
    assert got["refs/heads/main/x"] == ("rejected", "conflicts with refs/heads/main on the "
                                                    "remote")
    assert "refs/heads/main/x" not in remote.store().read_refs().refs


def test_fetch_refspec_destinations(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", remote.url)
    a.push("origin", s3=remote.s3)
    b = new_repo(tmp_path / "b")
    b.user("b's own")
    b.remote_add("origin", remote.url)
    # HEAD:foo makes foo an ordinary branch at the remote HEAD's commit, not a symbolic ref
    b.fetch("origin", ["HEAD:foo"], s3=remote.s3)
    assert b.refs.read("refs/heads/foo") == a.refs.read("refs/heads/main")
    # never into the branch checked out here, never into HEAD
    for spec in ("+main:main", "main:HEAD"):
        with pytest.raises(InputError):
            b.fetch("origin", [spec], s3=remote.s3)
    assert b.messages()[-1]["content"] == "b's own"
    # a dry run when the remote moved: reported, nothing downloaded
    b.fetch("origin", s3=remote.s3)
    a.user("moved on")
    a.push("origin", s3=remote.s3)
    dry = b.fetch("origin", dry_run=True, s3=remote.s3)
    assert [r["status"] for r in dry.updates if r["remote_ref"] == "refs/heads/main"] == \
        ["updated"]
    assert not b.store.has(bytes.fromhex(a.refs.read("refs/heads/main")))


def test_leases_without_tracking_refs_and_detached_head(remote, tmp_path):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.tag_create("v1")
    # a URL has no remote-tracking refs: a bare lease expects every ref to be absent
    r = a.push(remote.url, ["main", "v1"], force_with_lease=[""], s3=remote.s3)
    assert r.ok and {u.status for u in r.updates} == {"new"}
    a.user("more")
    r = a.push(remote.url, ["main"], force_with_lease=[""], s3=remote.s3)
    assert not r.ok and r.updates[0].reason == "stale info"
    a.checkout("HEAD~1")                            # detached: HEAD:review still works
    r = a.push(remote.url, ["HEAD:review"], s3=remote.s3)
    assert r.ok and r.updates[0].key == "refs/heads/review"


def test_a_pack_removed_before_the_refs_write_is_sent_again(remote, tmp_path, monkeypatch):
    """A remote gc may delete a pack that is byte for byte one a killed push left (a pack is
    named by its bytes) while this push is between its upload and its refs write."""
    from trace_core.remote.layout import RemoteStore as Store
    a = new_repo(tmp_path / "a")
    history(a, 3)
    real = Store.write_refs

    def gc_strikes(self, refs, old):
        for name, parts in self.listing().items():
            self.delete_pack(name, parts)
        return real(self, refs, old)

    monkeypatch.setattr(Store, "write_refs", gc_strikes)
    assert a.push(remote.url, s3=remote.s3).ok
    monkeypatch.setattr(Store, "write_refs", real)
    b = Repository.clone(remote.url, str(tmp_path / "b"), s3=remote.s3, trusted=True)
    assert b.messages() == a.messages()


def test_a_failed_fetch_stores_no_pack_and_bounds_what_it_reads(remote, tmp_path, monkeypatch):
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.push(remote.url, s3=remote.s3)
    backend = remote.store().backend
    doc = json.loads(backend.get("refs")[0])
    doc["refs"]["refs/heads/ghost"] = "ab" * 32             # a commit no pack holds
    backend.put("refs", json.dumps(doc).encode())
    c = new_repo(tmp_path / "c")
    with pytest.raises(RemoteCorrupt, match="no pack of the remote holds"):
        c.fetch(remote.url, s3=remote.s3)
    assert c.store.packs() == [] and c.refs.list("refs/") == []
    import trace_core.remote.layout as layout
    monkeypatch.setattr(layout, "MAX_REFS_BYTES", 64)
    with pytest.raises(RemoteCorrupt, match="larger than 64 bytes"):
        c.fetch(remote.url, s3=remote.s3)
    monkeypatch.undo()
    doc["refs"] = {"/".join(["agents", "x"] * 40) + "/refs/heads/main": "ab" * 32}
    backend.put("refs", json.dumps(doc).encode())
    with pytest.raises(RemoteCorrupt, match="bad ref"):
        c.fetch(remote.url, s3=remote.s3)


# -- hostile packs: each check of a received pack, alone ---------------------------------------
def _plant(remote: Remote, repo: Repository, triples: list, tip: str) -> None:
    """Upload `triples` (id, type code, bytes) as a pack with its manifest, and point the remote's
    main at `tip`: a remote whose pack and manifest checksums are all valid."""
    import tempfile

    from trace_core.objects import TYPE_CODES
    from trace_core.remote.transfer import write_outgoing
    store = remote.store()
    d = tempfile.mkdtemp()
    name = write_outgoing(repo, triples, d)
    store.upload_pack(d, name, [t[0] for t in triples if t[1] == TYPE_CODES["commit"]])
    from trace_core.remote.layout import RemoteRefs
    store.write_refs({"refs/heads/main": tip}, store.read_refs() or RemoteRefs())


def _triples(repo: Repository) -> list:
    from trace_core.remote.transfer import objects_to_send
    return objects_to_send(repo, [bytes.fromhex(repo.refs.read("refs/heads/main"))], [])


@pytest.mark.parametrize("lie", ["missing-blob", "wrong-id", "malformed"])
def test_a_consistent_pack_that_lies_is_refused(remote, tmp_path, lie):
    from trace_core.ids import hash_bytes
    from trace_core.objects import TYPE_CODES
    a = new_repo(tmp_path / "a")
    history(a, 3)
    triples = _triples(a)
    blob = next(i for i, t in enumerate(triples) if t[1] == TYPE_CODES["blob"])
    if lie == "missing-blob":
        del triples[blob]
    elif lie == "wrong-id":                # another object's bytes under a blob's id
        oid, code, data = triples[blob]
        other = next(t for t in triples if t[1] == TYPE_CODES["blob"] and t[0] != oid)
        triples[blob] = (oid, code, other[2])
    else:                                  # hashes right, but not canonical msgpack
        bad = b"\x92\xa4blob\x81\xa4role\xd9\x04user"     # str8 where fixstr is canonical
        triples.append((hash_bytes(bad), TYPE_CODES["blob"], bad))
    tip = a.refs.read("refs/heads/main")
    _plant(remote, a, triples, tip)
    c = new_repo(tmp_path / "c")
    want = {"missing-blob": "is in no pack", "wrong-id": "does not hash",
            "malformed": "malformed"}[lie]
    with pytest.raises(RemoteCorrupt, match=want) as err:
        c.fetch(remote.url, s3=remote.s3)
    assert "\n" not in str(err.value)
    assert c.store.packs() == [] and c.refs.list("refs/") == []


@pytest.mark.parametrize("bad", ["flipped", "other-pack"])
def test_damaged_manifests(remote, tmp_path, bad):
    from trace_core.remote.layout import encode_manifest
    a = new_repo(tmp_path / "a")
    history(a, 3)
    pack = a.push(remote.url, s3=remote.s3).packs[0]
    backend = remote.store().backend
    if bad == "flipped":
        _damage(remote, pack_key(pack, ".commits"), lambda d: d[:14] + bytes([d[14] ^ 1]) + d[15:])
        want = "not a valid pack manifest"
    else:
        commits = remote.store().manifest(pack)
        backend.put(pack_key(pack, ".commits"), encode_manifest(commits, b"\x01" * 32))
        want = "describes another pack"
    with pytest.raises(RemoteCorrupt, match=want):
        new_repo(tmp_path / "c").fetch(remote.url, s3=remote.s3)


def test_refs_document_checks(tmp_path):
    url = str(tmp_path / "r")
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.push(url)
    backend = open_backend(url)
    doc = json.loads(backend.get("refs")[0])
    for edit, want in ((lambda d: d.update(version=2), "unsupported version 2"),
                       (lambda d: d.update(format="x"), "not a trace remote's refs"),
                       (lambda d: d.update(serial=-1), "no serial")):
        changed = json.loads(json.dumps(doc))
        edit(changed)
        backend.put("refs", json.dumps(changed).encode())
        with pytest.raises(RemoteCorrupt, match=want) as err:
            new_repo(tmp_path / f"c{want[:3]}").fetch(url)
        assert f"{url}/refs" in str(err.value)
    backend.put("refs", b"{not json")
    with pytest.raises(RemoteCorrupt, match="refs is not JSON"):
        a.fetch(url)


def test_root_push_carries_the_sub_agent_history_its_meta_names(tmp_path):
    """Only main is pushed; its collapse commit's meta names the child's commits, which
    travel with it (a blame or expand in the clone reads them)."""
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.spawn(["kid"], task="look it up")
    kid = a.agent("kid")
    kid.assistant("the answer is 42")
    a.collapse("kid")
    tip = bytes.fromhex(kid.refs.read("refs/heads/main"))
    a.push(str(tmp_path / "r"))
    b = Repository.clone(str(tmp_path / "r"), str(tmp_path / "b"), trusted=True)
    assert b.store.has(tip)
    assert "the answer is 42" in json.dumps(b.expand("HEAD").context("json"))


def test_fetch_rules_for_tags_prune_and_destinations(tmp_path):
    url = str(tmp_path / "r")
    a = new_repo(tmp_path / "a")
    history(a, 3)
    a.tag_create("v1", "HEAD~1")
    a.branch_create("gone")
    a.push(url, ["main", "v1", "gone"])
    b = new_repo(tmp_path / "b")
    b.user("b")
    b.remote_add("origin", url)
    b.fetch("origin")
    assert b.refs.read("refs/tags/v1") == a.refs.read("refs/tags/v1")
    # the tag moves on the remote: refused here unless forced
    a.tag_delete("v1")
    a.tag_create("v1")
    assert a.push(url, ["v1"], force=True).ok
    r = b.fetch("origin")
    row = next(u for u in r.updates if u["remote_ref"] == "refs/tags/v1")
    assert not r.ok and row["reason"] == "would clobber existing tag"
    assert b.fetch("origin", force=True).ok
    assert b.refs.read("refs/tags/v1") == a.refs.read("refs/tags/v1")
    # a remote-tracking ref follows a forced update; a named destination does not
    b.fetch("origin", ["main:mirror"])
    a.reset("HEAD~1", "hard")
    a.user("rewritten")
    assert a.push(url, force=True).ok
    r = b.fetch("origin")
    assert next(u for u in r.updates if u["remote_ref"] == "refs/heads/main")["status"] \
        == "forced"
    assert not b.fetch("origin", ["main:mirror"]).ok
    assert b.fetch("origin", ["+main:mirror"]).ok
    # --prune
    a.push(url, [":gone"])
    b.fetch("origin", prune=True)
    assert b.refs.read("refs/remotes/origin/gone") is None
    assert b.refs.read("refs/remotes/origin/main") is not None


def test_a_write_that_landed_before_its_answer_was_lost(tmp_path, monkeypatch):
    """An S3 client may retry a conditional write whose first attempt landed: the retry fails
    its precondition. The push finds its own values and reports them done."""
    from trace_core.errors import RemoteConflict
    from trace_core.remote.layout import RemoteStore as Store
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.remote_add("origin", str(tmp_path / "r"))
    a.push("origin")
    a.user("more")
    real = Store.write_refs
    calls = []

    def lands_then_fails(self, refs, old):
        calls.append(1)
        real(self, refs, old)
        if len(calls) == 1:
            raise RemoteConflict("precondition failed (a retry of a write that landed)")

    monkeypatch.setattr(Store, "write_refs", lands_then_fails)
    r = a.push("origin")
    assert r.ok and r.updates[0].status == "fast-forward" and len(calls) == 1
    assert a.refs.read("refs/remotes/origin/main") == a.refs.read("refs/heads/main")


def test_upload_order_pack_index_manifest_then_refs(tmp_path, monkeypatch):
    from trace_core.transport.local import LocalBackend
    order = []
    real_upload, real_put = LocalBackend.upload, LocalBackend.put
    monkeypatch.setattr(LocalBackend, "upload",
                        lambda self, key, path: (order.append(key), real_upload(self, key,
                                                                                 path))[1])
    monkeypatch.setattr(LocalBackend, "put",
                        lambda self, key, data, expect=None: (order.append(key),
                                                              real_put(self, key, data,
                                                                       expect))[1])
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.push(str(tmp_path / "r"))
    assert [k.rsplit(".", 1)[-1] if "." in k else k for k in order] == \
        ["pack", "idx", "commits", "refs"]


def test_remote_gc_keeps_what_it_must(tmp_path):
    url = str(tmp_path / "r")
    a = new_repo(tmp_path / "a")
    history(a, 2)
    a.spawn(["kid"], task="t")
    a.agent("kid").assistant("kid's finding")
    a.collapse("kid")
    a.push(url)                                      # main only: the kid's commits by meta
    a.user("second")
    a.push(url)
    store = RemoteStore(open_backend(url))
    incomplete = "cd" * 32
    store.backend.put(pack_key(incomplete, ".pack"), b"partial")   # a push killed just now
    before = sorted(store.listing())
    dry = a.remote_gc(url, expire_s=0, dry_run=True, now=None)
    assert sorted(store.listing()) == before and len(dry.merged) == 2
    done = a.remote_gc(url, expire_s=3600, now=__import__("time").time() + 7200)
    assert len(done.merged) == 2 and done.incomplete_removed == [incomplete]
    b = Repository.clone(url, str(tmp_path / "b"), trusted=True)
    assert "kid's finding" in json.dumps(b.expand("HEAD~1").context("json"))
    store.backend.put(pack_key(incomplete, ".pack"), b"partial")
    young = a.remote_gc(url, expire_s=3600)
    assert young.incomplete_removed == [] and incomplete in store.listing()


def test_s3_settings_the_environment_wins_over_the_users_config(tmp_path):
    from trace_core.config import Config
    from trace_core.remote.remotes import s3_options
    from trace_core.transport.options import S3Options
    user = Config.parse("[s3]\n\tendpoint = http://config:1\n\tregion = eu\n"
                        "\tallow-http = true\n", origin="user")
    a = Repository.init(str(tmp_path / "a"), user_config=user, trusted=True)
    got = s3_options(a, S3Options(endpoint="http://env:2", allow_http=False))
    assert (got.endpoint, got.region, got.allow_http) == ("http://env:2", "eu", False)
    assert s3_options(a, None).allow_http is True
    assert "hunter2-7" not in repr(S3Options(secret_access_key="hunter2-7"))


def test_ssh_style_urls_are_refused(tmp_path):
    a = new_repo(tmp_path / "a")
    for url in ("git@example.com:team/project", "host:path/x", "ssh://host/x"):
        with pytest.raises(InputError, match="unsupported remote URL"):
            a.remote_add("x", url)
