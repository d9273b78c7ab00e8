"""`trace graph` against `git log --graph --oneline`, as whole processes, in the same run.

    python benchmarks/bench_graph.py [--commits 10000] [--branch 100] [--repeat 7]

History (the same shape in both tools): `commits` messages on main; a branch forks at the middle
and gets `branch` commits of its own; main merges it `tail` (50) commits before its tip, so the
drawing has a fork, two lanes side by side and a merge. Measured: the median wall time of
`trace graph` (and `trace graph --all`, `trace graph --json`) on the Trace repository and of
`git log --graph --oneline` (and `--all`) on a git repository built from the same messages
(git fast-import, then gc), output to a pipe. Also `trace log --oneline` for reference.
Nothing here is a pass/fail test.
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))

from run import git, messages, proc_time, trace_cmd  # noqa: E402

TAIL = 50


def build_trace(root: str, msgs: list, branch: int) -> str:
    from trace_core import plumbing
    from trace_core.repository import Repository

    path = os.path.join(root, "trace")
    repo = Repository.init(path)
    n = len(msgs)
    fork, merge_at = n // 2, n - TAIL
    with repo.transaction():
        for role, text in msgs[:fork]:
            repo.append({"role": role, "content": text})
    repo.branch_create("feat")
    with repo.transaction():
        for role, text in msgs[fork:merge_at]:
            repo.append({"role": role, "content": text})
    feat = repo.worktree("feat")
    with feat.transaction():
        for i in range(branch):
            feat.append({"role": "user", "content": f"branch step {i}: " + msgs[i][1]})
    main_tip = repo.head_commit()
    feat_tip = bytes.fromhex(repo.refs.resolve("refs/heads/feat"))
    snap = repo.get_commit(main_tip).snapshot
    merge = plumbing.commit_tree(repo, snap, [main_tip, feat_tip], op="merge",
                                 message="merge feat")
    repo.refs.set_if_equals("refs/heads/main", main_tip.hex(), merge.hex, message="merge feat")
    with repo.transaction():
        for role, text in msgs[merge_at:]:
            repo.append({"role": role, "content": text})
    repo.flush_token_cache()
    repo.close()
    return path


def build_git(root: str, msgs: list, branch: int) -> str:
    path = os.path.join(root, "git")
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)
    n = len(msgs)
    fork, merge_at = n // 2, n - TAIL
    out = []
    ts = 1_700_000_000

    def commit(ref, mark, text, frm=None, merge=None, name="context.txt"):
        data = text.encode()
        subject = text[:50].encode()
        out.append(b"commit %s\nmark :%d\ncommitter a <a@x> %d +0000\ndata %d\n%s\n"
                   % (ref.encode(), mark, ts + mark, len(subject), subject))
        if frm:
            out.append(b"from :%d\n" % frm)
        if merge:
            out.append(b"merge :%d\n" % merge)
        out.append(b"M 100644 inline %s\ndata %d\n%s\n\n" % (name.encode(), len(data), data))

    mark = 0
    for role, text in msgs[:fork]:
        mark += 1
        commit("refs/heads/main", mark, f"{role}: {text}")
    fork_mark = mark
    for role, text in msgs[fork:merge_at]:
        mark += 1
        commit("refs/heads/main", mark, f"{role}: {text}")
    main_mark = mark
    for i in range(branch):
        mark += 1
        commit("refs/heads/feat", mark, f"branch step {i}: " + msgs[i][1],
               frm=fork_mark if i == 0 else None, name="branch.txt")
    feat_mark = mark
    mark += 1
    commit("refs/heads/main", mark, "merge feat", frm=main_mark, merge=feat_mark)
    for role, text in msgs[merge_at:]:
        mark += 1
        commit("refs/heads/main", mark, f"{role}: {text}")
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=b"".join(out), check=True,
                   capture_output=True)
    git(["checkout", "-q", "-f", "main"], path)
    git(["gc", "-q"], path)
    return path


def run(commits: int = 10_000, branch: int = 100, repeat: int = 7) -> dict:
    msgs = messages(commits)
    root = tempfile.mkdtemp(prefix="trace-bench-graph-")
    tc = trace_cmd()
    res: dict = {"commits": commits, "branch": branch}
    try:
        trepo = build_trace(root, msgs, branch)
        grepo = build_git(root, msgs, branch)
        lines = subprocess.run([*tc, "graph"], cwd=trepo, capture_output=True, text=True,
                               check=True).stdout.count("\n")
        glines = git(["log", "--graph", "--oneline"], grepo, text=True).stdout.count("\n")
        res["trace_graph_lines"] = lines
        res["git_graph_lines"] = glines
        res["trace_graph_s"] = proc_time([*tc, "graph"], trepo, repeat)
        res["git_graph_s"] = proc_time(["git", "log", "--graph", "--oneline"], grepo, repeat)
        res["trace_graph_all_s"] = proc_time([*tc, "graph", "--all"], trepo, repeat)
        res["git_graph_all_s"] = proc_time(["git", "log", "--graph", "--oneline", "--all"],
                                           grepo, repeat)
        res["trace_graph_json_s"] = proc_time([*tc, "graph", "--json"], trepo, repeat)
        res["trace_graph_n20_s"] = proc_time([*tc, "graph", "-n", "20"], trepo, repeat)
        res["git_graph_n20_s"] = proc_time(["git", "log", "--graph", "--oneline", "-n", "20"],
                                           grepo, repeat)
        res["trace_log_s"] = proc_time([*tc, "log", "--oneline"], trepo, repeat)
        res["ratio_git_over_trace"] = res["git_graph_s"] / res["trace_graph_s"]
    finally:
        shutil.rmtree(root, ignore_errors=True)
    return res


def report(r: dict) -> None:
    print(f"history: {r['commits']} commits on main, a {r['branch']}-commit branch merged back "
          f"({r['trace_graph_lines']} lines drawn by trace, {r['git_graph_lines']} by git)")
    rows = [("trace graph", r["trace_graph_s"], "git log --graph --oneline", r["git_graph_s"]),
            ("trace graph --all", r["trace_graph_all_s"], "git log --graph --oneline --all",
             r["git_graph_all_s"]),
            ("trace graph -n 20", r["trace_graph_n20_s"], "git log --graph --oneline -n 20",
             r["git_graph_n20_s"]),
            ("trace graph --json", r["trace_graph_json_s"], "", None),
            ("trace log --oneline", r["trace_log_s"], "", None)]
    for name, t, peer, pt in rows:
        line = f"{name:22s} {t * 1e3:7.1f} ms"
        if pt is not None:
            line += f"   {peer:34s} {pt * 1e3:7.1f} ms   ratio {pt / t:5.2f}"
        print(line)
    print("ratio = git / trace (higher is better for Trace); medians of whole processes")


def main() -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--commits", type=int, default=10_000)
    ap.add_argument("--branch", type=int, default=100)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args()
    res = run(args.commits, args.branch, args.repeat)
    report(res)
    return res


if __name__ == "__main__":
    main()
