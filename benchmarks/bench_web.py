"""The web viewer's first paint and interactions against `git log --graph --oneline` in one run.

    python benchmarks/bench_web.py [--commits 10000,100000] [--repeat 3] [--repeat-large 2]

For each N of `--commits`: one linear history of N ~400-character messages (benchmarks/run.py's
`messages`) written into a Trace repository (one `repo.transaction()`, then `trace reindex`
and one unmeasured read: the build is not measured) and into a git repository (git fast-import,
then gc). Measured in the same run, on the same machine:

- peer: `git log --graph --oneline` and `trace graph` as whole processes (medians);
- server: the documents `trace web` answers, computed on a freshly opened repository each time
  (data.graph of the newest 2,000 commits, of the whole history, the head's context window of
  500 entries, the head context's blame), with their JSON size;
- browser, live (`repo.serve()`, a fresh repository and server for each page load: what
  `trace web` then opening the page does): first paint of `#/graph` (navigation start to the
  view drawn: the page's `data-route` set), the whole graph drawn (`traceGraph.complete`), one
  redraw after a jump (in the page), a commit clicked in the canvas then its side panel's
  "context" link clicked (pointer down on the link to the context view drawn), a commit
  selected then another shift-clicked (pointer down to the diff drawn), first paint of the
  head's context (N entries, 500 a page) and its blame loaded (since navigation; past 20,000
  entries the page asks for it when an entry is first hovered: the benchmark hovers at once);
- export: `repo.export_html()` time and file size, first paint of the file's `#/graph` and of
  the head's context (file:// URL).

The context view asks for the context's blame in the background once it is drawn, and the server
answers one request at a time: each measure waits for that answer before the next one starts
(else a later click would queue behind it), and its arrival is a row of its own.

Browser figures are read in the page (performance.now(), whose origin is the navigation's
start) in headless Chromium through Playwright; each is the median of `--repeat` fresh pages
(`--repeat-large` from 50,000 commits). Ratios are git / figure, as in run.py (higher is better
for Trace; 0.10x: the figure takes ten `git log --graph --oneline` runs). Nothing here is a
pass/fail test. Needs playwright and /usr/bin/chromium.

Measured (2 shared cores, Chromium headless; git log --graph --oneline 111 ms at 10,000 commits,
1.04 s at 100,000): first paint of the graph 0.32 s / 0.35 s, whole graph drawn 0.94 s / 7.3 s
(the server's whole document: 4.7 s of it at 100,000), a redraw 2 ms, a click to a context 0.45 s
/ 2.4 s, a shift-click to a diff 0.10 s / 0.66 s, the head context's first paint 0.50 s / 3.8 s
and its blame 1.8 s / 13 s; export_html 6.4 s / 177 s (28 MB / 284 MB), the file's first paint
0.63 s / 5.6 s.
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
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from run import (  # noqa: E402
    _installed_env,
    build_history,
    fast_import_stream,
    git,
    messages,
    proc_time,
    trace_cmd,
)

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]
TIMEOUT = 600_000     # ms: the longest any one wait in the page may take
BACK = 10             # the clicked commit is the head's 10th ancestor (on the first screen)


# -- the two repositories -----------------------------------------------------------------------
def build_trace(path: str, msgs: list) -> float:
    """The Trace repository of `msgs` (one transaction), indexed and read once; its build time."""
    from trace_core import Repository
    from trace_core.web import data

    t = time.perf_counter()
    build_history(path, msgs)
    subprocess.run([*trace_cmd(), "reindex"], cwd=path, check=True, capture_output=True,
                   env=_installed_env())
    repo = Repository.open(path)
    data.graph(repo)          # one read (whatever a first read leaves behind is not measured)
    repo.close()
    return time.perf_counter() - t


def build_git(path: str, msgs: list) -> float:
    t = time.perf_counter()
    os.makedirs(path)
    git(["init", "-q", "-b", "main"], path)
    subprocess.run(["git", "fast-import", "--quiet"], cwd=path, input=fast_import_stream(msgs),
                   check=True, capture_output=True)
    git(["gc", "-q"], path)
    return time.perf_counter() - t


# -- server ---------------------------------------------------------------------------------------
def server_ms(path: str, repeat: int) -> dict:
    """Median ms of each document on a freshly opened repository, and its JSON bytes."""
    import json

    from trace_core import Repository
    from trace_core.web import data

    out: dict = {}
    calls = {"graph_first": lambda r, h: data.graph(r, None, 2000),
             "graph_whole": lambda r, h: data.graph(r),
             "context_head": lambda r, h: data.context(r, h, 0, 500),
             "blame_head": lambda r, h: data.blame(r, h)}
    for name, fn in calls.items():
        times = []
        for _ in range(repeat):
            repo = Repository.open(path)
            repo.persist_tokens = False       # as the server reads
            head = repo.head_commit().hex()
            t = time.perf_counter()
            doc = fn(repo, head)
            times.append(time.perf_counter() - t)
            repo.close()
        out[name] = statistics.median(times) * 1e3
        out[name + "_bytes"] = len(json.dumps(doc, ensure_ascii=False, separators=(",", ":")))
    return out


# -- browser --------------------------------------------------------------------------------------
def new_page(browser):
    return browser.new_page(viewport={"width": 1280, "height": 800})


def wait_route(page, route: str) -> None:
    page.wait_for_function("r => document.body.dataset.route === r", arg=route, timeout=TIMEOUT)


def wait_complete(page) -> float:
    """Wait until the whole graph is drawn; the page's clock (ms since navigation) then."""
    h = page.wait_for_function("() => window.traceGraph && window.traceGraph.complete"
                               " && performance.now()", timeout=TIMEOUT, polling=10)
    return h.json_value()


def wait_blame(page) -> float:
    """Wait until the context view's background blame request is answered (the server answers
    one request at a time: a later interaction would wait for it); the page's clock then. Past
    20,000 entries the page asks for blame on the first hover: hover the first entry."""
    if "hover an entry to load it" in (page.text_content(".blame-status") or ""):
        page.hover(".entry .entry-head")
    h = page.wait_for_function("() => { const b = document.querySelector('.blame-status');"
                               " return b && (b.classList.contains('blame-ready') ||"
                               " b.textContent.startsWith('blame unavailable'))"
                               " && performance.now(); }", timeout=TIMEOUT, polling=10)
    return h.json_value()


def arm(page) -> None:
    """Record the page's clock at the next pointer down (the start of an interaction)."""
    page.evaluate("() => { window.__t0 = null; document.addEventListener('pointerdown',"
                  " () => { window.__t0 = performance.now(); }, {capture: true, once: true}); }")


def since_armed(page) -> float:
    return page.evaluate("() => window.traceViewer.painted - window.__t0")


def painted(page) -> float:
    return page.evaluate("() => window.traceViewer.painted")


def click_commit(page, cid: str, shift: bool = False) -> None:
    pt = page.evaluate("id => window.traceGraph.point(id)", cid)
    if shift:
        page.keyboard.down("Shift")
    page.mouse.click(pt["x"], pt["y"])
    if shift:
        page.keyboard.up("Shift")


def draw_ms(page) -> float:
    """Median ms of one redraw of the graph (200 jumps to commits spread over the whole history,
    each scrolls there and draws the visible rows and edges; measured in the page)."""
    return page.evaluate("""() => {
        const ids = window.traceGraph.ids, per = [];
        for (let i = 0; i < 200; i++) {
            const id = ids[Math.floor(((i * 7919) % 200) / 200 * ids.length)];
            const t = performance.now();
            window.traceGraph.point(id);
            per.push(performance.now() - t);
        }
        per.sort((a, b) => a - b);
        return per[100];
    }""")


def live(browser, path: str, head: str, back: str, repeat: int) -> dict:
    """The live viewer's figures (ms), each a median over `repeat` fresh repositories, servers
    and pages."""
    from trace_core import Repository

    runs: dict = {k: [] for k in ("graph_paint", "graph_complete", "redraw", "click_context",
                                  "shift_diff", "context_paint", "context_blame")}
    for _ in range(repeat):
        repo = Repository.open(path)
        server = repo.serve()
        try:
            page = new_page(browser)
            page.goto(server.url + "#/graph")
            wait_route(page, "#/graph")
            runs["graph_paint"].append(painted(page))
            runs["graph_complete"].append(wait_complete(page))
            runs["redraw"].append(draw_ms(page))
            # select the commit in the canvas, then its side panel's "context" link
            click_commit(page, back)
            page.wait_for_function("id => window.traceGraph.selected() === id", arg=back)
            arm(page)
            page.click(".side-panel a:text('context')")
            wait_route(page, f"#/commit/{back}")
            runs["click_context"].append(since_armed(page))
            wait_blame(page)
            # back to the graph: select the commit, shift-click the head
            page.evaluate("() => { location.hash = '#/graph'; }")
            wait_route(page, "#/graph")
            wait_complete(page)
            click_commit(page, back)
            page.wait_for_function("id => window.traceGraph.selected() === id", arg=back)
            pt = page.evaluate("id => window.traceGraph.point(id)", head)
            arm(page)
            page.keyboard.down("Shift")
            page.mouse.click(pt["x"], pt["y"])
            page.keyboard.up("Shift")
            wait_route(page, f"#/diff/{back}/{head}")
            runs["shift_diff"].append(since_armed(page))
            page.close()
        finally:
            server.close()
            repo.close()
        repo = Repository.open(path)
        server = repo.serve()
        try:
            page = new_page(browser)
            page.goto(server.url + f"#/commit/{head}")
            wait_route(page, f"#/commit/{head}")
            runs["context_paint"].append(painted(page))
            runs["context_blame"].append(wait_blame(page))
            page.close()
        finally:
            server.close()
            repo.close()
    return {k: statistics.median(v) for k, v in runs.items()}


def exported(browser, path: str, out: str, head: str, repeat: int) -> dict:
    """export_html's time (s) and bytes, then the file's first paints (ms, medians)."""
    from trace_core import Repository

    repo = Repository.open(path)
    t = time.perf_counter()
    html = repo.export_html()
    res: dict = {"export_s": time.perf_counter() - t}
    repo.close()
    with open(out, "w", encoding="utf-8") as f:
        f.write(html)
    res["export_bytes"] = os.path.getsize(out)
    del html
    url = "file://" + out
    for key, route in (("export_graph_paint", "#/graph"),
                       ("export_context_paint", f"#/commit/{head}")):
        times = []
        for _ in range(repeat):
            page = new_page(browser)
            page.goto(url + route, timeout=TIMEOUT)
            wait_route(page, route)
            times.append(painted(page))
            page.close()
        res[key] = statistics.median(times)
    return res


# -- one size -------------------------------------------------------------------------------------
def run_one(browser, n: int, repeat: int, proc_repeat: int, do_export: bool) -> dict:
    from trace_core import Repository

    root = tempfile.mkdtemp(prefix="trace-bench-web-")
    try:
        msgs = messages(n)
        tpath, gpath = os.path.join(root, "trace"), os.path.join(root, "git")
        res: dict = {"commits": n, "repeat": repeat,
                     "build_trace_s": build_trace(tpath, msgs),
                     "build_git_s": build_git(gpath, msgs)}
        del msgs
        res["git_graph_ms"] = proc_time(["git", "log", "--graph", "--oneline"], gpath,
                                        proc_repeat) * 1e3
        res["trace_graph_ms"] = proc_time([*trace_cmd(), "graph"], tpath, proc_repeat) * 1e3
        res.update(server_ms(tpath, repeat))
        repo = Repository.open(tpath)
        head = repo.head_commit()
        back = head
        for _ in range(BACK):
            back = repo.get_commit(back).parents[0]
        head_hex, back_hex = head.hex(), back.hex()
        repo.close()
        res.update(live(browser, tpath, head_hex, back_hex, repeat))
        if do_export:
            res.update(exported(browser, tpath, os.path.join(root, "export.html"), head_hex,
                                repeat))
        return res
    finally:
        shutil.rmtree(root, ignore_errors=True)


ROWS = [  # key, label, unit, ratio against git log --graph --oneline
    ("git_graph_ms", "git log --graph --oneline (process)", "ms", False),
    ("trace_graph_ms", "trace graph (process)", "ms", True),
    ("graph_first", "server: graph, newest 2,000", "ms", True),
    ("graph_whole", "server: graph, whole", "ms", True),
    ("context_head", "server: head context, 500 entries", "ms", True),
    ("blame_head", "server: blame of the head context", "ms", True),
    ("graph_first_bytes", "  JSON: graph, newest 2,000", "B", False),
    ("graph_whole_bytes", "  JSON: graph, whole", "B", False),
    ("context_head_bytes", "  JSON: head context window", "B", False),
    ("blame_head_bytes", "  JSON: blame of the head context", "B", False),
    ("graph_paint", "live: first paint #/graph", "ms", True),
    ("graph_complete", "live: whole graph drawn", "ms", True),
    ("redraw", "live: one redraw after a jump", "ms", False),
    ("click_context", "live: click 'context' -> drawn", "ms", True),
    ("shift_diff", "live: shift-click -> diff drawn", "ms", True),
    ("context_paint", "live: first paint head context", "ms", True),
    ("context_blame", "live: head context's blame loaded", "ms", True),
    ("export_s", "export_html()", "s", True),
    ("export_bytes", "  exported file", "B", False),
    ("export_graph_paint", "export: first paint #/graph", "ms", True),
    ("export_context_paint", "export: first paint head ctx", "ms", True),
]


def fmt(value: float, unit: str) -> str:
    if unit == "B":
        return f"{value / 1e6:.1f} MB" if value >= 1e6 else f"{value / 1e3:.0f} kB"
    if unit == "s":
        return f"{value:.1f} s"
    return f"{value:.1f} ms" if value < 10 else f"{value:,.0f} ms"


def report(results: list) -> None:
    width = 24
    print("\n" + f"{'measure':<38}" + "".join(f"{'N = ' + format(r['commits'], ','):>{width}}"
                                                for r in results))
    for key, label, unit, ratio in ROWS:
        cells = []
        for r in results:
            if key not in r:
                cells.append(f"{'-':>{width}}")
                continue
            cell = fmt(r[key], unit)
            if ratio:
                secs = r[key] if unit == "s" else r[key] / 1e3
                cell += f" ({r['git_graph_ms'] / 1e3 / secs:.2f}x)"
            cells.append(f"{cell:>{width}}")
        print(f"{label:<38}" + "".join(cells))
    print("\n(x) = git log --graph --oneline at the same N / the figure (higher is better for "
          "Trace); browser figures: median of " + ", ".join(
              f"{r['repeat']} page loads at {r['commits']:,}" for r in results)
          + f"; the clicked commit is HEAD~{BACK}, the diff HEAD~{BACK} -> HEAD.")
    for r in results:
        print(f"build (not measured above), {r['commits']:,} commits: trace "
              f"{r['build_trace_s']:.1f} s, git {r['build_git_s']:.1f} s")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--commits", default="10000", help="comma-separated sizes (10000)")
    ap.add_argument("--repeat", type=int, default=3, help="fresh page loads per figure (3)")
    ap.add_argument("--repeat-large", type=int, default=2,
                    help="page loads per figure from 50,000 commits (2)")
    ap.add_argument("--no-export", action="store_true", help="skip the exported file's rows")
    a = ap.parse_args()
    sizes = [int(x) for x in a.commits.split(",") if x.strip()]
    from playwright.sync_api import sync_playwright
    results = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        for n in sizes:
            t = time.perf_counter()
            rep = a.repeat if n < 50_000 else a.repeat_large
            results.append(run_one(browser, n, rep, max(3, rep), not a.no_export))
            print(f"{n:,} commits measured in {time.perf_counter() - t:.0f} s", flush=True)
        browser.close()
    report(results)


if __name__ == "__main__":
    main()
