"""The Backend conformance suite (trace_core/transport/base.py), run against both transports:
the directory backend and the S3 backend on a real SeaweedFS server (tests/s3server.py).
Then what only S3 has: the prefix, bucket names, unreachable endpoints, wrong credentials,
missing buckets, and options that never show their secrets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import pytest
from conftest import closed_port

from trace_core.errors import (
    InputError,
    RemoteConflict,
    RemoteCorrupt,
    RemoteError,
    RemoteNotFound,
)
from trace_core.transport.base import CREATE, check_key
from trace_core.transport.s3 import S3Backend, S3Options

try:
    from trace_core.transport.local import LocalBackend
except ImportError:        # pragma: no cover - written alongside this suite
    LocalBackend = None

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ["local", "s3"] if LocalBackend is not None else ["s3"]
BAD_KEYS = ["../x", "/abs", "a//b", "a/./b", "a/../b", "", "a/", "x\ny", ".."]
SECRET = "wJalrXUtnFEMI-K7MDENG-bPxRfiCYSECRETKEY"


@pytest.fixture(params=BACKENDS)
def backend(request, tmp_path):
    """A fresh, empty remote of each kind (S3: under a prefix, in a fresh bucket)."""
    if request.param == "local":
        return LocalBackend(str(tmp_path / "remote"))
    srv = request.getfixturevalue("s3server")
    return S3Backend(srv.new_bucket(), "team/proj", request.getfixturevalue("s3_options"))


def one_line(e: BaseException) -> str:
    text = str(e)
    assert text and "\n" not in text and "\r" not in text, repr(text)
    return text


# ---------------------------------------------------------------------------------------------
# the protocol, on both backends


def test_get_missing(backend):
    assert backend.get("refs/heads/main") is None
    assert backend.get("nothing") is None


def test_put_get_round_trip_and_tags(backend):
    t1 = backend.put("refs/heads/main", b"one")
    assert isinstance(t1, str) and t1
    assert backend.get("refs/heads/main") == (b"one", t1)
    t2 = backend.put("refs/heads/main", b"two")
    assert t2 != t1
    assert backend.get("refs/heads/main") == (b"two", t2)
    empty = backend.put("empty", b"")
    assert backend.get("empty") == (b"", empty)
    binary = bytes(range(256)) * 40
    tb = backend.put("objects/aa/bb", binary)
    assert backend.get("objects/aa/bb") == (binary, tb)


def test_create_refuses_existing_key_and_writes_nothing(backend):
    tag = backend.put("lock", b"first", expect=CREATE)
    assert backend.get("lock") == (b"first", tag)
    with pytest.raises(RemoteConflict) as e:
        backend.put("lock", b"second", expect=CREATE)
    one_line(e.value)
    assert "lock" in str(e.value)
    assert backend.get("lock") == (b"first", tag)


def test_if_match_refuses_a_stale_tag_and_writes_nothing(backend):
    t1 = backend.put("ref", b"v1")
    t2 = backend.put("ref", b"v2", expect=t1)
    with pytest.raises(RemoteConflict) as e:
        backend.put("ref", b"v3", expect=t1)
    one_line(e.value)
    assert backend.get("ref") == (b"v2", t2)
    # a tag of a key that does not exist yet: refused, nothing appears
    with pytest.raises(RemoteConflict):
        backend.put("other", b"x", expect=t2)
    assert backend.get("other") is None
    t3 = backend.put("ref", b"v3", expect=t2)
    assert backend.get("ref") == (b"v3", t3)


def test_list(backend):
    assert backend.list("") == []
    content = {"refs/heads/main": b"m" * 10, "refs/heads/dev": b"d" * 3,
               "refs/tags/v1": b"t", "refs-x": b"xx", "objects/ab/cdef": b"o" * 100}
    before = time.time()
    for key, data in content.items():
        backend.put(key, data)
    after = time.time()

    def keys(prefix):
        return [item.key for item in backend.list(prefix)]

    assert sorted(keys("refs/heads/")) == ["refs/heads/dev", "refs/heads/main"]
    assert sorted(keys("refs/")) == ["refs/heads/dev", "refs/heads/main", "refs/tags/v1"]
    assert sorted(keys("")) == sorted(content)
    assert keys("nothing/") == []
    assert keys("objects/ab/") == ["objects/ab/cdef"]
    for item in backend.list(""):
        assert item.size == len(content[item.key])
        # S3 LastModified has whole seconds (SeaweedFS: truncated): a little slack either side
        assert before - 2 <= item.mtime <= after + 2, (item, before, after)


def test_delete_is_idempotent(backend):
    backend.put("k/v", b"data")
    backend.put("k/w", b"data")
    backend.delete("k/v")
    assert backend.get("k/v") is None
    backend.delete("k/v")
    backend.delete("never/was")
    assert [i.key for i in backend.list("k/")] == ["k/w"]


def test_download_streams_and_enforces_the_limit(backend, tmp_path):
    big = os.urandom(3 * 1024 * 1024 + 17)
    backend.put("packs/p1", big)
    out = tmp_path / "p1"
    assert backend.download("packs/p1", str(out), limit=len(big)) is True
    assert out.read_bytes() == big

    over = tmp_path / "over"
    with pytest.raises(RemoteCorrupt) as e:
        backend.download("packs/p1", str(over), limit=len(big) - 1)
    assert one_line(e.value) == f"remote object packs/p1 is larger than {len(big) - 1} bytes"
    assert not over.exists()

    missing = tmp_path / "missing"
    assert backend.download("packs/none", str(missing), limit=1 << 20) is False
    assert not missing.exists()

    # the target is a new file: an existing one is never overwritten
    existing = tmp_path / "existing"
    existing.write_bytes(b"mine")
    with pytest.raises(FileExistsError):
        backend.download("packs/p1", str(existing), limit=len(big))
    assert existing.read_bytes() == b"mine"


def test_upload(backend, tmp_path):
    src = tmp_path / "src"
    data = os.urandom(6 * 1024 * 1024 + 5)       # over obstore's 5 MiB chunk: S3 multipart
    src.write_bytes(data)
    backend.upload("packs/big", str(src))
    got = backend.get("packs/big")
    assert got is not None and got[0] == data
    small = tmp_path / "small"
    small.write_bytes(b"small")
    backend.upload("packs/small", str(small))
    backend.upload("packs/small", str(small))     # unconditional: again is fine
    assert backend.get("packs/small")[0] == b"small"
    assert {i.key: i.size for i in backend.list("packs/")} == {"packs/big": len(data),
                                                                 "packs/small": 5}


@pytest.mark.parametrize("key", BAD_KEYS)
def test_bad_keys_are_refused(backend, tmp_path, key):
    with pytest.raises(InputError):
        check_key(key)
    src = tmp_path / "src"
    src.write_bytes(b"x")
    for call in (lambda: backend.get(key), lambda: backend.put(key, b"x"),
                 lambda: backend.put(key, b"x", expect=CREATE),
                 lambda: backend.delete(key), lambda: backend.upload(key, str(src)),
                 lambda: backend.download(key, str(tmp_path / "out"), 10)):
        with pytest.raises(InputError) as e:
            call()
        one_line(e.value)
    assert backend.list("") == []
    assert not (tmp_path / "out").exists()


# -- races between real processes ---------------------------------------------------------------

_WORKER = r"""
import json, os, sys, time
from trace_core.errors import RemoteConflict
spec = json.loads(sys.argv[1])
if spec["kind"] == "local":
    from trace_core.transport.local import LocalBackend
    b = LocalBackend(spec["root"])
else:
    from trace_core.transport.s3 import S3Backend, S3Options
    b = S3Backend(spec["bucket"], spec["prefix"], S3Options(**spec["options"]))
deadline = time.monotonic() + 60
while not os.path.exists(spec["go"]):
    assert time.monotonic() < deadline
    time.sleep(0.005)
won = False
try:
    b.put("lock", str(os.getpid()).encode(), expect="*")
    won = True
except RemoteConflict:
    pass
conflicts = 0
for _ in range(spec["n"]):
    while True:
        data, tag = b.get("counter")
        try:
            b.put("counter", str(int(data) + 1).encode(), expect=tag)
            break
        except RemoteConflict:
            conflicts += 1
print(json.dumps({"won": won, "conflicts": conflicts}))
"""


def _spec(backend, request, tmp_path) -> dict:
    if isinstance(backend, S3Backend):
        opts = request.getfixturevalue("s3_options")
        return {"kind": "s3", "bucket": backend.bucket, "prefix": backend.prefix,
                "options": {"endpoint": opts.endpoint, "region": opts.region,
                            "access_key_id": opts.access_key_id,
                            "secret_access_key": opts.secret_access_key,
                            "allow_http": opts.allow_http}}
    return {"kind": "local", "root": backend.root}


def test_race_of_processes_loses_nothing(backend, request, tmp_path):
    """6 processes x 20 read-modify-write increments with If-Match (retrying when they lose),
    and one CREATE each of the same key: the counter ends at exactly 120, one CREATE wins."""
    procs, n = 6, 20
    backend.put("counter", b"0", expect=CREATE)
    go = tmp_path / "go"
    spec = {**_spec(backend, request, tmp_path), "go": str(go), "n": n}
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
    children = [subprocess.Popen([sys.executable, "-c", _WORKER, json.dumps(spec)], env=env,
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                for _ in range(procs)]
    try:
        time.sleep(0.5)               # let them all import and wait at the start line
        go.touch()
        results = []
        for p in children:
            out, err = p.communicate(timeout=180)
            assert p.returncode == 0, err
            results.append(json.loads(out))
    finally:
        for p in children:
            if p.poll() is None:
                p.kill()
                p.wait()
    data, _ = backend.get("counter")
    assert int(data) == procs * n, results
    assert sum(r["won"] for r in results) == 1, results
    holder, _ = backend.get("lock")
    assert int(holder) in [p.pid for p in children]


# ---------------------------------------------------------------------------------------------
# S3 only


def test_s3_keys_live_under_the_prefix(s3server, s3_options):
    bucket = s3server.new_bucket()
    a = S3Backend(bucket, "team/proj", s3_options)
    b = S3Backend(bucket, "/team/proj2/", s3_options)
    whole = S3Backend(bucket, "", s3_options)
    assert a.url == f"s3://{bucket}/team/proj" and whole.url == f"s3://{bucket}"
    assert b.url == f"s3://{bucket}/team/proj2"
    a.put("refs/heads/main", b"a")
    b.put("refs/heads/main", b"b")
    assert whole.get("team/proj/refs/heads/main")[0] == b"a"
    assert [i.key for i in a.list("")] == ["refs/heads/main"]
    assert [i.key for i in b.list("refs/")] == ["refs/heads/main"]
    assert sorted(i.key for i in whole.list("")) == ["team/proj/refs/heads/main",
                                                     "team/proj2/refs/heads/main"]
    assert [i.key for i in whole.list("team/proj")] == ["team/proj/refs/heads/main",
                                                         "team/proj2/refs/heads/main"]


@pytest.mark.parametrize("name", ["ab", "A-bucket", "my_bucket", "-abc", "abc-", "a..b",
                                  "x" * 64, "a/b", "", "bücket"])
def test_s3_bad_bucket_names(name):
    with pytest.raises(InputError) as e:
        S3Backend(name, "", S3Options(endpoint="http://127.0.0.1:1", allow_http=True))
    one_line(e.value)


@pytest.mark.parametrize("prefix", ["../x", "a//b", "a/./b", "a b"])
def test_s3_bad_prefixes(prefix):
    with pytest.raises(InputError):
        S3Backend("bucket", prefix, S3Options(endpoint="http://127.0.0.1:1", allow_http=True))


@pytest.mark.parametrize("endpoint", ["ftp://host", "http://[::1", "http://h:99999", "h:9000",
                                      "http://h é", "http://h/?x=1", "http://h#f", "",
                                      "http://"])
def test_s3_bad_endpoints(endpoint):
    """(obstore panics on some of these: they never reach it)"""
    with pytest.raises(InputError) as e:
        S3Backend("bucket", "", S3Options(endpoint=endpoint, allow_http=True))
    one_line(e.value)


def test_s3_endpoint_checks_never_show_credentials():
    with pytest.raises(InputError) as e:
        S3Backend("bucket", "", S3Options(endpoint=f"https://AKID:{SECRET}@h", allow_http=True))
    assert SECRET not in one_line(e.value) and "AKID" not in str(e.value)
    with pytest.raises(InputError) as e:
        S3Backend("bucket", "", S3Options(endpoint="http://h:9000", secret_access_key="a\nb"))
    with pytest.raises(InputError) as e:     # plain HTTP only when allowed
        S3Backend("bucket", "", S3Options(endpoint="http://h:9000"))
    assert "allow_http" in one_line(e.value)
    with pytest.raises(InputError):
        S3Backend("bucket", "", S3Options(region="eu west"))
    for endpoint in ("https://s3.eu-west-1.amazonaws.com", "http://[::1]:9000", "http://h:1/",
                     "https://acct.r2.cloudflarestorage.com"):
        S3Backend("bucket", "", S3Options(endpoint=endpoint, allow_http=True))


def test_s3_good_bucket_names():
    for name in ("abc", "my.bucket-1", "x" * 63, "0ab"):
        assert S3Backend(name, "", S3Options(endpoint="https://127.0.0.1:1")).bucket == name


def test_s3_options_never_show_secrets():
    opts = S3Options(endpoint="https://h:1", region="eu-west-1", access_key_id="AKIDVISIBLE",
                     secret_access_key=SECRET, session_token="TOKEN-SECRET-123")
    for text in (repr(opts), str(opts), f"{opts}", repr(S3Backend("abc", "p", opts))):
        assert SECRET not in text and "TOKEN-SECRET-123" not in text and "AKIDVISIBLE" \
            not in text, text
    assert "eu-west-1" in repr(opts) and "https://h:1" in repr(opts)
    assert "secret_access_key=None" in repr(S3Options())


def test_s3_dead_endpoint_fails_fast_without_secrets(tmp_path):
    endpoint = f"http://127.0.0.1:{closed_port()}"
    b = S3Backend("bucket", "p", S3Options(endpoint=endpoint, region="us-east-1",
                                           access_key_id="AKIDDEAD", secret_access_key=SECRET,
                                           allow_http=True))
    for call in (lambda: b.get("refs/heads/main"), lambda: b.put("k", b"x", expect=CREATE),
                 lambda: b.list("refs/"), lambda: b.delete("k"),
                 lambda: b.download("k", str(tmp_path / "d"), 10)):
        start = time.monotonic()
        with pytest.raises(RemoteError) as e:
            call()
        assert time.monotonic() - start < 10
        text = one_line(e.value)
        assert type(e.value) is RemoteError, text
        assert SECRET not in text and endpoint in text and "connection refused" in text, text


def test_s3_wrong_credentials(s3server, s3_options):
    bucket = s3server.new_bucket()
    S3Backend(bucket, "p", s3_options).put("refs/heads/main", b"x")
    for opts in (S3Options(endpoint=s3server.endpoint, region="us-east-1",
                           access_key_id=s3_options.access_key_id, secret_access_key=SECRET,
                           allow_http=True),
                 S3Options(endpoint=s3server.endpoint, region="us-east-1",
                           access_key_id="AKIDUNKNOWN", secret_access_key=SECRET,
                           allow_http=True)):
        b = S3Backend(bucket, "p", opts)
        for call in (lambda: b.get("refs/heads/main"), lambda: b.put("k", b"x"),  # noqa: B023
                     lambda: b.list(""), lambda: b.put("k", b"x", expect=CREATE)):  # noqa: B023
            start = time.monotonic()
            with pytest.raises(RemoteError) as e:
                call()
            assert time.monotonic() - start < 10
            text = one_line(e.value)
            assert type(e.value) is RemoteError, text
            assert SECRET not in text and "access denied" in text, text
            assert b.url in text
    assert S3Backend(bucket, "p", s3_options).get("k") is None     # nothing was written


def test_s3_missing_bucket(s3server, s3_options, tmp_path):
    name = "no-such-bucket-" + os.urandom(4).hex()
    b = S3Backend(name, "p", s3_options)
    for call in (lambda: b.get("refs/heads/main"), lambda: b.list("refs/"),
                 lambda: b.download("k", str(tmp_path / "d"), 10), lambda: b.delete("k"),
                 lambda: b.put("k", b"x"), lambda: b.put("k", b"x", expect=CREATE),
                 lambda: b.upload("k", __file__)):
        with pytest.raises(RemoteNotFound) as e:
            call()
        assert one_line(e.value) == f"no bucket {name} at {s3server.endpoint}"
    assert not (tmp_path / "d").exists()


def test_s3_explicit_options_win_over_the_environment(s3server, s3_options, monkeypatch):
    """obstore reads AWS_* variables itself: every option S3Options sets overrides them."""
    for name, value in {"AWS_ENDPOINT_URL": f"http://127.0.0.1:{closed_port()}",
                        "AWS_ENDPOINT_URL_S3": f"http://127.0.0.1:{closed_port()}",
                        "AWS_ACCESS_KEY_ID": "AKIDFROMENV", "AWS_SECRET_ACCESS_KEY": SECRET,
                        "AWS_REGION": "eu-central-1", "AWS_DEFAULT_REGION": "eu-central-1",
                        "AWS_ALLOW_HTTP": "false",
                        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "true"}.items():
        monkeypatch.setenv(name, value)
    b = S3Backend(s3server.new_bucket(), "p", s3_options)
    tag = b.put("k", b"v", expect=CREATE)
    assert b.get("k") == (b"v", tag)
