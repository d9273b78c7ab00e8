"""The web viewer's server, data documents and export (trace_core/web, docs/web.md); the page
itself is driven in Chromium by tests/test_web_browser.py."""

from __future__ import annotations

import hashlib
import http.client
import json
import os
import re
import signal
import sqlite3
import subprocess
import sys
import time

import pytest
from conftest import assert_one_line_error, assert_usage_error, invoke
from web_fixture import XSS, build_web_repo

from trace_core.repository import Repository
from trace_core.web import data
from trace_core.web.page import DATA_TAG, embed_json


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("web") / "r")
    ids = build_web_repo(path)
    return path, ids


@pytest.fixture
def server(built):
    path, ids = built
    repo = Repository.open(path)
    srv = repo.serve()
    yield srv, repo, ids
    srv.close()
    repo.close()


def request(srv, path, method="GET", host=None):
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=10)
    try:
        conn.putrequest(method, path, skip_host=True)
        if host is not False:
            conn.putheader("Host", host or srv.host_header)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, dict(r.getheaders()), r.read()
    finally:
        conn.close()


def get_json(srv, path):
    status, headers, body = request(srv, path)
    assert headers["Content-Type"].startswith("application/json"), path
    return status, json.loads(body)


def snapshot_dir(path):
    """Every file under `path` with its bytes' hash (the SQLite WAL side files excluded: they
    come and go with connections)."""
    out = {}
    for root, _, files in os.walk(path):
        for f in files:
            if f.endswith(("-wal", "-shm")):
                continue
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                out[os.path.relpath(p, path)] = hashlib.sha256(fh.read()).hexdigest()
    return out


# -- the server -------------------------------------------------------------------------------
def test_serves_the_page_and_its_files_with_safety_headers(server):
    srv, _, _ = server
    assert srv.url == f"http://127.0.0.1:{srv.port}/" and srv.port > 0
    status, headers, body = request(srv, "/")
    assert status == 200 and headers["Content-Type"] == "text/html; charset=utf-8"
    assert b'<script src="static/viewer.js"></script>' in body
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp and "default-src 'none'" in csp and "unsafe" not in csp
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "no-referrer" and headers["Cache-Control"] == "no-store"
    for name, ctype in (("viewer.js", "text/javascript"), ("viewer.css", "text/css")):
        status, headers, body = request(srv, f"/static/{name}")
        assert status == 200 and headers["Content-Type"].startswith(ctype) and body
    assert request(srv, "/static/../server.py")[0] == 404
    assert request(srv, "/etc/passwd")[0] == 404
    status, headers, body = request(srv, "/api/info", method="HEAD")
    assert status == 200 and body == b"" and int(headers["Content-Length"]) > 0


@pytest.mark.parametrize("host", ["evil.example:80", "localhost", "127.0.0.1",
                                  "127.0.0.1:1", "attacker.test", False])
def test_a_foreign_host_header_is_refused(server, host):
    """DNS rebinding: a page at evil.example resolving to 127.0.0.1 sends its own Host."""
    srv, _, _ = server
    if host == "127.0.0.1:1" and srv.port == 1:
        pytest.skip("port 1")
    status, _, body = request(srv, "/api/info", host=host)
    assert status == 421 and b"127.0.0.1:" in body
    assert request(srv, "/", host=host)[0] == 421


def test_a_client_gone_mid_answer_prints_nothing(server, capfd):
    """socketserver prints a traceback for a failed request (a page closed while a document
    was on its way); the library prints nothing."""
    srv, _, _ = server
    try:
        raise BrokenPipeError(32, "Broken pipe")
    except BrokenPipeError:
        srv.httpd.handle_error(None, ("127.0.0.1", 1))
    assert capfd.readouterr().err == ""


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_only_reads_are_answered(server, method):
    srv, _, _ = server
    status, _, body = request(srv, "/api/info", method=method)
    assert status == 405 and json.loads(body) == {"error": "this server is read-only: GET and "
                                                             "HEAD only"}


@pytest.mark.parametrize("path,status,words", [
    ("/api/context/nosuchbranch", 404, "unknown revision"),
    ("/api/context/" + "0" * 64, 404, "not found"),
    ("/api/context/HEAD~99", 404, ""),
    ("/api/diff/HEAD", 404, "no such page"),
    ("/api/graph?agent=nobody", 404, "no agent"),
    ("/api/graph?agent=..%2F..", 400, ""),
    ("/api/graph?limit=-1", 400, "limit"),
    ("/api/reflog?agent=a&agent=b", 400, "more than once"),
    ("/api/nothing", 404, "no such page"),
    ("/api/context/%ff%fe", 404, ""),
])
def test_bad_requests_get_one_line_json_errors(server, path, status, words):
    srv, _, _ = server
    got, doc = get_json(srv, path)
    assert got == status, doc
    assert set(doc) == {"error"} and "\n" not in doc["error"] and words in doc["error"]


def test_browsing_every_view_writes_nothing(built):
    path, ids = built
    trace_dir = os.path.join(path, ".trace")
    repo = Repository.open(path)
    repo.index.count()        # (the derived index is built before the snapshot)
    repo.close()
    # no token count cached: browsing must count them and store none
    with sqlite3.connect(os.path.join(trace_dir, "index.sqlite")) as db:
        assert db.execute("DELETE FROM tokens").rowcount > 0
    db.close()
    before = snapshot_dir(trace_dir)
    repo = Repository.open(path)
    with repo.serve() as srv:
        graph = get_json(srv, "/api/graph")[1]
        for c in graph["commits"]:
            for view in ("context", "blame", "provenance"):
                assert get_json(srv, f"/api/{view}/{c['id']}")[0] == 200
            p = c["parents"][0] if c["parents"] else "-"
            assert get_json(srv, f"/api/diff/{p}/{c['id']}")[0] == 200
        for p in ("/", "/api/info", "/api/timeline", "/api/reflog", "/api/lost",
                  "/api/reflog?agent=venues", "/api/lost?agent=venues",
                  "/api/graph?agent=venues"):
            assert request(srv, p)[0] == 200, p
    repo.close()
    assert snapshot_dir(trace_dir) == before


# -- the documents, checked against the repository's own data ---------------------------------
def test_graph_holds_every_agent_with_lanes_and_links(server):
    srv, repo, ids = server
    g = get_json(srv, "/api/graph")[1]
    commits = {c["id"]: c for c in g["commits"]}
    from trace_core.agents.lanes import agent_graph
    assert [c["id"] for c in g["commits"]] == [r.commit.hex() for r in
                                               agent_graph(repo, (), all_refs=True).rows
                                               if r.commit is not None]
    assert ids["side"] in commits and ids["kid_tip"] in commits
    assert ids["dropped"] not in commits                  # the reset left it: reflog only
    assert commits[ids["kid_tip"]]["agent"] == "venues" and commits[ids["final"]]["agent"] is None
    assert {"kind": "collapse", "id": ids["kid_tip"]} in commits[ids["collapse"]]["links"]
    assert ids["kid_tip"] not in commits[ids["collapse"]]["parents"]
    assert commits[ids["side"]]["lane"] != commits[ids["final"]]["lane"]
    assert g["lanes"] == 1 + max(c["lane"] for c in g["commits"])
    assert commits[ids["final"]]["tokens"] == repo.get_commit(bytes.fromhex(ids["final"])) \
        .total_tokens
    assert "HEAD -> main" in commits[ids["final"]]["refs"]
    one = get_json(srv, "/api/graph?agent=venues")[1]
    assert one["agent"] == "venues" and [c["agent"] for c in one["commits"]] == ["venues"] * 2
    assert len(get_json(srv, "/api/graph?limit=3")[1]["commits"]) == 3


def test_context_entries_and_tool_pairs(server):
    srv, repo, ids = server
    doc = get_json(srv, "/api/context/HEAD")[1]
    msgs = repo.messages("HEAD")
    assert doc["id"] == ids["final"] and len(doc["entries"]) == len(msgs)
    from trace_core.messages import kind, message_text
    assert [e["text"] for e in doc["entries"]] == [message_text(m) for m in msgs]
    assert [e["kind"] for e in doc["entries"]] == [kind(m) for m in msgs]
    assert doc["budget"]["max_tokens"] == 400
    assert doc["pairs"] == [[2, 3, "call_1"]]
    assert doc["entries"][2]["calls"] == [{"id": "call_1", "name": "search_flights"}]
    assert doc["entries"][3]["answers"] == ["call_1"]
    from trace_core.tokens import REPLY_PRIMING
    assert sum(e["tokens"] for e in doc["entries"]) + REPLY_PRIMING == doc["tokens"]
    # repository text travels as data, never interpreted: the XSS message comes back verbatim
    xss = get_json(srv, f"/api/context/{ids['xss']}")[1]["entries"][-1]
    assert xss["text"] == XSS and xss["kind"] == "user"


def test_reflog_and_timeline_follow_head_across_branches(tmp_path):
    """A reset on another branch, then a switch back: the reflog lists every ref's moves (the
    reset's left-behind commits too), the timeline follows HEAD from branch to branch."""
    repo = Repository.init(str(tmp_path / "b"), encoding="chars/4")
    steps = [lambda: repo.user("base"), lambda: repo.switch("side", create=True),
             lambda: repo.user("a side turn that gets reset away"),
             lambda: repo.reset("HEAD~1", mode="hard"), lambda: repo.switch("main"),
             lambda: repo.assistant("back on main")]
    done = []
    for step in steps:     # (reflogs are in milliseconds: one step per millisecond at most)
        time.sleep(0.002)
        done.append(step())
    base, gone, last = done[0], done[2], done[5]
    entries = data.reflog(repo)["entries"]
    reset = next(e for e in entries if e["event"] == "reset")
    assert reset["ref"] == "refs/heads/side"
    assert reset["left_behind"] == {"count": 1, "commits": [gone.hex]}
    assert [e["event"] for e in entries if e["ref"] == "HEAD"] == ["switch", "switch", "init"]
    assert [e["time"] for e in entries] == sorted((e["time"] for e in entries), reverse=True)
    points = data.timeline(repo)["agents"][0]["points"]
    assert [(p["id"], p["event"]) for p in points] == [
        (base.hex, "append"), (base.hex, "switch"), (gone.hex, "append"), (base.hex, "reset"),
        (base.hex, "switch"), (last.hex, "append")]
    repo.close()


def test_timeline_orders_moves_within_one_millisecond(tmp_path, monkeypatch):
    """Every record in the same millisecond (a fast script): HEAD's moves onto and off a branch
    are logged strictly after what came before them, so the timeline still places each
    branch move between the right switches."""
    from trace_core.refs import reffile, store
    monkeypatch.setattr(store, "_wall_ms", lambda: 1_700_000_000_000)
    repo = Repository.init(str(tmp_path / "b"), encoding="chars/4")
    base = repo.user("base")
    repo.switch("side", create=True)
    gone = repo.user("a side turn that gets reset away")
    repo.reset("HEAD~1", mode="hard")
    repo.switch("main")
    last = repo.assistant("back on main")
    points = data.timeline(repo)["agents"][0]["points"]
    assert [(p["id"], p["event"]) for p in points] == [
        (base.hex, "append"), (base.hex, "switch"), (gone.hex, "append"), (base.hex, "reset"),
        (base.hex, "switch"), (last.hex, "append")]
    head = repo.refs.reflog("HEAD")
    assert len({e.time_ms for e in head}) == 3      # init, two switches: each strictly later
    # a branch log claiming a far future time does not drag this process's clock along
    with open(os.path.join(repo.trace_dir, "refs", "heads", "side"), "ab") as f:
        forged = reffile.RefLogEntry(base.hex, base.hex, 9 * 10**15, "x", "forged")
        f.write(reffile.encode_record(forged))
    repo.switch("side")
    assert max(e.time_ms for e in repo.refs.reflog("HEAD")) < 2 * 10**12
    repo.close()


def test_pairs_follow_reused_call_ids(tmp_path):
    """A result answers the latest unanswered call with its id (compress.messages.tool_links)."""
    repo = Repository.init(str(tmp_path / "p"), encoding="chars/4")
    for cid in ("call_0", "call_0", "__proto__"):
        repo.tool_call("f", {}, call_id=cid)
        repo.tool_result(cid, "ok")
    repo.tool_call("f", {}, call_id="open")
    doc = data.context(repo, "HEAD")
    assert doc["pairs"] == [[0, 1, "call_0"], [2, 3, "call_0"], [4, 5, "__proto__"]]
    assert data.context(repo, "HEAD", 5, 1)["pairs"] == doc["pairs"]
    # a caller's memo keeps them by commit: the next window reads no message for them
    memo: dict = {}
    data.context(repo, "HEAD", 0, 1, memo)
    assert memo == {repo.head_commit(): doc["pairs"]}
    memo[repo.head_commit()] = [[9, 9, "kept"]]
    assert data.context(repo, "HEAD", 2, 1, memo)["pairs"] == [[9, 9, "kept"]]
    repo.close()


def test_context_windows_keep_the_pairs_of_the_whole_context(server):
    srv, _, _ = server
    full = get_json(srv, "/api/context/HEAD")[1]
    assert full["offset"] == 0 and full["total"] == len(full["entries"])
    win = get_json(srv, "/api/context/HEAD?offset=3&limit=2")[1]
    assert win["offset"] == 3 and win["total"] == full["total"]
    assert win["entries"] == full["entries"][3:5] and win["pairs"] == full["pairs"]
    past = get_json(srv, "/api/context/HEAD?offset=999")[1]
    assert past["entries"] == [] and past["total"] == full["total"]
    for bad in ("offset=-1", "limit=x", "offset=1e3", "limit=" + "9" * 13):
        got, doc = get_json(srv, f"/api/context/HEAD?{bad}")
        assert got == 400 and "integer" in doc["error"], bad


def test_the_graph_is_cached_until_a_ref_moves(tmp_path):
    repo = Repository.init(str(tmp_path / "c"), encoding="chars/4")
    repo.user("one")
    with repo.serve() as srv:
        assert len(get_json(srv, "/api/graph")[1]["commits"]) == 1
        assert len(get_json(srv, "/api/graph")[1]["commits"]) == 1
        two = repo.user("two")
        g = get_json(srv, "/api/graph")[1]
        assert [c["id"] for c in g["commits"]][0] == two.hex
        repo.switch("b", create=True)
        assert get_json(srv, "/api/graph")[1]["commits"][0]["refs"] == ["HEAD -> b", "main"]
    repo.close()


def test_diff_provenance_timeline_reflog_and_lost(server):
    srv, repo, ids = server
    d = get_json(srv, f"/api/diff/{ids['before_compress']}/{ids['compress']}")[1]
    want = repo.diff(ids["before_compress"], ids["compress"])
    assert [(i["kind"], i["old_index"], i["new_index"]) for i in d["items"]] == \
        [(i.kind, i.old_index, i.new_index) for i in want.items]
    assert d["old_tokens"] == want.old_tokens and d["new_tokens"] == want.new_tokens
    assert get_json(srv, f"/api/diff/-/{ids['side']}")[1]["old"] is None
    p = get_json(srv, f"/api/provenance/{ids['compress']}")[1]
    assert p["op"] == "compress" and p["compress"]["summaries"] and p["items"]
    originals = [o for it in p["items"] for o in it["originals"]]
    assert any("Dinner option 0" in o["preview"] for o in originals)
    from trace_core.messages import message_text
    assert all(o["text"] == message_text(repo.get_blob(bytes.fromhex(o["blob"])).message)
               for o in originals)
    c = get_json(srv, f"/api/provenance/{ids['collapse']}")[1]
    assert c["collapse"] == {"agent": "venues", "tip": ids["kid_tip"]}
    kid_entries = c["items"][0]["collapse"]["entries"]
    assert any("Casa do Rio" in e["preview"] for e in kid_entries)
    t = get_json(srv, "/api/timeline")[1]
    assert [a["agent"] for a in t["agents"]] == [None, "venues"]
    main = t["agents"][0]["points"]
    assert [pt["time"] for pt in main] == sorted(pt["time"] for pt in main)
    assert "reset" in [pt["event"] for pt in main] and "compress" in [pt["op"] for pt in main]
    assert main[-1]["id"] == ids["final"] and t["budget"]["max_tokens"] == 400
    r = get_json(srv, "/api/reflog")[1]["entries"]
    reset = next(e for e in r if e["event"] == "reset")
    assert reset["old"] == ids["dropped"] and reset["left_behind"] == {
        "count": 1, "commits": [ids["dropped"]]}
    assert all(e["left_behind"] is None for e in r if e is not reset)
    lost = get_json(srv, "/api/lost")[1]
    assert lost == json.loads(json.dumps(repo.audit_lost().to_dict()))
    assert any(f["commit"] == ids["compress"] for f in lost["findings"])


# -- the export -------------------------------------------------------------------------------
def embedded(html: str) -> dict:
    m = re.search(r'<script id="trace-data" type="application/json">(.*?)</script>', html, re.S)
    assert m
    return json.loads(m.group(1))


def rebuilt_context(docs: dict, cid: str) -> list:
    doc = docs[f"/api/context/{cid}"]
    if "base" not in doc:
        return doc["entries"]
    return rebuilt_context(docs, doc["base"])[:doc["keep"]] + doc["entries"]


def test_export_html_embeds_every_view_and_rebuilds_each_context(built, tmp_path):
    path, ids = built
    out = str(tmp_path / "run.html")
    p = invoke(path, "export", "--html", out, check=True)
    assert p.stdout.startswith(f"wrote {out} (")
    to_stdout = invoke(path, "export", "--html", "-", check=True).stdout
    assert to_stdout.startswith("<!DOCTYPE html>") and to_stdout.rstrip().endswith("</html>")
    with open(out, encoding="utf-8") as f:
        html = f.read()
    assert "static/viewer" not in html            # style and script inlined
    bundle = embedded(html)
    docs = bundle["docs"]
    assert bundle["info"]["mode"] == "export" and docs["/api/info"] == bundle["info"]
    with Repository.open(path) as repo, repo.serve() as srv:
        for c in docs["/api/graph"]["commits"]:
            live = get_json(srv, f"/api/context/{c['id']}")[1]
            assert rebuilt_context(docs, c["id"]) == live["entries"]
            par = c["parents"][0] if c["parents"] else "-"
            assert docs[f"/api/diff/{par}/{c['id']}"] == get_json(
                srv, f"/api/diff/{par}/{c['id']}")[1]
        for key in ("/api/graph", "/api/timeline", "/api/reflog", "/api/lost",
                    "/api/graph?agent=venues", "/api/reflog?agent=venues",
                    f"/api/provenance/{ids['compress']}", f"/api/blame/{ids['final']}"):
            assert docs[key] == get_json(srv, key)[1], key
    # the commit the reset left behind is there too, for the reflog's link to it
    assert docs[f"/api/context/{ids['dropped']}"]["entries"][-1]["text"] == \
        "A draft answer that gets reset away."
    assert ids["dropped"] not in {c["id"] for c in docs["/api/graph"]["commits"]}
    # appends are stored as deltas: the final commit's document holds only its new entry
    assert docs[f"/api/context/{ids['final']}"]["base"] == ids["compress"]
    assert len(docs[f"/api/context/{ids['final']}"]["entries"]) == 1
    # the data cannot end its script element, and the CSP allows only the page's own script
    assert html.count("</script>") == 2 and XSS not in html
    csp = re.search(r'http-equiv="Content-Security-Policy" content="([^"]+)"', html).group(1)
    assert "default-src 'none'" in csp and "script-src 'sha256-" in csp
    assert "connect-src" not in csp and "unsafe" not in csp
    import base64
    js = re.search(r"<script>(.*?)</script>", html, re.S).group(1)
    digest = base64.b64encode(hashlib.sha256(js.encode()).digest()).decode()
    assert f"'sha256-{digest}'" in csp


def test_export_html_limit_and_bad_arguments(built, tmp_path):
    path, _ = built
    out = str(tmp_path / "few.html")
    invoke(path, "export", "--html", out, "-n", "2", check=True)
    with open(out, encoding="utf-8") as f:
        assert len(embedded(f.read())["docs"]["/api/graph"]["commits"]) == 2
    assert_one_line_error(invoke(path, "export", "--html", out, "HEAD"), "--html", code=2)
    assert_one_line_error(invoke(path, "export", "--html", out, "--messages"), "--html", code=2)
    assert_one_line_error(invoke(path, "export", "-n", "3"), "--max-count is for --html",
                          code=2)
    p = invoke(path, "export", "--html", str(tmp_path / "no" / "dir" / "x.html"))
    assert_one_line_error(p, "cannot write")


def test_embedded_json_never_holds_a_tag():
    text = embed_json({"t": "</script><!-- \u2028 <b>"})
    assert "<" not in text and json.loads(text) == {"t": "</script><!-- \u2028 <b>"}
    assert DATA_TAG.startswith('<script id="trace-data"')


def test_serving_an_agent_view_stops_token_writes_for_every_view(built):
    path, _ = built
    with Repository.open(path) as repo:
        kid = repo.agent("venues")
        with kid.serve():
            assert not repo.persist_tokens and not repo.agent("venues").persist_tokens
        assert repo.persist_tokens and kid.persist_tokens     # restored when it stops


def test_empty_repository_and_documents_in_python(tmp_path):
    repo = Repository.init(str(tmp_path / "e"), encoding="chars/4")
    assert data.graph(repo)["commits"] == [] and data.timeline(repo)["agents"][0]["points"] == []
    assert [(e["ref"], e["event"]) for e in data.reflog(repo)["entries"]] == [("HEAD", "init")]
    assert data.lost(repo)["findings"] == []
    html = repo.export_html()
    assert embedded(html)["docs"]["/api/graph"]["commits"] == []
    from trace_core.errors import InputError
    with pytest.raises(InputError):
        repo.serve(port=70000)
    with pytest.raises(InputError):
        repo.serve(port=True)
    repo.close()


# -- trace web, a real process ----------------------------------------------------------------
def _interrupt(proc: subprocess.Popen) -> None:
    """Ctrl-C a `trace web` process and check it ends cleanly; one that does not end within 10 s
    is made to print every thread's stack (faulthandler, on SIGABRT) into the failure."""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGABRT)
        _, err = proc.communicate(timeout=10)
        pytest.fail(f"trace web did not end within 10 s of SIGINT; its threads:\n{err}")
    err = proc.stderr.read()
    assert code == 0 and err == "", err


def test_trace_web_serves_until_interrupted(built):
    path, _ = built
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1")
    t0 = time.monotonic()
    proc = subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", path, "web"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        line = proc.stdout.readline()
        started = time.monotonic() - t0
        m = re.match(r"serving (.+) at http://127\.0\.0\.1:(\d+)/ \(Ctrl-C stops\)$", line)
        assert m, line
        port = int(m.group(2))
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/api/info")
        r = conn.getresponse()
        assert r.status == 200 and json.loads(r.read())["name"] == "r"
        conn.close()
        _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    print(f"trace web printed its URL after {started * 1000:.0f} ms")


def test_trace_web_open_hands_the_url_to_the_browser(built, tmp_path):
    """--open goes through Python's webbrowser, which runs the user's $BROWSER: here a script
    that writes down the URL it was given."""
    path, _ = built
    seen = tmp_path / "opened"
    script = tmp_path / "browser.sh"
    script.write_text(f'#!/bin/sh\necho "$1" > {seen}\n')
    script.chmod(0o755)
    env = dict(os.environ, PYTHONUNBUFFERED="1", PYTHONFAULTHANDLER="1", BROWSER=str(script))
    env.pop("DISPLAY", None)
    proc = subprocess.Popen([sys.executable, "-m", "trace_cli.main", "-C", path, "web", "--open"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
    try:
        url = re.search(r"at (http://\S+) ", proc.stdout.readline()).group(1)
        for _ in range(100):
            if seen.exists() and seen.read_text().strip():
                break
            time.sleep(0.05)
        assert seen.read_text().strip() == url
        _interrupt(proc)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_trace_web_refuses_a_taken_port(built):
    path, _ = built
    import socket
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    s.listen(1)
    try:
        p = invoke(path, "web", "--port", str(s.getsockname()[1]))
        assert_one_line_error(p, "cannot listen on 127.0.0.1:")
    finally:
        s.close()
    assert_usage_error(invoke(path, "web", "--port", "70000"), "--port")
