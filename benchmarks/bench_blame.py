"""`trace blame` of a 10,000-entry context against `git blame` of a 10,000-line file, one run.

    python benchmarks/bench_blame.py [--commits 10000]

Trace: a context built by `commits` single-message appends (one commit each, in transactions),
with an edit of an earlier entry every 1,000 commits, a pin every 700, and one compression of
100 entries (a manual summary) near the end; then appends until the context holds `commits`
entries. git: a file built by `commits` commits, each appending one line (the same text as the
Trace message), through git fast-import. Measured once each, as whole processes writing to a
pipe: `trace blame`, `trace blame --json`, `git blame HEAD -- context.txt`; and the in-process
`repo.blame()` call. Building the git history takes most of the run (fast-import re-stores the
growing file 10,000 times); `--commits 2000` is a quicker look. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import git, trace_cmd  # noqa: E402


def line(i: int) -> str:
    return f"{i}: user says something {i * 7919 % 10007}"


def build_trace(path: str, n: int) -> int:
    """The Trace history; returns its number of commits."""
    from trace_core.repository import Repository

    repo = Repository.init(path)
    commits = count = i = 0
    compressed = n < 400
    while count < n:
        with repo.transaction():
            for _ in range(min(1000, n - count)):
                repo.append({"role": ("user", "assistant")[i % 2], "content": line(i)})
                i += 1
                count += 1
                commits += 1
                if i % 1000 == 0:
                    repo.edit(count - 500, {"role": "user", "content": f"edited {line(i)}"})
                    commits += 1
                if i % 700 == 0:
                    repo.pin(count - 1)
                    commits += 1
        if not compressed and count >= n - 1000:
            repo.compress(entries=f"{n // 2}:{n // 2 + 100}", strategy="manual", force=True,
                          summaries=["a hundred messages in one"])
            count -= 99
            commits += 1
            compressed = True
    repo.flush_token_cache()
    repo.close()
    return commits


def build_git(path: str, n: int) -> None:
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)
    p = subprocess.Popen(["git", "fast-import", "--quiet"], cwd=path, stdin=subprocess.PIPE)
    assert p.stdin is not None
    lines: list = []
    ts = 1_700_000_000
    for i in range(n):
        lines.append(f"{line(i)}\n".encode())
        data = b"".join(lines)
        msg = b"c%d" % i
        p.stdin.write(b"commit refs/heads/main\nmark :%d\ncommitter a <a@x> %d +0000\n"
                      b"data %d\n%s\nM 100644 inline context.txt\ndata %d\n%s\n\n"
                      % (i + 1, ts + i, len(msg), msg, len(data), data))
    p.stdin.close()
    if p.wait() != 0:
        raise SystemExit("git fast-import failed")


def once(cmd: list, cwd: str) -> tuple:
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=cwd, capture_output=True, check=True)
    return time.perf_counter() - t, p.stdout.count(b"\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    args = ap.parse_args()
    n = args.commits
    root = tempfile.mkdtemp(prefix="bench-blame-")
    try:
        tpath = os.path.join(root, "trace")
        t = time.perf_counter()
        tcommits = build_trace(tpath, n)
        print(f"trace history: {tcommits} commits, {n} entries "
              f"(built in {time.perf_counter() - t:.1f} s)")
        gpath = os.path.join(root, "git")
        t = time.perf_counter()
        build_git(gpath, n)
        print(f"git history:   {n} commits, {n} lines (built in {time.perf_counter() - t:.1f} s)")

        from trace_core.repository import Repository
        repo = Repository.open(tpath)
        t = time.perf_counter()
        recs = repo.blame()
        api = time.perf_counter() - t
        repo.close()
        assert len(recs) == n, len(recs)
        tb, tlines = once([*trace_cmd(), "-C", tpath, "blame"], root)
        tj, _ = once([*trace_cmd(), "-C", tpath, "blame", "--json"], root)
        gb, glines = once(["git", "blame", "HEAD", "--", "context.txt"], gpath)
        print(f"repo.blame() in process:        {api * 1000:8.0f} ms  ({len(recs)} records)")
        print(f"trace blame (process):          {tb * 1000:8.0f} ms  ({tlines} lines)")
        print(f"trace blame --json (process):   {tj * 1000:8.0f} ms")
        print(f"git blame HEAD -- context.txt:  {gb * 1000:8.0f} ms  ({glines} lines)")
        print(f"ratio git blame / trace blame:  {gb / tb:8.1f}x")
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
