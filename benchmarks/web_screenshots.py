"""The web viewer's screenshots for docs/ and its first-paint figures, in headless Chromium.

    python benchmarks/web_screenshots.py                  # docs/web-graph.png, docs/web-context.png
    python benchmarks/web_screenshots.py --paint 10000    # first paint of the graph of N commits
    python benchmarks/web_screenshots.py --entries 10000  # first paint of an N-entry context

Screenshots (1280x800) are of the multi-agent example's repository (examples/
multi_agent_research.py, offline): the whole agent tree's graph with the head's spawn commit
selected, and the head's final context with an entry's blame shown. First paint is the wall time
from navigation to the view drawn (the page's `data-route` set: the document fetched, parsed
and drawn), measured on `repo.serve()`, split into the server's part (the API document's fetch
ended) and the page's own work after it; each figure is the median of `--repeat` loads of a
fresh page. Nothing here is a pass/fail test. Needs playwright and /usr/bin/chromium.

Measured (one run, 2 shared cores, Chromium 150 headless): a 10,000-commit graph painted in
0.64 s (the newest 2,000 commits: document 0.55 s, page 0.07 s), whole graph drawn at 1.25 s;
100,000 commits: first paint 2.23 s (7.65 s on the first load after the history was written:
the server's document), page work 0.07 s, whole graph drawn at 9.2 s; one redraw 0.8 ms at
either size. A 10,000-entry context: 1.09 s (document 0.93 s, page 0.15 s; 500 entries a page).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from trace_core import Repository  # noqa: E402
from trace_core.web.data import graph  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def example_repo(path: str) -> Repository:
    """Run the multi-agent example offline into `path` (its own process: it runs an event loop)."""
    env = {k: v for k, v in os.environ.items() if k != "OPENAI_API_KEY"}
    subprocess.run([sys.executable, os.path.join(ROOT, "examples", "multi_agent_research.py"),
                    path], check=True, env=env, stdout=subprocess.DEVNULL)
    return Repository.open(path)


def wait_route(page, route: str) -> None:
    page.wait_for_function("r => document.body.dataset.route === r", arg=route, timeout=120000)


def screenshots(browser, out: str) -> None:
    with tempfile.TemporaryDirectory() as d:
        repo = example_repo(os.path.join(d, "research"))
        server = repo.serve()
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            spawn = next(c["id"] for c in graph(repo)["commits"]
                         if c["op"] == "spawn" and c["links"])
            page.goto(server.url + "#/graph?sel=" + spawn)
            wait_route(page, "#/graph?sel=" + spawn)
            page.screenshot(path=os.path.join(out, "web-graph.png"))
            head = repo.head_commit().hex()
            page.goto(server.url + f"#/commit/{head}")
            wait_route(page, f"#/commit/{head}")
            page.wait_for_selector(".blame-status.blame-ready")
            collapse = page.locator(".entry.kind-function_call_output").first
            collapse.hover()
            page.screenshot(path=os.path.join(out, "web-context.png"))
            page.close()
        finally:
            server.close()
    print(f"wrote {out}/web-graph.png and {out}/web-context.png")


def first_paint(browser, repo: Repository, route: str, api: str,
                repeat: int) -> list[tuple]:
    """(navigation to drawn, of which the `api` document's fetch ended at, and the page's own
    work after it, and for the graph the whole graph drawn), in seconds, per load."""
    server = repo.serve()
    try:
        times = []
        for _ in range(repeat):
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            t = time.perf_counter()
            page.goto(server.url + route)
            wait_route(page, route)
            total = time.perf_counter() - t
            fetched, painted = page.evaluate("""api => [
                performance.getEntriesByType("resource").filter(e => e.name.includes(api))
                    .map(e => e.responseEnd)[0], window.traceViewer.painted]""", api)
            whole = None
            if route == "#/graph":
                page.wait_for_function("() => window.traceGraph.complete", timeout=600000)
                whole = time.perf_counter() - t
            times.append((total, fetched / 1000, (painted - fetched) / 1000, whole))
            page.close()
        return times
    finally:
        server.close()


def draw_ms(browser, repo: Repository) -> float:
    """Median ms of one redraw of the graph (measured in the page: 200 jumps to commits spread
    over the whole history, each scrolls there and draws the visible rows and edges)."""
    server = repo.serve()
    try:
        page = browser.new_page(viewport={"width": 1280, "height": 800})
        page.goto(server.url + "#/graph")
        wait_route(page, "#/graph")
        ms = page.evaluate("""() => {
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
        page.close()
        return ms
    finally:
        server.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    ap.add_argument("--paint", type=int, help="measure the graph of this many commits")
    ap.add_argument("--entries", type=int, help="measure a context of this many entries")
    ap.add_argument("--repeat", type=int, default=3)
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        if not a.paint and not a.entries:
            screenshots(browser, a.out)
        for n, what in ((a.paint, "commits"), (a.entries, "entries")):
            if not n:
                continue
            with tempfile.TemporaryDirectory() as d:
                repo = Repository.init(d)
                t = time.perf_counter()
                with repo.transaction():
                    for i in range(n):
                        repo.user(f"message {i}: " + "words " * (i % 40))
                print(f"built {n} commits in {time.perf_counter() - t:.1f} s")
                route = "#/graph" if what == "commits" else f"#/commit/{repo.head_commit().hex()}"
                api = "api/graph" if what == "commits" else "api/context/"
                times = first_paint(browser, repo, route, api, a.repeat)
                med = sorted(times)[len(times) // 2]
                print(f"first paint, {route.split('/')[1]} of {n} {what}: median {med[0]:.2f} s "
                      f"(document fetched at {med[1]:.2f} s, page work after it {med[2]:.2f} s;"
                      f" all: {', '.join(f'{x[0]:.2f}' for x in times)})")
                if med[3] is not None:
                    print(f"  (the newest 2,000 commits first; the whole graph drawn at "
                          f"{med[3]:.2f} s)")
                if what == "commits":
                    print(f"graph redraw after a jump: median {draw_ms(browser, repo):.1f} ms")
        browser.close()


if __name__ == "__main__":
    main()
