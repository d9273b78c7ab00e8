"""The web viewer's two screenshots for docs/, in headless Chromium.

    python benchmarks/web_screenshots.py [--out docs]     # docs/web-graph.png, docs/web-context.png

Screenshots (1280x800) are of the multi-agent example's repository (examples/
multi_agent_research.py, offline): the whole agent tree's graph with the head's spawn commit
selected, and the head's final context with an entry's blame shown. The viewer's first-paint and
interaction figures are benchmarks/bench_web.py's. Needs playwright and /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
sys.path.insert(0, ROOT)

from bench_web import ARGS, CHROMIUM  # noqa: E402

from trace_core import Repository  # noqa: E402
from trace_core.web.data import graph  # noqa: E402


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


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", default=os.path.join(ROOT, "docs"))
    a = ap.parse_args()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        screenshots(browser, a.out)
        browser.close()


if __name__ == "__main__":
    main()
