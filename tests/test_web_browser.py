"""The web viewer in a real browser (headless Chromium through Playwright): every view of a
multi-agent repository, checked against the repository's own data, clicked through graph ->
context -> diff -> provenance, repository text shown as text, the exported file offline."""

from __future__ import annotations

import os
import re

import pytest
from web_fixture import XSS

from trace_core import Repository
from trace_core.web import data

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
VIEWER_JS = os.path.join(ROOT, "trace_core", "web", "static", "viewer.js")
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync"]


def test_viewer_js_builds_no_html_from_strings():
    """Repository text reaches the page through textContent only (docs/web.md, "Safety")."""
    with open(VIEWER_JS, encoding="utf-8") as f:
        js = f.read()
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(",
                   "new Function", "</script", "<!--", "http://", "https://"):
        assert banned not in js.replace('"http://www.w3.org/2000/svg"', ""), banned
    assert "setTimeout(\"" not in js and "setInterval(" not in js


# -- the repository -------------------------------------------------------------------------------
def build(path: str) -> Repository:
    """A head agent with a budget, two sub-agents (tool calls) collapsed back, a compression, a
    reset that leaves two commits behind, and a message that is HTML."""
    Repository.init(path)
    with open(os.path.join(path, ".trace", "config"), "a") as f:
        f.write("[budget]\n\tmax-tokens = 2000\n")
    repo = Repository.open(path)
    repo.system("You lead a small research team.")
    repo.user("Which JSON parser is fastest for 1 GB files, and why?")
    repo.user(XSS)
    repo.assistant("I will ask two researchers.")
    a, b = repo.spawn(["orjson", "simd"], task=["Measure orjson", "Measure simdjson"]).agents
    a.tool_call("bench", {"lib": "orjson"}, call_id="call_a1")
    a.tool_result("call_a1", "orjson parsed 1 GB in 2.1 s (TP1234)\n" + "timing line\n" * 30)
    a.assistant("orjson: 2.1 s per GB.")
    b.tool_call("bench", {"lib": "simdjson"}, call_id="call_b1")
    b.tool_result("call_b1", "simdjson parsed 1 GB in 0.9 s")
    b.assistant("simdjson: 0.9 s per GB.")
    repo.collapse("orjson")
    repo.collapse("simd")
    for i in range(4):
        repo.user(f"note {i}: parser {i} reads 1{i}0 MB/s " * 3)
        repo.assistant(f"ack {i}")
    repo.compress(entries="7:13")
    keep = repo.head_commit().hex()
    repo.user("a wrong turn")
    repo.assistant("going the wrong way")
    repo.reset(keep, mode="hard")
    repo.assistant("simdjson is fastest.")
    return repo


# -- the browser ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"no Chromium at {CHROMIUM} (Debian's chromium package; .ci/run installs it)")
    sync = pytest.importorskip("playwright.sync_api", reason="playwright is not installed")
    with sync.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("web") / "run")
    repo = build(path)
    server = repo.serve()
    yield repo, server.url
    server.close()


class Page:
    """One browser page with its console errors, dialogs and requests recorded."""

    def __init__(self, browser, base: str, shots: str):
        self.page = browser.new_page(viewport={"width": 1280, "height": 800})
        self.base, self.shots = base, shots
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.requests: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        self.page.on("dialog", lambda d: (self.dialogs.append(d.message), d.dismiss()))
        self.page.on("request", lambda r: self.requests.append(r.url))

    def open(self, route: str, shot: str | None = None):
        if self.page.url.split("#")[0] == self.base:
            self.page.evaluate("h => { location.hash = h; }", route)
        else:
            self.page.goto(self.base + route)
        return self.ready(route, shot)

    def ready(self, route: str, shot: str | None = None):
        self.page.wait_for_function("r => document.body.dataset.route === r", arg=route,
                                    timeout=15000)
        if shot:
            self.page.screenshot(path=os.path.join(self.shots, shot + ".png"))
        return self.page

    def texts(self, selector: str) -> list[str]:
        return self.page.eval_on_selector_all(selector, "els => els.map(e => e.textContent)")

    def close(self):
        assert self.errors == [], self.errors
        assert self.dialogs == []
        assert self.page.evaluate("typeof window.__pwned") == "undefined"
        self.page.close()


@pytest.fixture
def page(browser, site, tmp_path):
    p = Page(browser, site[1], str(tmp_path))
    yield p
    p.close()


def _text(m: dict) -> str:
    c = m.get("content")
    return c if isinstance(c, str) else ""


def _show_all(pg) -> None:
    for b in pg.query_selector_all("button.toggle"):
        b.click()


# -- the views ------------------------------------------------------------------------------------
def test_graph_shows_every_commit_of_the_agent_tree(page, site):
    repo, _ = site
    doc = data.graph(repo)
    pg = page.open("#/graph", "graph")
    status = pg.locator(".graph-status")
    assert status.get_attribute("data-commits") == str(len(doc["commits"]))
    assert status.get_attribute("data-lanes") == str(doc["lanes"]) and doc["lanes"] >= 3
    assert pg.evaluate("window.traceGraph.count") == len(doc["commits"])
    legend = page.texts(".legend-item")
    assert {"append", "compress", "spawn", "collapse"} <= set(legend)
    assert page.texts("#repo-name") == ["Trace · run"]
    # one agent's history only, chosen in the header
    child = data.graph(repo, "orjson")
    pg.select_option("#agent-select", "orjson")
    page.ready("#/graph?agent=orjson", "graph-orjson")
    assert pg.evaluate("window.traceGraph.count") == len(child["commits"]) < len(doc["commits"])


def test_click_through_graph_context_diff_provenance(page, site):
    repo, _ = site
    head = repo.head_commit().hex()
    pg = page.open("#/graph")
    pt = pg.evaluate("id => window.traceGraph.point(id)", head)
    pg.mouse.click(pt["x"], pt["y"])
    assert pg.evaluate("window.traceGraph.selected()") == head
    assert head in page.texts(".side-panel .full-id")
    pg.click(".side-panel a:text('context')")
    page.ready(f"#/commit/{head}", "context")
    _show_all(pg)
    msgs = repo.messages()
    assert page.texts(".entry .entry-head .kind") == [m["role"] for m in msgs]
    assert page.texts(".entry pre.text") == [_text(m) for m in msgs]
    assert page.texts(".entry .tokens") == [f"{e['tokens']} tok" for e in
                                             data.context(repo, head)["entries"]]

    # graph: select one commit, shift-click another -> their diff
    compress = next(c for c in data.graph(repo)["commits"] if c["op"] == "compress")
    older = next(c for c in data.graph(repo)["commits"] if c["summary"] == "assistant: ack 0")
    pg = page.open("#/graph")
    a = pg.evaluate("id => window.traceGraph.point(id)", older["id"])
    pg.mouse.click(a["x"], a["y"])
    b = pg.evaluate("id => window.traceGraph.point(id)", compress["id"])
    pg.keyboard.down("Shift")
    pg.mouse.click(b["x"], b["y"])
    pg.keyboard.up("Shift")
    page.ready(f"#/diff/{older['id']}/{compress['id']}", "diff")
    want = repo.diff(older["id"], compress["id"])
    assert page.texts(".diff-item .badge") == [i.kind for i in want.items]
    edited = [i for i in want.items if i.kind == "edited"]
    assert edited and page.texts(".d-edited .text-diff")[0] == edited[0].text_diff.rstrip("\n") \
        .replace("\n", "")
    assert page.texts(".text-diff .plus") and page.texts(".text-diff .minus")

    # the compress commit's context links to its provenance: the summary's originals, in full
    page.open(f"#/commit/{compress['id']}")
    pg.click("a:text-is('provenance')")
    page.ready(f"#/provenance/{compress['id']}", "provenance")
    parent = repo.get_commit(bytes.fromhex(compress["id"])).parents[0]
    replaced = [_text(repo.get_blob(e.blob).message) for e in repo.entries_at(parent)[7:13]]
    pg.wait_for_function("n => document.querySelectorAll('.nested .record pre.text').length >= n "
                         "&& ![...document.querySelectorAll('.nested .record pre.text')]"
                         ".some(p => p.textContent.endsWith('...'))", arg=len(replaced))
    _show_all(pg)
    assert page.texts(".nested > .record > .record-text pre.text") == replaced
    # each compressed entry is an audit --lost finding of this commit: highlighted
    lost = data.provenance(repo, compress["id"])["lost"]
    assert len(lost) == len(replaced) == len(pg.query_selector_all(".record.lost"))

    # a collapse commit's provenance: the sub-agent's own entries, and a link to its graph
    collapse = next(c for c in data.graph(repo)["commits"] if c["op"] == "collapse")
    doc = data.provenance(repo, collapse["id"])
    page.open(f"#/provenance/{collapse['id']}")
    _show_all(pg)
    shown = page.texts(".record-text pre.text")
    kid = doc["items"][0]["collapse"]["entries"]
    assert kid and all(e["text"] in shown for e in kid)
    tip = doc["collapse"]["tip"]
    assert pg.get_attribute("a:text-is('its graph')", "href") == \
        f"#/graph?agent={doc['collapse']['agent']}&sel={tip}"


def test_repository_html_is_shown_as_text(page, site):
    repo, _ = site
    pg = page.open(f"#/commit/{repo.head_commit().hex()}")
    assert XSS in page.texts(".entry pre.text")
    assert pg.query_selector("#view img") is None and pg.query_selector("#view script") is None
    page.open("#/graph")
    pg.evaluate("id => window.traceGraph.point(id)", repo.head_commit().hex())
    # (the page's close() asserts window.__pwned is undefined and no dialog opened)


def test_context_tool_pairs_blame_and_long_texts(page, site):
    repo, _ = site
    child = repo.agent("orjson")
    tip = child.head_commit().hex()
    pg = page.open(f"#/commit/{tip}")
    doc = data.context(child, tip)
    i, j, _ = next(p for p in doc["pairs"] if p[2] == "call_a1")
    call = {"call": i, "result": j}
    pg.click(f"#entry-{call['call']} a.pair")
    assert pg.get_attribute(f"#entry-{call['result']}", "class").split().count("highlight") == 1
    pg.click(f"#entry-{call['result']} a.pair")
    assert "highlight" in pg.get_attribute(f"#entry-{call['call']}", "class")
    # the 31-line tool output is collapsed until asked
    long = pg.locator(f"#entry-{call['result']} pre.text")
    assert long.text_content().count("\n") < 12
    pg.click(f"#entry-{call['result']} button.toggle")
    assert long.text_content() == doc["entries"][call["result"]]["text"]
    # blame arrives after the first paint; hovering shows the entry's chain and origin
    pg.wait_for_selector(".blame-status.blame-ready")
    rec = data.blame(child, tip)[call["result"]]
    pg.hover(f"#entry-{call['result']} .entry-head")
    card = pg.locator(".blame-card")
    assert rec["chain"] in card.text_content()
    assert card.locator("a.id").first.get_attribute("href") == \
        f"#/commit/{rec['introduced']['commit']}"
    # ?entry=N scrolls to and highlights entry N
    page.open(f"#/commit/{tip}?entry=2")
    assert "highlight" in pg.get_attribute("#entry-2", "class")


def test_timeline_lost_and_reflog(page, site):
    repo, _ = site
    tl = data.timeline(repo)
    pg = page.open("#/timeline", "timeline")
    assert len(pg.query_selector_all("svg.timeline path.series")) == len(tl["agents"])
    assert len(pg.query_selector_all("svg.timeline circle.point")) == \
        sum(len(a["points"]) for a in tl["agents"])
    assert pg.query_selector("svg.timeline line.budget") is not None
    marks = pg.eval_on_selector_all("circle.standout",
                                    "cs => cs.map(c => [c.dataset.event, c.dataset.op])")
    assert {"reset", "compress", "collapse", "spawn"} <= {w for m in marks for w in m}
    first = tl["agents"][0]["points"][-1]["id"]
    pg.click(f"svg.timeline circle.point[data-id='{first}'] >> nth=-1")
    page.ready(f"#/commit/{first}")

    lost = data.lost(repo)
    pg = page.open("#/lost", "lost")
    assert len(pg.query_selector_all(".lost-table tbody tr")) == len(lost["findings"]) > 0

    log = data.reflog(repo)
    pg = page.open("#/reflog", "reflog")
    rows = pg.query_selector_all(".reflog-table tbody tr")
    assert len(rows) == len(log["entries"])
    assert page.texts(".reflog-table td.ref") == [e["ref"].removeprefix("refs/heads/")
                                                  for e in log["entries"]]
    # HEAD's own entries name refs, shown as text, never as commit links
    assert "refs/heads/main" in page.texts(".reflog-table .symref")
    assert not [h for h in pg.eval_on_selector_all(".reflog-table a", "as => as.map(a => "
                                                   "a.getAttribute('href'))") if "ref%3A" in h]
    moved = [e for e in log["entries"] if e["left_behind"]]
    assert len(moved) == 1 and moved[0]["left_behind"]["count"] == 2
    assert page.texts("tr.left-behind .lb b") == ["2 commits left behind"]
    pg.click("tr.left-behind a:text('look at the old commit')")
    page.ready(f"#/commit/{moved[0]['old']}")
    assert page.texts(".entry pre.text")[-1] == "going the wrong way"


def test_bad_urls_say_what_is_wrong(page, site):
    pg = page.open("#/commit/" + "0" * 64)
    assert "0" * 12 in pg.locator(".error").text_content()
    page.open("#/nowhere")
    assert "no view" in pg.locator(".error").text_content()
    # the browser logs the API's 404 itself; nothing else may be an error
    assert len(page.errors) == 1 and "404" in page.errors[0]
    page.errors.clear()


def test_exported_file_works_offline(browser, site, tmp_path):
    repo, _ = site
    out = tmp_path / "run.html"
    out.write_text(repo.export_html(), encoding="utf-8")
    p = Page(browser, out.as_uri(), str(tmp_path))
    try:
        doc = data.graph(repo)
        pg = p.open("#/graph", "export-graph")
        assert pg.evaluate("window.traceGraph.count") == len(doc["commits"])
        assert p.texts("#mode") == ["export"]
        head = repo.head_commit().hex()
        p.open(f"#/commit/{head}", "export-context")
        assert p.texts(".entry .entry-head .kind") == [m["role"] for m in repo.messages()]
        assert XSS in p.texts(".entry pre.text")
        # a sub-agent's context (a delta chain in the file) rebuilds to the same entries
        child = repo.agent("orjson")
        tip = child.head_commit().hex()
        p.open(f"#/commit/{tip}")
        _show_all(pg)
        assert p.texts(".entry pre.text") == [e["text"] for e in
                                              data.context(child, tip)["entries"]]
        assert pg.query_selector_all(".entry a.pair")
        # a document the export does not hold says so
        p.open("#/diff/-/" + head)
        assert "not in this export" in pg.locator(".error").text_content()
        assert all(re.match(r"(file|data):", u) for u in p.requests), p.requests
    finally:
        p.close()



def test_long_history_pages_loads_in_two_steps_pans_and_zooms(browser, tmp_path):
    """A 2,100-entry context renders 500 entries a page; the graph paints the newest 2,000
    commits first, then the whole history; it draws only what is visible, pans by dragging and
    zooms with the wheel."""
    repo = Repository.init(str(tmp_path / "long"))
    with repo.transaction():
        for i in range(2100):
            repo.user(f"message {i}")
    server = repo.serve()
    p = Page(browser, server.url, str(tmp_path))
    try:
        head = repo.head_commit().hex()
        pg = p.open(f"#/commit/{head}", "long-context")
        assert p.texts(".entry .index")[:2] == ["#0", "#1"]
        assert len(pg.query_selector_all(".entry")) == 500
        assert "of 2,100" in p.texts(".pager .page-no")[0]
        pg.click(".pager >> nth=0 >> text=next ›")     # (the page's window is fetched)
        pg.wait_for_function("() => document.querySelector('.entry .index').textContent"
                             " === '#500'")
        p.open(f"#/commit/{head}?entry=1100")
        assert p.texts(".entry .index")[0] == "#1000"
        assert "highlight" in pg.get_attribute("#entry-1100", "class")
        assert pg.locator("#entry-1100 pre.text").text_content() == "message 1100"
        # the server sends each page's window only, never the whole context
        ctx = [u.split("/api/context/")[1] for u in p.requests if "/api/context/" in u]
        assert ctx == [f"{head}?offset=0&limit=500", f"{head}?offset=500&limit=500",
                       f"{head}?offset=1000&limit=500"], ctx

        pg = p.open("#/graph")
        pg.wait_for_function("() => window.traceGraph.complete")
        assert pg.evaluate("window.traceGraph.count") == 2100
        assert pg.locator(".graph-status").get_attribute("data-commits") == "2100"
        assert [u for u in p.requests if "api/graph" in u] == \
            [server.url + "api/graph?limit=2000", server.url + "api/graph"]
        first, last = pg.evaluate("window.traceGraph.visibleRows()")
        assert first == 0 and 20 < last - first < 40
        pg.mouse.move(400, 400)
        pg.mouse.down()
        pg.mouse.move(400, 100, steps=5)
        pg.mouse.up()
        moved = pg.evaluate("window.traceGraph.visibleRows()")
        assert moved[0] > first + 5 and pg.evaluate("window.traceGraph.selected()") is None
        pg.mouse.wheel(0, 600)         # zoom out: more rows fit
        pg.wait_for_function("n => window.traceGraph.visibleRows()[1] - "
                             "window.traceGraph.visibleRows()[0] > n", arg=2 * (last - first))
    finally:
        p.close()
        server.close()


def test_a_timeline_longer_than_a_call_takes_arguments(browser, tmp_path):
    """130,000 points (a long reflog): drawn without Math.max(...points) overflowing the stack.
    The page is an export built from a synthetic timeline document: no repository needed."""
    from trace_core.web.page import standalone
    pts = [{"time": 1_700_000_000_000 + i, "id": f"{i:064x}", "tokens": i % 977,
            "op": "compress" if i % 50_000 == 0 else "append", "event": "append"}
           for i in range(130_000)]
    info = {"name": "long", "mode": "export", "agent": None, "head": {"ref": None, "id": None},
            "budget": {"max_tokens": 1000, "warn": []}, "encoding": "chars/4", "refs": [],
            "agents": []}
    doc = {"budget": info["budget"], "agents": [{"agent": None, "points": pts}]}
    out = tmp_path / "long.html"
    out.write_text(standalone({"info": info, "docs": {"/api/timeline": doc}}), encoding="utf-8")
    p = Page(browser, out.as_uri(), str(tmp_path))
    try:
        pg = p.open("#/timeline", "long-timeline")
        assert len(pg.query_selector_all("svg.timeline circle.standout")) == 3
        assert pg.query_selector("svg.timeline line.budget")
    finally:
        p.close()


def test_reused_and_odd_call_ids_link_to_their_own_results(browser, tmp_path):
    """A call id used in two turns (and ids named like Object's own properties): each call
    links to the result that answers it, live and in the export alike."""
    repo = Repository.init(str(tmp_path / "ids"))
    for n, cid in enumerate(("call_0", "call_0", "__proto__", "constructor")):
        repo.tool_call("lookup", {"n": n}, call_id=cid)
        repo.tool_result(cid, f"answer {n}")
    want = [f"call lookup → result #{2 * n + 1}" for n in range(4)] + \
        [f"← result of call #{2 * n}" for n in range(4)]
    out = tmp_path / "ids.html"
    out.write_text(repo.export_html(), encoding="utf-8")
    head = repo.head_commit().hex()
    server = repo.serve()
    try:
        for base in (server.url, out.as_uri()):
            p = Page(browser, base, str(tmp_path))
            try:
                p.open(f"#/commit/{head}")
                got = p.texts(".entry a.pair")
                assert sorted(got) == sorted(want), (base, got)
                assert p.texts(".entry .pair.missing") == []
            finally:
                p.close()
    finally:
        server.close()


def test_a_huge_context_asks_for_blame_only_when_hovered(browser, tmp_path):
    """Blame reads the whole history: past 20,000 entries the page asks for it on the first
    hover, not after the first paint (a synthetic export: no repository needed)."""
    from trace_core.web.page import standalone
    cid = "ab" * 32
    n = 20_001
    entries = [{"index": i, "blob": f"{i:064x}", "kind": "user", "pinned": False, "tokens": 3,
                "text": f"m{i}", "preview": f"m{i}", "calls": [], "answers": []}
               for i in range(n)]
    doc = {"id": cid, "author": "a", "op": "append", "summary": "s", "time": 0, "parents": [],
           "tokens": 3 * n, "budget": {"max_tokens": None, "warn": []}, "total": n,
           "offset": 0, "entries": entries, "pairs": []}
    info = {"name": "huge", "mode": "export", "agent": None, "head": {"ref": None, "id": cid},
            "budget": {"max_tokens": None, "warn": []}, "encoding": "chars/4", "refs": [],
            "agents": []}
    out = tmp_path / "huge.html"
    out.write_text(standalone({"info": info, "docs": {f"/api/context/{cid}": doc}}),
                   encoding="utf-8")
    p = Page(browser, out.as_uri(), str(tmp_path))
    try:
        pg = p.open(f"#/commit/{cid}")
        status = pg.locator(".blame-status")
        assert "hover an entry to load it" in status.text_content()
        pg.hover("#entry-3 .entry-head")
        pg.wait_for_function("() => document.querySelector('.blame-status').textContent"
                             ".includes('not in this export')")
    finally:
        p.close()
