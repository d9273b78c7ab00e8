"""Many writers, one remote (docs/remotes.md, "Many writers"): real processes, each with its own
repository (a "host"), pushing to one remote at once over both transports; pushes and fetches
killed at the worst moments. Nothing acknowledged is lost, nothing partial is ever visible."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from trace_core import Repository
from trace_core.remote.layout import RemoteStore
from trace_core.transport import open_backend

# the script each host runs: python -c SCRIPT REPO URL S3-JSON ...
_PRELUDE = textwrap.dedent("""
    import json, os, signal, sys
    from trace_core import Repository
    from trace_core.transport.s3 import S3Options
    repo_path, url, s3 = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    s3 = S3Options(**s3) if s3 else None
    repo = Repository.open(repo_path, trusted=True)
""")


def _opts_json(s3) -> str:
    if s3 is None:
        return "null"
    return json.dumps({"endpoint": s3.endpoint, "region": s3.region,
                       "access_key_id": s3.access_key_id,
                       "secret_access_key": s3.secret_access_key, "allow_http": s3.allow_http})


def _run(body: str, repo: str, url: str, s3, *extra: str, wait: bool = True):
    args = [sys.executable, "-c", _PRELUDE + textwrap.dedent(body), repo, url, _opts_json(s3),
            *extra]
    if not wait:
        return subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    return subprocess.run(args, capture_output=True, text=True, timeout=300)


@pytest.fixture(params=["dir", "s3"])
def target(request, tmp_path):
    if request.param == "dir":
        return str(tmp_path / "remote"), None
    server = request.getfixturevalue("s3server")
    return f"s3://{server.new_bucket()}/shared", request.getfixturevalue("s3_options")


def _seed(tmp_path, url, s3, hosts: int) -> list[str]:
    """A remote with one commit, and `hosts` clones of it."""
    seed = Repository.init(str(tmp_path / "seed"), encoding="chars/4", trusted=True)
    seed.user("the task: plan the offsite")
    assert seed.push(url, s3=s3).ok
    paths = []
    for i in range(hosts):
        p = str(tmp_path / f"host{i}")
        Repository.clone(url, p, s3=s3, trusted=True, encoding="chars/4").close()
        paths.append(p)
    return paths


_RACE = """
    from trace_core.errors import MergeConflict
    host, rounds = int(sys.argv[4]), int(sys.argv[5])
    pushed, retries, refused = [], 0, 0
    for r in range(rounds):
        repo.user(f"host {host} round {r}: a finding")
        while True:
            rep = repo.push("origin", s3=s3)
            retries += rep.retries
            if rep.ok:
                pushed.append(rep.updates[0].new)
                break
            refused += 1
            assert rep.updates[0].reason in ("fetch first", "non-fast-forward"), rep.updates
            out = repo.pull("origin", strategy="union", s3=s3)
            assert out["result"].status in ("merged", "fast-forward"), out["result"].status
    print(json.dumps({"pushed": pushed, "retries": retries, "refused": refused}))
"""


def test_many_hosts_push_one_branch_at_once(target, tmp_path):
    """Six hosts commit and push `main` eight times each, at once; a push that loses the race is
    refused (never overwrites), the host pulls and pushes again. Every push acknowledged is in
    the remote's history at the end."""
    url, s3 = target
    hosts = _seed(tmp_path, url, s3, 6)
    procs = [_run(_RACE, p, url, s3, str(i), "8", wait=False) for i, p in enumerate(hosts)]
    results = []
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    check = Repository.clone(url, str(tmp_path / "check"), s3=s3, trusted=True)
    tip = check.resolve("HEAD")
    acknowledged = [bytes.fromhex(c) for r in results for c in r["pushed"]]
    assert len(acknowledged) == 48
    assert all(check.index.is_ancestor(c, tip) for c in acknowledged)
    texts = {m["content"] for m in check.messages()}
    assert all(f"host {h} round {r}: a finding" in texts for h in range(6) for r in range(8))
    assert RemoteStore(open_backend(url, s3)).read_refs().serial >= 49
    # the race happened: pushes were refused (a host behind) and conditional writes were lost
    print("refused", sum(r["refused"] for r in results), "retries",
          sum(r["retries"] for r in results))
    assert sum(r["refused"] for r in results) > 0


_BRANCH = """
    host = int(sys.argv[4])
    repo.branch_create(f"host{host}")
    view = repo.worktree(f"host{host}")
    oks = 0
    for r in range(10):
        view.user(f"host {host} branch round {r}")
        rep = repo.push("origin", [f"host{host}"], s3=s3)
        assert rep.ok, rep.as_dict()
        oks += 1
    print(json.dumps({"ok": oks}))
"""


def test_hosts_pushing_different_branches_all_land(target, tmp_path):
    """Different branches at once: a lost conditional write is redone, never refused."""
    url, s3 = target
    hosts = _seed(tmp_path, url, s3, 4)
    procs = [_run(_BRANCH, p, url, s3, str(i), wait=False) for i, p in enumerate(hosts)]
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]
    refs = RemoteStore(open_backend(url, s3)).read_refs().refs
    for i, p in enumerate(hosts):
        with Repository.open(p) as r:
            assert refs[f"refs/heads/host{i}"] == r.refs.read(f"refs/heads/host{i}")


# -- killed pushes and fetches ----------------------------------------------------------------
_KILL_BEFORE_REFS = """
    from trace_core.remote.layout import RemoteStore
    RemoteStore.write_refs = lambda *a, **k: os.kill(os.getpid(), signal.SIGKILL)
    repo.user("this push dies after its pack is uploaded")
    repo.push("origin", s3=s3)
"""

_KILL_BEFORE_MANIFEST = """
    from trace_core.remote import layout
    real = layout.RemoteStore.upload_pack
    def upload(self, d, name, commits):
        self.backend.upload(layout.pack_key(name, ".pack"), os.path.join(d, f"pack-{name}.pack"))
        os.kill(os.getpid(), signal.SIGKILL)
    layout.RemoteStore.upload_pack = upload
    repo.user("this push dies halfway through its pack")
    repo.push("origin", s3=s3)
"""


@pytest.mark.parametrize("where", ["before-refs", "before-manifest"])
def test_killed_push_leaves_the_remote_readable(target, tmp_path, where):
    url, s3 = target
    [host] = _seed(tmp_path, url, s3, 1)
    store = RemoteStore(open_backend(url, s3))
    before = store.read_refs()
    body = _KILL_BEFORE_REFS if where == "before-refs" else _KILL_BEFORE_MANIFEST
    p = _run(body, host, url, s3)
    assert p.returncode == -9, p.stderr[-2000:]
    after = store.read_refs()
    assert after.refs == before.refs and after.serial == before.serial
    listing = store.listing()
    assert len(listing) == 2                       # the seed's pack and the orphan
    complete = [n for n, parts in listing.items() if ".commits" in parts]
    assert len(complete) == (2 if where == "before-refs" else 1)
    # the remote reads as it was: a clone gets the seed's context
    c = Repository.clone(url, str(tmp_path / "c"), s3=s3, trusted=True)
    assert [m["content"] for m in c.messages()] == ["the task: plan the offsite"]
    # the host goes on and pushes; the remote's gc (grace 0) drops what the dead push left
    with Repository.open(host, trusted=True) as h:
        h.user("and one more")
        assert h.push("origin", s3=s3).ok
        report = h.remote_gc("origin", expire_s=0, s3=s3)
    assert len(report.incomplete_removed) == (0 if where == "before-refs" else 1)
    listing = store.listing()
    assert len(listing) == 1 and all({".pack", ".idx", ".commits"} <= p.keys()
                                     for p in listing.values())
    d = Repository.clone(url, str(tmp_path / "d"), s3=s3, trusted=True)
    assert [m["content"] for m in d.messages()][-2:] == [
        "this push dies " + ("after its pack is uploaded" if where == "before-refs"
                             else "halfway through its pack"), "and one more"]


_KILL_FETCH = """
    from trace_core.remote import transfer
    def die(self):
        os.kill(os.getpid(), signal.SIGKILL)
    transfer.Received.install = die
    repo.fetch("origin", s3=s3)
"""


def test_killed_fetch_changes_nothing_here(target, tmp_path):
    url, s3 = target
    a, b = _seed(tmp_path, url, s3, 2)
    with Repository.open(a, trusted=True) as ra:
        ra.user("new work")
        assert ra.push("origin", s3=s3).ok
    with Repository.open(b) as rb:
        refs_before = rb.refs.list("refs/")
    p = _run(_KILL_FETCH, b, url, s3)
    assert p.returncode == -9
    with Repository.open(b, trusted=True) as rb:
        assert rb.refs.list("refs/") == refs_before
        got = rb.fetch("origin", s3=s3)               # a later fetch does the whole work
        assert got.ok and rb.messages("origin/main")[-1]["content"] == "new work"
