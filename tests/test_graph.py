"""`trace graph`: the layout (exact drawings), the ordering, the repository API and the CLI."""

from __future__ import annotations

import json
import os
import random
import re
import shutil
import subprocess
import tempfile

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke

from trace_cli.commands.graph import format_rows, to_json
from trace_core import plumbing
from trace_core.errors import InputError, OperationError, RevisionError
from trace_core.refs import ANY
from trace_core.render.graph import GraphLayout, first_commits, graph_log, layout, topo_order
from trace_core.render.labels import ref_labels


# -- helpers ----------------------------------------------------------------------------------
def generations(spec) -> dict:
    gen: dict = {}
    for name, ps, _ in spec:
        gen[name] = 1 + max((gen[p] for p in ps), default=0)
    return gen


def draw(spec) -> str:
    """The layout of a DAG given as (name, parents, time) in creation order, names as ids."""
    gen = generations(spec)
    par = {n: tuple(ps) for n, ps, _ in spec}
    rows = [(n, par[n], gen[n], t) for n, ps, t in spec]
    order = [r[0] for r in topo_order(rows, par)]
    out = []
    for text, _, oid in layout((o, par[o]) for o in order):
        out.append(text + oid if oid else text)
    return "\n".join(out) + "\n"


def build(repo, spec, refs) -> dict:
    """Commits by plumbing (name, parents, time in seconds), refs pointed at them."""
    snap = plumbing.write_snapshot(repo, [])
    ids: dict = {}
    for name, ps, t in spec:
        ids[name] = plumbing.commit_tree(
            repo, snap.id, [ids[p] for p in ps], op="merge" if len(ps) > 1 else "append",
            message=name, time_ms=t * 1000, tz_min=0).id
    for ref, name in refs.items():
        repo.refs.set_if_equals(ref, ANY, ids[name].hex(), deref=False)
    return ids


def expect(template: str, ids: dict) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: ids[m.group(1)][:6].hex(), template)


def text_of(repo, *revs, **kw) -> str:
    return "\n".join(format_rows(graph_log(repo, revs, **kw))) + "\n"


FORK_MERGE = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("a2", ["a1"], 4),
              ("b2", ["b1"], 5), ("merge", ["a2", "b2"], 6), ("top", ["merge"], 7)]
INTERLEAVED = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("a2", ["a1"], 4),
               ("b2", ["b1"], 5), ("a3", ["a2"], 6), ("b3", ["b2"], 7)]
TWO_MERGES = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("m1", ["a1", "b1"], 4),
              ("b2", ["b1"], 5), ("a2", ["m1"], 6), ("m2", ["a2", "b2"], 7)]
OCTOPUS = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("c1", ["base"], 4),
           ("o", ["a1", "b1", "c1"], 5)]


# -- layout: exact drawings -------------------------------------------------------------------
def test_linear():
    assert draw([("a", [], 1), ("b", ["a"], 2), ("c", ["b"], 3)]) == "* c\n* b\n* a\n"


def test_fork_and_merge():
    assert draw(FORK_MERGE) == (
        "* top\n"
        "*   merge\n"
        "|\\\n"
        "| * b2\n"
        "* | a2\n"
        "| * b1\n"
        "* | a1\n"
        "|/\n"
        "* base\n")


def test_two_interleaved_branches():
    assert draw(INTERLEAVED) == (
        "* b3\n"
        "| * a3\n"
        "* | b2\n"
        "| * a2\n"
        "* | b1\n"
        "| * a1\n"
        "|/\n"
        "* base\n")


def test_branch_merged_twice():
    # the second merge's branch lane joins the lane of the first merge at once (`|\|`)
    assert draw(TWO_MERGES) == (
        "*   m2\n"
        "|\\\n"
        "* | a2\n"
        "| * b2\n"
        "* | m1\n"
        "|\\|\n"
        "| * b1\n"
        "* | a1\n"
        "|/\n"
        "* base\n")


def test_branch_lane_crosses_and_joins_left():
    # b1's lane must pass a1's lane to reach base's lane on the left: one character per row
    spec = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("c1", ["base"], 4),
            ("m", ["a1", "b1"], 6)]
    assert draw(spec) == (
        "*   m\n"
        "|\\\n"
        "| | * c1\n"
        "| * | b1\n"
        "| |/\n"
        "* / a1\n"
        "|/\n"
        "* base\n")


def test_long_join_draws_a_horizontal_run():
    spec = [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("c1", ["base"], 4),
            ("x", ["base"], 7), ("o", ["a1", "b1", "c1"], 6)]
    assert draw(spec) == (
        "* x\n"
        "| *-.   o\n"
        "| |\\ \\\n"
        "| | | * c1\n"
        "| |_|/\n"
        "|/| |\n"
        "| | * b1\n"
        "| |/\n"
        "|/|\n"
        "| * a1\n"
        "|/\n"
        "* base\n")


def test_merge_of_a_parent_already_on_the_left_goes_straight_there():
    # git first opens a lane to the right and comes back; Trace draws the edge to the left
    spec = [("c0", [], 1), ("c1", ["c0"], 2), ("c2", ["c1"], 3), ("c3", ["c1", "c2"], 4),
            ("c4", ["c2"], 5)]
    assert draw(spec) == (
        "* c4\n"
        "| *   c3\n"
        "|/|\n"
        "* | c2\n"
        "|/\n"
        "* c1\n"
        "* c0\n")


def test_independent_roots_end_their_lanes():
    spec = [("r1", [], 1), ("x1", ["r1"], 2), ("r2", [], 3), ("y1", ["r2"], 4),
            ("m", ["x1", "y1"], 5)]
    assert draw(spec) == "*   m\n|\\\n| * y1\n| * r2\n* x1\n* r1\n"
    # a root in the left lane: the lane on its right moves over
    spec = [("r1", [], 1), ("r2", [], 2), ("x", ["r1"], 3), ("y", ["r2"], 4)]
    assert draw(spec) == "* y\n| * x\n* | r2\n /\n* r1\n"


def test_commit_rows_are_padded_to_the_graph_width():
    g = GraphLayout()
    rows = g.add(b"m", [b"a", b"b"])
    assert rows[0][0] == "*   " and rows[0][2] is True
    assert rows[1][0] == "|\\" and rows[1][2] is False
    assert g.add(b"b", [b"c"])[0][0] == "| * "


def test_colors_follow_lanes():
    g = GraphLayout(colors=True)
    merge_row, fork = g.add(b"m", [b"a", b"b"])
    assert len(merge_row[1]) == len(merge_row[0])
    # '|' keeps the merge's lane color, '\' takes the new lane's color
    assert fork[0] == "|\\" and fork[1][0] != fork[1][1] and min(fork[1]) >= 0
    row = g.add(b"b", [b"c"])[0]
    assert row[0] == "| * " and row[1][0] == fork[1][0] and row[1][2] == -1
    assert GraphLayout().add(b"x", [b"y"])[0][1] is None


def random_dag(seed: int, n: int, octopus: float = 0.0):
    r = random.Random(seed)
    spec = []
    for i in range(n):
        names = [s[0] for s in spec]
        if not names or r.random() < 0.05:
            ps = []
        else:
            x = r.random()
            k = 3 if x < octopus else 2 if x < octopus + 0.25 else 1
            pool = names[-6:] if r.random() < 0.8 else names
            ps = r.sample(pool, min(k, len(pool)))
        spec.append((f"c{i}", ps, r.randint(0, n) if r.random() < 0.3 else i + 1))
    return spec


@pytest.mark.parametrize("seed", range(150))
def test_random_graphs_are_well_formed(seed):
    spec = random_dag(seed, random.Random(seed).randint(1, 30), octopus=0.08)
    text = draw(spec)
    lines = text.splitlines()
    commit_lines = [ln for ln in lines if "*" in ln]
    assert len(commit_lines) == len(spec)
    for ln in lines:
        graph = ln.split("c", 1)[0] if "*" in ln else ln
        assert set(graph) <= set(" |/\\_*-."), ln
        assert graph.count("*") == (1 if "*" in ln else 0)
    assert not lines or "*" in lines[-1]            # the drawing ends on a commit row
    # commit rows say which commit they draw
    names = [ln.rsplit(" ", 1)[-1] for ln in commit_lines]
    pos = {n: i for i, n in enumerate(names)}
    for n, ps, _ in spec:
        assert all(pos[p] > pos[n] for p in ps)            # children before parents


# -- ordering ---------------------------------------------------------------------------------
def test_topo_order_ties_by_time_and_survives_clock_skew():
    par = {"a": (), "b": ("a",), "c": ("a",), "d": ("b", "c")}
    rows = [("a", (), 1, 50), ("b", ("a",), 2, 10), ("c", ("a",), 2, 20), ("d", ("b", "c"), 3, 5)]
    # d is oldest by its clock but is a child of everything: it still comes first
    assert [r[0] for r in topo_order(rows, par)] == ["d", "c", "b", "a"]


@pytest.mark.parametrize("seed", range(100))
def test_first_commits_equal_the_full_order(seed):
    r = random.Random(seed)
    spec = random_dag(seed, r.randint(1, 40), octopus=0.05)
    gen = generations(spec)
    par = {n: tuple(ps) for n, ps, _ in spec}
    rows = {n: (n, par[n], gen[n], t) for n, ps, t in spec}
    starts = r.sample(list(par), r.randint(1, min(3, len(par))))
    seen, stack = set(), list(starts)
    while stack:
        x = stack.pop()
        if x not in seen:
            seen.add(x)
            stack.extend(par[x])
    full = topo_order([rows[x] for x in seen], par)
    k = r.randint(0, len(full) + 1)
    reads = []

    def get_row(oid):
        reads.append(oid)
        return rows[oid]
    assert first_commits(get_row, starts, k, 10**6) == full[:k]
    assert len(reads) == len(set(reads)) <= len(seen)       # each row read at most once
    assert first_commits(get_row, starts, len(full), 0) in (None, full)


def test_first_commits_read_only_what_they_need():
    n = 500
    par = {i: ((i - 1,) if i else ()) for i in range(n)}
    reads = []

    def get_row(oid):
        reads.append(oid)
        return (oid, par[oid], oid + 1, oid)
    got = first_commits(get_row, [n - 1], 5, 10**6)
    assert [r[0] for r in got] == [499, 498, 497, 496, 495]
    assert len(reads) <= 7


# -- the repository's graph -------------------------------------------------------------------
def test_graph_log_fork_and_merge_with_labels(repo):
    ids = build(repo, FORK_MERGE, {"refs/heads/main": "top", "refs/heads/feature": "b2",
                                   "refs/tags/v1": "top"})
    assert text_of(repo) == expect(
        "* {top} (HEAD -> main, tag: v1) top\n"
        "*   {merge} merge\n"
        "|\\\n"
        "| * {b2} (feature) b2\n"
        "* | {a2} a2\n"
        "| * {b1} b1\n"
        "* | {a1} a1\n"
        "|/\n"
        "* {base} base\n", ids)
    rows = graph_log(repo)
    merge = next(r for r in rows if r.commit == ids["merge"])
    assert merge.parents == (ids["a2"], ids["b2"]) and merge.op == "merge"
    assert merge.graph == "*   " and merge.summary == "merge"


def test_graph_log_all_refs_and_detached_head(repo):
    ids = build(repo, INTERLEAVED, {"refs/heads/main": "a3", "refs/heads/side": "b3"})
    assert text_of(repo) == expect("* {a3} (HEAD -> main) a3\n* {a2} a2\n* {a1} a1\n"
                                   "* {base} base\n", ids)
    assert text_of(repo, all_refs=True) == expect(
        "* {b3} (side) b3\n"
        "| * {a3} (HEAD -> main) a3\n"
        "* | {b2} b2\n"
        "| * {a2} a2\n"
        "* | {b1} b1\n"
        "| * {a1} a1\n"
        "|/\n"
        "* {base} base\n", ids)
    repo.refs.set_if_equals("HEAD", ANY, ids["b1"].hex(), deref=False)
    assert ref_labels(repo)[ids["b1"]] == ["HEAD"]
    assert ref_labels(repo)[ids["a3"]] == ["main"]


def test_graph_log_limit_keeps_the_first_commits_and_their_connectors(repo):
    ids = build(repo, FORK_MERGE, {"refs/heads/main": "top"})
    full = graph_log(repo)
    assert graph_log(repo, limit=2) == full[:3]         # top, merge and the merge's fork row
    assert graph_log(repo, limit=0) == []
    assert graph_log(repo, limit=100) == full
    assert [r.commit for r in graph_log(repo, all_refs=True, limit=3) if r.commit] == \
        [ids["top"], ids["merge"], ids["b2"]]
    with pytest.raises(InputError):
        graph_log(repo, limit=-1)


def test_graph_log_ranges_leave_out_excluded_parents(repo):
    ids = build(repo, FORK_MERGE, {"refs/heads/main": "top", "refs/heads/feature": "b2"})
    assert text_of(repo, "feature..main") == expect(
        "* {top} (HEAD -> main) top\n"
        "* {merge} merge\n"
        "* {a2} a2\n"
        "* {a1} a1\n", ids)
    rows = graph_log(repo, ["feature..main"])
    assert [r.commit for r in rows if r.commit] == [ids["top"], ids["merge"], ids["a2"], ids["a1"]]
    merge = next(r for r in rows if r.commit == ids["merge"])
    assert merge.parents == (ids["a2"],)                # b2 is excluded: no lane for it
    assert [r.commit for r in graph_log(repo, ["main", "^" + ids["a2"].hex()]) if r.commit] == \
        [ids["top"], ids["merge"], ids["b2"], ids["b1"]]


def test_graph_log_errors(repo):
    with pytest.raises(OperationError):
        graph_log(repo)                                # no commits yet
    assert graph_log(repo, all_refs=True) == []
    build(repo, FORK_MERGE[:2], {"refs/heads/main": "a1"})
    with pytest.raises(RevisionError):
        graph_log(repo, ["nosuchbranch"])
    blob = plumbing.hash_object(repo, {"role": "user", "content": "x"}, write=True)
    with pytest.raises(RevisionError):
        graph_log(repo, [blob])                        # not a commit
    repo.refs.set_if_equals("refs/tags/blob", ANY, blob, deref=False)
    assert len([r for r in graph_log(repo, all_refs=True) if r.commit]) == 2   # skipped


def test_graph_log_without_an_index(repo, tmp_path):
    ids = build(repo, FORK_MERGE, {"refs/heads/main": "top"})
    expected = text_of(repo)
    repo.close()
    for suffix in ("", "-wal", "-shm"):
        path = os.path.join(repo.trace_dir, "index.sqlite" + suffix)
        if os.path.exists(path):
            os.remove(path)
    from trace_core.repository import Repository
    with Repository.open(repo.trace_dir) as r2:
        assert text_of(r2) == expected
        assert graph_log(r2, limit=1)[0].commit == ids["top"]


def test_json_rows_reproduce_the_drawing(repo):
    ids = build(repo, TWO_MERGES, {"refs/heads/main": "m2"})
    rows = graph_log(repo)
    items = to_json(rows)
    assert [i["id"] for i in items] == [ids[n].hex() for n in
                                        ("m2", "a2", "b2", "m1", "b1", "a1", "base")]
    assert items[0]["graph"] == "*   " and items[0]["after"] == ["|\\"]
    assert items[0]["parents"] == [ids["a2"].hex(), ids["b2"].hex()]
    lines = []
    for i in items:
        lines.append(i["graph"])
        lines.extend(i["after"])
    assert lines == [r.graph for r in rows]
    # each commit's lane is the column of its `*`: b2, b1 (the merged side) in lane 1
    assert [i["lane"] for i in items] == [0, 0, 1, 0, 1, 0, 0]


# -- against git ------------------------------------------------------------------------------
def _git_version():
    try:
        out = subprocess.run(["git", "--version"], capture_output=True, text=True).stdout
    except OSError:
        return None
    m = re.search(r"(\d+)\.(\d+)", out)
    return (int(m.group(1)), int(m.group(2))) if m else None


def git_drawing(spec) -> str:
    d = tempfile.mkdtemp(prefix="trace-graph-git-")
    try:
        env = dict(os.environ, GIT_CONFIG_NOSYSTEM="1", HOME=d)
        subprocess.run(["git", "init", "-q", d], check=True, env=env)
        marks, out = {}, []
        for k, (name, ps, t) in enumerate(spec, 1):
            marks[name] = k
            out.append(f"commit refs/heads/tmp\nmark :{k}\ncommitter t <t@t> {1700000000 + t} "
                       f"+0000\ndata {len(name)}\n{name}\n")
            if ps:
                out.append(f"from :{marks[ps[0]]}\n"
                           + "".join(f"merge :{marks[p]}\n" for p in ps[1:]))
            else:
                out.append("deleteall\n")
            out.append("\n")
        children = {p for _, ps, _ in spec for p in ps}
        for name, _, _ in spec:
            if name not in children:
                out.append(f"reset refs/heads/h-{name}\nfrom :{marks[name]}\n\n")
        subprocess.run(["git", "fast-import", "--quiet"], cwd=d, input="".join(out).encode(),
                       check=True, env=env, capture_output=True)
        subprocess.run(["git", "update-ref", "-d", "refs/heads/tmp"], cwd=d, check=True, env=env)
        text = subprocess.run(["git", "log", "--graph", "--date-order", "--format=%s",
                               "--branches=h-*"], cwd=d, capture_output=True, text=True,
                              check=True, env=env).stdout
    finally:
        shutil.rmtree(d, ignore_errors=True)
    # git pads connector rows with spaces; Trace does not
    return "".join(ln.rstrip() + "\n" if "*" not in ln else ln + "\n" for ln in text.splitlines())


@pytest.mark.skipif(not shutil.which("git") or (_git_version() or (0, 0)) < (2, 25),
                    reason="needs git >= 2.25 (its current graph layout)")
@pytest.mark.parametrize("spec", [
    [("a", [], 1), ("b", ["a"], 2), ("c", ["b"], 3)], FORK_MERGE, INTERLEAVED, TWO_MERGES, OCTOPUS,
    [("base", [], 1), ("a1", ["base"], 2), ("b1", ["base"], 3), ("c1", ["base"], 4),
     ("m", ["a1", "b1"], 6)]], ids=["linear", "fork-merge", "interleaved", "two-merges",
                                     "octopus", "cross"])
def test_same_drawing_as_git(spec):
    assert draw(spec) == git_drawing(spec)


# -- the command line -------------------------------------------------------------------------


def test_cli_graph_of_a_merge_built_with_commit_tree(rdir):
    invoke(rdir, "commit", "base", check=True)
    snap = invoke(rdir, "rev-parse", "HEAD", check=True).stdout.strip()
    base = snap
    a1 = invoke(rdir, "commit-tree", base, "-p", base, "-m", "a1", "--time", "4102444800000",
           check=True).stdout.strip()
    b1 = invoke(rdir, "commit-tree", base, "-p", base, "-m", "b1", "--time", "4102444801000",
           check=True).stdout.strip()
    m = invoke(rdir, "commit-tree", base, "-p", a1, "-p", b1, "-m", "merge b1", "--op", "merge",
          "--time", "4102444802000", check=True).stdout.strip()
    invoke(rdir, "update-ref", "refs/heads/main", m, check=True)
    invoke(rdir, "update-ref", "refs/heads/side", b1, check=True)
    out = invoke(rdir, "graph", check=True).stdout
    assert out == (f"*   {m[:12]} (HEAD -> main) merge b1\n"
                   "|\\\n"
                   f"| * {b1[:12]} (side) b1\n"
                   f"* | {a1[:12]} a1\n"
                   "|/\n"
                   f"* {base[:12]} user: base\n")
    assert "\x1b[" not in out                          # no color into a pipe
    colored = invoke(rdir, "graph", "--color=always", check=True).stdout
    assert "\x1b[" in colored and re.sub(r"\x1b\[[0-9;]*m", "", colored) == out
    js = json.loads(invoke(rdir, "graph", "--json", "-n", "1", check=True).stdout)
    assert js == [{"id": m, "parents": [a1, b1], "refs": ["HEAD -> main"], "summary": "merge b1",
                   "op": "merge", "graph": "*   ", "lane": 0, "after": ["|\\"]}]
    assert invoke(rdir, "graph", "-n", "0", check=True).stdout == ""
    assert invoke(rdir, "graph", "side", check=True).stdout == \
        f"* {b1[:12]} (side) b1\n* {base[:12]} user: base\n"


def test_cli_graph_errors_are_one_line(rdir):
    assert_one_line_error(invoke(rdir, "graph"))                  # no commits yet
    invoke(rdir, "commit", "x", check=True)
    assert_one_line_error(invoke(rdir, "graph", "nosuch"), "nosuch")
    for args in (["-n", "-3"], ["--color", "purple"]):
        assert_usage_error(invoke(rdir, "graph", *args))
    assert invoke(rdir, "graph", "--all", check=True).stdout.startswith("* ")
