// Trace's web viewer (docs/web.md): a hash router over the JSON data API, every view built with
// createElement and textContent only (repository text is never parsed as HTML), no library.
"use strict";
(() => {
  // -- DOM helpers ------------------------------------------------------------------------------
  const SVGNS = "http://www.w3.org/2000/svg";

  /** el("div", {class: "x", onclick: f}, "text", child...): an element; strings become text. */
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) {
      if (k === null || k === undefined || k === false) continue;
      e.append(typeof k === "string" || typeof k === "number" ? document.createTextNode(String(k)) : k);
    }
    return e;
  }

  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    setAttrs(e, attrs);
    for (const k of kids.flat()) if (k) e.append(typeof k === "string" ? document.createTextNode(k) : k);
    return e;
  }

  function setAttrs(e, attrs) {
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else if (k === "text") e.textContent = String(v);
      else if (k === "style") for (const [p, x] of Object.entries(v)) e.style.setProperty(p, String(x)); // CSSOM: allowed by the CSP
      else e.setAttribute(k, String(v));
    }
  }

  const HEX = /^[0-9a-f]{4,64}$/;
  /** A path segment for a hash URL: hex ids as they are, anything else encoded. */
  const seg = (id) => (HEX.test(String(id)) ? String(id) : encodeURIComponent(String(id)));
  const short = (id) => (id ? String(id).slice(0, 12) : "-");
  const agentQuery = (agent) => (agent ? "?agent=" + encodeURIComponent(agent) : "");
  /** The graph of `agent` (the whole tree for none) with commit `sel` selected. */
  const graphHref = (agent, sel) => {
    const q = [];
    if (agent) q.push("agent=" + encodeURIComponent(agent));
    if (sel) q.push("sel=" + seg(sel));
    return "#/graph" + (q.length ? "?" + q.join("&") : "");
  };
  const agentName = (a) => (a === null || a === undefined || a === "" ? "(root)" : String(a));
  const fmtTime = (ms) => (typeof ms === "number" ? new Date(ms).toLocaleString() : "");
  const fmtNum = (n) => (typeof n === "number" ? n.toLocaleString("en-US") : "?");

  function commitLink(id, label, entry) {
    if (!id) return el("span", { class: "id" }, "-");
    const href = "#/commit/" + seg(id) + (entry !== undefined && entry !== null ? "?entry=" + Number(entry) : "");
    return el("a", { class: "id", href, title: String(id) }, label || short(id));
  }

  const provLink = (id, label) => el("a", { href: "#/provenance/" + seg(id) }, label || "provenance");
  const isProvOp = (op) => op === "compress" || op === "collapse";

  // -- data layer --------------------------------------------------------------------------------
  let exported = null;      // {"info", "docs"} when this page is an export
  const cache = new Map();  // path -> Promise(document)
  const rebuilt = new Map(); // export context path -> full entries (delta chains resolved)

  function readExport() {
    const tag = document.getElementById("trace-data");
    const raw = tag ? tag.textContent.trim() : "";
    if (raw) exported = JSON.parse(raw);
  }

  class ApiError extends Error {}

  /** The document at `path` ("/api/..."): fetched from the server, or read from the export. */
  function api(path) {
    if (cache.has(path)) return cache.get(path);
    const p = exported ? Promise.resolve().then(() => fromExport(path)) : fetchDoc(path);
    cache.set(path, p);
    p.catch(() => cache.delete(path));
    return p;
  }

  async function fetchDoc(path) {
    const r = await fetch(path.replace(/^\/+/, ""), { headers: { Accept: "application/json" } });
    let doc = null;
    try {
      doc = await r.json();
    } catch (e) {
      throw new ApiError(`${path}: HTTP ${r.status}, not JSON`);
    }
    if (!r.ok) throw new ApiError((doc && doc.error) || `${path}: HTTP ${r.status}`);
    return doc;
  }

  function fromExport(path) {
    if (path === "/api/info") return exported.info;
    const doc = exported.docs[path];
    if (doc === undefined) {
      throw new ApiError(`${path.replace(/^\/api/, "")} is not in this export; run \`trace web\` on the repository to see it`);
    }
    if (path.startsWith("/api/context/") && doc.base) {
      const entries = contextEntries(path);
      return Object.assign({}, doc, { entries, pairs: doc.pairs || pairsOf(entries) });
    }
    return doc;
  }

  /** Full entries of an exported context document, following `base` deltas iteratively. */
  function contextEntries(path) {
    const chain = [];
    let p = path;
    let base = null;
    const seen = new Set();
    while (true) {
      if (rebuilt.has(p)) { base = rebuilt.get(p); break; }
      const d = exported.docs[p];
      if (d === undefined) throw new ApiError(`${p.replace(/^\/api/, "")} (a base of ${path.replace(/^\/api/, "")}) is not in this export`);
      if (!d.base) { base = d.entries || []; rebuilt.set(p, base); break; }
      if (seen.has(p)) throw new ApiError(`the export's context deltas loop at ${p}`);
      seen.add(p);
      chain.push(d);
      p = "/api/context/" + d.base;
    }
    // one working list, cut and extended in place (an append costs its new entries only);
    // every 256th context on the way is kept, so memory stays linear in a long chain
    const cur = base.slice();
    for (let i = chain.length - 1; i >= 0; i--) {
      const d = chain[i];
      if (cur.length > d.keep) cur.length = d.keep;
      for (const e of d.entries || []) cur.push(e);
      if (i === 0) rebuilt.set("/api/context/" + d.id, cur);
      else if (i % 256 === 0) rebuilt.set("/api/context/" + d.id, cur.slice());
    }
    return cur;
  }

  /** [call index, result index, call id] of each answered call, as the server sends `pairs`
   * (trace_core.compress.messages.tool_links): a result answers the latest unanswered call
   * with its id. Maps, not objects: an id may be "__proto__". */
  function pairsOf(entries) {
    const open = new Map();
    const out = [];
    for (const e of entries) {
      for (const cid of e.answers || []) {
        const stack = open.get(cid);
        if (stack && stack.length) out.push([stack.pop(), e.index, cid]);
      }
      for (const c of e.calls || []) {
        if (!open.has(c.id)) open.set(c.id, []);
        open.get(c.id).push(e.index);
      }
    }
    return out;
  }

  /** Lookups of `pairs`: the result of call `id` made by entry i, the call entry j answers. */
  function pairLinks(pairs) {
    const result = new Map(), call = new Map();
    for (const [i, j, id] of pairs || []) {
      result.set(i + "\u0000" + id, j);
      call.set(j + "\u0000" + id, i);
    }
    return { result: (i, id) => result.get(i + "\u0000" + id), call: (j, id) => call.get(j + "\u0000" + id) };
  }

  // -- router ------------------------------------------------------------------------------------
  const view = document.getElementById("view");
  let cleanups = [];
  let info = null;
  let routeSeq = 0;

  function parseHash() {
    const h = location.hash.replace(/^#/, "") || "/graph";
    const q = h.indexOf("?");
    const path = q < 0 ? h : h.slice(0, q);
    const params = new URLSearchParams(q < 0 ? "" : h.slice(q + 1));
    const parts = path.split("/").filter(Boolean).map((s) => {
      try { return decodeURIComponent(s); } catch (e) { return s; }
    });
    return { parts, params };
  }

  const VIEWS = {
    graph: (p, q) => graphView(q.get("agent"), q.get("sel")),
    commit: (p, q) => contextView(need(p[1], "a commit id"), q.get("entry")),
    diff: (p) => diffView(need(p[1], "two commit ids"), need(p[2], "two commit ids")),
    timeline: () => timelineView(),
    provenance: (p) => provenanceView(need(p[1], "a commit id")),
    lost: (p, q) => lostView(q.get("agent")),
    reflog: (p, q) => reflogView(q.get("agent")),
  };

  function need(v, what) {
    if (!v) throw new ApiError(`this view needs ${what} in its URL`);
    return v;
  }

  async function route() {
    const seq = ++routeSeq;
    for (const f of cleanups) f();
    cleanups = [];
    const { parts, params } = parseHash();
    const name = parts[0] || "graph";
    for (const a of document.querySelectorAll("#nav a")) a.classList.toggle("active", a.dataset.view === name);
    syncAgentSelect(params.get("agent"), name);
    const render = VIEWS[name];
    view.replaceChildren(el("p", { class: "loading" }, "Loading…"));
    try {
      if (!render) throw new ApiError(`no view "${name}"; try #/graph`);
      const node = await render(parts, params);
      if (seq !== routeSeq) return;
      view.replaceChildren(node);
      document.body.dataset.view = name;
      if (node.afterMount) node.afterMount();
      document.body.dataset.route = location.hash || "#/graph";
      window.traceViewer.painted = performance.now();
    } catch (e) {
      if (seq !== routeSeq) return;
      view.replaceChildren(el("div", { class: "error" }, (e && e.message) || String(e)));
      document.body.dataset.view = "error";
      document.body.dataset.route = location.hash || "#/graph";
      if (!(e instanceof ApiError)) console.warn(e);
    }
  }

  function syncAgentSelect(agent, viewName) {
    const s = document.getElementById("agent-select");
    s.disabled = !["graph", "lost", "reflog"].includes(viewName);
    s.value = agent === null ? "" : agent;
  }

  function setupHeader() {
    const name = document.getElementById("repo-name");
    name.textContent = "Trace · " + (info.name || "repository");
    document.title = "Trace · " + (info.name || "repository");
    document.getElementById("mode").textContent = exported ? "export" : "live";
    const s = document.getElementById("agent-select");
    const agents = (info.agents || []).map((a) => a.path);
    s.replaceChildren(el("option", { value: "" }, "whole agent tree"),
      ...agents.map((p) => el("option", { value: p }, p)));
    s.addEventListener("change", () => {
      const name = parseHash().parts[0] || "graph";
      const v = ["graph", "lost", "reflog"].includes(name) ? name : "graph";
      location.hash = "#/" + v + agentQuery(s.value);
    });
  }

  // -- graph -------------------------------------------------------------------------------------
  const OP_COLORS = {
    append: "#4c78a8", commit: "#4c78a8", edit: "#72b7b2", drop: "#e45756", pin: "#b279a2",
    unpin: "#b279a2", reorder: "#9d755d", compress: "#f58518", spawn: "#8e44ad", collapse: "#2ca02c",
    merge: "#333333", revert: "#d62728", "cherry-pick": "#bcbd22", import: "#7f7f7f", init: "#7f7f7f",
  };
  const LINK_COLORS = { spawn: "#8e44ad", collapse: "#2ca02c" };
  const AGENT_TAGS = ["#dbeafe", "#fde68a", "#dcfce7", "#fce7f3", "#e0e7ff", "#ffedd5", "#ccfbf1"];

  function opColor(op) {
    if (OP_COLORS[op]) return OP_COLORS[op];
    let h = 0;
    for (const c of String(op)) h = (h * 31 + c.charCodeAt(0)) % 360;
    return `hsl(${h}, 55%, 45%)`;
  }

  // The graph's first paint reads the newest FIRST_ROWS commits (the server answers that in a
  // fraction of the whole graph's time); the whole graph then replaces it in the background.
  const FIRST_ROWS = 2000;

  async function graphView(agent, selected) {
    const path = "/api/graph" + agentQuery(agent);
    const partial = !exported;
    let doc = await api(partial ? path + (agent ? "&" : "?") + "limit=" + FIRST_ROWS : path);
    let complete = !partial || (doc.commits || []).length < FIRST_ROWS;
    let commits, n, rowOf, maxTokens, E, agentsSeen;

    const canvas = el("canvas", { class: "graph-canvas", tabindex: "0", "aria-label": "commit graph" });
    const panel = el("aside", { class: "side-panel" }, el("p", { class: "muted" }, "Click a commit to select it; shift-click a second to diff the two. Drag to pan, wheel to zoom."));
    const legend = el("div", { class: "legend" });
    const status = el("span", { class: "graph-status" });
    const wrap = el("div", { class: "graph-wrap" }, canvas);
    const root = el("div", { class: "graph-view" }, el("div", { class: "toolbar" }, status, legend), el("div", { class: "graph-body" }, wrap, panel));

    function setDoc(d) {
      doc = d;
      commits = d.commits || [];
      n = commits.length;
      rowOf = new Map();
      maxTokens = 1;
      for (let i = 0; i < n; i++) {
        rowOf.set(commits[i].id, i);
        if (commits[i].tokens > maxTokens) maxTokens = commits[i].tokens;
      }
      // edges: child row, parent row (-1: not in this document), kind (0 parent, 1 spawn, 2 collapse)
      const edges = [];
      let links = false;
      for (let i = 0; i < n; i++) {
        for (const p of commits[i].parents || []) edges.push(i, rowOf.has(p) ? rowOf.get(p) : -1, 0);
        for (const l of commits[i].links || []) {
          links = true;
          if (rowOf.has(l.id)) edges.push(i, rowOf.get(l.id), l.kind === "collapse" ? 2 : 1);
        }
      }
      E = Int32Array.from(edges);
      agentsSeen = [...new Set(commits.map((c) => agentName(c.agent)))];
      const ops = [...new Set(commits.map((c) => c.op))];
      legend.replaceChildren(
        ...ops.map((op) => el("span", { class: "legend-item" }, el("span", { class: "dot", style: { background: opColor(op) } }), op)),
        links ? el("span", { class: "legend-item" }, el("span", { class: "dash", style: { "border-color": LINK_COLORS.spawn } }), "spawn link") : null,
        links ? el("span", { class: "legend-item" }, el("span", { class: "dash", style: { "border-color": LINK_COLORS.collapse } }), "collapse link") : null);
      const lanes = d.lanes || 0;
      status.dataset.commits = String(n);
      status.dataset.lanes = String(lanes);
      status.dataset.complete = String(complete);
      status.textContent = `${complete ? "" : "newest "}${fmtNum(n)} commit${n === 1 ? "" : "s"}${complete ? "" : " (loading the rest…)"} · ${lanes} lane${lanes === 1 ? "" : "s"} · ${agent ? "agent " + agent : "whole agent tree"}`;
    }
    setDoc(doc);

    const st = { zoom: 1, top: 0, left: 0, sel: -1, w: 0, h: 0, dpr: 1 };
    const rowH = () => 26 * st.zoom;
    const laneW = () => 18 * Math.max(0.35, Math.min(st.zoom, 1.6));
    const lanesW = () => 16 + Math.max(1, doc.lanes || 1) * laneW();
    const laneX = (lane) => 14 + lane * laneW() - st.left;
    const rowY = (row) => row * rowH() + rowH() / 2 - st.top;
    const contentH = () => n * rowH();
    const clampTop = () => { st.top = Math.max(0, Math.min(st.top, Math.max(0, contentH() - st.h + rowH()))); };
    const radius = (c) => Math.max(1.5, (3 + 6 * Math.sqrt(Math.max(0, c.tokens || 0) / maxTokens)) * Math.min(1, st.zoom * 1.2));
    let frame = 0;
    const redraw = () => { if (!frame) frame = requestAnimationFrame(draw); };

    function resize() {
      const r = wrap.getBoundingClientRect();
      st.dpr = window.devicePixelRatio || 1;
      st.w = Math.max(100, r.width);
      st.h = Math.max(100, r.height);
      canvas.width = Math.round(st.w * st.dpr);
      canvas.height = Math.round(st.h * st.dpr);
      canvas.style.width = st.w + "px";
      canvas.style.height = st.h + "px";
      clampTop();
      draw();
    }

    function draw() {
      frame = 0;
      const ctx = canvas.getContext("2d");
      ctx.setTransform(st.dpr, 0, 0, st.dpr, 0, 0);
      ctx.clearRect(0, 0, st.w, st.h);
      const rh = rowH();
      const first = Math.max(0, Math.floor(st.top / rh) - 1);
      const last = Math.min(n - 1, Math.ceil((st.top + st.h) / rh) + 1);
      if (st.sel >= first && st.sel <= last) {
        ctx.fillStyle = "#fff3c4";
        ctx.fillRect(0, rowY(st.sel) - rh / 2, st.w, rh);
      }
      // edges crossing the visible rows
      ctx.lineWidth = Math.max(1, Math.min(2, st.zoom * 1.5));
      for (let k = 0; k < E.length; k += 3) {
        const a = E[k], b = E[k + 1], kind = E[k + 2];
        const bb = b < 0 ? a + 1 : b;
        if (Math.max(a, bb) < first || Math.min(a, bb) > last) continue;
        const ca = commits[a];
        const x1 = laneX(ca.lane || 0), y1 = rowY(a);
        if (b < 0) { // parent outside this document: a short stub
          ctx.strokeStyle = "#9ca3af"; ctx.setLineDash([2, 3]);
          ctx.beginPath(); ctx.moveTo(x1, y1); ctx.lineTo(x1, y1 + rh * 0.8); ctx.stroke();
          continue;
        }
        const x2 = laneX(commits[b].lane || 0), y2 = rowY(b);
        ctx.strokeStyle = kind === 0 ? "#9ca3af" : kind === 1 ? LINK_COLORS.spawn : LINK_COLORS.collapse;
        ctx.setLineDash(kind === 0 ? [] : [5, 4]);
        ctx.beginPath();
        ctx.moveTo(x1, y1);
        const dir = y2 >= y1 ? 1 : -1;
        if (x1 === x2) ctx.lineTo(x2, y2);
        else if (x2 > x1) { // bend into the parent's lane near the child
          ctx.quadraticCurveTo(x2, y1, x2, y1 + dir * Math.min(rh, Math.abs(y2 - y1)));
          ctx.lineTo(x2, y2);
        } else { // down the child's lane, bend near the parent
          const yb = y2 - dir * Math.min(rh, Math.abs(y2 - y1));
          ctx.lineTo(x1, yb);
          ctx.quadraticCurveTo(x1, y2, x2, y2);
        }
        ctx.stroke();
      }
      ctx.setLineDash([]);
      // nodes and labels
      const textX = Math.max(lanesW() - st.left, 40) + 8;
      const showText = rh >= 11;
      const font = Math.max(10, Math.min(14, rh * 0.5));
      ctx.textBaseline = "middle";
      for (let i = first; i <= last; i++) {
        const c = commits[i];
        const x = laneX(c.lane || 0), y = rowY(i);
        ctx.beginPath();
        ctx.arc(x, y, radius(c), 0, Math.PI * 2);
        ctx.fillStyle = opColor(c.op);
        ctx.fill();
        if (i === st.sel) { ctx.lineWidth = 2; ctx.strokeStyle = "#111"; ctx.stroke(); }
        if (!showText) continue;
        let tx = textX;
        ctx.font = `${font}px ui-monospace, monospace`;
        ctx.fillStyle = "#6b7280";
        ctx.fillText(short(c.id), tx, y);
        tx += ctx.measureText("000000000000").width + 10;
        ctx.font = `${font}px system-ui, sans-serif`;
        for (const r of c.refs || []) {
          const w = ctx.measureText(r).width + 8;
          ctx.fillStyle = "#e0f2fe"; ctx.fillRect(tx, y - font * 0.7, w, font * 1.4);
          ctx.fillStyle = "#075985"; ctx.fillText(r, tx + 4, y);
          tx += w + 5;
        }
        if (!agent && c.agent !== null && c.agent !== undefined) {
          const t = agentName(c.agent);
          const w = ctx.measureText(t).width + 8;
          ctx.fillStyle = AGENT_TAGS[agentsSeen.indexOf(t) % AGENT_TAGS.length]; ctx.fillRect(tx, y - font * 0.7, w, font * 1.4);
          ctx.fillStyle = "#374151"; ctx.fillText(t, tx + 4, y);
          tx += w + 5;
        }
        ctx.fillStyle = "#111827";
        ctx.fillText(String(c.summary || "").slice(0, 200), tx, y);
      }
      // scrollbar
      if (contentH() > st.h) {
        const th = Math.max(20, st.h * st.h / contentH());
        const ty = (st.h - th) * (st.top / Math.max(1, contentH() - st.h + rh));
        ctx.fillStyle = "rgba(0,0,0,0.06)"; ctx.fillRect(st.w - 10, 0, 10, st.h);
        ctx.fillStyle = "rgba(0,0,0,0.3)"; ctx.fillRect(st.w - 9, ty, 8, th);
      }
    }

    function rowAt(clientY) {
      const r = canvas.getBoundingClientRect();
      const row = Math.floor((clientY - r.top + st.top) / rowH());
      return row >= 0 && row < n ? row : -1;
    }

    function select(row, scroll) {
      st.sel = row;
      if (row < 0) return redraw();
      if (scroll) { st.top = row * rowH() - st.h / 3; clampTop(); }
      showPanel(commits[row]);
      redraw();
    }

    function showPanel(c) {
      const links = [el("a", { href: "#/commit/" + seg(c.id) }, "context")];
      if (c.parents && c.parents.length) links.push(el("a", { href: `#/diff/${seg(c.parents[0])}/${seg(c.id)}` }, "diff with parent"));
      if (isProvOp(c.op)) links.push(provLink(c.id));
      panel.replaceChildren(
        el("h3", null, el("span", { class: "dot", style: { "background": opColor(c.op) } }), " ", c.op),
        el("p", { class: "full-id" }, c.id),
        el("p", null, String(c.summary || "")),
        el("dl", null,
          el("dt", null, "agent"), el("dd", null, agentName(c.agent)),
          el("dt", null, "time"), el("dd", null, fmtTime(c.time)),
          el("dt", null, "tokens"), el("dd", null, fmtNum(c.tokens)),
          el("dt", null, "refs"), el("dd", null, (c.refs || []).join(", ") || "-"),
          el("dt", null, "parents"), el("dd", null, ...(c.parents || []).map((p) => commitLink(p)), (c.parents || []).length ? null : "-"),
          (c.links || []).length ? [el("dt", null, "links"), el("dd", null, ...c.links.map((l) => el("span", null, l.kind + " ", commitLink(l.id), " ")))] : null),
        el("p", { class: "links" }, ...links.flatMap((a) => [a, " "])),
        el("p", { class: "muted" }, "Shift-click another commit to diff the two."));
    }

    let drag = null;
    canvas.addEventListener("pointerdown", (ev) => {
      const r = canvas.getBoundingClientRect();
      const onBar = contentH() > st.h && ev.clientX - r.left > st.w - 12;
      drag = { x: ev.clientX, y: ev.clientY, top: st.top, left: st.left, moved: false, bar: onBar };
      canvas.setPointerCapture(ev.pointerId);
      if (onBar) { st.top = ((ev.clientY - r.top) / st.h) * contentH() - st.h / 2; clampTop(); redraw(); }
    });
    canvas.addEventListener("pointermove", (ev) => {
      if (!drag) return;
      const dx = ev.clientX - drag.x, dy = ev.clientY - drag.y;
      if (Math.abs(dx) + Math.abs(dy) > 3) drag.moved = true;
      if (drag.bar) st.top = drag.top + dy * (contentH() / st.h);
      else { st.top = drag.top - dy; st.left = Math.max(0, drag.left - dx); }
      clampTop();
      redraw();
    });
    canvas.addEventListener("pointerup", (ev) => {
      const d = drag;
      drag = null;
      if (!d || d.moved || d.bar) return;
      const row = rowAt(ev.clientY);
      if (row < 0) return;
      if (ev.shiftKey && st.sel >= 0 && st.sel !== row) {
        location.hash = `#/diff/${seg(commits[st.sel].id)}/${seg(commits[row].id)}`;
        return;
      }
      select(row, false);
    });
    canvas.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const r = canvas.getBoundingClientRect();
      const y = ev.clientY - r.top;
      const at = (y + st.top) / rowH();
      st.zoom = Math.max(0.04, Math.min(3, st.zoom * Math.exp(-ev.deltaY * 0.0015)));
      st.top = at * rowH() - y;
      clampTop();
      redraw();
    }, { passive: false });
    canvas.addEventListener("keydown", (ev) => {
      const page = st.h * 0.9;
      const moves = { ArrowDown: rowH(), ArrowUp: -rowH(), PageDown: page, PageUp: -page, Home: -Infinity, End: Infinity };
      if (!(ev.key in moves)) return;
      ev.preventDefault();
      st.top = ev.key === "Home" ? 0 : ev.key === "End" ? contentH() : st.top + moves[ev.key];
      clampTop();
      redraw();
    });
    const onResize = () => resize();
    window.addEventListener("resize", onResize);
    cleanups.push(() => { window.removeEventListener("resize", onResize); if (frame) cancelAnimationFrame(frame); delete window.traceGraph; });

    // for tests and scripts: where a commit is drawn (client coordinates), and what is drawn
    window.traceGraph = {
      get count() { return n; },
      get complete() { return complete; },
      get ids() { return commits.map((c) => c.id); },
      point(id) {
        const row = rowOf.get(id);
        if (row === undefined) return null;
        st.top = Math.min(st.top, row * rowH());
        if (rowY(row) > st.h - rowH()) st.top = row * rowH() - st.h / 2;
        clampTop();
        draw();
        const r = canvas.getBoundingClientRect();
        return { x: r.left + laneX(commits[row].lane || 0), y: r.top + rowY(row) };
      },
      visibleRows() {
        const rh = rowH();
        return [Math.max(0, Math.floor(st.top / rh)), Math.min(n - 1, Math.ceil((st.top + st.h) / rh))];
      },
      selected: () => (st.sel >= 0 ? commits[st.sel].id : null),
    };

    function selectParam() {
      if (!selected) return;
      const row = rowOf.get(selected) ?? commits.findIndex((c) => c.id.startsWith(selected));
      if (row >= 0) select(row, true);
      else if (complete) panel.replaceChildren(el("p", { class: "warn" }, `commit ${short(selected)} is not in this graph (it may be unreachable from every ref): `, commitLink(selected, "see its context")));
    }

    root.afterMount = () => {
      resize();
      selectParam();
      canvas.focus({ preventScroll: true });
      if (complete) return;
      const mine = routeSeq;
      api(path).then((whole) => {
        if (mine !== routeSeq) return;
        const sel = st.sel >= 0 ? commits[st.sel].id : null;
        complete = true;
        setDoc(whole);
        st.sel = sel !== null && rowOf.has(sel) ? rowOf.get(sel) : -1;
        if (st.sel < 0) selectParam();
        redraw();
      }, (err) => {
        if (mine === routeSeq) status.textContent += " · the rest failed to load: " + err.message;
      });
    };
    return root;
  }

  // -- context -----------------------------------------------------------------------------------
  const PAGE = 500;
  const BLAME_AUTO = 20000;
  const LONG_CHARS = 600, LONG_LINES = 12;

  function longText(text) {
    const t = String(text ?? "");
    const lines = t.split("\n");
    const pre = el("pre", { class: "text" });
    if (t.length <= LONG_CHARS && lines.length <= LONG_LINES) {
      pre.textContent = t;
      return pre;
    }
    const head = lines.slice(0, LONG_LINES).join("\n").slice(0, LONG_CHARS);
    let open = false;
    const btn = el("button", { class: "toggle", type: "button" });
    const set = () => {
      pre.textContent = open ? t : head + " …";
      btn.textContent = open ? "collapse" : `show all (${fmtNum(t.length)} chars, ${fmtNum(lines.length)} lines)`;
    };
    btn.addEventListener("click", () => { open = !open; set(); });
    set();
    return el("div", { class: "long" }, pre, btn);
  }

  /** Page `p` of a context: {doc, total, entries, pairs}. The server sends that window only
   * (the pairs cover the whole context); an export holds the whole list, cut here. */
  async function contextPage(id, p) {
    if (exported) {
      const doc = await api("/api/context/" + seg(id));
      const all = doc.entries || [];
      return { doc, total: all.length, entries: all.slice(p * PAGE, (p + 1) * PAGE), pairs: doc.pairs || pairsOf(all) };
    }
    const doc = await api(`/api/context/${seg(id)}?offset=${p * PAGE}&limit=${PAGE}`);
    return { doc, total: doc.total, entries: doc.entries || [], pairs: doc.pairs || [] };
  }

  async function contextView(id, entryParam) {
    const wanted = entryParam === null ? NaN : Number(entryParam);
    let page = Number.isInteger(wanted) && wanted >= 0 ? Math.floor(wanted / PAGE) : 0;
    let first = await contextPage(id, page);
    if (page > 0 && !first.entries.length) { page = 0; first = await contextPage(id, 0); }
    const doc = first.doc;
    const total = first.total;
    const paired = pairLinks(first.pairs);
    let entries = first.entries;   // the entries of the page shown
    let loading = 0;
    const budget = doc.budget && doc.budget.max_tokens ? doc.budget.max_tokens : null;
    let scale = 1;
    const pages = Math.max(1, Math.ceil(total / PAGE));
    let blame = null;
    let blameNote = "blame: loading…";

    const links = [el("a", { href: "#/graph?sel=" + seg(doc.id) }, "in the graph")];
    if (doc.parents && doc.parents.length) links.push(el("a", { href: `#/diff/${seg(doc.parents[0])}/${seg(doc.id)}` }, "diff with parent"));
    if (isProvOp(doc.op)) links.push(provLink(doc.id));
    const tokensText = budget ? `${fmtNum(doc.tokens)} / ${fmtNum(budget)} tokens (${Math.round((100 * doc.tokens) / budget)}%)` : `${fmtNum(doc.tokens)} tokens (no budget set; bars against the largest entry${pages > 1 ? " of the page" : ""})`;
    const list = el("div", { class: "entries" });
    const pager = el("div", { class: "pager" });
    const pager2 = el("div", { class: "pager" });
    const blameBox = el("aside", { class: "side-panel blame" }, el("p", { class: "muted" }, "Hover an entry to see its blame."));
    const blameStatus = el("span", { class: "muted blame-status" }, blameNote);
    const head = el("div", { class: "context-head" },
      el("h2", null, "Context at ", el("span", { class: "id", title: doc.id }, short(doc.id)), " ",
        el("span", { class: "op", style: { "background": opColor(doc.op) } }, doc.op)),
      el("p", null, String(doc.summary || "")),
      el("p", { class: "meta" }, `${doc.author ? "by " + doc.author + " · " : ""}${fmtTime(doc.time)} · ${fmtNum(total)} entries · ${tokensText} · `, blameStatus),
      el("p", { class: "links" }, ...links.flatMap((a) => [a, " "]),
        ...(doc.parents || []).map((p) => el("span", null, " parent ", commitLink(p)))));
    const root = el("div", { class: "context-view" }, head, pager, el("div", { class: "context-body" }, list, blameBox), pager2);

    function row(e) {
      const pct = Math.min(100, (100 * (e.tokens || 0)) / scale);
      const callLinks = (e.calls || []).map((c) => {
        const target = paired.result(e.index, c.id);
        return target === undefined
          ? el("span", { class: "pair missing" }, `call ${c.name || ""} (${c.id}): no result`)
          : el("a", { class: "pair", href: "#", "data-goto": target, onclick: goto }, `call ${c.name || ""} → result #${target}`);
      });
      const answerLinks = (e.answers || []).map((cid) => {
        const target = paired.call(e.index, cid);
        return target === undefined
          ? el("span", { class: "pair missing" }, `answers ${cid}: no call`)
          : el("a", { class: "pair", href: "#", "data-goto": target, onclick: goto }, `← result of call #${target}`);
      });
      const r = el("div", { class: "entry kind-" + String(e.kind).replace(/[^a-z_-]/gi, ""), id: "entry-" + e.index, "data-index": e.index },
        el("div", { class: "entry-head" },
          el("span", { class: "index" }, "#" + e.index),
          el("span", { class: "kind", title: String(e.kind) }, String(e.kind)),
          e.pinned ? el("span", { class: "pin", title: "pinned" }, "📌 pinned") : null,
          el("span", { class: "bar", title: `${e.tokens} tokens` }, el("span", { class: "fill", style: { width: pct.toFixed(2) + "%" } })),
          el("span", { class: "tokens" }, fmtNum(e.tokens) + " tok"),
          ...callLinks, ...answerLinks),
        longText(e.text !== undefined ? e.text : e.preview));
      r.addEventListener("mouseenter", () => showBlame(e.index));
      return r;
    }

    function goto(ev) {
      ev.preventDefault();
      focusEntry(Number(ev.currentTarget.dataset.goto));
    }

    async function loadPage(p) {
      const seq = ++loading;
      const got = await contextPage(doc.id, p);
      if (seq !== loading) return false;     // a later page was asked for meanwhile
      entries = got.entries;
      page = p;
      renderPage();
      return true;
    }

    async function focusEntry(i) {
      if (!(i >= 0 && i < total)) return;
      const p = Math.floor(i / PAGE);
      if (p !== page && !(await loadPage(p))) return;
      const r = document.getElementById("entry-" + i);
      if (!r) return;
      for (const h of list.querySelectorAll(".highlight")) h.classList.remove("highlight");
      r.classList.add("highlight");
      r.scrollIntoView({ block: "center" });
      showBlame(i);
    }

    function renderPage() {
      const from = page * PAGE, to = from + entries.length;
      scale = budget || Math.max(1, ...entries.map((e) => e.tokens || 0));
      list.replaceChildren(...entries.map(row));
      if (!total) list.append(el("p", { class: "muted" }, "The context is empty."));
      for (const pg of [pager, pager2]) {
        if (pages < 2) { pg.replaceChildren(); continue; }
        const btn = (label, p, dis) => el("button", { type: "button", disabled: dis ? "disabled" : null, onclick: () => loadPage(p).then((done) => done && list.scrollIntoView()) }, label);
        pg.replaceChildren(btn("« first", 0, page === 0), btn("‹ prev", page - 1, page === 0),
          el("span", { class: "page-no" }, ` entries ${from}–${to - 1} of ${fmtNum(total)} (page ${page + 1}/${pages}) `),
          btn("next ›", page + 1, page >= pages - 1), btn("last »", pages - 1, page >= pages - 1));
      }
    }

    function showBlame(i) {
      if (!blame) {
        loadBlame();
        blameBox.replaceChildren(el("p", { class: "muted" }, blameNote));
        return;
      }
      const b = blame[i];
      if (!b) { blameBox.replaceChildren(el("p", { class: "muted" }, `no blame record for entry #${i}`)); return; }
      blameBox.replaceChildren(blameCard(b));
    }

    // Blame reads the whole history (about a second at 10,000 commits) and the server answers
    // one request at a time: a context of up to BLAME_AUTO entries asks for it at once after
    // the first paint, a larger one only when an entry is first hovered.
    let blameAsked = false;
    function loadBlame() {
      if (blameAsked) return;
      blameAsked = true;
      blameNote = "blame: loading…";
      blameStatus.textContent = blameNote;
      api("/api/blame/" + seg(doc.id)).then((records) => {
        blame = {};
        for (const r of records || []) blame[r.index] = r;
        blameNote = "blame loaded: hover an entry";
        blameStatus.textContent = blameNote;
        blameStatus.classList.add("blame-ready");
      }, (err) => {
        blameNote = "blame unavailable: " + err.message;
        blameStatus.textContent = blameNote;
      });
    }

    renderPage();
    root.afterMount = () => {
      if (Number.isInteger(wanted)) focusEntry(wanted);
      if (total <= BLAME_AUTO) setTimeout(loadBlame, 0);
      else if (!blameAsked) blameStatus.textContent = blameNote = "blame: hover an entry to load it (it reads the whole history)";
    };
    return root;
  }

  function blameCard(b) {
    const intro = b.introduced;
    return el("div", { class: "blame-card" },
      el("h3", null, `#${b.index} ${b.role || ""}`),
      el("p", null, el("b", null, "chain: "), String(b.chain || "")),
      intro ? el("p", null, "introduced by ", commitLink(intro.commit), ` (${intro.op || "?"}) in ${agentName(intro.agent)}`, intro.time ? ` at ${fmtTime(intro.time)}` : "",
        isProvOp(intro.op) ? [" · ", provLink(intro.commit)] : null)
        : el("p", { class: "muted" }, "introduced: hidden by pruned history"),
      (b.events || []).length ? el("ul", { class: "events" }, ...b.events.map((ev) => el("li", null, `${ev.op} `, commitLink(ev.commit), ` ${agentName(ev.agent)} ${fmtTime(ev.time)}`))) : null);
  }

  // -- diff --------------------------------------------------------------------------------------
  async function diffView(a, b) {
    const doc = await api(`/api/diff/${seg(a)}/${seg(b)}`);
    const items = doc.items || [];
    const delta = (doc.new_tokens || 0) - (doc.old_tokens || 0);
    const side = (id) => (id && id !== "-" ? commitLink(id) : el("span", null, "(empty context)"));
    const list = el("div", { class: "diff-items" }, items.map(diffItem));
    if (!items.length) list.append(el("p", { class: "muted" }, "The two contexts are the same."));
    const counts = {};
    for (const it of items) counts[it.kind] = (counts[it.kind] || 0) + 1;
    return el("div", { class: "diff-view" },
      el("h2", null, "Diff ", side(doc.old), " → ", side(doc.new)),
      el("p", { class: "meta" }, `${fmtNum(doc.old_tokens)} → ${fmtNum(doc.new_tokens)} tokens (`,
        el("span", { class: delta > 0 ? "plus" : delta < 0 ? "minus" : "" }, (delta > 0 ? "+" : "") + fmtNum(delta)), `) · `,
        Object.entries(counts).map(([k, v]) => `${v} ${k}`).join(", ") || "no changes"),
      list);
  }

  function diffItem(it) {
    const idx = it.kind === "moved" ? `#${it.old_index} → #${it.new_index}`
      : it.old_index !== null && it.old_index !== undefined ? "#" + it.old_index + (it.new_index !== null && it.new_index !== undefined && it.new_index !== it.old_index ? ` → #${it.new_index}` : "")
      : "#" + it.new_index;
    let body;
    if (it.kind === "edited" && it.text_diff) {
      const lines = Array.isArray(it.text_diff) ? it.text_diff : String(it.text_diff).replace(/\n$/, "").split("\n");
      body = el("pre", { class: "text-diff" }, lines.map((l) => el("span", {
        class: l.startsWith("+++") || l.startsWith("---") ? "file" : l.startsWith("+") ? "plus" : l.startsWith("-") ? "minus" : l.startsWith("@@") ? "hunk" : "",
      }, l)));
    } else {
      const side = it.new || it.old;
      body = side ? longText(side.text) : null;
    }
    const kindOf = (it.new || it.old || {}).kind;
    return el("div", { class: "diff-item d-" + String(it.kind).replace(/[^a-z_-]/gi, "") },
      el("div", { class: "entry-head" }, el("span", { class: "badge" }, String(it.kind)), el("span", { class: "index" }, idx),
        kindOf ? el("span", { class: "kind" }, String(kindOf)) : null,
        (it.new && it.new.pinned) ? el("span", { class: "pin" }, "📌") : null),
      body);
  }

  // -- timeline ----------------------------------------------------------------------------------
  const AGENT_COLORS = ["#2563eb", "#d97706", "#059669", "#db2777", "#7c3aed", "#0891b2", "#65a30d", "#dc2626"];
  const STANDOUT = new Set(["compress", "collapse", "reset", "spawn", "merge", "rebase"]);

  async function timelineView() {
    const doc = await api("/api/timeline");
    const agents = doc.agents || [];
    const budget = doc.budget && doc.budget.max_tokens ? doc.budget.max_tokens : null;
    const pts = agents.flatMap((a) => a.points || []);
    const W = 1100, H = 420, L = 64, R = 20, T = 32, B = 40;
    if (!pts.length) return el("div", null, el("h2", null, "Timeline"), el("p", { class: "muted" }, "No history yet."));
    // (loops, not Math.min(...xs): a long history has more points than a call takes arguments)
    let t0 = Infinity, t1 = -Infinity, top = Math.max(1, budget || 0);
    for (const p of pts) { t0 = Math.min(t0, p.time); t1 = Math.max(t1, p.time); top = Math.max(top, p.tokens || 0); }
    if (t1 - t0 < 1) { t0 -= 1; t1 += 1; }
    const ymax = top * 1.08;
    const X = (t) => L + ((t - t0) / (t1 - t0)) * (W - L - R);
    const Y = (v) => H - B - (v / ymax) * (H - T - B);
    const chart = svg("svg", { viewBox: `0 0 ${W} ${H}`, class: "timeline", role: "img" });
    // axes and ticks
    chart.append(svg("line", { x1: L, y1: H - B, x2: W - R, y2: H - B, class: "axis" }), svg("line", { x1: L, y1: T, x2: L, y2: H - B, class: "axis" }));
    const mag = Math.pow(10, Math.floor(Math.log10(ymax / 4)));
    const step = [1, 2, 2.5, 5, 10].map((m) => m * mag).find((st) => ymax / st <= 5) || 10 * mag;
    for (let v = 0; v <= ymax; v += step) {
      const y = Y(v);
      chart.append(svg("line", { x1: L, y1: y, x2: W - R, y2: y, class: "grid" }), svg("text", { x: L - 6, y: y + 4, "text-anchor": "end", class: "tick" }, fmtNum(Math.round(v))));
    }
    for (let k = 0; k <= 4; k++) {
      const t = t0 + (t1 - t0) * k / 4;
      const span = t1 - t0;
      const label = span < 5000 ? `+${Math.round(t - t0)} ms` : span < 300000 ? `+${((t - t0) / 1000).toFixed(1)} s` : new Date(t).toLocaleTimeString();
      chart.append(svg("text", { x: X(t), y: H - B + 16, "text-anchor": k === 0 ? "start" : k === 4 ? "end" : "middle", class: "tick" }, k === 0 ? new Date(t).toLocaleTimeString() : label));
    }
    chart.append(svg("text", { x: 12, y: 16, class: "tick" }, "tokens"));
    if (budget) {
      chart.append(svg("line", { x1: L, y1: Y(budget), x2: W - R, y2: Y(budget), class: "budget" }),
        svg("text", { x: W - R - 4, y: Y(budget) - 5, "text-anchor": "end", class: "budget-label" }, `budget ${fmtNum(budget)}`));
    }
    agents.forEach((a, i) => {
      const color = AGENT_COLORS[i % AGENT_COLORS.length];
      const ps = (a.points || []).slice().sort((p, q) => p.time - q.time);
      let d = "";
      ps.forEach((p, k) => { d += (k ? "L" : "M") + X(p.time).toFixed(1) + " " + Y(p.tokens || 0).toFixed(1) + " "; });
      chart.append(svg("path", { d, class: "series", stroke: color, "data-agent": agentName(a.agent) }));
      const dense = ps.length > 3000;
      for (const p of ps) {
        const tag = STANDOUT.has(p.event) ? p.event : STANDOUT.has(p.op) ? p.op : null;
        if (dense && !tag) continue;
        const c = svg("circle", { cx: X(p.time), cy: Y(p.tokens || 0), r: tag ? 6 : 3.5, fill: tag ? opColor(tag === "reset" ? "drop" : tag) : color,
          stroke: tag ? "#111" : "none", class: "point" + (tag ? " standout" : ""), "data-id": p.id, "data-op": p.op, "data-event": p.event });
        c.append(svg("title", null, `${agentName(a.agent)} · ${p.event}${p.op && p.op !== p.event ? " (" + p.op + ")" : ""} · ${fmtNum(p.tokens)} tokens · ${short(p.id)} · ${fmtTime(p.time)}`));
        c.addEventListener("click", () => { if (p.id) location.hash = "#/commit/" + seg(p.id); });
        chart.append(c);
      }
    });
    const legend = el("div", { class: "legend" },
      ...agents.map((a, i) => el("span", { class: "legend-item" }, el("span", { class: "swatch", style: { "background": AGENT_COLORS[i % AGENT_COLORS.length] } }), agentName(a.agent))),
      ...["compress", "collapse", "reset", "spawn"].map((op) => el("span", { class: "legend-item" }, el("span", { class: "dot ring", style: { "background": opColor(op === "reset" ? "drop" : op) } }), op)),
      budget ? el("span", { class: "legend-item" }, el("span", { class: "dash", style: { "border-color": "#dc2626" } }), "budget") : null);
    return el("div", { class: "timeline-view" }, el("h2", null, "Context size over time"),
      el("p", { class: "muted" }, "Each agent's HEAD moves (commits, resets, checkouts); click a point for that commit's context."), legend, chart);
  }

  // -- provenance --------------------------------------------------------------------------------
  async function provenanceView(id) {
    const doc = await api("/api/provenance/" + seg(id));
    const lost = doc.lost || [];
    const lostByBlob = new Map();
    for (const f of lost) if (f.entry && f.entry.blob) lostByBlob.set(f.entry.blob, (lostByBlob.get(f.entry.blob) || []).concat([f]));
    const head = el("div", { class: "context-head" },
      el("h2", null, "Provenance of ", commitLink(doc.id), " ", el("span", { class: "op", style: { "background": opColor(doc.op) } }, doc.op)),
      el("p", { class: "meta" }, `${doc.author ? "by " + doc.author + " · " : ""}${String(doc.summary || "").split("\n")[0]} · ${(doc.items || []).length} entries made · ${lost.length} audit --lost findings`),
      el("p", { class: "links" }, el("a", { href: "#/commit/" + seg(doc.id) }, "context"), " ", el("a", { href: "#/graph?sel=" + seg(doc.id) }, "in the graph"), " ",
        el("a", { href: "#/lost" }, "all findings"), " ", el("a", { href: "#/reflog" }, "reflog")));
    const parts = [head];
    if (doc.collapse) {
      parts.push(el("p", { class: "collapse-src" }, `collapse of sub-agent ${agentName(doc.collapse.agent)} at its tip `, commitLink(doc.collapse.tip), " · ",
        el("a", { href: graphHref(doc.collapse.agent, doc.collapse.tip) }, "its graph")));
    }
    if (doc.compress) parts.push(el("details", { class: "describe" }, el("summary", null, "compression details"), el("pre", null, JSON.stringify(doc.compress, null, 2))));
    const items = doc.items || [];
    if (!items.length) parts.push(el("p", { class: "muted" }, "This commit made no entries."));
    parts.push(el("div", { class: "prov-items" }, items.map((r) => record(r, 0, lostByBlob))));
    if (lost.length) {
      parts.push(el("h3", null, "Findings of this commit (audit --lost)"), lostTable(lost));
    }
    return el("div", { class: "prov-view" }, ...parts);
  }

  function record(r, depth, lostByBlob) {
    const findings = lostByBlob.get(r.blob) || [];
    const intro = r.introduced;
    const kids = [];
    if ((r.originals || []).length) {
      kids.push(el("div", { class: "sub-label" }, `replaced ${r.originals.length} entries:`),
        r.originals.map((o) => record(o, depth + 1, lostByBlob)));
    }
    if (r.collapse) {
      const c = r.collapse;
      kids.push(el("div", { class: "sub-label" }, `sub-agent ${agentName(c.agent)}'s own entries (tip `, commitLink(c.tip), `)`,
        c.truncated ? " · deeper history not followed" : "", c.pruned ? " · history pruned" : ""),
      ...(c.entries || []).map((o) => record(o, depth + 1, lostByBlob)));
    }
    const missing = findings.some((f) => f.missing && f.missing.length);
    const d = el("details", { class: "record" + (findings.length ? " lost" : "") + (missing ? " lost-missing" : ""), "data-blob": r.blob, "data-index": r.index },
      el("summary", null,
        el("span", { class: "index" }, "#" + r.index), " ", el("span", { class: "kind" }, String(r.role || "")), " ",
        el("span", { class: "tokens" }, fmtNum(r.tokens) + " tok"), " · ", String(r.chain || ""),
        intro ? [" · ", commitLink(intro.commit), ` ${agentName(intro.agent)}`] : null,
        findings.length ? el("span", { class: "lost-tag" }, " lost: " + findings.map((f) => f.kind).join(", ")) : null),
      recordText(r),
      findings.map((f) => el("p", { class: "missing" }, f.missing && f.missing.length ? "missing from the replacement: " + f.missing.join(", ") : `${f.kind}: its facts are all in the replacement`)),
      kids.length ? el("div", { class: "nested" }, ...kids) : null);
    if (depth < 2) d.open = true;
    return d;
  }

  /** A blame record's whole text (the provenance document carries it; a preview otherwise). */
  function recordText(r) {
    return el("div", { class: "record-text" }, longText(r.text !== undefined ? r.text : r.preview));
  }

  // -- lost --------------------------------------------------------------------------------------
  function lostTable(findings) {
    return el("table", { class: "table lost-table" },
      el("thead", null, el("tr", null, ...["kind", "commit", "op", "agent", "time", "entry", "tokens", "missing", "note"].map((h) => el("th", null, h)))),
      el("tbody", null, findings.map((f) => el("tr", { class: f.missing && f.missing.length ? "has-missing" : "" },
        el("td", null, String(f.kind)),
        el("td", null, isProvOp(f.op) ? provLink(f.commit, short(f.commit)) : commitLink(f.commit, null, f.entry ? null : null)),
        el("td", null, String(f.op || "")),
        el("td", null, agentName(f.agent === "(root)" ? null : f.agent)),
        el("td", null, fmtTime(f.time_ms)),
        el("td", null, f.entry ? `#${f.entry.index} ${f.entry.role || ""}: ${f.entry.preview || ""}` : ""),
        el("td", null, f.entry ? fmtNum(f.entry.tokens) : ""),
        el("td", { class: "missing" }, (f.missing || []).join(", ")),
        el("td", null, String(f.note || ""))))));
  }

  async function lostView(agent) {
    const doc = await api("/api/lost" + agentQuery(agent));
    const findings = doc.findings || [];
    const counts = Object.entries(doc.counts || {}).map(([k, v]) => `${v.findings} ${k} (${fmtNum(v.tokens)} tokens)`).join(", ");
    return el("div", { class: "lost-view" },
      el("h2", null, `What left the context: ${agentName(doc.agent === "(root)" ? null : doc.agent)}`),
      el("p", { class: "meta" }, `${fmtNum(doc.commits)} commits audited up to `, commitLink(doc.tip), ` · ${counts || "no findings"}`),
      findings.length ? lostTable(findings) : el("p", { class: "muted" }, "Nothing left the context."));
  }

  // -- reflog ------------------------------------------------------------------------------------
  /** A reflog value: a commit (linked), a symbolic `ref:NAME`, or none (all zeros). */
  function refValue(v) {
    const t = String(v || "");
    if (!t || /^0+$/.test(t)) return "-";
    if (t.startsWith("ref:")) return el("span", { class: "symref" }, t.slice(4));
    return commitLink(t);
  }

  async function reflogView(agent) {
    const doc = await api("/api/reflog" + agentQuery(agent));
    const entries = doc.entries || [];
    const rows = entries.map((e) => {
      const lb = e.left_behind;
      return el("tr", { class: lb ? "left-behind" : "" },
        el("td", null, fmtTime(e.time)),
        el("td", { class: "ref" }, String(e.ref || "").replace(/^refs\/heads\//, "")),
        el("td", null, String(e.event || e.op || ""), e.op && e.event && e.op !== e.event ? el("span", { class: "muted" }, ` (now ${e.op})`) : null),
        el("td", null, refValue(e.old), " → ", refValue(e.new)),
        el("td", null, fmtNum(e.tokens)),
        el("td", null, String(e.message || "")),
        el("td", null, String(e.who || "")),
        el("td", null, lb ? el("div", { class: "lb" },
          el("b", null, `${fmtNum(lb.count)} commit${lb.count === 1 ? "" : "s"} left behind`), " · ",
          el("a", { href: "#/commit/" + seg(e.old) }, "look at the old commit"), " · ",
          el("a", { href: graphHref(doc.agent, e.old) }, "in the graph"),
          el("div", { class: "lb-ids" }, ...(lb.commits || []).map((c) => [commitLink(c), " "]))) : ""));
    });
    return el("div", { class: "reflog-view" },
      el("h2", null, `Reflog: ${agentName(doc.agent)}`),
      el("p", { class: "muted" }, "Every move of HEAD (switches, detached moves) and of each branch and tag, newest first; a move that left commits behind is highlighted."),
      el("table", { class: "table reflog-table" },
        el("thead", null, el("tr", null, ...["time", "ref", "event", "old → new", "tokens", "message", "who", "left behind"].map((h) => el("th", null, h)))),
        el("tbody", null, rows)));
  }

  // -- start -------------------------------------------------------------------------------------
  async function start() {
    try {
      readExport();
      info = await api("/api/info");
    } catch (e) {
      view.replaceChildren(el("div", { class: "error" }, "cannot load the repository: " + ((e && e.message) || String(e))));
      return;
    }
    setupHeader();
    window.addEventListener("hashchange", route);
    await route();
  }

  window.traceViewer = { api, route };
  start();
})();
