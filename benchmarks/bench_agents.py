"""Sub-agent benchmarks (issue 13): spawn and collapse latency on a 10,000-entry parent, and
fan-out throughput of parallel processes, with peers measured in the same run.

    python benchmarks/bench_agents.py [--entries 10000] [--children 8] [--commits 1000]
                                      [--repeat 5] [--quick]

(a) Latency, on a parent whose context holds `entries` messages (~400 characters each):
  - spawn of one child with the full context, and with an extractive summary of it; collapse
    (extractive) of a child that made 20 commits of its own; each in process (a Repository
    opened once, one warm-up, medians) and as a whole `trace` process;
  - peers: a plain append (`repo.user`, `trace commit`) on the same repository, so spawn/append
    and collapse/append say what a sub-agent costs over one turn; and git, in a repository of
    `entries` commits: `git branch x` + `git commit --allow-empty` (a branch and one commit
    recording it: the nearest git has to a spawn, not the same operation).
(b) Throughput: `children` processes each committing `commits` messages to its own sub-agent
    (spawned from one parent commit), against the same number of processes committing the same
    messages to one branch, and against one process committing them all. Wall time from the
    moment every process is ready (a barrier) to the last commit; commits per second.

`--quick`: 2,000 entries, 8 x 200 commits, 3 repeats. The default run takes about 2-3 minutes
on a 2-core machine. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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
    fast_import_stream,
    git,
    messages,
    trace_cmd,
)

CHILD_COMMITS = 20      # commits a child makes before it is collapsed


# -- (a) latency ------------------------------------------------------------------------------
def build_parent(root: str, msgs: list) -> str:
    path = os.path.join(root, "parent")
    build_history(path, msgs)
    return path


def _median_ms(times: list) -> float:
    return statistics.median(times) * 1e3


def api_latency(path: str, repeat: int) -> dict:
    """Medians (ms) of append, spawn full, spawn summary, collapse, in one opened repository."""
    from trace_core.repository import Repository
    repo = Repository.open(path)
    out: dict = {}

    def measure(key: str, op, n: int) -> None:
        times = []
        for i in range(n + 1):                  # the first run warms caches: not counted
            t = time.perf_counter()
            op(i)
            times.append(time.perf_counter() - t)
        out[key] = _median_ms(times[1:])

    measure("append", lambda i: repo.user(f"append {i}"), repeat * 4)
    measure("spawn_full", lambda i: repo.spawn(f"full{i}", task=f"task {i}"), repeat)
    measure("spawn_summary", lambda i: repo.spawn(f"sum{i}", context="summary",
                                                  task=f"task {i}"), max(2, repeat // 2))
    for i in range(repeat + 1):                 # children with work of their own
        child = repo.agent(f"full{i}")
        with child.transaction():
            for k in range(CHILD_COMMITS - 1):
                child.append({"role": ("user", "assistant")[k % 2],
                              "content": f"child {i} step {k}: looked at file {k}.py"})
            child.assistant(f"child {i}: the answer is {i}")
    measure("collapse", lambda i: repo.collapse(f"full{i}"), repeat)
    out["entries"] = len(repo.messages())
    repo.close()
    return out


def _run(cmd: list, cwd: str, env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=True, env=env)
    return time.perf_counter() - t


def process_latency(path: str, repeat: int) -> dict:
    """Medians (ms) of whole `trace` processes: commit, spawn, spawn --context summary,
    collapse (children prepared in process first)."""
    from trace_core.repository import Repository
    tc, env = trace_cmd(), _installed_env()
    out: dict = {}
    for key, make in (("append", lambda i: ["commit", f"process append {i}"]),
                      ("spawn_full", lambda i: ["spawn", f"pf{i}", "-m", f"task {i}"]),
                      ("spawn_summary", lambda i: ["spawn", f"ps{i}", "--context", "summary",
                                                   "-m", f"task {i}"])):
        n = repeat if key != "spawn_summary" else max(2, repeat // 2)
        times = [_run([*tc, *make(i)], path, env) for i in range(n + 1)]
        out[key] = _median_ms(times[1:])
    repo = Repository.open(path)
    for i in range(repeat + 1):
        child = repo.agent(f"pf{i}")
        with child.transaction():
            for k in range(CHILD_COMMITS - 1):
                child.user(f"child step {k}")
            child.assistant(f"answer {i}")
    repo.close()
    times = [_run([*tc, "collapse", f"pf{i}"], path, env) for i in range(repeat + 1)]
    out["collapse"] = _median_ms(times[1:])
    return out


def git_latency(root: str, msgs: list, repeat: int) -> dict:
    """Medians (ms) of `git commit --allow-empty` and of `git branch x` + `git commit
    --allow-empty`, in a repository of len(msgs) commits."""
    path = os.path.join(root, "git")
    git(["init", "-q", "-b", "main", path], root)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=fast_import_stream(msgs),
                   check=True, capture_output=True)
    git(["reset", "-q"], path)                  # (an index matching HEAD)
    git(["gc", "-q"], path)
    env = dict(_installed_env(), GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x",
               GIT_COMMITTER_NAME="a", GIT_COMMITTER_EMAIL="a@x")
    commit = ["git", "commit", "-q", "--allow-empty", "-m"]
    times = [_run([*commit, f"c{i}"], path, env) for i in range(repeat * 2 + 1)]
    out = {"append": _median_ms(times[1:])}
    times = [_run(["git", "branch", f"x{i}"], path, env) + _run([*commit, f"spawn x{i}"],
                                                                  path, env)
             for i in range(repeat + 1)]
    out["branch_commit"] = _median_ms(times[1:])
    return out


# -- (b) throughput ---------------------------------------------------------------------------
def _writer(path: str, agent: str | None, texts: list, barrier) -> None:
    from trace_core.repository import Repository
    repo = Repository.open(path, agent=agent)
    barrier.wait()
    for role, text in texts:
        repo.append({"role": role, "content": text})
    repo.close()


def _fan(path: str, jobs: list) -> float:
    """Seconds from the moment all `jobs` ((agent, texts)) processes are ready to the last
    one's end."""
    ctx = mp.get_context("fork")
    barrier = ctx.Barrier(len(jobs) + 1)
    procs = [ctx.Process(target=_writer, args=(path, agent, texts, barrier))
             for agent, texts in jobs]
    for p in procs:
        p.start()
    barrier.wait()
    t = time.perf_counter()
    for p in procs:
        p.join()
    elapsed = time.perf_counter() - t
    bad = [p.exitcode for p in procs if p.exitcode != 0]
    if bad:
        raise SystemExit(f"a writer failed: exit codes {bad}")
    return elapsed


def throughput(root: str, children: int, commits: int) -> dict:
    from trace_core.repository import Repository
    msgs = messages(children * commits, seed=11)
    per = [msgs[k * commits:(k + 1) * commits] for k in range(children)]
    out: dict = {"children": children, "commits": commits}

    def fresh(name: str) -> str:
        path = os.path.join(root, name)
        r = Repository.init(path)
        r.user("Split the work.")
        r.close()
        return path

    path = fresh("fan")
    r = Repository.open(path)
    names = [f"c{k}" for k in range(children)]
    r.spawn(names, context="none", task="Work on your part.")
    r.close()
    out["children_s"] = _fan(path, list(zip(names, per, strict=True)))
    r = Repository.open(path)
    got = sum(len(r.agent(n).messages()) - 1 for n in names)
    assert got == children * commits, (got, children * commits)
    r.close()

    path = fresh("branch")
    out["one_branch_s"] = _fan(path, [(None, texts) for texts in per])
    r = Repository.open(path)
    assert len(r.messages()) - 1 == children * commits
    r.close()

    path = fresh("single")
    out["one_process_s"] = _fan(path, [(None, msgs)])
    return out


# -- report -----------------------------------------------------------------------------------
def report(res: dict) -> None:
    a, p, g, t = res["api"], res["proc"], res["git"], res["throughput"]
    print(f"(a) latency, parent context of {res['entries']:,} entries (medians)\n")
    print(f"{'operation':<34} {'in process':>11} {'/ append':>9} {'trace process':>14} "
          f"{'/ append':>9}")
    for key, label in (("append", "append (peer)"), ("spawn_full", "spawn, full context"),
                       ("spawn_summary", "spawn, extractive summary"),
                       ("collapse", f"collapse, extractive ({CHILD_COMMITS} child commits)")):
        print(f"{label:<34} {a[key]:>8.1f} ms {a[key] / a['append']:>8.1f}x "
              f"{p[key]:>11.0f} ms {p[key] / p['append']:>8.1f}x")
    print(f"\ngit, {res['entries']:,} commits: commit --allow-empty {g['append']:.0f} ms; "
          f"branch x + commit --allow-empty {g['branch_commit']:.0f} ms")
    print(f"trace spawn process / git branch+commit: {p['spawn_full'] / g['branch_commit']:.2f}x"
          f"; trace commit process / git commit: {p['append'] / g['append']:.2f}x")
    n = t["children"] * t["commits"]
    rate = {k: n / t[k] for k in ("children_s", "one_branch_s", "one_process_s")}
    print(f"\n(b) {n:,} commits: {t['children']} processes x {t['commits']:,}\n")
    print(f"{'layout':<40} {'seconds':>8} {'commits/s':>10} {'vs children':>12}")
    for key, label in (("children_s", f"{t['children']} children, own namespaces"),
                       ("one_branch_s", f"{t['children']} processes, one branch"),
                       ("one_process_s", "1 process, one branch")):
        print(f"{label:<40} {t[key]:>8.2f} {rate[key]:>10.0f} "
              f"{rate['children_s'] / rate[key]:>11.2f}x")
    print("\nvs children = children's commits/s over this layout's (above 1: the fan-out is "
          "faster)")


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--entries", type=int, default=10_000)
    ap.add_argument("--children", type=int, default=8)
    ap.add_argument("--commits", type=int, default=1000, help="commits per child")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--quick", action="store_true", help="2,000 entries, 8 x 200, 3 repeats")
    args = ap.parse_args()
    if args.quick:
        args.entries, args.commits, args.repeat = 2000, 200, 3
    root = tempfile.mkdtemp(prefix="trace-bench-agents-")
    res: dict = {}
    try:
        msgs = messages(args.entries)
        path = build_parent(root, msgs)
        res["api"] = api_latency(path, args.repeat)
        res["proc"] = process_latency(path, args.repeat)
        res["entries"] = args.entries
        res["git"] = git_latency(root, msgs, args.repeat)
        res["throughput"] = throughput(root, args.children, args.commits)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    report(res)
    return res


if __name__ == "__main__":
    main()
