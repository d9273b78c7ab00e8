"""What context policies cost a commit (issue 18), against the same commits without policies and
against `git commit`, measured in one run.

    python benchmarks/bench_policy.py [--commits 2000] [--process 30] [--json FILE]

In process: `commits` appends (alternating user and assistant messages of ~60 words, one
commit each) to a fresh repository, three ways: no policies; the four policies of
docs/policy.md declared (compress, pin, branch, return) with a budget they never reach and
messages that never fire them, so what is measured is the evaluation after every commit; and
the same with policies that fire (a 3,000-token budget: the compress policy compresses as the
context grows; every user message states a requirement: the pin policy pins it). Figures: the
mean per commit, and the median and 99th percentile of single appends.

As processes: `process` runs of `trace commit -m user TEXT` on a repository holding `commits`
commits, with and without the (idle) policies, and `git commit --allow-empty -m TEXT` on a
repository of as many commits: medians. Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

WORDS = ["the", "agent", "reads", "file", "parser", "module", "trace", "function", "returns",
         "value", "test", "case", "passes", "index", "fix", "patch", "apply", "run", "output",
         "shows", "tool", "call", "result", "context", "window", "summary", "branch", "merge",
         "step", "plan", "check", "log", "line", "config", "path", "import", "class", "method",
         "variable", "loop", "list", "dict", "string", "json"]
IDLE = {"budget.max-tokens": "100000000", "policy.squeeze.action": "compress",
        "policy.keep.action": "pin", "policy.side.action": "branch",
        "policy.back.action": "return"}
FIRING = {**IDLE, "budget.max-tokens": "3000", "policy.squeeze.keep-turns": "2"}


def text(rnd: random.Random, n: int = 60) -> str:
    return " ".join(rnd.choice(WORDS) for _ in range(n))


def appends(path: str, n: int, config: dict, must: bool = False) -> dict:
    from trace_core import Repository
    from trace_core.policy import enable_policies
    repo = Repository.init(path)
    for k, v in config.items():
        repo.set_config(k, v)
    warnings: list = []
    repo.on_warning = warnings.append
    if config:
        enable_policies(repo)
    rnd = random.Random(7)
    repo.user("warm the tokenizer up")
    times = []
    start = time.perf_counter()
    for i in range(n):
        body = text(rnd)
        t0 = time.perf_counter()
        if i % 2:
            repo.assistant(body)
        else:
            repo.user((f"you must keep item {i}: " if must else "") + body)
        times.append(time.perf_counter() - t0)
    total = time.perf_counter() - start
    ops: dict = {}
    for c in repo.log(limit=n * 4):
        ops[c.op] = ops.get(c.op, 0) + 1
    out = {"per_commit_ms": 1000 * total / n, "median_ms": 1000 * statistics.median(times),
           "p99_ms": 1000 * sorted(times)[int(0.99 * (n - 1))], "ops": ops,
           "tokens": repo.status().total_tokens}
    repo.close()
    return out


def median_ms(cmd: list, cwd: str, runs: int, env: dict | None = None) -> float:
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, env=env)
        times.append(time.perf_counter() - t0)
    return 1000 * statistics.median(times)


def processes(root: str, n: int, runs: int) -> dict:
    from trace_core import Repository
    out = {}
    env = dict(os.environ)
    env.pop("TRACE_DIR", None)
    rnd = random.Random(9)
    for name, config in (("trace commit", {}), ("trace commit, policies", IDLE)):
        path = os.path.join(root, name.replace(" ", "_").replace(",", ""))
        repo = Repository.init(path)
        for k, v in config.items():
            repo.set_config(k, v)
        with repo.transaction():
            for i in range(n):
                repo.user(text(rnd)) if i % 2 == 0 else repo.assistant(text(rnd))
        repo.close()
        out[name] = median_ms([sys.executable, "-m", "trace_cli", "-C", path, "commit", "-m",
                               "user", text(rnd, 20)], path, runs, env)
    git = os.path.join(root, "git")
    os.makedirs(git)
    subprocess.run(["git", "init", "-q"], cwd=git, check=True)
    stream = "".join(f"commit refs/heads/master\ncommitter b <b@x> {1700000000 + i} +0000\n"
                     f"data 5\nmsg {i % 10}\n\n" for i in range(n))
    subprocess.run(["git", "fast-import", "--quiet"], cwd=git, input=stream.encode(), check=True)
    subprocess.run(["git", "checkout", "-q", "master"], cwd=git, check=True)
    genv = dict(env, GIT_AUTHOR_NAME="b", GIT_AUTHOR_EMAIL="b@x", GIT_COMMITTER_NAME="b",
                GIT_COMMITTER_EMAIL="b@x")
    out["git commit"] = median_ms(["git", "commit", "-q", "--allow-empty", "-m",
                                   text(rnd, 20)], git, runs, genv)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", type=int, default=2000)
    ap.add_argument("--process", type=int, default=30)
    ap.add_argument("--json")
    a = ap.parse_args()
    root = tempfile.mkdtemp(prefix="bench-policy-")
    try:
        res = {"in_process": {
            "no policies": appends(os.path.join(root, "a"), a.commits, {}),
            "policies, idle": appends(os.path.join(root, "b"), a.commits, IDLE),
            "policies, firing": appends(os.path.join(root, "c"), a.commits, FIRING, must=True)},
            "processes": processes(root, a.commits, a.process), "commits": a.commits}
    finally:
        shutil.rmtree(root, ignore_errors=True)
    base = res["in_process"]["no policies"]["per_commit_ms"]
    print(f"in process, {a.commits} appends:")
    print("| case | per commit | median | p99 | vs no policies | commits made |")
    print("| --- | --- | --- | --- | --- | --- |")
    for name, r in res["in_process"].items():
        print(f"| {name} | {r['per_commit_ms']:.2f} ms | {r['median_ms']:.2f} ms | "
              f"{r['p99_ms']:.2f} ms | {r['per_commit_ms'] / base:.2f}x | {r['ops']} |")
    p = res["processes"]
    print(f"\nprocesses on a {a.commits}-commit history (medians of {a.process}):")
    for name, ms in p.items():
        print(f"| {name} | {ms:.1f} ms | {ms / p['git commit']:.2f}x git commit |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=2)


if __name__ == "__main__":
    main()
