"""Whole-process start-up of read commands: two source trees interleaved, with git (issue 17).

    python benchmarks/bench_startup.py --repo DIR [--tree before=/path --tree after=/path]
                                       [--repeat 15] [--git DIR]

Each command runs as `python -m trace_cli ...` with PYTHONPATH set to each tree in turn (byte
code compiled first and kept: PYTHONDONTWRITEBYTECODE is unset), round-robin with `python -c
pass` and the git equivalent, so a busy machine slows every column alike; the figures are
medians. DIR is an existing repository (e.g. one built by benchmarks/run.py's messages); it is
only read. Without --git, a git repository of the same number of commits is built with
fast-import. Nothing here is a pass/fail test.
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

from run import fast_import_stream, git, messages  # noqa: E402

# (label, trace arguments, git arguments or None)
COMMANDS = [
    ("--version", ["--version"], ["--version"]),
    ("--help", ["--help"], ["help", "-a"]),
    ("log --help", ["log", "--help"], None),
    ("log --oneline", ["log", "--oneline"], ["log", "--oneline"]),
    ("status", ["status"], ["status"]),
    ("context", ["context"], ["show", "HEAD:context.txt"]),
    ("show", ["show"], ["show", "--stat"]),
    ("rev-parse HEAD", ["rev-parse", "HEAD"], ["rev-parse", "HEAD"]),
    ("branch", ["branch"], ["branch"]),
    ("graph -n 20", ["graph", "-n", "20"], ["log", "--graph", "--oneline", "-n", "20"]),
]


def _env(tree: str | None) -> dict:
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    env.pop("TRACE_DIR", None)
    if tree:
        env["PYTHONPATH"] = tree
    return env


def _once(cmd: list, cwd: str, env: dict) -> float:
    t = time.perf_counter()
    subprocess.run(cmd, cwd=cwd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   check=False)
    return time.perf_counter() - t


def build_git(root: str, commits: int) -> str:
    path = os.path.join(root, "git")
    git(["init", "-q", "-b", "main", path], root)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path,
                   input=fast_import_stream(messages(commits)), check=True, capture_output=True)
    git(["checkout", "-q", "main"], path)
    git(["gc", "-q"], path)
    return path


def count_commits(repo: str, tree: str) -> int:
    p = subprocess.run([sys.executable, "-m", "trace_cli", "rev-list", "--count", "HEAD"],
                       cwd=repo, env=_env(tree), capture_output=True, text=True, check=True)
    return int(p.stdout)


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repo", required=True, help="a trace repository (only read)")
    ap.add_argument("--tree", action="append", default=[],
                    help="LABEL=PATH of a source tree (default: this one)")
    ap.add_argument("--repeat", type=int, default=15)
    ap.add_argument("--git", help="a git repository to time git in (default: build one)")
    ap.add_argument("--only", action="append", help="labels of commands to time (default: all)")
    args = ap.parse_args()
    trees = [t.split("=", 1) for t in args.tree] or [["tree", os.path.dirname(HERE)]]
    for _, path in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", path], env=_env(None),
                       stdout=subprocess.DEVNULL, check=False)
    root = tempfile.mkdtemp(prefix="trace-bench-startup-")
    try:
        gpath = args.git or build_git(root, count_commits(args.repo, trees[0][1]))
        commands = [c for c in COMMANDS if not args.only or c[0] in args.only]
        runs: list = [("python -c pass", [sys.executable, "-c", "pass"], args.repo, _env(None))]
        for label, targs, gargs in commands:
            for name, path in trees:
                runs.append((f"{label} [{name}]", [sys.executable, "-m", "trace_cli", *targs],
                             args.repo, _env(path)))
            if gargs:
                runs.append((f"{label} [git]", ["git", *gargs], gpath, _env(None)))
        times: dict = {label: [] for label, *_ in runs}
        for _label, cmd, cwd, env in runs:  # warm-up: caches, byte code
            _once(cmd, cwd, env)
        for _ in range(args.repeat):
            for label, cmd, cwd, env in runs:
                times[label].append(_once(cmd, cwd, env))
    finally:
        shutil.rmtree(root, ignore_errors=True)
    res = {label: statistics.median(ts) * 1e3 for label, ts in times.items()}
    names = [n for n, _ in trees]
    base = res["python -c pass"]
    print(f"medians of {args.repeat} interleaved runs, ms (python -c pass: {base:.1f})")
    print(f"| command | {' | '.join(names)} | git |")
    print("|---|" + "---|" * (len(names) + 1))
    for label, _, gargs in commands:
        cells = [f"{res[f'{label} [{n}]']:.1f}" for n in names]
        g = f"{res[f'{label} [git]']:.1f}" if gargs else "-"
        print(f"| {label} | {' | '.join(cells)} | {g} |")
    return res


if __name__ == "__main__":
    main()
