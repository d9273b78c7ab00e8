"""Trace benchmarks against git and dulwich measured in the same run; prints a table, writes JSON.

    python benchmarks/run.py [--commits 10000] [--out benchmarks/results/latest.json] [--quick]

Every figure is a median or a per-commit mean of the stated operation; ratios compare Trace with
the peer measured seconds earlier on the same machine and the same messages. Nothing here is a
pass/fail test.
"""

from __future__ import annotations

import argparse
import contextlib
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

WORDS = ["the", "agent", "reads", "file", "parser", "module", "error", "trace", "function",
         "returns", "value", "test", "case", "fails", "because", "index", "off", "by", "one", "fix",
         "patch", "apply", "run", "again", "output", "shows", "passing", "tool", "call", "result",
         "context", "window", "token", "budget", "summary", "branch", "merge", "user", "asks",
         "assistant", "answers", "step", "plan", "check", "log", "line", "config", "path", "import",
         "class", "method", "variable", "loop", "list", "dict", "string", "json"]


def messages(n: int, seed: int = 7, size: int = 400) -> list:
    rnd = random.Random(seed)
    out = []
    for i in range(n):
        words = []
        length = 0
        while length < size:
            w = rnd.choice(WORDS)
            words.append(w)
            length += len(w) + 1
        role = ("user", "assistant")[i % 2]  # (a "tool" message needs its call: issue 12)
        out.append((role, f"{i}: " + " ".join(words)))
    return out


def build_history(path: str, msgs: list) -> float:
    """A Trace repository at `path` holding `msgs` ((role, text) pairs), one commit each, written
    in one transaction (one pack, as `git fast-import` writes); seconds it took."""
    from trace_core import Repository
    t = time.perf_counter()
    repo = Repository.init(path)
    with repo.transaction():
        for role, text in msgs:
            repo.append({"role": role, "content": text})
    repo.flush_token_cache()
    repo.close()
    return time.perf_counter() - t


def timed(fn, repeat: int = 1):
    best = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best.append(time.perf_counter() - t)
    return statistics.median(best)


def _installed_env() -> dict:
    """The environment of an installed trace: byte code cached (pip compiles .pyc files)."""
    env = dict(os.environ)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    if _INSTALLED:
        env.pop("PYTHONPATH", None)     # the installed environment's .pth names this tree
    return env


_INSTALLED: list = []
_CONSOLE_SCRIPT = """#!{python}
# -*- coding: utf-8 -*-
import re
import sys
from trace_cli.main import main
if __name__ == '__main__':
    sys.argv[0] = re.sub(r'(-script\\.pyw|\\.exe)?$', '', sys.argv[0])
    sys.exit(main())
"""


def installed_trace() -> list:
    """`trace` as `pip install` leaves it: a virtual environment whose site-packages names this
    source tree and the dependencies' directory, and pip's console script.

    A development checkout is usually installed editable, and an editable install's import
    hook (a .pth file) costs every Python process of that environment ~25 ms (it imports
    pathlib) before any of Trace's code runs; users who `pip install` Trace never pay it, so
    process timings use this environment instead. Made once per run, removed at exit."""
    if _INSTALLED:
        return _INSTALLED
    import atexit
    import site
    import venv

    root = tempfile.mkdtemp(prefix="trace-bench-env-")
    atexit.register(shutil.rmtree, root, True)
    venv.EnvBuilder(with_pip=False).create(root)
    py = os.path.join(root, "bin", "python")
    purelib = subprocess.run([py, "-c", "import sysconfig; print(sysconfig.get_path('purelib'))"],
                             capture_output=True, text=True, check=True).stdout.strip()
    deps = [p for p in site.getsitepackages() if os.path.isdir(p)]
    with open(os.path.join(purelib, "trace-bench.pth"), "w") as f:
        f.write("\n".join([os.path.dirname(HERE), *deps]) + "\n")
    script = os.path.join(root, "bin", "trace")
    with open(script, "w") as f:
        f.write(_CONSOLE_SCRIPT.format(python=py))
    os.chmod(script, 0o755)
    _INSTALLED.extend([script])
    return _INSTALLED


def installed_python() -> str:
    """The installed environment's interpreter (for `python -c pass`, the floor)."""
    return os.path.join(os.path.dirname(installed_trace()[0]), "python")


def proc_time(cmd, cwd, repeat: int = 7, env=None, warm_up: bool = True) -> float:
    """Median wall time of a whole process (after one unmeasured warm-up run)."""
    env = env or _installed_env()
    if warm_up:
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        subprocess.run(cmd, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       check=True, env=env)
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def materialize_ms(path: str, repeat: int) -> tuple:
    """Median ms of materializing HEAD in a freshly opened repository (cold), then again (warm:
    the context read is kept, the prompt rendered again), then a third time (kept: a prompt
    asked for twice is kept and copied)."""
    from trace_core.repository import Repository
    cold, warm, kept = [], [], []
    for _ in range(repeat):
        r = Repository.open(path)
        for out in (cold, warm, kept):
            t = time.perf_counter()
            r.materialize()
            out.append(time.perf_counter() - t)
        r.close()
    return tuple(statistics.median(x) * 1e3 for x in (cold, warm, kept))


def trace_cmd() -> list:
    """The command that runs this tree's `trace` as an installed program (`installed_trace`)."""
    return list(installed_trace())


# -- trace --------------------------------------------------------------------------------------
def bench_trace_append(root: str, msgs: list) -> dict:
    from trace_core.repository import Repository

    repo = Repository.init(os.path.join(root, "append"))
    n = len(msgs)
    marks = {}
    t0 = time.perf_counter()
    window = []
    for i, (role, text) in enumerate(msgs):
        t = time.perf_counter()
        repo.append({"role": role, "content": text})
        window.append(time.perf_counter() - t)
        if i + 1 in (200, n):  # medians: the first commit loads the tokenizer, seals are rare
            marks[100 if i + 1 == 200 else i + 1] = statistics.median(window[-100:])
    total = time.perf_counter() - t0
    repo.close()
    steady = window[min(100, n // 10):]
    return {"per_commit_us": total / n * 1e6, "at_100_us": marks.get(100, 0) * 1e6,
            "at_end_us": marks.get(n, 0) * 1e6, "median_us": statistics.median(steady) * 1e6,
            "p99_us": percentile(steady, 0.99) * 1e6, "repo": os.path.join(root, "append")}


def bench_trace_full_durability(root: str, msgs: list) -> float:
    from trace_core.repository import Repository

    repo = Repository.init(os.path.join(root, "full"), durability="full")
    sample = msgs[:300]
    t = time.perf_counter()
    for role, text in sample:
        repo.append({"role": role, "content": text})
    dt = (time.perf_counter() - t) / len(sample)
    repo.close()
    return dt * 1e6


def bench_trace_batch(root: str, msgs: list) -> float:
    from trace_core.repository import Repository

    repo = Repository.init(os.path.join(root, "batch"))
    t = time.perf_counter()
    with repo.transaction():
        for role, text in msgs:
            repo.append({"role": role, "content": text})
    dt = time.perf_counter() - t
    repo.close()
    return dt / len(msgs) * 1e6


def trace_dir_bytes(trace_dir: str) -> int:
    total = 0
    pack = os.path.join(trace_dir, "objects", "pack")
    for name in os.listdir(pack):
        if name.endswith((".pack", ".idx")):
            total += os.path.getsize(os.path.join(pack, name))
    return total


# -- git / dulwich ------------------------------------------------------------------------------
def git(args, cwd, **kw):
    env = dict(os.environ, GIT_AUTHOR_NAME="a", GIT_AUTHOR_EMAIL="a@x", GIT_COMMITTER_NAME="a",
               GIT_COMMITTER_EMAIL="a@x")
    return subprocess.run(["git", *args], cwd=cwd, env=env, check=True, capture_output=True, **kw)


def fast_import_stream(msgs: list) -> bytes:
    parts = []
    ts = 1_700_000_000
    for i, (role, text) in enumerate(msgs):
        data = f"{role}: {text}\n".encode()
        parts.append(b"blob\nmark :%d\ndata %d\n%s\n" % (2 * i + 1, len(data), data))
        cm = f"{role}: {text[:50]}".encode()
        parts.append(b"commit refs/heads/main\nmark :%d\ncommitter a <a@x> %d +0000\ndata %d\n%s\n"
                     % (2 * i + 2, ts + i, len(cm), cm))
        if i:
            parts.append(b"from :%d\n" % (2 * i))
        parts.append(b"M 100644 :%d context.txt\n\n" % (2 * i + 1))
    return b"".join(parts)


def bench_git(root: str, msgs: list) -> dict:
    repo = os.path.join(root, "git")
    git(["init", "-q", "-b", "main", repo], root)
    stream = fast_import_stream(msgs)
    t = time.perf_counter()
    subprocess.run(["git", "fast-import", "--quiet"], cwd=repo, input=stream, check=True,
                   capture_output=True)
    fi = (time.perf_counter() - t) / len(msgs) * 1e6
    git(["gc", "-q", "--aggressive"], repo)
    packdir = os.path.join(repo, ".git", "objects", "pack")
    pack_bytes = sum(os.path.getsize(os.path.join(packdir, f)) for f in os.listdir(packdir)
                     if f.endswith((".pack", ".idx")))
    return {"repo": repo, "fast_import_us": fi, "bytes_per_commit": pack_bytes / len(msgs)}


def bench_git_cli_commit(root: str, msgs: list) -> float:
    repo = os.path.join(root, "gitcli")
    git(["init", "-q", "-b", "main", repo], root)
    sample = msgs[:100]
    t = time.perf_counter()
    for role, text in sample:
        with open(os.path.join(repo, "context.txt"), "w") as f:
            f.write(f"{role}: {text}\n")
        git(["add", "context.txt"], repo)
        git(["commit", "-q", "-m", text[:50]], repo)
    return (time.perf_counter() - t) / len(sample) * 1e6


def bench_dulwich(root: str, msgs: list) -> dict:
    try:
        from dulwich.objects import Blob, Commit, Tree
        from dulwich.repo import Repo
    except ImportError:
        return {}
    path = os.path.join(root, "dulwich")
    os.makedirs(path)
    repo = Repo.init(path)
    parent = None
    window = []
    t0 = time.perf_counter()
    for i, (role, text) in enumerate(msgs):
        t = time.perf_counter()
        blob = Blob.from_string(f"{role}: {text}\n".encode())
        tree = Tree()
        tree.add(b"context.txt", 0o100644, blob.id)
        c = Commit()
        c.tree = tree.id
        c.parents = [parent] if parent else []
        c.author = c.committer = b"a <a@x>"
        c.commit_time = c.author_time = 1_700_000_000 + i
        c.commit_timezone = c.author_timezone = 0
        c.message = text[:50].encode()
        store = repo.object_store
        store.add_object(blob)
        store.add_object(tree)
        store.add_object(c)
        repo.refs[b"refs/heads/main"] = c.id
        parent = c.id
        window.append(time.perf_counter() - t)
    total = time.perf_counter() - t0
    return {"per_commit_us": total / len(msgs) * 1e6,
            "median_us": statistics.median(window) * 1e6,
            "at_end_us": statistics.median(window[-100:]) * 1e6}


def dir_bytes(path: str) -> int:
    """Bytes of every file under `path` (a whole .trace or .git directory)."""
    total = 0
    for base, _dirs, files in os.walk(path):
        for f in files:
            with contextlib.suppress(FileNotFoundError):
                total += os.path.getsize(os.path.join(base, f))
    return total


def percentile(values: list, q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(len(s) * q))]


def bench_startup(cwd: str, rep: int) -> dict:
    """Whole processes that do (almost) nothing: the floor every command pays."""
    tc = trace_cmd()
    py = installed_python()
    return {"python_pass_s": proc_time([py, "-c", "pass"], cwd, rep),
            # pip's console script imports re before it imports trace_cli: the floor of `trace`
            "script_floor_s": proc_time([py, "-c", "import re, sys"], cwd, rep),
            "git_version_s": proc_time(["git", "--version"], cwd, rep),
            "trace_version_s": proc_time([*tc, "--version"], cwd, rep),
            "trace_help_s": proc_time([*tc, "--help"], cwd, rep)}


def write_git_reflog(grepo: str, msgs: list) -> int:
    """The branch reflog a loop of `git commit` would have written for the fast-imported
    history (fast-import writes none): one line per commit in git's format. Returns its bytes."""
    ids = git(["rev-list", "--reverse", "main"], grepo, text=True).stdout.split()
    old = "0" * 40
    lines = []
    for i, (new, (role, text)) in enumerate(zip(ids, msgs, strict=True)):
        kind = "commit (initial)" if i == 0 else "commit"
        lines.append(f"{old} {new} a <a@x> {1_700_000_000 + i} +0000\t{kind}: "
                     f"{role}: {text[:50]}\n")
        old = new
    path = os.path.join(grepo, ".git", "logs", "refs", "heads", "main")
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = "".join(lines).encode()
    with open(path, "wb") as f:
        f.write(data)
    return len(data)


def trace_dir_parts(trace_dir: str) -> dict:
    """Bytes of a .trace directory by part: objects, refs and their logs, the index (a cache)."""
    parts = {"objects": dir_bytes(os.path.join(trace_dir, "objects")),
             "index": sum(os.path.getsize(os.path.join(trace_dir, f))
                          for f in os.listdir(trace_dir) if f.startswith("index.sqlite"))}
    parts["refs"] = dir_bytes(trace_dir) - parts["objects"] - parts["index"]
    return parts


def bench_gc(trepo: str, grepo: str, msgs: list) -> dict:
    """`trace gc` and `git gc` as processes (one run each: gc changes what it measures), then
    whole-directory bytes per commit after them. git's directory is measured as fast-import
    left it (no reflog) and with the branch reflog `git commit` would have written, since
    every Trace ref keeps its reflog."""
    tc = trace_cmd()
    env = _installed_env()
    t = time.perf_counter()
    subprocess.run([*tc, "gc"], cwd=trepo, check=True, capture_output=True, env=env)
    trace_gc = time.perf_counter() - t
    t = time.perf_counter()
    git(["gc", "-q"], grepo)
    git_gc = time.perf_counter() - t
    git_bytes = dir_bytes(os.path.join(grepo, ".git"))
    reflog = write_git_reflog(grepo, msgs)
    return {"trace_gc_s": trace_gc, "git_gc_s": git_gc,
            "trace_dir_bytes": dir_bytes(os.path.join(trepo, ".trace")),
            "trace_parts": trace_dir_parts(os.path.join(trepo, ".trace")),
            "git_dir_bytes": git_bytes, "git_dir_reflog_bytes": git_bytes + reflog}


def growth_row(root: str, n: int, rep: int) -> dict:
    """One line of the growth table: a history of `n` single appends, then its read paths."""
    from trace_core.repository import Repository

    path = os.path.join(root, f"growth-{n}")
    repo = Repository.init(path)
    times = []
    for role, text in messages(n, seed=11):
        t = time.perf_counter()
        repo.append({"role": role, "content": text})
        times.append(time.perf_counter() - t)
    repo.close()
    steady = times[min(100, n // 10):]  # after the tokenizer load and the first seals
    cold, warm, kept = materialize_ms(path, max(3, rep // 2))
    tc = trace_cmd()
    row = {"commits": n, "append_median_us": statistics.median(steady) * 1e6,
           "append_p99_us": percentile(steady, 0.99) * 1e6,
           "append_max_ms": max(steady) * 1e3,
           "materialize_cold_ms": cold, "materialize_warm_ms": warm,
           "materialize_kept_ms": kept,
           "log_s": proc_time([*tc, "log", "--oneline"], path, rep),
           # the first status reads the whole context once; later ones (the median) extend it
           "status_first_s": proc_time([*tc, "status"], path, 1, warm_up=False),
           "status_s": proc_time([*tc, "status"], path, rep),
           "packs": len([f for f in os.listdir(os.path.join(path, ".trace", "objects", "pack"))
                         if f.endswith(".idx")])}
    t = time.perf_counter()
    subprocess.run([*tc, "gc"], cwd=path, check=True, capture_output=True, env=_installed_env())
    row["gc_s"] = time.perf_counter() - t
    shutil.rmtree(path, ignore_errors=True)
    return row


def report_growth(rows: list) -> None:
    print("\ngrowth (single appends through the API; processes for log, status, gc; status:"
          " the median of\nrepeated runs, first: the first run after the history was written)\n")
    head = (f"{'commits':>8} {'append med':>11} {'p99':>8} {'max':>8} {'packs':>6} "
            f"{'mat cold':>9} {'warm':>8} {'kept':>8} {'log':>8} {'status':>8} {'first':>8} "
            f"{'gc':>8}")
    print(head)
    base = rows[0] if rows else None
    for r in rows:
        print(f"{r['commits']:>8} {r['append_median_us']:>8.0f} µs {r['append_p99_us']:>5.0f} µs "
              f"{r['append_max_ms']:>5.0f} ms {r['packs']:>6} {r['materialize_cold_ms']:>6.0f} ms "
              f"{r['materialize_warm_ms']:>5.1f} ms {r['materialize_kept_ms']:>5.1f} ms "
              f"{r['log_s'] * 1e3:>5.0f} ms "
              f"{r['status_s'] * 1e3:>5.0f} ms {r['status_first_s'] * 1e3:>5.0f} ms "
              f"{r['gc_s'] * 1e3:>5.0f} ms")
    if base and len(rows) > 1:
        print("\ngrowth factors against the first line (work grows by the commit ratio):")
        for r in rows[1:]:
            k = r["commits"] / base["commits"]
            f = {m: r[m] / base[m] if base[m] else float("nan")
                 for m in ("append_median_us", "append_p99_us", "materialize_cold_ms",
                           "materialize_warm_ms", "log_s", "status_s", "gc_s")}
            print(f"  x{k:.0f} commits: append median x{f['append_median_us']:.1f}, p99 "
                  f"x{f['append_p99_us']:.1f}, materialize cold x{f['materialize_cold_ms']:.1f} "
                  f"warm x{f['materialize_warm_ms']:.1f}, log x{f['log_s']:.1f}, status "
                  f"x{f['status_s']:.1f}, gc x{f['gc_s']:.1f}")


# -- main ---------------------------------------------------------------------------------------
def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--out", default=os.path.join(HERE, "results", "latest.json"))
    ap.add_argument("--quick", action="store_true", help="1,000 commits, fewer repeats")
    ap.add_argument("--keep", action="store_true", help="keep the scratch directory")
    ap.add_argument("--growth", default=None, metavar="N,N,...",
                    help="history sizes of the growth table (default 1000,10000,100000; "
                         "--quick: 1000,10000; 0: none)")
    args = ap.parse_args()
    n = 1000 if args.quick else args.commits
    rep = 3 if args.quick else 7
    msgs = messages(n)
    root = tempfile.mkdtemp(prefix="trace-bench-")
    tc = trace_cmd()
    res: dict = {"commits": n, "message_chars": statistics.mean(len(t) for _, t in msgs)}
    try:
        res["trace_append"] = bench_trace_append(root, msgs)
        res["trace_full_durability_us"] = bench_trace_full_durability(root, msgs)
        res["trace_batch_us"] = bench_trace_batch(root, msgs)
        res["dulwich"] = bench_dulwich(root, msgs)
        res["git"] = bench_git(root, msgs)
        res["git_cli_commit_us"] = bench_git_cli_commit(root, msgs)
        trepo = res["trace_append"].pop("repo")
        grepo = res["git"].pop("repo")

        # read paths, whole processes
        res["trace_log_s"] = proc_time([*tc, "log", "--oneline"], trepo, rep)
        res["git_log_s"] = proc_time(["git", "log", "--oneline"], grepo, rep)
        res["trace_rev_list_s"] = proc_time([*tc, "rev-list", "HEAD"], trepo, rep)
        res["git_rev_list_s"] = proc_time(["git", "rev-list", "HEAD"], grepo, rep)
        res["trace_status_s"] = proc_time([*tc, "status"], trepo, rep)
        res["trace_context_s"] = proc_time([*tc, "context"], trepo, rep)
        res["trace_rev_parse_s"] = proc_time([*tc, "rev-parse", "HEAD~5"], trepo, rep)
        res["git_rev_parse_s"] = proc_time(["git", "rev-parse", "HEAD~5"], grepo, rep)
        head = subprocess.run([*tc, "rev-parse", "HEAD"], cwd=trepo, capture_output=True,
                              text=True).stdout.strip()
        ghead = git(["rev-parse", "HEAD"], grepo, text=True).stdout.strip()
        res["trace_cat_object_s"] = proc_time([*tc, "cat-object", "-p", head], trepo, rep)
        res["git_cat_file_s"] = proc_time(["git", "cat-file", "-p", ghead], grepo, rep)

        # in-process materialize: cold (fresh Repository), warm (second call), kept (third)
        (res["materialize_cold_ms"], res["materialize_warm_ms"],
         res["materialize_kept_ms"]) = materialize_ms(trepo, rep)
        from trace_core.repository import Repository

        # reindex, then gc and bytes per commit
        r = Repository.open(trepo)
        res["reindex_s"] = timed(r.index.rebuild)
        from trace_core.gc import gc
        res["gc_s"] = timed(lambda: gc(r))
        r.close()
        res["trace_bytes_per_commit"] = trace_dir_bytes(os.path.join(trepo, ".trace")) / n
        res["startup"] = bench_startup(trepo, rep * 2)
        res["gc"] = bench_gc(trepo, grepo, msgs)
        from bench_merge import measure_merge
        res["merge"] = measure_merge(root, msgs, max(3, rep // 2))
        sizes = args.growth or ("1000,10000" if args.quick else "1000,10000,100000")
        res["growth"] = [growth_row(root, int(k), rep) for k in sizes.split(",") if int(k) > 0]
    finally:
        if not args.keep:
            shutil.rmtree(root, ignore_errors=True)
    report(res)
    report_growth(res["growth"])
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(res, f, indent=2)
    print(f"\nwrote {args.out}" + (f" (scratch kept in {root})" if args.keep else ""))


def report(r: dict) -> None:
    ta = r["trace_append"]
    d = r.get("dulwich") or {}
    g = r["git"]
    su, gc, n, mg = r["startup"], r["gc"], r["commits"], r["merge"]
    rows = [
        ("append via API, per commit", f"{ta['per_commit_us']:.0f} µs", "dulwich",
         f"{d.get('per_commit_us', 0):.0f} µs",
         d.get("per_commit_us", 0) / ta["per_commit_us"] if d else None),
        ("append median / mean / p99",
         f"{ta['median_us']:.0f} / {ta['per_commit_us']:.0f} / {ta['p99_us']:.0f} µs",
         "dulwich median", f"{d.get('median_us', 0):.0f} µs",
         d.get("median_us", 0) / ta["median_us"] if d else None),
        ("append median at 100 / at end", f"{ta['at_100_us']:.0f} / {ta['at_end_us']:.0f} µs",
         "dulwich at end",
         f"{d.get('at_end_us', 0):.0f} µs", None),
        ("append, durability=full", f"{r['trace_full_durability_us']:.0f} µs", "git CLI commit",
         f"{r['git_cli_commit_us']:.0f} µs",
         r["git_cli_commit_us"] / r["trace_full_durability_us"]),
        ("batch import, per commit", f"{r['trace_batch_us']:.0f} µs", "git fast-import",
         f"{g['fast_import_us']:.0f} µs",
         g["fast_import_us"] / r["trace_batch_us"]),
        ("log --oneline (process)", f"{r['trace_log_s'] * 1e3:.0f} ms", "git log --oneline",
         f"{r['git_log_s'] * 1e3:.0f} ms",
         r["git_log_s"] / r["trace_log_s"]),
        ("rev-list HEAD (process)", f"{r['trace_rev_list_s'] * 1e3:.0f} ms", "git rev-list",
         f"{r['git_rev_list_s'] * 1e3:.0f} ms",
         r["git_rev_list_s"] / r["trace_rev_list_s"]),
        ("rev-parse HEAD~5 (process)", f"{r['trace_rev_parse_s'] * 1e3:.0f} ms", "git rev-parse",
         f"{r['git_rev_parse_s'] * 1e3:.0f} ms",
         r["git_rev_parse_s"] / r["trace_rev_parse_s"]),
        ("cat-object -p (process)", f"{r['trace_cat_object_s'] * 1e3:.0f} ms", "git cat-file -p",
         f"{r['git_cat_file_s'] * 1e3:.0f} ms",
         r["git_cat_file_s"] / r["trace_cat_object_s"]),
        ("status (process)", f"{r['trace_status_s'] * 1e3:.0f} ms", "", "", None),
        (f"context, {n} entries (process)", f"{r['trace_context_s'] * 1e3:.0f} ms", "", "", None),
        ("materialize cold / warm / kept",
         f"{r['materialize_cold_ms']:.0f} / {r['materialize_warm_ms']:.1f} / "
         f"{r['materialize_kept_ms']:.1f} ms", "", "", None),
        ("reindex", f"{r['reindex_s'] * 1e3:.0f} ms", "", "", None),
        ("gc", f"{r['gc_s'] * 1e3:.0f} ms", "", "", None),
        ("packed bytes per commit", f"{r['trace_bytes_per_commit']:.0f} B", "git gc pack+idx",
         f"{g['bytes_per_commit']:.0f} B",
         r["trace_bytes_per_commit"] / g["bytes_per_commit"]),
        ("--version (process)", f"{su['trace_version_s'] * 1e3:.0f} ms", "python -c pass",
         f"{su['python_pass_s'] * 1e3:.0f} ms", su["python_pass_s"] / su["trace_version_s"]),
        ("", "", "pip script floor", f"{su['script_floor_s'] * 1e3:.0f} ms",
         su["script_floor_s"] / su["trace_version_s"]),
        ("--help (process)", f"{su['trace_help_s'] * 1e3:.0f} ms", "git --version",
         f"{su['git_version_s'] * 1e3:.0f} ms", su["git_version_s"] / su["trace_help_s"]),
        ("gc (process)", f"{gc['trace_gc_s'] * 1e3:.0f} ms", "git gc",
         f"{gc['git_gc_s'] * 1e3:.0f} ms", gc["git_gc_s"] / gc["trace_gc_s"]),
        ("whole dir after gc, per commit", f"{gc['trace_dir_bytes'] / n:.0f} B",
         "whole .git, no reflog", f"{gc['git_dir_bytes'] / n:.0f} B",
         gc["trace_dir_bytes"] / gc["git_dir_bytes"]),
        ("  the same", "", "with git's reflog", f"{gc['git_dir_reflog_bytes'] / n:.0f} B",
         gc["trace_dir_bytes"] / gc["git_dir_reflog_bytes"]),
        ("  objects / refs+logs / index",
         "/".join(f"{gc['trace_parts'][k] / n:.0f}" for k in ("objects", "refs", "index"))
         + " B", "", "", None),
        (f"merge 100 into {n} (process)", f"{mg['merge_proc_ms']:.0f} ms", "git merge",
         f"{mg['git_merge_proc_ms']:.0f} ms", mg["git_merge_proc_ms"] / mg["merge_proc_ms"]),
        ("merge, index never built (API)", f"{mg['merge_noindex_api_ms']:.0f} ms",
         "merge, indexed (API)", f"{mg['merge_api_ms']:.0f} ms",
         mg["merge_api_ms"] / mg["merge_noindex_api_ms"]),
    ]
    print(f"{r['commits']} commits, messages of ~{r['message_chars']:.0f} characters\n")
    print(f"{'measure':<32} {'trace':>18}   {'peer':<20} {'peer value':>12}  {'ratio':>7}")
    for name, tv, peer, pv, ratio in rows:
        rs = f"{ratio:.2f}x" if ratio else ""
        print(f"{name:<32} {tv:>18}   {peer:<20} {pv:>12}  {rs:>7}")
    print("\nratio = peer / trace (higher is better for Trace), "
          "except bytes: trace / git (lower is better)")


if __name__ == "__main__":
    main()
