"""Merge and rebase benchmarks against git, measured in the same run (issue 4).

    python benchmarks/bench_merge.py [--commits 10000] [--branch 100] [--repeat 5]

History: `commits` messages on main, where a branch forked `commits/2` commits before the tip and
added `branch` commits of its own. Measured:
  - merge of the branch into main: in process (Repository.merge on a freshly opened repository)
    and as a whole `trace merge` process; git: `git merge --no-edit` of the same shape (each
    message a new file, so git's merge is a clean tree merge too);
  - the same merge in process on a copy of the repository as built, whose commit index was
    never filled (the transactions that built it index nothing);
  - rebase of the branch's commits onto main: in process and as a process; git: `git rebase`.
Every run starts from the same refs (reset between runs). Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import _installed_env, git, messages, trace_cmd  # noqa: E402


def build_trace(root: str, msgs: list, fork: int, branch: int):
    from trace_core.repository import Repository
    path = os.path.join(root, "trace")
    repo = Repository.init(path)
    with repo.transaction():
        for role, text in msgs[:fork]:
            repo.append({"role": role, "content": text})
    repo.branch_create("feat")
    with repo.transaction():
        for role, text in msgs[fork:]:
            repo.append({"role": role, "content": text})
    feat = repo.worktree("feat")
    with feat.transaction():
        for i in range(branch):
            feat.append({"role": "user", "content": f"branch step {i}: " + msgs[i][1]})
    repo.flush_token_cache()
    ids = {"main": repo.refs.resolve("refs/heads/main"),
           "feat": repo.refs.resolve("refs/heads/feat")}
    repo.close()
    return path, ids


def build_git(root: str, msgs: list, fork: int, branch: int) -> str:
    path = os.path.join(root, "git")
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)

    def stream(items, ref, start, from_mark=None):
        out = []
        for k, (name, text) in enumerate(items):
            data = text.encode()
            out.append(f"commit {ref}\nmark :{start + k}\n"
                       f"committer t <t@t> {1700000000 + start + k} +0000\ndata 1\nm\n".encode())
            if k == 0 and from_mark:
                out.append(f"from :{from_mark}\n".encode())
            out.append(f"M 100644 inline {name}\ndata {len(data)}\n".encode() + data + b"\n")
        return b"".join(out)

    main_items = [(f"m{i:06d}", t) for i, (_, t) in enumerate(msgs)]
    s = stream(main_items[:fork], "refs/heads/main", 1)
    s += stream([(f"b{i:06d}", "branch step " + msgs[i][1]) for i in range(branch)],
                "refs/heads/feat", len(msgs) + 1, from_mark=fork)
    s += stream(main_items[fork:], "refs/heads/main", fork + 1, from_mark=fork)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=s, check=True)
    git(["checkout", "-q", "main"], path)
    git(["gc", "-q"], path)
    return path


def _api(path: str, reset, op, want: str, repeat: int) -> float:
    """Median seconds of `op(repo)` on a freshly opened repository (after one warm-up run)."""
    from trace_core.repository import Repository
    times = []
    for _ in range(repeat + 1):
        reset()
        r = Repository.open(path)
        t = time.perf_counter()
        out = op(r)
        times.append(time.perf_counter() - t)
        r.close()
        assert out.status == want, out.status
    return statistics.median(times[1:])


def _proc(cmd, cwd, reset, repeat: int) -> float:
    env = _installed_env()
    times = []
    for _ in range(repeat + 1):
        reset()
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times[1:])


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--branch", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    root = tempfile.mkdtemp(prefix="trace-bench-merge-")
    try:
        res = measure_merge(root, messages(args.commits), args.repeat, args.branch)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    print(f"merge of a {args.branch}-commit branch into {args.commits} commits "
          f"(forked {res['fork_back']} back):")
    print(f"  trace API {res['merge_api_ms']:.1f} ms | trace process {res['merge_proc_ms']:.1f} ms"
          f" | git merge process {res['git_merge_proc_ms']:.1f} ms")
    print(f"  trace API, index never built: {res['merge_noindex_api_ms']:.1f} ms")
    print(f"rebase of {args.branch} commits: trace API {res['rebase_api_ms']:.1f} ms | trace "
          f"process {res['rebase_proc_ms']:.1f} ms | git rebase process "
          f"{res['git_rebase_proc_ms']:.1f} ms")
    return res


def measure_merge(base: str, msgs: list, repeat: int, branch: int = 100) -> dict:
    """The merge and rebase figures for a history of `msgs` with a `branch`-commit branch forked
    half-way back, built under `base` (in a directory removed afterwards)."""
    from trace_core.repository import Repository

    fork = len(msgs) // 2
    root = tempfile.mkdtemp(prefix="merge-", dir=base)
    res: dict = {"commits": len(msgs), "branch": branch, "fork_back": len(msgs) - fork}
    try:
        tpath, ids = build_trace(root, msgs, fork, branch)
        gpath = build_git(root, msgs, fork, branch)
        gmain = git(["rev-parse", "main"], gpath, text=True).stdout.strip()
        gfeat = git(["rev-parse", "feat"], gpath, text=True).stdout.strip()

        def reset_trace():
            r = Repository.open(tpath)
            r.refs.set_symbolic("HEAD", "refs/heads/main")
            for b in ("main", "feat"):
                r.refs.set_if_equals(f"refs/heads/{b}", r.refs.resolve(f"refs/heads/{b}"), ids[b],
                                     deref=False)
            r.close()

        def reset_git(branch="main"):
            git(["checkout", "-q", "-f", branch], gpath)
            git(["update-ref", "refs/heads/main", gmain], gpath)
            git(["update-ref", "refs/heads/feat", gfeat], gpath)
            git(["reset", "-q", "--hard", gmain if branch == "main" else gfeat], gpath)

        # merge on copies of the repository as built (commit index never filled)
        pristine = os.path.join(root, "pristine")
        shutil.copytree(tpath, pristine)
        times = []
        for _ in range(repeat):
            work = os.path.join(root, "noindex")
            shutil.rmtree(work, ignore_errors=True)
            shutil.copytree(pristine, work)
            r = Repository.open(work)
            t = time.perf_counter()
            assert r.merge("feat").status == "merged"
            times.append(time.perf_counter() - t)
            r.close()
        res["merge_noindex_api_ms"] = statistics.median(times) * 1e3

        # merge, in process
        res["merge_api_ms"] = _api(tpath, reset_trace, lambda r: r.merge("feat"), "merged",
                                   repeat) * 1e3
        r = Repository.open(tpath)
        res["merged_entries"] = len(r.messages())
        r.close()
        tc = trace_cmd()
        res["merge_proc_ms"] = _proc([*tc, "merge", "feat"], tpath, reset_trace, repeat) * 1e3
        res["git_merge_proc_ms"] = _proc(["git", "merge", "-q", "--no-edit", "feat"], gpath,
                                         reset_git, repeat) * 1e3

        # rebase of the branch onto main
        def reset_trace_feat():
            reset_trace()
            r = Repository.open(tpath)
            r.refs.set_symbolic("HEAD", "refs/heads/feat")
            r.close()

        res["rebase_api_ms"] = _api(tpath, reset_trace_feat, lambda r: r.rebase("main"),
                                    "rebased", repeat) * 1e3
        res["rebase_proc_ms"] = _proc([*tc, "rebase", "main"], tpath, reset_trace_feat,
                                      repeat) * 1e3
        res["git_rebase_proc_ms"] = _proc(["git", "rebase", "-q", "main"], gpath,
                                          lambda: reset_git("feat"), repeat) * 1e3
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


if __name__ == "__main__":
    main()
